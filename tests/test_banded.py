"""The compiled banded solve (pnp.solvers.banded) against LAPACK and dense algebra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numba.core.errors import TypingError
from scipy.linalg import lapack

from pnp.solvers import banded


def _random_band(rng, n, kl, ku, row_decades=0):
    """A banded matrix (dense and in LAPACK band storage) whose diagonal need
    not dominate, rows scaled over ``row_decades`` decades."""
    a = np.zeros((n, n))
    for d in range(-kl, ku + 1):
        idx = np.arange(max(0, -d), min(n, n - d))
        a[idx, idx + d] = rng.normal(size=idx.size)
    a *= 10.0 ** rng.uniform(-row_decades, 0, size=(n, 1))
    ab = np.zeros((2 * kl + ku + 1, n), order="F")
    for j in range(n):
        for i in range(max(0, j - ku), min(n, j + kl + 1)):
            ab[kl + ku + i - j, j] = a[i, j]
    return a, ab


@pytest.mark.parametrize("seed", range(40))
def test_solutions_are_backward_stable_and_match_lapack(seed):
    """Random bands (pivoting needed: the diagonal is no larger than its
    neighbours; rows 12 decades apart, as Gauss's law and a 1e-12 mol/m^3
    balance are). On the row-equilibrated system the solution's normwise
    backward error is at round-off (measured <= 0.42 eps over 200 seeds,
    bound 4 eps), and it differs from LAPACK's dgbsv on that system by no
    more than conditioning allows (measured <= 0.11 eps cond, bound 1)."""
    eps = np.finfo(float).eps
    rng = np.random.default_rng(seed)
    n, kl, ku = int(rng.integers(1, 80)), int(rng.integers(0, 7)), int(rng.integers(0, 10))
    a, ab = _random_band(rng, n, kl, ku, row_decades=12)
    rhs = np.asfortranarray(rng.normal(size=(n, 3)) * 10.0 ** rng.uniform(-12, 0, size=(n, 1)))
    x = rhs.copy(order="F")
    assert banded.solve(ab.copy(order="F"), x, kl, ku) == 0
    s = 1.0 / np.abs(a).max(axis=1)
    eq, b_eq = a * s[:, None], rhs * s[:, None]
    size = np.abs(eq).sum(axis=1).max() * np.abs(x).max() + np.abs(b_eq).max()
    assert np.abs(eq @ x - b_eq).max() <= 4 * eps * size
    ab_eq = ab.copy(order="F")
    for j in range(n):
        for i in range(max(0, j - ku), min(n, j + kl + 1)):
            ab_eq[kl + ku + i - j, j] *= s[i]
    _, _, ref, info = lapack.dgbsv(kl, ku, ab_eq, b_eq)
    assert info == 0
    cond = np.linalg.cond(eq, np.inf)
    assert np.abs(x - ref).max() <= eps * cond * np.abs(ref).max()


def test_one_right_hand_side_as_a_vector():
    rng = np.random.default_rng(7)
    a, ab = _random_band(rng, 30, 3, 5)
    b = rng.normal(size=30)
    x = b.copy()
    assert banded.solve(ab, x, 3, 5) == 0
    np.testing.assert_allclose(a @ x, b, rtol=0, atol=1e-12 * np.abs(b).max() * np.linalg.cond(a))


@pytest.mark.parametrize("column", [0, 7, 19])
def test_a_zero_column_is_reported_as_lapack_does(column):
    """A singular J: info is the 1-based index of the first zero pivot, as
    dgbsv's, and the right-hand side is left unsolved."""
    rng = np.random.default_rng(column)
    _, ab = _random_band(rng, 20, 2, 3)
    ab[:, column] = 0.0
    b = rng.normal(size=(20, 1))
    x = b.copy()
    info = banded.solve(ab.copy(order="F"), x, 2, 3)
    _, _, _, ref = lapack.dgbsv(2, 3, ab.copy(order="F"), b.copy())
    assert info == ref == column + 1


