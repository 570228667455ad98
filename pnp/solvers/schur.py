"""The border's algebra, compiled: products with the border rows and columns
and the k x k Schur complement's LU (:mod:`pnp.solvers.bordered`).

The border rows r^T are sparse for the gates (each gate's equation depends
on the state only through V_m, an affine function of one or two potentials:
``vm_index``, ``vm_coef``) and dense for a swelling cell's volume row, so a
product r^T y is a loop over those few entries and one dot product, not a
dense k x n product. The k x k system (k: the number of gates, plus one
for a volume) is small; its LU with partial pivoting is written out here
so that the compiled Newton loop (:mod:`pnp.solvers.iteration`) and the
Python path of :class:`pnp.solvers.bordered.Bordered` make the same
operations in the same order and give the same bits.
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit
from .banded import _scale_substitute


@njit(cache=True)
def border_rows(y, vm_index, vm_coef, dv, n_gates, row, volume, out):
    """r^T y into ``out`` (k x columns of ``y``): gate g's row is dv[g] times
    V_m's coefficients ``vm_coef`` on the unknowns ``vm_index``; with
    ``volume`` the last row is ``row`` (the volume balance, over the
    n0 = y.shape[0] banded unknowns)."""
    n0 = y.shape[0]
    for c in range(y.shape[1]):
        for g in range(n_gates):
            s = 0.0
            for e in range(vm_index.shape[0]):
                s += vm_coef[e] * dv[g] * y[vm_index[e], c]
            out[g, c] = s
        if volume:
            s = 0.0
            for i in range(n0):
                s += row[i] * y[i, c]
            out[n_gates, c] = s


@njit(cache=True)
def lu_factor(a, piv):
    """LU with partial pivoting of the small square ``a`` in place (unit lower
    L below the diagonal, U on and above; ``piv[j]`` the row swapped with j).
    Returns 0, or j + 1 for the first exactly zero pivot j."""
    n = a.shape[0]
    for j in range(n):
        p = j
        big = abs(a[j, j])
        for i in range(j + 1, n):
            if abs(a[i, j]) > big:
                p, big = i, abs(a[i, j])
        piv[j] = p
        if big == 0.0:
            return j + 1
        if p != j:
            for c in range(n):
                a[j, c], a[p, c] = a[p, c], a[j, c]
        for i in range(j + 1, n):
            a[i, j] /= a[j, j]
            m = a[i, j]
            for c in range(j + 1, n):
                a[i, c] -= m * a[j, c]
    return 0


@njit(cache=True)
def lu_solve(a, piv, b):
    """Solve with :func:`lu_factor`'s ``a`` and ``piv``; ``b`` (n,) in place."""
    n = a.shape[0]
    for j in range(n):
        p = piv[j]
        if p != j:
            b[j], b[p] = b[p], b[j]
    for i in range(n):
        for j in range(i):
            b[i] -= a[i, j] * b[j]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            b[i] -= a[i, j] * b[j]
        b[i] /= a[i, i]


@njit(cache=True)
def schur_factor(kept, kl, ku, piv, row_scale, border, schur, schur_piv):
    """After the band's factorization (``kept``: the border columns B on entry):
    Y = J^-1 B in ``kept``, then the k x k Schur complement D - r^T Y and its
    LU in ``schur``, ``schur_piv``. ``border``: (lu, vm_index, vm_coef, dv,
    n_gates, row, volume, diag), ``diag`` the k entries of D (D is diagonal:
    a gate's equation depends on no other gate, the volume's on none).
    Returns 0 or the first zero pivot of the Schur LU (1-based)."""
    lu, vm_index, vm_coef, dv, n_gates, row, volume, diag = border
    _scale_substitute(lu, kept, kl, ku, piv, row_scale)
    border_rows(kept, vm_index, vm_coef, dv, n_gates, row, volume, schur)
    k = schur.shape[0]
    for i in range(k):
        for j in range(k):
            schur[i, j] = -schur[i, j]
        schur[i, i] += diag[i]
    return lu_factor(schur, schur_piv)


@njit(cache=True)
def schur_substitute(res, y0, kl, ku, piv, row_scale, kept, border, schur, schur_piv, right):
    """The Newton update -J^-1 R of the bordered Jacobian, written over
    ``res`` (the residual R): y0 = J^-1 R_cells with the band's LU, the
    border's du from (D - r^T Y) du = r^T y0 - R_border, dx = -y0 - Y du.
    ``y0`` (n0, 1) and ``right`` (k, 1) are work arrays; ``border`` as
    :func:`schur_factor`'s, its ``dv`` the one kept at that factorization.
    The update is not checked for nan or inf here (its caller does)."""
    lu, vm_index, vm_coef, dv, n_gates, row, volume, _ = border
    n0 = y0.shape[0]
    k = schur.shape[0]
    for i in range(n0):
        y0[i, 0] = res[i]
    _scale_substitute(lu, y0, kl, ku, piv, row_scale)
    border_rows(y0, vm_index, vm_coef, dv, n_gates, row, volume, right)
    du = right[:, 0]
    for g in range(k):
        du[g] -= res[n0 + g]
    lu_solve(schur, schur_piv, du)
    for i in range(n0):
        res[i] = 0.0
    for j in range(k):
        m = -du[j]
        for i in range(n0):
            res[i] += kept[i, j] * m
    for i in range(n0):
        res[i] -= y0[i, 0]
    for g in range(k):
        res[n0 + g] = du[g]


@njit(cache=True)
def gate_columns(shifted, base, steps, dfdx, gate_channel, conductor_of, columns):
    """Each gate's column of B: (R(f + df) - R(f)) / df of its conductor
    (``shifted[j]``: the cells' residual R with conductor j's factor moved
    by ``steps[j]``; ``base``: R) times the gate's df/dx."""
    n0 = base.shape[0]
    for j in range(steps.shape[0]):  # each conductor (shifted may have a spare row)
        for i in range(n0):
            shifted[j, i] = (shifted[j, i] - base[i]) / steps[j]
    for g in range(dfdx.shape[0]):
        cond = conductor_of[gate_channel[g]]
        for i in range(n0):
            columns[i, g] = shifted[cond, i] * dfdx[g]


@njit(cache=True)
def factor_steps(f, step):
    """The one-sided difference step of each conductor factor: ``step``
    relative, at least ``step`` x 1e-6."""
    out = np.empty(f.shape[0])
    for j in range(f.shape[0]):
        out[j] = step * max(abs(f[j]), 1e-6)
    return out
