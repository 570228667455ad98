"""Plain numbers no cell has: the temperature is refused, the rest warned about.

A plain number is read in SI units, so `temperature = 22` was 22 K, run
silently. Each warning is one line, `pnp: warning: FILE: `KEY`: ...`, on
stderr: no Python warning display with pnp's source line.
"""

from __future__ import annotations

import re

import pytest
from helpers import CASES, pnp_subprocess

import pnp
from pnp.input import CaseWarning
from pnp.presentation.cli import main

NERNST = str(CASES / "nernst_k.toml")


def check(capsys, case, *overrides):
    """`pnp check CASE --set ...`: (exit code, stdout, stderr lines)."""
    argv = ["check", case]
    for item in overrides:
        argv += ["--set", item]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


@pytest.mark.parametrize("plain", ["22", "-5", "0.5", "3101.5"])
def test_a_plain_temperature_outside_200_to_400_k_is_an_error(tmp_path, capsys, plain):
    text = (CASES / "nernst_k.toml").read_text().replace('"37 degC"', plain)
    path = tmp_path / "cold.toml"
    path.write_text(text)
    code, out, err = check(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err) == 1, err
    assert err[0].startswith(f"pnp: error: {path}: `temperature`: {float(plain):g} K is outside")
    if float(plain) < 200:
        assert err[0].endswith(f'for degrees Celsius write "{float(plain):g} degC"')
    else:
        assert "310.15" in err[0]


def test_the_temperature_range_holds_for_overrides_and_units_too(capsys):
    code, _, err = check(capsys, NERNST, "temperature=22")
    assert code == 2 and '"22 degC"' in err[0] and len(err) == 1
    # with a unit it was meant, but still no aqueous cell: refused, without the hint
    code, _, err = check(capsys, NERNST, 'temperature="150 K"')
    assert code == 2 and err == [
        f"pnp: error: {NERNST}: `temperature`: 150 K is outside 200-400 K, the temperatures "
        "pnp accepts"
    ]
    for fine in ('"22 degC"', "295.15", "200", "400", '"-73.15 degC"'):
        code, _, err = check(capsys, NERNST, f"temperature={fine}")
        assert (code, err) == (0, []), fine
    assert "temperature 295.15 K" in check(capsys, NERNST, 'temperature="22 degC"')[1]


# (case, overrides, the key warned about, what the warning says)
WARNINGS = {
    "concentration": (
        NERNST,
        ["region.bath.concentration.K=20000", "region.bath.concentration.Cl=20000"],
        "region.bath.concentration.K",
        "20000 mol/m^3 is above 10 M; a plain number is read in mol/m^3: if another unit "
        'was meant, write it (e.g. "150 mM")',
    ),
    "thin membrane": (
        NERNST,
        ["region.membrane.length=3e-10"],
        "region.membrane.length",
        "3e-10 m is a membrane thinner than 0.5 nm",
    ),
    "diffusivity in cm^2/s": (
        NERNST,
        ["species.K.D=1.96e-5"],
        "species.K.D",
        "1.96e-05 m^2/s is above 1e-7 m^2/s",
    ),
    "regional diffusivity": (
        NERNST,
        ["region.bath.D.K=1e-6"],
        "region.bath.D.K",
        "1e-06 m^2/s is above 1e-7 m^2/s",
    ),
    "eps_r": (NERNST, ["region.bath.eps_r=5000"], "region.bath.eps_r", "5000 is a relative"),
    "capacitance in uF/cm^2": (
        NERNST,
        ["region.membrane.capacitance=1"],
        "region.membrane.capacitance",
        "1 F/m^2 is above 10 uF/cm^2",
    ),
    "permeability": (
        NERNST,
        ["region.membrane.permeability.K=5"],
        "region.membrane.permeability.K",
        "5 m/s is above 1 m/s",
    ),
    "barrier in kJ/mol": (
        NERNST,
        ["region.membrane.barrier.K=12"],
        "region.membrane.barrier.K",
        "12 J/mol is below 100 J/mol, a small fraction of RT (2.6 kJ/mol); a plain number is "
        'read in J/mol: if another unit was meant, write it (e.g. "12 kJ/mol")',
    ),
    "potential in mV": (
        NERNST,
        ["boundary.right.potential=-70"],
        "boundary.right.potential",
        "-70 V is beyond 1 V; a plain number is read in V: if another unit was meant, write "
        'it (e.g. "-70 mV")',
    ),
    "surface charge": (
        str(CASES / "debye_layer.toml"),
        ["boundary.left.surface_charge=-5"],
        "boundary.left.surface_charge",
        "-5 C/m^2 is beyond 1 C/m^2",
    ),
    "ion size in angstrom": (NERNST, ["species.K.size=3"], "species.K.size", "3 m is an ion size"),
    "region length in um": (NERNST, ["region.bath.length=1"], "region.bath.length", "1 m is a"),
    "pump half-activation": (
        str(CASES / "pump_leak.toml"),
        ["pump.j_max=1e-7", "pump.K_Na=20000", "pump.K_K=1.5"],
        "pump.K_Na",
        "20000 mol/m^3 is above 10 M",
    ),
}


