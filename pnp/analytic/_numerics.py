"""Numerical helpers shared by the closed forms of :mod:`pnp.analytic`.

Root-finding tolerances, the electroneutrality check of a bath, and the
overflow- and cancellation-safe B(x) = x/(e^x - 1), e^y - 1 - y and its
logarithm.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Root finds below work in units of the thermal voltage (v = V/V_T, s = ln r),
# where the answers are O(1): an absolute tolerance of 1e-15 there is ~1e-17 V.
_ROOT_XTOL = 1e-15
_ROOT_RTOL = 4 * np.finfo(float).eps
_ROOT_MAXITER = 200

# Same tolerance as the case loader applies to reservoirs (docs/interface.md, section
# "Case files", electroneutrality).
_NEUTRALITY_RTOL = 1e-6

# exp(x) overflows a float from here on (x = 709.78).
_EXP_SAFE = math.log(np.finfo(float).max)


def _scalar_or_array(value: NDArray[np.floating]) -> float | NDArray[np.floating]:
    """A 0-d result as a Python float, anything else as an array."""
    return float(value) if np.ndim(value) == 0 else value


def _check_neutral(c: NDArray[np.floating], z: NDArray[np.floating], what: str) -> None:
    charge = float(np.sum(z * c))
    scale = float(np.sum(np.abs(z) * c))
    if abs(charge) > _NEUTRALITY_RTOL * scale:
        raise ValueError(
            f"{what} must be electroneutral: sum z_i c_i = {charge:.6g} mol/m^3 "
            f"(relative {charge / scale:.2g}, allowed {_NEUTRALITY_RTOL:g})"
        )


def _bernoulli(x: ArrayLike) -> NDArray[np.floating]:
    """B(x) = x / (exp(x) - 1), stable for every finite x, B(0) = 1.

    For x > 0 the equivalent x exp(-x) / (1 - exp(-x)) is used, so nothing
    overflows however large |x| is; ``expm1`` keeps full precision near 0.
    """
    x = np.asarray(x, dtype=float)
    out = np.ones_like(x)
    positive = x > 0
    negative = x < 0
    xp = x[positive]
    out[positive] = xp * np.exp(-xp) / -np.expm1(-xp)
    xn = x[negative]
    out[negative] = xn / np.expm1(xn)
    return out


# Taylor coefficients 1/n!, n = 2..17, of exp(y) - 1 - y: for |y| <= 1/2 the
# first omitted term is below 1e-17 of the sum.
_EXPM1_MINUS_Y_COEFFS = tuple(1.0 / math.factorial(n) for n in range(2, 18))


def _expm1_minus_y(y: ArrayLike) -> NDArray[np.floating]:
    """exp(y) - 1 - y to full relative precision (a series where it cancels)."""
    y = np.asarray(y, dtype=float)
    small = np.abs(y) <= 0.5
    # Each branch sees only its own arguments (harmless stand-ins elsewhere),
    # so neither the series nor expm1 can overflow where it is not used.
    y_small = np.where(small, y, 0.0)
    y_large = np.where(small, 1.0, y)
    series = np.zeros_like(y)
    for coefficient in reversed(_EXPM1_MINUS_Y_COEFFS):
        series = series * y_small + coefficient
    return np.where(small, y_small * y_small * series, np.expm1(y_large) - y_large)


def _expm1_minus_y_over_y2(y: float) -> float:
    """(exp(y) - 1 - y) / y^2 for a scalar |y| <= 1/2, by its Taylor series (1/2 at y = 0)."""
    series = 0.0
    for coefficient in reversed(_EXPM1_MINUS_Y_COEFFS):
        series = series * y + coefficient
    return series


def _log_expm1_minus_y(y: float) -> float:
    """ln(exp(y) - 1 - y) for a scalar y, -inf at y = 0.

    Full relative precision of the argument everywhere and no overflow: the
    series of :func:`_expm1_minus_y_over_y2` near 0 (so that even |y| ~ 1e-300,
    whose y^2 underflows, keeps its logarithm), and y + ln(1 - (1 + y) e^-y)
    for large positive y, where e^y would overflow.
    """
    y = float(y)
    if y == 0:
        return -math.inf
    if abs(y) <= 0.5:
        return 2.0 * math.log(abs(y)) + math.log(_expm1_minus_y_over_y2(y))
    if y > 30:
        return y + math.log1p(-(1.0 + y) * math.exp(-y))
    return math.log(math.expm1(y) - y)
