"""Case + mesh → the flat arrays the compiled kernel needs.

Everything physical is decided here, once per case: face permittivities and
diffusivities (half cells in series), the effective-potential offsets
g_i = ln gamma_i + dG_i/RT per cell, which faces are closed to which species,
and the boundary data. The kernel then only does arithmetic.

Units inside the model: potentials are scaled, psi = phi / V_T; concentrations
stay in mol/m^3; lengths in m; Gauss's law is written in mol of elementary
charge (displacement * area / F).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY, thermal_voltage
from . import channels as channel_lowering
from . import kernel, pumps
from .activity import ln_gamma_by_region
from .geometry import _boundary_geometry, _face_conductances, _poisson_faces
from .layout import StateLayout
from .mesh import Mesh, build_mesh, mesh_from_faces
from .swelling import (
    Swelling,
    bring_objects,
    inside_membrane,
    moves,
    set_scale,
    swelling_of,
    unstretched,
)

BOUNDARY_CODES = {
    ("wall", False): kernel.WALL_POTENTIAL,
    ("wall", True): kernel.WALL_CHARGE,
    ("reservoir", False): kernel.RESERVOIR,
    ("reservoir", True): kernel.FLOATING,
}


@dataclass(frozen=True)
class PumpSite:
    """A Na/K pump lowered to the two cells it moves ions between."""

    inside_cell: int
    outside_cell: int
    face: int  # the membrane's mid face
    area: float  # membrane area at that face (geometry units)
    sodium: int  # species indices
    potassium: int
    rate: float | None  # constant j_p [mol/m^2/s]
    j_max: float | None
    K_Na: float | None
    K_K: float | None


@dataclass
class Model:
    """Flat arrays of one case on one mesh; ``layout`` places the unknowns in the state vector."""

    case: object
    _mesh: Mesh  # read as ``mesh``
    temperature: float
    thermal_voltage: float
    species: tuple[str, ...]
    z: np.ndarray  # (S,) float
    n_cells: int
    n_species: int
    layout: StateLayout  # where each unknown sits in the state vector
    eps_r: np.ndarray  # (N,)
    volume: np.ndarray  # (N,)
    rho_fixed: np.ndarray  # (N,)
    g_cell: np.ndarray  # (S, N)
    d_reg: np.ndarray  # (S, R) diffusivity per region (0: immobile/absent)
    pois_cond: np.ndarray  # (N+1,)
    pois_wleft: np.ndarray  # (N+1,)
    face_kind: np.ndarray  # (S, N+1) int8
    face_cond: np.ndarray  # (S, N+1)
    face_rr: np.ndarray  # (S, N+1)
    b_type: np.ndarray  # (2,) int64
    b_psi: np.ndarray  # (2,)
    b_sigma: np.ndarray  # (2,) sigma * A / F [mol/m^2 * area]
    b_current: np.ndarray  # (2,) I * A / F, entering the domain
    b_conc: np.ndarray  # (2, S)
    b_g: np.ndarray  # (2, S)
    b_pois_cond: np.ndarray  # (2,) wall/reservoir gradient: weight of (psi_b - psi_cell)
    b_pois_next: np.ndarray  # (2,) weight of (psi_next - psi_cell), second-order walls
    b_cond: np.ndarray  # (2, S)
    membranes: tuple[tuple[str, int, int], ...]  # (name, first cell, stop cell)
    inside: str
    _pumps: tuple[PumpSite, ...] = ()  # read as ``pumps``
    x0: np.ndarray = field(default=None, repr=False)
    swelling: Swelling | None = None  # water crosses a membrane: the mesh moves (swelling.py)
    channels: channel_lowering.ChannelSet | None = None  # voltage-gated channels (channels.py)
    scale: float = 1.0  # where the mesh is: the inside compartment's stretch (1: as built)
    # a moving mesh's compiled tables (moving.move_tables), formed when it first moves
    moving: tuple | None = field(default=None, repr=False)
    # ``_mesh`` and ``_pumps`` are at another scale than ``scale``: rebuilt when read
    stale: bool = field(default=False, repr=False)

    # -- where a moving mesh is ------------------------------------------
    @property
    def mesh(self) -> Mesh:
        """The mesh at ``scale``. A moving mesh's object is rebuilt when it is
        first read after a move (:func:`pnp.discretisation.swelling.set_scale`
        moves the arrays alone: a stepper moves it at every step, and most
        steps are never read)."""
        if self.stale:
            bring_objects(self)
        return self._mesh

    @mesh.setter
    def mesh(self, mesh: Mesh) -> None:
        self._mesh = mesh

    @property
    def pumps(self) -> tuple[PumpSite, ...]:
        """The pumps, their areas at ``scale`` (as :attr:`mesh`)."""
        if self.stale:
            bring_objects(self)
        return self._pumps

    @pumps.setter
    def pumps(self, pumps: tuple[PumpSite, ...]) -> None:
        self._pumps = pumps

    @property
    def face_area(self) -> np.ndarray:
        """(N+1,) the face areas where the model's arrays are: a moved mesh's
        own array (moved in place, at ``scale`` after ``set_scale``, at the
        iterate's inside the compiled loop), else the mesh's. Read without
        rebuilding a moved mesh's objects."""
        return self._mesh.face_area if self.moving is None else self.moving[1][2]

    # -- layout helpers ------------------------------------------------
    @property
    def n_unknowns(self) -> int:
        return self.layout.size

    @property
    def bandwidths(self) -> tuple[int, int]:
        m = self.layout.block
        return m, 2 * m - 1

    @property
    def face_rl(self) -> np.ndarray:
        """(S, N+1) left half-cell resistance of interface faces (0 elsewhere)."""
        return np.where(self.face_kind == kernel.INTERFACE, self.face_cond, 0.0)

    @property
    def d_cell(self) -> np.ndarray:
        """(S, N) diffusivity per cell (computed on demand: not kept at 1e6 cells)."""
        return self.d_reg[:, self.mesh.region]

    def potential_index(self) -> np.ndarray:
        return self.layout.potential_at(np.arange(self.n_cells))

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(phi [V] (N,), c [mol/m^3] (S, N)) copies of a state vector."""
        psi, c = self.layout.split(x)
        return psi * self.thermal_voltage, c.copy()

    def boundary_psi(self, x: np.ndarray) -> np.ndarray:
        """Scaled potential held at (or floating on) each boundary face."""
        out = self.b_psi.copy()
        index = iter(self.layout.boundary)
        for side in range(2):
            if self.b_type[side] == kernel.FLOATING:
                out[side] = x[next(index)]
        return out

    def continuity_cells(self) -> np.ndarray:
        """(N,) int8: 1 in the cells where a transient writes current continuity
        in place of species 0's balance (``kernel`` module docstring).

        Those where species 0 is charged and crosses a face of the cell: where
        it cannot move, its balance keeps its amount exactly and stays.
        """
        N = self.n_cells
        out = np.zeros(N, dtype=np.int8)
        if self.z[0] == 0.0:
            return out
        open_face = self.face_kind[0] != kernel.CLOSED  # (N+1,), boundary faces closed here
        for side, face in ((0, 0), (1, N)):
            if self.b_type[side] in (kernel.RESERVOIR, kernel.FLOATING):
                open_face[face] = self.b_cond[side, 0] != 0.0
        out[open_face[:-1] | open_face[1:]] = 1
        return out

    def kernel_args(self) -> tuple:
        """The model part of ``kernel.assemble``'s arguments, in order."""
        return (
            self.n_cells,
            self.n_species,
            self.layout.n_boundary,
            self.z,
            self.volume,
            self.rho_fixed,
            self.g_cell,
            self.pois_cond,
            self.pois_wleft,
            self.face_kind,
            self.face_cond,
            self.face_rr,
            self.b_type,
            self.b_psi,
            self.b_sigma,
            self.b_current,
            self.b_conc,
            self.b_g,
            self.b_pois_cond,
            self.b_pois_next,
            self.b_cond,
        )


def build_model(case, mesh: Mesh | None = None, moving: bool | None = None) -> Model:
    """Lower a validated case (and its mesh) to kernel arrays.

    ``moving``: whether the inside volume is an unknown (default: when water
    crosses a membrane now or after a protocol, ``swelling.moves``).
    """
    if mesh is None:
        mesh = build_mesh(case)
    elif (moves(case) if moving is None else moving) and inside_membrane(case) is not None:
        mesh, _ = unstretched(case, mesh)  # a swelling model is built at scale 1
    temperature = case.temperature
    vt = thermal_voltage(temperature)
    names = case.species_names
    S = len(names)
    N = mesh.n_cells
    z = np.array([s.z for s in case.species], dtype=float)
    reg = mesh.region
    regions = case.regions

    eps_r = np.array([r.eps_r for r in regions])[reg]
    rho_fixed = np.array([r.fixed_charge for r in regions])[reg]
    d_reg, g_reg = _species_properties(case, GAS_CONSTANT * temperature)
    eps0_scaled = VACUUM_PERMITTIVITY * vt / FARADAY  # Gauss's law in mol per unit psi
    pois_cond, pois_wleft = _poisson_faces(mesh, eps_r, eps0_scaled)
    face_kind, face_cond, face_rr = _species_faces(mesh, d_reg[:, reg])
    bounds = _boundaries(case, mesh, eps_r, d_reg[:, reg], g_reg[:, reg], eps0_scaled, vt)

    floating = bounds["b_type"] == kernel.FLOATING
    swelling = swelling_of(case, mesh, moving)
    layout = StateLayout(
        n_cells=N,
        n_species=S,
        n_boundary=int(floating[0]),
        n_trailing=int(floating[1]),
        boundary_names=tuple(
            f"psi_{side}" for side, f in zip(("left", "right"), floating, strict=True) if f
        ),
    )
    start_gates = layout.size
    channels = channel_lowering.lower(case, mesh, names, start_gates)
    if channels is not None:  # the gates, before the volume (the last unknown)
        layout = layout.with_extra("gates", channels.n_gates)
    if swelling is not None:
        layout = layout.with_extra("scale", 1)

    membranes = tuple((r.name, *mesh.region_slices[j]) for j, r in enumerate(regions) if r.membrane)
    model = Model(
        case=case,
        _mesh=mesh,
        temperature=temperature,
        thermal_voltage=vt,
        species=names,
        z=z,
        n_cells=N,
        n_species=S,
        layout=layout,
        eps_r=eps_r,
        volume=mesh.volume,
        rho_fixed=rho_fixed,
        g_cell=_cell_major(g_reg[:, reg]),
        d_reg=d_reg,
        pois_cond=pois_cond,
        pois_wleft=pois_wleft,
        face_kind=_cell_major(face_kind),
        face_cond=_cell_major(face_cond),
        face_rr=_cell_major(face_rr),
        **bounds,
        membranes=membranes,
        inside=case.inside,
        _pumps=_pump_sites(case, mesh, names),
        swelling=swelling,
        channels=channels,
    )
    channel_lowering.attach(model)
    model.x0 = initial_state(model)
    return model


def rebuild_model(case, model: Model) -> Model:
    """``case`` (a protocol's new state) on ``model``'s mesh, where ``model`` is.

    A moving mesh is rebuilt at scale 1 and moved to ``model``'s scale, so
    the volume keeps its reference and its unknown (also if the new state
    lets no water through).
    """
    if model.swelling is None:
        return build_model(case, model.mesh)
    base = mesh_from_faces(
        model.swelling.base_faces, model.mesh.region, model.mesh.region_names, model.mesh.geometry
    )
    new = build_model(case, base, moving=True)
    set_scale(new, model.scale)
    return new


def _species_properties(case, rt: float) -> tuple[np.ndarray, np.ndarray]:
    """(S, regions) diffusivity [m^2/s] and u offset (barrier / RT + ln gamma).

    ``rt`` [J/mol]: barriers are in J/mol. Impermeant (infinite barrier)
    means absent and immobile there. A species with voltage-gated channels
    in a membrane has the barrier of its fully open permeability there
    (:mod:`pnp.discretisation.channels`).
    """
    names = case.species_names
    regions = case.regions
    d_reg = np.zeros((len(names), len(regions)))
    g_reg = np.zeros((len(names), len(regions)))
    opened = channel_lowering.reference_permeabilities(case)
    for j, r in enumerate(regions):
        for i, name in enumerate(names):
            barrier = r.barrier.get(name, 0.0)
            reference = opened.get((r.name, name), 0.0)
            if reference > 0.0:
                barrier = -rt * math.log(reference * r.length / r.D[name])
            if math.isinf(barrier):
                d_reg[i, j] = 0.0
                g_reg[i, j] = 0.0
            else:
                d_reg[i, j] = r.D[name]
                g_reg[i, j] = barrier / rt
    # activity coefficients (static, from each region's initial ionic strength)
    g_reg += ln_gamma_by_region(case).T
    return d_reg, g_reg


def _species_faces(mesh: Mesh, d_cell: np.ndarray):
    """Kind (closed, SG, interface) and conductances of each species' interior faces."""
    face_kind = _face_kinds(mesh, d_cell)
    face_cond, face_rr = _face_conductances(mesh, d_cell, face_kind)
    return face_kind, face_cond, face_rr


def _face_kinds(mesh: Mesh, d_cell: np.ndarray) -> np.ndarray:
    """(S, N+1) int8: a face is closed to a species absent or immobile on either
    side, an interface between two regions, or a Scharfetter-Gummel face within one."""
    N = mesh.n_cells
    # the boundary faces (0 and N) stay closed here: the boundaries' own arrays describe them
    face_kind = np.full((d_cell.shape[0], N + 1), kernel.CLOSED, dtype=np.int8)
    open_face = (d_cell[:, :-1] > 0) & (d_cell[:, 1:] > 0)
    interface = mesh.region[:-1] != mesh.region[1:]
    face_kind[:, 1:N] = np.where(
        open_face, np.where(interface, kernel.INTERFACE, kernel.SG), kernel.CLOSED
    )
    return face_kind


def _boundaries(case, mesh: Mesh, eps_r, d_cell, g_cell, eps0_scaled: float, vt: float) -> dict:
    """The ``b_*`` arrays of :class:`Model` for the left and right boundaries."""
    N = mesh.n_cells
    S = d_cell.shape[0]
    reg = mesh.region
    out = {
        "b_type": np.zeros(2, dtype=np.int64),
        "b_psi": np.zeros(2),
        "b_conc": np.zeros((2, S)),
        "b_g": np.zeros((2, S)),
    }
    for side, bnd in enumerate((case.left, case.right)):
        cell = 0 if side == 0 else N - 1
        region = case.regions[reg[cell]]
        no_potential = bnd.potential is None
        out["b_type"][side] = BOUNDARY_CODES[(bnd.type, no_potential)]
        out["b_psi"][side] = 0.0 if no_potential else bnd.potential / vt
        if bnd.type == "reservoir":
            out["b_conc"][side] = [region.concentration.get(nm, 0.0) for nm in case.species_names]
            out["b_g"][side] = g_cell[:, cell]
    out.update(_boundary_geometry(case, mesh, eps_r, d_cell, eps0_scaled))
    return out


def _cell_major(a: np.ndarray) -> np.ndarray:
    """(S, N) arrays stored species-fastest (Fortran order).

    The kernel walks cells and, per cell, all species: with the species of a
    cell adjacent in memory, each array is one sequential stream instead of
    S of them (which defeats the hardware prefetcher at 1e6 cells).
    """
    return np.asfortranarray(a)


def _pump_sites(case, mesh: Mesh, names: tuple[str, ...]) -> tuple[PumpSite, ...]:
    sites = []
    slices = dict(zip(mesh.region_names, mesh.region_slices, strict=True))
    for pump in case.pumps:
        start, stop = slices[pump.membrane]
        before, after = start - 1, stop
        inside_cell, outside_cell = (before, after) if case.inside == "left" else (after, before)
        sites.append(
            PumpSite(
                inside_cell=inside_cell,
                outside_cell=outside_cell,
                face=mesh.mid_face(pump.membrane),
                area=float(mesh.face_area[mesh.mid_face(pump.membrane)]),
                sodium=names.index(pump.sodium),
                potassium=names.index(pump.potassium),
                rate=pump.rate,
                j_max=pump.j_max,
                K_Na=pump.K_Na,
                K_K=pump.K_K,
            )
        )
    return tuple(sites)


def initial_state(model: Model) -> np.ndarray:
    """State vector of the case's initial contents, at zero potential."""
    case = model.case
    c = np.array([[r.concentration.get(nm, 0.0) for nm in model.species] for r in case.regions]).T
    c_cells = c[:, model.mesh.region]
    c_cells[_is_absent(model)] = 0.0
    extras = {"scale": np.ones(1)} if model.swelling is not None else None
    x = model.layout.pack(np.zeros(model.n_cells), c_cells, extras=extras)
    return channel_lowering.initial_gates(model, x)  # gates at x_inf of a resting estimate


def _is_absent(model: Model) -> np.ndarray:
    """Species that an infinite barrier keeps out of a cell."""
    out = np.zeros((model.n_species, model.n_cells), dtype=bool)
    for j, r in enumerate(model.case.regions):
        cells = model.mesh.region == j
        for i, nm in enumerate(model.species):
            if math.isinf(r.barrier.get(nm, 0.0)):
                out[i, cells] = True
    return out


def pump_sources(model: Model, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Source terms [mol/s] of every pump at state ``x`` (3 Na out, 2 K in per cycle).

    The saturating form reads Na inside and K outside next to the membrane;
    it is evaluated at the current iterate (lagged in the Jacobian;
    :mod:`pnp.discretisation.pumps`).
    """
    cells, values = pumps.pump_arrays(model.pumps)
    pumps.sources(x, model.layout.n_boundary, model.layout.block, cells, values, out)
    return out


def _pump_row(model: Model, p: PumpSite, x: np.ndarray):
    """(float row of :func:`pumps.pump_arrays`, Na inside, K outside) of ``p`` at ``x``."""
    _, values = pumps.pump_arrays([p])
    lay = model.layout
    na_in = x[lay.conc_at(p.inside_cell, p.sodium)]
    k_out = x[lay.conc_at(p.outside_cell, p.potassium)]
    return values[0], float(na_in), float(k_out)


def pump_rate(model: Model, p: PumpSite, x: np.ndarray) -> float:
    """Cycle rate j_p [mol/m^2/s] of one pump at state ``x``."""
    return float(pumps.rate(*_pump_row(model, p, x)))


def pump_rate_derivatives(model: Model, p: PumpSite, x: np.ndarray) -> tuple[float, float]:
    """d j_p / d Na_inside and d j_p / d K_outside of a saturating pump (0, 0 if constant)."""
    d_na, d_k = pumps.rate_derivatives(*_pump_row(model, p, x))
    return float(d_na), float(d_k)
