"""README.md, claim by claim: what the user is told the `pnp` command and the case files do.

Each test names the README sentence it checks and checks numbers or strings,
not just that something ran. The CLI is run in-process through
``pnp.presentation.cli.main`` (as in test_cli.py) and, where a traceback or the process
exit status matters, as ``python -m pnp`` in a subprocess.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import charged_wall_toml, pnp_cli, pnp_subprocess, summary_rows
from scipy import constants

import pnp
from pnp import analytic
from pnp.constants import FARADAY
from pnp.presentation.cli import main

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"
RT_BODY = constants.R * 310.15

# the flagship's species: valence, diffusivity (pump_leak.toml)
SPECIES = {"K": (1, "1.96e-9"), "Na": (1, "1.33e-9"), "Cl": (-1, "2.03e-9"), "X": (-1, "1e-10")}


def species_toml(*names: str) -> str:
    """`[species.NAME]` tables of these SPECIES."""
    return "".join(
        f'[species.{n}]\nz = {SPECIES[n][0]}\nD = "{SPECIES[n][1]} m^2/s"\n' for n in names
    )


SPECIES_KNACLX = "\n" + species_toml("K", "Na", "Cl", "X")

CYTOPLASM = """
[[region]]
name = "cytoplasm"
length = "{length}"
eps_r = 80
concentration = {{ K = 140, Na = 12, Cl = 10, X = 142 }}
"""

MEMBRANE = """
[[region]]
name = "membrane"
membrane = true
length = "5 nm"
eps_r = 2
permeability = {{ K = "1e-8 m/s", Na = "5e-10 m/s", Cl = "4.5e-9 m/s" }}
"""

BATH = """
[[region]]
name = "bath"
length = "{length}"
eps_r = 80
concentration = {{ K = 5, Na = 145, Cl = 150 }}
"""


def write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


cli = pnp_cli


def number(text: str) -> float:
    """The leading number of a summary value such as "-69.4 mV"."""
    return float(text.split()[0])


# ---------------------------------------------------------------------------
# Exit codes: 3 solver failure (file written, status "failed" and the reason),
# 1 anything else; --debug shows tracebacks, without it one line.
# ---------------------------------------------------------------------------


def test_rtol_below_round_off_fails_exit_3_with_message_and_failed_file(tmp_path, capsys):
    """Numerics: "Requests below round-off ... fail with a message saying so"; exit code 3."""
    out = tmp_path / "absurd.h5"
    code, stdout, err = cli(
        capsys,
        "run",
        CASES / "membrane_charging.toml",
        "-o",
        out,
        "--no-plot",
        "--set",
        "run.rtol=1e-13",
    )
    assert code == 3
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "pnp: solver failed: run.rtol = 1e-13 is below round-off" in err
    assert "failed (run.rtol = 1e-13 is below round-off" in stdout  # the summary's first line
    with h5py.File(out) as f:
        assert f.attrs["status"] == "failed"
    res = pnp.load_result(out)
    assert res.status == "failed" and "below round-off" in res.message
    assert res.t.tolist() == [0.0]  # the initial state is kept; nothing was integrated


def test_solver_failure_keeps_every_output_so_far(tmp_path, capsys):
    """Exit codes: "3 solver failure (the result file is still written, with status "failed"
    and the reason)" — here the step limit, after the outputs already reached."""
    out = tmp_path / "limit.h5"
    code, _, err = cli(
        capsys,
        "run",
        CASES / "membrane_charging.toml",
        "-o",
        out,
        "--no-plot",
        "--quiet",
        "--set",
        "run.max_steps=40",
    )
    assert code == 3
    assert "step limit 40 reached" in err
    with h5py.File(out) as f:
        assert f.attrs["status"] == "failed"
    res = pnp.load_result(out)
    assert res.message.startswith("step limit 40 reached at t = ")
    t_fail = float(res.message.rsplit("t = ", 1)[1].split()[0])
    # outputs every 2 ns from 1 ns: all those before the failure are there, none after
    wanted = [0.0] + [t for t in np.arange(1, 122, 2) * 1e-9 if t <= t_fail]
    np.testing.assert_allclose(res.t, wanted, rtol=1e-12, atol=0)
    assert 1 < res.t.size < 62


def test_internal_error_is_exit_1_one_line_and_debug_reraises(tmp_path, capsys, monkeypatch):
    """Exit codes: "1 anything else"; "--debug shows tracebacks" (here: the exception escapes)."""
    import pnp.simulation.runner

    def broken(*args, **kwargs):
        raise RuntimeError("kaboom in the solver")

    monkeypatch.setattr(pnp.simulation.runner, "run", broken)
    args = ["run", CASES / "nernst_k.toml", "-o", tmp_path / "x.h5", "--quiet"]
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert err == "pnp: internal error: RuntimeError: kaboom in the solver (rerun with --debug)\n"
    for argv in (["--debug", *args], [*args, "--debug"]):  # before or after the subcommand
        with pytest.raises(RuntimeError, match="kaboom"):
            main([str(a) for a in argv])


