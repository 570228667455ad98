"""Steady state: direct Newton, else pseudo-transient continuation.

Owns :func:`solve_steady` and its :class:`SteadyOutcome`; the Newton
iteration is :mod:`pnp.solvers.newton`'s, the closed compartments
:mod:`pnp.solvers.compartments`'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..discretisation.model import Model
from ..discretisation.swelling import inside_volume, set_scale
from .bdf import initial_step
from .compartments import closed_compartments, projector
from .newton import (
    NEWTON_RTOL_FLOOR,
    PSI_FLOOR_NEWTON,
    PSI_FLOOR_STEP,
    Stats,
    System,
    contents,
    displacements,
    make_weights,
    min_concentration,
    newton,
)

DT_STEADY = 1e12  # pseudo-time step [s] beyond every physical time scale
DIRECT_MAX_ITER = 30
DIRECT_MAX_SOLVES = 8
INTERRUPTED = "interrupted"  # the message of a solve ended by Ctrl-C or a stop flag


@dataclass
class SteadyOutcome:
    x: np.ndarray
    success: bool
    message: str
    stats: Stats
    pseudo_time: float


def solve_steady(
    model: Model,
    x0: np.ndarray | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 2000,
    callback=None,
    direct: bool = True,
    continuation: bool = True,
) -> SteadyOutcome:
    """Steady state: direct Newton, else pseudo-transient continuation.

    ``direct``: first try Newton on the steady equations themselves (species
    confined to a closed compartment keep a small time term, see
    ``REGULARISE``, and are relaxed by a few such solves). Accepted only if it
    converges within ``DIRECT_MAX_ITER`` iterations to non-negative
    concentrations; otherwise the run restarts from ``x0`` with
    pseudo-transient continuation: implicit Euler steps with growing
    pseudo-time steps (x10 when Newton converges fast, /4 and retry when it
    fails). Each step conserves every species' amount up to boundary fluxes,
    so closed compartments keep their contents; their amount is also
    restored exactly after each Newton iteration. Converged when a step of
    ``DT_STEADY`` changes no unknown by more than its tolerance
    (rtol |x| + atol).

    ``continuation=False`` stops after a failed direct attempt (a caller
    with another start to try first).

    ``callback(t, dt, stats, x)`` is called after every accepted step
    (``dt = inf`` for direct solves).

    A model with voltage-gated channels started from its initial state
    (``x0`` None or ``model.x0``) is first solved with its gates held where
    that state has them (x_inf of a resting estimate,
    :func:`pnp.discretisation.channels.resting_guess`), then released: the
    steady state of the resting branch, which a cell whose channels can also
    hold it depolarised would otherwise miss from its zero-potential start.
    """
    if model.channels is not None and (x0 is None or x0 is model.x0) and not model.channels.held:
        return _held_gates_first(model, rtol, atol, max_steps, callback, direct, continuation)
    t0 = time.perf_counter()
    scale0 = model.scale  # where a moving mesh is: its place again if the answer has none
    system = System(model)
    stats = system.stats
    x = (model.x0 if x0 is None else x0).copy()
    S, N = model.n_species, model.n_cells
    comps = closed_compartments(model, x)
    alpha_floor = comps.time_floor(S, N)
    project = projector(model, comps)
    newton_rtol = max(1e-2 * rtol, NEWTON_RTOL_FLOOR)
    weights_newton = make_weights(system, newton_rtol, 1e-2 * atol, PSI_FLOOR_NEWTON)
    weights_step = make_weights(system, rtol, atol, PSI_FLOOR_STEP)

    outcome = None
    try:
        if direct:
            outcome = _direct_steady(
                model,
                system,
                x,
                alpha_floor,
                project,
                weights_newton,
                weights_step,
                atol,
                callback,
                max_steps,
            )
            if outcome is None:
                x = (model.x0 if x0 is None else x0).copy()
        if outcome is None and not continuation:
            outcome = SteadyOutcome(
                x=x,
                success=False,
                message="direct Newton did not converge",
                stats=stats,
                pseudo_time=0.0,
            )
        if outcome is None:
            outcome = _continuation(
                model,
                system,
                x,
                alpha_floor,
                project,
                weights_newton,
                weights_step,
                max_steps,
                callback,
            )
    except KeyboardInterrupt:
        outcome = SteadyOutcome(
            x=x, success=False, message=INTERRUPTED, stats=stats, pseudo_time=np.inf
        )
    stats.wall_time = time.perf_counter() - t0
    if model.swelling is not None:  # the model where its answer is, or where it was
        scale = float(outcome.x[-1])
        set_scale(model, scale if np.isfinite(scale) else scale0)
    return outcome


def _held_gates_first(model, rtol, atol, max_steps, callback, direct, continuation):
    """:func:`solve_steady` with the gates held at ``model.x0``'s, then released."""
    chans = model.channels
    chans.held = True
    try:
        first = solve_steady(model, model.x0, rtol, atol, max_steps, callback, direct, continuation)
    finally:
        chans.held = False
    start = first.x if first.success else model.x0.copy()
    outcome = solve_steady(model, start, rtol, atol, max_steps, callback, direct, continuation)
    for key in ("steps", "newton_iterations", "factorizations", "rejected_steps"):
        setattr(outcome.stats, key, getattr(outcome.stats, key) + getattr(first.stats, key))
    return outcome


