"""A case's ``[expect]`` table: what a run should reproduce, where that holds, the verdict.

Each expectation names a closed form of :mod:`pnp.analytic`, and a closed
form holds only under its premises. :func:`expectations` first asks whether
the case (as overridden, and as changed by its protocols up to the last
output) meets them; one it does not meet is *not applicable*, with the
reason, and is not compared. The premises, per kind (docs/interface.md,
"The [expect] table"):

- ``membrane_potential = NUMBER``: none (the number is the case author's).
- every closed form of ``membrane_potential`` and ``concentration``: one
  membrane; no net current through it — a wall at either end, or a floating
  reservoir with zero injected current — or both ends held at potentials
  whose difference is the expected membrane potential (a clamp at the
  reversal); the species concerned have the same activity coefficient and
  partition offset in the two end regions (the forms use concentrations).
- ``"nernst:X"``: X crosses the membrane; no running pump moves X; every
  other permeant species has the same Nernst potential (else, with open
  ends, V_m settles between them; with a wall closing the cell, the
  contents move until the species share one potential, and the contents
  the closed form uses are no longer those of the case) — or the ends hold
  the membrane at E_X.
- ``"ghk"``: at least one permeant species; no running pump (it carries a
  current the leaks balance); both ends reservoirs (a wall makes the steady
  state an equilibrium instead: Donnan).
- ``"donnan"`` (potential and inside concentrations): at least one permeant
  species; no running pump; the inside end a wall (a closed cell) and the
  outside end a reservoir (the bath).
- ``surface_charge = "grahame"`` and ``potential_profile = "gouy-chapman"``:
  a wall at a fixed potential; beside it a bulk region at least
  ``SEMI_INFINITE`` Debye lengths long; the other end a reservoir at a fixed
  potential; Gouy–Chapman also a symmetric z:z electrolyte.

Every closed form is of a steady state, so a transient is compared at its
last output only once it has settled there: with two outputs or more, the
last interval must change the membrane potential (for wall forms: the wall
charge, relative) by less than the expectation's tolerance (1e-6 V or
1e-6 relative without one). A run stopped while still moving is not
applicable, saying how far it moved (restart it with a later ``t_end``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import analytic
from ..constants import GAS_CONSTANT, debye_length
from ..discretisation.activity import ln_gamma_by_region
from ..errors import CaseError
from ..results.whole_cell import first_membrane

__all__ = [
    "SEMI_INFINITE",
    "end_boundaries",
    "end_regions",
    "expectations",
    "first_membrane",
    "gouy_chapman_reference",
    "out_of_tolerance",
    "verdict",
]

#: Debye lengths a region beside a charged wall needs for the semi-infinite
#: closed forms (Grahame, Gouy–Chapman): the wall's potential has decayed to
#: e^-10 = 5e-5 of itself at the far end.
SEMI_INFINITE = 10.0

#: Tolerance [V] of a clamp "at" the expected potential when [expect] sets none.
CLAMP_TOLERANCE = 1e-6


def _valences(case) -> dict[str, int]:
    return {s.name: s.z for s in case.species}


def end_regions(case):
    """(inside end region, outside end region)."""
    first, last = case.regions[0], case.regions[-1]
    return (first, last) if case.inside == "left" else (last, first)


def end_boundaries(case):
    """(inside end boundary, outside end boundary)."""
    return (case.left, case.right) if case.inside == "left" else (case.right, case.left)


def case_at_end(case, result):
    """The case in effect at the last output of ``result``: a transient's protocols
    applied up to then (one at the very time of the output is not: the output is
    the state just before it)."""
    if case.run.mode != "transient" or not case.protocols or len(result.t) == 0:
        return case
    return case.at_time(math.nextafter(float(result.t[-1]), -math.inf))


# ---------------------------------------------------------------------------
# Premises
# ---------------------------------------------------------------------------


def _drive(case) -> tuple[str, float]:
    """How the ends drive current: ("open", 0) none can flow at steady state (a wall,
    or a floating reservoir with nothing injected); ("injected", I) a current clamp;
    ("clamp", dphi) both ends held, dphi = inside end minus outside end [V]."""
    ends = (case.left, case.right)
    if any(b.type == "wall" for b in ends):
        return "open", 0.0
    floating = [b for b in ends if b.floating]
    if floating:
        current = floating[0].current
        return ("open", 0.0) if current == 0.0 else ("injected", current)
    inside, outside = end_boundaries(case)
    return "clamp", inside.potential - outside.potential


def _running_pumps(case) -> list:
    return [p for p in case.pumps if (p.rate or 0.0) > 0.0 or (p.j_max or 0.0) > 0.0]


def _permeant(membrane) -> list[str]:
    return [name for name, p in membrane.permeability.items() if p > 0.0]


def _unequal_offsets(case, names) -> list[str]:
    """Species of ``names`` whose ln(activity coefficient) + partition offset / RT
    differs between the two end regions: concentration-based forms miss them."""
    ln_gamma = ln_gamma_by_region(case)
    species = [s.name for s in case.species]
    ends = (0, len(case.regions) - 1)
    rt = GAS_CONSTANT * case.temperature
    out = []
    for name in names:
        j = species.index(name)
        g = [ln_gamma[k, j] + case.regions[k].barrier.get(name, 0.0) / rt for k in ends]
        if abs(g[0] - g[1]) > 1e-9:
            out.append(name)
    return out


def _membrane_premises(case) -> str | None:
    """What every membrane closed form needs of the membranes."""
    membranes = [r for r in case.regions if r.membrane]
    if not membranes:
        return "no membrane"
    if len(membranes) > 1:
        return f"{len(membranes)} membranes: the closed form is for one"
    return None


def _current_premise(case, expected: float, tol: float | None) -> str | None:
    kind, value = _drive(case)
    if kind == "injected":
        return f"current clamp, {value:.3g} A/m^2 injected: the closed form needs zero net current"
    if kind == "clamp" and abs(value - expected) > (CLAMP_TOLERANCE if tol is None else tol):
        return (
            f"voltage clamp at {value * 1e3:.4g} mV, not at the expected {expected * 1e3:.4g} mV: "
            "the closed form needs zero net current"
        )
    return None


def _offsets_premise(case, names) -> str | None:
    unequal = _unequal_offsets(case, names)
    if unequal:
        return (
            f"{', '.join(unequal)}: another activity coefficient or partition offset inside "
            "than outside, and the closed form uses concentrations"
        )
    return None


def _nernst_premises(case, name: str, expected: float, tol: float | None) -> str | None:
    membrane = first_membrane(case)
    if name not in _permeant(membrane):
        return f"{name} does not cross the membrane"
    if any(name in (p.sodium, p.potassium) for p in _running_pumps(case)):
        return f"a pump moves {name}: it is not at equilibrium"
    reason = _current_premise(case, expected, tol) or _offsets_premise(case, [name])
    if reason is not None or _drive(case)[0] == "clamp":
        return reason  # a clamp at E_X holds X at equilibrium whatever else crosses
    # Another permeant species with another Nernst potential: with the ends open,
    # V_m settles between the two (GHK); with a wall closing the cell, both move
    # until they share one potential, and the contents the closed form uses change.
    inside, outside = end_regions(case)
    z = _valences(case)
    for other in _permeant(membrane):
        e_other = analytic.nernst(
            inside.concentration[other], outside.concentration[other], z[other], case.temperature
        )
        if other != name and abs(e_other - expected) > (CLAMP_TOLERANCE if tol is None else tol):
            return (
                f"{other} crosses the membrane too, with E_{other} = {e_other * 1e3:.4g} mV: "
                f"{name} alone does not set V_m"
            )
    return None


def _ghk_premises(case, expected: float, tol: float | None) -> str | None:
    if _running_pumps(case):
        return "a pump runs: GHK is the potential of zero leak current, the pump's is not zero"
    if any(b.type == "wall" for b in (case.left, case.right)):
        return "a wall closes the cell: its steady state is an equilibrium (expect donnan)"
    return _current_premise(case, expected, tol) or _offsets_premise(
        case, _permeant(first_membrane(case))
    )


def _donnan_premises(case) -> str | None:
    if not _permeant(first_membrane(case)):
        return "no species crosses the membrane"
    if _running_pumps(case):
        return "a pump runs: the permeant species are not at equilibrium"
    inside, outside = end_boundaries(case)
    if inside.type != "wall":
        return "the inside end is a reservoir, not a closed cell"
    if outside.type != "reservoir":
        return "the outside end is a wall, not a bath"
    return _offsets_premise(case, _permeant(first_membrane(case)))


def _charged_wall(case):
    """(side, wall, region beside it, other end) of the first wall at a fixed potential."""
    for side, wall, other in (("left", case.left, case.right), ("right", case.right, case.left)):
        if wall.type == "wall" and wall.potential is not None:
            region = case.regions[0] if side == "left" else case.regions[-1]
            return side, wall, region, other
    return None


def _wall_premises(case) -> str | None:
    found = _charged_wall(case)
    if found is None:
        return "no wall at a fixed potential"
    _, _, region, other = found
    if region.membrane:
        return "the region beside the wall is a membrane"
    if other.type != "reservoir" or other.potential is None:
        return "the other end is not a reservoir at a fixed potential (the bulk reference)"
    lam = debye_length(region.concentration, _valences(case), region.eps_r, case.temperature)
    if not region.length >= SEMI_INFINITE * lam:
        return (
            f"the region beside the wall is {region.length / lam:.3g} Debye lengths long: "
            f"the closed form is for a semi-infinite one (>= {SEMI_INFINITE:g})"
        )
    return None


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


def _row(label, sim, expected, unit, tol, relative=False, reason=None):
    applicable = reason is None
    diff = sim - expected if applicable and expected is not None else None
    return {
        "quantity": label,
        "simulated": sim,
        "expected": expected,
        "difference": diff,
        "unit": unit,
        "relative": relative,
        "ok": None if tol is None or not applicable else abs(diff) <= float(tol),
        "applicable": applicable,
        "reason": reason,
    }


def _guarded(compute: Callable[[], float]) -> float | None:
    """A closed form's value, or None where its inputs do not define one."""
    try:
        value = float(compute())
    except (ValueError, ZeroDivisionError, ArithmeticError):
        return None
    return value if math.isfinite(value) else None


