"""Where and in which order sweep points run: executors, crashes, progress.

Owns the scheduling of points on a ``concurrent.futures.Executor``: the
default local pool (spawned processes, one BLAS thread per worker, points
whose worker died run again, alone if need be), any executor given
(Dask, MPI), the Dask executor of ``pnp sweep --scheduler``, continuation
(points in order, each from its neighbour's state) and the progress bar.
Results come back through ``record(index, outcome)``; the summary is not
this module's business.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import BrokenExecutor, CancelledError, Executor, as_completed
from typing import Any

from ...errors import CaseError, ResultFileError
from .worker import _failure, ignore_interrupts, run_point, warm_up

# A point whose worker process died this many times runs alone; dying alone
# as well marks it failed.
_CRASHES_BEFORE_ALONE = 2


def _run_continued(cases, files, rows, pending, task, record, executor, bar) -> None:
    """Points in order, each from the state of the last completed one before it."""
    from ..runner import restart_state

    todo = set(pending)
    previous = None
    for i in range(len(cases)):
        if i in todo:
            x0 = None
            if previous is not None:
                try:
                    x0 = restart_state(cases[i], previous)[0]
                except (CaseError, ResultFileError):
                    x0 = None  # unreadable neighbour: start from the initial contents
            if bar is not None:
                bar.running(1)
            if executor is None:
                outcome = run_point(task(i, x0))
            else:
                outcome = _collect(executor.submit(run_point, task(i, x0)))
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


def _spawn_pool(workers: int) -> Executor:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: workers start clean (no forked numba/HDF5/thread state) and the
    # path is the one remote executors take: run_point imported by name.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=ignore_interrupts,
    )


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
            record(i, runner(task(i)))
        return
    warm_up(cases[pending[0]])
    crashes: Counter[int] = Counter()
    queue = list(pending)
    while queue:
        together = [i for i in queue if crashes[i] < _CRASHES_BEFORE_ALONE]
        alone = [i for i in queue if crashes[i] >= _CRASHES_BEFORE_ALONE]
        queue = []
        rounds = [(together, workers)] if together else []
        rounds += [([i], 1) for i in alone]
        for group, size in rounds:
            size = min(size, len(group))
            last_chance = size == 1 and crashes[group[0]] >= _CRASHES_BEFORE_ALONE
            # workers start as tasks are submitted: keep the variables set
            with _one_thread_per_worker():
                pool = _spawn_pool(size)
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
                    )
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)


def _drain(
    executor, indices, task, record, bar, runner, retry: Counter | None, workers: int | None = None
) -> list[int]:
    """Submit ``indices``, record them as they finish; return those to run again.

    With ``retry`` (the local pool), points whose worker process died
    (BrokenExecutor) are counted there and returned instead of recorded; a
    no-op submitted first tells a point that kills its worker from workers
    that cannot start at all. ``workers`` caps the running count shown (a
    process pool marks one queued call more running).
    """
    ping = executor.submit(os.getpid) if retry is not None else None
    futures = {executor.submit(runner, task(i)): i for i in indices}
    again = []
    cap = workers or len(futures)

    def show_running() -> None:
        if bar is not None:
            bar.running(min(cap, sum(f.running() for f in futures if not f.done())))

    show_running()
    try:
        for future in as_completed(futures):
            i = futures[future]
            try:
                outcome = future.result()
            except BrokenExecutor as exc:
                if ping is not None and ping.exception() is not None:
                    raise RuntimeError(
                        "the worker processes of the local pool die before running anything "
                        f"({exc}); a script that sweeps with the default pool must start "
                        "from `if __name__ == '__main__':` (workers are spawned and import it), "
                        "see the messages above"
                    ) from None
                if retry is not None:
                    retry[i] += 1
                    again.append(i)
                    continue
                outcome = _failure(f"worker process died ({type(exc).__name__}: {exc})")
            except CancelledError:
                outcome = _failure("cancelled")
            except Exception as exc:
                outcome = _failure(f"{type(exc).__name__}: {exc}")
            record(i, outcome)
            show_running()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return sorted(again)


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