def _continuation(
    model, system, x, alpha_floor, project, weights_newton, weights_step, max_steps, callback
) -> SteadyOutcome:
    """Pseudo-transient continuation from ``x`` (updated in place)."""
    stats = system.stats
    dt = initial_step(model)
    t = 0.0
    message = ""
    success = False
    x_old = x.copy()
    while stats.steps < max_steps:
        alpha = 1.0 / dt
        alpha_c = np.maximum(alpha, alpha_floor)
        beta_c = alpha_c * contents(model, x_old)  # (moves a swelling model to x_old's scale)
        beta_d = alpha * displacements(model, x_old)
        if system.bordered is not None:
            if model.swelling is not None:
                system.bordered.beta_volume = alpha * inside_volume(model)
            if model.channels is not None:
                system.bordered.beta_gates[:] = alpha * x_old[model.channels.block]
        info = newton(system, x, alpha_c, alpha, beta_c, beta_d, weights_newton, project)
        if not info.converged:
            stats.rejected_steps += 1
            x[:] = x_old
            dt /= 4.0
            if dt < 1e-30:
                message = f"pseudo-time step underflow: {info.message}"
                break
            continue
        stats.steps += 1
        t += dt
        x_old -= x  # x_old now holds -(change); refilled below
        change = weights_step.norm(x_old, x)
        x_old[:] = x
        if callback is not None:
            callback(t, dt, stats, x)
        if dt >= DT_STEADY and change <= 1.0:
            success = True
            message = "steady state reached"
            break
        growth = (
            10.0
            if info.iterations <= 3
            else 4.0
            if info.iterations <= 5
            else 2.0
            if info.iterations <= 10
            else 1.0
        )
        dt = min(dt * growth, DT_STEADY)
    else:
        message = f"no steady state within {max_steps} pseudo-time steps (last dt {dt:.3g} s)"
    return SteadyOutcome(x=x, success=success, message=message, stats=stats, pseudo_time=t)


def _direct_steady(
    model, system, x0, alpha_floor, project, weights_newton, weights_step, atol, callback, max_steps
) -> SteadyOutcome | None:
    """Newton on the steady equations; None when it does not converge cleanly."""
    x = x0.copy()
    stats = system.stats
    beta_d = np.zeros(model.n_cells + 1)
    # without confined species one solve is the steady state itself, and the
    # time terms are all zero (no state-sized history arrays needed)
    confined = bool(np.any(alpha_floor))
    if system.bordered is not None:  # no time terms for the border unknowns
        system.bordered.beta_gates[:] = 0.0
    for _ in range(DIRECT_MAX_SOLVES):
        if stats.steps >= max_steps:
            return SteadyOutcome(
                x=x,
                success=False,
                stats=stats,
                pseudo_time=np.inf,
                message=f"no steady state within {max_steps} steps",
            )
        if confined:
            x_old = x.copy()
            beta_c = alpha_floor * contents(model, x_old)
        else:
            beta_c = alpha_floor
        info = newton(
            system,
            x,
            alpha_floor,
            0.0,
            beta_c,
            beta_d,
            weights_newton,
            project,
            max_iter=DIRECT_MAX_ITER,
        )
        if not info.converged or not np.all(np.isfinite(x)):
            stats.rejected_steps += 1
            return None
        if min_concentration(model, x) < -atol:
            stats.rejected_steps += 1
            return None
        stats.steps += 1
        if callback is not None:
            callback(np.inf, np.inf, stats, x)
        if not confined:
            return SteadyOutcome(
                x=x,
                success=True,
                message="steady state reached (Newton)",
                stats=stats,
                pseudo_time=np.inf,
            )
        x_old -= x  # x_old now holds -(change)
        if weights_step.norm(x_old, x) <= 1.0:
            return SteadyOutcome(
                x=x,
                success=True,
                message="steady state reached (Newton)",
                stats=stats,
                pseudo_time=np.inf,
            )
    return None
