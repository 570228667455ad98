"""Meshes from a solution: the error indicator, refinement, coarsening and remapping.

Used by :mod:`pnp.simulation.adaptive`, which decides when to stop. Three
pieces, all vectorised over cells:

* :func:`indicator` — per cell, the curvature m = max(|psi''|, max_i |(ln c_i)''|)
  of the scaled potential and of the log-concentrations [1/m^2], from
  three-point differences within each region. The cell-centred scheme's
  local error is proportional to h^2 m, so a mesh with h = C / sqrt(m)
  (capped by ``max_cell``) equidistributes it; C sets the accuracy.
* :func:`mesh_from_sizes` — a mesh of a case whose cell widths follow a
  target size function per region, with neighbour size ratios bounded by
  the case's ``growth`` (the target is made Lipschitz with slope growth - 1
  first) and whole cells per region. Membranes stay uniform.
* :func:`split_mesh` (every cell halved: the comparison mesh of the error
  estimate) and :func:`remap` (a state carried to another mesh of the same
  case: concentrations by exact overlap volumes, so every region keeps its
  amount of every species; the potential by linear interpolation).
"""

from __future__ import annotations

import numpy as np

from .mesh import MIN_CELLS_PER_REGION, Mesh, assemble_mesh, geometry_factors
from .swelling import set_scale

CURVATURE_FLOOR = 1e-300  # [1/m^2]: below this a cell has no curvature at all


def _second_difference(u: np.ndarray, xc: np.ndarray, starts, stops) -> np.ndarray:
    """|u''| at cell centres by three-point differences that stay inside each region.

    (..., N) values; the end cells of a region take their neighbour's value.
    """
    out = np.zeros_like(u)
    for a, b in zip(starts, stops, strict=True):
        if b - a < 3:
            continue
        x = xc[a:b]
        v = u[..., a:b]
        slope = np.diff(v, axis=-1) / np.diff(x)
        d2 = 2.0 * np.diff(slope, axis=-1) / (x[2:] - x[:-2])
        seg = np.abs(d2)
        out[..., a + 1 : b - 1] = seg
        out[..., a] = seg[..., 0]
        out[..., b - 1] = seg[..., -1]
    return out


def indicator(model, x: np.ndarray) -> np.ndarray:
    """(N,) curvature m of psi and of every ln c_i present in a cell [1/m^2]."""
    mesh: Mesh = model.mesh
    psi, c = model.layout.split(x)
    starts = [s for s, _ in mesh.region_slices]
    stops = [e for _, e in mesh.region_slices]
    m = _second_difference(psi, mesh.centers, starts, stops)
    present = c > 0.0
    lnc = np.log(np.where(present, c, 1.0))
    d2 = _second_difference(lnc, mesh.centers, starts, stops)
    # a species absent from a cell says nothing about its curvature there
    d2 = np.where(present, d2, 0.0)
    return np.maximum(np.maximum(m, d2.max(axis=0)), CURVATURE_FLOOR)


def resolution(mesh: Mesh, m: np.ndarray) -> float:
    """The equidistribution constant a mesh achieves: max over cells of h sqrt(m)."""
    return float(np.max(mesh.widths * np.sqrt(m)))


def _lipschitz(x: np.ndarray, h: np.ndarray, slope: float) -> np.ndarray:
    """The largest g <= h with |g(x_i) - g(x_j)| <= slope |x_i - x_j| (x increasing)."""
    forward = slope * x + np.minimum.accumulate(h - slope * x)
    backward = -slope * x + np.minimum.accumulate((h + slope * x)[::-1])[::-1]
    return np.minimum(forward, backward)


def _counts(x: np.ndarray, h: np.ndarray):
    """Cumulative cell count at each sample, and per interval the slope of h and flatness."""
    dx = np.diff(x)
    h0, h1 = h[:-1], h[1:]
    ratio = h1 / h0
    flat = np.abs(ratio - 1.0) < 1e-9
    slope = (h1 - h0) / dx
    with np.errstate(divide="ignore", invalid="ignore"):
        counts = np.where(flat, dx / h0, np.log(ratio) / np.where(flat, 1.0, slope))
    return np.concatenate([[0.0], np.cumsum(counts)]), slope, flat


def _faces_at(x: np.ndarray, h: np.ndarray, cum, slope, flat, targets) -> np.ndarray:
    """Positions where the cumulative cell count reaches ``targets`` (h linear per interval)."""
    k = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, slope.size - 1)
    local = targets - cum[k]
    h0, s = h[k], slope[k]
    with np.errstate(over="ignore", invalid="ignore"):
        curved = h0 * np.expm1(local * np.where(flat[k], 0.0, s)) / np.where(flat[k], 1.0, s)
    return x[k] + np.where(flat[k], local * h0, curved)


