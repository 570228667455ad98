"""Outputs for physiologists (issue 13): currents in µA/cm², pA and pA/pF; protocol output times.

The whole-cell numbers are checked against the current density in the
result file times the cell's area (or over the membrane's specific
capacitance eps0 eps_r / d), computed here by hand; the default output
times of a case with protocols by their spacing in each stretch between
changes.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import CASES, pnp_cli, summary_rows

import pnp
from pnp.constants import VACUUM_PERMITTIVITY
from pnp.presentation import report
from pnp.presentation.cli import main
from pnp.results.whole_cell import cell_size, density_text
from pnp.simulation.loop import output_times

AREA = 1000e-12  # 1000 um^2 [m^2]
CLAMP = 0.01  # A/m^2 injected at the inside reservoir of ghk.toml


cli = pnp_cli
rows = summary_rows


def value_and_error(text: str, unit: str) -> tuple[float, float]:
    """``V ± E UNIT`` somewhere in ``text``."""
    number = r"([-+0-9.eE]+|inf|nan)"
    m = re.search(rf"{number} ± {number} {re.escape(unit)}(?:[\s),]|$)", text)
    assert m, f"no '± {unit}' in {text!r}"
    return float(m.group(1)), float(m.group(2))


def assert_shown(text: str, unit: str, value: float, error: float, digits: int = 12) -> None:
    """``text`` shows ``value ± error unit``: value to the estimate's digits (at
    most ``digits`` significant ones: display.MAX_DIGITS; whole-cell currents
    6), the estimate to one or two significant digits (at most 1/4 off)."""
    shown, shown_error = value_and_error(text, unit)
    assert shown_error == pytest.approx(error, rel=0.25)
    assert shown == pytest.approx(value, abs=shown_error + 5 * 10.0**-digits * abs(value))


def membrane_specific_capacitance(case) -> float:
    membrane = next(r for r in case.regions if r.membrane)
    return VACUUM_PERMITTIVITY * membrane.eps_r / membrane.length


@pytest.fixture(scope="module")
def clamped_cell(tmp_path_factory):
    """ghk.toml with 0.01 A/m^2 injected and [cell] area = "1000 um^2", run by `pnp run`."""
    folder = tmp_path_factory.mktemp("cell")
    text = (CASES / "ghk.toml").read_text() + '\n[cell]\narea = "1000 um^2"\n'
    case_file = folder / "cell.toml"
    case_file.write_text(text)
    out = folder / "cell.h5"
    argv = ["run", case_file, "--set", f"boundary.left.current={CLAMP}", "-o", out, "--no-plot"]
    code = main([str(a) for a in argv])
    assert code == 0
    return case_file, out


def test_cell_area_gives_pa_and_pa_per_pf(clamped_cell, capsys):
    case_file, out = clamped_cell
    case = pnp.load_case(case_file, overrides={"boundary.left.current": CLAMP})
    assert case.cell.area == pytest.approx(AREA, rel=1e-15)
    result = pnp.load_result(out)
    density = float(result.current[-1])
    error = float(result.error_estimate["current"][-1])
    assert density == pytest.approx(CLAMP, rel=1e-3)  # the clamp's current crosses the membrane
    text = report.summary(case, result)
    shown = rows(text)
    specific = membrane_specific_capacitance(case)
    assert_shown(
        shown["membrane current (whole cell)"], "pA", density * AREA * 1e12, error * AREA * 1e12, 6
    )
    assert_shown(
        shown["membrane current per capacitance"], "pA/pF", density / specific, error / specific
    )
    # 0.01 A/m^2 over 1000 um^2 is 10 pA
    assert value_and_error(shown["membrane current (whole cell)"], "pA")[0] == pytest.approx(
        10.0, rel=1e-3
    )


def test_cell_capacitance_gives_the_area_over_the_specific_capacitance(clamped_cell):
    case_file, out = clamped_cell
    text = case_file.read_text().replace('area = "1000 um^2"', 'capacitance = "10 pF"')
    case = pnp.Case.from_dict(tomllib.loads(text), overrides={"boundary.left.current": CLAMP})
    specific = membrane_specific_capacitance(case)
    assert case.cell.capacitance == pytest.approx(10e-12, rel=1e-15)
    size = cell_size(case)
    assert size.area == pytest.approx(10e-12 / specific, rel=1e-12)
    assert size.capacitance == pytest.approx(10e-12, rel=1e-12)
    result = pnp.load_result(out)  # same physics: [cell] changes only what is shown
    density = float(result.current[-1])
    error = float(result.error_estimate["current"][-1])
    shown = rows(report.summary(case, result))
    area = 10e-12 / specific
    assert_shown(
        shown["membrane current (whole cell)"], "pA", density * area * 1e12, error * area * 1e12, 6
    )
    # pA/pF does not depend on how the size was given
    assert_shown(
        shown["membrane current per capacitance"], "pA/pF", density / specific, error / specific
    )


def test_pnp_info_shows_the_cell_from_the_file(clamped_cell, capsys):
    case_file, out = clamped_cell
    # the capacitance from the case's inputs: A eps0 eps_r / d of its membrane
    case = pnp.load_case(case_file, overrides={"boundary.left.current": CLAMP})
    capacitance = AREA * membrane_specific_capacitance(case)
    with h5py.File(out, "r") as f:
        assert f.attrs["cell_area"] == pytest.approx(AREA, rel=1e-12)
        assert f.attrs["cell_scope"] == "whole cell"
        assert f.attrs["cell_capacitance"] == pytest.approx(capacitance, rel=1e-12)
    result = pnp.load_result(out)
    density = float(result.current[-1])
    error = float(result.error_estimate["current"][-1])
    code, text, _ = cli(capsys, "info", out)
    assert code == 0
    assert "membrane area 1000 µm^2" in text
    lines = text.splitlines()
    line = lines[next(i for i, s in enumerate(lines) if s.strip().startswith("current ")) + 1]
    assert_shown(line, "pA", density * AREA * 1e12, error * AREA * 1e12, 6)
    assert_shown(line, "pA/pF", density * AREA / capacitance, error * AREA / capacitance)
    # µA/cm^2 beside A/m^2, the estimate scaled along
    current = rows(text)["current"]
    assert_shown(current, "A/m^2", density, error)
    assert_shown(current, "µA/cm^2", density * 100, error * 100)


def test_saving_a_result_keeps_the_cell_size_without_validating_the_case_again(
    clamped_cell, tmp_path, monkeypatch
):
    """Result.save writes the cell's size the run (or the file read) found: the area
    of [cell], and the capacitance A eps0 eps_r / d of the case's membrane. It used
    to re-validate the case TOML at each save."""
    case_file, out = clamped_cell
    case = pnp.load_case(case_file, overrides={"boundary.left.current": CLAMP})
    ran = pnp.run(case, progress=False)
    loaded = pnp.load_result(out)

    def no_validation(*args, **kwargs):
        raise AssertionError("the case was validated again")

    monkeypatch.setattr("pnp.input.validation.CaseReader.build", no_validation)
    capacitance = AREA * membrane_specific_capacitance(case)  # 1000 um^2 of 5 nm, eps_r 2
    for name, result in (("ran", ran), ("loaded", loaded)):
        path = tmp_path / f"{name}.h5"
        result.save(path)
        with h5py.File(path, "r") as f:
            assert f.attrs["cell_area"] == pytest.approx(AREA, rel=1e-15)
            assert f.attrs["cell_capacitance"] == pytest.approx(capacitance, rel=1e-15)
            assert f.attrs["cell_scope"] == "whole cell"


def test_current_density_in_microampere_per_square_centimetre():
    assert density_text(0.0123, 0.0004) == "0.0123 ± 0.0004 A/m^2 (1.23 ± 0.04 µA/cm^2)"
    assert density_text(-2.5, None) == "-2.5 A/m^2 (-250 µA/cm^2)"


def test_summary_shows_microampere_per_square_centimetre(clamped_cell):
    case_file, out = clamped_cell
    case = pnp.load_case(case_file, overrides={"boundary.left.current": CLAMP})
    result = pnp.load_result(out)
    shown = rows(report.summary(case, result))["membrane current (outward +)"]
    density = float(result.current[-1])
    error = float(result.error_estimate["current"][-1])
    assert_shown(shown, "µA/cm^2", density * 100, error * 100)
    assert value_and_error(shown, "µA/cm^2")[0] == pytest.approx(1.0, rel=1e-3)  # 0.01 A/m^2


def _write(tmp_path: Path, extra: str, base: str = "ghk") -> Path:
    path = tmp_path / "case.toml"
    path.write_text((CASES / f"{base}.toml").read_text() + extra)
    return path


def test_area_and_capacitance_together_is_exit_2_naming_the_key(tmp_path, capsys):
    path = _write(tmp_path, '\n[cell]\narea = "1000 um^2"\ncapacitance = "10 pF"\n')
    code, out, err = cli(capsys, "check", path)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert str(path) in err and "`cell.capacitance`" in err and "not both" in err


@pytest.mark.parametrize("key", ["area", "capacitance"])
def test_cell_in_a_curved_geometry_is_exit_2(tmp_path, capsys, key):
    value = '"1000 um^2"' if key == "area" else '"10 pF"'
    path = _write(tmp_path, f"\n[cell]\n{key} = {value}\n", base="pump_leak")  # spherical
    code, _, err = cli(capsys, "check", path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert str(path) in err and f"`cell.{key}`" in err and "spherical" in err


def test_unit_strings_and_overrides(tmp_path):
    path = _write(tmp_path, '\n[cell]\narea = "0.5 cm^2"\n')
    assert pnp.load_case(path).cell.area == pytest.approx(0.5e-4, rel=1e-15)
    for text, si in (("1000 um^2", 1e-9), (2e-9, 2e-9), ("1000 µm^2", 1e-9)):
        assert pnp.load_case(path, overrides={"cell.area": text}).cell.area == pytest.approx(si)
    for text, si in (("10 pF", 1e-11), ("0.02 nF", 2e-11), ("1 uF", 1e-6)):
        case = pnp.load_case(path, overrides={"cell.capacitance": text})
        assert case.cell.capacitance == pytest.approx(si, rel=1e-15)
        assert case.cell.area is None  # overriding one drops the other
    with pytest.raises(pnp.CaseError, match=r"cell\.area"):
        pnp.load_case(path, overrides={"cell.area": "10 mV"})
    case = pnp.load_case(path)
    assert pnp.Case.from_dict(tomllib.loads(case.to_toml())) == case


# ---------------------------------------------------------------------------
# Default output times of a case with protocols
# ---------------------------------------------------------------------------


def protocol_case(changes, t_end=20e-3, outputs=None):
    data = tomllib.loads((CASES / "membrane_charging.toml").read_text())
    data["run"]["t_end"] = t_end
    if outputs is None:
        del data["run"]["outputs"]
    else:
        data["run"]["outputs"] = outputs
    data["protocol"] = [
        {"at": at, "set": {"boundary.left.potential": f"{10 * (k % 2)} mV"}}
        for k, at in enumerate(changes, 1)
    ]
    return pnp.Case.from_dict(data, source=CASES / "membrane_charging.toml")


def test_default_outputs_resolve_each_protocol_stretch():
    changes = [5e-3, 6e-3, 15e-3]  # a 1 ms pulse and a later change in a 20 ms run
    case = protocol_case(changes)
    times = np.asarray(output_times(case, 1e-12))
    assert times.size == len(case.run.outputs) <= 400
    assert np.all(np.diff(times) > 0) and times[-1] == 20e-3
    edges = [0.0, *changes, 20e-3]
    for start, stop in itertools.pairwise(edges):
        assert np.any(times == stop)  # each change time (and t_end) is an output
        length = stop - start
        inside = times[(times > start) & (times <= stop)]
        assert inside.size >= 20
        # evenly resolved: no gap wider than a twentieth of the stretch ...
        assert np.diff(np.concatenate([[start], inside])).max() <= length / 20 * (1 + 1e-9)
        # ... and a burst right after its start catches the fast transient
        assert inside[0] - start <= 1e-5 * length
        assert np.sum(inside - start < length / 100) >= 10


def test_default_outputs_stay_bounded_with_many_protocols():
    changes = list(np.linspace(0.1e-3, 19.9e-3, 300))
    times = np.asarray(protocol_case(changes).run.outputs)
    assert times.size <= 400
    assert set(changes) <= set(times.tolist())


def test_given_outputs_and_cases_without_protocols_are_unchanged():
    assert protocol_case([5e-3], outputs=50).run.outputs == 50
    assert protocol_case([5e-3], outputs=[1e-3, 20e-3]).run.outputs == (1e-3, 20e-3)
    assert protocol_case([]).run.outputs == 200
    # the membrane_charging case as shipped keeps its explicit list
    assert pnp.load_case(CASES / "membrane_charging.toml").run.outputs[0] == pytest.approx(1e-9)
