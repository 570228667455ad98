"""What solve_steady reports, on success and on every way it fails.

- Direct Newton: one solve per steady state without closed compartments, a
  few relaxing solves with them; its step budget, its rejection (not
  converged, negative concentrations beyond atol) and ``continuation=False``.
- Pseudo-transient continuation: pseudo-time adds up the accepted steps, a
  failed step is retried at a quarter of the step, the step grows by the
  documented schedule, the step underflows, the step budget runs out.
- The counters in ``stats``, the wall time, Ctrl-C (``KeyboardInterrupt``).
- Closed compartments: held exactly however few cells they have; the
  projection leaves a compartment with no positive total alone.

Newton failures and iteration counts are scripted by wrapping the real
Newton iteration that ``pnp.solvers.steady`` calls (monkeypatch), so each
test is deterministic and a few milliseconds long.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np
import pytest
from test_solver_contracts import _donnan, _donnan_data

from pnp.discretisation.model import build_model
from pnp.input.case import Case
from pnp.solvers import steady
from pnp.solvers.bdf import initial_step
from pnp.solvers.compartments import closed_compartments, projector
from pnp.solvers.newton import PSI_FLOOR_STEP, NewtonInfo, System, Weights, concentrations
from pnp.solvers.steady import DT_STEADY, INTERRUPTED, solve_steady


def _open_cell():
    """The Donnan cell without its impermeant anion: K and Cl reach the bath
    through the membrane, so no species is confined (no closed compartment
    with an amount) and direct Newton is a single solve."""
    data = _donnan_data()
    del data["species"]["X"]
    data["region"][0]["concentration"] = {"K": 150, "Cl": 150}
    return build_model(Case.from_dict(data))


class _Recorder:
    """A callback recording every accepted step (t, dt, steps, state)."""

    def __init__(self):
        self.calls = []

    def __call__(self, t, dt, stats, x):
        self.calls.append((t, dt, stats.steps, x.copy()))


def _scripted_newton(monkeypatch, fail=(), iterations=(), limit=10_000):
    """Wrap the Newton iteration steady calls: call number k (from 0) in
    ``fail`` fails (its state scrambled to NaN, as a diverged iterate would
    be); accepted call number j reports ``iterations[j]`` iterations while
    the script lasts. More than ``limit`` calls fail the test (a solve that
    never stops)."""
    real = steady.newton
    count = {"calls": 0, "accepted": 0}

    def newton(system, x, *args, **kwargs):
        k = count["calls"]
        count["calls"] += 1
        assert k < limit, "solve_steady did not stop"
        if fail == "all" or k in fail:
            x[:] = np.nan
            return NewtonInfo(False, 1, np.inf, "scripted failure")
        info = real(system, x, *args, **kwargs)
        j = count["accepted"]
        count["accepted"] += 1
        if info.converged and j < len(iterations):
            info = dataclasses.replace(info, iterations=iterations[j])
        return info

    monkeypatch.setattr(steady, "newton", newton)
    return count


# ---------------------------------------------------------------- direct Newton


def test_direct_newton_without_confined_species_is_one_solve():
    m = _open_cell()
    rec = _Recorder()
    out = solve_steady(m, callback=rec)
    assert out.success and out.message == "steady state reached (Newton)"
    assert out.stats.steps == 1 and out.stats.rejected_steps == 0
    assert out.pseudo_time == math.inf
    assert [(t, dt, steps) for t, dt, steps, _ in rec.calls] == [(math.inf, math.inf, 1)]
    np.testing.assert_array_equal(rec.calls[0][3], out.x)


def test_direct_newton_relaxes_a_closed_compartment_in_counted_solves():
    """The Donnan cell confines X: the first solve moves the state, the second
    changes no unknown by more than its tolerance (measured 9e-4 of it) and
    is accepted; each solve is one step and one callback."""
    m = _donnan()
    rec = _Recorder()
    out = solve_steady(m, callback=rec)
    assert out.success and out.message == "steady state reached (Newton)"
    assert out.stats.steps == 2 and out.stats.rejected_steps == 0
    assert [steps for _, _, steps, _ in rec.calls] == [1, 2]
    # X's amount in its compartment is held (projection after every iteration)
    ix = m.species.index("X")
    amount0 = (concentrations(m, m.x0) * m.volume).sum(axis=1)[ix]
    amount = (concentrations(m, out.x) * m.volume).sum(axis=1)[ix]
    assert amount == pytest.approx(amount0, rel=1e-13, abs=0)


@pytest.mark.parametrize("rtol", [1e-9, 7e-10, 5e-10, 3e-10])
def test_a_relaxing_direct_solve_is_accepted_once_it_changes_nothing(rtol):
    """The documented criterion: the last solve changed no unknown by more
    than its tolerance (rtol |x| + atol). At these tight tolerances the
    second solve's change is about 0.9e-9/rtol of it (measured 0.89 at 1e-9,
    1.27, 1.77, 2.92 below), so from 7e-10 on a third solve is needed."""
    m = _donnan()
    rec = _Recorder()
    out = solve_steady(m, rtol=rtol, callback=rec)
    assert out.success and out.message == "steady state reached (Newton)"
    weights = Weights(System(m).is_psi, rtol, 1e-9, PSI_FLOOR_STEP)
    before, last = rec.calls[-2][3], rec.calls[-1][3]
    assert weights.norm(before - last, last) <= 1.0


def test_direct_newton_has_no_displacement_history_on_any_face(monkeypatch):
    """Steady equations have no time term for the displacement: Newton gets
    alpha_d = 0 and a zero history beta_d with one entry per face (N + 1),
    read at the boundary face of a floating (current-clamped) reservoir."""
    data = _donnan_data()
    data["boundary"] = {
        "left": {"type": "wall", "potential": 0.0},
        "right": {"type": "reservoir", "potential": "floating", "current": 0.0},
    }
    m = build_model(Case.from_dict(data))
    seen = []
    real = steady.newton

    def newton(system, x, alpha_c, alpha_d, beta_c, beta_d, *args, **kwargs):
        seen.append((alpha_d, beta_d.copy()))
        return real(system, x, alpha_c, alpha_d, beta_c, beta_d, *args, **kwargs)

    monkeypatch.setattr(steady, "newton", newton)
    out = solve_steady(m)
    assert out.success and out.message == "steady state reached (Newton)"
    assert seen
    for alpha_d, beta_d in seen:
        assert alpha_d == 0.0
        np.testing.assert_array_equal(beta_d, np.zeros(m.n_cells + 1))


@pytest.mark.parametrize("max_steps", [0, 1])
def test_direct_newton_stops_at_the_step_budget(max_steps):
    """The Donnan cell needs two direct solves: with fewer allowed the solve
    fails, says so, and has taken exactly the budget."""
    m = _donnan()
    out = solve_steady(m, max_steps=max_steps)
    assert not out.success
    assert out.message == f"no steady state within {max_steps} steps"
    assert out.stats.steps == max_steps and out.stats.rejected_steps == 0
    assert solve_steady(m, max_steps=2).success  # two are enough


def test_a_failed_direct_attempt_without_continuation_returns_the_start(monkeypatch):
    """``continuation=False``: a failed direct attempt is one rejected step, no
    accepted one, no pseudo-time, and the state handed back is the start."""
    monkeypatch.setattr(steady, "DIRECT_MAX_ITER", 2)
    m = _donnan()
    x0 = m.x0 + 0.0
    out = solve_steady(m, x0=x0, continuation=False)
    assert not out.success and out.message == "direct Newton did not converge"
    assert out.stats.steps == 0 and out.stats.rejected_steps == 1
    assert out.pseudo_time == 0.0
    np.testing.assert_array_equal(out.x, x0)
    np.testing.assert_array_equal(x0, m.x0)  # the caller's start is not modified


@pytest.mark.parametrize(("factor", "accepted"), [(1.0, True), (2.0, False)])
def test_direct_newton_tolerates_negative_concentrations_down_to_atol(
    monkeypatch, factor, accepted
):
    """A direct solution whose smallest concentration is -atol (round-off) is
    accepted; below that it is rejected and continuation (which does not look
    at the sign) takes over."""
    atol = 1e-9
    monkeypatch.setattr(steady, "min_concentration", lambda model, x: -factor * atol)
    out = solve_steady(_open_cell(), atol=atol)
    assert out.success
    if accepted:
        assert out.message == "steady state reached (Newton)"
        assert out.stats.rejected_steps == 0 and out.stats.steps == 1
    else:
        assert out.message == "steady state reached"
        assert out.stats.rejected_steps == 1 and out.stats.steps > 1


def test_newton_solves_to_a_hundredth_of_the_steady_tolerance(monkeypatch):
    """Newton's accuracy per unknown is positive and 100x finer than the
    steady tolerance (rtol |x| + atol), so that its error is not mistaken
    for a change of the state; also where a concentration is zero."""
    seen = []
    real = steady.newton

    def newton(system, x, alpha_c, alpha_d, beta_c, beta_d, weights, *args, **kwargs):
        seen.append((weights(x), x.copy()))
        return real(system, x, alpha_c, alpha_d, beta_c, beta_d, weights, *args, **kwargs)

    monkeypatch.setattr(steady, "newton", newton)
    m = _donnan()
    rtol, atol = 1e-4, 1e-9
    out = solve_steady(m, rtol=rtol, atol=atol)
    assert out.success
    is_psi = np.zeros(m.x0.size, dtype=bool)
    is_psi[m.layout.split(np.arange(m.x0.size))[0]] = True
    assert np.any(concentrations(m, m.x0) == 0.0)  # X is absent from the bath
    for w, x in seen:
        assert np.all(w > 0.0)
        np.testing.assert_allclose(
            w[~is_psi], 1e-2 * (rtol * np.abs(x[~is_psi]) + atol), rtol=1e-12
        )


# ---------------------------------------------------------------- continuation


def test_continuation_counts_its_steps_and_adds_up_pseudo_time():
    m = _donnan()
    rec = _Recorder()
    out = solve_steady(m, direct=False, callback=rec)
    assert out.success and out.message == "steady state reached"
    assert out.stats.rejected_steps == 0
    assert out.stats.steps == len(rec.calls) > 1
    assert [steps for _, _, steps, _ in rec.calls] == list(range(1, len(rec.calls) + 1))
    dts = [dt for _, dt, _, _ in rec.calls]
    assert dts[0] == initial_step(m)
    assert dts[-1] == DT_STEADY  # converged at the largest step
    t = 0.0
    for t_k, dt, _, _ in rec.calls:
        t += dt
        assert t_k == t
    assert out.pseudo_time == t
    np.testing.assert_allclose(out.x, solve_steady(m).x, rtol=1e-6, atol=1e-9)


def test_a_failed_pseudo_time_step_is_retried_at_a_quarter_of_it(monkeypatch):
    """Newton fails on the first two tries (state scrambled): each failure is
    one rejected step, the state is restored and the step divided by 4."""
    m = _donnan()
    reference = solve_steady(m, direct=False)
    _scripted_newton(monkeypatch, fail={0, 1})
    rec = _Recorder()
    out = solve_steady(m, direct=False, callback=rec)
    assert out.success and out.message == "steady state reached"
    assert out.stats.rejected_steps == 2
    assert out.stats.steps == len(rec.calls)
    assert rec.calls[0][1] == initial_step(m) / 16.0
    np.testing.assert_allclose(out.x, reference.x, rtol=1e-6, atol=1e-9)


def test_the_pseudo_time_step_grows_by_how_fast_newton_converged(monkeypatch):
    """x10 after at most 3 Newton iterations, x4 after 4-5, x2 after 6-10,
    unchanged after more (the iteration counts scripted)."""
    m = _donnan()
    script = [1, 3, 4, 5, 6, 10, 11, 3]
    _scripted_newton(monkeypatch, iterations=script)
    rec = _Recorder()
    out = solve_steady(m, direct=False, callback=rec)
    assert out.success
    dts = [dt for _, dt, _, _ in rec.calls]
    ratios = [b / a for a, b in itertools.pairwise(dts[: len(script) + 1])]
    np.testing.assert_allclose(ratios, [10, 10, 4, 4, 2, 2, 1, 10], rtol=1e-14)


def test_the_pseudo_time_step_underflows_when_newton_always_fails(monkeypatch):
    """Every try fails: the step is divided by 4 until it is below 1e-30 s,
    then the solve stops with Newton's last message."""
    m = _donnan()
    count = _scripted_newton(monkeypatch, fail="all", limit=1000)
    out = solve_steady(m, direct=False)
    assert not out.success
    assert out.message == "pseudo-time step underflow: scripted failure"
    tries = math.ceil(math.log(initial_step(m) / 1e-30, 4.0))
    assert initial_step(m) / 4.0**tries < 1e-30 <= initial_step(m) / 4.0 ** (tries - 1)
    assert count["calls"] == tries == out.stats.rejected_steps
    assert out.stats.steps == 0 and out.pseudo_time == 0.0


