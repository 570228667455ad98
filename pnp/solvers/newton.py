"""Damped Newton on the fully coupled system, and the small objects around it.

Owns the Newton iteration (:func:`newton`, returning a :class:`NewtonInfo`),
the work arrays of repeated assembly and banded solves (:class:`System`), the
work counters (:class:`Stats`), the accuracy weights of the unknowns
(:class:`Weights`) and helpers reading a state vector (concentrations,
boundary displacements). Contracts follow ``scipy.integrate._ivp``: Newton
is a function with explicit inputs returning a small result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..discretisation import kernel, pumps
from ..discretisation.model import Model
from ..discretisation.swelling import set_scale
from . import banded, iteration
from .bordered import Bordered
from .history import (
    all_finite,
    face_displacements,
    gather_concentrations,
    max_abs_strided,
    record_state,
)

DPSI_MAX = 10.0  # largest potential update per Newton iteration [V_T]
NEWTON_MAX_ITER = 25
NEWTON_RTOL_FLOOR = 1e-11  # relative accuracy asked of Newton never below round-off
PSI_FLOOR_NEWTON = 1e-8  # absolute potential accuracy floors [V_T]: 0.27 nV for Newton,
PSI_FLOOR_STEP = 1e-7  # 2.7 nV for time-step error control


class _NoProjection:
    """No closed compartment: the empty arrays of a :class:`Projection`."""

    index = np.zeros(0, dtype=np.int64)
    start = np.zeros(1, dtype=np.int64)
    volume = np.zeros(0)
    amount = np.zeros(0)


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
    """Work arrays for repeated residual/Jacobian assembly and banded solves.

    ``continuity``: write current continuity in place of species 0's balance
    where it moves (``Model.continuity_cells``; a transient step, with one
    time coefficient for every species). ``assemble`` then takes the history
    part of the displacement rate of every face as ``beta_d`` (N+1).

    ``keep``: keep each factorization apart from ``ab`` (the assembly
    target), so that it can be used again after later assemblies
    (:meth:`substitute`; the modified Newton of :mod:`pnp.solvers.reuse`).
    Otherwise ``ab`` is factored in place.
    """

    def __init__(self, model: Model, continuity: bool = False, keep: bool = False):
        self.model = model
        cont = model.continuity_cells() if continuity else None
        self.cont = cont if cont is not None else np.zeros(model.n_cells, dtype=np.int8)
        kl, ku = model.bandwidths
        self.kl, self.ku = kl, ku
        n = model.n_unknowns
        self.ab = np.zeros((2 * kl + ku + 1, n), order="F")
        # the factors of the last factorization: ``ab`` itself, or a second
        # band the two swap with (``keep``)
        self.keep = keep
        self.lu = np.zeros_like(self.ab) if keep else self.ab
        self.piv = self.row_scale = None  # its pivots and row scales (factor)
        self.res = np.zeros(n)
        self.args = model.kernel_args()
        self.source = np.zeros((model.n_species, model.n_cells), order="F")
        self._pumps = None  # the pump sites pump_cells and pump_values were made from
        self.pump_tables()
        self.psi_index = model.potential_index()
        # every boundary unknown is a floating reservoir's potential
        self.psi_index_all = np.concatenate([self.psi_index, model.layout.boundary])
        self.is_psi = np.zeros(n, dtype=bool)
        self.is_psi[self.psi_index_all] = True
        # read on every Newton iteration: plain Python ints, computed once
        cells = model.layout.potential
        self._psi_cells = cells.indices(n)  # (start, stop, step)
        self._psi_boundary = np.asarray(model.layout.boundary, dtype=np.int64)
        self.stats = Stats()
        self.bordered = (
            Bordered(self, model)
            if model.swelling is not None or model.channels is not None
            else None
        )

    def max_abs_potential(self, v: np.ndarray) -> float:
        """Largest |potential entry| of a state-shaped vector (strided views, no copies)."""
        return float(max_abs_strided(v, *self._psi_cells, self._psi_boundary))

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d, jacobian=True):
        """Residual (returned) and band Jacobian at ``x``: dc/dt ~ alpha_c c - beta_c,
        dP_f/dt ~ alpha_d P_f - beta_d[f] (``beta_d``: the N+1 faces)."""
        if self.bordered is not None:
            return self.bordered.assemble(x, alpha_c, alpha_d, beta_c, beta_d, jacobian)
        self._assemble_core(x, alpha_c, alpha_d, beta_c, beta_d, self.res, self.ab, jacobian)
        return self.res

    def pump_tables(self) -> bool:
        """Flatten the model's pumps (:func:`pumps.pump_arrays`) into
        ``pump_cells`` and ``pump_values`` when they are not those of the
        last call (a moving mesh replaces them with its membrane's area).
        Returns whether there are any. A moved mesh's areas are read from its
        arrays, where the model is (its ``pumps``, rebuilt when read, would
        cost a mesh object per step)."""
        model = self.model
        if model._pumps is not self._pumps:  # the pumps as they are, not rebuilt
            self._pumps = model._pumps
            self.pump_cells, self.pump_values = pumps.pump_arrays(self._pumps)
            self._pump_faces = np.array([p.face for p in self._pumps], dtype=np.int64)
        if model.moving is not None and self.pump_cells.shape[0]:  # where the arrays are
            self.pump_values[:, pumps.AREA] = model.face_area[self._pump_faces]
        return self.pump_cells.shape[0] > 0

    def pump_args(self) -> tuple:
        """The pumps' arguments of the compiled assemblies: (pump_cells,
        pump_values, z, n_boundary, block, kl, ku)."""
        self.pump_tables()
        lay = self.model.layout
        return (
            self.pump_cells,
            self.pump_values,
            self.model.z,
            lay.n_boundary,
            lay.block,
            self.kl,
            self.ku,
        )

    def _assemble_core(self, x, alpha_c, alpha_d, beta_c, beta_d, res, ab, jacobian):
        """The kernel's residual and band Jacobian of the cells (and boundary unknowns)."""
        lay = self.model.layout
        pumped = self.pump_tables()
        if pumped:
            pumps.sources(
                x, lay.n_boundary, lay.block, self.pump_cells, self.pump_values, self.source
            )
        # one memory layout for every call: one compiled specialisation
        kernel.assemble(
            x,
            *self.args,
            np.asfortranarray(alpha_c),
            alpha_d,
            np.asfortranarray(beta_c),
            beta_d,
            self.cont,
            self.source,
            res,
            ab,
            jacobian,
        )
        if jacobian and pumped:
            # a pump couples the cells on both sides of its membrane, further
            # apart than the band: only each cell's own derivative is added
            pumps.add_jacobian(
                x,
                lay.n_boundary,
                lay.block,
                self.pump_cells,
                self.pump_values,
                self.model.z,
                self.cont,
                ab,
                self.kl,
                self.ku,
            )

    def solve(self) -> tuple[np.ndarray | None, str]:
        """Newton update -J^{-1} R from the last assembly (row-equilibrated LU);
        with ``keep``, :meth:`factor` then :meth:`substitute`."""
        if self.bordered is not None:
            return self.bordered.solve()
        if self.keep:
            why = self.factor()
            return (None, why) if why else self.substitute()
        self.stats.factorizations += 1
        # solved in place: the update overwrites the residual (no state-sized copy)
        delta = np.negative(self.res, out=self.res)
        info = banded.solve(self.ab, delta, self.kl, self.ku)
        if info > 0:
            return None, f"singular Jacobian (zero pivot at unknown {info - 1})"
        if not all_finite(delta):
            return None, "non-finite Newton update"
        return delta, ""

    def take_band(self) -> np.ndarray:
        """The assembled band as the factorization's storage (``lu``): with
        ``keep`` the two bands swap, ``ab`` taking the old factors' place.
        Allocates the pivots and row scales on first use."""
        if self.keep:
            self.ab, self.lu = self.lu, self.ab
        self._factor_arrays()
        return self.lu

    def _factor_arrays(self) -> None:
        """The pivots and row scales, allocated on first use."""
        if self.piv is None:
            self.piv = np.zeros(self.ab.shape[1], dtype=np.int64)
            self.row_scale = np.ones(self.ab.shape[1])

    def factor(self) -> str:
        """Factor the last assembled Jacobian ('' or why it failed); kept for
        :meth:`substitute` until the next factorization."""
        if self.bordered is not None:
            return self.bordered.factor()
        self.stats.factorizations += 1
        lu = self.take_band()
        info = banded.factor(lu, self.kl, self.ku, self.piv, self.row_scale)
        if info > 0:
            return f"singular Jacobian (zero pivot at unknown {info - 1})"
        return ""

    def substitute(self) -> tuple[np.ndarray | None, str]:
        """Newton update -J0^{-1} R: the last residual R, J0 as last factored."""
        if self.bordered is not None:
            return self.bordered.substitute()
        # solved in place: the update overwrites the residual (no state-sized copy)
        delta = np.negative(self.res, out=self.res)
        banded.substitute(self.lu, delta, self.kl, self.ku, self.piv, self.row_scale)
        if not all_finite(delta):
            return None, "non-finite Newton update"
        return delta, ""

    def update(self, x: np.ndarray, weights, project=None) -> tuple[float, float, str]:
        """:meth:`substitute` and :func:`apply_update` in one: the update from
        the last residual and factorization, applied to ``x``. Returns (lam,
        norm, '') or (nan, inf, why it failed). Without border unknowns and
        on a fixed mesh, one compiled call (:mod:`pnp.solvers.iteration`)."""
        if self.bordered is not None or (project is not None and project.moving):
            return substitute_and_apply(self, x, weights, project)
        finite, lam, norm = iteration.update(
            self.lu,
            self.res,
            self.kl,
            self.ku,
            self.piv,
            self.row_scale,
            x,
            *self.update_args(weights, project),
        )
        if not finite:
            return np.nan, np.inf, "non-finite Newton update"
        self.stats.newton_iterations += 1
        return lam, norm, ""

    def update_args(self, weights, project=None) -> tuple:
        """The arguments of :func:`pnp.solvers.iteration.update` after the
        state: where the potentials are, the damping limit, the closed
        compartments (``project``'s arrays, or none), the weights."""
        proj = _NoProjection if project is None else project
        return (
            *self._psi_cells,
            self._psi_boundary,
            DPSI_MAX,
            proj.index,
            proj.start,
            proj.volume,
            proj.amount,
            weights.rtol,
            weights.floor_c,
            weights.floor_psi,
            weights.is_psi,
        )

    def loop_compiles(self, project=None) -> bool:
        """Can a whole modified Newton run compiled (:meth:`modified_newton`)?
        With a kept factorization, without border unknowns, with gates alone
        or with a volume alone (:meth:`Bordered.compiles`). ``project``: the
        closed compartments (a moving mesh's compile too)."""
        return self.keep and (self.bordered is None or self.bordered.compiles())

    def loop_args(self, weights, project) -> tuple:
        """The arguments of the compiled loop after the state, the step's
        coefficients and the two bands: (cont, source, res, piv, row_scale,
        kl, ku, the update's arguments, the pumps' (:meth:`pump_args`), the
        gates' (:func:`pnp.solvers.gated.gate_tables`), the border's work
        arrays (:meth:`Bordered.loop_border`), the volume's
        (:func:`pnp.solvers.swollen.volume_tables`)); None for what the
        system does not have."""
        self._factor_arrays()
        gates = border = volume = None  # no border: the compiled loop without one
        if self.bordered is not None:
            gates = self.bordered.gate_tables()
            volume = self.bordered.volume_tables()
            border = self.bordered.loop_border()
        return (
            self.cont,
            self.source,
            self.res,
            self.piv,
            self.row_scale,
            self.kl,
            self.ku,
            self.update_args(weights, project),
            self.pump_args(),
            gates,
            border,
            volume,
        )

    def loop_done(self, n_factor: int, n_update: int) -> None:
        """After compiled loops that factored ``n_factor`` times and applied
        ``n_update`` updates: the bands in their places, the counters."""
        if n_factor % 2:  # each factorization traded the bands' places
            self.ab, self.lu = self.lu, self.ab
        self.stats.factorizations += n_factor
        self.stats.newton_iterations += n_update

    def modified_newton(
        self, x, alpha_c, alpha_d, beta_c, beta_d, weights, project, fresh, max_iter, polish, slow
    ) -> tuple[int, int, float, int, int]:
        """:func:`pnp.solvers.iteration.modified_newton` on this system (see
        :meth:`loop_compiles`), its counters and bands kept up to date.
        Returns (status, iterations, norm, zero pivot, factorizations)."""
        cont, source, res, piv, row_scale, kl, ku, upd, pump, gates, border, volume = (
            self.loop_args(weights, project)
        )
        status, it, norm, info, n_factor, n_update = iteration.modified_newton(
            x,
            self.args,
            np.asfortranarray(alpha_c),
            alpha_d,
            np.asfortranarray(beta_c),
            beta_d,
            cont,
            source,
            res,
            self.ab,
            self.lu,
            piv,
            row_scale,
            kl,
            ku,
            upd,
            pump,
            gates,
            border,
            volume,
            fresh,
            max_iter,
            polish,
            slow,
        )
        self.loop_done(n_factor, n_update)
        return status, it, norm, info, n_factor


