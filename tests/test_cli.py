"""The `pnp` command: exit codes, one-line errors naming file and key, summaries."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import constants

import pnp
from pnp import analytic
from pnp.presentation.cli import main
from pnp.presentation.report import summary

CASES = Path(__file__).resolve().parent.parent / "cases"


def write_case(tmp_path, text, name="case.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = (CASES / "nernst_k.toml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            'eps_r = 80\nconcentration = { K = "140 mM"',
            'epsr = 80\nconcentration = { K = "140 mM"',
            "eps_r",
        ),  # unknown key, suggestion
        ('length = "1 um"', 'length = "1 mV"', "length"),  # wrong unit
        ('K = "5 mM", Cl = "5 mM"', 'K = "-5 mM", Cl = "5 mM"', "K"),  # negative concentration
        ('K = "5 mM", Cl = "5 mM"', 'K = "5 mM", Cl = "6 mM"', "bath"),  # not electroneutral
        (
            'permeability = { K = "5e-9 m/s" }',
            'permeability = { Ca = "5e-9 m/s" }',
            "Ca",
        ),  # unknown species
    ],
)
def test_bad_case_is_one_line_exit_2(tmp_path, capsys, old, new, key):
    assert old in BASE
    path = write_case(tmp_path, BASE.replace(old, new, 1))
    code = main(["run", str(path), "--quiet", "-o", str(tmp_path / "out.h5")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(path) in err or path.name in err
    assert key in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()


def test_membrane_at_domain_end(tmp_path, capsys):
    text = BASE.replace('[[region]]\nname = "cytoplasm"', '[[region]]\nname = "cytoplasm"', 1)
    # drop the bath region: the membrane is then the last region
    head, _, _ = text.partition('[[region]]\nname = "bath"')
    tail = text[text.index("[boundary.left]") :]
    path = write_case(tmp_path, head + tail)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "membrane" in err and path.name in err


def test_unknown_key_suggests(tmp_path, capsys):
    path = write_case(tmp_path, BASE.replace("eps_r = 2", "eps_rr = 2"))
    assert main(["check", str(path)]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_check_prints_mesh_and_scales(capsys):
    assert main(["check", str(CASES / "ghk.toml")]) == 0
    out = capsys.readouterr().out
    for word in ("cells", "Debye length", "membrane", "time scales", "partition k"):
        assert word in out


def test_run_writes_result_and_refuses_overwrite(tmp_path, capsys):
    out = tmp_path / "n.h5"
    assert main(["run", str(CASES / "nernst_k.toml"), "-o", str(out), "--quiet"]) == 0
    with h5py.File(out) as f:
        assert f.attrs["format"] == "pnp-result"
        assert f.attrs["status"] == "completed"
    assert main(["run", str(CASES / "nernst_k.toml"), "-o", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["run", str(CASES / "nernst_k.toml"), "-o", str(out), "--quiet", "--force"]) == 0


def test_run_summary_compares_with_analytic(tmp_path, capsys):
    assert main(["run", str(CASES / "nernst_k.toml"), "-o", str(tmp_path / "n.h5")]) == 0
    out = capsys.readouterr().out
    assert "simulated vs analytic" in out and "nernst:K" in out and " ok" in out
    # no row is padded out to the longest value in its table (the mesh line)
    assert not [line for line in out.splitlines() if line.endswith(" ")]
    assert max(len(line) for line in out.splitlines() if set(line) <= {"-", " "}) < 100


def test_failed_run_never_shows_an_ok_verdict(tmp_path, capsys):
    """A steady Donnan solve stopped by run.max_steps = 1 fails (exit 3) with
    its last state already at the closed form: the verdict said "ok"."""
    argv = ["run", str(CASES / "donnan.toml"), "-o", str(tmp_path / "d.h5"), "--no-plot"]
    assert main([*argv, "--set", "run.max_steps=1"]) == 3
    out = capsys.readouterr().out
    assert ": failed (" in out.splitlines()[0]
    verdict = next(line for line in out.splitlines() if "membrane potential (Donnan)" in line)
    assert verdict.endswith("not reached (run failed)")
    assert " ok" not in out and "OUT OF TOLERANCE" not in out


def test_set_override(tmp_path, capsys):
    code = main(
        [
            "run",
            str(CASES / "nernst_k.toml"),
            "-o",
            str(tmp_path / "n.h5"),
            "--set",
            "region.bath.concentration.K=14",
            "--set",
            "region.bath.concentration.Cl=14",
        ]
    )
    assert code == 0
    # the override reached the run: V_m is E_K for 140/14 mM at 37 degC (-61.54 mV),
    # printed to 6 digits (rounding up to 5e-6 relative)
    shown = re.search(r"^membrane potential\s+(\S+)(?: ± \S+)? mV", capsys.readouterr().out, re.M)
    expected = analytic.nernst(140.0, 14.0, 1, constants.zero_Celsius + 37.0) * 1e3
    assert float(shown.group(1)) == pytest.approx(expected, rel=5e-6, abs=0)


def test_summary_and_info_show_each_estimate_as_plus_minus(tmp_path, capsys):
    """`pnp run` and `pnp info` show value ± estimate, to the estimate's digits;
    an observable without an estimate is shown as before, with nothing added."""
    case = pnp.load_case(CASES / "nernst_k.toml")
    result = pnp.run(case)
    assert result.membrane_potential[-1] == pytest.approx(-0.0890587, abs=5e-8)
    # a steady run estimates every observable's error
    assert all(np.isfinite(e).all() for e in result.error_estimate.values())
    result = dataclasses.replace(result, error_estimate={})  # none: NaN everywhere
    plain = summary(case, result)
    assert "±" not in plain
    assert re.search(r"^membrane potential\s+-89\.0587 mV\s*$", plain, re.M)

    estimates = {"membrane_potential": [4.3e-6], "flux_K": [2e-22]}
    # the K+ flux of this equilibrium is round-off: a fixed value for the format
    flux = {**result.flux, "K": np.array([-3.9e-21])}
    estimated = dataclasses.replace(result, error_estimate=estimates, flux=flux)
    text = summary(case, estimated)
    assert re.search(r"^membrane potential\s+-89\.059 ± 0\.004 mV\s*$", text, re.M)
    assert re.search(r"^flux K \(outward \+\)\s+-3\.9e-21 ± 2e-22 mol/m\^2/s\s*$", text, re.M)
    current = next(line for line in text.splitlines() if line.startswith("membrane current"))
    assert "±" not in current

    path = tmp_path / "estimated.h5"
    estimated.save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "observables  at the last output (± estimated discretisation error)" in out
    assert re.search(r"^  membrane_potential\s+-0\.089059 ± 4e-06 V$", out, re.M)
    assert re.search(r"^  flux_K\s+-3\.9e-21 ± 2e-22 mol/m\^2/s$", out, re.M)
    # no estimate: nothing added, in A/m^2 nor beside it in µA/cm^2
    assert re.search(r"^  current\s+\S+ A/m\^2 \(\S+ µA/cm\^2\)$", out, re.M)
    result.save(tmp_path / "plain.h5")
    assert main(["info", str(tmp_path / "plain.h5")]) == 0
    out = capsys.readouterr().out
    assert "(no error estimates)" in out and "±" not in out


def test_info_on_non_result_is_exit_2(tmp_path, capsys):
    bogus = tmp_path / "x.h5"
    bogus.write_text("not hdf5")
    assert main(["info", str(bogus)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_console_script_help_is_fast_and_compiles_nothing():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pnp", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "run" in proc.stdout
    assert "numba" not in proc.stderr  # importtime log: numba never imported


def test_run_writes_figure_and_plot_command(tmp_path, capsys):
    out = tmp_path / "g.h5"
    assert main(["run", str(CASES / "ghk.toml"), "-o", str(out), "--quiet"]) == 0
    png = tmp_path / "g.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = tmp_path / "fig.png"
    assert main(["plot", str(out), "-o", str(other)]) == 0
    assert other.exists()
    assert main(["plot", str(out), "--kind", "traces"]) == 2  # a steady result has no traces
    assert "steady" in capsys.readouterr().err


def test_no_plot_flag(tmp_path):
    out = tmp_path / "n.h5"
    assert main(["run", str(CASES / "nernst_k.toml"), "-o", str(out), "--quiet", "--no-plot"]) == 0
    assert not (tmp_path / "n.png").exists()


def test_sweep_command_iv_and_reversal(tmp_path, capsys):
    out = tmp_path / "iv"
    code = main(
        [
            "sweep",
            str(CASES / "ghk_iv.toml"),
            "--param",
            "boundary.left.potential=-0.1:0.06:9",
            "-o",
            str(out),
            "-j",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    assert (out / "summary.csv").exists() and (out / "point_0008.h5").exists()
    assert main(["plot", str(out)]) == 0
    assert (out / "iv.png").exists()


def test_check_compiles_nothing():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pnp", "check", str(CASES / "ghk.toml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "numba" not in proc.stderr and "pint" not in proc.stderr


_SWALLOWED = """
import gc, sys, time, weakref
from pnp.presentation import cli