def test_debug_shows_traceback_only_with_debug(tmp_path):
    """--debug: a bad case is one line without it, a full traceback with it."""
    bad = write(tmp_path, (CASES / "nernst_k.toml").read_text().replace("eps_r = 2", "eps_rr = 2"))
    plain = pnp_subprocess("check", bad)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1
    assert "eps_rr" in plain.stderr and bad.name in plain.stderr
    for argv in (("--debug", "check", bad), ("check", bad, "--debug")):
        loud = pnp_subprocess(*argv)
        assert loud.returncode != 0
        assert "Traceback (most recent call last)" in loud.stderr
        assert "CaseError" in loud.stderr and "eps_rr" in loud.stderr


def test_exit_codes_of_the_real_process(tmp_path):
    """The process exit status is the documented code (not only main()'s return value)."""
    ok = pnp_subprocess(
        "run", CASES / "nernst_k.toml", "-o", tmp_path / "n.h5", "--quiet", "--no-plot"
    )
    assert ok.returncode == 0, ok.stderr
    again = pnp_subprocess("run", CASES / "nernst_k.toml", "-o", tmp_path / "n.h5", "--quiet")
    assert again.returncode == 2 and "--force" in again.stderr
    failed = pnp_subprocess(
        "run",
        CASES / "membrane_charging.toml",
        "-o",
        tmp_path / "f.h5",
        "--quiet",
        "--no-plot",
        "--set",
        "run.rtol=1e-12",
    )
    assert failed.returncode == 3 and "below round-off" in failed.stderr


# ---------------------------------------------------------------------------
# Figures: "`pnp run` writes a PNG beside its result file (unless `--no-plot`
# or `[output] plot = false`)".
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("plot", [True, False])
def test_output_plot_setting(tmp_path, capsys, plot):
    text = (CASES / "nernst_k.toml").read_text()
    text = text.replace(
        '[output]\npath = "../results/nernst_k.h5"', f"[output]\nplot = {str(plot).lower()}"
    )
    assert f"plot = {str(plot).lower()}" in text
    out = tmp_path / "n.h5"
    code, stdout, _ = cli(capsys, "run", write(tmp_path, text), "-o", out)
    assert code == 0
    png = tmp_path / "n.png"
    assert png.exists() is plot
    assert (f"figure: {png}" in stdout) is plot
    if plot:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_output_path_default_is_relative_to_the_case_file(tmp_path, capsys, monkeypatch):
    """[output] path: "Result file, relative to the case file's directory"; default
    `results/<case stem>.h5`."""
    case_dir = tmp_path / "cases"
    case_dir.mkdir()
    text = (
        (CASES / "nernst_k.toml")
        .read_text()
        .replace('path = "../results/nernst_k.h5"', 'path = "sub/k.h5"\nplot = false')
    )
    write(case_dir, text, "mine.toml")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, _ = cli(capsys, "run", case_dir / "mine.toml")
    assert code == 0
    assert (case_dir / "sub" / "k.h5").exists() and not (elsewhere / "sub").exists()
    # without an [output] path the default is results/<stem>.h5 beside the case
    bare = text.replace('path = "sub/k.h5"\n', "")
    write(case_dir, bare, "bare.toml")
    code, _, _ = cli(capsys, "run", case_dir / "bare.toml")
    assert code == 0
    assert (case_dir / "results" / "bare.h5").exists()


# ---------------------------------------------------------------------------
# Conventions: V_m = phi(inside) - phi(outside), fluxes and currents positive
# outward, boundary current = current entering the domain; inside = "right".
# ---------------------------------------------------------------------------


def _ghk_text(inside: str, clamp: float = 0.0) -> str:
    cyto, mem, bath = CYTOPLASM.format(length="1 um"), MEMBRANE.format(), BATH.format(length="1 um")
    head = f'title = "GHK, inside {inside}"\ntemperature = "37 degC"\ninside = "{inside}"\n'
    floating = f'type = "reservoir"\npotential = "floating"\ncurrent = {clamp!r}\n'
    grounded = 'type = "reservoir"\npotential = 0\n'
    if inside == "left":
        body = cyto + mem + bath + f"[boundary.left]\n{floating}\n[boundary.right]\n{grounded}"
    else:
        body = bath + mem + cyto + f"[boundary.left]\n{grounded}\n[boundary.right]\n{floating}"
    expect = '\n[expect]\nmembrane_potential = "ghk"\ntolerance = 1e-4\n'
    return (
        head + SPECIES_KNACLX + body + "\n[output]\nplot = false\n" + (expect if not clamp else "")
    )


