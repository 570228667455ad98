"""Transient runs: BDF2 order and error control, charging time constants,
the Donnan approach, conservation at every step, protocols, crash safety."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from helpers import CASES, load, neutral_diffusion_case
from scipy import constants

import pnp
from pnp import analytic
from pnp.discretisation.model import build_model
from pnp.results.observables import face_fluxes
from pnp.solvers.bdf import BDF, bdf_coefficients
from pnp.solvers.newton import concentrations

FARADAY = constants.e * constants.N_A


# --- order of accuracy in time ----------------------------------------------


def _semi_discrete_error(h_step=None, rtol=None):
    """Max error at t_end against the exact solution of the semi-discrete system.

    A cosine mode on a uniform mesh with no-flux walls is an exact
    eigenvector of the finite-volume Laplacian, with eigenvalue
    (2D/h^2)(1 - cos(pi h/L)): the comparison isolates the time error.
    """
    L, D, N = 1e-6, 1e-9, 40
    case = neutral_diffusion_case(N, L, D)
    if rtol is not None:
        case = case.with_overrides({"run.rtol": rtol, "run.atol": 1e-3 * rtol})
    model = build_model(case)
    x = model.x0.copy()
    centres = model.mesh.centers
    amp = 0.5
    x[model.layout.species(0)] = 1.0 + amp * np.cos(np.pi * centres / L)
    h = L / N
    rate = 2 * D / h**2 * (1 - np.cos(np.pi * h / L))
    t_end = 1.0 / rate  # one e-folding
    stepper = BDF(model, x, rtol=case.run.rtol, atol=case.run.atol, fixed_step=h_step)
    success, message = _run_to(stepper, t_end)
    assert success, message
    exact = 1.0 + amp * np.cos(np.pi * centres / L) * np.exp(-rate * t_end)
    got = stepper.x[model.layout.species(0)]
    return float(np.max(np.abs(got - exact))), stepper.stats


def _run_to(stepper, t_end, callback=None):
    """Step ``stepper`` to ``t_end``; ``callback(t, h, stats, x)`` after each step."""
    while stepper.t != t_end:
        success, message = stepper.step(t_end)
        if not success:
            return success, message
        if callback is not None:
            callback(stepper.t, stepper.h_last, stepper.stats, stepper.x)
    return True, "completed"


def test_bdf2_is_second_order_in_time():
    t_end = 1.0 / (2 * 1e-9 / (1e-6 / 40) ** 2 * (1 - np.cos(np.pi / 40)))
    steps = np.array([40, 80, 160, 320])
    errors = [_semi_discrete_error(h_step=t_end / n)[0] for n in steps]
    order = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert order >= 1.9, (errors, order)


def test_adaptive_error_tracks_rtol():
    """Global error within a small factor of rtol, and shrinking with it.

    Control of the local error per step makes the global error grow like
    rtol^(p/(p+1)) = rtol^(2/3) for BDF2 (local errors add up over the
    ~rtol^(-1/3) steps): within 10x rtol down to rtol = 1e-5 (measured 0.9, 2.1
    and 4.7 rtol), at slope 2/3 (measured 0.64).
    """
    rtols = np.array([1e-3, 1e-4, 1e-5])
    errors = []
    for rtol in rtols:
        err, stats = _semi_discrete_error(rtol=rtol)
        assert err < 10 * rtol
        assert stats.steps < 400
        errors.append(err)
    slope = np.polyfit(np.log(rtols), np.log(errors), 1)[0]
    assert abs(slope - 2 / 3) < 0.1


# --- time constants ----------------------------------------------------------


def _fit_decay(t, y, t0, tau, lo=1.0, hi=4.0):
    sel = (t - t0 > lo * tau) & (t - t0 < hi * tau)
    assert sel.sum() >= 10
    return -1.0 / np.polyfit(t[sel] - t0, np.log(np.abs(y[sel])), 1)[0]


def test_membrane_charging_time_constant_and_charge():
    case = load("membrane_charging")
    res = pnp.run(case)
    assert res.status == "completed", res.message
    temperature = case.temperature
    kappa = FARADAY**2 / (constants.R * temperature) * 150.0 * (1.96e-9 + 2.03e-9)
    access = 10e-6 / kappa
    lam = analytic.debye_length({"K": 150.0, "Cl": 150.0}, {"K": 1, "Cl": -1}, 80, temperature)
    c_m = analytic.membrane_capacitance(2.0, 5e-9)
    c_dl = constants.epsilon_0 * 80 / lam
    c_series = analytic.series_capacitance(c_m, c_dl, c_dl)
    tau = access * c_series
    fitted = _fit_decay(res.t, res.current, 1e-9, tau)
    # a single-exponential fit to a response that is not exactly one: measured 1.9e-2
    assert fitted == pytest.approx(tau, rel=0.05)
    charge = res.extra_observables["membrane_charge"][-1]
    # linearised diffuse layers at a 10 mV step: measured 8.1e-4
    assert charge == pytest.approx(c_series * 0.01, rel=8e-3)
    # instantaneous capacitive transient: outward current right after the step
    after = res.t > 1e-9
    assert res.current[after][0] > 0.3 * 0.01 / access
    # protocol time reported exactly, and the clamp holds afterwards
    assert 1e-9 in res.t


def test_diffuse_charge_time_constant():
    case = load("diffuse_charge")
    res = pnp.run(case)
    assert res.status == "completed", res.message
    lam = analytic.debye_length({"A": 10.0, "B": 10.0}, {"A": 1, "B": -1}, 80, case.temperature)
    half_width = case.regions[0].length / 2
    tau_c = lam * half_width / 1e-9
    # the leading-order tau_c (corrections O(lambda/L)): measured 1.35e-2
    assert _fit_decay(res.t, res.current, 1e-8, tau_c) == pytest.approx(tau_c, rel=0.05)
    # final wall charge: two linear diffuse layers in series (measured 9.3e-3)
    expected = constants.epsilon_0 * 80 / lam * 1e-3 / 2
    assert -res.surface_charge["right"][-1] == pytest.approx(expected, rel=0.05)


# --- Donnan approach ---------------------------------------------------------


@pytest.fixture(scope="module")
def donnan_pair():
    transient = pnp.run(load("donnan_approach"))
    steady = pnp.run(load("donnan"))
    return transient, steady


def test_donnan_approach_reaches_steady_state(donnan_pair):
    transient, steady = donnan_pair
    assert transient.status == "completed", transient.message
    # at t = 1e5 s the approach has converged far below the solver tolerance:
    # measured 1.9e-8 relative, 1.6e-10 V
    np.testing.assert_allclose(
        transient.concentration[-1], steady.concentration[-1], rtol=2e-7, atol=1e-12
    )
    assert transient.membrane_potential[-1] == pytest.approx(
        steady.membrane_potential[-1], abs=2e-9
    )


def test_donnan_approach_conserves_at_every_output(donnan_pair):
    transient, _ = donnan_pair
    mesh = transient.mesh()
    cyto = mesh.region == 0
    amounts = transient.concentration[:, :, cyto] @ mesh.volume[cyto]  # (T, S)
    x_index = transient.species.index("X")
    # round-off of the sums (measured 1.4e-15)
    np.testing.assert_allclose(amounts[:, x_index], amounts[0, x_index], rtol=2e-14)
    # K+ and Cl- really moved
    assert abs(amounts[-1, 0] / amounts[0, 0] - 1) > 0.5


def test_donnan_step_balance_every_step():
    """Each BDF step: a0 N_{n+1} + a1 N_n + a2 N_{n-1} = -h * flux out, to round-off."""
    case = load("donnan_approach")
    model = build_model(case)
    cyto = np.flatnonzero(model.mesh.region == 0)
    face = cyto[-1] + 1
    vol = model.volume[cyto]
    start = concentrations(model, model.x0)[:, cyto] @ vol
    amounts = [start]
    steps = []
    worst = np.zeros(model.n_species)

    def audit(t, h, stats, x):
        now = concentrations(model, x)[:, cyto] @ vol
        a0, a1, a2 = bdf_coefficients(h, steps[0] if steps else None)
        lhs = a0 * now + a1 * amounts[0] + (a2 * amounts[1] if a2 else 0.0)
        worst[:] = np.maximum(worst, np.abs(lhs + h * face_fluxes(model, x)[:, face]) / start)
        amounts.insert(0, now)
        steps.insert(0, h)

    # BDF2's coefficients above: orders 3-5 are audited the same way in
    # tests/test_variable_order.py
    stepper = BDF(model, model.x0, rtol=case.run.rtol, atol=case.run.atol, max_order=2)
    success, _ = _run_to(stepper, case.run.t_end, callback=audit)
    assert success
    assert np.all(worst <= 6e-12), worst  # measured 6.4e-13 (K)


def test_full_span_in_few_steps():
    """1e-10 s .. 1e3 s on the Donnan case: 13 decades, < 400 accepted steps."""
    case = load("donnan_approach", **{"run.t_end": 1e3, "run.outputs": [1e-10, 1e3]})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    assert res.t[1] == 1e-10 and res.t[-1] == 1e3
    assert res.stats["steps"] < 400
    assert res.stats["rejected_steps"] < 20


# --- protocols ---------------------------------------------------------------


def test_current_clamp_protocol_steps_membrane_potential():
    """A current step on the floating inside reservoir: V_m moves by I * R_m at steady state."""
    case = load(
        "ghk", **{"run.mode": "transient", "run.t_end": 2e3, "run.outputs": [10.0, 1e3, 2e3]}
    )
    case = case.with_overrides({})
    stepped = load("ghk", **{"boundary.left.current": 1e-3})
    transient = pnp.run(
        pnp.Case.from_dict(
            {
                **case.to_dict(),
                "protocol": [{"at": 10.0, "set": {"boundary.left.current": 1e-3}}],
            }
        )
    )
    assert transient.status == "completed", transient.message
    # the steady states on the transient's mesh (adapted to both of them at once)
    base = pnp.run(load("ghk"), mesh=transient.mesh())
    target = pnp.run(stepped, mesh=transient.mesh())
    assert 10.0 in transient.t
    v_before = transient.membrane_potential[transient.t == 10.0][0]
    # both ends are steady states the transient holds to round-off (measured 8e-17 and
    # 7e-17 V; the current 1.4e-13 relative)
    assert v_before == pytest.approx(base.membrane_potential[-1], abs=1e-15)
    assert transient.membrane_potential[-1] == pytest.approx(
        target.membrane_potential[-1], abs=1e-15
    )
    assert transient.current[-1] == pytest.approx(1e-3, rel=2e-12, abs=0)


# --- crash safety ------------------------------------------------------------


def _start_run(out, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pnp",
            "run",
            str(CASES / "donnan_approach.toml"),
            "-o",
            str(out),
            "--quiet",
            "--no-plot",
            "--set",
            "run.outputs=1000",
            "--set",
            "run.rtol=1e-8",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_outputs(proc, out, count, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if out.exists():
            try:
                with h5py.File(out, "r", locking=False) as f:
                    if int(f.attrs.get("n_outputs", 0)) >= count:
                        return True
            except OSError:
                continue
    return False


def test_sigkill_leaves_readable_file(tmp_path):
    out = tmp_path / "killed.h5"
    proc = _start_run(out)
    assert _wait_for_outputs(proc, out, 5), "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    res = pnp.load_result(out)
    assert res.status == "running"
    assert len(res.t) >= 5
    assert np.all(np.diff(res.t) > 0)
    assert np.all(np.isfinite(res.potential)) and np.all(np.isfinite(res.concentration))
    # the first output is the initial state
    np.testing.assert_allclose(res.c("X")[0][res.region == 0], 142.0)


def _run_donnan_approach(out, t_end, outputs):
    """`pnp run cases/donnan_approach.toml` to t_end with that many outputs (exit code)."""
    from pnp.presentation.cli import main

    return main(
        [
            "run",
            str(CASES / "donnan_approach.toml"),
            "-o",
            str(out),
            "--quiet",
            "--set",
            f"run.t_end={t_end}",
            "--set",
            f"run.outputs={outputs}",
        ]
    )


def test_restart_continues_from_last_state(tmp_path):
    from pnp.presentation.cli import main

    first = tmp_path / "first.h5"
    second = tmp_path / "second.h5"
    case = str(CASES / "donnan_approach.toml")
    assert _run_donnan_approach(first, t_end=100, outputs=5) == 0
    assert main(["run", case, "-o", str(second), "--quiet", "--restart", str(first)]) == 0
    part = pnp.load_result(first)
    rest = pnp.load_result(second)
    assert rest.t[0] == pytest.approx(100.0)
    np.testing.assert_allclose(rest.concentration[0], part.concentration[-1])
    steady = pnp.run(load("donnan"))
    # measured 1.9e-8 relative (as test_donnan_approach_reaches_steady_state)
    np.testing.assert_allclose(
        rest.concentration[-1], steady.concentration[-1], rtol=2e-7, atol=1e-12
    )


def test_restart_refuses_another_mesh(tmp_path, capsys):
    """A restart runs on the file's own mesh (the case's mesh settings do not
    apply); a file whose regions differ from the case's is refused."""
    from pnp.presentation.cli import main

    first = tmp_path / "first.h5"
    case = str(CASES / "donnan_approach.toml")
    assert _run_donnan_approach(first, t_end=1e-6, outputs=2) == 0
    code = main(
        [
            "run",
            case,
            "-o",
            str(tmp_path / "b.h5"),
            "--quiet",
            "--restart",
            str(first),
            "--set",
            "region.bath.length=6 um",
        ]
    )
    assert code == 2
    assert "mesh" in capsys.readouterr().err