def test_storage_that_does_not_fit_the_bandwidths_is_refused():
    with pytest.raises(ValueError, match="do not fit kl = 2, ku = 3"):
        banded.solve(np.zeros((7, 10), order="F"), np.zeros(10), 2, 3)
    with pytest.raises(ValueError, match="right-hand side"):
        banded.solve(np.zeros((8, 10), order="F"), np.zeros(9), 2, 3)


def test_the_jacobians_of_a_twelve_decade_run_solve_as_lapack_does():
    """On the row-equilibrated Jacobians of a run with 1e-9 beside 1e3 mol/m^3
    (tests/test_engine.py: Nernst across twelve decades) the updates are
    LAPACK's dgbsv's: the same pivots and the same fused multiply-adds in the
    elimination (numba may contract a - l u into one rounding, as OpenBLAS's
    dger does). Both are backward stable, but these systems are so
    ill-conditioned that separate roundings alone changed the small
    concentrations' updates by O(1), and the run then took 425 steps instead
    of 237 and missed Nernst by 3.5e-8 V instead of 2.1e-9 V. Measured: equal
    bit for bit; allowed 1e-12 of the largest entry."""
    import pnp
    from pnp.discretisation import kernel

    over = {
        "region.cytoplasm.concentration.K": 1000.0,
        "region.cytoplasm.concentration.Cl": 1000.0,
        "region.bath.concentration.K": 1e-9,
        "region.bath.concentration.Cl": 1e-9,
        "run.max_steps": 40,
    }
    case = pnp.load_case(Path(__file__).resolve().parent.parent / "cases" / "nernst_k.toml", over)
    seen = []
    solve = banded.solve

    def spy(ab, rhs, kl, ku):
        seen.append((ab.copy(order="F"), rhs.copy(), kl, ku))
        return solve(ab, rhs, kl, ku)

    banded.solve = spy
    try:
        pnp.run(case, adapt_mesh=False)
    finally:
        banded.solve = solve
    assert len(seen) >= 40
    for ab, rhs, kl, ku in seen[::4]:
        x = rhs.copy()
        assert solve(ab.copy(order="F"), x, kl, ku) == 0
        ab_l, ref = ab.copy(order="F"), rhs.copy()
        kernel.equilibrate_rows(ab_l, ref, kl, ku)
        _, _, ref, info = lapack.dgbsv(kl, ku, ab_l, ref)
        assert info == 0
        assert np.max(np.abs(x - ref)) <= 1e-12 * np.max(np.abs(ref))


@pytest.mark.parametrize("seed", range(10))
def test_factor_then_substitute_is_solve_bit_for_bit(seed):
    """factor (row scales and pivots kept) and substitute, applied to two
    right-hand sides in turn, give solve's answer exactly, and the factors
    are used again unchanged (the modified Newton's second substitution)."""
    rng = np.random.default_rng(100 + seed)
    n, kl, ku = int(rng.integers(1, 60)), int(rng.integers(0, 6)), int(rng.integers(0, 8))
    _, ab = _random_band(rng, n, kl, ku, row_decades=12)
    lu = ab.copy(order="F")
    piv, scale = np.zeros(n, dtype=np.int64), np.zeros(n)
    assert banded.factor(lu, kl, ku, piv, scale) == 0
    kept = lu.copy(order="F")
    for _ in range(2):
        b = rng.normal(size=n) * 10.0 ** rng.uniform(-12, 0, size=n)
        x, ref = b.copy(), b.copy()
        banded.substitute(lu, x, kl, ku, piv, scale)
        assert banded.solve(ab.copy(order="F"), ref, kl, ku) == 0
        assert np.array_equal(x, ref)
        assert np.array_equal(lu, kept)


