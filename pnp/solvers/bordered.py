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

It is solved with the band's one LU factorization and k + 1 right-hand
sides (block elimination): [y0 | Y] = J^-1 [R | B], then the k x k Schur
system (D - r^T Y) du = r^T y0 - R_b, and dx = -y0 - Y du.

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
from scipy.linalg import lapack

from ..discretisation import channels as chan
from ..discretisation.swelling import (
    MAX_SCALE,
    SCALE_STEP,
    set_scale,
    solute_totals,
    volume_residual,
    volume_row,
)
from . import banded
from .history import all_finite


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
        self.shifted = np.zeros((self.n0, max(n_cond, 1)), order="F")
        self.res_scale = np.zeros(self.n0)
        self.row = np.zeros(n)  # the volume row
        self.rhs_all = np.zeros((self.n0, self.k + 1), order="F")
        self.rhs = np.zeros((self.n0, 1), order="F")
        # kept at each factorization (System keep): Y = J^-1 B, r^T, the Schur LU
        self.kept_columns = np.zeros((self.n0, self.k), order="F")
        self.kept_rows = np.zeros((self.k, self.n0))
        self.schur = np.zeros((self.k, self.k))
        self.schur_piv = np.zeros(self.k, dtype=np.int32)
        self.beta_eff = np.zeros((model.n_species, model.n_cells), order="F")
        self.beta_volume = 0.0  # history part of dV/dt [geometry units / s]
        self.beta_gates = np.zeros(n_gates)  # history part of the gates' dx/dt [1/s]
        self.d_scale = 0.0
        self.gate_diag = np.zeros(n_gates)
        self.gate_dv = np.zeros(n_gates)

    def _time_terms(self, beta_c):
        """Amount histories over the cell volumes at the model's scale (swelling)."""
        if not self.volume:
            return beta_c
        np.divide(beta_c, self.model.volume, out=self.beta_eff)
        return self.beta_eff

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d, jacobian=True):
        system, model, n0 = self.system, self.model, self.n0
        res = system.res
        scale = float(x[-1]) if self.volume else 1.0
        if not (np.isfinite(scale) and 0.0 < scale <= MAX_SCALE):
            res[:] = np.nan  # swollen (or shrunk) beyond any cell: reject the iterate
            return res
        core = x[:n0]
        terms = (alpha_c, alpha_d, beta_c, beta_d)
        f, dfdx = chan.factors(model, x) if self.gates is not None else (None, None)
        totals = solute_totals(model, x) if self.volume else None  # the same at s + ds and s
        if jacobian and self.volume:  # the cells' residual at s + ds
            g_shift = self._at_scale(x, core, terms, scale + SCALE_STEP * scale, f, totals)
        if self.volume:
            set_scale(model, scale)
        beta = self._time_terms(beta_c)
        if jacobian and f is not None:  # and at each conductor's f + df
            steps = _factor_steps(f)
            for j in range(len(f)):
                shifted = f.copy()
                shifted[j] += steps[j]
                chan.apply(model, shifted)
                system._assemble_core(
                    core, alpha_c, alpha_d, beta, beta_d, self.shifted[:, j], system.ab, False
                )
        if f is not None:
            chan.apply(model, f)
        system._assemble_core(core, alpha_c, alpha_d, beta, beta_d, res[:n0], system.ab, jacobian)
        if f is not None:
            g_res, self.gate_diag, self.gate_dv = chan.gate_residual(
                model, x, alpha_d, self.beta_gates
            )
            res[self.gates.block] = g_res
        if self.volume:
            res[-1] = volume_residual(model, x, alpha_d, self.beta_volume, totals)
        if jacobian and f is not None:
            self._gate_columns(res[:n0], steps, dfdx)
        if jacobian and self.volume:
            step = SCALE_STEP * scale
            np.subtract(self.res_scale, res[:n0], out=self.columns[:, -1])
            self.columns[:, -1] /= step
            self.d_scale = (g_shift - res[-1]) / step
            volume_row(model, self.row)
        return res

    def _at_scale(self, x, core, terms, scale, f, totals) -> float:
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
        return volume_residual(model, x, alpha_d, self.beta_volume, totals)

    def _gate_columns(self, base: np.ndarray, steps: np.ndarray, dfdx: np.ndarray) -> None:
        """Each gate's column: (R(f + df) - R(f))/df of its conductor times df/dx."""
        gates = self.gates
        for j in range(len(steps)):
            self.shifted[:, j] -= base
            self.shifted[:, j] /= steps[j]
        for g in range(self.n_gates):
            cond = gates.conductor_of[gates.gate_channel[g]]
            np.multiply(self.shifted[:, cond], dfdx[g], out=self.columns[:, g])

    def solve(self) -> tuple[np.ndarray | None, str]:
        """Newton update from the last assembly: the band's LU and k + 1
        right-hand sides, [y0 | Y] = J^-1 [R | B], then the Schur system."""
        if self.system.keep:  # the factorization kept apart, for later substitutions
            why = self.factor()
            return (None, why) if why else self.substitute()
        system, n0 = self.system, self.n0
        kl, ku = system.kl, system.ku
        rhs = self.rhs_all
        res = system.res
        rhs[:, 0] = res[:n0]
        rhs[:, 1:] = self.columns
        system.stats.factorizations += 1
        info = banded.solve(system.ab[:, :n0], rhs, kl, ku)
        if info > 0:
            return None, f"singular Jacobian (zero pivot at unknown {info - 1})"
        ry = self._border_rows(rhs)
        schur = self._schur(ry[:, 1:])
        right = ry[:, 0] - res[n0:]
        # k x k (a few): LAPACK directly, without numpy.linalg's checks (~100 us a call)
        _, _, du, info = lapack.dgesv(schur, right, overwrite_a=1, overwrite_b=1)
        if info != 0:
            return None, "singular border equations (gates or volume)"
        return self._update(rhs[:, 1:], rhs[:, 0], du)

    def factor(self) -> str:
        """Factor the last assembled bordered Jacobian: the band's LU, Y = J^-1 B
        and the LU of the k x k Schur complement D - r^T Y, all kept (with r)
        for :meth:`substitute`; '' or why it failed."""
        system, n0 = self.system, self.n0
        kl, ku = system.kl, system.ku
        lu = system.take_band()[:, :n0]
        system.stats.factorizations += 1
        info = banded.factor(lu, kl, ku, system.piv[:n0], system.row_scale[:n0])
        if info > 0:
            return f"singular Jacobian (zero pivot at unknown {info - 1})"
        y = self.kept_columns
        y[:] = self.columns
        banded.substitute(lu, y, kl, ku, system.piv[:n0], system.row_scale[:n0])
        self._kept_rows()
        schur = self._schur(self.kept_rows @ y)
        self.schur, self.schur_piv, info = lapack.dgetrf(schur, overwrite_a=1)
        if info != 0:
            return "singular border equations (gates or volume)"
        return ""

    def substitute(self) -> tuple[np.ndarray | None, str]:
        """Newton update -J^{-1} R with the kept factorization and the last
        residual: one band substitution and the k x k solve."""
        system, n0 = self.system, self.n0
        res = system.res
        y0 = self.rhs
        y0[:, 0] = res[:n0]
        banded.substitute(
            system.lu[:, :n0], y0, system.kl, system.ku, system.piv[:n0], system.row_scale[:n0]
        )
        right = self.kept_rows @ y0[:, 0] - res[n0:]
        du, info = lapack.dgetrs(self.schur, self.schur_piv, right, overwrite_b=1)
        if info != 0:  # pragma: no cover - dgetrs fails only on invalid arguments
            return None, "singular border equations (gates or volume)"
        return self._update(self.kept_columns, y0[:, 0], du)

    def _schur(self, ry: np.ndarray) -> np.ndarray:
        """D - r^T Y from r^T Y (k x k)."""
        schur = -ry
        for g in range(self.n_gates):
            schur[g, g] += self.gate_diag[g]
        if self.volume:
            schur[-1, -1] += self.d_scale
        return schur

    def _update(self, y, y0, du) -> tuple[np.ndarray | None, str]:
        """The update dx = -y0 - Y du, du, written over the residual."""
        n0 = self.n0
        delta = self.system.res  # overwritten: the update
        np.matmul(y, -du, out=delta[:n0])
        delta[:n0] -= y0
        delta[n0:] = du
        if not all_finite(delta):
            return None, "non-finite Newton update"
        return delta, ""

    def _border_rows(self, y: np.ndarray) -> np.ndarray:
        """r^T y (k x columns of ``y``): the border rows as last assembled
        times the columns of ``y``."""
        out = np.zeros((self.k, y.shape[1]))
        gates = self.gates
        if gates is not None:
            for g in range(self.n_gates):
                ry = out[g]
                for index, coef in zip(gates.vm_index, gates.vm_coef, strict=True):
                    ry += coef * self.gate_dv[g] * y[index]
        if self.volume:
            out[-1] = self.row[: self.n0] @ y
        return out

    def _kept_rows(self) -> None:
        """r^T as last assembled, dense (k x n0), into ``kept_rows``: each gate's
        row is its dR/dV_m on the potentials V_m is made of; the volume row."""
        rows = self.kept_rows
        rows[:] = 0.0
        gates = self.gates
        if gates is not None:
            for g in range(self.n_gates):
                for index, coef in zip(gates.vm_index, gates.vm_coef, strict=True):
                    rows[g, index] += coef * self.gate_dv[g]
        if self.volume:
            rows[-1] = self.row[: self.n0]


def _factor_steps(f: np.ndarray) -> np.ndarray:
    """The one-sided difference step of each conductor factor."""
    return chan.FACTOR_STEP * np.maximum(np.abs(f), 1e-6)
