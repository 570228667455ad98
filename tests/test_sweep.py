"""Parameter sweeps: specs, grids, validation, executors, summaries, resume, continuation.

The physics check is the GHK I-V curve of ``cases/ghk_iv.toml``. Its
tolerances come from what the model contains beyond the closed form:

- Current: the engine's membrane flux is the GHK flux of the membrane's *own*
  potential drop and of the surface concentrations (tests/test_engine.py,
  to 1e-7 here). The clamp also charges the two diffuse layers beside the
  membrane, which take a fraction C_m (1/C_d,in + 1/C_d,out) ~ 0.8 % of the
  clamp voltage (C_m = 2 eps0 / 5 nm = 3.5 mF/m^2, C_d = eps_w / lambda_D ~
  0.9 F/m^2 on each side at 150 mM), while the Boltzmann shift of the surface
  concentrations partly compensates. Measured: the total current exceeds
  sum_i I_GHK,i(V) by 0.78 % at -100 mV, 0.31 % at +60 mV, 0.04 % at
  -20 mV (the excess halves with eps_r of the membrane, and does not change
  with the mesh or the length of the solutions). Asserted: 1 % of the GHK
  current, or 1e-3 of the peak current near the reversal potential.
- Reversal potential: at zero current the membrane's charge, and so the
  diffuse-layer shift, is that of the open-circuit GHK case (~1e-4 mV); the
  cubic-spline interpolation of 9 points 20 mV apart adds ~3 uV. Asserted:
  0.1 mV.
- Continuation: a steady state is reached to the solver tolerance (rtol 1e-6)
  from any start; measured differences are ~1e-15 relative.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

import pnp
from pnp import analytic
from pnp.errors import CaseError
from pnp.presentation.sweep_command import add_sweep_arguments, cmd_sweep
from pnp.simulation.sweep import (
    SweepInterrupted,
    SweepResult,
    load_sweep,
    parse_param,
    parse_spec,
    point_overrides,
    run_point,
    sweep,
    warm_up,
    zero_crossings,
)
from pnp.simulation.sweep.pool import _run_parallel

CASES = Path(__file__).resolve().parent.parent / "cases"
IV = {"boundary.left.potential": "-0.1:0.06:9"}
# Columns that differ between two runs of the same points.
TIMING = {"wall_time"}


@pytest.fixture(scope="module")
def iv_case():
    return pnp.load_case(CASES / "ghk_iv.toml")


@pytest.fixture(scope="module")
def iv_sweep(iv_case, tmp_path_factory):
    """The 9-point I-V sweep through the default process pool (2 workers)."""
    out = tmp_path_factory.mktemp("iv")
    start = time.perf_counter()
    res = sweep(iv_case, IV, out=out, max_workers=2)
    return res, time.perf_counter() - start


def same_results(a: SweepResult, b: SweepResult) -> None:
    ta, tb = a.table, b.table
    assert list(ta) == list(tb)
    for name in ta:
        if name not in TIMING:
            np.testing.assert_array_equal(ta[name], tb[name], err_msg=name)


def ghk_total_current(case, volts):
    mem = case.region("membrane")
    c_in, c_out = case.regions[0].concentration, case.regions[-1].concentration
    z = {s.name: s.z for s in case.species}
    perm = {k: v for k, v in mem.permeability.items() if v > 0}
    current = sum(
        analytic.ghk_current(volts, c_in[n], c_out[n], z[n], perm[n], case.temperature)
        for n in perm
    )
    reversal = analytic.ghk_voltage(c_in, c_out, perm, z, case.temperature)
    return np.asarray(current), reversal


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -- specs and points ----------------------------------------------------------


def test_parse_spec_forms():
    assert parse_spec("-0.1:0.06:9") == pytest.approx(np.linspace(-0.1, 0.06, 9).tolist())
    assert parse_spec("0:1:2") == [0, 1] and all(type(v) is int for v in parse_spec("4:16:4"))
    assert parse_spec("0.0:1:3") == [0.0, 0.5, 1.0]
    log = parse_spec("log:1e-10:1e-8:3")
    assert log == pytest.approx([1e-10, 1e-9, 1e-8], rel=1e-12, abs=0)
    assert log[0] == 1e-10 and log[-1] == 1e-8  # exact ends
    assert parse_spec("1, 2.5,floating") == [1, 2.5, "floating"]
    assert parse_spec("5 nm,10 nm") == ["5 nm", "10 nm"]
    assert parse_spec("0.02") == [0.02]
    with_units = parse_spec("-100 mV:60 mV:17")
    assert len(with_units) == 17 and with_units[:2] == ["-100 mV", "-90 mV"]
    assert parse_spec("-0.1 V:0.06 V:3") == ["-0.1 V", "-0.020000000000000004 V", "0.06 V"]
    assert parse_param("boundary.left.potential = -0.1:0.1:3") == (
        "boundary.left.potential",
        [-0.1, 0.0, 0.1],
    )


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "1:2",
        "1:2:3:4",
        "a:b:3",
        "0:1:x",
        "0:1:2.5",
        "0:1:0",
        "0:1:1",
        "log:0:1:3",
        "log:-1:1:3",
        "1 mV:2 V:3",
        "1,,2",
        "-100 mV:60:3",
    ],
)
def test_parse_spec_rejects(spec):
    with pytest.raises(CaseError):
        parse_spec(spec)


def test_parse_param_rejects():
    for text in ("no_equals", "=1:2:3", "a key=1"):
        with pytest.raises(CaseError):
            parse_param(text)


def test_grid_and_zip():
    grid = point_overrides({"a": [1, 2], "b": "10,20,30"})
    assert grid == [{"a": a, "b": b} for a in (1, 2) for b in (10, 20, 30)]  # first slowest
    zipped = point_overrides({"a": np.array([1.0, 2.0]), "b": [10, 20]}, zip=True)
    assert zipped == [{"a": 1.0, "b": 10}, {"a": 2.0, "b": 20}]
    assert all(type(p["a"]) is float for p in zipped)  # numpy scalars made plain
    with pytest.raises(CaseError, match="equal numbers"):
        point_overrides({"a": [1, 2], "b": [1, 2, 3]}, zip=True)
    with pytest.raises(CaseError):
        point_overrides({})
    with pytest.raises(CaseError, match="no values"):
        point_overrides({"a": []})


def test_every_point_validated_before_any_work(iv_case, tmp_path):
    out = tmp_path / "never"
    bad_value = {"boundary.left.potential": [-0.1, 0.0, "5 nm", 0.05]}
    with pytest.raises(CaseError, match=r"point 2 .*boundary\.left\.potential") as info:
        sweep(iv_case, bad_value, out=out)
    assert info.value.key == "boundary.left.potential"
    assert not out.exists()
    with pytest.raises(CaseError, match=r"point 0 .*eps_rr"):
        sweep(iv_case, {"region.bath.eps_rr": [80, 70]}, out=out)
    # a bad combination in a zipped second parameter
    with pytest.raises(CaseError, match=r"point 1 .*run\.max_steps"):
        sweep(
            iv_case,
            {"boundary.left.potential": [0.0, 0.01], "run.max_steps": [10, 0]},
            zip=True,
            out=out,
        )
    assert not out.exists()


# -- the I-V curve through the process pool ------------------------------------------------


def test_iv_sweep_reproduces_ghk(iv_case, iv_sweep):
    res, _ = iv_sweep
    assert res.failed == 0 and res.completed == 9, res.table["message"]
    table = res.table
    volts = table["boundary.left.potential"]
    np.testing.assert_allclose(volts, np.linspace(-0.1, 0.06, 9), rtol=0, atol=1e-15)
    # the clamp is the boundary value: round-off (measured 6.9e-18 V)
    np.testing.assert_allclose(table["membrane_potential"], volts, rtol=0, atol=1e-16)
    expected, reversal = ghk_total_current(iv_case, volts)
    assert reversal == pytest.approx(-67.34e-3, abs=0.005e-3)  # the README's 2 decimals
    # the diffuse layers beside the membrane grow with |V|: measured 7.8e-3 at -100 mV
    error = np.abs(table["current"] - expected)
    peak = np.max(np.abs(expected))
    assert np.all(error <= np.maximum(0.01 * np.abs(expected), 1e-3 * peak)), error / np.abs(
        expected
    )
    # spline root of 9 points 20 mV apart, plus the diffuse layers: measured 3.2e-6 V
    assert abs(res.reversal_potential() - reversal) < 3e-5
    # per-species fluxes add up to the current: I = F sum z_i J_i
    z = {s.name: s.z for s in iv_case.species}
    from_fluxes = analytic.FARADAY * sum(z[n] * table[f"flux_{n}"] for n in z)
    np.testing.assert_allclose(from_fluxes, table["current"], rtol=2e-15)  # measured 2.2e-16


def test_iv_sweep_files_and_summaries(iv_sweep):
    res, _ = iv_sweep
    assert [p.name for p in res.paths] == [f"point_{i:04d}.h5" for i in range(9)]
    for i, path in enumerate(res.paths):
        result = pnp.load_result(path)
        assert result.status == "completed"
        assert result.current[-1] == res.table["current"][i]
    rows = read_csv(res.out / "summary.csv")
    assert len(rows) == 9
    expected_columns = [
        "index",
        "boundary.left.potential",
        "status",
        "message",
        "membrane_potential",
        "current",
        "pump_current",
        "flux_K",
        "flux_Na",
        "flux_Cl",
        "flux_X",
        "surface_charge_left",
        "surface_charge_right",
        "membrane_voltage",
        "current_K",
        "current_Na",
        "current_Cl",
        "current_X",
        "membrane_potential_error",
        "current_error",
        "pump_current_error",
        "flux_K_error",
        "flux_Na_error",
        "flux_Cl_error",
        "flux_X_error",
        "surface_charge_left_error",
        "surface_charge_right_error",
        "membrane_voltage_error",
        "current_K_error",
        "current_Na_error",
        "current_Cl_error",
        "current_X_error",
        "steps",
        "newton_iterations",
        "rejected_steps",
        "wall_time",
    ]
    assert list(rows[0])[: len(expected_columns)] == expected_columns
    assert list(rows[0])[-1] == "case_sha256"
    assert [float(r["current"]) for r in rows] == res.table["current"].tolist()  # full precision
    assert all(len(r["case_sha256"]) == 64 for r in rows)
    assert int(rows[0]["newton_iterations"]) > 0
    loaded = load_sweep(res.out)
    assert loaded.params == res.params
    same_results(loaded, res)
    np.testing.assert_array_equal(loaded.table["wall_time"], res.table["wall_time"])
    with h5py.File(res.out / "summary.h5") as f:
        assert f.attrs["format"] == "pnp-sweep"
        assert f["current"].attrs["units"] == "A/m^2"
        assert f["current_error"].attrs["units"] == "A/m^2"
    # each point's estimates, as its result file holds them (NaN: none yet)
    for i, path in enumerate(res.paths):
        errors = pnp.load_result(path).error_estimate
        for name in ("membrane_potential", "current", "flux_K", "membrane_charge"):
            np.testing.assert_array_equal(res.table[f"{name}_error"][i], errors[name][-1])


def test_summary_columns_hold_each_points_error_estimates(iv_case, tmp_path):
    """The `<name>_error` columns come from each point's Result: its last
    estimates, NaN (a blank CSV cell) where it has none; units as the observable's."""
    from test_io import make_result  # synthetic K, Na, Cl results, 4 outputs

    from pnp.simulation.sweep.summary import _base_columns, _row, _Summary
    from pnp.simulation.sweep.worker import _failure, _outcome

    estimates = {"membrane_potential": [1, 2, 3, 4e-6], "flux_Na": [0, 0, 0, 5e-12]}
    results = [
        make_result(status="completed", error_estimate=estimates),
        make_result(status="completed", seed=1),
    ]
    keys = ("boundary.left.potential",)
    base = _base_columns(keys, ("K", "Na", "Cl"))
    outcomes = [*map(_outcome, results), _failure("boom")]
    rows = [_row(i, {keys[0]: 0.01 * i}, "0" * 64, o, base) for i, o in enumerate(outcomes)]
    _Summary(tmp_path, base, iv_case, keys, False).write(rows)

    loaded = load_sweep(tmp_path)
    observables = list(results[0].observables())  # capacitive_current: an extra one
    fixed = observables[:-1]
    columns = loaded.columns
    start = columns.index("membrane_potential")
    assert columns[start : start + 2 * len(fixed)] == fixed + [f"{n}_error" for n in fixed]
    assert columns[-3:] == ["capacitive_current", "capacitive_current_error", "case_sha256"]
    table = loaded.table
    for i, result in enumerate(results):
        for name in observables:
            assert table[name][i] == result.observables()[name][-1], name
            np.testing.assert_array_equal(
                table[f"{name}_error"][i], result.error_estimate[name][-1], err_msg=name
            )
    assert table["membrane_potential_error"][0] == 4e-6 and table["flux_Na_error"][0] == 5e-12
    assert np.isnan(table["current_error"]).all()
    assert np.isnan(table["membrane_potential_error"][1:]).all()  # none, and a failed point
    csv_rows = read_csv(tmp_path / "summary.csv")
    assert [r["membrane_potential_error"] for r in csv_rows] == [repr(4e-6), "", ""]
    with h5py.File(tmp_path / "summary.h5") as f:
        assert f["membrane_potential_error"].attrs["units"] == "V"
        assert f["flux_Na_error"].attrs["units"] == "mol/m^2/s"
        assert "units" not in f["capacitive_current_error"].attrs  # unregistered, like its value