def test_inside_right_summary_matches_the_mirrored_case(tmp_path, capsys):
    """`inside = "right"`: the summary of the mirrored GHK cell reads as the left-inside one —
    V_m inside minus outside, fluxes outward positive (K+ out, Na+ in), surface charges swapped."""
    rows = {}
    for inside in ("left", "right"):
        path = write(tmp_path, _ghk_text(inside), f"ghk_{inside}.toml")
        code, out, _ = cli(capsys, "run", path, "-o", tmp_path / f"{inside}.h5")
        assert code == 0
        assert re.search(r"^membrane potential \(GHK\) .* mV\s+ok$", out, re.M), out
        rows[inside] = summary_rows(out)
        code, out, _ = cli(capsys, "check", path)
        assert f"inside = {inside}" in out
    left, right = rows["left"], rows["right"]
    z = {"K": 1, "Na": 1, "Cl": -1}
    c_in, c_out = {"K": 140, "Na": 12, "Cl": 10}, {"K": 5, "Na": 145, "Cl": 150}
    perm = {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}
    v_ghk = analytic.ghk_voltage(c_in, c_out, perm, z, 310.15)
    for side in (left, right):
        # mesh error of the GHK voltage: 2.5e-4 mV measured (README table); 10x that
        assert number(side["membrane potential"]) == pytest.approx(v_ghk * 1e3, abs=2.5e-3)
        assert number(side["flux K (outward +)"]) > 0 > number(side["flux Na (outward +)"])
        assert abs(number(side["membrane current (outward +)"])) < 1e-9  # open circuit
    # mirrored mesh: the same numbers to the printed 6 digits
    for key in (
        "membrane potential",
        "flux K (outward +)",
        "flux Na (outward +)",
        "flux Cl (outward +)",
        "flux X (outward +)",
        "excess charge inside (per m^2 of membrane)",
    ):
        assert number(left[key]) == pytest.approx(number(right[key]), rel=1e-5, abs=0), key
    assert number(left["surface charge left"]) == pytest.approx(
        number(right["surface charge right"]), rel=1e-3, abs=1e-12
    )


@pytest.mark.parametrize("inside", ["left", "right"])
def test_injected_current_flows_outward_across_the_membrane(tmp_path, capsys, inside):
    """Conventions: `boundary.<side>.current` enters the domain; "a positive current injected
    at the inside boundary flows outward across the membrane" (the README's --set example)."""
    path = write(tmp_path, _ghk_text(inside, clamp=0.0))
    out = tmp_path / "clamp.h5"
    code, stdout, _ = cli(
        capsys, "run", path, "--set", f"boundary.{inside}.current=0.01", "-o", out, "--force"
    )
    assert code == 0
    res = pnp.load_result(out)
    # steady state: all the injected current crosses the membrane (measured 2.8e-13 relative,
    # Newton's residual)
    assert res.current[-1] == pytest.approx(0.01, rel=3e-12, abs=0)
    assert number(summary_rows(stdout)["membrane current (outward +)"]) == pytest.approx(
        0.01, rel=1e-6, abs=0
    )
    # depolarised relative to the open-circuit GHK voltage
    z = {"K": 1, "Na": 1, "Cl": -1}
    v_ghk = analytic.ghk_voltage(
        {"K": 140, "Na": 12, "Cl": 10},
        {"K": 5, "Na": 145, "Cl": 150},
        {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9},
        z,
        310.15,
    )
    assert res.membrane_potential[-1] > v_ghk + 1e-3
    # and it equals the GHK I-V relation's voltage for +0.01 A/m^2 outward
    from scipy.optimize import brentq

    def total(v):
        return (
            sum(
                analytic.ghk_current(
                    v,
                    {"K": 140, "Na": 12, "Cl": 10}[s],
                    {"K": 5, "Na": 145, "Cl": 150}[s],
                    z[s],
                    {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}[s],
                    310.15,
                )
                for s in z
            )
            - 0.01
        )

    v_clamp = brentq(total, v_ghk, 0.2, xtol=1e-12)
    # GHK holds for the potential drop across the membrane only; the Debye layers beside it
    # carry part of V_m (measured 1.80e-5 V at 0.01 A/m^2, either orientation)
    assert res.membrane_potential[-1] == pytest.approx(v_clamp, abs=2e-4)


# ---------------------------------------------------------------------------
# Radial geometries: "the `pnp run` summary converts to whole cell (spherical)
# or per metre of cell (cylindrical)".
# ---------------------------------------------------------------------------

R_AXON = 200e-9  # cytoplasm radius [m]: small, so r at the membrane's faces differ by 2.5 %
D_MEM = 5e-9  # membrane thickness [m]
PUMP_RATE = 1e-7  # [mol/m^2/s]


