"""Per-step overhead of the transient stepper: its time beyond assembly and linear solves.

    python benchmarks/step_overhead.py [--repeat 7] [--json benchmarks/out/step_overhead.json]

Each shipped transient is run warm by ``pnp.run`` (one warm-up first). The
stepper's whole time is timed around every accepted step (``BDF.step``,
rejected tries included; outputs and files excluded). The overhead is what
is left of it beyond the compiled assembly of residual and Jacobian
(``kernel.assemble``) and the compiled banded solve (``banded``'s
equilibration + factorization and its substitutions), in two parts:

- outside the compiled calls (a whole step,
  :func:`pnp.solvers.iteration.bdf_step`, which the stepper takes without
  border unknowns on a fixed mesh; or a modified Newton loop,
  :func:`pnp.solvers.iteration.modified_newton`, called directly), timed
  directly: the stepping time minus the time inside those calls, minus the assembly and
  solves called from Python (timers around them: systems with border
  unknowns, full Newton). Where the substitution runs inside the compiled
  Newton update (:func:`pnp.solvers.iteration.update`) called from Python,
  the timer repeats it alone on a copy of the same right-hand side
  beforehand and counts its time as solve (and leaves the repetition out
  of the step's);
- inside the compiled loops, which Python timers cannot see into: what a
  loop does beyond assembly and solves, counted and charged its cost. Each
  loop reports its iterations and updates; per update the compiled update
  beyond its substitution (finite check, damping, x + lam delta, the
  compartments, the norm), per iteration the residual's finite check and
  the pumps' sources, each measured at states sampled through the run (the
  system and starting state of every 40th loop) by compiled loops of 50
  calls (the copies that feed them timed apart and subtracted), minimum of
  3 such means, averaged over the samples. A whole step solved in one call
  (:func:`pnp.solvers.iteration.bdf_step`) is such a loop plus, per call,
  the step's terms (:func:`pnp.solvers.history.step_terms`) and, when it
  converged, the error's norm and the history entries, charged the same
  way.

The charged costs are measured in tight loops, where the arrays stay in
cache; inside a step they are not, so the charged figure may be low. A
cross-check that charges nothing: the same run again on the stepper's
Python path (``System.loop_compiles`` False: the same assembly,
factorization and substitution calls, bit for bit the same run), where
every assembly and factorization is timed where it happens; the stepping
time of the compiled path minus those in-situ times is the "in situ"
column (minimum over the runs of each; systems with border unknowns or a
moving mesh take the Python path anyway, and their two figures agree).

The table's assembly and solve columns are the timed ones plus, for the
compiled loops, their counted calls (each Jacobian or residual assembly,
factorization, substitution) at their cost measured the same way; they are
shown for scale, the overhead does not subtract them (a difference of large
figures would carry their noise). Each timer adds ~0.2 us per call,
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
from pnp.discretisation import kernel, pumps
from pnp.solvers import (
    banded,
    bordered,
    compartments,
    gated,
    history,
    iteration,
    newton,
    schur,
    swollen,
)
from pnp.solvers.bdf import BDF
from pnp.solvers.newton import System, record_args
from pnp.solvers.reuse import Reuse

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
SAMPLE_EVERY = 40  # every 40th compiled Newton loop: a state the unit costs are measured at


@contextmanager
def timers():
    """Time the steps, the assembly and the banded solves called from Python
    (seconds, summed), count the compiled loops' work and keep every
    ``SAMPLE_EVERY``-th loop's system and starting state."""
    spent = {
        "step": 0.0,
        "assembly": 0.0,
        "solve": 0.0,
        "geometry": 0.0,
        "extra": 0.0,
        "loop": 0.0,
    }
    counts = dict.fromkeys(
        (
            "jacobians",
            "residuals",
            "factorizations",
            "substitutions",
            "loops",
            "iterations",
            "steps",
            "converged",
        ),
        0,
    )
    samples = []
    originals = [
        (kernel, "assemble"),
        *((banded, name) for name in SOLVE),
        (BDF, "step"),
        (banded, "_scale_substitute"),
        (iteration, "update"),
        (System, "modified_newton"),
        (iteration, "bdf_step"),
        (Reuse, "step"),
        (gated, "assemble"),
        (schur, "schur_factor"),
        (schur, "schur_substitute"),
        *((owner, "set_scale") for owner in (bordered, compartments, newton)),
        (swollen, "assemble"),
    ]
    saved = [getattr(owner, name) for owner, name in originals]

    stepping = [False]  # inside BDF.step: what is timed elsewhere (a steady start) is left out

    def timed(fn, key):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            if stepping[0]:
                spent[key] += time.perf_counter() - t0
            return out

        return wrapper

    def timed_step(fn):
        def wrapper(*args, **kwargs):
            stepping[0] = True
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["step"] += time.perf_counter() - t0
                stepping[0] = False

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
        if counts["loops"] % SAMPLE_EVERY == 0:  # a state to measure the unit costs at
            start = time.perf_counter()
            alpha_d, weights, project = args[1], args[4], args[5]
            samples.append((system, x.copy(), alpha_d, weights, project))
            spent["extra"] += time.perf_counter() - start
        counts["loops"] += 1
        before = system.stats.newton_iterations
        t0 = time.perf_counter()
        out = saved[7](system, x, *args)
        spent["loop"] += time.perf_counter() - t0
        _, iterations, _, _, n_factor = out
        counts["iterations"] += iterations
        counts["jacobians"] += n_factor
        counts["residuals"] += iterations - n_factor
        counts["factorizations"] += n_factor
        counts["substitutions"] += system.stats.newton_iterations - before
        return out

    def counted_step(*args):
        t0 = time.perf_counter()
        out = saved[8](*args)
        spent["loop"] += time.perf_counter() - t0
        status, iterations, n_factor, n_update = out[3], out[4], out[7], out[8]
        counts["iterations"] += iterations
        counts["jacobians"] += n_factor
        counts["residuals"] += iterations - n_factor
        counts["factorizations"] += n_factor
        counts["substitutions"] += n_update
        counts["steps"] += 1
        counts["converged"] += status in (iteration.CONVERGED, iteration.ROUND_OFF)
        return out

    def sampled_step(kept, system, terms, alpha_c, beta_c, weights, project, wstep, max_iter):
        if counts["loops"] % SAMPLE_EVERY == 0:  # a state to measure the unit costs at
            start = time.perf_counter()
            copies = tuple(t.copy() if isinstance(t, np.ndarray) else t for t in terms)
            a = history.step_terms(*copies, alpha_c.copy(), beta_c.copy())[0]
            x = terms[3][0].copy()
            samples.append((system, x, a[0] / terms[0][0], weights, project, copies, wstep))
            spent["extra"] += time.perf_counter() - start
        counts["loops"] += 1
        return saved[9](kept, system, terms, alpha_c, beta_c, weights, project, wstep, max_iter)

    iteration.bdf_step = counted_step
    Reuse.step = sampled_step
    kernel.assemble = timed(saved[0], "assembly")
    iteration.update = timed_update
    System.modified_newton = counted_loop
    for name, fn in zip(SOLVE, saved[1:4], strict=True):
        setattr(banded, name, timed(fn, "solve"))
    BDF.step = timed_step(saved[4])
    # called from Python with gates (Bordered): the gates' assembly (the
    # kernel's, the shifted ones, the gate rows and columns) and the
    # border's factorization and substitution (band substitutions, k x k LU)
    gated.assemble = timed(saved[10], "assembly")
    schur.schur_factor = timed(saved[11], "solve")
    schur.schur_substitute = timed(saved[12], "solve")
    # a moving mesh: the geometry moved from Python (a closed compartment's
    # projection, the history's amounts); the assembly of a swelling cell
    # (pnp.solvers.swollen: the mesh moved to s + ds and s, the kernel's
    # residual at both, the volume's residual, row and column)
    for module, fn in zip((bordered, compartments, newton), saved[13:16], strict=True):
        module.set_scale = timed(fn, "geometry")
    swollen.assemble = timed(saved[16], "assembly")
    try:
        yield spent, counts, samples
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


