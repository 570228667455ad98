"""Gate kinetics (pnp.discretisation.gates): the Hodgkin–Huxley rates and the three forms.

The references are the rate formulas written out here with the math module
(the 1952 squid-axon set, modern convention), their limits at the removable
singularities, and textbook steady-state gates at rest (-65 mV).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnp.discretisation.gates import (
    HH_REFERENCE_TEMPERATURE,
    HODGKIN_HUXLEY,
    Rate,
    steady_state,
    temperature_factor,
)

FORMULAS = {
    "m": (
        lambda v: 0.1 * (v + 40) / (1 - math.exp(-(v + 40) / 10)),
        lambda v: 4 * math.exp(-(v + 65) / 18),
    ),
    "h": (
        lambda v: 0.07 * math.exp(-(v + 65) / 20),
        lambda v: 1 / (1 + math.exp(-(v + 35) / 10)),
    ),
    "n": (
        lambda v: 0.01 * (v + 55) / (1 - math.exp(-(v + 55) / 10)),
        lambda v: 0.125 * math.exp(-(v + 65) / 80),
    ),
}
# away from the singular points -40 and -55 mV, where the formulas divide 0 by 0
GRID = [v for v in np.linspace(-120.0, 60.0, 181) if abs(v + 40) > 0.5 and abs(v + 55) > 0.5]


@pytest.mark.parametrize("gate", ["m", "h", "n"])
def test_hodgkin_huxley_rates_are_the_1952_formulas(gate):
    # the same expressions in numpy and in math: round-off (measured <= 8.9e-16 relative)
    for rate, formula in zip(HODGKIN_HUXLEY[gate], FORMULAS[gate], strict=True):
        values, _ = rate(GRID)
        expected = [formula(v) for v in GRID]
        np.testing.assert_allclose(values, expected, rtol=2e-15, atol=0)


def test_removable_singularities_are_their_limits():
    alpha_m, alpha_n = HODGKIN_HUXLEY["m"][0], HODGKIN_HUXLEY["n"][0]
    assert alpha_m(-40.0)[0] == 1.0 and alpha_n(-55.0)[0] == 0.1
    assert alpha_m(-40.0)[1] == pytest.approx(0.05, rel=1e-15)  # rate * g'(0) = 0.1 / 2
    # near the point: rate*slope*(1 + x/2 + x^2/12) (series of x / (1 - e^-x), x = dv/10)
    for dv in (1e-9, -1e-9, 1e-6, -1e-6, 1e-3, -1e-3):
        x = dv / 10
        assert alpha_m(-40.0 + dv)[0] == pytest.approx(1 + x / 2 + x * x / 12, rel=1e-13)


@pytest.mark.parametrize("gate", ["m", "h", "n"])
def test_derivatives_match_central_differences(gate):
    # step 1e-4 mV: truncation ~1e-9 relative, round-off ~1e-12
    v = np.array([-100.0, -65.0, -55.0, -40.0, -40.0005, -35.0, 0.0, 40.0])
    for rate in HODGKIN_HUXLEY[gate]:
        _, d = rate(v)
        fd = (rate(v + 1e-4)[0] - rate(v - 1e-4)[0]) / 2e-4
        np.testing.assert_allclose(d, fd, rtol=1e-8, atol=1e-14)


def test_steady_gates_at_rest_are_the_textbook_values():
    # m_inf, h_inf, n_inf at -65 mV: 0.0529, 0.5961, 0.3177 (4 digits, as tabulated)
    expected = {"m": 0.0529, "h": 0.5961, "n": 0.3177}
    for gate, value in expected.items():
        x_inf, tau = steady_state(*HODGKIN_HUXLEY[gate], -65.0)
        assert x_inf == pytest.approx(value, abs=5e-5), gate
        a, b = (f(-65.0) for f in FORMULAS[gate])
        assert tau == pytest.approx(1 / (a + b), rel=1e-14)
        assert steady_state(*HODGKIN_HUXLEY[gate], -65.0, phi_t=3.0)[1] == pytest.approx(tau / 3)


def test_temperature_factor():
    assert temperature_factor(HH_REFERENCE_TEMPERATURE) == 1.0
    assert temperature_factor(HH_REFERENCE_TEMPERATURE + 10) == pytest.approx(3.0, rel=1e-15)
    # 37 degC: 3^(30.7/10) = 29.2
    assert temperature_factor(310.15) == pytest.approx(3**3.07, rel=1e-14)
    with pytest.raises(ValueError, match="q10"):
        temperature_factor(310.15, q10=0.0)


def test_extreme_potentials_stay_finite():
    v = np.array([-1e4, -800.0, 800.0, 1e4])
    for gate in ("m", "h", "n"):
        for rate in HODGKIN_HUXLEY[gate]:
            value, d = rate(v)
            assert np.all(np.isfinite(d)) and np.all(value >= 0) and not np.any(np.isnan(value))


def test_forms_are_validated():
    with pytest.raises(ValueError, match="unknown rate form"):
        Rate("cubic", 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="slope"):
        Rate("sigmoid", 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="rate must be >= 0"):
        Rate("exponential", -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        Rate("linoid", 1.0, math.nan, 1.0)
