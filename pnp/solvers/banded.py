"""The banded linear solve of every Newton iteration, compiled.

A Newton update is the solution of J d = -R with J banded (``kl`` sub- and
``ku`` superdiagonals, a few each: the unknowns of one cell and its
neighbours). At the sizes pnp meets (N from 10^2 to 10^5 unknowns, kl + ku
about 10-20) LAPACK's ``dgbsv`` spends most of its time in calls, not
arithmetic: its unblocked factorization (``dgbtf2``, which ``dgbtrf`` uses
whenever kl is below its block size) calls BLAS three times per column.
Here the same algorithm is written out in one compiled function, fused with
the row equilibration before it:

1. every row of J (and of the right-hand sides) is scaled by its largest
   entry, so that partial pivoting compares rows of one physical size
   (Gauss's law and species balances differ by many decades);
2. LU with partial pivoting within the band, column by column, exactly as
   ``dgbtf2``: the pivot is the first entry of largest magnitude among the
   diagonal and the kl below it, rows swapped over the columns the band
   reaches, fill-in kept in the kl extra rows of the storage;
3. forward substitution with the row swaps, back substitution with U's
   kl + ku superdiagonals.

The storage is LAPACK's: ``ab`` of shape (2 kl + ku + 1, n), entry (i, j) of
J at ``ab[kl + ku + i - j, j]``, rows 0..kl-1 free for the fill-in, in
Fortran order (the kernels index it as one flat array, column after column). ``ab``
and the right-hand sides are overwritten (the factors and the solutions).
The elimination and substitutions let the compiler fuse ``a - l u`` into one
rounding (``fastmath={"contract"}``), as OpenBLAS's ``dger`` does: the
updates are then LAPACK's bit for bit (tests/test_banded.py). That matters:
on the Jacobian of 1e-9 beside 1e3 mol/m^3 both are backward stable, but
separate roundings alone moved the small concentrations' updates by O(1).
On the shipped transients' Jacobians the factorization, equilibration
included, takes about the time of LAPACK's ``dgbtrf`` alone, and the
substitution less than ``dgbtrs`` (docs/numerics.md, "Linear solve"): no
BLAS calls, the band's zero entries skipped, and the storage indexed as
one flat array.

:func:`solve` does all three in one call. :func:`factor` (1 and 2, keeping
the row scales and the pivots) and :func:`substitute` (the row scales on a
new right-hand side, then 3) split it for a factorization used more than
once (the modified Newton of a transient, :mod:`pnp.solvers.reuse`); the
two give :func:`solve`'s answer bit for bit.
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit


def solve(ab: np.ndarray, rhs: np.ndarray, kl: int, ku: int) -> int:
    """Solve J X = rhs in place (``rhs`` (n,) or (n, k); ``ab`` LAPACK band storage).

    Returns 0, or i > 0 when the i-th pivot (1-based) is exactly zero: J is
    singular and ``rhs`` is left unsolved (LAPACK's ``info``).
    """
    n = ab.shape[1]
    if ab.shape[0] != 2 * kl + ku + 1 or rhs.shape[0] != n or kl < 0 or ku < 0:
        raise ValueError(
            f"band storage {ab.shape} and right-hand side {rhs.shape} do not fit "
            f"kl = {kl}, ku = {ku} (needs (2 kl + ku + 1, n) and (n, ...))"
        )
    _fortran(ab)
    b = rhs.reshape(n, 1) if rhs.ndim == 1 else rhs
    return _equilibrate_factor_solve(ab, b, kl, ku)


def _fortran(ab: np.ndarray) -> None:
    """The kernels read the storage as one flat array (:func:`_flat`)."""
    if not ab.flags.f_contiguous:
        raise ValueError("band storage must be one Fortran-ordered array (np.asfortranarray)")


def factor(ab: np.ndarray, kl: int, ku: int, piv: np.ndarray, scale: np.ndarray) -> int:
    """Equilibrate and factor ``ab`` in place (1 and 2), for :func:`substitute`.

    ``piv`` (n, int64) and ``scale`` (n) receive the row swaps and the row
    scales. Returns LAPACK's info, as :func:`solve`.
    """
    n = ab.shape[1]
    if ab.shape[0] != 2 * kl + ku + 1 or piv.shape != (n,) or scale.shape != (n,):
        raise ValueError(
            f"band storage {ab.shape}, pivots {piv.shape} and scales {scale.shape} "
            f"do not fit kl = {kl}, ku = {ku}"
        )
    _fortran(ab)
    return _equilibrate_factor(ab, kl, ku, piv, scale)


def substitute(
    lu: np.ndarray, rhs: np.ndarray, kl: int, ku: int, piv: np.ndarray, scale: np.ndarray
) -> None:
    """Solve J X = rhs in place with :func:`factor`'s ``lu``, ``piv`` and ``scale``."""
    n = lu.shape[1]
    if rhs.shape[0] != n:
        raise ValueError(f"right-hand side {rhs.shape} does not fit {n} unknowns")
    _fortran(lu)
    b = rhs.reshape(n, 1) if rhs.ndim == 1 else rhs
    _scale_substitute(lu, b, kl, ku, piv, scale)


@njit(cache=True)
def _equilibrate_factor_solve(ab, b, kl, ku):
    scale = np.empty(ab.shape[1])
    piv = np.empty(ab.shape[1], dtype=np.int64)
    info = _equilibrate_factor(ab, kl, ku, piv, scale)
    if info == 0:
        _scale_substitute(ab, b, kl, ku, piv, scale)
    return info


@njit(cache=True)
def _equilibrate_factor(ab, kl, ku, piv, scale):
    _equilibrate(ab, kl, ku, scale)
    return _factor(ab, kl, ku, piv)


@njit(cache=True)
def _scale_substitute(ab, b, kl, ku, piv, scale):
    for r in range(b.shape[0]):
        s = scale[r]
        for k in range(b.shape[1]):
            b[r, k] *= s
    _substitute(ab, b, kl, ku, piv)


@njit(cache=True)
def _flat(ab):
    """The storage of ``ab`` (Fortran order) as one flat array, column after
    column, without a copy (a copy would lose the writes: ``reshape`` raises
    instead for storage that is not contiguous). Entry (i, j) of J is then at
    ``j * ld + kl + ku + i - j``, ``ld`` the storage's rows: one index
    product per column instead of one per entry, which at kl + ku ~ 10 is a
    fifth of the factorization's time."""
    return ab.T.reshape(ab.size)


@njit(cache=True)
def _equilibrate(ab, kl, ku, scale):
    """1. Every row of J over J's largest entry in it (``scale``: 1/that, or 1
    for a zero row); the right-hand sides take the same scales."""
    # Column by column: a column's band entries are contiguous in storage,
    # and a maximum and a product per entry do not depend on the order the
    # entries are visited in (a row at a time is 4x slower: strided).
    n = ab.shape[1]
    ld = ab.shape[0]
    kv = kl + ku
    a = _flat(ab)
    scale[:] = 0.0  # the rows' largest entries first
    for c in range(n):
        o = c * ld + kv - c  # J[r, c] at a[o + r]
        for r in range(max(0, c - ku), min(n - 1, c + kl) + 1):
            scale[r] = max(scale[r], abs(a[o + r]))
    for r in range(n):
        scale[r] = 1.0 / scale[r] if scale[r] > 0.0 else 1.0
    for c in range(n):
        o = c * ld + kv - c
        for r in range(max(0, c - ku), min(n - 1, c + kl) + 1):
            a[o + r] *= scale[r]


@njit(cache=True, fastmath={"contract"})
def _factor(ab, kl, ku, piv):
    """2. LU with partial pivoting in the band (dgbtf2's order); LAPACK's info."""
    n = ab.shape[1]
    ld = ab.shape[0]
    kv = kl + ku
    ab[:kl, :] = 0.0  # the fill-in rows start empty
    a = _flat(ab)
    info = 0
    ju = 0  # the last column any row swapped so far reaches
    for j in range(n):
        km = min(kl, n - 1 - j)
        d = j * ld + kv  # the diagonal J[j, j]; J[j + p, j] at a[d + p]
        jp = 0
        big = abs(a[d])
        for p in range(1, km + 1):
            v = abs(a[d + p])
            if v > big:
                big = v
                jp = p
        piv[j] = j + jp
        if a[d + jp] == 0.0:
            if info == 0:
                info = j + 1
            continue
        ju = max(ju, min(j + ku + jp, n - 1))
        if jp != 0:  # swap rows j and j + jp over columns j..ju
            for c in range(j, ju + 1):
                o = c * ld + kv + j - c  # J[j, c]
                t = a[o + jp]
                a[o + jp] = a[o]
                a[o] = t
        inv = 1.0 / a[d]
        for p in range(1, km + 1):
            a[d + p] *= inv
        for c in range(j + 1, ju + 1):
            o = c * ld + kv + j - c  # J[j, c]; J[j + p, c] at a[o + p]
            u = a[o]
            if u != 0.0:
                for p in range(1, km + 1):
                    a[o + p] -= a[d + p] * u
    return info


@njit(cache=True, fastmath={"contract"})
def _substitute(ab, b, kl, ku, piv):
    """3. L (with the row swaps), then U with its kl + ku superdiagonals."""
    n = ab.shape[1]
    ld = ab.shape[0]
    kv = kl + ku
    a = _flat(ab)
    for k in range(b.shape[1]):
        for j in range(n - 1):
            q = piv[j]
            if q != j:
                t = b[q, k]
                b[q, k] = b[j, k]
                b[j, k] = t
            bj = b[j, k]
            if bj != 0.0:
                d = j * ld + kv
                for p in range(1, min(kl, n - 1 - j) + 1):
                    b[j + p, k] -= a[d + p] * bj
        for c in range(n - 1, -1, -1):
            if b[c, k] != 0.0:
                o = c * ld + kv - c  # U[i, c] at a[o + i]
                b[c, k] /= a[o + c]
                bc = b[c, k]
                for i in range(max(0, c - kv), c):
                    b[i, k] -= a[o + i] * bc
