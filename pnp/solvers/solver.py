"""Newton on the fully coupled system; steady state by pseudo-transient continuation.

Contracts follow ``scipy.integrate._ivp``: Newton is a function with explicit
inputs returning a small :class:`NewtonInfo`; a solve returns a state and
counts its work in :class:`Stats`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.linalg import lapack

from ..discretisation import kernel
from ..discretisation.model import Model, pump_rate_derivatives, pump_sources

DPSI_MAX = 10.0          # largest potential update per Newton iteration [V_T]
DT_STEADY = 1e12         # pseudo-time step [s] beyond every physical time scale
NEWTON_MAX_ITER = 25
NEWTON_RTOL_FLOOR = 1e-11   # relative accuracy asked of Newton never below round-off
PSI_FLOOR_NEWTON = 1e-8     # absolute potential accuracy floors [V_T]: 0.27 nV for Newton,
PSI_FLOOR_STEP = 1e-7       # 2.7 nV for time-step error control
# Closed compartments: the time term of a confined species never drops below
# 1/(REGULARISE * its slowest diffusion time), so the steady Jacobian stays
# non-singular (its amount is a conserved quantity, not a free mode).
REGULARISE = 1e3


@dataclass
class NewtonInfo:
    converged: bool
    iterations: int
    norm: float
    message: str


@dataclass
class Stats:
    steps: int = 0
    newton_iterations: int = 0
    factorizations: int = 0
    rejected_steps: int = 0
    wall_time: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class System:
    """Work arrays for repeated residual/Jacobian assembly and banded solves."""

    def __init__(self, model: Model):
        self.model = model
        kl, ku = model.bandwidths
        self.kl, self.ku = kl, ku
        n = model.n_unknowns
        self.ab = np.zeros((2 * kl + ku + 1, n), order="F")
        self.res = np.zeros(n)
        self.args = model.kernel_args()
        self.source = np.zeros((model.n_species, model.n_cells), order="F")
        self.psi_index = model.potential_index()
        extra = []
        if model.b_type[0] == kernel.FLOATING:
            extra.append(0)
        if model.b_type[1] == kernel.FLOATING:
            extra.append(n - 1)
        self.psi_index_all = np.concatenate([self.psi_index, np.array(extra, dtype=int)])
        self.is_psi = np.zeros(n, dtype=bool)
        self.is_psi[self.psi_index_all] = True
        self.stats = Stats()

    def max_abs_potential(self, v: np.ndarray) -> float:
        """Largest |potential entry| of a state-shaped vector (strided views, no copies)."""
        model = self.model
        m = model.block
        cells = v[model.offset + model.n_species:model.offset + model.n_cells * m:m]
        big = max(float(cells.max()), -float(cells.min()))
        if model.offset:
            big = max(big, abs(float(v[0])))
        if model.b_type[1] == kernel.FLOATING:
            big = max(big, abs(float(v[-1])))
        return big

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d, jacobian=True):
        if self.model.pumps:
            pump_sources(self.model, x, self.source)
        # one memory layout for every call: one compiled specialisation
        kernel.assemble(x, *self.args, np.asfortranarray(alpha_c), alpha_d,
                        np.asfortranarray(beta_c), beta_d, self.source, self.res, self.ab, jacobian)
        if jacobian and self.model.pumps:
            self._pump_jacobian(x)
        return self.res

    def _pump_jacobian(self, x):
        """Saturating pumps: the in-band part of their Jacobian.

        A pump couples the cells on both sides of its membrane, further apart
        than the band: the derivative of each cell's rows with respect to its
        own concentration is added, the cross-membrane coupling is lagged.
        """
        model = self.model
        m = model.block
        kl, ku = self.kl, self.ku
        for p in model.pumps:
            d_na, d_k = pump_rate_derivatives(model, p, x)
            if d_na == 0.0 and d_k == 0.0:
                continue
            inside = model.offset + p.inside_cell * m
            outside = model.offset + p.outside_cell * m
            col_na = inside + p.sodium
            col_k = outside + p.potassium
            # residual = ... - source; source(Na, inside) = -3 j A, (K, inside) = +2 j A, ...
            self.ab[kl + ku + (inside + p.sodium) - col_na, col_na] += 3.0 * p.area * d_na
            self.ab[kl + ku + (inside + p.potassium) - col_na, col_na] -= 2.0 * p.area * d_na
            self.ab[kl + ku + (outside + p.sodium) - col_k, col_k] -= 3.0 * p.area * d_k
            self.ab[kl + ku + (outside + p.potassium) - col_k, col_k] += 2.0 * p.area * d_k

    def solve(self) -> tuple[np.ndarray | None, str]:
        """Newton update -J^{-1} R from the last assembly (row-equilibrated LU)."""
        kernel.equilibrate_rows(self.ab, self.res, self.kl, self.ku)
        self.stats.factorizations += 1
        # solved in place: the update overwrites the residual (no state-sized copy)
        np.negative(self.res, out=self.res)
        _, _, delta, info = lapack.dgbsv(self.kl, self.ku, self.ab, self.res,
                                         overwrite_ab=1, overwrite_b=1)
        if info > 0:
            return None, f"singular Jacobian (zero pivot at unknown {info - 1})"
        if info < 0:
            return None, f"LAPACK gbsv argument {-info} invalid"
        if not np.all(np.isfinite(delta)):
            return None, "non-finite Newton update"
        return delta, ""


def newton(system: System, x: np.ndarray, alpha_c, alpha_d, beta_c, beta_d,
           weights, project=None, max_iter: int = NEWTON_MAX_ITER) -> NewtonInfo:
    """Damped Newton on R(x) = 0, updating ``x`` in place.

    Converged when the largest update, measured in ``weights(x)`` (the
    absolute accuracy wanted of each unknown), is below 1 after an undamped
    step. Potential updates are limited to ``DPSI_MAX`` thermal voltages by
    scaling the whole update (a uniform scaling keeps every species' amount
    exactly balanced).
    """
    norm = np.inf
    best = np.inf
    previous = np.inf
    for it in range(1, max_iter + 1):
        res = system.assemble(x, alpha_c, alpha_d, beta_c, beta_d)
        if not np.all(np.isfinite(res)):
            return NewtonInfo(False, it, np.inf, "non-finite residual")
        delta, why = system.solve()
        if delta is None:
            return NewtonInfo(False, it, np.inf, why)
        dpsi = system.max_abs_potential(delta)
        lam = min(1.0, DPSI_MAX / dpsi) if dpsi > 0 else 1.0
        if lam == 1.0:
            x += delta
        else:
            x += lam * delta
        if project is not None:
            project(x)
        norm = weights.norm(delta, x, lam)
        system.stats.newton_iterations += 1
        if lam == 1.0 and norm <= 1.0:
            return NewtonInfo(True, it, norm, "converged")
        if lam == 1.0 and previous < np.inf:
            # contraction rate of the last two updates: the error left after
            # this one is at most rate/(1-rate) times it (scipy's BDF test);
            # in the quadratic regime this saves the last, tiny update
            rate = norm / previous
            if rate < 1.0 and rate / (1.0 - rate) * norm <= 1.0:
                return NewtonInfo(True, it, norm, "converged")
        if lam == 1.0 and norm <= 10.0 and norm > 0.5 * previous:
            # stagnating just above the tolerance: round-off of the linear
            # solve, not a lack of convergence
            return NewtonInfo(True, it, norm, "converged to round-off")
        previous = norm
        best = min(best, norm)
        if it >= 4 and norm > 1e4 * best:
            return NewtonInfo(False, it, norm, "Newton diverged")
    return NewtonInfo(False, max_iter, norm, f"no convergence in {max_iter} Newton iterations")


# ----------------------------------------------------------------------------
# Closed compartments
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Compartment:
    """Cells among which one species moves, closed to it on both ends."""

    species: int
    cells: np.ndarray          # cell indices
    amount: float              # sum V c at the start [mol per geometry unit]
    relax_time: float          # slowest diffusion time across it [s]


def closed_compartments(model: Model, x: np.ndarray) -> list[Compartment]:
    """Every (species, connected cell range) that no boundary flux can reach."""
    out = []
    N = model.n_cells
    m = model.block
    h = model.mesh.widths
    for i in range(model.n_species):
        open_faces = model.face_kind[i, 1:N] != kernel.CLOSED
        # break points between compartments
        cuts = np.flatnonzero(~open_faces) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [N]])
        for a, b in zip(starts, stops, strict=True):
            touches_left = a == 0 and model.b_cond[0, i] > 0
            touches_right = b == N and model.b_cond[1, i] > 0
            if touches_left or touches_right or _pumped(model, i, a, b):
                continue
            cells = np.arange(a, b)
            c = x[model.offset + cells * m + i]
            amount = float(np.sum(model.volume[cells] * c))
            d = model.d_reg[i, model.mesh.region[cells]]
            length = float(np.sum(h[cells]))
            dmin = float(np.min(d)) if np.all(d > 0) else 0.0
            relax = length**2 / dmin if dmin > 0 else 1.0
            out.append(Compartment(i, cells, amount, relax))
    return out


def _pumped(model: Model, species: int, a: int, b: int) -> bool:
    """A pump moves ``species`` into or out of cells [a, b): their amount is not conserved."""
    for p in model.pumps:
        moving = p.rate is None or p.rate > 0.0
        if moving and species in (p.sodium, p.potassium) and (
                a <= p.inside_cell < b or a <= p.outside_cell < b):
            return True
    return False


def _projector(model: Model, compartments: list[Compartment]):
    """Restore each closed compartment's amount exactly (multiplicative)."""
    m = model.block
    items = [(model.offset + comp.cells * m + comp.species, model.volume[comp.cells], comp.amount)
             for comp in compartments if comp.amount > 0 and comp.cells.size > 1]
    if not items:
        return None

    def project(x):
        for idx, vol, amount in items:
            now = float(np.dot(vol, x[idx]))
            if now > 0:
                x[idx] *= amount / now

    return project


