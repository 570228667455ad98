"""SUNDIALS IDA (scikit-sundae) and scipy's BDF beside pnp's stepper on one semi-discrete problem.

The formulation and the runs that ``benchmarks/transient_peers.py`` (the
command behind the README's table) uses; run alone it prints the sweep of
one stretch of one case. Is IDA, driving pnp's compiled residual and banded
Jacobian, faster at equal accuracy than pnp's stepper?

The semi-discrete system (the same mesh and model for every solver): the
unknowns x of ``pnp.discretisation.layout.StateLayout`` (S concentrations and
the scaled potential per cell), and the index-1 DAE

    F(t, x, x') = 0:  species rows  V_k c'_ik + F_i,k+1 - F_i,k - s_ik = 0
                      Gauss rows    P_k+1 - P_k - V_k (sum_i z_i c_ik + rho_k) = 0

The kernel's residual is V (alpha c - beta) + spatial terms; with
alpha = 0 and beta = -c' it is F(t, x, x'), and its band Jacobian is dF/dx.
dF/dx' is diag(V_k) on the species rows, 0 on the (algebraic) Gauss rows,
so IDA's iteration matrix is dF/dx + cj diag(V). Every species keeps its own
balance here (``System(model, continuity=False)``): pnp's stepper writes the
current-continuity row in place of species 0's balance, which is the same
system in exact arithmetic (docs/numerics.md, "Transient time stepping").
Every row is scaled by a constant, its largest entry of dF/dx at the start,
because IDA's band LU pivots without the row equilibration pnp's Newton
applies before every factorization; a constant row scaling changes neither
the solution nor IDA's convergence and error tests (both measure x). The
scaling must be constant: IDA solves with the residual of the current
iterate before it refreshes a stale Jacobian, so a scale chosen at each
Jacobian evaluation would make those two disagree.

Solvers:

- pnp: ``pnp.solvers.bdf.BDF`` with its defaults (variable order 1-5,
  modified Newton) stepped to every output time, as ``pnp.run`` does,
  without the files (run.rtol swept; run.atol as the case has it).
- IDA: ``sksundae.ida.IDA`` with ``linsolver="band"`` (SUNDIALS' band LU),
  lband/uband = pnp's ``Model.bandwidths``, the Jacobian above through
  ``jacfn``; rtol swept, atol per unknown as pnp weighs them (concentrations:
  run.atol; potentials: max(rtol, 1e-7) V_T). Outputs are IDA's
  interpolants at the output times (IDA_NORMAL, stop time t_end).
- scipy ``solve_ivp(method="BDF")`` with Poisson eliminated (``--scipy``):
  Gauss's law is algebraic, so it is solved for the potentials (linear at
  fixed c: one tridiagonal solve) at every right-hand-side evaluation, and
  the ODE in the concentrations alone is integrated, with its analytic
  Jacobian -(1/V)(A_cc - A_cpsi G_psi^-1 G_c) from the kernel's band
  (dense: the potential couples every cell; scipy factorizes it densely).
  On donnan_approach's transient mesh (1044 concentrations) that is slow:
  ``scipy_run`` takes a time budget and reports how far it got.

Every solver starts from the same consistent state (``consistent_start``:
the contents with Gauss's law solved). The reference is pnp at rtol = 1e-10
(``--ref-rtol``); errors: the largest |V_m - V_m,ref| over the output times,
and the largest relative concentration error of the final state,
|c - c_ref| / (|c_ref| + 1e-6 mol/m^3). Wall times are warm (numba compiled
and every callable run once first), the minimum of ``--repeat`` runs.

    python benchmarks/ida_peer.py
    python benchmarks/ida_peer.py --case ischemia --segment 1

A case with ``[[protocol]]`` changes is integrated over one stretch between
changes (``--segment``: 0 from t = 0 to the first change, 1 from there to
the next or t_end, ...), from the state that stretch starts from in the
reference run, with the case's values of that stretch (pnp restarts there
from the model of the stretch before, as ``pnp.run`` does). Writes
``benchmarks/out/ida_peer.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import solve_banded

import pnp
from pnp.discretisation.mesh import build_mesh, mesh_from_faces
from pnp.discretisation.model import build_model
from pnp.results.observables import observe
from pnp.simulation.adaptive import adaptive_case, transient_mesh
from pnp.simulation.loop import output_times
from pnp.solvers.bdf import BDF, consistent_start, initial_step
from pnp.solvers.newton import PSI_FLOOR_STEP, System

ROOT = Path(__file__).resolve().parents[1]
C_FLOOR = 1e-6  # mol/m^3: floor of the relative concentration error's denominator


# ----------------------------------------------------------------------------
# The problem: one stretch of a case on one mesh
# ----------------------------------------------------------------------------


class Stretch:
    """The model, start state and output times of one stretch of a case."""

    def __init__(self, case_name, segment, ref_rtol, split=1, overrides=None):
        case = pnp.load_case(ROOT / "cases" / f"{case_name}.toml")
        if overrides:  # e.g. a coarser fixed mesh: {"mesh.adapt": False, ...}
            case = case.with_overrides(overrides)
        mesh = transient_mesh(case) if adaptive_case(case) else build_mesh(case)
        if split > 1:  # every cell of that mesh cut into ``split`` equal ones
            mesh = split_mesh(mesh, split)
        self.mesh = mesh
        self.name, self.segment = case_name, segment
        t_end = case.run.t_end
        changes = sorted({p.at for p in case.protocols if 0.0 < p.at <= t_end})
        bounds = [0.0, *changes, t_end]
        if not 0 <= segment < len(bounds) - 1:
            raise SystemExit(
                f"{case_name} has {len(bounds) - 1} stretch(es); no --segment {segment}"
            )
        self.t0, self.t1 = bounds[segment], bounds[segment + 1]
        self.rtol_case, self.atol = case.run.rtol, case.run.atol
        first = build_model(case, mesh)
        x = consistent_start(first, first.x0)
        times = output_times(case, initial_step(first))
        # the start of a later stretch: the earlier ones run at ref_rtol by pnp
        self.before = None  # the model of the stretch before (pnp restarts from it)
        for k in range(segment):
            model = build_model(case.at_time(bounds[k]) if k else case, mesh)
            x, _ = pnp_run(model, x, bounds[k], [bounds[k + 1]], ref_rtol, self.atol, self.before)
            x, self.before = x[-1], model
        self.model = build_model(case.at_time(self.t0) if segment else case, mesh)
        self.x0 = x
        self.times = [t for t in times if self.t0 < t < self.t1] + [self.t1]


def split_mesh(mesh, k: int):
    """``mesh`` with every cell cut into ``k`` equal cells."""
    parts = mesh.faces[:-1, None] + mesh.widths[:, None] * (np.arange(k) / k)[None, :]
    faces = np.append(parts.ravel(), mesh.faces[-1])
    return mesh_from_faces(faces, np.repeat(mesh.region, k), mesh.region_names, mesh.geometry)


def membrane_potential(model, x) -> float:
    return observe(model, x)["membrane_potential"]


# ----------------------------------------------------------------------------
# pnp's own stepper
# ----------------------------------------------------------------------------


def pnp_run(model, x0, t0, times, rtol, atol, before=None):
    """pnp's stepper from (t0, x0) to every time in ``times``: (states, stats).

    ``before``: the model x0 was reached with, at a protocol change; the
    stepper starts with it and restarts with ``model``, as ``pnp.run`` does
    (x0 keeps its displacements: a boundary potential that jumps moves the
    charge on its face in the first step)."""
    stepper = BDF(model if before is None else before, x0, t0, rtol=rtol, atol=atol)
    if before is not None:
        stepper.restart(model)
    states = []
    for target in times:
        while stepper.t != target:
            ok, message = stepper.step(target)
            if not ok:
                raise RuntimeError(f"pnp BDF failed: {message}")
        states.append(stepper.x.copy())
    s = stepper.stats
    return states, {
        "steps": s.steps,
        "rejected": s.rejected_steps,
        "residual_evals": s.newton_iterations,
        "jacobian_evals": s.newton_iterations,
        "factorizations": s.factorizations,
    }


# ----------------------------------------------------------------------------
# IDA: pnp's residual and band Jacobian as F(t, x, x') and dF/dx + cj dF/dx'
# ----------------------------------------------------------------------------


class DAE:
    """Residual and iteration matrix of the semi-discrete system for IDA."""

    def __init__(self, model, x0):
        self.model = model
        self.system = System(model, continuity=False)
        lay = model.layout
        S, N = model.n_species, model.n_cells
        self.shape = (S, N)
        self.zero_c = np.zeros(self.shape, order="F")
        self.beta_c = np.zeros(self.shape, order="F")
        self.beta_d = np.zeros(N + 1)
        n = model.n_unknowns
        self.kl, self.ku = model.bandwidths
        self.species_rows = np.concatenate([lay.conc_at(np.arange(N), i) for i in range(S)])
        self.psi_rows = np.setdiff1d(np.arange(n), self.species_rows)
        # dF/dx' : V_k on the species rows (and columns)
        self.mass = np.zeros(n)
        self.mass[self.species_rows] = model.volume[np.tile(np.arange(N), S)]
        # every in-band entry of the n x n matrix: (row, col) and its place in ab
        rows, cols = [], []
        for shift in range(-self.ku, self.kl + 1):  # row = col + shift
            c = np.arange(max(0, -shift), min(n, n - shift))
            rows.append(c + shift)
            cols.append(c)
        self.rows, self.cols = np.concatenate(rows), np.concatenate(cols)
        self.band_rows = self.kl + self.ku + self.rows - self.cols
        # constant row scaling: every row by its largest entry of dF/dx at the
        # start (a row with none, an immobile species: by 1/V)
        self.system.assemble(x0, self.zero_c, 0.0, self.zero_c, self.beta_d)
        big = np.zeros(n)
        np.maximum.at(big, self.rows, np.abs(self.system.ab[self.band_rows, self.cols]))
        self.scale = 1.0 / np.where(big > 0, big, 1.0)
        empty = (big == 0) & (self.mass > 0)
        self.scale[empty] = 1.0 / self.mass[empty]
        self.row_scale = self.scale[self.rows]
        self.mass_scaled = self.mass * self.scale
        self.counts = {"res": 0, "jac": 0}

    def _beta(self, yp):
        _, cdot = self.model.layout.split(yp)
        np.negative(cdot, out=self.beta_c)
        return self.beta_c

    def resfn(self, t, y, yp, res):
        self.counts["res"] += 1
        r = self.system.assemble(y, self.zero_c, 0.0, self._beta(yp), self.beta_d, jacobian=False)
        np.multiply(r, self.scale, out=res)

    def jacfn(self, t, y, yp, res, cj, JJ):
        self.counts["jac"] += 1
        self.system.assemble(y, self.zero_c, 0.0, self._beta(yp), self.beta_d)
        values = self.system.ab[self.band_rows, self.cols] * self.row_scale
        JJ[self.rows, self.cols] = values
        diag = np.arange(JJ.shape[0])
        JJ[diag, diag] += cj * self.mass_scaled

    def consistent_rates(self, x):
        """x' with F(t0, x, x') = 0 and the time derivative of Gauss's law held:
        species rows V c' = -F(x, 0); Gauss rows (dF/dx) x' = 0."""
        n = x.size
        f = self.system.assemble(x, self.zero_c, 0.0, self.zero_c, self.beta_d).copy()
        kl, ku = self.kl, self.ku
        ab = self.system.ab[kl:].copy()  # (kl + ku + 1, n): solve_banded's storage
        is_species = np.zeros(n, dtype=bool)
        is_species[self.species_rows] = True
        row_of = np.arange(n)[None, :] + np.arange(-ku, kl + 1)[:, None]
        inside = (row_of >= 0) & (row_of < n)
        species_entry = inside & is_species[np.clip(row_of, 0, n - 1)]
        ab[species_entry] = 0.0
        ab[ku, self.species_rows] = self.mass[self.species_rows]
        rhs = np.where(is_species, -f, 0.0)
        return solve_banded((kl, ku), ab, rhs)


def ida_atol(model, rtol, atol):
    """Absolute tolerance per unknown as pnp weighs them (potentials in V_T)."""
    tol = np.full(model.n_unknowns, atol)
    tol[model.potential_index()] = max(rtol, PSI_FLOOR_STEP)
    tol[model.layout.boundary] = max(rtol, PSI_FLOOR_STEP)
    return tol


def ida_solver(dae, rtol, atol, first_step):
    from sksundae.ida import IDA

    return IDA(
        dae.resfn,
        jacfn=dae.jacfn,
        linsolver="band",
        lband=dae.kl,
        uband=dae.ku,
        rtol=rtol,
        atol=ida_atol(dae.model, rtol, atol),
        algebraic_idx=dae.psi_rows,
        max_num_steps=1_000_000,
        first_step=first_step,
    )


def ida_run(dae, x0, xp0, t0, times, rtol, atol, count_steps=False):
    """IDA from (t0, x0, xp0): (states at ``times``, stats)."""
    dae.counts = {"res": 0, "jac": 0}
    # the first step pnp takes (1/100 of the shortest cell diffusion time)
    solver = ida_solver(dae, rtol, atol, initial_step(dae.model))
    tspan = np.array([t0, *times]) if not count_steps else np.array([t0, times[-1]])
    sol = solver.solve(tspan, x0, xp0)
    if not sol.success:
        raise RuntimeError(f"IDA failed at t = {sol.t[-1]:.4g} s: {sol.message}")
    stats = {"residual_evals": int(sol.nfev), "jacobian_evals": int(sol.njev)}
    stats["factorizations"] = stats["jacobian_evals"]  # direct solver: one LU per setup
    if count_steps:
        stats["steps"] = len(sol.t) - 1
        return [sol.y[-1]], stats
    return list(sol.y[1:]), stats


# ----------------------------------------------------------------------------
# scipy solve_ivp(BDF) on the concentrations, Poisson eliminated
# ----------------------------------------------------------------------------


class Reduced:
    """dc/dt = f(c) with the potentials solved from Gauss's law (linear in psi)."""

    def __init__(self, dae: DAE, x0):
        if dae.model.layout.n_boundary or dae.model.layout.n_trailing:
            raise SystemExit("--scipy: a floating reservoir's potential is not eliminated here")
        self.dae = dae
        self.conc = np.sort(dae.species_rows)
        self.psi = dae.psi_rows
        self.x = x0.copy()
        self.volume = dae.mass[self.conc]
        sysm = dae.system
        sysm.assemble(x0, dae.zero_c, 0.0, dae.zero_c, dae.beta_d)
        dense = self._dense()
        # Gauss's law in the potentials: tridiagonal and constant (linear problem)
        g = dense[np.ix_(self.psi, self.psi)]
        self.gband = np.zeros((3, self.psi.size))
        for shift in (-1, 0, 1):
            d = np.diagonal(g, shift)
            if shift >= 0:
                self.gband[1 - shift, shift:] = d
            else:
                self.gband[1 - shift, :shift] = d
        self.g_psi = g
        self.nfev = 0
        self.njev = 0
        self.deadline = np.inf  # perf_counter time after which ``fun`` gives up
        self.t_reached = np.nan

    def _dense(self):
        d = self.dae
        n = d.model.n_unknowns
        dense = np.zeros((n, n))
        dense[d.rows, d.cols] = d.system.ab[d.band_rows, d.cols]
        return dense

    def _state(self, c):
        d = self.dae
        x = self.x
        x[self.conc] = c
        r = d.system.assemble(x, d.zero_c, 0.0, d.zero_c, d.beta_d, jacobian=False)
        x[self.psi] -= solve_banded((1, 1), self.gband, r[self.psi])
        return x

    def fun(self, t, c):
        self.nfev += 1
        self.t_reached = t
        if time.perf_counter() > self.deadline:
            raise TimeoutError
        d = self.dae
        x = self._state(c)
        r = d.system.assemble(x, d.zero_c, 0.0, d.zero_c, d.beta_d, jacobian=False)
        return -r[self.conc] / self.volume

    def jac(self, t, c):
        """-(1/V) (A_cc - A_cpsi G_psi^-1 G_c): dense, every cell couples through psi."""
        self.njev += 1
        d = self.dae
        x = self._state(c)
        d.system.assemble(x, d.zero_c, 0.0, d.zero_c, d.beta_d)
        dense = self._dense()
        coupling = np.linalg.solve(self.g_psi, dense[np.ix_(self.psi, self.conc)])
        full = dense[np.ix_(self.conc, self.conc)] - dense[np.ix_(self.conc, self.psi)] @ coupling
        return -full / self.volume[:, None]

    def full_state(self, c):
        return self._state(c).copy()