def test_continuation_stops_at_the_step_budget():
    m = _donnan()
    rec = _Recorder()
    out = solve_steady(m, direct=False, max_steps=3, callback=rec)
    assert not out.success
    assert out.message.startswith("no steady state within 3 pseudo-time steps (last dt ")
    assert out.stats.steps == 3 == len(rec.calls)
    assert out.pseudo_time == rec.calls[-1][0]


def test_the_default_budget_is_2000_pseudo_time_steps(monkeypatch):
    """With a step tolerance that no step meets (weights of 0), continuation
    runs to the default budget."""
    real = steady.make_weights

    def make_weights(system, rtol, atol, psi_floor=0.0):
        if psi_floor == steady.PSI_FLOOR_STEP:
            return real(system, 0.0, 1e-300, 1e-300)
        return real(system, rtol, atol, psi_floor)

    monkeypatch.setattr(steady, "make_weights", make_weights)
    out = solve_steady(_open_cell(), direct=False)
    assert not out.success
    assert out.message.startswith("no steady state within 2000 pseudo-time steps")
    assert out.stats.steps == 2000


# ---------------------------------------------------------------- interruption, time


@pytest.mark.parametrize("direct", [True, False])
def test_ctrl_c_during_the_solve_is_an_interrupted_outcome(direct):
    def callback(t, dt, stats, x):
        raise KeyboardInterrupt

    out = solve_steady(_donnan(), direct=direct, callback=callback)
    assert out.success is False
    assert out.message == INTERRUPTED == "interrupted"
    assert out.pseudo_time == math.inf
    assert out.stats.steps == 1
    assert out.stats.wall_time > 0.0


