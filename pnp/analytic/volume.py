"""Water and cell volume: osmotic pressure, Boyle–van 't Hoff, Donnan swelling held by a stiffness.

References for the osmotic water flux of issue 14 (water and cell volume),
written from the physics before the solver has it:

* Osmotic pressure of ideal (or osmotic-coefficient corrected) solutions,
  van 't Hoff: Pi = phi R T sum_i c_i.
* A cell impermeant to every solute, with no wall stiffness, holds n
  osmoles; water flows until the osmolarities match (Boyle–van 't Hoff):
  V_inf = n / c_out, and on the way, with a constant membrane area A and
  water permeability L_p (water flux outward positive, J_w = -L_p (Pi_in -
  Pi_out) with no pressure difference), dV/dt = A L_p R T (n / V - c_out).
  Separating variables with k = A L_p R T c_out:
  t(V) = [ (V0 - V) + V_inf ln((V_inf - V0) / (V_inf - V)) ] / k,
  monotone between V0 and V_inf; V(t) is its inverse (a bracketed root).
* Donnan equilibrium of a cell whose wall pushes back: impermeant ions
  (amount n, valence z_X) inside, a 1:1 permeant salt c0 in the bath, each
  salt ion in Boltzmann equilibrium, the inside electroneutral, and the
  hydrostatic pressure K (V / V0 - 1) balancing the osmotic excess. With
  x = n / V and u = F V_m / (R T): sinh u = z_X x / (2 c0), and the excess
  is R T (sqrt(4 c0^2 + z_X^2 x^2) + x - 2 c0), which falls as V grows while
  the wall's pressure rises: one root in V, always above V0. Without a
  stiffness there is none: the cell swells without bound.

Units as everywhere in :mod:`pnp.analytic` (SI; volumes in m^3, or m for a
cartesian compartment's length per unit of membrane area; amounts in mol
per the same unit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from ..constants import FARADAY, GAS_CONSTANT, _check_positive, _check_temperature
from ._numerics import _ROOT_MAXITER, _ROOT_RTOL, _scalar_or_array

__all__ = [
    "boyle_van_t_hoff",
    "osmotic_pressure",
    "osmotic_volume",
    "pump_leak_volume",
    "stiff_donnan",
]


def osmotic_pressure(
    concentrations: Mapping[str, float] | ArrayLike,
    temperature: float,
    osmotic_coefficient: float = 1.0,
) -> float:
    """Van 't Hoff osmotic pressure Pi = phi R T sum_i c_i [Pa].

    Parameters
    ----------
    concentrations : mapping or sequence of float
        c_i [mol/m^3] of every solute, impermeant ones included (>= 0).
    temperature : float
        T [K].
    osmotic_coefficient : float, optional
        phi [-]: 1 for ideal solutions (default); about 0.93 for NaCl and
        0.92 for KCl at physiological strength and 37 degC.
    """
    values = concentrations.values() if isinstance(concentrations, Mapping) else concentrations
    c = np.asarray(list(values) if isinstance(concentrations, Mapping) else values, dtype=float)
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(f"concentrations must be finite and non-negative, got {concentrations!r}")
    phi = _check_positive("osmotic_coefficient", osmotic_coefficient)
    return float(phi * GAS_CONSTANT * _check_temperature(temperature) * c.sum())


def boyle_van_t_hoff(volume0: float, osmolarity_inside0: float, osmolarity_outside: float) -> float:
    """Final volume of a cell impermeant to every solute, with no stiffness [m^3].

    ``V0 * osmolarity_inside0 / osmolarity_outside``: water moves until the
    inside osmolarity (fixed amount over the volume) equals the bath's.
    Osmolarities in mol/m^3 (osmol), both positive.
    """
    volume0 = _check_positive("volume0", volume0)
    inside = _check_positive("osmolarity_inside0", osmolarity_inside0)
    outside = _check_positive("osmolarity_outside", osmolarity_outside)
    return volume0 * inside / outside


def _time_to_reach(v, v0: float, v_inf: float, k: float) -> float:
    """t(V) of the constant-area Boyle–van 't Hoff relaxation (module doc)."""
    return ((v0 - v) + v_inf * math.log((v_inf - v0) / (v_inf - v))) / k


