"""What a run reports to: the trackers of :func:`pnp.simulation.loop.simulate`.

Owns :class:`Collector` (keeps every output and assembles the
:class:`~pnp.results.result.Result`), :class:`FileWriter` (streams outputs to
an HDF5 result file), :class:`ProgressBar` (tqdm over log time, for a
terminal), :class:`ProgressLines` (a line every few seconds, for a log file),
:class:`DeferredInterrupt` (SIGINT acted on between steps only) and
:class:`StopWhenSet` (a run stopped from outside, as by SIGINT), all through
the one :class:`~pnp.simulation.loop.Tracker` protocol.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..input.toml_io import dump_toml
from ..results import registry
from .loop import Tracker


def _case_toml(case):
    """The case's TOML, deferred: its plain content now (a later change to a
    mutable part of the case cannot reach it), the text when first read."""
    to_dict = getattr(case, "to_dict", None)
    if not callable(to_dict):
        return ""
    content = to_dict()
    return functools.partial(dump_toml, content)


def observable_names(model) -> list[str]:
    """Flat names of everything :func:`~pnp.results.observables.observe` reports."""
    chans = model.channels
    return registry.observable_names(
        model.species,
        water=model.swelling is not None,
        channels=chans.names if chans is not None else (),
        gates=tuple(g.replace(".", "_") for g in chans.gate_names) if chans is not None else (),
    )


def _error_series(errors, count: int) -> dict[str, np.ndarray]:
    """Per-output error dicts (or None) → name → array (count,), NaN where not given.

    Every name given at any output gets a series: a name that is not an
    observable is refused by the Result.
    """
    errors = list(errors) if errors is not None else [None] * count
    if len(errors) != count:
        raise ValueError(f"errors: expected {count} entries (one per output), got {len(errors)}")
    names = list(dict.fromkeys(name for e in errors if e for name in e))
    return {
        name: np.array(
            [math.nan if not e or e.get(name) is None else e[name] for e in errors], dtype=float
        )
        for name in names
    }


def make_result(
    model,
    times,
    states,
    observables,
    stats: dict,
    status: str,
    message: str,
    errors=None,
):
    """Assemble a :class:`pnp.results.result.Result` from states and their observables.

    ``errors``: one dict (flat name → estimated absolute error) or None per
    output, or None for no estimates at all; missing estimates are NaN.
    """
    from ..results.result import Result
    from ..results.whole_cell import cell_size

    case = model.case
    phis, concs = zip(*(model.split(x) for x in states), strict=True) if states else ((), ())
    N, S = model.n_cells, model.n_species
    obs_names = observable_names(model)
    positions = _face_positions(model, states)
    # a moving mesh: the first output's (what a file written as the run goes holds)
    first_faces = (
        positions[0].copy() if positions is not None and len(states) else model.mesh.faces.copy()
    )
    series = {k: np.array([o[k] for o in observables], dtype=float) for k in obs_names}
    # from_arrays sorts the flat names into Result fields (registry attribute)
    return Result.from_arrays(
        observables=series,
        error_estimate=_error_series(errors, len(states)),
        title=case.title,
        case_toml=_case_toml(case),
        temperature=case.temperature,
        geometry=case.geometry,
        inside=case.inside,
        x=0.5 * (first_faces[1:] + first_faces[:-1]),
        faces=first_faces,
        region=model.mesh.region.copy(),
        region_names=model.mesh.region_names,
        species=model.species,
        z=np.array([s.z for s in case.species], dtype=int),
        D=np.array([s.D for s in case.species], dtype=float),
        t=np.asarray(times, dtype=float),
        potential=np.array(phis, dtype=float).reshape(len(states), N),
        concentration=np.array(concs, dtype=float).reshape(len(states), S, N),
        face_positions=positions,
        cell=cell_size(case, model.mesh),
        stats=stats,
        status=status,
        message=message,
    )


def _face_positions(model, states):
    """(T, N+1) faces of every state when the mesh moves (each state's own scale), else None."""
    if model.swelling is None:
        return None
    return np.array([model.swelling.faces(float(x[-1])) for x in states]).reshape(
        len(states), model.n_cells + 1
    )


class Collector(Tracker):
    """Keep every output and its error estimates; :meth:`result` assembles
    them into a Result, on the mesh of the last output's model."""

    def __init__(self):
        self.model = None
        self.times, self.states, self.observables, self.errors = [], [], [], []

    def start(self, model):
        self.model = model

    def output(self, model, t, x, observables, errors=None):
        self.model = model  # a steady solve may end on another mesh than it started
        self.times.append(t)
        self.states.append(x.copy())
        self.observables.append(observables)
        self.errors.append(dict(errors) if errors else None)

    def result(self, status: str, message: str, stats: dict):
        return make_result(
            self.model,
            self.times,
            self.states,
            self.observables,
            stats,
            status,
            message,
            errors=self.errors,
        )


def temporary_name(path) -> Path:
    """Where a result file is written until it may be seen under ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.part")


#: Wall-clock seconds a file writer holds outputs before appending them: one
#: append costs ~10 ms whether it holds one output or many (every dataset is
#: resized and the file flushed), which dominated runs with hundreds of
#: outputs. The environment variable ``PNP_WRITE_INTERVAL`` sets another
#: number (0: every output appended as it is reached).
WRITE_INTERVAL = 0.1


def _seconds_from_env(name: str, default: float, zero: bool) -> float:
    """The number of seconds the environment variable ``name`` holds (finite,
    positive, or also 0 when ``zero``), else ``default``."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    allowed = value >= 0.0 if zero else value > 0.0
    return value if math.isfinite(value) and allowed else default


def write_interval() -> float:
    """``PNP_WRITE_INTERVAL`` [s] if it holds a number >= 0, else ``WRITE_INTERVAL``."""
    return _seconds_from_env("PNP_WRITE_INTERVAL", WRITE_INTERVAL, zero=True)


class FileWriter(Tracker):
    """Write each output to the HDF5 result file ``path`` as it is reached.

    The file is written under a temporary name and moved into place in one
    step: after its first output when ``stream`` (a killed run leaves a
    readable file with status "running"), else once finished (the file
    appears complete or not at all). The first output is appended at once;
    later ones are gathered for at most :func:`write_interval` seconds of
    wall time and appended together (and at the end, or on an interruption or an
    error): a run killed at any moment loses at most that much.
    """

    def __init__(self, path, stream: bool = True):
        self.path = path
        self.stream = stream
        self.writer = None
        self.published = False
        self.pending: list = []
        self.written_at = 0.0
        self.interval = write_interval()

    def _open(self, model, x):
        from ..results.whole_cell import cell_size
        from ..results.writer import ResultWriter

        case = model.case
        size = cell_size(case, model.mesh)
        # a moving mesh: the first output's faces (each output's in /face_positions)
        faces = (
            model.swelling.faces(float(x[-1])) if model.swelling is not None else model.mesh.faces
        )
        self.writer = ResultWriter(
            temporary_name(self.path),
            title=case.title,
            case_toml=case.to_toml(),
            temperature=case.temperature,
            geometry=case.geometry,
            x=0.5 * (faces[1:] + faces[:-1]),
            faces=faces,
            region=model.mesh.region,
            region_names=model.mesh.region_names,
            species=model.species,
            z=np.array([s.z for s in case.species], dtype=int),
            D=np.array([s.D for s in case.species], dtype=float),
            inside=case.inside,
            observable_names=observable_names(model),
            attrs=size.attrs() if size is not None else None,
            moving=model.swelling is not None,
        )

    def output(self, model, t, x, observables, errors=None):
        first = self.writer is None
        if first:  # opened with the first output: no file for a run without one
            self._open(model, x)
        phi, c = model.split(x)
        faces = model.swelling.faces(float(x[-1])) if model.swelling is not None else None
        self.pending.append((t, phi, c, dict(observables), dict(errors or {}), faces))
        if first or time.monotonic() - self.written_at >= self.interval:
            self._write()
        if self.stream and not self.published:
            self._publish()

    def _write(self):
        """Append the gathered outputs in one go."""
        pending, self.pending = self.pending, []
        if not pending or self.writer is None or self.writer.closed:
            return
        names = {name for *_, errors, _ in pending for name in errors}
        self.writer.extend(
            [p[0] for p in pending],
            np.array([p[1] for p in pending]),
            np.array([p[2] for p in pending]),
            {name: [p[3][name] for p in pending] for name in pending[0][3]},
            {
                name: [np.nan if p[4].get(name) is None else p[4][name] for p in pending]
                for name in names
            },
            None if pending[0][5] is None else np.array([p[5] for p in pending]),
        )
        self.written_at = time.monotonic()

    def finish(self, status, message, stats):
        if self.writer is None:
            return
        self._write()
        self.writer.finish(status, message, stats)
        if not self.published:
            self._publish()

    def close(self):
        # an error ended the run without finish(): keep what it reached
        if self.writer is not None and not self.writer.closed:
            self._write()

    def _publish(self):
        os.replace(temporary_name(self.path), self.path)
        self.published = True


class ProgressBar(Tracker):
    """tqdm bar over log10 of simulated time (transient, ``t_end`` given) or
    of the pseudo-time step, 1e-15 s … 1e12 s (steady)."""

    def __init__(self, t_end: float | None = None):
        from tqdm import tqdm

        self.steady = t_end is None
        if self.steady:
            self.lo, self.hi, total, desc, unit = -15.0, 12.0, 27, "steady", "decade"
        else:
            self.lo, self.hi, total, desc, unit = -12.0, math.log10(t_end), 1000, "transient", "it"
        self.total = total
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            # tqdm puts ", " before the postfix: after the elapsed time it reads right
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed{postfix}",
        )
        self.pos = 0

    def step(self, t, h, stats, x):
        if self.steady:
            pos = int(min(27, max(0, math.log10(max(h, 1e-15)) + 15)))
            post = f"dt={h:.2e}s steps={stats.steps} newton={stats.newton_iterations}"
        else:
            frac = (math.log10(max(t, 1e-300)) - self.lo) / (self.hi - self.lo)
            pos = int(1000 * min(1.0, max(0.0, frac)))
            post = f"t={t:.3e}s dt={h:.2e}s steps={stats.steps} rejected={stats.rejected_steps}"
        if pos > self.pos:
            self.bar.update(pos - self.pos)
            self.pos = pos
        self.bar.set_postfix_str(post)

    def close(self):
        self.bar.close()