def _short_donnan_run(path):
    from pnp.presentation.cli import main

    case = str(CASES / "donnan_approach.toml")
    argv = ["run", case, "-o", str(path), "--quiet", "--set", "run.t_end=1e-6"]
    assert main([*argv, "--set", "run.outputs=2"]) == 0
    return case


def test_restart_at_or_after_t_end_is_bad_input_and_touches_no_file(tmp_path, capsys):
    """README: `pnp run cases/donnan_approach.toml --restart results/donnan_approach.h5`
    restarts at the case's own t_end. That crashed (IndexError, exit 1, a
    "running" file left) and, past t_end, stepped backwards in time."""
    from pnp.presentation.cli import main

    first = tmp_path / "first.h5"
    case = _short_donnan_run(first)
    kept = tmp_path / "kept.h5"
    kept.write_bytes(b"an earlier result")
    capsys.readouterr()
    for extra in (("--set", "run.t_end=1e-6"), ("--set", "run.t_end=1e-7")):
        for out, force in ((tmp_path / "new.h5", ()), (kept, ("--force",))):
            argv = ["run", case, "-o", str(out), "--restart", str(first), *extra, *force]
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "run.t_end" in err and "nothing to run" in err
            assert "t = 1e-06 s" in err
    assert not (tmp_path / "new.h5").exists()
    assert kept.read_bytes() == b"an earlier result"  # --force deletes nothing before the check
    loaded = pnp.load_case(case, overrides={"run.t_end": 1e-6})
    with pytest.raises(pnp.CaseError, match="nothing to run"):
        pnp.run(loaded, x0=build_model(loaded).x0, t_start=1e-6)


