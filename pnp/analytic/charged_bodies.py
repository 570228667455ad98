"""Double layers of confined and curved bodies: counter-ions between walls, spheres, cylinders.

- Counter-ions only (no salt) between two equally charged parallel walls:
  the exact Poisson–Boltzmann solution, c(x) = c_mid / cos^2(kappa x), with
  kappa from the wall charge by a transcendental condition.
- Debye–Hückel (linearised Poisson–Boltzmann) potential outside a charged
  sphere and a charged cylinder in any electrolyte.

The flat, semi-infinite double layer (Gouy–Chapman, Grahame) is in
:mod:`pnp.analytic.double_layer`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import k0e, k1e

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
from ._numerics import _ROOT_MAXITER, _ROOT_RTOL, _scalar_or_array

__all__ = [
    "counterion_gap_concentration",
    "counterion_gap_contact",
    "counterion_gap_midplane",
    "counterion_gap_potential",
    "debye_huckel_cylinder",
    "debye_huckel_sphere",
]


# --------------------------------------------------------------------------- counter-ions only


def _counterion_gap_angles(
    sigma: float, z: float, half_width: float, eps_r: float, temperature: float
) -> tuple[float, float]:
    """(t, delta) = (kappa L, pi/2 - kappa L) of the counter-ion gap, each to full precision.

    t tan t = beta = L / l_GC, 0 < t < pi/2. For beta <= 1 Brent's method on
    t sin t - beta cos t over [0, pi/2] gives t to relative round-off; for
    beta > 1 the same on (pi/2 - delta) cos delta - beta sin delta gives delta
    to relative round-off, so cos t = sin delta keeps its precision when t is
    close to pi/2 (a strongly charged or wide gap).
    """
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma == 0:
        raise ValueError(f"the wall charge sigma must be finite and non-zero, got {sigma!r}")
    if z == 0 or not math.isfinite(z):
        raise ValueError(f"the counter-ion valence z must be non-zero, got {z!r}")
    if sigma * z > 0:
        raise ValueError(
            f"the ions must be counter-ions of the walls: sigma = {sigma:g} C/m^2 and "
            f"z = {z:g} have the same sign"
        )
    half_width = _check_positive("half_width", half_width)
    eps = VACUUM_PERMITTIVITY * _check_positive("eps_r", eps_r)
    temperature = _check_temperature(temperature)
    beta = half_width * abs(z) * FARADAY * abs(sigma) / (2 * eps * GAS_CONSTANT * temperature)
    half_pi = 0.5 * math.pi
    if beta <= 1:

        def condition(t: float) -> float:
            return t * math.sin(t) - beta * math.cos(t)

        t = brentq(condition, 0.0, half_pi, xtol=1e-300, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER)
        return t, half_pi - t

    def complement(delta: float) -> float:
        return (half_pi - delta) * math.cos(delta) - beta * math.sin(delta)

    delta = brentq(complement, 0.0, half_pi, xtol=1e-300, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER)
    return half_pi - delta, delta


def counterion_gap_midplane(
    sigma: float, z: float, half_width: float, eps_r: float, temperature: float
) -> float:
    """Mid-plane concentration of counter-ions (no salt) between two charged walls.

    Two parallel walls at x = -L and x = +L, each carrying the charge sigma
    per area, with only their counter-ions (valence z, sign opposite to
    sigma) between them; ideal ions in equilibrium (Boltzmann), uniform
    permittivity, no charge beyond the walls. With u = zF(phi - phi(0))/RT the
    Poisson–Boltzmann equation eps0 eps_r phi'' = -zF c_mid e^(-u) becomes
    u'' = -2 kappa^2 e^(-u), kappa^2 = z^2 F^2 c_mid / (2 eps0 eps_r RT), whose
    solution symmetric about x = 0 (u(0) = u'(0) = 0) is::

        u(x) = 2 ln cos(kappa x),   c(x) = c_mid / cos^2(kappa x)

    Electroneutrality of each half, zF int_0^L c dx = zF c_mid tan(kappa L)/kappa
    = -sigma (Gauss's law at the wall), fixes kappa::

        kappa L tan(kappa L) = L / l_GC,   l_GC = 2 eps0 eps_r RT / (|z| F |sigma|)

    (l_GC the Gouy–Chapman length), a unique root 0 < kappa L < pi/2. Then
    c_mid = 2 eps0 eps_r RT kappa^2 / (z^2 F^2). Limits: a narrow or weakly
    charged gap (L << l_GC) is uniform, c_mid -> |sigma|/(|z| F L) (1 - L/(3 l_GC));
    a wide one (L >> l_GC) has c_mid -> 2 eps0 eps_r RT (pi/2)^2 / (z^2 F^2 L^2),
    independent of sigma.

    Parameters
    ----------
    sigma : float
        Charge on each wall [C/m^2], non-zero.
    z : float
        Counter-ion valence [-], of sign opposite to `sigma`.
    half_width : float
        L, half the distance between the walls [m].
    eps_r : float
        Relative permittivity [-].
    temperature : float
        T [K].

    Returns
    -------
    float
        c_mid [mol/m^3].
    """
    t, _ = _counterion_gap_angles(sigma, z, half_width, eps_r, temperature)
    kappa = t / half_width
    eps = VACUUM_PERMITTIVITY * eps_r
    return 2 * eps * GAS_CONSTANT * temperature * kappa**2 / (z * FARADAY) ** 2


def _gap_cosine(
    x: ArrayLike, sigma: float, z: float, half_width: float, eps_r: float, temperature: float
) -> tuple[NDArray[np.floating], float]:
    """cos(kappa x) at the positions x (|x| <= L), and c_mid.

    Formed as sin(delta + kappa (L - |x|)) with delta = pi/2 - kappa L, which
    keeps full relative precision at the walls however close kappa L is to pi/2.
    """
    x = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) > half_width):
        raise ValueError("positions x must lie between the walls, -half_width <= x <= half_width")
    t, delta = _counterion_gap_angles(sigma, z, half_width, eps_r, temperature)
    kappa = t / half_width
    eps = VACUUM_PERMITTIVITY * eps_r
    c_mid = 2 * eps * GAS_CONSTANT * temperature * kappa**2 / (z * FARADAY) ** 2
    return np.sin(delta + kappa * (half_width - np.abs(x))), c_mid


def counterion_gap_concentration(
    x: ArrayLike, sigma: float, z: float, half_width: float, eps_r: float, temperature: float
) -> float | NDArray[np.floating]:
    """Counter-ion concentration c(x) = c_mid / cos^2(kappa x) between two charged walls.

    See :func:`counterion_gap_midplane` for the derivation and assumptions;
    x is measured from the mid-plane, the walls are at x = -L and x = +L.

    Parameters
    ----------
    x : float or array_like
        Position from the mid-plane [m], |x| <= `half_width`.
    sigma, z, half_width, eps_r, temperature
        As for :func:`counterion_gap_midplane`.

    Returns
    -------
    float or ndarray
        c(x) [mol/m^3].
    """
    cosine, c_mid = _gap_cosine(x, sigma, z, half_width, eps_r, temperature)
    return _scalar_or_array(c_mid / cosine**2)


def counterion_gap_potential(
    x: ArrayLike, sigma: float, z: float, half_width: float, eps_r: float, temperature: float
) -> float | NDArray[np.floating]:
    """Potential between two charged walls with counter-ions only, relative to the mid-plane.

    ::

        phi(x) - phi(0) = (2RT/(zF)) ln cos(kappa x)

    (:func:`counterion_gap_midplane` for kappa, the derivation and the
    assumptions). At the walls it is (2RT/(zF)) ln cos(kappa L) = -(RT/(zF))
    ln(c(L)/c_mid): of the sign of sigma.

    Parameters
    ----------
    x : float or array_like
        Position from the mid-plane [m], |x| <= `half_width`.
    sigma, z, half_width, eps_r, temperature
        As for :func:`counterion_gap_midplane`.

    Returns
    -------
    float or ndarray
        phi(x) - phi(0) [V].
    """
    cosine, _ = _gap_cosine(x, sigma, z, half_width, eps_r, temperature)
    return _scalar_or_array(2 * thermal_voltage(temperature) / z * np.log(cosine))


def counterion_gap_contact(
    sigma: float, z: float, half_width: float, eps_r: float, temperature: float
) -> float:
    """Contact concentration c(+-L) of counter-ions (no salt) at two equally charged walls.

    ::

        c(L) = c_mid / cos^2(kappa L) = c_mid + sigma^2 / (2 eps0 eps_r R T)

    (:func:`counterion_gap_midplane` for kappa, c_mid and the assumptions). The
    second form is the contact-value theorem: the osmotic pressure RT c at the
    wall exceeds that at the mid-plane by the Maxwell stress sigma^2/(2 eps0 eps_r)
    of the wall's field; it follows here from tan(kappa L) = 1/(kappa l_GC).

    Parameters
    ----------
    sigma, z, half_width, eps_r, temperature
        As for :func:`counterion_gap_midplane`.

    Returns
    -------
    float
        c(L) [mol/m^3].
    """
    cosine, c_mid = _gap_cosine(half_width, sigma, z, half_width, eps_r, temperature)
    return float(c_mid / cosine**2)


# --------------------------------------------------------------------------- Debye–Hückel


def _debye_huckel_setup(
    r: ArrayLike,
    radius: float,
    concentrations: Concentrations,
    valences: Valences,
    eps_r: float,
    temperature: float,
) -> tuple[NDArray[np.floating], float, float, float]:
    """r as an array (checked r >= radius), radius, lambda_D and eps0 eps_r."""
    radius = _check_positive("radius", radius)
    r = np.asarray(r, dtype=float)
    if not np.all(np.isfinite(r)) or np.any(r < radius):
        raise ValueError("positions r must be finite and outside the body, r >= radius")
    c, z = _ion_arrays(concentrations, valences)
    debye = debye_length(c, z, eps_r, _check_temperature(temperature))
    if not math.isfinite(debye):
        raise ValueError("Debye–Hückel screening needs charged species in the electrolyte")
    return r, radius, debye, VACUUM_PERMITTIVITY * eps_r


def debye_huckel_sphere(
    r: ArrayLike,
    sigma: float,
    radius: float,
    concentrations: Concentrations,
    valences: Valences,
    eps_r: float,
    temperature: float,
) -> float | NDArray[np.floating]:
    """Debye–Hückel potential outside a sphere of radius a carrying the surface charge sigma.

    Linearised Poisson–Boltzmann equation (|z_i F phi| << RT for every ion of
    an electroneutral electrolyte) outside the sphere, phi -> 0 far away:
    (1/r^2)(r^2 phi')' = phi/lambda^2, lambda the Debye length, whose decaying
    solution is phi = A e^(-r/lambda)/r. The field inside the sphere is zero
    (its charge is on its surface, or spherically symmetric inside it: only
    the total 4 pi a^2 sigma matters outside), so Gauss's law at the surface
    is -eps0 eps_r phi'(a) = sigma, and with -phi'(a) = phi(a) (1/a + 1/lambda)::

        phi(r) = sigma a^2 lambda / (eps0 eps_r (a + lambda)) * e^(-(r - a)/lambda) / r
        phi(a) = sigma a lambda / (eps0 eps_r (a + lambda))

    Limits: a >> lambda gives the flat Debye–Hückel layer sigma lambda/(eps0 eps_r);
    a << lambda the bare Coulomb potential sigma a/(eps0 eps_r) = Q/(4 pi eps0 eps_r a).

    Parameters
    ----------
    r : float or array_like
        Distance from the centre [m], r >= `radius` (r = radius: the surface).
    sigma : float
        Charge on the sphere per area of its surface [C/m^2].
    radius : float
        a [m].
    concentrations : mapping or sequence of float
        Bulk concentrations [mol/m^3] (they set lambda).
    valences : mapping or sequence of float
        z_i [-].
    eps_r : float
        Relative permittivity of the electrolyte [-].
    temperature : float
        T [K].

    Returns
    -------
    float or ndarray
        phi(r) [V] relative to the bulk.
    """
    r, a, debye, eps = _debye_huckel_setup(r, radius, concentrations, valences, eps_r, temperature)
    amplitude = float(sigma) * a * a * debye / (eps * (a + debye))
    return _scalar_or_array(amplitude * np.exp(-(r - a) / debye) / r)


def debye_huckel_cylinder(
    r: ArrayLike,
    sigma: float,
    radius: float,
    concentrations: Concentrations,
    valences: Valences,
    eps_r: float,
    temperature: float,
) -> float | NDArray[np.floating]:
    """Debye–Hückel potential outside an infinite cylinder of radius a with surface charge sigma.

    Linearised Poisson–Boltzmann equation (assumptions as for
    :func:`debye_huckel_sphere`) in cylindrical symmetry,
    (1/r)(r phi')' = phi/lambda^2: the modified Bessel equation, whose decaying
    solution is phi = A K0(r/lambda). With K0' = -K1 and Gauss's law at the
    surface, -eps0 eps_r phi'(a) = sigma::

        phi(r) = sigma lambda K0(r/lambda) / (eps0 eps_r K1(a/lambda))

    evaluated with the exponentially scaled K0 e^x and K1 e^x (no underflow
    for a, r >> lambda). Limits: a >> lambda gives the flat layer
    sigma lambda/(eps0 eps_r); a << lambda gives
    phi(a) -> (sigma a/(eps0 eps_r)) ln(lambda/a) to leading order.

    Parameters
    ----------
    r : float or array_like
        Distance from the axis [m], r >= `radius`.
    sigma : float
        Charge on the cylinder per area of its surface [C/m^2].
    radius : float
        a [m].
    concentrations, valences, eps_r, temperature
        As for :func:`debye_huckel_sphere`.

    Returns
    -------
    float or ndarray
        phi(r) [V] relative to the bulk.
    """
    r, a, debye, eps = _debye_huckel_setup(r, radius, concentrations, valences, eps_r, temperature)
    ratio = k0e(r / debye) / k1e(a / debye) * np.exp(-(r - a) / debye)
    return _scalar_or_array(float(sigma) * debye / eps * ratio)
