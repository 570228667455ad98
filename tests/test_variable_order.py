"""Variable-order BDF (orders 1-5, ``run.max_order``): the formulas, the order
of accuracy of every order, order selection, conservation at every step, and
the answers against a tight reference.

- bdf_weights differentiate polynomials of degree k exactly on any grid, and
  are bdf_coefficients' at k <= 2; predict extrapolates degree n - 1 exactly
  through n states; error_ratio x |predictor - corrector| is the corrector's
  true error on y' = f(t) with y = t^(k+1); the scaled difference is h^m m! times
  the m-th divided difference.
- With fixed steps and an exact start (the history filled with the exact
  solution), BDF-k is of order k on an exact eigenmode of the semi-discrete
  diffusion operator (the time error alone).
- donnan_approach with max_order = 5: the order rises to 5, far fewer steps
  than BDF2, every step conserving each species to round-off, the answers
  as close to a tight reference as BDF2's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import load, neutral_diffusion_case

import pnp
from pnp.discretisation.model import build_model
from pnp.results.observables import face_fluxes
from pnp.solvers.bdf import BDF, MAX_ORDER, bdf_coefficients, error_ratio
from pnp.solvers.history import bdf_weights, predict, scaled_difference_norms
from pnp.solvers.newton import Weights, concentrations, contents, displacements


def _grid(rng, k):
    return list(rng.uniform(0.3, 2.0, size=k) * 1e-2)


@pytest.mark.parametrize("k", range(1, MAX_ORDER + 1))
def test_bdf_weights_differentiate_polynomials_of_degree_k_exactly(k):
    rng = np.random.default_rng(k)
    for _ in range(5):
        steps = _grid(rng, k)
        t1 = 0.7
        times = t1 - np.concatenate(([0.0], np.cumsum(steps)))
        a = bdf_weights(steps)
        for degree in range(k + 1):
            coeffs = rng.normal(size=degree + 1)
            y = np.polynomial.polynomial.polyval(times, coeffs)
            dy = np.polynomial.polynomial.polyval(t1, np.polynomial.polynomial.polyder(coeffs))
            assert a @ y / steps[0] == pytest.approx(dy, rel=1e-9, abs=1e-9)
        if k <= 2:
            ref = bdf_coefficients(steps[0], steps[1] if k == 2 else None)
            np.testing.assert_allclose(a, ref[: k + 1], rtol=1e-14)


def test_bdf_weights_are_the_textbook_ones_on_a_uniform_grid():
    np.testing.assert_allclose(bdf_weights([1.0] * 3), [11 / 6, -3, 3 / 2, -1 / 3], rtol=1e-14)
    np.testing.assert_allclose(
        bdf_weights([1.0] * 5), [137 / 60, -5, 5, -10 / 3, 5 / 4, -1 / 5], rtol=1e-13
    )


@pytest.mark.parametrize("n", range(2, MAX_ORDER + 3))
def test_predict_extrapolates_degree_n_minus_1_exactly(n):
    rng = np.random.default_rng(n)
    ts = list(-np.concatenate(([0.0], np.cumsum(_grid(rng, n - 1)))))
    coeffs = rng.normal(size=n)
    xs = [np.array([np.polynomial.polynomial.polyval(t, coeffs)]) for t in ts]
    h = 0.013
    got = predict(ts, xs, h)[0]
    assert got == pytest.approx(np.polynomial.polynomial.polyval(h, coeffs), rel=1e-9)


@pytest.mark.parametrize("k", range(1, MAX_ORDER + 1))
def test_error_ratio_is_exact_on_the_leading_error_term(k):
    """y' = f(t), y = t^(k+1): BDF-k's corrector from the exact history, the
    predictor of degree k through the k + 1 last exact states; the estimate
    equals the corrector's true error (round-off of differences of O(1)
    numbers: measured <= 3e-8 relative; 1e-6)."""
    rng = np.random.default_rng(10 + k)
    p = k + 1
    for _ in range(3):
        h, *hist = _grid(rng, k + 1)
        t1 = 0.8
        past = t1 - h - np.concatenate(([0.0], np.cumsum(hist)))  # t_n, t_{n-1}, ...
        a = bdf_weights([h, *hist[: k - 1]])
        corr = (h * p * t1 ** (p - 1) - a[1:] @ past[:k] ** p) / a[0]
        pred = predict(list(past), [np.array([t**p]) for t in past], t1)[0]
        true = abs(corr - t1**p)
        assert error_ratio(h, hist[:k]) * abs(pred - corr) == pytest.approx(true, rel=1e-6)


def test_scaled_difference_is_h_m_times_the_m_th_derivative_of_t_m():
    rng = np.random.default_rng(4)
    for m in range(1, 7):
        ts = list(0.5 - np.concatenate(([0.0], np.cumsum(_grid(rng, m)))))
        h = 0.01
        unit = Weights(np.zeros(1, dtype=bool), 0.0, 1.0)  # the norm is |d|
        (got,) = scaled_difference_norms(ts, [np.array([t**m]) for t in ts], h, [m], [1.0], unit)
        assert got == pytest.approx(h**m * math.factorial(m), rel=1e-8)


# --- order of accuracy with an exact start -----------------------------------


def _fixed_order_error(k: int, n_steps: int) -> float:
    """BDF-k with fixed steps over one e-folding of a cosine mode (an exact
    eigenvector of the finite-volume Laplacian with no-flux walls), its
    history filled with the exact solution: the max error at the end."""
    L, D, N = 1e-6, 1e-9, 40
    model = build_model(neutral_diffusion_case(N, L, D))
    centres = model.mesh.centers
    rate = 2 * D / (L / N) ** 2 * (1 - np.cos(np.pi / N))
    t_end = 1.0 / rate
    h = t_end / n_steps

    def exact(t):
        x = model.x0.copy()
        x[model.layout.species(0)] = 1.0 + 0.5 * np.cos(np.pi * centres / L) * np.exp(-rate * t)
        return x

    stepper = BDF(model, exact(0.0), rtol=1e-10, atol=1e-14, fixed_step=h, max_order=k)
    past = [exact(-j * h) for j in range(k)]
    stepper.x_hist = past
    stepper.h_hist = [h] * (k - 1)
    stepper.c_hist = [contents(model, x) for x in past]
    stepper.p_hist = [displacements(model, x) for x in past]
    stepper.q = k
    while stepper.t != t_end:
        assert stepper.order == k
        success, message = stepper.step(t_end)
        assert success, message
    got = stepper.x[model.layout.species(0)]
    return float(np.max(np.abs(got - exact(t_end)[model.layout.species(0)])))


@pytest.mark.parametrize("k", range(1, MAX_ORDER + 1))
def test_every_order_converges_at_its_order_with_fixed_steps(k):
    """Observed order from 10 to 40 steps per e-folding: >= k - 0.1 (the
    errors stay far above the round-off of the linear solve, ~1e-15)."""
    steps = np.array([10, 20, 40])
    errors = [_fixed_order_error(k, int(n)) for n in steps]
    assert min(errors) > 1e-13
    order = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert order >= k - 0.1, (errors, order)


# --- the shipped Donnan approach at order 5 ----------------------------------


class _Recording(BDF):
    """Records, for each accepted step, its order and the weights it used."""

    def _solve(self, h_try):
        q = self.order
        steps = [h_try, *self.h_hist[: q - 1]]
        self.trying = (q, bdf_weights(steps) if q > 0 else None)
        return super()._solve(h_try)


@pytest.fixture(scope="module")
def donnan_runs():
    case = load("donnan_approach")
    model = build_model(case)
    out = {}
    for k in (2, 5):
        stepper = _Recording(model, model.x0, rtol=case.run.rtol, atol=case.run.atol, max_order=k)
        orders, audits = [], []
        cyto = np.flatnonzero(model.mesh.region == 0)
        face = cyto[-1] + 1
        vol = model.volume[cyto]
        amounts = [concentrations(model, model.x0)[:, cyto] @ vol]
        stepper.sizes = []
        while stepper.t != case.run.t_end:
            success, message = stepper.step(case.run.t_end)
            assert success, message
            q, a = stepper.trying
            orders.append(q)
            stepper.sizes.append(stepper.h_last)
            now = concentrations(model, stepper.x)[:, cyto] @ vol
            amounts.insert(0, now)
            lhs = sum(a[j] * amounts[j] for j in range(q + 1))
            audits.append(np.abs(lhs + stepper.h_last * face_fluxes(model, stepper.x)[:, face]))
            del amounts[MAX_ORDER + 1 :]
        out[k] = (stepper, np.array(orders), np.max(audits, axis=0) / amounts[-1])
    return model, out


def test_the_order_rises_to_five_and_the_steps_fall(donnan_runs):
    """Measured: BDF2 635 steps; max_order = 5 263 steps, order 5 reached."""
    _, runs = donnan_runs
    (bdf2, orders2, _), (vo, orders5, _) = runs[2], runs[5]
    assert orders2.max() == 2
    assert orders2[0] == 1 and np.all(orders2[1:] == 2)  # max_order 2: no order choice
    assert orders5.max() == 5
    # a start aims at order 2 and stays there q + 1 = 3 steps before choosing
    assert orders5[:5].tolist() == [1, 2, 2, 2, 2]
    assert vo.stats.steps < 0.6 * bdf2.stats.steps


def test_no_step_grows_past_its_orders_zero_stability_bound(donnan_runs):
    """Variable-step BDF-k is zero-stable only for step ratios h_{n+1}/h_n
    below about 1 + sqrt(2) (k = 2), 1.618 (3), 1.280 (4) and 1.127 (5)
    (Grigorieff; Calvo, Grande and Grigorieff): every step of the order-5
    run stays below the bound of the order it was taken at."""
    bound = {1: 1.0 + math.sqrt(2.0), 2: 1.0 + math.sqrt(2.0), 3: 1.618, 4: 1.280, 5: 1.127}
    _, runs = donnan_runs
    stepper, orders, _ = runs[5]
    sizes = np.array(stepper.sizes)
    ratios = sizes[1:] / sizes[:-1]
    for k in range(2, 6):
        at_k = ratios[orders[1:] == k]
        assert at_k.size > 0 and at_k.max() < bound[k], (k, at_k.max())
    # the first step has no error estimate: the second is twice it
    assert sizes[1] == 2.0 * sizes[0]


def test_every_step_of_every_order_conserves_each_species(donnan_runs):
    """sum_j a_j N_{n+1-j} = -h * flux out, each step, to round-off (BDF2's
    bound 6e-12 in tests/test_transient.py; measured 6.4e-13 there)."""
    _, runs = donnan_runs
    for _, _, worst in runs.values():
        assert np.all(worst <= 6e-12), worst


def test_order_five_is_as_accurate_as_bdf2(donnan_runs):
    """Final state against BDF2 at rtol = 1e-10 (7289 steps): measured BDF2
    9.4e-8, order 5 9.0e-8 relative (concentrations; 1e-6 floor in mol/m^3);
    both within 3e-7. And order 5 against BDF2 at the case's rtol within the
    issue's 1e-6 (measured 1.8e-7)."""
    model, runs = donnan_runs
    case = load("donnan_approach")
    ref = BDF(model, model.x0, rtol=1e-10, atol=case.run.atol, max_order=2)
    while ref.t != case.run.t_end:
        assert ref.step(case.run.t_end)[0]
    c_ref = concentrations(model, ref.x)
    finals = {k: concentrations(model, s.x) for k, (s, _, _) in runs.items()}
    for c in finals.values():
        assert np.max(np.abs(c - c_ref) / (np.abs(c_ref) + 1e-6)) < 3e-7
    assert np.max(np.abs(finals[5] - finals[2]) / (np.abs(finals[2]) + 1e-6)) < 1e-6


