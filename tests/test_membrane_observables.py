"""The membrane observables for physiologists: ``current_<species>`` and ``membrane_voltage``.

``current_<species>`` = z_i F ``flux_<species>`` [A/m^2, outward +] is each
species' share of the ionic current; ``membrane_voltage`` [V] is the drop
over the membrane's own dielectric, phi(inner face) - phi(outer face), so
V_m less the diffuse layers (and bulk) on both sides.

How the tolerances come about:

- Sum of the species currents: at steady state the displacement current is
  zero, so ``current`` is the ionic current itself. Each species' current is
  checked against an independent evaluation (the numpy oracle
  ``pnp.discretisation.reference``) through *every* face of the membrane,
  which at steady state carry the same flux; they differ by the round-off
  of the cells' balances summed face by face: a few eps times the terms'
  sizes (measured <= 1.3e-12 relative, i.e. <= 1.5 eps times the terms'
  sizes summed over the membrane's faces; asserted 8 eps times them).
- ``membrane_charge`` against eps0 eps_m ``membrane_voltage`` / d: the face
  potentials are the flux-continuous ones, so the discrete potential is
  linear over every half cell and eps0 eps_m ``membrane_voltage`` / d is the
  length-weighted mean of the displacement over the membrane's faces;
  ``membrane_charge`` is the displacement at the mid face. By Gauss's law per
  cell they differ by at most the charge the permeant ions hold inside the
  membrane, sum_k |rho_k| h_k, plus round-off. Measured: 9e-11 C/m^2 for a
  bound of 4.6e-10 (ghk_iv at -30 mV; 8.7e-7 relative), 3e-19 (round-off)
  in the impermeable membrane of membrane_charging.
- V_m - ``membrane_voltage`` at a steady clamp of membrane_charging is the
  drop over the two diffuse layers, 2 q / C_dl (linear Gouy-Chapman, whose
  nonlinear correction is ~1e-7 relative at 0.04 mV); its discretisation
  error is that of ``membrane_voltage``, which its error estimate bounds
  (measured difference 2.7e-7 V, estimate 8.0e-7 V).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers import load

import pnp
from pnp import analytic
from pnp.constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY
from pnp.discretisation import reference
from pnp.discretisation.model import build_model
from pnp.results import registry
from pnp.results.observables import outward_sign
from pnp.simulation.adaptive import error_tolerances, solve_adaptive

EPS = np.finfo(float).eps
ROUND_OFF = 8.0  # eps times the summed terms (measured up to 1.5)


def _steady(name, **overrides):
    case = load(name, **overrides)
    out = solve_adaptive(case, build_model(case))
    assert out.outcome.success, out.outcome.message
    return case, out


def _membrane(case):
    (mem,) = [r for r in case.regions if r.membrane]
    return mem


STEADY = [
    ("ghk", {}),  # open circuit (floating inside)
    ("ghk_iv", {"boundary.left.potential": -0.03}),  # voltage clamp
    ("ghk_iv", {"boundary.left.potential": 0.04}),
    ("pump_leak", {}),  # a pump: part of the Na and K currents
]


# -- (a), (b): the species currents ---------------------------------------------------


@pytest.mark.parametrize(("name", "overrides"), STEADY)
def test_species_currents_add_up_to_the_ionic_current(name, overrides):
    _, out = _steady(name, **overrides)
    obs = out.observables
    species = out.model.species
    currents = [obs[f"current_{s}"] for s in species]
    # (b) each is z F times its flux, exactly (one product)
    for i, s in enumerate(species):
        assert obs[f"current_{s}"] == FARADAY * out.model.z[i] * obs[f"flux_{s}"], s
    # (a) at steady state there is no displacement current: current is all ionic,
    # the sum of the species currents themselves (in species order), exactly
    assert sum(currents) == obs["current"]
    if name == "pump_leak":
        # the pump's share is in the Na and K currents (3 Na out, 2 K in per cycle)
        assert obs["pump_current"] > 0
        assert abs(sum(currents)) < 1e-9 * obs["pump_current"]  # at rest
    if name == "ghk_iv":
        assert abs(obs["current"]) > 1e-3  # a clamp current flows


@pytest.mark.parametrize(("name", "overrides"), STEADY[:3])
def test_species_currents_cross_every_membrane_face(name, overrides):
    """Against the numpy oracle's fluxes through every face of the membrane."""
    _, out = _steady(name, **overrides)
    model, x = out.model, out.outcome.x
    psi, c = model.layout.split(x)
    u = model.z[:, None] * psi[None, :] + model.g_cell
    flux, size = reference._species_fluxes(model, c, psi, model.boundary_psi(x), u)
    _, start, stop = model.membranes[0]
    faces = slice(start, stop + 1)
    area = model.mesh.face_area[faces]
    crossing = 0
    for i, s in enumerate(model.species):
        want = out.observables[f"current_{s}"]
        got = FARADAY * model.z[i] * outward_sign(model) * flux[i, faces] / area
        allowed = ROUND_OFF * EPS * FARADAY * abs(model.z[i]) * np.sum(size[i, faces] / area)
        assert np.max(np.abs(got - want)) <= allowed, s
        crossing += want != 0
    assert crossing == 3  # K, Na, Cl cross; X does not