def scipy_run(dae, x0, t0, times, rtol, atol, budget=np.inf):
    """scipy's BDF on the reduced ODE; RuntimeError when it fails or has not
    finished within ``budget`` seconds (saying how far it got)."""
    from scipy.integrate import solve_ivp

    red = Reduced(dae, x0)
    red.deadline = time.perf_counter() + budget
    try:
        sol = solve_ivp(
            red.fun,
            (t0, times[-1]),
            x0[red.conc],
            method="BDF",
            t_eval=times,
            rtol=rtol,
            atol=atol,
            jac=red.jac,
            first_step=initial_step(dae.model),
        )
    except TimeoutError:
        raise RuntimeError(
            f"did not finish in {budget:g} s (reached t = {red.t_reached:.3g} s "
            f"of {times[-1]:.3g} s)"
        ) from None
    if not sol.success:
        raise RuntimeError(f"scipy BDF failed: {sol.message}")
    states = [red.full_state(c) for c in sol.y.T]
    return states, {
        "steps": None,  # solve_ivp does not report its step count
        "residual_evals": int(sol.nfev),
        "jacobian_evals": int(sol.njev),
        "factorizations": int(sol.nlu),
    }


# ----------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------


def errors(model, states, ref_states, ref_vm):
    vm = np.array([membrane_potential(model, x) for x in states])
    lay = model.layout
    _, c = lay.split(states[-1])
    _, cref = lay.split(ref_states[-1])
    psi, psi_ref = states[-1][lay.potential], ref_states[-1][lay.potential]
    return {
        "vm_error_V": float(np.max(np.abs(vm - ref_vm))),
        "c_error_rel": float(np.max(np.abs(c - cref) / (np.abs(cref) + C_FLOOR))),
        "psi_error_VT": float(np.max(np.abs(psi - psi_ref))),
    }