def expectations(case, result) -> list[dict]:
    """Evaluate ``[expect]``: rows with quantity, simulated, expected, difference, ok,
    and whether it applies (``applicable``; if not, ``reason``, and ``ok`` is None)."""
    spec = dict(case.expect)
    tol = spec.pop("tolerance", None)
    case = case_at_end(case, result)
    moving = _still_moving(case, result, tol)
    rows = []
    for key, value in spec.items():
        if key != "membrane_potential" or not isinstance(value, int | float):
            reason = moving.get("surface" if key in WALL_KEYS else "membrane")
            if reason is not None:
                rows.extend(_not_settled(case, result, key, value, tol, reason))
                continue
        if key == "membrane_potential":
            rows.append(_vm_row(case, result, value, tol))
        elif key == "surface_charge":
            rows.append(_sigma_row(case, result, value, tol))
        elif key == "concentration" and value == "donnan":
            rows.extend(_donnan_rows(case, result))
        elif key == "potential_profile" and value == "gouy-chapman":
            rows.append(_gc_profile_row(case, result))
        else:
            raise CaseError(
                f"cannot evaluate expectation {key} = {value!r}",
                file=case.source,
                key=f"expect.{key}",
            )
    return rows


WALL_KEYS = ("surface_charge", "potential_profile")
SETTLED = 1e-6  # V, or relative: the last interval's change without a tolerance


