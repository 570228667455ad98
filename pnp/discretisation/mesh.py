"""Regions → a graded 1D finite-volume mesh with geometry factors.

Region interfaces and walls lie on faces. Beside every interface and charged
wall the smallest cells resolve the local screening length
(``cells_per_debye`` per length) and grow geometrically (``growth``) up to
``max_cell``; membranes get ``membrane_cells`` uniform cells;
``uniform_cells = N`` gives N equal cells in every region instead. The
screening length is the bulk Debye length, or beside a charged or held wall
the Gouy-Chapman length 2 eps RT / (|z| F |sigma|) predicted from the wall's
charge (or, for a held wall, from the Grahame charge of its potential),
whichever is shorter. :mod:`pnp.discretisation.adapt` builds meshes from the
solution instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY, debye_length

MIN_CELLS_PER_REGION = 4
# exponents above this are summed in logs (math.exp overflows above ~709.8)
_EXP_SAFE = 700.0


@dataclass(frozen=True)
class Mesh:
    """A 1D cell-centred mesh (all lengths in m).

    ``face_area`` and ``volume`` carry the geometry: 1 and h (cartesian),
    r and (r_R^2 - r_L^2)/2 (cylindrical, per radian and unit length),
    r^2 and (r_R^3 - r_L^3)/3 (spherical, per steradian).
    """

    faces: np.ndarray  # (N+1,)
    centers: np.ndarray  # (N,)
    widths: np.ndarray  # (N,)
    region: np.ndarray  # (N,) region index of each cell
    region_names: tuple[str, ...]
    region_slices: tuple[tuple[int, int], ...]  # [start, stop) cell range of each region
    face_area: np.ndarray  # (N+1,)
    volume: np.ndarray  # (N,)
    geometry: str

    @property
    def n_cells(self) -> int:
        return self.centers.shape[0]

    def moved(
        self, faces: np.ndarray, face_area: np.ndarray, volume: np.ndarray, widths=None
    ) -> Mesh:
        """This mesh with its faces at ``faces`` (the same cells and regions),
        of areas ``face_area``, volumes ``volume`` and widths ``widths``
        (the faces' differences if None): what a moving mesh makes at every
        new scale. Filled in directly, without ``dataclasses.replace``'s
        generic copy (a few us; nothing to check)."""
        new = object.__new__(Mesh)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(
            faces=faces,
            centers=0.5 * (faces[1:] + faces[:-1]),
            widths=np.diff(faces) if widths is None else widths,
            face_area=face_area,
            volume=volume,
        )
        return new

    @property
    def spacing(self) -> np.ndarray:
        """Centre-to-centre distances of the N-1 interior faces [m]."""
        return np.diff(self.centers)

    def mid_face(self, region: str) -> int:
        """The face in the middle of region ``region`` (by name).

        A membrane's fluxes and currents are measured there and its pump acts
        on that face's area.
        """
        start, stop = self.region_slices[self.region_names.index(region)]
        return (start + stop) // 2


def mesh_from_faces(faces, region, region_names, geometry: str) -> Mesh:
    """The :class:`Mesh` with these faces (N+1,) and region index per cell (N,).

    How a result's mesh is rebuilt (``Result.faces``, ``region``,
    ``region_names``, ``geometry``): each region's cells must be contiguous.
    """
    faces = np.asarray(faces, dtype=float)
    region = np.asarray(region, dtype=np.int64)
    counts = np.bincount(region, minlength=len(region_names))
    stops = np.cumsum(counts)
    starts = np.concatenate([[0], stops[:-1]])
    if np.any(np.diff(region) < 0) or faces.size != region.size + 1:
        raise ValueError("regions must be contiguous, left to right, with one more face than cells")
    area, volume = geometry_factors(faces, geometry)
    return Mesh(
        faces=faces,
        centers=0.5 * (faces[1:] + faces[:-1]),
        widths=np.diff(faces),
        region=region,
        region_names=tuple(region_names),
        region_slices=tuple((int(a), int(b)) for a, b in zip(starts, stops, strict=True)),
        face_area=area,
        volume=volume,
        geometry=geometry,
    )


def geometry_factors(faces: np.ndarray, geometry: str) -> tuple[np.ndarray, np.ndarray]:
    """Face areas and cell volumes of a 1D mesh in ``geometry``."""
    if geometry == "cartesian":
        return np.ones_like(faces), np.diff(faces)
    if geometry == "cylindrical":
        return faces.copy(), np.diff(faces**2) / 2.0
    if geometry == "spherical":
        return faces**2, np.diff(faces**3) / 3.0
    raise ValueError(f"unknown geometry {geometry!r}")


def graded_widths(
    length: float, smallest: float, growth: float, largest: float, left: bool, right: bool
) -> np.ndarray:
    """Cell widths filling ``length``, fine at the flagged ends.

    From a graded end the widths are ``smallest * growth**j`` capped at
    ``largest``; the sequence is scaled down (never up) to fit exactly, so
    the first cell never exceeds ``smallest``.
    """
    if not (left or right) or smallest >= largest:
        n = max(MIN_CELLS_PER_REGION, math.ceil(length / largest - 1e-9))
        return np.full(n, length / n)
    if left and right:
        half = _geometric_fill(length / 2.0, smallest, growth, largest)
        widths = np.concatenate([half, half[::-1]])
    else:
        widths = _geometric_fill(length, smallest, growth, largest)
        if right:
            widths = widths[::-1]
    if widths.size < MIN_CELLS_PER_REGION:
        n = MIN_CELLS_PER_REGION
        return np.full(n, length / n)
    return widths


def _geometric_fill(length: float, smallest: float, growth: float, largest: float) -> np.ndarray:
    sizes = []
    total = 0.0
    h = smallest
    while total < length * (1.0 - 1e-12):
        sizes.append(h)
        total += h
        h = min(h * growth, largest)
    widths = np.asarray(sizes)
    return widths * (length / widths.sum())


def build_mesh(case, refine: int = 1) -> Mesh:
    """Mesh of ``case`` (a :class:`pnp.input.case.Case`).

    ``refine`` divides every cell size by ``refine`` (and takes the
    ``refine``-th root of the growth factor): a family of meshes for
    convergence studies that keeps the same grading shape.
    """
    spec = case.mesh
    valence = {s.name: s.z for s in case.species}
    regions = case.regions
    n_reg = len(regions)
    widths_all = []
    for j, reg in enumerate(regions):
        if spec.uniform_cells is not None:
            n = spec.uniform_cells * refine
            widths_all.append(np.full(n, reg.length / n))
            continue
        if reg.membrane:
            n = spec.membrane_cells * refine
            widths_all.append(np.full(n, reg.length / n))
            continue
        left = j > 0 or _wall_needs_grading(case.left, case.geometry)
        right = j < n_reg - 1 or _wall_needs_grading(case.right, case.geometry)
        lam = debye_length(reg.concentration, valence, reg.eps_r, case.temperature)
        if j == 0:
            lam = min(
                lam,
                wall_screening_length(case.species, case.temperature, reg, case.left, case.right),
            )
        if j == n_reg - 1:
            lam = min(
                lam,
                wall_screening_length(case.species, case.temperature, reg, case.right, case.left),
            )
        smallest = min(lam / spec.cells_per_debye, spec.max_cell) / refine
        widths_all.append(
            graded_widths(
                reg.length,
                smallest,
                spec.growth ** (1.0 / refine),
                spec.max_cell / refine,
                left,
                right,
            )
        )
    return assemble_mesh(case, widths_all)


def assemble_mesh(case, widths_all: list[np.ndarray]) -> Mesh:
    """The :class:`Mesh` of ``case`` with the given cell widths in each region (left to right)."""
    regions = case.regions
    n_reg = len(regions)
    counts = [w.size for w in widths_all]
    ends = np.cumsum([r.length for r in regions])
    starts_x = np.concatenate([[0.0], ends[:-1]])
    # Each region's faces are summed from its nearer end, so that round-off
    # is as small beside both ends (where the finest cells are) and a
    # mirrored case gets the mirrored mesh; region ends sit exactly where the
    # case says.
    pieces = [[0.0]]
    for w, a, b in zip(widths_all, starts_x, ends, strict=True):
        w = w * ((b - a) / w.sum())
        left = a + np.cumsum(w[:-1])
        right = b - np.cumsum(w[::-1][:-1])[::-1]
        half = np.arange(1, w.size) <= w.size / 2
        pieces.append(np.where(half, left, right))
        pieces.append([b])
    faces = np.concatenate(pieces)
    stops = np.cumsum(counts)
    widths = np.diff(faces)
    region = np.repeat(np.arange(n_reg), counts)
    area, volume = geometry_factors(faces, case.geometry)
    starts = np.concatenate([[0], stops[:-1]])
    return Mesh(
        faces=faces,
        centers=0.5 * (faces[1:] + faces[:-1]),
        widths=widths,
        region=region,
        region_names=tuple(r.name for r in regions),
        region_slices=tuple((int(a), int(b)) for a, b in zip(starts, stops, strict=True)),
        face_area=area,
        volume=volume,
        geometry=case.geometry,
    )


def _wall_needs_grading(boundary, geometry: str) -> bool:
    """A wall with a potential or a surface charge carries a double layer."""
    if boundary.type != "wall":
        return False
    if boundary.potential is not None:
        return True
    return boundary.surface_charge != 0.0


def wall_screening_length(species, temperature: float, region, wall, other) -> float:
    """Gouy-Chapman length 2 eps RT / (|z| F |sigma|) beside ``wall`` (inf if none).

    sigma is the wall's surface charge or, for a wall held at a potential,
    the Grahame charge of a flat double layer in ``region``'s contents,
    sigma^2 = 2 eps RT sum_i c_i (exp(-z_i F psi0 / RT) - 1), with psi0 the
    wall potential less that of ``other`` when it is a reservoir (else 0 V).
    z is the largest valence among the counter-ions present. Needs no `Case`:
    the loader's cell estimate (`pnp.input.sections.estimated_cells`) calls
    it too. No overflow: a wall so far from the bulk that sigma exceeds the
    float range gets 0.0 (which the loader refuses as a mesh of infinitely
    many cells).
    """
    if wall.type != "wall":
        return math.inf
    rt = GAS_CONSTANT * temperature
    eps = VACUUM_PERMITTIVITY * region.eps_r
    valence = {s.name: s.z for s in species}
    conc = {k: v for k, v in region.concentration.items() if v > 0.0 and valence.get(k, 0) != 0}
    if wall.potential is not None:
        bulk = other.potential if other.type == "reservoir" and other.potential is not None else 0.0
        psi0 = (wall.potential - bulk) * FARADAY / rt
        sigma = math.copysign(_grahame_charge(eps * rt, conc, valence, psi0), psi0)
    else:
        sigma = wall.surface_charge
    counter = [abs(valence[k]) for k in conc if valence[k] * sigma < 0.0]
    if sigma == 0.0 or not counter:
        return math.inf
    return 2.0 * eps * rt / (max(counter) * FARADAY * abs(sigma))


def _grahame_charge(eps_rt: float, conc: dict, valence: dict, psi0: float) -> float:
    """|sigma| = sqrt(2 eps RT sum_i c_i (exp(-z_i psi0) - 1)), inf beyond the float range."""
    exponents = [(c, -valence[k] * psi0) for k, c in conc.items()]
    top = max((a for _, a in exponents), default=0.0)
    if top <= _EXP_SAFE:
        total = sum(c * math.expm1(a) for c, a in exponents)
        return math.sqrt(max(2.0 * eps_rt * total, 0.0))
    if math.isinf(top):
        return math.inf
    # exp(top) > 1e304: the terms c_i exp(a_i) outweigh the -sum_i c_i beyond round-off
    log_total = top + math.log(sum(c * math.exp(a - top) for c, a in exponents))
    try:
        return math.exp(0.5 * (math.log(2.0 * eps_rt) + log_total))
    except OverflowError:
        return math.inf