def timed(run, repeat):
    """(result of the last run, min wall time of ``repeat`` runs) after one warm-up."""
    t = time.perf_counter()
    result = run()
    best = time.perf_counter() - t if repeat == 0 else np.inf  # no repeat: the first run
    for _ in range(repeat):
        t = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t)
    return result, best


def measure(solver, rtol, stretch, dae, xp0, ref, repeat, budget=np.inf):
    m, x0, t0, times, atol = stretch.model, stretch.x0, stretch.t0, stretch.times, stretch.atol
    if solver == "pnp":
        run = lambda: pnp_run(m, x0, t0, times, rtol, atol, stretch.before)  # noqa: E731
    elif solver == "ida":
        run = lambda: ida_run(dae, x0, xp0, t0, times, rtol, atol)  # noqa: E731
    else:
        run = lambda: scipy_run(dae, x0, t0, times, rtol, atol, budget)  # noqa: E731
    try:
        (states, stats), wall = timed(run, repeat)
    except RuntimeError as exc:
        return {"solver": solver, "rtol": rtol, "failed": str(exc)}
    if solver == "ida":  # the step count, from a run that returns every step
        _, counted = ida_run(dae, x0, xp0, t0, times, rtol, atol, count_steps=True)
        stats["steps"] = counted["steps"]
        stats["same_work_when_counted"] = counted["residual_evals"] == stats["residual_evals"]
    return {"solver": solver, "rtol": rtol, "wall_s": wall, **stats, **errors(m, states, *ref)}


