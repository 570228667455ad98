"""The run loop: one model solved from start to end, reported through trackers.

Owns :func:`simulate` (steady or transient per the case's ``[run]`` table),
the transient loop that drives the :class:`~pnp.solvers.bdf.BDF` stepper
(output times, protocol changes via ``Case.at_time``), the output times of a
transient, and the :class:`Tracker` protocol through which results are
collected, written, shown and interrupted (:mod:`pnp.simulation.trackers`).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..discretisation.channels import settle
from ..discretisation.model import rebuild_model
from ..discretisation.swelling import unbounded
from ..results.observables import measurement_face, observe
from ..solvers.bdf import BDF, consistent_start, initial_rates, initial_step
from ..solvers.newton import Stats
from ..solvers.steady import INTERRUPTED, solve_steady
from .adaptive import solve_adaptive


class Tracker:
    """Hooks called by :func:`simulate`; every one does nothing by default.

    ``start(model)`` before solving; ``output(model, t, x, observables,
    errors)`` at each output (the initial state of a transient, each output
    time and the state just before each protocol change; t = inf for a
    steady state), where ``errors`` maps flat observable names to estimates
    of their absolute discretisation error (in the observable's unit; None,
    or a name left out: no estimate) and ``model`` is the model of that
    output's state (its mesh may differ from the one ``start`` saw);
    ``step(t, h, stats, x)`` after each accepted (pseudo-)time step (h = inf
    for a direct steady solve) — raising KeyboardInterrupt there stops the
    run; ``finish(status, message, stats)`` once at the end, also when
    interrupted ("failed", "interrupted"); ``close()`` always, last.
    """

    def start(self, model) -> None:
        pass

    def output(
        self, model, t: float, x: np.ndarray, observables: dict, errors: dict | None = None
    ) -> None:
        pass

    def step(self, t: float, h: float, stats, x: np.ndarray) -> None:
        pass

    def finish(self, status: str, message: str, stats: dict) -> None:
        pass

    def close(self) -> None:
        pass


class Trackers(Tracker):
    """Several trackers called in order, as one."""

    def __init__(self, trackers):
        self.trackers = list(trackers)

    def start(self, model):
        for tr in self.trackers:
            tr.start(model)

    def output(self, model, t, x, observables, errors=None):
        for tr in self.trackers:
            tr.output(model, t, x, observables, errors)

    def step(self, t, h, stats, x):
        for tr in self.trackers:
            tr.step(t, h, stats, x)

    def finish(self, status, message, stats):
        for tr in self.trackers:
            tr.finish(status, message, stats)

    def close(self):
        for tr in self.trackers:
            tr.close()


def output_times(case, first_step: float) -> list[float]:
    """Output times of a transient run: a count (log-spaced) or a list."""
    outputs = case.run.outputs
    t_end = case.run.t_end
    if isinstance(outputs, int | np.integer):
        t_first = min(t_end, 10.0 * first_step)
        if outputs == 1 or t_first >= t_end:
            return [t_end]
        return [float(v) for v in np.geomspace(t_first, t_end, int(outputs))]
    return sorted(float(v) for v in outputs if 0.0 < v <= t_end)


def simulate(
    case,
    model,
    tracker: Tracker,
    x0: np.ndarray | None = None,
    t_start: float = 0.0,
    adapt_mesh: bool = True,
) -> tuple[str, str, dict]:
    """Solve ``model`` (built from ``case``) and report through ``tracker``.

    Returns (status, message, solver statistics); status is "completed" or
    "failed". A steady state adapts the mesh from ``model``'s unless
    ``adapt_mesh`` is false (:mod:`pnp.simulation.adaptive`); its one output
    may be on another mesh than ``model``'s. A KeyboardInterrupt (from a
    tracker's ``step`` or, for a steady run, anywhere in the solve) finishes
    the trackers with ("failed", "interrupted") and is raised again.
    """
    try:
        tracker.start(model)
        if case.run.mode == "transient":
            return _transient(case, model, tracker, x0, t_start)
        return _steady(case, model, tracker, x0, adapt_mesh)
    finally:
        tracker.close()


def _steady(case, model, tracker, x0, adapt_mesh):
    why = unbounded(case)
    if why:
        stats = Stats().as_dict()
        tracker.output(model, math.inf, model.x0, observe(model, model.x0))
        tracker.finish("failed", why, stats)
        return "failed", why, stats
    result = solve_adaptive(case, model, x0, adapt_mesh, callback=tracker.step)
    outcome = result.outcome
    stats = dict(result.stats)
    stats["pseudo_time"] = outcome.pseudo_time
    stats["mesh_cycles"] = result.cycles
    stats["cells"] = result.model.n_cells
    message = outcome.message if not result.note else f"{outcome.message}; {result.note}"
    tracker.output(
        result.model, math.inf, outcome.x, result.observables, errors=result.error_estimate
    )
    status = "completed" if outcome.success else "failed"
    tracker.finish(status, message, stats)
    if outcome.message == INTERRUPTED:
        raise KeyboardInterrupt
    return status, message, stats


def _transient(case, model, tracker, x0, t_start):
    """The transient from ``x0`` (a restart state, used as it is), else from
    the initial state ``[run] initial`` names, with Gauss's law solved at its
    concentrations; the first output is that state."""
    t0_wall = time.perf_counter()
    work = Stats()
    if x0 is None:
        x0 = model.x0
        if case.run.initial == "steady":
            x0, failure = _steady_start(case, model, tracker, t_start, work)
            if failure is not None:
                work.wall_time = time.perf_counter() - t0_wall
                stats = work.as_dict()
                tracker.output(model, t_start, x0, observe(model, x0))
                tracker.finish("failed", failure, stats)
                if failure == "interrupted":
                    raise KeyboardInterrupt
                return "failed", failure, stats
        # Gauss's law at the initial concentrations: the algebraic part of
        # the system holds from t = 0 on (a steady state satisfies it already:
        # solved again, it changes by round-off only)
        x0 = consistent_start(model, x0)
        if case.run.initial == "contents":  # gates at x_inf of that state
            x0 = settle(model, x0)
    # the initial current: ionic plus the displacement current that holds
    # Gauss's law, so the total current is the same through every face
    rate = initial_rates(model, x0)[measurement_face(model)]
    tracker.output(model, t_start, x0, observe(model, x0, rate))
    stepper = BDF(
        model, x0, t_start, rtol=case.run.rtol, atol=case.run.atol, max_order=case.run.max_order
    )
    stepper.stats.newton_iterations += work.newton_iterations
    stepper.stats.factorizations += work.factorizations
    try:
        success, message = _advance(case, stepper, tracker, t_start)
    except KeyboardInterrupt:
        stepper.stats.wall_time = time.perf_counter() - t0_wall
        tracker.finish("failed", "interrupted", stepper.stats.as_dict())
        raise
    stepper.stats.wall_time = time.perf_counter() - t0_wall
    stats = stepper.stats.as_dict()
    status = "completed" if success else "failed"
    tracker.finish(status, message, stats)
    return status, message, stats


def _steady_start(case, model, tracker, t_start, work):
    """(state, None) — the steady state of ``model`` (the case at the start) —
    or (the steady solver's last state, why it failed)."""
    outcome = solve_steady(
        model,
        rtol=case.run.rtol,
        atol=case.run.atol,
        max_steps=case.run.max_steps,
        # reported at the start time: the run has not begun
        callback=lambda t, h, stats, x: tracker.step(t_start, h, stats, x),
    )
    work.newton_iterations += outcome.stats.newton_iterations
    work.factorizations += outcome.stats.factorizations
    if outcome.message == INTERRUPTED:
        return outcome.x, "interrupted"
    if not outcome.success:
        return outcome.x, (
            f'run.initial = "steady": no steady state to start from ({outcome.message})'
        )
    return outcome.x, None


def _advance(case, stepper: BDF, tracker: Tracker, t_start: float) -> tuple[bool, str]:
    """Step to every output and protocol time in turn, then to ``t_end``.

    Each such time is hit exactly and reported (for a protocol change: the
    state just before it); the model is then rebuilt from
    ``case.at_time(t)`` on the same mesh and the stepper restarted.
    """
    t_end, max_steps = case.run.t_end, case.run.max_steps
    stops = output_times(case, initial_step(stepper.model))
    events = {p.at for p in case.protocols if t_start < p.at <= t_end}
    marks = sorted({*(s for s in stops if t_start < s <= t_end), *events, t_end})
    measure = measurement_face(stepper.model)
    for target in marks:
        while stepper.t != target:
            if stepper.stats.steps >= max_steps:
                return False, f"step limit {max_steps} reached at t = {stepper.t:.4g} s"
            success, message = stepper.step(target)
            if not success:
                return False, message
            tracker.step(stepper.t, stepper.h_last, stepper.stats, stepper.x)
        obs = observe(stepper.model, stepper.x, stepper.displacement_rate()(measure))
        tracker.output(stepper.model, stepper.t, stepper.x, obs)
        if target in events:
            stepper.restart(rebuild_model(case.at_time(target), stepper.model))
    return True, "completed"