class Cycle:
    pass

def swallowed(ref):
    raise KeyboardInterrupt  # as SIGINT's default handler does, here in a callback

def check(args):
    c = Cycle()
    c.me = c
    ref = weakref.ref(c, swallowed)
    del c
    gc.collect()  # the callback runs: Python prints "Exception ignored" and goes on
    for _ in range(100):
        time.sleep(0.01)  # the command's work for a second
    print("went on")
    return 0

cli._cmd_check = check
sys.exit(cli.main(["check", "whatever.toml"]))
"""


def test_a_ctrl_c_that_python_swallowed_still_stops_the_command():
    """A Ctrl-C landing in a weakref callback (importlib's module locks while a
    sweep starts up; found by the slow kill test, where such a sweep ran to the
    end and exited 0) is not lost: exit 130 and "pnp: interrupted", with the
    command's work cut short. (It is acted on once the main thread next lets
    another run: at once here, where the work sleeps; within Python's switch
    interval, 5 ms, in any case.)"""
    proc = subprocess.run(
        [sys.executable, "-c", _SWALLOWED], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "pnp: interrupted"
    assert "went on" not in proc.stdout


_DROPPED = """
import os, signal, sys
from pnp.presentation import cli

run = cli._cmd_run

def dropped_then_run(args):
    try:  # a Ctrl-C at start-up, its KeyboardInterrupt cleared as some C code does
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    except KeyboardInterrupt:
        pass
    print("went on")
    return run(args)

