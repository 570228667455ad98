"""Unix manners of the `pnp` command: closed pipes, --version, progress on stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import ROOT, pnp_popen, pnp_subprocess

import pnp

CASES = ROOT / "cases"


@pytest.fixture(scope="module")
def result_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pipe") / "n.h5"
    proc = pnp_subprocess("run", CASES / "nernst_k.toml", "-o", out, "--quiet", "--no-plot")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("command", ["check", "info", "help"])
def test_a_reader_that_leaves_ends_the_output_quietly(command, result_file):
    """The reader has closed the pipe before pnp writes anything (`| head -0`, or
    `| head -1` gone before the output comes): `check` and `info` ended with
    "internal error: BrokenPipeError" and exit 1 (`--help` was already quiet)."""
    args = {
        "check": ["check", CASES / "ghk.toml"],
        "info": ["info", result_file],
        "help": ["--help"],
    }[command]
    proc = pnp_popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone: every write of pnp's finds the pipe closed
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_head_one_prints_the_first_line_and_nothing_on_stderr(result_file):
    """`pnp info FILE | head -1` as a shell runs it (pipefail: pnp's own exit code)."""
    command = f"set -o pipefail; '{sys.executable}' -m pnp info '{result_file}' | head -1"
    proc = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{result_file}: pnp result") and proc.stdout.count("\n") == 1
    assert proc.stderr == ""


def test_version():
    proc = pnp_subprocess("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == f"pnp {pnp.__version__}\n"
    # the version the package reports is the one it is built with
    with open(ROOT / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["project"]["version"] == pnp.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", pnp.__version__)


LINE = re.compile(r"^pnp: t = (\S+) s of 1e\+05 s, (\d+) steps, (\d+) s elapsed$")


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    """A transient writing to a log file says where it is every few seconds
    (here every 0.02 s, PNP_PROGRESS_INTERVAL); it said nothing until the end.
    The run steps for about 0.25 s (518 steps with orders up to 5 and reused
    factorizations, measured; 2103 steps and 2 s with BDF2)."""
    args = ["run", CASES / "donnan_approach.toml", "-o", tmp_path / "d.h5", "--no-plot"]
    args += ["--set", "run.outputs=300", "--set", "run.rtol=1e-8"]
    proc = pnp_subprocess(*args, env={"PNP_PROGRESS_INTERVAL": "0.02"})
    assert proc.returncode == 0, proc.stderr
    assert "membrane potential" in proc.stdout  # the summary as usual
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr  # no bar drawn
    assert len(lines) >= 2, proc.stderr
    found = [LINE.match(line) for line in lines]
    assert all(found), proc.stderr
    times = [float(m.group(1)) for m in found]
    steps = [int(m.group(2)) for m in found]
    # every line is written during the run, before its last step (518 steps measured;
    # read from the result, not assumed: it was 2093 before cells_per_debye 6)
    total = pnp.load_result(tmp_path / "d.h5").stats["steps"]
    assert times == sorted(times) and steps == sorted(steps) and steps[-1] < total

    quiet = pnp_subprocess(*args, "--force", "--quiet", env={"PNP_PROGRESS_INTERVAL": "0.02"})
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_sweep_progress_lines(tmp_path):
    """A sweep to a log file: a line as points finish (every one here, at most one
    every 5 s by default) and one for the last."""
    args = ["sweep", CASES / "ghk_iv.toml", "--param", "boundary.left.potential=-0.1:0.06:3"]
    proc = pnp_subprocess(
        *args, "-j", "1", "-o", tmp_path / "s", env={"PNP_PROGRESS_INTERVAL": "1e-9"}
    )
    assert proc.returncode == 0, proc.stderr
    pattern = r"pnp: sweep: {} of 3 points done \(0 failed\), 0 running, \d+ s elapsed"
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr
    for k, line in enumerate(lines, start=1):
        assert re.fullmatch(pattern.format(k), line), line


def test_progress_bar_reads_cleanly(capsys):
    """The bar showed "| , t=...": tqdm puts ", " before a postfix."""
    from pnp.simulation.trackers import ProgressBar

    class Stats:
        steps, rejected_steps, newton_iterations = 12, 1, 30

    for bar, t in ((ProgressBar(t_end=1.0), 1e-3), (ProgressBar(t_end=None), None)):
        bar.step(t, 1e-4, Stats(), None)
        shown = str(bar.bar)
        bar.close()
        assert "| ," not in shown and ", ," not in shown
        assert re.search(r"\| \d\d:\d\d elapsed, (t=1\.000e-03s )?dt=1\.00e-04s steps=12", shown)
