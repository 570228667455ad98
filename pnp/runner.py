"""Run a case: case → mesh → model → solver → observables → Result."""

from __future__ import annotations

import math

import numpy as np

from .errors import CaseError
from .mesh import build_mesh
from .model import build_model
from .observables import observe
from .solver import solve_steady


def _case_toml(case) -> str:
    to_toml = getattr(case, "to_toml", None)
    return to_toml() if callable(to_toml) else ""


def make_result(model, times, states, observables, stats: dict, status: str, message: str):
    """Assemble a :class:`pnp.result.Result` from states and their observables."""
    from .result import Result

    case = model.case
    phis, concs = zip(*(model.split(x) for x in states), strict=True) if states else ((), ())
    N, S = model.n_cells, model.n_species
    obs_names = ["membrane_potential", "current", "pump_current", "surface_charge_left",
                 "surface_charge_right", *[f"flux_{s}" for s in model.species]]
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
        stats=stats,
        status=status,
        message=message,
    )


def run(case, progress: bool = False, output: str | None = None, mesh=None):
    """Solve ``case`` (steady or transient per its ``[run]`` table).

    Parameters
    ----------
    case : pnp.Case
        A validated case (``pnp.load_case`` or ``pnp.Case.from_dict``).
    progress : bool
        Show a progress bar (pseudo-)time on a log scale.
    output : str, optional
        Write the result to this HDF5 path as well.
    mesh : pnp.mesh.Mesh, optional
        Use this mesh instead of the one the case's ``[mesh]`` table gives.

    Returns
    -------
    Result
        With ``status`` "completed", or "failed" and a ``message`` saying why
        (the last state reached is kept).
    """
    if case.run.mode != "steady":
        raise CaseError(f"run mode {case.run.mode!r} is not implemented yet; available: steady",
                        file=case.source, key="run.mode")
    model = build_model(case, mesh if mesh is not None else build_mesh(case))
    bar = _progress(progress)
    try:
        outcome = solve_steady(model, rtol=case.run.rtol, atol=case.run.atol,
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
        result.save(output)
    return result


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


def _progress(enabled: bool):
    return _SteadyBar() if enabled else None
