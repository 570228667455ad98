"""How many cells the adaptive solver may allocate (`pnp.simulation.adaptive`).

The loader holds the start mesh to `MAX_CELLS` (tests/test_cell_estimate.py);
the solver halves it to estimate the error, and sizes every later mesh from
the solution. Each of these meshes is held to its limit before it is made:
the halved copy to `MAX_CELLS`, later meshes (and their halved copies) to
``mesh.max_cells``, counted in closed form by
`pnp.discretisation.adapt.cells_from_sizes`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pnp
import pnp.discretisation.adapt as adapt
import pnp.simulation.adaptive as adaptive
from pnp.discretisation.mesh import build_mesh

CASES = Path(__file__).resolve().parent.parent / "cases"


@pytest.mark.parametrize("name", ["debye_layer", "nernst_k", "donnan"])
def test_the_count_is_the_cells_of_the_mesh(name):
    case = pnp.load_case(CASES / f"{name}.toml")
    mesh = build_mesh(case)
    rng = np.random.default_rng(7)
    for spread in (0.1, 1.0, 3.0):  # decades of target sizes around the mesh's own
        sizes = mesh.widths * 10.0 ** rng.uniform(-spread, spread, mesh.n_cells)
        made = adapt.mesh_from_sizes(case, mesh, sizes).n_cells
        assert adapt.cells_from_sizes(case, mesh, sizes) == made
    assert adapt.cells_from_sizes(case, mesh, np.zeros(mesh.n_cells)) == math.inf


def test_a_halved_start_mesh_over_max_cells_is_not_made(monkeypatch):
    """No mesh over MAX_CELLS: the state on the start mesh stands, without an estimate.

    (MAX_CELLS lowered to 100 here: the debye_layer start mesh has 131 cells.)
    """
    monkeypatch.setattr(adaptive, "MAX_CELLS", 100)
    monkeypatch.setattr(
        adapt, "split_mesh", lambda *a: pytest.fail(f"halved a mesh of {a[1].n_cells} cells")
    )
    result = pnp.run(pnp.load_case(CASES / "debye_layer.toml"))
    assert result.status == "completed"
    assert "no error estimate: the halved mesh would have 262 cells" in result.message
    assert result.mesh().n_cells == 131
    assert all(np.isnan(series).all() for series in result.error_estimate.values())


def test_refinement_stops_at_max_cells_before_making_the_mesh(monkeypatch):
    made = []
    real = adapt.mesh_from_sizes
    monkeypatch.setattr(
        adapt, "mesh_from_sizes", lambda *a: made.append(real(*a).n_cells) or real(*a)
    )
    case = pnp.load_case(
        CASES / "debye_layer.toml", overrides={"mesh.tolerance": 1e-9, "mesh.max_cells": 400}
    )
    result = pnp.run(case)
    assert "mesh.max_cells = 400 would be exceeded" in result.message
    assert all(2 * cells <= 400 for cells in made), made
    assert result.mesh().n_cells <= 400
