"""Neuron membrane physics: pump-leak, selectivity barriers, Ca2+, spherical cells."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import load
from scipy import constants

import pnp
from pnp import analytic
from pnp.presentation.report import charge_separation, summary

FARADAY = constants.e * constants.N_A
EPS = np.finfo(float).eps


def membrane_ghk_flux(case, res, name):
    """GHK flux [mol/m^2/s] of `name` across the first membrane's own drop.

    The membrane holds no charge, so phi is linear in it: its face potentials
    are extrapolated from its first and last cell centres. The surface
    concentrations follow from the partition equilibrium at each face
    (electrochemical potential continuous): the adjacent bulk cell's value
    moved to the face by Boltzmann.
    """
    index = [r.membrane for r in case.regions].index(True)
    a, b = res.mesh().region_slices[index]
    x, phi, faces = res.x, res.potential[-1], res.faces
    slope = (phi[b - 1] - phi[a]) / (x[b - 1] - x[a])
    phi_in = phi[a] + slope * (faces[a] - x[a])
    phi_out = phi[b - 1] + slope * (faces[b] - x[b - 1])
    vt = constants.R * case.temperature / FARADAY
    z = {s.name: s.z for s in case.species}[name]
    c_in = res.c(name)[-1, a - 1] * np.exp(-z * (phi_in - phi[a - 1]) / vt)
    c_out = res.c(name)[-1, b] * np.exp(-z * (phi_out - phi[b]) / vt)
    return analytic.ghk_flux(
        phi_in - phi_out, c_in, c_out, z, case.regions[index].permeability[name], case.temperature
    )


def whole_cell_currents(text):
    """{row label: value [pA]} of the whole-cell rows of a `pnp run` summary."""
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^(.*?\(whole cell\))\s+(\S+) pA\s*$", text, re.M)
    }


@pytest.fixture(scope="module")
def pump_leak():
    case = load("pump_leak")
    return case, pnp.run(case)


def test_pump_leak_steady_state(pump_leak):
    case, res = pump_leak
    assert res.status == "completed", res.message
    v = res.membrane_potential[-1]
    # (V_m itself: the pinned value in test_cases_pinned.py, and an independent
    # reference solve of the pump-leak balance in its own test file.)
    # zero total current; the pump's outward current balances the leaks
    pump = res.pump_current[-1]
    assert pump == pytest.approx(FARADAY * 1e-7, rel=4 * EPS, abs=0)  # a constant rate: measured 0
    assert abs(res.current[-1]) < 5e-13 * pump  # measured 5.2e-14 of the pump current
    # every species' total flux (leak + pump) vanishes: Na leak = -3 j_p, K leak = +2 j_p
    for name in ("K", "Na", "Cl"):
        assert abs(res.flux[name][-1]) < 4e-13 * 1e-7  # measured 4.2e-14 j_p (K)
    # Cl- sits at its Nernst potential: an equilibrium, exact in SG (measured 1.4e-17 V)
    e_cl = analytic.nernst(res.c("Cl")[-1, 0], 150.0, -1, case.temperature)
    assert v == pytest.approx(e_cl, abs=16 * EPS * abs(e_cl))


def test_pump_leak_whole_cell_na_leak_current(pump_leak):
    """The whole-cell Na+ leak the summary prints, against two independent values.

    The current densities are measured at the membrane's mid face, radius
    r = 10 um + 2.5 nm, so the whole cell carries them through 4 pi r^2.
    1. Steady state: the Na+ leak cancels the pump's 3 Na+ per cycle,
       -3 F j_p 4 pi r^2 with j_p from the case file (= -36.392 pA).
    2. The simulated membrane itself: the GHK Na+ flux of the membrane's own
       drop and surface concentrations, times F 4 pi r^2 (planar GHK on a
       curved 5 nm membrane: O(d/r) = 5e-4 off; measured 6.4e-5).
    The summary prints 6 significant digits: up to 5e-6 relative rounding.
    """
    case, res = pump_leak
    rows = whole_cell_currents(summary(case, res))
    na_leak = rows["Na leak current (whole cell)"]
    area = 4 * math.pi * (10e-6 + 2.5e-9) ** 2
    assert na_leak == pytest.approx(-3 * FARADAY * 1e-7 * area * 1e12, rel=5e-6)  # measured 7e-8
    ghk = FARADAY * membrane_ghk_flux(case, res, "Na") * area * 1e12
    assert na_leak == pytest.approx(ghk, rel=6e-4)  # measured 6.4e-5
    # the pump's whole-cell current is F j_p 4 pi r^2 too (measured 2.7e-6: print rounding)
    pump = FARADAY * 1e-7 * area * 1e12
    assert rows["pump current (whole cell)"] == pytest.approx(pump, rel=5e-6)


def test_pump_leak_leak_currents_are_ghk(pump_leak):
    """The leak fluxes at the steady state are GHK fluxes of the membrane's drop.

    Na leak = -3 j_p and K leak = +2 j_p, from the membrane's own drop and
    surface concentrations (the bulk values and V_m are off by the diffuse
    layers: 4.1e-3 relative). Planar GHK on the curved 5 nm membrane of a
    10 um soma is off by O(d/r) = 5e-4; measured 6.4e-5 for both.
    """
    case, res = pump_leak
    assert membrane_ghk_flux(case, res, "Na") == pytest.approx(-3e-7, rel=6e-4)
    assert membrane_ghk_flux(case, res, "K") == pytest.approx(2e-7, rel=6e-4)
    # Cl- is at equilibrium: its GHK flux is round-off of the one-way flux
    # P_Cl c ~ 1e-8 mol/m^2/s (measured 2.8e-23)
    assert abs(membrane_ghk_flux(case, res, "Cl")) < 1e-21


def test_pump_leak_state_is_stationary_in_time(pump_leak, tmp_path):
    """Run the transient from the steady state for 100 s: nothing moves."""
    case, res = pump_leak
    steady_file = tmp_path / "steady.h5"
    res.save(steady_file)
    transient = case.with_overrides({"run.mode": "transient", "run.t_end": 100.0, "run.outputs": 5})
    from pnp.simulation.runner import restart_state, run

    start = restart_state(transient, steady_file)
    later = run(transient, x0=start.x, mesh=start.mesh)
    assert later.status == "completed", later.message
    # the steady state is a fixed point of BDF2 to round-off: measured 1.3e-14 relative
    # (cells holding no X are exactly 0 in both), 2.8e-16 V
    np.testing.assert_allclose(later.concentration[-1], res.concentration[-1], rtol=2e-13, atol=0)
    assert later.membrane_potential[-1] == pytest.approx(res.membrane_potential[-1], abs=3e-15)


def test_without_pump_the_cell_goes_to_donnan():
    case = load("pump_leak", **{"pump.rate": 0})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    d = analytic.donnan(
        {"K": 5.0, "Na": 145.0, "Cl": 150.0}, {"K": 1, "Na": 1, "Cl": -1}, -142.0, case.temperature
    )
    # the closed cell's bulk is shifted by the membrane capacitor's charge
    # (see test_engine): measured 3.2e-9 V and 1.2e-7 relative
    assert res.membrane_potential[-1] == pytest.approx(d["potential"], abs=3e-8)
    for name in ("K", "Na", "Cl"):
        assert res.c(name)[-1, 0] == pytest.approx(d["inside"][name], rel=1.5e-6)


def test_ischemia_depolarises_after_pump_stops(pump_leak):
    case = load("ischemia")
    res = pnp.run(case)
    assert res.status == "completed", res.message
    assert 60.0 in res.t
    before = res.membrane_potential[res.t == 60.0][0]
    # until the pump stops the cell sits at the pump-leak steady state (measured 4.1e-7 V)
    assert before == pytest.approx(pump_leak[1].membrane_potential[-1], abs=4e-6)
    assert np.all(res.pump_current[res.t > 60.0] == 0.0)
    after = res.membrane_potential[res.t > 60.0]
    assert np.all(np.diff(after) > -1e-9)  # monotone depolarisation
    assert after[-1] > before + 0.03  # tens of mV in an hour
    k_in = res.c("K")[:, 0]
    assert k_in[-1] < 0.5 * k_in[0]  # the K+ gradient runs down


def test_selectivity_from_barriers():
    case = load("selectivity")
    res = pnp.run(case)
    rt = constants.R * case.temperature
    ratio = math.exp(12e3 / rt)
    assert ratio == pytest.approx(105, abs=0.5)  # the README's P_K/P_Na = 105
    mem = case.regions[1]
    # P = D/d exp(-dG/RT) evaluated twice: measured 2.0e-15
    assert mem.permeability["K"] / mem.permeability["Na"] == pytest.approx(ratio, rel=2e-14)
    expected = analytic.ghk_voltage(
        {"K": 140, "Na": 10},
        {"K": 5, "Na": 145},
        {"K": ratio, "Na": 1.0},
        {"K": 1, "Na": 1},
        case.temperature,
    )
    # the diffuse layers' shift, as for ghk.toml (README: 3.6e-4 mV): measured 3.6e-7 V
    assert res.membrane_potential[-1] == pytest.approx(expected, abs=4e-6)


def test_calcium_nernst():
    case = load("calcium")
    res = pnp.run(case)
    expected = analytic.nernst(1e-4, 2.0, 2, case.temperature)
    assert expected == pytest.approx(0.1323, abs=0.05e-3)  # the README's +132.3 mV
    # an equilibrium; 100 nM inside sits near atol: measured 3.0e-13 V
    assert res.membrane_potential[-1] == pytest.approx(expected, abs=3e-12)


def test_ghk_with_calcium():
    perms = {"Ca": 1e-8, "K": 1e-8, "Na": 5e-10}
    case = load("calcium", **{f"region.membrane.permeability.{k}": v for k, v in perms.items()})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    inside, outside = case.regions[0].concentration, case.regions[2].concentration
    expected = analytic.ghk_voltage(
        inside, outside, perms, {"Ca": 2, "K": 1, "Na": 1, "Cl": -1}, case.temperature
    )
    # measured 5.5e-5 V: the diffuse layers shift the divalent Ca2+ flux far more
    # than the monovalent ones of ghk.toml (2.5e-7 V)
    assert res.membrane_potential[-1] == pytest.approx(expected, abs=1e-4)
    # Ca2+ flows in (negative outward flux) down its huge gradient
    assert res.flux["Ca"][-1] < 0


def test_grahame_for_a_2_1_electrolyte():
    """CaCl2 against a charged wall: the 2:1 Grahame equation (any mixture form)."""
    case = pnp.Case.from_dict(
        {
            "title": "CaCl2 double layer",
            "temperature": 298.15,
            "species": {"Ca": {"z": 2, "D": 0.79e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
            "region": [
                {
                    "name": "bath",
                    "length": 20e-9,
                    "eps_r": 78.5,
                    "concentration": {"Ca": 50.0, "Cl": 100.0},
                }
            ],
            "boundary": {
                "left": {"type": "wall", "potential": -0.04},
                "right": {"type": "reservoir", "potential": 0},
            },
            "mesh": {"cells_per_debye": 16, "growth": 1.1, "max_cell": 0.2e-9},
        }
    )
    res = pnp.run(case)
    sigma = analytic.grahame(-0.04, {"Ca": 50.0, "Cl": 100.0}, {"Ca": 2, "Cl": -1}, 78.5, 298.15)
    # second-order wall gradient, 16 cells per Debye length: measured 3.6e-3
    assert res.surface_charge["left"][-1] == pytest.approx(sigma, rel=1e-2)


def test_spherical_excess_charge_is_c_v_area():
    case = load("charge_separation")
    res = pnp.run(case)
    mem = case.regions[1]
    c_series = analytic.membrane_series_capacitance(
        mem.eps_r,
        mem.length,
        {"K": 140.0, "X": 140.0},
        {"K": 10.2, "Na": 139.8, "Cl": 150.0},
        {"K": 1, "Na": 1, "Cl": -1, "X": -1},
        80.0,
        80.0,
        case.temperature,
    )
    area = 4 * math.pi * (10e-6) ** 2
    q_expected = c_series * res.membrane_potential[-1] * area / constants.e
    sep = charge_separation(case, res)
    assert sep["excess_charge"] == pytest.approx(q_expected, rel=2e-3)  # measured 2.0e-4
    # the README's 5.4e6 excess charges vs 7.1e11 ions (to its printed digits)
    assert sep["excess_charge"] == pytest.approx(-5.4e6, abs=0.05e6)
    assert sep["ions"] == pytest.approx(7.1e11, abs=0.05e11)
    # the excess sits within a few Debye lengths of the membrane
    mesh = res.mesh()
    start = mesh.region_slices[1][0]
    r_membrane = mesh.faces[start]
    lam = analytic.debye_length({"K": 140.0, "X": 140.0}, {"K": 1, "X": -1}, 80.0, case.temperature)
    rho = res.c("K")[-1, :start] - res.c("X")[-1, :start]
    q_cells = 4 * math.pi * mesh.volume[:start] * rho
    near = mesh.centers[:start] > r_membrane - 5 * lam
    # beyond 5 lambda the layer holds ~exp(-5) = 7e-3 of it: measured 5.7e-3
    # (abs=0: the sums are ~1e-17, below pytest's default absolute 1e-12)
    assert q_cells[near].sum() == pytest.approx(q_cells.sum(), rel=1e-2, abs=0)


def test_spherical_donnan_matches_cartesian():
    spherical = pnp.run(load("pump_leak", **{"pump.rate": 0}))
    cartesian = pnp.run(load("pump_leak", **{"pump.rate": 0, "geometry": "cartesian"}))
    for name in ("K", "Na", "Cl"):
        # the capacitor charge over a different volume/area ratio: measured 8.0e-8
        assert spherical.c(name)[-1, 0] == pytest.approx(cartesian.c(name)[-1, 0], rel=1e-6)
    # measured 2.2e-9 V
    assert spherical.membrane_potential[-1] == pytest.approx(
        cartesian.membrane_potential[-1], abs=2e-8
    )


def test_saturating_pump():
    """j_p = j_max (Na_in/(Na_in+K_Na))^3 (K_out/(K_out+K_K))^2 next to the membrane."""
    case = load("pump_leak", **{"pump.j_max": 2e-7, "pump.K_Na": 10.0, "pump.K_K": 1.5})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    mesh = res.mesh()
    start, stop = mesh.region_slices[1]
    na_in = res.c("Na")[-1, start - 1]
    k_out = res.c("K")[-1, stop]
    rate = 2e-7 * (na_in / (na_in + 10.0)) ** 3 * (k_out / (k_out + 1.5)) ** 2
    assert res.pump_current[-1] == pytest.approx(FARADAY * rate, rel=4 * EPS, abs=0)  # measured 0
    assert abs(res.current[-1]) < 2e-11 * res.pump_current[-1]  # measured 2.2e-12
    assert res.stats["newton_iterations"] < 150  # the pump's local Jacobian is assembled


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical"])
def test_radial_donnan_matches_cartesian(geometry):
    """A closed radial cell (r = 0 no-flux centre) reaches the same Donnan state."""
    radial = pnp.run(load("donnan", geometry=geometry))
    flat = pnp.run(load("donnan"))
    assert radial.status == "completed", radial.message
    for name in ("K", "Cl"):
        # capacitor charge over a different volume/area ratio: measured 1.6e-7 (spherical)
        assert radial.c(name)[-1, 0] == pytest.approx(flat.c(name)[-1, 0], rel=1e-6)
    # measured 4.3e-9 V (spherical), 2.2e-9 V (cylindrical)
    assert radial.membrane_potential[-1] == pytest.approx(flat.membrane_potential[-1], abs=5e-8)
