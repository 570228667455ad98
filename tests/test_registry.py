"""The observables registry: one table of names, units and descriptions."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

import pnp
from pnp.discretisation.model import build_model, initial_state
from pnp.results import registry
from pnp.results.observables import observe
from pnp.results.result import Result


def _tiny_result(**extra) -> Result:
    """Two cells, one species, two output times; observables are arbitrary numbers."""
    n = 2
    return Result(
        temperature=300.0,
        geometry="cartesian",
        x=[0.25, 0.75],
        faces=[0.0, 0.5, 1.0],
        region=[0, 0],
        region_names=("bath",),
        species=("K",),
        z=[1],
        D=[1e-9],
        t=[0.0, 1.0],
        potential=np.zeros((n, 2)),
        concentration=np.ones((n, 1, 2)),
        membrane_potential=[0.1, 0.2],
        current=[1.0, 2.0],
        flux={"K": [3.0, 4.0]},
        surface_charge={"left": [5.0, 6.0], "right": [7.0, 8.0]},
        extra_observables=extra,
    )


def test_membrane_charge_is_written_in_coulomb_per_square_metre(tmp_path):
    # Documented [C/m^2] (README "Conventions", docs/interface.md); the file
    # used to store it with units "" because only prefixes were recognised.
    _tiny_result(membrane_charge=[1e-3, 2e-3]).save(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["observables/membrane_charge"].attrs["units"] == "C/m^2"


# -- the table against the solver, the files and the docs ----------------------


ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"


@pytest.fixture(scope="module")
def pump_leak():
    """A case with a pump, four species and a membrane (every observable is non-trivial)."""
    return pnp.load_case(CASES / "pump_leak.toml")


@pytest.mark.parametrize("name", ["pump_leak", "ghk_iv", "debye_layer"])
def test_observe_reports_exactly_the_registered_names(name):
    case = pnp.load_case(CASES / f"{name}.toml")
    model = build_model(case)
    reported = list(observe(model, initial_state(model)))
    expected = registry.observable_names(model.species)
    assert len(expected) == len(set(expected))
    assert sorted(reported) == sorted(expected)


def test_every_compute_reference_exists():
    from pnp.discretisation import model as model_module
    from pnp.results import observables as observables_module

    for obs in registry.OBSERVABLES:
        where = observables_module if hasattr(observables_module, obs.compute) else model_module
        assert callable(getattr(where, obs.compute, None)), obs.compute
        assert obs.kind in (
            registry.SCALAR,
            registry.PER_SPECIES,
            registry.PER_SIDE,
            registry.PER_CHANNEL,
            registry.PER_GATE,
        )
        assert ("{" in obs.name) == (obs.kind != registry.SCALAR), obs.name


def test_every_registered_name_is_in_the_result_file_with_its_unit(pump_leak, tmp_path):
    path = tmp_path / "run.h5"
    result = pnp.run(pump_leak, output=str(path))
    names = registry.observable_names(result.species)
    assert list(result.observables()) == names  # registry order
    for file in (path, tmp_path / "saved.h5"):
        if file != path:
            result.save(file)
        with h5py.File(file, "r") as f:
            for group in ("observables", "error_estimate"):
                # and the group's own copy of t, its netCDF coordinate
                assert sorted(f[group]) == sorted([*names, "t"]), group
                for name in names:
                    assert f[group][name].attrs["units"] == registry.observable_units(name)
    loaded = pnp.load_result(path)
    assert list(loaded.observables()) == names
    assert list(loaded.error_estimate) == list(result.error_estimate) == names


def test_every_summary_observable_is_a_sweep_column_with_its_unit(tmp_path):
    from pnp.simulation.sweep import sweep

    case = pnp.load_case(CASES / "ghk_iv.toml")
    res = sweep(case, {"boundary.left.potential": "-0.05:0.05:2"}, out=tmp_path, max_workers=1)
    columns = list(res.table)
    in_summary = registry.observable_names(case.species_names, summary=True)
    start = columns.index(in_summary[0])
    # the observables, then their error estimates, in registry order
    errors = [registry.error_column(name) for name in in_summary]
    assert columns[start : start + 2 * len(in_summary)] == in_summary + errors
    # membrane_charge is the one observable without a fixed column; it gets
    # a column after the solver statistics, like any observable a run reports,
    # and its error estimate one after it.
    everything = registry.observable_names(case.species_names)
    assert set(everything) - set(in_summary) == {"membrane_charge"}
    assert columns.index("membrane_charge") > columns.index("wall_time")
    assert columns.index("membrane_charge_error") == columns.index("membrane_charge") + 1
    with h5py.File(tmp_path / "summary.h5", "r") as f:
        for name in everything:
            unit = registry.observable_units(name)
            assert f[name].attrs["units"] == unit, name
            assert f[registry.error_column(name)].attrs["units"] == unit, name


def _si(unit: str) -> str:
    """Docs spell units with superscripts (A/m²); files with carets (A/m^2)."""
    return unit.replace("²", "^2").replace("³", "^3").strip()


def test_units_match_the_documented_units():
    interface = (ROOT / "docs" / "interface.md").read_text()
    numerics = (ROOT / "docs" / "numerics.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for obs in registry.OBSERVABLES:
        documented = set()
        # docs/interface.md, Result table: | `field`... | shape | unit | meaning |
        for row in re.findall(r"^\|(.*)\|$", interface, flags=re.M):
            cells = [c.strip() for c in row.split("|")]
            fields = re.findall(r"`([^`]+)`", cells[0])
            if cells[1] != "(T,)" and not cells[1].startswith("{"):
                continue  # not a per-time field of the Result table
            if obs.attribute in fields or f'extra_observables["{obs.name}"]' in fields:
                documented.add(_si(cells[2]))
        # docs/numerics.md, "Quantities": - `name` [unit]
        name = obs.name
        for part in ("species", "channel", "gate"):
            name = name.replace("{" + part + "}", f"<{part}>")
        name = re.escape(name)
        pattern = r"^- `" + name + r"`[^\[\n]*\[([^\]]+)\]"
        documented |= {_si(u) for u in re.findall(pattern, numerics, flags=re.M)}
        assert documented == {obs.unit}, (obs.name, documented)
    # README "Conventions" documents the membrane charge's unit.
    assert re.search(r'"membrane_charge"\][^\[]*\[C/m²\]', readme, flags=re.S)
    assert registry.entry("membrane_charge").unit == "C/m^2"


def test_flat_names_find_their_entry():
    assert registry.observable_units("flux_Ca") == "mol/m^2/s"
    assert registry.observable_units("surface_charge_right") == "C/m^2"
    assert registry.observable_units("membrane_potential") == "V"
    assert registry.observable_units("capacitive_current") == ""
    # an error-estimate column has its observable's unit
    assert registry.error_column("membrane_potential") == "membrane_potential_error"
    assert registry.observable_units("membrane_potential_error") == "V"
    assert registry.observable_units("surface_charge_left_error") == "C/m^2"
    assert registry.observable_units("membrane_charge_error") == "C/m^2"
    assert registry.observable_units("capacitive_current_error") == ""
    rows = registry.describe(["K"])
    assert [r[0] for r in rows] == registry.observable_names(["K"])
    assert ("flux_K", "mol/m^2/s") == rows[3][:2] and "K" in rows[3][2]
