"""Modified Newton for the BDF steps: one factorization for several iterations.

Full Newton (:func:`pnp.solvers.newton.newton`) assembles and factors the
Jacobian at every iterate. Here the factorization a
:class:`~pnp.solvers.newton.System` keeps (``keep=True``) is used again for
the later iterations of a step and for later steps of the same BDF
coefficient alpha = a0/h (:class:`Reuse`, the rules; :func:`modified_newton`,
the iteration):

- a step starts with a new factorization at its predictor unless the kept
  one is usable (:meth:`Reuse.usable`): made at the same alpha
  (``REFACTOR_ALPHA`` = 0: any change refactors), fewer than
  ``REFACTOR_STEPS`` = 20 steps ago, under the same model (a restart or
  protocol change builds a new system and a new :class:`Reuse`);
- an iteration with the factorization of an earlier iterate assembles the
  residual alone (no Jacobian: for channels no shifted assemblies either)
  and is one substitution (with border unknowns, plus the k x k Schur
  solve);
- when such an iteration contracts by less than ``SLOW_RATE`` = 0.3 (or is
  damped, with a factorization from an earlier step), the next iterate is
  factored anew; when Newton fails with a factorization from an earlier
  step, the step is solved again from its predictor with a new one
  (:meth:`Reuse.newton`) before the stepper cuts h.

Without border unknowns and on a fixed mesh the whole loop runs compiled
(:func:`pnp.solvers.iteration.modified_newton`), and the stepper solves a
whole step, the retry included, in one compiled call
(:meth:`Reuse.step` -> :func:`pnp.solvers.iteration.bdf_step`); the
stopping rules below are :func:`pnp.solvers.iteration.after_update`'s in
every loop.

Stopping. An update made with the Jacobian of its own iterate is a Newton
step and is judged as in :func:`~pnp.solvers.newton.newton` (converged at
norm <= 1: what is left is of the order of its square; stagnation at norm
<= 10 is round-off). An update made with an older factorization leaves an
error of about rate/(1 - rate) times itself (rate: the ratio of the last
two updates), and that error, not round-off, is what each step's species
balance and the current-continuity rows then show: it is held to
``POLISH`` = 1e-6 of the Newton tolerance (or the update itself is), so
that the balances (tests/test_transient.py, 6e-12 relative) and the total
current through every face (tests/test_total_current.py,
tests/test_solver_contracts.py, a few eps of the summed terms) hold as with
full Newton. A slower contraction within a step (rate > 0.5 at norm <= 1)
is round-off.

Why alpha must not move (CVODE tolerates 30 %): the time terms alpha V c and
alpha P_f are in every balance and continuity row, so a factorization at
alpha0 contracts at about |alpha/alpha0 - 1|, and the polish then costs an
iteration for each decade or two. On the shipped transients, whose steps
change size at almost every step, allowing 1 % or 3 % took as long as
factoring anew, and a tolerance of 1e-6 (steps split to hit an output
differ from each other by an ulp) cost action_potential 1964 iterations
for 239 factorizations against 1001 for 517 (docs/numerics.md, "Newton
iteration").
"""

from __future__ import annotations

import numpy as np

from . import iteration
from .bordered import SINGULAR_BORDER
from .history import all_finite
from .newton import NEWTON_MAX_ITER, NewtonInfo, record_args

REFACTOR_STEPS = 20  # a factorization is used for at most this many steps
REFACTOR_ALPHA = 0.0  # ... and at most this far (relative) from the alpha it was made at
SLOW_RATE = 0.3  # an older factorization contracting slower than this is replaced
POLISH = 1e-6  # error left by an iteration with an older factorization [Newton tolerance]


class Reuse:
    """The factorization a stepper's system keeps, and when to use it again.

    Passed to :func:`pnp.solvers.newton.newton` as ``reuse``, which then
    calls :meth:`newton`; the stepper counts its accepted steps (``steps``).
    """

    def __init__(self):
        self.valid = False
        self.alpha = np.nan  # the BDF coefficient a0/h it was assembled at
        self.steps = 0  # accepted steps since

    def usable(self, alpha: float) -> bool:
        """May a step at ``alpha`` start with it?"""
        return (
            self.valid
            and self.steps < REFACTOR_STEPS
            and abs(alpha - self.alpha) <= REFACTOR_ALPHA * self.alpha
        )

    def made(self, alpha: float, valid: bool) -> None:
        self.valid, self.alpha, self.steps = valid, alpha, 0

    def usable_alpha(self) -> float:
        """The alpha a step must have to start with it (nan: none may)."""
        return self.alpha if self.valid and self.steps < REFACTOR_STEPS else np.nan

    def step(self, system, terms, alpha_c, beta_c, newton_weights, project, step_weights, max_iter):
        """A BDF step's solve by :func:`pnp.solvers.iteration.bdf_step` (for
        a system whose loop compiles): ``terms`` = (steps, order, number of
        states, states, amounts, displacements) as
        :func:`pnp.solvers.history.step_terms` takes them. Returns (a,
        beta_d, x, NewtonInfo, error norm, history entries); the same
        operations in the same order as the stepper's Python path and
        :meth:`newton`."""
        w = step_weights
        a, beta_d, x, status, it, norm, info, n_factor, n_update, made, error, entries = (
            iteration.bdf_step(
                *terms,
                alpha_c,
                beta_c,
                self.usable_alpha(),
                REFACTOR_ALPHA,
                system.args,
                system.ab,
                system.lu,
                system.loop_args(newton_weights, project),
                max_iter,
                POLISH,
                SLOW_RATE,
                (w.rtol, w.floor_c, w.floor_psi, w.is_psi),
                record_args(system.model),
            )
        )
        system.loop_done(n_factor, n_update)
        if made:  # the last factorization is the one kept
            self.made(a[0] / terms[0][0], status not in _SINGULAR)
        return a, beta_d, x, _info(status, it, norm, info, max_iter), error, entries

    def newton(
        self, system, x, alpha_c, alpha_d, beta_c, beta_d, weights, project, max_iter
    ) -> NewtonInfo:
        """Modified Newton from ``x`` (updated in place): with the kept
        factorization if usable at ``alpha_d``, and if that fails once more
        from ``x`` with a new one; else with a new one."""
        args = (system, x, alpha_c, alpha_d, beta_c, beta_d, weights, project, self)
        if not self.usable(alpha_d):
            return modified_newton(*args, fresh=True, max_iter=max_iter)
        start = x.copy()
        info = modified_newton(*args, fresh=False, max_iter=max_iter)
        if info.converged:
            return info
        x[:] = start
        retry = modified_newton(*args, fresh=True, max_iter=max_iter)
        retry.iterations += info.iterations
        return retry