def _still_moving(case, result, tol) -> dict:
    """Why a transient has not settled at its last output ("membrane", "surface"), if so.

    The steady state the last output leads to (the steady solver from that
    state, on the run's mesh, keeping closed compartments' contents) is
    compared with it: the membrane potential within the expectation's
    tolerance (``SETTLED`` V without one), each wall charge within
    ``SETTLED`` relative. A steady solve that fails leaves the run judged as
    it is.
    """
    if case.run.mode != "transient" or len(result.t) < 2 or result.status != "completed":
        return {}
    from ..discretisation.model import build_model
    from ..results.observables import observe
    from ..simulation.runner import result_state
    from ..solvers.steady import solve_steady

    model = build_model(case, result.mesh())
    x = result_state(model, result)
    run = case.run
    steady = solve_steady(model, x0=x, rtol=run.rtol, atol=run.atol, max_steps=run.max_steps)
    if not steady.success:
        return {}
    final = observe(model, steady.x)
    limit = SETTLED if tol is None else float(tol)
    out = {}
    v_end, v_last = final["membrane_potential"], float(result.membrane_potential[-1])
    if abs(v_end - v_last) > limit:
        out["membrane"] = (
            f"not settled: the steady state it leads to has V_m = {v_end * 1e3:.4g} mV, "
            f"the last output {v_last * 1e3:.4g} mV"
        )
    for side, series in result.surface_charge.items():
        end, last = final[f"surface_charge_{side}"], float(series[-1])
        if abs(end - last) > SETTLED * max(abs(end), abs(last)):
            out["surface"] = (
                f"not settled: the steady state it leads to has a {side} wall charge of "
                f"{end:.4g} C/m^2, the last output {last:.4g}"
            )
    return out


