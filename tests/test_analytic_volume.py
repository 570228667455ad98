"""Osmotic pressure and cell-volume references (pnp.analytic.volume, issue 14).

Each is checked against something computed another way: a textbook value,
scipy's ODE integrator, and pnp.analytic.donnan at the volume found.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pnp import analytic
from pnp.constants import GAS_CONSTANT

T = 310.15


def test_one_osmolar_solution_at_0_degC_is_22_4_atmospheres():
    # the textbook van 't Hoff figure: 22.4 atm (the molar volume of an ideal gas)
    pressure = analytic.osmotic_pressure({"glucose": 1000.0}, 273.15)
    assert pressure / 101325.0 == pytest.approx(22.41, abs=0.01)
    assert analytic.osmotic_pressure([500.0, 500.0], 273.15, 0.93) == pytest.approx(0.93 * pressure)
    with pytest.raises(ValueError, match="non-negative"):
        analytic.osmotic_pressure([-1.0], T)


@pytest.mark.parametrize("c_out", [100.0, 150.0, 300.0, 600.0])  # swell, stay, shrink
def test_osmotic_volume_matches_the_ode_integrated_by_scipy(c_out):
    v0, area, lp = 1e-15, 5e-10, 3e-13  # 1 pL, 500 um^2, a leaky membrane
    n = 300.0 * v0  # 300 mOsm inside
    k = area * lp * GAS_CONSTANT * T
    sol = solve_ivp(
        lambda t, v: k * (n / v - c_out),
        (0.0, 200.0),
        [v0],
        method="LSODA",
        rtol=1e-12,
        atol=1e-30,
        dense_output=True,
    )
    times = np.array([0.0, 0.5, 2.0, 10.0, 50.0, 200.0])
    got = analytic.osmotic_volume(times, v0, n, c_out, area, lp, T)
    # the integrator's error at rtol 1e-12 over a relaxation (measured <= 2.7e-12)
    np.testing.assert_allclose(got, sol.sol(times)[0], rtol=1e-10, atol=0)
    final = analytic.boyle_van_t_hoff(v0, 300.0, c_out)
    assert final == pytest.approx(n / c_out, rel=1e-15)
    late = analytic.osmotic_volume(1e6, v0, n, c_out, area, lp, T)
    assert late == pytest.approx(final, rel=1e-12)
    if c_out != 300.0:  # monotone: never past the final volume
        assert np.all(np.diff(got) * np.sign(final - v0) >= 0)
        assert np.all((got - final) * np.sign(v0 - final) >= 0)


@pytest.mark.parametrize("stiffness", [1e3, 1e5, 1e7])
@pytest.mark.parametrize("z_x", [-1, -2])
def test_stiff_donnan_is_the_donnan_state_whose_excess_the_wall_balances(stiffness, z_x):
    c0, v0 = 150.0, 1e-15
    n = 100.0 * v0  # 100 mM of X inside at V0
    volume, vm = analytic.stiff_donnan(c0, n, v0, stiffness, T, z_impermeant=z_x)
    x = n / volume
    # the Donnan state at that volume, by pnp.analytic.donnan (its own root finder)
    d = analytic.donnan(
        {"Na": c0, "Cl": c0},
        {"Na": 1, "Cl": -1},
        fixed_charge=z_x * x,
        temperature=T,
        impermeant_concentration=x,
    )
    assert vm == pytest.approx(d["potential"], rel=1e-10)
    pressure = stiffness * (volume / v0 - 1.0)
    assert pressure == pytest.approx(GAS_CONSTANT * T * d["osmotic_excess"], rel=1e-10)
    assert volume > v0 and vm < 0.0
    # a stiff wall barely yields: V - V0 ~ V0 * excess(V0) / K
    if stiffness == 1e7:
        assert volume / v0 - 1.0 < 0.1


def test_no_stiffness_means_no_equilibrium_volume():
    with pytest.raises(ValueError, match="swells without bound"):
        analytic.stiff_donnan(150.0, 1e-13, 1e-15, 0.0, T)