def _mean_time(fn, *args, n=50) -> float:
    """Seconds per call of the compiled loop ``fn`` (min over 3 means of n)."""
    fn(1, *args)  # compile
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn(n, *args)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


@njit
def _update_repeated(n, lu, res, rhs, x, xw, kl, ku, piv, scale, update_args, whole):
    """n times: fresh copies of the residual and state, then the whole compiled
    update (``whole``) or its substitution alone."""
    for _ in range(n):
        rhs[:] = res
        xw[:] = x
        if whole:
            iteration.update(lu, rhs, kl, ku, piv, scale, xw, *update_args)
        else:
            for i in range(rhs.shape[0]):
                rhs[i] = -rhs[i]
            banded._scale_substitute(lu, rhs.reshape((rhs.shape[0], 1)), kl, ku, piv, scale)


@njit
def _checks_repeated(n, res, x, n_boundary, block, pump_cells, pump_values, source, pumped):
    """n times what the compiled loop adds to an iteration's assembly: the
    residual's finite check and the pumps' sources."""
    for _ in range(n):
        history.all_finite(res)
        if pumped:
            pumps.sources(x, n_boundary, block, pump_cells, pump_values, source)


@njit
def _terms_repeated(n, terms, alpha_c, beta_c):
    """n times a step's terms before Newton (history.step_terms)."""
    for _ in range(n):
        history.step_terms(*terms, alpha_c, beta_c)


