"""A swelling cell's moving mesh and volume balance, compiled.

:mod:`pnp.discretisation.swelling` states the physics; this module holds
its arithmetic on arrays, so that the compiled Newton loop
(:mod:`pnp.solvers.swollen`) and the Python path (``swelling.set_scale``,
``swelling.volume_residual`` ...) make the same operations in the same
order and give the same bits.

- :func:`move_mesh` places the faces at a scale s of the inside
  compartment and writes every array that depends on where they are into
  the model's own arrays (they keep their identity): widths, face areas,
  cell volumes, the Poisson and species face conductances, the
  boundaries' geometric terms (:mod:`pnp.discretisation.geometry`'s
  compiled cores) and the inside's fixed charge, diluted (its amount
  kept). A few passes over the N cells: cheap enough to form at each of
  Newton's two scales (s + ds and s) every iteration.
- :func:`osmolarity`, :func:`balance` and :func:`balance_row`: the
  phi-weighted osmolarity of a run of cells, the volume residual and its
  row (exact: linear in the concentrations).

Concentration i of cell k is ``x[offset + k (S + 1) + i]`` (the layout's
cell blocks, species first).
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit
from ..constants import FARADAY, VACUUM_PERMITTIVITY, thermal_voltage
from .geometry import _boundary_core, _boundary_kinds, _face_conductance_core, _poisson_core

#: :func:`cell_geometry`'s codes of the geometries.
GEOMETRY_CODE = {"cartesian": 0, "cylindrical": 1, "spherical": 2}


def move_tables(model) -> tuple:
    """(reads, writes) of :func:`move_mesh` for ``model``, formed once per
    model (``model.moving``): what every scale reads (the mesh at scale 1,
    the permittivities, diffusivities, face kinds, boundary kinds, the
    inside's fixed amounts) and the arrays it writes, the model's own, with
    ``writes[-1]`` the one-entry scale they are at (``model.scale`` when
    formed)."""
    sw, mesh = model.swelling, model.mesh
    lo, hi = sorted((sw.anchor, sw.moving))
    eps0_scaled = VACUUM_PERMITTIVITY * thermal_voltage(model.case.temperature) / FARADAY
    reads = (
        sw.base_faces,
        sw.anchor,
        sw.moving,
        lo,
        hi,
        GEOMETRY_CODE[sw.geometry],
        model.eps_r,
        model.d_cell.copy(),  # as built: channels rewrite faces, never cells
        model.face_kind,
        eps0_scaled,
        *_boundary_kinds(model.case, mesh),
        sw.inside.start,
        sw.inside.stop,
        sw.fixed_inside,
    )
    writes = (
        mesh.faces.copy(),
        mesh.widths.copy(),
        mesh.face_area.copy(),
        model.volume,
        model.pois_cond,
        model.pois_wleft,
        model.face_cond,
        model.face_rr,
        model.b_sigma,
        model.b_current,
        model.b_pois_cond,
        model.b_pois_next,
        model.b_cond,
        model.rho_fixed,
        np.array([model.scale]),
    )
    return reads, writes


@njit(cache=True)
def place_faces(scale, base, anchor, moving, lo, hi, faces):
    """The faces at ``scale``: the inside compartment's (``lo`` .. ``hi``)
    stretched about the inside boundary's face ``anchor``, every other
    translated with the membrane's inner face ``moving``."""
    xb = base[anchor]
    shift = (base[moving] - xb) * (scale - 1.0)
    for i in range(base.shape[0]):
        faces[i] = base[i] + shift
    for i in range(lo, hi + 1):
        faces[i] = xb + scale * (base[i] - xb)


@njit(cache=True)
def cell_geometry(faces, geometry, area, volume):
    """Face areas and cell volumes of ``faces`` in ``geometry``
    (:data:`GEOMETRY_CODE`), as :func:`pnp.discretisation.mesh.geometry_factors`."""
    n = volume.shape[0]
    if geometry == 0:
        for i in range(n + 1):
            area[i] = 1.0
        for i in range(n):
            volume[i] = faces[i + 1] - faces[i]
    elif geometry == 1:
        for i in range(n + 1):
            area[i] = faces[i]
        for i in range(n):
            volume[i] = (faces[i + 1] * faces[i + 1] - faces[i] * faces[i]) / 2.0
    else:
        for i in range(n + 1):
            area[i] = faces[i] * faces[i]
        for i in range(n):
            hi, lo = faces[i + 1], faces[i]
            volume[i] = (hi * hi * hi - lo * lo * lo) / 3.0


@njit(cache=True)
def move_mesh(scale, reads, writes):
    """Every array of ``writes`` (:func:`move_tables`) at ``scale``."""
    (base, anchor, moving, lo, hi, geometry, eps_r, d_cell, face_kind, eps0_scaled, charge,
     current, kind, inside_start, inside_stop, fixed_inside) = reads  # fmt: skip
    (faces, widths, area, volume, pois_cond, pois_wleft, face_cond, face_rr, b_sigma, b_current,
     b_pois_cond, b_pois_next, b_cond, rho_fixed, now) = writes  # fmt: skip
    place_faces(scale, base, anchor, moving, lo, hi, faces)
    for i in range(widths.shape[0]):
        widths[i] = faces[i + 1] - faces[i]
    cell_geometry(faces, geometry, area, volume)
    _poisson_core(widths, area, eps_r, eps0_scaled, pois_cond, pois_wleft)
    _face_conductance_core(widths, area, d_cell, face_kind, face_cond, face_rr)
    _boundary_core(
        widths, area, eps_r, d_cell, eps0_scaled, charge, current, kind,
        b_sigma, b_current, b_pois_cond, b_pois_next, b_cond,
    )  # fmt: skip
    # the water dilutes the inside's fixed charge; its amount is kept
    for i in range(inside_start, inside_stop):
        rho_fixed[i] = fixed_inside[i - inside_start] / volume[i]
    now[0] = scale


@njit(cache=True)
def span_sum(values, start, stop):
    """values[start] + ... + values[stop - 1], in that order."""
    total = 0.0
    for i in range(start, stop):
        total += values[i]
    return total


@njit(cache=True)
def osmolarity(x, offset, n_species, phi, volume, start, stop):
    """The phi-weighted osmolarity of cells ``start`` .. ``stop`` at ``x``
    [mol/m^3]: sum_k phi_k V_k sum_i c_ik / sum_k V_k (``phi`` per cell of
    the run)."""
    m = n_species + 1
    weighted = 0.0
    for k in range(start, stop):
        total = 0.0
        for i in range(n_species):
            total += x[offset + k * m + i]
        weighted += phi[k - start] * volume[k] * total
    return weighted / span_sum(volume, start, stop)


@njit(cache=True)
def water_flux(x, offset, n_species, volume, water):
    """J_w [m/s], outward positive, and the inside volume V at ``x`` on
    ``volume`` (the cell volumes at x's scale). ``water``: (inside start,
    stop, phi inside, bath start, stop, phi in the bath, L_p, stiffness K,
    V0, RT)."""
    start, stop, phi_in, bath_start, bath_stop, phi_bath, lp, stiffness, v0, rt = water
    v = span_sum(volume, start, stop)
    osm_in = osmolarity(x, offset, n_species, phi_in, volume, start, stop)
    osm_out = osmolarity(x, offset, n_species, phi_bath, volume, bath_start, bath_stop)
    pressure = stiffness * (v / v0 - 1.0)
    return lp * (pressure - rt * (osm_in - osm_out)), v


@njit(cache=True)
def balance(x, offset, n_species, volume, area, alpha, beta, water):
    """The volume residual alpha V - beta + A J_w (dV/dt + A J_w, dV/dt ~
    alpha V - beta; ``area`` A, the membrane's at its mid face)."""
    flux, v = water_flux(x, offset, n_species, volume, water)
    return alpha * v - beta + area * flux


@njit(cache=True)
def balance_row(offset, n_species, volume, area, water, out):
    """d(:func:`balance`)/d(state) at a fixed scale into ``out``: -A L_p RT
    phi_k V_k / V on every concentration of inside cell k, + ... / V_bath
    beside the membrane, 0 elsewhere."""
    start, stop, phi_in, bath_start, bath_stop, phi_bath, lp, _, _, rt = water
    out[:] = 0.0
    factor = area * lp * rt
    _row_part(-factor, offset, n_species, volume, phi_in, start, stop, out)
    _row_part(factor, offset, n_species, volume, phi_bath, bath_start, bath_stop, out)


@njit(cache=True)
def _row_part(factor, offset, n_species, volume, phi, start, stop, out):
    """:func:`balance_row` on cells ``start`` .. ``stop``: factor phi_k V_k / V."""
    m = n_species + 1
    total = span_sum(volume, start, stop)
    for k in range(start, stop):
        value = factor * phi[k - start] * volume[k] / total
        for i in range(n_species):
            out[offset + k * m + i] = value


def water_tables(model) -> tuple:
    """:func:`water_flux`'s ``water`` of ``model``."""
    sw = model.swelling
    return (
        sw.inside.start,
        sw.inside.stop,
        sw.phi_inside,
        sw.bath.start,
        sw.bath.stop,
        sw.phi_bath,
        sw.water_permeability,
        sw.stiffness,
        sw.reference_volume,
        sw.rt,
    )
