"""The part of a Newton iteration after the assembly, compiled in one call.

Once the residual R of an iterate is assembled (and, when due, the band
factored), what is left of the iteration is a row of small operations:
the update -J0^{-1} R by substitution, its check for nan and inf, the
largest potential entry, the damping factor, x + lam delta, each closed
compartment's amount restored (:func:`pnp.solvers.compartments.projector`)
and the weighted norm of the step. In Python that is a dozen calls of one
to three microseconds each, as much as the substitution itself at the
sizes of the shipped transients. :func:`update` does them in one compiled
call, each with numpy's floating-point operations in numpy's order (the
same products and sums, no fused multiply-adds; the compartment amounts
with the same BLAS dot product numpy calls), so an iteration gives the
same bits as :func:`pnp.solvers.newton.apply_update` after
:meth:`pnp.solvers.newton.System.substitute` (tests/test_iteration.py).

It serves systems without border unknowns whose mesh does not move (no
channels, no cell volume): the others keep the Python path, where the
border's Schur complement and the moving mesh's geometry live.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..discretisation.kernel import weighted_max
from .banded import _scale_substitute
from .history import all_finite, max_abs_strided


@njit(cache=True)
def update(
    lu,
    delta,
    kl,
    ku,
    piv,
    row_scale,
    x,
    psi_start,
    psi_stop,
    psi_step,
    psi_extra,
    dpsi_max,
    proj_index,
    proj_start,
    proj_volume,
    proj_amount,
    rtol,
    floor_c,
    floor_psi,
    is_psi,
):
    """Solve for the update and apply it: (finite, lam, norm).

    ``delta`` holds the residual and receives the update -J0^{-1} R (``lu``,
    ``piv``, ``row_scale``: the factorization). When it is not finite,
    returns (False, 0, inf) with ``x`` untouched. Else x += lam delta, lam =
    min(1, dpsi_max / max |potential update|) (1 when that is 0); then the
    closed compartments' amounts: compartment k's concentrations are
    ``x[proj_index[proj_start[k]:proj_start[k + 1]]]``, its cell volumes
    ``proj_volume`` over the same range, its amount ``proj_amount[k]``;
    then the norm max |lam delta_i| / (rtol |x_i| + floor_i) at the new x.
    """
    n = delta.shape[0]
    for i in range(n):
        delta[i] = -delta[i]
    _scale_substitute(lu, delta.reshape((n, 1)), kl, ku, piv, row_scale)
    if not all_finite(delta):
        return False, 0.0, np.inf
    dpsi = max_abs_strided(delta, psi_start, psi_stop, psi_step, psi_extra)
    lam = min(1.0, dpsi_max / dpsi) if dpsi > 0 else 1.0
    if lam == 1.0:
        for i in range(n):
            x[i] += delta[i]
    else:
        for i in range(n):
            x[i] += lam * delta[i]
    for k in range(proj_amount.shape[0]):
        index = proj_index[proj_start[k] : proj_start[k + 1]]
        now = np.dot(proj_volume[proj_start[k] : proj_start[k + 1]], x[index])
        if now > 0:
            factor = proj_amount[k] / now
            for i in index:
                x[i] *= factor
    return True, lam, weighted_max(delta, x, lam, rtol, floor_c, floor_psi, is_psi)
