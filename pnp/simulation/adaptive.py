"""Steady states on solution-adaptive meshes, with an error estimate for every observable.

Owns :func:`solve_adaptive` and :func:`error_tolerances`. A cycle solves on
a mesh M and on M with every cell halved; the difference of each observable
between the two is its error estimate. The scheme is second order, so the
halved mesh's own error is about a third of that difference (a quarter of
the error on M remains, and M's error is 4/3 of the difference): the
estimate is about three times the true error once the mesh resolves the
solution. When every estimate is within its tolerance the halved mesh's
state is the answer; otherwise the next M equidistributes the solution's
curvature (:func:`pnp.discretisation.adapt.indicator`) with a constant
scaled by the square root of how far the worst estimate is from its
tolerance. docs/numerics.md ("Adaptive meshes and error estimates") gives
the reasoning and the measured accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY, debye_length
from ..discretisation import adapt
from ..discretisation.model import build_model
from ..input.schema import MAX_CELLS, show_limit
from ..results.observables import observe
from ..solvers.steady import INTERRUPTED, SteadyOutcome, solve_steady

SAFETY = 0.7  # aim the next mesh's estimate at this fraction of the tolerance
# the estimate of a mesh the user fixed, from a comparison on that mesh with its
# cells merged in pairs: the difference, which bounds the finer solution's error
# for any order >= 1 (about 3x it at second order) ...
MERGED_FACTOR = 1.0
# ... or, when no region has cells enough to merge, from the mesh halved: twice
# the difference, which bounds the coarser solution's error for any order >= 1
HALVED_FACTOR = 2.0


@dataclass
class AdaptiveOutcome:
    """A steady state with the mesh it was computed on and its error estimate."""

    model: object
    outcome: SteadyOutcome
    observables: dict
    error_estimate: dict
    stats: dict  # every solve's statistics added up
    cycles: int = 0
    note: str = ""  # why refinement stopped short of the tolerance ("" if it did not)
    history: list = field(default_factory=list)  # (cells, worst estimate / tolerance) per cycle


def error_tolerances(model, obs: dict, tolerance: float) -> dict:
    """Allowed error of each observable: ``tolerance`` in V for potentials, relative otherwise.

    A relative tolerance refers to the observable's magnitude, but never to
    less than a scale of its kind in this case, so that a quantity that is
    zero (a current at equilibrium, an uncharged wall) does not demand
    round-off accuracy: for charges the charge of one thermal voltage across
    the shortest bulk Debye length (eps V_T / lambda_D); for fluxes the
    largest diffusive flux a bulk concentration drives across the domain
    (max_i D_i c_i / L), times F for currents. A species' current
    ``current_<s>`` = z F ``flux_<s>`` gets its flux's tolerance times |z| F,
    so it never asks for more refinement than the flux does; potentials
    (``membrane_potential``, ``membrane_voltage``) are absolute.
    """
    case = model.case
    valence = {s.name: s.z for s in case.species}
    lam = (
        min(
            debye_length(r.concentration, valence, r.eps_r, case.temperature)
            for r in case.regions
            if not r.membrane
        )
        if any(not r.membrane for r in case.regions)
        else math.inf
    )
    eps = VACUUM_PERMITTIVITY * max(r.eps_r for r in case.regions)
    charge_scale = eps * model.thermal_voltage / lam if math.isfinite(lam) else 0.0
    length = sum(r.length for r in case.regions)
    flux_scale = (
        max(
            (
                s.D * max((r.concentration.get(s.name, 0.0) for r in case.regions), default=0.0)
                for s in case.species
            ),
            default=0.0,
        )
        / length
    )
    out = {}
    for name, value in obs.items():
        if name in ("membrane_potential", "membrane_voltage"):
            out[name] = tolerance
        elif name.startswith(("gate_", "permeability_")):
            # functions of V_m in a steady state (x_inf(V_m)): their error is
            # V_m's times a slope, held through V_m's tolerance; estimated, not asked
            out[name] = math.inf
        elif name.startswith(("surface_charge", "membrane_charge")):
            out[name] = tolerance * max(abs(value), charge_scale)
        elif name.startswith("flux_"):
            out[name] = tolerance * max(abs(value), flux_scale)
        elif name in ("volume", "osmolarity_inside", "osmolarity_outside"):
            out[name] = tolerance * abs(value)
        elif name in ("water_flux", "pressure"):
            # zero at a steady volume: relative to the osmotic pressure of the bath
            # (and the flux it would drive)
            osmotic = GAS_CONSTANT * case.temperature * obs.get("osmolarity_outside", 0.0)
            lp = model.swelling.water_permeability if name == "water_flux" else 1.0
            out[name] = tolerance * max(abs(value), lp * osmotic)
        elif name.startswith("channel_current_"):  # a share of its species' current
            channel = name[len("channel_current_") :]
            ch = next(c for c in case.channels if c.name == channel)
            z = abs(valence[ch.species])
            out[name] = tolerance * max(abs(value), z * FARADAY * flux_scale)
        elif name.startswith("current_"):
            # z_i F flux_i: the flux's tolerance times |z_i| F (0 for a neutral species,
            # whose current is zero by construction)
            z = abs(valence.get(name[len("current_") :], 0))
            out[name] = tolerance * max(abs(value), z * FARADAY * flux_scale)
        else:  # currents
            out[name] = tolerance * max(abs(value), FARADAY * flux_scale)
    return out


def _solve(model, x0, run, callback):
    first = None
    if model.swelling is not None and x0 is model.x0:
        x0, first = _fixed_volume_start(model, run, callback)
    outcome = solve_steady(
        model, x0=x0, rtol=run.rtol, atol=run.atol, max_steps=run.max_steps, callback=callback
    )
    if first is not None:
        _add_stats(outcome, first)
    return outcome


def _fixed_volume_start(model, run, callback):
    """Where a swelling cell's steady solve starts: the steady state at the
    volume of the case as written, solved first without the volume unknown
    (direct Newton with the volume free from the initial contents often
    overshoots into continuation, ~10x the cost), or the initial contents;
    and that solve's outcome (its work is counted).

    The volume is fixed by building the one model this needs without the
    volume unknown (``build_model(..., moving=False)``) on ``model``'s mesh;
    the case stays as it is. :func:`fixed_volume`, the other route, changes
    the case instead, for :func:`transient_mesh`, whose :func:`solve_adaptive`
    builds every model of its cycles from the case it is given.
    """
    fixed = build_model(model.case, model.mesh, moving=False)
    outcome = solve_steady(
        fixed, rtol=run.rtol, atol=run.atol, max_steps=run.max_steps, callback=callback
    )
    if not outcome.success:
        return model.x0, outcome
    return np.append(outcome.x, float(model.x0[-1])), outcome


def _solve_from(model, x0, run, callback):
    """Steady state from a remapped state, else from the initial contents.

    Direct Newton from a state remapped off a coarser solution usually
    converges in a few iterations; when that coarser solution was far from
    resolved (a wall at hundreds of mV) it may not, and direct Newton from
    the initial contents is tried before pseudo-time continuation from the
    remapped state, which always gets there but at ~100x the cost.
    """
    kwargs = dict(rtol=run.rtol, atol=run.atol, max_steps=run.max_steps, callback=callback)
    first = solve_steady(model, x0=x0, continuation=False, **kwargs)
    if first.success or first.message == INTERRUPTED:
        return first
    flat = solve_steady(model, continuation=False, **kwargs)
    if flat.success or flat.message == INTERRUPTED:
        _add_stats(flat, first)
        return flat
    last = solve_steady(model, x0=x0, **kwargs)
    _add_stats(last, first, flat)
    return last


def _add_stats(outcome, *others) -> None:
    for other in others:
        for key in ("steps", "newton_iterations", "factorizations", "rejected_steps", "wall_time"):
            setattr(outcome.stats, key, getattr(outcome.stats, key) + getattr(other.stats, key))


def _estimate(obs_coarse: dict, obs_fine: dict, factor: float = 1.0) -> dict:
    return {k: factor * abs(obs_coarse[k] - obs_fine[k]) for k in obs_fine}


def _total(outcomes) -> dict:
    """Solver statistics of several solves added up."""
    total: dict = {}
    for outcome in outcomes:
        for key, value in outcome.stats.as_dict().items():
            total[key] = total.get(key, 0) + value
    return total


def solve_adaptive(case, model, x0=None, adapt_mesh: bool = True, callback=None) -> AdaptiveOutcome:
    """Steady state of ``case`` with every observable's error estimated (see module doc).

    Starts on ``model`` (the case on its graded mesh, or a mesh the caller
    chose) from ``x0`` (default: the initial contents). With
    ``adapt_mesh=False``, ``[mesh] adapt = false`` or ``uniform_cells`` the
    mesh is kept (:func:`_solve_fixed`). ``callback`` is the steady
    solver's, called for every step of every solve.
    """
    spec, run = case.mesh, case.run
    x = model.x0 if x0 is None else x0
    if not adapt_mesh or not spec.adapt or spec.uniform_cells is not None:
        return _solve_fixed(case, model, x, run, callback)
    history: list = []
    solves: list = []
    note = ""
    cycle = 0
    while True:
        cycle += 1
        coarse = (
            _solve(model, x, run, callback) if cycle == 1 else _solve_from(model, x, run, callback)
        )
        solves.append(coarse)
        if not coarse.success:
            return _failed(model, coarse, cycle, history, solves)
        # The loader holds the start mesh to MAX_CELLS, so its halved copy can
        # have twice that; later meshes are held to max_cells / 2 below.
        halved = 2 * model.mesh.n_cells
        if halved > MAX_CELLS:
            note = (
                f"no error estimate: the halved mesh would have {halved} cells, more than "
                f"any mesh may have ({show_limit(MAX_CELLS)})"
            )
            obs_c = observe(model, coarse.x)
            return AdaptiveOutcome(model, coarse, obs_c, {}, _total(solves), cycle, note, history)
        fine_model = build_model(case, adapt.split_mesh(case, model.mesh))
        fine = _solve_from(fine_model, adapt.remap(model, coarse.x, fine_model), run, callback)
        solves.append(fine)
        obs_c = observe(model, coarse.x)
        if fine.message == INTERRUPTED:
            return _failed(fine_model, fine, cycle, history, solves)
        if not fine.success:
            # the coarse state stands, without an estimate
            return AdaptiveOutcome(
                model,
                coarse,
                obs_c,
                {},
                _total(solves),
                cycle,
                f"no error estimate: the solve on the halved mesh failed ({fine.message})",
                history,
            )
        obs_f = observe(fine_model, fine.x)
        est = _estimate(obs_c, obs_f)
        allowed = error_tolerances(fine_model, obs_f, spec.tolerance)
        # an observable with no scale in this case (no mobile ion, no charge) is zero
        # by construction: no tolerance applies to its round-off
        worst = max((est[k] / allowed[k] for k in est if allowed[k] > 0.0), default=0.0)
        history.append((fine_model.n_cells, worst))
        if worst <= 1.0:
            break
        if cycle >= spec.max_cycles:
            note = (
                f"mesh.max_cycles = {spec.max_cycles} reached with an error estimate "
                f"{worst:.3g} times mesh.tolerance"
            )
            break
        m = adapt.indicator(fine_model, fine.x)
        # the constant the coarse mesh achieved, measured with the fine curvature
        m_coarse = np.maximum(m[0::2], m[1::2])
        c_now = adapt.resolution(model.mesh, m_coarse)
        c_next = c_now * SAFETY * min(1.0, 1.0 / math.sqrt(worst))
        # never coarser than M: the estimate was measured on M and says nothing
        # about coarser cells (coarsening the over-resolved side of a membrane
        # while refining the other left nernst_k's estimate where it was)
        sizes = np.minimum(c_next / np.sqrt(m), 2.0 * fine_model.mesh.widths)
        # counted before it is made: the next mesh may be orders of magnitude finer
        if 2 * adapt.cells_from_sizes(case, fine_model.mesh, sizes) > spec.max_cells:
            note = (
                f"mesh.max_cells = {spec.max_cells} would be exceeded; stopped with an "
                f"error estimate {worst:.3g} times mesh.tolerance"
            )
            break
        new_model = build_model(case, adapt.mesh_from_sizes(case, fine_model.mesh, sizes))
        x = adapt.remap(fine_model, fine.x, new_model)
        model = new_model
    fine, obs_f = _polish(fine_model, fine, obs_f, run, callback, solves)
    return AdaptiveOutcome(fine_model, fine, obs_f, est, _total(solves), cycle, note, history)


def _solve_fixed(case, model, x, run, callback) -> AdaptiveOutcome:
    """Steady state on a mesh that does not adapt, with an error estimate.

    The state is solved on the mesh and again on a comparison mesh: the
    mesh with its cells merged in pairs (half the work of the solve
    itself), or, when no region has the cells to merge, the mesh halved.
    The answer is the state on the mesh itself, polished.
    """
    solves = [_solve(model, x, run, callback)]
    answer = solves[0]
    if not answer.success:
        return _failed(model, answer, 1, [], solves)
    obs = observe(model, answer.x)
    merged = adapt.merge_pairs(case, model.mesh)
    if merged.n_cells < model.n_cells:
        other_mesh, factor, what = merged, MERGED_FACTOR, "merged"
    elif 2 * model.n_cells <= MAX_CELLS:
        other_mesh, factor, what = adapt.split_mesh(case, model.mesh), HALVED_FACTOR, "halved"
    else:
        note = (
            f"no error estimate: the halved mesh would have {2 * model.n_cells} cells, "
            f"more than any mesh may have ({show_limit(MAX_CELLS)})"
        )
        return AdaptiveOutcome(model, answer, obs, {}, _total(solves), 1, note, [])
    other_model = build_model(case, other_mesh)
    other = _solve_from(other_model, adapt.remap(model, answer.x, other_model), run, callback)
    solves.append(other)
    if other.message == INTERRUPTED:
        return _failed(other_model, other, 1, [], solves)
    if not other.success:
        note = f"no error estimate: the solve on the {what} mesh failed ({other.message})"
        return AdaptiveOutcome(model, answer, obs, {}, _total(solves), 1, note, [])
    est = _estimate(obs, observe(other_model, other.x), factor)
    answer, obs = _polish(model, answer, obs, run, callback, solves)
    return AdaptiveOutcome(model, answer, obs, est, _total(solves), 1, "", [])


def _polish(model, outcome, obs, run, callback, solves):
    """The reported state taken to round-off by one more solve from it.

    So the answer does not depend on the path that led to it: Newton stops
    within its tolerance, and a start from a remapped state, a restart, a
    mirror image or a sweep neighbour would otherwise differ by that much.
    """
    polished = _solve(model, outcome.x, run, callback)
    solves.append(polished)
    if polished.message == INTERRUPTED:
        return polished, obs  # stopped: the run ends as interrupted, not as if polished
    if not polished.success:
        return outcome, obs
    return polished, observe(model, polished.x)


def _failed(model, outcome, cycle, history, solves) -> AdaptiveOutcome:
    return AdaptiveOutcome(
        model, outcome, observe(model, outcome.x), {}, _total(solves), cycle, "", history
    )


# a pulse train visits few distinct states; more than this many are not all adapted to
MAX_TRANSIENT_STATES = 16


def adaptive_case(case) -> bool:
    """Whether ``case``'s mesh adapts (``[mesh] adapt`` and no ``uniform_cells``)."""
    return bool(case.mesh.adapt) and case.mesh.uniform_cells is None