def test_max_order_is_a_run_key_with_its_bounds():
    case = load("donnan_approach", **{"run.max_order": 3})
    assert case.run.max_order == 3
    assert load("donnan_approach").run.max_order == 5
    for bad in (0, 6):
        with pytest.raises(pnp.CaseError, match=r"run\.max_order"):
            load("donnan_approach", **{"run.max_order": bad})
    with pytest.raises(ValueError, match="BDF orders 1 to 5"):
        BDF(build_model(case), build_model(case).x0, max_order=6)


# --- the order's control, step by step ----------------------------------------


def test_bdf1_error_ratio_is_exactly_h_over_h_plus_h1():
    """k = 1: r = h / (h + h1), written out, not through a_0 = 1 computed
    as (1/h) h (which is not exactly 1 for every h)."""
    for h, h1 in ((49.0, 1.0), (0.3, 0.7), (1e-3, 3e-3)):
        r = h / (h + h1)
        assert error_ratio(h, [h1]) == r / (1.0 + r)
    assert bdf_weights([49.0])[0] != 1.0  # so the written-out form matters


def _stepper_with_history(states, h, q, next_h, max_order=5):
    """A stepper whose last ``len(states)`` states (newest first) were taken
    with steps h at order q, and whose own estimate asks ``next_h`` next."""
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    stepper = BDF(model, model.x0, max_order=max_order)
    stepper.x_hist = [s.copy() for s in states]
    stepper.h_hist = [h] * (len(states) - 1)
    stepper.q, stepper.n_equal, stepper.h = q, q + 1, next_h
    return stepper


