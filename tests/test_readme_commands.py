"""Every shell command and Python block of README.md, docs/interface.md and
examples/README.md, run as written in a copy of ``cases/`` and ``examples/``.

The commands are read from the documents themselves, so an edited command
runs as edited; each must be listed in ``EXPECT`` (exit code and what its
output must show) or in ``NOT_RUN`` (with the reason), and each listed one
must still be in a document, so neither side can drift. ``pnp`` runs as
``python -m pnp`` and ``python`` as this interpreter, with PYTHONPATH at this
checkout. The Python blocks run through ``python -c``, as pasted into an
interpreter (the README says a *script* calling ``pnp.sweep`` needs the
``__main__`` guard), each followed by a few lines that print what is checked.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pnp
from pnp.analytic import space_clamp
from pnp.results.spikes import spike_times

ROOT = Path(__file__).resolve().parent.parent
DOCS = {name: (ROOT / name).read_text() for name in ("README.md", "docs/interface.md")}
EXAMPLES_README = (ROOT / "examples" / "README.md").read_text()

DONNAN_OK = r"^membrane potential \(Donnan\)\s+-12\.2203 mV .* ok$"


def quoted_rows(text: str, command: str) -> list[str]:
    """The summary rows quoted in the first ``text`` block after ``command``, each as a
    regex of a whole line of its output (label and value, any spacing between)."""
    block = re.search(re.escape(command) + r".*?```text\n(.*?)```", text, re.S).group(1)
    rows = [re.split(r"\s{2,}", line.strip()) for line in block.splitlines()]
    return [rf"^{re.escape(label)}\s+{re.escape(value)}$" for label, value in rows]


# command -> (exit code, regexes its stdout must match, files it leaves)
EXPECT = {
    "pnp run cases/pump_leak.toml": (0, [r"^membrane potential\s+-69\.4\d*( ± \S+)? mV"], []),
    "pnp new rest my_cell.toml": (0, [r"^wrote my_cell\.toml \(rest\)"], ["my_cell.toml"]),
    "pnp keys boundary": (0, [r"^  type\s+choice;", r"^  surface_charge\s+float;"], []),
    "pnp check cases/donnan.toml": (0, [r"^total: 174 cells", r"^time scales:"], []),
    "pnp run cases/donnan.toml": (0, [DONNAN_OK], ["results/donnan.h5"]),
    "pnp run cases/ghk.toml --set region.membrane.permeability.Na=2e-9 -o out.h5 --force": (
        0,
        [r"^membrane potential \(GHK\)\s+-45\.327\d mV .* ok$"],
        ["out.h5"],
    ),
    "pnp run cases/donnan_approach.toml": (0, [DONNAN_OK], ["results/donnan_approach.h5"]),
    "pnp run cases/donnan_approach.toml --restart results/donnan_approach.h5 --set "
    "run.t_end=1e6 -o more.h5": (0, [DONNAN_OK, r"^result: more\.h5$"], ["more.h5"]),
    "pnp info out.h5": (0, [r"^status\s+completed: steady state reached"], []),
    "pnp plot out.h5": (0, [r"^figure: out\.png$"], ["out.png"]),
    # the volume the README quotes: that the command prints it (here), and that it is
    # analytic.pump_leak_volume's plus the diffuse layers' derived offset
    # (tests/test_swelling_cases.py)
    "pnp run cases/pump_leak_volume.toml": (
        0,
        [r"^volume \(inside\)\s+4\.286\d* ± \S+ pL \(4286\.\d+ µm\^3\)$"],
        ["results/pump_leak_volume.h5"],
    ),
    "pnp run cases/hypotonic.toml": (
        0,
        [r"^volume / as written \(V0\)\s+1\.50*$"],
        ["results/hypotonic.h5", "results/hypotonic.png"],
    ),
    "pnp run cases/action_potential.toml": (
        0,
        [
            r"^membrane potential\s+-63\.60\d*( ± \S+)? mV",
            *quoted_rows(DOCS["README.md"], "pnp run cases/action_potential.toml"),
        ],
        ["results/action_potential.h5", "results/action_potential.png"],
    ),
    "pnp sweep cases/ap_train.toml --param stimulus.current=0.05:0.3:16 -o fi": (
        0,
        [r"^16 completed, 0 failed"],
        ["fi/summary.csv"],
    ),
    "pnp sweep cases/ghk_iv.toml --param boundary.left.potential=-0.1:0.06:33": (
        0,
        [r"^33 completed, 0 failed", r"^reversal potential \(current = 0\): -67\.34\d* mV$"],
        ["results/ghk_iv_sweep/summary.csv"],
    ),
    "pnp info results/ghk_iv_sweep": (
        0,
        [r"^points\s+33 completed, 0 failed, 0 interrupted, 0 pending$"],
        [],
    ),
    "pnp sweep cases/ghk.toml --set region.bath.balance=Cl "
    "--param region.membrane.permeability.Na=log:1e-10:1e-8:9 "
    "--param region.bath.concentration.K=5,10,20 -j 2 -o scan": (
        0,
        [r"^27 completed, 0 failed"],
        ["scan/summary.csv"],
    ),
    "pnp plot scan --kind sweep --x region.membrane.permeability.Na --y membrane_potential "
    "--by region.bath.concentration.K": (0, [r"^figure: scan/sweep\.png$"], ["scan/sweep.png"]),
}
NOT_RUN = {
    "pip install -e .": "installs into the environment running the tests",
    "pip install -e .[test]": "installs into the environment running the tests",
    "python -m pytest -q": "the suite itself; test_docs checks that CI runs it",
}


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def commands(block: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments
    dropped, ``a && b`` split, each normalised to its words joined by spaces."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(" ".join(words[:cut]))
            words = words[cut + 1 :]
    return out


def readme_bash_blocks() -> list[list[str]]:
    return [commands(b) for b in blocks(DOCS["README.md"], "bash")]


def test_every_documented_command_has_an_expectation_and_every_expectation_a_command():
    documented = [c for block in readme_bash_blocks() for c in block]
    assert len(documented) == len(set(documented)) == len(EXPECT) + len(NOT_RUN)
    assert set(documented) == set(EXPECT) | set(NOT_RUN)


@pytest.fixture
def workspace(tmp_path):
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "agg"}
    if argv[0] == "pnp":
        argv = [sys.executable, "-m", "pnp", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def check(command: str, cwd: Path) -> str:
    code, patterns, files = EXPECT[command]
    proc = run(shlex.split(command), cwd)
    assert proc.returncode == code, f"{command}\n{proc.stdout}\n{proc.stderr}"
    for pattern in patterns:
        assert re.search(pattern, proc.stdout, re.M), f"{command}: no {pattern!r} in\n{proc.stdout}"
    for name in files:
        assert (cwd / name).stat().st_size > 0, f"{command}: {name} missing"
    return proc.stdout


def _run_block(index: int, cwd: Path) -> None:
    for command in readme_bash_blocks()[index]:
        if command not in NOT_RUN:
            check(command, cwd)


def test_quick_start(workspace):
    _run_block(0, workspace)


@pytest.mark.slow
def test_using_it(workspace):
    """The restart continues the Donnan approach from 1e5 s to 1e6 s."""
    _run_block(1, workspace)
    first = pnp.load_result(workspace / "results" / "donnan_approach.h5")
    more = pnp.load_result(workspace / "more.h5")
    assert more.status == "completed"
    assert more.t[0] == first.t[-1] == 1e5 and more.t[-1] == 1e6
    assert (more.concentration[0] == first.concentration[-1]).all()


@pytest.mark.slow
def test_cell_volume(workspace):
    """The soma's steady volume and the hypotonic swelling to 1.5 V0, with the faces
    of every output in the hypotonic run's file."""
    _run_block(2, workspace)
    hypotonic = pnp.load_result(workspace / "results" / "hypotonic.h5")
    assert hypotonic.face_positions.shape == (hypotonic.t.size, hypotonic.x.size + 1)