def table(rows) -> str:
    head = (
        f"{'solver':<6} {'rtol':>7} {'steps':>6} {'res':>7} {'jac':>6} {'LU':>6} "
        f"{'wall s':>8} {'|dVm| V':>9} {'c rel':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "failed" in r:
            lines.append(f"{r['solver']:<6} {r['rtol']:>7.0e}  failed: {r['failed']}")
            continue
        steps = "-" if r.get("steps") is None else str(r["steps"])
        lines.append(
            f"{r['solver']:<6} {r['rtol']:>7.0e} {steps:>6} {r['residual_evals']:>7} "
            f"{r['jacobian_evals']:>6} {r['factorizations']:>6} {r['wall_s']:>8.3f} "
            f"{r['vm_error_V']:>9.2e} {r['c_error_rel']:>9.2e}"
        )
    return "\n".join(lines)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", default="donnan_approach")
    ap.add_argument("--segment", type=int, default=0)
    ap.add_argument("--rtols", type=float, nargs="+", default=[1e-4, 1e-5, 1e-6, 1e-7, 1e-8])
    ap.add_argument("--ida-rtols", type=float, nargs="+", default=None)
    ap.add_argument("--scipy", type=float, nargs="*", default=None, help="rtols for scipy BDF")
    ap.add_argument("--ref-rtol", type=float, default=1e-10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "ida_peer.json"))
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    try:
        import sksundae
    except ImportError:
        print("scikit-sundae is not installed: IDA benchmark skipped (pip install scikit-sundae)")
        return 0
    stretch = Stretch(args.case, args.segment, args.ref_rtol)
    model = stretch.model
    print(
        f"{args.case} stretch {args.segment}: t = {stretch.t0:.4g} .. {stretch.t1:.4g} s, "
        f"{len(stretch.times)} outputs, N = {model.n_cells}, unknowns = {model.n_unknowns}, "
        f"kl/ku = {model.bandwidths}, scikit-sundae {sksundae.__version__}",
        flush=True,
    )
    dae = DAE(model, stretch.x0)
    xp0 = dae.consistent_rates(stretch.x0)
    t = time.perf_counter()
    ref_states, ref_stats = pnp_run(
        model, stretch.x0, stretch.t0, stretch.times, args.ref_rtol, stretch.atol, stretch.before
    )
    ref_wall = time.perf_counter() - t
    ref_vm = np.array([membrane_potential(model, x) for x in ref_states])
    ref = (ref_states, ref_vm)
    print(f"reference: pnp rtol {args.ref_rtol:g}, {ref_stats['steps']} steps, {ref_wall:.1f} s")
    rows = []
    plan = [("pnp", r) for r in args.rtols]
    plan += [("ida", r) for r in (args.ida_rtols or args.rtols)]
    plan += [("scipy", r) for r in (args.scipy or [])]
    for solver, rtol in plan:
        rows.append(measure(solver, rtol, stretch, dae, xp0, ref, args.repeat))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    # cross-check: IDA at the reference tolerance against the pnp reference
    check = measure("ida", args.ref_rtol, stretch, dae, xp0, ref, 0)
    print("\n" + table(rows))
    print(f"\nIDA at rtol {args.ref_rtol:g} against the pnp reference:\n{table([check])}")
    out = {
        "case": args.case,
        "segment": args.segment,
        "t0": stretch.t0,
        "t_end": stretch.t1,
        "outputs": len(stretch.times),
        "cells": model.n_cells,
        "unknowns": model.n_unknowns,
        "bandwidths": list(model.bandwidths),
        "atol": stretch.atol,
        "reference": {"solver": "pnp", "rtol": args.ref_rtol, "wall_s": ref_wall, **ref_stats},
        "ida_at_reference_rtol": check,
        "rows": rows,
        "repeat": args.repeat,
        "scikit_sundae": sksundae.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