def _axon_text() -> str:
    return (
        'title = "thin axon"\ntemperature = "37 degC"\ngeometry = "cylindrical"\n'
        'inside = "left"\n'
        + SPECIES_KNACLX
        + CYTOPLASM.format(length="200 nm")
        + MEMBRANE.format()
        + BATH.format(length="1 um")
        + '[boundary.left]\ntype = "wall"\n[boundary.right]\ntype = "reservoir"\npotential = 0\n'
        + f'[pump]\nmembrane = "membrane"\nrate = {PUMP_RATE!r}\n[output]\nplot = false\n'
    )


def test_cylindrical_summary_is_per_metre_of_cell(tmp_path, capsys):
    """Per-metre currents are the current density times 2 pi r at the face where it is
    measured (mid face of the membrane); charges and ions inside are integrals over
    pi (r_R^2 - r_L^2) per metre, recomputed here from the result's faces."""
    out = tmp_path / "axon.h5"
    code, stdout, _ = cli(capsys, "run", write(tmp_path, _axon_text()), "-o", out)
    assert code == 0
    rows = summary_rows(stdout)
    res = pnp.load_result(out)
    assert res.geometry == "cylindrical"
    # the membrane current is measured at its mid face (README Conventions), r = R + d/2
    per_metre = 2.0 * math.pi * (R_AXON + D_MEM / 2.0)  # m^2 per m
    unit = "per m of cell length"
    i_total = res.current[-1] * per_metre * 1e12  # pA per m
    i_pump = FARADAY * PUMP_RATE * per_metre * 1e12
    assert res.pump_current[-1] == pytest.approx(FARADAY * PUMP_RATE, rel=1e-15, abs=0)
    # printed to 6 significant digits: rounding <= 5e-6 relative
    assert number(rows[f"membrane current ({unit})"]) == pytest.approx(i_total, rel=1e-5, abs=0)
    assert number(rows[f"pump current ({unit})"]) == pytest.approx(i_pump, rel=1e-5, abs=0)
    # Na+ leak = total Na+ flux minus the pump's 3 Na+ out per cycle; K+ leak: plus 2 K+ in
    na_leak = FARADAY * (res.flux["Na"][-1] - 3 * PUMP_RATE) * per_metre * 1e12
    k_leak = FARADAY * (res.flux["K"][-1] + 2 * PUMP_RATE) * per_metre * 1e12
    assert number(rows[f"Na leak current ({unit})"]) == pytest.approx(na_leak, rel=1e-5, abs=0)
    assert number(rows[f"K leak current ({unit})"]) == pytest.approx(k_leak, rel=1e-5, abs=0)
    # steady state of a closed cell: every species' total flux is zero, so the leaks
    # cancel the pump: Na leak = -3 F j_p, K leak = +2 F j_p per unit area
    assert na_leak == pytest.approx(-3 * i_pump, rel=1e-6, abs=0)
    assert k_leak == pytest.approx(2 * i_pump, rel=1e-6, abs=0)
    # charge and ions in the cytoplasm per metre, from shells pi (r_R^2 - r_L^2)
    cyto = res.region == res.region_names.index("cytoplasm")
    shells = math.pi * np.diff(res.faces**2)[cyto]
    z = np.array([1, 1, -1, -1])
    conc = res.concentration[-1][:, cyto]
    charge = float(shells @ (z @ conc)) * constants.N_A
    ions = float(shells @ conc.sum(axis=0)) * constants.N_A
    # printed to 4 significant digits (<= 5e-4 relative), the ratio to 3
    assert number(rows[f"excess charge inside ({unit})"]) == pytest.approx(charge, rel=1e-3, abs=0)
    assert number(rows[f"ions inside ({unit})"]) == pytest.approx(ions, rel=1e-3, abs=0)
    assert number(rows["excess charge / ions inside"]) == pytest.approx(
        abs(charge) / ions, rel=1e-2, abs=0
    )
    # the cell is negative inside and the excess is the membrane capacitor's charge
    assert charge < 0 and res.membrane_potential[-1] < -0.05


# ---------------------------------------------------------------------------
# Case-file extensions: `D = { X = 0 }`, several `[[pump]]`, bulk `barrier`.
# ---------------------------------------------------------------------------


def _gel_text(d_x: str) -> str:
    """A gel of fixed anions X- beside a KCl bath: Cl- and K+ diffuse in, X- (maybe) not."""
    return f"""title = "gel"
{species_toml("K", "Cl", "X")}
[[region]]
name = "gel"
length = "1 um"
eps_r = 80
concentration = {{ K = 150, Cl = 8, X = 142 }}
{d_x}
[[region]]
name = "bath"
length = "1 um"
eps_r = 80
concentration = {{ K = 150, Cl = 150 }}

[boundary.left]
type = "wall"
[boundary.right]
type = "reservoir"
potential = 0

[run]
mode = "transient"
t_end = "1e-5 s"
outputs = 4
rtol = 1e-4

[output]
plot = false
"""