# ----------------------------------------------------------------------------
# Helpers on states
# ----------------------------------------------------------------------------

def boundary_displacement(model: Model, x: np.ndarray) -> np.ndarray:
    """P_f at the two boundary faces (toward +x), in kernel units."""
    psi_b = model.boundary_psi(x)
    m = model.block
    S, N = model.n_species, model.n_cells
    psi = x[model.offset + S:model.offset + N * m:m]
    nxt0, nxtn = (psi[1], psi[N - 2]) if N >= 2 else (psi[0], psi[0])
    out = np.empty(2)
    out[0] = (model.b_sigma[0] if model.b_type[0] == kernel.WALL_CHARGE
              else model.b_pois_cond[0] * (psi_b[0] - psi[0])
              + model.b_pois_next[0] * (nxt0 - psi[0]))
    out[1] = (-model.b_sigma[1] if model.b_type[1] == kernel.WALL_CHARGE
              else model.b_pois_cond[1] * (psi[N - 1] - psi_b[1])
              - model.b_pois_next[1] * (nxtn - psi[N - 1]))
    return out


def concentrations(model: Model, x: np.ndarray) -> np.ndarray:
    """(S, N) view-free copy of the concentrations in ``x``."""
    m = model.block
    body = x[model.offset:model.offset + model.n_cells * m].reshape(model.n_cells, m)
    return body[:, :-1].T.copy(order="F")  # species-fastest, as the kernel walks it