def test_a_constant_solution_moves_order_2_down_to_order_1():
    """A constant history: order 1's estimate (the second difference) is
    exactly 0, so it may take the largest step its cap allows, 2.4 h; order
    2's own estimate asked 2.4 h / 1.05 (less): the order moves down to 1
    with the step 2.4 h (a step down need not gain 10 %, a step up must)."""
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    h = 1e-3
    stepper = _stepper_with_history([model.x0] * 4, h, 2, 2.4 * h / 1.05)
    stepper._choose_order(h)
    assert stepper.q == 1 and stepper.n_equal == 0
    assert stepper.h == h * 2.4


def test_an_order_is_estimated_only_from_the_states_it_needs():
    """Order 3's estimate needs five states; with four (after a restart) only
    order 1 is a candidate, however short order 2's own next step."""
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    h = 1e-3
    stepper = _stepper_with_history([model.x0] * 4, h, 2, 0.1 * h)
    stepper._choose_order(h)
    assert stepper.q == 1 and stepper.h == h * 2.4


def test_a_tie_keeps_the_order():
    """Order 1 could take exactly the step order 2 asks (both at the cap
    2.4 h): the order stays (a move must gain)."""
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    h = 1e-3
    stepper = _stepper_with_history([model.x0] * 4, h, 2, 2.4 * h)
    stepper._choose_order(h)
    assert stepper.q == 2 and stepper.h == 2.4 * h


