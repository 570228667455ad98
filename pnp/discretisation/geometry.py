"""The model arrays that depend on where the faces are, compiled.

A :class:`pnp.discretisation.model.Model` holds, besides what the case sets,
arrays formed from the mesh's widths and face areas: the Poisson face
conductances and weights (half cells of permittivity in series), the
species' face conductances (half cells of diffusivity in series: a
Scharfetter-Gummel face holds the series conductance, an interface face
its two halves), and the boundaries' geometric terms (surface charge and
current per face area, the half cell to the boundary, the second-order
wall gradient, a reservoir's half-cell conductances). A model builds them
once; a moving mesh (a swelling cell, :func:`pnp.discretisation.swelling.set_scale`)
forms them again at every new scale of its inside compartment, several
times per time step, so :func:`geometric_arrays` is one compiled call.
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit
from ..constants import FARADAY, VACUUM_PERMITTIVITY, thermal_voltage
from . import kernel
from .mesh import Mesh


def geometric_arrays(
    case, mesh: Mesh, eps_r, d_cell, face_kind, boundary=None
) -> dict[str, np.ndarray]:
    """The :class:`Model` arrays that depend on where the faces are, on ``mesh``.

    What a moving mesh recomputes (:func:`pnp.discretisation.swelling.set_scale`);
    ``d_cell`` is (S, N) per cell, ``face_kind`` the model's (it
    does not depend on where the faces are), ``boundary`` the
    :func:`_boundary_kinds` of ``case`` on ``mesh`` if known (they do not
    either). One compiled call.
    """
    eps0_scaled = VACUUM_PERMITTIVITY * thermal_voltage(case.temperature) / FARADAY
    if boundary is None:
        boundary = _boundary_kinds(case, mesh)
    arrays = _geometric_core(
        mesh.widths, mesh.face_area, eps_r, d_cell, face_kind, eps0_scaled, *boundary
    )
    return dict(zip(GEOMETRIC, arrays, strict=True))


#: The arrays :func:`geometric_arrays` returns, in :func:`_geometric_core`'s order.
GEOMETRIC = (
    "pois_cond",
    "pois_wleft",
    "face_cond",
    "face_rr",
    "b_sigma",
    "b_current",
    "b_pois_cond",
    "b_pois_next",
    "b_cond",
)


@njit(cache=True)
def _geometric_core(h, area, eps_r, d_cell, face_kind, eps0_scaled, charge, current, kind):
    """:func:`geometric_arrays`' arrays, in ``GEOMETRIC``'s order."""
    n = h.shape[0]
    pois_cond, pois_wleft = np.zeros(n + 1), np.zeros(n + 1)
    _poisson_core(h, area, eps_r, eps0_scaled, pois_cond, pois_wleft)
    face_cond, face_rr = np.zeros(face_kind.shape), np.zeros(face_kind.shape)
    _face_conductance_core(h, area, d_cell, face_kind, face_cond, face_rr)
    b_sigma, b_current = np.zeros(2), np.zeros(2)
    b_pois_cond, b_pois_next = np.zeros(2), np.zeros(2)
    b_cond = np.zeros((2, d_cell.shape[0]))
    _boundary_core(
        h, area, eps_r, d_cell, eps0_scaled, charge, current, kind,
        b_sigma, b_current, b_pois_cond, b_pois_next, b_cond,
    )  # fmt: skip
    return (
        pois_cond,
        pois_wleft,
        face_cond,
        face_rr,
        b_sigma,
        b_current,
        b_pois_cond,
        b_pois_next,
        b_cond,
    )


def _poisson_faces(mesh: Mesh, eps_r: np.ndarray, eps0_scaled: float):
    """Poisson on interior faces: half cells in series (harmonic eps).

    Returns the face conductances and the left weight w of psi_f = w psi_L + (1-w) psi_R.
    """
    N = mesh.n_cells
    pois_cond = np.zeros(N + 1)
    pois_wleft = np.zeros(N + 1)
    _poisson_core(mesh.widths, mesh.face_area, eps_r, eps0_scaled, pois_cond, pois_wleft)
    return pois_cond, pois_wleft


@njit(cache=True)
def _poisson_core(h, area, eps_r, eps0_scaled, pois_cond, pois_wleft):
    """Interior faces 1..N-1 of :func:`_poisson_faces` (compiled: a moving
    mesh recomputes them at every new scale)."""
    for f in range(1, h.shape[0]):
        half_l = h[f - 1] / (2.0 * eps_r[f - 1])
        half_r = h[f] / (2.0 * eps_r[f])
        pois_cond[f] = area[f] * eps0_scaled / (half_l + half_r)
        pois_wleft[f] = half_r / (half_l + half_r)


def _face_conductances(mesh: Mesh, d_cell: np.ndarray, face_kind: np.ndarray):
    """(face_cond, face_rr), each (S, N+1), of faces of these kinds on ``mesh``.

    Half-cell resistances rL = (h_L/2)/(D_L A), rR = (h_R/2)/(D_R A): an SG
    face holds the series conductance 1/(rL + rR); an interface face holds rL
    in ``face_cond`` (one array for both: a face is one kind or the other) and
    rR in ``face_rr``; a closed face 0. Also what a moving mesh recomputes.
    """
    face_cond = np.zeros(face_kind.shape)
    face_rr = np.zeros(face_kind.shape)
    _face_conductance_core(mesh.widths, mesh.face_area, d_cell, face_kind, face_cond, face_rr)
    return face_cond, face_rr


@njit(cache=True)
def _face_conductance_core(widths, area, d_cell, face_kind, face_cond, face_rr):
    """The open interior faces of :func:`_face_conductances` (compiled). A
    face is open only where the species moves on both sides (D > 0)."""
    S, N = d_cell.shape
    for f in range(1, N):
        half_over_area = 0.5 / area[f]
        for i in range(S):
            kind = face_kind[i, f]
            if kind == kernel.CLOSED:
                continue
            rl = (widths[f - 1] * half_over_area) / d_cell[i, f - 1]
            rr = (widths[f] * half_over_area) / d_cell[i, f]
            if kind == kernel.SG:
                face_cond[i, f] = 1.0 / (rl + rr)
            else:
                face_cond[i, f] = rl
                face_rr[i, f] = rr


def _boundary_geometry(case, mesh: Mesh, eps_r, d_cell, eps0_scaled: float) -> dict:
    """The ``b_*`` arrays that depend on where the faces are: b_sigma,
    b_current, b_pois_cond, b_pois_next, b_cond (what a moving mesh recomputes)."""
    out = {
        "b_sigma": np.zeros(2),
        "b_current": np.zeros(2),
        "b_pois_cond": np.zeros(2),
        "b_pois_next": np.zeros(2),
        "b_cond": np.zeros((2, d_cell.shape[0])),
    }
    _boundary_core(
        mesh.widths,
        mesh.face_area,
        eps_r,
        d_cell,
        eps0_scaled,
        *_boundary_kinds(case, mesh),
        *out.values(),
    )
    return out


# how a boundary's geometry is formed beyond its face's area (_boundary_kinds)
WALL_QUADRATIC, RESERVOIR_FACE = 1, 2


def _boundary_kinds(case, mesh: Mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(surface charge, current, kind) of the two boundaries: kind
    ``WALL_QUADRATIC`` for a wall at a potential whose next cell is in the
    same region (second-order gradient), ``RESERVOIR_FACE`` for a reservoir
    (its half-cell conductances), else 0."""
    N, reg = mesh.n_cells, mesh.region
    kind = np.zeros(2, dtype=np.int64)
    for side, bnd in enumerate((case.left, case.right)):
        cell, nxt = (0, 1) if side == 0 else (N - 1, N - 2)
        if bnd.type == "wall" and bnd.potential is not None and N >= 2 and reg[nxt] == reg[cell]:
            kind[side] = WALL_QUADRATIC
        elif bnd.type == "reservoir":
            kind[side] = RESERVOIR_FACE
    charge = np.array([case.left.surface_charge, case.right.surface_charge], dtype=np.float64)
    current = np.array([case.left.current, case.right.current], dtype=np.float64)
    return charge, current, kind