def substitute_and_apply(system, x: np.ndarray, weights, project=None) -> tuple[float, float, str]:
    """:meth:`System.update` in Python: ``system.substitute()`` then
    :func:`apply_update` (any object with those methods)."""
    delta, why = system.substitute()
    if delta is None:
        return np.nan, np.inf, why
    lam, norm = apply_update(system, x, delta, weights, project)
    return lam, norm, ""


def apply_update(system: System, x: np.ndarray, delta: np.ndarray, weights, project=None):
    """x += lam delta, potentials' steps limited to ``DPSI_MAX`` thermal voltages
    by one factor lam for the whole update (every species' amount stays
    balanced), the compartments projected; returns (lam, weighted norm of
    the step taken). Counts the Newton iteration."""
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
    return lam, norm


def newton(
    system: System,
    x: np.ndarray,
    alpha_c,
    alpha_d,
    beta_c,
    beta_d,
    weights,
    project=None,
    max_iter: int = NEWTON_MAX_ITER,
    reuse=None,
) -> NewtonInfo:
    """Damped Newton on R(x) = 0, updating ``x`` in place.

    Converged when the largest update, measured in ``weights(x)`` (the
    absolute accuracy wanted of each unknown), is below 1 after an undamped
    step. Potential updates are limited to ``DPSI_MAX`` thermal voltages by
    scaling the whole update (a uniform scaling keeps every species' amount
    exactly balanced).

    ``reuse``: a :class:`pnp.solvers.reuse.Reuse` (with a ``System`` made
    with ``keep``): modified Newton, factorizations used again across
    iterations and calls (``reuse.newton``, :mod:`pnp.solvers.reuse`).
    """
    if reuse is not None:
        return reuse.newton(system, x, alpha_c, alpha_d, beta_c, beta_d, weights, project, max_iter)
    norm = np.inf
    best = np.inf
    previous = np.inf
    for it in range(1, max_iter + 1):
        res = system.assemble(x, alpha_c, alpha_d, beta_c, beta_d)
        if not all_finite(res):
            return NewtonInfo(False, it, np.inf, "non-finite residual")
        delta, why = system.solve()
        if delta is None:
            return NewtonInfo(False, it, np.inf, why)
        lam, norm = apply_update(system, x, delta, weights, project)
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
# Helpers on states
# ----------------------------------------------------------------------------