def _cell_count(cum_total: float, cum_r_total: float) -> float:
    """Whole cells for a region whose count density integrates to these (from each end)."""
    total = 0.5 * (cum_total + cum_r_total)
    if not np.isfinite(total):
        return np.inf
    return float(max(MIN_CELLS_PER_REGION, np.ceil(float(f"{total:.9g}") - 1e-9)))


def _fill(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Cell widths filling [x[0], x[-1]] whose size follows h (linear between samples).

    The cell count density 1/h integrates exactly on each sample interval
    (h linear: N = dx / (h1 - h0) ln(h1 / h0)); faces sit at equal steps of
    that count, so sizes follow h to within the rounding to whole cells. The
    faces of each half are found from the nearer end, so that a mirrored
    size function gives the mirrored cells to round-off.
    """
    length = x[-1] - x[0]
    cum, slope, flat = _counts(x, h)
    xr = length - (x[::-1] - x[0])
    cum_r, slope_r, flat_r = _counts(xr, h[::-1])
    n = int(_cell_count(cum[-1], cum_r[-1]))
    k = np.arange(1, n)
    left = k <= n - k  # the half nearer the left end
    from_left = _faces_at(x, h, cum, slope, flat, k[left] * (cum[-1] / n))
    from_right = _faces_at(xr, h[::-1], cum_r, slope_r, flat_r, (n - k[~left]) * (cum_r[-1] / n))
    inner = np.concatenate([from_left, x[0] + length - from_right])
    faces = np.concatenate([[x[0]], np.sort(inner), [x[-1]]])
    return np.diff(faces)


def _region_targets(case, mesh: Mesh, size: np.ndarray):
    """Per region of ``mesh``: an int (a membrane's uniform cells) or (faces, face targets)."""
    spec = case.mesh
    slope = max(spec.growth - 1.0, 1e-3)
    out = []
    for j, (a, b) in enumerate(mesh.region_slices):
        region = case.regions[j]
        target = np.minimum(size[a:b], spec.max_cell)
        if region.membrane:
            with np.errstate(divide="ignore", invalid="ignore"):
                fine = np.ceil(region.length / target.min() - 1e-9)
            out.append(max(spec.membrane_cells, fine) if np.isfinite(fine) else np.inf)
            continue
        x = mesh.faces[a : b + 1]
        face_target = np.minimum(np.r_[target[0], target], np.r_[target, target[-1]])
        out.append((x, _lipschitz(x, face_target, slope)))
    return out


def cells_from_sizes(case, mesh: Mesh, size: np.ndarray) -> float:
    """The cells :func:`mesh_from_sizes` would make, counted without making them (inf if absurd).

    So that a caller can refuse a mesh over its budget before allocating it.
    """
    total = 0.0
    for item in _region_targets(case, mesh, size):
        if not isinstance(item, tuple):
            total += float(item)
            continue
        x, h = item
        xr = (x[-1] - x[0]) - (x[::-1] - x[0])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            total += _cell_count(_counts(x, h)[0][-1], _counts(xr, h[::-1])[0][-1])
    return total if np.isfinite(total) else np.inf


def mesh_from_sizes(case, mesh: Mesh, size: np.ndarray) -> Mesh:
    """A new mesh of ``case`` whose cells follow the target widths ``size`` (N,) on ``mesh``.

    Targets are capped by ``[mesh] max_cell``, taken per face as the smaller
    of the two neighbouring cells' and made Lipschitz (slope growth - 1)
    within each region. A membrane gets uniform cells: at least
    ``membrane_cells``, and fine enough for its smallest target.
    :func:`cells_from_sizes` counts them first.
    """
    widths_all = []
    for j, item in enumerate(_region_targets(case, mesh, size)):
        if not isinstance(item, tuple):
            n = int(item)
            widths_all.append(np.full(n, case.regions[j].length / n))
            continue
        widths_all.append(_fill(*item))
    return assemble_mesh(case, widths_all)


def split_mesh(case, mesh: Mesh) -> Mesh:
    """``mesh`` with every cell cut in two equal halves."""
    widths_all = [np.repeat(mesh.widths[a:b] / 2.0, 2) for a, b in mesh.region_slices]
    return assemble_mesh(case, widths_all)


def merge_pairs(case, mesh: Mesh, min_cells: int = 4) -> Mesh:
    """``mesh`` with neighbouring cells merged in pairs in every region of at
    least ``min_cells`` cells (an odd count keeps its last cell; smaller
    regions are kept as they are)."""
    widths_all = []
    for a, b in mesh.region_slices:
        w = mesh.widths[a:b]
        if w.size < min_cells:
            widths_all.append(w)
            continue
        even = w.size // 2 * 2
        widths_all.append(np.concatenate([w[:even].reshape(-1, 2).sum(axis=1), w[even:]]))
    return assemble_mesh(case, widths_all)


def remap(old_model, x: np.ndarray, new_model) -> np.ndarray:
    """State ``x`` on ``old_model``'s mesh carried to ``new_model``'s (same case).

    Within each region the potential and the log of each concentration are
    interpolated linearly between cell centres (held constant beyond the end
    centres), which keeps a Boltzmann profile exactly Boltzmann, so Newton
    starts close on any finer mesh; each region's amount of each species is
    then restored to the old one to round-off by a common factor (region
    ends are faces of both meshes; the steady solver keeps the amounts of
    closed compartments as it finds them). Boundary unknowns are kept.

    A moving mesh (:mod:`pnp.discretisation.swelling`): every mesh of a case
    is built in the case's own coordinates (scale 1), so the scale carries
    over as it is, and both meshes are moved to it first (amounts are those
    of the cells where they are).
    """
    # extra unknowns (gates, the volume's scale) do not live on the mesh: kept
    lay_old, lay_new = old_model.layout, new_model.layout
    kept = {name for name, _ in lay_new.extras}
    extras = {name: x[lay_old.extra(name)] for name, _ in lay_old.extras if name in kept}
    if old_model.swelling is not None:
        scale = float(x[-1])
        set_scale(old_model, scale)
        set_scale(new_model, scale)
    old, new = old_model.mesh, new_model.mesh
    psi, c = old_model.layout.split(x)
    psi_new = np.empty(new.n_cells)
    c_new = np.zeros((c.shape[0], new.n_cells))
    for (a, b), (p, q) in zip(old.region_slices, new.region_slices, strict=True):
        xo, xn = old.centers[a:b], new.centers[p:q]
        psi_new[p:q] = np.interp(xn, xo, psi[a:b])
        for s in range(c.shape[0]):
            seg = c[s, a:b]
            amount = seg @ old.volume[a:b]
            if amount <= 0.0 or np.any(seg <= 0.0):
                # absent or touching zero: amount-weighted piecewise-constant overlap
                c_new[s, p:q] = _overlap_average(old, new, seg, a, b, p, q)
                continue
            fresh = np.exp(np.interp(xn, xo, np.log(seg)))
            c_new[s, p:q] = fresh * (amount / (fresh @ new.volume[p:q]))
    boundary = x[lay_old.boundary] if lay_old.n_boundary + lay_old.n_trailing else None
    if lay_new.n_boundary + lay_new.n_trailing == 0:
        boundary = None
    return lay_new.pack(psi_new, c_new, boundary=boundary, extras=extras)


def _overlap_average(old: Mesh, new: Mesh, seg, a, b, p, q) -> np.ndarray:
    """Cell averages of the piecewise-constant ``seg`` (old cells a..b) on new cells p..q."""
    faces = np.union1d(old.faces[a : b + 1], new.faces[p : q + 1])
    lo, hi = old.faces[a], old.faces[b]
    faces = faces[(faces >= lo) & (faces <= hi)]
    mid = 0.5 * (faces[1:] + faces[:-1])
    i_old = np.clip(np.searchsorted(old.faces[a : b + 1], mid, side="right") - 1, 0, b - a - 1)
    i_new = np.clip(np.searchsorted(new.faces[p : q + 1], mid, side="right") - 1, 0, q - p - 1)
    _, vol = geometry_factors(faces, old.geometry)
    amount = np.bincount(i_new, weights=seg[i_old] * vol, minlength=q - p)
    return amount / new.volume[p:q]


def merged_sizes(case, meshes: list[Mesh]) -> Mesh:
    """One mesh at least as fine everywhere as every mesh in ``meshes`` (same case)."""
    base = meshes[0]
    for other in meshes[1:]:
        faces = np.union1d(base.faces, other.faces)
        base = assemble_mesh(
            case,
            [
                np.diff(faces[(faces >= base.faces[a]) & (faces <= base.faces[b])])
                for a, b in base.region_slices
            ],
        )
    size = np.full(base.n_cells, np.inf)
    for m in meshes:
        cell = np.clip(np.searchsorted(m.faces, base.centers, side="right") - 1, 0, m.n_cells - 1)
        size = np.minimum(size, m.widths[cell])
    return mesh_from_sizes(case, base, size)