def test_immobile_species_does_not_move(tmp_path, capsys):
    """`D = { X = 0 }`: "0 makes a species immobile in that region" — over a transient in
    which Cl- floods the gel and the field rearranges K+, X- stays put in every cell."""
    moved = {}
    for label, d_x in (("immobile", "D = { X = 0 }"), ("mobile", "")):
        out = tmp_path / f"{label}.h5"
        code, _, _ = cli(
            capsys, "run", write(tmp_path, _gel_text(d_x), f"{label}.toml"), "-o", out, "--quiet"
        )
        assert code == 0
        res = pnp.load_result(out)
        gel = res.region == res.region_names.index("gel")
        x_now, x_start = res.c("X")[:, gel], res.c("X")[0, gel]
        moved[label] = np.max(np.abs(x_now - x_start)) / 142.0
        # meanwhile the mobile ions move a lot: Cl- in the gel rises from 8 mM by tens of mM
        assert np.max(res.c("Cl")[-1, gel]) - 8.0 > 10.0
        assert res.t[-1] == 1e-5 and res.status == "completed"
    # immobile: X unchanged to round-off in every cell at every output (measured 3.4e-15
    # relative, ~15 ulp accumulated over the steps' Newton updates)
    assert moved["immobile"] <= 4e-14, moved
    # the control: with its bulk D, X- leaves the gel by whole percent
    assert moved["mobile"] > 1e-2, moved


def _pump_text(
    pumps: str,
    permeability: str,
    extra_species: str = "",
    bath_extra: str = "",
    cyto_extra: str = "",
    run: str = "",
) -> str:
    """A closed cartesian cell (wall | cytoplasm | membrane | bath | reservoir) with pumps."""
    return (
        'title = "pumps"\ntemperature = "37 degC"\n'
        + SPECIES_KNACLX
        + extra_species
        + f"""
[[region]]
name = "cytoplasm"
length = "1 um"
eps_r = 80
concentration = {{ K = 140, Na = 12, Cl = 10, X = 142{cyto_extra} }}

[[region]]
name = "membrane"
membrane = true
length = "5 nm"
eps_r = 2
permeability = {{ {permeability} }}

[[region]]
name = "bath"
length = "1 um"
eps_r = 80
concentration = {{ K = 5, Na = 145, Cl = 150{bath_extra} }}

[boundary.left]
type = "wall"
[boundary.right]
type = "reservoir"
potential = 0
{pumps}
{run}
[output]
plot = false
"""
    )


LEAKS = 'K = "1.34e-8 m/s", Na = "7.4e-10 m/s", Cl = "1e-9 m/s"'


def test_two_pumps_splitting_one_pumps_rate_give_its_steady_state(tmp_path, capsys):
    """`[[pump]]` (several): two pumps at 0.4 and 0.6 of a rate act as one pump at the rate."""
    one = '[pump]\nmembrane = "membrane"\nrate = 1e-7\n'
    two = (
        '[[pump]]\nmembrane = "membrane"\nrate = 4e-8\n'
        '[[pump]]\nmembrane = "membrane"\nrate = 6e-8\n'
    )
    results, rows = {}, {}
    for label, pumps in (("one", one), ("two", two)):
        out = tmp_path / f"{label}.h5"
        code, stdout, _ = cli(
            capsys, "run", write(tmp_path, _pump_text(pumps, LEAKS), f"{label}.toml"), "-o", out
        )
        assert code == 0
        results[label], rows[label] = pnp.load_result(out), summary_rows(stdout)
    a, b = results["one"], results["two"]
    # the same state (measured: bit-identical here; the split rates' sum may differ from the
    # one rate by an ulp, which Newton carries to round-off of the state)
    np.testing.assert_allclose(b.concentration[-1], a.concentration[-1], rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.potential[-1], a.potential[-1], rtol=0, atol=1e-13)
    assert b.pump_current[-1] == pytest.approx(FARADAY * 1e-7, rel=1e-15, abs=0)
    assert rows["one"]["pump current"] == rows["two"]["pump current"]
    # pumping moved the cell well away from its pump-free Donnan state
    assert a.membrane_potential[-1] < -0.05
    # and the summary's leak current is current - pump current
    leak = number(rows["two"]["leak current (outward +)"])
    assert leak == pytest.approx(b.current[-1] - b.pump_current[-1], rel=1e-5, abs=0)
    assert leak == pytest.approx(-FARADAY * 1e-7, rel=1e-5, abs=0)  # closed cell: no net current


