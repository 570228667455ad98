"""Modified Newton in the transient stepper (pnp.solvers.reuse): a kept
factorization, used for later iterations and steps, gives the steps full
Newton gives, with fewer factorizations.

The conservation a step must keep to round-off is tested where it was
before, unchanged, with reuse on: each step's species balance
(tests/test_transient.py at BDF2, 6e-12; measured 3.9e-13 with reuse,
3.7e-13 with full Newton; tests/test_variable_order.py up to order 5:
2.8e-13 and 4.9e-13) and the total current through every face
(tests/test_total_current.py and tests/test_solver_contracts.py; measured
0.63, 1.23, 1.05 and 0.38, 0.40 eps x the summed round-off, against 0.74,
1.05, 1.05 and 0.35, 0.41).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from helpers import load

import pnp
from pnp.discretisation.mesh import build_mesh
from pnp.discretisation.model import build_model
from pnp.solvers import reuse
from pnp.solvers.bdf import BDF
from pnp.solvers.newton import NewtonInfo, System


def _time_terms(model, alpha):
    S, N = model.n_species, model.n_cells
    alpha_c = np.full((S, N), alpha, order="F")
    beta_c = alpha * np.asfortranarray(model.layout.split(model.x0)[1])
    return alpha_c, alpha, beta_c, np.zeros(N + 1)


def _perturbed(model, seed=0):
    rng = np.random.default_rng(seed)
    x = model.x0.copy()
    x *= 1.0 + 1e-3 * rng.uniform(-1, 1, x.size)
    return x


@pytest.mark.parametrize("name", ["donnan_approach", "action_potential", "donnan_swelling"])
def test_a_kept_factorization_solves_as_a_new_one_after_later_assemblies(name):
    """System(keep=True): factor, then assemble elsewhere (Jacobian too) and
    substitute the first residual: the update is the one a system without
    ``keep`` solves from that residual and Jacobian: bit for bit for the
    band alone; to round-off with border unknowns (r^T y is a dense product
    with ``keep``, a loop over the gates without; measured exactly equal with
    gates, 7e-28 of the largest entry with the volume)."""
    case = load(name)
    model = build_model(case, build_mesh(case))
    terms = _time_terms(model, 1e6)
    x0, x1 = _perturbed(model, 1), _perturbed(model, 2)
    kept = System(model, continuity=True, keep=True)
    if kept.bordered is not None and model.channels is not None:
        kept.bordered.beta_gates[:] = 1e6 * x0[model.channels.block]
    res0 = kept.assemble(x0, *terms).copy()
    assert kept.factor() == ""
    kept.assemble(x1, *terms)  # the band and border columns of another state
    kept.res[:] = res0
    delta, why = kept.substitute()
    assert delta is not None, why
    delta = delta.copy()
    plain = System(model, continuity=True)
    if plain.bordered is not None and model.channels is not None:
        plain.bordered.beta_gates[:] = 1e6 * x0[model.channels.block]
    plain.assemble(x0, *terms)
    expected, why = plain.solve()
    assert expected is not None, why
    assert kept.stats.factorizations == plain.stats.factorizations == 1
    if kept.bordered is None:
        assert np.array_equal(delta, expected)
    else:
        assert np.abs(delta - expected).max() <= 1e-14 * np.abs(expected).max()


# ----------------------------------------------------------------------------
# The stepper
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def donnan_runs():
    """donnan_approach on its default mesh, BDF alone, full Newton and reuse."""
    case = load("donnan_approach")
    model = build_model(case)
    runs = {}
    for flag in (False, True):
        stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol, reuse=flag)
        while stepper.t != case.run.t_end:
            success, message = stepper.step(case.run.t_end)
            assert success, message
        runs[flag] = stepper
    return runs


def test_donnan_approach_factors_once_a_step(donnan_runs):
    """Full Newton factors at every iteration (435 over 219 steps and 2
    rejected ones, 2 a step); with reuse the second iteration of each step
    substitutes with the first's factorization: 221 factorizations, one a
    step tried, the same 435 iterations. The steps change size at almost
    every step here, so a factorization seldom serves two steps."""
    full, kept = donnan_runs[False].stats, donnan_runs[True].stats
    assert full.factorizations == full.newton_iterations
    assert kept.steps == full.steps and kept.rejected_steps == full.rejected_steps
    tried = kept.steps + kept.rejected_steps
    assert kept.factorizations <= tried  # measured 221 = 219 + 2
    assert kept.factorizations <= 0.55 * full.factorizations  # measured 221 / 435
    assert kept.newton_iterations <= full.newton_iterations  # measured 435 = 435


def test_donnan_approach_ends_where_full_newton_does(donnan_runs):
    """The final states differ by 2.2e-7 of Newton's tolerance (its weights;
    measured again 2.24e-7): about 10x that allowed."""
    full, kept = donnan_runs[False], donnan_runs[True]
    assert kept.t == full.t
    assert full.wnewton.norm(kept.x - full.x, full.x) <= 2e-6


def test_steps_of_one_size_share_a_factorization():
    """Fixed steps: BDF1, then BDF2 at one alpha from the second step on; a
    factorization serves REFACTOR_STEPS = 20 steps: factored at steps 1, 2,
    22 and 42 of 45, two iterations a step."""
    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, fixed_step=1e-10)
    for _ in range(45):
        assert stepper.step(1.0)[0]
    assert reuse.REFACTOR_STEPS == 20
    assert stepper.stats.factorizations == 4
    assert stepper.stats.newton_iterations == 90
    assert stepper.kept.steps == 4  # since the factorization of step 42


def test_a_new_step_size_is_factored_anew():
    """alpha = a0/h moves with h: the step after a change of h (omega = 1.3,
    a0 = 1.565) and the next (omega = 1, a0 = 1.5) each factor anew; the one
    after that reuses."""
    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, fixed_step=1e-10)
    for _ in range(5):
        assert stepper.step(1.0)[0]
    counts = [stepper.stats.factorizations]
    stepper.fixed_step = stepper.h = 1.3e-10
    for _ in range(3):
        assert stepper.step(1.0)[0]
        counts.append(stepper.stats.factorizations)
    assert np.diff(counts).tolist() == [1, 1, 0]
    assert stepper.kept.alpha * 1.3e-10 == pytest.approx(1.5, rel=1e-15)


def _twins(model, steps=5):
    out = []
    for flag in (False, True):
        stepper = BDF(model, model.x0, fixed_step=1e-10, reuse=flag)
        for _ in range(steps):
            assert stepper.step(1.0)[0]
        out.append(stepper)
    return out


def test_a_kept_factorization_that_converges_slowly_is_replaced():
    """The kept factorization swapped for one at 1e4 times the step's alpha
    (as if the rules had let a wrong one through): its updates barely move
    (contraction rate 0.9998 > SLOW_RATE), the next iterate is factored
    anew and the step converges without a rejection, one factorization
    more, to the state full Newton reaches (2.2e-8 of its tolerance apart)."""
    case = load("donnan_approach")
    model = build_model(case)
    full, stepper = _twins(model)
    alpha = stepper.kept.alpha
    system = stepper.system
    system.assemble(stepper.x, *_time_terms(model, 1e4 * alpha))
    assert system.factor() == ""
    stepper.kept.made(alpha, True)
    before = stepper.stats.factorizations
    assert full.step(1.0)[0]
    assert stepper.step(1.0)[0]
    assert stepper.stats.rejected_steps == 0
    assert stepper.stats.factorizations == before + 1
    assert full.wnewton.norm(stepper.x - full.x, full.x) <= 1e-3


def test_a_failure_with_a_kept_factorization_is_retried_with_a_new_one(
    monkeypatch, python_step_path
):
    """Newton failing with the factorization of an earlier step: the same step
    again, from its predictor, with a new one; no rejection, no smaller step."""
    case = load("donnan_approach")
    model = build_model(case)
    full, stepper = _twins(model)
    real = reuse.modified_newton
    calls = []

    def failing_with_old(*args, fresh, **kwargs):
        calls.append(fresh)
        if not fresh:
            return NewtonInfo(False, 1, np.inf, "scripted failure")
        return real(*args, fresh=fresh, **kwargs)

    monkeypatch.setattr(reuse, "modified_newton", failing_with_old)
    assert stepper.kept.usable(stepper.kept.alpha)
    assert full.step(1.0)[0]
    assert stepper.step(1.0)[0]
    assert calls == [False, True]
    assert stepper.stats.rejected_steps == 0 and stepper.h_last == 1e-10
    assert full.wnewton.norm(stepper.x - full.x, full.x) <= 1e-3


def _kept_fails(compiled: bool):
    """Five fixed steps, the kept factorization overwritten with nan, one
    more step; beside a full-Newton twin. Returns (stepper, twin, stats
    before the step)."""
    case = load("donnan_approach")
    model = build_model(case)
    full, stepper = _twins(model)
    assert stepper.system.loop_compiles(stepper.project) == compiled
    assert stepper.kept.usable(stepper.kept.alpha)
    stepper.system.lu[:] = np.nan
    before = stepper.stats.as_dict()
    assert full.step(1.0)[0]
    x_new, info = stepper._solve(1e-10)  # the step, by parts: its solve ...
    assert info.converged
    assert stepper._error(1e-10, x_new)[0] <= 1.0  # ... its error ...
    stepper._accept(1e-10, x_new, 1e-10, 1.0)  # ... accepted
    return stepper, full, before, info


def test_a_kept_factorization_that_fails_is_replaced_by_a_new_one(monkeypatch):
    """The kept factorization overwritten with nan: the step's first solve
    fails at its first update (non-finite), and the same step is solved
    again from its predictor with a new factorization: no rejection, the
    same step size, one factorization more, and the state full Newton
    reaches; the whole step compiled (iteration.bdf_step) and the Python
    path give the same bits."""
    stepper, full, before, info = _kept_fails(True)
    after = stepper.stats.as_dict()
    assert after["rejected_steps"] == before["rejected_steps"] and stepper.h_last == 1e-10
    assert after["factorizations"] == before["factorizations"] + 1
    assert full.wnewton.norm(stepper.x - full.x, full.x) <= 1e-3
    assert stepper.kept.valid and stepper.kept.steps == 1
    with monkeypatch.context() as m:
        m.setattr(System, "loop_compiles", lambda self, project=None: False)
        python, _, _, python_info = _kept_fails(False)
        assert python.step(1.0)[0]  # and a step after it, with the new one
    assert np.array_equal(python.x_hist[1], stepper.x)
    assert python_info == info  # the iterations of both tries, summed
    assert stepper.step(1.0)[0]
    assert np.array_equal(python.x, stepper.x)
    assert python.stats.as_dict() == stepper.stats.as_dict()


def test_a_restart_drops_the_factorization():
    """A protocol change builds a new system: its first step factors."""
    case = load("donnan_approach")
    model = build_model(case)
    stepper = BDF(model, model.x0, fixed_step=1e-10)
    for _ in range(3):
        assert stepper.step(1.0)[0]
    assert stepper.kept.valid
    stepper.restart(model)
    assert not stepper.kept.valid and not stepper.kept.usable(stepper.kept.alpha)
    before = stepper.stats.factorizations
    assert stepper.step(1.0)[0]
    assert stepper.stats.factorizations == before + 1


def test_reuse_is_the_default_and_full_newton_an_option():
    case = load("donnan_approach")
    model = build_model(case)
    assert BDF(model, model.x0).kept is not None
    full = BDF(model, model.x0, reuse=False)
    assert full.kept is None and not full.system.keep


def test_the_steady_solver_keeps_full_newton():
    """Steady solves factor at every iteration (their answers unchanged)."""
    result = pnp.run(load("donnan"))
    assert result.stats["factorizations"] == result.stats["newton_iterations"]


@pytest.mark.parametrize("name", ["diffuse_charge", "action_potential"])
def test_equal_steps_of_the_shipped_cases_share_factorizations(monkeypatch, name):
    """Where steps repeat their size (outputs and protocol times split the
    way in equal steps) a factorization serves several: fewer than steps
    (measured 147 of 157 steps, 517 of 593, against full Newton's 292 and
    853), with the same membrane potential at every output (measured 0 and
    1.1e-11 V apart; the gates and the current clamp of action_potential go
    through the bordered system's kept Schur complement)."""
    from pnp.simulation import loop

    reused = pnp.run(load(name))
    monkeypatch.setattr(loop, "BDF", functools.partial(BDF, reuse=False))
    full = pnp.run(load(name))
    for result in (reused, full):
        assert result.status == "completed", result.message
    assert reused.stats["steps"] == full.stats["steps"]
    assert reused.stats["factorizations"] < reused.stats["steps"]
    assert reused.stats["factorizations"] < 0.65 * full.stats["factorizations"]
    np.testing.assert_allclose(
        reused.membrane_potential, full.membrane_potential, rtol=0, atol=1e-9
    )


# ----------------------------------------------------------------------------
# The stopping rules, one by one (reuse._verdict) and the divergence guard
# ----------------------------------------------------------------------------


def test_verdict_with_a_new_factorization_is_full_newtons():
    assert reuse._verdict(0.9, np.inf, True, False) == ("converged", False)
    # stagnating just above the tolerance: round-off
    assert reuse._verdict(5.0, 6.0, True, False) == ("converged to round-off", False)
    # still contracting fast, or too large: go on
    assert reuse._verdict(5.0, 100.0, True, False) == ("", False)
    assert reuse._verdict(11.0, 12.0, True, False) == ("", False)
    # the boundaries: norm 1 converges, 10 is still round-off, half the last is not
    assert reuse._verdict(1.0, np.inf, True, False) == ("converged", False)
    assert reuse._verdict(1.5, np.inf, True, False) == ("", False)
    assert reuse._verdict(10.0, 12.0, True, False) == ("converged to round-off", False)
    assert reuse._verdict(5.0, 10.0, True, False) == ("", False)


def test_verdict_with_an_older_factorization_polishes():
    p = reuse.POLISH
    assert reuse._verdict(0.9 * p, np.inf, False, True) == ("converged", False)
    assert reuse._verdict(0.5, np.inf, False, True) == ("", False)  # no rate yet
    # error left rate/(1 - rate) * norm: 1.5 POLISH at rate 1/2 is not enough,
    # 0.75 POLISH at rate 1/3 is
    assert reuse._verdict(1.5 * p, 3.0 * p, False, False) == ("", False)
    assert reuse._verdict(1.5 * p, 4.5 * p, False, False) == ("converged", False)
    # slow contraction with a factorization from an earlier step: a new one
    assert reuse._verdict(0.5, 1.0, False, True) == ("", True)
    # ... and with this step's, above the tolerance: a new one too
    assert reuse._verdict(2.0, 4.0, False, False) == ("", True)
    # fast contraction with an older factorization: go on with it
    assert reuse._verdict(0.01, 0.1, False, True) == ("", False)
    # this step's factorization, contracting slower than 1/2 below the tolerance: round-off
    assert reuse._verdict(0.6, 1.0, False, False) == ("converged to round-off", False)
    assert reuse._verdict(0.5, 1.0, False, False) == ("", False)  # exactly 1/2: not yet
    # the boundaries
    assert reuse._verdict(p, np.inf, False, True) == ("converged", False)
    assert reuse._verdict(1.0, 2e6, False, False) == ("converged", False)  # error left 5e-7
    assert reuse._verdict(0.5, 0.5, False, True) == ("", True)  # no contraction at all
    assert reuse._verdict(1.5, 3.0, False, False) == ("", True)  # slow above the tolerance
    assert reuse._verdict(1.0, 1.6, False, False) == ("converged to round-off", False)
    assert reuse._verdict(0.3, 1.0, False, True) == ("", False)  # exactly SLOW_RATE: not slow
    # an update above the tolerance is never the converged one, however fast
    # the contraction (the error bound rate/(1 - rate) x 1.5 = 2.3e-7 < POLISH)
    assert reuse._verdict(1.5, 1e7, False, False) == ("", False)


class _Scripted:
    """A stand-in System whose Newton updates have the sizes given, in turn
    (the last one repeated), of weight 1 each; counts factorizations.
    ``damped``: every update moves the potential past DPSI_MAX (damped)."""

    class _Stats:
        newton_iterations = 0
        factorizations = 0

    def __init__(self, sizes, n=4, damped=False, residual=1.0, factor_fails="", solve_fails=""):
        self.sizes, self.n, self.damped = list(sizes), n, damped
        self.residual, self.factor_fails, self.solve_fails = residual, factor_fails, solve_fails
        self.stats = self._Stats()
        self.factored = 0

    def assemble(self, x, *args, jacobian=True):
        return np.full(self.n, self.residual)

    def factor(self):
        self.factored += 1
        return self.factor_fails

    def substitute(self):
        if self.solve_fails:
            return None, self.solve_fails
        size = self.sizes.pop(0) if len(self.sizes) > 1 else self.sizes[0]
        return np.full(self.n, size), ""

    def update(self, x, weights, project=None):
        from pnp.solvers.newton import substitute_and_apply

        return substitute_and_apply(self, x, weights, project)

    def max_abs_potential(self, v):
        from pnp.solvers.newton import DPSI_MAX

        return 2.0 * DPSI_MAX if self.damped else 0.0


class _UnitWeights:
    def norm(self, delta, x, scale=1.0):
        return float(np.max(np.abs(scale * delta)))


def _run(system, fresh=True, max_iter=reuse.NEWTON_MAX_ITER):
    return reuse.modified_newton(
        system,
        np.zeros(system.n),
        None,
        1.0,
        None,
        None,
        _UnitWeights(),
        None,
        reuse.Reuse(),
        fresh=fresh,
        max_iter=max_iter,
    )


def test_a_diverging_modified_newton_stops_at_the_fourth_iteration():
    """Updates growing 1000-fold: the fourth is 1e9 times the smallest, past
    the 1e4 the guard allows from the fourth iteration on (not before)."""
    system = _Scripted([20.0 * 1000.0**k for k in range(8)])
    info = _run(system)
    assert not info.converged and info.message == "Newton diverged"
    assert info.iterations == 4 and system.stats.newton_iterations == 4


def test_the_divergence_guard_is_1e4_times_the_smallest_update():
    """Exactly 1e4 times the smallest is allowed; more is divergence."""
    system = _Scripted([20.0, 30.0, 40.0, 2e5, 1e7])
    info = _run(system)
    assert info.message == "Newton diverged" and info.iterations == 5


def test_growth_just_above_1e4_times_the_smallest_update_is_divergence():
    """1.00005e4 times the smallest at the fourth iteration: divergence (the
    guard's factor is 1e4, not a little more)."""
    system = _Scripted([20.0, 30.0, 40.0, 20.0 * 1.00005e4, 1e7])
    info = _run(system)
    assert info.message == "Newton diverged" and info.iterations == 4


def test_no_convergence_after_max_iter_iterations():
    """Updates that neither shrink nor grow: max_iter iterations, a new
    factorization after every slow one (iterations 1, 3, 5)."""
    system = _Scripted([20.0])
    info = _run(system, max_iter=6)
    assert not info.converged and info.message == "no convergence in 6 Newton iterations"
    assert system.stats.newton_iterations == 6 and system.factored == 3


def test_failures_of_the_pieces_are_failures():
    for system, why in (
        (_Scripted([0.1], residual=np.nan), "non-finite residual"),
        (_Scripted([0.1], factor_fails="singular Jacobian"), "singular Jacobian"),
        (_Scripted([0.1], solve_fails="non-finite Newton update"), "non-finite Newton update"),
    ):
        info = _run(system)
        assert not info.converged and info.message == why and info.iterations == 1


def test_damped_updates_never_converge_and_an_old_factorization_is_replaced_once():
    """A damped update says nothing about convergence, however small; one
    made with a factorization from an earlier step is followed by a new one
    (once: after that the factorization is this step's)."""
    system = _Scripted([1e-12], damped=True)
    info = _run(system, fresh=False, max_iter=5)
    assert not info.converged
    assert system.factored == 1


def test_only_a_factorization_from_an_earlier_step_is_replaced_when_slow_below_tolerance():
    """This step's factorization contracting at 1/2 below the tolerance goes
    on (no new factorization); the update sizes end in a polished one."""
    system = _Scripted([20.0, 0.5, 0.25, 1e-7])
    info = _run(system)
    assert info.converged and info.iterations == 4
    assert system.factored == 1


def test_refactor_alpha_tolerance_is_relative(monkeypatch):
    monkeypatch.setattr(reuse, "REFACTOR_ALPHA", 0.1)
    kept = reuse.Reuse()
    kept.made(100.0, True)
    assert kept.usable(105.0) and kept.usable(110.0 - 1e-9) and not kept.usable(111.0)


def test_a_factorization_made_in_this_step_is_no_longer_the_older_one():
    """A factorization from an earlier step contracting slowly (20 -> 15,
    rate 0.75) is replaced; from then on the factorization is this step's:
    a contraction of 0.4 below the tolerance (2 -> 0.8) goes on with it
    (an older one would be replaced again), and the step converges on the
    polished update with the one new factorization."""
    system = _Scripted([20.0, 15.0, 2.0, 0.8, 1e-7])
    info = _run(system, fresh=False)
    assert info.converged and info.iterations == 5
    assert system.factored == 1


def test_the_polished_error_bound_may_equal_polish():
    """An older factorization's update converges when the error it leaves,
    rate / (1 - rate) * norm, is at most POLISH: equal counts (the bound
    formed as verdict forms it, binary-exact inputs)."""
    from pnp.solvers import iteration

    norm, previous = 2.0**-18, 2.0**-16  # rate 0.25 exactly
    rate = norm / previous
    polish = rate / (1.0 - rate) * norm
    assert iteration.verdict(norm, previous, False, False, polish, 0.3) == (
        iteration.CONVERGED,
        False,
    )
    assert iteration.verdict(norm, previous, False, False, polish * (1 - 2**-52), 0.3)[0] == 0
