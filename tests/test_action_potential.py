"""Action potentials of the PNP solver against an independent ODE model.

The reference, :mod:`pnp.analytic.space_clamp`, integrates the charge of the
membrane capacitor with scipy's ``solve_ivp``: GHK currents through the
membrane proper at the voltage over it and at the surface concentrations of
its two diffuse layers (Gouy-Chapman, in equilibrium), the series
capacitance of membrane and layers, Hodgkin-Huxley gates at V_m. It shares
no code with the solver (its rates are written out from the 1952 formulas).
What it leaves out (the baths' resistance and diffusion, the ions in the
membrane) is below a microvolt in ``cases/action_potential.toml``: the
measured differences are written beside each tolerance.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers import pnp_subprocess

import pnp
from pnp.analytic import space_clamp

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "action_potential.toml"


def patch_case(stimuli: list[dict], t_end: float, rtol: float, every: float, **changes):
    """The patch of action_potential.toml with these ``[[stimulus]]`` tables."""
    data = tomllib.loads(CASE.read_text())
    data["stimulus"] = stimuli
    data["run"].update(t_end=t_end, rtol=rtol, outputs={"every": every})
    data.pop("output", None)
    for key, value in changes.items():
        data[key] = value
    return pnp.Case.from_dict(data, source=CASE)


def upward_crossings(t: np.ndarray, v: np.ndarray, level: float = 0.0) -> np.ndarray:
    """Times where ``v`` crosses ``level`` upward, linear between samples."""
    k = np.nonzero((v[:-1] < level) & (v[1:] >= level))[0]
    return t[k] + (level - v[k]) * (t[k + 1] - t[k]) / (v[k + 1] - v[k])


def sampled_peak(t: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(time, value) of the maximum of ``v``: a parabola through the largest sample and its two
    neighbours (evenly spaced outputs)."""
    i = int(np.argmax(v))
    a, b, c = v[i - 1 : i + 2]
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return float(t[i] + offset * (t[i + 1] - t[i])), float(b - 0.25 * (a - c) * offset)


@pytest.fixture(scope="module")
def spike():
    """One spike at tight settings: (pnp result, reference trace, reference rest)."""
    case = patch_case(
        [{"at": "1 ms", "duration": "0.5 ms", "current": "0.4 A/m^2"}], 3e-3, 1e-6, 5e-6
    )
    result = pnp.run(case)
    assert result.status == "completed", result.message
    patch, stimulus = space_clamp.from_case(case)
    return result, space_clamp.simulate(patch, stimulus, 3e-3), space_clamp.rest(patch)


def test_rest_matches_the_reference(spike):
    result, _, rest = spike
    # measured 0.51 uV (the issue asks 0.05 mV)
    assert result.membrane_potential[0] == pytest.approx(rest.V_m, abs=5e-6)
    for name, value in rest.gates.items():
        # gates at x_inf of the two V_m, 0.5 uV apart: measured 6e-5 relative (m, whose
        # x_inf changes by 8 %/mV at rest), 3.3e-5 and 2.4e-5 for h and n
        assert result.extra_observables["gate_" + name.replace(".", "_")][0] == pytest.approx(
            value, rel=6e-4
        )


def test_spike_matches_the_reference(spike):
    result, trace, _ = spike
    t_ref, v_ref = space_clamp.peak(trace)
    t_pnp, v_pnp = sampled_peak(result.t, result.membrane_potential)
    # measured: peak 3.1 uV, its time 0.08 us (the issue asks 0.5 mV and 1 %)
    assert v_pnp == pytest.approx(v_ref, abs=3e-5)
    assert t_pnp == pytest.approx(t_ref, abs=1e-6)
    assert 0.025 < v_pnp < 0.035  # a spike: +29.5 mV
    # the whole trace, rtol 1e-6 steps: measured 5.9 uV at most (mid upstroke)
    v_ref_at = np.interp(result.t, trace.t, trace.V_m)
    assert np.abs(result.membrane_potential - v_ref_at).max() <= 5e-5


