"""The compiled Newton loop with gates against the Python path, bit for bit.

A model with voltage-gated channels and no swelling cell has the gates as
its only border unknowns; its transient steps run in one compiled call
(:func:`pnp.solvers.iteration.bdf_step` with the gates' assembly of
:mod:`pnp.solvers.gated` and the Schur algebra of :mod:`pnp.solvers.schur`).
The Python path (``System.loop_compiles`` answering no) runs
:class:`pnp.solvers.bordered.Bordered` with the Python modified Newton
loop. Each test runs both and compares states with ``array_equal`` and
counters, step sizes, orders and messages with ``==``: whole runs through
a spike (action_potential: two conductors, three gates; soma_spike: a
sphere), runs through Newton failures, an exactly singular border, and
the compiled assembly against the Python one (which a swelling cell uses).
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from helpers import CASES

import pnp
from pnp.discretisation.model import build_model
from pnp.solvers import bdf
from pnp.solvers.bdf import BDF
from pnp.solvers.bordered import Bordered
from pnp.solvers.newton import System


def _case(name: str, pump: bool = False):
    data = tomllib.loads((CASES / f"{name}.toml").read_text())
    data.pop("output", None)
    if pump:  # a saturating Na/K pump in the channels' membrane (in-band Jacobian)
        data["pump"] = {"membrane": "membrane", "j_max": "3e-7 mol/m^2/s", "K_Na": 12, "K_K": 3}
    return pnp.Case.from_dict(data)


def _python_loop(monkeypatch):
    monkeypatch.setattr(System, "loop_compiles", lambda self, project=None: False)


def _run(model, steps, t_end, **kwargs):
    stepper = BDF(model, model.x0, **kwargs)
    gates = model.channels.block
    stepper.gates_moved = 0.0  # the largest change of a gate from rest
    for _ in range(steps):
        assert stepper.step(t_end)[0]
        moved = np.max(np.abs(stepper.x[gates] - model.x0[gates]))
        stepper.gates_moved = max(stepper.gates_moved, moved)
    return stepper


def _both(monkeypatch, case, steps, **kwargs):
    compiled = _run(build_model(case), steps, case.run.t_end, **kwargs)
    assert compiled.system.loop_compiles(compiled.project)
    with monkeypatch.context() as m:
        _python_loop(m)
        python = _run(build_model(case), steps, case.run.t_end, **kwargs)
    return compiled, python


def _same(compiled, python):
    assert np.array_equal(compiled.x, python.x)
    assert compiled.t == python.t and compiled.h == python.h and compiled.q == python.q
    assert compiled.stats.as_dict() == python.stats.as_dict()
    assert compiled.kept.alpha == python.kept.alpha and compiled.kept.steps == python.kept.steps
    chans_c, chans_p = compiled.model.channels, python.model.channels
    assert np.array_equal(chans_c.factors, chans_p.factors)  # as last applied
    assert np.array_equal(compiled.model.face_cond, python.model.face_cond)


@pytest.mark.parametrize(
    ("name", "pump"),
    [("action_potential", False), ("soma_spike", False), ("action_potential", True)],
)
def test_steps_through_a_spike_are_the_same_with_the_loop_compiled(monkeypatch, name, pump):
    case = _case(name, pump)
    compiled, python = _both(monkeypatch, case, 300)
    if pump:  # the pump's in-band Jacobian is in play beside the gates
        assert compiled.model.pumps[0].rate is None
    _same(compiled, python)
    # through the spike: a gate moved by more than half its range (the Na
    # activation m, from ~0.05 at rest to above 0.9; 0.93 in both cases)
    assert compiled.gates_moved > 0.5


def test_steps_through_newton_failures_are_the_same_with_gates(monkeypatch):
    """Two Newton iterations a step: steps fail and are retried smaller, kept
    factorizations fail and are replaced, alike on both paths."""
    monkeypatch.setattr(bdf, "NEWTON_MAX_ITER", 2)
    compiled, python = _both(monkeypatch, _case("action_potential"), 300)
    assert compiled.stats.rejected_steps > 0  # 5 of them, around the pulse's onset
    _same(compiled, python)


def test_kept_factorizations_failing_at_one_iteration_alike(monkeypatch):
    """Fixed steps and one iteration: each kept factorization is tried, fails
    short of the polish, and the step is solved again with a new one."""
    monkeypatch.setattr(bdf, "NEWTON_MAX_ITER", 1)
    compiled, python = _both(monkeypatch, _case("action_potential"), 6, fixed_step=1e-13)
    assert compiled.stats.newton_iterations > compiled.stats.factorizations
    _same(compiled, python)


def test_a_singular_border_is_reported_and_not_kept_alike(monkeypatch):
    """Gates whose rates are constants (an exponential of infinite slope:
    dV_m derivative 0) with alpha_g + beta_g = -alpha exactly, in a first
    step of h = 2^-20 s (BDF1: alpha = 2^20 /s, exact): each gate's
    equation has no derivative at all, D - r^T Y is exactly zero, and the
    factorization fails on both paths with the same message and is not
    kept."""
    from pnp.discretisation.channels import EXPONENTIAL

    h = 2.0**-20
    out = []
    for python in (False, True):
        model = build_model(_case("action_potential"))
        chans = model.channels
        chans.rate_factor[:] = 1.0
        chans.rates[:, 0] = (EXPONENTIAL, -1.0 / h, 0.0, np.inf)
        chans.rates[:, 1] = (EXPONENTIAL, 0.0, 0.0, np.inf)
        with monkeypatch.context() as m:
            if python:
                _python_loop(m)
            stepper = BDF(model, model.x0, fixed_step=h)
            _, info = stepper._solve(h)
            out.append((info, stepper.kept.valid, stepper.stats.as_dict()))
    assert out[0] == out[1]
    assert out[0][0].message == "singular border equations (gates or volume)"
    assert out[0][1] is False


@pytest.mark.parametrize("pump", [False, True])
@pytest.mark.parametrize("jacobian", [True, False])
def test_the_compiled_gate_assembly_is_the_python_one(monkeypatch, jacobian, pump):
    """gated.assemble against Bordered.assemble's Python form (the one a
    swelling cell takes), at a state mid-spike with gates away from rest
    (and with a saturating pump: its sources and in-band Jacobian):
    residual, band, border columns, diagonal, dV_m derivatives and the
    faces as left, bit for bit."""
    case = _case("action_potential", pump)
    stepper = _run(build_model(case), 150, case.run.t_end)
    x = stepper.x.copy()
    model = stepper.model
    alpha_c = np.full((model.n_species, model.n_cells), 3e4, order="F")
    beta_c = np.asfortranarray(3e4 * np.asarray(model.layout.split(x)[1]))
    beta_d = np.linspace(-1.0, 1.0, model.n_cells + 1)
    out = []
    for python in (False, True):
        system = System(model, continuity=True, keep=True)
        system.bordered.beta_gates[:] = 0.3
        with monkeypatch.context() as m:
            if python:
                m.setattr(Bordered, "compiles", lambda self: False)
            res = system.assemble(x, alpha_c, 3e4, beta_c, beta_d, jacobian=jacobian).copy()
        b = system.bordered
        out.append(
            (res, system.ab.copy(), b.columns.copy(), b.diag.copy(), b.gate_dv.copy(),
             model.channels.factors.copy(), model.face_cond.copy(), model.face_rr.copy())
        )  # fmt: skip
    for got, want in zip(out[0], out[1], strict=True):
        assert np.array_equal(got, want)
    assert np.any(out[0][2] != 0.0) == jacobian
