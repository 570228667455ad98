"""Voltage-gated channel kinetics: opening and closing rates of gates (issue 15, ahead of the solver).

A gate x (0 <= x <= 1) obeys dx/dt = phi_T (alpha(V) (1 - x) - beta(V) x), V
the membrane potential in mV, rates in 1/ms, phi_T = q10^((T - T_ref)/10 K).
Each rate is one of three parametric forms of x = (V - v_half) / slope:

    exponential   rate * exp(-x)
    sigmoid       rate / (1 + exp(-x))
    linoid        rate * (V - v_half) / (1 - exp(-x))  =  rate * slope * x / (1 - e^-x)

(``rate`` in 1/ms, and 1/(ms mV) for the linoid; ``v_half`` and ``slope`` in
mV). The linoid's removable singularity at V = v_half (value rate * slope)
is evaluated without cancellation: x / (1 - e^-x) = x / -expm1(-x), 1 at
x = 0, and its derivative likewise. The built-in ``hodgkin-huxley`` set is
the 1952 squid-axon rates in the modern convention (rest near -65 mV,
reference temperature 6.3 degC):

    alpha_m = 0.1 (V + 40) / (1 - e^(-(V + 40)/10))    beta_m = 4 e^(-(V + 65)/18)
    alpha_h = 0.07 e^(-(V + 65)/20)                    beta_h = 1 / (1 + e^(-(V + 35)/10))
    alpha_n = 0.01 (V + 55) / (1 - e^(-(V + 55)/10))   beta_n = 0.125 e^(-(V + 65)/80)

Nothing here is evaluated as code: a form is a name and three numbers.
:meth:`Rate.__call__` takes and returns numpy arrays (any shape) and gives
the derivative with respect to V as well, for Newton's Jacobian;
:func:`pnp.discretisation.channels.rate_at` is the same on one float,
compiled, for the gate equations of every Newton iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FORMS",
    "HH_REFERENCE_TEMPERATURE",
    "HODGKIN_HUXLEY",
    "Rate",
    "steady_state",
    "temperature_factor",
]

#: The parametric forms a rate may take.
FORMS = ("exponential", "sigmoid", "linoid")

#: Reference temperature of the Hodgkin–Huxley rates [K] (6.3 degC).
HH_REFERENCE_TEMPERATURE = 273.15 + 6.3


def _linoid_core(x: NDArray[np.floating]) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """g(x) = x / (1 - e^-x) and g'(x), both without cancellation near x = 0.

    g'(x) = (1 - e^-x - x e^-x) / (1 - e^-x)^2; near 0 its series
    1/2 + x/6 - x^3/180 (the error below |x| = 1e-3 is < 1e-16).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        den = -np.expm1(-x)  # 1 - e^-x, accurate for small x
        g = np.where(x == 0.0, 1.0, x / np.where(x == 0.0, 1.0, den))
        e = np.exp(-x)
        dg_far = (den - x * e) / (den * den)
    small = np.abs(x) < 1e-3
    dg_series = 0.5 + x / 6.0 - x**3 / 180.0
    dg = np.where(small, dg_series, dg_far)
    # far below zero e^-x overflows (inf / inf): g and g' tend to 0 there
    dg = np.where(np.isfinite(dg), dg, 0.0)
    return g, dg


@dataclass(frozen=True)
class Rate:
    """One opening or closing rate: ``form`` of x = (V - v_half) / slope."""

    form: str
    rate: float  # 1/ms (linoid: 1/(ms mV))
    v_half: float  # mV
    slope: float  # mV, non-zero

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"unknown rate form {self.form!r}; use one of {', '.join(FORMS)}")
        for name in ("rate", "v_half", "slope"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if self.rate < 0:
            raise ValueError(f"rate must be >= 0, got {self.rate!r}")
        if self.slope == 0:
            raise ValueError("slope must be non-zero")

    def __call__(self, v: ArrayLike) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
        """(rate [1/ms], d rate / dV [1/(ms mV)]) at membrane potentials ``v`` [mV]."""
        v = np.asarray(v, dtype=float)
        x = (v - self.v_half) / self.slope
        if self.form == "exponential":
            with np.errstate(over="ignore"):
                value = self.rate * np.exp(-x)
            return value, -value / self.slope
        if self.form == "sigmoid":
            # 1 / (1 + e^-x) from e = e^-|x| <= 1: no overflow, full relative accuracy
            e = np.exp(-np.abs(x))
            s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            # s (1 - s) = e / (1 + e)^2 on both sides: no cancellation in 1 - s
            return self.rate * s, self.rate * e / (1.0 + e) ** 2 / self.slope
        g, dg = _linoid_core(x)
        return self.rate * self.slope * g, self.rate * dg

    def scalar(self, v: float) -> tuple[float, float]:
        """:meth:`__call__` at one potential ``v`` [mV], in plain floats (what
        Newton evaluates for every gate at every iteration: no array
        overhead). Same formulas and the same cancellation-free branches,
        compiled (:func:`pnp.discretisation.channels.rate_at`, which the
        compiled gate equations call; imported here when first used: reading
        a case compiles nothing)."""
        from .channels import rate_at

        value, slope = rate_at(FORMS.index(self.form), self.rate, self.v_half, self.slope, v)
        return float(value), float(slope)

    def row(self) -> tuple[float, float, float, float]:
        """(form code: its index in ``FORMS``, rate, v_half, slope): the rate
        as a row of numbers for :func:`pnp.discretisation.channels.rate_at`."""
        return (float(FORMS.index(self.form)), self.rate, self.v_half, self.slope)


#: The built-in ``hodgkin-huxley`` kinetics: gate -> (alpha, beta).
HODGKIN_HUXLEY: dict[str, tuple[Rate, Rate]] = {
    "m": (Rate("linoid", 0.1, -40.0, 10.0), Rate("exponential", 4.0, -65.0, 18.0)),
    "h": (Rate("exponential", 0.07, -65.0, 20.0), Rate("sigmoid", 1.0, -35.0, 10.0)),
    "n": (Rate("linoid", 0.01, -55.0, 10.0), Rate("exponential", 0.125, -65.0, 80.0)),
}


def temperature_factor(
    temperature: float, q10: float = 3.0, reference: float = HH_REFERENCE_TEMPERATURE
) -> float:
    """phi_T = q10^((T - T_ref) / 10 K): how much faster every rate runs at ``temperature`` [K]."""
    for name, value in (("temperature", temperature), ("q10", q10), ("reference", reference)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return q10 ** ((temperature - reference) / 10.0)


def steady_state(
    alpha: Rate, beta: Rate, v: ArrayLike, phi_t: float = 1.0
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """(x_inf, tau [ms]) of a gate at ``v`` [mV]: alpha / (alpha + beta), 1 / (phi_T (alpha + beta))."""
    a, _ = alpha(v)
    b, _ = beta(v)
    total = a + b
    return a / total, 1.0 / (phi_t * total)