def _not_settled(case, result, key, value, tol, reason) -> list[dict]:
    """The rows an expectation would give, marked not applicable for ``reason``."""
    if key == "membrane_potential":
        rows = [_vm_row(case, result, value, tol)]
    elif key == "surface_charge":
        rows = [_sigma_row(case, result, value, tol)]
    elif key == "concentration":
        rows = _donnan_rows(case, result)
    else:
        rows = [_gc_profile_row(case, result)]
    return [
        _row(r["quantity"], r["simulated"], r["expected"], r["unit"], None, r["relative"], reason)
        for r in rows
    ]


def _vm_row(case, result, value, tol) -> dict:
    sim = float(result.membrane_potential[-1])
    if isinstance(value, int | float):
        return _row("membrane potential (given)", sim, float(value), "V", tol)
    if value.startswith("nernst:"):
        name = value.split(":", 1)[1]
        if name not in _valences(case):
            raise CaseError(
                f"unknown species {name!r} in {value!r}",
                file=case.source,
                key="expect.membrane_potential",
            )
        label = value
    elif value in ("ghk", "donnan"):
        label = "GHK" if value == "ghk" else "Donnan"
    else:
        raise CaseError(
            f"unknown closed form {value!r}; use nernst:<species>, ghk, donnan or a number",
            file=case.source,
            key="expect.membrane_potential",
        )
    label = f"membrane potential ({label})"
    reason = _membrane_premises(case)
    if reason is not None:
        return _row(label, sim, None, "V", tol, reason=reason)
    expected = _guarded(lambda: _expected_vm(case, value))
    if expected is None:
        return _row(label, sim, None, "V", tol, reason="its closed form has no value here")
    if value.startswith("nernst:"):
        reason = _nernst_premises(case, value.split(":", 1)[1], expected, tol)
    elif value == "ghk":
        reason = _ghk_premises(case, expected, tol)
    else:
        reason = _donnan_premises(case)
    return _row(label, sim, expected, "V", tol, reason=reason)


def _expected_vm(case, value) -> float:
    inside, outside = end_regions(case)
    z = _valences(case)
    if value.startswith("nernst:"):
        name = value.split(":", 1)[1]
        return analytic.nernst(
            inside.concentration[name], outside.concentration[name], z[name], case.temperature
        )
    if value == "ghk":
        perm = {k: v for k, v in first_membrane(case).permeability.items() if v > 0}
        return analytic.ghk_voltage(
            inside.concentration, outside.concentration, perm, z, case.temperature
        )
    return _donnan(case)["potential"]


def _donnan(case):
    inside, outside = end_regions(case)
    mem = first_membrane(case)
    z = _valences(case)
    permeant = _permeant(mem)
    fixed = inside.fixed_charge + sum(
        z[s] * c for s, c in inside.concentration.items() if s not in permeant
    )
    return analytic.donnan(
        dict(outside.concentration), z, fixed, case.temperature, permeant=permeant
    )


