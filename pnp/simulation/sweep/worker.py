"""One sweep point: the task function workers run, its outcome, and what resume keeps.

Owns :func:`run_point` (module level, importable by name: spawned
processes, Dask and MPI workers unpickle it by reference), the local pool
workers' initializer (:func:`init_worker`: Ctrl-C, the stop flag), :func:`warm_up`
(the numba cache filled once before fanning out), the outcome dict a point
reports (status, message, final observables and their error estimates,
solver work) and the case
hash that decides whether a finished point file can be kept on resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ResultFileError
from ...results.spikes import spike_summary
from .summary import STAT_COLUMNS


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _last(series) -> float:
    values = np.asarray(series, dtype=float).reshape(-1)
    return float(values[-1]) if values.size else math.nan


def _outcome(result) -> dict[str, Any]:
    """The summary fields of a Result: status, message, final observables and
    their error estimates, work."""
    observables = {name: _last(series) for name, series in result.observables().items()}
    if any(name.startswith("gate_") for name in observables):  # an f-I curve's columns
        observables.update(spike_summary(result.t, result.membrane_potential))
    errors = {name: _last(series) for name, series in result.error_estimate.items()}
    stats = {name: result.stats.get(name) for name in STAT_COLUMNS}
    return {
        "status": result.status,
        "message": str(result.message),
        "observables": observables,
        "errors": errors,
        "stats": stats,
    }


def _failure(message: str, wall_time: float = math.nan) -> dict[str, Any]:
    return {
        "status": "failed",
        "message": message,
        "observables": {},
        "errors": {},
        "stats": {"wall_time": wall_time},
    }


#: Set in local pool workers by :func:`init_worker`, None in any other process:
#: the sweep's stop flag (a multiprocessing Event the parent sets on Ctrl-C) and
#: its record of the points a worker has started (a shared byte per point).
_STOP = None
_STARTED = None

#: The message of a point a worker took from the queue after the stop flag was set.
NOT_STARTED = "not run: the sweep was interrupted"


def init_worker(stop=None, started=None) -> None:
    """Initializer of local pool workers: Ctrl-C is the parent's to handle.

    A terminal's Ctrl-C reaches the whole process group. A worker that took it
    as KeyboardInterrupt while reading its next task from the pool's queue
    died part-way through the read and could leave the queue unreadable: the
    parent then waited for ever in the pool's shutdown (a SIGINT'd 2-worker
    sweep hung once in the kill tests). Workers ignore SIGINT throughout;
    the parent sets ``stop`` instead (:mod:`.pool`), and a worker's running
    point ends at its next step, saved as interrupted, while a point it takes
    from the queue after that does not start. ``started[i]`` is set when
    point ``i`` starts, so that the parent can tell a point it had to stop by
    force from one that never ran. Case warnings print as one line each, as
    in the ``pnp`` command.
    """
    import signal

    from ...input.messages import show_case_warnings_as_lines

    global _STOP, _STARTED
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP, _STARTED = stop, started
    show_case_warnings_as_lines()


def _not_started() -> dict[str, Any]:
    return {"status": "pending", "message": NOT_STARTED, "observables": {}, "stats": {}}


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one sweep point; the task function every executor receives.

    Module level (importable by name) so that spawned processes, Dask and MPI
    workers can unpickle it. Never raises for a failed point: a solver
    failure or any exception comes back as status "failed" with the message.
    In a local pool worker (:func:`init_worker`) a point stopped by the
    sweep's stop flag is "failed" with message "interrupted", and one not
    started because the flag was set before is "pending" (:data:`NOT_STARTED`);
    in any other process Ctrl-C (KeyboardInterrupt) propagates.

    Parameters
    ----------
    task : mapping
        ``case`` (a validated Case), ``path`` (result file to write, or
        None), ``x0`` (initial state vector, or None), ``index`` (the
        point's index in the sweep, optional).

    Returns
    -------
    dict
        ``status``, ``message``, ``observables`` (name → value at the end of
        the run), ``errors`` (name → its error estimate there, NaN if none),
        ``stats`` (steps, newton_iterations, rejected_steps, wall_time [s]).
    """
    start = time.perf_counter()
    stop = _STOP
    if stop is not None and stop.is_set():
        return _not_started()
    index = task.get("index")
    if _STARTED is not None and index is not None:
        _STARTED[index] = 1
    try:
        from ..runner import run

        path = task.get("path")
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a stale file of an earlier attempt
        output = None if path is None else os.fspath(path)
        return _outcome(
            run(
                task["case"],
                output=output,
                x0=task.get("x0"),
                mesh=task.get("mesh"),
                adapt_mesh=True,
                stop=stop,
            )
        )
    except KeyboardInterrupt:
        if stop is None:
            raise  # Ctrl-C in the sweep's own process: the sweep records it and stops
        return _failure("interrupted", time.perf_counter() - start)
    except Exception as exc:
        return _failure(f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


def warm_up(case) -> None:
    """Compile every kernel a run of ``case`` calls, or load it from numba's cache.

    Runs two steps of ``case`` on a 4-cells-per-region mesh without writing
    anything: the compiled code depends on the argument types only, not on
    the mesh, so the tiny mesh compiles (or loads) exactly what the points
    need without holding up the fan-out by a full solve. The kernels are
    ``@njit(cache=True)``: compiling them here stores the machine code on
    disk, where worker processes find it. Failures are ignored (the points
    themselves will report them).
    """
    from ..runner import run

    with contextlib.suppress(Exception):
        run(case.with_overrides({"run.max_steps": 2, "mesh.uniform_cells": 4}))


def _completed_outcome(path: Path | None, sha: str) -> dict[str, Any] | None:
    """The outcome stored in ``path`` if it completed the case with hash ``sha``."""
    if path is None or not path.is_file():
        return None
    from ...results.reader import load_result

    try:
        result = load_result(path)
    except ResultFileError:
        return None
    if result.status != "completed" or _sha256(result.case_toml) != sha:
        return None
    return _outcome(result)