class Weights:
    """Absolute accuracy wanted of each unknown: rtol |x| + atol.

    atol is in mol/m^3 for concentrations; potentials use rtol (in V_T) as
    their absolute floor, never below ``psi_floor`` (Gauss's law on a
    Debye-resolved mesh is conditioned like (L/h_min)^2: its round-off sits
    near 1e-9 V_T). ``norm(delta, x)`` is the largest |delta| / weight,
    computed without temporaries; calling the object gives the weights.
    """

    def __init__(self, is_psi: np.ndarray, rtol: float, atol: float, psi_floor: float = 0.0):
        self.is_psi = is_psi
        self.rtol = rtol
        self.floor_c = atol
        self.floor_psi = max(rtol, psi_floor)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.rtol * np.abs(x) + np.where(self.is_psi, self.floor_psi, self.floor_c)

    def norm(self, delta: np.ndarray, x: np.ndarray, scale: float = 1.0) -> float:
        return float(kernel.weighted_max(delta, x, scale, self.rtol, self.floor_c, self.floor_psi,
                                         self.is_psi))


def make_weights(system: System, rtol: float, atol: float, psi_floor: float = 0.0) -> Weights:
    """The :class:`Weights` of ``system``'s unknowns."""
    return Weights(system.is_psi, rtol, atol, psi_floor)


