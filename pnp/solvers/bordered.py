"""The volume unknown of a swelling cell, bordering the banded system.

When water crosses a membrane (:mod:`pnp.discretisation.swelling`) the state
vector ends with one more unknown, the scale s of the inside compartment,
and the system one more equation, the volume balance
alpha V(s) - beta + A(s) J_w(x, s) = 0. Every geometric coefficient of the
band depends on s, and J_w on the concentrations of whole compartments, so
the Jacobian is the band plus a dense last row and column:

    [ J    b ] [dx]      [R]
    [ r^T  d ] [ds]  = - [g]

It is solved with the band's one LU factorization and two right-hand sides
(block elimination): y1 = J^-1 R, y2 = J^-1 b, ds = (r.y1 - g)/(d - r.y2),
dx = -y1 - y2 ds. r is exact (g is linear in the concentrations); b and d
are one-sided differences in s (``SCALE_STEP`` relative: the Jacobian is
then exact to ~1e-7, so Newton converges to the same tolerance, only
linearly in its last digits), costing one more residual assembly per
iteration.

The history part of the species time terms (``beta_c``) is passed as
amounts per cell (:func:`pnp.solvers.newton.contents`); it is divided by
each cell's volume at the current s before the kernel sees it. The history
part of dV/dt is ``beta_volume``, set by the caller before Newton.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from ..discretisation import kernel
from ..discretisation.swelling import (
    MAX_SCALE,
    SCALE_STEP,
    set_scale,
    solute_totals,
    volume_residual,
    volume_row,
)


class BorderedVolume:
    """Assembly and solve of a :class:`~pnp.solvers.newton.System` with the volume unknown."""

    def __init__(self, system, model):
        self.system = system
        self.model = model
        n = model.n_unknowns
        self.n0 = n - 1  # the banded part: cells and boundary unknowns
        self.res_shift = np.zeros(self.n0)
        self.column = np.zeros(self.n0)
        self.row = np.zeros(n)
        self.rhs = np.zeros((self.n0, 2), order="F")
        self.beta_eff = np.zeros((model.n_species, model.n_cells), order="F")
        self.beta_volume = 0.0  # history part of dV/dt [geometry units / s]
        self.d_scale = 0.0

    def _time_terms(self, beta_c):
        """Amount histories over the cell volumes at the model's scale."""
        np.divide(beta_c, self.model.volume, out=self.beta_eff)
        return self.beta_eff

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d, jacobian=True):
        system, model, n0 = self.system, self.model, self.n0
        res = system.res
        scale = float(x[-1])
        if not (np.isfinite(scale) and 0.0 < scale <= MAX_SCALE):
            res[:] = np.nan  # swollen (or shrunk) beyond any cell: reject the iterate
            return res
        core = x[:n0]
        totals = solute_totals(model, x)  # the same at s + ds and s
        if jacobian:
            step = SCALE_STEP * scale
            set_scale(model, scale + step)
            beta = self._time_terms(beta_c)
            system._assemble_core(
                core, alpha_c, alpha_d, beta, beta_d, self.res_shift, system.ab, False
            )
            g_shift = volume_residual(model, x, alpha_d, self.beta_volume, totals)
        set_scale(model, scale)
        beta = self._time_terms(beta_c)
        system._assemble_core(core, alpha_c, alpha_d, beta, beta_d, res[:n0], system.ab, jacobian)
        g = volume_residual(model, x, alpha_d, self.beta_volume, totals)
        res[-1] = g
        if jacobian:
            np.subtract(self.res_shift, res[:n0], out=self.column)
            self.column /= step
            self.d_scale = (g_shift - g) / step
            volume_row(model, self.row)
        return res

    def solve(self) -> tuple[np.ndarray | None, str]:
        system, n0 = self.system, self.n0
        kl, ku = system.kl, system.ku
        rhs = self.rhs
        rhs[:, 0] = system.res[:n0]
        rhs[:, 1] = self.column
        ab = system.ab[:, :n0]
        kernel.equilibrate_rows(ab, rhs, kl, ku)
        system.stats.factorizations += 1
        _, _, y, info = lapack.dgbsv(kl, ku, ab, rhs, overwrite_ab=1, overwrite_b=1)
        if info > 0:
            return None, f"singular Jacobian (zero pivot at unknown {info - 1})"
        if info < 0:
            return None, f"LAPACK gbsv argument {-info} invalid"
        row = self.row[:n0]
        denominator = self.d_scale - float(row @ y[:, 1])
        if denominator == 0.0 or not np.isfinite(denominator):
            return None, "singular volume equation"
        d_scale = (float(row @ y[:, 0]) - float(system.res[-1])) / denominator
        delta = system.res  # overwritten: the update
        np.multiply(y[:, 1], -d_scale, out=delta[:n0])
        delta[:n0] -= y[:, 0]
        delta[-1] = d_scale
        if not np.all(np.isfinite(delta)):
            return None, "non-finite Newton update"
        return delta, ""
