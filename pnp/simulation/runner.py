"""Run a case: case → mesh → model → solver → observables → Result.

Owns :func:`run` (``pnp.run``: which trackers a run reports to) and
:func:`restart_state` (the state to continue a run from its result file); the
loop itself is :mod:`pnp.simulation.loop`'s.
"""

from __future__ import annotations

import numpy as np

from ..discretisation.mesh import build_mesh
from ..discretisation.model import build_model
from .loop import Trackers, simulate
from .trackers import (
    Collector,
    DeferredInterrupt,
    FileWriter,
    ProgressBar,
    ProgressLines,
    StopWhenSet,
)


def restart_state(case, path):
    """(state vector, time) of the last output of result file ``path`` for ``case``.

    The file must hold the same mesh (cell centres) and species as the case
    would build; a floating boundary potential is re-solved from its
    neighbour's value.
    """
    from ..errors import CaseError
    from ..results.reader import load_result

    previous = load_result(path)
    if len(previous.t) == 0:
        raise CaseError(f"{path} holds no output to restart from", file=case.source)
    model = build_model(case)
    if previous.species != model.species:
        raise CaseError(
            f"{path} has species {previous.species}, the case has {model.species}", file=case.source
        )
    if previous.x.shape != model.mesh.centers.shape or not np.allclose(
        previous.x, model.mesh.centers, rtol=1e-12, atol=0.0
    ):
        raise CaseError(
            f"{path} was computed on another mesh ({previous.x.size} cells, the case "
            f"gives {model.n_cells})",
            file=case.source,
        )
    last_c, last_phi = previous.concentration[-1], previous.potential[-1]
    if not (np.all(np.isfinite(last_c)) and np.all(np.isfinite(last_phi))):
        raise CaseError(
            f"{path}: its last state holds non-finite values; cannot restart from it",
            file=case.source,
        )
    if np.min(last_c) < 0.0:
        raise CaseError(
            f"{path}: its last state holds negative concentrations; cannot restart from it",
            file=case.source,
        )
    psi = last_phi / model.thermal_voltage
    # a floating reservoir's potential starts at that of the cell next to it
    lay = model.layout
    boundary = np.concatenate([np.full(lay.n_boundary, psi[0]), np.full(lay.n_trailing, psi[-1])])
    x = lay.pack(psi, last_c, boundary=boundary)
    t = float(previous.t[-1])
    t = t if np.isfinite(t) else 0.0
    check_start_time(case, t, f" (the last output of {path})")
    return x, t


def check_start_time(case, t_start: float, origin: str = "") -> None:
    """A transient must start before its ``run.t_end``: a restart at or after it
    has nothing to do (a CaseError saying so, and how to continue)."""
    from ..errors import CaseError

    t_end = case.run.t_end
    if case.run.mode == "transient" and not t_start < t_end:
        raise CaseError(
            f"the run would start at t = {t_start:.6g} s{origin}, not before run.t_end = "
            f"{t_end:.6g} s: nothing to run (to continue, set a later run.t_end, e.g. "
            f"--set run.t_end={10 * t_start:g})",
            file=case.source,
            key="run.t_end",
        )


def run(
    case,
    progress: bool | str = False,
    output: str | None = None,
    mesh=None,
    x0=None,
    t_start: float = 0.0,
    stop=None,
):
    """Solve ``case`` (steady or transient per its ``[run]`` table).

    Parameters
    ----------
    case : pnp.Case
        A validated case (``pnp.load_case`` or ``pnp.Case.from_dict``).
    progress : bool or str
        True or "bar": a progress bar over (pseudo-)time on a log scale (for
        a terminal); "lines": a line on stderr every 5 s
        (``PNP_PROGRESS_INTERVAL``) saying where the run is (for a log
        file); False: nothing.
    output : str, optional
        Write the result to this HDF5 path, each output as it is reached
        (a killed run leaves a readable file with status "running").
    mesh : pnp.discretisation.mesh.Mesh, optional
        Use this mesh instead of the one the case's ``[mesh]`` table gives.
    x0 : array, optional
        Initial state vector (restart); default: the case's initial contents.
    t_start : float
        Time of ``x0`` [s] (restart).
    stop : object with ``is_set()``, optional
        A flag (``threading.Event``, ``multiprocessing.Event``): once set, the
        run ends at its next (pseudo-)time step as Ctrl-C would end it (its
        file saved with status "failed", message "interrupted"; then
        KeyboardInterrupt). With ``stop`` the caller owns Ctrl-C: the run
        installs no SIGINT handler of its own. How a sweep stops its workers.

    Returns
    -------
    Result
        With ``status`` "completed", or "failed" and a ``message`` saying why
        (every state reached is kept).
    """
    if progress not in (False, True, "bar", "lines"):
        raise ValueError(f'progress must be True, False, "bar" or "lines", not {progress!r}')
    transient = case.run.mode == "transient"
    # the mesh of the case as loaded (that of the run being continued), as
    # protocol changes keep it
    mesh = mesh if mesh is not None else build_mesh(case)
    if transient and t_start != 0.0:
        check_start_time(case, t_start)
        # every protocol up to t_start is in effect; only later ones are to come
        case = case.at_time(t_start)
    model = build_model(case, mesh)
    collector = Collector()
    # stopping first: acted on between steps, before any other tracker sees the step
    if stop is not None:
        trackers = [StopWhenSet(stop)]
    else:
        trackers = [DeferredInterrupt()] if transient else []
    trackers.append(collector)
    if output is not None:
        # a transient's file is readable from its first output on; a steady
        # file appears only once complete
        trackers.append(FileWriter(output, stream=transient))
    if progress == "lines":
        trackers.append(ProgressLines(case.run.t_end if transient else None))
    elif progress:
        trackers.append(ProgressBar(case.run.t_end if transient else None))
    status, message, stats = simulate(case, model, Trackers(trackers), x0, t_start)
    return collector.result(status, message, stats)
