"""Action potentials: one spike warm, and an f-I sweep on 2 workers.

    python benchmarks/action_potentials.py [--repeat 5] [--points 16] [--json benchmarks/out/action_potentials.json]

- ``action_potential.toml`` (a 20 ms run, one spike, the Debye layers
  resolved): the minimum wall time of ``--repeat`` warm runs of
  ``pnp.run`` (after one warm-up: JIT compile and cache load excluded),
  with its steps, Newton iterations and factorizations; the time of its
  transient mesh (``adaptive.transient_mesh``, part of the run) and of the
  time stepping alone (``stats["wall_time"]``: the steady start and the
  steps), and the cost per step.
- an f-I curve: ``ap_train.toml`` swept over ``--points`` clamp currents
  0.05-0.3 A/m^2 with ``pnp.sweep`` on 2 worker processes (pool start-up
  included), its wall time and the firing rates it found.

The machine is shared: minima are the figures least disturbed by other work.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import pnp
from pnp.simulation.adaptive import transient_mesh

ROOT = Path(__file__).resolve().parent.parent


def one_spike(repeat: int) -> dict:
    case = pnp.load_case(ROOT / "cases" / "action_potential.toml")
    result = pnp.run(case)  # warm-up
    walls, stepping = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = pnp.run(case)
        walls.append(time.perf_counter() - t0)
        stepping.append(result.stats["wall_time"])
    mesh_times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        transient_mesh(case)
        mesh_times.append(time.perf_counter() - t0)
    st = result.stats
    return {
        "wall_s": min(walls),
        "wall_median_s": float(np.median(walls)),
        "stepping_s": min(stepping),
        "mesh_s": min(mesh_times),
        "steps": int(st["steps"]),
        "newton_iterations": int(st["newton_iterations"]),
        "factorizations": int(st["factorizations"]),
        "cells": int(result.potential.shape[1]),
        "per_step_ms": 1e3 * min(stepping) / st["steps"],
        "peak_mV": float(result.membrane_potential.max() * 1e3),
    }


def fi_sweep(points: int) -> dict:
    case = pnp.load_case(ROOT / "cases" / "ap_train.toml")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sweep = pnp.sweep(
            case,
            {"stimulus.current": list(np.linspace(0.05, 0.3, points))},
            out=Path(tmp) / "fi",
            max_workers=2,
        )
        wall = time.perf_counter() - t0
        table = sweep.table
        rates = [float(v) for v in table["firing_rate"]]
        return {
            "points": points,
            "workers": 2,
            "wall_s": wall,
            "completed": int(sweep.completed),
            "currents": [float(v) for v in table["stimulus.current"]],
            "firing_rate": rates,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "action_potentials.json"))
    args = ap.parse_args()
    spike = one_spike(args.repeat)
    print(
        f"action_potential: {spike['wall_s']:.3f} s warm (median {spike['wall_median_s']:.3f}), "
        f"transient mesh {spike['mesh_s']:.3f} s, stepping {spike['stepping_s']:.3f} s; "
        f"{spike['steps']} steps, {spike['newton_iterations']} Newton iterations, "
        f"{spike['factorizations']} factorizations, {spike['cells']} cells, "
        f"{spike['per_step_ms']:.3f} ms/step, peak {spike['peak_mV']:.2f} mV"
    )
    fi = fi_sweep(args.points)
    print(f"f-I sweep: {fi['points']} points on 2 workers in {fi['wall_s']:.1f} s")
    print(f"{'I [A/m^2]':>10}  {'rate [1/s]':>10}")
    for i, r in zip(fi["currents"], fi["firing_rate"], strict=True):
        print(f"{i:10.4f}  {r:10.2f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"one_spike": spike, "fi_sweep": fi}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
