"""The residual and border of a system with voltage-gated channels, compiled.

A model with channels (:mod:`pnp.discretisation.channels`) but no swelling
cell has the gates as its only border unknowns (:mod:`pnp.solvers.bordered`).
Its assembly at a state x is:

1. each conductor's factor f and each gate's df/dx (``channels._factors``);
2. with the Jacobian, for each conductor j, the cells' residual with f_j
   moved by its difference step (the conductors' faces written at the
   shifted factors, ``channels._apply``; the kernel without Jacobian);
3. the faces at f and the kernel's residual and band Jacobian (the pumps'
   sources and in-band Jacobian with them);
4. the gates' rows at V_m (``channels._gate_rows``) and, with the
   Jacobian, the gates' columns (:func:`pnp.solvers.schur.gate_columns`).

:func:`assemble` does all of it in one compiled call, for the compiled
Newton loop (:func:`pnp.solvers.iteration.modified_newton`) and for
:meth:`pnp.solvers.bordered.Bordered.assemble` alike, so both give the same
bits. :func:`gate_tables` gathers its arguments from a model.
"""

from __future__ import annotations

from ..compiled import njit
from ..discretisation import kernel, pumps
from ..discretisation.channels import (
    FACTOR_STEP,
    _apply,
    _factors,
    _gate_rows,
    face_tables,
    factor_tables,
    vm_constant,
)
from .schur import factor_steps, gate_columns


def gate_tables(model, bordered) -> tuple:
    """The arguments of :func:`assemble` that describe the channels: the
    flat tables of ``model.channels``, V_m's constant part and coefficients,
    and ``bordered``'s work arrays (gate history, shifted residuals, border
    columns, the k entries of D, the gate rows' dV_m derivatives)."""
    chans = model.channels
    return (
        bordered.n0,
        chans.block.start,
        *factor_tables(model),
        *face_tables(model),
        chans.factors,
        vm_constant(model),
        bordered.vm_index,
        bordered.vm_coef,
        model.thermal_voltage,
        chans.rates,
        chans.rate_factor,
        bordered.beta_gates,
        bordered.shifted,
        bordered.columns,
        bordered.diag,
        bordered.gate_dv,
    )


@njit(cache=True)
def assemble(
    x, model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac, pump, gates
):
    """The residual ``res`` (cells, then gates) and, with ``jac``, the band
    ``band`` of the cells and the border's columns, diagonal and gate rows'
    derivatives (module docstring). ``pump``: (pump_cells, pump_values, z,
    n_boundary, block, kl, ku); ``gates``: :func:`gate_tables`."""
    (n0, g0, permeability, gate_channel, exponent, conductor_of, leak, reference, cond_index,
     base_ends, base_start, base_faces, n_cells, face_cond, face_rr, b_cond, applied, vm_const,
     vm_index, vm_coef, vt, rates, rate_factor, beta_gates, shifted, columns, diag,
     dv) = gates  # fmt: skip
    cells, values, z, nb, block, kl, ku = pump
    n_gates = gate_channel.shape[0]
    core = x[:n0]
    cells_res = res[:n0]
    f, dfdx = _factors(
        x[g0 : g0 + n_gates], permeability, gate_channel, exponent, conductor_of, leak, reference
    )
    tables = (cond_index, base_ends, base_start, base_faces, n_cells, face_cond, face_rr, b_cond)
    if cells.shape[0]:
        pumps.sources(core, nb, block, cells, values, source)
    steps = factor_steps(f, FACTOR_STEP)
    n_cond = f.shape[0]
    # with the Jacobian each conductor's shifted residual first, then the
    # residual at f (one call site of the kernel: it is compiled into the
    # loop once)
    for j in range(0 if jac else n_cond, n_cond + 1):
        main = j == n_cond
        moved, out = f, cells_res
        if not main:
            moved, out = f.copy(), shifted[j]
            moved[j] += steps[j]
        _apply(moved, *tables)
        full = jac and main
        kernel.assemble(
            core, *model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, out, band, full
        )
    if jac and cells.shape[0]:
        pumps.add_jacobian(core, nb, block, cells, values, z, cont, band, kl, ku)
    applied[:] = f
    total = vm_const
    for e in range(vm_index.shape[0]):
        total += vm_coef[e] * x[vm_index[e]]
    _gate_rows(
        x[g0 : g0 + n_gates], total * vt * 1e3, alpha_d, beta_gates, rates, rate_factor,
        vt * 1e3, res[g0 : g0 + n_gates], diag[:n_gates], dv,
    )  # fmt: skip
    if jac:
        gate_columns(shifted, cells_res, steps, dfdx, gate_channel, conductor_of, columns)