def test_factor_reports_a_zero_pivot_as_solve_does():
    rng = np.random.default_rng(3)
    _, ab = _random_band(rng, 20, 2, 3)
    ab[:, 7] = 0.0
    piv, scale = np.zeros(20, dtype=np.int64), np.zeros(20)
    assert banded.factor(ab.copy(order="F"), 2, 3, piv, scale) == 8
    assert banded.solve(ab.copy(order="F"), np.ones(20), 2, 3) == 8


def test_factor_and_substitute_refuse_arrays_that_do_not_fit():
    piv, scale = np.zeros(10, dtype=np.int64), np.zeros(10)
    with pytest.raises(ValueError, match="do not fit kl = 2, ku = 3"):
        banded.factor(np.zeros((7, 10), order="F"), 2, 3, piv, scale)
    with pytest.raises(ValueError, match="do not fit kl = 2, ku = 3"):
        banded.factor(np.zeros((8, 10), order="F"), 2, 3, piv[:9], scale)
    with pytest.raises(ValueError, match="right-hand side"):
        banded.substitute(np.zeros((8, 10), order="F"), np.zeros(9), 2, 3, piv, scale)


def test_storage_that_is_not_one_fortran_array_is_refused():
    """The kernels index the band as one flat array, column after column: a
    C-ordered band is refused with a clear error, and a strided view reaching
    the compiled kernel raises instead of factoring a copy (its writes lost)."""
    rng = np.random.default_rng(5)
    _, ab = _random_band(rng, 12, 2, 3)
    piv, scale = np.zeros(12, dtype=np.int64), np.zeros(12)
    c_order = np.ascontiguousarray(ab)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        banded.factor(c_order, 2, 3, piv, scale)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        banded.solve(c_order, np.ones(12), 2, 3)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        banded.substitute(c_order, np.ones(12), 2, 3, piv, scale)
    wide = np.zeros((8, 24), order="F")
    wide[:, ::2] = ab
    with pytest.raises((NotImplementedError, TypingError)):  # at run or compile time
        banded._equilibrate_factor(wide[:, ::2], 2, 3, piv, scale)
    assert np.array_equal(wide[:, ::2], ab)


