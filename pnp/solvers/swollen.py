"""The residual and border of a swelling cell, compiled.

A model whose inside compartment swells (:mod:`pnp.discretisation.swelling`)
without voltage-gated channels has one border unknown, the scale s of that
compartment, last in the state (:mod:`pnp.solvers.bordered`). Its assembly
at a state x is:

1. with the Jacobian, the mesh moved to s + ds (ds = ``SCALE_STEP`` s) and
   there the cells' residual (the kernel without Jacobian, the pumps'
   sources at the membrane's area there) and the volume residual;
2. the mesh moved to s, the cells' residual and band Jacobian (the pumps'
   sources and in-band Jacobian with them) and the volume residual;
3. with the Jacobian, the volume's column and diagonal as one-sided
   differences between the two, and its row (exact).

The species' history terms come as amounts per cell and are divided by the
cell volumes at each scale before the kernel sees them. The mesh moves in
the model's own arrays (:func:`pnp.discretisation.moving.move_mesh`); the
pumps' areas are written into the pump table the assembly is given.

:func:`assemble` does all of it in one compiled call, for the compiled
Newton loop (:func:`pnp.solvers.iteration.modified_newton`) and for
:meth:`pnp.solvers.bordered.Bordered.assemble` alike, so both give the same
bits. :func:`volume_tables` gathers its arguments from a model;
:func:`volume_history`, :func:`at_state`, :func:`amounts` and
:func:`project_volumes`
are the step's other pieces that depend on the scale.
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit
from ..discretisation import kernel, pumps
from ..discretisation.moving import (
    balance,
    balance_row,
    cell_geometry,
    move_mesh,
    move_tables,
    place_faces,
    water_tables,
)
from ..discretisation.swelling import MAX_SCALE, SCALE_STEP


def volume_tables(model, bordered) -> tuple:
    """The arguments of :func:`assemble` that describe the swelling cell:
    :func:`pnp.discretisation.moving.move_tables` (formed once per model),
    the membrane's faces of the pumps, where the concentrations are, the
    water's tables, and ``bordered``'s work arrays."""
    if model.moving is None:
        model.moving = move_tables(model)
    reads, writes = model.moving
    n = model.n_cells
    return (
        bordered.n0,
        reads,
        writes,
        np.array([p.face for p in model.pumps], dtype=np.int64),
        model.layout.n_boundary,
        model.n_species,
        water_tables(model),
        model.swelling.area_face,
        bordered.volume_terms,  # [beta_volume, the history's volumes...]
        bordered.beta_eff,
        bordered.res_scale,
        bordered.columns,
        bordered.diag,
        bordered.row,
        (np.empty(n + 1), np.empty(n + 1), np.empty(n)),  # faces, areas, volumes elsewhere
    )


@njit(cache=True)
def _move(scale, reads, writes, pump_faces, values):
    """The model's arrays at ``scale`` (moved if not there already) and the
    pumps' areas in ``values`` at it."""
    if writes[-1][0] != scale:
        move_mesh(scale, reads, writes)
    area = writes[2]
    for p in range(pump_faces.shape[0]):
        values[p, pumps.AREA] = area[pump_faces[p]]


@njit(cache=True)
def assemble(
    x, model_args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, band, jac, pump, vol
):
    """The residual ``res`` (cells, then the volume) and, with ``jac``, the
    band ``band`` of the cells and the volume's column, diagonal and row
    (module docstring). ``beta_c``: the species' history as amounts per
    cell; ``pump``: (pump_cells, pump_values, z, n_boundary, block, kl,
    ku); ``vol``: :func:`volume_tables`. A scale outside (0, MAX_SCALE]
    (or not finite) makes the residual nan: the iterate is rejected."""
    (n0, reads, writes, pump_faces, offset, n_species, water, area_face, terms, beta_eff,
     res_scale, columns, diag, row, _) = vol  # fmt: skip
    cells, values, z, nb, block, kl, ku = pump
    scale = x[n0]
    if not (np.isfinite(scale) and 0.0 < scale <= MAX_SCALE):
        res[:] = np.nan
        return
    core = x[:n0]
    cells_res = res[:n0]
    volume, area = writes[3], writes[2]
    step = SCALE_STEP * scale
    shifted = 0.0
    # with the Jacobian the residuals at s + ds first, then at s (one call
    # site of the kernel: it is compiled into the loop once)
    for k in range(0 if jac else 1, 2):
        main = k == 1
        _move(scale if main else scale + step, reads, writes, pump_faces, values)
        for c in range(volume.shape[0]):
            for i in range(n_species):
                beta_eff[i, c] = beta_c[i, c] / volume[c]
        if cells.shape[0]:
            pumps.sources(core, nb, block, cells, values, source)
        out = cells_res if main else res_scale
        full = jac and main
        kernel.assemble(
            core, *model_args, alpha_c, alpha_d, beta_eff, beta_d, cont, source, out, band, full
        )
        g = balance(x, offset, n_species, volume, area[area_face], alpha_d, terms[0], water)
        if main:
            res[n0] = g
        else:
            shifted = g
    if jac and cells.shape[0]:
        pumps.add_jacobian(core, nb, block, cells, values, z, cont, band, kl, ku)
    if jac:
        for i in range(n0):
            columns[i, 0] = (res_scale[i] - cells_res[i]) / step
        diag[0] = (shifted - res[n0]) / step
        balance_row(offset, n_species, volume, area[area_face], water, row)


@njit(cache=True)
def volume_history(h, q, a, terms):
    """The history part of dV/dt, -(a_1 V_n + ... + a_q V_{n-q+1}) / h, into
    terms[0] from the history's inside volumes terms[1:] (newest first;
    ``Bordered.volume_terms``). The stepper's Python path calls it too."""
    past = 0.0
    for j in range(1, q + 1):
        if a[j] != 0.0:
            past += a[j] * terms[j]
    terms[0] = -past / h


@njit(cache=True)
def at_state(x, vol):
    """The model's arrays at ``x``'s scale (moved if not there)."""
    n0, reads, writes = vol[0], vol[1], vol[2]
    if writes[-1][0] != x[n0]:
        move_mesh(x[n0], reads, writes)


@njit(cache=True)
def amounts(conc, vol):
    """(S, N) concentrations ``conc`` made amounts per cell, in place, at the
    volumes the model's arrays are at (:func:`at_state`)."""
    volume = vol[2][3]
    for c in range(volume.shape[0]):
        for i in range(conc.shape[0]):
            conc[i, c] *= volume[c]


@njit(cache=True)
def project_volumes(scale, vol, proj_index, proj_volume):
    """The volumes of the closed compartments' cells (``proj_index``: their
    unknowns) at ``scale``, into ``proj_volume``: the projection after a
    Newton update keeps amounts at the new iterate's volumes."""
    reads = vol[1]
    faces, area, volume = vol[14]
    offset, m = vol[4], vol[5] + 1
    place_faces(scale, reads[0], reads[1], reads[2], reads[3], reads[4], faces)
    cell_geometry(faces, reads[5], area, volume)
    for e in range(proj_index.shape[0]):
        proj_volume[e] = volume[(proj_index[e] - offset) // m]
