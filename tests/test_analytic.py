"""pnp.analytic against textbook values, limits, identities and brute force.

Tolerances are stated where they are used and follow from the arithmetic:
EPS-multiples for round-off, the truncation error of a finite difference
(estimated by Richardson: halving h) for numeric derivatives, the grid step
for brute-force scans, the first omitted Taylor term for small-argument limits.
References are written out here from scipy.constants, not taken from
pnp.analytic, so that they are independent of the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import constants
from scipy.integrate import quad

from pnp import analytic

EPS = np.finfo(float).eps
F = constants.physical_constants["Faraday constant"][0]
R = constants.R
EPS0 = constants.epsilon_0
T_BODY = 310.15  # 37 degC [K]
T_ROOM = 298.15  # 25 degC [K]

VALENCES = {"K": 1, "Na": 1, "Cl": -1, "Ca": 2, "X": -1}  # valences used throughout
NEURON_IN = {"K": 140.0, "Na": 12.0, "Cl": 10.0, "Ca": 1e-4}
NEURON_OUT = {"K": 5.0, "Na": 145.0, "Cl": 150.0, "Ca": 2.0}


def v_thermal(temperature: float) -> float:
    return R * temperature / F


def richardson_bound(coarse: float, fine: float, order: int) -> float:
    """Twice the Richardson estimate of the truncation error of `fine` (step h/2).

    For a stencil of order p, D(h) - D(h/2) = (2^p - 1) C (h/2)^p + higher
    order, so |D(h/2) - exact| = |D(h) - D(h/2)| / (2^p - 1) to leading order;
    the factor 2 covers the higher-order terms at the steps used (h <= lambda/200,
    where they are below 1 % of the leading one).
    """
    return 2 * abs(coarse - fine) / (2**order - 1)


# --------------------------------------------------------------------------- basics


def test_thermal_voltage_is_kT_over_e():
    # R = k N_A and F = e N_A exactly (SI 2019): two routes agree to round-off.
    kT_over_e = constants.k * T_ROOM / constants.e
    assert analytic.thermal_voltage(T_ROOM) == pytest.approx(kT_over_e, rel=8 * EPS, abs=0)
    assert analytic.thermal_voltage(T_ROOM) * 1e3 == pytest.approx(25.69, abs=0.005)


def test_nernst_potassium_textbook_value():
    # 140 mM inside, 5 mM outside, 37 degC: E_K = -89.06 mV (quoted to 0.01 mV).
    e_k = analytic.nernst(140.0, 5.0, 1, T_BODY)
    assert isinstance(e_k, float)
    assert e_k * 1e3 == pytest.approx(-89.06, abs=0.005)


def test_nernst_symmetries_and_valence():
    e_na = analytic.nernst(12.0, 145.0, 1, T_BODY)
    assert e_na > 0  # Na+ richer outside: inside must be positive to hold it
    assert analytic.nernst(145.0, 12.0, 1, T_BODY) == pytest.approx(-e_na, rel=4 * EPS, abs=0)
    # An anion with the same gradient reverses sign; Ca2+ halves the potential.
    assert analytic.nernst(12.0, 145.0, -1, T_BODY) == pytest.approx(-e_na, rel=4 * EPS, abs=0)
    assert analytic.nernst(12.0, 145.0, 2, T_BODY) == pytest.approx(e_na / 2, rel=4 * EPS, abs=0)
    # Vectorised.
    both = analytic.nernst(np.array([140.0, 12.0]), np.array([5.0, 145.0]), 1, T_BODY)
    assert both[1] == e_na


@pytest.mark.parametrize(("c_in", "c_out", "z"), [(0.0, 5.0, 1), (140.0, -1.0, 1), (140.0, 5.0, 0)])
def test_nernst_rejects_bad_input(c_in, c_out, z):
    with pytest.raises(ValueError, match="Nernst"):
        analytic.nernst(c_in, c_out, z, T_BODY)


def test_ionic_strength_textbook():
    # I = c for 1:1, 3c for 2:1 (CaCl2), 4c for 2:2 (MgSO4).
    assert analytic.ionic_strength({"Na": 150, "Cl": 150}, {"Na": 1, "Cl": -1}) == 150
    assert analytic.ionic_strength([10, 20], [2, -1]) == 30
    assert analytic.ionic_strength([10, 10], [2, -2]) == 40


# --------------------------------------------------------------------------- GHK current


def ghk_textbook(V, c_in, c_out, z, P, temperature):
    """I = P z^2 F^2 V/(RT) (c_in - c_out e^-u)/(1 - e^-u), written out (V != 0)."""
    u = z * F * V / (R * temperature)
    return P * z**2 * F**2 * V / (R * temperature) * (c_in - c_out * np.exp(-u)) / (1 - np.exp(-u))


@pytest.mark.parametrize(
    ("z", "c_in", "c_out"), [(1, 140, 5), (1, 12, 145), (-1, 10, 150), (2, 1e-4, 2), (-2, 3, 0.5)]
)
def test_ghk_current_matches_textbook_formula(z, c_in, c_out):
    # Away from V = 0 the textbook form has no cancellation: both agree to a
    # few ulp; 1e-12 is the identity tolerance.
    V = np.concatenate([np.linspace(-0.15, -0.001, 40), np.linspace(0.001, 0.15, 40)])
    P = 3e-9
    current = analytic.ghk_current(V, c_in, c_out, z, P, T_BODY)
    assert current.shape == V.shape
    np.testing.assert_allclose(
        current, ghk_textbook(V, c_in, c_out, z, P, T_BODY), rtol=1e-12, atol=0
    )
    # Vectorisation is exact: element-wise calls give the same numbers.
    assert [analytic.ghk_current(v, c_in, c_out, z, P, T_BODY) for v in V[::10]] == list(
        current[::10]
    )


@pytest.mark.parametrize("z", [1, -1, 2])
def test_ghk_current_zero_voltage_limit(z):
    P, c_in, c_out = 5e-9, 140.0, 5.0
    at_zero = analytic.ghk_current(0.0, c_in, c_out, z, P, T_BODY)
    assert at_zero == pytest.approx(P * z * F * (c_in - c_out), rel=4 * EPS, abs=0)
    # Continuous through 0 with no 0/0: at |V| = 1e-300 the correction is O(u).
    for V in (1e-300, -1e-300, 5e-324):
        assert analytic.ghk_current(V, c_in, c_out, z, P, T_BODY) == pytest.approx(
            at_zero, rel=4 * EPS, abs=0
        )


@pytest.mark.parametrize("z", [1, -1, 2, -2])
@pytest.mark.parametrize("u", [-0.1, -1e-2, -1e-3, 1e-4, 1e-3, 1e-2, 0.1])
def test_ghk_current_is_linear_at_small_voltage(z, u):
    # With B(x) = x/(e^x - 1) = 1 - x/2 + x^2/12 - x^4/720 + ...,
    # I/(PzF) = c_in B(-u) - c_out B(u) = (c_in + c_out) u/2 + (c_in - c_out)(1 + u^2/12 - ...),
    # i.e. I = I(0) + g V with the chord conductance g = P z^2 F^2 (c_in + c_out)/(2RT),
    # plus (c_in - c_out) u^2/12 whose error is below the next term u^4/720
    # (alternating series, |u| < 2 pi).
    P, c_in, c_out = 2e-8, 140.0, 5.0
    V = u * v_thermal(T_BODY) / z
    linear = P * z * F * (c_in - c_out) + P * z**2 * F**2 * (c_in + c_out) / (2 * R * T_BODY) * V
    quadratic = P * z * F * (c_in - c_out) * u**2 / 12
    current = analytic.ghk_current(V, c_in, c_out, z, P, T_BODY)
    scale = P * abs(z) * F * (c_in + c_out)
    assert abs(current - linear - quadratic) <= scale * (u**4 / 720 + 8 * EPS)
    assert abs(current - linear) <= scale * (u**2 / 12 + u**4 / 720 + 8 * EPS)


@pytest.mark.parametrize("z", [1, -1, 2, -3])
def test_ghk_current_is_ohmic_for_equal_concentrations(z):
    # c_in = c_out: B(-u) - B(u) = u exactly, so I = P z^2 F^2 c V/(RT) at every V.
    # Each B is rounded to a few ulp of its size (<= 1 + |u|): allow 8 ulp of that.
    P, c = 1e-8, 150.0
    V = np.linspace(-0.5, 0.5, 201)
    u = z * V / v_thermal(T_BODY)
    current = analytic.ghk_current(V, c, c, z, P, T_BODY)
    ohmic = P * z**2 * F**2 * c * V / (R * T_BODY)
    np.testing.assert_array_less(
        np.abs(current - ohmic), 8 * EPS * P * abs(z) * F * c * (1 + np.abs(u))
    )


@pytest.mark.parametrize(("species", "z"), [("K", 1), ("Na", 1), ("Cl", -1), ("Ca", 2)])
def test_ghk_current_vanishes_at_nernst_potential(species, z):
    # At E the two one-way fluxes M = c_in B(-u) = c_out B(u) cancel. The slope
    # d(I/PzF)/du there is exactly M (B'(x)/B(x) + B'(-x)/B(-x) = -1), and u = zE/V_T
    # carries ~2 ulp relative error: |I| <= P|z|F M (2 ulp |u| + 8 ulp round-off).
    c_in, c_out, P = NEURON_IN[species], NEURON_OUT[species], 1e-8
    E = analytic.nernst(c_in, c_out, z, T_BODY)
    u = z * E / v_thermal(T_BODY)
    one_way = c_in * u / -math.expm1(-u)
    current = analytic.ghk_current(E, c_in, c_out, z, P, T_BODY)
    assert abs(current) <= P * abs(z) * F * one_way * EPS * (4 * abs(u) + 8)
    # and it changes sign there: outward above E, inward below.
    assert analytic.ghk_current(E + 1e-3, c_in, c_out, z, P, T_BODY) > 0
    assert analytic.ghk_current(E - 1e-3, c_in, c_out, z, P, T_BODY) < 0


@pytest.mark.parametrize("u", [700.0, 1000.0, 1e5])
def test_ghk_current_no_overflow_at_large_arguments(u):
    # For u >> 1 only the one-way flux of the ion driven out survives:
    # I = P z F c_in u (1 + O(e^-u)) for u > 0, -P z F c_out |u| for u < 0.
    P, c_in, c_out = 1e-8, 140.0, 5.0
    V = u * v_thermal(T_BODY)
    up = analytic.ghk_current(V, c_in, c_out, 1, P, T_BODY)
    down = analytic.ghk_current(-V, c_in, c_out, 1, P, T_BODY)
    assert up == pytest.approx(P * F * c_in * u, rel=8 * EPS, abs=0)
    assert down == pytest.approx(-P * F * c_out * u, rel=8 * EPS, abs=0)


def test_ghk_sign_convention_is_outward_positive():
    # K+ leaks out at rest: outward, positive. Na+ leaks in: negative. Cl- entering
    # (negative flux) is an outward (positive) current.
    assert analytic.ghk_current(-0.07, 140, 5, 1, 1e-8, T_BODY) > 0
    assert analytic.ghk_current(-0.07, 12, 145, 1, 1e-8, T_BODY) < 0
    assert analytic.ghk_flux(0.0, 10, 150, -1, 1e-8, T_BODY) < 0
    assert analytic.ghk_current(0.0, 10, 150, -1, 1e-8, T_BODY) > 0


def test_ghk_flux_is_current_over_zF():
    V = np.linspace(-0.2, 0.2, 41)
    for z in (1, -1, 2):
        flux = analytic.ghk_flux(V, 140, 5, z, 1e-8, T_BODY)
        current = analytic.ghk_current(V, 140, 5, z, 1e-8, T_BODY)
        np.testing.assert_allclose(current, z * F * flux, rtol=2 * EPS, atol=0)
    # A neutral permeant solute diffuses: J = P (c_in - c_out) at every V.
    neutral = analytic.ghk_flux(V, 140, 5, 0, 1e-8, T_BODY)
    np.testing.assert_allclose(neutral, 1e-8 * 135, rtol=2 * EPS, atol=0)
    np.testing.assert_array_equal(analytic.ghk_current(V, 140, 5, 0, 1e-8, T_BODY), 0.0)


# --------------------------------------------------------------------------- GHK voltage

MONOVALENT = {"K": 1, "Na": 1, "Cl": -1}


@pytest.mark.parametrize(("species", "z"), [("K", 1), ("Na", 1), ("Cl", -1), ("Ca", 2)])
def test_ghk_voltage_single_permeant_ion_is_nernst(species, z):
    # The root is found to xtol = 1e-15 V_T and rtol 4 ulp; the current is
    # evaluated to ~8 ulp with unit slope per V_T (see above) and nernst adds
    # ~2 ulp: 32 ulp of max(V_T, |E|) bounds it.
    P = {name: 0.0 for name in VALENCES}
    P[species] = 1e-8
    V = analytic.ghk_voltage(NEURON_IN | {"X": 140.0}, NEURON_OUT | {"X": 0.0}, P, VALENCES, T_BODY)
    E = analytic.nernst(NEURON_IN[species], NEURON_OUT[species], z, T_BODY)
    assert abs(V - E) <= 32 * EPS * max(v_thermal(T_BODY), abs(E))


def classic_ghk(c_in, c_out, P, temperature):
    """(RT/F) ln((P_K K_o + P_Na Na_o + P_Cl Cl_i)/(P_K K_i + P_Na Na_i + P_Cl Cl_o))."""
    num = P["K"] * c_out["K"] + P["Na"] * c_out["Na"] + P["Cl"] * c_in["Cl"]
    den = P["K"] * c_in["K"] + P["Na"] * c_in["Na"] + P["Cl"] * c_out["Cl"]
    return R * temperature / F * math.log(num / den)


def test_ghk_voltage_resting_neuron():
    # P_K : P_Na : P_Cl = 1 : 0.05 : 0.45 with mammalian concentrations.
    P = {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}
    reference = classic_ghk(NEURON_IN, NEURON_OUT, P, T_BODY)
    assert reference == pytest.approx(-67.34e-3, abs=0.005e-3)  # the README's ghk.toml value
    closed = analytic.ghk_voltage_monovalent(NEURON_IN, NEURON_OUT, P, MONOVALENT, T_BODY)
    root = analytic.ghk_voltage(NEURON_IN, NEURON_OUT, P, MONOVALENT, T_BODY)
    assert closed == pytest.approx(reference, rel=2e-15, abs=0)  # measured 0
    assert root == pytest.approx(closed, rel=2e-15, abs=0)  # measured 2.1e-16
    # The root zeroes the total current to round-off of the one-way currents.
    currents = [
        analytic.ghk_current(root, NEURON_IN[s], NEURON_OUT[s], z, P[s], T_BODY)
        for s, z in MONOVALENT.items()
    ]
    # measured 5.7e-17; a three-term sum rounds to a few ulp of the sum of |terms|
    assert abs(sum(currents)) <= 4 * EPS * sum(abs(i) for i in currents)


concentration = st.floats(min_value=1e-3, max_value=1e3)
permeability = st.floats(min_value=1e-12, max_value=1e-6)


@settings(max_examples=300, deadline=None)
@given(
    c_in=st.fixed_dictionaries({"K": concentration, "Na": concentration, "Cl": concentration}),
    c_out=st.fixed_dictionaries({"K": concentration, "Na": concentration, "Cl": concentration}),
    P=st.fixed_dictionaries({"K": permeability, "Na": permeability, "Cl": permeability}),
    temperature=st.floats(min_value=273.15, max_value=320.0),
)
def test_ghk_voltage_root_equals_closed_form_for_monovalent_ions(c_in, c_out, P, temperature):
    # Identity: 1e-12 relative; near V = 0 relative error is meaningless and the
    # root is exact to its absolute tolerance (1e-15 V_T): allow 1e-12 V_T.
    closed = analytic.ghk_voltage_monovalent(c_in, c_out, P, MONOVALENT, temperature)
    root = analytic.ghk_voltage(c_in, c_out, P, MONOVALENT, temperature)
    assert closed == pytest.approx(
        classic_ghk(c_in, c_out, P, temperature), rel=1e-12, abs=1e-12 * v_thermal(temperature)
    )
    assert root == pytest.approx(closed, rel=1e-12, abs=1e-12 * v_thermal(temperature))


def ghk_voltage_with_calcium(c_in, c_out, P, temperature):
    """Zero-current potential of K, Na, Cl and Ca2+ in closed form (a quadratic).

    With y = exp(-FV/RT) the total current over F V/(1 - y) is
    (A - B y) + 4 P_Ca (Ca_i - Ca_o y^2)/(1 + y), A = P_K K_i + P_Na Na_i + P_Cl Cl_o,
    B = P_K K_o + P_Na Na_o + P_Cl Cl_i. Zero current:
    (B + 4 P_Ca Ca_o) y^2 - (A - B) y - (A + 4 P_Ca Ca_i) = 0, positive root.
    """
    A = P["K"] * c_in["K"] + P["Na"] * c_in["Na"] + P["Cl"] * c_out["Cl"]
    B = P["K"] * c_out["K"] + P["Na"] * c_out["Na"] + P["Cl"] * c_in["Cl"]
    a2 = B + 4 * P["Ca"] * c_out["Ca"]
    a1 = A - B
    a0 = A + 4 * P["Ca"] * c_in["Ca"]
    root = math.sqrt(a1 * a1 + 4 * a2 * a0)
    y = (a1 + root) / (2 * a2) if a1 >= 0 else 2 * a0 / (root - a1)  # no cancellation
    return -R * temperature / F * math.log(y)


@pytest.mark.parametrize("p_ca", [1e-10, 1e-8, 1e-6])
def test_ghk_voltage_calcium_matches_quadratic_closed_form(p_ca):
    P = {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9, "Ca": p_ca}
    reference = ghk_voltage_with_calcium(NEURON_IN, NEURON_OUT, P, T_BODY)
    V = analytic.ghk_voltage(NEURON_IN, NEURON_OUT, P, VALENCES, T_BODY)
    assert V == pytest.approx(reference, rel=2e-15, abs=0)  # measured 1.4e-16
    with pytest.raises(ValueError, match="ghk_voltage"):
        analytic.ghk_voltage_monovalent(NEURON_IN, NEURON_OUT, P, VALENCES, T_BODY)


@settings(max_examples=200, deadline=None)
@given(
    c_in=st.fixed_dictionaries(
        {"K": concentration, "Na": concentration, "Cl": concentration, "Ca": concentration}
    ),
    c_out=st.fixed_dictionaries(
        {"K": concentration, "Na": concentration, "Cl": concentration, "Ca": concentration}
    ),
    P=st.fixed_dictionaries(
        {"K": permeability, "Na": permeability, "Cl": permeability, "Ca": permeability}
    ),
)
def test_ghk_voltage_calcium_mixtures_match_quadratic(c_in, c_out, P):
    reference = ghk_voltage_with_calcium(c_in, c_out, P, T_BODY)
    V = analytic.ghk_voltage(c_in, c_out, P, VALENCES, T_BODY)
    assert V == pytest.approx(reference, rel=1e-12, abs=1e-12 * v_thermal(T_BODY))


def test_ghk_voltage_calcium_brute_force_scan():
    # Sign change of the textbook total current on a grid of step 10 uV (offset
    # by half a step so V = 0 is never hit): the root lies within that cell.
    P = {"K": 1e-8, "Na": 1e-9, "Ca": 5e-7}
    z = {"K": 1, "Na": 1, "Ca": 2}
    step = 1e-5
    V = -0.2 + (np.arange(40_000) + 0.5) * step
    total = sum(ghk_textbook(V, NEURON_IN[s], NEURON_OUT[s], z[s], P[s], T_BODY) for s in P)
    crossings = np.flatnonzero(np.diff(np.sign(total)))
    assert crossings.size == 1
    k = crossings[0]
    root = analytic.ghk_voltage(NEURON_IN, NEURON_OUT, P, z, T_BODY)
    assert V[k] <= root <= V[k + 1]
    # Ca2+ pulls the potential well above E_K.
    assert root > analytic.nernst(140, 5, 1, T_BODY) + 0.01


def test_ghk_voltage_ions_on_one_side_only():
    # K+ and Cl- both only inside, equal P: equal outward fluxes of + and -
    # charge carry no current at V = 0, though neither ion can carry current both ways.
    c_in, c_out = {"K": 100.0, "Cl": 100.0}, {"K": 0.0, "Cl": 0.0}
    P = {"K": 1e-8, "Cl": 1e-8}
    assert analytic.ghk_voltage_monovalent(c_in, c_out, P, MONOVALENT, T_BODY) == 0.0
    assert abs(analytic.ghk_voltage(c_in, c_out, P, MONOVALENT, T_BODY)) <= 1e-15 * v_thermal(
        T_BODY
    )
    # Ca2+ only outside, K+ only inside: still a root, found by widening the bracket.
    c_in, c_out = {"K": 1.0, "Ca": 0.0}, {"K": 0.0, "Ca": 1.0}
    P = {"K": 1e-8, "Ca": 1e-8}
    V = analytic.ghk_voltage(c_in, c_out, P, VALENCES, T_BODY)
    assert analytic.ghk_current(V, 1.0, 0.0, 1, 1e-8, T_BODY) == pytest.approx(
        -analytic.ghk_current(V, 0.0, 1.0, 2, 1e-8, T_BODY),
        rel=2e-15,
        abs=0,  # measured 0
    )


def test_ghk_voltage_without_root_raises():
    # K+ only inside and nothing else permeant: current is outward at every V.
    with pytest.raises(ValueError, match="no permeant ion can carry inward current"):
        analytic.ghk_voltage(
            {"K": 140.0, "Na": 12.0}, {"K": 0.0, "Na": 145.0}, {"K": 1e-8}, MONOVALENT, T_BODY
        )
    with pytest.raises(ValueError, match="one direction only"):
        analytic.ghk_voltage_monovalent({"K": 140.0}, {"K": 0.0}, {"K": 1e-8}, MONOVALENT, T_BODY)
    with pytest.raises(ValueError, match="no entry in c_out"):
        analytic.ghk_voltage({"K": 140.0}, {}, {"K": 1e-8}, MONOVALENT, T_BODY)


# --------------------------------------------------------------------------- Debye length

NACL = {"Na": 1, "Cl": -1}


@pytest.mark.parametrize("eps_r", [78.5, 80.0])
def test_debye_length_physiological_saline(eps_r):
    # 150 mM NaCl, 25 degC: 0.785 nm at eps_r 78.5, 0.793 at 80 (to the printed digits).
    debye = analytic.debye_length({"Na": 150.0, "Cl": 150.0}, NACL, eps_r, T_ROOM)
    assert debye == pytest.approx({78.5: 0.785e-9, 80.0: 0.793e-9}[eps_r], abs=0.0005e-9)


@pytest.mark.parametrize("molar", [1e-3, 1e-2, 0.1, 0.15, 1.0])
@pytest.mark.parametrize(
    ("valences", "stoichiometry"), [((1, -1), (1, 1)), ((2, -1), (1, 2)), ((2, -2), (1, 1))]
)
def test_debye_length_rule_of_thumb(molar, valences, stoichiometry):
    # Water at 25 degC (eps_r 78.4): lambda_D = 0.304 nm / sqrt(I / M); measured 3.9e-5
    # off (the rule's 3 digits happen to be that close).
    concentrations = [1000 * molar * n for n in stoichiometry]
    ionic = analytic.ionic_strength(concentrations, valences) / 1000  # mol/L
    debye = analytic.debye_length(concentrations, valences, 78.4, T_ROOM)
    assert debye == pytest.approx(0.304e-9 / math.sqrt(ionic), rel=4e-4, abs=0)


def test_debye_length_forms_and_ionic_strength():
    by_name = analytic.debye_length({"Ca": 10.0, "Cl": 20.0, "K": 5.0}, VALENCES, 80, T_BODY)
    by_order = analytic.debye_length([10.0, 20.0, 5.0], [2, -1, 1], 80, T_BODY)
    assert by_name == by_order
    ionic = analytic.ionic_strength([10.0, 20.0, 5.0], [2, -1, 1])
    assert by_name == pytest.approx(
        math.sqrt(EPS0 * 80 * R * T_BODY / (2 * F**2 * ionic)), rel=8 * EPS, abs=0
    )
    assert analytic.debye_length({"K": 0.0}, VALENCES, 80, T_BODY) == math.inf
    with pytest.raises(ValueError, match="no valence"):
        analytic.debye_length({"Zn": 1.0}, VALENCES, 80, T_BODY)


# --------------------------------------------------------------------------- Gouy–Chapman


def salt(c0: float, z: int) -> tuple[list[float], list[int]]:
    return [c0, c0], [z, -z]


@pytest.mark.parametrize("z", [1, 2])
@pytest.mark.parametrize("phi0", [-0.2, -0.01, 0.0, 0.025, 0.3, 1.0])
def test_gouy_chapman_boundary_values(z, phi0):
    debye = analytic.debye_length(*salt(100.0, z), 78.5, T_ROOM)
    # phi(0) = phi0: the formula reduces to (2RT/zF) * 2a, a few ulp of work.
    assert analytic.gouy_chapman(0.0, phi0, 100.0, z, 78.5, T_ROOM) == pytest.approx(
        phi0, rel=8 * EPS, abs=0
    )
    # Far away phi = (4RT/zF) artanh(g e^-x/lambda) ~ (4RT/zF) g e^-x/lambda: at 40 lambda
    # the artanh correction (g e^-40)^2/3 is far below round-off.
    gamma = math.tanh(z * phi0 / (4 * v_thermal(T_ROOM)))
    far = analytic.gouy_chapman(40 * debye, phi0, 100.0, z, 78.5, T_ROOM)
    assert far == pytest.approx(
        4 * v_thermal(T_ROOM) / z * gamma * math.exp(-40), rel=16 * EPS, abs=0
    )


def test_gouy_chapman_symmetries():
    x = np.linspace(0, 5e-9, 11)
    up = analytic.gouy_chapman(x, 0.08, 150.0, 1, 78.5, T_ROOM)
    np.testing.assert_array_equal(analytic.gouy_chapman(x, -0.08, 150.0, 1, 78.5, T_ROOM), -up)
    np.testing.assert_array_equal(analytic.gouy_chapman(x, 0.08, 150.0, -1, 78.5, T_ROOM), up)
    assert np.all(np.diff(up) < 0)  # monotone decay from the wall
    with pytest.raises(ValueError, match="x >= 0"):
        analytic.gouy_chapman(-1e-9, 0.08, 150.0, 1, 78.5, T_ROOM)


@pytest.mark.parametrize("a", [1e-4, 1e-3, 1e-2])
def test_gouy_chapman_debye_huckel_limit(a):
    # For a = zF phi0/(4RT) -> 0 the profile is the linear (Debye-Hückel) phi0 e^(-x/lambda):
    # with t = e^(-x/lambda), phi/(phi0 t) = 1 + (a^2/3)(t^2 - 1) + a^4 (2/15 - t^2/3 + t^4/5) + ...
    # The a^4 coefficient is at most 2/15 on 0 <= t <= 1; allow 0.2 a^4 plus 16 ulp.
    z, c0 = 1, 150.0
    phi0 = 4 * a * v_thermal(T_ROOM) / z
    debye = analytic.debye_length(*salt(c0, z), 78.5, T_ROOM)
    x = np.linspace(0, 10 * debye, 101)
    t = np.exp(-x / debye)
    ratio = analytic.gouy_chapman(x, phi0, c0, z, 78.5, T_ROOM) / (phi0 * t)
    np.testing.assert_array_less(np.abs(ratio - 1 - a**2 / 3 * (t**2 - 1)), 0.2 * a**4 + 16 * EPS)


@pytest.mark.parametrize(("z", "phi0"), [(1, 0.05), (1, -0.15), (2, 0.1)])
def test_gouy_chapman_solves_poisson_boltzmann(z, phi0):
    # eps0 eps_r phi'' = 2 z F c0 sinh(zF phi/RT), checked with the central
    # second difference (order 2) at steps h and h/2, h = lambda/200.
    c0, eps_r = 100.0, 78.5
    debye = analytic.debye_length(*salt(c0, z), eps_r, T_ROOM)
    for x in (0.5 * debye, debye, 3 * debye):
        phi = analytic.gouy_chapman(x, phi0, c0, z, eps_r, T_ROOM)
        exact = 2 * z * F * c0 / (EPS0 * eps_r) * math.sinh(z * phi / v_thermal(T_ROOM))

        def second_difference(h, x=x):
            left, mid, right = analytic.gouy_chapman(
                np.array([x - h, x, x + h]), phi0, c0, z, eps_r, T_ROOM
            )
            return (left - 2 * mid + right) / h**2

        h = debye / 200
        coarse, fine = second_difference(h), second_difference(h / 2)
        roundoff = 4 * 8 * EPS * abs(phi0) / (h / 2) ** 2
        assert abs(fine - exact) <= richardson_bound(coarse, fine, 2) + roundoff


@pytest.mark.parametrize(("z", "phi0"), [(1, 0.025), (1, -0.1), (2, 0.06), (3, -0.05)])
def test_grahame_equals_field_at_wall(z, phi0):
    # sigma = -eps0 eps_r phi'(0), phi' by the one-sided second-order stencil
    # (-3 phi(0) + 4 phi(h) - phi(2h)) / (2h) at h and h/2, h = lambda/1000.
    c0, eps_r = 150.0, 78.5
    debye = analytic.debye_length(*salt(c0, z), eps_r, T_ROOM)

    def slope(h):
        p0, p1, p2 = analytic.gouy_chapman(np.array([0.0, h, 2 * h]), phi0, c0, z, eps_r, T_ROOM)
        return (-3 * p0 + 4 * p1 - p2) / (2 * h)

    h = debye / 1000
    coarse, fine = -EPS0 * eps_r * slope(h), -EPS0 * eps_r * slope(h / 2)
    sigma = analytic.grahame(phi0, *salt(c0, z), eps_r, T_ROOM)
    roundoff = EPS0 * eps_r * 8 * 8 * EPS * abs(phi0) / (h / 2)
    assert abs(fine - sigma) <= richardson_bound(coarse, fine, 2) + roundoff


@pytest.mark.parametrize(("z", "phi0"), [(1, 0.05), (2, -0.08)])
def test_double_layer_charge_balances_wall_charge(z, phi0):
    # The diffuse charge F sum z_i c_i(x) integrated from the wall to the bulk is -sigma.
    # Beyond 60 lambda the charge left is ~e^-60 of it; quad reports its own error.
    c0, eps_r = 100.0, 78.5
    debye = analytic.debye_length(*salt(c0, z), eps_r, T_ROOM)

    def charge_density(xi):
        c_plus = analytic.gouy_chapman_concentration(xi * debye, phi0, c0, z, z, eps_r, T_ROOM)
        c_minus = analytic.gouy_chapman_concentration(xi * debye, phi0, c0, -z, z, eps_r, T_ROOM)
        return F * z * (c_plus - c_minus)

    integral, abserr = quad(charge_density, 0, 60, epsabs=0, epsrel=1e-12, limit=200)
    sigma = analytic.grahame(phi0, *salt(c0, z), eps_r, T_ROOM)
    tail = abs(sigma) * math.exp(-60)
    assert abs(integral * debye + sigma) <= (abserr + 64 * EPS * abs(integral)) * debye + tail


def test_gouy_chapman_concentration_is_boltzmann():
    x = np.linspace(0, 5e-9, 6)
    phi = analytic.gouy_chapman(x, -0.06, 150.0, 1, 78.5, T_ROOM)
    c_k = analytic.gouy_chapman_concentration(x, -0.06, 150.0, 1, 1, 78.5, T_ROOM)
    np.testing.assert_allclose(c_k, 150.0 * np.exp(-phi / v_thermal(T_ROOM)), rtol=4 * EPS, atol=0)
    # Counter-ions accumulate at a negative wall; the product c+ c- stays c0^2.
    c_cl = analytic.gouy_chapman_concentration(x, -0.06, 150.0, -1, 1, 78.5, T_ROOM)
    assert c_k[0] > 150.0 > c_cl[0]
    np.testing.assert_allclose(c_k * c_cl, 150.0**2, rtol=8 * EPS)


# --------------------------------------------------------------------------- Grahame


@pytest.mark.parametrize("z", [1, 2, 3])
def test_grahame_symmetric_salt_closed_form(z):
    # sum_i c (e^(-z_i u) - 1) = 4 c sinh^2(zu/2): the mixture form is the z:z form.
    c0, eps_r = 120.0, 78.5
    phi0 = np.concatenate([-np.logspace(-12, 0, 25), [0.0], np.logspace(-12, 0, 25)]) / z
    sigma = analytic.grahame(phi0, *salt(c0, z), eps_r, T_ROOM)
    symmetric = np.sqrt(8 * EPS0 * eps_r * R * T_ROOM * c0) * np.sinh(
        z * F * phi0 / (2 * R * T_ROOM)
    )
    np.testing.assert_allclose(sigma, symmetric, rtol=1e-12, atol=0)


def test_grahame_small_potential_symmetric():
    # sigma / (eps0 eps_r phi0 / lambda_D) = sinh(y)/y = 1 + y^2/6 + y^4/120 + ..., y = zu/2;
    # the remainder after y^2/6 is below y^4/100 for |y| < 1.
    c0, eps_r, z = 150.0, 78.5, 1
    debye = analytic.debye_length(*salt(c0, z), eps_r, T_ROOM)
    for phi0 in (1e-6, -1e-4, 1e-3, -1e-2):
        y = z * phi0 / (2 * v_thermal(T_ROOM))
        ratio = analytic.grahame(phi0, *salt(c0, z), eps_r, T_ROOM) / (EPS0 * eps_r * phi0 / debye)
        assert abs(ratio - 1 - y**2 / 6) <= y**4 / 100 + 16 * EPS


@pytest.mark.parametrize("u", [-1e-2, -1e-3, -1e-5, 1e-7, 1e-4, 1e-2])
def test_grahame_small_potential_asymmetric_salt(u):
    # CaCl2 (z = 2, -1; c, 2c): sum c_i (e^(-z_i u) - 1) = (u^2/2)(S - u T3/3 + u^2 T4/12 - ...),
    # S = sum z^2 c = 6c, T3 = sum z^3 c = 6c, T4 = 18c, so
    # sigma/(eps0 eps_r phi0/lambda_D) = sqrt(1 - u/3 + u^2/4 - ...) = 1 - u/6 + u^2/9 + O(u^3).
    # Check through second order; the rest is below u^3 for |u| <= 0.01. Round-off: the
    # series keeps full precision, so 16 ulp.
    c, eps_r = 10.0, 78.5
    concentrations, valences = {"Ca": c, "Cl": 2 * c}, {"Ca": 2, "Cl": -1}
    phi0 = u * v_thermal(T_ROOM)
    debye = analytic.debye_length(concentrations, valences, eps_r, T_ROOM)
    ratio = analytic.grahame(phi0, concentrations, valences, eps_r, T_ROOM) / (
        EPS0 * eps_r * phi0 / debye
    )
    assert abs(ratio - (1 - u / 6 + u**2 / 9)) <= abs(u) ** 3 + 16 * EPS


def naive_grahame(phi0, concentrations, valences, eps_r, temperature):
    u = phi0 * F / (R * temperature)
    total = sum(c * (math.exp(-z * u) - 1) for c, z in zip(concentrations, valences, strict=True))
    return math.copysign(math.sqrt(2 * EPS0 * eps_r * R * temperature * total), phi0)


@settings(max_examples=200, deadline=None)
@given(
    nacl=st.floats(min_value=1.0, max_value=500.0),
    cacl2=st.floats(min_value=0.0, max_value=100.0),
    u=st.one_of(
        st.floats(min_value=0.1, max_value=20.0), st.floats(min_value=-20.0, max_value=-0.1)
    ),
)
def test_grahame_mixture_matches_textbook_sum(nacl, cacl2, u):
    # |u| >= 0.1: the textbook sum of e^-zu - 1 cancels at most by ~1/u^2 = 100,
    # so it is good to ~1e-13; 1e-12 is the identity tolerance.
    concentrations = [nacl, cacl2, nacl + 2 * cacl2]
    valences = [1, 2, -1]
    phi0 = u * v_thermal(T_BODY)
    sigma = analytic.grahame(phi0, concentrations, valences, 80.0, T_BODY)
    assert sigma == pytest.approx(
        naive_grahame(phi0, concentrations, valences, 80.0, T_BODY),
        rel=4e-14,
        abs=0,  # measured 3.6e-15
    )
    assert np.sign(sigma) == np.sign(phi0)


def test_grahame_rejects_charged_bath():
    with pytest.raises(ValueError, match="electroneutral"):
        analytic.grahame(0.05, {"Na": 150.0, "Cl": 140.0}, NACL, 78.5, T_ROOM)


# --------------------------------------------------------------------------- capacitance


def test_diffuse_layer_capacitance_at_zero_is_debye_capacitor():
    for concentrations, valences in (salt(150.0, 1), ([10.0, 20.0, 5.0, 5.0], [2, -1, 1, -1])):
        debye = analytic.debye_length(concentrations, valences, 78.5, T_ROOM)
        expected = EPS0 * 78.5 / debye
        capacitance = analytic.diffuse_layer_capacitance(concentrations, valences, 78.5, T_ROOM)
        assert capacitance == pytest.approx(expected, rel=8 * EPS, abs=0)
        # Continuous through 0: first-order relative change is u T3/(3S), |T3|/S <= 2 here.
        for phi0 in (1e-300, -1e-120, 1e-12, -1e-8):
            u = phi0 / v_thermal(T_ROOM)
            near = analytic.diffuse_layer_capacitance(concentrations, valences, 78.5, T_ROOM, phi0)
            assert abs(near / expected - 1) <= abs(u) + 16 * EPS


@pytest.mark.parametrize("z", [1, 2])
def test_diffuse_layer_capacitance_symmetric_closed_form(z):
    # d/dphi0 of sqrt(8 eps RT c0) sinh(zu/2) = (eps0 eps_r/lambda_D) cosh(zu/2).
    c0, eps_r = 150.0, 78.5
    phi0 = np.linspace(-0.2, 0.2, 41)
    debye = analytic.debye_length(*salt(c0, z), eps_r, T_ROOM)
    capacitance = analytic.diffuse_layer_capacitance(*salt(c0, z), eps_r, T_ROOM, phi0)
    expected = EPS0 * eps_r / debye * np.cosh(z * phi0 / (2 * v_thermal(T_ROOM)))
    np.testing.assert_allclose(capacitance, expected, rtol=5e-15, atol=0)  # measured 5.2e-16


@pytest.mark.parametrize("phi0", [-0.1, -0.01, 0.0, 0.02, 0.1])
def test_diffuse_layer_capacitance_is_derivative_of_grahame(phi0):
    # Central difference of sigma(phi0) (order 2) at h = V_T/200 and h/2.
    concentrations, valences = [10.0, 20.0, 100.0, 100.0], [2, -1, 1, -1]
    capacitance = analytic.diffuse_layer_capacitance(concentrations, valences, 78.5, T_ROOM, phi0)

    def central(h):
        low, high = analytic.grahame(
            np.array([phi0 - h, phi0 + h]), concentrations, valences, 78.5, T_ROOM
        )
        return (high - low) / (2 * h)

    h = v_thermal(T_ROOM) / 200
    coarse, fine = central(h), central(h / 2)
    sigma_scale = abs(analytic.grahame(abs(phi0) + h, concentrations, valences, 78.5, T_ROOM))
    roundoff = 8 * EPS * sigma_scale / h
    assert abs(fine - capacitance) <= richardson_bound(coarse, fine, 2) + roundoff


def test_membrane_capacitance_textbook():
    # 5 nm of eps_r 5.65 is the textbook 1 uF/cm^2 = 0.01 F/m^2 (0.885 nm per unit eps_r).
    assert analytic.membrane_capacitance(5.65, 5e-9) == pytest.approx(0.01, rel=1e-3)
    assert analytic.membrane_capacitance(2.0, 5e-9) == pytest.approx(
        2 * EPS0 / 5e-9, rel=2 * EPS, abs=0
    )


def test_series_capacitance():
    assert analytic.series_capacitance(2.0, 2.0) == 1.0
    assert analytic.series_capacitance(3e-3) == 3e-3
    assert analytic.series_capacitance(1.0, math.inf) == 1.0
    assert analytic.series_capacitance(1.0, 0.0) == 0.0
    values = (3e-3, 0.9, 0.4)
    combined = analytic.series_capacitance(*values)
    assert combined == analytic.series_capacitance(*reversed(values))
    assert combined < min(values)
    assert 1 / combined == pytest.approx(sum(1 / v for v in values), rel=4 * EPS, abs=0)
    with pytest.raises(ValueError):
        analytic.series_capacitance()
    with pytest.raises(ValueError):
        analytic.series_capacitance(1.0, -1.0)


def test_membrane_series_capacitance():
    # 1/C = d/(eps0 eps_m) + lambda_in/(eps0 eps_in) + lambda_out/(eps0 eps_out).
    c_in = {"K": 140.0, "Na": 12.0, "Cl": 10.0, "X": 142.0}
    c_out = {"K": 5.0, "Na": 145.0, "Cl": 150.0}
    debye_in = math.sqrt(EPS0 * 80 * R * T_BODY / (F**2 * 2 * 152.0))
    debye_out = math.sqrt(EPS0 * 78 * R * T_BODY / (F**2 * 2 * 150.0))
    expected = EPS0 / (5e-9 / 2 + debye_in / 80 + debye_out / 78)
    capacitance = analytic.membrane_series_capacitance(
        2, 5e-9, c_in, c_out, VALENCES, 80, 78, T_BODY
    )
    assert capacitance == pytest.approx(expected, rel=16 * EPS, abs=0)
    assert capacitance < analytic.membrane_capacitance(2, 5e-9)


# --------------------------------------------------------------------------- Donnan


def donnan_ratio_1to1(c: float, rho: float) -> float:
    """c r - c/r + rho = 0, i.e. r = (-rho + sqrt(rho^2 + 4c^2))/(2c), in its stable form."""
    root = math.hypot(rho, 2 * c)
    return (root - rho) / (2 * c) if rho <= 0 else 2 * c / (root + rho)


@pytest.mark.parametrize("rho", [-1e4, -142.0, -1.0, -1e-6, 0.0, 1e-3, 50.0, 1e3])
@pytest.mark.parametrize("c", [1.0, 100.0])
def test_donnan_kcl_closed_form(c, rho):
    result = analytic.donnan(
        {"K": c, "Cl": c}, VALENCES, rho, T_BODY, impermeant_concentration=abs(rho)
    )
    r = donnan_ratio_1to1(c, rho)
    # r carries ~1 ulp per unit of |ln r| from the root and the exp: 1e-12 is the identity bound.
    assert result["ratio"] == pytest.approx(r, rel=2e-15, abs=0)  # measured 2.2e-16
    assert result["potential"] == pytest.approx(
        -v_thermal(T_BODY) * math.log(r), rel=1e-12, abs=1e-15 * v_thermal(T_BODY)
    )
    k_in, cl_in = result["inside"]["K"], result["inside"]["Cl"]
    # Donnan product: K_in Cl_in = K_out Cl_out (r * 1/r).
    assert k_in * cl_in == pytest.approx(c * c, rel=8 * EPS * (1 + abs(math.log(r))), abs=0)
    # Electroneutral inside, to round-off of the charges present.
    assert abs(k_in - cl_in + rho) <= 16 * EPS * (k_in + cl_in + abs(rho)) * (1 + abs(math.log(r)))
    # Osmotic excess of the ions: c (r + 1/r) - 2c = sqrt(rho^2 + 4 c^2) - 2c = rho^2 / (sqrt(.) + 2c).
    ion_excess = rho**2 / (math.hypot(rho, 2 * c) + 2 * c)
    assert result["osmotic_excess"] == pytest.approx(
        ion_excess + abs(rho), rel=2e-15, abs=0
    )  # measured 2.2e-16
    # Negative fixed charge: inside negative, K+ gathered, Cl- expelled.
    assert np.sign(result["potential"]) == np.sign(rho)


def test_donnan_potential_is_every_ions_nernst_potential():
    bath = {"K": 5.0, "Na": 145.0, "Cl": 154.0, "Ca": 2.0}
    result = analytic.donnan(bath, VALENCES, -142.0, T_BODY)
    for name, c_out in bath.items():
        E = analytic.nernst(result["inside"][name], c_out, VALENCES[name], T_BODY)
        assert E == pytest.approx(result["potential"], rel=3e-15, abs=0)  # measured 3.0e-16
    assert result["potential"] < 0


def test_donnan_cacl2_by_substitution():
    # Ca 10 mM, Cl 20 mM: 2 c r^2 - 2c/r + rho = 0 for r, and Ca_in Cl_in^2 = Ca_out Cl_out^2.
    c, rho = 10.0, -50.0
    result = analytic.donnan({"Ca": c, "Cl": 2 * c}, VALENCES, rho, T_BODY)
    r = result["ratio"]
    ca_in, cl_in = result["inside"]["Ca"], result["inside"]["Cl"]
    residual = 2 * c * r**2 - 2 * c / r + rho
    assert abs(residual) <= 16 * EPS * (2 * c * r**2 + 2 * c / r + abs(rho))
    assert ca_in == pytest.approx(c * r**2, rel=4 * EPS, abs=0)
    assert cl_in == pytest.approx(2 * c / r, rel=4 * EPS, abs=0)
    assert ca_in * cl_in**2 == pytest.approx(c * (2 * c) ** 2, rel=32 * EPS)
    assert abs(2 * ca_in - cl_in + rho) <= 16 * EPS * (2 * ca_in + cl_in + abs(rho))
    assert result["potential"] == pytest.approx(
        -v_thermal(T_BODY) * math.log(r), rel=2 * EPS, abs=0
    )


@settings(max_examples=300, deadline=None)
@given(
    k=st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=500.0)),
    na=st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=500.0)),
    ca=st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=50.0)),
    rho=st.floats(min_value=-1e3, max_value=1e3),
)
def test_donnan_mixtures_are_electroneutral_and_boltzmann(k, na, ca, rho):
    bath = {"K": k, "Na": na, "Ca": ca, "Cl": k + na + 2 * ca}
    if bath["Cl"] == 0:
        bath["Cl"] = 1.0
        bath["K"] = 1.0
    result = analytic.donnan(bath, VALENCES, rho, T_BODY)
    inside, r = result["inside"], result["ratio"]
    s = math.log(r)
    charges = [VALENCES[n] * inside[n] for n in bath]
    # s is found to ~4 ulp and each c_in = c e^(z s) adds |z s| ulp: bound by 16 ulp (1 + 2|s|).
    assert abs(math.fsum(charges) + rho) <= 16 * EPS * (1 + 2 * abs(s)) * (
        math.fsum(map(abs, charges)) + abs(rho)
    )
    for name, c_out in bath.items():
        assert inside[name] == pytest.approx(
            c_out * r ** VALENCES[name], rel=16 * EPS * (1 + 2 * abs(s)), abs=0
        )
    assert result["osmotic_excess"] >= -16 * EPS * sum(
        bath.values()
    )  # the Donnan excess is never negative


def test_donnan_extreme_ratio_stays_finite():
    # 1e-300 mM of Na+ against 1 mM of fixed anions: r = 1e300, near the float limit.
    # Nothing overflows and the inside is still neutral. r is as precise as s = ln r
    # (~690), found to 4 ulp relative: 6e-13, within the 1e-12 identity tolerance.
    result = analytic.donnan({"Na": 1e-300, "Cl": 1e-300}, VALENCES, -1.0, T_BODY)
    assert result["ratio"] == pytest.approx(1e300, rel=2.5e-13, abs=0)  # measured 2.4e-14
    assert result["inside"]["Na"] == pytest.approx(1.0, rel=2.5e-13, abs=0)  # measured 2.4e-14
    assert result["osmotic_excess"] == pytest.approx(1.0, rel=2.5e-13, abs=0)  # measured 2.4e-14


def test_donnan_neutral_compartment_is_the_bath():
    bath = {"K": 5.0, "Na": 145.0, "Cl": 150.0}
    result = analytic.donnan(bath, VALENCES, 0.0, T_BODY)
    assert result["ratio"] == 1.0
    assert result["potential"] == 0.0
    assert result["inside"] == bath
    assert result["osmotic_excess"] == 0.0


def test_donnan_with_impermeant_bath_ion():
    # Na+ cannot enter: inside only K+ and Cl- balance the fixed charge, as in a 1:1 salt
    # whose cation concentration is K and anion Cl: K r - Cl/r + rho = 0.
    bath = {"K": 20.0, "Na": 130.0, "Cl": 150.0}
    rho = -100.0
    result = analytic.donnan(
        bath, VALENCES, rho, T_BODY, permeant=["K", "Cl"], impermeant_concentration=100.0
    )
    r = (-rho + math.sqrt(rho**2 + 4 * 20.0 * 150.0)) / (2 * 20.0)
    assert result["ratio"] == pytest.approx(r, rel=2e-15, abs=0)  # measured 1.4e-16
    assert result["inside"]["Na"] == 0.0
    # Counted: ions inside + 100 mM of X, minus everything in the bath (Na included).
    total_inside = result["inside"]["K"] + result["inside"]["Cl"] + 100.0
    assert result["osmotic_excess"] == pytest.approx(
        total_inside - sum(bath.values()), rel=8e-15, abs=0
    )  # measured 8.3e-16


def test_donnan_without_solution_raises():
    with pytest.raises(ValueError, match="no Donnan equilibrium"):
        analytic.donnan({"K": 10.0, "Cl": 10.0}, VALENCES, 5.0, T_BODY, permeant=["K"])
    with pytest.raises(ValueError, match="electroneutral"):
        analytic.donnan({"K": 10.0, "Cl": 5.0}, VALENCES, -5.0, T_BODY)
    with pytest.raises(ValueError, match="not in the bath"):
        analytic.donnan({"K": 10.0, "Cl": 10.0}, VALENCES, -5.0, T_BODY, permeant=["Na"])