def test_wall_time_is_the_time_spent_in_the_solve():
    m = _donnan()
    t0 = time.perf_counter()
    out = solve_steady(m)
    elapsed = time.perf_counter() - t0
    assert 0.0 < out.stats.wall_time <= elapsed


# ---------------------------------------------------------------- compartments


def test_a_two_cell_compartment_is_held_exactly():
    """The Donnan cell meshed with 2 cells per region: X's cytoplasm is a
    closed compartment of two cells, whose amount the projection restores."""
    m = build_model(Case.from_dict(_donnan_data(2)))
    ix = m.species.index("X")
    (a, b), _, _ = m.mesh.region_slices
    assert b - a == 2
    comps = closed_compartments(m, m.x0)
    (comp,) = [c for c in comps if c.amount > 0.0]
    project = projector(m, comps)
    x = m.x0.copy()
    idx = m.layout.conc_at(np.arange(a, b), ix)
    x[idx] *= [0.5, 1.25]
    project(x)
    assert float(np.dot(m.volume[a:b], x[idx])) == pytest.approx(comp.amount, rel=1e-14, abs=0)


@pytest.mark.parametrize("value", [0.0, -1e-3])
def test_the_projection_leaves_a_compartment_with_no_positive_total_alone(value):
    """A multiplicative rescale cannot restore an amount from a total that is
    zero or negative (a wild Newton iterate): those cells are left as they
    are, for Newton to correct."""
    m = _donnan()
    ix = m.species.index("X")
    (a, b), _, _ = m.mesh.region_slices
    project = projector(m, closed_compartments(m, m.x0))
    x = m.x0.copy()
    idx = m.layout.conc_at(np.arange(a, b), ix)
    x[idx] = value
    before = x.copy()
    project(x)
    np.testing.assert_array_equal(x, before)