@pytest.mark.slow
def test_parameter_sweeps(workspace):
    """The P_Na x K+ scan: every point at the GHK voltage of its bath, whose Cl- balances K+."""
    _run_block(3, workspace)
    sweep = pnp.load_sweep(workspace / "scan")
    table = sweep.table
    assert len(table["membrane_potential"]) == 27
    p_na = table["region.membrane.permeability.Na"]
    k_out = table["region.bath.concentration.K"]
    assert sorted(set(k_out)) == [5.0, 10.0, 20.0]
    for p, k, vm in zip(p_na, k_out, table["membrane_potential"], strict=True):
        ghk = pnp.analytic.ghk_voltage(
            {"K": 140, "Na": 12, "Cl": 10},
            {"K": k, "Na": 145, "Cl": 145 + k},  # balance = "Cl": the bath stays neutral
            {"K": 1e-8, "Na": p, "Cl": 4.5e-9},
            {"K": 1, "Na": 1, "Cl": -1},
            310.15,
        )
        assert abs(vm - ghk) < 1e-4  # the case's [expect] tolerance
    # more K+ outside depolarises at every P_Na
    vm = table["membrane_potential"].reshape(9, 3)
    assert (np.diff(vm, axis=1) > 0).all()


@pytest.mark.slow
def test_action_potentials(workspace):
    """One spike of action_potential.toml (rest -64.0 mV, peak +29.5 mV) and the
    16-point f-I curve of ap_train.toml: the summary's spikes and firing_rate
    columns against the reference model (pnp.analytic.space_clamp) run for each
    point's case and sampled at the point's outputs (the summary counts crossings
    of 0 V between outputs): the same spike counts (4 at 0.05 A/m^2, two then none
    at 0.3), the rates within the issue's 1 %, rising with the current below the
    block. One spike of the reference is lost to the sampling, at 0.283 A/m^2,
    peaking at +0.78 mV between two outputs, as the README says. The two tests
    took 56 s on 2 cores."""
    _run_block(4, workspace)
    spike = pnp.load_result(workspace / "results" / "action_potential.h5")
    v = spike.membrane_potential
    case = pnp.load_case(workspace / "cases" / "action_potential.toml")
    patch, _ = space_clamp.from_case(case)
    # measured 0.5 uV (tests/test_action_potential.py)
    assert v[0] == pytest.approx(space_clamp.rest(patch).V_m, abs=5e-5)
    # the highest output against the reference's peak: the outputs every 50 us
    # miss the top by 0.11 mV (29.45 against 29.56 mV); 0.5 mV is the issue's
    # tolerance on the peak
    stimulus_times = space_clamp.from_case(case)[1]
    _, v_peak = space_clamp.peak(space_clamp.simulate(patch, stimulus_times, case.run.t_end))
    assert v.max() == pytest.approx(v_peak, abs=5e-4)
    assert len(spike.spike_times()) == 1
    sweep = pnp.load_sweep(workspace / "fi")
    table = sweep.table
    current, spikes, rate = table["stimulus.current"], table["spikes"], table["firing_rate"]
    assert len(current) == 16
    missed = []
    for amplitude, count, pnp_rate, path in zip(current, spikes, rate, sweep.paths, strict=True):
        point = pnp.load_case(
            workspace / "cases" / "ap_train.toml", {"stimulus.current": float(amplitude)}
        )
        patch, stimulus = space_clamp.from_case(point)
        trace = space_clamp.simulate(patch, stimulus, point.run.t_end)
        # the summary counts crossings of 0 V between outputs: the reference is
        # sampled at the same outputs and counted by the same rule
        t_out = pnp.load_result(path).t
        sampled = space_clamp.simulate(patch, stimulus, point.run.t_end, t_eval=t_out)
        times = spike_times(t_out, sampled.V_m)
        assert count == len(times), amplitude
        # a spike the sampling misses peaks between two outputs, just above 0 V
        every = space_clamp.spikes(trace)
        if len(every) != len(times):
            assert len(every) == len(times) + 1, amplitude
            lost = [t for t in every if np.min(np.abs(times - t)) > 1e-4]
            (t_lost,) = lost
            _, v_top = space_clamp.peak(trace, t_lost - 1e-3, t_lost + 1e-3)
            assert 0.0 < v_top < 1e-3, amplitude  # measured +0.78 mV at 0.283 A/m^2
            missed.append(float(amplitude))
        if len(times) < 3:  # no interval after the first spike's
            assert np.isnan(pnp_rate), amplitude
            continue
        reference = (len(times) - 2) / (times[-1] - times[1])  # the spikes after the first
        assert pnp_rate == pytest.approx(reference, rel=0.01), amplitude
    assert missed == [pytest.approx(0.283, abs=5e-4)]  # the README says so
    assert spikes[-1] == 2  # at 0.3 A/m^2 the patch fires twice and stops
    assert (np.diff(rate[:-2]) > 0).all()  # rising below the block
    # the rates the README quotes at the two ends are the summary's, to their digits
    quoted = re.search(
        r"rises from (\d+\.\d) /s at 0\.05 A/m² to\s+(\d+\.\d) /s at 0\.267 A/m²",
        DOCS["README.md"],
    )
    assert current[-3] == pytest.approx(0.267, abs=5e-4)
    assert [round(rate[0], 1), round(rate[-3], 1)] == [float(x) for x in quoted.groups()]