def test_exact_small_integer_systems_are_solved_exactly():
    """Right-hand sides and pivots of exactly +-1 and 0 (the skips for zero
    entries must not skip anything else): a lower and an upper bidiagonal
    matrix of ones and a tridiagonal one, b all ones; the solutions are
    integers or simple fractions, exact in floating point."""
    n = 6
    cases = [
        (1, 0, np.eye(n) + np.eye(n, k=-1)),  # x = 1, 0, 1, 0, ...
        (0, 1, np.eye(n) + np.eye(n, k=1)),
        (1, 1, 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)),
    ]
    for kl, ku, a in cases:
        ab = np.zeros((2 * kl + ku + 1, n), order="F")
        for j in range(n):
            for i in range(max(0, j - ku), min(n, j + kl + 1)):
                ab[kl + ku + i - j, j] = a[i, j]
        for sign in (1.0, -1.0):  # intermediate values of exactly 1, then -1
            x = np.full(n, sign)
            assert banded.solve(ab.copy(order="F"), x, kl, ku) == 0
            want = np.linalg.solve(a, np.full(n, sign))
            np.testing.assert_allclose(x, want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("seed", range(6))
def test_storage_outside_the_matrix_is_never_read(seed):
    """LAPACK band storage has slots that belong to no entry (the fill-in
    rows, the corners above row 0 and below row n - 1): with garbage in all
    of them (1e30, which would win any pivot search and swamp any sum it
    entered) the factors, pivots and solutions are those of a clean band,
    bit for bit."""
    rng = np.random.default_rng(100 + seed)
    n, kl, ku = 11, 2 + seed % 2, 3
    _, clean = _random_band(rng, n, kl, ku, row_decades=6)
    dirty = clean.copy(order="F")
    for j in range(n):
        for r in range(dirty.shape[0]):
            if r < kl or not 0 <= r - kl - ku + j < n:
                dirty[r, j] = 1e30
    b = rng.normal(size=(n, 2))
    x_clean, x_dirty = b.copy(), b.copy()
    assert banded.solve(clean.copy(order="F"), x_clean, kl, ku) == 0
    assert banded.solve(dirty.copy(order="F"), x_dirty, kl, ku) == 0
    assert np.array_equal(x_dirty, x_clean)
    piv_c, piv_d = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    sc_c, sc_d = np.zeros(n), np.zeros(n)
    lu_c, lu_d = clean.copy(order="F"), dirty.copy(order="F")
    assert banded.factor(lu_c, kl, ku, piv_c, sc_c) == 0
    assert banded.factor(lu_d, kl, ku, piv_d, sc_d) == 0
    assert np.array_equal(piv_d, piv_c) and np.array_equal(sc_d, sc_c)
    # nothing is written there either, except the fill-in rows (LU's workspace)
    corners = np.zeros(dirty.shape, dtype=bool)
    for j in range(n):
        for r in range(kl, dirty.shape[0]):
            corners[r, j] = not 0 <= r - kl - ku + j < n
    assert np.all(lu_d[corners] == 1e30)
    rhs_c, rhs_d = b[:, 0].copy(), b[:, 0].copy()
    banded.substitute(lu_c, rhs_c, kl, ku, piv_c, sc_c)
    banded.substitute(lu_d, rhs_d, kl, ku, piv_d, sc_d)
    assert np.array_equal(rhs_d, rhs_c)


def test_negative_bandwidths_are_refused():
    """Storage whose shape fits 2 kl + ku + 1 but with a negative bandwidth."""
    with pytest.raises(ValueError, match="do not fit"):
        banded.solve(np.zeros((6, 10), order="F"), np.zeros(10), 3, -1)
    with pytest.raises(ValueError, match="do not fit"):
        banded.solve(np.zeros((4, 10), order="F"), np.zeros(10), -1, 5)


def test_substitute_takes_right_hand_sides_as_columns():
    """(n, k) right-hand sides are k systems; (k, n) is refused."""
    rng = np.random.default_rng(4)
    n, kl, ku = 10, 2, 3
    a, ab = _random_band(rng, n, kl, ku)
    piv, scale = np.zeros(n, dtype=np.int64), np.zeros(n)
    assert banded.factor(ab, kl, ku, piv, scale) == 0
    b = rng.normal(size=(n, 3))
    x = b.copy()
    banded.substitute(ab, x, kl, ku, piv, scale)
    np.testing.assert_allclose(a @ x, b, rtol=0, atol=1e-12 * np.abs(b).max())
    with pytest.raises(ValueError, match="right-hand side"):
        banded.substitute(ab, np.zeros((3, n)), kl, ku, piv, scale)


def test_row_scales_are_the_reciprocal_row_maxima():
    """factor's scales: 1 / (largest |entry| of the row), for rows of any size
    (here every row below 1, one above), and 1 for a zero row."""
    rng = np.random.default_rng(8)
    n, kl, ku = 9, 2, 1
    a, ab = _random_band(rng, n, kl, ku)
    a[:] *= 1e-3
    ab[:] *= 1e-3
    a[3] *= 1e6
    for j in range(n):
        for i in range(max(0, j - ku), min(n, j + kl + 1)):
            ab[kl + ku + i - j, j] = a[i, j]
    piv, scale = np.zeros(n, dtype=np.int64), np.zeros(n)
    banded.factor(ab, kl, ku, piv, scale)
    assert np.array_equal(scale, 1.0 / np.abs(a).max(axis=1))
    zero_row = np.zeros((2 * kl + ku + 1, n), order="F")
    zero_row[kl + ku] = 1.0  # the identity, then its row 4 cleared
    zero_row[kl + ku, 4] = 0.0
    banded.factor(zero_row, kl, ku, piv, scale)
    assert scale[4] == 1.0 and np.all(scale == 1.0)
