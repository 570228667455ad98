"""Osmotic coefficients consistent with the activity models (issue 14: Π = φ R T Σ c).

`pnp.discretisation.activity.osmotic_coefficient` is the Gibbs–Duhem integral
of each model's ln γ in closed form. Checked against the same integral done
numerically (scipy quad of ln γ along the dilution path, by parts:
(φ - 1) c_tot = Σ_i c_i [ln γ_i(I) - ∫_0^1 ln γ_i(λ I) dλ], no closed form
involved), the limiting law written out here from the physical constants,
and measured NaCl.
"""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest
from scipy import constants
from scipy.integrate import quad

from pnp.discretisation.activity import _sigma, ln_gamma, osmotic_coefficient


def gibbs_duhem(model, c, z, temperature, eps_r, size=None) -> float:
    """φ by numerical quadrature of Gibbs–Duhem along c_i = λ c_i° (c in mol/m^3)."""
    c = np.asarray(c, dtype=float) / 1000.0  # mol/L
    z = np.asarray(z, dtype=float)
    strength = 0.5 * float(np.sum(z * z * c))
    total = 0.0
    for i in range(c.size):

        def lng(lam, i=i):
            return ln_gamma(model, z, lam * strength, temperature, eps_r, size)[i]

        integral, _ = quad(lng, 0.0, 1.0, epsabs=0.0, epsrel=1e-13, limit=200)
        total += c[i] * (lng(1.0) - integral)
    return 1.0 + total / c.sum()


MIXTURES = [
    ("NaCl 150 mM", [150.0, 150.0], [1, -1], [4.5e-10, 3.5e-10]),
    ("CaCl2 5 mM", [5.0, 10.0], [2, -1], [6e-10, 3e-10]),
    ("MgSO4 100 mM", [100.0, 100.0], [2, -2], [8e-10, 4e-10]),
    (
        "cytoplasm with X- and glucose",
        [140.0, 12.0, 10.0, 142.0, 5.0],
        [1, 1, -1, -1, 0],
        [3e-10, 4.5e-10, 3.5e-10, 5e-10, np.nan],
    ),
    ("dilute 1 uM", [1e-3, 1e-3], [1, -1], [4e-10, 4e-10]),
]


@pytest.mark.parametrize("model", ["debye-huckel", "extended-debye-huckel", "davies"])
@pytest.mark.parametrize("label, c, z, size", MIXTURES, ids=[m[0] for m in MIXTURES])
def test_osmotic_coefficient_is_the_gibbs_duhem_integral_of_ln_gamma(model, label, c, z, size):
    # quadrature to 1e-13 relative of terms of order phi - 1: agreement to ~1e-14
    # (measured at most 2.2e-14)
    kwargs = {"size": size} if model == "extended-debye-huckel" else {}
    for temperature, eps_r in [(298.15, 78.5), (310.15, 74.2)]:
        phi = osmotic_coefficient(model, c, z, temperature, eps_r, **kwargs)
        ref = gibbs_duhem(model, c, z, temperature, eps_r, **kwargs)
        assert phi == pytest.approx(ref, rel=0, abs=1e-13), (label, model)
        assert phi < 1.0 or model == "davies"  # Davies turns up at high strength


def test_limiting_law_of_a_one_one_salt():
    """phi = 1 - (A ln 10 / 3) sqrt(I), A from the constants: A ln 10 = e^2 kappa / (8 pi eps kT sqrt(I))."""
    temperature, eps_r = 298.15, 78.5
    eps_kt = constants.epsilon_0 * eps_r * constants.k * temperature
    for molar in (1e-4, 1e-2, 0.15):
        kappa = math.sqrt(2 * constants.e**2 * constants.N_A * molar * 1000.0 / eps_kt)
        alpha = constants.e**2 * kappa / (8 * math.pi * eps_kt * math.sqrt(molar))
        expected = 1.0 - alpha * math.sqrt(molar) / 3.0
        got = osmotic_coefficient("debye-huckel", [1000 * molar] * 2, [1, -1], temperature, eps_r)
        assert got == pytest.approx(expected, rel=1e-12)


def test_davies_is_near_measured_sodium_chloride():
    """NaCl at 0.15 mol/kg, 25 degC: measured phi ~ 0.928 (0.932 at 0.1, 0.925 at 0.2);
    Davies 0.934 (the model's own error at this strength, ~0.006, not the code's)."""
    phi = osmotic_coefficient("davies", [150.0, 150.0], [1, -1], 298.15, 78.5)
    assert abs(phi - 0.928) < 0.01
    assert osmotic_coefficient("davies", [150.0, 150.0], [1, -1], 310.15, 74.2) == pytest.approx(
        0.933, abs=0.001
    )


def test_ideal_neutral_and_empty_solutions():
    assert osmotic_coefficient("ideal", [150.0, 150.0], [1, -1], 298.15) == 1.0
    assert osmotic_coefficient("davies", [10.0], [0], 298.15) == 1.0
    assert osmotic_coefficient("davies", [0.0, 0.0], [1, -1], 298.15) == 1.0
    # a neutral solute dilutes the ions' deficit: phi - 1 scales with the ions' share
    ions = osmotic_coefficient("davies", [100.0, 100.0], [1, -1], 298.15)
    mixed = osmotic_coefficient("davies", [100.0, 100.0, 200.0], [1, -1, 0], 298.15)
    assert mixed - 1.0 == pytest.approx(0.5 * (ions - 1.0), rel=1e-14)


def _sigma_exact(x: str) -> float:
    """sigma(x) in 50-digit decimal arithmetic (no cancellation left to speak of)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        d = decimal.Decimal(x)
        one = decimal.Decimal(1)
        return float(3 / d**3 * (one + d - one / (one + d) - 2 * (one + d).ln()))


@pytest.mark.parametrize("x", ["1e-6", "1e-3", "0.0499999", "0.05", "0.3", "1", "7"])
def test_sigma_to_round_off_on_both_sides_of_the_switch(x):
    # series below 0.05 (12 terms: < 1e-16), closed form above, where its cancellation
    # costs at most ~3 eps / x^3 relative (3e-12 at 0.05; measured 2.2e-12)
    value = float(x)
    tol = 1e-15 if value < 0.05 else max(1e-15, 3 * 2.2e-16 / value**3 * 1.1)
    assert _sigma(value) == pytest.approx(_sigma_exact(x), rel=tol)
    assert _sigma(0.0) == 1.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="aligned"):
        osmotic_coefficient("davies", [1.0, 2.0], [1], 298.15)
    with pytest.raises(ValueError, match=">= 0"):
        osmotic_coefficient("davies", [-1.0], [1], 298.15)
    with pytest.raises(ValueError, match="unknown activity model"):
        osmotic_coefficient("pitzer", [1.0], [1], 298.15)
    with pytest.raises(ValueError, match="ion size"):
        osmotic_coefficient("extended-debye-huckel", [1.0, 1.0], [1, -1], 298.15)
