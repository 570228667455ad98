"""Run a case: case → mesh → model → solver → observables → Result."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..discretisation.mesh import build_mesh
from ..discretisation.model import build_model
from ..results.observables import measurement_face, observe
from ..solvers.solver import solve_steady


def _case_toml(case) -> str:
    to_toml = getattr(case, "to_toml", None)
    return to_toml() if callable(to_toml) else ""


def observable_names(model) -> list[str]:
    return ["membrane_potential", "current", "pump_current", "membrane_charge",
            "surface_charge_left", "surface_charge_right", *[f"flux_{s}" for s in model.species]]


def make_result(model, times, states, observables, stats: dict, status: str, message: str):
    """Assemble a :class:`pnp.results.result.Result` from states and their observables."""
    from ..results.result import Result

    case = model.case
    phis, concs = zip(*(model.split(x) for x in states), strict=True) if states else ((), ())
    N, S = model.n_cells, model.n_species
    obs_names = observable_names(model)
    series = {k: np.array([o[k] for o in observables], dtype=float) for k in obs_names}
    return Result(
        title=case.title,
        case_toml=_case_toml(case),
        temperature=case.temperature,
        geometry=case.geometry,
        inside=case.inside,
        x=model.mesh.centers.copy(),
        faces=model.mesh.faces.copy(),
        region=model.mesh.region.copy(),
        region_names=model.mesh.region_names,
        species=model.species,
        z=np.array([s.z for s in case.species], dtype=int),
        D=np.array([s.D for s in case.species], dtype=float),
        t=np.asarray(times, dtype=float),
        potential=np.array(phis, dtype=float).reshape(len(states), N),
        concentration=np.array(concs, dtype=float).reshape(len(states), S, N),
        membrane_potential=series["membrane_potential"],
        current=series["current"],
        pump_current=series["pump_current"],
        flux={s: series[f"flux_{s}"] for s in model.species},
        surface_charge={"left": series["surface_charge_left"],
                        "right": series["surface_charge_right"]},
        extra_observables={"membrane_charge": series["membrane_charge"]},
        stats=stats,
        status=status,
        message=message,
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
        raise CaseError(f"{path} has species {previous.species}, the case has {model.species}",
                        file=case.source)
    if previous.x.shape != model.mesh.centers.shape or not np.allclose(
            previous.x, model.mesh.centers, rtol=1e-12, atol=0.0):
        raise CaseError(f"{path} was computed on another mesh ({previous.x.size} cells, the case "
                        f"gives {model.n_cells})", file=case.source)
    last_c, last_phi = previous.concentration[-1], previous.potential[-1]
    if not (np.all(np.isfinite(last_c)) and np.all(np.isfinite(last_phi))):
        raise CaseError(f"{path}: its last state holds non-finite values; cannot restart from it",
                        file=case.source)
    if np.min(last_c) < 0.0:
        raise CaseError(f"{path}: its last state holds negative concentrations; cannot restart "
                        f"from it", file=case.source)
    x = np.zeros(model.n_unknowns)
    body = x[model.offset:model.offset + model.n_cells * model.block].reshape(model.n_cells, model.block)
    body[:, :-1] = last_c.T
    body[:, -1] = last_phi / model.thermal_voltage
    if model.offset:
        x[0] = body[0, -1]
    if model.n_unknowns > model.offset + body.size:
        x[-1] = body[-1, -1]
    t = float(previous.t[-1])
    return x, (t if np.isfinite(t) else 0.0)


def output_times(case, first_step: float) -> list[float]:
    """Output times of a transient run: a count (log-spaced) or a list."""
    outputs = case.run.outputs
    t_end = case.run.t_end
    if isinstance(outputs, int | np.integer):
        t_first = min(t_end, 10.0 * first_step)
        if outputs == 1 or t_first >= t_end:
            return [t_end]
        return [float(v) for v in np.geomspace(t_first, t_end, int(outputs))]
    return sorted(float(v) for v in outputs if 0.0 < v <= t_end)


def run(case, progress: bool = False, output: str | None = None, mesh=None, x0=None,
        t_start: float = 0.0):
    """Solve ``case`` (steady or transient per its ``[run]`` table).

    Parameters
    ----------
    case : pnp.Case
        A validated case (``pnp.load_case`` or ``pnp.Case.from_dict``).
    progress : bool
        Show a progress bar (pseudo-)time on a log scale.
    output : str, optional
        Write the result to this HDF5 path, each output as it is reached
        (a killed run leaves a readable file with status "running").
    mesh : pnp.discretisation.mesh.Mesh, optional
        Use this mesh instead of the one the case's ``[mesh]`` table gives.
    x0 : array, optional
        Initial state vector (restart); default: the case's initial contents.
    t_start : float
        Time of ``x0`` [s] (restart).

    Returns
    -------
    Result
        With ``status`` "completed", or "failed" and a ``message`` saying why
        (every state reached is kept).
    """
    model = build_model(case, mesh if mesh is not None else build_mesh(case))
    if case.run.mode == "transient":
        return _run_transient(case, model, progress, output, x0, t_start)
    bar = _SteadyBar() if progress else None
    try:
        outcome = solve_steady(model, x0=x0, rtol=case.run.rtol, atol=case.run.atol,
                               max_steps=case.run.max_steps,
                               callback=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    stats = outcome.stats.as_dict()
    stats["pseudo_time"] = outcome.pseudo_time
    obs = observe(model, outcome.x)
    result = make_result(model, [math.inf], [outcome.x], [obs], stats,
                         "completed" if outcome.success else "failed", outcome.message)
    if output is not None:
        _save_atomically(result, output)
    if outcome.message == "interrupted":
        raise KeyboardInterrupt
    return result


def _temporary_name(path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.part")


def _save_atomically(result, path) -> None:
    """Write under a temporary name, then move it into place in one step."""
    tmp = _temporary_name(path)
    result.save(tmp)
    os.replace(tmp, path)


def _run_transient(case, model, progress, output, x0, t_start):
    from ..solvers.solver import initial_step, solve_transient

    x_init = model.x0 if x0 is None else x0
    t_end = case.run.t_end
    stops = output_times(case, initial_step(model))
    events = {}
    for at in sorted({p.at for p in case.protocols}):
        if t_start < at <= t_end:
            later = case.at_time(at)
            events[at] = (lambda new_case: (lambda old: build_model(new_case, old.mesh)))(later)
    times, states, observables = [], [], []
    # The file is written under a temporary name until its first output is
    # flushed, then renamed: the final name never holds a file without data.
    writer = _open_writer(model, _temporary_name(output)) if output is not None else None
    first = observe(model, x_init)
    times.append(t_start)
    states.append(x_init.copy())
    observables.append(first)
    if writer is not None:
        _append(writer, model, t_start, x_init, first)
        os.replace(_temporary_name(output), output)

    measure = measurement_face(model)

    def on_stop(t, x, current_model, displacement_rate):
        obs = observe(current_model, x, displacement_rate(measure))
        times.append(t)
        states.append(x.copy())
        observables.append(obs)
        if writer is not None:
            _append(writer, current_model, t, x, obs)

    bar = _TransientBar(t_end) if progress else None
    interrupt = _DeferredInterrupt()

    def between_steps(t, dt, stats, x):
        # a SIGINT is acted on here, between steps: never inside an append
        interrupt.check()
        if bar is not None:
            bar.update(t, dt, stats, x)

    try:
        with interrupt:
            outcome = solve_transient(model, x_init, t_end, stops, on_stop, events,
                                      rtol=case.run.rtol, atol=case.run.atol,
                                      max_steps=case.run.max_steps, t_start=t_start,
                                      callback=between_steps)
    except KeyboardInterrupt:
        if writer is not None:
            writer.finish("failed", "interrupted", {})
        raise
    finally:
        if bar is not None:
            bar.close()
    stats = outcome.stats.as_dict()
    status = "completed" if outcome.success else "failed"
    result = make_result(model, times, states, observables, stats, status, outcome.message)
    if writer is not None:
        writer.finish(status, outcome.message, stats)
    return result


class _DeferredInterrupt:
    """Turn SIGINT into a flag, raised as KeyboardInterrupt at ``check()``.

    Only in the main thread (signal handlers cannot be set elsewhere); in
    other threads SIGINT keeps its default behaviour.
    """

    def __init__(self):
        self.pending = False
        self.previous = None

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False

    def _handler(self, signum, frame):
        self.pending = True

    def check(self):
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


def _open_writer(model, path):
    from ..results.writer import ResultWriter

    case = model.case
    names = observable_names(model)
    return ResultWriter(
        path, title=case.title, case_toml=_case_toml(case), temperature=case.temperature,
        geometry=case.geometry, x=model.mesh.centers, faces=model.mesh.faces,
        region=model.mesh.region, region_names=model.mesh.region_names, species=model.species,
        z=np.array([s.z for s in case.species], dtype=int),
        D=np.array([s.D for s in case.species], dtype=float), inside=case.inside,
        observable_names=names,
    )


def _append(writer, model, t, x, obs):
    phi, c = model.split(x)
    writer.append(t, phi, c, obs)


class _TransientBar:
    """tqdm bar over log10 of simulated time."""

    def __init__(self, t_end: float):
        from tqdm import tqdm

        self.lo = -12.0
        self.hi = math.log10(t_end)
        self.bar = tqdm(total=1000, desc="transient",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
        self.pos = 0

    def update(self, t, dt, stats, x=None):
        frac = (math.log10(max(t, 1e-300)) - self.lo) / (self.hi - self.lo)
        pos = int(1000 * min(1.0, max(0.0, frac)))
        if pos > self.pos:
            self.bar.update(pos - self.pos)
            self.pos = pos
        self.bar.set_postfix_str(f"t={t:.3e}s dt={dt:.2e}s steps={stats.steps} "
                                 f"rejected={stats.rejected_steps}")

    def close(self):
        self.bar.close()


class _SteadyBar:
    """tqdm bar over log10 of the pseudo-time step (1e-15 s … 1e12 s)."""

    def __init__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=27, desc="steady", unit="decade",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
        self.pos = 0

    def update(self, t, dt, stats, x=None):
        pos = int(min(27, max(0, math.log10(max(dt, 1e-15)) + 15)))
        if pos > self.pos:
            self.bar.update(pos - self.pos)
            self.pos = pos
        self.bar.set_postfix_str(f"dt={dt:.2e}s steps={stats.steps} newton={stats.newton_iterations}")

    def close(self):
        self.bar.close()

