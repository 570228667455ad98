"""``inside = "right"``: every sign convention against the mirror image of the case.

A case and its mirror (regions in reverse order, the two boundaries swapped,
``inside`` flipped, protocol keys ``boundary.left.*`` <-> ``boundary.right.*``)
describe the same cell. README's conventions are stated relative to the
inside, not to +x: V_m = phi(inside end) - phi(outside end), fluxes and
currents positive outward, ``boundary.<side>.current`` entering the domain,
``surface_charge`` the charge on each surface (so left and right swap),
``membrane_charge`` on the membrane's inside face. So every observable must
agree between the two, and every profile must be the other's reversed.

The mirrored mesh is the exact mirror of the original (grading is symmetric
in the code), so steady results agree to round-off; transients take the same
steps up to round-off in the error estimates.

Radial cases are mirrored after conversion to cartesian (in a radial
geometry the left end is the centre r = 0, which has no mirror).
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

import pnp
from pnp.constants import FARADAY
from pnp.discretisation.mesh import assemble_mesh
from pnp.presentation.report import charge_separation, expectations

CASES = Path(__file__).resolve().parent.parent / "cases"
SHIPPED = sorted(p.stem for p in CASES.glob("*.toml"))


def _swap_side(key: str) -> str:
    """``boundary.left.X`` <-> ``boundary.right.X``; any other dotted key unchanged."""
    parts = key.split(".")
    if len(parts) >= 2 and parts[0] == "boundary" and parts[1] in ("left", "right"):
        parts[1] = "right" if parts[1] == "left" else "left"
    return ".".join(parts)


def mirror(data: dict) -> dict:
    """The mirror image of a case dict (the parsed TOML layout)."""
    out = copy.deepcopy(data)
    out["region"] = out["region"][::-1]
    out["boundary"] = {"left": out["boundary"]["right"], "right": out["boundary"]["left"]}
    out["inside"] = "right" if data.get("inside", "left") == "left" else "left"
    for protocol in out.get("protocol", []):
        protocol["set"] = {_swap_side(k): v for k, v in protocol["set"].items()}
    return out


def shipped(name: str) -> dict:
    """A shipped case as a dict: cartesian, no output file, no figure."""
    data = tomllib.loads((CASES / f"{name}.toml").read_text())
    data["geometry"] = "cartesian"
    data.pop("output", None)
    return data


def mirrored_mesh(twin, mesh):
    """``mesh`` read from the other end, as a mesh of the mirrored case."""
    widths = [mesh.widths[a:b][::-1] for a, b in mesh.region_slices][::-1]
    return assemble_mesh(twin, widths)


def run_pair(data: dict):
    """A case and its mirror image, the mirror on the mirror image of the case's mesh.

    A mesh adapted to the solution depends on it to the solver's tolerance,
    so adapting each independently would compare two meshes ~1e-12 apart;
    here the discretisation's symmetry is tested (the adaptivity's in
    test_adaptive_mirror_agrees_within_the_estimate).
    """
    case = pnp.Case.from_dict(data)
    twin = pnp.Case.from_dict(mirror(data))
    res = pnp.run(case)
    res_m = pnp.run(twin, mesh=mirrored_mesh(twin, res.mesh()))
    assert res.status == "completed", res.message
    assert res_m.status == "completed", res_m.message
    return case, twin, res, res_m


def test_adaptive_mirror_agrees_within_the_estimate():
    """Adapted independently, a case and its mirror agree within the error estimates."""
    data = shipped("ghk")
    res = pnp.run(pnp.Case.from_dict(data))
    res_m = pnp.run(pnp.Case.from_dict(mirror(data)))
    for name in ("membrane_potential", "flux_K", "membrane_charge"):
        a, b = res.observables()[name][-1], res_m.observables()[name][-1]
        allowed = res.error_estimate[name][-1] + res_m.error_estimate[name][-1]
        assert abs(a - b) <= allowed, name


# Tolerances from the measured differences between a case and its mirror (all 14 shipped
# cases): steady states agree to round-off (V_m <= 1.3e-12 V, relative <= 1e-11 for
# concentrations, fluxes, charges); transients to the step controller's noise (V_m
# <= 9.5e-9 V, relative <= 8e-9). Tolerances are ~10x those.
# Fluxes [mol/m^2/s] near zero: at equilibrium a net flux is the round-off of two
# one-way fluxes P c through the membrane, and of the state they are computed from:
# donnan.toml's K+ (P c = 7.5e-7) differs from its mirror's by 1.4e-19, 830 eps of P c,
# on this machine (1.2e-20 on another CPU: the round-off depends on it); the floor is
# 1e-12 P c (4500 eps, 5.5x that), never below 1e-19. In a transient by the step
# controller's noise in the concentrations across a membrane, <= 8e-16 (the nearly
# idle inner membrane of test_two_membranes...).
STEADY = {"rtol": 1e-10, "v_tol": 1e-11, "flux_floor": 1e-19}
ONE_WAY_ROUNDOFF = 1e-12  # of the largest one-way flux P c, at equilibrium
TRANSIENT = {"rtol": 1e-7, "v_tol": 1e-7, "flux_floor": 1e-14}
# A/m^2: zero currents (open circuit) differ by <= 7.4e-14, the round-off of the total
# current at t = 0, when the ionic currents into the empty membrane are largest
# (tests/test_total_current.py). Currents that are not zero: relative <= 3.2e-11.
CURRENT_FLOOR = 1e-12
# The total current is a sum of the species' currents and the displacement current: its
# round-off grows with them. In soma_spike.toml (no clamp, so zero total current) the
# species' currents reach 8.5 A/m^2 in the spike and the two totals differ by 2.4e-12
# A/m^2, 2.8e-13 of that; the floor is ~10x, relative to the largest species current.
CURRENT_FLOOR_SPECIES = 3e-12
CHARGE_FLOOR = 1e-11  # C/m^2: zero charges differ by <= 8.2e-13 (transients)


def _close(a, b, rtol, what, floor=0.0):
    """|a - b| <= rtol * max|a| + floor, elementwise (floor may be an array)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = float(np.max(np.abs(a)))
    excess = np.abs(a - b) - (rtol * scale + floor)
    worst = int(np.argmax(excess))
    assert excess.flat[worst] <= 0, (
        f"{what}: |{a.flat[worst]:.6g} - {b.flat[worst]:.6g}| > {rtol:g} * {scale:.3g} + floor"
    )