def osmotic_volume(
    t: ArrayLike,
    volume0: float,
    solute_amount: float,
    osmolarity_outside: float,
    area: float,
    water_permeability: float,
    temperature: float,
) -> float | NDArray[np.floating]:
    """Volume V(t) of a cell impermeant to every solute, membrane area fixed [m^3].

    Solves dV/dt = A L_p R T (n / V - c_out) from V(0) = V0 in closed form
    (module doc): V relaxes monotonically to n / c_out.

    Parameters
    ----------
    t : float or array_like
        Times [s], >= 0.
    volume0 : float
        V0 [m^3] (for a cartesian compartment: its length [m] per m^2 of
        membrane, with ``area`` = 1).
    solute_amount : float
        n [mol] of osmotically active solute inside (all of it impermeant).
    osmolarity_outside : float
        c_out [mol/m^3] of the bath after the change.
    area : float
        Membrane area A [m^2], constant.
    water_permeability : float
        L_p [m/(s Pa)].
    temperature : float
        T [K].
    """
    v0 = _check_positive("volume0", volume0)
    n = _check_positive("solute_amount", solute_amount)
    c_out = _check_positive("osmolarity_outside", osmolarity_outside)
    k = (
        _check_positive("area", area)
        * _check_positive("water_permeability", water_permeability)
        * GAS_CONSTANT
        * _check_temperature(temperature)
        * c_out
    )
    times = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"t must be finite and non-negative, got {t!r}")
    v_inf = n / c_out
    out = np.empty(times.shape)
    for index, time in np.ndenumerate(times):
        if time == 0.0 or v_inf == v0:
            out[index] = v0
            continue
        # t(V) runs from 0 at V0 to infinity at V_inf; at this V its log term alone
        # is time + V_inf / k, and V0 - V + V_inf > 0: t(far) > time brackets the root
        far = v_inf - (v_inf - v0) * math.exp(-min(k * time / v_inf + 1.0, 745.0))
        if far == v_inf:  # within round-off of the final volume
            out[index] = v_inf
            continue
        out[index] = brentq(
            lambda v, time=time: _time_to_reach(v, v0, v_inf, k) - time,
            v0,
            far,
            xtol=1e-300,
            rtol=_ROOT_RTOL,
            maxiter=_ROOT_MAXITER,
        )
    return _scalar_or_array(out)


def stiff_donnan(
    salt: float,
    impermeant_amount: float,
    volume0: float,
    stiffness: float,
    temperature: float,
    z_impermeant: int = -1,
) -> tuple[float, float]:
    """Donnan equilibrium of a cell held by a wall stiffness: (volume [m^3], V_m [V]).

    Impermeant ions of valence ``z_impermeant`` (amount n) inside; a 1:1
    salt of concentration ``salt`` in the bath whose two ions both cross
    the membrane; the hydrostatic pressure difference K (V / V0 - 1)
    balances the osmotic excess of the inside (module doc). V_m = phi_in -
    phi_out.

    Raises ValueError when ``stiffness`` is 0: no volume balances the
    excess, the cell swells without bound.
    """
    c0 = _check_positive("salt", salt)
    n = _check_positive("impermeant_amount", impermeant_amount)
    v0 = _check_positive("volume0", volume0)
    rt = GAS_CONSTANT * _check_temperature(temperature)
    z = int(z_impermeant)
    if z == 0:
        raise ValueError("z_impermeant must be a non-zero valence")
    stiffness = float(stiffness)
    if not (math.isfinite(stiffness) and stiffness >= 0):
        raise ValueError(f"stiffness must be finite and non-negative, got {stiffness!r}")
    if stiffness == 0.0:
        raise ValueError(
            "no equilibrium volume: with impermeant solute inside and no stiffness "
            "the cell swells without bound"
        )

    def excess(v: float) -> float:
        x = n / v
        return rt * (math.sqrt(4.0 * c0 * c0 + z * z * x * x) + x - 2.0 * c0)

    def balance(v: float) -> float:
        return stiffness * (v / v0 - 1.0) - excess(v)

    upper = v0 * (1.0 + excess(v0) / stiffness)  # the excess only falls above V0
    volume = brentq(balance, v0, upper, xtol=1e-300, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER)
    u = math.asinh(z * n / volume / (2.0 * c0))
    return volume, u * rt / FARADAY


def _bernoulli(x: float) -> float:
    """B(x) = x / (e^x - 1), B(0) = 1."""
    return 1.0 if x == 0.0 else x / math.expm1(x)


