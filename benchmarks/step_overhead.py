"""Per-step overhead of the transient stepper: its time beyond assembly and linear solves.

    python benchmarks/step_overhead.py [--repeat 7] [--json benchmarks/out/step_overhead.json]

Each shipped transient is run warm by ``pnp.run`` (one warm-up first). The
stepper's whole time is timed around every accepted step (``BDF.step``,
rejected tries included; outputs and files excluded). From it are taken
the compiled assembly of residual and Jacobian (``kernel.assemble``) and
the compiled banded solve (``banded``'s equilibration + factorization and
its substitutions), found in two ways:

- called from Python (systems with border unknowns, full Newton): timers
  around those calls. Where the substitution runs inside the compiled
  Newton update (:func:`pnp.solvers.iteration.update`), the timer repeats
  it alone on a copy of the same right-hand side beforehand and counts
  its time as solve (and leaves the repetition out of the step's);
- inside the compiled modified Newton loop
  (:func:`pnp.solvers.iteration.modified_newton`, which Python timers
  cannot see into): counted. Every loop reports its iterations (one
  assembly each), factorizations (each after a Jacobian assembly) and
  updates (one substitution each); each kind is then charged its own cost,
  measured on the case's own system at the run's last state by a compiled
  loop of 200 calls (no Python call in the figure; the copies that feed the
  in-place factorization and substitution timed apart and subtracted),
  minimum over 5 such means.

The overhead per step is (stepping - assembly - solve) / steps: everything
the stepper does around the compiled assembly and solves (BDF weights,
predictor, history, error estimate, order choice, Newton's bookkeeping,
the update's damping, compartments and norm, the pumps' sources, and for a
case with channels or a moving volume the gates, the bordered system's
extra rows and the mesh geometry). Each timer adds ~0.2 us per call,
counted as assembly or solve (so the overhead is if anything
underestimated by that much per call). Minimum over ``--repeat`` runs of
each figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numba import njit

import pnp
from pnp.discretisation import kernel
from pnp.solvers import banded, iteration
from pnp.solvers.bdf import BDF
from pnp.solvers.newton import System

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
    """Time the steps, the assembly and the banded solves called from Python
    (seconds, summed), count the compiled loops' work, keep the last stepper."""
    spent = {"step": 0.0, "assembly": 0.0, "solve": 0.0, "extra": 0.0}
    counts = {"jacobians": 0, "residuals": 0, "factorizations": 0, "substitutions": 0}
    last = {}
    originals = [
        (kernel, "assemble"),
        *((banded, name) for name in SOLVE),
        (BDF, "step"),
        (banded, "_scale_substitute"),
        (iteration, "update"),
        (System, "modified_newton"),
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

    def counted_loop(system, x, *args):
        before = system.stats.newton_iterations
        out = saved[7](system, x, *args)
        _, iterations, _, _, n_factor = out
        counts["jacobians"] += n_factor
        counts["residuals"] += iterations - n_factor
        counts["factorizations"] += n_factor
        counts["substitutions"] += system.stats.newton_iterations - before
        last["system"], last["x"], last["alpha"] = system, x.copy(), args[1]
        return out

    kernel.assemble = timed(saved[0], "assembly")
    iteration.update = timed_update
    System.modified_newton = counted_loop
    for name, fn in zip(SOLVE, saved[1:4], strict=True):
        setattr(banded, name, timed(fn, "solve"))
    BDF.step = timed(saved[4], "step")
    try:
        yield spent, counts, last
    finally:
        for (owner, name), fn in zip(originals, saved, strict=True):
            setattr(owner, name, fn)


@njit
def _assemble_repeated(n, x, args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, ab, jac):
    for _ in range(n):
        kernel.assemble(x, *args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, ab, jac)


@njit
def _factor_repeated(n, ab, lu, kl, ku, piv, scale, factor):
    for _ in range(n):
        lu[:, :] = ab
        if factor:
            banded._equilibrate_factor(lu, kl, ku, piv, scale)


@njit
def _substitute_repeated(n, lu, rhs, b, kl, ku, piv, scale, substitute):
    for _ in range(n):
        b[:, 0] = rhs
        if substitute:
            banded._scale_substitute(lu, b, kl, ku, piv, scale)


def _mean_time(fn, *args, n=200) -> float:
    """Seconds per call of the compiled loop ``fn`` (min over 5 means of n)."""
    fn(1, *args)  # compile
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        fn(n, *args)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def unit_costs(system: System, x: np.ndarray, alpha: float) -> dict:
    """Seconds per Jacobian assembly, residual assembly, factorization and
    substitution of ``system`` at ``x`` (time coefficient ``alpha``)."""
    model = system.model
    shape = (model.n_species, model.n_cells)
    alpha_c = np.full(shape, alpha, order="F")
    beta_c = np.asfortranarray(alpha * np.asarray(model.layout.split(x)[1]))
    beta_d = np.zeros(model.n_cells + 1)
    ab = np.zeros_like(system.ab)
    common = (x, system.args, alpha_c, alpha, beta_c, beta_d, system.cont, system.source)
    res = np.zeros(model.n_unknowns)
    costs = {
        "jacobian": _mean_time(_assemble_repeated, *common, res, ab, True),
        "residual": _mean_time(_assemble_repeated, *common, res, ab, False),
    }
    kl, ku = system.kl, system.ku
    lu, piv, scale = np.zeros_like(ab), np.zeros(ab.shape[1], np.int64), np.ones(ab.shape[1])
    args = (ab, lu, kl, ku, piv, scale)
    costs["factorization"] = _mean_time(_factor_repeated, *args, True) - _mean_time(
        _factor_repeated, *args, False
    )
    banded._equilibrate_factor(lu, kl, ku, piv, scale)
    b = np.zeros((ab.shape[1], 1))
    args = (lu, res, b, kl, ku, piv, scale)
    costs["substitution"] = _mean_time(_substitute_repeated, *args, True) - _mean_time(
        _substitute_repeated, *args, False
    )
    return costs


def measure(name: str, repeat: int) -> dict:
    case = pnp.load_case(ROOT / "cases" / f"{name}.toml")
    pnp.run(case)  # warm-up: compile or load the cache
    best = None
    for _ in range(repeat):
        with timers() as (spent, counts, last):
            result = pnp.run(case)
        steps = int(result.stats["steps"])
        assembly, solve = spent["assembly"], spent["solve"]
        if last:  # the compiled loops' work, counted
            cost = unit_costs(last["system"], last["x"], last["alpha"])
            assembly += counts["jacobians"] * cost["jacobian"]
            assembly += counts["residuals"] * cost["residual"]
            solve += counts["factorizations"] * cost["factorization"]
            solve += counts["substitutions"] * cost["substitution"]
        stepping = spent["step"] - spent["extra"]
        over = (stepping - assembly - solve) / steps
        row = {
            "case": name,
            "cells": int(result.x.size),
            "unknowns": int(result.x.size * (len(result.species) + 1)),
            "steps": steps,
            "newton_iterations": int(result.stats["newton_iterations"]),
            "factorizations": int(result.stats["factorizations"]),
            "stepping_s": stepping,
            "assembly_s": assembly,
            "solve_s": solve,
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
