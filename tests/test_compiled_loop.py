"""The compiled modified Newton loop against the Python loop, bit for bit.

:func:`pnp.solvers.iteration.modified_newton` promises the operations of
:func:`pnp.solvers.reuse.modified_newton`'s Python loop in the same order
(assembly with the pumps' sources and Jacobian, factorization when due,
the compiled update, the stopping rules, the divergence guard). Each test
runs the same thing twice, once with the loop compiled and once with
``System.loop_compiles`` answering no, and compares states with
``array_equal`` and counters and messages with ``==``: whole BDF runs of
shipped cases (closed compartments; a constant pump and a saturating one,
whose Jacobian has an in-band part), and single solves stopped by every
way a Newton solve can end.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from helpers import CASES

import pnp
from pnp.discretisation.model import build_model
from pnp.solvers import iteration, reuse
from pnp.solvers.bdf import BDF
from pnp.solvers.newton import System, accepted, contents, displacements, make_weights


def _case(name: str, saturating: bool = False):
    data = tomllib.loads((CASES / f"{name}.toml").read_text())
    data.pop("output", None)
    if saturating:  # a saturating pump at about ischemia's constant rate
        data["pump"] = {"membrane": "membrane", "j_max": "3e-7 mol/m^2/s", "K_Na": 12, "K_K": 3}
        data.pop("protocol", None)
    return pnp.Case.from_dict(data)


def _python_loop(monkeypatch):
    monkeypatch.setattr(System, "loop_compiles", lambda self, project=None: False)


def _run(case, steps):
    model = build_model(case)
    stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol)
    for _ in range(steps):
        assert stepper.step(case.run.t_end)[0]
    return stepper


@pytest.mark.parametrize(
    "name, saturating",
    [("donnan_approach", False), ("ischemia", False), ("ischemia", True)],
    ids=["compartments", "constant-pump", "saturating-pump"],
)
def test_bdf_steps_are_the_same_with_the_loop_compiled(monkeypatch, name, saturating):
    case = _case(name, saturating)
    compiled = _run(case, 60)
    assert compiled.system.loop_compiles(compiled.project)
    if saturating:  # the in-band pump Jacobian is in play
        assert compiled.model.pumps[0].rate is None
    with monkeypatch.context() as m:
        _python_loop(m)
        python = _run(case, 60)
    assert np.array_equal(compiled.x, python.x)
    assert compiled.t == python.t and compiled.h == python.h and compiled.q == python.q
    assert compiled.stats.as_dict() == python.stats.as_dict()
    assert compiled.kept.alpha == python.kept.alpha and compiled.kept.steps == python.kept.steps


def test_steps_through_newton_failures_are_the_same_on_both_paths(monkeypatch):
    """Newton given two iterations (bdf.NEWTON_MAX_ITER = 2): steps fail,
    are retried smaller, kept factorizations fail and are replaced; the
    stepper whose whole step is one compiled call (iteration.bdf_step)
    goes through them exactly as the Python path does."""
    from pnp.solvers import bdf

    monkeypatch.setattr(bdf, "NEWTON_MAX_ITER", 2)
    case = _case("donnan_approach")
    compiled = _run(case, 40)
    assert compiled.stats.rejected_steps > 0
    with monkeypatch.context() as m:
        _python_loop(m)
        python = _run(case, 40)
    assert np.array_equal(compiled.x, python.x)
    # fixed steps and one iteration: a kept factorization is usable at each
    # step's alpha, and its iteration does not reach the polish, so the step
    # is solved again from its predictor with a new one
    monkeypatch.setattr(bdf, "NEWTON_MAX_ITER", 1)
    model = build_model(case)
    compiled = BDF(model, model.x0, fixed_step=1e-13)
    for _ in range(6):
        assert compiled.step(1.0)[0]
    assert compiled.stats.newton_iterations > compiled.stats.factorizations  # kept ones tried
    with monkeypatch.context() as m:
        _python_loop(m)
        python = BDF(model, model.x0, fixed_step=1e-13)
        for _ in range(6):
            assert python.step(1.0)[0]
    assert np.array_equal(compiled.x, python.x)
    assert compiled.t == python.t and compiled.h == python.h and compiled.q == python.q
    assert compiled.stats.as_dict() == python.stats.as_dict()
    assert compiled.kept.alpha == python.kept.alpha and compiled.kept.steps == python.kept.steps


def test_a_refactoring_tolerance_in_alpha_is_honoured_alike(monkeypatch):
    """With a tolerance on alpha (reuse.REFACTOR_ALPHA = 0.3 instead of 0) a
    kept factorization serves steps of other alphas: fewer factorizations,
    and the compiled step decides as Reuse.usable does."""
    from pnp.solvers import reuse as reuse_module

    case = _case("donnan_approach")
    exact = _run(case, 60).stats.factorizations
    monkeypatch.setattr(reuse_module, "REFACTOR_ALPHA", 0.3)
    compiled = _run(case, 60)
    assert compiled.stats.factorizations < exact
    with monkeypatch.context() as m:
        _python_loop(m)
        python = _run(case, 60)
    assert np.array_equal(compiled.x, python.x)
    assert compiled.stats.as_dict() == python.stats.as_dict()


def _kept_at_a_wrong_alpha(max_iter):
    """Five fixed steps, then the kept factorization replaced by the band's LU
    at 1 % of the step's alpha, Newton given ``max_iter`` iterations, and two
    more steps. Returns the stepper."""
    from pnp.solvers import bdf

    model = build_model(_case("donnan_approach"))
    stepper = BDF(model, model.x0, fixed_step=1e-10)
    for _ in range(5):
        assert stepper.step(1.0)[0]
    assert stepper.kept.usable(stepper.kept.alpha)
    beta_d = np.zeros(model.n_cells + 1)
    alpha = stepper.kept.alpha
    system = stepper.system
    system.assemble(stepper.x, 0.01 * stepper._alpha_c, 0.01 * alpha, stepper._beta_c, beta_d)
    assert system.factor() == ""
    saved, bdf.NEWTON_MAX_ITER = bdf.NEWTON_MAX_ITER, max_iter
    try:
        for _ in range(2):
            assert stepper.step(1.0)[0]
    finally:
        bdf.NEWTON_MAX_ITER = saved
    return stepper


def test_a_kept_solve_that_factors_and_still_fails_is_retried_alike(monkeypatch):
    """The kept factorization at a wrong alpha and three iterations: the
    kept solve contracts slowly, factors anew once, and still does not
    converge; the step is solved again from its predictor with a new
    factorization (the bands' places after an odd number of
    factorizations), and the step after uses it: both paths alike."""
    compiled = _kept_at_a_wrong_alpha(3)
    with monkeypatch.context() as m:
        _python_loop(m)
        python = _kept_at_a_wrong_alpha(3)
    assert compiled.stats.rejected_steps == 0
    assert np.array_equal(compiled.x, python.x)
    assert compiled.stats.as_dict() == python.stats.as_dict()
    assert compiled.kept.alpha == python.kept.alpha and compiled.kept.steps == python.kept.steps


def test_steps_converged_to_round_off_are_the_same_on_both_paths(monkeypatch):
    """Newton's floors lowered below round-off (rtol 1e-12, no potential
    floor): most steps end by stagnation at round-off (ROUND_OFF), which is
    convergence, with the error norm and the history entries formed as for
    CONVERGED; both paths alike."""
    from pnp.solvers import bdf

    monkeypatch.setattr(bdf, "PSI_FLOOR_NEWTON", 1e-16)
    monkeypatch.setattr(bdf, "NEWTON_RTOL_FLOOR", 1e-16)
    real, statuses = iteration.bdf_step, []

    def spy(*args):
        out = real(*args)
        statuses.append(out[3])
        return out

    model = build_model(_case("donnan_approach"))
    steppers = []
    for python in (False, True):
        with monkeypatch.context() as m:
            if python:
                _python_loop(m)
            m.setattr(iteration, "bdf_step", spy)
            stepper = BDF(model, model.x0, rtol=1e-12, atol=1e-16)
            for _ in range(20):
                assert stepper.step(1.0)[0]
            steppers.append(stepper)
    assert statuses.count(iteration.ROUND_OFF) >= 10  # (the compiled path's steps)
    compiled, python = steppers
    assert np.array_equal(compiled.x, python.x)
    assert compiled.t == python.t and compiled.h == python.h and compiled.q == python.q
    assert compiled.stats.as_dict() == python.stats.as_dict()


def _solve_both(monkeypatch, x0, fresh, max_iter, alpha=1e3):
    """One modified Newton solve of ischemia's saturating-pump model from
    ``x0``, compiled and in Python: (info, x, stats, kept) of each."""
    model = build_model(_case("ischemia", saturating=True))
    out = []
    for compiled in (True, False):
        system = System(model, continuity=True, keep=True)
        weights = make_weights(system, 1e-6, 1e-9)
        kept = reuse.Reuse()
        x = x0.copy()
        args = (
            np.full((model.n_species, model.n_cells), alpha, order="F"),
            alpha,
            np.asfortranarray(alpha * np.asarray(model.layout.split(model.x0)[1])),
            np.zeros(model.n_cells + 1),
            weights,
            None,
            kept,
        )
        if not fresh:  # a factorization kept from an earlier solve at this alpha
            reuse.modified_newton(system, model.x0.copy(), *args, fresh=True)
        with monkeypatch.context() as m:
            if not compiled:
                _python_loop(m)
            info = reuse.modified_newton(system, x, *args, fresh=fresh, max_iter=max_iter)
        out.append((info, x, system.stats.as_dict(), (kept.valid, kept.alpha, kept.steps)))
    return out, model


@pytest.mark.parametrize("fresh", [True, False])
@pytest.mark.parametrize("max_iter", [1, 2, 25])
def test_a_solve_ends_the_same_way_with_the_loop_compiled(monkeypatch, fresh, max_iter):
    """From a start far from the solution (potentials of a few V_T: damped
    updates), stopped after 1, 2 or 25 iterations."""
    model = build_model(_case("ischemia", saturating=True))
    rng = np.random.default_rng(7)
    x0 = model.x0.copy()
    x0[model.layout.potential] += rng.uniform(-40.0, 40.0, model.n_cells)
    (a, b), _ = _solve_both(monkeypatch, x0, fresh, max_iter)
    assert a[0] == b[0]  # converged, iterations, norm, message
    assert np.array_equal(a[1], b[1])
    assert a[2] == b[2] and a[3] == b[3]
    if max_iter == 1:
        assert a[0].message == "no convergence in 1 Newton iterations"


def test_a_non_finite_residual_stops_both_loops_alike(monkeypatch):
    model = build_model(_case("ischemia", saturating=True))
    x0 = model.x0.copy()
    x0[model.layout.potential_at(3)] = np.nan
    (a, b), _ = _solve_both(monkeypatch, x0, True, 25)
    assert a[0] == b[0] and a[0].message == "non-finite residual" and a[0].iterations == 1
    assert a[2] == b[2] and a[3] == b[3]


def test_a_singular_jacobian_stops_both_loops_alike(monkeypatch):
    """All concentrations zero and no time term (alpha = 0): every species
    row of the Jacobian is zero, the first pivot of a species column is 0."""
    model = build_model(_case("ischemia", saturating=True))
    x0 = model.x0.copy()
    _, c = model.layout.split(x0)
    c[:] = 0.0
    (a, b), _ = _solve_both(monkeypatch, x0, True, 25, alpha=0.0)
    assert a[0] == b[0] and a[0].message.startswith("singular Jacobian (zero pivot at unknown ")
    assert a[2] == b[2] and a[3] == b[3]
    assert a[3][0] is False  # the failed factorization is not kept


def test_a_singular_step_is_not_kept_on_either_path(monkeypatch):
    """A step of infinite size (alpha = 0) from zero concentrations: its
    factorization is singular, the solve fails the same way on both paths
    and the factorization is not kept."""
    model = build_model(_case("ischemia", saturating=True))
    x0 = model.x0.copy()
    _, c = model.layout.split(x0)
    c[:] = 0.0
    out = []
    for python in (False, True):
        with monkeypatch.context() as m:
            if python:
                _python_loop(m)
            stepper = BDF(model, x0)
            _, info = stepper._solve(np.inf)
            out.append((info, stepper.kept.valid, stepper.kept.alpha, stepper.stats.as_dict()))
    assert out[0] == out[1]
    assert out[0][0].message.startswith("singular Jacobian") and out[0][1] is False


def test_a_non_finite_predictor_leaves_the_kept_factorization_alone(monkeypatch):
    """A nan in the newest state: the residual at the predictor is not
    finite, the solve with the kept factorization and its retry with a new
    one both stop before factoring, and the kept factorization keeps its
    alpha and age (on both paths alike)."""
    case = _case("donnan_approach")
    model = build_model(case)
    out = []
    for python in (False, True):
        with monkeypatch.context() as m:
            if python:
                _python_loop(m)
            stepper = BDF(model, model.x0, fixed_step=1e-12)
            for _ in range(3):
                assert stepper.step(1.0)[0]
            kept = (stepper.kept.valid, stepper.kept.alpha, stepper.kept.steps)
            assert stepper.kept.usable(stepper.kept.alpha)
            stepper.x_hist[0][5] = np.nan
            _, info = stepper._solve(1e-12)
            assert not info.converged and info.message == "non-finite residual"
            assert (stepper.kept.valid, stepper.kept.alpha, stepper.kept.steps) == kept
            out.append((info, stepper.stats.as_dict()))
    assert out[0] == out[1]


def test_the_loop_reports_every_status_by_its_own_code():
    """The status codes are distinct and none is 0 (verdict's 'not yet')."""
    codes = [
        iteration.CONVERGED,
        iteration.ROUND_OFF,
        iteration.BAD_RESIDUAL,
        iteration.SINGULAR,
        iteration.BAD_UPDATE,
        iteration.DIVERGED,
        iteration.NOT_CONVERGED,
        iteration.SINGULAR_BORDER,
    ]
    assert len(set(codes)) == 8 and 0 not in codes


def test_which_systems_compile_their_loop():
    """A swelling cell alone (a volume unknown, a moving mesh, closed
    compartments projected at the iterate's volumes) and gates alone
    compile (tests/test_swollen_loop.py, tests/test_gated_loop.py); gates
    with a volume keep the Python loop (tests/test_swollen_loop.py), and so
    does a system that does not keep its factorization."""
    model = build_model(_case("hypotonic"))
    stepper = BDF(model, model.x0)
    assert stepper.project is not None and stepper.project.moving
    assert stepper.system.loop_compiles(stepper.project)
    model = build_model(_case("action_potential"))
    stepper = BDF(model, model.x0)
    assert stepper.system.loop_compiles(stepper.project)
    model = build_model(_case("donnan_approach"))
    assert not System(model, continuity=True, keep=False).loop_compiles()


@pytest.mark.parametrize(
    "name", ["donnan_approach", "diffuse_charge", "ghk", "debye_layer", "hypotonic"]
)
def test_an_accepted_state_enters_the_history_as_before(name):
    """newton.accepted (one compiled call on a fixed mesh) gives the state's
    copy, contents and face displacements bit for bit as the separate calls
    did: fixed potentials, a floating reservoir (ghk), a charged wall
    (debye_layer), a moving volume (hypotonic: the amounts c V)."""
    model = build_model(_case(name))
    rng = np.random.default_rng(3)
    x = model.x0 * (1.0 + 1e-3 * rng.standard_normal(model.x0.shape))
    copy, c, p = accepted(model, x)
    assert copy is not x and np.array_equal(copy, x)
    assert np.array_equal(c, contents(model, x))
    assert np.array_equal(p, displacements(model, x))
    assert c.flags.f_contiguous  # the layout the compiled step terms read
