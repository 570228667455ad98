"""Cell volume: the inside compartment stretches with the water its membrane lets through.

Water crosses the first membrane from the inside boundary (the only one a
case may give a ``water_permeability``), outward positive::

    J_w = L_p [(P_in - P_out) - (Pi_in - Pi_out)]        [m/s]
    P_in - P_out = K (V / V0 - 1)                        (K: the membrane's stiffness)
    Pi = RT sum_i phi c_i                                (phi: osmotic coefficient)
    dV/dt = -A J_w

V is the inside compartment's volume (the cells between the inside boundary
and that membrane), V0 its volume in the case as written, A the membrane's
area at its mid face. Pi_in is RT phi times the compartment's amounts over
its volume; Pi_out the same over the region beyond the membrane (the bath
beside it). phi is each region's osmotic coefficient at its initial
contents, consistent with the static activity coefficients
(:func:`pnp.discretisation.activity.osmotic_coefficient`); 1 when ideal.

The mesh is Lagrangian: one scalar, the *scale* s of the inside compartment
(1 on the model's own mesh), places every face. The faces of the inside
compartment move as x_f = x_b + s (x_f0 - x_b) about the inside boundary x_b;
the membrane and every region beyond it keep their thickness and move with
the membrane's inner face. Each cell keeps its amounts: the unknowns are
concentrations on the moving cells, and the time derivative is that of
c * V_cell (the solver's history holds amounts), so every amount is
conserved to round-off however the mesh stretches. Densities given per
volume or per area (fixed charge in membranes and the bath, surface
charges, permeabilities, pump rates) keep their values: a pump or leak's
whole-cell rate grows with the membrane's area. Fixed charge inside the
compartment keeps its amount: the water dilutes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..constants import GAS_CONSTANT
from .activity import osmotic_coefficient
from .mesh import geometry_factors

#: Largest scale of the inside compartment: beyond it the cell is taken to
#: swell without bound (a linear stretch of 100: a volume 1e6 times larger
#: in a sphere) and the Newton iterate is rejected.
MAX_SCALE = 100.0
#: Relative step of the finite difference that gives the Jacobian's column
#: with respect to the scale.
SCALE_STEP = 1e-7


@dataclass(frozen=True)
class Swelling:
    """Where the water crosses, and how the mesh of a model moves with the scale.

    Face and cell indices refer to the model's mesh (``base_faces``, scale 1).
    """

    base_faces: np.ndarray  # (N+1,) the mesh at scale 1
    geometry: str
    anchor: int  # face of the inside boundary
    moving: int  # the membrane's inner face
    inside: slice  # cells of the inside compartment
    bath: slice  # cells of the region beyond the membrane
    area_face: int  # the membrane's mid face: its area A
    water_permeability: float  # L_p [m/(s Pa)]
    stiffness: float  # K [Pa]
    reference_volume: float  # V0 of the case as written [geometry units]
    rt: float  # R T [J/mol]
    phi_inside: np.ndarray  # osmotic coefficient per inside cell
    phi_bath: np.ndarray  # per bath cell
    fixed_inside: np.ndarray  # fixed charge of each inside cell at scale 1 [mol], kept

    def faces(self, scale: float) -> np.ndarray:
        """Face positions at ``scale``: those the moving mesh is given
        (:func:`pnp.discretisation.moving.place_faces`, compiled)."""
        from .moving import place_faces

        faces = np.empty_like(self.base_faces)
        lo, hi = sorted((self.anchor, self.moving))
        place_faces(scale, self.base_faces, self.anchor, self.moving, lo, hi, faces)
        return faces


def moves(case) -> bool:
    """Whether water crosses a membrane of ``case``, now or after one of its protocols."""
    return any(r.water_permeability > 0.0 for r in case.regions) or any(
        key.endswith(".water_permeability") and value
        for p in case.protocols
        for key, value in p.set.items()
    )


def unbounded(case) -> str:
    """Why ``case`` has no steady volume ("" if it may have one).

    With no stiffness and no pump running, ions that cross the membrane end
    in Donnan equilibrium, where their osmolarity inside is never below the
    bath's (sum_i c_i r^z_i >= sum_i c_i for an electroneutral bath, the sum
    being convex in ln r with its minimum at r = 1). A solute that cannot
    cross, inside only, then keeps the inside above the bath at every
    volume: water enters without end.
    """
    first = inside_membrane(case)
    if first is None or not moves(case):
        return ""
    membrane = case.regions[first]
    running = any(p.rate is None or p.rate > 0.0 for p in case.pumps)
    if membrane.stiffness > 0.0 or running:
        return ""

    def trapped(region) -> bool:
        return any(
            c > 0.0 and membrane.permeability.get(name, 0.0) == 0.0
            for name, c in region.concentration.items()
        )

    if case.inside == "left":  # (a membrane is never an end region: validation)
        inside, beyond = case.regions[:first], case.regions[first + 1]
    else:
        inside, beyond = case.regions[first + 1 :], case.regions[first - 1]
    if any(trapped(r) for r in inside) and not trapped(beyond):
        return (
            f"no steady volume: '{membrane.name}' lets water through but not every solute of "
            "the inside, with no pump and no stiffness, so the cell swells without bound "
            "(Donnan swelling); run it as a transient, or give the membrane a stiffness"
        )
    return ""


def swelling_of(case, mesh, moving: bool | None = None) -> Swelling | None:
    """The :class:`Swelling` of ``case`` on ``mesh``; None when its volume never moves.

    ``moving`` (default :func:`moves`) keeps the volume unknown also while no
    water crosses (a protocol state with ``water_permeability = 0``).
    """
    if not (moves(case) if moving is None else moving):
        return None
    first = inside_membrane(case)
    if first is None:
        return None
    membrane = case.regions[first]
    anchor, moving = _ends(case, mesh, first)
    if case.inside == "left":
        inside, bath = slice(0, moving), slice(*mesh.region_slices[first + 1])
    else:
        inside, bath = slice(moving, mesh.n_cells), slice(*mesh.region_slices[first - 1])
    phi = _osmotic_coefficients(case)
    v0 = case_volume(case, first)
    return Swelling(
        base_faces=mesh.faces.copy(),
        geometry=mesh.geometry,
        anchor=anchor,
        moving=moving,
        inside=inside,
        bath=bath,
        area_face=mesh.mid_face(membrane.name),
        water_permeability=membrane.water_permeability,
        stiffness=membrane.stiffness,
        reference_volume=v0,
        rt=GAS_CONSTANT * case.temperature,
        phi_inside=phi[mesh.region[inside]],
        phi_bath=phi[mesh.region[bath]],
        fixed_inside=np.array([r.fixed_charge for r in case.regions])[mesh.region[inside]]
        * mesh.volume[inside],
    )


def inside_membrane(case) -> int | None:
    """Index of the first membrane from the inside boundary (None without one)."""
    order = range(len(case.regions))
    if case.inside == "right":
        order = reversed(order)
    return next((j for j in order if case.regions[j].membrane), None)


def _ends(case, mesh, first: int) -> tuple[int, int]:
    """(face of the inside boundary, the first membrane's inner face) on ``mesh``."""
    start, stop = mesh.region_slices[first]
    return (0, start) if case.inside == "left" else (mesh.n_cells, stop)


def unstretched(case, mesh):
    """(``mesh`` moved back to the case's own geometry, the scale it was at).

    Every model of a swelling case is built on a mesh in the case's
    coordinates (scale 1): a mesh taken from a result (a steady state's, at
    its steady volume) is first moved back, its cells kept in proportion.
    """
    from .mesh import mesh_from_faces

    first = inside_membrane(case)
    anchor, moving = _ends(case, mesh, first)
    lo, hi = _written_ends(case, first)
    written = hi - lo
    f = mesh.faces
    scale = abs(f[moving] - f[anchor]) / written
    if abs(scale - 1.0) <= 1e-13:
        return mesh, 1.0
    base = f + (f[anchor] + (f[moving] - f[anchor]) / scale - f[moving])  # outside: translated
    lo, hi = sorted((anchor, moving))
    base[lo : hi + 1] = f[anchor] + (f[lo : hi + 1] - f[anchor]) / scale
    return mesh_from_faces(base, mesh.region, mesh.region_names, mesh.geometry), scale


def scale_of(model, faces: np.ndarray) -> float:
    """The scale at which ``model``'s mesh has these faces (a result's output)."""
    sw = model.swelling
    b = sw.base_faces
    return float((faces[sw.moving] - faces[sw.anchor]) / (b[sw.moving] - b[sw.anchor]))


def _written_ends(case, membrane: int) -> tuple[float, float]:
    """(lo, hi): the inside compartment's ends as the case writes them [m], the
    first membrane from the inside (index ``membrane``) beside hi (inside left)
    or lo (inside right)."""
    ends = np.cumsum([0.0] + [r.length for r in case.regions])
    if case.inside == "left":
        return ends[0], ends[membrane]
    return ends[membrane + 1], ends[-1]


def written_compartment(case, membrane: int | None = None) -> tuple[float, float]:
    """(V0, A): the inside compartment's volume and the area of its face on the
    membrane, as the case writes them [geometry units: V0 per m^2, per radian
    and m, per steradian; A 1, r, r^2 with r that face's radius].

    V0 / A is the compartment's length, r/2 or r/3. The volume equation's A
    (:func:`membrane_area`) is at the membrane's mid face instead, half a
    membrane further out: (1 + d/2r)^2 times this A in a sphere (5e-4 more
    for a 5 nm membrane around a 10 um soma). ``membrane``: the index of
    the first membrane from the inside (found if None).
    """
    if membrane is None:
        membrane = inside_membrane(case)
    lo, hi = _written_ends(case, membrane)
    area, volume = geometry_factors(np.array([lo, hi]), case.geometry)
    return float(volume[0]), float(area[1] if case.inside == "left" else area[0])


def case_volume(case, membrane: int | None = None) -> float:
    """V0: the inside compartment's volume as the case writes it
    (:func:`written_compartment`)."""
    return written_compartment(case, membrane)[0]


def _osmotic_coefficients(case) -> np.ndarray:
    """phi of every region at its initial contents (1 in membranes and when ideal)."""
    names = case.species_names
    z = np.array([s.z for s in case.species], dtype=float)
    size = np.array([np.nan if s.size is None else s.size for s in case.species], dtype=float)
    out = np.ones(len(case.regions))
    if case.activity == "ideal":
        return out
    for j, region in enumerate(case.regions):
        if region.membrane:
            continue
        c = np.array([region.concentration.get(nm, 0.0) for nm in names])
        out[j] = osmotic_coefficient(
            case.activity, c, z, case.temperature, region.eps_r, size if np.any(z) else None
        )
    return out


# ---------------------------------------------------------------------------
# the model at a scale
# ---------------------------------------------------------------------------


def set_scale(model, scale: float) -> None:
    """Move ``model``'s mesh to ``scale``: every geometric array updated in
    place (:func:`pnp.discretisation.moving.move_mesh`, compiled);
    ``model.mesh`` and ``model.pumps`` (their areas) follow when next read
    (:func:`bring_objects`).

    The arrays keep their identity (the kernel arguments a ``System`` holds
    stay valid). They say at which scale they are (``model.moving``'s last
    entry): the compiled Newton loop moves the arrays alone, and this call
    brings them back to ``scale`` (``model.scale``) where they are not there.
    Nothing happens when both are at ``scale`` already.
    """
    tables = model.moving
    if scale == model.scale and (tables is None or tables[1][-1][0] == scale):
        return
    if tables is None:
        # compiled: imported when a mesh first moves (``pnp check`` reads this
        # module and compiles nothing)
        from .moving import move_tables

        tables = model.moving = move_tables(model)
    _move_arrays(model, scale)
    if model.scale != scale:
        model.scale = scale
        model.stale = True


def _move_arrays(model, scale: float) -> None:
    """The model's arrays at ``scale`` (the gates' tables after them)."""
    reads, writes = model.moving
    if writes[-1][0] != scale:
        from .moving import move_mesh

        move_mesh(scale, reads, writes)
        if model.channels is not None:  # the faces at f = 1 are new: gates re-applied
            from .channels import refresh

            refresh(model)


def bring_objects(model) -> None:
    """``model.mesh`` and ``model.pumps`` (their areas) rebuilt at
    ``model.scale`` from its arrays (moved there first if the compiled loop
    left them elsewhere)."""
    model.stale = False
    _move_arrays(model, model.scale)
    faces, widths, area, volume = model.moving[1][:4]
    model.mesh = model._mesh.moved(faces.copy(), area.copy(), volume.copy(), widths.copy())
    model.pumps = tuple(dataclasses.replace(p, area=float(area[p.face])) for p in model._pumps)


def inside_volume(model) -> float:
    """Volume of the inside compartment at the model's scale [geometry units]."""
    from .moving import span_sum

    inside = model.swelling.inside
    return float(span_sum(model.volume, inside.start, inside.stop))


def osmolarities(model, x: np.ndarray) -> tuple[float, float]:
    """(phi-weighted osmolarity inside, beside the membrane outside) [mol/m^3] at ``x``
    (the model at ``x``'s scale)."""
    from .moving import osmolarity

    sw, offset, n_species = model.swelling, model.layout.n_boundary, model.n_species
    return tuple(
        float(osmolarity(x, offset, n_species, phi, model.volume, cells.start, cells.stop))
        for cells, phi in ((sw.inside, sw.phi_inside), (sw.bath, sw.phi_bath))
    )


def pressure(model) -> float:
    """P_in - P_out [Pa] at the model's scale."""
    sw = model.swelling
    return sw.stiffness * (inside_volume(model) / sw.reference_volume - 1.0)


def water_flux(model, x: np.ndarray) -> float:
    """J_w [m/s], outward positive, at ``x`` (the model at ``x``'s scale)."""
    from .moving import water_flux as flux
    from .moving import water_tables

    return float(
        flux(x, model.layout.n_boundary, model.n_species, model.volume, water_tables(model))[0]
    )


def membrane_area(model) -> float:
    """A at the membrane's mid face, at the model's scale [geometry units]."""
    return float(model.face_area[model.swelling.area_face])


def volume_residual(model, x: np.ndarray, alpha: float, beta: float) -> float:
    """alpha V - beta + A J_w: dV/dt + A J_w with dV/dt ~ alpha V - beta
    (the model at ``x``'s scale)."""
    from .moving import balance, water_tables

    lay = model.layout
    area = membrane_area(model)
    return float(
        balance(
            x, lay.n_boundary, model.n_species, model.volume, area, alpha, beta, water_tables(model)
        )
    )


def volume_row(model, out: np.ndarray) -> None:
    """d(volume residual)/d(state) at fixed scale into ``out`` (state-sized).

    Linear in the concentrations: -A L_p RT phi V_cell / V inside, + ... / V_bath beside.
    """
    from .moving import balance_row, water_tables

    balance_row(
        model.layout.n_boundary, model.n_species, model.volume, membrane_area(model),
        water_tables(model), out,
    )  # fmt: skip