def test_two_pumps_of_different_species_act_independently(tmp_path, capsys):
    """`[[pump]]` with `sodium`/`potassium` names: each pump moves 3 of its `sodium` out and 2
    of its `potassium` in per cycle, and nothing else. With an impermeant membrane the amounts
    inside change by exactly -3 j t and +2 j t per pump (a conservation audit)."""
    r1, r2 = 1e-7, 3e-7
    species = '[species.Li]\nz = 1\nD = "1e-9 m^2/s"\n[species.Rb]\nz = 1\nD = "2e-9 m^2/s"\n'
    pumps = (
        '[[pump]]\nmembrane = "membrane"\nrate = 1e-7\n'
        '[[pump]]\nmembrane = "membrane"\nrate = 3e-7\nsodium = "Li"\npotassium = "Rb"\n'
    )
    run = '[run]\nmode = "transient"\nt_end = "1 ms"\noutputs = 3\nmax_steps = 2000\n'
    text = _pump_text(pumps, "", species, ", Li = 5, Rb = 5", ", Li = 5, Rb = 5", run)
    text = text.replace("Cl = 10, X = 142, Li = 5, Rb = 5", "Cl = 10, X = 152, Li = 5, Rb = 5")
    text = text.replace("Cl = 150, Li = 5, Rb = 5", "Cl = 160, Li = 5, Rb = 5")
    out = tmp_path / "indep.h5"
    code, stdout, _ = cli(capsys, "run", write(tmp_path, text), "-o", out)
    assert code == 0, stdout
    res = pnp.load_result(out)
    cyto = res.region == res.region_names.index("cytoplasm")
    widths = np.diff(res.faces)[cyto]
    amounts = {s: res.c(s)[:, cyto] @ widths for s in res.species}  # mol/m^2
    t = res.t
    expected = {
        "Na": -3 * r1 * t,
        "K": 2 * r1 * t,
        "Li": -3 * r2 * t,
        "Rb": 2 * r2 * t,
        "Cl": 0 * t,
        "X": 0 * t,
    }
    for s, change in expected.items():
        # every step balances amounts to round-off: measured 5.6e-19 mol/m^2 against
        # changes of 1e-10 and totals of 1.5e-4 mol/m^2
        np.testing.assert_allclose(
            amounts[s] - amounts[s][0], change, rtol=0, atol=6e-18, err_msg=s
        )
    assert number(summary_rows(stdout)["pump current"]) == pytest.approx(
        FARADAY * (r1 + r2), rel=1e-5, abs=0
    )
    # one + leaves per cycle: the capacitor's inside face holds -F (j1 + j2) t (Gauss: all the
    # cell's net charge; measured 1.6e-9 relative)
    assert res.extra_observables["membrane_charge"][-1] == pytest.approx(
        -FARADAY * (r1 + r2) * t[-1], rel=2e-8, abs=0
    )


def test_bulk_barrier_is_a_partition_offset(tmp_path, capsys):
    """`barrier.<species>` in a bulk region: "partition offset" dG, in the effective potential
    u = z phi/V_T + dG/RT, so at equilibrium c = c_bath exp(-dG/RT) exp(-z phi/V_T) in every
    cell; a neutral species takes exp(-dG/RT) alone, and a 1:1 salt with dG on the cation
    settles electroneutral at c = c_bath exp(-dG/2RT) behind a Donnan step phi = -dG/2F."""
    dg_na, dg_u = 5e3, 3e3
    text = f"""title = "partition"
[species.Na]
z = 1
D = "1.33e-9 m^2/s"
[species.Cl]
z = -1
D = "2.03e-9 m^2/s"
[species.U]
z = 0
D = "1e-9 m^2/s"

[[region]]
name = "gel"
length = "200 nm"
eps_r = 80
concentration = {{ Na = 100, Cl = 100, U = 10 }}
barrier = {{ Na = "{dg_na / 1e3:g} kJ/mol", U = "{dg_u / 1e3:g} kJ/mol" }}

[[region]]
name = "bath"
length = "200 nm"
eps_r = 80
concentration = {{ Na = 100, Cl = 100, U = 10 }}

[boundary.left]
type = "wall"
[boundary.right]
type = "reservoir"
potential = 0

[output]
plot = false
"""
    out = tmp_path / "partition.h5"
    code, _, _ = cli(capsys, "run", write(tmp_path, text), "-o", out, "--quiet")
    assert code == 0
    res = pnp.load_result(out)
    rt = constants.R * res.temperature
    vt = rt / FARADAY
    gel = res.region == res.region_names.index("gel")
    phi = res.potential[-1]
    bath = {"Na": 100.0, "Cl": 100.0, "U": 10.0}
    for s, z, dg in (("Na", 1, dg_na), ("Cl", -1, 0.0), ("U", 0, dg_u)):
        offset = np.where(gel, dg, 0.0)
        boltzmann = bath[s] * np.exp(-offset / rt - z * phi / vt)
        # Scharfetter-Gummel fluxes vanish exactly on Boltzmann profiles: measured 1.2e-15 rel
        np.testing.assert_allclose(res.c(s)[-1], boltzmann, rtol=1.2e-14, atol=0, err_msg=s)
    # measured 0.0: no potential acts on the neutral species
    np.testing.assert_allclose(res.c("U")[-1, gel], 10.0 * math.exp(-dg_u / rt), rtol=1e-14)
    # mid-gel (> 100 Debye lengths from its ends): electroneutral Donnan partition
    # (measured 0.0 in c, 6.7e-16 relative in phi; the Debye-layer tails are e^-100)
    mid = np.flatnonzero(gel)[np.argmin(np.abs(res.x[gel] - 100e-9))]
    salt = 100.0 * math.exp(-dg_na / (2 * rt))
    assert res.c("Na")[-1, mid] == pytest.approx(salt, rel=1e-14, abs=0)
    assert res.c("Cl")[-1, mid] == pytest.approx(salt, rel=1e-14, abs=0)
    assert phi[mid] == pytest.approx(-dg_na / (2 * FARADAY), rel=1e-14, abs=0)


