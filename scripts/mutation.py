"""Mutation testing of the modules that compute physics (not run by CI).

A mutant is a copy of a module with one small change (``+`` for ``-``, ``<``
for ``<=``, a constant off by one, a ``not`` added...). A mutant is *killed*
when a targeted test selection fails on it, and *survives* otherwise; a
survivor is either a missing test or an equivalent mutant (same behaviour).
The mutation score is killed / (killed + survived), equivalents excluded.

Engine: cosmic-ray (``pip install cosmic-ray``), driven through its library so
that every step is cheap and resumable on a shared 2-core machine:

* Each module is mutated in its own scratch copy of ``pnp/``, ``tests/`` and
  ``cases/`` under ``benchmarks/out/mutation/<module>/`` (git-ignored), never
  in the working tree, with a cosmic-ray session ``session.sqlite`` beside it.
  The session remembers which mutants ran: re-running the script resumes. The
  session is rebuilt when the module's source changes (its hash is stored).
* Mutants run one at a time per module (``--workers N`` runs up to N modules
  at once, each in its own copy); each one runs a fast test selection for its
  module (``TESTS`` below) with ``-x -p no:cacheprovider`` and a timeout of
  ``max(20 s, 3 x`` the unmutated run's time``)`` and 4 GB of address space;
  a timeout counts as killed and is reported in its own column.
* Selective mutation: cosmic-ray's full operator set gives ~10 000 mutants
  for these five modules, most of them redundant (``a + b`` → ``a | b``, ``a
  << b``... raise TypeError on floats and die on the first line that runs
  them). The script keeps one mutant per arithmetic operator (its inverse:
  + ↔ -, * ↔ /, ** → *, // → /, % → //), comparison boundary and negation
  shifts (``<`` → ``<=``, ``>=``; ``==`` → ``!=``...), sign removal (``-x`` →
  ``x``), one constant shift (+1) per literal, and every boolean, ``not``,
  loop and exception operator. Removing ``@njit`` is excluded (it changes
  speed, not results). The excluded ones are recorded as skipped.
* Mutants on lines the selection never executes (measured once with
  ``coverage``, not for the numba kernel whose lines coverage cannot see) are
  recorded as survivors without running the tests: they would survive.
* Survivors argued equivalent are listed, each with its argument, in
  ``scripts/mutation_equivalent.toml`` (matched by module, operator, original
  and mutated line); they leave the score's denominator.

``--report`` (implied after every run) prints the table (module, mutants,
killed, survived, timeout, equivalent, pending, score) and writes it with the
list of unexplained survivors to ``scripts/mutation_report.md``.

Cost per mutant, measured on the shared 2-core machine (load 3-6) with the
selections below; killed mutants stop at the first failure, survivors run
the whole selection:

=============  =======  ===============  ==========================
module         mutants  unmutated run    per mutant (killed / kept)
=============  =======  ===============  ==========================
mesh           119      33 s (cold)      3-9 s / 5-19 s
observables    129      11.5 s           4-8 s / 6-11 s
model          316      7.6 s            6-11 s / 6-20 s
solver         755      22.6 s           12-21 s / 18-20 s
kernel (JIT)   562      38 s             16-31 s / 37 s
kernel nojit   562      37 s             11-13 s / ~37 s
=============  =======  ===============  ==========================

Every kernel mutant invalidates numba's on-disk cache of kernel.py, so with
JIT each one recompiles the kernel; ``--kernel-nojit`` (``NUMBA_DISABLE_JIT=1``)
runs tests/test_kernel.py in pure Python instead, which takes about as long
as a warm JIT run (37 s vs 38 s) and makes killed mutants ~2x cheaper. The
unmutated kernel passes its tests in both modes.

Examples::

    python scripts/mutation.py --modules mesh observables --max-minutes 20
    python scripts/mutation.py --report
    python scripts/mutation.py --modules kernel --list-survivors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out" / "mutation"
EQUIVALENT_FILE = REPO / "scripts" / "mutation_equivalent.toml"
REPORT_FILE = REPO / "scripts" / "mutation_report.md"

# Each module to mutate and where it lives inside pnp/, in priority order
# (cheapest and most central first).
PATHS = {
    "mesh": "discretisation/mesh.py",
    "observables": "results/observables.py",
    "model": "discretisation/model.py",
    "newton": "solvers/newton.py",
    "steady": "solvers/steady.py",
    "bdf": "solvers/bdf.py",
    "compartments": "solvers/compartments.py",
    "kernel": "discretisation/kernel.py",
    "banded": "solvers/banded.py",
    "reuse": "solvers/reuse.py",
    "history": "solvers/history.py",
    "iteration": "solvers/iteration.py",
    "pumps": "discretisation/pumps.py",
    "geometry": "discretisation/geometry.py",
    "schur": "solvers/schur.py",
    "gated": "solvers/gated.py",
    "bordered": "solvers/bordered.py",
    "moving": "discretisation/moving.py",
    "swollen": "solvers/swollen.py",
}

MODULES = tuple(PATHS)

# Modules whose lines numba compiles (invisible to coverage): those whose
# source holds compiled functions.
COMPILED = tuple(m for m in MODULES if "@njit" in (REPO / "pnp" / PATHS[m]).read_text())

# Fast targeted selections: property tests of the module first, then the
# existing engine tests that exercise it (~3-10 s unmutated).
TESTS = {
    # test_mesh_closed_forms.py: mesh_from_faces, wall_screening_length and
    # assemble_mesh against hand-written closed forms (~1 s)
    "mesh": [
        "tests/test_mesh_closed_forms.py",
        "tests/test_mesh_properties.py",
        "tests/test_engine.py",
    ],
    "observables": [
        "tests/test_observables_exact.py",
        "tests/test_engine.py",
        "tests/test_neuron.py",
    ],
    "model": [
        "tests/test_model_contracts.py",
        "tests/test_engine.py",
        "tests/test_neuron.py",
        "tests/test_activity.py",
    ],
    # test_transient.py (35 s) is left out: too slow per mutant; the contract
    # file runs a short transient, test_neuron the saturating pump Jacobian
    # test_newton_contracts.py: the pump's band Jacobian against differences,
    # solve's messages, newton's control logic (scripted), contents, Gauss's law
    "newton": [
        "tests/test_newton_contracts.py",
        "tests/test_iteration.py",
        "tests/test_compiled_loop.py",
        "tests/test_solver_contracts.py",
        "tests/test_engine.py",
        "tests/test_neuron.py",
    ],
    # test_steady_outcomes.py: the outcomes, counters and step control of
    # solve_steady and the compartment projection (scripted Newton, ~4 s)
    "steady": [
        "tests/test_steady_outcomes.py",
        "tests/test_solver_contracts.py",
        "tests/test_engine.py",
        "tests/test_neuron.py",
    ],
    # test_variable_order.py: orders 1-5, order selection, restarts (~2 s);
    # test_channels.py: the gates' history in the coupled stepper (~5 s)
    "bdf": [
        "tests/test_variable_order.py",
        "tests/test_channels.py",
        "tests/test_solver_contracts.py",
        "tests/test_engine.py",
        "tests/test_neuron.py",
    ],
    "compartments": [
        "tests/test_steady_outcomes.py",
        "tests/test_iteration.py",
        "tests/test_solver_contracts.py",
        "tests/test_engine.py",
        "tests/test_neuron.py",
    ],
    # observables_exact checks face_fluxes at reservoir faces (test_kernel does not)
    "kernel": ["tests/test_kernel.py", "tests/test_observables_exact.py"],
    # the compiled banded LU: against LAPACK and dense algebra, then in use
    "banded": ["tests/test_banded.py", "tests/test_newton_contracts.py", "tests/test_engine.py"],
    # the transient's modified Newton: its rules, then the steps it must solve as before
    "reuse": [
        "tests/test_reuse.py",
        "tests/test_compiled_loop.py",
        "tests/test_solver_contracts.py",
        "tests/test_engine.py",
    ],
    # the stepper's compiled helpers: bit for bit against numpy, then in use
    # test_bounds_checked: test_history again with numba's bounds checks on
    "history": [
        "tests/test_history.py",
        "tests/test_bounds_checked.py",
        "tests/test_iteration.py",
        "tests/test_compiled_loop.py",
        "tests/test_variable_order.py",
    ],
    # the compiled Newton update and loop: against the Python path, then in use
    "iteration": [
        "tests/test_iteration.py",
        "tests/test_compiled_loop.py",
        "tests/test_gated_loop.py",
        "tests/test_reuse.py",
        "tests/test_engine.py",
    ],
    # the pumps' rate, derivatives (against differences), sources and in-band
    # Jacobian; then in both Newton loops
    "pumps": [
        "tests/test_model_contracts.py",
        "tests/test_compiled_loop.py",
        "tests/test_kernel.py",
        "tests/test_total_current.py",
    ],
    # the arrays that depend on where the faces are: against their numpy and
    # Python forms, then the models and moving meshes built from them
    "geometry": [
        "tests/test_model_contracts.py",
        "tests/test_bounds_checked.py",
        "tests/test_iteration.py",
        "tests/test_engine.py",
        "tests/test_swelling.py",
    ],
    # the border's algebra: against dense numpy, then both paths with gates
    # and a swelling cell's volume row
    "schur": [
        "tests/test_schur.py",
        "tests/test_gated_loop.py",
        "tests/test_swelling.py",
    ],
    # the gates' assembly: against Bordered's Python form, then both paths
    "gated": [
        "tests/test_gated_loop.py",
        "tests/test_channel_tables.py",
        "tests/test_channels.py",
    ],
    "bordered": [
        "tests/test_gated_loop.py",
        "tests/test_schur.py",
        "tests/test_swelling.py",
        "tests/test_channels.py",
    ],
    # the moving mesh and the volume balance: against numpy's geometry and
    # formula, then the swelling cells built and run on them
    "moving": [
        "tests/test_swollen_loop.py",
        "tests/test_swelling.py",
        "tests/test_model_contracts.py",
        "tests/test_schur.py",
    ],
    # the swelling cell's assembly: both paths, the volume row and columns,
    # the physics of the swelling cases
    "swollen": [
        "tests/test_swollen_loop.py",
        "tests/test_swelling.py",
        "tests/test_schur.py",
    ],
}

# Binary operator: the one replacement kept per site (its inverse).
KEEP_BINARY = {
    "Add": "Sub",
    "Sub": "Add",
    "Mul": "Div",
    "Div": "Mul",
    "Pow": "Mul",
    "FloorDiv": "Div",
    "Mod": "FloorDiv",
    "BitAnd": "BitOr",
    "BitOr": "BitAnd",
    "BitXor": "BitOr",
    "LShift": "RShift",
    "RShift": "LShift",
}
# Comparison: boundary shift and negation.
KEEP_COMPARE = {
    "Lt": {"LtE", "GtE"},
    "LtE": {"Lt", "Gt"},
    "Gt": {"GtE", "LtE"},
    "GtE": {"Gt", "Lt"},
    "Eq": {"NotEq"},
    "NotEq": {"Eq"},
    "Is": {"IsNot"},
    "IsNot": {"Is"},
}
KEEP_UNARY = {"USub": {"UAdd"}, "UAdd": {"USub"}, "Invert": {"USub"}, "Delete": {"USub"}}


def _excluded(op: str) -> str | None:
    """Why operator ``op`` is left out of the selective set (None: kept)."""
    name = op.removeprefix("core/")
    parts = name.split("_")
    if parts[0] == "ReplaceBinaryOperator":
        return None if KEEP_BINARY.get(parts[1]) == parts[2] else "selective: binary"
    if parts[0] == "ReplaceComparisonOperator":
        return None if parts[2] in KEEP_COMPARE.get(parts[1], ()) else "selective: comparison"
    if parts[0] == "ReplaceUnaryOperator":
        return None if parts[2] in KEEP_UNARY.get(parts[1], ()) else "selective: unary"
    return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sync(work: Path) -> None:
    """(Re)copy the package, tests and cases into the scratch copy."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pnp", "tests", "cases"):
        dst = work / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(REPO / name, dst, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")


def _test_command(module: str, k: str | None) -> str:
    tests = [t for t in TESTS[module] if (REPO / t).exists()]
    # address space capped (4 GB): a mutant that explodes the mesh fails fast
    # with MemoryError instead of swapping the shared machine
    cmd = (
        f"prlimit --as={4 << 30} {sys.executable} -m pytest -x -q -p no:cacheprovider "
        + " ".join(tests)
    )
    return cmd + (f" -k '{k}'" if k else "")


def _env(module: str, args) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(OUT / module)
    env["MPLBACKEND"] = "agg"
    if module == "kernel" and args.kernel_nojit:
        env["NUMBA_DISABLE_JIT"] = "1"
    return env


def _covered_lines(module: str, work: Path, env: dict[str, str]) -> set[int] | None:
    """Lines of pnp/<module>.py that the selection executes (None if unknown)."""
    if module in COMPILED:
        return None  # numba-compiled lines are invisible to coverage
    data = work / ".coverage"
    cmd = [
        sys.executable,
        "-m",
        "coverage",
        "run",
        f"--data-file={data}",
        f"--include={work / 'pnp' / PATHS[module]}",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *[t for t in TESTS[module] if (REPO / t).exists()],
    ]
    subprocess.run(cmd, cwd=work, env=env, capture_output=True, check=False)
    out = subprocess.run(
        [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", "-"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        files = json.loads(out.stdout)["files"]
    except (json.JSONDecodeError, KeyError):
        return None
    for name, info in files.items():
        if name.endswith(PATHS[module]):
            # numba-compiled functions run unseen by coverage: count them as run
            executed = set(info["executed_lines"]) | _compiled_lines(work / "pnp" / PATHS[module])
            first = _statement_first_lines(work / "pnp" / PATHS[module])
            # coverage reports a multi-line statement on its first line only
            return {ln for ln, head in first.items() if head in executed} | executed
    return None


def _compiled_lines(path: Path) -> set[int]:
    """Lines of the functions decorated with numba's ``njit`` in ``path``."""
    import ast

    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if getattr(target, "id", getattr(target, "attr", "")) == "njit":
                    lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def _statement_first_lines(path: Path) -> dict[int, int]:
    """Line → first line of the innermost statement that spans it."""
    import ast

    span: dict[int, tuple[int, int]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.stmt):
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        size = (node.end_lineno or node.lineno) - first
        for ln in range(first, (node.end_lineno or node.lineno) + 1):
            if ln not in span or size < span[ln][1]:
                span[ln] = (node.lineno if ln >= node.lineno else ln, size)
    return {ln: head for ln, (head, _) in span.items()}


def prepare(module: str, args) -> Path:
    """Scratch copy + session for ``module``; a new session if its source changed."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    work = OUT / module
    work.mkdir(parents=True, exist_ok=True)
    _sync(work)
    meta_path = work / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    sha = _sha(REPO / "pnp" / PATHS[module])
    session = work / "session.sqlite"
    env = _env(module, args)
    if meta.get("sha") == sha and session.exists() and not args.reset:
        return work
    session.unlink(missing_ok=True)
    config = work / "cosmic-ray.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "pnp/{PATHS[module]}"\n'
        "timeout = 60.0\nexcluded-modules = []\n"
        f'test-command = "{_test_command(module, None)}"\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    subprocess.run(
        [sys.executable, "-m", "cosmic_ray.cli", "init", str(config), str(session)],
        cwd=work,
        check=True,
        capture_output=True,
    )
    # coverage first: it also fills the scratch copy's numba cache, so that
    # the timed baseline (which sets the per-mutant timeout) is a warm run
    covered = _covered_lines(module, work, env)
    t0 = time.perf_counter()
    base = subprocess.run(
        _test_command(module, None),
        shell=True,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    baseline = time.perf_counter() - t0
    if base.returncode != 0:
        session.unlink()
        raise SystemExit(f"{module}: the unmutated test selection fails:\n{base.stdout[-3000:]}")
    lines = (REPO / "pnp" / PATHS[module]).read_text().splitlines()
    with use_db(str(session), WorkDB.Mode.open) as db:
        seen_numbers = set()
        for item in list(db.pending_work_items):
            mut = item.mutations[0]
            op = mut.operator_name
            why = _excluded(op)
            if op == "core/RemoveDecorator" and "njit" in lines[mut.start_pos[0] - 1]:
                why = "@njit removal changes speed, not results"
            if op == "core/NumberReplacer":
                # the first occurrence at a position is +1, the second -1: keep +1
                why = "selective: one shift per literal" if mut.start_pos in seen_numbers else None
                seen_numbers.add(mut.start_pos)
            if why:
                db.set_result(
                    item.job_id,
                    WorkResult(output=f"excluded: {why}", worker_outcome=WorkerOutcome.SKIPPED),
                )
            elif covered is not None and mut.start_pos[0] not in covered:
                db.set_result(
                    item.job_id,
                    WorkResult(
                        output="not run: line not executed by the selection",
                        test_outcome="survived",
                        worker_outcome=WorkerOutcome.NORMAL,
                        diff=_diff(work, mut),
                    ),
                )
    meta = {"sha": sha, "baseline_s": baseline, "tests": TESTS[module]}
    meta_path.write_text(json.dumps(meta, indent=1))
    return work


def retest(module: str, args) -> None:
    """Make survivors and/or timeouts of ``module`` pending again.

    Survivors (``--retest-survivors``, after tests were added) on lines the
    new selection executes run again; the others stay recorded as not
    executed. Timeouts (``--retest-timeouts``, e.g. with a longer
    ``--timeout`` when the machine was busy) run again.
    """
    import sqlite3

    from cosmic_ray.work_db import WorkDB, use_db

    work = prepare(module, args)
    covered = _covered_lines(module, work, _env(module, args))
    with use_db(str(work / "session.sqlite"), WorkDB.Mode.open) as db:
        again = [
            item.job_id
            for item, res in db.completed_work_items
            if (
                args.retest_survivors
                and res.test_outcome is not None
                and res.test_outcome.value == "survived"
                and (covered is None or item.mutations[0].start_pos[0] in covered)
            )
            or (args.retest_timeouts and res.output == "timeout")
        ]
    con = sqlite3.connect(work / "session.sqlite")
    with con:
        con.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in again])
    con.close()
    print(f"{module}: {len(again)} mutants pending again")


def _diff(work: Path, mut) -> str:
    """Unified diff of one mutation (the source stays untouched)."""
    import difflib

    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    path = work / mut.module_path
    code = path.read_text()
    mutated = mutate_code(code, get_operator(mut.operator_name)(), mut.occurrence)
    if mutated is None:
        return ""
    return "".join(difflib.unified_diff(code.splitlines(True), mutated.splitlines(True), n=0))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(module: str, args) -> None:
    """Run the pending mutants of ``module`` (resumable)."""
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db

    work = prepare(module, args)
    # SIGTERM (and Ctrl-C) stop between mutants: the mutated file is restored
    # by cosmic-ray's context manager, the interrupted mutant stays pending
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    meta = json.loads((work / "meta.json").read_text())
    timeout = args.timeout or max(20.0, 3.0 * meta["baseline_s"])
    os.environ.update(_env(module, args))
    os.chdir(work)
    deadline = time.monotonic() + 60.0 * args.max_minutes if args.max_minutes else None
    cmd = _test_command(module, None)
    # the unmutated selection must pass as it is now (tests may have changed
    # since the session began): else every mutant would count as killed
    check = subprocess.run(cmd, shell=True, cwd=work, capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"{module}: the unmutated test selection fails:\n{check.stdout[-3000:]}")
    done = 0
    with use_db(str(work / "session.sqlite"), WorkDB.Mode.open) as db:
        pending = list(db.pending_work_items)
        print(
            f"{module}: {len(pending)} pending mutants, timeout {timeout:.0f} s, "
            f"baseline {meta['baseline_s']:.1f} s",
            flush=True,
        )
        for item in pending:
            if deadline is not None and time.monotonic() > deadline:
                break
            if args.max_mutants and done >= args.max_mutants:
                break
            t0 = time.perf_counter()
            result = mutate_and_test(item.mutations, cmd, timeout)
            db.set_result(item.job_id, result)
            done += 1
            mut = item.mutations[0]
            print(
                f"  {module} {mut.operator_name.removeprefix('core/')} #{mut.occurrence} "
                f"line {mut.start_pos[0]}: {_outcome(result)} "
                f"({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )


def _outcome(result) -> str:
    if result.test_outcome is None:
        return result.worker_outcome.value
    if result.output == "timeout":
        return "timeout"
    return result.test_outcome.value


def _equivalents() -> list[dict]:
    if not EQUIVALENT_FILE.exists():
        return []
    return tomllib.loads(EQUIVALENT_FILE.read_text()).get("equivalent", [])


def _changed_lines(diff: str) -> tuple[str, str]:
    old = " ".join(
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("-") and not ln.startswith("---")
    )
    new = " ".join(
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("+") and not ln.startswith("+++")
    )
    return old, new


def summarize(module: str) -> dict | None:
    """Counts and survivors of ``module``'s session (None: no session yet)."""
    from cosmic_ray.work_db import WorkDB, use_db

    session = OUT / module / "session.sqlite"
    if not session.exists():
        return None
    eq = [e for e in _equivalents() if e["module"] == module]
    counts = dict(mutants=0, killed=0, survived=0, timeout=0, equivalent=0, pending=0, skipped=0)
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        results = dict(db.results)
        for item in db.work_items:
            res = results.get(item.job_id)
            mut = item.mutations[0]
            if res is not None and res.worker_outcome.value == "skipped":
                counts["skipped"] += 1
                continue
            counts["mutants"] += 1
            if res is None:
                counts["pending"] += 1
            elif res.worker_outcome.value == "no-test":
                counts["skipped"] += 1
                counts["mutants"] -= 1
            elif res.test_outcome.value == "survived":
                old, new = _changed_lines(res.diff or "")
                hit = [
                    e
                    for e in eq
                    if e["operator"] == mut.operator_name
                    and e["line"] == old
                    and e["mutated"] == new
                ]
                if hit:
                    counts["equivalent"] += 1
                else:
                    counts["survived"] += 1
                    survivors.append(
                        (
                            mut.start_pos[0],
                            mut.operator_name,
                            old,
                            new,
                            (res.output or "").startswith("not run"),
                        )
                    )
            elif (res.output or "") == "timeout":
                counts["timeout"] += 1
            else:
                counts["killed"] += 1
    decided = counts["killed"] + counts["timeout"] + counts["survived"]
    counts["score"] = (counts["killed"] + counts["timeout"]) / decided if decided else float("nan")
    counts["survivors"] = sorted(survivors)
    return counts


def report(modules, list_survivors: bool, write: bool) -> None:
    head = ("module", "mutants", "killed", "survived", "timeout", "equivalent", "pending", "score")
    rows = []
    details = []
    earlier_rows, earlier_details = _earlier_report()
    for m in modules:
        c = summarize(m)
        if c is None and m in earlier_rows:
            # no session on this machine (sessions are git-ignored): keep the
            # committed report's row, marked as from an earlier run
            rows.append(earlier_rows[m])
            details += earlier_details.get(m, [])
            continue
        if c is None:
            rows.append((m, "-", "-", "-", "-", "-", "-", "not run"))
            continue
        rows.append(
            (
                m,
                c["mutants"],
                c["killed"],
                c["survived"],
                c["timeout"],
                c["equivalent"],
                c["pending"],
                f"{100 * c['score']:.1f} %",
            )
        )
        for line, op, old, new, not_run in c["survivors"]:
            tag = " (line not executed by the selection)" if not_run else ""
            details.append(f"- `{m}.py:{line}` {op.removeprefix('core/')}: `{old}` → `{new}`{tag}")
    width = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    fmt = "  ".join(f"{{:>{w}}}" for w in width)
    print(fmt.format(*head))
    for r in rows:
        print(fmt.format(*map(str, r)))
    if list_survivors:
        print("\n".join(details))
    if write:
        md = [
            "# Mutation testing report",
            "",
            "Written by `python scripts/mutation.py` (see its docstring for the method).",
            "score = (killed + timeout) / (killed + timeout + survived); mutants argued",
            "equivalent (`scripts/mutation_equivalent.toml`) leave the denominator; pending",
            "mutants have not run yet.",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        md += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
        md += ["", "## Survivors not yet killed or argued equivalent", ""]
        md += details or ["(none)"]
        REPORT_FILE.write_text("\n".join(md) + "\n")


def _earlier_report() -> tuple[dict[str, tuple], dict[str, list[str]]]:
    """Rows and survivor lines of the committed report, by module."""
    rows: dict[str, tuple] = {}
    details: dict[str, list[str]] = {}
    if not REPORT_FILE.exists():
        return rows, details
    for line in REPORT_FILE.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 8 and cells[0] in PATHS:
            if cells[-1] != "not run":
                score = cells[-1].removesuffix(" (earlier run)")
                rows[cells[0]] = (*cells[:-1], f"{score} (earlier run)")
        elif line.startswith("- `") and ".py:" in line:
            module = line[3:].split(".py:")[0]
            details.setdefault(module, []).append(line)
    return rows, details


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Method and costs: see the module docstring.",
    )
    p.add_argument(
        "--modules",
        nargs="+",
        choices=MODULES,
        default=list(MODULES),
        help="modules to mutate, in this order (default: all, priority order)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="modules mutated at once, each in its own copy (default 1: the machine is shared)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per mutant (default max(20, 3 x unmutated run))",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop each module after this many minutes (resume later)",
    )
    p.add_argument(
        "--max-mutants",
        type=int,
        default=None,
        help="stop each module after this many mutants (resume later)",
    )
    p.add_argument(
        "--kernel-nojit",
        action="store_true",
        help="run kernel mutants with NUMBA_DISABLE_JIT=1 (no recompilation per "
        "mutant; the kernel tests then run in pure Python)",
    )
    p.add_argument("--reset", action="store_true", help="discard the sessions and start over")
    p.add_argument(
        "--retest-survivors",
        action="store_true",
        help="make survivors pending again (after adding tests), then run",
    )
    p.add_argument(
        "--retest-timeouts",
        action="store_true",
        help="make timed-out mutants pending again (use with a longer --timeout)",
    )
    p.add_argument("--report", action="store_true", help="only print (and write) the table")
    p.add_argument(
        "--list-survivors", action="store_true", help="only print every survivor (runs nothing)"
    )
    args = p.parse_args(argv)
    if not (args.report or args.list_survivors):
        if args.workers > 1 and len(args.modules) > 1:
            passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
            procs: list[subprocess.Popen] = []
            for m in args.modules:
                while len([q for q in procs if q.poll() is None]) >= args.workers:
                    time.sleep(2.0)
                rest = _strip_modules(passthrough)
                procs.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--modules", m, "--workers", "1", *rest]
                    )
                )
            for q in procs:
                q.wait()
        else:
            try:
                for m in args.modules:
                    if args.retest_survivors or args.retest_timeouts:
                        retest(m, args)
                    run(m, args)
                    os.chdir(REPO)
            except KeyboardInterrupt:
                os.chdir(REPO)
                print("interrupted: run the same command again to resume", flush=True)
    report(MODULES, args.list_survivors, write=True)
    return 0


def _strip_modules(argv: list[str]) -> list[str]:
    """``argv`` without ``--modules ...`` and ``--workers N``."""
    out, skip = [], False
    for i, a in enumerate(argv):
        if a == "--modules":
            skip = True
            continue
        if skip and not a.startswith("--"):
            continue
        skip = False
        if a == "--workers" or (i > 0 and argv[i - 1] == "--workers"):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
