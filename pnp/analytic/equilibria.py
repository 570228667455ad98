"""Equilibrium potentials: Nernst (from concentrations or activities), Donnan, activities.

Each permeant ion in Boltzmann equilibrium across the membrane: the Nernst
potential of one ion, the activity-corrected Nernst potential, the activity
coefficient models, and the Donnan equilibrium of a compartment holding
impermeant charge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants
from scipy.optimize import brentq

from ..constants import _ion_arrays, thermal_voltage
from ..discretisation.activity import log10_gamma
from ._numerics import (
    _EXP_SAFE,
    _ROOT_MAXITER,
    _ROOT_RTOL,
    _ROOT_XTOL,
    _check_neutral,
    _scalar_or_array,
)

__all__ = ["activity_coefficient", "donnan", "nernst", "nernst_activity"]


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
    names, is_permeant, c_all, z_all = _donnan_species(c_bath, z, permeant)
    rho = float(fixed_charge)
    if not math.isfinite(rho):
        raise ValueError(f"fixed_charge must be finite, got {fixed_charge!r}")
    impermeant_concentration = float(impermeant_concentration)
    if not (math.isfinite(impermeant_concentration) and impermeant_concentration >= 0):
        raise ValueError(
            f"impermeant_concentration must be non-negative, got {impermeant_concentration!r}"
        )
    v_t = thermal_voltage(temperature)

    permeant_names = [name for name, p in zip(names, is_permeant, strict=True) if p]
    c, val = c_all[is_permeant], z_all[is_permeant]
    s = _donnan_log_ratio(c, val, rho, permeant_names)

    inside = {name: 0.0 for name in names}
    inside_permeant, excess = _donnan_inside(c, val, s)
    inside.update(zip(permeant_names, inside_permeant, strict=True))
    # Solutes: the impermeant particles inside, minus those left in the bath.
    excess_terms = [impermeant_concentration, -math.fsum(c_all[~is_permeant]), *excess]
    return {
        "ratio": math.exp(s) if s < _EXP_SAFE else math.inf,
        "potential": -v_t * s,
        "inside": inside,
        "osmotic_excess": math.fsum(excess_terms),
    }


def _donnan_species(
    c_bath: Mapping[str, float], z: Mapping[str, float], permeant: Iterable[str] | None
) -> tuple[list[str], NDArray[np.bool_], NDArray[np.floating], NDArray[np.floating]]:
    """Donnan step 1: the bath's names, which are permeant, c [mol/m^3] and z; bath checked.

    Raises ValueError for a species without a valence, a permeant species not in
    the bath, or a bath that is not electroneutral.
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
    is_permeant = np.array([name in set(permeant_names) for name in names], dtype=bool)
    return names, is_permeant, c_all, z_all


def _donnan_log_ratio(
    c: NDArray[np.floating], val: NDArray[np.floating], rho: float, names: list[str]
) -> float:
    """Donnan step 2: s = ln r that makes the inside electroneutral.

    `c` and `val` are the bath concentrations [mol/m^3] and valences of the
    permeant species `names`; `rho` the fixed charge [mol/m^3].
    """
    charged = (val != 0) & (c > 0)
    has_cation = bool(np.any(charged & (val > 0)))
    has_anion = bool(np.any(charged & (val < 0)))
    if not (has_cation or has_anion) and rho == 0:
        return 0.0  # nothing to balance: r is undetermined, take the bath potential
    if not (has_cation or rho > 0) or not (has_anion or rho < 0):
        raise ValueError(
            f"no Donnan equilibrium: fixed charge {rho:g} mol/m^3 cannot be balanced by the "
            f"permeant ions {names} "
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
    return float(
        brentq(charge_inside, low, high, xtol=_ROOT_XTOL, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER)
    )


def _donnan_inside(
    c: NDArray[np.floating], val: NDArray[np.floating], s: float
) -> tuple[list[float], list[float]]:
    """Donnan step 3: inside concentrations c e^(z s) of the permeant ions and their
    excesses over the bath, c (e^(z s) - 1) [mol/m^3]."""
    inside, excess = [], []
    for ci, zi in zip(c, val, strict=True):
        exponent = float(zi * s)
        if exponent < _EXP_SAFE:
            inside.append(float(ci * math.exp(exponent)))
            # c (e^(z s) - 1) by expm1: the excess is a small difference of
            # large inside and bath totals when r is near 1.
            excess.append(float(ci * math.expm1(exponent)))
        else:  # extreme ratios: c e^(z s) is finite even where e^(z s) is not
            inside.append(math.exp(math.log(ci) + exponent) if ci > 0 else 0.0)
            excess.append(inside[-1] - float(ci))
    return inside, excess


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
    strength = float(ionic_strength)
    if not (math.isfinite(strength) and strength >= 0):
        raise ValueError(
            f"ionic_strength must be finite and >= 0 [mol/m^3], got {ionic_strength!r}"
        )
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
    if not (
        np.all(np.isfinite(gamma_in))
        and np.all(np.isfinite(gamma_out))
        and np.all(gamma_in > 0)
        and np.all(gamma_out > 0)
    ):
        raise ValueError("activity coefficients must be positive and finite")
    return nernst(
        gamma_in * np.asarray(c_in, dtype=float),
        gamma_out * np.asarray(c_out, dtype=float),
        z,
        temperature,
    )