def run_python(code: str, cwd: Path) -> dict[str, str]:
    """Run ``code`` with ``python -c``; its ``@name=value`` lines as a dict."""
    proc = run(["python", "-c", code], cwd)
    assert proc.returncode == 0, proc.stderr
    lines = [line[1:] for line in proc.stdout.splitlines() if line.startswith("@")]
    return dict(line.split("=", 1) for line in lines)


def test_readme_python_block(workspace):
    (block,) = blocks(DOCS["README.md"], "python")
    shown = run_python(
        block
        + "print(f'@status={result.status}')\n"
        + "print(f'@vm={result.membrane_potential[-1]:.17g}')\n"
        + "print(f'@ghk={pnp.analytic.ghk_voltage(c_in, c_out, P, z, 310.15):.17g}')\n"
        + "print(f'@saved={pnp.load_result(\"out.h5\").membrane_potential[-1]:.17g}')\n",
        workspace,
    )
    assert shown["status"] == "completed"
    vm, ghk = float(shown["vm"]), float(shown["ghk"])
    # the value the block's comment gives, to its 4 significant digits
    claimed = float(re.search(r"# (-0\.\d+) V, as result", block).group(1))
    assert abs(ghk - claimed) <= 5e-6
    # cases/ghk.toml expects the GHK voltage within 1e-4 V; measured 2.5e-7 V
    assert abs(vm - ghk) < 2.5e-6
    assert float(shown["saved"]) == vm


