"""The stepper's compiled history helpers (pnp.solvers.history) against the
numpy expressions they replace, bit for bit.

The helpers promise the same floating-point operations in the same order
as the numpy forms, so the stepper's results do not change: each test
below writes the numpy form out and compares with ``array_equal`` (not a
tolerance) on random histories of every order the stepper uses, including
entries of very different sizes and signs, and states of the (S, N)
Fortran layout the stepper keeps its contents in.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnp.solvers import history
from pnp.solvers.bdf import bdf_coefficients
from pnp.solvers.newton import Weights

ORDERS = range(1, 6)


def _states(rng, count, shape=(40,), order="C"):
    """``count`` random states with entries spread over twelve decades, both signs."""
    out = []
    for _ in range(count):
        v = rng.standard_normal(shape) * 10.0 ** rng.uniform(-6, 6, shape)
        out.append(np.asarray(v, order=order))
    return out


def _times(rng, count):
    """0, -h1, -h1-h2, ...: random steps over four decades, newest first."""
    steps = 10.0 ** rng.uniform(-4, 0, count - 1)
    return [0.0, *(-np.cumsum(steps)).tolist()]


def _bdf_weights_reference(steps):
    """The plain-Python form the stepper used before (Lagrange derivative)."""
    k = len(steps)
    tau = [0.0]
    for step in steps:
        tau.append(tau[-1] - step)
    a = [0.0] * (k + 1)
    for m in range(1, k + 1):
        a[0] += -1.0 / tau[m]
    for j in range(1, k + 1):
        num = den = 1.0
        for m in range(k + 1):
            if m != j:
                den *= tau[j] - tau[m]
                if m:
                    num *= -tau[m]
        a[j] = num / den
    return np.array(a) * steps[0]


@pytest.mark.parametrize("k", ORDERS)
def test_bdf_weights_are_the_plain_python_weights(k):
    rng = np.random.default_rng(k)
    for _ in range(300):
        steps = (10.0 ** rng.uniform(-6, 2, k)).tolist()
        assert np.array_equal(history.bdf_weights(steps), _bdf_weights_reference(steps))


def test_all_finite_finds_every_non_finite_entry():
    v = np.linspace(-1e300, 1e300, 17)
    assert history.all_finite(v)
    assert history.all_finite(np.zeros(0))
    for bad in (np.nan, np.inf, -np.inf):
        for i in (0, 8, 16):
            w = v.copy()
            w[i] = bad
            assert not history.all_finite(w)
            assert history.all_finite(w) == bool(np.all(np.isfinite(w)))


def _step_terms_reference(steps, q, states, amounts, displacements):
    """What the stepper computed before its terms were one compiled call:
    the weights, the numpy history sums, the predictor."""
    h = steps[0]
    if q <= 2:
        a = np.array(bdf_coefficients(h, steps[1] if q == 2 else None))
    else:
        a = np.array(_bdf_weights_reference(steps[:q]))
    beta_c = np.multiply(amounts[0], -a[1] / h)
    beta_d = -(a[1] * displacements[0]) / h
    for j in range(2, q + 1):
        beta_c += np.multiply(amounts[j - 1], -a[j] / h)
        beta_d -= a[j] * displacements[j - 1] / h
    times = [0.0]
    for step in steps[1 : len(states)]:
        times.append(times[-1] - step)
    pred = _predict_reference(times, states, h) if len(states) >= 2 else None
    return a, beta_c, beta_d, pred


@pytest.mark.parametrize("q", ORDERS)
@pytest.mark.parametrize("fewer", [0, 1, 2])
def test_step_terms_are_numpys(q, fewer):
    """Weights, alpha, both history terms, the predictor and Newton's start,
    bit for bit, at every order and with fewer states than q + 1 (after a
    start); the padding of the tuples is never read (nan arrays there)."""
    rng = np.random.default_rng(10 + 3 * q + fewer)
    n_states = max(1, q + 1 - fewer)
    for _ in range(5):
        steps = (10.0 ** rng.uniform(-3, 0, 7)).tolist()
        states = _states(rng, n_states, (40,))
        amounts = _states(rng, q, (3, 25), order="F")
        displacements = _states(rng, q, (31,))
        a, beta_c, beta_d, pred = _step_terms_reference(steps, q, states, amounts, displacements)
        nan_state, nan_amount = np.full(40, np.nan), np.full((3, 25), np.nan, order="F")
        alpha_c = np.empty((3, 25), order="F")
        out_c = np.empty((3, 25), order="F")
        got = history.step_terms(
            np.array(steps),
            q,
            n_states,
            (*states, *[nan_state] * (history.STATES_PAD - n_states)),
            (*amounts, *[nan_amount] * (history.AMOUNTS_PAD - q)),
            (*displacements, *[np.full(31, np.nan)] * (history.AMOUNTS_PAD - q)),
            alpha_c,
            out_c,
        )
        got_a, got_d, got_pred, start = got
        assert np.array_equal(got_a, a)
        assert np.array_equal(alpha_c, np.full((3, 25), a[0] / steps[0]))
        assert np.array_equal(out_c, beta_c)
        assert np.array_equal(got_d, beta_d)
        if pred is None:
            assert got_pred.size == 0
            assert np.array_equal(start, states[0]) and start is not states[0]
        else:
            assert np.array_equal(got_pred, pred)
            assert np.array_equal(start, pred)
            start[0] += 1.0  # a copy: Newton moves it, the predictor stays
            assert got_pred[0] == pred[0]


def test_padded_fills_with_the_first_entry():
    arrays = [np.zeros(2), np.ones(2)]
    out = history.padded(arrays, 5)
    assert len(out) == 5 and out[0] is arrays[0] and out[1] is arrays[1]
    assert all(x is arrays[0] for x in out[2:])


def test_error_norm_is_the_weighted_norm_of_the_difference():
    """pred -= x_new in place, and the norm Weights.norm gives of it."""
    rng = np.random.default_rng(40)
    is_psi = rng.random(60) < 0.25
    weights = Weights(is_psi, 1e-5, 1e-9, 1e-7)
    for _ in range(20):
        x_new = _states(rng, 1, (60,))[0]
        pred = x_new + _states(rng, 1, (60,))[0] * 1e-6
        diff = pred - x_new
        w = weights
        norm = history.error_norm(pred, x_new, w.rtol, w.floor_c, w.floor_psi, w.is_psi)
        assert np.array_equal(pred, diff)
        assert norm == weights.norm(diff, x_new)


def _predict_reference(t_hist, x_hist, t_new):
    if len(x_hist) == 2:
        (t0, t1), (x0, x1) = t_hist[:2], x_hist[:2]
        return x0 + (t_new - t0) * (x0 - x1) / (t0 - t1)
    if len(x_hist) == 3:
        (t0, t1, t2), (x0, x1, x2) = t_hist[:3], x_hist[:3]
        l0 = (t_new - t1) * (t_new - t2) / ((t0 - t1) * (t0 - t2))
        l1 = (t_new - t0) * (t_new - t2) / ((t1 - t0) * (t1 - t2))
        l2 = (t_new - t0) * (t_new - t1) / ((t2 - t0) * (t2 - t1))
        return l0 * x0 + l1 * x1 + l2 * x2
    ts = t_hist[: len(x_hist)]
    out = np.zeros_like(x_hist[0])
    for i, (ti, xi) in enumerate(zip(ts, x_hist, strict=True)):
        weight = 1.0
        for j, tj in enumerate(ts):
            if j != i:
                weight *= (t_new - tj) / (ti - tj)
        out += weight * xi
    return out


@pytest.mark.parametrize("count", range(2, 7))
def test_predict_is_numpys_extrapolation(count):
    rng = np.random.default_rng(30 + count)
    for _ in range(20):
        times = _times(rng, count + 1)  # longer than the states: only the first are used
        states = _states(rng, count)
        t_new = 10.0 ** rng.uniform(-4, 0)
        got = history.predict(times, states, t_new)
        assert np.array_equal(got, _predict_reference(times, states, t_new))


def test_predict_is_exact_on_polynomials_of_its_degree():
    """Independent of the reference: extrapolating y = t^m through m + 1 states."""
    rng = np.random.default_rng(7)
    for count in range(2, 7):
        times = _times(rng, count)
        t_new = -0.8 * times[1]  # a step like the last, as the stepper takes
        states = [np.array([t**d for d in range(count)]) for t in times]
        got = history.predict(times, states, t_new)
        want = np.array([t_new**d for d in range(count)])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def _scaled_difference_reference(t_hist, x_hist, h):
    m = len(x_hist) - 1
    table = [x.copy() for x in x_hist]
    for order in range(1, m + 1):
        for i in range(m - order + 1):
            table[i] = (table[i] - table[i + 1]) / (t_hist[i] - t_hist[i + order])
    return table[0] * (h**m * math.factorial(m))


def _unit_weights(n):
    """Weights whose norm is max |scale d_i|: concentrations, rtol 0, atol 1."""
    from pnp.solvers.newton import Weights

    return Weights(np.zeros(n, dtype=bool), 0.0, 1.0)


def test_scaled_difference_of_a_polynomial_is_its_derivative():
    """On y = t^m the m-th divided difference is 1 on any grid: h^m m! exactly."""
    rng = np.random.default_rng(8)
    for m in range(1, 6):
        times = _times(rng, m + 1)
        states = [np.array([t**m]) for t in times]
        (got,) = history.scaled_difference_norms(times, states, 0.5, [m], [1.0], _unit_weights(1))
        assert got == pytest.approx(0.5**m * math.factorial(m), rel=1e-8)


def test_max_abs_strided_is_the_largest_potential_entry():
    """The Newton damping's |largest potential update|: strided cells plus
    the boundary unknowns, against numpy on the same view."""
    rng = np.random.default_rng(9)
    v = rng.standard_normal(103) * 10.0 ** rng.uniform(-6, 6, 103)
    cells = slice(4, 99, 4)
    for extra in ([], [0], [1, 101, 102]):
        want = float(np.max(np.abs(np.concatenate([v[cells], v[extra]]))))
        got = history.max_abs_strided(v, *cells.indices(v.size), np.array(extra, dtype=np.int64))
        assert got == want
    v[101] = -1e300  # a boundary unknown that is the largest, negative
    got = history.max_abs_strided(v, *cells.indices(v.size), np.array([101], dtype=np.int64))
    assert got == 1e300


def test_scaled_difference_norms_from_one_table_are_each_alone():
    """The order choice takes orders q - 1 and q + 1's estimates from one
    table: each the same bits as from the states of its own level alone."""
    rng = np.random.default_rng(11)
    for count in range(3, 8):
        times = _times(rng, count)
        states = _states(rng, count)
        h = 10.0 ** rng.uniform(-4, 0)
        levels = list(range(1, count))
        weights = _unit_weights(40)
        together = history.scaled_difference_norms(
            times, states, h, levels, [1.0] * len(levels), weights
        )
        for m, norm in zip(levels, together, strict=True):
            alone = history.scaled_difference_norms(times, states[: m + 1], h, [m], [1.0], weights)
            assert alone == [norm]
            assert norm == float(
                np.max(np.abs(_scaled_difference_reference(times, states[: m + 1], h)))
            )


def test_scaled_difference_norms_are_the_norms_of_the_differences():
    """The order choice's fused form: each level's weighted norm at the newest
    state, the same bits as Weights.norm of the numpy difference."""
    from pnp.solvers.newton import Weights

    rng = np.random.default_rng(12)
    for count in range(3, 8):
        for _ in range(10):
            times = _times(rng, count)
            states = _states(rng, count)
            h = 10.0 ** rng.uniform(-4, 0)
            weights = Weights(rng.random(40) < 0.3, 1e-6, 1e-9, 1e-7)
            levels = sorted(rng.choice(range(1, count), size=min(2, count - 1), replace=False))
            scales = [1.0 / (m + 0.5) for m in levels]
            got = history.scaled_difference_norms(times, states, h, levels, scales, weights)
            for m, scale, norm in zip(levels, scales, got, strict=True):
                diff = _scaled_difference_reference(times, states[: m + 1], h)
                assert norm == weights.norm(diff, states[0], scale)


def test_scaled_difference_norms_refuse_levels_beyond_the_states():
    """The compiled table has no bounds checks: a level the states cannot
    give (m states give levels 1..m-1) is refused, not read out of bounds."""
    from pnp.solvers.newton import Weights

    rng = np.random.default_rng(13)
    states, times = _states(rng, 4), _times(rng, 4)
    weights = Weights(np.zeros(40, dtype=bool), 1e-6, 1e-9)
    for levels in ([4], [1, 4], [0]):
        with pytest.raises(ValueError, match="need 1 <= level <= 3"):
            history.scaled_difference_norms(
                times, states, 0.1, levels, [1.0] * len(levels), weights
            )
    history.scaled_difference_norms(times, states, 0.1, [1, 3], [1.0, 1.0], weights)


def _order_choice_reference(h_hist, states, q, max_order, h, best_h, caps, weights):
    """The stepper's order choice as it was written in Python (bdf.py before
    order_choice): the neighbours worth estimating, their norms from one
    table, the controller's step for each."""
    safety, min_factor, local_fraction = 0.9, 0.2, 0.25
    orders = [
        j
        for j in (q - 1, q + 1)
        if 1 <= j <= max_order
        and len(states) >= j + 2
        and h * caps[j] > best_h * (1.0 if j < q else 1.1)
    ]
    if not orders:
        return q, best_h
    times = [0.0]
    for step in h_hist:
        times.append(times[-1] - step)
    norms = history.scaled_difference_norms(
        times,
        states[: orders[-1] + 2],
        h,
        [j + 1 for j in orders],
        [1.0 / (j + 1) for j in orders],
        weights,
    )
    best_order = q
    for j, norm in zip(orders, norms, strict=True):
        err_j = norm / local_fraction
        cap = caps[j]
        factor = safety * err_j ** (-1.0 / (j + 1)) if err_j > 0 else cap
        h_j = h * min(cap, max(min_factor, factor))
        if h_j > best_h * (1.0 if j < q else 1.1):
            best_order, best_h = j, h_j
    return best_order, best_h