@njit
def _entries_repeated(n, pred, work, x, error_weights, record, whole):
    """n times: a fresh copy of the predictor, then (``whole``) the error's
    norm and the history entries of ``x``."""
    rtol, floor_c, floor_psi, is_psi = error_weights
    for _ in range(n):
        work[:] = pred
        if whole:
            history.error_norm(work, x, rtol, floor_c, floor_psi, is_psi)
            history.record_state(x, record)


def step_costs(system: System, terms: tuple, wstep) -> dict:
    """Seconds per compiled step's work beyond its Newton loop: the terms
    (per call) and the error norm + history entries (per converged call)."""
    shape = terms[4][0].shape
    alpha_c, beta_c = np.empty(shape, order="F"), np.empty(shape, order="F")
    pred = history.step_terms(*terms, alpha_c, beta_c)[2]
    x = terms[3][0]
    if pred.size == 0:
        pred = x.copy()
    args = (
        pred,
        np.empty_like(pred),
        x,
        (wstep.rtol, wstep.floor_c, wstep.floor_psi, wstep.is_psi),
    )
    args = (*args, record_args(system.model))
    return {
        "terms": _mean_time(_terms_repeated, terms, alpha_c, beta_c),
        "entries": _mean_time(_entries_repeated, *args, True)
        - _mean_time(_entries_repeated, *args, False),
    }


@njit
def _border_repeated(n, assemble, x, args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, ab,
                     jac, pump, tables):  # fmt: skip
    """n times the assembly ``assemble`` of a system with border unknowns."""
    for _ in range(n):
        assemble(
            x, args, alpha_c, alpha_d, beta_c, beta_d, cont, source, res, ab, jac, pump, tables
        )


@njit
def _border_factor_repeated(n, ab, lu, kl, ku, piv, scale, columns, kept, border, s, s_piv, on):
    """n times: fresh copies of the band and the border's columns, then (``on``)
    the band's factorization, Y = J^-1 B and the Schur complement's LU."""
    n0 = kept.shape[0]
    view = lu.T[:n0].T
    for _ in range(n):
        lu[:, :] = ab
        kept[:, :] = columns
        if on:
            banded._equilibrate_factor(view, kl, ku, piv[:n0], scale[:n0])
            schur.schur_factor(kept, kl, ku, piv[:n0], scale[:n0], border, s, s_piv)


@njit
def _border_update_repeated(n, res, work, x, xw, kl, ku, piv, scale, kept, border, s, s_piv, y0,
                            right, update_args, part):  # fmt: skip
    """n times: fresh copies of the residual and state, then the border's
    substitution (``part`` 1), the update applied after it as well (2), or
    neither (0)."""
    n0 = kept.shape[0]
    for _ in range(n):
        work[:] = res
        xw[:] = x
        if part:
            schur.schur_substitute(
                work, y0, kl, ku, piv[:n0], scale[:n0], kept, border, s, s_piv, right
            )
        if part == 2:
            iteration.apply_update(work, xw, *update_args)


