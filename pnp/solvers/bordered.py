"""Unknowns outside the band: the gates of voltage-gated channels and the
volume of a swelling cell, bordering the banded system.

The state vector may end with extra unknowns (:mod:`pnp.discretisation.layout`):
the gates of the model's channels (:mod:`pnp.discretisation.channels`) and,
last, the scale s of a swelling cell's inside compartment
(:mod:`pnp.discretisation.swelling`). Each has one equation. The Jacobian
is the band J of the cells plus k dense columns B (how the cells' residuals
change with each border unknown) and k rows r (how each border equation
changes with the cells' unknowns), with a small k x k block D:

    [ J    B ] [dx]      [R  ]
    [ r^T  D ] [du]  = - [R_b]

It is solved with the band's one LU factorization (block elimination):
[y0 | Y] = J^-1 [R | B], then the k x k Schur system
(D - r^T Y) du = r^T y0 - R_b, and dx = -y0 - Y du; the algebra after the
band's LU is :mod:`pnp.solvers.schur` (compiled). With gates alone the
assembly is one compiled call (:func:`pnp.solvers.gated.assemble`), with a
swelling cell alone another (:func:`pnp.solvers.swollen.assemble`); with
both it is the Python form below (the mesh moves with the scale).

- A gate row is exact: its equation depends on the gate itself and on V_m,
  an affine function of one or two potentials. A gate's column is
  dR/df df/dx: the derivative of the cells' residual with respect to the
  factor f of the conductor the gate opens is a one-sided difference
  (``FACTOR_STEP`` relative; one more assembly per conductor, shared by all
  its gates), df/dx exact.
- The volume row is exact (the volume balance is linear in the
  concentrations); its column and diagonal are one-sided differences in s
  (``SCALE_STEP`` relative), one more assembly. The history part of the
  species time terms (``beta_c``) is passed as amounts per cell
  (:func:`pnp.solvers.newton.contents`) and divided by each cell's volume
  at the current s before the kernel sees it; the history part of dV/dt is
  ``beta_volume``. A volume equation does not depend on the gates, and the
  gates' equations do not depend on s.

The Jacobian is then exact to ~1e-7 relative in its difference columns, so
Newton converges to the same tolerance, only linearly in its last digits.
The history part of the gates' time terms is ``beta_gates``, set by the
caller before Newton (zero in a steady state).
"""

from __future__ import annotations

import numpy as np

from ..discretisation import channels as chan
from ..discretisation.swelling import MAX_SCALE, SCALE_STEP, set_scale, volume_residual, volume_row
from . import banded, gated, schur, swollen
from .history import all_finite
from .schur import factor_steps, gate_columns

# why a factorization of the border failed (a zero pivot of its Schur complement)
SINGULAR_BORDER = "singular border equations (gates or volume)"


