"""Every shipped case: cells, steps, Newton iterations, warm time, peak memory, error.

    python benchmarks/cases.py [--repeat 5] [--budget 1.0] [--json benchmarks/out/cases.json]

Times are the minimum over repeated warm runs (after one warm-up run, so JIT
compile or cache load is excluded; ``benchmarks/newton_scaling.py`` and
``benchmarks/peers.py`` report the compile time): the machine is shared, and
other work only ever adds time, so the minimum is the figure least disturbed
by it. Each figure takes at least ``--repeat`` runs and more for fast ones
(up to ``--budget`` seconds of runs, at most ``MAX_REPEAT``). Wall and CPU
time (``time.process_time``, all threads of this process) are both recorded;
the median wall time is kept in the JSON beside the minimum.

A steady case is solved on a solution-adaptive mesh by default
(``pnp.simulation.adaptive``): a mesh M and M with every cell halved are
solved, their difference is the error estimate, M is refined until the
estimate is within ``[mesh] tolerance``, and the halved mesh's state is
polished by one more Newton pass. Beside the adaptive ``pnp.run(case)`` each
steady case is timed on a fixed mesh of the same final size, two ways:

- ``pnp.run(case, mesh=result.mesh(), adapt_mesh=False)``: the same mesh,
  not adapted, with its error estimate (a solve on the mesh, one on its
  copy with cells merged in pairs, and the polish);
- ``solve_steady(build_model(case, result.mesh()))`` with the case's
  ``[run]`` tolerances: one solve on the mesh and nothing else (no estimate,
  no observables, no Result), the floor of what a steady answer of that
  size costs. The model build is inside the timed region.

A transient runs on the adapted meshes of its initial and protocol steady
states merged (``pnp.simulation.adaptive.transient_mesh``); the time that
mesh takes is reported beside the run's (it is part of the run's time).

Peak memory is the tracemalloc peak of one warm run (numpy arrays included).
The error is |V_m - closed form| where the case's ``[expect]`` table names one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

import pnp
from pnp.discretisation.mesh import build_mesh
from pnp.discretisation.model import build_model
from pnp.presentation.report import expectations
from pnp.simulation.adaptive import error_tolerances, transient_mesh
from pnp.solvers.steady import solve_steady

ROOT = Path(__file__).resolve().parent.parent
MAX_REPEAT = 201
GOAL_STEADY_S = 0.010  # issue 12: every steady shipped case under 10 ms warm


def timed(fn, repeat: int, budget: float) -> dict:
    """Warm-up call, then at least ``repeat`` timed calls (more for fast ones)."""
    t0 = time.perf_counter()
    value = fn()
    t_warm = time.perf_counter() - t0
    n = repeat if t_warm <= 0 else max(repeat, min(MAX_REPEAT, int(budget / t_warm)))
    walls, cpus = [], []
    for _ in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        value = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "value": value,
        "runs": n,
        "wall_min_s": min(walls),
        "wall_median_s": float(statistics.median(walls)),
        "cpu_min_s": min(cpus),
    }


def _peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _difference_over_tolerance(case, mesh, a, b) -> float:
    """Largest |a - b| over the observables, in units of each one's ``[mesh] tolerance``.

    The allowed error of each observable is the adaptive solver's own
    (``error_tolerances``: V for potentials, relative to a scale of the case
    otherwise), so quantities that are zero up to round-off count as such.
    """
    last_a = {k: float(np.ravel(v)[-1]) for k, v in a.observables().items()}
    last_b = {k: float(np.ravel(v)[-1]) for k, v in b.observables().items()}
    allowed = error_tolerances(build_model(case, mesh), last_a, case.mesh.tolerance)
    return max(
        (abs(last_a[k] - last_b[k]) / allowed[k] for k in last_a if allowed.get(k, 0.0) > 0.0),
        default=0.0,
    )


def bench(path: Path, repeat: int, budget: float) -> dict:
    case = pnp.load_case(path)
    run = timed(lambda: pnp.run(case), repeat, budget)
    res = run["value"]
    rows = expectations(case, res) if case.expect else []
    vm = [abs(r["difference"]) for r in rows if r["unit"] == "V"]
    out = {
        "case": path.stem,
        "mode": case.run.mode,
        "cells": int(res.x.size),
        "steps": int(res.stats["steps"]),
        "newton_iterations": int(res.stats["newton_iterations"]),
        "runs": run["runs"],
        "wall_time_s": run["wall_min_s"],
        "wall_median_s": run["wall_median_s"],
        "cpu_time_s": run["cpu_min_s"],
        "peak_memory_mb": _peak_mb(lambda: pnp.run(case)),
        "vm_error_v": vm[0] if vm else None,
        "status": res.status,
    }
    if case.run.mode == "steady":
        mesh = res.mesh()
        fixed = timed(lambda: pnp.run(case, mesh=mesh, adapt_mesh=False), repeat, budget)
        bare = timed(
            lambda: solve_steady(
                build_model(case, mesh),
                rtol=case.run.rtol,
                atol=case.run.atol,
                max_steps=case.run.max_steps,
            ),
            repeat,
            budget,
        )
        fres, bout = fixed["value"], bare["value"]
        vm_key = "membrane_potential"
        out.update(
            {
                "start_cells": int(build_mesh(case).n_cells),
                "mesh_cycles": int(res.stats["mesh_cycles"]),
                "vm_estimate_v": (
                    float(res.error_estimate[vm_key][-1]) if vm_key in res.error_estimate else None
                ),
                "fixed_wall_time_s": fixed["wall_min_s"],
                "fixed_cpu_time_s": fixed["cpu_min_s"],
                "fixed_newton_iterations": int(fres.stats["newton_iterations"]),
                "fixed_status": fres.status,
                "bare_wall_time_s": bare["wall_min_s"],
                "bare_cpu_time_s": bare["cpu_min_s"],
                "bare_newton_iterations": int(bout.stats.newton_iterations),
                "bare_success": bool(bout.success),
                # the same mesh, reached adaptively or given: the same answer
                "fixed_vs_adaptive_diff_over_tolerance": _difference_over_tolerance(
                    case, mesh, res, fres
                ),
                "under_10ms": run["wall_min_s"] < GOAL_STEADY_S,
            }
        )
    else:
        tm = timed(lambda: transient_mesh(case), repeat, budget)
        out.update(
            {
                "mesh_wall_time_s": tm["wall_min_s"],
                "mesh_cpu_time_s": tm["cpu_min_s"],
            }
        )
    return out


def ms(t) -> str:
    return "-" if t is None else f"{t * 1e3:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per figure, at least")
    ap.add_argument(
        "--budget", type=float, default=1.0, help="seconds of runs per figure for fast ones"
    )
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "cases.json"))
    ap.add_argument("cases", nargs="*", help="case names (default: every file in cases/)")
    args = ap.parse_args()
    paths = sorted((ROOT / "cases").glob("*.toml"))
    if args.cases:
        paths = [p for p in paths if p.stem in args.cases]
    rows = []
    for p in paths:
        rows.append(bench(p, args.repeat, args.budget))
        r = rows[-1]
        err = "-" if r["vm_error_v"] is None else f"{r['vm_error_v'] * 1e3:.1e} mV"
        if r["mode"] == "steady":
            print(
                f"{r['case']:<18} steady  cells {r['start_cells']:>4} -> {r['cells']:>5} "
                f"cycles {r['mesh_cycles']} Newton {r['newton_iterations']:>3} | "
                f"adaptive {ms(r['wall_time_s']):>7} ms (cpu {ms(r['cpu_time_s'])}) | "
                f"fixed+estimate {ms(r['fixed_wall_time_s']):>7} | bare {ms(r['bare_wall_time_s']):>6} "
                f"({r['bare_newton_iterations']} its) | {err} | diff/tol {r['fixed_vs_adaptive_diff_over_tolerance']:.1e}",
                flush=True,
            )
        else:
            print(
                f"{r['case']:<18} transient cells {r['cells']:>5} steps {r['steps']:>5} "
                f"Newton {r['newton_iterations']:>5} | wall {ms(r['wall_time_s']):>8} ms "
                f"(cpu {ms(r['cpu_time_s'])}) of which mesh {ms(r['mesh_wall_time_s'])} | {err}",
                flush=True,
            )
    steady = [r for r in rows if r["mode"] == "steady"]
    if steady:
        slow = [r["case"] for r in steady if not r["under_10ms"]]
        print(
            f"steady cases under {GOAL_STEADY_S * 1e3:g} ms warm (minimum of runs): "
            f"{len(steady) - len(slow)} of {len(steady)}"
            + (f"; over: {', '.join(slow)}" if slow else "")
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "timing": "minimum over warm runs (wall and CPU); median wall kept beside it",
                "goal_steady_s": GOAL_STEADY_S,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
