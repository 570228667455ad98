"""The loader's closed-form cell count against the mesh it stands in for.

`pnp.input.sections.estimated_cells` sizes a graded mesh without building
it, so that validation can refuse a mesh of more than 1e8 cells before
anything allocates it (tests/test_security.py). It re-derives the grading
of `pnp.discretisation.mesh.build_mesh` in closed form; this test keeps the
two in step: on every shipped case, with its own mesh settings and with
uniform, gently and steeply graded variants, the estimate is never below
the cells `build_mesh` makes (else an over-limit mesh could slip through)
and not far above (else a legal mesh could be refused).

Why never below: each graded half-region has at most one cell more than
its continuous count (the last cell is scaled down to fit), a region graded
at fewer ends has fewer cells, and the estimate adds `MIN_CELLS_PER_REGION`
per region, which also covers the floor of 4 cells.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from pnp.discretisation.mesh import build_mesh
from pnp.input import Case, load_case
from pnp.input.sections import estimated_cells

CASES = Path(__file__).resolve().parent.parent / "cases"

# Mesh variants: the case's own, uniform (growth 1, coarse max_cell), gentle
# and steep grading.
VARIANTS = {
    "own": {},
    "uniform": {"growth": 1.0, "max_cell_factor": 5.0},
    "gentle": {"growth": 1.05},
    "steep": {"growth": 2.0, "cells_per_debye": 1.0},
}


def _variant(mesh, growth=None, cells_per_debye=None, max_cell_factor=1.0):
    changes = {"max_cell": mesh.max_cell * max_cell_factor}
    if growth is not None:
        changes["growth"] = growth
    if cells_per_debye is not None:
        changes["cells_per_debye"] = cells_per_debye
    return dataclasses.replace(mesh, **changes)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("path", sorted(CASES.glob("*.toml")), ids=lambda p: p.stem)
def test_estimate_bounds_the_real_mesh(path, variant):
    case = load_case(path)
    if case.mesh.uniform_cells is not None:
        pytest.skip("uniform_cells: counted exactly, not estimated")
    case = dataclasses.replace(case, mesh=_variant(case.mesh, **VARIANTS[variant]))
    cells = build_mesh(case).n_cells
    estimate = estimated_cells(
        case.mesh, case.species, case.regions, case.temperature, case.left, case.right
    )
    # Measured on the 14 shipped cases x 4 variants: estimate / cells from
    # 1.0001 to 1.74 (the estimate grades both ends of every bulk region,
    # the mesh only those next to an interface or a charged wall).
    assert cells <= estimate <= 2.0 * cells, (cells, estimate)


def test_a_wall_at_tens_of_volts_is_estimated_and_meshed_without_overflow():
    """exp(-z F psi0 / RT) overflows beyond ~18 V; the Grahame sum is then taken in logs."""
    case = load_case(CASES / "debye_layer.toml", overrides={"boundary.left.potential": "20 V"})
    cells = build_mesh(case).n_cells
    estimate = estimated_cells(
        case.mesh, case.species, case.regions, case.temperature, case.left, case.right
    )
    assert cells <= estimate <= 2.0 * cells, (cells, estimate)


# Protocol sequences on debye_layer (one bath beside a wall held at 50 mV);
# "two baths" splits the bath in two, so a change of the right reservoir's
# potential moves the left wall's screening length in another region.
PROTOCOLS = {
    "one bath": [
        {"boundary.left.potential": "300 mV"},
        {"region.bath.concentration": {"Na": 10, "Cl": 10}},
        {"boundary.left.potential": "-1 V", "boundary.right.potential": "10 mV"},
        {"region.bath.concentration": {"Na": 1000, "Cl": 1000}},
    ],
    "two baths": [
        {"boundary.right.potential": "-1 V"},
        {"region.far.concentration": {"Na": 10, "Cl": 10}},
        {"boundary.right.potential": "0 V"},
    ],
}


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_state_is_estimated_like_a_case_of_its_own(name, monkeypatch):
    """A transient builds the graded mesh of each protocol state, so the loader sizes each.

    It does so incrementally (`pnp.input.sections.StateCells`: only what a
    protocol changes is counted again); each running estimate must equal
    the estimate of that state loaded on its own, and bound its mesh.
    """
    import pnp.input.sections as sections

    seen = []
    after = sections.StateCells.after
    monkeypatch.setattr(
        sections.StateCells, "after", lambda self, *a: seen.append(after(self, *a)) or seen[-1]
    )
    changes = PROTOCOLS[name]
    data = tomllib.loads((CASES / "debye_layer.toml").read_text())
    if name == "two baths":
        data["region"].append(dict(data["region"][0], name="far"))
    data["run"] = {"mode": "transient", "t_end": 1.0}
    data["mesh"]["growth"] = 1.05
    data["protocol"] = [{"at": 0.1 * (i + 1), "set": s} for i, s in enumerate(changes)]
    case = Case.from_dict(data)
    assert len(seen) == len(changes)
    for i, running in enumerate(seen):
        state = case.at_time(0.1 * (i + 1))
        alone = estimated_cells(
            state.mesh, state.species, state.regions, state.temperature, state.left, state.right
        )
        assert running == pytest.approx(alone, rel=1e-12, abs=0)
        assert build_mesh(state).n_cells <= alone
