"""Parameter stress matrix: every point converges and passes its checks, or fails loudly.

    python scripts/stress.py [--json benchmarks/out/stress.json] [--markdown]

Around a base case (two reservoirs across a membrane permeable to one cation,
open circuit) each factor is pushed to its extremes one at a time:
concentrations 1e-9 .. 3e3 mol/m^3, clamp potentials up to +-1 V, valences
+-1..+-3, membrane eps_r 1..80 and thickness 1..50 nm, permeabilities 0 ..
1e-3 m/s, domains 10 nm .. 1 mm, temperatures 273..320 K; plus a few
combined extremes. A point is

- "ok": converged, and every check that applies holds: finite arrays,
  concentrations >= 0, the same flux through every membrane face (steady
  conservation), zero current at open circuit, V_m = Nernst when one species
  crosses at open circuit;
- "failed": status "failed" with a message (acceptable: said, not silent);
- "WRONG": converged but a check fails, or NaN anywhere — must never happen.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pnp
from pnp import analytic
from pnp.discretisation.model import build_model
from pnp.results.observables import face_fluxes


def base(
    z: int = 1,
    c_in: float = 140.0,
    c_out: float = 5.0,
    eps_m: float = 2.0,
    thickness: float = 5e-9,
    perm: float = 1e-8,
    length: float = 1e-6,
    temperature: float = 310.15,
    clamp: float | None = None,
) -> dict:
    """A one-permeant-cation membrane between two salt reservoirs (counter-ion z=-1)."""
    counter = {"A": c_in * z, "B": c_out * z}  # anion concentrations for neutrality
    left = (
        {"type": "reservoir", "potential": "floating", "current": 0.0}
        if clamp is None
        else {"type": "reservoir", "potential": clamp}
    )
    return {
        "title": "stress",
        "temperature": temperature,
        "species": {"C": {"z": z, "D": 1e-9}, "A": {"z": -1, "D": 2e-9}},
        "region": [
            {
                "name": "inside",
                "length": length,
                "eps_r": 80,
                "concentration": {"C": c_in, "A": counter["A"]},
            },
            {
                "name": "membrane",
                "membrane": True,
                "length": thickness,
                "eps_r": eps_m,
                "permeability": {"C": perm},
            },
            {
                "name": "outside",
                "length": length,
                "eps_r": 80,
                "concentration": {"C": c_out, "A": counter["B"]},
            },
        ],
        "boundary": {"left": left, "right": {"type": "reservoir", "potential": 0.0}},
    }


def stress_points() -> list[tuple[str, dict]]:
    pts: list[tuple[str, dict]] = [("base", base())]
    for c in (1e-9, 1e-6, 1e-3, 1.0, 1e3, 3e3):
        pts.append((f"c_out={c:g}", base(c_out=c)))
        pts.append((f"c_in={c:g}", base(c_in=c)))
    for v in (-1.0, -0.5, -0.1, 0.1, 0.5, 1.0):
        pts.append((f"clamp={v:+g} V", base(clamp=v)))
    for z in (-3, -2, -1, 1, 2, 3):
        pts.append((f"z={z:+d}", base(z=z) if z > 0 else _anion_permeant(z)))
    for eps in (1.0, 2.0, 10.0, 80.0):
        for d in (1e-9, 5e-9, 50e-9):
            pts.append((f"eps_m={eps:g} d={d * 1e9:g}nm", base(eps_m=eps, thickness=d)))
    for p in (0.0, 1e-12, 1e-8, 1e-5, 1e-3):
        pts.append((f"P={p:g}", base(perm=p) if p > 0 else _impermeant()))
    for L in (10e-9, 100e-9, 1e-6, 100e-6, 1e-3):
        pts.append((f"L={L:g} m", base(length=L)))
    for T in (273.15, 298.15, 320.0):
        pts.append((f"T={T:g} K", base(temperature=T)))
    # combined extremes
    pts.append(("z=3, c_out=1e-9, clamp=-1 V", base(z=3, c_out=1e-9, clamp=-1.0)))
    pts.append(
        (
            "eps_m=1, d=1nm, P=1e-3, clamp=+1 V",
            base(eps_m=1.0, thickness=1e-9, perm=1e-3, clamp=1.0),
        )
    )
    pts.append(
        ("L=10nm, c=3e3, T=273K", base(length=10e-9, c_in=3e3, c_out=3e3, temperature=273.15))
    )
    pts.append(("L=1mm, c_in=1e-9, z=2", base(length=1e-3, c_in=1e-9, z=2)))
    return pts


def _anion_permeant(z: int) -> dict:
    """A permeant anion of valence z < 0 with a monovalent counter-cation."""
    d = base()
    d["species"] = {"C": {"z": z, "D": 1e-9}, "A": {"z": 1, "D": 2e-9}}
    d["region"][0]["concentration"] = {"C": 140.0, "A": 140.0 * -z}
    d["region"][2]["concentration"] = {"C": 5.0, "A": 5.0 * -z}
    return d


def _impermeant() -> dict:
    d = base()
    d["region"][1]["permeability"] = {}
    return d


def check(case, result) -> list[str]:
    """Physics checks that apply to a converged steady point; [] if all hold."""
    bad = []
    arrays = [result.potential, result.concentration, result.membrane_potential, result.current]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return ["non-finite values"]
    if np.min(result.concentration) < -1e-9:
        bad.append(f"negative concentration {np.min(result.concentration):.3g}")
    model = build_model(case, result.mesh())
    lay = model.layout
    vt = model.thermal_voltage
    # a floating left reservoir holds the membrane potential (a floating right one: 0)
    boundary = np.concatenate(
        [np.full(lay.n_boundary, result.membrane_potential[-1] / vt), np.zeros(lay.n_trailing)]
    )
    x = lay.pack(result.potential[-1] / vt, result.concentration[-1], boundary=boundary)
    fl = face_fluxes(model, x)
    _, a, b = model.membranes[0]
    # steady state: every membrane face carries the same flux, to a fraction
    # of the one-way flux P c (the net flux itself may be ~0 at equilibrium)
    area = model.mesh.face_area[a : b + 1]
    for i, name in enumerate(model.species):
        perm = case.regions[1].permeability.get(name, 0.0)
        if perm == 0.0:
            continue
        one_way = perm * max(
            case.regions[0].concentration[name], case.regions[2].concentration[name]
        )
        spread = np.ptp(fl[i, a : b + 1] / area) / one_way
        if spread > 1e-6:
            bad.append(f"{name} flux not uniform through the membrane ({spread:.2g} of P c)")
    floating = case.left.potential is None
    if floating:
        if abs(result.current[-1]) > 1e-9:
            bad.append(f"open circuit but current {result.current[-1]:.3g}")
        perms = [s for s, p in case.regions[1].permeability.items() if p > 0]
        if len(perms) == 1:
            s = perms[0]
            z = {sp.name: sp.z for sp in case.species}[s]
            cin = case.regions[0].concentration[s]
            cout = case.regions[2].concentration[s]
            e = analytic.nernst(cin, cout, z, case.temperature)
            if abs(result.membrane_potential[-1] - e) > 1e-5:
                bad.append(f"V_m {result.membrane_potential[-1]:.6g} != Nernst {e:.6g}")
    return bad


def run_point(label: str, data: dict) -> dict:
    t0 = time.perf_counter()
    try:
        case = pnp.Case.from_dict(data)
    except pnp.CaseError as exc:
        return {"point": label, "outcome": "refused", "detail": str(exc), "seconds": 0.0}
    res = pnp.run(case)
    seconds = time.perf_counter() - t0
    if res.status != "completed":
        nan = not (np.all(np.isfinite(res.potential)) and np.all(np.isfinite(res.concentration)))
        outcome = "WRONG" if nan or not res.message else "failed"
        return {"point": label, "outcome": outcome, "detail": res.message, "seconds": seconds}
    problems = check(case, res)
    return {
        "point": label,
        "outcome": "WRONG" if problems else "ok",
        "detail": "; ".join(problems)
        or f"V_m {res.membrane_potential[-1] * 1e3:.4g} mV, "
        f"{res.stats['newton_iterations']} Newton its",
        "seconds": seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", default="benchmarks/out/stress.json")
    ap.add_argument("--markdown", action="store_true", help="print the README table")
    ap.add_argument(
        "--markdown-file",
        default="benchmarks/stress.md",
        help="write the README's summary table here (scripts/update_readme.py)",
    )
    args = ap.parse_args()
    rows = [run_point(label, data) for label, data in stress_points()]
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("ok", "failed", "refused", "WRONG")}
    if args.markdown:
        print("| point | outcome | detail |\n|---|---|---|")
        for r in rows:
            print(f"| {r['point']} | {r['outcome']} | {r['detail']} |")
    else:
        for r in rows:
            print(f"{r['point']:<38} {r['outcome']:<8} {r['seconds']:7.3f} s  {r['detail']}")
    print(f"\n{len(rows)} points: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    summary = [
        "| factor pushed to its extremes | points | ok | failed (with a message) | wrong |",
        "|---|---|---|---|---|",
    ]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        key = "combined extremes" if "," in r["point"] else r["point"].split("=")[0]
        groups.setdefault(key, []).append(r)
    for name, members in groups.items():
        n_ok = sum(m["outcome"] == "ok" for m in members)
        n_fail = sum(m["outcome"] in ("failed", "refused") for m in members)
        n_wrong = sum(m["outcome"] == "WRONG" for m in members)
        summary.append(f"| {name} | {len(members)} | {n_ok} | {n_fail} | {n_wrong} |")
    summary.append(
        f"| **all** | {len(rows)} | {counts['ok']} | {counts['failed'] + counts['refused']} "
        f"| {counts['WRONG']} |"
    )
    Path(args.markdown_file).write_text(
        f"Produced by `python scripts/stress.py` ({len(rows)} points; details in "
        "`benchmarks/out/stress.json`).\n\n" + "\n".join(summary) + "\n"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "counts": counts}, indent=2))
    return 1 if counts["WRONG"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
