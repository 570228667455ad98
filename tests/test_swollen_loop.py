"""A swelling cell's compiled step against its Python path, and its moving
mesh against the numpy form.

A model whose inside compartment swells, without channels, has the scale
of that compartment as its only border unknown; its transient steps run in
one compiled call (:func:`pnp.solvers.iteration.bdf_step` with the
assembly of :mod:`pnp.solvers.swollen`, the mesh moved by
:mod:`pnp.discretisation.moving`). The Python path (``System.loop_compiles``
answering no) runs :class:`pnp.solvers.bordered.Bordered` with the Python
modified Newton loop, the stepper's Python history, amounts and
projection. Whole runs of the shipped swelling transients compare bit for
bit. The moving mesh is checked against numpy's geometry of the same
faces, and the model's arrays and Python objects against each other when
the compiled assembly has moved the arrays alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CASES

import pnp
from pnp.discretisation import pumps
from pnp.discretisation.geometry import GEOMETRIC, geometric_arrays
from pnp.discretisation.mesh import geometry_factors
from pnp.discretisation.model import build_model
from pnp.discretisation.swelling import set_scale
from pnp.solvers.bdf import BDF
from pnp.solvers.newton import System

EPS = np.finfo(float).eps


def _cell(geometry: str, pump: bool = False, inside: str = "left", floating=False) -> pnp.Case:
    """A cell with fixed charge inside and KCl, a membrane letting K and water
    through, a bath; optionally a saturating Na/K pump in the membrane (its
    in-band Jacobian not zero); the inside at the left (at x = 0: the axis or
    centre when curved) or, in a plane, at the right; ``floating``: the
    bath's reservoir floats (current clamp at 0, its potential a boundary
    unknown ahead of or after the cells'), the inside's end a wall at 0 V."""
    data = {
        "temperature": 310.0,
        "geometry": geometry,
        "species": {
            "Na": {"z": 1, "D": 1.33e-9},
            "K": {"z": 1, "D": 1.96e-9},
            "Cl": {"z": -1, "D": 2.03e-9},
        },
        "region": [
            {
                "name": "cytoplasm",
                "length": 2e-6,
                "eps_r": 80,
                "fixed_charge": -20.0,
                "concentration": {"Na": 10, "K": 130, "Cl": 120},
            },
            {
                "name": "membrane",
                "membrane": True,
                "length": 5e-9,
                "eps_r": 2,
                "permeability": {"K": 1e-8},
                "water_permeability": "1e-12 m/(s Pa)",
            },
            {
                "name": "bath",
                "length": 3e-6,
                "eps_r": 80,
                "concentration": {"Na": 140, "K": 5, "Cl": 145},
            },
        ],
        "boundary": {"left": {"type": "wall"}, "right": {"type": "reservoir", "potential": 0.0}},
    }
    if geometry != "cartesian":  # away from the axis
        data["region"].insert(
            0, {"name": "core", "length": 1e-6, "eps_r": 80, "fixed_charge": -20.0,
                "concentration": {"Na": 10, "K": 130, "Cl": 120}},
        )  # fmt: skip
    if pump:
        data["pump"] = {"membrane": "membrane", "j_max": "3e-7 mol/m^2/s", "K_Na": 12, "K_K": 3}
    if floating:  # the potential's level then held by an electrode at the inside's end
        data["boundary"]["left"] = {"type": "wall", "potential": 0.0}
        data["boundary"]["right"] = {"type": "reservoir", "potential": "floating", "current": 0.0}
    if inside == "right":
        data["inside"] = "right"
        data["region"] = data["region"][::-1]
        left, right = data["boundary"]["left"], data["boundary"]["right"]
        data["boundary"] = {"left": right, "right": left}
    return pnp.Case.from_dict(data)


def _state(model, seed: int, spread: float, scale: float) -> np.ndarray:
    """``model.x0`` with every concentration times a uniform factor in
    1 -+ ``spread`` (seeded) and the scale ``scale``."""
    x = model.x0.copy()
    _, c = model.layout.split(x)
    c[...] *= np.random.default_rng(seed).uniform(1.0 - spread, 1.0 + spread, c.shape)
    x[-1] = scale
    return x


@pytest.mark.parametrize("name", ["hypotonic", "ischemia_swelling", "donnan_swelling"])
def test_whole_runs_are_the_same_with_the_loop_compiled(monkeypatch, name):
    """Every output (concentrations, V_m, volume, water flux, osmolarities,
    currents), the cells' places and the counters, bit for bit."""
    case = pnp.load_case(CASES / f"{name}.toml")
    model = build_model(case)
    stepper = BDF(model, model.x0)
    assert stepper.system.loop_compiles(stepper.project)
    compiled = pnp.run(case)
    with monkeypatch.context() as m:
        m.setattr(System, "loop_compiles", lambda self, project=None: False)
        python = pnp.run(case)
    assert compiled.status == python.status == "completed"
    assert np.array_equal(compiled.concentration, python.concentration)
    assert np.array_equal(compiled.membrane_potential, python.membrane_potential)
    assert np.array_equal(compiled.x, python.x)
    assert compiled.extra_observables.keys() == python.extra_observables.keys()
    for key, value in compiled.extra_observables.items():
        assert np.array_equal(value, python.extra_observables[key]), key
    drop = {"wall_time"}
    assert {k: v for k, v in compiled.stats.items() if k not in drop} == {
        k: v for k, v in python.stats.items() if k not in drop
    }