@njit(cache=True)
def _boundary_core(
    h, area, eps_r, d_cell, eps0_scaled, charge, current, kind,
    b_sigma, b_current, b_pois_cond, b_pois_next, b_cond,
):  # fmt: skip
    """:func:`_boundary_geometry` on arrays (compiled: a moving mesh forms it
    at every new scale)."""
    N = h.shape[0]
    for side in range(2):
        cell = 0 if side == 0 else N - 1
        face = 0 if side == 0 else N
        b_sigma[side] = charge[side] * area[face] / FARADAY
        b_current[side] = current[side] * area[face] / FARADAY
        b_pois_cond[side] = area[face] * eps0_scaled * eps_r[cell] / (h[cell] / 2.0)
        if kind[side] == WALL_QUADRATIC:
            # quadratic through (0, psi_b), (x0, psi_cell), (x1, psi_next):
            # dpsi/dn = c_b psi_b + c_0 psi_cell + c_1 psi_next at the wall
            nxt = 1 if side == 0 else N - 2
            x0 = h[cell] / 2.0
            x1 = h[cell] + h[nxt] / 2.0
            eps_area = area[face] * eps0_scaled * eps_r[cell]
            b_pois_cond[side] = eps_area * (x0 + x1) / (x0 * x1)
            b_pois_next[side] = eps_area * x0 / (x1 * (x1 - x0))
        elif kind[side] == RESERVOIR_FACE:
            for i in range(d_cell.shape[0]):
                b_cond[side, i] = area[face] * d_cell[i, cell] / (h[cell] / 2.0)
