"""Osmotic pressure and cell-volume references (pnp.analytic.volume, issue 14).

Each is checked against something computed another way: a textbook value,
scipy's ODE integrator, and pnp.analytic.donnan at the volume found.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import osmotic_ode
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

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
    sol = osmotic_ode(k, n, c_out, v0, (0.0, 200.0), method="LSODA")
    times = np.array([0.0, 0.5, 2.0, 10.0, 50.0, 200.0])
    got = analytic.osmotic_volume(times, v0, n, c_out, area, lp, T)
    # the integrator's error at rtol 1e-12 over a relaxation (measured <= 2.7e-12)
    np.testing.assert_allclose(got, sol(times)[0], rtol=1e-10, atol=0)
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


# --------------------------------------------------------------------------- pump-leak volume

PUMP_LEAK = dict(
    bath={"Na": 145.0, "K": 5.0, "Cl": 150.0},
    valences={"Na": 1, "K": 1, "Cl": -1},
    permeabilities={"Na": 7.4e-10, "K": 1.34e-8, "Cl": 1e-9},
    pump_rate=1e-7,
)


def _pump_leak_ode(t_end, n0, v_start, temperature, lp, stiffness=0.0, v0=None):
    """The same cell as a charge-balance ODE (Keener–Sneyd style), integrated to rest.

    State: inside amounts of Na, K, Cl and the volume of a sphere (area from
    the volume). V_m at every instant is the potential of zero total membrane
    current (leaks plus the pump's net outward charge), found by a root; water
    follows J_w = -L_p [RT (c_in - c_out) - K (V/V0 - 1)], dV/dt = -A J_w.
    Nothing here uses the closed form's explicit c(u).
    """
    rt = 8.314462618 * temperature
    f_rt = 96485.33212 / rt
    names = ["Na", "K", "Cl"]
    z = {k: PUMP_LEAK["valences"][k] for k in names}
    perm, bath, jp = PUMP_LEAK["permeabilities"], PUMP_LEAK["bath"], PUMP_LEAK["pump_rate"]
    pump = {"Na": 3 * jp, "K": -2 * jp, "Cl": 0.0}
    n_x = n0["X"]

    def ghk(k, c_in, u):
        x = z[k] * u

        def b(y):
            return 1.0 if y == 0 else y / math.expm1(y)

        return perm[k] * (c_in * b(-x) - bath[k] * b(x))

    def vm(c):
        return brentq(
            lambda u: sum(z[k] * (ghk(k, c[k], u) + pump[k]) for k in names), -40, 40, xtol=1e-15
        )

    def rhs(t, y):
        v = y[3]
        c = {k: y[i] / v for i, k in enumerate(names)}
        u = vm(c)
        area = (36 * math.pi) ** (1 / 3) * v ** (2 / 3)
        dn = [-area * (ghk(k, c[k], u) + pump[k]) for k in names]
        osm = sum(c.values()) + n_x / v - sum(bath.values())
        pressure = stiffness * (v / v0 - 1) if stiffness else 0.0
        jw = -lp * (rt * osm - pressure)
        return [*dn, -area * jw]

    y0 = [n0["Na"], n0["K"], n0["Cl"], v_start]
    sol = solve_ivp(rhs, (0, t_end), y0, method="Radau", rtol=1e-11, atol=[1e-30] * 3 + [1e-30])
    y = sol.y[:, -1]
    c = {k: y[i] / y[3] for i, k in enumerate(names)}
    return vm(c) / f_rt, y[3], c, rhs(t_end, y)


@pytest.mark.parametrize("stiffness", [0.0, 1e4])
def test_pump_leak_volume_is_where_the_charge_balance_ode_comes_to_rest(stiffness):
    """Closed form (explicit c_in(u), one root) against the time integration of the
    amounts and volume of a 10 um soma started from the shipped pump_leak contents
    (140 K, 12 Na, 10 Cl, 142 X mM), with L_p = 1e-12 m/(s Pa): V_m, volume and every
    concentration agree to the ODE's own tolerance (measured: V_m 1.1e-12 V, volume
    2.4e-14 and concentrations 2.5e-13 relative; the amounts' rates at 1e6 s 1.3e-14)."""
    temperature = 310.15
    v_start = 4 / 3 * math.pi * (10e-6) ** 3
    n0 = {"Na": 12 * v_start, "K": 140 * v_start, "Cl": 10 * v_start, "X": 142 * v_start}
    kwargs = {"stiffness": stiffness, "volume0": v_start} if stiffness else {}
    ref = analytic.pump_leak_volume(
        **PUMP_LEAK, impermeant_amount=n0["X"], temperature=temperature, **kwargs
    )
    v_m, volume, c, rates = _pump_leak_ode(
        1e6, n0, v_start, temperature, 1e-12, stiffness, v_start if stiffness else None
    )
    # at rest: the amounts move by less than 1e-13 of themselves per 1e4 s
    amounts = [n0["Na"], n0["K"], n0["Cl"]]
    assert max(abs(r) * 1e4 / n for r, n in zip(rates[:3], amounts, strict=True)) < 1e-13
    assert ref["membrane_potential"] == pytest.approx(v_m, abs=1e-11)
    assert ref["volume"] == pytest.approx(volume, rel=3e-13)
    for k in ("Na", "K", "Cl"):
        assert ref["inside"][k] == pytest.approx(c[k], rel=3e-12), k
    assert ref["osmolarity_inside"] - ref["pressure"] / (8.314462618 * temperature) == (
        pytest.approx(300.0, rel=1e-13)
    )


def test_pump_leak_volume_refuses_what_has_no_steady_state():
    n = 142 * 4.2e-15
    # a pump that needs more Na+ leak than 145 mM outside can drive in at any V_m < 40 RT/F
    with pytest.raises(ValueError, match="no steady state"):
        analytic.pump_leak_volume(
            **{**PUMP_LEAK, "pump_rate": 1e-3}, impermeant_amount=n, temperature=310.15
        )
    with pytest.raises(ValueError, match="non-zero valence"):
        analytic.pump_leak_volume(
            **PUMP_LEAK, impermeant_amount=n, temperature=310.15, z_impermeant=0
        )
    with pytest.raises(ValueError, match="volume0"):
        analytic.pump_leak_volume(
            **PUMP_LEAK, impermeant_amount=n, temperature=310.15, stiffness=1e4
        )
    with pytest.raises(ValueError, match="no permeability"):
        analytic.pump_leak_volume(
            **{**PUMP_LEAK, "permeabilities": {"K": 1e-8, "Cl": 1e-9}},
            impermeant_amount=n,
            temperature=310.15,
        )
