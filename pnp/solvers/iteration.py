"""The Newton iteration of a transient step, compiled.

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

:func:`modified_newton` is the whole modified Newton solve of a step in one
call: the pumps' sources (:mod:`pnp.discretisation.pumps`), the kernel's
assembly, the factorization when due, :func:`update`, and the stopping
rules (:func:`verdict`, :func:`after_update`), which the Python loop of
:func:`pnp.solvers.reuse.modified_newton` calls too. The two loops give
the same bits (tests/test_compiled_loop.py).

:func:`bdf_step` is a whole BDF step's solve in one call for the same
systems: the step's terms (:func:`pnp.solvers.history.step_terms`), the
modified Newton solve with the kept factorization and, when that fails,
again from the predictor with a new one (as
:meth:`pnp.solvers.reuse.Reuse.newton`), and for a converged state its
error norm and history entries. The stepper (:mod:`pnp.solvers.bdf`) calls
it through :meth:`pnp.solvers.reuse.Reuse.step` and takes its Python path
(the same operations in the same order) otherwise; both give the same bits
(tests/test_compiled_loop.py, tests/test_reuse.py).

They serve systems without border unknowns, systems whose only border
unknowns are the gates of voltage-gated channels (the assembly is then
:func:`pnp.solvers.gated.assemble`) and swelling cells without channels
(a volume unknown and a moving mesh: :func:`pnp.solvers.swollen.assemble`,
dV/dt's history, the amounts of an accepted state at its scale, the closed
compartments projected at the iterate's volumes); with a border the
factorization and update are the Schur complement's of
:mod:`pnp.solvers.schur`, as the Python path's
:class:`pnp.solvers.bordered.Bordered` calls them. Without gates the
``gates`` argument is None, without a volume ``volume``, without either
``border``, and numba prunes their branches, so a plain system's loop
holds no gate or volume code. Gates with a volume keep the Python path.
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit
from ..discretisation import kernel, pumps
from ..discretisation.kernel import weighted_max
from . import gated, swollen
from .banded import _equilibrate_factor, _scale_substitute
from .history import all_finite, error_norm, max_abs_strided, record_state, step_terms
from .schur import schur_factor, schur_substitute


@njit(cache=True)
def update(lu, delta, kl, ku, piv, row_scale, x, *rest):
    """Solve for the update and apply it: (finite, lam, norm).

    ``delta`` holds the residual and receives the update -J0^{-1} R (``lu``,
    ``piv``, ``row_scale``: the factorization); then :func:`apply_update`
    with ``rest``, its arguments after ``x``.
    """
    n = delta.shape[0]
    for i in range(n):
        delta[i] = -delta[i]
    _scale_substitute(lu, delta.reshape((n, 1)), kl, ku, piv, row_scale)
    return apply_update(delta, x, *rest)


@njit(cache=True)
def apply_update(
    delta,
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
    """The update ``delta`` checked and applied, as
    :func:`pnp.solvers.newton.apply_update` does: (finite, lam, norm).

    When ``delta`` is not finite, returns (False, 0, inf) with ``x``
    untouched. Else x += lam delta, lam = min(1, dpsi_max / max |potential
    update|) (1 when that is 0); then the closed compartments' amounts:
    compartment k's concentrations are
    ``x[proj_index[proj_start[k]:proj_start[k + 1]]]``, its cell volumes
    ``proj_volume`` over the same range, its amount ``proj_amount[k]``;
    then the norm max |lam delta_i| / (rtol |x_i| + floor_i) at the new x.
    """
    n = delta.shape[0]
    if not all_finite(delta):
        return False, 0.0, np.inf
    lam = damping(delta, psi_start, psi_stop, psi_step, psi_extra, dpsi_max)
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


@njit(cache=True)
def damping(delta, psi_start, psi_stop, psi_step, psi_extra, dpsi_max):
    """The damping factor of the update ``delta``: min(1, dpsi_max / max
    |potential update|), 1 when that is 0."""
    dpsi = max_abs_strided(delta, psi_start, psi_stop, psi_step, psi_extra)
    return min(1.0, dpsi_max / dpsi) if dpsi > 0 else 1.0


# How a compiled modified Newton ended (the first result of modified_newton)
CONVERGED, ROUND_OFF, BAD_RESIDUAL, SINGULAR, BAD_UPDATE, DIVERGED, NOT_CONVERGED = range(1, 8)
SINGULAR_BORDER = 8  # the Schur complement of the border (gates, volume) is singular


@njit(cache=True)
def verdict(norm, previous, jac, older, polish, slow_rate):
    """:mod:`pnp.solvers.reuse`'s stopping rules after an undamped update of
    norm ``norm`` (``previous``: the last one's, inf if none or damped),
    made with a new factorization (``jac``) or with one from an earlier
    iterate (``older``: from an earlier step). Returns (0, CONVERGED or
    ROUND_OFF; whether to factor anew)."""
    if jac:  # a Newton step: full Newton's tests
        if norm <= 1.0:
            return CONVERGED, False
        if norm <= 10.0 and norm > 0.5 * previous:
            return ROUND_OFF, False
        return 0, False
    if norm <= polish:
        return CONVERGED, False
    if previous == np.inf:
        return 0, False
    rate = norm / previous
    if rate < 1.0 and norm <= 1.0 and rate / (1.0 - rate) * norm <= polish:
        return CONVERGED, False
    if rate > slow_rate and (older or norm > 1.0):
        return 0, True
    if rate > 0.5 and norm <= 1.0:  # this step's factorization: round-off
        return ROUND_OFF, False
    return 0, False


@njit(cache=True)
def after_update(lam, norm, previous, best, jac, older, it, polish, slow_rate):
    """What a modified Newton does after the update of iteration ``it`` (its
    damping ``lam`` and norm; ``previous``, ``best``: the last undamped and
    the smallest norms so far; ``jac``, ``older`` as :func:`verdict`).
    Returns (status: 0 to go on, CONVERGED, ROUND_OFF or DIVERGED; factor
    anew; older; previous; best) for the next iteration. Both loops, the
    compiled and :func:`pnp.solvers.reuse.modified_newton`, take their
    decisions here."""
    fresh = False
    if lam < 1.0:  # damped: no convergence, no rate
        if older:  # an old factorization sent it far: a new one
            fresh, older = True, False
    else:
        status, fresh = verdict(norm, previous, jac, older, polish, slow_rate)
        if status:
            return status, fresh, older, previous, best
        older = older and not fresh
    previous = norm if lam == 1.0 else np.inf
    best = min(best, norm)
    if it >= 4 and norm > 1e4 * best:
        return DIVERGED, fresh, older, previous, best
    return 0, fresh, older, previous, best


@njit(cache=True)
def modified_newton(
    x,
    model_args,
    alpha_c,
    alpha_d,
    beta_c,
    beta_d,
    cont,
    source,
    res,
    band,
    factors,
    piv,
    row_scale,
    kl,
    ku,
    update_args,
    pump,
    gates,
    border,
    volume,
    fresh,
    max_iter,
    polish,
    slow_rate,
):
    """:func:`pnp.solvers.reuse.modified_newton` in one compiled call, for a
    system without border unknowns, with gates alone or with a swelling
    cell's volume alone.

    Each iteration: the pumps' sources, the kernel's residual (and band
    Jacobian when a factorization is due) at ``x``, assembled into ``band``
    (with gates: :func:`pnp.solvers.gated.assemble`, ``gates`` its tables;
    with a volume :func:`pnp.solvers.swollen.assemble`, ``volume`` its);
    a due factorization swaps ``band`` and ``factors`` (as
    :meth:`pnp.solvers.newton.System.take_band`) and factors in place (with
    a border then the Schur complement, ``border``:
    :meth:`pnp.solvers.bordered.Bordered.loop_border`); then :func:`update`
    (``update_args``: its arguments after ``x``). Returns
    (status, iterations, norm, info, factorizations,
    updates): status one of CONVERGED ... NOT_CONVERGED, ``info`` the zero
    pivot (1-based) of a SINGULAR factorization, ``updates`` the updates
    applied (each factorization traded the two bands' places once).
    """
    previous = np.inf
    best = np.inf
    norm = np.inf
    older = not fresh  # the factorization is from an earlier step
    n_factor = 0
    n_update = 0
    n0 = _banded_size(gates, volume, x.shape[0])
    band_piv, band_scale = piv[:n0], row_scale[:n0]
    for it in range(1, max_iter + 1):
        jac = fresh
        fresh = False
        _assemble(
            x, model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac, pump,
            gates, volume,
        )  # fmt: skip
        if not all_finite(res):
            return BAD_RESIDUAL, it, np.inf, 0, n_factor, n_update
        if jac:
            band, factors = factors, band
        lu = factors.T[:n0].T  # the cells' band (all of it without gates)
        if jac:
            n_factor += 1
            info = _equilibrate_factor(lu, kl, ku, band_piv, band_scale)
            if info > 0:
                return SINGULAR, it, np.inf, info, n_factor, n_update
            if _factor_border(lu, kl, ku, band_piv, band_scale, border):
                return SINGULAR_BORDER, it, np.inf, 0, n_factor, n_update
        finite, lam, norm = _update(lu, res, kl, ku, piv, row_scale, x, update_args, border, volume)
        if not finite:
            return BAD_UPDATE, it, np.inf, 0, n_factor, n_update
        n_update += 1
        status, fresh, older, previous, best = after_update(
            lam, norm, previous, best, jac, older, it, polish, slow_rate
        )
        if status:
            return status, it, norm, 0, n_factor, n_update
    return NOT_CONVERGED, max_iter, norm, 0, n_factor, n_update


# Without gates ``gates`` is None, without a volume ``volume``, without
# either ``border``: numba prunes the branches on ``is None`` before it types
# a function, so the loop compiled for a plain system holds no gate or
# volume code (and dispatches no tables), a gated one no volume code.


@njit(cache=True)
def _banded_size(gates, volume, n):
    """The unknowns in the band: all ``n`` without border unknowns."""
    if volume is not None:
        return volume[0]
    if gates is None:
        return n
    return gates[0]


@njit(cache=True)
def _assemble(x, model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac, pump,
              gates, volume):  # fmt: skip
    """The residual (and band when ``jac``): the pumps' sources and the
    kernel's, then the pumps' in-band Jacobian; with gates
    :func:`pnp.solvers.gated.assemble`, with a volume
    :func:`pnp.solvers.swollen.assemble`."""
    if volume is not None:
        swollen.assemble(
            x, model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac, pump,
            volume,
        )  # fmt: skip
    elif gates is None:
        cells, values, z, nb, block, kl, ku = pump
        if cells.shape[0]:
            pumps.sources(x, nb, block, cells, values, source)
        kernel.assemble(
            x, *model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac
        )
        if jac and cells.shape[0]:
            pumps.add_jacobian(x, nb, block, cells, values, z, cont, band, kl, ku)
    else:
        gated.assemble(
            x, model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac, pump,
            gates,
        )  # fmt: skip


@njit(cache=True)
def _factor_border(lu, kl, ku, piv, row_scale, border):
    """After the band's factorization ``lu``: the gates' columns and rows as
    assembled kept, Y = J^-1 B and the Schur complement's LU
    (:func:`pnp.solvers.schur.schur_factor`). Returns whether it is singular
    (False without border unknowns)."""
    if border is None:
        return False
    columns, dv, kept, kept_dv, schur, schur_piv, _, _, vm_index, vm_coef, row, diag, vol = border
    kept[:] = columns
    kept_dv[:] = dv
    rows = (lu, vm_index, vm_coef, kept_dv, dv.shape[0], row, vol, diag)
    return schur_factor(kept, kl, ku, piv, row_scale, rows, schur, schur_piv) > 0


@njit(cache=True)
def _update(lu, res, kl, ku, piv, row_scale, x, update_args, border, volume):
    """The update from the residual ``res`` and its application to ``x``:
    :func:`update`, or with a border
    :func:`pnp.solvers.schur.schur_substitute` then :func:`apply_update`
    (with a volume, the closed compartments' volumes at the new iterate's
    scale first). Returns (finite, lam, norm)."""
    if border is None:
        return update(lu, res, kl, ku, piv, row_scale, x, *update_args)
    _, dv, kept, kept_dv, schur, schur_piv, y0, right, vm_index, vm_coef, row, diag, vol = border
    n0 = kept.shape[0]
    rows = (lu, vm_index, vm_coef, kept_dv, dv.shape[0], row, vol, diag)
    schur_substitute(res, y0, kl, ku, piv[:n0], row_scale[:n0], kept, rows, schur, schur_piv, right)
    if volume is not None:
        _project_volumes(res, x, update_args, volume)
    return apply_update(res, x, *update_args)


@njit(cache=True)
def _project_volumes(delta, x, update_args, volume):
    """The closed compartments' cell volumes at the scale ``x`` will have
    after :func:`apply_update` of ``delta`` (a finite one)."""
    psi_start, psi_stop, psi_step, psi_extra, dpsi_max, proj_index = update_args[:6]
    if proj_index.shape[0] == 0 or not all_finite(delta):
        return
    lam = damping(delta, psi_start, psi_stop, psi_step, psi_extra, dpsi_max)
    n0 = volume[0]
    scale = x[n0] + delta[n0] if lam == 1.0 else x[n0] + lam * delta[n0]
    swollen.project_volumes(scale, volume, proj_index, update_args[7])


@njit(cache=True)
def gate_history(h, q, a, states, gates):
    """The history part of the gates' time terms, -(a_1 x_n + ... + a_q
    x_{n-q+1}) / h over the gates (``gates``:
    :func:`pnp.solvers.gated.gate_tables`, None without gates), into their
    ``beta_gates`` (:func:`gates_history`, which the stepper's Python path
    calls too)."""
    if gates is not None:
        gates_history(h, q, a, states, gates[1], gates[23])


@njit(cache=True)
def gates_history(h, q, a, states, g0, out):
    """:func:`gate_history` on the gates from unknown ``g0`` of each state,
    into ``out``; the stepper's Python path calls it too."""
    x0 = states[0]
    c1 = -a[1] / h
    for i in range(out.shape[0]):
        out[i] = x0[g0 + i] * c1
    for j in range(2, q + 1):
        if a[j] != 0.0:
            xj = states[j - 1]
            for i in range(out.shape[0]):
                out[i] -= a[j] * xj[g0 + i] / h


@njit(cache=True)
def bdf_step(
    steps,
    q,
    n_states,
    states,
    amounts,
    displacements,
    alpha_c,
    beta_c,
    kept_alpha,
    refactor_alpha,
    model_args,
    band,
    factors,
    loop,
    max_iter,
    polish,
    slow_rate,
    error_weights,
    record,
):
    """A BDF step's solve in one compiled call, for the systems of
    :func:`modified_newton`: :func:`pnp.solvers.history.step_terms`, then
    :func:`modified_newton` from the predictor with the kept factorization
    if it was made at this step's alpha (``kept_alpha``: nan when none may
    be used; within ``refactor_alpha`` relative) and, if that fails, once
    more from the predictor with a new one; then, when it converged, the
    error estimate's norm (:func:`pnp.solvers.history.error_norm`;
    ``error_weights`` = rtol, floor_c, floor_psi, is_psi) and the state's
    history entries (:func:`pnp.solvers.history.record_state`; ``record``:
    its ``geometry``). :meth:`pnp.solvers.reuse.Reuse.newton`
    and the stepper's Python path do the same in the same order.

    ``loop``: :meth:`pnp.solvers.newton.System.loop_args`. Returns (a,
    beta_d, x, status, iterations, norm, info, factorizations, updates,
    made, error, entries): ``made`` whether the last solve factored (its
    last factorization is then the one kept); ``error`` 0
    without an estimate (one state) or convergence; ``entries`` (copy,
    contents, displacements) of x, empty when it did not converge.
    """
    a, beta_d, pred, x = step_terms(
        steps, q, n_states, states, amounts, displacements, alpha_c, beta_c
    )
    alpha = a[0] / steps[0]
    cont, source, res, piv, row_scale, kl, ku, upd, pump, gates, border, volume = loop
    gate_history(steps[0], q, a, states, gates)  # the gates' history (none: nothing)
    _volume_history(steps[0], q, a, volume)  # dV/dt's (none: nothing)
    usable = abs(alpha - kept_alpha) <= refactor_alpha * kept_alpha
    start = x.copy() if usable else x
    fresh = not usable
    total = n_factor = n_update = 0
    for _ in range(2):  # one call site: the loop is compiled into the step once
        status, it, norm, info, again, more = modified_newton(
            x, model_args, alpha_c, alpha, beta_c, beta_d, cont, source, res, band, factors, piv,
            row_scale, kl, ku, upd, pump, gates, border, volume, fresh, max_iter, polish,
            slow_rate,
        )  # fmt: skip
        total += it
        n_factor += again
        n_update += more
        made = again > 0
        if fresh or status == CONVERGED or status == ROUND_OFF:
            break
        # the kept factorization failed: from the predictor with a new one
        x[:] = start
        if again % 2:
            band, factors = factors, band
        fresh = True
    it = total
    error = 0.0
    if status != CONVERGED and status != ROUND_OFF:
        empty = np.empty(0)
        return (
            a, beta_d, x, status, it, norm, info, n_factor, n_update, made, error,
            (empty, np.empty((0, 0)).T, empty),
        )  # fmt: skip
    if n_states >= 2:
        rtol, floor_c, floor_psi, is_psi = error_weights
        error = error_norm(pred, x, rtol, floor_c, floor_psi, is_psi)
    entries = _record(x, record, volume)
    return a, beta_d, x, status, it, norm, info, n_factor, n_update, made, error, entries


@njit(cache=True)
def _volume_history(h, q, a, volume):
    """:func:`pnp.solvers.swollen.volume_history` with a volume."""
    if volume is not None:
        swollen.volume_history(h, q, a, volume[8])


@njit(cache=True)
def _record(x, record, volume):
    """:func:`pnp.solvers.history.record_state`; with a volume at ``x``'s
    scale (the model's arrays moved there first), its contents amounts per
    cell (:func:`pnp.solvers.newton.accepted`)."""
    if volume is None:
        return record_state(x, record)
    swollen.at_state(x, volume)
    entries = record_state(x, record)
    swollen.amounts(entries[1], volume)
    return entries