def test_the_shipped_case_meets_the_targets():
    """cases/action_potential.toml as shipped (rtol 1e-4, outputs every 50 us): rest
    within 0.05 mV, peak within 0.5 mV, time of peak within 1 % of its delay after
    the pulse's start (measured 0.5 uV, 0.043 mV, 0.27 %; 593 steps)."""
    case = pnp.load_case(CASE)
    result = pnp.run(case)
    patch, stimulus = space_clamp.from_case(case)
    trace = space_clamp.simulate(patch, stimulus, case.run.t_end)
    t_ref, v_ref = space_clamp.peak(trace)
    t_pnp, v_pnp = sampled_peak(result.t, result.membrane_potential)
    onset = case.stimuli[0].at
    assert result.membrane_potential[0] == pytest.approx(space_clamp.rest(patch).V_m, abs=5e-5)
    assert v_pnp == pytest.approx(v_ref, abs=5e-4)
    assert t_pnp - onset == pytest.approx(t_ref - onset, rel=0.01)
    assert result.stats["steps"] < 2000


def _fires(amplitude: float) -> bool:
    case = patch_case(
        [{"at": "1 ms", "duration": "0.5 ms", "current": amplitude}], 15e-3, 1e-6, 1e-4
    )
    result = pnp.run(case)
    assert result.status == "completed", result.message
    return bool(result.membrane_potential.max() > 0.0)


def test_threshold_within_one_percent():
    """The smallest 0.5 ms pulse that fires: pnp fires at 1.01 times the
    reference's threshold and not at 0.99 times."""
    case = patch_case([{"at": "1 ms", "duration": "0.5 ms", "current": 0.1}], 15e-3, 1e-6, 1e-4)
    patch, _ = space_clamp.from_case(case)
    threshold = space_clamp.threshold_current(patch, 1e-3, 0.5e-3, 0.0, 0.4, rtol=1e-5)
    assert 0.05 < threshold < 0.1  # 6.8 uA/cm^2, HH-like
    assert _fires(1.01 * threshold)
    assert not _fires(0.99 * threshold)


def test_firing_rate_within_one_percent():
    """ap_train.toml as shipped (sustained 0.1 A/m^2): the rate of the spikes after
    the first against the reference's (measured 0.01 % apart, 79.42 and 79.41 /s)."""
    case = pnp.load_case(ROOT / "cases" / "ap_train.toml")
    result = pnp.run(case)
    patch, stimulus = space_clamp.from_case(case)
    reference = space_clamp.spikes(space_clamp.simulate(patch, stimulus, case.run.t_end))
    times = result.spike_times()
    assert len(times) == len(reference) == 5
    rate = (len(times) - 2) / (times[-1] - times[1])
    rate_ref = (len(reference) - 2) / (reference[-1] - reference[1])
    assert rate == pytest.approx(rate_ref, rel=0.01)
    assert 70.0 < rate < 90.0


@pytest.mark.parametrize(("interval", "spikes"), [("6 ms", 1), ("15 ms", 2)])
def test_refractory_period(interval, spikes):
    """refractory.toml: a second pulse 6 ms after the first fails, 15 ms after fires,
    in pnp and in the reference; the spike times agree to 5 us (measured 1.5 and 3.0 us)."""
    case = pnp.load_case(ROOT / "cases" / "refractory.toml", {"stimulus.interval": interval})
    result = pnp.run(case)
    patch, stimulus = space_clamp.from_case(case)
    reference = space_clamp.spikes(space_clamp.simulate(patch, stimulus, case.run.t_end))
    times = result.spike_times()
    assert len(times) == len(reference) == spikes
    assert times == pytest.approx(reference, abs=5e-6)


