"""Collect the benchmark JSON files into benchmarks/performance.md (the README's table).

    python benchmarks/newton_scaling.py && python benchmarks/cases.py && \\
    python benchmarks/startup.py && python benchmarks/sweep_scaling.py && \\
    python benchmarks/memory.py && python benchmarks/action_potentials.py && \\
    python benchmarks/transient_speed.py && python benchmarks/step_overhead.py && \\
    python benchmarks/transient_peers.py && \\
    python benchmarks/peers.py && python benchmarks/make_table.py && python scripts/update_readme.py

Nothing here is typed by hand: every figure comes from benchmarks/out/*.json.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"


def _load(name):
    path = OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def _vm_error(row: dict) -> str:
    """A case's |V_m - closed form| in mV, or a dash when it has none."""
    return "–" if row.get("vm_error_v") is None else f"{row['vm_error_v'] * 1e3:.1e} mV"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    lines = [
        f"Measured on: {machine()}. Regenerate with the commands in "
        "`benchmarks/make_table.py`; warm runs (after a warm-up), JIT compile reported apart; "
        "a figure over repeated runs is their median unless it says minimum (used where the "
        "machine may be shared: other work only adds time).",
        "",
    ]
    ns = _load("newton_scaling.json")
    if ns:
        lines += [
            "**Time per Newton iteration** (assembly + banded LU solve) against the bare LAPACK "
            "`dgbsv` of the same Jacobian (`benchmarks/newton_scaling.py`):",
            "",
            "| cells | species | unknowns | iteration [ms] | assembly [ms] | bare LU [ms] | ratio |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in ns["rows"]:
            lines.append(
                f"| {r['cells']:,} | {r['species']} | {r['unknowns']:,} | "
                f"{r['newton_iteration_s'] * 1e3:.3g} | {r['assembly_s'] * 1e3:.3g} | "
                f"{r['banded_lu_floor_s'] * 1e3:.3g} | {r['ratio_to_floor']:.2f} |"
            )
        fits = ", ".join(f"S={s}: N^{v:.2f}" for s, v in ns["scaling_exponent"].items())
        lines += [
            "",
            f"Fitted scaling of the iteration time: {fits}. JIT compile (or cache load) "
            f"of the kernels: {ns['compile_s']:.2f} s.",
            "",
        ]
    cases = _load("cases.json")
    if cases:
        steady = [r for r in cases["rows"] if r["mode"] == "steady"]
        transient = [r for r in cases["rows"] if r["mode"] != "steady"]
        if steady:
            goal = cases.get("goal_steady_s", 0.010)
            met = sum(r["wall_time_s"] < goal for r in steady)
            lines += [
                "**Shipped steady cases** (`benchmarks/cases.py`; warm, minimum of repeated runs): "
                "`pnp.run(case)` adapts the mesh (cells: the graded start → the final mesh; a cycle "
                "solves a mesh and its halved copy), beside a fixed mesh of the same final size: "
                "`pnp.run(case, mesh=result.mesh(), adapt_mesh=False)` (that mesh, its copy merged in pairs "
                "for the error estimate, the polish) and the bare `solve_steady(build_model(case, "
                "mesh))` (one solve, no estimate).",
                "",
                "| case | cells | mesh cycles | Newton its | adaptive [ms] | fixed mesh [ms] | "
                "fixed, no estimate [ms] | adaptive / no estimate | peak mem [MB] | "
                "abs(V_m − closed form) |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in steady:
                err = _vm_error(r)
                lines.append(
                    f"| {r['case']} | {r['start_cells']} → {r['cells']} | {r['mesh_cycles']} | "
                    f"{r['newton_iterations']} | {r['wall_time_s'] * 1e3:.3g} | "
                    f"{r['fixed_wall_time_s'] * 1e3:.3g} | {r['bare_wall_time_s'] * 1e3:.3g} | "
                    f"{r['wall_time_s'] / r['bare_wall_time_s']:.1f} | "
                    f"{r['peak_memory_mb']:.2f} | {err} |"
                )
            lines += [
                "",
                f"{met} of {len(steady)} steady cases under {goal * 1e3:g} ms warm.",
                "",
            ]
        if transient:
            lines += [
                "**Shipped transient cases** (`benchmarks/cases.py`; warm, minimum of repeated "
                "runs): each runs on the adapted meshes of its initial and protocol steady states "
                "merged; the time that mesh takes is part of the run's.",
                "",
                "| case | cells | steps | Newton its | wall [ms] | of which mesh [ms] | "
                "peak mem [MB] | abs(V_m − closed form) |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in transient:
                err = _vm_error(r)
                lines.append(
                    f"| {r['case']} | {r['cells']} | {r['steps']} | {r['newton_iterations']} | "
                    f"{r['wall_time_s'] * 1e3:.3g} | {r['mesh_wall_time_s'] * 1e3:.3g} | "
                    f"{r['peak_memory_mb']:.2f} | {err} |"
                )
            lines.append("")
    st = _load("startup.json")
    if st:
        lines += [
            "**Start-up** (`benchmarks/startup.py`, separate processes): "
            f"`import pnp` {st['import_pnp_s']:.2f} s, `pnp --help` {st['pnp_help_s']:.2f} s, "
            f"`pnp check` {st['pnp_check_s']:.2f} s (compiles nothing), `pnp run cases/nernst_k.toml` "
            f"{st['run_cached_s']:.2f} s cached and {st['run_cold_s']:.2f} s cold (empty numba "
            f"cache); bare `python -c pass` {st['python_startup_s']:.2f} s.",
            "",
        ]
    mem = _load("memory.json")
    if mem:
        lines += [
            f"**Memory** (`benchmarks/memory.py`): a steady solve with {mem['cells']:,} cells and "
            f"{mem['species']} species peaks at {mem['peak_rss_mib']:.0f} MiB resident (of which "
            f"{mem['baseline_mib']:.0f} MiB interpreter and libraries, {mem['band_storage_mib']:.0f} MiB "
            f"LAPACK's band storage of the Jacobian)"
            + (
                f"; `pnp.run` on this fixed mesh also solves a copy with its cells merged in "
                f"pairs ({mem['merged_cells']:,} cells, band storage "
                f"{mem['band_storage_merged_mib']:.0f} MiB) for the error estimate"
                if "merged_cells" in mem
                else ""
            )
            + f"; {mem['newton_iterations']} Newton iterations in all, {mem['wall_s']:.1f} s.",
            "",
        ]
    sw = _load("sweep.json")
    if sw:
        lines += [
            f"**Sweep** (`benchmarks/sweep_scaling.py`): {sw['points']} points of ghk_iv at "
            f"{sw['cells']:,} cells per region (each point on that fixed mesh and, for the error "
            f"estimate, on a copy with its cells merged in pairs): {sw['wall_1_s']:.2f} s with 1 worker, "
            f"{sw['wall_2_s']:.2f} s with 2 ({sw['speedup']:.2f}x).",
            "",
        ]
    ap = _load("action_potentials.json")
    if ap:
        one, fi = ap["one_spike"], ap["fi_sweep"]
        rates = [r for r in fi["firing_rate"] if r == r]  # NaN: fewer than 3 spikes
        lines += [
            f"**Action potentials** (`benchmarks/action_potentials.py`): `action_potential.toml` "
            f"(20 ms, one spike, {one['cells']} cells, the Debye layers resolved) "
            f"{one['wall_s']:.2f} s warm: its transient mesh {one['mesh_s']:.2f} s, the steady start "
            f"and {one['steps']} steps {one['stepping_s']:.2f} s ({one['per_step_ms']:.2f} ms per "
            f"step, {one['newton_iterations']} Newton iterations, {one['factorizations']} "
            f"factorizations). An f–I curve of `ap_train.toml` ({fi['points']} clamp currents, "
            f"60 ms each) on 2 workers: {fi['wall_s']:.1f} s"
            + (f", {min(rates):.0f}–{max(rates):.0f} spikes/s." if rates else "."),
            "",
        ]
    ts = _load("transient_speed.json")
    if ts:
        lines += [
            "**Transient stepper** (`benchmarks/transient_speed.py`, minimum of "
            f"{ts['repeat']} warm runs): the defaults (orders up to 5, factorizations reused) "
            "against variable-step BDF2 with a factorization at every Newton iteration "
            "(`run.max_order = 2`, reuse off: the stepper before), on the shipped transients:",
            "",
            "| case | steps | Newton iterations | factorizations | wall s | faster | "
            "final states apart (c relative, V_m) |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in ts["rows"]:
            b, n = row["before"], row["now"]
            lines.append(
                f"| {row['case']} | {b['steps']} → {n['steps']} | "
                f"{b['newton_iterations']} → {n['newton_iterations']} | "
                f"{b['factorizations']} → {n['factorizations']} | "
                f"{b['wall_s']:.3f} → {n['wall_s']:.3f} | {row['wall_ratio']:.2f}x | "
                f"{row['final_c_rel']:.0e} (c), {row['final_vm_v'] * 1e6:.2g} µV |"
            )
        lines.append("")
    so = _load("step_overhead.json")
    if so:
        lines += [
            "**Per-step overhead** (`benchmarks/step_overhead.py`, minimum of "
            f"{so['repeat']} warm runs): the stepper's time beyond the compiled assembly and "
            "banded factorizations and substitutions, per accepted step: BDF weights, "
            "history terms, predictor, error estimate, order choice, the rest of each Newton "
            "iteration (applying the update, the compartments, the norm, the pumps), the "
            "history entries of each state, and the Python calls around them; with a moving "
            "volume also the compartment's volume kept in the history (the mesh's Python "
            "objects are rebuilt only when read; the mesh's motion at each scale a "
            "residual is evaluated at is part of its assembly; *geometry*: the mesh moved from Python, where the Python path "
            "moves it). A whole step's solve is one compiled call (channels included: "
            "their gates' assembly and Schur complement are assembly and solve; a "
            "swelling cell likewise, with its volume's): the time outside it is timed "
            "directly (*outside*), its own work "
            "beyond assembly and solves is counted and charged its cost measured at states "
            "sampled through the run (*inside*; measured in tight loops, so with warm "
            "caches). *In situ* charges nothing: the compiled path's stepping time minus the "
            "assembly and solves timed where they happen on the Python path of the same "
            "run (bit for bit the same calls). The assembly and solve columns: timed, plus "
            "the compiled calls at their measured cost, for scale. Assembly and solves "
            "are counted inside steps only (until 2026-12-02 a steady start's were "
            "subtracted from the steps' time too, which made the overheads about 10 µs "
            "low). Target: 50 µs per step at N ≤ 1,000.",
            "",
            "| case | cells | steps | Newton iterations | factorizations | stepping s | "
            "assembly s | solve s | geometry s | overhead per step (outside + inside) | "
            "in situ |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in so["rows"]:
            situ = r.get("in_situ_overhead_per_step_us")
            lines.append(
                f"| {r['case']} | {r['cells']} | {r['steps']} | {r['newton_iterations']} | "
                f"{r['factorizations']} | {r['stepping_s']:.3f} | {r['assembly_s']:.3f} | "
                f"{r['solve_s']:.3f} | {r.get('geometry_s', 0.0):.3f} | "
                f"{r['overhead_per_step_us']:.0f} µs "
                f"({r['outside_loop_per_step_us']:.0f} + {r['inside_loop_per_step_us']:.0f}) | "
                + (f"{situ:.0f} µs |" if situ is not None else "– |")
            )
        lines.append("")
    lines += _transient_peers(_load("transient_peers.json"), _load("step_overhead.json"))
    peers = OUT / "peers.md"
    if peers.exists():
        lines += [
            "**Peers** on the Gouy–Chapman double layer (`benchmarks/peers.py`):",
            "",
            peers.read_text().strip(),
            "",
        ]
    else:
        lines += _earlier_peers()
    (ROOT / "performance.md").write_text("\n".join(lines).rstrip() + "\n")


def _fmt_ratio(h: dict) -> str:
    if h["peer_wall_s"] is None:
        return "–"
    bound = {"=": "", ">": "> ", "<": "< "}.get(h["bound"], "")
    return f"{bound}{h['peer_wall_s']:.3g} s | {bound}{h['ratio']:.1f}x"


def _transient_peers(tp, overhead=None) -> list[str]:
    """The transient peers at equal accuracy (benchmarks/transient_peers.py);
    with step_overhead.json's unit costs, what IDA's own work would cost
    with pnp's compiled operations (:func:`_ida_work`)."""
    if not tp:
        return []
    names = {"ida": "SUNDIALS IDA", "scipy": "scipy BDF", "devsim": "DEVSIM TR-BDF2"}
    lines = [
        "**Transient peers at equal accuracy** (`benchmarks/transient_peers.py`, minimum of "
        f"{tp['repeat']} warm runs): pnp's stepper at rtol {tp['case_rtol']:g} against each "
        "peer's wall time at the same error, interpolated log-log along the peer's tolerance "
        "(or step) sweep; IDA and scipy integrate pnp's own semi-discrete system (pnp's "
        "residual and Jacobian; scipy with Gauss's law solved for the potentials), DEVSIM its "
        "own model of the case on pnp's faces (error: its time-integration error). Error: "
        "V_m (V) against pnp at rtol 1e-10; for diffuse_charge the electrode charge, "
        "relative.",
        "",
        "| problem | unknowns | peer | error | pnp | peer | peer time / pnp time |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for sec in tp["sections"]:
        for h in sec["headlines"]:
            peer = names.get(h["peer"], h["peer"])
            if h["peer_wall_s"] is None:
                failed = [r["failed"] for r in sec["rows"] if r["solver"] == h["peer"]]
                notes.append(f"{peer} on {sec['label']}: {failed[0] if failed else 'no run'}.")
                continue
            size = sec.get("unknowns", 3 * sec["cells"])
            lines.append(
                f"| {sec['label']} | {size:,} | {peer} | {h['pnp_error']:.1e} | "
                f"{h['pnp_wall_s']:.3g} s | {_fmt_ratio(h)} |"
            )
        floor = _ida_work(sec, overhead)
        if floor:
            notes.append(floor)
        if "spatial_error" in sec:
            sp = sec["spatial_error"]
            notes.append(
                f"Spatial error of the electrode charge on {sec['label']} at this resolution "
                f"(against pnp with every cell cut in 4): pnp {sp['pnp']:.1e}, DEVSIM "
                f"{sp['devsim']:.1e}."
            )
    lines += ["", *notes, ""] if notes else [""]
    return lines


def _ida_work(sec: dict, overhead: dict | None) -> str:
    """IDA's counted work at pnp's error (its run nearest that error), priced
    at pnp's compiled unit costs on the same mesh (step_overhead.json) with
    no overhead at all, against IDA's wall time; and pnp's own least work,
    one residual and one substitution per step, against a third of IDA's
    time. Empty without IDA, unit costs, or a mesh of the same size."""
    ida = [r for r in sec["rows"] if r["solver"] == "ida" and "wall_s" in r]
    mine = [h for h in sec["headlines"] if h["peer"] == "ida" and h["peer_wall_s"]]
    rows = {r["case"]: r for r in (overhead or {}).get("rows", [])}
    unit = rows.get(sec.get("case"), {}).get("unit_costs_us")
    if not (ida and mine and unit) or rows[sec["case"]]["cells"] != sec["cells"]:
        return ""
    h = mine[0]
    r = min(ida, key=lambda r: abs(math.log(r["error"] / h["pnp_error"])))
    setups, residuals = r["factorizations"], r["residual_evals"]
    work = setups * (unit["jacobian"] + unit["factorization"]) + residuals * (
        unit["residual"] + unit["substitution"]
    )
    pnp_row = next(x for x in sec["rows"] if x["solver"] == "pnp" and x["rtol"] == h["pnp_rtol"])
    least = pnp_row["steps"] * (unit["residual"] + unit["substitution"])
    return (
        f"IDA's own work on {sec['label']} (its run at rtol {r['rtol']:g}, error "
        f"{r['error']:.1e}: {r['steps']} steps, {residuals} residuals and substitutions, "
        f"{setups} Jacobians and factorizations) priced at pnp's compiled unit costs on the "
        f"same mesh (`benchmarks/step_overhead.py`: Jacobian {unit['jacobian']:.0f} µs, "
        f"residual {unit['residual']:.0f}, factorization {unit['factorization']:.0f}, "
        f"substitution {unit['substitution']:.0f}) with no overhead at all: "
        f"{work / 1e3:.1f} ms, against IDA's {r['wall_s'] * 1e3:.1f} ms. Three times faster "
        f"than IDA at pnp's error is {h['peer_wall_s'] / 3 * 1e3:.1f} ms; pnp's own "
        f"{pnp_row['steps']} steps at one residual and one substitution each, no Jacobian, "
        f"factorization or overhead, cost {least / 1e3:.1f} ms."
    )


def _earlier_peers() -> list[str]:
    """The peers section of the table being replaced, kept when peers.py was
    not run this time (it installs DEVSIM and matscipy), with its machine."""
    old = ROOT / "performance.md"
    if not old.exists():
        return []
    text = old.read_text()
    start = text.find("**Peers**")
    if start < 0:
        return []
    first = text.splitlines()[0]
    where = first.split(". Regenerate")[0].removeprefix("Measured on: ")
    block = text[start:].strip()
    if "(not re-run" not in block:
        head, _, rest = block.partition("\n")
        block = f"{head.rstrip(':')} (not re-run with the rest; measured on: {where}):\n{rest}"
    return [block, ""]
    print(f"wrote {ROOT / 'performance.md'}")


if __name__ == "__main__":
    main()
