"""Transient speed: the stepper as it is against the one before issue 16.

    python benchmarks/transient_speed.py [--repeat 7] [--json benchmarks/out/transient_speed.json]

Each shipped transient is run warm (one warm-up first: JIT compile and cache
load excluded), ``--repeat`` times, by ``pnp.run`` twice over:

- "before": variable-step BDF2 with a fresh Jacobian and factorization at
  every Newton iteration (``run.max_order = 2``, and the stepper's
  factorization reuse switched off);
- "now": the defaults (orders up to 5, factorizations reused).

It reports steps, Newton iterations, factorizations and the minimum wall
time of each, their ratios, and how far the final states are apart (largest
relative difference of the concentrations, with a 1e-6 mol/m^3 floor, and
of V_m). For donnan_approach the final state is also compared with the
steady state of the case (`run.mode = "steady"`): its t_end (1e5 s) is long
past every relaxation. The machine is shared: minima are the figures least
disturbed by other work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pnp
from pnp.simulation import loop
from pnp.solvers.bdf import BDF

ROOT = Path(__file__).resolve().parent.parent
CASES = ("donnan_approach", "ischemia", "action_potential", "ap_train", "membrane_charging")


class _Before(BDF):
    """BDF2 with full Newton: the stepper before issue 16."""

    def __init__(self, *args, **kwargs):
        kwargs["max_order"] = 2
        kwargs["reuse"] = False
        super().__init__(*args, **kwargs)


def _timed(case, repeat: int, stepper) -> tuple[float, object]:
    loop.BDF = stepper
    try:
        result = pnp.run(case)  # warm-up
        walls = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = pnp.run(case)
            walls.append(time.perf_counter() - t0)
    finally:
        loop.BDF = BDF
    return min(walls), result


def _final_difference(a, b) -> tuple[float, float]:
    ca, cb = a.concentration[-1], b.concentration[-1]
    rel = float(np.max(np.abs(ca - cb) / (np.abs(cb) + 1e-6)))
    return rel, float(abs(a.membrane_potential[-1] - b.membrane_potential[-1]))


def measure(name: str, repeat: int) -> dict:
    case = pnp.load_case(ROOT / "cases" / f"{name}.toml")
    row = {"case": name}
    results = {}
    for label, stepper in (("before", _Before), ("now", BDF)):
        wall, result = _timed(case, repeat, stepper)
        st = result.stats
        results[label] = result
        row[label] = {
            "wall_s": wall,
            "steps": int(st["steps"]),
            "newton_iterations": int(st["newton_iterations"]),
            "factorizations": int(st["factorizations"]),
        }
    b, n = row["before"], row["now"]
    row["wall_ratio"] = b["wall_s"] / n["wall_s"]
    row["factorization_ratio"] = b["factorizations"] / n["factorizations"]
    row["final_c_rel"], row["final_vm_v"] = _final_difference(results["now"], results["before"])
    if name == "donnan_approach":
        steady = pnp.run(case.with_overrides({"run.mode": "steady"}))
        now = results["now"]
        row["steady_vm_v"] = float(abs(now.membrane_potential[-1] - steady.membrane_potential[-1]))
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cases", nargs="+", default=list(CASES))
    p.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "out" / "transient_speed.json"
    )
    args = p.parse_args(argv)
    rows = []
    head = f"{'case':18s} {'':6s} {'steps':>6s} {'Newton':>7s} {'LU':>6s} {'wall s':>8s}"
    print(head)
    for name in args.cases:
        row = measure(name, args.repeat)
        rows.append(row)
        for label in ("before", "now"):
            r = row[label]
            print(
                f"{name:18s} {label:6s} {r['steps']:6d} {r['newton_iterations']:7d} "
                f"{r['factorizations']:6d} {r['wall_s']:8.3f}"
            )
        extra = f"  vs steady |dV_m| {row['steady_vm_v']:.1e} V" if "steady_vm_v" in row else ""
        print(
            f"{'':18s} ratio  LU {row['factorization_ratio']:.1f}x, wall {row['wall_ratio']:.1f}x; "
            f"final c {row['final_c_rel']:.1e} rel, V_m {row['final_vm_v']:.1e} V{extra}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"repeat": args.repeat, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