def _from_inside(res):
    """Cell centres as distances from the inside end of the domain."""
    return res.x - res.faces[0] if res.inside == "left" else res.faces[-1] - res.x


def assert_mirrored(res, res_m, rtol, v_tol, flux_floor):
    """Every observable equal; every profile reversed; the two surfaces swapped."""
    # log-spaced outputs start at 10x the first step, which comes from the smallest cell:
    # its width differs by round-off between the two meshes (times: measured 9.7e-11 relative)
    np.testing.assert_allclose(res_m.t, res.t, rtol=1e-9, atol=0)
    _close(res.membrane_potential, res_m.membrane_potential, 0.0, "V_m", floor=v_tol)
    ionic = max(np.abs(res.extra_observables[f"current_{n}"]).max() for n in res.species)
    floor = max(CURRENT_FLOOR, CURRENT_FLOOR_SPECIES * ionic)
    _close(res.current, res_m.current, rtol, "current", floor=floor)
    _close(res.pump_current, res_m.pump_current, rtol, "pump current")
    for name in res.species:
        _close(res.flux[name], res_m.flux[name], rtol, f"flux {name}", floor=flux_floor)
    _close(
        res.extra_observables["membrane_charge"],
        res_m.extra_observables["membrane_charge"],
        rtol,
        "membrane charge",
        floor=CHARGE_FLOOR,
    )
    # the drop over the membrane nearest the inside, from its inner to its outer face
    _close(
        res.extra_observables["membrane_voltage"],
        res_m.extra_observables["membrane_voltage"],
        0.0,
        "membrane voltage",
        floor=v_tol,
    )
    for name in res.species:
        _close(
            res.extra_observables[f"current_{name}"],
            res_m.extra_observables[f"current_{name}"],
            rtol,
            f"current {name}",
            floor=CURRENT_FLOOR,
        )
    for side, other in (("left", "right"), ("right", "left")):
        _close(
            res.surface_charge[side],
            res_m.surface_charge[other],
            rtol,
            f"surface charge {side}",
            floor=CHARGE_FLOOR,
        )
    # profiles: the mirror's read from the other end, at the same distances from
    # each one's inside end (a swelling cell moves its outside end, not that one)
    length = res.faces[-1] - res.faces[0]
    np.testing.assert_allclose(
        _from_inside(res_m)[::-1], _from_inside(res), rtol=0, atol=1e-12 * length
    )
    _close(res.potential, res_m.potential[:, ::-1], 0.0, "potential", floor=v_tol)
    for i, name in enumerate(res.species):
        _close(res.concentration[:, i], res_m.concentration[:, i, ::-1], rtol, f"c {name}")


