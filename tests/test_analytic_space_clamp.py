"""The space-clamp reference (pnp.analytic.space_clamp, issue 15) against independent checks.

Rates against the 1952 formulas written out here with math; rests against
Nernst and the GHK closed forms (pnp.analytic.transport); the diffuse layers
against pnp.analytic.grahame and the Debye–Hückel capacitance; the whole
model, with the layers made negligible, against the textbook HH-with-GHK ODE
integrated here by scipy; charge conservation; and an action potential of a
classic squid parameter set (numbers measured with the defaults, rtol 1e-10).

The squid set (6.3 degC, C_m = eps0 4.5/4 nm = 0.996 uF/cm^2): inside K 400,
Na 50, Cl 40, X- 410 (impermeant); outside K 20, Na 440, Cl 560 and 50 Mg2+
(impermeant, for electroneutrality: seawater's Mg2+ and Ca2+ lumped).
E_K = -72.1, E_Na = +52.4, E_Cl = -63.5 mV. Permeabilities from HH's
conductances through the GHK chord conductance g = I/(V - E):
- P̄_Na = 2e-6 m/s (m^3 h): 124 mS/cm^2 at +20 mV, near the peak (HH 120);
- P̄_K = 7e-7 m/s (n^4): 35.6 mS/cm^2 at 0 mV (HH 36);
- leaks P_Cl = 1e-8 m/s (0.45 mS/cm^2 at -65 mV) and P_K = 7.5e-9 m/s
  (0.20 mS/cm^2), the K leak chosen so that the rest is -65.0 mV.
GHK rectification (the Na+ chord conductance at -65 mV is 1.7x that at
+20 mV; the K+ one 0.53x that at 0 mV) makes the patch more excitable than
HH (threshold for 1 ms 3.1 vs 6.9 uA/cm^2) and its peak lower (+36 vs
+40.5 mV for 20 uA/cm^2 during 1 ms).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import types
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import simpson, solve_ivp

from pnp import analytic
from pnp.analytic import _space_clamp_model as model_module
from pnp.constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY
from pnp.input.case import Protocol, load_case

CASES = Path(__file__).resolve().parents[1] / "cases"
T_SQUID = 279.45  # 6.3 degC
VT = GAS_CONSTANT * T_SQUID / FARADAY
Z = {"K": 1, "Na": 1, "Cl": -1, "X": -1, "Mg": 2}
SQUID_IN = {"K": 400.0, "Na": 50.0, "Cl": 40.0, "X": 410.0}
SQUID_OUT = {"K": 20.0, "Na": 440.0, "Cl": 560.0, "Mg": 50.0}
HH_CHANNELS = (
    analytic.ChannelSpec("Na", 2e-6, {"m": 3, "h": 1}),
    analytic.ChannelSpec("K", 7e-7, {"n": 4}),
)
SQUID = analytic.Patch(
    T_SQUID, Z, SQUID_IN, SQUID_OUT, {"Cl": 1e-8, "K": 7.5e-9}, HH_CHANNELS, 4e-9, 4.5
)
PULSE = [(1e-3, 0.2), (2e-3, 0.0)]  # 20 uA/cm^2 during 1 ms


# --------------------------------------------------------------------------- rates, by hand


def alpha_m(v):
    return 0.1 * (v + 40) / (1 - math.exp(-(v + 40) / 10))


def beta_m(v):
    return 4 * math.exp(-(v + 65) / 18)


def alpha_h(v):
    return 0.07 * math.exp(-(v + 65) / 20)


def beta_h(v):
    return 1 / (1 + math.exp(-(v + 35) / 10))


def alpha_n(v):
    return 0.01 * (v + 55) / (1 - math.exp(-(v + 55) / 10))


def beta_n(v):
    return 0.125 * math.exp(-(v + 65) / 80)


HAND = {"m": (alpha_m, beta_m), "h": (alpha_h, beta_h), "n": (alpha_n, beta_n)}


def test_hodgkin_huxley_rates_at_hand_values():
    assert analytic.gate_rates("m", -40.0)[0] == 1.0  # 0.1 * 10, the removable singularity
    assert analytic.gate_rates("m", -65.0)[1] == 4.0
    assert analytic.gate_rates("h", -65.0)[0] == 0.07
    assert analytic.gate_rates("h", -35.0)[1] == 0.5
    assert analytic.gate_rates("n", -55.0)[0] == pytest.approx(0.1, rel=1e-15)
    assert analytic.gate_rates("n", -65.0)[1] == 0.125


@pytest.mark.parametrize("gate", ["m", "h", "n"])
def test_hodgkin_huxley_rates_are_the_1952_formulas(gate):
    volts = np.array([-120.0, -80.0, -65.5, -41.0, -30.0, -10.0, 0.0, 25.0, 60.0])
    alpha, beta = analytic.gate_rates(gate, volts)
    hand_alpha, hand_beta = HAND[gate]
    np.testing.assert_allclose(alpha, [hand_alpha(v) for v in volts], rtol=1e-14)
    np.testing.assert_allclose(beta, [hand_beta(v) for v in volts], rtol=1e-14)


@pytest.mark.parametrize(("gate", "v0", "value"), [("m", -40.0, 1.0), ("n", -55.0, 0.1)])
def test_removable_singularities_are_continuous(gate, v0, value):
    # alpha = value x/(1 - e^-x), x = (V - v0)/10: value (1 + x/2 + x^2/12) near V = v0
    for delta in (1e-12, 1e-9, 1e-6, -1e-6, -1e-9, -1e-12):
        x = delta / 10
        expected = value * (1 + x / 2 + x * x / 12)
        assert abs(analytic.gate_rates(gate, v0 + delta)[0] - expected) < 1e-12 * value


def test_generic_forms_and_their_errors():
    v = np.array([-90.0, -50.0, -20.0, 10.0])
    x = (v + 30.0) / 7.0
    rate = analytic.gate_rate
    np.testing.assert_allclose(rate(("exponential", 2.0, -30.0, 7.0), v), 2 * np.exp(-x))
    np.testing.assert_allclose(rate(("sigmoid", 2.0, -30.0, 7.0), v), 2 / (1 + np.exp(-x)))
    np.testing.assert_allclose(
        rate(("linoid", 0.3, -30.0, 7.0), v), 0.3 * (v + 30) / (1 - np.exp(-x)), rtol=1e-14
    )
    assert rate(("linoid", 0.3, -30.0, -7.0), -30.0) == pytest.approx(-2.1, rel=1e-15)
    with pytest.raises(ValueError, match="rate form"):
        rate(("cubic", 1.0, 0.0, 1.0), 0.0)
    custom = analytic.ChannelSpec("K", 1e-7, {"a": 1}, rates={"b": analytic.HODGKIN_HUXLEY["n"]})
    with pytest.raises(ValueError, match="no rates for gate 'a'"):
        analytic.rest(_leak_patch({"K": 1e-8}, channels=(custom,)))


def test_ghk_current_through_the_membrane_is_the_textbook_one_without_layers():
    # the model's current at layer potentials u = 0 against pnp.analytic.ghk_current,
    # and continuous through its removable singularity at V_mem = 0
    leak = {"K": 1e-8, "Na": 1e-9, "Cl": 2e-9, "Ca": 3e-9}
    model = model_module._Model(_leak_patch(leak))
    c_in = [LEAK_IN.get(n, 0.0) for n in model.names]
    c_out = [LEAK_OUT.get(n, 0.0) for n in model.names]
    perm = [leak.get(n, 0.0) for n in model.names]
    for v in (-0.09, -0.02, 1e-7, 0.05):
        got = model.currents(v, 0.0, 0.0, [])
        want = analytic.ghk_current(v, c_in, c_out, model.z, perm, T_BODY)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    at_zero = model.currents(0.0, 0.0, 0.0, [])
    for v in (1e-12, -1e-12):
        np.testing.assert_allclose(model.currents(v, 0.0, 0.0, []), at_zero, rtol=1e-9)


def test_gates_follow_v_m_in_per_ms_scaled_by_q10():
    # dx/dt = phi_T (alpha(V)(1 - x) - beta(V) x) [1/ms], V = V_m in mV (bulk to bulk,
    # here 0.3 mV from V_mem), phi_T = 3^((T - 6.3 degC)/10 K) = 3 at 16.3 degC
    warm = dataclasses.replace(SQUID, temperature=T_SQUID + 10.0)
    model = model_module._Model(warm)
    y = np.array([-0.05, 0.2, 0.4, 0.5])  # V_mem, m, h, n (not at steady state)
    v_m = model.layers(-0.05)[0]
    assert abs(v_m - -0.05) > 5e-4
    derivative = model.rhs(y, 0.0)
    for k, gate in enumerate("mhn"):
        alpha, beta = HAND[gate]
        x, v = y[k + 1], 1e3 * v_m
        assert derivative[k + 1] == pytest.approx(
            3e3 * (alpha(v) * (1 - x) - beta(v) * x), rel=1e-12
        )
    cold = dataclasses.replace(warm, channels=tuple(
        dataclasses.replace(c, q10=1.0) for c in HH_CHANNELS
    ))  # fmt: skip
    assert model_module._Model(cold).rhs(y, 0.0)[1] == pytest.approx(derivative[1] / 3, rel=1e-14)


# --------------------------------------------------------------------------- rests

T_BODY = 310.15
LEAK_Z = {"K": 1, "Na": 1, "Ca": 2, "Cl": -1, "X": -1}
LEAK_IN = {"K": 140.0, "Na": 10.0, "Ca": 1e-4, "Cl": 10.0, "X": 140.0002}
LEAK_OUT = {"K": 5.0, "Na": 145.0, "Ca": 2.0, "Cl": 154.0}


def _leak_patch(leak, channels=(), eps=80.0):
    return analytic.Patch(T_BODY, LEAK_Z, LEAK_IN, LEAK_OUT, leak, channels, 5e-9, 2.0, eps, eps)


@pytest.mark.parametrize("ion", ["K", "Na", "Ca", "Cl"])
def test_a_single_permeant_ion_rests_at_its_nernst_potential(ion):
    state = analytic.rest(_leak_patch({ion: 1e-8}))
    nernst = analytic.nernst(LEAK_IN[ion], LEAK_OUT[ion], LEAK_Z[ion], T_BODY)
    assert abs(state.V_m - nernst) < 1e-9
    # the layers' share is real (their Boltzmann factors and drops cancel exactly)
    assert abs(state.V_m - state.V_mem) > 1e-4 * abs(nernst)


def test_two_cations_rest_at_the_ghk_voltage_layers_and_all():
    # same valence: e^(F V_m/RT) = (P_K K_o + P_Na Na_o)/(P_K K_i + P_Na Na_i) holds
    # bulk to bulk, whatever the layers do (measured: 1e-15 V off)
    p = {"K": 1e-8, "Na": 4e-10}
    state = analytic.rest(_leak_patch(p))
    closed = (GAS_CONSTANT * T_BODY / FARADAY) * math.log(
        (p["K"] * 5.0 + p["Na"] * 145.0) / (p["K"] * 140.0 + p["Na"] * 10.0)
    )
    assert abs(state.V_m - closed) < 1e-9


def test_with_an_anion_the_layers_move_the_ghk_rest_slightly():
    # K, Na and Cl: the layers' Boltzmann factors no longer cancel; the rest
    # differs from the bulk GHK voltage by 0.33 uV at eps_r 80 (though V_m - V_mem
    # = 0.54 mV: Cl- is near equilibrium, so its 2 % change of surface
    # concentration moves little current) and by < 1 nV when the layers are negligible
    p = {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}
    ghk = analytic.ghk_voltage(LEAK_IN, LEAK_OUT, p, LEAK_Z, T_BODY)
    layered = analytic.rest(_leak_patch(p))
    assert 2e-7 < abs(layered.V_m - ghk) < 5e-7
    assert layered.V_mem - layered.V_m > 5e-4
    assert abs(analytic.rest(_leak_patch(p, eps=1e14)).V_m - ghk) < 1e-9


def test_rest_is_the_most_negative_of_several_zero_current_states():
    # K leak plus a Na channel without K channel: the steady I-V (gates at x_inf) is
    # N-shaped, zero at -72.0 (up), -50 (down) and -29.5 mV (up); the rest is the first
    sodium = dataclasses.replace(HH_CHANNELS[0], permeability=3e-7)
    patch = dataclasses.replace(SQUID, leak={"K": 1e-8}, channels=(sodium,))
    assert analytic.rest(patch).V_m == pytest.approx(-72.0e-3, abs=0.1e-3)
    high = analytic.simulate(patch, [(0.0, 0.5), (2e-3, 0.0)], 30e-3)  # kicked up: it stays
    assert high.V_m[-1] == pytest.approx(-29.5e-3, abs=1e-3)


# --------------------------------------------------------------------------- layers


@pytest.mark.parametrize("q", [-0.3, -0.05, -1e-3, -1e-9, 1e-12, 1e-5, 6.4e-4, 0.02, 0.3])
def test_layer_shifts_round_trip_through_grahame(q):
    # inside (monovalent, closed form) holds +q: its wall charge is -q; outside (with Mg2+,
    # by Newton) holds -q: wall +q. pnp.analytic.grahame gives the charge back.
    psi_in, psi_out = analytic.layer_shifts(SQUID, q)
    assert np.sign(psi_in) == -np.sign(q) and np.sign(psi_out) == np.sign(q)
    back_in = analytic.grahame(psi_in, SQUID_IN, Z, 80.0, T_SQUID)
    back_out = analytic.grahame(psi_out, SQUID_OUT, Z, 80.0, T_SQUID)
    assert back_in == pytest.approx(-q, rel=1e-13)
    assert back_out == pytest.approx(q, rel=1e-13)
    assert psi_out == pytest.approx(
        analytic.grahame_potential(q, SQUID_OUT, Z, 80.0, T_SQUID), rel=1e-13
    )


def test_series_capacitance_is_the_derivative_of_v_m_and_debye_huckel_at_rest():
    patch = _leak_patch({"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9})
    no_ca_in = {k: v for k, v in LEAK_IN.items() if k != "Ca"} | {"X": 140.0}
    no_ca_out = {"K": 5.0, "Na": 145.0, "Cl": 150.0}
    mono = analytic.Patch(T_BODY, LEAK_Z, no_ca_in, no_ca_out, patch.leak, (), 5e-9, 2.0)
    c_m = VACUUM_PERMITTIVITY * 2.0 / 5e-9
    for candidate in (patch, mono, SQUID):
        state = analytic.rest(candidate)

        def v_m(q, candidate=candidate):
            psi_in, psi_out = analytic.layer_shifts(candidate, q)
            return q / VACUUM_PERMITTIVITY / candidate.eps_membrane * candidate.thickness + (
                psi_out - psi_in
            )

        h = 1e-7
        numeric = 2 * h / (v_m(state.q + h) - v_m(state.q - h))
        assert state.capacitance == pytest.approx(numeric, rel=1e-7)
        assert state.capacitance == analytic.patch_capacitance(candidate)
        assert state.capacitance < state.membrane_capacitance
    # monovalent baths: C_dl = (eps eps0/lambda_D) cosh(F psi_s/2RT)
    state = analytic.rest(mono)
    vt = GAS_CONSTANT * T_BODY / FARADAY
    dl = [
        VACUUM_PERMITTIVITY
        * 80.0
        / analytic.debye_length(c, LEAK_Z, 80.0, T_BODY)
        * math.cosh(psi / (2 * vt))
        for c, psi in ((no_ca_in, state.psi_s_in), (no_ca_out, state.psi_s_out))
    ]
    assert state.capacitance == pytest.approx(1 / (1 / c_m + 1 / dl[0] + 1 / dl[1]), rel=1e-12)


def test_rest_of_the_squid_patch_and_the_size_of_its_layers():
    # measured: V_m -65.020 mV, psi_s,in +0.401 mV, psi_s,out -0.344 mV (V_mem 0.745 mV
    # smaller than V_m), series C 1.14 % below C_m = 0.996 uF/cm^2
    state = analytic.rest(SQUID)
    assert state.V_m == pytest.approx(-65.02e-3, abs=0.01e-3)
    assert state.psi_s_in == pytest.approx(0.401e-3, abs=0.001e-3)
    assert state.psi_s_out == pytest.approx(-0.344e-3, abs=0.001e-3)
    assert state.V_m == pytest.approx(state.V_mem - state.psi_s_in + state.psi_s_out, abs=1e-15)
    assert state.capacitance / state.membrane_capacitance - 1 == pytest.approx(-0.01145, abs=1e-5)
    assert analytic.layer_shifts(SQUID) == (state.psi_s_in, state.psi_s_out)
    for gate, (alpha, beta) in (("Na.m", HAND["m"]), ("Na.h", HAND["h"]), ("K.n", HAND["n"])):
        v = 1e3 * state.V_m
        assert state.gates[gate] == pytest.approx(alpha(v) / (alpha(v) + beta(v)), rel=1e-13)
    assert analytic.rest(SQUID).V_m == state.V_m  # deterministic


# --------------------------------------------------------------------------- dynamics


def test_negligible_layers_reduce_to_the_textbook_hh_ghk_ode():
    # eps_r 1e14 in the baths: layer shifts ~1e-10 V; the model must be
    # C_m dV/dt = I - sum_i I_GHK(P_i(gates), V) with bulk concentrations
    # (measured: traces agree to 2.5e-9 V through the spike; with the layers at
    # eps_r 80 they would differ by up to 2.6 mV, mostly in the spike's timing)
    patch = dataclasses.replace(SQUID, eps_inside=1e14, eps_outside=1e14)
    c_m = VACUUM_PERMITTIVITY * 4.5 / 4e-9
    names = list(Z)
    c_in = [SQUID_IN.get(n, 0.0) for n in names]
    c_out = [SQUID_OUT.get(n, 0.0) for n in names]
    z = [Z[n] for n in names]

    def textbook(t, y, stim):
        v, m, h, n = y
        perm = [7.5e-9 + 7e-7 * n**4, 2e-6 * m**3 * h, 1e-8, 0.0, 0.0]  # K, Na, Cl, X, Mg
        current = np.sum(analytic.ghk_current(v, c_in, c_out, z, perm, T_SQUID))
        mv = 1e3 * v
        gates = [(HAND[g], x) for g, x in (("m", m), ("h", h), ("n", n))]
        return [(stim - current) / c_m] + [
            1e3 * (a(mv) * (1 - x) - b(mv) * x) for (a, b), x in gates
        ]

    state = analytic.rest(patch)
    y = [state.V_m, state.gates["Na.m"], state.gates["Na.h"], state.gates["K.n"]]
    times = np.linspace(0.0, 8e-3, 81)
    solutions = []
    for a, b, stim in ((0.0, 1e-3, 0.0), (1e-3, 2e-3, 0.2), (2e-3, 8e-3, 0.0)):
        part = solve_ivp(
            textbook, (a, b), y, args=(stim,), method="LSODA", rtol=1e-11, atol=1e-13,
            dense_output=True,
        )  # fmt: skip
        solutions.append(part)
        y = part.y[:, -1]
    piece = np.searchsorted([1e-3, 2e-3], times, side="right")
    expected = np.array([solutions[k].sol(t)[0] for k, t in zip(piece, times, strict=True)])
    trace = analytic.simulate(patch, PULSE, 8e-3, t_eval=times)
    assert np.max(np.abs(trace.psi_s_in)) < 1e-9 and np.max(np.abs(trace.psi_s_out)) < 1e-9
    assert np.max(np.abs(trace.V_m - trace.V_mem)) < 2e-9
    assert np.max(np.abs(trace.V_m - expected)) < 2e-8
    assert trace.V_m.max() > 0.03  # it is a spike


def test_charge_is_conserved_through_a_spike():
    # q(t_end) - q(0) = integral of (I_stim - sum_i I_i), Simpson over each piece from the
    # reported currents (measured: 3e-8 of the net change, 8e-10 of the swing)
    times = np.concatenate([np.linspace(0, 1e-3, 101), np.linspace(1e-3, 2e-3, 201)[1:]])
    times = np.concatenate([times, np.linspace(2e-3, 6e-3, 2001)[1:]])
    trace = analytic.simulate(SQUID, PULSE, 6e-3, t_eval=times)
    net = -sum(trace.currents.values())
    total = 0.0
    for a, b, stim in ((0, 1e-3, 0.0), (1e-3, 2e-3, 0.2), (2e-3, 6e-3, 0.0)):
        inside = (times >= a) & (times <= b)
        total += simpson(net[inside] + stim, x=times[inside])
    moved = trace.q[-1] - trace.q[0]
    assert total == pytest.approx(moved, rel=1e-6)
    assert trace.q.max() - trace.q[0] > 9e-4  # ~100 mV of charge went and came back


def test_the_squid_patch_fires_one_action_potential():
    # measured: crosses 0 mV at 2.1722 ms, peak +36.15 mV at 2.4215 ms, undershoot -71.2 mV
    trace = analytic.simulate(SQUID, PULSE, 20e-3)
    t_peak, v_peak = analytic.peak(trace)
    assert v_peak == pytest.approx(36.15e-3, abs=0.05e-3)
    assert t_peak == pytest.approx(2.4215e-3, rel=1e-3)
    crossings = analytic.spikes(trace)
    assert crossings.shape == (1,) and crossings[0] == pytest.approx(2.1722e-3, rel=1e-3)
    assert trace.voltage(crossings[0]) == pytest.approx(0.0, abs=1e-12)
    assert trace.charging(t_peak) == pytest.approx(0.0, abs=1e-6)  # dV/dt = 0 there
    assert trace.V_m.min() == pytest.approx(-71.2e-3, abs=0.1e-3)
    # the peak is a maximum of the dense solution, not a sample
    assert all(trace.voltage(t_peak + d) < v_peak for d in (-1e-7, 1e-7))
    late = analytic.simulate(SQUID, [], 2e-3, initial=trace.final)
    assert late.V_m[0] == pytest.approx(trace.V_m[-1], abs=1e-12)


def test_refractoriness():
    # an equal pulse 3 ms after the first falls in the refractory period; 20 ms after, it fires
    early = analytic.simulate(SQUID, [*PULSE, (4e-3, 0.2), (5e-3, 0.0)], 12e-3)
    assert len(analytic.spikes(early)) == 1
    late = analytic.simulate(SQUID, [*PULSE, (21e-3, 0.2), (22e-3, 0.0)], 30e-3)
    assert len(analytic.spikes(late)) == 2


def test_threshold_current_by_bisection():
    # measured: 0.031082 A/m^2 (3.1 uA/cm^2) for 1 ms (rtol 1e-6); HH's linear conductances
    # need 6.9 uA/cm^2
    threshold = analytic.threshold_current(SQUID, 1e-3, 1e-3, 0.01, 0.1, rtol=1e-3)
    assert threshold == pytest.approx(0.031082, rel=1.5e-3)
    below = analytic.simulate(SQUID, [(1e-3, 0.995 * threshold), (2e-3, 0.0)], 40e-3)
    assert len(analytic.spikes(below)) == 0
    with pytest.raises(ValueError, match="bracket"):
        analytic.threshold_current(SQUID, 1e-3, 1e-3, 0.05, 0.1)


def test_firing_rate_is_finite_and_rises_with_current():
    # measured (rtol 1e-8; 1e-10 agrees to 7e-8): 62.653 Hz at 0.05 A/m^2, 78.668 Hz at
    # 0.1; also 46.04 Hz at 0.02, 98.69 at 0.2, 112.66 at 0.3, depolarisation block at 0.4
    low = analytic.firing_rate(SQUID, 0.05, 0.1, 0.03, rtol=1e-8)
    high = analytic.firing_rate(SQUID, 0.1, 0.1, 0.03, rtol=1e-8)
    assert low == pytest.approx(62.653, rel=1e-3)
    assert high == pytest.approx(78.668, rel=1e-3)
    assert analytic.firing_rate(SQUID, 0.0, 0.02, 0.0) == 0.0


# --------------------------------------------------------------------------- from a case


class _Rate(types.SimpleNamespace):
    pass


def _with_channels(case, channels, **changes):
    """A stand-in for a Case that has `channels` (the key is being added elsewhere)."""
    fields = {name: getattr(case, name) for name in case.__dataclass_fields__}
    return types.SimpleNamespace(**(fields | {"channels": channels} | changes))


def test_from_case_reads_the_ghk_case():
    case = load_case(CASES / "ghk.toml")
    patch, stimulus = analytic.from_case(case)
    assert stimulus == [(0.0, 0.0)]
    assert patch.temperature == case.temperature and patch.channels == ()
    assert patch.inside["K"] == 140 and patch.outside["Na"] == 145
    assert (patch.thickness, patch.eps_membrane, patch.eps_inside) == (5e-9, 2.0, 80.0)
    state = analytic.rest(patch)
    ghk = analytic.ghk_voltage(patch.inside, patch.outside, patch.leak, patch.z, case.temperature)
    # the case's claim: the layers shift V_m by well under 0.1 mV (measured 0.1 uV:
    # psi_s,in +0.27 mV and psi_s,out -0.27 mV, but K+ dominates and Cl- is near equilibrium)
    assert 1e-8 < abs(state.V_m - ghk) < 1e-6
    assert ghk == pytest.approx(-67.34e-3, abs=0.01e-3)


def test_from_case_with_channels_and_protocols():
    case = load_case(CASES / "ghk.toml")
    hh = analytic.HODGKIN_HUXLEY
    rates = {
        g: tuple(_Rate(form=f, rate=r, v_half=v, slope=s) for f, r, v, s in hh[g]) for g in "mh"
    }
    nav = types.SimpleNamespace(
        name="NaV", membrane="membrane", species="Na", permeability=3.3e-6,
        gates={"m": 3, "h": 1}, rates=rates, q10=3.0, reference_temperature=279.45,
    )  # fmt: skip
    kv = types.SimpleNamespace(
        name="KV", membrane="membrane", species="K", permeability=1e-6,
        gates={"n": 4}, rates={}, q10=3.0, reference_temperature=279.45,
    )  # fmt: skip
    protocols = (
        Protocol(1e-3, {"boundary.left.current": 0.5}),
        Protocol(2e-3, {"boundary.left.current": 0.0}),
    )
    stand_in = _with_channels(case, (nav, kv), protocols=protocols)
    patch, stimulus = analytic.from_case(stand_in)
    assert stimulus == [(0.0, 0.0), (1e-3, 0.5), (2e-3, 0.0)]
    assert patch.channels[0].rates == {g: hh[g] for g in "mh"} and patch.channels[1].rates is None
    state = analytic.rest(patch)
    assert set(state.gates) == {"NaV.m", "NaV.h", "KV.n"}
    # the floating boundary on the outside: its current hyperpolarises
    to_right = (Protocol(1e-3, {"boundary.right.current": 0.5}),)
    flipped = _with_channels(case, (), left=case.right, right=case.left, protocols=to_right)
    assert analytic.from_case(flipped)[1] == [(0.0, -0.0), (1e-3, -0.5)]
    with pytest.raises(ValueError, match="not part of the space-clamp model"):
        analytic.from_case(_with_channels(case, (), protocols=(Protocol(1e-3, {"run.rtol": 1}),)))
    with pytest.raises(ValueError, match="membrane"):
        analytic.from_case(
            _with_channels(case, (types.SimpleNamespace(**{**vars(kv), "membrane": "x"}),))
        )


def test_the_reference_is_independent_of_the_solver():
    # only the standard library, numpy, scipy, pnp.constants and its own equations
    allowed = {"numpy", "numpy.typing", "scipy.integrate", "scipy.optimize", "constants"}
    allowed |= {"_space_clamp_model", "math", "collections.abc", "dataclasses", "typing"}
    allowed |= {"__future__"}
    for name in ("space_clamp.py", "_space_clamp_model.py"):
        tree = ast.parse((Path(analytic.__file__).parent / name).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}  # fmt: skip
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= allowed, imported - allowed