# ---------------------------------------------------------------------------
# Sweeps: Dask from the CLI; the 1D sweep's reversal potential.
# ---------------------------------------------------------------------------


def _sweep_table(stdout: str) -> list[str]:
    """The table rows and the reversal line of a `pnp sweep` summary (not the path line)."""
    return [line for line in stdout.splitlines() if "summary:" not in line]


@pytest.mark.slow
def test_dask_local_scheduler_gives_the_local_pool_summary(tmp_path, capsys):
    """Dask: `pnp sweep ... --scheduler local` starts a LocalCluster; the same points give the
    same summary as the local process pool."""
    pytest.importorskip("dask.distributed")
    args = ["sweep", CASES / "ghk_iv.toml", "--param", "boundary.left.potential=-0.1:0.06:5"]
    code, pool, _ = cli(capsys, *args, "-j", "1", "-o", tmp_path / "pool")
    assert code == 0
    code, dask, _ = cli(capsys, *args, "--scheduler", "local", "-j", "1", "-o", tmp_path / "dask")
    assert code == 0
    assert _sweep_table(dask) == _sweep_table(pool)
    assert "5 completed, 0 failed" in dask and "reversal potential (current = 0)" in dask
    a = (tmp_path / "pool" / "summary.csv").read_text().splitlines()
    b = (tmp_path / "dask" / "summary.csv").read_text().splitlines()
    assert len(a) == len(b) == 6


def test_sweep_prints_reversal_potential_and_exit_3_when_a_point_fails(tmp_path, capsys):
    """Sweeps: "A 1D sweep prints the reversal potential (spline root of the current)";
    "a failing point never stops the others, and the exit code is 3 if any failed"."""
    code, out, _ = cli(
        capsys,
        "sweep",
        CASES / "ghk_iv.toml",
        "--param",
        "boundary.left.potential=-0.1:0.06:17",
        "-j",
        "1",
        "-o",
        tmp_path / "iv",
    )
    assert code == 0
    v_rev = float(re.search(r"reversal potential \(current = 0\): (\S+) mV", out).group(1))
    case = pnp.load_case(CASES / "ghk_iv.toml")
    mem = next(r for r in case.regions if r.membrane)
    inside, outside = case.regions[0], case.regions[-1]
    z = {s.name: s.z for s in case.species}
    perm = {k: v for k, v in mem.permeability.items() if v > 0}
    v_ghk = analytic.ghk_voltage(
        inside.concentration, outside.concentration, perm, z, case.temperature
    )
    # spline root through 10 mV spacing, and the mesh's GHK error: measured 2.75e-4 mV off
    # (printed to 1e-4 mV)
    assert v_rev == pytest.approx(v_ghk * 1e3, abs=3e-3)
    # a transient whose second point asks for rtol below round-off: that point fails alone
    code, out, err = cli(
        capsys,
        "sweep",
        CASES / "membrane_charging.toml",
        "--param",
        "run.rtol=1e-4,1e-13",
        "--set",
        "run.t_end=2e-9",
        "--set",
        "run.outputs=2",
        "-j",
        "1",
        "-o",
        tmp_path / "fail",
    )
    assert code == 3
    assert "1 of 2 points failed" in err
    lines = (tmp_path / "fail" / "summary.csv").read_text().splitlines()
    assert "completed" in lines[1] and "failed" in lines[2] and "below round-off" in lines[2]


