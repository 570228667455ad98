"""Run a case: case → mesh → model → solver → observables → Result.

Owns :func:`run` (``pnp.run``: which trackers a run reports to) and
:func:`restart_state` (the state to continue a run from its result file); the
loop itself is :mod:`pnp.simulation.loop`'s.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..constants import FARADAY
from ..discretisation.kernel import FLOATING
from ..discretisation.mesh import Mesh, assemble_mesh, build_mesh
from ..discretisation.model import build_model
from ..discretisation.swelling import inside_membrane, moves, scale_of, unstretched
from ..input.schema import SIDES
from .adaptive import adaptive_case, transient_mesh
from .loop import Trackers, simulate
from .trackers import (
    Collector,
    DeferredInterrupt,
    FileWriter,
    ProgressBar,
    ProgressLines,
    StopWhenSet,
)


class Start(NamedTuple):
    """Where a run continues from: state vector, its time and the mesh it lives on."""

    x: np.ndarray
    t: float
    mesh: Mesh


def mesh_of_result(case, previous, path) -> Mesh:
    """The mesh a result was computed on, as a mesh of ``case`` (same regions and geometry)."""
    from ..errors import CaseError

    faces = np.asarray(previous.faces, dtype=float)
    if (
        moves(case)
        and inside_membrane(case) is not None
        and previous.region_names == tuple(r.name for r in case.regions)
    ):
        # a swelling cell's first output may be at another volume: at scale 1 first
        faces = unstretched(case, previous.mesh())[0].faces
    names = tuple(r.name for r in case.regions)
    ends = np.cumsum([r.length for r in case.regions])
    counts = np.bincount(previous.region, minlength=len(names))
    stops = np.cumsum(counts)
    same = (
        previous.region_names == names
        and previous.geometry == case.geometry
        and counts.size == len(names)
        and np.all(counts > 0)
        and np.allclose(faces[stops], ends, rtol=1e-12, atol=0.0)
        and np.isclose(faces[0], 0.0, rtol=0.0, atol=1e-12 * ends[-1])
    )
    if not same:
        raise CaseError(
            f"{path} was computed on another mesh (regions {previous.region_names}, "
            f"{previous.geometry}; the case has {names}, {case.geometry}, or other region lengths)",
            file=case.source,
        )
    starts = np.concatenate([[0], stops[:-1]])
    widths = [np.diff(faces[a : b + 1]) for a, b in zip(starts, stops, strict=True)]
    return assemble_mesh(case, widths)


def restart_state(case, path) -> Start:
    """The last output of result file ``path`` for ``case``, on the file's own mesh.

    The file must hold the same species, regions (names, lengths) and
    geometry as the case; a floating boundary potential is rebuilt from the
    surface charge on its face and its neighbour's potential.
    """
    from ..errors import CaseError
    from ..results.reader import load_result

    previous = load_result(path)
    if len(previous.t) == 0:
        raise CaseError(f"{path} holds no output to restart from", file=case.source)
    if previous.species != case.species_names:
        raise CaseError(
            f"{path} has species {previous.species}, the case has {case.species_names}",
            file=case.source,
        )
    mesh = mesh_of_result(case, previous, path)
    model = build_model(case, mesh)
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
    x = result_state(model, previous)
    t = float(previous.t[-1])
    t = t if np.isfinite(t) else 0.0
    check_start_time(case, t, f" (the last output of {path})")
    return Start(x, t, mesh)


def result_state(model, result, index: int = -1) -> np.ndarray:
    """The state vector of output ``index`` of ``result``, on ``model`` (the
    result's own mesh).

    A floating reservoir's potential is not stored: it is rebuilt from the
    charge on its face (that output's surface charge) over the half cell
    next to it, which keeps the displacement through the face as it was.
    """
    psi = result.potential[index] / model.thermal_voltage
    boundary = []
    for side, cell, face in ((0, 0, 0), (1, -1, model.n_cells)):
        if model.b_type[side] != FLOATING:
            continue
        sigma = result.surface_charge.get(SIDES[side])
        charge = float(sigma[index]) if sigma is not None and np.isfinite(sigma[index]) else 0.0
        area = model.mesh.face_area[face]
        boundary.append(psi[cell] + charge * area / (FARADAY * model.b_pois_cond[side]))
    extras = {}
    if model.channels is not None:  # the gates of that output
        extras["gates"] = np.array(
            [
                float(result.extra_observables["gate_" + name.replace(".", "_")][index])
                for name in model.channels.gate_names
            ]
        )
    if model.swelling is not None:  # the volume of that output, from its faces
        extras["scale"] = np.array([scale_of(model, result.faces_at(index))])
    return model.layout.pack(
        psi, result.concentration[index], boundary=np.array(boundary), extras=extras
    )


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
    adapt_mesh: bool | None = None,
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
        Start on this mesh instead of the one the case's ``[mesh]`` table
        gives (and the one ``x0`` lives on, if given).
    x0 : array, optional
        Initial state vector (restart), used as it is; default: the state
        ``[run] initial`` names (the contents, or the steady state at t = 0),
        with Gauss's law solved at its concentrations.
    t_start : float
        Time of ``x0`` [s] (restart).
    adapt_mesh : bool, optional
        Adapt the mesh of a steady state to the solution
        (:mod:`pnp.simulation.adaptive`; also ``[mesh] adapt``). Default:
        yes unless ``mesh`` is given. A transient from the initial contents
        runs on the adapted meshes of its initial and protocol steady states
        merged; a restarted one on ``mesh``.
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
        (every state reached is kept), and ``error_estimate`` per observable.
    """
    if progress not in (False, True, "bar", "lines"):
        raise ValueError(f'progress must be True, False, "bar" or "lines", not {progress!r}')
    transient = case.run.mode == "transient"
    adapt_mesh = mesh is None if adapt_mesh is None else adapt_mesh
    if mesh is None:
        if transient and x0 is None and adapt_mesh and adaptive_case(case):
            mesh = transient_mesh(case)
        else:
            mesh = build_mesh(case)
    if transient and t_start != 0.0:
        check_start_time(case, t_start)
    if transient and any(p.at <= t_start for p in case.protocols):
        # every protocol up to t_start (one at t = 0 included) is in effect;
        # only later ones are to come
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
    tracker = Trackers(trackers)
    if transient and case.run.error_estimate and x0 is None:
        # the comparison runs first, at this run's output times: each output
        # is then written with its estimate
        from .estimate import WithEstimates, comparison_runs, run_times

        space, time = comparison_runs(case, mesh, run_times(case, model, t_start))
        tracker = WithEstimates(tracker, space, time)
    status, message, stats = simulate(case, model, tracker, x0, t_start, adapt_mesh=adapt_mesh)
    return collector.result(status, message, stats)