def fixed_volume(case):
    """``case`` with no water crossing any membrane (its volume fixed as written).

    For :func:`transient_mesh`: :func:`solve_adaptive` builds every model of
    its cycles (the halved meshes, the next mesh, the polish) from the case
    it is given, so a volume held fixed there must be part of the case: its
    regions' water permeabilities set to 0. A single solve on one model needs
    no other case: :func:`_fixed_volume_start` builds that model without the
    volume unknown (``build_model(..., moving=False)``).
    """
    if not any(r.water_permeability for r in case.regions):
        return case
    names = [r.name for r in case.regions if r.water_permeability]
    return case.with_overrides({f"region.{n}.water_permeability": 0.0 for n in names})


def transient_mesh(case):
    """The mesh of a transient: adapted to where the run goes.

    The steady state of the case as it stands at t = 0 and after each
    protocol change (each distinct state once, at most
    ``MAX_TRANSIENT_STATES``) is solved adaptively; the mesh is at least as
    fine everywhere as each of their adapted meshes. A state whose steady
    solve fails contributes the mesh it reached.
    """
    import json

    from ..discretisation.mesh import build_mesh

    times = [0.0, *sorted({p.at for p in case.protocols if p.at <= case.run.t_end})]
    seen, meshes = set(), []
    for t in times:
        state = case.at_time(t) if t > 0.0 else case
        # what is still to come (protocols, stimuli: the case at t = 0 lists its
        # pulses) is not part of the state
        key = json.dumps(
            {k: v for k, v in state.to_dict().items() if k not in ("protocol", "stimulus")},
            sort_keys=True,
        )
        if key in seen:
            continue
        seen.add(key)
        if len(seen) > MAX_TRANSIENT_STATES:
            break
        # at the volume of the case as written: a transient starts there, and a
        # swelling cell may have no steady volume at all (the mesh moves with it)
        state = fixed_volume(state)
        result = solve_adaptive(state, build_model(state, build_mesh(state)))
        meshes.append(result.model.mesh)
    if len(meshes) == 1:
        return meshes[0]
    if sum(m.n_cells for m in meshes) > case.mesh.max_cells:
        # merging could exceed mesh.max_cells: the finest single state's mesh instead
        return max(meshes, key=lambda m: m.n_cells)
    return adapt.merged_sizes(case, meshes)