def test_output_times_steady_inf_transient_from_zero_with_protocol_times(tmp_path, capsys):
    """Conventions: "A steady result has one output time, t = inf. A transient result starts
    with the initial state at t = 0 and has every protocol time among its outputs"."""
    code, _, _ = cli(capsys, "run", CASES / "nernst_k.toml", "-o", tmp_path / "s.h5", "--quiet")
    assert code == 0
    assert pnp.load_result(tmp_path / "s.h5").t.tolist() == [math.inf]
    # 3 log-spaced outputs that miss the protocol time 1 ns; the step lands at 0 mV on it
    code, _, _ = cli(
        capsys,
        "run",
        CASES / "membrane_charging.toml",
        "-o",
        tmp_path / "t.h5",
        "--quiet",
        "--no-plot",
        "--set",
        "run.outputs=3",
        "--set",
        "run.t_end=5e-9",
    )
    assert code == 0
    res = pnp.load_result(tmp_path / "t.h5")
    assert res.t[0] == 0.0 and 1e-9 in res.t.tolist() and res.t[-1] == 5e-9
    before = res.t.tolist().index(1e-9)
    # the state just before the change: the clamp still at 0 mV, so no membrane charge yet
    assert abs(res.membrane_potential[before]) < 1e-9
    assert res.membrane_potential[-1] > 1e-3


# ---------------------------------------------------------------------------
# How accurate is a result: every steady result carries value ± estimate; the
# estimate is about three times the true error; tolerance tightens it;
# adapt = false keeps the mesh with an estimate: the change from it merged in pairs.
# ---------------------------------------------------------------------------

WALL = charged_wall_toml(-0.3, 1, "300 nm", "wall of -0.3 C/m^2 in 1 mM NaCl")


def _wall_run(tmp_path, capsys, name, *overrides) -> tuple[str, pnp.Result, float]:
    """`pnp run` of WALL: (stdout, result, true error of the surface potential [V])."""
    argv = ["run", write(tmp_path, WALL), "-o", tmp_path / f"{name}.h5", "--no-plot"]
    for item in overrides:
        argv += ["--set", item]
    code, out, err = cli(capsys, *argv)
    assert code == 0 and err == "", err
    result = pnp.load_result(tmp_path / f"{name}.h5")
    exact = analytic.grahame_potential(-0.3, {"Na": 1, "Cl": 1}, {"Na": 1, "Cl": -1}, 78.5, 298.15)
    return out, result, abs(result.membrane_potential[-1] - exact)


def test_how_accurate_every_steady_result_carries_an_honest_estimate(tmp_path, capsys):
    """README "How accurate is a result": value ± estimate; with the defaults a charged
    wall's surface potential within 0.004 mV of Grahame, the estimate 3.0 times the
    true error, one or two refinement cycles (measured: 2.71e-6 V, 3.0, 2 cycles)."""
    out, result, error = _wall_run(tmp_path, capsys, "default")
    assert re.search(r"^membrane potential\s+-\d+\.\d+ ± \d\S* mV", out, re.M), out
    assert re.search(
        r"^mesh\s+\d+ cells, adapted in [12] cycles? to mesh.tolerance 1e-05; estimates: "
        r"the change from the mesh with cells twice as large",
        out,
        re.M,
    ), out
    estimate = result.error_estimate["membrane_potential"][-1]
    assert error <= 0.004e-3
    assert 2.5 <= estimate / error <= 3.5
    assert estimate <= 1e-5  # within mesh.tolerance, in V
    assert result.stats["mesh_cycles"] in (1, 2)
    assert result.stats["cells"] == result.x.size == result.mesh().n_cells
    for name, values in result.error_estimate.items():
        assert np.isfinite(values[-1]) and values[-1] >= 0.0, name


def test_how_accurate_tighter_tolerance_and_a_mesh_of_your_own(tmp_path, capsys):
    """README: `--set mesh.tolerance=1e-7`: ~10x the cells (measured 530 -> 5152),
    3e-8 V from Grahame (2.71e-8); `mesh.adapt = false`: 0.45 mV off, estimate 1.4 mV (the
    change from the mesh with its cells merged in pairs: at least the error, and
    three times it at second order; measured 3.05)."""
    _, default, _ = _wall_run(tmp_path, capsys, "default")
    _, tight, error = _wall_run(tmp_path, capsys, "tight", "mesh.tolerance=1e-7")
    assert error <= 3e-8
    assert 5 <= tight.stats["cells"] / default.stats["cells"] <= 20
    out, fixed, error = _wall_run(tmp_path, capsys, "fixed", "mesh.adapt=false")
    assert re.search(
        r"^mesh\s+\d+ cells, as given \(mesh.adapt = false\); estimates: the change from "
        r"this mesh with cells merged in pairs",
        out,
        re.M,
    ), out
    assert fixed.stats["mesh_cycles"] == 1
    assert fixed.stats["cells"] == pnp.build_mesh(pnp.load_case(tmp_path / "case.toml")).n_cells
    estimate = fixed.error_estimate["membrane_potential"][-1]
    assert 0.4e-3 <= error <= 0.5e-3 and 2.5 * error <= estimate <= 3.5 * error