def test_restart_with_a_later_t_end_continues(tmp_path):
    from pnp.presentation.cli import main

    first, second = tmp_path / "first.h5", tmp_path / "second.h5"
    case = _short_donnan_run(first)
    argv = ["run", case, "-o", str(second), "--quiet", "--restart", str(first)]
    assert main([*argv, "--set", "run.t_end=1e-5", "--set", "run.outputs=3"]) == 0
    part, rest = pnp.load_result(first), pnp.load_result(second)
    assert rest.status == "completed"
    assert rest.t[0] == 1e-6 and rest.t[-1] == 1e-5
    np.testing.assert_array_equal(rest.concentration[0], part.concentration[-1])
    assert np.all(np.diff(rest.t) > 0)


def test_restart_keeps_the_protocols_already_applied(tmp_path):
    """A restart from a file past a protocol time continues under that
    protocol: the file's state came from the changed case. Before, the model
    was rebuilt from the case as loaded, undoing every protocol change."""
    from pnp.simulation.runner import restart_state

    clamp = {"at": 10.0, "set": {"boundary.left.current": 1e-3}}
    data = {
        **load("ghk", **{"run.mode": "transient", "run.t_end": 20.0}).to_dict(),
        "protocol": [clamp],
    }
    data["run"] = {**data["run"], "t_end": 20.0, "outputs": [10.0, 20.0]}
    first = tmp_path / "first.h5"
    assert pnp.run(pnp.Case.from_dict(data), output=str(first)).status == "completed"
    data["run"] = {**data["run"], "t_end": 2e3, "outputs": [1e3, 2e3]}
    case = pnp.Case.from_dict(data)
    x0, t0, mesh = restart_state(case, first)
    assert t0 == 20.0
    rest = pnp.run(case, x0=x0, t_start=t0, mesh=mesh)
    assert rest.status == "completed", rest.message
    # the steady states on the run's own mesh
    base = pnp.run(load("ghk"), mesh=mesh).membrane_potential[-1]
    target = pnp.run(load("ghk", **{"boundary.left.current": 1e-3}), mesh=mesh)
    target = target.membrane_potential[-1]
    assert abs(target - base) > 5e-4  # the clamp moves V_m by 0.6 mV
    # steady states held to round-off (as test_current_clamp_protocol_steps_membrane_potential)
    assert rest.membrane_potential[-1] == pytest.approx(target, abs=1e-15)
    # the total current's round-off: the sum of ionic and displacement parts of
    # ~1e-3 A/m^2 (measured 2.7e-15 A/m^2 absolute; the mirror test's floor)
    assert rest.current[-1] == pytest.approx(1e-3, rel=0, abs=1e-14)


def test_sigint_stops_cleanly(tmp_path):
    out = tmp_path / "interrupted.h5"
    proc = _start_run(out)
    assert _wait_for_outputs(proc, out, 5), "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    res = pnp.load_result(out)
    assert res.status == "failed" and res.message == "interrupted"
    assert len(res.t) >= 5


def test_result_appears_only_with_data(tmp_path):
    """Until its first output is flushed a run writes under a temporary name."""
    out = tmp_path / "early.h5"
    proc = _start_run(out)
    seen = seen_empty = False
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not seen:
        if out.exists():
            with h5py.File(out, "r", locking=False) as f:
                seen_empty = int(f.attrs.get("n_outputs", 0)) == 0
            seen = True
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    assert seen, "the result file never appeared"
    assert not seen_empty