def test_orders_1_and_2_step_with_the_closed_form_coefficients():
    """BDF1 and the variable-step BDF2 use bdf_coefficients' closed forms,
    bit for bit (orders above 2 the Lagrange weights)."""
    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol)
    sizes = []
    for _ in range(3):
        assert stepper.step(case.run.t_end)[0]
        sizes.append(stepper.h_last)
    # the third step was of order 2: its weights from (h_3, h_2)
    assert np.array_equal(stepper._a, np.array(bdf_coefficients(sizes[2], sizes[1])))


def test_the_order_is_not_chosen_before_q_plus_1_steps_at_it():
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    h = 1e-3
    stepper = _stepper_with_history([model.x0] * 4, h, 2, 2.4 * h / 1.05)
    stepper.n_equal = 2
    stepper._choose_order(h)
    assert stepper.q == 2 and stepper.h == 2.4 * h / 1.05


def test_a_newton_failure_above_order_2_lowers_the_order(monkeypatch, python_step_path):
    """A step whose Newton fails at order q > 2 is retried at a quarter of
    the step with order q - 1 (and q - 1 must then be kept q steps)."""
    from pnp.solvers import bdf as bdf_module
    from pnp.solvers.newton import NewtonInfo

    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol)
    while stepper.q < 3:
        assert stepper.step(case.run.t_end)[0]
    q0, h_try, rejected = stepper.q, stepper.h, stepper.stats.rejected_steps
    assert q0 == 3  # the lowest order that is lowered
    real, calls = bdf_module.newton, []

    def fail_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            return NewtonInfo(False, 1, np.inf, "scripted failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(bdf_module, "newton", fail_once)
    success, message = stepper.step(case.run.t_end)
    assert success, message
    assert stepper.stats.rejected_steps == rejected + 1
    assert stepper.h_last == 0.25 * h_try
    assert stepper.q == q0 - 1 and stepper.n_equal == 1


def test_reuse_keeps_factorizations_and_full_newton_factors_every_iteration():
    case = load("donnan_approach")
    model = build_model(case)
    counts = {}
    for reuse in (True, False):
        stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol, reuse=reuse)
        for _ in range(40):
            assert stepper.step(case.run.t_end)[0]
        counts[reuse] = (stepper.stats.factorizations, stepper.stats.newton_iterations)
        assert (stepper.kept is not None) == reuse
    assert counts[False][0] == counts[False][1]
    assert counts[True][0] < counts[True][1]


