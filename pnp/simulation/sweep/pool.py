"""Where and in which order sweep points run: executors, crashes, progress.

Owns the scheduling of points on a ``concurrent.futures.Executor``: the
default local pool (spawned processes, one BLAS thread per worker, points
whose worker died run again, alone if need be), any executor given
(Dask, MPI), the Dask executor of ``pnp sweep --scheduler``, continuation
(points in order, each from its neighbour's state) and the progress bar.
Results come back through ``record(index, outcome)``; the summary is not
this module's business.

Ctrl-C. Points run in this process end at their next step, saved as
interrupted (the run's own handling), are recorded so and the
KeyboardInterrupt goes on. The local pool's workers ignore SIGINT: here a
handler (:class:`_CtrlC`) sets the workers' shared stop flag instead, so
that no point starts any more and the running ones end at their next step.
The pool is handed one point per worker at a time, so no point waits in it
to be withdrawn; what the running ones report within ``STOP_GRACE`` is
recorded, then the workers are terminated and a point still running is
recorded as interrupted (:func:`_wind_down`). Points on another executor
(Dask, MPI) cannot be stopped from here: they are cancelled if queued and
otherwise left to finish on their own, unrecorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, wait
from typing import Any

from ...errors import CaseError, ResultFileError
from .summary import PENDING
from .worker import _failure, init_worker, run_point, warm_up

# A point whose worker process died this many times runs alone; dying alone
# as well marks it failed.
_CRASHES_BEFORE_ALONE = 2

#: After Ctrl-C, how long [s] the running points of the local pool have to end
#: at their next step and report before their workers are terminated. Measured
#: on 2 workers: they report 0.01 to 0.03 s after the signal is seen.
STOP_GRACE = 0.5

#: How often [s] a local pool round looks whether Ctrl-C has come.
_POLL = 0.05


class _CtrlC:
    """While the local pool runs: Ctrl-C sets the workers' stop flag and is noted.

    Installed in the main thread only (a signal handler cannot be set
    elsewhere); :func:`_drain` sees ``hit`` at its next poll and winds down.
    Nothing is raised at the moment of the signal, so no summary write is cut
    short; a second Ctrl-C changes nothing (the wind-down is bounded).
    """

    def __init__(self, stop):
        self.stop = stop
        self.hit = False
        self.previous = None

    def __enter__(self):
        from ...ctrl_c import seen

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
            if seen(self.previous):  # a Ctrl-C at start-up that Python dropped
                self._handler(signal.SIGINT, None)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _handler(self, signum, frame):
        self.hit = True
        self.stop.set()


def _run_here(i: int, task, record, runner, start=None) -> dict[str, Any]:
    """Point ``i`` in this process; Ctrl-C ends it (its file saved as interrupted),
    recorded so, and goes on as KeyboardInterrupt."""
    try:
        outcome = runner(task(i) if start is None else task(i, start))
    except KeyboardInterrupt:
        record(i, _failure("interrupted"))
        raise
    record(i, outcome)
    return outcome


def _run_continued(cases, files, rows, pending, task, record, executor, bar) -> None:
    """Points in order, each from the state of the last completed one before it."""
    from ..runner import restart_state

    todo = set(pending)
    previous = None
    for i in range(len(cases)):
        if i in todo:
            start = None
            if previous is not None:
                try:
                    start = restart_state(cases[i], previous)
                except (CaseError, ResultFileError):
                    start = None  # unreadable neighbour: start from the initial contents
            if bar is not None:
                bar.running(1)
            if executor is None:
                outcome = _run_here(i, task, record, run_point, start)
            else:
                outcome = _collect(executor.submit(run_point, task(i, start)))
                record(i, outcome)
            if outcome["status"] == "completed":
                previous = files[i]
        elif rows[i]["status"] == "completed":
            previous = files[i]


def _collect(future) -> dict[str, Any]:
    try:
        return future.result()
    except CancelledError:
        return _failure("cancelled")
    except Exception as exc:  # raised in transport or by the executor, not by the point
        return _failure(f"{type(exc).__name__}: {exc}")


def _cores() -> int:
    """Cores this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _spawn_context():
    import multiprocessing

    # spawn: workers start clean (no forked numba/HDF5/thread state) and the
    # path is the one remote executors take: run_point imported by name.
    return multiprocessing.get_context("spawn")


def _spawn_pool(workers: int, stop=None, started=None) -> Executor:
    """A local pool; its workers see the stop flag ``stop`` and mark ``started``."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_spawn_context(),
        initializer=init_worker,
        initargs=(stop, started),
    )


def _terminate_workers(pool) -> None:
    """End the worker processes of a local pool now (SIGTERM)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(OSError):
            process.terminate()