# ----------------------------------------------------------------------------
# Steady state
# ----------------------------------------------------------------------------

@dataclass
class SteadyOutcome:
    x: np.ndarray
    success: bool
    message: str
    stats: Stats
    pseudo_time: float


def solve_steady(model: Model, x0: np.ndarray | None = None, rtol: float = 1e-6,
                 atol: float = 1e-9, max_steps: int = 2000, callback=None,
                 direct: bool = True) -> SteadyOutcome:
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

    ``callback(t, dt, stats, x)`` is called after every accepted step
    (``dt = inf`` for direct solves).
    """
    t0 = time.perf_counter()
    system = System(model)
    stats = system.stats
    x = (model.x0 if x0 is None else x0).copy()
    S, N = model.n_species, model.n_cells
    comps = closed_compartments(model, x)
    alpha_floor = np.zeros((S, N), order="F")
    for comp in comps:
        alpha_floor[comp.species, comp.cells] = 1.0 / (REGULARISE * comp.relax_time)
    project = _projector(model, comps)
    newton_rtol = max(1e-2 * rtol, NEWTON_RTOL_FLOOR)
    weights_newton = make_weights(system, newton_rtol, 1e-2 * atol, PSI_FLOOR_NEWTON)
    weights_step = make_weights(system, rtol, atol, PSI_FLOOR_STEP)

    if direct:
        try:
            outcome = _direct_steady(model, system, x, alpha_floor, project, weights_newton,
                                     weights_step, atol, callback, max_steps)
        except KeyboardInterrupt:
            return SteadyOutcome(x=x, success=False, message="interrupted", stats=stats,
                                 pseudo_time=np.inf)
        if outcome is not None:
            outcome.stats.wall_time = time.perf_counter() - t0
            return outcome
        x = (model.x0 if x0 is None else x0).copy()
    try:
        return _continuation(model, system, x, alpha_floor, project, weights_newton,
                             weights_step, max_steps, callback, t0)
    except KeyboardInterrupt:
        stats.wall_time = time.perf_counter() - t0
        return SteadyOutcome(x=x, success=False, message="interrupted", stats=stats,
                             pseudo_time=np.inf)


def _continuation(model, system, x, alpha_floor, project, weights_newton, weights_step,
                  max_steps, callback, t0) -> SteadyOutcome:
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
        beta_c = alpha_c * concentrations(model, x_old)
        beta_d = alpha * boundary_displacement(model, x_old)
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
        growth = 10.0 if info.iterations <= 3 else 4.0 if info.iterations <= 5 else 2.0 if info.iterations <= 10 else 1.0
        dt = min(dt * growth, DT_STEADY)
    else:
        message = f"no steady state within {max_steps} pseudo-time steps (last dt {dt:.3g} s)"
    stats.wall_time = time.perf_counter() - t0
    return SteadyOutcome(x=x, success=success, message=message, stats=stats, pseudo_time=t)


# ----------------------------------------------------------------------------
# Transient: variable-step BDF2
# ----------------------------------------------------------------------------

BDF2_MAX_RATIO = 2.4     # h_{n+1}/h_n below 1 + sqrt(2): zero-stable variable-step BDF2
SAFETY = 0.9
MIN_FACTOR = 0.2
# Each step's local error is held to this fraction of rtol|x| + atol: local
# errors add up over the steps (the global error of per-step control grows
# like rtol^(2/3)), and this keeps the global error within a few rtol for
# rtol >= 1e-5 at ~1.6x the steps.
LOCAL_FRACTION = 0.25


@dataclass
class TransientOutcome:
    x: np.ndarray
    t: float
    success: bool
    message: str
    stats: Stats


def bdf_coefficients(h: float, h_prev: float | None):
    """(a0, a1, a2): dy/dt(t_{n+1}) ~ (a0 y_{n+1} + a1 y_n + a2 y_{n-1}) / h.

    BDF1 when ``h_prev`` is None; variable-step BDF2 otherwise (omega = h/h_prev).
    """
    if h_prev is None:
        return 1.0, -1.0, 0.0
    w = h / h_prev
    return (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)


def error_ratio(h: float, hist: list[float]) -> float:
    """LTE of the corrector over (corrector - predictor) for the order in use.

    BDF1 with a linear predictor through 2 points, BDF2 with a quadratic one
    through 3 points (``hist`` = previous step sizes, newest first).
    """
    if len(hist) == 1:           # BDF1: LTE = h^2 y''/2; predictor error = y''/2 h (h + h1)
        r = h / (h + hist[0])
    else:                        # BDF2: LTE = h^2 (h+h1)^2 y'''/(6(2h+h1)); predictor h(h+h1)(h+h1+h2) y'''/6
        h1, h2 = hist[0], hist[1]
        r = h * (h + h1) / ((2.0 * h + h1) * (h + h1 + h2))
    return r / (1.0 + r)


def predict(t_hist: list[float], x_hist: list[np.ndarray], t_new: float) -> np.ndarray:
    """Polynomial extrapolation through the last 2 or 3 states (newest first)."""
    if len(x_hist) == 2:
        (t0, t1), (x0, x1) = t_hist[:2], x_hist[:2]
        return x0 + (t_new - t0) * (x0 - x1) / (t0 - t1)
    (t0, t1, t2), (x0, x1, x2) = t_hist[:3], x_hist[:3]
    l0 = (t_new - t1) * (t_new - t2) / ((t0 - t1) * (t0 - t2))
    l1 = (t_new - t0) * (t_new - t2) / ((t1 - t0) * (t1 - t2))
    l2 = (t_new - t0) * (t_new - t1) / ((t2 - t0) * (t2 - t1))
    return l0 * x0 + l1 * x1 + l2 * x2


def initial_step(model: Model) -> float:
    """A step well below the fastest relaxation (a cell's diffusion time)."""
    h = model.mesh.widths
    dmax = np.max(model.d_reg, axis=0)[model.mesh.region]
    with np.errstate(divide="ignore"):
        cell_times = np.where(dmax > 0, h**2 / np.where(dmax > 0, dmax, 1.0), np.inf)
    return 1e-2 * float(np.min(cell_times)) if np.isfinite(cell_times).any() else 1e-12


def solve_transient(model: Model, x0: np.ndarray, t_end: float, stops: list[float],
                    on_stop, events: dict[float, object] | None = None, rtol: float = 1e-6,
                    atol: float = 1e-9, max_steps: int = 100000, t_start: float = 0.0,
                    callback=None, fixed_step: float | None = None) -> TransientOutcome:
    """Integrate from ``t_start`` to ``t_end`` by variable-step BDF2.

    BDF1 starts the run and restarts it after every event. The local error,
    estimated from the corrector–predictor difference, is kept below
    rtol |x| + atol in the max norm (potentials: rtol in units of V_T); a step
    is rejected and retried smaller when the error is too large or Newton
    fails. Every time in ``stops`` (outputs) and in ``events`` is hit exactly;
    ``on_stop(t, x, model, dxdt_face)`` is called at each stop and
    ``events[t](model) -> model`` swaps the model (protocol changes) at its
    time. ``on_stop`` receives a function giving the BDF time derivative of
    the displacement at a face, for the capacitive current. Event times are
    stops too (the state just before the change is reported).

    ``fixed_step``: take steps of this size without error control (BDF1
    first, then BDF2) — for measuring the order of accuracy.
    """
    t0_wall = time.perf_counter()
    system = System(model)
    stats = system.stats
    if rtol < NEWTON_RTOL_FLOOR and fixed_step is None:
        # Each step is solved only to NEWTON_RTOL_FLOOR relative: a smaller
        # local error is below the noise the controller sees, so the request
        # cannot be honoured (the floors would silently loosen it).
        stats.wall_time = time.perf_counter() - t0_wall
        return TransientOutcome(
            x=x0.copy(), t=t_start, success=False, stats=stats,
            message=(f"run.rtol = {rtol:.3g} is below round-off: every step is solved to "
                     f"{NEWTON_RTOL_FLOOR:g} relative, so a smaller local error cannot be "
                     f"controlled (use rtol >= {NEWTON_RTOL_FLOOR:g})"))
    events = dict(events or {})
    marks = sorted({*(s for s in stops if t_start < s <= t_end), *(e for e in events if t_start < e <= t_end),
                    t_end})
    x = x0.copy()
    t = t_start
    h = initial_step(model) if fixed_step is None else fixed_step
    comps = closed_compartments(model, x)
    project = _projector(model, comps)
    wnewton = make_weights(system, max(1e-2 * rtol, NEWTON_RTOL_FLOOR), 1e-2 * atol,
                           PSI_FLOOR_NEWTON)
    wstep = make_weights(system, rtol, atol, PSI_FLOOR_STEP)
    t_hist: list[float] = [t]
    x_hist: list[np.ndarray] = [x.copy()]
    h_hist: list[float] = []
    # the history's concentrations and boundary displacements, computed once
    # per accepted step; work arrays for the time terms allocated once
    c_hist = [concentrations(model, x)]
    p_hist = [boundary_displacement(model, x)]
    shape = (model.n_species, model.n_cells)
    alpha_c = np.empty(shape, order="F")
    beta_c = np.empty(shape, order="F")
    scratch = np.empty(shape, order="F")
    message = ""
    success = False
    mark_i = 0
    while True:
        if mark_i >= len(marks):
            success = True
            message = "completed"
            break
        target = marks[mark_i]
        if stats.steps >= max_steps:
            message = f"step limit {max_steps} reached at t = {t:.4g} s"
            break
        # stretch the last two steps before a mark so it is hit without a tiny step
        if t + h >= target * (1 - 1e-12) or target - t < 1e-12 * max(abs(target), 1e-300):
            h_try = target - t
        elif t + 2.0 * h >= target:
            h_try = 0.5 * (target - t)
        else:
            h_try = h
        h_prev = h_hist[0] if h_hist else None
        a0, a1, a2 = bdf_coefficients(h_try, h_prev)
        np.multiply(c_hist[0], -a1 / h_try, out=beta_c)
        beta_d = -(a1 * p_hist[0]) / h_try
        if a2 != 0.0:
            np.multiply(c_hist[1], -a2 / h_try, out=scratch)
            beta_c += scratch
            beta_d -= a2 * p_hist[1] / h_try
        alpha = a0 / h_try
        alpha_c.fill(alpha)
        x_new = predict(t_hist, x_hist, t + h_try) if len(x_hist) >= 2 else x_hist[0].copy()
        info = newton(system, x_new, alpha_c, alpha, beta_c, beta_d, wnewton, project)
        if not info.converged:
            stats.rejected_steps += 1
            h = 0.25 * h_try
            if h < 1e-12 * max(t, 1e-300) or h < 1e-30:
                message = f"step size underflow at t = {t:.6g} s: {info.message}"
                break
            continue
        # local error estimate (none for the very first step after a (re)start)
        if fixed_step is not None:
            h_next = fixed_step
        elif len(x_hist) >= 2:
            order = 1 if h_prev is None or len(x_hist) < 3 else 2
            hist = h_hist[:1] if order == 1 else h_hist[:2]
            if order == 2:
                pred = predict(t_hist, x_hist, t + h_try)
            else:
                pred = predict(t_hist[:2], x_hist[:2], t + h_try)
            pred -= x_new
            err = error_ratio(h_try, hist) * wstep.norm(pred, x_new)
            err /= LOCAL_FRACTION
            if err > 1.0:
                stats.rejected_steps += 1
                h = h_try * max(MIN_FACTOR, SAFETY * err ** (-1.0 / (order + 1)))
                if h < 1e-12 * max(t, 1e-300):
                    message = (f"step size underflow at t = {t:.6g} s: the local error "
                               f"({err:.3g} x tolerance) does not shrink with the step; is run.rtol "
                               f"below what round-off allows?")
                    break
                continue
            factor = SAFETY * err ** (-1.0 / (order + 1)) if err > 0 else BDF2_MAX_RATIO
            h_next = h_try * min(BDF2_MAX_RATIO, max(MIN_FACTOR, factor))
        else:
            h_next = h_try * 2.0
        stats.steps += 1
        t = t + h_try if abs(t + h_try - target) > 1e-12 * abs(target) else target
        x = x_new
        t_hist.insert(0, t)
        x_hist.insert(0, x.copy())
        h_hist.insert(0, h_try)
        c_hist.insert(0, concentrations(model, x))
        p_hist.insert(0, boundary_displacement(model, x))
        del t_hist[3:], x_hist[3:], h_hist[2:], c_hist[2:], p_hist[2:]
        h = h_next
        if callback is not None:
            callback(t, h_try, stats, x)
        if t == target:
            mark_i += 1
            if target in stops or target in events or target == t_end:
                coeffs = bdf_coefficients(h_hist[0], h_hist[1] if len(h_hist) > 1 else None)
                on_stop(t, x, model, _displacement_rate(model, coeffs, h_hist[0], x_hist))
            if target in events:
                model = events[target](model)
                system = System(model)
                system.stats = stats
                comps = closed_compartments(model, x)
                project = _projector(model, comps)
                t_hist, x_hist, h_hist = [t], [x.copy()], []
                c_hist, p_hist = [concentrations(model, x)], [boundary_displacement(model, x)]
                h = initial_step(model)
    stats.wall_time = time.perf_counter() - t0_wall
    return TransientOutcome(x=x, t=t, success=success, message=message, stats=stats)


def _displacement_rate(model: Model, coeffs, h: float, x_hist: list[np.ndarray]):
    """dP/dt at a face from the BDF formula of the last step (kernel units, +x)."""
    a0, a1, a2 = coeffs
    m = model.block
    S = model.n_species

    def rate(face: int) -> float:
        vals = []
        for x in x_hist[:3]:
            if face <= 0 or face >= model.n_cells:
                vals.append(boundary_displacement(model, x)[0 if face <= 0 else 1])
                continue
            pl = x[model.offset + (face - 1) * m + S]
            pr = x[model.offset + face * m + S]
            vals.append(model.pois_cond[face] * (pl - pr))
        out = a0 * vals[0] + a1 * vals[1]
        if a2 != 0.0 and len(vals) > 2:
            out += a2 * vals[2]
        return out / h

    return rate


DIRECT_MAX_ITER = 30
DIRECT_MAX_SOLVES = 8


def _direct_steady(model, system, x0, alpha_floor, project, weights_newton, weights_step,
                   atol, callback, max_steps) -> SteadyOutcome | None:
    """Newton on the steady equations; None when it does not converge cleanly."""
    x = x0.copy()
    stats = system.stats
    beta_d = np.zeros(2)
    # without confined species one solve is the steady state itself, and the
    # time terms are all zero (no state-sized history arrays needed)
    confined = bool(np.any(alpha_floor))
    for _ in range(DIRECT_MAX_SOLVES):
        if stats.steps >= max_steps:
            return SteadyOutcome(x=x, success=False, stats=stats, pseudo_time=np.inf,
                                 message=f"no steady state within {max_steps} steps")
        if confined:
            x_old = x.copy()
            beta_c = alpha_floor * concentrations(model, x_old)
        else:
            beta_c = alpha_floor
        info = newton(system, x, alpha_floor, 0.0, beta_c, beta_d, weights_newton, project,
                      max_iter=DIRECT_MAX_ITER)
        if not info.converged or not np.all(np.isfinite(x)):
            stats.rejected_steps += 1
            return None
        if _min_concentration(model, x) < -atol:
            stats.rejected_steps += 1
            return None
        stats.steps += 1
        if callback is not None:
            callback(np.inf, np.inf, stats, x)
        if not confined:
            return SteadyOutcome(x=x, success=True, message="steady state reached (Newton)",
                                 stats=stats, pseudo_time=np.inf)
        x_old -= x  # x_old now holds -(change)
        if weights_step.norm(x_old, x) <= 1.0:
            return SteadyOutcome(x=x, success=True, message="steady state reached (Newton)",
                                 stats=stats, pseudo_time=np.inf)
    return None


def _min_concentration(model: Model, x: np.ndarray) -> float:
    """Smallest concentration in ``x`` (a strided view: no copy)."""
    m = model.block
    body = x[model.offset:model.offset + model.n_cells * m].reshape(model.n_cells, m)
    return float(body[:, :-1].min())