def _donnan_rows(case, result) -> list[dict]:
    reason = _membrane_premises(case) or _donnan_premises(case)
    if reason is not None:
        return [_row("inside concentrations (donnan)", None, None, "mol/m^3", None, True, reason)]
    d = _donnan(case)
    inside_idx = 0 if case.inside == "left" else -1
    rows = []
    for name in _permeant(first_membrane(case)):
        i = result.species.index(name)
        sim = float(result.concentration[-1, i, inside_idx])
        c_exp = d["inside"][name]
        rows.append(_row(f"{name} inside (donnan)", sim, c_exp, "mol/m^3", None, relative=True))
    return rows


def _sigma_row(case, result, value, tol) -> dict:
    if value != "grahame":
        raise CaseError(
            'use surface_charge = "grahame"', file=case.source, key="expect.surface_charge"
        )
    found = _charged_wall(case)
    side = found[0] if found is not None else "left"
    label = f"surface charge {side} ({value})"
    sim = float(result.surface_charge[side][-1])
    reason = _wall_premises(case)
    if reason is not None:
        return _row(label, sim, None, "C/m^2", tol, relative=True, reason=reason)
    _, wall, region, other = found
    expected = analytic.grahame(
        wall.potential - other.potential,
        region.concentration,
        _valences(case),
        region.eps_r,
        case.temperature,
    )
    return _row(label, sim, float(expected), "C/m^2", tol, relative=True)


def _symmetric_salt(case, region) -> int | None:
    zs = {abs(s.z) for s in case.species if region.concentration.get(s.name, 0) > 0}
    return zs.pop() if len(zs) == 1 else None


def gouy_chapman_reference(case, x):
    """Gouy–Chapman potential [V] at distances ``x`` from the charged wall, and psi0.

    The diffuse layer is relative to the bulk: the potential of the other end
    when it is a reservoir held at one (else 0 V), as the mesher's
    ``wall_screening_length`` takes it. psi0 is the wall's potential less the
    bulk's; the profile returned is the bulk's potential plus the layer's.
    """
    found = _charged_wall(case)
    if found is None:
        raise CaseError(
            "the Gouy–Chapman profile needs a wall at a fixed potential",
            file=case.source,
            key="expect.potential_profile",
        )
    side, wall, region, other = found
    zsalt = _symmetric_salt(case, region)
    if zsalt is None:
        raise CaseError(
            "the Gouy–Chapman profile needs a symmetric z:z electrolyte",
            file=case.source,
            key="expect.potential_profile",
        )
    c0 = max(region.concentration.values())
    bulk = other.potential if other.type == "reservoir" and other.potential is not None else 0.0
    psi0 = wall.potential - bulk
    dist = x if side == "left" else (region.length - x)
    layer = analytic.gouy_chapman(dist, psi0, c0, zsalt, region.eps_r, case.temperature)
    return bulk + layer, psi0


def _gc_profile_row(case, result) -> dict:
    label = "potential vs Gouy–Chapman (max |error| / phi0)"
    reason = _wall_premises(case)
    if reason is None and _symmetric_salt(case, _charged_wall(case)[2]) is None:
        reason = "not a symmetric z:z electrolyte"
    if reason is not None:
        return _row(label, None, None, "", None, reason=reason)
    side = _charged_wall(case)[0]
    # the closed form holds in the wall's own region, at distances from the wall's face
    index = 0 if side == "left" else len(case.regions) - 1
    cells = result.region == index
    start = sum(r.length for r in case.regions[:index])
    ref, phi0 = gouy_chapman_reference(case, result.x[cells] - start)
    err = float(np.max(np.abs(result.potential[-1][cells] - ref)))
    return _row(label, err / abs(phi0), 0.0, "", None)


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------


def verdict(row: dict, failed: bool = False) -> str:
    """The last column of the summary: "ok", "OUT OF TOLERANCE", "not reached (run
    failed)", "not applicable (why)", or "" (no tolerance to judge by)."""
    if not row["applicable"]:
        return f"not applicable ({row['reason']})"
    if row["ok"] is None:
        return ""
    if failed:
        return "not reached (run failed)"
    return "ok" if row["ok"] else "OUT OF TOLERANCE"


def out_of_tolerance(case, result) -> list[str]:
    """Quantities of a completed run whose applicable expectation it misses."""
    if not case.expect or result.status != "completed":
        return []
    return [r["quantity"] for r in expectations(case, result) if r["ok"] is False]
