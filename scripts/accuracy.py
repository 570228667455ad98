"""Charged walls against their closed forms, as a README user would check them (issue 12).

    python scripts/accuracy.py [--mesh-set KEY=VALUE]... [--kind KIND]... [--quick]
                               [--json PATH] [--no-points]

Builds every case of ``tests/accuracy_cases.py`` (plain case dicts of the
README's case-file reference, validated by ``pnp.Case.from_dict``), solves
it with ``pnp.run`` at the default mesh settings, reads off the number a
user would read and prints its error against the closed form of
``pnp.analytic``, with the cells and the solve time of each point:

- surface_potential: a wall carrying sigma = +-0.01 .. +-0.3 C/m^2 in 1:1,
  2:1, 1:2 and 2:2 salts of 1 mM .. 1 M; ``membrane_potential`` (the right
  end is a reservoir at 0 V) against the inverse Grahame equation [mV];
- wall_charge: the wall held at +-25, +-100, +-200, +-250 mV instead;
  ``surface_charge["left"]`` against Grahame [relative];
- counterion_gap: counter-ions only between two walls 4 and 20 nm apart;
  the contact concentration (Boltzmann factor between the wall face and its
  cell) at either wall against the exact Poisson–Boltzmann solution
  [relative, the worse wall];
- sphere: spherical geometry, a charged sphere of radius 1, 5, 50 nm in a
  1:1 bath; its surface potential against Debye–Hückel [mV and relative].

``--mesh-set KEY=VALUE`` is passed to every case as an override
(``mesh.cells_per_debye=16``; VALUE is read as a TOML value, like ``pnp run
--set``). ``--quick`` runs the representative grid that the default test
suite checks (``tests/test_accuracy_targets.py``). ``--json PATH`` writes
every point (labels, reference, measured value, error, cells, solve time,
Newton iterations, status) with the command and the machine. The targets of
issue 12 for default settings: |surface potential error| <= 0.05 mV, |wall
charge error| <= 0.1 %, |contact concentration error| <= 0.5 %.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import accuracy_cases as cases  # noqa: E402  (the case definitions the tests use too)


def parse_mesh_set(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as TOML (a bare string if it is not TOML)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = (part.strip() for part in text.split("=", 1))
    try:
        return key, tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        return key, value


# --------------------------------------------------------------------------- tables


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _num(value: float, fmt: str) -> str:
    return "nan" if value is None or not math.isfinite(value) else format(value, fmt)


def _common(row: dict) -> list[str]:
    status = "ok" if row["status"] == "completed" else "FAILED"
    return [
        str(row["cells"]),
        _num(row["solve_time_s"] * 1e3, ".1f"),
        str(row["newton_iterations"]),
        status,
    ]


COMMON = ["cells", "time [ms]", "Newton", "status"]


def point_table(kind: str, rows: list[dict]) -> str:
    """One line per point: parameters, reference, measured, error, cells, time."""
    if kind == "surface_potential":
        headers = ["salt", "c [mM]", "sigma [C/m2]", "Grahame phi0 [mV]", "pnp [mV]", "error [mV]"]
        body = [
            [
                r["electrolyte"],
                f"{r['molar']:g}",
                f"{r['sigma']:+g}",
                _num(r["reference"] * 1e3, ".4f"),
                _num(r["measured"] * 1e3, ".4f"),
                _num(r["error"], "+.4f"),
                *_common(r),
            ]
            for r in rows
        ]
    elif kind == "wall_charge":
        headers = ["salt", "c [mM]", "phi0 [mV]", "Grahame sigma [C/m2]", "pnp [C/m2]", "error [%]"]
        body = [
            [
                r["electrolyte"],
                f"{r['molar']:g}",
                f"{r['potential'] * 1e3:+g}",
                _num(r["reference"], ".6g"),
                _num(r["measured"], ".6g"),
                _num(r["error"] * 100, "+.3f"),
                *_common(r),
            ]
            for r in rows
        ]
    elif kind == "counterion_gap":
        headers = [
            "z",
            "sigma [C/m2]",
            "L [nm]",
            "exact c(L) [mM]",
            "left error [%]",
            "right error [%]",
        ]
        body = [
            [
                f"{r['z']:+d}",
                f"{r['sigma']:+g}",
                f"{r['half_width'] * 1e9:g}",
                _num(r["reference"], ".6g"),
                _num(r.get("error_left", math.nan) * 100, "+.3f"),
                _num(r.get("error_right", math.nan) * 100, "+.3f"),
                *_common(r),
            ]
            for r in rows
        ]
    else:
        headers = [
            "c [mM]",
            "sigma [C/m2]",
            "a [nm]",
            "DH phi(a) [mV]",
            "pnp [mV]",
            "error [uV]",
            "error [%]",
            "linearisation [uV]",
        ]
        body = [
            [
                f"{r['molar']:g}",
                f"{r['sigma']:+g}",
                f"{r['radius'] * 1e9:g}",
                _num(r["reference"] * 1e3, ".5f"),
                _num(r["measured"] * 1e3, ".5f"),
                _num(r["error"] * 1e3, "+.3f"),
                _num(r.get("relative_error", math.nan) * 100, "+.3f"),
                _num(r.get("linearisation_mV", math.nan) * 1e3, "+.2g"),
                *_common(r),
            ]
            for r in rows
        ]
    return _table(headers + COMMON, body)


def _worst(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        return math.nan
    return max(finite, key=abs)


def worst_table(
    rows: list[dict], row_key: str, column_key: str, scale: float, fmt: str, column_format
) -> str:
    """Worst (largest |error|, signed) over the remaining parameters, by two of them."""
    row_values = list(dict.fromkeys(r[row_key] for r in rows))
    column_values = sorted(set(r[column_key] for r in rows))
    body = []
    for rv in row_values:
        line = [str(rv)]
        for cv in column_values:
            errors = [r["error"] * scale for r in rows if r[row_key] == rv and r[column_key] == cv]
            line.append(_num(_worst(errors), fmt) if errors else "")
        body.append(line)
    return _table([row_key, *(column_format(cv) for cv in column_values)], body)


def summaries(kind: str, rows: list[dict]) -> str:
    if kind == "surface_potential":
        return (
            "worst error [mV] over 1 mM .. 1 M, by salt and sigma [C/m^2]:\n"
            + worst_table(rows, "electrolyte", "sigma", 1.0, "+.3f", lambda v: f"{v:+g}")
            + "\n\nworst error [mV] over sigma, by salt and concentration [mM]:\n"
            + worst_table(rows, "electrolyte", "molar", 1.0, "+.3f", lambda v: f"{v:g}")
        )
    if kind == "wall_charge":
        return "worst error [%] over 1 mM .. 1 M, by salt and wall potential [mV]:\n" + worst_table(
            rows, "electrolyte", "potential", 100.0, "+.3f", lambda v: f"{v * 1e3:+g}"
        )
    if kind == "counterion_gap":
        return (
            "worst error [%] (either wall, any L), by counter-ion valence and sigma [C/m^2]:\n"
            + worst_table(rows, "z", "sigma", 100.0, "+.3f", lambda v: f"{v:+g}")
        )
    return "worst error [uV] by concentration [mM] and radius [nm]:\n" + worst_table(
        rows, "molar", "radius", 1e3, "+.3f", lambda v: f"{v * 1e9:g}"
    )


def verdict(kind: str, rows: list[dict]) -> str:
    if kind not in cases.TARGETS:
        return ""
    what, limit = cases.TARGETS[kind]
    outside = [r for r in rows if not abs(r["error"]) <= limit]  # nan counts as outside
    return f"target |{what}| <= {limit:g}: {len(rows) - len(outside)} of {len(rows)} points within"


# --------------------------------------------------------------------------- main


def _machine() -> dict:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "git": commit,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mesh-set",
        action="append",
        default=[],
        type=parse_mesh_set,
        metavar="KEY=VALUE",
        help="case override for every point (repeatable)",
    )
    parser.add_argument(
        "--kind",
        action="append",
        choices=cases.KINDS,
        help="only these kinds (repeatable; default all)",
    )
    parser.add_argument("--quick", action="store_true", help="the representative grid only")
    parser.add_argument("--json", type=Path, help="write every point here")
    parser.add_argument("--no-points", action="store_true", help="summaries only")
    args = parser.parse_args(argv)
    overrides = dict(args.mesh_set)
    kinds = tuple(args.kind or cases.KINDS)
    points = cases.representative_points(kinds) if args.quick else cases.all_points(kinds)

    import pnp

    start = time.perf_counter()
    pnp.run(cases.build_case(points[0], overrides))  # compile or load the kernels
    warmup = time.perf_counter() - start
    rows = [cases.run_point(point, overrides) for point in points]

    print(f"# pnp charged walls vs closed forms ({len(rows)} points)")
    print(f"overrides: {overrides or 'none (default mesh)'}; warm-up run {warmup:.2f} s (excluded)")
    for kind in kinds:
        selected = [r for r in rows if r["kind"] == kind]
        if not selected:
            continue
        print(f"\n## {kind}\n")
        if not args.no_points:
            print(point_table(kind, selected) + "\n")
        print(summaries(kind, selected))
        line = verdict(kind, selected)
        if line:
            print("\n" + line)
        cells = [r["cells"] for r in selected]
        total = sum(r["solve_time_s"] for r in selected)
        print(f"cells {min(cells)} .. {max(cells)}; solve time {total:.3f} s in all")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": " ".join(
                ["python", "scripts/accuracy.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "overrides": overrides,
            "warmup_s": warmup,
            "machine": _machine(),
            "targets": {k: {"quantity": q, "limit": v} for k, (q, v) in cases.TARGETS.items()},
            "points": rows,
        }
        args.json.write_text(json.dumps(record, indent=1, default=float) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    failed = sum(r["status"] != "completed" for r in rows)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