def pump_leak_volume(
    bath: Mapping[str, float],
    valences: Mapping[str, int],
    permeabilities: Mapping[str, float],
    pump_rate: float,
    impermeant_amount: float,
    temperature: float,
    *,
    z_impermeant: int = -1,
    sodium: str = "Na",
    potassium: str = "K",
    stiffness: float = 0.0,
    volume0: float | None = None,
) -> dict:
    """Steady state of a pump–leak cell whose volume follows the water: V_m, volume, contents.

    A compartment model (no space, no diffuse layers): ideal solutions; GHK
    leaks per membrane area, J_i = P_i [c_i,in B(-z_i u) - c_i,out B(z_i u)]
    (outward, u = F V_m / RT, B(x) = x / (e^x - 1)); a pump of constant
    cycle rate j_p per area moving 3 ``sodium`` out and 2 ``potassium`` in;
    impermeant ions X (valence ``z_impermeant``, amount n) inside; water in
    osmotic balance, RT (c_in,tot - c_out,tot) = K (V / V0 - 1).

    At steady state every permeant ion's leak cancels its pump flux s_i
    (3 j_p for sodium, -2 j_p for potassium, 0 otherwise), so each inside
    concentration is explicit in u:

        c_i,in(u) = (c_i,out B(z_i u) - s_i / P_i) / B(-z_i u)

    (c_out e^(-z u) for an ion without pump: Boltzmann). Electroneutrality
    gives the X concentration x(u) = -sum_i z_i c_i,in(u) / z_X, and the
    osmotic balance is one equation for u, solved by a bracketed root;
    the volume is n / x. Permeabilities and pump rate are per area, so the
    area cancels: the steady state does not depend on the cell's shape.
    Bath solutes that do not cross (P = 0 or not listed) count in the bath's
    osmolarity only.

    Parameters: ``bath`` c_i,out [mol/m^3] of every bath solute; ``valences``
    z_i of every species named; ``permeabilities`` P_i [m/s] (> 0) of the
    permeant ones; ``pump_rate`` j_p [mol/(m^2 s)]; ``impermeant_amount`` n
    [mol] of X (per m^3, or per m^2 of membrane for a cartesian compartment);
    ``temperature`` [K]; ``stiffness`` K [Pa] with ``volume0`` V0, where it
    exerts no pressure.

    Returns a dict: ``membrane_potential`` [V], ``volume`` (n's unit per
    mol/m^3), ``inside`` {species: mol/m^3, "X": x}, ``osmolarity_inside``
    and ``osmolarity_outside`` [mol/m^3], ``pressure`` K (V/V0 - 1) [Pa].

    Raises
    ------
    ValueError
        Bad input, or no steady state with positive contents (e.g. a pump
        too strong for its leaks), or more than one.
    """
    rt = GAS_CONSTANT * _check_temperature(temperature)
    n = _check_positive("impermeant_amount", impermeant_amount)
    zx = int(z_impermeant)
    if zx == 0:
        raise ValueError("z_impermeant must be a non-zero valence")
    jp = float(pump_rate)
    stiffness = float(stiffness)
    if not (math.isfinite(jp) and jp >= 0) or not (math.isfinite(stiffness) and stiffness >= 0):
        raise ValueError(
            f"pump_rate and stiffness must be finite and >= 0, got {jp!r}, {stiffness!r}"
        )
    if stiffness > 0:
        if volume0 is None:
            raise ValueError("a stiffness needs volume0, the volume at which it exerts no pressure")
        v0 = _check_positive("volume0", volume0)
    out_total = sum(float(c) for c in bath.values())
    perm = {k: _check_positive(f"permeability of {k}", p) for k, p in permeabilities.items()}
    share = {k: 0.0 for k in perm}
    for name, s in ((sodium, 3.0 * jp), (potassium, -2.0 * jp)):
        if jp > 0 and name not in perm:
            raise ValueError(f"the pump moves {name!r}, which has no permeability")
        if name in share:
            share[name] = s

    inside = _steady_contents(bath, valences, perm, share, zx)

    def balance(u: float) -> float:
        c = inside(u)
        pressure = stiffness * (n / (c["X"] * v0) - 1.0) if stiffness > 0 else 0.0
        return rt * (sum(c.values()) - out_total) - pressure

    u = _only_root(balance, lambda u: all(v > 0 for v in inside(u).values()))
    c = inside(u)
    volume = n / c["X"]
    return {
        "membrane_potential": u * rt / FARADAY,
        "volume": volume,
        "inside": c,
        "osmolarity_inside": sum(c.values()),
        "osmolarity_outside": out_total,
        "pressure": stiffness * (volume / v0 - 1.0) if stiffness > 0 else 0.0,
    }


def _steady_contents(bath, valences, perm, share, zx):
    """u -> inside concentrations at steady state: c_i,in(u) of every permeant ion, and X."""

    def inside(u: float) -> dict:
        c = {}
        for k, p in perm.items():
            z = valences[k]
            c[k] = (bath.get(k, 0.0) * _bernoulli(z * u) - share[k] / p) / _bernoulli(-z * u)
        c["X"] = -sum(valences[k] * v for k, v in c.items()) / zx
        return c

    return inside


def _only_root(balance, valid) -> float:
    """The one root of ``balance(u)`` for |u| < 40 where ``valid(u)`` (ValueError if not one)."""
    grid = np.linspace(-40.0, 40.0, 8001)
    f = [balance(u) if valid(u) else math.nan for u in grid]
    roots = [
        (a, b)
        for a, b, fa, fb in zip(grid[:-1], grid[1:], f[:-1], f[1:], strict=True)
        if math.isfinite(fa) and math.isfinite(fb) and (fa == 0.0 or fa * fb < 0.0)
    ]
    if len(roots) != 1:
        raise ValueError(
            f"{'no' if not roots else len(roots)} steady state(s) with positive contents "
            "(|F V_m / RT| < 40): the pump may be too strong for its leaks"
        )
    return brentq(balance, *roots[0], xtol=1e-15, rtol=_ROOT_RTOL, maxiter=_ROOT_MAXITER)