def test_species_current_tolerance_is_its_fluxs_times_z_f():
    """A species' current never asks for a finer mesh than its flux."""
    case, out = _steady("calcium")
    allowed = error_tolerances(out.model, out.observables, 1e-5)
    for s in case.species:
        assert allowed[f"current_{s.name}"] == pytest.approx(
            abs(s.z) * FARADAY * allowed[f"flux_{s.name}"], rel=1e-15
        )
    assert allowed["membrane_voltage"] == allowed["membrane_potential"] == 1e-5  # volts


# -- (c): the voltage over the membrane ---------------------------------------------------


def _charge_inside_membrane(case, out) -> float:
    """sum_k |rho_k| h_k over the membrane's cells [C/m^2] (cartesian)."""
    model, x = out.model, out.outcome.x
    _, c = model.layout.split(x)
    _, start, stop = model.membranes[0]
    rho = FARADAY * (model.z @ c[:, start:stop])
    return float(np.sum(np.abs(rho) * model.mesh.widths[start:stop]))


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("ghk_iv", {"boundary.left.potential": -0.03}),
        ("ghk_iv", {"boundary.left.potential": 0.04}),
        ("membrane_charging", {"run.mode": "steady", "boundary.left.potential": 0.01}),
        ("ghk", {}),
    ],
)
def test_membrane_charge_is_its_capacitance_times_the_membrane_voltage(name, overrides):
    case, out = _steady(name, **overrides)
    obs = out.observables
    mem = _membrane(case)
    q = VACUUM_PERMITTIVITY * mem.eps_r * obs["membrane_voltage"] / mem.length
    bound = _charge_inside_membrane(case, out) + 64 * EPS * abs(q)
    assert abs(q - obs["membrane_charge"]) <= bound
    # and the membrane's own drop is smaller than V_m, of the same sign: the
    # diffuse layers on both sides take the rest
    vm, mv = obs["membrane_potential"], obs["membrane_voltage"]
    assert 0.98 * abs(vm) < abs(mv) < abs(vm) and mv * vm > 0


def test_the_rest_of_v_m_is_the_two_diffuse_layers():
    """membrane_charging clamped at 10 mV: V_m - membrane_voltage = 2 q / C_dl."""
    case, out = _steady(
        "membrane_charging", **{"run.mode": "steady", "boundary.left.potential": 0.01}
    )
    obs = out.observables
    bath = {"K": 150.0, "Cl": 150.0}
    c_dl = analytic.diffuse_layer_capacitance(bath, {"K": 1, "Cl": -1}, 80.0, case.temperature)
    drops = obs["membrane_potential"] - obs["membrane_voltage"]
    expected = 2.0 * obs["membrane_charge"] / c_dl
    # independently of the simulated charge: the clamp's 10 mV divides over the
    # membrane (eps0 eps_m / d) in series with the two diffuse layers, which take
    # V 2/C_dl / (1/C_m + 2/C_dl) (8.02e-5 V, 0.8 % of the clamp); measured
    # 2.7e-7 V off, the discretisation error (its estimate: 8.0e-7 V)
    c_m = VACUUM_PERMITTIVITY * 2.0 / 5e-9
    series = 0.01 * (2.0 / c_dl) / (1.0 / c_m + 2.0 / c_dl)
    assert drops == pytest.approx(series, rel=0, abs=2.7e-6)
    assert abs(drops - expected) <= out.error_estimate["membrane_voltage"]


def test_without_a_membrane_the_membrane_voltage_is_zero():
    _, out = _steady("debye_layer")
    assert out.observables["membrane_voltage"] == 0.0
    assert out.error_estimate["membrane_voltage"] == 0.0


# -- (d): a clamp step charges the membrane ------------------------------------------------