# Known defect (open): a transient started from its steady state ([run] initial =
# "steady") reports total currents of ~1e-6 A/m^2 at its first outputs (2e-13 s),
# of either sign: the round-off of the displacement (1e-16 of ~6e-3 C/m^2) over
# the first ~1e-13 s steps, with nothing physical there to measure (the state is
# steady). Not specific to the volume: cases/ischemia.toml with initial = "steady"
# gives -8.4e-7 A/m^2 (5e-6 at rtol 1e-9). The only shipped case that starts so
# is ischemia_swelling; every other observable and later output agrees.
_KNOWN = {
    "ischemia_swelling": pytest.mark.xfail(
        strict=True, reason="round-off currents at the first outputs after a steady start"
    )
}


def _one_way_flux(case) -> float:
    """The largest permeability of any membrane times the largest concentration
    of any region [mol/m^2/s] (0 without a membrane)."""
    perms = [p for r in case.regions if r.membrane for p in r.permeability.values()]
    concs = [c for r in case.regions for c in r.concentration.values()]
    return max(perms, default=0.0) * max(concs, default=0.0)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_KNOWN[n]) if n in _KNOWN else n for n in SHIPPED]
)
def test_shipped_case_and_its_mirror(name):
    """Each shipped case (radial ones as cartesian) against its mirror image."""
    case, twin, res, res_m = run_pair(shipped(name))
    assert twin.inside != case.inside
    tol = dict(TRANSIENT if case.run.mode == "transient" else STEADY)
    tol["flux_floor"] = max(tol["flux_floor"], ONE_WAY_ROUNDOFF * _one_way_flux(case))
    assert_mirrored(res, res_m, **tol)
    # the report reads the inside end too: [expect] rows and the charge inside agree
    if case.expect:
        rows, rows_m = expectations(case, res), expectations(twin, res_m)
        # a row naming a side names the mirror's other side
        swap = {"left": "right", "right": "left"}
        assert [" ".join(swap.get(w, w) for w in r["quantity"].split()) for r in rows] == [
            r["quantity"] for r in rows_m
        ]
        for row, row_m in zip(rows, rows_m, strict=True):
            assert row_m["expected"] == pytest.approx(row["expected"], rel=1e-12, abs=1e-300)
            assert row_m["simulated"] == pytest.approx(row["simulated"], rel=1e-6, abs=1e-12)
    sep, sep_m = charge_separation(case, res), charge_separation(twin, res_m)
    if sep is not None:
        # the excess is a difference of ~1e11 ions: it carries their summation round-off,
        # measured <= 1.9e-16 of the ion count
        assert sep_m["excess_charge"] == pytest.approx(
            sep["excess_charge"], rel=0, abs=2e-15 * sep["ions"]
        )
        # the ion count of a transient carries the Newton tolerance of every step, not
        # only round-off: ischemia's mirror differs by 9.2e-12 after ~1000 steps
        ions_rtol = 1e-10 if case.run.mode == "transient" else 1e-12
        assert sep_m["ions"] == pytest.approx(sep["ions"], rel=ions_rtol)


# --- sign conventions, each with its mirror -------------------------------------


def test_current_clamp_injected_inside_flows_outward():
    """A current injected at the inside boundary crosses the membrane outward (README).

    ghk with +0.1 A/m^2 entering the domain at the inside reservoir: at steady
    state the membrane current is +0.1 (outward positive) and V_m depolarises;
    the mirror injects at its right (inside) boundary and gives the same.
    """
    data = shipped("ghk")
    rest = pnp.run(pnp.Case.from_dict(data))
    data["boundary"]["left"]["current"] = 0.1
    _, twin, res, res_m = run_pair(data)
    assert twin.right.current == 0.1 and twin.left.potential == 0.0
    assert_mirrored(res, res_m, **STEADY)
    for r in (res, res_m):
        # measured relative difference 1e-14
        assert r.current[-1] == pytest.approx(0.1, rel=1e-10)
        assert r.membrane_potential[-1] > rest.membrane_potential[-1] + 1e-3


