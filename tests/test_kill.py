"""Killed runs and sweeps lose nothing; results are deterministic (issue: hardening).

Every output flushed before a SIGKILL/SIGINT must be bit-identical to the
same output of an uninterrupted run, and `pnp sweep --resume` must finish a
killed sweep with results identical to an uninterrupted one.

Each kill is aimed at a moment chosen by observable progress (the result file
holds k outputs; the run opened its file but has flushed nothing; m of N
sweep points are done). To know exactly what the files held when the kill
landed, the process (for a sweep: its whole process group) is first stopped
with SIGSTOP, its files are read while it cannot write, and only then is the
signal sent (with SIGCONT, so that SIGINT is acted on). A process that has
already exited when it is stopped is a kill that missed its moment: the test
fails.
"""

from __future__ import annotations

import csv
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

import pnp

# SIGSTOP and the process states of /proc
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="needs Linux /proc and SIGSTOP")

CASES = Path(__file__).resolve().parent.parent / "cases"
RUN_ARGS = ["--quiet", "--no-plot", "--set", "run.outputs=300", "--set", "run.rtol=1e-8"]
#: Outputs of a complete run: the initial state and the 300 requested.
N_OUTPUTS = 301
#: Polling period while waiting for a moment [s].
POLL = 0.005
#: Numbers the files and directories of the kills (several kills share a tmp_path).
_SERIAL = itertools.count()