def border_costs(system: System, common: tuple, res, ab, weights, project) -> dict:
    """:func:`unit_costs` of a system with border unknowns (the compiled
    loop's gated or swelling form): an assembly is the gates' (pnp.solvers.gated:
    the kernel's residual at each shifted conductor factor too, the gate
    rows and columns) or the swelling cell's (pnp.solvers.swollen: the mesh
    moved to s + ds and s, the kernel's residual at both, the volume's row
    and column), a factorization the band's and the Schur complement's, a
    substitution the border's (band substitution, k x k solve, dx)."""
    b = system.bordered
    if b.volume:
        assemble, tables = swollen.assemble, b.volume_tables()
    else:
        assemble, tables = gated.assemble, b.gate_tables()
    pump = system.pump_args()
    costs = {
        "jacobian": _mean_time(_border_repeated, assemble, *common, res, ab, True, pump, tables),
        "residual": _mean_time(_border_repeated, assemble, *common, res, ab, False, pump, tables),
    }
    x = common[0]
    kl, ku = system.kl, system.ku
    lu, piv, scale = np.zeros_like(ab), np.zeros(ab.shape[1], np.int64), np.ones(ab.shape[1])
    b.kept_dv[:] = b.gate_dv
    border = b.border(lu[:, : b.n0])
    kept = np.zeros_like(b.kept_columns)
    s, s_piv = np.zeros_like(b.schur), np.zeros_like(b.schur_piv)
    args = (ab, lu, kl, ku, piv, scale, b.columns, kept, border, s, s_piv)
    costs["factorization"] = _mean_time(_border_factor_repeated, *args, True) - _mean_time(
        _border_factor_repeated, *args, False
    )
    _border_factor_repeated(1, *args, True)
    update_args = system.update_args(weights, project)
    work, xw = np.zeros_like(res), np.zeros_like(x)
    args = (res, work, x, xw, kl, ku, piv, scale, kept, border, s, s_piv, b.y0, b.right)
    args = (*args, update_args)
    none, sub, whole = (_mean_time(_border_update_repeated, *args, part) for part in (0, 1, 2))
    costs["substitution"] = sub - none
    costs["update_extra"] = whole - sub
    args = (res, x, 0, 0, system.pump_cells[:0], system.pump_values[:0], system.source, False)
    costs["checks"] = _mean_time(_checks_repeated, *args)  # the pumps are in the assembly
    return costs


def unit_costs(
    system: System, x: np.ndarray, alpha: float, weights, project, terms=None, wstep=None
) -> dict:
    """Seconds per Jacobian assembly, residual assembly, factorization and
    substitution of ``system`` at ``x`` (time coefficient ``alpha``); and
    what the compiled loop does beyond them: per update (the update beyond
    its substitution: finite check, damping, x + lam delta, compartments,
    norm) and per iteration (the residual's finite check, the pumps)."""
    model = system.model
    shape = (model.n_species, model.n_cells)
    alpha_c = np.full(shape, alpha, order="F")
    beta_c = np.asfortranarray(alpha * np.asarray(model.layout.split(x)[1]))
    beta_d = np.zeros(model.n_cells + 1)
    ab = np.zeros_like(system.ab)
    common = (x, system.args, alpha_c, alpha, beta_c, beta_d, system.cont, system.source)
    res = np.zeros(model.n_unknowns)
    if system.bordered is not None:
        costs = border_costs(system, common, res, ab, weights, project)
        if terms is not None:
            costs.update(step_costs(system, terms, wstep))
        return costs
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
    update_args = system.update_args(weights, project)
    args = (lu, res, np.zeros_like(res), x, np.zeros_like(x), kl, ku, piv, scale, update_args)
    costs["update_extra"] = _mean_time(_update_repeated, *args, True) - _mean_time(
        _update_repeated, *args, False
    )
    lay = model.layout
    pumped = system.pump_tables()
    args = (res, x, lay.n_boundary, lay.block, system.pump_cells, system.pump_values)
    costs["checks"] = _mean_time(_checks_repeated, *args, system.source, pumped)
    if terms is not None:
        costs.update(step_costs(system, terms, wstep))
    return costs


