"""The border's compiled algebra (pnp.solvers.schur) against dense numpy.

The bordered Jacobian [[J, B], [r^T, D]] is formed densely from the parts
the solver keeps (the band J, the columns B, the sparse gate rows and a
dense volume row, the diagonal D), and the update from schur_factor +
schur_substitute is compared with numpy.linalg.solve of the whole system.
Both are backward-stable solves of a well-conditioned system (condition
number ~1e2 here), so they agree to ~1e-13 relative; the tolerance is
1e-11. The small LU is compared with numpy's on random and pivoting
matrices, and an exactly singular Schur complement is reported as such.
"""

from __future__ import annotations

import numpy as np
import pytest

from pnp.solvers import banded, schur


def _band_storage(a, kl, ku):
    n = a.shape[0]
    ab = np.zeros((2 * kl + ku + 1, n), order="F")
    for j in range(n):
        for i in range(max(0, j - ku), min(n, j + kl + 1)):
            ab[kl + ku + i - j, j] = a[i, j]
    return ab


def _problem(rng, n0, kl, ku, n_gates, volume):
    a = np.zeros((n0, n0))
    for i in range(n0):
        for j in range(max(0, i - kl), min(n0, i + ku + 1)):
            a[i, j] = rng.uniform(-1, 1)
        a[i, i] += 4.0 + kl + ku  # diagonally dominant: well conditioned
    k = n_gates + int(volume)
    cols = np.asfortranarray(rng.uniform(-1, 1, (n0, k)))
    vm_index = np.array([2, n0 - 3], dtype=np.int64)
    vm_coef = np.array([1.0, -1.0])
    dv = rng.uniform(-1, 1, n_gates)
    row = rng.uniform(-1, 1, n0 + k) * 0.1
    diag = rng.uniform(3.0, 5.0, k)
    dense = np.zeros((n0 + k, n0 + k))
    dense[:n0, :n0] = a
    dense[:n0, n0:] = cols
    for g in range(n_gates):
        dense[n0 + g, vm_index] += vm_coef * dv[g]
    if volume:
        dense[-1, :n0] = row[:n0]
    dense[n0:, n0:] += np.diag(diag)
    return a, cols, vm_index, vm_coef, dv, row, diag, dense


@pytest.mark.parametrize(("n_gates", "volume"), [(3, False), (0, True), (2, True), (1, False)])
def test_bordered_update_is_the_dense_solve(n_gates, volume):
    rng = np.random.default_rng(7 + n_gates)
    n0, kl, ku = 40, 3, 5
    a, cols, vm_index, vm_coef, dv, row, diag, dense = _problem(rng, n0, kl, ku, n_gates, volume)
    k = n_gates + int(volume)
    lu = _band_storage(a, kl, ku)
    piv = np.zeros(n0, dtype=np.int64)
    scale = np.ones(n0)
    assert banded.factor(lu, kl, ku, piv, scale) == 0
    kept = cols.copy(order="F")
    s = np.zeros((k, k))
    s_piv = np.zeros(k, dtype=np.int64)
    border = (lu, vm_index, vm_coef, dv, n_gates, row, volume, diag)
    assert schur.schur_factor(kept, kl, ku, piv, scale, border, s, s_piv) == 0
    np.testing.assert_allclose(kept, np.linalg.solve(a, cols), rtol=1e-11, atol=1e-13)
    for _ in range(2):  # the kept factorization serves several right-hand sides
        res = rng.uniform(-1, 1, n0 + k)
        expect = -np.linalg.solve(dense, res)
        y0 = np.zeros((n0, 1), order="F")
        right = np.zeros((k, 1), order="F")
        work = res.copy()
        schur.schur_substitute(work, y0, kl, ku, piv, scale, kept, border, s, s_piv, right)
        np.testing.assert_allclose(work, expect, rtol=1e-11, atol=1e-13 * np.abs(expect).max())