def test_summary_opens_in_xarray(iv_sweep):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    res, _ = iv_sweep
    with xr.open_dataset(res.out / "summary.h5", engine="h5netcdf") as ds:
        assert ds["current"].dims == ("index",)
        np.testing.assert_array_equal(ds["current"].values, res.table["current"])


def test_workers_load_kernels_from_the_numba_cache(iv_case):
    """After the warm-up a fresh (spawned) worker compiles nothing."""
    warm_up(iv_case)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        misses, hits = pool.submit(_kernel_compilations, iv_case).result()
    assert misses == 0 and hits > 0


def _kernel_compilations(case):
    from numba.core.registry import CPUDispatcher

    from pnp.discretisation import kernel

    assert run_point({"case": case, "path": None})["status"] == "completed"
    stats = [v.stats for v in vars(kernel).values() if isinstance(v, CPUDispatcher)]
    return (
        sum(sum(s.cache_misses.values()) for s in stats),
        sum(sum(s.cache_hits.values()) for s in stats),
    )


# -- failures -----------------------------------------------------------------------


# A point that surely fails, whatever the steady solver's strategy: a time
# course of 1 s allowed 2 steps (the first steps are ~1e-13 s).
FAILING = {
    "run.mode": ["steady", "transient", "steady", "steady"],
    "run.max_steps": [100000, 2, 100000, 100000],
}