@pytest.mark.parametrize(
    ("geometry", "inside"),
    [("cartesian", "left"), ("cartesian", "right"), ("cylindrical", "left"), ("spherical", "left")],
)
def test_the_mesh_moves_as_numpy_places_it(geometry, inside):
    """At several scales the compiled mesh motion (and ``Swelling.faces``)
    gives the faces numpy places, and numpy's widths and face areas bit for
    bit, and so every array formed from widths and areas
    (``geometry.geometric_arrays``); the cell volumes bit for bit in a plane
    and a cylinder, and in a sphere within the rounding of the two cubes
    they are differences of (2 eps (r_hi^3 + r_lo^3)/3: numpy and the
    compiled code cube differently); the inside's fixed charge keeps its
    amount, the pumps' areas are their face's. With the inside at the right
    the compartment stretches about a face away from x = 0."""
    case = _cell(geometry, pump=True, inside=inside)
    model = build_model(case)
    sw = model.swelling
    fixed_amount = model.rho_fixed[sw.inside] * model.volume[sw.inside]
    x0 = sw.base_faces
    lo, hi = sorted((sw.anchor, sw.moving))
    for scale in (1.3, 0.7, 2.0, 1.0):
        set_scale(model, scale)
        # numpy's placement: the compartment stretched about the inside
        # boundary's face, everything beyond translated with the membrane
        xb = x0[sw.anchor]
        faces = x0 + (x0[sw.moving] - xb) * (scale - 1.0)
        faces[lo : hi + 1] = xb + scale * (x0[lo : hi + 1] - xb)
        assert np.array_equal(sw.faces(scale), faces)
        area, volume = geometry_factors(faces, geometry)
        mesh = model.mesh
        assert model.scale == scale
        assert np.array_equal(mesh.faces, faces)
        assert np.array_equal(mesh.widths, np.diff(faces))
        assert np.array_equal(mesh.face_area, area)
        if geometry == "spherical":
            exact = np.diff(faces.astype(np.longdouble) ** 3) / 3
            bound = 2 * EPS * (faces[1:] ** 3 + faces[:-1] ** 3) / 3
            assert np.all(np.abs(model.volume - exact) <= bound)
        else:
            assert np.array_equal(model.volume, volume)
        assert np.array_equal(mesh.volume, model.volume)
        reference = geometric_arrays(case, mesh, model.eps_r, model.d_cell, model.face_kind)
        for name in GEOMETRIC:
            assert np.array_equal(getattr(model, name), reference[name]), name
        np.testing.assert_allclose(
            model.rho_fixed[sw.inside] * model.volume[sw.inside], fixed_amount, rtol=4 * EPS
        )
        assert [p.area for p in model.pumps] == [area[p.face] for p in model.pumps]


def test_arrays_the_compiled_assembly_moved_are_brought_back():
    """The compiled assembly moves the model's arrays alone (to the iterate's
    scale; ``model.scale`` and ``model.mesh`` stay where they were) and
    writes the pumps' areas into the pump table it is given: afterwards
    ``set_scale`` to the objects' scale moves the arrays back, and every
    array is the one a model moved there directly has."""
    case = _cell("spherical", pump=True)
    model = build_model(case)
    system = System(model)
    set_scale(model, 1.3)
    x = model.x0.copy()
    x[-1] = 1.5
    shape = (model.n_species, model.n_cells)
    zero = np.zeros(shape, order="F")
    system.assemble(x, zero, 0.0, zero, np.zeros(model.n_cells + 1))
    assert model.moving[1][-1][0] == 1.5 and model.scale == 1.3
    area_at = geometry_factors(model.swelling.faces(1.5), "spherical")[0]
    faces = [p.face for p in model.pumps]
    assert np.array_equal(system.pump_values[:, pumps.AREA], area_at[faces])
    set_scale(model, 1.3)
    direct = build_model(case)
    set_scale(direct, 1.3)
    for name in (*GEOMETRIC, "volume", "rho_fixed"):
        assert np.array_equal(getattr(model, name), getattr(direct, name)), name
    assert np.array_equal(model.mesh.faces, direct.mesh.faces)
    assert model.pumps == direct.pumps


