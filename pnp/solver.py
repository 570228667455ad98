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

from . import kernel
from .model import Model, pump_sources

DPSI_MAX = 10.0          # largest potential update per Newton iteration [V_T]
DT_STEADY = 1e12         # pseudo-time step [s] beyond every physical time scale
NEWTON_MAX_ITER = 25
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
        self.source = np.zeros((model.n_species, model.n_cells))
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

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d, jacobian=True):
        if self.model.pumps:
            pump_sources(self.model, x, self.source)
        kernel.assemble(x, *self.args, alpha_c, alpha_d, beta_c, beta_d, self.source,
                        self.res, self.ab, jacobian)
        return self.res

    def solve(self) -> tuple[np.ndarray | None, str]:
        """Newton update -J^{-1} R from the last assembly (row-equilibrated LU)."""
        kernel.equilibrate_rows(self.ab, self.res, self.kl, self.ku)
        self.stats.factorizations += 1
        _, _, delta, info = lapack.dgbsv(self.kl, self.ku, self.ab, -self.res,
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
    for it in range(1, max_iter + 1):
        res = system.assemble(x, alpha_c, alpha_d, beta_c, beta_d)
        if not np.all(np.isfinite(res)):
            return NewtonInfo(False, it, np.inf, "non-finite residual")
        delta, why = system.solve()
        if delta is None:
            return NewtonInfo(False, it, np.inf, why)
        dpsi = np.max(np.abs(delta[system.psi_index_all]))
        lam = min(1.0, DPSI_MAX / dpsi) if dpsi > 0 else 1.0
        x += lam * delta
        if project is not None:
            project(x)
        norm = float(np.max(np.abs(lam * delta) / weights(x)))
        system.stats.newton_iterations += 1
        if lam == 1.0 and norm <= 1.0:
            return NewtonInfo(True, it, norm, "converged")
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
            if touches_left or touches_right:
                continue
            cells = np.arange(a, b)
            c = x[model.offset + cells * m + i]
            amount = float(np.sum(model.volume[cells] * c))
            d = model.d_cell[i, cells]
            length = float(np.sum(h[cells]))
            dmin = float(np.min(d)) if np.all(d > 0) else 0.0
            relax = length**2 / dmin if dmin > 0 else 1.0
            out.append(Compartment(i, cells, amount, relax))
    return out


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
    psi0 = x[model.offset + model.n_species]
    psin = x[model.offset + (model.n_cells - 1) * m + model.n_species]
    out = np.empty(2)
    out[0] = (model.b_sigma[0] if model.b_type[0] == kernel.WALL_CHARGE
              else model.b_pois_cond[0] * (psi_b[0] - psi0))
    out[1] = (-model.b_sigma[1] if model.b_type[1] == kernel.WALL_CHARGE
              else model.b_pois_cond[1] * (psin - psi_b[1]))
    return out


def concentrations(model: Model, x: np.ndarray) -> np.ndarray:
    """(S, N) view-free copy of the concentrations in ``x``."""
    m = model.block
    body = x[model.offset:model.offset + model.n_cells * m].reshape(model.n_cells, m)
    return body[:, :-1].T.copy()


def make_weights(system: System, rtol: float, atol: float):
    """Absolute accuracy wanted of each unknown: rtol |x| + atol.

    atol is in mol/m^3 for concentrations; potentials use rtol (in V_T) as
    their absolute floor.
    """
    floor = np.where(system.is_psi, rtol, atol)

    def weights(x):
        return rtol * np.abs(x) + floor

    return weights


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
                 atol: float = 1e-9, max_steps: int = 2000, callback=None) -> SteadyOutcome:
    """Steady state by pseudo-transient continuation.

    Implicit Euler steps from ``x0`` with growing pseudo-time steps (x10 when
    Newton converges fast, /4 and retry when it fails). Each step conserves
    every species' amount up to boundary fluxes, so closed compartments keep
    their contents; their amount is also restored exactly after each Newton
    iteration. Converged when a step of ``DT_STEADY`` changes no unknown by
    more than its tolerance (rtol |x| + atol).

    ``callback(t, dt, stats, x)`` is called after every accepted step.
    """
    t0 = time.perf_counter()
    system = System(model)
    stats = system.stats
    x = (model.x0 if x0 is None else x0).copy()
    S, N = model.n_species, model.n_cells
    comps = closed_compartments(model, x)
    alpha_floor = np.zeros((S, N))
    for comp in comps:
        alpha_floor[comp.species, comp.cells] = 1.0 / (REGULARISE * comp.relax_time)
    project = _projector(model, comps)
    newton_rtol = 1e-2 * rtol
    weights_newton = make_weights(system, newton_rtol, 1e-2 * atol)
    weights_step = make_weights(system, rtol, atol)

    h = model.mesh.widths
    dmax = np.max(model.d_cell, axis=0)
    with np.errstate(divide="ignore"):
        cell_times = np.where(dmax > 0, h**2 / np.where(dmax > 0, dmax, 1.0), np.inf)
    dt = 1e-2 * float(np.min(cell_times)) if np.isfinite(cell_times).any() else 1e-12
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
        change = float(np.max(np.abs(x - x_old) / weights_step(x)))
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
