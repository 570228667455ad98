"""Closed-form references: Nernst, GHK, Donnan, Debye, Gouy–Chapman, Grahame, capacitance.

Everything here is a pure numpy/scipy function of SI quantities, used by the
tests, the benchmarks and the ``[expect]`` table of a case:

============================  ==============================
concentration                 mol/m^3 (= mM)
potential                     V
temperature                   K
length                        m
permeability                  m/s
surface charge density        C/m^2
capacitance                   F/m^2
current density               A/m^2
molar flux                    mol/m^2/s
============================  ==============================

Sign conventions (docs/numerics.md, section "Sign conventions"): the
membrane potential is ``V = phi_inside - phi_outside``; fluxes and currents
are positive outward (inside -> outside); a surface charge is the charge on
the wall.

Physical constants, the thermal voltage, the ionic strength and the Debye
length are those of :mod:`pnp.constants` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants
from scipy.optimize import brentq

from .constants import (
    FARADAY,
    GAS_CONSTANT,
    VACUUM_PERMITTIVITY,
    Concentrations,
    Valences,
    _check_nonnegative_array,
    _check_positive,
    _check_temperature,
    _ion_arrays,
    debye_length,
    ionic_strength,
    thermal_voltage,
)

__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "VACUUM_PERMITTIVITY",
    "debye_length",
    "diffuse_layer_capacitance",
    "donnan",
    "ghk_current",
    "ghk_flux",
    "ghk_voltage",
    "ghk_voltage_monovalent",
    "gouy_chapman",
    "gouy_chapman_concentration",
    "grahame",
    "ionic_strength",
    "membrane_capacitance",
    "membrane_series_capacitance",
    "nernst",
    "series_capacitance",
    "thermal_voltage",
]

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


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- basics


def nernst(
    c_in: ArrayLike, c_out: ArrayLike, z: ArrayLike, temperature: float
) -> float | NDArray[np.floating]:
    """Nernst (equilibrium) potential E = (RT/zF) ln(c_out/c_in).

    E is the membrane potential phi_in - phi_out at which the ion is in
    equilibrium across the membrane.

    Parameters
    ----------
    c_in, c_out : float or array_like
        Concentration inside and outside [mol/m^3], positive.
    z : float or array_like
        Valence [-], non-zero.
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        E [V]; E_K = -89.06 mV for 140 mM inside, 5 mM outside at 310.15 K.
    """
    c_in = np.asarray(c_in, dtype=float)
    c_out = np.asarray(c_out, dtype=float)
    z = np.asarray(z, dtype=float)
    if np.any(~(c_in > 0)) or np.any(~(c_out > 0)) or not np.all(np.isfinite(c_in * c_out)):
        raise ValueError("the Nernst potential needs positive finite concentrations on both sides")
    if np.any(z == 0) or not np.all(np.isfinite(z)):
        raise ValueError("the Nernst potential needs a non-zero valence")
    return _scalar_or_array(thermal_voltage(temperature) / z * np.log(c_out / c_in))


# --------------------------------------------------------------------------- GHK


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


# --------------------------------------------------------------------------- double layers


def _gouy_chapman_debye_length(c0: float, z: float, eps_r: float, temperature: float) -> float:
    c0 = _check_positive("c0", c0)
    if z == 0 or not math.isfinite(z):
        raise ValueError(f"the salt valence z must be non-zero, got {z!r}")
    return debye_length([c0, c0], [z, -z], eps_r, temperature)


def gouy_chapman(
    x: ArrayLike, phi0: ArrayLike, c0: float, z: float, eps_r: float, temperature: float
) -> float | NDArray[np.floating]:
    """Potential of a flat diffuse double layer in a z:z electrolyte (Gouy–Chapman).

    Exact solution of the Poisson–Boltzmann equation
    eps0 eps_r phi'' = 2 z F c0 sinh(zF phi/RT) on x >= 0 with phi(0) = phi0
    and phi -> 0 far away::

        phi(x) = (2RT/(zF)) ln[(1 + g e^(-x/lambda)) / (1 - g e^(-x/lambda))]
               = (4RT/(zF)) artanh(g e^(-x/lambda)),   g = tanh(zF phi0/(4RT))

    with lambda the Debye length of the salt (:func:`debye_length` of c0, c0
    with valences z, -z). The profile depends on |z| only. 1 - g e^(-x/lambda)
    is formed without cancellation so that phi(0) = phi0 to round-off even
    for |z phi0| of many RT/F (up to ~1400 RT/F, where exp(-zF|phi0|/(2RT))
    underflows).

    Parameters
    ----------
    x : float or array_like
        Distance from the wall [m], >= 0.
    phi0 : float or array_like
        Wall potential relative to the bulk [V].
    c0 : float
        Bulk concentration of each of the two ions [mol/m^3].
    z : float
        Valence of the symmetric salt [-], non-zero (sign irrelevant).
    eps_r : float
        Relative permittivity of the solvent [-].
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        phi(x) [V], broadcast over `x` and `phi0`.
    """
    x = np.asarray(x, dtype=float)
    if np.any(~(x >= 0)) or not np.all(np.isfinite(x)):
        raise ValueError("gouy_chapman needs finite distances x >= 0 from the wall")
    phi0 = np.asarray(phi0, dtype=float)
    debye = _gouy_chapman_debye_length(c0, z, eps_r, temperature)
    v_t = thermal_voltage(temperature)
    valence = abs(float(z))
    # phi is odd in phi0: solve for |phi0| and restore the sign.
    a = valence * np.abs(phi0) / (4 * v_t)
    gamma = np.tanh(a)
    decay = np.exp(-x / debye)
    y = gamma * decay
    # 1 - gamma = 2 e^(-2a) / (1 + e^(-2a)) and 1 - y = (1 - decay) + decay (1 - gamma):
    # sums of positive terms, accurate even when y rounds to 1.
    e2a = np.exp(-2 * a)
    one_minus_y = -np.expm1(-x / debye) + decay * (2 * e2a / (1 + e2a))
    # artanh is accurate for small y; for y near 1 use the log form with 1 - y.
    y_small = np.where(y < 0.5, y, 0.0)
    y_large = np.where(y < 0.5, 0.5, y)
    one_minus_y_large = np.where(y < 0.5, 0.5, one_minus_y)
    artanh = np.where(
        y < 0.5, np.arctanh(y_small), 0.5 * (np.log1p(y_large) - np.log(one_minus_y_large))
    )
    return _scalar_or_array(np.sign(phi0) * (4 * v_t / valence) * artanh)


def gouy_chapman_concentration(
    x: ArrayLike,
    phi0: ArrayLike,
    c0: float,
    z_ion: float,
    z_salt: float,
    eps_r: float,
    temperature: float,
) -> float | NDArray[np.floating]:
    """Boltzmann concentration of an ion in a Gouy–Chapman double layer.

    ::

        c(x) = c0 exp(-z_ion F phi(x) / RT),   phi = gouy_chapman(x, phi0, c0, z_salt, ...)

    Parameters
    ----------
    x : float or array_like
        Distance from the wall [m], >= 0.
    phi0 : float or array_like
        Wall potential relative to the bulk [V].
    c0 : float
        Bulk concentration of each ion of the z:z salt [mol/m^3]; also the
        bulk concentration of this ion (z_ion = +-z_salt for the salt's ions).
    z_ion : float
        Valence of the ion whose concentration is returned [-].
    z_salt : float
        Valence of the symmetric salt that sets the potential [-].
    eps_r : float
        Relative permittivity [-].
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        c(x) [mol/m^3].
    """
    phi = np.asarray(gouy_chapman(x, phi0, c0, z_salt, eps_r, temperature))
    return _scalar_or_array(c0 * np.exp(-float(z_ion) * phi / thermal_voltage(temperature)))


def grahame(
    phi0: ArrayLike,
    concentrations: Concentrations,
    valences: Valences,
    eps_r: float,
    temperature: float,
) -> float | NDArray[np.floating]:
    """Grahame equation: surface charge of a flat wall at potential phi0.

    First integral of the Poisson–Boltzmann equation for any electroneutral
    mixture of ions, sigma = -eps0 eps_r dphi/dx at the wall::

        sigma = sign(phi0) sqrt(2 eps0 eps_r R T sum_i c_i (exp(-z_i F phi0/RT) - 1))

    For a z:z salt this is sqrt(8 eps0 eps_r RT c0) sinh(zF phi0/(2RT)); for
    small phi0, sigma -> eps0 eps_r phi0 / lambda_D. The sum is evaluated as
    sum_i c_i (e^y_i - 1 - y_i), y_i = -z_i F phi0/RT (equal to it because
    sum_i z_i c_i = 0), with a series where that cancels: the result keeps
    full relative precision as phi0 -> 0.

    Parameters
    ----------
    phi0 : float or array_like
        Wall potential relative to the bulk [V] (|z phi0| up to ~700 RT/F).
    concentrations : mapping or sequence of float
        Bulk concentrations c_i [mol/m^3]; must be electroneutral within 1e-6
        relative.
    valences : mapping or sequence of float
        z_i [-], keyed or ordered like `concentrations`.
    eps_r : float
        Relative permittivity [-].
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        sigma [C/m^2], the charge on the wall.
    """
    c, z = _ion_arrays(concentrations, valences)
    _check_neutral(c, z, "the bath")
    eps_r = _check_positive("eps_r", eps_r)
    temperature = _check_temperature(temperature)
    u = np.asarray(phi0, dtype=float) / thermal_voltage(temperature)
    boltzmann_sum = sum(ci * _expm1_minus_y(-zi * u) for ci, zi in zip(c, z, strict=True))
    boltzmann_sum = np.asarray(boltzmann_sum, dtype=float) + np.zeros_like(u)
    sigma = np.sign(u) * np.sqrt(
        2 * VACUUM_PERMITTIVITY * eps_r * GAS_CONSTANT * temperature * boltzmann_sum
    )
    return _scalar_or_array(sigma)


def diffuse_layer_capacitance(
    concentrations: Concentrations,
    valences: Valences,
    eps_r: float,
    temperature: float,
    phi0: ArrayLike = 0.0,
) -> float | NDArray[np.floating]:
    """Differential capacitance of the diffuse layer, d(sigma)/d(phi0) of :func:`grahame`.

    With u = F phi0/RT, f(u) = sum_i c_i (e^(-z_i u) - 1) and
    f'(u) = -sum_i z_i c_i (e^(-z_i u) - 1)::

        C = sqrt(eps0 eps_r R T) (F/RT) |f'(u)| / sqrt(2 f(u))

    which tends to eps0 eps_r / lambda_D as phi0 -> 0 (the Debye–Hückel
    capacitance); for a z:z salt it is (eps0 eps_r/lambda_D) cosh(zF phi0/(2RT)).

    Parameters
    ----------
    concentrations : mapping or sequence of float
        Bulk concentrations [mol/m^3], electroneutral.
    valences : mapping or sequence of float
        z_i [-].
    eps_r : float
        Relative permittivity [-].
    temperature : float
        T [K].
    phi0 : float or array_like, optional
        Wall potential relative to the bulk [V]; default 0.

    Returns
    -------
    float or ndarray
        C [F/m^2]; 0 if no charged species is present.
    """
    c, z = _ion_arrays(concentrations, valences)
    _check_neutral(c, z, "the bath")
    eps_r = _check_positive("eps_r", eps_r)
    temperature = _check_temperature(temperature)
    u = np.asarray(phi0, dtype=float) / thermal_voltage(temperature)
    prefactor = math.sqrt(
        VACUUM_PERMITTIVITY * eps_r * GAS_CONSTANT * temperature
    ) / thermal_voltage(temperature)
    # Below |u| = 1e-100 the ratio equals its limit sqrt(sum z^2 c) to round-off
    # (relative corrections are O(u)), and u^2 would start to underflow.
    at_zero = np.abs(u) < 1e-100
    u_safe = np.where(at_zero, 1.0, u)
    f = sum(ci * _expm1_minus_y(-zi * u_safe) for ci, zi in zip(c, z, strict=True))
    f_prime = sum(-zi * ci * np.expm1(-zi * u_safe) for ci, zi in zip(c, z, strict=True))
    f = np.asarray(f, dtype=float) + np.zeros_like(u)
    f_prime = np.asarray(f_prime, dtype=float) + np.zeros_like(u)
    limit = math.sqrt(float(np.sum(z * z * c)))
    if limit == 0:
        return _scalar_or_array(np.zeros_like(u))
    ratio = np.where(at_zero, limit, np.abs(f_prime) / np.sqrt(2 * np.where(at_zero, 1.0, f)))
    return _scalar_or_array(prefactor * ratio)


# --------------------------------------------------------------------------- capacitors


def membrane_capacitance(eps_r: float, thickness: float) -> float:
    """Capacitance of a planar dielectric slab, C = eps0 eps_r / d.

    Parameters
    ----------
    eps_r : float
        Relative permittivity of the membrane [-].
    thickness : float
        d [m].

    Returns
    -------
    float
        C [F/m^2] (0.01 F/m^2 = 1 uF/cm^2).
    """
    return (
        VACUUM_PERMITTIVITY
        * _check_positive("eps_r", eps_r)
        / _check_positive("thickness", thickness)
    )


def series_capacitance(*capacitances: float) -> float:
    """Capacitors in series, C = 1 / sum_k (1/C_k).

    Parameters
    ----------
    *capacitances : float
        C_k [F/m^2] (or any one capacitance unit), >= 0; ``inf`` drops out,
        any 0 makes the result 0.

    Returns
    -------
    float
        C in the unit of the inputs.
    """
    if not capacitances:
        raise ValueError("series_capacitance needs at least one capacitance")
    values = [float(value) for value in capacitances]
    if any(math.isnan(value) or value < 0 for value in values):
        raise ValueError(f"capacitances must be non-negative, got {values}")
    if any(value == 0 for value in values):
        return 0.0
    return 1.0 / math.fsum(1.0 / value for value in values)


def membrane_series_capacitance(
    eps_m: float,
    thickness: float,
    c_in: Mapping[str, float],
    c_out: Mapping[str, float],
    z: Mapping[str, float],
    eps_in: float,
    eps_out: float,
    temperature: float,
) -> float:
    """Membrane capacitance in series with the two linear diffuse layers.

    ::

        1/C = d/(eps0 eps_m) + lambda_in/(eps0 eps_in) + lambda_out/(eps0 eps_out)

    with lambda the Debye length of each bath (:func:`debye_length`): the
    small-signal capacitance seen between the two bulk solutions.

    Parameters
    ----------
    eps_m : float
        Relative permittivity of the membrane [-].
    thickness : float
        Membrane thickness d [m].
    c_in, c_out : mapping str -> float
        Bulk concentrations inside and outside [mol/m^3].
    z : mapping str -> float
        Valences [-] of the species in `c_in` and `c_out`.
    eps_in, eps_out : float
        Relative permittivity of the inside and outside solution [-].
    temperature : float
        T [K].

    Returns
    -------
    float
        C [F/m^2].
    """
    return series_capacitance(
        membrane_capacitance(eps_m, thickness),
        diffuse_layer_capacitance(c_in, z, eps_in, temperature),
        diffuse_layer_capacitance(c_out, z, eps_out, temperature),
    )


# --------------------------------------------------------------------------- Donnan


def _donnan_upper_bound(c: NDArray[np.floating], z: NDArray[np.floating], rho: float) -> float:
    """An s with g(s) = sum z c e^(z s) + rho > 0, given that g(+inf) > 0.

    For s >= 0 every cation term is at least Q_cat e^(z_min s) and the anion
    terms sum to at least -Q_an, whence the bounds below.
    """
    cation = (z > 0) & (c > 0)
    anion = (z < 0) & (c > 0)
    q_anion = float(np.sum(-z[anion] * c[anion]))
    if np.any(cation):
        q_cation = float(np.sum(z[cation] * c[cation]))
        z_min = float(np.min(z[cation]))
        return 1.0 + max(0.0, math.log(max(q_anion - rho, q_cation) / q_cation) / z_min)
    # No cation: g = rho - sum |z| c e^(-|z| s) >= rho - Q_an e^(-z_min s), rho > 0.
    if q_anion == 0:
        return 1.0
    z_min = float(np.min(-z[anion]))
    return 1.0 + max(0.0, math.log(max(q_anion, rho) / rho) / z_min)


def donnan(
    c_bath: Mapping[str, float],
    z: Mapping[str, float],
    fixed_charge: float,
    temperature: float,
    permeant: Iterable[str] | None = None,
    impermeant_concentration: float = 0.0,
) -> dict[str, object]:
    """Donnan equilibrium of a compartment holding impermeant charge.

    The compartment (inside) exchanges the permeant ions with an
    electroneutral bath (outside). Each permeant ion i is in Boltzmann
    equilibrium, and the inside is electroneutral::

        c_i,in = c_i,bath r^z_i,   r = exp(-F V_D / RT)
        sum_i z_i c_i,in + fixed_charge = 0

    Electroneutrality is solved for s = ln r by a bracketed root find (its
    left side increases strictly with s, so the root is unique). For a 1:1
    salt of bath concentration c it gives
    r = (-rho + sqrt(rho^2 + 4 c^2)) / (2c), rho = fixed_charge.

    Parameters
    ----------
    c_bath : mapping str -> float
        Bath concentrations [mol/m^3]; must be electroneutral (1e-6 relative).
    z : mapping str -> float
        Valences [-] (any: Ca2+ included).
    fixed_charge : float
        Impermeant charge inside [mol/m^3 of elementary charge], signed:
        -142 for 142 mM of X-.
    temperature : float
        T [K].
    permeant : iterable of str, optional
        Species of `c_bath` that cross into the compartment; default all.
        The others stay in the bath (zero inside; charge they might carry
        inside belongs in `fixed_charge`).
    impermeant_concentration : float, optional
        Osmotically active impermeant particles inside [mol/m^3] (e.g. 142
        for 142 mM of X-); counted in ``osmotic_excess`` only. Default 0.

    Returns
    -------
    dict
        ``ratio``: r [-].
        ``potential``: V_D = phi_in - phi_out = -(RT/F) ln r [V].
        ``inside``: {species: concentration inside [mol/m^3]}, every species
        of `c_bath` (0 for the impermeant ones).
        ``osmotic_excess``: total solute concentration inside minus outside
        [mol/m^3]: sum over permeant ions of (c_in - c_bath), plus
        `impermeant_concentration`, minus the bath concentrations of the
        species not in `permeant` (they are solutes outside only). Ideal
        (van 't Hoff) osmolarity; multiply by RT for the pressure [Pa].

    Raises
    ------
    ValueError
        If the bath is not electroneutral or no r balances the charge (e.g.
        positive fixed charge and no permeant anion).
    """
    missing = [name for name in c_bath if name not in z]
    if missing:
        raise ValueError(f"no valence given for species {missing}")
    names = list(c_bath)
    if isinstance(permeant, str):  # one name, not its letters
        permeant = [permeant]
    permeant_names = names if permeant is None else list(permeant)
    unknown = [name for name in permeant_names if name not in c_bath]
    if unknown:
        raise ValueError(f"permeant species {unknown} are not in the bath")
    c_all, z_all = _ion_arrays(c_bath, z)
    _check_neutral(c_all, z_all, "the bath")
    rho = float(fixed_charge)
    if not math.isfinite(rho):
        raise ValueError(f"fixed_charge must be finite, got {fixed_charge!r}")
    impermeant_concentration = float(impermeant_concentration)
    if not (math.isfinite(impermeant_concentration) and impermeant_concentration >= 0):
        raise ValueError(
            f"impermeant_concentration must be non-negative, got {impermeant_concentration!r}"
        )
    v_t = thermal_voltage(temperature)

    is_permeant = np.array([name in set(permeant_names) for name in names], dtype=bool)
    c = c_all[is_permeant]
    val = z_all[is_permeant]
    charged = (val != 0) & (c > 0)
    has_cation = bool(np.any(charged & (val > 0)))
    has_anion = bool(np.any(charged & (val < 0)))

    if not (has_cation or has_anion) and rho == 0:
        s = 0.0  # nothing to balance: r is undetermined, take the bath potential
    else:
        if not (has_cation or rho > 0) or not (has_anion or rho < 0):
            raise ValueError(
                f"no Donnan equilibrium: fixed charge {rho:g} mol/m^3 cannot be balanced by the "
                f"permeant ions {[n for n, p in zip(names, is_permeant, strict=True) if p]} "
                "(a negative fixed charge needs a permeant cation or a positive one a permeant anion)"
            )

        def charge_inside(s: float) -> float:
            # sum z c e^(z s) + rho, times e^-m with m = max(0, max z s) >= 0: the
            # sign (all the root find needs) is kept and no exponential overflows.
            shift = max(0.0, *(zi * s for zi in val))
            terms = [zi * ci * math.exp(zi * s - shift) for zi, ci in zip(val, c, strict=True)]
            return math.fsum([*terms, rho * math.exp(-shift)])

        high = _donnan_upper_bound(c, val, rho)
        low = -_donnan_upper_bound(c, -val, -rho)  # the mirrored problem -g(-s)
        s = brentq(
            charge_inside, low, high, xtol=_ROOT_XTOL, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER
        )

    inside = {name: 0.0 for name in names}
    excess_terms = [impermeant_concentration, -math.fsum(c_all[~is_permeant])]
    permeant_in_order = [name for name, p in zip(names, is_permeant, strict=True) if p]
    for name, ci, zi in zip(permeant_in_order, c, val, strict=True):
        exponent = float(zi * s)
        if exponent < _EXP_SAFE:
            inside[name] = float(ci * math.exp(exponent))
            # c (e^(z s) - 1) by expm1: the excess is a small difference of
            # large inside and bath totals when r is near 1.
            excess_terms.append(float(ci * math.expm1(exponent)))
        else:  # extreme ratios: c e^(z s) is finite even where e^(z s) is not
            inside[name] = math.exp(math.log(ci) + exponent) if ci > 0 else 0.0
            excess_terms.append(inside[name] - float(ci))
    return {
        "ratio": math.exp(s) if s < _EXP_SAFE else math.inf,
        "potential": -v_t * s,
        "inside": inside,
        "osmotic_excess": math.fsum(excess_terms),
    }


# --------------------------------------------------------------------------- activities

# Appended with this section (the list at the top belongs to the basics).
__all__ += ["activity_coefficient", "nernst_activity"]


def activity_coefficient(
    model: str,
    z: ArrayLike,
    ionic_strength: float,
    temperature: float,
    eps_r: float = 78.5,
    size: ArrayLike | None = None,
) -> float | NDArray[np.floating]:
    """Activity coefficient γ of an ion in an electrolyte of ionic strength I.

    log10 γ = -A z² √I                      (``"debye-huckel"``, limiting law)
    log10 γ = -A z² √I / (1 + B a √I)       (``"extended-debye-huckel"``)
    log10 γ = -A z² (√I/(1 + √I) - 0.3 I)   (``"davies"``)
    γ = 1                                   (``"ideal"``)

    with I in mol/L inside the formulas and A, B from `pnp.discretisation.activity.debye_huckel_a`
    and `~pnp.discretisation.activity.debye_huckel_b` (A = 0.509 (mol/L)^-1/2,
    B = 3.29e9 m^-1 (mol/L)^-1/2 for water at 25 °C).

    Parameters
    ----------
    model : str
        ``"ideal"``, ``"debye-huckel"``, ``"extended-debye-huckel"`` or ``"davies"``.
    z : float or array_like
        Valence [-].
    ionic_strength : float
        I [mol/m^3] (= mM, like every concentration here; `ionic_strength`
        gives it): 150 for 0.15 M.
    temperature : float
        T [K].
    eps_r : float
        Relative permittivity of the solvent [-]; 78.5 for water at 25 °C.
    size : float or array_like, optional
        Ion size a [m], extended Debye–Hückel only (required there for a
        charged ion; a = 0 is the limiting law).

    Returns
    -------
    float or ndarray
        γ [-]; Davies at 0.15 M, 25 °C: 0.760 for z = ±1, 0.333 for z = ±2.
    """
    from .discretisation.activity import (
        log10_gamma,  # here, not at the top: this section was appended
    )

    strength = float(ionic_strength)
    if not (math.isfinite(strength) and strength >= 0):
        raise ValueError(f"ionic_strength must be finite and >= 0 [mol/m^3], got {ionic_strength!r}")
    log10 = log10_gamma(model, z, strength * constants.liter, temperature, eps_r, size)
    return _scalar_or_array(np.power(10.0, log10))


def nernst_activity(
    c_in: ArrayLike,
    c_out: ArrayLike,
    z: ArrayLike,
    temperature: float,
    gamma_in: ArrayLike,
    gamma_out: ArrayLike,
) -> float | NDArray[np.floating]:
    """Nernst potential from activities, E = (RT/zF) ln(γ_out c_out / (γ_in c_in)).

    The equilibrium membrane potential phi_in - phi_out when the ion's
    electrochemical potential RT ln(γ c) + zFφ is equal on both sides. It
    differs from `nernst` by (RT/zF) ln(γ_out/γ_in).

    Parameters
    ----------
    c_in, c_out : float or array_like
        Concentration inside and outside [mol/m^3], positive.
    z : float or array_like
        Valence [-], non-zero.
    temperature : float
        T [K].
    gamma_in, gamma_out : float or array_like
        Activity coefficients inside and outside [-], positive (e.g. from
        `activity_coefficient`).

    Returns
    -------
    float or ndarray
        E [V].
    """
    gamma_in = np.asarray(gamma_in, dtype=float)
    gamma_out = np.asarray(gamma_out, dtype=float)
    if not (np.all(np.isfinite(gamma_in)) and np.all(np.isfinite(gamma_out))
            and np.all(gamma_in > 0) and np.all(gamma_out > 0)):
        raise ValueError("activity coefficients must be positive and finite")
    return nernst(gamma_in * np.asarray(c_in, dtype=float),
                  gamma_out * np.asarray(c_out, dtype=float), z, temperature)