class Bordered:
    """Assembly and solve of a :class:`~pnp.solvers.newton.System` with border unknowns."""

    def __init__(self, system, model):
        self.system = system
        self.model = model
        n = model.n_unknowns
        self.volume = model.swelling is not None
        self.gates = model.channels
        n_gates = self.gates.n_gates if self.gates is not None else 0
        n_cond = len(self.gates.conductors) if self.gates is not None else 0
        self.k = n_gates + int(self.volume)
        self.n0 = n - self.k  # the banded part: cells and boundary unknowns
        self.n_gates = n_gates
        self.columns = np.zeros((self.n0, self.k), order="F")
        self.shifted = np.zeros((max(n_cond, 1), self.n0))  # R at each shifted factor
        self.res_scale = np.zeros(self.n0)
        self.row = np.zeros(n)  # the volume row
        self.y0 = np.zeros((self.n0, 1), order="F")
        self.right = np.zeros((self.k, 1), order="F")
        # kept at each factorization (System keep): Y = J^-1 B, the gate rows'
        # dV_m derivatives, the Schur complement's LU
        self.kept_columns = np.zeros((self.n0, self.k), order="F")
        self.kept_dv = np.zeros(n_gates)
        self.schur = np.zeros((self.k, self.k))
        self.schur_piv = np.zeros(self.k, dtype=np.int64)
        self.beta_eff = np.zeros((model.n_species, model.n_cells), order="F")
        # the history part of dV/dt [geometry units / s], then the history's
        # inside volumes, newest first (a BDF step's, :func:`swollen.volume_history`)
        self.volume_terms = np.zeros(8)
        self.beta_gates = np.zeros(n_gates)  # history part of the gates' dx/dt [1/s]
        self.diag = np.zeros(self.k)  # D: each border equation's own derivative
        self.gate_dv = np.zeros(n_gates)
        gates = self.gates
        self.vm_index = np.array(gates.vm_index if gates else (), dtype=np.int64)
        self.vm_coef = np.array(gates.vm_coef if gates else (), dtype=np.float64)
        self._tables = None  # gate_tables or volume_tables, formed on first use

    @property
    def beta_volume(self) -> float:
        """The history part of dV/dt [geometry units / s] (zero in a steady state)."""
        return float(self.volume_terms[0])

    @beta_volume.setter
    def beta_volume(self, value: float) -> None:
        self.volume_terms[0] = value

    def compiles(self) -> bool:
        """Is the assembly one compiled call? With gates alone
        (:mod:`pnp.solvers.gated`), unless a steady solver holds them, or
        with a volume alone (:mod:`pnp.solvers.swollen`)."""
        if self.volume:
            return self.gates is None
        return not self.gates.held

    def gate_tables(self) -> tuple | None:
        """:func:`pnp.solvers.gated.gate_tables` of the model, formed once
        (with gates alone the mesh does not move, so the model's arrays and
        V_m's constant part stay as they are); None with a volume."""
        if self.volume:
            return None
        if self._tables is None:
            self._tables = gated.gate_tables(self.model, self)
        return self._tables

    def volume_tables(self) -> tuple | None:
        """:func:`pnp.solvers.swollen.volume_tables` of the model, formed
        once (the pumps' faces, the model's arrays and its moving tables
        keep their identity); None with gates."""
        if self.gates is not None:
            return None
        if self._tables is None:
            self._tables = swollen.volume_tables(self.model, self)
        return self._tables

    def _time_terms(self, beta_c):
        """Amount histories over the cell volumes at the model's scale (swelling)."""
        if not self.volume:
            return beta_c
        np.divide(beta_c, self.model.volume, out=self.beta_eff)
        return self.beta_eff

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d, jacobian=True):
        system, model, n0 = self.system, self.model, self.n0
        res = system.res
        if self.compiles():
            kind = swollen if self.volume else gated
            kind.assemble(
                x,
                system.args,
                np.asfortranarray(alpha_c),
                alpha_d,
                np.asfortranarray(beta_c),
                beta_d,
                system.cont,
                system.source,
                res,
                system.ab,
                jacobian,
                system.pump_args(),
                self.volume_tables() if self.volume else self.gate_tables(),
            )
            return res
        scale = float(x[-1]) if self.volume else 1.0
        if not (np.isfinite(scale) and 0.0 < scale <= MAX_SCALE):
            res[:] = np.nan  # swollen (or shrunk) beyond any cell: reject the iterate
            return res
        core = x[:n0]
        terms = (alpha_c, alpha_d, beta_c, beta_d)
        f, dfdx = chan.factors(model, x) if self.gates is not None else (None, None)
        if jacobian and self.volume:  # the cells' residual at s + ds
            g_shift = self._at_scale(x, core, terms, scale + SCALE_STEP * scale, f)
        if self.volume:
            set_scale(model, scale)
        beta = self._time_terms(beta_c)
        if jacobian and f is not None:  # and at each conductor's f + df
            steps = factor_steps(f, chan.FACTOR_STEP)
            for j in range(len(f)):
                shifted = f.copy()
                shifted[j] += steps[j]
                chan.apply(model, shifted)
                system._assemble_core(
                    core, alpha_c, alpha_d, beta, beta_d, self.shifted[j], system.ab, False
                )
        if f is not None:
            chan.apply(model, f)
        system._assemble_core(core, alpha_c, alpha_d, beta, beta_d, res[:n0], system.ab, jacobian)
        if f is not None:
            g_res, self.diag[: self.n_gates], self.gate_dv[:] = chan.gate_residual(
                model, x, alpha_d, self.beta_gates
            )
            res[self.gates.block] = g_res
        if self.volume:
            res[-1] = volume_residual(model, x, alpha_d, self.beta_volume)
        if jacobian and f is not None:
            gates = self.gates
            gate_columns(
                self.shifted, res[:n0], steps, dfdx, gates.gate_channel, gates.conductor_of,
                self.columns,
            )  # fmt: skip
        if jacobian and self.volume:
            step = SCALE_STEP * scale
            np.subtract(self.res_scale, res[:n0], out=self.columns[:, -1])
            self.columns[:, -1] /= step
            self.diag[-1] = (g_shift - res[-1]) / step
            volume_row(model, self.row)
        return res

    def _at_scale(self, x, core, terms, scale, f) -> float:
        """The cells' residual (into ``res_scale``) and the volume residual at ``scale``."""
        model, system = self.model, self.system
        alpha_c, alpha_d, beta_c, beta_d = terms
        set_scale(model, scale)
        if f is not None:
            chan.apply(model, f)
        beta = self._time_terms(beta_c)
        system._assemble_core(
            core, alpha_c, alpha_d, beta, beta_d, self.res_scale, system.ab, False
        )
        return volume_residual(model, x, alpha_d, self.beta_volume)

    def solve(self) -> tuple[np.ndarray | None, str]:
        """Newton update from the last assembly: :meth:`factor` then
        :meth:`substitute` (without ``keep`` the band is factored in place)."""
        why = self.factor()
        return (None, why) if why else self.substitute()

    def factor(self) -> str:
        """Factor the last assembled bordered Jacobian: the band's LU, Y = J^-1 B
        and the LU of the k x k Schur complement D - r^T Y, all kept for
        :meth:`substitute`; '' or why it failed."""
        return self._factor(self.system.take_band()[:, : self.n0])

    def _factor(self, lu) -> str:
        system, n0 = self.system, self.n0
        system.stats.factorizations += 1
        info = banded.factor(lu, system.kl, system.ku, system.piv[:n0], system.row_scale[:n0])
        if info > 0:
            return f"singular Jacobian (zero pivot at unknown {info - 1})"
        self.kept_columns[:] = self.columns
        self.kept_dv[:] = self.gate_dv
        info = schur.schur_factor(
            self.kept_columns,
            system.kl,
            system.ku,
            system.piv[:n0],
            system.row_scale[:n0],
            self.border(lu),
            self.schur,
            self.schur_piv,
        )
        return SINGULAR_BORDER if info else ""

    def border(self, lu) -> tuple:
        """The border's arguments of :mod:`pnp.solvers.schur` with the band's LU ``lu``."""
        return (
            lu,
            self.vm_index,
            self.vm_coef,
            self.kept_dv,
            self.n_gates,
            self.row,
            self.volume,
            self.diag,
        )

    def loop_border(self) -> tuple:
        """The border's work arrays for the compiled loop
        (:func:`pnp.solvers.iteration.modified_newton`): the columns and
        gate rows' derivatives as assembled, as kept at the factorization,
        the Schur LU, two work arrays, V_m's coefficients, the volume row,
        the diagonal D, whether the last row is a volume's."""
        return (
            self.columns,
            self.gate_dv,
            self.kept_columns,
            self.kept_dv,
            self.schur,
            self.schur_piv,
            self.y0,
            self.right,
            self.vm_index,
            self.vm_coef,
            self.row,
            self.diag,
            self.volume,
        )

    def substitute(self) -> tuple[np.ndarray | None, str]:
        """Newton update -J^{-1} R with the kept factorization and the last
        residual (written over it): one band substitution and the k x k solve."""
        system, n0 = self.system, self.n0
        res = system.res
        schur.schur_substitute(
            res,
            self.y0,
            system.kl,
            system.ku,
            system.piv[:n0],
            system.row_scale[:n0],
            self.kept_columns,
            self.border(system.lu[:, :n0]),
            self.schur,
            self.schur_piv,
            self.right,
        )
        if not all_finite(res):
            return None, "non-finite Newton update"
        return res, ""