@pytest.mark.slow
def test_interface_python_blocks(workspace):
    """docs/interface.md: the API block, then the sweep block using its case."""
    code = "\n".join(blocks(DOCS["docs/interface.md"], "python"))
    shown = run_python(
        code
        + "print(f'@status={pnp.load_result(\"out.h5\").status}')\n"
        + 'print(f\'@points={len(pnp.load_sweep("iv").table["current"])}\')\n'
        + "print(f'@reversal={res.reversal_potential():.17g}')\n"
        + "print(f'@vm={pnp.run(case).membrane_potential[-1]:.17g}')\n",
        workspace,
    )
    assert shown["status"] == "completed" and shown["points"] == "33"
    # the spline root of the clamped I-V curve against the open-circuit V_m of
    # the same case: measured 2.1e-9 V apart (5 mV between points); 2e-8 allowed
    assert abs(float(shown["reversal"]) - float(shown["vm"])) < 2e-8


EXAMPLE_HEADLINES = {  # script -> (regex for the headline it prints, value in the table)
    "ghk_iv_curve.py": (r"reversal potential (-?\d+\.\d+) mV", "−67.34 mV"),
    "donnan_fixed_charge.py": (r"Donnan potential at 142 mM of X-: (-?\d+\.\d+) mV", "−12.22 mV"),
    "membrane_charging.py": (r"fitted time constant (\d+\.\d+) ns", "16.6 ns"),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXAMPLE_HEADLINES))
def test_examples_readme_command(workspace, script):
    """`python examples/<name>.py [OUTPUT_DIR]` for each script in its table:
    the headline printed is the table's, to the digits the table gives."""
    template = re.search(r"`(python examples/<name>\.py)\s+\[OUTPUT_DIR\]`", EXAMPLES_README)
    assert template is not None
    row = next(line for line in EXAMPLES_README.splitlines() if line.startswith(f"| `{script}`"))
    pattern, headline = EXAMPLE_HEADLINES[script]
    assert row.rstrip(" |").endswith(headline) or f"| {headline}" in row
    for out in ([], ["figures"]):
        argv = [*shlex.split(template.group(1).replace("<name>.py", script)), *out]
        proc = run(argv, workspace)
        assert proc.returncode == 0, proc.stderr
        printed = float(re.search(pattern, proc.stdout).group(1))
        table = float(headline.replace("−", "-").split()[0])
        decimals = len(headline.split()[0].split(".")[1])
        assert round(printed, decimals) == table
    assert any((workspace / "figures").iterdir())