#: Seconds between two lines of :class:`ProgressLines` unless the
#: environment variable ``PNP_PROGRESS_INTERVAL`` sets another number.
PROGRESS_INTERVAL = 5.0


def progress_interval() -> float:
    """``PNP_PROGRESS_INTERVAL`` [s] if it holds a positive number, else 5 s."""
    return _seconds_from_env("PNP_PROGRESS_INTERVAL", PROGRESS_INTERVAL, zero=False)


class ProgressLines(Tracker):
    """A line on stderr every few seconds (:func:`progress_interval`): where a
    run is, for a log file or a pipe, where a bar cannot redraw itself.

    ``pnp: t = 1.2e-03 s of 1e+05 s, 830 steps, 10 s elapsed`` (transient) or
    ``pnp: steady: pseudo-time step 3.1e-02 s, 41 steps, 10 s elapsed``. A
    stream that can no longer be written (its reader has gone) ends the lines,
    not the run.
    """

    def __init__(self, t_end: float | None = None, stream=None, interval: float | None = None):
        self.t_end = t_end
        self.stream = stream
        self.interval = progress_interval() if interval is None else interval
        self.began = self.last = time.monotonic()

    def start(self, model):
        self.began = self.last = time.monotonic()

    def step(self, t, h, stats, x):
        if self.interval is None:
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        if self.t_end is None:
            where = f"steady: pseudo-time step {h:.2g} s"
        else:
            where = f"t = {t:.3g} s of {self.t_end:.3g} s"
        line = f"pnp: {where}, {stats.steps} steps, {now - self.began:.0f} s elapsed"
        try:
            print(line, file=self.stream or sys.stderr, flush=True)
        except (OSError, ValueError):  # closed stream: stop reporting, go on running
            self.interval = None


class StopWhenSet(Tracker):
    """End the run at its next step once ``flag.is_set()``, as SIGINT would.

    ``flag`` is any object with ``is_set()`` (``threading.Event``, a
    ``multiprocessing`` event shared with pool workers): how a sweep stops the
    points running in its workers.
    """

    def __init__(self, flag):
        self.flag = flag

    def step(self, t, h, stats, x):
        if self.flag.is_set():
            raise KeyboardInterrupt


class DeferredInterrupt(Tracker):
    """Turn SIGINT into a flag, raised as KeyboardInterrupt at the next step.

    So a run is never stopped inside a file append. Only in the main thread
    (signal handlers cannot be set elsewhere); in other threads SIGINT keeps
    its default behaviour.
    """

    def __init__(self):
        self.pending = False
        self.previous = None

    def start(self, model):
        import signal
        import threading

        from ..ctrl_c import seen

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
            # a Ctrl-C at start-up that Python dropped: stop at the first step
            self.pending = self.pending or seen(self.previous)

    def close(self):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _handler(self, signum, frame):
        self.pending = True

    def step(self, t, h, stats, x):
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt
