"""Double layers and capacitors: Gouy–Chapman, Grahame, diffuse-layer and membrane capacitance.

The diffuse layer beside a charged wall or membrane face (Gouy–Chapman
potential and concentration profiles of a symmetric salt, Grahame's surface
charge of any electroneutral bath and its inverse, the surface potential of
a given charge, the Gouy–Chapman length and the differential capacitance),
and the capacitors in series across a membrane (the dielectric slab and the
two diffuse layers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from ..constants import (
    FARADAY,
    GAS_CONSTANT,
    VACUUM_PERMITTIVITY,
    Concentrations,
    Valences,
    _check_positive,
    _check_temperature,
    _ion_arrays,
    debye_length,
    thermal_voltage,
)
from ._numerics import (
    _ROOT_MAXITER,
    _ROOT_RTOL,
    _check_neutral,
    _expm1_minus_y,
    _expm1_minus_y_over_y2,
    _log_expm1_minus_y,
    _scalar_or_array,
)

__all__ = [
    "diffuse_layer_capacitance",
    "gouy_chapman",
    "gouy_chapman_concentration",
    "gouy_chapman_length",
    "grahame",
    "grahame_potential",
    "membrane_capacitance",
    "membrane_series_capacitance",
    "series_capacitance",
]


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


def _grahame_root(
    sigma: float, two_eps_rt: float, c: NDArray[np.floating], z: NDArray[np.floating]
) -> float:
    """u0 = F phi0/RT of sign(sigma) with sum_i c_i (e^(-z_i u0) - 1 + z_i u0) = sigma^2/two_eps_rt.

    `c`, `z`: the charged species present. ln f is evaluated as a log-sum-exp
    of per-ion logarithms (no overflow, no underflow). The root is bracketed
    in t = ln|u0| (steps doubling from the Debye–Hückel estimate, where
    ln f = 2t + ln(sum z^2 c / 2)), then found by Brent's method in |u0|
    itself. The logarithms carry an absolute round-off of ~eps |ln sigma|,
    i.e. a relative one in u0; where every |z_i u0| <= 1/2 one fixed-point
    step of |u0| = |sigma| / sqrt(two_eps_rt sum_i c_i z_i^2 s(-z_i u0)),
    s(y) = (e^y - 1 - y)/y^2, removes it (its own sensitivity is |u0|).
    """
    side = math.copysign(1.0, sigma)
    target = 2 * math.log(abs(sigma)) - math.log(two_eps_rt)
    log_c = [math.log(ci) for ci in c]
    valences = [float(zi) for zi in z]

    def excess_at(magnitude: float) -> float:
        logs = [
            lc + _log_expm1_minus_y(-zi * side * magnitude)
            for lc, zi in zip(log_c, valences, strict=True)
        ]
        top = max(logs)
        return top + math.log(math.fsum(math.exp(x - top) for x in logs)) - target

    low = high = 0.5 * (target - math.log(0.5 * float(np.sum(z * z * c))))
    step = 1.0
    while excess_at(math.exp(low)) > 0:
        low -= step
        step *= 2
    step = 1.0
    while excess_at(math.exp(high)) < 0:
        high += step
        step *= 2
    magnitude = brentq(
        excess_at,
        math.exp(low),
        math.exp(high),
        xtol=1e-300,
        rtol=_ROOT_RTOL,
        maxiter=_ROOT_MAXITER,
    )
    if max(abs(zi) for zi in valences) * magnitude <= 0.5:
        moment = math.fsum(
            ci * zi * zi * _expm1_minus_y_over_y2(-zi * side * magnitude)
            for ci, zi in zip(c, valences, strict=True)
        )
        magnitude = abs(sigma) / math.sqrt(two_eps_rt * moment)
    return side * magnitude


def grahame_potential(
    sigma: ArrayLike,
    concentrations: Concentrations,
    valences: Valences,
    eps_r: float,
    temperature: float,
) -> float | NDArray[np.floating]:
    """Surface potential of a flat wall carrying the charge sigma: the inverse of :func:`grahame`.

    The Grahame equation (first integral of the Poisson–Boltzmann equation
    eps0 eps_r phi'' = -F sum_i z_i c_i exp(-z_i F phi/RT) on a half space
    x >= 0, with phi, phi' -> 0 in the bulk, and Gauss's law at the wall,
    sigma = -eps0 eps_r phi'(0)) solved for phi0 = phi(0)::

        sum_i c_i (exp(-z_i u0) - 1 + z_i u0) = sigma^2 / (2 eps0 eps_r R T),
        u0 = F phi0/RT,  sign(phi0) = sign(sigma)

    (the + z_i u0 terms add up to 0 in an electroneutral bath). The left side
    f(u0) is 0 at u0 = 0, convex, and grows monotonically in |u0| on each side,
    so the root on the side of sign(sigma) is unique. It is found by bracketing
    and Brent's method on ln f = ln(sigma^2/(2 eps0 eps_r RT)) (bracketed in
    t = ln|u0|, where ln f is ~2t near the origin and ~|z|e^t far out), with
    every term taken as a logarithm so nothing overflows or underflows: the
    answer is exact to a few ulp (~1e-15 relative), from |sigma| of
    1e-300 C/m^2 to |z u0| of several hundred.

    For a z:z salt the closed form is
    phi0 = (2RT/(zF)) asinh(sigma / sqrt(8 eps0 eps_r RT c0)); for small sigma,
    phi0 -> sigma lambda_D / (eps0 eps_r) (Debye–Hückel).

    Parameters
    ----------
    sigma : float or array_like
        Charge on the wall [C/m^2], finite.
    concentrations : mapping or sequence of float
        Bulk concentrations c_i [mol/m^3]; electroneutral within 1e-6 relative.
    valences : mapping or sequence of float
        z_i [-], keyed or ordered like `concentrations`.
    eps_r : float
        Relative permittivity of the solvent [-].
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        phi0 [V], the wall potential relative to the bulk, shaped like `sigma`.
    """
    c, z = _ion_arrays(concentrations, valences)
    _check_neutral(c, z, "the bath")
    eps_r = _check_positive("eps_r", eps_r)
    temperature = _check_temperature(temperature)
    sigma = np.asarray(sigma, dtype=float)
    if not np.all(np.isfinite(sigma)):
        raise ValueError("grahame_potential needs a finite surface charge sigma")
    charged = (z != 0) & (c > 0)
    if np.any(sigma != 0) and not np.any(charged):
        raise ValueError("a charged wall needs charged species in the bath (none is present)")
    c, z = c[charged], z[charged]
    two_eps_rt = 2 * VACUUM_PERMITTIVITY * eps_r * GAS_CONSTANT * temperature

    def u_of(s: float) -> float:
        return 0.0 if s == 0 else _grahame_root(s, two_eps_rt, c, z)

    u0 = np.array([u_of(s) for s in sigma.ravel()]).reshape(sigma.shape)
    return _scalar_or_array(u0 * thermal_voltage(temperature))


def gouy_chapman_length(
    sigma: ArrayLike, z: float, eps_r: float, temperature: float
) -> float | NDArray[np.floating]:
    """Gouy–Chapman length of a wall of charge sigma with counter-ions of valence z.

    ::

        l_GC = 2 eps0 eps_r R T / (|z| F |sigma|)

    The distance over which the bare field of the wall, |sigma|/(eps0 eps_r),
    changes a counter-ion's energy by 2 kT (|z| F |sigma| l_GC/(eps0 eps_r) = 2RT
    per mole). A wall with its counter-ions only
    (Poisson–Boltzmann, no salt, half space) holds them as
    c(x) = 2 eps0 eps_r RT / (z^2 F^2 (x + l_GC)^2), and l_GC is where that
    profile has fallen to a quarter of its contact value sigma^2/(2 eps0 eps_r RT).
    It is the length a mesh must resolve beside a strongly charged wall:
    once l_GC < lambda_D (|sigma| > 2 eps0 eps_r V_T/(|z| lambda_D)), the
    counter-ions pile up within l_GC of the wall, not lambda_D.

    Parameters
    ----------
    sigma : float or array_like
        Charge on the wall [C/m^2] (sign irrelevant); 0 gives ``inf``.
    z : float
        Valence of the counter-ions [-], non-zero (sign irrelevant).
    eps_r : float
        Relative permittivity of the solvent [-].
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        l_GC [m], shaped like `sigma`.
    """
    if z == 0 or not math.isfinite(z):
        raise ValueError(f"the counter-ion valence z must be non-zero, got {z!r}")
    eps_r = _check_positive("eps_r", eps_r)
    temperature = _check_temperature(temperature)
    sigma = np.abs(np.asarray(sigma, dtype=float))
    if not np.all(np.isfinite(sigma)):
        raise ValueError("gouy_chapman_length needs a finite surface charge sigma")
    scale = 2 * VACUUM_PERMITTIVITY * eps_r * GAS_CONSTANT * temperature / (abs(z) * FARADAY)
    with np.errstate(divide="ignore"):
        length = np.where(sigma > 0, scale / np.where(sigma > 0, sigma, 1.0), np.inf)
    return _scalar_or_array(length)


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
