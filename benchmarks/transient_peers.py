"""Transient peers side by side at equal accuracy: SUNDIALS IDA, scipy's BDF, DEVSIM.

    python benchmarks/transient_peers.py [--repeat 3] [--skip scipy devsim]

Three comparisons, each against pnp's own stepper (``pnp.solvers.bdf.BDF``,
its defaults: variable order 1-5, modified Newton), warm (numba compiled and
every solver run once first; DEVSIM's long runs once), minimum of
``--repeat`` runs:

1. **IDA** (scikit-sundae, SUNDIALS' band LU) on pnp's own semi-discrete DAE,
   given pnp's compiled residual and band Jacobian (``benchmarks/ida_peer.py``
   has the formulation), on ``donnan_approach`` and ``ischemia`` after the
   pump stops (its stretch 1); rtol swept for both. Error: the largest
   |V_m - V_m,ref| over the output times, against pnp at rtol 1e-10.
2. **scipy** ``solve_ivp(method="BDF")`` on the same semi-discrete system
   with Gauss's law solved for the potentials at every right-hand side (an
   ODE in the concentrations; its exact Jacobian is dense). On the case's
   mesh it gets ``--scipy-budget`` seconds at the loosest rtol and is
   reported as not finished if it needs more; it is measured to the end on
   a coarse variant of donnan_approach (fixed mesh, 1 cell per Debye length,
   cells at most 1 um: 90 cells), where pnp and IDA are measured again.
3. **DEVSIM**'s TR-BDF2 on ``diffuse_charge`` (``benchmarks/devsim_transient.py``:
   its own finite-volume model of the case on pnp's cell faces as nodes, in
   equal steps, n per output interval, swept). Error: the largest
   |sigma - sigma_ref| over the output times of the charge on the stepped
   electrode, relative to its final value; each solver against its own
   semi-discrete system integrated tightly (pnp: rtol 1e-10; DEVSIM:
   Richardson extrapolation of its two finest step sweeps, the method being
   second order), because the two discretize space differently: this is the
   time-integration error, the part a transient solver controls. The spatial
   error of each at this resolution (its tight solution against pnp on the
   mesh with every cell cut in 4, rtol 1e-10) is reported beside it.

The headline of each: the peer's wall time at pnp's error at the case's rtol
(1e-6), interpolated log-log along the peer's sweep (a ">" bound when pnp is
more accurate than the peer's most accurate run), over pnp's wall time.
Peers not installed are skipped with a line saying so (scikit-sundae and
DEVSIM are not dependencies of pnp). Writes ``benchmarks/out/transient_peers.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MKL_NUM_THREADS", "1")  # DEVSIM's PARDISO on one thread, as pnp
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ida_peer as ip

ROOT = Path(__file__).resolve().parents[1]
CASE_RTOL = 1e-6
COARSE = {"mesh.adapt": False, "mesh.cells_per_debye": 1.0, "mesh.max_cell": 1e-6}
RTOLS = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8]


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def at_error(rows, target):
    """A solver's wall time at error ``target``: log-log along its sweep.
    (wall, bound): bound is ">" when every run is less accurate than target
    (the most accurate run's wall), "<" when every run is more accurate."""
    pts = sorted((r["error"], r["wall_s"]) for r in rows if "wall_s" in r)
    if not pts:
        return None, "none"
    if target < pts[0][0]:
        return pts[0][1], ">"
    if target >= pts[-1][0]:
        return min(w for _, w in pts), "<"
    for (e0, w0), (e1, w1) in itertools.pairwise(pts):
        if e0 <= target <= e1:
            f = np.log(target / e0) / np.log(e1 / e0) if e1 > e0 else 0.0
            return float(np.exp(np.log(w0) + f * np.log(w1 / w0))), "="
    return None, "none"


def headline(rows, peer):
    """pnp's run at CASE_RTOL and the peer's interpolated wall time at its error."""
    mine = next(r for r in rows if r["solver"] == "pnp" and r["rtol"] == CASE_RTOL)
    wall, bound = at_error([r for r in rows if r["solver"] == peer], mine["error"])
    return {
        "peer": peer,
        "pnp_rtol": CASE_RTOL,
        "pnp_error": mine["error"],
        "pnp_wall_s": mine["wall_s"],
        "peer_wall_s": wall,
        "bound": bound,
        "ratio": None if wall is None else wall / mine["wall_s"],
    }


def dae_case(name, segment, solvers, rtols, args, overrides=None, label=None):
    """pnp against IDA (and scipy) on one stretch of a case: rows + headlines."""
    stretch = ip.Stretch(name, segment, args.ref_rtol, overrides=overrides)
    model = stretch.model
    label = label or (name if not segment else f"{name} (stretch {segment})")
    print(f"\n{label}: N = {model.n_cells}, unknowns = {model.n_unknowns}, "
          f"t = {stretch.t0:.3g} .. {stretch.t1:.3g} s, {len(stretch.times)} outputs", flush=True)  # fmt: skip
    dae = ip.DAE(model, stretch.x0)
    xp0 = dae.consistent_rates(stretch.x0)
    t = time.perf_counter()
    ref_states, ref_stats = ip.pnp_run(
        model, stretch.x0, stretch.t0, stretch.times, args.ref_rtol, stretch.atol, stretch.before
    )
    ref_wall = time.perf_counter() - t
    ref = (ref_states, np.array([ip.membrane_potential(model, x) for x in ref_states]))
    rows = []
    for solver in solvers:
        for rtol in rtols[solver]:
            # scipy against a time budget: one run (the kernels are compiled by then)
            budgeted = solver == "scipy" and np.isfinite(args.scipy_budget)
            repeat = 0 if budgeted else args.repeat
            r = ip.measure(solver, rtol, stretch, dae, xp0, ref, repeat, args.scipy_budget)
            if "failed" not in r:
                r["error"] = r["vm_error_V"]
            rows.append(r)
            print(ip.table([r]).splitlines()[-1], flush=True)
    out = {
        "label": label,
        "case": name,
        "segment": segment,
        "overrides": overrides or {},
        "cells": model.n_cells,
        "unknowns": model.n_unknowns,
        "outputs": len(stretch.times),
        "reference": {"rtol": args.ref_rtol, "wall_s": ref_wall, **ref_stats},
        "rows": rows,
    }
    out["headlines"] = [headline(rows, p) for p in solvers if p != "pnp"]
    return out


def devsim_case(args):
    """pnp against DEVSIM's TR-BDF2 on diffuse_charge's charging (stretch 1)."""
    import devsim_transient as dt

    from pnp.results.observables import observe

    stretch = ip.Stretch("diffuse_charge", 1, args.ref_rtol)
    model, times = stretch.model, stretch.times

    def charges(m, states):
        return np.array([observe(m, x)["surface_charge_left"] for x in states])

    def pnp_charges(rtol, m=model, st=stretch):
        states, stats = ip.pnp_run(m, st.x0, st.t0, st.times, rtol, st.atol, st.before)
        return charges(m, states), stats

    q_ref, _ = pnp_charges(args.ref_rtol)
    fine = ip.Stretch("diffuse_charge", 1, args.ref_rtol, split=4)
    q_fine, _ = pnp_charges(args.ref_rtol, fine.model, fine)
    scale = abs(q_fine[-1])
    print(f"\ndiffuse_charge (stretch 1): N = {model.n_cells} cells, DEVSIM on its "
          f"{model.n_cells + 1} faces; {len(times)} outputs", flush=True)  # fmt: skip
    rows = []
    for rtol in RTOLS:
        (q, stats), wall = ip.timed(lambda r=rtol: pnp_charges(r), args.repeat)
        err = float(np.max(np.abs(q - q_ref)) / scale)
        rows.append({"solver": "pnp", "rtol": rtol, "wall_s": wall, "error": err, **stats})
        print(f"pnp    rtol {rtol:7.0e} {stats['steps']:6d} steps  {wall:8.3f} s  {err:9.2e}")
    dev = dt.Charging(model.mesh.faces, 10.0, 80.0, 298.15, 1e-9, 1e-3)
    runs = {}
    for n in args.devsim_steps:
        q, stats, wall = dev.run(stretch.t0, times, n)  # warm-up (and the only run if long)
        for _ in range(args.repeat if wall < 2.0 else 0):
            wall = min(wall, dev.run(stretch.t0, times, n)[2])
        runs[n] = (q, stats, wall)
    n1, n2 = args.devsim_steps[-2:]
    q_dev_ref = runs[n2][0] + (runs[n2][0] - runs[n1][0]) / ((n2 / n1) ** 2 - 1.0)
    for n, (q, stats, wall) in runs.items():
        err = float(np.max(np.abs(q - q_dev_ref)) / scale)
        rows.append({"solver": "devsim", "steps_per_output": n, "wall_s": wall, "error": err,
                     **stats})  # fmt: skip
        print(f"devsim n = {n:5d} {stats['steps']:6d} steps  {wall:8.3f} s  {err:9.2e}", flush=True)
    spatial = {
        "pnp": float(np.max(np.abs(q_ref - q_fine)) / scale),
        "devsim": float(np.max(np.abs(q_dev_ref - q_fine)) / scale),
    }
    print(f"spatial error at this resolution (against cells cut in 4): pnp "
          f"{spatial['pnp']:.2e}, DEVSIM {spatial['devsim']:.2e}")  # fmt: skip
    return {
        "label": "diffuse_charge (stretch 1)",
        "cells": model.n_cells,
        "devsim_nodes": model.n_cells + 1,
        "outputs": len(times),
        "devsim": {"version": dev.version, "solver": dev.solver, "reference_from": [n1, n2]},
        "spatial_error": spatial,
        "rows": rows,
        "headlines": [headline(rows, "devsim")],
    }


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ref-rtol", type=float, default=1e-10)
    ap.add_argument("--skip", nargs="*", default=[], choices=["ida", "scipy", "devsim", "ischemia"])
    ap.add_argument("--scipy-budget", type=float, default=60.0, help="seconds on the full mesh")
    ap.add_argument("--devsim-steps", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "out" / "transient_peers.json"
    )
    return ap.parse_args(argv)


def summary(sections) -> str:
    lines = ["", "At pnp's error at rtol 1e-6 (peer's wall time interpolated log-log):"]
    for sec in sections:
        for h in sec["headlines"]:
            if h["peer_wall_s"] is None:
                failed = [r["failed"] for r in sec["rows"] if r["solver"] == h["peer"]]
                what = failed[0] if failed else "no run"
                lines.append(f"  {sec['label']:34s} {h['peer']:6s} {what}")
                continue
            lines.append(
                f"  {sec['label']:34s} {h['peer']:6s} error {h['pnp_error']:.2e}: pnp "
                f"{h['pnp_wall_s']:.3f} s, {h['peer']} {h['bound'].replace('=', '')}"
                f"{h['peer_wall_s']:.3f} s -> pnp {h['ratio']:.1f}x faster"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse(argv)
    have_ida, have_devsim = installed("sksundae"), installed("devsim")
    if not have_ida and not have_devsim:
        print("transient peers skipped: neither scikit-sundae nor devsim is installed "
              "(pip install scikit-sundae devsim mkl)")  # fmt: skip
        return 0
    skip = set(args.skip) | ({"ida"} if not have_ida else set())
    skip |= {"devsim"} if not have_devsim else set()
    for what, ok in (("scikit-sundae", have_ida), ("devsim", have_devsim)):
        if not ok:
            print(f"{what} is not installed: its comparison skipped")
    ida = [] if "ida" in skip else ["ida"]
    scipy = [] if "scipy" in skip else ["scipy"]
    rtols = {"pnp": RTOLS, "ida": RTOLS, "scipy": [RTOLS[0]]}
    sections = []
    if ida or scipy:
        sections.append(dae_case("donnan_approach", 0, ["pnp", *ida, *scipy], rtols, args))
    if ida and "ischemia" not in skip:
        sections.append(dae_case("ischemia", 1, ["pnp", "ida"], rtols, args))
    if scipy:
        coarse = {"pnp": RTOLS, "ida": RTOLS, "scipy": [1e-4, 1e-6, 1e-8, 1e-10]}
        args_coarse = argparse.Namespace(**{**vars(args), "scipy_budget": np.inf})
        label = "donnan_approach, coarse (90 cells)"
        sections.append(
            dae_case(
                "donnan_approach", 0, ["pnp", *ida, "scipy"], coarse, args_coarse, COARSE, label
            )
        )
    if "devsim" not in skip:
        sections.append(devsim_case(args))
    text = summary(sections)
    print(text)
    out = {
        "repeat": args.repeat,
        "case_rtol": CASE_RTOL,
        "sections": sections,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if have_ida:
        import sksundae

        out["scikit_sundae"] = sksundae.__version__
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
