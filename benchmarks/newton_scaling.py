"""Time per Newton iteration (assembly + banded solve) against N and S.

Beside it, the floor no PNP Newton step can beat: a bare LAPACK banded LU
factor-and-solve (dgbsv) of the same Jacobian (same size, bandwidths and
pivoting), with the matrix copy made outside the timed region.
JIT compile time is measured once, separately. Prints a table, writes JSON.

    python benchmarks/newton_scaling.py [--sizes 1e3 1e4 1e5] [--species 1 3 5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy.linalg import lapack

import pnp
from pnp.discretisation.model import build_model
from pnp.input.case import Boundary, Case, MeshSpec, Region, Species
from pnp.solvers.newton import System, concentrations

NAMES = ["K", "Na", "Cl", "Ca", "X"]
VALENCE = {"K": 1, "Na": 1, "Cl": -1, "Ca": 2, "X": -1}


def bench_case(n_cells: int, n_species: int) -> Case:
    """A wall at 50 mV in a neutral bath of ``n_species`` ions on a uniform mesh."""
    names = NAMES[:n_species] if n_species > 1 else ["K"]
    species = tuple(Species(nm, VALENCE[nm] if n_species > 1 else 0, 1e-9) for nm in names)
    conc = {nm: 100.0 for nm in names}
    if n_species > 1:
        charge = sum(VALENCE[nm] * c for nm, c in conc.items())
        conc[names[-1]] = 100.0 - charge * VALENCE[names[-1]]
    region = Region(
        "bath",
        20e-9,
        78.5,
        False,
        conc,
        0.0,
        {nm: 1e-9 for nm in names},
        {nm: 0.0 for nm in names},
        {},
    )
    return Case(
        "bench",
        298.15,
        "cartesian",
        "left",
        "ideal",
        species,
        (region,),
        Boundary("left", "wall", 0.05),
        Boundary("right", "reservoir", 0.0),
        mesh=MeshSpec(uniform_cells=n_cells),
    )


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(n: int, s: int, repeat: int) -> dict:
    """Median times of one Newton iteration, its assembly and the bare LU."""
    from pnp.discretisation import kernel

    model = build_model(bench_case(n, s))
    system = System(model)
    x = model.x0.copy()
    alpha = np.full((model.n_species, model.n_cells), 1e3, order="F")
    beta = alpha * concentrations(model, x)
    bd = np.zeros(model.n_cells + 1)

    def iteration():
        system.assemble(x, alpha, 1e3, beta, bd)
        system.solve()

    def assemble_only():
        system.assemble(x, alpha, 1e3, beta, bd)

    t_iter = median_time(iteration, repeat)
    t_asm = median_time(assemble_only, repeat)
    kl, ku = model.bandwidths
    # the floor: LAPACK gbsv of this very (equilibrated) Jacobian, its copy
    # made outside the timed region
    system.assemble(x, alpha, 1e3, beta, bd)
    kernel.equilibrate_rows(system.ab, system.res, kl, ku)
    rhs = system.res.copy()
    work = [system.ab.copy(order="F") for _ in range(repeat)]

    def bare():
        lapack.dgbsv(kl, ku, work.pop(), rhs.copy(), overwrite_ab=1, overwrite_b=1)

    t_floor = median_time(bare, repeat)
    return {
        "cells": n,
        "species": s,
        "unknowns": model.n_unknowns,
        "kl": kl,
        "ku": ku,
        "newton_iteration_s": t_iter,
        "assembly_s": t_asm,
        "banded_lu_floor_s": t_floor,
        "ratio_to_floor": t_iter / t_floor,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    ap.add_argument("--species", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default="benchmarks/out/newton_scaling.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    small = System(build_model(bench_case(10, 3)))
    x = small.model.x0.copy()
    S, N = small.model.n_species, small.model.n_cells
    zeros = np.zeros((S, N), order="F")
    small.assemble(x, zeros + 1.0, 1.0, concentrations(small.model, x), np.zeros(N + 1))
    small.solve()
    compile_time = time.perf_counter() - t0

    rows = []
    for s in args.species:
        for n in (int(v) for v in args.sizes):
            row = measure(n, s, args.repeat)
            rows.append(row)
            print(
                f"N={n:>8d} S={s}  iteration {row['newton_iteration_s'] * 1e3:9.3f} ms  "
                f"assembly {row['assembly_s'] * 1e3:8.3f} ms  bare dgbsv "
                f"{row['banded_lu_floor_s'] * 1e3:9.3f} ms  ratio {row['ratio_to_floor']:5.2f}",
                flush=True,
            )

    fits = {}
    for s in args.species:
        sub = [r for r in rows if r["species"] == s]
        if len(sub) >= 2:
            slope = np.polyfit(
                np.log([r["cells"] for r in sub]), np.log([r["newton_iteration_s"] for r in sub]), 1
            )[0]
            fits[s] = float(slope)
    print(f"\nJIT compile (first assembly + solve, or cache load): {compile_time:.2f} s")
    for s, slope in fits.items():
        print(f"S={s}: time per Newton iteration ~ N^{slope:.3f}")
    out = {
        "pnp_version": pnp.__version__,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "compile_s": compile_time,
        "rows": rows,
        "scaling_exponent": fits,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
