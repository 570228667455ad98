"""A 32-point I-V sweep with 1 and 2 worker processes.

    python benchmarks/sweep_scaling.py [--cells 20000] [--json benchmarks/out/sweep.json]

Each point is the ghk_iv case on a uniform mesh of ``--cells`` cells per
region (so that a point costs tens of ms, as real sweeps do). The numba
cache is warm; pool start-up is included in the wall time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pnp

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--points", type=int, default=32)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "sweep.json"))
    args = ap.parse_args()
    case = pnp.load_case(
        ROOT / "cases" / "ghk_iv.toml", overrides={"mesh.uniform_cells": args.cells}
    )
    params = {"boundary.left.potential": f"-0.1:0.06:{args.points}"}
    pnp.run(case)  # warm the cache
    rows = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            res = pnp.sweep(case, params, out=out, max_workers=workers)
            rows[workers] = time.perf_counter() - t0
            assert res.failed == 0
        print(f"{workers} worker(s): {rows[workers]:.2f} s")
    speedup = rows[1] / rows[2]
    print(f"speed-up with 2 workers: {speedup:.2f}x")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "cells": args.cells,
                "points": args.points,
                "wall_1_s": rows[1],
                "wall_2_s": rows[2],
                "speedup": speedup,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
