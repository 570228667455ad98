"""Transient integration: variable-step, variable-order BDF (orders 1-5) as a stepper.

Owns :class:`BDF`, an integrator in the manner of ``scipy.integrate``'s
``OdeSolver``: it holds the time, state, next step size, history and work
counters, and :meth:`BDF.step` advances by one accepted step, never past a
given time (so output and protocol times are hit exactly).
:meth:`BDF.restart` swaps the model at a protocol change and restarts the
history with BDF1. Driving it to the end (outputs, protocol changes,
progress, files) is :mod:`pnp.simulation.loop`'s job.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.linalg import solve_banded

from ..discretisation.model import Model
from ..discretisation.swelling import inside_volume, set_scale
from .compartments import closed_compartments, projector
from .history import (
    AMOUNTS_PAD,
    STATES_PAD,
    bdf_weights,
    error_norm,
    order_choice,
    padded,
    step_terms,
)
from .iteration import gates_history
from .newton import (
    NEWTON_MAX_ITER,
    NEWTON_RTOL_FLOOR,
    PSI_FLOOR_NEWTON,
    PSI_FLOOR_STEP,
    NewtonInfo,
    Stats,
    System,
    accepted,
    contents,
    displacements,
    make_weights,
    newton,
)
from .reuse import Reuse
from .swollen import volume_history

BDF2_MAX_RATIO = 2.4  # h_{n+1}/h_n below 1 + sqrt(2): zero-stable variable-step BDF2
MAX_ORDER = 5
# Largest step ratio h_{n+1}/h_n at each order: below the bounds that keep
# variable-step BDF-k zero-stable (1 + sqrt(2) for k = 2; about 1.618, 1.280
# and 1.127 for k = 3, 4, 5).
MAX_RATIO = {1: BDF2_MAX_RATIO, 2: BDF2_MAX_RATIO, 3: 1.6, 4: 1.27, 5: 1.12}
CAPS = np.array([np.nan, *(MAX_RATIO[j] for j in range(1, MAX_ORDER + 1))])  # by order
SAFETY = 0.9
MIN_FACTOR = 0.2
# Each step's local error is held to this fraction of rtol|x| + atol: local
# errors add up over the steps (the global error of per-step control grows
# like rtol^(2/3)), and this keeps the global error within a few rtol for
# rtol >= 1e-5 at ~1.6x the steps.
LOCAL_FRACTION = 0.25


def bdf_coefficients(h: float, h_prev: float | None):
    """(a0, a1, a2): dy/dt(t_{n+1}) ~ (a0 y_{n+1} + a1 y_n + a2 y_{n-1}) / h.

    BDF1 when ``h_prev`` is None; variable-step BDF2 otherwise (omega = h/h_prev).
    """
    if h_prev is None:
        return 1.0, -1.0, 0.0
    w = h / h_prev
    return (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)


def error_ratio(h: float, hist: list[float], a0: float | None = None) -> float:
    """LTE of the corrector over (corrector - predictor) for the order in use.

    BDF of order k = len(hist) with a predictor of degree k through the k + 1
    last states (``hist`` = previous step sizes, newest first). With y^(k+1)
    the only error term, the corrector's defect in dy/dt is
    y^(k+1)/(k+1)! prod_{j=1..k} (t_{n+1} - t_{n+1-j}), so its error is that
    over a_0/h; the predictor's is y^(k+1)/(k+1)! prod_{j=1..k+1} (t_{n+1} -
    t_{n+1-j}); their ratio is r = h / (a_0 (t_{n+1} - t_{n-k})). (k = 1:
    r = h / (h + h1); k = 2: h (h + h1) / ((2h + h1)(h + h1 + h2)).)
    ``a0``: the corrector's a_0 for k > 2 if already known (else computed).
    """
    k = len(hist)
    if k == 1:
        r = h / (h + hist[0])
    elif k == 2:
        h1, h2 = hist[0], hist[1]
        r = h * (h + h1) / ((2.0 * h + h1) * (h + h1 + h2))
    else:
        if a0 is None:
            a0 = bdf_weights([h, *hist[: k - 1]])[0]
        r = h / (a0 * (h + sum(hist[:k])))
    return r / (1.0 + r)


def initial_step(model: Model) -> float:
    """A step well below the fastest relaxation (a cell's diffusion time)."""
    h = model.mesh.widths
    dmax = np.max(model.d_reg, axis=0)[model.mesh.region]
    with np.errstate(divide="ignore"):
        cell_times = np.where(dmax > 0, h**2 / np.where(dmax > 0, dmax, 1.0), np.inf)
    return 1e-2 * float(np.min(cell_times)) if np.isfinite(cell_times).any() else 1e-12


def _potential_system(model: Model, x: np.ndarray):
    """Gauss's law and the clamps at ``x`` as a system in the potentials alone.

    Returns (index, band, res): the potential unknowns in state order
    ([psi_L] psi_0 .. psi_{N-1} [psi_R]), the Jacobian of Gauss's law with
    respect to them in ``scipy.linalg.solve_banded`` storage (tridiagonal),
    and the residual of the steady system at ``x``. A floating reservoir's
    row is psi_b - psi_cell (its displacement, over the half cell next to it).
    """
    system = System(model)
    zero = np.zeros((model.n_species, model.n_cells), order="F")
    res = system.assemble(x, zero, 0.0, zero, np.zeros(model.n_cells + 1)).copy()
    kl, ku, ab = system.kl, system.ku, system.ab
    lay = model.layout
    cells = lay.potential_at(np.arange(model.n_cells))
    index = np.concatenate([lay.boundary[: lay.n_boundary], cells, lay.boundary[lay.n_boundary :]])
    n = index.size
    # band[1 + r - c, c] holds row r, column c
    band = np.zeros((3, n))
    pos = np.arange(n)
    for shift in (-1, 0, 1):  # column = row + shift
        rows = pos[max(0, -shift) : n - max(0, shift)]
        i, j = index[rows], index[rows + shift]
        band[1 - shift, rows + shift] = ab[kl + ku + i - j, j]
    for row, neighbour in ((0, 1), (n - 1, n - 2)):
        if index[row] in lay.boundary:
            band[1, row] = 1.0
            band[1 + row - neighbour, neighbour] = -1.0
    return index, band, res


def _floating_rows(model: Model, index: np.ndarray):
    """(row in the potential system, side) of each floating reservoir."""
    return [
        (row, side)
        for row, side in ((0, 0), (index.size - 1, 1))
        if index[row] in model.layout.boundary
    ]


def consistent_start(model: Model, x: np.ndarray) -> np.ndarray:
    """``x`` with Gauss's law solved for the potentials at its concentrations.

    The consistent initial state of a transient: Gauss's law is the algebraic
    part of the system and holds at every instant, also at t = 0, while the
    concentrations are the initial data. It is linear in the potentials at
    fixed concentrations, so one Newton step on the potential rows of the
    assembled system (a tridiagonal solve) gives it to round-off.

    A floating reservoir keeps its boundary displacement, i.e. the charge on
    its face (zero for the contents at zero potential): its potential moves
    with that of the cell next to it. That is what the current clamp gives
    over a vanishing time: a finite current moves no charge in no time.
    Returns a new vector; the concentrations are those of ``x`` bit for bit.
    """
    index, band, res = _potential_system(model, x)
    rhs = -res[index]
    for row, _ in _floating_rows(model, index):
        rhs[row] = 0.0
    out = x.copy()
    out[index] += solve_banded((1, 1), band, rhs)
    return out


def initial_rates(model: Model, x: np.ndarray) -> np.ndarray:
    """dP_f/dt at every face (kernel units, +x) of a consistent state ``x``.

    The time derivative of Gauss's law, with dc/dt from the species balances
    at ``x``, fixes the potentials' rates; a floating reservoir's current
    clamp fixes its displacement's rate (the clamp current minus the ionic
    current through its face). With these rates the total current is the
    same through every face, as after every step: the current of the
    initial output.
    """
    index, band, res = _potential_system(model, x)
    # d/dt of Gauss's law: the change of the displacements balances the
    # charge the species fluxes bring, V sum_i z_i dc_i/dt = -sum_i z_i R_i
    lay = model.layout
    species_res = lay.cells_view(res)[:, : model.n_species]  # (N, S)
    rhs = np.zeros(index.size)
    rhs[lay.n_boundary : lay.n_boundary + model.n_cells] = -(species_res @ model.z)
    for row, side in _floating_rows(model, index):
        # clamp residual at steady = -(rate of P toward the inside), over the half cell
        rhs[row] = -res[index[row]] / model.b_pois_cond[side]
    rate = np.zeros_like(x)
    rate[index] = solve_banded((1, 1), band, rhs)
    # the displacements are linear in the potentials: their rates are the
    # displacements of the rates with no held boundary value or charge
    held = dataclasses.replace(
        model, b_psi=np.zeros_like(model.b_psi), b_sigma=np.zeros_like(model.b_sigma)
    )
    return displacements(held, rate)


class BDF:
    """Variable-step BDF2 from ``t0``, one accepted step per :meth:`step`.

    BDF1 starts the run and restarts it after every :meth:`restart`. The local
    error, estimated from the corrector–predictor difference, is kept below
    ``LOCAL_FRACTION`` (rtol |x| + atol) in the max norm (potentials: rtol in
    units of V_T); a step is rejected and retried smaller when the error is
    too large or Newton fails.

    Parameters
    ----------
    model : Model
        The discretised problem.
    x0 : array
        State at ``t0`` (copied).
    t0 : float
        Start time [s].
    rtol, atol : float
        Relative and absolute (mol/m^3) accuracy of each step.
    fixed_step : float, optional
        Take steps of this size [s] without error control (BDF1 first, then
        BDF2) — for measuring the order of accuracy.
    max_order : int
        Highest BDF order (1-5; default 5; 2 gives the variable-step BDF2). Above 2
        the order is chosen after every q + 1 steps at order q from the
        error estimates of orders q - 1, q and q + 1 (scaled divided
        differences of the last states), and a Newton failure lowers it.
    reuse : bool
        Modified Newton (:mod:`pnp.solvers.reuse`): a factorization serves
        the later iterations of its step and later steps of the same
        alpha = a0/h (default). False: full Newton, a factorization at every
        iteration.

    Attributes
    ----------
    t, x : float, array
        Time [s] and state of the last accepted step.
    h : float
        Step size to try next [s].
    h_last : float
        Size of the last accepted step [s] (nan before the first).
    stats : Stats
        Accepted and rejected steps, Newton iterations, factorizations.
    kept : Reuse or None
        The kept factorization's alpha and age (None without ``reuse``).
    """

    def __init__(
        self,
        model: Model,
        x0: np.ndarray,
        t0: float = 0.0,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        fixed_step: float | None = None,
        max_order: int = MAX_ORDER,
        reuse: bool = True,
    ):
        if not 1 <= int(max_order) <= MAX_ORDER:
            raise ValueError(f"max_order = {max_order}: BDF orders 1 to {MAX_ORDER} are stable")
        self.rtol, self.atol, self.fixed_step = rtol, atol, fixed_step
        self.max_order = int(max_order)
        self.reuse = reuse
        self.stats = Stats()
        self.t = t0
        self.x = x0.copy()
        self.h_last = np.nan
        self.invalid = ""
        if rtol < NEWTON_RTOL_FLOOR and fixed_step is None:
            # Each step is solved only to NEWTON_RTOL_FLOOR relative: a smaller
            # local error is below the noise the controller sees, so the request
            # cannot be honoured (the floors would silently loosen it).
            self.invalid = (
                f"run.rtol = {rtol:.3g} is below round-off: every step is solved to "
                f"{NEWTON_RTOL_FLOOR:g} relative, so a smaller local error cannot be "
                f"controlled (use rtol >= {NEWTON_RTOL_FLOOR:g})"
            )
        self._begin(model)
        self.h = initial_step(model) if fixed_step is None else fixed_step

    @property
    def order(self) -> int:
        """BDF order of the next step: 1 right after a (re)start, then 2,
        then (max_order > 2) as chosen, never above the states available."""
        return min(self.q, len(self.x_hist))

    def restart(self, model: Model, x: np.ndarray | None = None) -> None:
        """Continue with ``model`` (a protocol change) from ``x`` (default: the
        current state): the history restarts with BDF1 from the initial step.

        The current state keeps the displacements it had under the previous
        model (a boundary potential or surface charge that changes moves the
        charge on its face in the first step, as a displacement current)."""
        previous = None if x is not None else self.p_hist[0]
        if x is not None:
            self.x = x.copy()
        self._begin(model, previous)
        self.h = self._h0

    def _begin(self, model: Model, displacement: np.ndarray | None = None) -> None:
        """Work arrays, compartments, weights and a one-state history for ``model``
        (``displacement``: that of the state, if not the one ``model`` gives)."""
        self.model = model
        # Time is kept as an origin (the start, or the last time hit exactly)
        # plus the steps taken since, and a step's smallness is judged against
        # the time run since this (re)start: the first steps after a restart at
        # t = 1e5 s are far below the resolution of t itself.
        self._origin, self._elapsed, self._segment = self.t, 0.0, 0.0
        self._h0 = initial_step(model)
        # current continuity in place of species 0's balance: the total current
        # is then the same through every face to round-off (kernel docstring)
        self.system = System(model, continuity=True, keep=self.reuse)
        # modified Newton: the factorization kept, and the rules for using it again
        self.kept = Reuse() if self.reuse else None
        self.system.stats = self.stats
        self.project = projector(model, closed_compartments(model, self.x))
        self.wnewton = make_weights(
            self.system,
            max(1e-2 * self.rtol, NEWTON_RTOL_FLOOR),
            1e-2 * self.atol,
            PSI_FLOOR_NEWTON,
        )
        self.wstep = make_weights(self.system, self.rtol, self.atol, PSI_FLOOR_STEP)
        self.q = min(2, self.max_order)  # the order aimed at
        self.n_equal = 0  # steps since the order last changed
        depth = max(2, self.max_order)  # the corrector's history
        self._depth = (depth + 2, depth + 1, depth)  # states, steps, amounts
        self.x_hist: list[np.ndarray] = [self.x.copy()]
        self.h_hist: list[float] = []
        # the history's concentrations and displacements (every face, under the
        # model of their time), computed once per accepted step; work arrays
        # for the time terms allocated once
        # displacement rates of the last step (formed when asked: :attr:`rates`)
        self._rates: np.ndarray | None = np.zeros(model.n_cells + 1)
        # amounts per cell when the mesh moves (contents also moves the model to x's scale)
        self.c_hist = [contents(model, self.x)]
        self.p_hist = [displacements(model, self.x) if displacement is None else displacement]
        self.v_hist = [inside_volume(model)] if model.swelling is not None else []
        shape = (model.n_species, model.n_cells)
        self._alpha_c = np.empty(shape, order="F")
        self._beta_c = np.empty(shape, order="F")
        self._pred: np.ndarray | None = None  # predictor of the step being tried
        # the compiled step's error norm and history entries of its state
        self._estimate: float | None = None
        self._entries: tuple | None = None

    def step(self, t_limit: float) -> tuple[bool, str]:
        """Advance by one accepted step, landing exactly on ``t_limit`` if it is reached.

        Returns (success, message); on failure the state is unchanged and the
        message says why (step size underflow, invalid tolerance).
        """
        if self.invalid:
            return False, self.invalid
        if not t_limit > self.t:
            return (
                False,
                f"nothing to step: t_limit = {t_limit:.6g} s is not after t = {self.t:.6g} s",
            )
        while True:
            h_try = self._step_size(t_limit)
            x_new, info = self._solve(h_try)
            if not info.converged:
                self.stats.rejected_steps += 1
                self.h = 0.25 * h_try
                if self.q > 2:  # a high order that Newton cannot follow: lower it
                    self.q, self.n_equal = self.q - 1, 0
                if self._collapsed(self.h):
                    return False, f"step size underflow at t = {self.t:.6g} s: {info.message}"
                continue
            err, order = self._error(h_try, x_new)
            if err > 1.0:
                self.stats.rejected_steps += 1
                self.h = h_try * max(MIN_FACTOR, SAFETY * err ** (-1.0 / (order + 1)))
                if self._collapsed(self.h):
                    return False, (
                        f"step size underflow at t = {self.t:.6g} s: the local error "
                        f"({err:.3g} x tolerance) does not shrink with the step; is "
                        f"run.rtol below what round-off allows?"
                    )
                continue
            self._accept(h_try, x_new, self._next_step(h_try, err, order), t_limit)
            if self.max_order > 2 and order == self.q:
                self._choose_order(h_try)
            return True, ""

    def _collapsed(self, h: float) -> bool:
        """A step 1e12 times below the time run since the (re)start (at the
        start: below the initial step), or below 1e-30 s: the step has collapsed."""
        return h < 1e-12 * max(self._segment, self._h0) or h < 1e-30

    def _remaining(self, target: float) -> tuple[float, float]:
        """(time left to ``target``, span from the origin to ``target``)."""
        span = target - self._origin
        return span - self._elapsed, span

    def _step_size(self, target: float) -> float:
        """The step to try: stretch the last two steps before ``target`` so it
        is hit without a tiny step."""
        h = self.h
        left, span = self._remaining(target)
        if h >= left * (1 - 1e-12) or left < 1e-12 * abs(span):
            return left
        if 2.0 * h >= left:
            return 0.5 * left
        return h

    def _solve(self, h_try: float) -> tuple[np.ndarray, NewtonInfo]:
        """Newton on the BDF equations of a step ``h_try`` from the predictor."""
        q = self.order
        # the weights, the history terms -(a_1 c_n + a_2 c_{n-1} + ...)/h (each
        # term as c (-a_j/h)) and the displacements' -(a_j P)/h, and the
        # predictor through the last q + 1 states (fewer after a start), which
        # starts Newton and is kept for the error estimate of this same step
        n_states = min(q + 1, len(self.x_hist))
        terms = (
            np.array([h_try, *self.h_hist]),
            q,
            n_states,
            padded(self.x_hist[:n_states], STATES_PAD),
            padded(self.c_hist[:q], AMOUNTS_PAD),
            padded(self.p_hist[:q], AMOUNTS_PAD),
        )
        if self.v_hist:  # the history's volumes, for the history part of dV/dt
            self.system.bordered.volume_terms[1 : 1 + len(self.v_hist)] = self.v_hist
        if self.kept is not None and self.system.loop_compiles(self.project):
            # the whole solve, the error's norm and the history entries in one call
            a, beta_d, x_new, info, self._estimate, self._entries = self.kept.step(
                self.system,
                terms,
                self._alpha_c,
                self._beta_c,
                self.wnewton,
                self.project,
                self.wstep,
                NEWTON_MAX_ITER,
            )
            self._a, self._pred = a, None
            self._rate_terms = (a[0] / h_try, beta_d)
            if self.v_hist:  # the mesh's Python objects where its arrays are: x's scale
                set_scale(self.model, float((x_new if info.converged else self.x)[-1]))
            return x_new, info
        a, beta_d, pred, x_new = step_terms(*terms, self._alpha_c, self._beta_c)
        self._a, self._estimate, self._entries = a, None, None
        alpha = a[0] / h_try
        if self.v_hist:  # the history part of dV/dt, as for the amounts
            volume_history(h_try, q, a, self.system.bordered.volume_terms)
        if self.model.channels is not None:  # the gates' history: state unknowns as they are
            block = self.model.channels.block.start
            gates_history(h_try, q, a, terms[3], block, self.system.bordered.beta_gates)
        self._pred = pred if n_states >= 2 else None
        info = newton(
            self.system,
            x_new,
            self._alpha_c,
            alpha,
            self._beta_c,
            beta_d,
            self.wnewton,
            self.project,
            max_iter=NEWTON_MAX_ITER,
            reuse=self.kept,
        )
        self._rate_terms = (alpha, beta_d)  # the displacement rate of this step
        return x_new, info

    def _error(self, h_try: float, x_new: np.ndarray) -> tuple[float, int]:
        """(local error / its tolerance, order of the estimate); (0, 0) when
        there is no estimate (fixed steps, or the first step after a (re)start).

        The estimate is the corrector minus the predictor :meth:`_solve` started
        from, of order len(x_hist) - 1."""
        if self.fixed_step is not None or len(self.x_hist) < 2:
            return 0.0, 0
        q = self.order
        order = min(q, len(self.x_hist) - 1)  # the predictor's degree
        # the corrector's a_0 when the predictor is of its order (the same weights)
        a0 = self._a[0] if order == q else None
        w = self.wstep
        if self._pred is None:  # formed by the compiled step
            norm = self._estimate
        else:
            norm = error_norm(self._pred, x_new, w.rtol, w.floor_c, w.floor_psi, w.is_psi)
        err = error_ratio(h_try, self.h_hist[:order], a0) * norm
        return err / LOCAL_FRACTION, order

    def _next_step(self, h_try: float, err: float, order: int) -> float:
        """Size of the step after an accepted one of size ``h_try``."""
        if self.fixed_step is not None:
            return self.fixed_step
        if order == 0:
            return h_try * 2.0
        cap = MAX_RATIO[self.order]
        factor = SAFETY * err ** (-1.0 / (order + 1)) if err > 0 else cap
        return h_try * min(cap, max(MIN_FACTOR, factor))

    def _accept(self, h_try: float, x_new: np.ndarray, h_next: float, target: float) -> None:
        self.stats.steps += 1
        if self.kept is not None:
            self.kept.steps += 1
        self._elapsed += h_try
        self._segment += h_try
        left, span = self._remaining(target)
        if abs(left) <= 1e-12 * abs(span):
            self.t, self._origin, self._elapsed = target, target, 0.0
        else:
            self.t = self._origin + self._elapsed
        self.x = x_new
        model = self.model
        entries = self._entries  # formed by the compiled step, or now
        x_copy, c_new, p_new = entries if entries is not None else accepted(model, x_new)
        self.x_hist.insert(0, x_copy)
        self.h_hist.insert(0, h_try)
        self.c_hist.insert(0, c_new)
        self.p_hist.insert(0, p_new)
        if self.v_hist:
            self.v_hist.insert(0, inside_volume(model))
        nx, nh, nc = self._depth
        del self.x_hist[nx:], self.h_hist[nh:], self.c_hist[nc:], self.p_hist[nc:], self.v_hist[nc:]
        self.n_equal += 1
        self.h = h_next
        self.h_last = h_try
        # this step's alpha P_f - beta_d[f], formed when asked (a later try
        # overwrites _rate_terms)
        self._rates, self._accepted_terms = None, self._rate_terms

    def _choose_order(self, h: float) -> None:
        """After q + 1 steps at order q: move to q - 1 or q + 1 if its error
        estimate allows a larger next step. The estimates of the neighbours
        are the scaled divided differences of the last states, ~h^(j+1)
        y^(j+1), times BDF-j's error constant 1/(j + 1); order q keeps the
        next step its corrector-predictor estimate gave (``self.h``)."""
        q = self.q
        if self.n_equal < q + 1:
            return
        # the neighbours' estimates (none for a neighbour whose step cap cannot
        # beat this step's: h_j <= h cap_j) and the choice, in one compiled call
        w = self.wstep
        n_states = len(self.x_hist)
        order, best_h = order_choice(
            np.array(self.h_hist),
            padded(self.x_hist, STATES_PAD),
            n_states,
            q,
            self.max_order,
            h,
            self.h,
            CAPS,
            (SAFETY, MIN_FACTOR, LOCAL_FRACTION),
            (w.rtol, w.floor_c, w.floor_psi, w.is_psi),
        )
        if order != q:
            self.q, self.n_equal = order, 0
            self.h = best_h

    @property
    def rates(self) -> np.ndarray:
        """dP_f/dt at every face (kernel units, +x) in the last accepted step."""
        if self._rates is None:
            alpha, beta_d = self._accepted_terms
            self._rates = alpha * self.p_hist[0] - beta_d
        return self._rates

    def displacement_rate(self):
        """dP/dt at a face (kernel units, +x) in the last accepted step: a
        function of the face index. The very expression its current-continuity
        rows held the total current with, alpha P_f - beta_d[f]; so with the
        ionic current of the new state it gives the step's total current."""
        rates = self.rates
        return lambda face: float(rates[face])