#: Thread counts of the BLAS/OpenMP libraries, pinned to 1 in pool workers.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@contextlib.contextmanager
def _one_thread_per_worker():
    """Spawned workers inherit these variables: one BLAS thread each.

    N workers on N cores, each with a BLAS pool of N threads, oversubscribe
    the machine: measured on 2 cores with 2000-cell points, 2 workers took
    twice as long as 1. Values the user set are kept. (Dask's nanny does the
    same for its workers.)
    """
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name, value in saved.items():
        if value is None:
            os.environ[name] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def _run_parallel(
    cases,
    pending,
    task,
    record,
    executor,
    max_workers,
    bar,
    runner: Callable[[Mapping[str, Any]], dict[str, Any]] = run_point,
) -> None:
    if executor is not None:
        warm_up(cases[pending[0]])
        _drain(executor, pending, task, record, bar, runner, retry=None)
        return
    workers = min(max_workers or _cores(), len(pending))
    if workers == 1:
        for i in pending:
            if bar is not None:
                bar.running(1)
            _run_here(i, task, record, runner)
        return
    warm_up(cases[pending[0]])
    context = _spawn_context()
    # shared with every worker: the stop flag, and a byte per point set when it starts
    stop, started = context.Event(), context.RawArray("b", len(cases))
    crashes: Counter[int] = Counter()
    queue = list(pending)
    with _CtrlC(stop) as ctrl_c:
        while queue:
            together = [i for i in queue if crashes[i] < _CRASHES_BEFORE_ALONE]
            alone = [i for i in queue if crashes[i] >= _CRASHES_BEFORE_ALONE]
            queue = []
            rounds = [(together, workers)] if together else []
            rounds += [([i], 1) for i in alone]
            for group, size in rounds:
                if ctrl_c.hit:
                    raise KeyboardInterrupt
                size = min(size, len(group))
                last_chance = size == 1 and crashes[group[0]] >= _CRASHES_BEFORE_ALONE
                # workers start as tasks are submitted: keep the variables set
                with _one_thread_per_worker():
                    pool = _spawn_pool(size, stop, started)
                    try:
                        queue += _drain(
                            pool,
                            group,
                            task,
                            record,
                            bar,
                            runner,
                            retry=None if last_chance else crashes,
                            workers=size,
                            ctrl_c=ctrl_c,
                            started=started,
                        )
                    finally:
                        pool.shutdown(wait=True, cancel_futures=True)


def _drain(
    executor,
    indices,
    task,
    record,
    bar,
    runner,
    retry: Counter | None,
    workers: int | None = None,
    ctrl_c: _CtrlC | None = None,
    started=None,
) -> list[int]:
    """Submit ``indices``, record them as they finish; return those to run again.

    With ``retry`` (the local pool), points whose worker process died
    (BrokenExecutor) are counted there and returned instead of recorded; a
    no-op submitted first tells a point that kills its worker from workers
    that cannot start at all. ``workers`` caps the running count shown (a
    process pool marks one queued call more running).

    With ``ctrl_c`` (the local pool), at most ``workers`` points are submitted
    at a time, the next as one finishes, so that the pool never holds a queued
    point; points not submitted when the pool breaks are returned, uncounted.
    Ctrl-C winds the round down (:func:`_wind_down`) and raises
    KeyboardInterrupt.
    """
    state = _Round(executor, indices, task, record, bar, runner, retry, workers, ctrl_c)
    state.submit()
    state.show_running()
    try:
        while state.todo:
            timeout = None if ctrl_c is None else _POLL
            done, _ = wait(state.todo, timeout=timeout, return_when=FIRST_COMPLETED)
            state.todo.difference_update(done)
            for future in sorted(done, key=state.futures.__getitem__):
                state.settle(future)
            if ctrl_c is not None and ctrl_c.hit:
                _wind_down(executor, state, record, started)
                raise KeyboardInterrupt
            state.submit()
            state.show_running()
    except BaseException:
        for future in state.futures:
            future.cancel()
        raise
    return sorted(state.again + state.waiting)