@pytest.mark.parametrize("seed", range(5))
def test_small_lu_solves_as_numpy(seed):
    rng = np.random.default_rng(seed)
    n = 1 + seed
    a = rng.uniform(-1, 1, (n, n))
    a[0, 0] = 1e-3  # the first column needs a row swap
    b = rng.uniform(-1, 1, n)
    lu, piv = a.copy(), np.zeros(n, dtype=np.int64)
    assert schur.lu_factor(lu, piv) == 0
    x = b.copy()
    schur.lu_solve(lu, piv, x)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)


def test_small_lu_reports_the_zero_pivot():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]])  # rank 2
    piv = np.zeros(3, dtype=np.int64)
    assert schur.lu_factor(a, piv) == 2


def test_singular_schur_complement_is_reported():
    """D - r^T Y exactly zero: the border equations are singular."""
    n0, kl, ku = 6, 1, 1
    a = np.eye(n0) * 2.0
    lu = _band_storage(a, kl, ku)
    piv, scale = np.zeros(n0, dtype=np.int64), np.ones(n0)
    banded.factor(lu, kl, ku, piv, scale)
    cols = np.zeros((n0, 1), order="F")
    cols[2, 0] = 2.0  # Y = e_2, r^T Y = dv = 1 = D
    border = (lu, np.array([2]), np.array([1.0]), np.array([1.0]), 1, np.zeros(n0 + 1), False,
              np.array([1.0]))  # fmt: skip
    s, s_piv = np.zeros((1, 1)), np.zeros(1, dtype=np.int64)
    assert schur.schur_factor(cols, kl, ku, piv, scale, border, s, s_piv) == 1


def test_factor_steps_are_relative_with_a_floor():
    """FACTOR_STEP relative to |f|, but never below FACTOR_STEP x 1e-6 (a
    closed conductor, f -> 0, still gets a finite difference step)."""
    f = np.array([0.0, 1e-9, -2e-6, 0.5])
    expect = [1e-7 * 1e-6, 1e-7 * 1e-6, 1e-7 * 2e-6, 1e-7 * 0.5]  # the same products
    np.testing.assert_array_equal(schur.factor_steps(f, 1e-7), expect)


def _hypotonic_system():
    import tomllib

    from helpers import CASES

    import pnp
    from pnp.discretisation.model import build_model
    from pnp.solvers.newton import System

    data = tomllib.loads((CASES / "hypotonic.toml").read_text())
    data.pop("output", None)
    model = build_model(pnp.Case.from_dict(data))
    return model, System(model)


@pytest.mark.parametrize("scale", [0.0, -0.5, np.nan, 101.0])
def test_a_scale_outside_any_cell_gives_a_rejected_residual(scale):
    """The volume's scale must be in (0, MAX_SCALE]: at 0 (no cell left), below
    or beyond, or nan, every residual entry is nan (the iterate rejected)."""
    model, system = _hypotonic_system()
    x = model.x0.copy()
    x[-1] = scale
    n = model.n_species * model.n_cells
    res = system.assemble(x, np.ones((model.n_species, model.n_cells)), 1.0,
                          np.zeros((model.n_species, model.n_cells)), np.zeros(n + 1))  # fmt: skip
    assert np.all(np.isnan(res))


def test_a_singular_band_of_a_bordered_system_names_its_zero_pivot():
    """Full Newton (no kept factorization) on a bordered system whose band is
    singular: all concentrations zero and no time term. The message names
    the first zero pivot as the band's own LU finds it."""
    from pnp.solvers import banded

    model, system = _hypotonic_system()
    x = model.x0.copy()
    _, c = model.layout.split(x)
    c[:] = 0.0
    shape = (model.n_species, model.n_cells)
    system.assemble(x, np.zeros(shape), 0.0, np.zeros(shape), np.zeros(model.n_cells + 1))
    n0 = system.bordered.n0
    band = system.ab[:, :n0].copy(order="F")
    info = banded.factor(band, system.kl, system.ku, np.zeros(n0, np.int64), np.ones(n0))
    assert info > 0
    delta, why = system.solve()
    assert delta is None
    assert why == f"singular Jacobian (zero pivot at unknown {info - 1})"