def boundary_displacement(model: Model, x: np.ndarray) -> np.ndarray:
    """P_f at the two boundary faces (toward +x), in kernel units."""
    out = np.empty(2)
    _displacements(model, x, out, False)
    return out


def displacements(model: Model, x: np.ndarray) -> np.ndarray:
    """P_f through all N+1 faces (toward +x), kernel units."""
    out = np.empty(model.n_cells + 1)
    _displacements(model, x, out, True)
    return out


def _displacements(model: Model, x: np.ndarray, out: np.ndarray, interior: bool) -> None:
    face_displacements(x, *record_args(model), out, interior)


def displacement_at(model: Model, x: np.ndarray, face: int) -> float:
    """P_f (displacement * area / F) through ``face`` toward +x, kernel units."""
    if face <= 0 or face >= model.n_cells:
        return float(boundary_displacement(model, x)[0 if face <= 0 else 1])
    pl = x[model.layout.potential_at(face - 1)]
    pr = x[model.layout.potential_at(face)]
    return float(model.pois_cond[face] * (pl - pr))


def accepted(model: Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An accepted state's history entries: (a copy of ``x``, :func:`contents`,
    :func:`displacements`), the last two at ``x``'s scale (a moving mesh is
    moved there first); on a fixed mesh in one compiled call."""
    if model.swelling is not None:
        c = contents(model, x)  # (moves the model to x's scale)
        return x.copy(), c, displacements(model, x)
    return record_state(x, record_args(model))


def record_args(model: Model) -> tuple:
    """Where the displacements come from: the arguments of
    :func:`pnp.solvers.history.face_displacements` between the state and
    its output (:func:`pnp.solvers.history.record_state`'s ``geometry``)."""
    lay = model.layout
    return (
        lay.n_boundary,
        model.n_species,
        model.n_cells,
        model.pois_cond,
        model.b_type,
        model.b_psi,
        lay.boundary,
        model.b_sigma,
        model.b_pois_cond,
        model.b_pois_next,
    )


def contents(model: Model, x: np.ndarray) -> np.ndarray:
    """(S, N) what a time step conserves per cell: the concentrations, or,
    when the mesh moves with a cell's volume, the amounts c V_cell at ``x``'s scale
    (which the model is moved to)."""
    c = concentrations(model, x)
    if model.swelling is None:
        return c
    set_scale(model, float(x[-1]))
    c *= model.volume
    return c


def concentrations(model: Model, x: np.ndarray) -> np.ndarray:
    """(S, N) view-free copy of the concentrations in ``x``."""
    # species-fastest, as the kernel walks it
    return gather_concentrations(x, model.layout.n_boundary, model.n_species, model.n_cells)


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
        return float(
            kernel.weighted_max(
                delta, x, scale, self.rtol, self.floor_c, self.floor_psi, self.is_psi
            )
        )


def make_weights(system: System, rtol: float, atol: float, psi_floor: float = 0.0) -> Weights:
    """The :class:`Weights` of ``system``'s unknowns."""
    return Weights(system.is_psi, rtol, atol, psi_floor)


def min_concentration(model: Model, x: np.ndarray) -> float:
    """Smallest concentration in ``x`` (a strided view: no copy)."""
    _, c = model.layout.split(x)
    return float(c.min())