class _Round:
    """The points of one :func:`_drain`: waiting, submitted (``futures``: future ->
    index; ``todo``: not finished), to run again (``again``)."""

    def __init__(self, executor, indices, task, record, bar, runner, retry, workers, ctrl_c):
        self.executor, self.task, self.record, self.bar = executor, task, record, bar
        self.runner, self.retry, self.workers, self.ctrl_c = runner, retry, workers, ctrl_c
        self.ping = executor.submit(os.getpid) if retry is not None else None
        self.waiting = list(indices)
        self.limit = workers if ctrl_c is not None and workers else len(self.waiting)
        self.futures: dict = {}
        self.todo: set = set()
        self.again: list[int] = []
        self.broken = False

    def submit(self) -> None:
        """Submit waiting points up to the limit (none after Ctrl-C or a break)."""
        stopped = self.ctrl_c is not None and self.ctrl_c.hit
        while self.waiting and len(self.todo) < self.limit and not (self.broken or stopped):
            try:
                future = self.executor.submit(self.runner, self.task(self.waiting[0]))
            except BrokenExecutor as exc:
                _check_ping(self.ping, exc)
                self.broken = True  # a point's worker died: the rest go to the next round
                return
            self.futures[future] = self.waiting.pop(0)
            self.todo.add(future)

    def show_running(self) -> None:
        if self.bar is not None:
            running = sum(f.running() for f in self.todo)
            self.bar.running(min(self.workers or len(self.todo), running))

    def settle(self, future) -> None:
        """Record the outcome of a finished future (or count its worker's death)."""
        i = self.futures[future]
        try:
            outcome = future.result()
        except BrokenExecutor as exc:
            _check_ping(self.ping, exc)
            if self.retry is not None:
                self.retry[i] += 1
                self.again.append(i)
                return
            outcome = _failure(f"worker process died ({type(exc).__name__}: {exc})")
        except CancelledError:
            outcome = _failure("cancelled")
        except Exception as exc:
            outcome = _failure(f"{type(exc).__name__}: {exc}")
        if outcome["status"] != PENDING:  # a point not started after Ctrl-C stays pending
            self.record(i, outcome)


def _check_ping(ping, exc: BaseException) -> None:
    """A broken pool whose no-op failed too: the workers cannot start at all."""
    if ping is not None and ping.exception() is not None:
        raise RuntimeError(
            "the worker processes of the local pool die before running anything "
            f"({exc}); a script that sweeps with the default pool must start "
            "from `if __name__ == '__main__':` (workers are spawned and import it), "
            "see the messages above"
        ) from None


def _wind_down(pool, state: _Round, record, started) -> None:
    """After Ctrl-C (the stop flag is set, nothing more is submitted): record what
    the points in the workers report within ``STOP_GRACE`` (interrupted at their
    next step, completed, or not started: then their row stays "pending"), then
    terminate the workers and record the points still running as interrupted."""
    done, late = wait(state.todo, timeout=STOP_GRACE)
    for future in sorted(done, key=state.futures.__getitem__):
        state.settle(future)
    # the workers have nothing left to save: ending them now spares the half
    # second each takes to shut its interpreter down (numba, HDF5) at exit
    _terminate_workers(pool)
    for i in sorted(state.futures[f] for f in late):
        if started is not None and started[i]:
            record(i, _failure(f"interrupted (its worker was stopped after {STOP_GRACE:g} s)"))


class _Progress:
    """Progress over points: done, failed, running.

    ``lines=False``: a tqdm bar with an ETA, for a terminal. ``lines=True``:
    for a log file, a line on stderr as points finish, at most one every few
    seconds (:func:`~pnp.simulation.trackers.progress_interval`) and one for
    the last point.
    """

    def __init__(self, total: int, done: int, failed: int, lines: bool = False):
        self.total, self.finished, self.failed = total, done, failed
        self.active = 0
        self.bar = None
        if lines:
            from ..trackers import progress_interval

            self.interval: float | None = progress_interval()
            self.began = self.last = time.monotonic()
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            initial=done,
            desc="sweep",
            unit="point",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._show()

    def _show(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed={self.failed} running={self.active}", refresh=True)

    def _line(self) -> None:
        now = time.monotonic()
        last = self.finished == self.total
        if self.interval is None or (now - self.last < self.interval and not last):
            return
        self.last = now
        try:
            print(
                f"pnp: sweep: {self.finished} of {self.total} points done ({self.failed} "
                f"failed), {self.active} running, {now - self.began:.0f} s elapsed",
                file=sys.stderr,
                flush=True,
            )
        except (OSError, ValueError):  # closed stream: stop reporting, go on sweeping
            self.interval = None

    def running(self, count: int) -> None:
        self.active = count
        self._show()

    def done(self, failed: bool) -> None:
        self.failed += bool(failed)
        self.finished += 1
        self.active = max(0, self.active - 1)
        if self.bar is None:
            self._line()
            return
        self.bar.update(1)
        self._show()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def dask_executor(address: str, workers: int | None = None):
    """A Dask executor: ``address`` of a running scheduler, or "local" for a LocalCluster.

    A context manager yielding ``client.get_executor()``; client and cluster
    are closed on exit.

    Raises
    ------
    ImportError
        dask.distributed is not installed (``pip install 'pnp[dask]'``).
    ConnectionError
        No scheduler answers at ``address``.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "--scheduler needs dask.distributed: pip install 'pnp[dask]' (or dask[distributed])"
        ) from None
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers or _cores(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address))
            except OSError as exc:  # dask reports an unreachable scheduler as OSError
                raise ConnectionError(
                    f"cannot reach the Dask scheduler at {address}: {exc}"
                ) from None
        yield client.get_executor(pure=False)