def _printed_spikes(stdout: str) -> list[tuple[float, float]]:
    """(time [s], half its last printed digit [s]) of each spike `pnp run` lists."""
    row = re.search(r"^spikes \(V_m up through 0 V\)\s+(\d+)(?: at (.*))?$", stdout, re.M)
    assert row is not None, stdout
    scales = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
    listed = row.group(2).split(", ") if row.group(2) else []
    out = []
    for shown in listed:
        value, unit = shown.split()
        decimals = len(value.partition(".")[2])
        out.append((float(value) * scales[unit], 0.5 * 10.0**-decimals * scales[unit]))
    assert len(out) == int(row.group(1))  # every spike listed (five at most)
    return out


@pytest.mark.parametrize("written", [True, False])
def test_refractory_command_of_the_case_file(tmp_path, written):
    """The command in refractory.toml's comment, run through the CLI as written in a
    copy of cases/ (and the case as shipped, without its --set): the summary lists two
    spikes 15 ms apart and one 6 ms apart, as the reference fires, at the reference's
    times to the printed digits plus test_refractory_period's 5 us (measured 1.0 and
    5.1 us from the printed 2.526 and 17.88 ms)."""
    comment = (ROOT / "cases" / "refractory.toml").read_text()
    (command,) = re.findall(r"^#\s+(pnp run .*)$", comment, re.M)
    argv = shlex.split(command)
    assert argv[:3] == ["pnp", "run", "cases/refractory.toml"] and argv[3] == "--set"
    key, interval = argv[4].split("=", 1)
    if not written:
        argv, interval = argv[:3], "6 ms"
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    proc = pnp_subprocess(*argv[1:], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results" / "refractory.h5").stat().st_size > 0
    case = pnp.load_case(ROOT / "cases" / "refractory.toml", {key: interval})
    patch, stimulus = space_clamp.from_case(case)
    reference = space_clamp.spikes(space_clamp.simulate(patch, stimulus, case.run.t_end))
    printed = _printed_spikes(proc.stdout)
    assert len(printed) == len(reference) == (2 if written else 1)
    for (time, half_digit), expected in zip(printed, reference, strict=True):
        assert abs(time - expected) <= half_digit + 5e-6


def test_custom_rates_match_the_reference():
    """A channel with custom kinetics (the three parametric forms): the K+ channel's
    gate written as a slower sigmoid/linoid pair. The reference reads the same
    numbers from the case and evaluates its own formulas (measured: rest 0.13 uV, peak
    1.1 uV, its time 0.06 us apart; rest -56.5 mV, peak +23.2 mV)."""
    slow = {
        "alpha": {"form": "linoid", "rate": "0.005 1/ms/mV", "v_half": "-50 mV", "slope": "10 mV"},
        "beta": {"form": "sigmoid", "rate": "0.2 1/ms", "v_half": "-70 mV", "slope": "-15 mV"},
    }
    data = tomllib.loads(CASE.read_text())
    data["channel"][1].update(kinetics="custom", gates={"s": 4}, rates={"s": slow})
    data["stimulus"] = [{"at": "1 ms", "duration": "0.5 ms", "current": "0.4 A/m^2"}]
    data["run"].update(t_end=4e-3, rtol=1e-6, outputs={"every": 5e-6})
    data.pop("output", None)
    case = pnp.Case.from_dict(data, source=CASE)
    result = pnp.run(case)
    assert result.status == "completed", result.message
    patch, stimulus = space_clamp.from_case(case)
    trace = space_clamp.simulate(patch, stimulus, case.run.t_end)
    rest = space_clamp.rest(patch)
    assert result.membrane_potential[0] == pytest.approx(rest.V_m, abs=5e-6)
    t_ref, v_ref = space_clamp.peak(trace)
    t_pnp, v_pnp = sampled_peak(result.t, result.membrane_potential)
    assert v_pnp == pytest.approx(v_ref, abs=3e-5)
    assert t_pnp == pytest.approx(t_ref, abs=1e-6)
