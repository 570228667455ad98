"""Every shipped case: cells, steps, Newton iterations, warm wall time, peak memory, error.

    python benchmarks/cases.py [--repeat 3] [--json benchmarks/out/cases.json]

Wall time is the median of ``--repeat`` runs after a warm-up run (JIT compile
or cache load excluded). Peak memory is the tracemalloc peak of one warm run
(numpy arrays included). The error is |V_m - closed form| where the case's
``[expect]`` table names one.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np

import pnp
from pnp.presentation.report import expectations

ROOT = Path(__file__).resolve().parent.parent


def bench(path: Path, repeat: int) -> dict:
    case = pnp.load_case(path)
    pnp.run(case)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = pnp.run(case)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    pnp.run(case)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = expectations(case, res) if case.expect else []
    vm = [abs(r["difference"]) for r in rows if r["unit"] == "V"]
    return {
        "case": path.stem,
        "mode": case.run.mode,
        "cells": int(res.x.size),
        "steps": int(res.stats["steps"]),
        "newton_iterations": int(res.stats["newton_iterations"]),
        "wall_time_s": float(np.median(times)),
        "peak_memory_mb": peak / 2**20,
        "vm_error_v": vm[0] if vm else None,
        "status": res.status,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "cases.json"))
    args = ap.parse_args()
    rows = [bench(p, args.repeat) for p in sorted((ROOT / "cases").glob("*.toml"))]
    print(
        f"{'case':<20} {'mode':<9} {'cells':>6} {'steps':>6} {'Newton':>7} {'wall [ms]':>10} "
        f"{'peak [MB]':>10} {'|V_m - analytic|':>17}"
    )
    for r in rows:
        err = "-" if r["vm_error_v"] is None else f"{r['vm_error_v'] * 1e3:.1e} mV"
        print(
            f"{r['case']:<20} {r['mode']:<9} {r['cells']:>6} {r['steps']:>6} {r['newton_iterations']:>7} "
            f"{r['wall_time_s'] * 1e3:>10.2f} {r['peak_memory_mb']:>10.2f} {err:>17}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
