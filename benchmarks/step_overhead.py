"""Per-step overhead of the transient stepper: its time beyond assembly and linear solves.

    python benchmarks/step_overhead.py [--repeat 7] [--json benchmarks/out/step_overhead.json]

Each shipped transient is run warm by ``pnp.run`` (one warm-up first), with
timers around three things only:

- every accepted step (``BDF.step``, rejected tries included): the stepper's
  whole time, outputs and files excluded;
- the compiled assembly of residual and Jacobian (``kernel.assemble``);
- the compiled banded solve (``banded``'s equilibration + factorization and
  its substitutions). Where the substitution runs inside the compiled
  Newton update (:func:`pnp.solvers.iteration.update`, which also applies
  the update, projects and takes the norm), the timer repeats that
  substitution alone on a copy of the same right-hand side beforehand and
  counts its time as solve (and leaves the repetition out of the step's); the
  rest of the update counts as overhead.

The overhead per step is (stepping - assembly - solve) / steps: everything
the stepper does in Python around the compiled work (BDF weights,
predictor, history, error estimate, order choice, Newton's bookkeeping,
compartment projection, and for a case with channels the gates and the
bordered system's extra rows). Each timer adds ~0.2 us per call, counted
as assembly or solve (so the overhead is if anything underestimated by that
much per call, ~1 us per step). Minimum over ``--repeat`` runs of each
figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import pnp
from pnp.discretisation import kernel
from pnp.solvers import banded, iteration
from pnp.solvers.bdf import BDF

ROOT = Path(__file__).resolve().parent.parent
CASES = (
    "donnan_approach",
    "ischemia",
    "membrane_charging",
    "diffuse_charge",
    "hypotonic",
    "action_potential",
)
SOLVE = ("_equilibrate_factor", "_scale_substitute", "_equilibrate_factor_solve")


@contextmanager
def timers():
    """Time the steps, the assembly and the banded solves (seconds, summed)."""
    spent = {"step": 0.0, "assembly": 0.0, "solve": 0.0, "extra": 0.0}
    originals = [
        (kernel, "assemble"),
        *((banded, name) for name in SOLVE),
        (BDF, "step"),
        (banded, "_scale_substitute"),
        (iteration, "update"),
    ]
    saved = [getattr(owner, name) for owner, name in originals]

    def timed(fn, key):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[key] += time.perf_counter() - t0
            return out

        return wrapper

    def timed_update(lu, delta, kl, ku, piv, row_scale, *rest):
        # the substitution alone, on a copy of the same right-hand side: its
        # time counts as solve, and the copy's whole cost leaves the step's
        start = time.perf_counter()
        rhs = -delta.reshape(-1, 1)
        t0 = time.perf_counter()
        saved[5](lu, rhs, kl, ku, piv, row_scale)
        t1 = time.perf_counter()
        spent["solve"] += t1 - t0
        spent["extra"] += t1 - start
        return saved[6](lu, delta, kl, ku, piv, row_scale, *rest)

    kernel.assemble = timed(saved[0], "assembly")
    iteration.update = timed_update
    for name, fn in zip(SOLVE, saved[1:4], strict=True):
        setattr(banded, name, timed(fn, "solve"))
    BDF.step = timed(saved[4], "step")
    try:
        yield spent
    finally:
        for (owner, name), fn in zip(originals, saved, strict=True):
            setattr(owner, name, fn)


def measure(name: str, repeat: int) -> dict:
    case = pnp.load_case(ROOT / "cases" / f"{name}.toml")
    pnp.run(case)  # warm-up: compile or load the cache
    best = None
    for _ in range(repeat):
        with timers() as spent:
            result = pnp.run(case)
        steps = int(result.stats["steps"])
        stepping = spent["step"] - spent["extra"]
        over = (stepping - spent["assembly"] - spent["solve"]) / steps
        row = {
            "case": name,
            "cells": int(result.x.size),
            "unknowns": int(result.x.size * (len(result.species) + 1)),
            "steps": steps,
            "newton_iterations": int(result.stats["newton_iterations"]),
            "factorizations": int(result.stats["factorizations"]),
            "stepping_s": stepping,
            "assembly_s": spent["assembly"],
            "solve_s": spent["solve"],
            "overhead_per_step_us": over * 1e6,
        }
        if best is None or row["overhead_per_step_us"] < best["overhead_per_step_us"]:
            best = row
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cases", nargs="+", default=list(CASES))
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "out" / "step_overhead.json")
    args = p.parse_args(argv)
    print(
        f"{'case':18s} {'steps':>6s} {'Newton':>7s} {'LU':>5s} {'stepping':>9s} "
        f"{'assembly':>9s} {'solve':>7s} {'overhead/step':>14s}"
    )
    rows = []
    for name in args.cases:
        r = measure(name, args.repeat)
        rows.append(r)
        print(
            f"{name:18s} {r['steps']:6d} {r['newton_iterations']:7d} {r['factorizations']:5d} "
            f"{r['stepping_s'] * 1e3:7.1f}ms {r['assembly_s'] * 1e3:7.1f}ms "
            f"{r['solve_s'] * 1e3:5.1f}ms {r['overhead_per_step_us']:11.0f} us"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"repeat": args.repeat, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