# --- cells with border unknowns: channels (gates held first) and a moving volume


def _shipped_model(name: str, **drop):
    import tomllib
    from pathlib import Path

    data = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "cases" / f"{name}.toml").read_text()
    )
    for key in ("output", "stimulus", "protocol", *drop):
        data.pop(key, None)
    return build_model(Case.from_dict(data))


def test_a_channel_cell_is_solved_with_its_gates_held_first_then_released():
    """From its initial state (x0 None or model.x0) a cell with channels is
    solved with the gates held at model.x0's, then from that answer with
    them free: the same bits and the work of both, and the gates free after."""
    model = _shipped_model("action_potential")
    chans = model.channels
    chans.held = True
    first = solve_steady(model, model.x0)
    chans.held = False
    second = solve_steady(model, first.x)
    assert first.success and second.success
    assert not np.array_equal(first.x, second.x)  # releasing the gates moved the state
    for x0 in (None, model.x0):
        outcome = solve_steady(model, x0)
        assert chans.held is False
        assert np.array_equal(outcome.x, second.x)
        for key in ("steps", "newton_iterations", "factorizations", "rejected_steps"):
            want = getattr(first.stats, key) + getattr(second.stats, key)
            assert getattr(outcome.stats, key) == want, key
    # from any other state: one solve with the gates free
    other = solve_steady(model, first.x.copy())
    assert np.array_equal(other.x, second.x)
    assert other.stats.newton_iterations == second.stats.newton_iterations