def test_failed_point_is_isolated(iv_case, tmp_path):
    params = {"boundary.left.potential": [-0.08, -0.04, 0.0, 0.04], **FAILING}
    base = iv_case.with_overrides({"run.t_end": 1.0})
    res = sweep(base, params, zip=True, out=tmp_path, max_workers=2)
    assert res.failed == 1 and res.completed == 3
    table = res.table
    assert table["status"].tolist() == ["completed", "failed", "completed", "completed"]
    assert table["message"][1]
    assert table["run.max_steps"].tolist() == [100000, 2, 100000, 100000]
    rows = read_csv(tmp_path / "summary.csv")
    assert rows[1]["status"] == "failed" and rows[1]["message"] == table["message"][1]
    # the failed point's file is written, with status "failed"
    assert pnp.load_result(res.paths[1]).status == "failed"


def test_exception_in_a_worker_is_a_failed_point():
    outcome = run_point({"case": object(), "path": None})
    assert outcome["status"] == "failed"
    assert outcome["message"].startswith("AttributeError")


def _die_at_zero_volts(task):
    if task["case"].left.potential == 0.0:
        os._exit(1)  # a segfault or the OOM killer, as the pool sees it
    return run_point(task)


def test_a_dying_worker_fails_only_its_point(iv_case):
    volts = [-0.08, -0.04, 0.0, 0.04]
    cases = [iv_case.with_overrides({"boundary.left.potential": v}) for v in volts]
    outcomes = {}
    _run_parallel(
        cases,
        list(range(4)),
        lambda i, x0=None: {"case": cases[i], "path": None},
        outcomes.__setitem__,
        None,
        2,
        None,
        runner=_die_at_zero_volts,
    )
    assert sorted(outcomes) == [0, 1, 2, 3]
    assert outcomes[2]["status"] == "failed" and "worker process died" in outcomes[2]["message"]
    assert all(outcomes[i]["status"] == "completed" for i in (0, 1, 3))