def test_the_mesh_and_pump_objects_follow_the_arrays_when_read():
    """``set_scale`` moves the arrays alone; ``model.mesh`` and
    ``model.pumps`` are rebuilt when first read, at ``model.scale``, also
    when the compiled assembly has left the arrays at an iterate's scale
    meanwhile; the pump table takes its areas from the arrays without
    rebuilding the objects."""
    case = _cell("spherical", pump=True)
    model, direct = build_model(case), build_model(case)
    system = System(model)
    faces = [p.face for p in model.pumps]
    set_scale(model, 1.7)
    assert model.stale
    assert system.pump_tables()  # the Python path's pumps: areas at 1.7
    area_at = geometry_factors(model.swelling.faces(1.7), "spherical")[0]
    assert np.array_equal(system.pump_values[:, pumps.AREA], area_at[faces])
    assert model.stale  # ... read from the arrays, the objects not rebuilt
    x = model.x0.copy()
    shape = (model.n_species, model.n_cells)
    zero = np.zeros(shape, order="F")
    system.assemble(x, zero, 0.0, zero, np.zeros(model.n_cells + 1))  # its tables formed
    set_scale(model, 1.3)
    x[-1] = 1.5
    system.assemble(x, zero, 0.0, zero, np.zeros(model.n_cells + 1))
    assert model.moving[1][-1][0] == 1.5 and model.stale  # the arrays at the iterate
    mesh = model.mesh  # rebuilt at model.scale: the arrays moved back first
    assert not model.stale and model.moving[1][-1][0] == 1.3
    set_scale(direct, 1.3)
    for name in ("faces", "widths", "centers", "face_area", "volume"):
        assert np.array_equal(getattr(mesh, name), getattr(direct.mesh, name)), name
    for name in (*GEOMETRIC, "volume", "rho_fixed"):
        assert np.array_equal(getattr(model, name), getattr(direct, name)), name
    assert model.pumps == direct.pumps
    assert [p.area for p in model.pumps] == [direct.mesh.face_area[f] for f in faces]


def test_gates_with_a_volume_keep_the_python_loop():
    """Channels in a swelling cell: the Python form of the bordered assembly
    (tests/test_schur.py checks its columns)."""
    import tomllib

    data = tomllib.loads((CASES / "action_potential.toml").read_text())
    data.pop("output", None)
    for region in data["region"]:
        if region.get("membrane"):
            region["water_permeability"] = "1e-12 m/(s Pa)"
    model = build_model(pnp.Case.from_dict(data))
    stepper = BDF(model, model.x0)
    assert stepper.system.bordered.volume and stepper.system.bordered.n_gates == 3
    assert not stepper.system.loop_compiles(stepper.project)
    assert stepper.step(1e-5)[0]


@pytest.mark.parametrize(
    ("geometry", "inside", "floating"), [("spherical", "left", False), ("cartesian", "right", True)]
)
def test_the_compiled_step_s_volume_pieces_match_their_python_forms(geometry, inside, floating):
    """What only the compiled step calls, against the Python path's forms:
    an accepted state's amounts (``swollen.at_state`` + ``amounts``) are
    ``newton.contents`` bit for bit, with the model's arrays moved to the
    state's scale; the closed compartments' volumes at a scale
    (``project_volumes``) are the model's volumes there; dV/dt's history
    term (``volume_history``) is -(a_1 V_1 + ... + a_q V_q)/h, skipping
    zero weights. In a plane with the inside at the right the bath's
    reservoir floats (a boundary unknown ahead of the cells')."""
    from pnp.solvers import swollen
    from pnp.solvers.history import gather_concentrations
    from pnp.solvers.newton import contents

    case = _cell(geometry, inside=inside, floating=floating)
    model = build_model(case)
    system = System(model)
    vol = system.bordered.volume_tables()
    x = _state(model, 3, 0.5, 1.37)
    swollen.at_state(x, vol)
    assert model.moving[1][-1][0] == 1.37
    conc = gather_concentrations(x, model.layout.n_boundary, model.n_species, model.n_cells)
    swollen.amounts(conc, vol)
    direct = build_model(case)
    assert np.array_equal(conc, contents(direct, x))
    assert np.array_equal(model.volume, direct.volume)

    cells = np.repeat(np.array([0, 3, model.n_cells - 1]), 2)
    index = np.array([model.layout.conc_at(k, i) for k, i in zip(cells, (0, 2) * 3, strict=True)])
    out = np.full(index.size, np.nan)
    swollen.project_volumes(0.81, vol, index, out)
    set_scale(direct, 0.81)
    assert np.array_equal(out, direct.volume[cells])
    assert model.moving[1][-1][0] == 1.37  # the model's arrays stay where they were

    terms = np.array([np.nan, 2.0, 3.0, 5.0, 7.0, np.nan])
    a = np.array([1.5, -2.0, 0.0, 0.5])  # a_2 = 0: skipped (no 0 * V term)
    swollen.volume_history(0.25, 3, a, terms)
    assert terms[0] == -((-2.0 * 2.0) + 0.5 * 5.0) / 0.25
    terms[2] = np.inf  # a skipped weight never reads its volume
    swollen.volume_history(0.25, 3, a, terms)
    assert terms[0] == -((-2.0 * 2.0) + 0.5 * 5.0) / 0.25