def test_a_failed_held_phase_restarts_the_free_one_from_the_initial_state(monkeypatch):
    """When the held phase fails, the free phase starts from model.x0 (not
    from what the failed phase left)."""
    model = _shipped_model("action_potential")
    calls = []
    real = steady.solve_steady

    def spy(m, x0=None, *args, **kwargs):
        calls.append((m.channels.held, None if x0 is None else x0.copy()))
        if m.channels.held:
            out = real(m, x0, *args, **kwargs)
            return dataclasses.replace(out, success=False, x=out.x + 1.0)
        return real(m, x0, *args, **kwargs)

    monkeypatch.setattr(steady, "solve_steady", spy)
    steady._held_gates_first(model, 1e-6, 1e-9, 2000, None, True, True)
    assert [held for held, _ in calls] == [True, False]
    assert np.array_equal(calls[1][1], model.x0)


@pytest.mark.parametrize("name", ["action_potential", "pump_leak_volume"])
def test_continuation_reaches_the_direct_steady_state(name):
    """Pseudo-transient continuation (direct=False) gives the steady state of
    direct Newton with border unknowns too: its time terms for the gates and
    the volume vanish at the steady state only if they are alpha times the
    old gates and alpha times the old inside volume. Measured: 1e-12 V_T
    and 1e-12 relative apart."""
    model = _shipped_model(name)
    direct = solve_steady(model, direct=True, continuation=False)
    assert direct.success, direct.message
    cont = solve_steady(model, direct=False)
    assert cont.success, cont.message
    assert cont.stats.steps > 1  # it did step in pseudo-time
    lay = model.layout
    psi_d, psi_c = direct.x[lay.potential], cont.x[lay.potential]
    assert np.abs(psi_c - psi_d).max() < 1e-6  # V_T
    extra = slice(lay.body.stop, None)  # gates / scale
    np.testing.assert_allclose(cont.x[extra], direct.x[extra], rtol=1e-6)


def test_a_moving_volume_is_left_at_its_answers_scale_or_where_it_was():
    """After a solve the model sits at the answer's scale; a failed solve
    whose scale is not finite leaves the model where it was."""
    model = _shipped_model("pump_leak_volume")
    outcome = solve_steady(model)
    assert outcome.success and outcome.x[-1] != 1.0
    assert model.scale == outcome.x[-1]
    x0 = model.x0.copy()
    x0[-1] = np.nan
    before = model.scale
    failed = solve_steady(model, x0, max_steps=3)
    assert not failed.success and not np.isfinite(failed.x[-1])
    assert model.scale == before and np.isfinite(model.volume).all()


def test_continuation_stops_only_when_a_full_step_changes_nothing_beyond_its_tolerance(
    monkeypatch,
):
    """The first pseudo-time step of DT_STEADY is made to move one
    concentration by 1.5 of its tolerance: not yet steady; the steps after
    it (back, then nothing) end the solve at the true state."""
    m = _open_cell()
    real = steady.newton
    moved = []

    def newton(system, x, alpha_c, alpha, *args, **kwargs):
        info = real(system, x, alpha_c, alpha, *args, **kwargs)
        if alpha * DT_STEADY <= 1.0 and not moved:
            i = m.layout.conc_at(3, 0)
            x[i] += 1.5 * (1e-6 * abs(x[i]) + 1e-9)
            moved.append(i)
        return info

    monkeypatch.setattr(steady, "newton", newton)
    out = solve_steady(m, direct=False, rtol=1e-6, atol=1e-9)
    assert out.success and moved
    monkeypatch.setattr(steady, "newton", real)
    plain = solve_steady(m, direct=False, rtol=1e-6, atol=1e-9)
    assert out.stats.steps >= plain.stats.steps + 1
    i = moved[0]
    assert abs(out.x[i] - plain.x[i]) < 0.5 * (1e-6 * abs(plain.x[i]) + 1e-9)


def test_continuation_from_a_steady_state_of_a_channel_cell_stays_there():
    """Started at its steady state, every pseudo-time step of a cell with
    channels keeps it (the gates' time term alpha (x - x_old) vanishes
    there), from the first, shortest step on."""
    model = _shipped_model("action_potential")
    direct = solve_steady(model, direct=True, continuation=False)
    assert direct.success
    rec = _Recorder()
    cont = solve_steady(model, direct.x.copy(), direct=False, callback=rec)
    assert cont.success and len(rec.calls) > 3
    gates = model.channels.block
    for _, _, _, x in rec.calls:
        np.testing.assert_allclose(x[gates], direct.x[gates], rtol=1e-9)