def test_current_clamp_transient_and_its_mirror():
    """Current step into the inside of the GHK cell: V_m(t), currents and fluxes mirrored.

    From the initial state (V_m = 0, K+ leaking out: an outward ionic current
    of 0.18 A/m^2 that charges the membrane), +0.1 A/m^2 is injected at the
    inside from 1 us on. The total current (ionic + capacitive) is then 0.1
    A/m^2 at every output, and V_m relaxes (time constant ~1 ms) to the steady
    current-clamp potential.
    """
    data = shipped("ghk")
    data.pop("expect")
    clamped = copy.deepcopy(data)
    clamped["boundary"]["left"]["current"] = 0.1
    v_steady = float(pnp.run(pnp.Case.from_dict(clamped)).membrane_potential[-1])
    data["run"] = {"mode": "transient", "t_end": 5e-3, "outputs": 30}
    data["protocol"] = [{"at": 1e-6, "set": {"boundary.left.current": 0.1}}]
    case, twin, res, res_m = run_pair(data)
    assert twin.protocols[0].set == {"boundary.right.current": 0.1}
    assert_mirrored(res, res_m, **TRANSIENT)
    after = res.t > 1e-6
    for r in (res, res_m):
        # measured: 0.1 to 1e-9 relative at every output after the step
        np.testing.assert_allclose(r.current[after], 0.1, rtol=1e-6)
        ionic = sum(FARADAY * s.z * r.flux[s.name] for s in case.species)
        assert ionic[np.searchsorted(r.t, 1e-6)] > 0.15  # K+ leaking out at V_m ~ 0
        # after 5 time constants: measured 0.2720 mV above the steady -23.84 mV, ionic
        # current 0.8 % above 0.1 A/m^2 (the remaining e^-5 of the relaxation)
        assert v_steady < r.membrane_potential[-1] < v_steady + 1e-3
        assert ionic[-1] == pytest.approx(0.1, rel=0.02)


def test_saturating_pump_and_its_mirror():
    """A saturating pump reads Na+ inside and K+ outside: the mirror must read the same cells."""
    data = shipped("pump_leak")
    data["pump"] = {"membrane": "membrane", "j_max": 2e-7, "K_Na": 10.0, "K_K": 1.5}
    _, _, res, res_m = run_pair(data)
    assert_mirrored(res, res_m, **STEADY)
    # the pump runs outward (+): Na+ leaks in (-) and K+ out (+) to balance it
    for r in (res, res_m):
        assert r.pump_current[-1] > 0.0
        leak_na = r.flux["Na"][-1] - 3 * r.pump_current[-1] / FARADAY
        leak_k = r.flux["K"][-1] + 2 * r.pump_current[-1] / FARADAY
        assert leak_na < 0.0 < leak_k


def test_two_membranes_measured_at_the_one_nearest_the_inside():
    """Cytoplasm | membrane | 200 nm gap | membrane2 | bath, while both membranes charge.

    The fluxes and currents are measured at the membrane nearest the inside,
    and the report's charge "inside" is the inside compartment's, whichever
    end the inside is: the mirror agrees (at the leftmost membrane, the
    mirror's flux was the other membrane's, 1e6 times larger here).
    """
    data = shipped("ghk")
    data.pop("expect")
    cytoplasm, membrane, bath = data["region"]
    gap = {
        "name": "gap",
        "length": 2e-7,
        "eps_r": 80.0,
        "concentration": dict(cytoplasm["concentration"]),
    }
    data["region"] = [cytoplasm, membrane, gap, dict(membrane, name="membrane2"), bath]
    data["run"] = {"mode": "transient", "t_end": 1e-3, "outputs": 10}
    case, twin, res, res_m = run_pair(data)
    assert_mirrored(res, res_m, **TRANSIENT)
    sep, sep_m = charge_separation(case, res), charge_separation(twin, res_m)
    assert sep_m["excess_charge"] == pytest.approx(
        sep["excess_charge"], rel=0, abs=2e-15 * sep["ions"]
    )
    assert sep_m["ions"] == pytest.approx(sep["ions"], rel=1e-12)