def test_the_volume_s_column_and_diagonal_are_the_residual_s_derivatives():
    """The compiled assembly's border (a swelling cell alone) against
    central differences of its own residual in the scale s with step
    1e-5 s (forward and backward ones agree there to 1e-10): the column B
    (the cells' residual's derivative) and the diagonal D (the volume
    residual's). B and D are one-sided differences with step 1e-7 s; their
    error is round-off of the rows' largest terms over that step (the
    Debye layers' fluxes, ~3000 times the residual beside the membrane):
    measured 4.1e-6 of the column's largest entry, 1.0e-7 of D; allowed
    2e-5 and 1e-6. The row against differences in each concentration
    (exact: the volume residual is linear in them; with a step of 1000
    mol/m^3 the residual's round-off is 1.6e-10 of the change at worst,
    1e-9 allowed)."""
    from pnp.solvers.newton import contents

    data = _cell("spherical", pump=True).to_dict()
    data["activity"] = "davies"  # osmotic coefficients phi != 1 in the row
    model = build_model(pnp.Case.from_dict(data))
    assert np.all(model.swelling.phi_inside < 0.99)
    system = System(model)
    b = system.bordered
    x = _state(model, 5, 0.1, 1.2)
    shape = (model.n_species, model.n_cells)
    alpha = 1e4
    args = (np.full(shape, alpha, order="F"), alpha,
            np.asfortranarray(0.99 * alpha * contents(model, x)), np.zeros(model.n_cells + 1))  # fmt: skip
    b.beta_volume = 0.98 * alpha * float(model.volume[model.swelling.inside].sum())
    res = system.assemble(x, *args, jacobian=True).copy()
    column, diag, row = b.columns[:, 0].copy(), b.diag[0], b.row.copy()
    h = 1e-5 * x[-1]
    plus, minus = x.copy(), x.copy()
    plus[-1] += h
    minus[-1] -= h
    r_plus = system.assemble(plus, *args, jacobian=False).copy()
    r_minus = system.assemble(minus, *args, jacobian=False).copy()
    derivative = (r_plus - r_minus) / (2 * h)
    biggest = np.max(np.abs(derivative[:-1]))
    assert biggest > 0 and np.max(np.abs(column - derivative[:-1])) <= 2e-5 * biggest
    assert abs(diag - derivative[-1]) <= 1e-6 * abs(derivative[-1])
    for j in (model.layout.conc_at(0, 0), model.layout.conc_at(model.n_cells - 1, 2)):
        moved = x.copy()
        moved[j] += 1e3
        change = system.assemble(moved, *args, jacobian=False)[-1] - res[-1]
        assert abs(change - 1e3 * row[j]) <= 1e-9 * abs(1e3 * row[j])


def test_the_cells_band_and_residual_are_the_fixed_mesh_assembly_at_the_scale():
    """The compiled assembly's cells part (residual and band, the pumps'
    sources and in-band Jacobian included) is, bit for bit, the fixed-mesh
    assembly (``System._assemble_core``: pumps, kernel) of the model moved
    to the state's scale with the amounts' history over its cell volumes;
    with and without the Jacobian."""
    from pnp.solvers.newton import contents

    model = build_model(_cell("spherical", pump=True))
    system = System(model)
    assert system.pump_tables()
    x = _state(model, 9, 0.1, 1.15)
    shape = (model.n_species, model.n_cells)
    alpha = 1e3
    alpha_c = np.full(shape, alpha, order="F")
    amounts = np.asfortranarray(0.97 * alpha * contents(model, x))
    beta_d = np.zeros(model.n_cells + 1)
    n0 = system.bordered.n0
    for jac in (True, False):
        system.ab[...] = 0.0
        res = system.assemble(x, alpha_c, alpha, amounts, beta_d, jacobian=jac).copy()
        band = system.ab.copy()
        direct = build_model(_cell("spherical", pump=True))
        set_scale(direct, 1.15)
        other = System(direct)
        ref_res, ref_band = np.zeros(direct.n_unknowns), np.zeros_like(other.ab)
        beta = np.asfortranarray(amounts / direct.volume)
        other._assemble_core(x[:n0], alpha_c, alpha, beta, beta_d, ref_res[:n0], ref_band, jac)
        assert np.array_equal(res[:n0], ref_res[:n0])
        if jac:
            assert np.array_equal(band, ref_band)