@pytest.mark.parametrize("q", ORDERS)
def test_order_choice_is_the_python_choice(q):
    """Order and next step bit for bit as the Python form chose them, on
    smooth histories (where the neighbours' estimates decide) and rough
    ones, with every number of states, next steps that let either
    neighbour win or none be estimated; the padding is never read."""
    from pnp.solvers.bdf import CAPS, LOCAL_FRACTION, MIN_FACTOR, SAFETY

    rng = np.random.default_rng(50 + q)
    is_psi = rng.random(30) < 0.25
    weights = Weights(is_psi, 1e-6, 1e-9, 1e-7)
    w = (weights.rtol, weights.floor_c, weights.floor_psi, weights.is_psi)
    chosen, limited = set(), 0
    for trial in range(200):
        n_states = int(rng.integers(1, 8))
        h_hist = (10.0 ** rng.uniform(-3, -1, 6)).tolist()
        times = np.concatenate([[0.0], -np.cumsum(h_hist)])
        rate = 10.0 ** rng.uniform(-1, 2)
        base = rng.standard_normal(30)
        # a decay whose higher differences span the error tolerance: from
        # negligible (the step cap decides) to large (the error does)
        amp = 10.0 ** rng.uniform(-9, 0)
        states = [1.0 + amp * base * np.exp(-rate * t) + 1e-3 * (trial % 3) * amp
                  * rng.standard_normal(30) for t in times[:n_states]]  # fmt: skip
        h = h_hist[0]
        best_h = h * 10.0 ** rng.uniform(-0.5, 0.5)
        padded = (*states, *[np.full(30, np.nan)] * (history.STATES_PAD - n_states))
        got = history.order_choice(
            np.array(h_hist), padded, n_states, q, 5, h, best_h, CAPS,
            (SAFETY, MIN_FACTOR, LOCAL_FRACTION), w,
        )  # fmt: skip
        want = _order_choice_reference(h_hist, states, q, 5, h, best_h, CAPS, weights)
        assert got == want
        chosen.add(got[0])
        if got[0] != q and got[1] < h * CAPS[got[0]]:
            limited += 1  # a neighbour chosen at the step its error allows
    assert chosen >= {q} and len(chosen) >= (2 if q in (1, 5) else 3)  # every outcome seen
    assert limited >= 5