def measure(name: str, repeat: int) -> dict:
    case = pnp.load_case(ROOT / "cases" / f"{name}.toml")
    pnp.run(case)  # warm-up: compile or load the cache
    best = None
    in_situ = np.inf  # the assembly and solves timed on the Python path (compiled cases)
    stepping_min = np.inf
    for _ in range(repeat):
        with timers() as (spent, counts, samples):
            result = pnp.run(case)
        stepping_min = min(stepping_min, spent["step"] - spent["extra"])
        if samples:
            saved = System.loop_compiles
            System.loop_compiles = lambda self, project=None: False
            try:
                with timers() as (python_spent, _, _):
                    pnp.run(case)
            finally:
                System.loop_compiles = saved
            in_situ = min(
                in_situ,
                python_spent["assembly"] + python_spent["solve"] + python_spent["geometry"],
            )
        steps = int(result.stats["steps"])
        assembly, solve = spent["assembly"], spent["solve"]
        stepping = spent["step"] - spent["extra"]
        geometry = spent["geometry"]
        outside = stepping - spent["loop"] - assembly - solve - geometry  # timed directly
        inside = 0.0
        cost = {}
        if samples:  # the compiled loops: their work counted, at the mean cost over the samples
            each = [unit_costs(*sample) for sample in samples]
            keys = {key for c in each for key in c}  # a step's terms: compiled steps only
            cost = {key: float(np.mean([c[key] for c in each if key in c])) for key in keys}
            assembly += counts["jacobians"] * cost["jacobian"]
            assembly += counts["residuals"] * cost["residual"]
            solve += counts["factorizations"] * cost["factorization"]
            solve += counts["substitutions"] * cost["substitution"]
            inside = counts["substitutions"] * cost["update_extra"]
            inside += counts["iterations"] * cost["checks"]
            if counts["steps"]:
                inside += counts["steps"] * cost["terms"] + counts["converged"] * cost["entries"]
        over = (outside + inside) / steps
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
            "geometry_s": geometry,
            "geometry_per_step_us": geometry / steps * 1e6,
            "overhead_per_step_us": over * 1e6,
            "outside_loop_per_step_us": outside / steps * 1e6,
            "inside_loop_per_step_us": inside / steps * 1e6,
            # each compiled operation's cost, tight loops (transient_peers' floor)
            "unit_costs_us": {key: value * 1e6 for key, value in sorted(cost.items())},
        }
        if best is None or row["overhead_per_step_us"] < best["overhead_per_step_us"]:
            best = row
    if not np.isfinite(in_situ):  # the Python path: assembly and solves timed in place
        in_situ = best["assembly_s"] + best["solve_s"] + best["geometry_s"]
        stepping_min = best["stepping_s"]
    best["in_situ_overhead_per_step_us"] = (stepping_min - in_situ) / best["steps"] * 1e6
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cases", nargs="+", default=list(CASES))
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "out" / "step_overhead.json")
    args = p.parse_args(argv)
    print(
        f"{'case':18s} {'steps':>6s} {'Newton':>7s} {'LU':>5s} {'stepping':>9s} "
        f"{'assembly':>9s} {'solve':>7s} {'geometry':>9s} {'overhead/step':>14s} {'(outside':>9s}"
        f" {'inside)':>8s} {'in situ':>8s}"
    )
    rows = []
    for name in args.cases:
        r = measure(name, args.repeat)
        rows.append(r)
        print(
            f"{name:18s} {r['steps']:6d} {r['newton_iterations']:7d} {r['factorizations']:5d} "
            f"{r['stepping_s'] * 1e3:7.1f}ms {r['assembly_s'] * 1e3:7.1f}ms "
            f"{r['solve_s'] * 1e3:5.1f}ms {r['geometry_s'] * 1e3:7.1f}ms "
            f"{r['overhead_per_step_us']:11.0f} us "
            f"{r['outside_loop_per_step_us']:8.0f} {r['inside_loop_per_step_us']:7.0f}"
            f" {r['in_situ_overhead_per_step_us']:5.0f} us"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"repeat": args.repeat, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