def test_a_clamp_step_jumps_v_m_and_charges_the_membrane_voltage():
    """membrane_charging from its steady state at 0 V, clamped to +10 mV at 1 ns:
    V_m is the clamp at once; the membrane's own voltage rises with the RC time
    of the baths and the series capacitance (16.3 ns, the case's comment)."""
    case = load("membrane_charging", **{"run.initial": "steady"})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    t, vm = res.t, res.membrane_potential
    mv = res.extra_observables["membrane_voltage"]
    before, after = t <= 1e-9, t > 1e-9
    assert np.all(vm[before] == 0.0) and np.all(np.abs(mv[before]) < 1e-12)
    assert vm[after] == pytest.approx(0.01, rel=1e-15)
    clamped = case.at_time(2e-9)  # its steady state on the run's mesh
    final = solve_adaptive(clamped, build_model(clamped, res.mesh()), adapt_mesh=False)
    final = final.observables["membrane_voltage"]
    rising = mv[after]
    assert np.all(np.diff(rising) > 0)
    assert rising[0] < 0.2 * final  # 2 ns after the step: 13 % charged
    # the time constant: R (two 5 um baths) times C (membrane and diffuse layers)
    bath = {"K": 150.0, "Cl": 150.0}
    z, diff = {"K": 1, "Cl": -1}, {"K": 1.96e-9, "Cl": 2.03e-9}
    kappa = (
        FARADAY**2
        / (GAS_CONSTANT * case.temperature)
        * sum(z[s] ** 2 * diff[s] * bath[s] for s in bath)
    )
    cap = analytic.membrane_series_capacitance(
        2.0, 5e-9, bath, bath, z, 80.0, 80.0, case.temperature
    )
    tau = 10e-6 / kappa * cap
    assert tau == pytest.approx(16.3e-9, rel=0.01)
    late = (t - 1e-9 > 10e-9) & (t - 1e-9 < 80e-9)
    slope = np.polyfit(t[late], np.log(final - mv[late]), 1)[0]
    assert -1.0 / slope == pytest.approx(tau, rel=0.03)  # measured 1.7 % long
    # settled by the end: 120 ns is 7.4 tau (exp(-7.4) = 6e-4)
    assert rising[-1] == pytest.approx(final, rel=1e-3)
    # all the while the membrane holds eps0 eps_m V / d on its faces (no ion inside)
    q = VACUUM_PERMITTIVITY * 2.0 * mv / 5e-9
    charge = res.extra_observables["membrane_charge"]
    np.testing.assert_allclose(charge, q, rtol=0, atol=64 * EPS * np.max(np.abs(q)))
    # and the species' currents carry none of the clamp current through the
    # impermeable membrane: it is all displacement
    for s in res.species:
        assert np.all(res.extra_observables[f"current_{s}"] == 0.0)
    assert np.max(res.current[after]) > 1.0  # A/m^2, the charging current


# -- (e): files and sweeps --------------------------------------------------------------------


def test_result_files_and_sweep_summaries_hold_them_with_units(tmp_path):
    from pnp.simulation.sweep import sweep

    case = load("ghk_iv")
    names = ["membrane_voltage", *(f"current_{s}" for s in case.species_names)]
    res = sweep(case, {"boundary.left.potential": "-0.05:0.05:2"}, out=tmp_path, max_workers=1)
    assert res.completed == 2
    for i, path in enumerate(res.paths):
        with h5py.File(path, "r") as f:
            for name in names:
                unit = "V" if name == "membrane_voltage" else "A/m^2"
                assert f["observables"][name].attrs["units"] == unit
                assert f["error_estimate"][name].attrs["units"] == unit
        result = pnp.load_result(path)
        for name in names:
            assert res.table[name][i] == result.observables()[name][-1]
            assert res.table[registry.error_column(name)][i] == result.error_estimate[name][-1]
        assert 0 < abs(result.extra_observables["membrane_voltage"][-1]) < 0.05
    with h5py.File(tmp_path / "summary.h5", "r") as f:
        assert f["membrane_voltage"].attrs["units"] == "V"
        assert f["current_K_error"].attrs["units"] == "A/m^2"
    # the I-V curve per species: points -50 and +50 mV, both above E_K (about -89 mV):
    # K+ outward at both, more so at +50 mV
    assert 0 < res.table["current_K"][0] < res.table["current_K"][1]
    assert res.table["current_Na"][0] < 0


def test_run_summary_shows_them(capsys):
    from pnp.presentation.report import summary

    case = load("ghk")
    text = summary(case, pnp.run(case))
    assert "membrane voltage (over the membrane)" in text
    for s in ("K", "Na", "Cl", "X"):
        assert f"current {s} (outward +)" in text