@pytest.mark.parametrize("q", [2, 3, 4])
def test_a_straight_history_moves_down_to_the_larger_capped_step(q):
    """States on a straight line: every difference of order >= 2 is round-off,
    so each neighbour could take its full capped step h cap_j. With order
    q's own next step 10 % under h cap_{q-1}, the choice is q - 1 at exactly
    h cap_{q-1} (going down needs no gain), as the Python form chooses."""
    from pnp.solvers.bdf import CAPS, LOCAL_FRACTION, MIN_FACTOR, SAFETY

    h_hist = [1e-3, 1.1e-3, 0.9e-3, 1.2e-3, 1e-3, 1e-3]
    times = np.concatenate([[0.0], -np.cumsum(h_hist)])
    line = np.linspace(1.0, 2.0, 30)
    states = [line * (1.0 + 0.5 * t) for t in times]
    is_psi = np.zeros(30, dtype=bool)
    weights = Weights(is_psi, 1e-6, 1e-9, 1e-7)
    w = (weights.rtol, weights.floor_c, weights.floor_psi, weights.is_psi)
    h = h_hist[0]
    best_h = 0.9 * h * CAPS[q - 1]
    got = history.order_choice(
        np.array(h_hist), tuple(states), 7, q, 5, h, best_h, CAPS,
        (SAFETY, MIN_FACTOR, LOCAL_FRACTION), w,
    )  # fmt: skip
    assert got == (q - 1, h * CAPS[q - 1])
    assert got == _order_choice_reference(h_hist, states, q, 5, h, best_h, CAPS, weights)