def test_a_newton_failure_at_order_2_keeps_order_2(monkeypatch, python_step_path):
    """Orders 1 and 2 are not lowered on a Newton failure (only the step)."""
    from pnp.solvers import bdf as bdf_module
    from pnp.solvers.newton import NewtonInfo

    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol)
    for _ in range(2):
        assert stepper.step(case.run.t_end)[0]
    assert stepper.q == 2 and stepper.order == 2
    real, calls = bdf_module.newton, []

    def fail_once(*args, **kwargs):
        calls.append(1)
        return (
            NewtonInfo(False, 1, np.inf, "scripted") if len(calls) == 1 else real(*args, **kwargs)
        )

    monkeypatch.setattr(bdf_module, "newton", fail_once)
    assert stepper.step(case.run.t_end)[0]
    assert stepper.q == 2


def test_a_factorization_serves_at_most_20_steps_of_one_alpha():
    """Fixed steps of BDF2 on linear diffusion (one alpha = a0/h from the
    second step on, Newton exact with any factorization of it): factored at
    step 1 (BDF1), step 2 (BDF2's alpha), then every 20 steps: 4 in 45."""
    model = build_model(neutral_diffusion_case(40, 1e-6, 1e-9))
    x = model.x0.copy()
    x[model.layout.species(0)] = 1.0 + 0.5 * np.cos(np.pi * model.mesh.centers / 1e-6)
    stepper = BDF(model, x, rtol=1e-8, atol=1e-12, fixed_step=1e-6, max_order=2)
    for _ in range(45):
        assert stepper.step(1.0)[0]
    assert stepper.stats.factorizations == 4
    assert stepper.kept.steps == 45 - 42 + 1


def test_the_steps_at_an_order_are_counted_from_the_start():
    """n_equal counts the steps since the (re)start or the last order change
    (the start's BDF1 step included): the order is first considered after
    q + 1 = 3 of them, and a restart counts from zero again."""
    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol)
    assert stepper.n_equal == 0
    for k in (1, 2, 3):
        assert stepper.step(case.run.t_end)[0]
        assert stepper.n_equal == k
    stepper.restart(model)
    assert stepper.n_equal == 0 and stepper.q == 2


def test_before_its_first_step_a_stepper_reports_no_displacement_rate():
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    stepper = BDF(model, model.x0)
    rate = stepper.displacement_rate()
    assert [rate(face) for face in range(model.n_cells + 1)] == [0.0] * (model.n_cells + 1)


def test_a_neighbours_step_is_its_error_estimate_to_the_power_minus_1_over_j_plus_1():
    """A history quadratic in time, c t^2: order 1's estimate is the second
    scaled difference, 2 c h^2, times its error constant 1/2, over the
    tolerance (rtol |x| + atol) and LOCAL_FRACTION; its step is
    h 0.9 err^(-1/2). With order 2 asking less, the order moves to 1 with it."""
    from pnp.solvers.bdf import LOCAL_FRACTION

    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    h, rtol, atol = 1e-3, 1e-6, 1e-9
    species = model.layout.species(0)
    c = 0.9 * (rtol * 1.0 + atol) / h**2  # mol/m^3/s^2: an error of 3.6 tolerances
    states = []
    for j in range(4):  # t = 0, -h, -2h, -3h
        x = model.x0.copy()
        x[species] += c * (j * h) ** 2
        states.append(x)
    stepper = _stepper_with_history(states, h, 2, 0.1 * h)
    stepper.wstep.rtol, stepper.wstep.floor_c = rtol, atol
    err = 0.5 * (2.0 * c * h**2) / (rtol * 1.0 + atol) / LOCAL_FRACTION
    assert err == pytest.approx(3.6, rel=1e-9)
    stepper._choose_order(h)
    assert stepper.q == 1
    assert stepper.h == pytest.approx(h * 0.9 * err**-0.5, rel=1e-9)