def _second_point_fails_argv(case, out, potentials):
    """`pnp sweep` arguments: one point per potential, zipped; the second point a
    transient limited to 2 steps (it fails), the others steady."""
    n = len(potentials)
    modes = ["steady"] * n
    modes[1] = "transient"
    steps = ["100000"] * n
    steps[1] = "2"
    return [
        case,
        "--param",
        "boundary.left.potential=" + ",".join(str(v) for v in potentials),
        "--param",
        "run.mode=" + ",".join(modes),
        "--param",
        "run.max_steps=" + ",".join(steps),
        "--set",
        "run.t_end=1.0",
        "--zip",
        "-j",
        "1",
        "-o",
        os.fspath(out),
    ]


def test_cli_exits_3_after_all_points_and_2_on_bad_input(tmp_path, capsys):
    case = os.fspath(CASES / "ghk_iv.toml")
    out = tmp_path / "cli"
    argv = _second_point_fails_argv(case, out, [-0.08, -0.04, 0.0])
    assert cmd_sweep(_args(argv)) == 3
    captured = capsys.readouterr()
    assert "1 of 3 points failed" in captured.err
    assert [r["status"] for r in read_csv(out / "summary.csv")] == [
        "completed",
        "failed",
        "completed",
    ]
    # the directory holds a sweep now: refuse to overwrite it silently
    assert cmd_sweep(_args(argv)) == 2
    assert "--resume" in capsys.readouterr().err
    assert (
        cmd_sweep(
            _args([case, "--param", "boundary.left.potential=1:2", "-o", os.fspath(tmp_path / "x")])
        )
        == 2
    )
    assert (
        cmd_sweep(
            _args([case, "--param", "boundary.left.nope=1,2", "-o", os.fspath(tmp_path / "y")])
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "SPEC" in err and "nope" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_an_interrupted_cli_sweep_and_pnp_info_show_the_same_counts(tmp_path, capsys, monkeypatch):
    """Ctrl-C during the third of four points of `pnp sweep -j 1`, the second of
    which fails: the message and `pnp info DIR` count 1 completed, 1 failed, 1
    interrupted and 1 pending point (both from status_counts)."""
    import pnp.simulation.runner as runner
    from pnp.presentation.cli import main
    from pnp.presentation.sweep_command import status_counts

    real = runner.run

    def run(case, **kwargs):
        if case.left.potential == 0.0:
            raise KeyboardInterrupt  # what the run raises after saving itself
        return real(case, **kwargs)

    monkeypatch.setattr(runner, "run", run)
    out = tmp_path / "stopped"
    argv = _second_point_fails_argv(
        os.fspath(CASES / "ghk_iv.toml"), out, [-0.08, -0.04, 0.0, 0.04]
    )
    assert cmd_sweep(_args(argv)) == 130
    err = capsys.readouterr().err
    assert err.startswith("pnp: interrupted: 1 completed, 1 interrupted, 1 failed, 1 not run")
    counts = {"completed": 1, "failed": 1, "interrupted": 1, "pending": 1}
    assert status_counts(load_sweep(out)) == counts
    assert main(["info", os.fspath(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    points = next(line for line in lines if line.startswith("points"))
    assert points.split() == ["points", *"1 completed, 1 failed, 1 interrupted, 1 pending".split()]


def test_cli_success_prints_table_and_reversal(tmp_path, capsys):
    argv = [
        os.fspath(CASES / "ghk_iv.toml"),
        "--param",
        "boundary.left.potential=-80 mV:-60 mV:5",
        "-j",
        "1",
        "-o",
        os.fspath(tmp_path / "ok"),
    ]
    assert cmd_sweep(_args(argv)) == 0
    out = capsys.readouterr().out
    assert "5 completed, 0 failed" in out
    assert "reversal potential (current = 0): -67.3" in out
    table = load_sweep(tmp_path / "ok").table
    np.testing.assert_allclose(
        table["boundary.left.potential"], np.linspace(-0.08, -0.06, 5), rtol=1e-12
    )  # unit strings resolved to SI


def _args(argv):
    parser = argparse.ArgumentParser(prog="pnp sweep")
    add_sweep_arguments(parser)
    return parser.parse_args(argv)


# -- incremental summaries, interruption and resume -----------------------------------


class _Interrupt(BaseException):
    """Stands for Ctrl-C: not an Exception, so not a failed point."""


class _SpyExecutor(Executor):
    """One thread, in submission order; watches summary.csv before each point.

    Point k waits until the summary lists k completed points (proving the
    file is rewritten as points finish) and point ``stop_at`` interrupts.
    """

    def __init__(self, summary: Path, stop_at: int | None = None):
        self.pool = ThreadPoolExecutor(1)
        self.summary = summary
        self.stop_at = stop_at
        self.seen: list[int] = []
        self.submitted = 0
        self.stopped = False

    def submit(self, fn, /, *args, **kwargs):
        k = self.submitted
        self.submitted += 1

        def call():
            deadline = time.monotonic() + 10
            done = 0
            while time.monotonic() < deadline and not self.stopped:
                done = sum(r["status"] == "completed" for r in read_csv(self.summary))
                if done >= k:
                    break
                time.sleep(0.005)
            self.seen.append(done)
            if k == self.stop_at:
                self.stopped = True
                raise _Interrupt
            return fn(*args, **kwargs)

        return self.pool.submit(call)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def test_summary_is_written_as_points_finish_and_survives_an_interrupt(iv_case, tmp_path):
    params = {"boundary.left.potential": "-0.1:0.0:6"}
    spy = _SpyExecutor(tmp_path / "summary.csv", stop_at=3)
    with pytest.raises(_Interrupt):
        sweep(iv_case, params, executor=spy, out=tmp_path)
    spy.shutdown()
    assert spy.seen[:4] == [0, 1, 2, 3]
    rows = read_csv(tmp_path / "summary.csv")
    assert len(rows) == 6
    assert [r["status"] for r in rows[:4]] == ["completed"] * 3 + ["pending"]
    assert {r["status"] for r in rows} <= {"completed", "pending"}
    # resume finishes only what is missing
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("point_*.h5")}
    res = sweep(iv_case, params, out=tmp_path, resume=True, max_workers=1)
    assert res.completed == 6
    for name, mtime in before.items():
        if pnp.load_result(tmp_path / name).status == "completed":
            assert (tmp_path / name).stat().st_mtime_ns == mtime
    assert [r["status"] for r in read_csv(tmp_path / "summary.csv")] == ["completed"] * 6


def test_resume_redoes_missing_and_failed_points_only(iv_case, tmp_path, capsys):
    params = {"boundary.left.potential": "-0.1:0.06:5"}
    first = sweep(iv_case, params, out=tmp_path, max_workers=1)
    assert first.completed == 5
    first.paths[1].unlink()
    with h5py.File(first.paths[3], "r+") as f:
        f.attrs["status"] = "failed"
    stamps = {i: p.stat().st_mtime_ns for i, p in enumerate(first.paths) if p.exists()}
    time.sleep(0.01)
    resumed = sweep(iv_case, params, out=tmp_path, resume=True, max_workers=1, progress=True)
    assert "sweep" in capsys.readouterr().err  # the progress bar
    changed = {i for i, p in enumerate(resumed.paths) if p.stat().st_mtime_ns != stamps.get(i)}
    assert changed == {1, 3}
    same_results(first, resumed)
    # nothing left to do: nothing runs
    again = sweep(iv_case, params, out=tmp_path, resume=True, max_workers=1)
    assert all(
        p.stat().st_mtime_ns == q.stat().st_mtime_ns
        for p, q in zip(again.paths, resumed.paths, strict=True)
    )
    # another resolved case (same points): every point is redone
    other = iv_case.with_overrides({"run.rtol": 1e-7})
    redone = sweep(other, params, out=tmp_path, resume=True, max_workers=1)
    assert all(p.stat().st_mtime_ns != stamps.get(i, 0) for i, p in enumerate(redone.paths))
    assert redone.table["case_sha256"][0] != first.table["case_sha256"][0]
    # without resume or force an earlier sweep is not overwritten
    with pytest.raises(CaseError, match="earlier sweep"):
        sweep(iv_case, params, out=tmp_path)
    fresh = sweep(iv_case, {"boundary.left.potential": [0.0]}, out=tmp_path, force=True)
    assert len(fresh) == 1 and sorted(p.name for p in tmp_path.glob("point_*.h5")) == [
        "point_0000.h5"
    ]


# -- continuation ----------------------------------------------------------------------


def test_continuation_changes_nothing_beyond_tolerance(iv_case, tmp_path):
    plain = sweep(iv_case, IV, max_workers=1)
    continued = sweep(iv_case, IV, continuation=True, out=tmp_path)
    assert continued.completed == 9 and continued.out == tmp_path
    # each point's mesh is adapted from where it starts (the neighbour's mesh, or
    # the case's graded one): the two answers agree within their error estimates
    # (measured differences up to 1.2e-5 relative, estimates ~1e-5 relative)
    diff = np.abs(continued.table["current"] - plain.table["current"])
    allowed = continued.table["current_error"] + plain.table["current_error"]
    assert np.all(diff <= allowed)
    assert np.all(plain.table["current_error"] > 0)
    # floating membrane potential along a permeability scan (open circuit GHK)
    ghk = pnp.load_case(CASES / "ghk.toml")
    params = {"region.membrane.permeability.Na": "log:1e-10:1e-8:4"}
    a = sweep(ghk, params, max_workers=1)
    b = sweep(ghk, params, continuation=True)  # no out: files in a scratch directory
    assert b.out is None and b.completed == 4
    diff = np.abs(b.table["membrane_potential"] - a.table["membrane_potential"])
    allowed = b.table["membrane_potential_error"] + a.table["membrane_potential_error"]
    assert np.all(diff <= allowed)
    assert np.all(np.diff(a.table["membrane_potential"]) > 0)  # more Na+ -> depolarised


def test_continuation_only_for_1d_steady_sweeps(iv_case):
    with pytest.raises(CaseError, match="1D"):
        sweep(
            iv_case,
            {"boundary.left.potential": [0.0, 0.01], "run.rtol": [1e-6, 1e-7]},
            continuation=True,
        )
    transient = iv_case.with_overrides({"run.mode": "transient", "run.t_end": 1e-6})
    with pytest.raises(CaseError, match="steady"):
        sweep(transient, {"boundary.left.potential": [0.0, 0.01]}, continuation=True)
    with pytest.raises(CaseError, match="same mesh"):
        sweep(iv_case, {"region.bath.length": [1e-6, 2e-6]}, continuation=True)


def test_pnp_sweep_is_the_function(iv_case):
    import pnp.simulation.sweep as module

    # Importing the module (as the workers do) must not rebind the public name.
    assert pnp.sweep is module.sweep
    assert pnp.SweepResult is module.SweepResult and pnp.load_sweep is module.load_sweep
    res = pnp.sweep(iv_case, {"boundary.left.potential": [0.0]})
    assert isinstance(res, SweepResult) and res.completed == 1 and res.paths == [None]
    assert repr(res).startswith("<SweepResult 1 point over")


# -- zero crossings ------------------------------------------------------------------


def test_zero_crossings():
    x = np.linspace(-1.0, 1.0, 9)
    # a cubic spline reproduces a cubic: measured 0
    assert zero_crossings(x, x**3 - 0.1) == pytest.approx([0.1 ** (1 / 3)], abs=1e-14)
    assert zero_crossings(x, x) == pytest.approx([0.0])
    assert zero_crossings([0.0, 1.0], [-1.0, 3.0]) == pytest.approx([0.25])  # linear
    assert zero_crossings(x, x**2 + 1).size == 0
    assert zero_crossings(x[::-1], np.sin(4 * x[::-1])) == pytest.approx(  # unsorted input
        [-np.pi / 4, 0.0, np.pi / 4],
        abs=5e-3,  # spline through 9 points: measured 4.8e-4
    )
    with pytest.raises(ValueError):
        zero_crossings([0.0, 0.0, 1.0], [1.0, -1.0, 2.0])


# -- Dask ------------------------------------------------------------------------------


def test_dask_local_cluster_matches_the_process_pool(iv_case, iv_sweep, tmp_path):
    pytest.importorskip("dask.distributed")
    from pnp.simulation.sweep import dask_executor

    with dask_executor("local", 2) as executor:
        res = sweep(iv_case, IV, executor=executor, out=tmp_path)
    same_results(res, iv_sweep[0])


def test_ctrl_c_in_a_one_worker_sweep_records_every_point_and_resumes(
    iv_case, tmp_path, monkeypatch
):
    """Ctrl-C during the third point of a sweep run in this process: it is recorded
    as interrupted, the point after it stays pending, both summaries say so, and
    SweepInterrupted (a KeyboardInterrupt) carries the same table."""
    import pnp.simulation.runner as runner

    real = runner.run

    def run(case, **kwargs):
        if case.left.potential == 0.0:
            raise KeyboardInterrupt  # what the run raises after saving itself
        return real(case, **kwargs)

    params = {"boundary.left.potential": "-0.08,-0.04,0,0.04"}
    monkeypatch.setattr(runner, "run", run)
    with pytest.raises(SweepInterrupted) as info:
        sweep(iv_case, params, out=tmp_path, max_workers=1)
    assert isinstance(info.value, KeyboardInterrupt)
    expected = ["completed", "completed", "failed", "pending"]
    assert list(info.value.result.table["status"]) == expected
    assert info.value.result.table["message"][2] == "interrupted"
    assert [r["status"] for r in read_csv(tmp_path / "summary.csv")] == expected
    assert list(load_sweep(tmp_path).table["status"]) == expected
    monkeypatch.setattr(runner, "run", real)
    resumed = sweep(iv_case, params, out=tmp_path, resume=True, max_workers=1)
    assert list(resumed.table["status"]) == ["completed"] * 4