cli._cmd_run = dropped_then_run
sys.exit(cli.main(["run", {case!r}, "-o", {out!r}, "--quiet", "--no-plot"]))
"""


def test_a_ctrl_c_python_dropped_at_start_up_stops_the_run(tmp_path):
    """A Ctrl-C whose KeyboardInterrupt is lost without a trace before the run
    takes SIGINT over (pnp.ctrl_c): the run stops at its first step, its file
    says interrupted, exit 130. Without the latch the run went to its end and
    exited 0 (the slow kill test's failure)."""
    import pnp

    out = tmp_path / "r.h5"
    case = Path(__file__).resolve().parent.parent / "cases" / "membrane_charging.toml"
    proc = subprocess.run(
        [sys.executable, "-c", _DROPPED.format(case=str(case), out=str(out))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "went on" in proc.stdout  # the interrupt was dropped indeed
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "pnp: interrupted"
    res = pnp.load_result(out)
    assert res.status == "failed" and res.message == "interrupted"
    assert len(res.t) <= 2  # the initial state, and at most the step under way


def test_run_and_sweep_handlers_take_over_a_ctrl_c_seen_before(monkeypatch):
    """The run's and the sweep pool's SIGINT handlers, installed over
    pnp.ctrl_c's, stop at once when it saw a Ctrl-C; not when it did not, nor
    over another handler."""
    import signal
    import threading

    from pnp import ctrl_c
    from pnp.simulation.sweep.pool import _CtrlC
    from pnp.simulation.trackers import DeferredInterrupt

    saved = signal.getsignal(signal.SIGINT)
    try:
        for installed, hit, expected in (
            (ctrl_c.handler, True, True),
            (ctrl_c.handler, False, False),
            (signal.default_int_handler, True, False),
        ):
            signal.signal(signal.SIGINT, installed)
            monkeypatch.setattr(ctrl_c.Latch, "hit", hit)
            run = DeferredInterrupt()
            run.start(None)
            run.close()
            assert run.pending is expected
            assert signal.getsignal(signal.SIGINT) is installed
            stop = threading.Event()
            with _CtrlC(stop) as pool:
                pass
            assert pool.hit is expected and stop.is_set() is expected
            assert signal.getsignal(signal.SIGINT) is installed
    finally:
        signal.signal(signal.SIGINT, saved)


def test_a_ctrl_c_that_python_wrapped_is_still_an_interruption(monkeypatch, capsys):
    """A Ctrl-C landing in a class body's __set_name__ (numpy's import at start-up)
    reaches the CLI as a RuntimeError caused by KeyboardInterrupt: exit 130 and
    "pnp: interrupted", not an internal error (found by the slow kill test)."""
    from pnp.presentation import cli

    def check(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'cached_property'") from exc

    monkeypatch.setattr(cli, "_cmd_check", check)
    assert cli.main(["check", "whatever.toml"]) == 130
    assert capsys.readouterr().err.strip() == "pnp: interrupted"

    def broken(args):
        raise RuntimeError("a plain bug")

    monkeypatch.setattr(cli, "_cmd_check", broken)
    assert cli.main(["check", "whatever.toml"]) == 1
    assert "internal error: RuntimeError: a plain bug" in capsys.readouterr().err