def test_the_stepper_defaults_to_reused_factorizations_and_orders_1_to_5():
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    stepper = BDF(model, model.x0)
    assert stepper.reuse is True and stepper.kept is not None and stepper.max_order == 5
    for bad in (0, 6):
        with pytest.raises(ValueError, match="BDF orders 1 to 5 are stable"):
            BDF(model, model.x0, max_order=bad)
    BDF(model, model.x0, max_order=1)


@pytest.mark.parametrize("asked, moves", [(1.2 / 1.05, False), (1.2 / 1.15, True)])
def test_a_move_up_must_gain_ten_percent(asked, moves):
    """A history quartic in time, a t^4, at order 2: order 3's estimate is the
    fourth scaled difference, 24 a h^4, times 1/4; a is chosen so that order 3
    may take 1.2 h. A large quadratic part b t^2 (invisible to the fourth
    difference) keeps order 1's step short. Order 2 asking 1.2 h / 1.05 keeps
    its order (1.2 h is under 1.1 times that); asking 1.2 h / 1.15 it moves up
    to order 3 with the step 1.2 h."""
    from pnp.solvers.bdf import LOCAL_FRACTION

    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    h, rtol, atol = 1e-3, 1e-6, 1e-9
    tol = rtol * 1.0 + atol
    err_3 = (0.9 / 1.2) ** 4  # order 3's step: h 0.9 err^(-1/4) = 1.2 h
    a = err_3 * LOCAL_FRACTION * tol / (0.25 * 24.0 * h**4)
    b = 100.0 * tol / h**2  # order 1's error ~ 100 tolerances: a step ~ 0.1 h
    species = model.layout.species(0)
    states = []
    for j in range(5):  # t = 0, -h, ..., -4h
        x = model.x0.copy()
        x[species] += a * (j * h) ** 4 + b * (j * h) ** 2
        states.append(x)
    stepper = _stepper_with_history(states, h, 2, asked * h)
    stepper.wstep.rtol, stepper.wstep.floor_c = rtol, atol
    stepper._choose_order(h)
    if moves:
        assert stepper.q == 3 and stepper.n_equal == 0
        assert stepper.h == pytest.approx(1.2 * h, rel=1e-6)
    else:
        assert stepper.q == 2 and stepper.h == asked * h


def test_a_step_that_reaches_t_limit_lands_on_it_exactly():
    """From an origin o (the start, a restart, or an earlier t_limit hit),
    the time after the last step is t_limit itself, not o + (t_limit - o),
    which rounds to a neighbour of t_limit for some pairs (this one:
    5.909989147578456 instead of 5.9099891475784565): outputs and protocol
    changes happen at their times."""
    o, target = 0.2817235563417708, 5.9099891475784565
    assert o + (target - o) != target  # the pair that shows it
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    stepper = BDF(model, model.x0, t0=o, fixed_step=1.0)
    while stepper.t < target:
        assert stepper.step(target)[0]
    assert stepper.t == target


def test_a_step_below_1e_30_s_has_collapsed_whatever_the_time_run():
    """The absolute floor of the collapse test: a step under 1e-30 s has
    collapsed even when the time run since the (re)start and the initial
    step are smaller still (the relative test alone would let it go on)."""
    model = build_model(neutral_diffusion_case(10, 1e-6, 1e-9))
    stepper = BDF(model, model.x0)
    stepper._segment, stepper._h0 = 0.0, 1e-45
    assert stepper._collapsed(0.9e-30) and not stepper._collapsed(1.1e-30)
