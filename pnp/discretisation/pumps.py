"""Na/K pumps as source terms of the cell balances, compiled.

A pump (a :class:`pnp.discretisation.model.PumpSite`) moves 3 Na+ out of the
cell beside its membrane on the inside and 2 K+ into it per cycle, at a
constant rate j_p [mol/m^2/s] or at the saturating rate

    j_p = j_max (Na_in / (Na_in + K_Na))^3 (K_out / (K_out + K_K))^2

read in the two cells beside the membrane (negative iterates clipped to 0).
Its sources enter the residual at the current iterate; the Jacobian gets
the derivative of each cell's rows with respect to that cell's own
concentration (the cross-membrane coupling, further apart than the band,
is lagged).

The pumps of a model are flattened once (:func:`pump_arrays`) so that the
sources and the Jacobian part can be formed inside compiled code (the
modified Newton loop of :mod:`pnp.solvers.iteration`) as well as from
Python (:func:`pnp.discretisation.model.pump_sources`); both call the same
compiled functions, so they give the same bits.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiled import njit

# columns of pump_arrays' integer and float tables
INSIDE, OUTSIDE, SODIUM, POTASSIUM = range(4)
AREA, RATE, J_MAX, K_NA, K_K = range(5)


def pump_arrays(pumps) -> tuple[np.ndarray, np.ndarray]:
    """(P, 4) int64 [inside cell, outside cell, Na index, K index] and (P, 5)
    float [area, constant rate (nan: saturating), j_max, K_Na, K_K (nan when
    constant)] of ``pumps``."""
    cells = np.zeros((len(pumps), 4), dtype=np.int64)
    values = np.full((len(pumps), 5), np.nan)
    for i, p in enumerate(pumps):
        cells[i] = (p.inside_cell, p.outside_cell, p.sodium, p.potassium)
        values[i, AREA] = p.area
        if p.rate is not None:
            values[i, RATE] = p.rate
        else:
            values[i, J_MAX], values[i, K_NA], values[i, K_K] = p.j_max, p.K_Na, p.K_K
    return cells, values


@njit(cache=True)
def rate(values, na_in, k_out):
    """Cycle rate j_p of the pump with float row ``values`` at Na inside ``na_in``
    and K outside ``k_out`` [mol/m^3]."""
    if not math.isnan(values[RATE]):
        return values[RATE]
    na = max(na_in, 0.0)
    k = max(k_out, 0.0)
    return values[J_MAX] * (na / (na + values[K_NA])) ** 3.0 * (k / (k + values[K_K])) ** 2.0


@njit(cache=True)
def rate_derivatives(values, na_in, k_out):
    """(d j_p / d Na_in, d j_p / d K_out); (0, 0) for a constant pump."""
    if not math.isnan(values[RATE]):
        return 0.0, 0.0
    na = max(na_in, 0.0)
    k = max(k_out, 0.0)
    f = na / (na + values[K_NA])
    g = k / (k + values[K_K])
    j_max = values[J_MAX]
    d_na = j_max * 3.0 * f**2.0 * values[K_NA] / (na + values[K_NA]) ** 2.0 * g**2.0
    d_k = j_max * f**3.0 * 2.0 * g * values[K_K] / (k + values[K_K]) ** 2.0
    return d_na, d_k


@njit(cache=True)
def _concentrations(x, n_boundary, block, cells, p):
    """(Na inside, K outside) of pump ``p`` in state ``x``."""
    na_in = x[n_boundary + cells[p, INSIDE] * block + cells[p, SODIUM]]
    k_out = x[n_boundary + cells[p, OUTSIDE] * block + cells[p, POTASSIUM]]
    return na_in, k_out


@njit(cache=True)
def sources(x, n_boundary, block, cells, values, out):
    """Source terms [mol/s] of every pump at ``x`` into ``out`` (S, N), zeroed first."""
    out[:, :] = 0.0
    for p in range(cells.shape[0]):
        na_in, k_out = _concentrations(x, n_boundary, block, cells, p)
        moved = rate(values[p], na_in, k_out) * values[p, AREA]
        inside, outside = cells[p, INSIDE], cells[p, OUTSIDE]
        na, k = cells[p, SODIUM], cells[p, POTASSIUM]
        out[na, inside] -= 3.0 * moved
        out[na, outside] += 3.0 * moved
        out[k, inside] += 2.0 * moved
        out[k, outside] -= 2.0 * moved


@njit(cache=True)
def add_jacobian(x, n_boundary, block, cells, values, z, cont, ab, kl, ku):
    """Add the in-band part of the pumps' Jacobian to the band ``ab``: the
    derivative of each cell's Na and K rows (residual = ... - source) with
    respect to the concentration its rate reads there; where current
    continuity replaces species 0's balance (``cont``), z times it to that
    row as the kernel does."""
    for p in range(cells.shape[0]):
        na_in, k_out = _concentrations(x, n_boundary, block, cells, p)
        d_na, d_k = rate_derivatives(values[p], na_in, k_out)
        if d_na == 0.0 and d_k == 0.0:
            continue
        area = values[p, AREA]
        for side in range(2):
            cell = cells[p, INSIDE] if side == 0 else cells[p, OUTSIDE]
            col = (
                n_boundary + cell * block + (cells[p, SODIUM] if side == 0 else cells[p, POTASSIUM])
            )
            d_rate = d_na if side == 0 else d_k
            out = 1.0 if cell == cells[p, INSIDE] else -1.0  # Na leaves the inside cell
            for which in range(2):
                species = cells[p, SODIUM] if which == 0 else cells[p, POTASSIUM]
                per_cycle = 3.0 if which == 0 else -2.0
                value = out * per_cycle * area * d_rate
                if not (cont[cell] and species == 0):
                    row = n_boundary + cell * block + species
                    ab[kl + ku + row - col, col] += value
                if cont[cell]:
                    row = n_boundary + cell * block
                    ab[kl + ku + row - col, col] += z[species] * value