@pytest.mark.parametrize("name", list(WARNINGS))
def test_an_absurd_plain_number_is_one_warning_line(capsys, name):
    case, overrides, key, says = WARNINGS[name]
    code, out, err = check(capsys, case, *overrides)
    assert code == 0 and out.startswith("case: ")
    assert err, f"no warning for {name}"
    # one line per absurd value (the concentration case has two), each naming file and key
    assert all(line.startswith(f"pnp: warning: {case}: `") for line in err), err
    first = err[0]
    assert first.startswith(f"pnp: warning: {case}: `{key}`: {says}"), first


def test_the_same_values_with_their_unit_are_taken_as_meant(capsys):
    code, _, err = check(
        capsys,
        NERNST,
        'boundary.right.potential="-1.5 V"',
        'region.membrane.length="0.3 nm"',
        'species.K.D="1e-6 m^2/s"',
    )
    assert (code, err) == (0, [])


def test_warnings_are_one_line_in_a_real_process_even_with_warnings_as_errors(tmp_path):
    """A new interpreter, PYTHONWARNINGS=error: the CaseWarnings of a `strict =
    false` case and of an absurd value are each one line, and the run goes on.
    Before, a warning was Python's display: pnp's file and line, then that
    source line (two lines), and under -W error an "internal error"."""
    text = (
        (CASES / "nernst_k.toml")
        .read_text()
        .replace(
            'concentration = { K = "5 mM", Cl = "5 mM" }',
            'concentration = { K = "5 mM", Cl = "6 mM" }',
        )
    )
    path = tmp_path / "loose.toml"
    path.write_text("strict = false\n" + text)
    proc = pnp_subprocess("check", path, "--set", "boundary.right.potential=-70", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert re.fullmatch(
        rf"pnp: warning: {re.escape(str(path))}: `region\.bath\.concentration`: region 'bath' is "
        r"not "
        r"electroneutral.*",
        lines[0],
    ), lines[0]
    assert lines[1].startswith(f"pnp: warning: {path}: `boundary.right.potential`: -70 V ")


def test_the_python_api_warns_with_a_case_warning():
    warned = r"nernst_k\.toml: `boundary\.right\.potential`: -70 V is beyond 1 V"
    with pytest.warns(CaseWarning, match=warned):
        pnp.load_case(NERNST, overrides={"boundary.right.potential": -70}).to_dict()
    # the resolved case of a temperature given with a unit loads again: its range is checked
    # however written, so plain kelvin in to_toml() never fails where the unit passed
    case = pnp.load_case(NERNST, overrides={"temperature": "5 degC"})
    assert pnp.Case.from_dict(case.to_dict()) == case