def _cli(*args, **kw):
    # every output appended as it is reached (PNP_WRITE_INTERVAL=0): the kills aim
    # at given output counts, which gathered appends (0.1 s of outputs) would skip
    env = {**os.environ, "PNP_WRITE_INTERVAL": "0", **kw.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "pnp", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    proc = _cli("run", str(CASES / "donnan_approach.toml"), "-o", str(out), *RUN_ARGS)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    res = pnp.load_result(out)
    assert len(res.t) == N_OUTPUTS
    return res


# --- stopping a process at a moment -------------------------------------------------------


def _states(pgid: int) -> dict[int, str]:
    """State letter (R, S, D, T, Z, ...) of every process in process group ``pgid``."""
    states = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited while listing
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            states[int(stat.parent.name)] = fields[0]
    return states


def _stop(proc, group: bool = False) -> None:
    """SIGSTOP ``proc`` (``group``: its whole process group) and wait until it is stopped.

    Fails if ``proc`` has already exited: the kill would not land where meant.
    """
    assert proc.poll() is None, f"the process exited (code {proc.returncode}) before the kill"
    # not yet reaped (only poll/communicate reap it), so the pid cannot be reused
    if group:
        os.killpg(proc.pid, signal.SIGSTOP)
    else:
        os.kill(proc.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10.0
    while True:
        states = _states(proc.pid) if group else {proc.pid: _states_of(proc.pid)}
        leader = states.get(proc.pid)
        assert leader != "Z", "the process exited before the kill"
        # a pool worker that exited just before the stop is a zombie, not stopped
        if leader == "T" and all(s in "TZ" for s in states.values()):
            return
        assert time.monotonic() < deadline, f"SIGSTOP did not stop the process: {states}"
        time.sleep(0.001)


def _states_of(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


def _cont(proc, group: bool = False) -> None:
    (os.killpg if group else os.kill)(proc.pid, signal.SIGCONT)


def _read_stopped(proc, read, group: bool = False):
    """Stop ``proc`` and return ``read()`` of its files as they are while it cannot write.

    Stopped inside an HDF5 flush, a file may not open: let it run a moment
    and stop it again.
    """
    for _ in range(200):
        _stop(proc, group)
        try:
            return read()
        except (OSError, KeyError):
            _cont(proc, group)
            time.sleep(0.002)
    pytest.fail("the files never read cleanly with the process stopped")


def _wait_for(proc, predicate, what: str, timeout: float = 300.0) -> None:
    """Poll ``predicate()`` until true; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the process exited (code {proc.returncode}) before {what}"
        try:
            if predicate():
                return
        except (OSError, KeyError):  # caught the writer mid-flush: look again
            pass
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(POLL)


def _signal(proc, sig, group: bool = False) -> str:
    """Send ``sig`` to the stopped ``proc``, let it go on, wait for its end; its stderr."""
    (os.killpg if group else os.kill)(proc.pid, sig)
    _cont(proc, group)
    _, err = proc.communicate(timeout=300)
    return err


# --- runs -------------------------------------------------------------------------------


def _committed(out: Path) -> int:
    """Outputs a result file holds (its commit count ``n_outputs``); 0 if it does not exist."""
    if not out.exists():
        return 0
    with h5py.File(out, "r", locking=False) as f:
        return int(f.attrs["n_outputs"])


#: Where a run kill lands: before the result file exists (start-up), after the
#: file is opened under its temporary name but before the first output, or
#: with k outputs flushed (early / middle / late in the run, by k).
RUN_PHASES = {"early": range(1, 25), "middle": range(25, 250), "late": range(250, N_OUTPUTS)}


def _run_phase(held: int, opened: bool) -> str:
    if held == 0:
        return "opened" if opened else "start-up"
    return next(name for name, ks in RUN_PHASES.items() if held in ks)


def _kill_run(
    tmp_path,
    reference,
    sig,
    outputs: int = 0,
    opened: bool = False,
    delay: float = 0.0,
    env: dict | None = None,
) -> tuple[int, bool]:
    """Kill a run of donnan_approach at a chosen moment and check the file it leaves.

    The moment: once the result file holds ``outputs`` outputs (> 0); else once
    the run has opened its file under the temporary name (``opened``); else
    ``delay`` seconds after the start, well before the run opens any file.

    Returns
    -------
    held : int
        Outputs the result file held when the kill landed.
    opened : bool
        Whether the temporary file existed then.
    """
    out = tmp_path / f"run_{next(_SERIAL)}_{sig.name}.h5"
    part = out.with_name(f".{out.name}.part")
    proc = _cli(
        "run", str(CASES / "donnan_approach.toml"), "-o", str(out), *RUN_ARGS, env=env or {}
    )
    if outputs > 0:
        _wait_for(proc, lambda: _committed(out) >= outputs, f"{outputs} outputs")
    elif opened:
        _wait_for(proc, part.exists, "the temporary file")
    else:
        time.sleep(delay)
    held, was_opened = _read_stopped(proc, lambda: (_committed(out), part.exists()))
    if outputs > 0:
        assert outputs <= held < N_OUTPUTS, f"meant to land after {outputs} of {N_OUTPUTS} outputs"
    else:
        assert held == 0 and was_opened == opened, (
            f"meant to land {'after the file was opened' if opened else 'before any file'} "
            f"and before the first output; the file held {held}, opened: {was_opened}"
        )
    err = _signal(proc, sig)

    if held == 0 and not out.exists():
        # SIGINT before pnp's handler is installed: 130 from the CLI, or the
        # interpreter's own death by SIGINT during start-up
        assert proc.returncode in (
            (-signal.SIGKILL,) if sig == signal.SIGKILL else (130, -signal.SIGINT)
        ), err
        return held, was_opened
    if held == 0:
        # the final name holds a file only once it has an output: a SIGKILL
        # leaves none; a SIGINT is acted on at the next step boundary, so the
        # first output, under way when it came, is completed and kept (below:
        # one output, status interrupted, bit-identical)
        assert sig == signal.SIGINT, "a file under the final name without an output"
    res = pnp.load_result(out)
    n = len(res.t)
    if sig == signal.SIGKILL:
        # nothing ran after the stop: the file is exactly as read then
        assert proc.returncode == -signal.SIGKILL, err
        assert n == held and res.status == "running"
    else:
        assert proc.returncode == 130, err
        assert res.status == "failed" and res.message == "interrupted"
        # SIGINT is acted on between steps: an append under way at the stop
        # completes, no later output is written
        assert n in (held, held + 1)
    # every flushed output is intact: bit-identical to the uninterrupted run
    assert np.array_equal(res.t, reference.t[:n])
    assert np.array_equal(res.potential, reference.potential[:n])
    assert np.array_equal(res.concentration, reference.concentration[:n])
    assert np.array_equal(res.membrane_potential, reference.membrane_potential[:n])
    return held, was_opened


def test_killed_run_with_gathered_appends_keeps_what_it_appended(tmp_path, reference):
    """The default writer gathers up to 0.1 s of outputs per append: a SIGKILL
    mid-run leaves every output appended so far, bit for bit (checked by
    ``_kill_run`` against the reference run)."""
    held, _ = _kill_run(
        tmp_path, reference, signal.SIGKILL, outputs=30, env={"PNP_WRITE_INTERVAL": "0.1"}
    )
    assert _run_phase(held, True) in ("middle", "late")


@pytest.mark.parametrize(
    ("sig", "outputs"), [(signal.SIGKILL, 5), (signal.SIGINT, 100)], ids=["SIGKILL-5", "SIGINT-100"]
)
def test_killed_run_keeps_every_flushed_output(tmp_path, reference, sig, outputs):
    held, _ = _kill_run(tmp_path, reference, sig, outputs=outputs)
    assert _run_phase(held, True) == ("early" if outputs == 5 else "middle")


def test_run_killed_before_its_first_output_leaves_no_file(tmp_path, reference):
    held, opened = _kill_run(tmp_path, reference, signal.SIGKILL, opened=True)
    assert (held, opened) == (0, True)
    # the kill landed on the temporary file, which stays behind; no final name
    assert [p.name.endswith(".h5.part") for p in tmp_path.iterdir()] == [True]


@pytest.mark.slow
def test_kill_runs_at_random_moments(tmp_path, reference):
    """24 kills spread over the phases of a run, SIGKILL and SIGINT alternately in each."""
    rng = random.Random(1234)
    plan = (
        [("start-up", {"delay": rng.uniform(0.0, 0.3)}) for _ in range(4)]
        + [("opened", {"opened": True}) for _ in range(4)]
        + [("early", {"outputs": rng.randint(1, 5)}) for _ in range(4)]
        + [("middle", {"outputs": rng.randint(25, 220)}) for _ in range(6)]
        + [("late", {"outputs": rng.randint(250, 298)}) for _ in range(6)]
    )
    landed = Counter()
    for k, (phase, moment) in enumerate(plan):
        sig = signal.SIGKILL if k % 2 == 0 else signal.SIGINT
        held, opened = _kill_run(tmp_path, reference, sig, **moment)
        assert _run_phase(held, opened) == phase, (phase, moment, held)
        landed[_run_phase(held, opened), sig.name] += 1
    assert landed == {
        (phase, name): n
        for phase, n in (("start-up", 2), ("opened", 2), ("early", 2), ("middle", 3), ("late", 3))
        for name in ("SIGKILL", "SIGINT")
    }


# --- sweeps -----------------------------------------------------------------------------


N_POINTS = 24
SWEEP = [
    "sweep",
    str(CASES / "ghk_iv.toml"),
    "--param",
    f"boundary.left.potential=-0.1:0.06:{N_POINTS}",
    "--set",
    "mesh.uniform_cells=400",
    "-j",
    "2",
    "--quiet",
]


def _read_summary(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keep = ("index", "status", "membrane_potential", "current")
    return [{k: r[k] for k in keep} for r in rows]


def _done(out: Path) -> int:
    """Points summary.csv lists as completed (0 without a summary)."""
    summary = out / "summary.csv"
    if not summary.exists():
        return 0
    rows = _read_summary(summary)
    assert len(rows) == N_POINTS
    return sum(r["status"] == "completed" for r in rows)


def _point_files(out: Path) -> dict[str, tuple[str, int, int]]:
    """Point file name -> (status, inode, mtime in ns)."""
    files = {}
    for p in sorted(out.glob("point_*.h5")):
        with h5py.File(p, "r") as f:
            status = str(f.attrs["status"])
        st = p.stat()
        files[p.name] = (status, st.st_ino, st.st_mtime_ns)
    return files


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweepref") / "ref"
    proc = _cli(*SWEEP, "-o", str(out))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return _read_summary(out / "summary.csv")


def _kill_sweep_and_resume(
    tmp_path, sweep_reference, sig, done: int = 0, summary: bool = False, delay: float = 0.0
) -> str:
    """Kill a sweep (its process group) at a chosen moment, resume it, compare.

    The moment: once summary.csv lists ``done`` (> 0) completed points; else
    once summary.csv exists (every point still pending, ``summary``); else
    ``delay`` seconds after the start, before the summary is written.
    Returns where the kill landed: "start-up" (no summary.csv yet), "pending"
    (summary.csv lists no point done) or "mid-sweep" (0 < done < N_POINTS).
    """
    out = tmp_path / f"sweep_{next(_SERIAL)}_{sig.name}"
    proc = _cli(*SWEEP, "-o", str(out), start_new_session=True)
    if done > 0:
        _wait_for(proc, lambda: _done(out) >= done, f"{done} completed points")
    elif summary:
        _wait_for(proc, (out / "summary.csv").exists, "summary.csv")
    else:
        time.sleep(delay)
    has_summary, held = _read_stopped(
        proc, lambda: ((out / "summary.csv").exists(), _done(out)), group=True
    )
    if done > 0:
        assert done <= held < N_POINTS, f"meant to land after {done} of {N_POINTS} points"
    else:
        assert (has_summary, held) == (summary, 0), (
            f"meant to land {'after summary.csv was written' if summary else 'before it'} and "
            f"before any point was done; summary: {has_summary}, {held} done"
        )
    at_stop = _read_summary(out / "summary.csv") if has_summary else None
    try:
        err = _signal(proc, sig, group=True)
    except subprocess.TimeoutExpired:
        if sig != signal.SIGINT:
            raise
        # A SIGINT'd 2-worker sweep hung once in CI (before its workers ignored
        # SIGINT between points) and the hang has not been reproduced since (0 in
        # 46 tries): if it comes back, record where every process of the group
        # waits, so the next reader can find the cause, and xfail this kill only.
        states = subprocess.run(
            ["ps", "-o", "pid,ppid,stat,wchan:32,args", "-g", str(proc.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.xfail(f"known hang of a SIGINT'd sweep (issue 13); process states:\n{states}")
    assert proc.returncode != 0, err

    # what the kill left: for SIGKILL exactly what was on disk at the stop
    after = _read_summary(out / "summary.csv") if (out / "summary.csv").exists() else None
    if sig == signal.SIGKILL:
        assert after == at_stop
    else:
        assert (after is None) == (at_stop is None)
    left = _done(out)
    assert held <= left < N_POINTS
    kept = _point_files(out) if out.exists() else {}
    completed = {name for name, (status, *_) in kept.items() if status == "completed"}
    # the summary never lists a point whose file is not complete
    listed = {
        f"point_{int(r['index']):04d}.h5" for r in (after or []) if r["status"] == "completed"
    }
    assert listed <= completed
    assert len(completed) < N_POINTS

    resumed = _cli(*SWEEP, "-o", str(out), "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert _read_summary(out / "summary.csv") == sweep_reference
    now = _point_files(out)
    assert len(now) == N_POINTS and all(s == "completed" for s, *_ in now.values())
    # the resume kept every completed point file untouched and ran the rest
    assert {name: now[name] for name in completed} == {name: kept[name] for name in completed}
    return "mid-sweep" if held > 0 else "pending" if has_summary else "start-up"


def test_killed_sweep_resumes_to_identical_results(tmp_path, sweep_reference):
    landed = _kill_sweep_and_resume(tmp_path, sweep_reference, signal.SIGKILL, done=N_POINTS // 3)
    assert landed == "mid-sweep"


@pytest.mark.slow
def test_kill_sweeps_at_random_moments(tmp_path, sweep_reference):
    """12 sweep kills spread over its phases, SIGKILL and SIGINT alternately in each."""
    rng = random.Random(99)
    plan = (
        [("start-up", {"delay": rng.uniform(0.0, 0.3)}) for _ in range(2)]
        + [("pending", {"summary": True}) for _ in range(2)]
        + [("mid-sweep", {"done": rng.randint(1, N_POINTS - 2)}) for _ in range(8)]
    )
    landed = Counter()
    for k, (phase, moment) in enumerate(plan):
        sig = signal.SIGKILL if k % 2 == 0 else signal.SIGINT
        where = _kill_sweep_and_resume(tmp_path, sweep_reference, sig, **moment)
        assert where == phase, (phase, moment)
        landed[where, sig.name] += 1
    assert landed == {
        (phase, name): n
        for phase, n in (("start-up", 1), ("pending", 1), ("mid-sweep", 4))
        for name in ("SIGKILL", "SIGINT")
    }


def test_sweep_is_deterministic_across_worker_counts(tmp_path):
    case = pnp.load_case(CASES / "ghk_iv.toml")
    params = {"boundary.left.potential": "-0.1:0.06:6"}
    one = pnp.sweep(case, params, out=tmp_path / "one", max_workers=1)
    two = pnp.sweep(case, params, out=tmp_path / "two", max_workers=2)
    for column in ("membrane_potential", "current", "flux_K", "flux_Na"):
        assert np.array_equal(one.table[column], two.table[column]), column


def test_same_case_twice_is_bit_identical():
    case = pnp.load_case(
        CASES / "donnan_approach.toml", overrides={"run.t_end": 1.0, "run.outputs": 5}
    )
    a, b = pnp.run(case), pnp.run(case)
    assert np.array_equal(a.potential, b.potential)
    assert np.array_equal(a.concentration, b.concentration)
    assert a.stats["steps"] == b.stats["steps"]


# --- Ctrl-C in a sweep ------------------------------------------------------------------

#: Four transient points (about 1300 steps, 1.5 to 4 s each in a worker), so that
#: Ctrl-C after the first finds two running and one queued.
CTRL_C_SWEEP = [
    "sweep",
    str(CASES / "donnan_approach.toml"),
    "--param",
    "run.t_end=1e5,1.1e5,1.2e5,1.3e5",
    "--set",
    "run.outputs=20",
    "--set",
    "run.rtol=1e-7",
    "-j",
    "2",
    "--quiet",
]
#: From Ctrl-C to the exit of a 2-worker sweep [s]. Measured on a 2-core machine
#: at load average 2.5-4: 0.34-0.60 s for this sweep (6 runs), 0.45-0.97 s with
#: 300 outputs per point (8 runs); the workers report 0.01-0.03 s after the
#: signal, the rest is closing the pool and the interpreter. Before: 7.5-8.6 s.
CTRL_C_EXIT = 2.0


def _statuses(out: Path) -> list[tuple[str, str]]:
    with open(out / "summary.csv", newline="") as f:
        return [(r["status"], r["message"]) for r in csv.DictReader(f)]


def test_ctrl_c_stops_a_sweep_at_once_and_resume_finishes_it(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) after the first
    point: no point starts any more, the two running ones are saved as interrupted,
    both summaries give every point's true status, exit 130 within CTRL_C_EXIT.
    Before, the workers went on through 4-5 more points for 7-9 s and summary.csv
    listed the points completed meanwhile as pending."""
    out = tmp_path / "swept"
    proc = _cli(*CTRL_C_SWEEP, "-o", str(out), start_new_session=True)
    _wait_for(proc, lambda: _done_of(out) >= 1, "a completed point")
    done_before = _read_stopped(proc, lambda: _done_of(out), group=True)
    os.killpg(proc.pid, signal.SIGINT)
    start = time.monotonic()
    _cont(proc, group=True)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - start
    assert proc.returncode == 130, err
    assert took < CTRL_C_EXIT, f"exit {took:.2f} s after Ctrl-C"

    rows = _statuses(out)
    files = _point_files(out)
    file_status = {name: status for name, (status, *_) in files.items()}
    for index, (status, message) in enumerate(rows):
        name = f"point_{index:04d}.h5"
        if status == "completed":
            assert file_status[name] == "completed"
        elif message == "interrupted":  # ended at its next step, saved so
            assert status == "failed" and file_status[name] == "failed"
            with h5py.File(out / name, "r") as f:
                assert f.attrs["message"] == "interrupted"
        elif status == "failed":  # a step longer than STOP_GRACE: its worker was stopped
            assert message.startswith("interrupted (its worker was stopped")
            assert file_status.get(name, "running") == "running"
        else:  # never started: no file
            assert (status, message) == ("pending", "") and name not in files
    # the two points running at the signal, nothing after them
    started_after = len(files) - done_before
    assert 1 <= started_after <= 2, rows
    assert any(m.startswith("interrupted") for _, m in rows) and ("pending", "") in rows
    # summary.h5 says the same
    assert [str(s) for s in pnp.load_sweep(out).table["status"]] == [s for s, _ in rows]
    assert err.strip().startswith("pnp: interrupted: ") and "--resume" in err

    kept = {name: stamp for name, stamp in files.items() if stamp[0] == "completed"}
    resumed = _cli(*CTRL_C_SWEEP, "-o", str(out), "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert [s for s, _ in _statuses(out)] == ["completed"] * 4
    now = _point_files(out)
    assert all(status == "completed" for status, *_ in now.values())
    assert {name: now[name] for name in kept} == kept  # completed points untouched


def _done_of(out: Path) -> int:
    summary = out / "summary.csv"
    if not summary.exists():
        return 0
    return sum(status == "completed" for status, _ in _statuses(out))
