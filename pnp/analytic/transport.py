"""Transport across a membrane: Goldman–Hodgkin–Katz flux, current and zero-current voltage.

Constant-field (GHK) flux and current of one ion at a given membrane
potential, and the membrane potential at which the total GHK current of
several ions vanishes (any valences; the classic closed form for monovalent
ions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from ..constants import FARADAY, _check_nonnegative_array, thermal_voltage
from ._numerics import _ROOT_MAXITER, _ROOT_RTOL, _ROOT_XTOL, _bernoulli, _scalar_or_array

__all__ = ["ghk_current", "ghk_flux", "ghk_voltage", "ghk_voltage_monovalent"]


def ghk_flux(
    V: ArrayLike,
    c_in: ArrayLike,
    c_out: ArrayLike,
    z: ArrayLike,
    P: ArrayLike,
    temperature: float,
) -> float | NDArray[np.floating]:
    """GHK molar flux of one species through a membrane, positive outward.

    With u = zFV/RT and the Bernoulli function B(x) = x/(e^x - 1)::

        J = P u (c_in - c_out e^-u) / (1 - e^-u) = P [c_in B(-u) - c_out B(u)]

    The second form is evaluated: it is exact at V = 0 (J = P (c_in - c_out),
    also the answer for z = 0) and neither divides 0/0 nor overflows for any
    finite u. It is the Scharfetter–Gummel flux of the engine across a
    membrane.

    Parameters
    ----------
    V : float or array_like
        Membrane potential phi_in - phi_out [V].
    c_in, c_out : float or array_like
        Concentration inside and outside [mol/m^3], non-negative.
    z : float or array_like
        Valence [-] (0 allowed).
    P : float or array_like
        Permeability [m/s], non-negative.
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        J [mol/m^2/s], broadcast over the array arguments.
    """
    c_in = _check_nonnegative_array("c_in", c_in)
    c_out = _check_nonnegative_array("c_out", c_out)
    P = _check_nonnegative_array("P", P)
    u = np.asarray(z, dtype=float) * np.asarray(V, dtype=float) / thermal_voltage(temperature)
    return _scalar_or_array(P * (c_in * _bernoulli(-u) - c_out * _bernoulli(u)))


def ghk_current(
    V: ArrayLike,
    c_in: ArrayLike,
    c_out: ArrayLike,
    z: ArrayLike,
    P: ArrayLike,
    temperature: float,
) -> float | NDArray[np.floating]:
    """GHK current density of one species, positive outward.

    ::

        I = P z^2 F^2 V/(RT) (c_in - c_out exp(-zFV/RT)) / (1 - exp(-zFV/RT))
          = z F J_GHK

    evaluated stably through :func:`ghk_flux`; I(0) = P z F (c_in - c_out).

    Parameters
    ----------
    V : float or array_like
        Membrane potential phi_in - phi_out [V].
    c_in, c_out : float or array_like
        Concentration inside and outside [mol/m^3], non-negative.
    z : float or array_like
        Valence [-].
    P : float or array_like
        Permeability [m/s], non-negative.
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        I [A/m^2], broadcast over the array arguments.
    """
    flux = ghk_flux(V, c_in, c_out, z, P, temperature)
    return _scalar_or_array(np.asarray(z, dtype=float) * FARADAY * np.asarray(flux))


def _permeant_ions(
    c_in: Mapping[str, float],
    c_out: Mapping[str, float],
    P: Mapping[str, float],
    z: Mapping[str, float],
) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.floating], NDArray[np.floating]]:
    """(c_in, c_out, P, z) of the charged species with P > 0."""
    names = []
    for name, permeability in P.items():
        if not (math.isfinite(permeability) and permeability >= 0):
            raise ValueError(
                f"permeability of {name} must be finite and non-negative, got {permeability!r}"
            )
        if permeability == 0:
            continue
        missing = [
            what
            for what, table in (("c_in", c_in), ("c_out", c_out), ("z", z))
            if name not in table
        ]
        if missing:
            raise ValueError(f"permeant species {name!r} has no entry in {', '.join(missing)}")
        if z[name] != 0:
            names.append(name)
    ci = _check_nonnegative_array("c_in", [c_in[n] for n in names])
    co = _check_nonnegative_array("c_out", [c_out[n] for n in names])
    return (
        ci,
        co,
        np.array([P[n] for n in names], dtype=float),
        np.array([z[n] for n in names], dtype=float),
    )


def ghk_voltage(
    c_in: Mapping[str, float],
    c_out: Mapping[str, float],
    P: Mapping[str, float],
    z: Mapping[str, float],
    temperature: float,
) -> float:
    """GHK zero-current (reversal) potential for ions of any valence.

    Solves sum_i I_GHK,i(V) = 0 (:func:`ghk_current`) by a bracketed root
    find (Brent). Every I_GHK,i increases strictly with V, so the root is
    unique when it exists. For monovalent ions only it equals
    :func:`ghk_voltage_monovalent`; with Ca2+ there is no such closed form in
    general.

    Parameters
    ----------
    c_in, c_out : mapping str -> float
        Concentrations inside and outside [mol/m^3] of (at least) the permeant
        species.
    P : mapping str -> float
        Permeability [m/s] per species; species absent or with P = 0 (and
        neutral species) carry no current.
    z : mapping str -> float
        Valence [-] per species.
    temperature : float
        T [K].

    Returns
    -------
    float
        V = phi_in - phi_out [V] at which the total GHK current vanishes.

    Raises
    ------
    ValueError
        If no root exists: the current cannot change sign because nothing
        carries outward current (a permeant cation inside or anion outside)
        or nothing carries inward current (a permeant cation outside or
        anion inside). With a single permeant ion that means it must be
        present on both sides.
    """
    ci, co, perm, val = _permeant_ions(c_in, c_out, P, z)
    outward = np.any((val > 0) & (ci > 0)) or np.any((val < 0) & (co > 0))
    inward = np.any((val > 0) & (co > 0)) or np.any((val < 0) & (ci > 0))
    if not (outward and inward):
        direction = "outward" if not outward else "inward"
        raise ValueError(
            f"no zero-current potential: no permeant ion can carry {direction} current "
            "(an outward carrier is a cation inside or an anion outside, an inward one "
            "a cation outside or an anion inside), so the GHK current never changes sign"
        )

    def total_current(v: float) -> float:
        # sum_i P_i z_i [c_in B(-z v) - c_out B(z v)], the total current over F.
        u = val * v
        return float(np.sum(perm * val * (ci * _bernoulli(-u) - co * _bernoulli(u))))

    # Each ion's current changes sign at its Nernst potential, so the root lies
    # between the smallest and largest finite one; ions present on one side
    # only have none, and the bracket is widened until the sign changes.
    both = (ci > 0) & (co > 0)
    nernst_v = np.log(co[both] / ci[both]) / val[both]
    low = float(nernst_v.min()) if nernst_v.size else -1.0
    high = float(nernst_v.max()) if nernst_v.size else 1.0
    # The sign check above guarantees a root; |v| of 1e6 is far beyond any
    # concentration ratio a float can hold (|v| <~ 1500), so the cap only
    # guards against non-finite input.
    step = 1.0
    while total_current(low) > 0:
        low -= step
        step *= 2
        if step > 1e6:
            raise ValueError("ghk_voltage: could not bracket the zero-current potential")
    step = 1.0
    while total_current(high) < 0:
        high += step
        step *= 2
        if step > 1e6:
            raise ValueError("ghk_voltage: could not bracket the zero-current potential")
    v = brentq(total_current, low, high, xtol=_ROOT_XTOL, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER)
    return float(v) * thermal_voltage(temperature)


def ghk_voltage_monovalent(
    c_in: Mapping[str, float],
    c_out: Mapping[str, float],
    P: Mapping[str, float],
    z: Mapping[str, float],
    temperature: float,
) -> float:
    """Goldman–Hodgkin–Katz voltage equation for monovalent ions (closed form).

    ::

        V = (RT/F) ln[(sum_cat P c_out + sum_an P c_in) / (sum_cat P c_in + sum_an P c_out)]

    Parameters
    ----------
    c_in, c_out : mapping str -> float
        Concentrations inside and outside [mol/m^3].
    P : mapping str -> float
        Permeability [m/s] per species; P = 0 or absent: impermeant.
    z : mapping str -> float
        Valence [-]; every permeant charged species must have |z| = 1.
    temperature : float
        T [K].

    Returns
    -------
    float
        V = phi_in - phi_out [V].

    Raises
    ------
    ValueError
        If a permeant ion is not monovalent (use :func:`ghk_voltage`), or if
        the numerator or the denominator vanishes (no zero-current potential).
    """
    ci, co, perm, val = _permeant_ions(c_in, c_out, P, z)
    if np.any(np.abs(val) != 1):
        raise ValueError(
            f"ghk_voltage_monovalent needs |z| = 1 for every permeant ion, got valences {val.tolist()}; "
            "use ghk_voltage for divalent ions"
        )
    cation = val > 0
    numerator = float(np.sum(perm * np.where(cation, co, ci)))
    denominator = float(np.sum(perm * np.where(cation, ci, co)))
    if numerator == 0 or denominator == 0:
        raise ValueError(
            "no zero-current potential: the permeant ions can carry current in one direction only "
            f"(sum P c towards the inside {numerator:g}, towards the outside {denominator:g})"
        )
    return thermal_voltage(temperature) * math.log(numerator / denominator)
