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

from pnp.discretisation.swelling import MAX_SCALE
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


@pytest.mark.parametrize(
    "a",
    [
        [[0.0, 1.0], [1.0, 0.0]],
        [[0.0, 2.0, 1.0], [3.0, 0.0, 1.0], [1.0, 1.0, 0.0]],
        [[1.0, 2.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]],
    ],
)
def test_small_lu_pivots_on_the_next_row(a):
    """Zero diagonal entries: the pivot must come from the rows below
    (the next row included); the solve is exact for these integer systems."""
    a = np.array(a)
    b = np.arange(1.0, a.shape[0] + 1)
    lu, piv = a.copy(), np.zeros(a.shape[0], dtype=np.int64)
    assert schur.lu_factor(lu, piv) == 0
    x = b.copy()
    schur.lu_solve(lu, piv, x)
    np.testing.assert_allclose(a @ x, b, rtol=0, atol=1e-14)


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


@pytest.mark.parametrize("scale", [0.0, -0.5, np.nan, np.inf, 101.0, 100.0])
def test_a_scale_outside_any_cell_gives_a_rejected_residual(scale):
    """The volume's scale must be in (0, MAX_SCALE]: at 0 (no cell left), below
    or beyond, or not finite, every residual entry is nan (the iterate
    rejected); at MAX_SCALE = 100 itself the residual is finite."""
    model, system = _hypotonic_system()
    x = model.x0.copy()
    x[-1] = scale
    shape = (model.n_species, model.n_cells)
    res = system.assemble(x, np.ones(shape), 1.0, np.zeros(shape), np.zeros(model.n_cells + 1))
    if scale == MAX_SCALE:
        assert np.all(np.isfinite(res))
    else:
        assert np.all(np.isnan(res))


@pytest.mark.parametrize("first", [False, True])
def test_a_singular_band_of_a_bordered_system_names_its_zero_pivot(first):
    """Full Newton (no kept factorization) on a bordered system whose band is
    singular: all concentrations zero and no time term (or, ``first``, the
    band's first column zeroed: pivot 0). The message names the first zero
    pivot as the band's own LU finds it."""
    from pnp.solvers import banded

    model, system = _hypotonic_system()
    x = model.x0.copy()
    _, c = model.layout.split(x)
    c[:] = 0.0
    shape = (model.n_species, model.n_cells)
    system.assemble(x, np.zeros(shape), 0.0, np.zeros(shape), np.zeros(model.n_cells + 1))
    if first:
        system.ab[:, 0] = 0.0
    n0 = system.bordered.n0
    band = system.ab[:, :n0].copy(order="F")
    info = banded.factor(band, system.kl, system.ku, np.zeros(n0, np.int64), np.ones(n0))
    assert info == 1 if first else info > 1
    delta, why = system.solve()
    assert delta is None
    assert why == f"singular Jacobian (zero pivot at unknown {info - 1})"


def test_border_columns_of_gates_and_a_volume_are_the_residual_s_derivatives():
    """Gates and a swelling cell together (the Python form of the bordered
    assembly: action_potential with water through its membrane), mid-run with
    the gates off rest: each border column B (the cells' residual's
    derivative in a gate or in the scale) and each diagonal entry D (a
    border equation's derivative in its own unknown) against central
    differences of the residual in that unknown. The assembly's columns are
    one-sided differences in the conductor factor (relative step 1e-7) or in
    the scale: measured, they agree to 1.1e-8 of the column's largest entry
    (2.6e-9 for the gates), the diagonal to 2.4e-9; the tolerance is 1e-7."""
    import tomllib

    from helpers import CASES

    import pnp
    from pnp.discretisation.model import build_model
    from pnp.solvers.bdf import BDF
    from pnp.solvers.newton import contents

    data = tomllib.loads((CASES / "action_potential.toml").read_text())
    data.pop("output", None)
    for region in data["region"]:
        if region.get("membrane"):
            region["water_permeability"] = "1e-12 m/(s Pa)"
    case = pnp.Case.from_dict(data)
    model = build_model(case)
    stepper = BDF(model, model.x0)
    for _ in range(260):  # into the spike: the gates away from rest
        assert stepper.step(case.run.t_end)[0]
    model, system = stepper.model, stepper.system
    b = system.bordered
    assert b.volume and b.n_gates == 3 and not b.compiles()
    x = stepper.x.copy()
    shape = (model.n_species, model.n_cells)
    alpha = 1e4
    # with a volume the species' history is amounts per cell (newton.contents)
    args = (np.full(shape, alpha, order="F"), alpha,
            np.asfortranarray(alpha * contents(model, x)), np.zeros(model.n_cells + 1))  # fmt: skip
    b.beta_gates[:] = 0.2
    b.beta_volume = alpha * float(model.volume[model.swelling.inside].sum())
    system.assemble(x, *args, jacobian=True)
    columns, diag = b.columns.copy(), b.diag.copy()
    n0 = b.n0
    for k in range(b.k):
        i = n0 + k
        h = 1e-6 * abs(x[i])
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        r_plus = system.assemble(plus, *args, jacobian=False).copy()
        r_minus = system.assemble(minus, *args, jacobian=False).copy()
        column = (r_plus[:n0] - r_minus[:n0]) / (2 * h)
        scale = np.max(np.abs(column))
        assert scale > 0
        np.testing.assert_allclose(columns[:, k], column, rtol=0, atol=1e-7 * scale)
        own = (r_plus[i] - r_minus[i]) / (2 * h)
        assert abs(diag[k] - own) <= 1e-7 * abs(own)