def modified_newton(
    system,
    x: np.ndarray,
    alpha_c,
    alpha_d: float,
    beta_c,
    beta_d,
    weights,
    project,
    kept: Reuse,
    fresh: bool,
    max_iter: int = NEWTON_MAX_ITER,
) -> NewtonInfo:
    """Newton on R(x) = 0 from ``x`` (updated in place) with the factorization
    ``system`` keeps; a new one first if ``fresh``. Damping and weights as
    :func:`~pnp.solvers.newton.newton`; stopping as the module docstring.
    Without border unknowns and on a fixed mesh the loop is one compiled
    call (:func:`pnp.solvers.iteration.modified_newton`), the same
    operations in the same order."""
    loop_compiles = getattr(system, "loop_compiles", None)
    if loop_compiles is not None and loop_compiles(project):
        return _compiled(
            system, x, alpha_c, alpha_d, beta_c, beta_d, weights, project, kept, fresh, max_iter
        )
    previous = np.inf
    best = np.inf
    norm = np.inf
    older = not fresh  # the factorization is from an earlier step
    for it in range(1, max_iter + 1):
        jac, fresh = fresh, False
        res = system.assemble(x, alpha_c, alpha_d, beta_c, beta_d, jacobian=jac)
        if not all_finite(res):
            return NewtonInfo(False, it, np.inf, "non-finite residual")
        if jac:
            why = system.factor()
            kept.made(alpha_d, not why)
            if why:
                return NewtonInfo(False, it, np.inf, why)
        lam, norm, why = system.update(x, weights, project)
        if why:
            return NewtonInfo(False, it, np.inf, why)
        status, fresh, older, previous, best = iteration.after_update(
            lam, norm, previous, best, jac, older, it, POLISH, SLOW_RATE
        )
        if status:
            return _info(status, it, norm, 0, max_iter)
    return _info(iteration.NOT_CONVERGED, max_iter, norm, 0, max_iter)


def _compiled(system, x, alpha_c, alpha_d, beta_c, beta_d, weights, project, kept, fresh, max_iter):
    """:func:`modified_newton` by the compiled loop of ``system``."""
    status, it, norm, info, n_factor = system.modified_newton(
        x, alpha_c, alpha_d, beta_c, beta_d, weights, project, fresh, max_iter, POLISH, SLOW_RATE
    )
    if n_factor:  # the last factorization is the one kept
        kept.made(alpha_d, status not in _SINGULAR)
    return _info(status, it, norm, info, max_iter)


def _info(status: int, it: int, norm: float, info: int, max_iter: int) -> NewtonInfo:
    """The :class:`NewtonInfo` of a loop that ended with ``status`` at
    iteration ``it`` (``info``: the zero pivot of a singular factorization)."""
    if status in (iteration.CONVERGED, iteration.ROUND_OFF):
        return NewtonInfo(True, it, float(norm), _VERDICTS[status])
    if status == iteration.SINGULAR:
        message = f"singular Jacobian (zero pivot at unknown {info - 1})"
    elif status == iteration.NOT_CONVERGED:
        message = f"no convergence in {max_iter} Newton iterations"
    else:
        message = _FAILURES[status]
    return NewtonInfo(False, it, float(norm), message)


# the fixed messages of the other ways a loop fails (formed once, not per step)
_FAILURES = {
    iteration.SINGULAR_BORDER: SINGULAR_BORDER,
    iteration.BAD_RESIDUAL: "non-finite residual",
    iteration.BAD_UPDATE: "non-finite Newton update",
    iteration.DIVERGED: "Newton diverged",
}


# a failed factorization: nothing to keep
_SINGULAR = (iteration.SINGULAR, iteration.SINGULAR_BORDER)

_VERDICTS = {0: "", iteration.CONVERGED: "converged", iteration.ROUND_OFF: "converged to round-off"}


def _verdict(norm: float, previous: float, jac: bool, older: bool) -> tuple[str, bool]:
    """After an undamped update of norm ``norm`` (``previous``: the last one's,
    inf if none or damped), made with a new factorization (``jac``) or with
    one from an earlier iterate (``older``: from an earlier step):
    (how it converged, or '' if not; whether to factor anew). The rules are
    :func:`pnp.solvers.iteration.verdict`'s, which the compiled loop uses."""
    status, fresh = iteration.verdict(norm, previous, jac, older, POLISH, SLOW_RATE)
    return _VERDICTS[status], bool(fresh)
