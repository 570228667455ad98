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


def _cell(geometry: str, pump: bool = False) -> pnp.Case:
    """A cell with fixed charge inside and KCl, a membrane letting K and water
    through, a bath; optionally a constant Na/K pump in the membrane."""
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
        data["pump"] = {"membrane": "membrane", "rate": "1e-8 mol/m^2/s"}
    return pnp.Case.from_dict(data)


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


@pytest.mark.parametrize("geometry", ["cartesian", "cylindrical", "spherical"])
def test_the_mesh_moves_as_numpy_places_it(geometry):
    """At several scales the compiled mesh motion gives numpy's faces
    (``Swelling.faces``), widths and face areas bit for bit, and so every
    array formed from widths and areas (``geometry.geometric_arrays``); the
    cell volumes bit for bit in a plane and a cylinder, and in a sphere
    within the rounding of the two cubes they are differences of
    (2 eps (r_hi^3 + r_lo^3)/3: numpy and the compiled code cube
    differently); the inside's fixed charge keeps its amount, the pumps'
    areas are their face's."""
    case = _cell(geometry, pump=True)
    model = build_model(case)
    sw = model.swelling
    fixed_amount = model.rho_fixed[sw.inside] * model.volume[sw.inside]
    for scale in (1.3, 0.7, 2.0, 1.0):
        set_scale(model, scale)
        faces = sw.faces(scale)
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
