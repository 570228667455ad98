"""Peak memory of a steady solve with 1e6 cells and 3 species (a fresh process).

    python benchmarks/memory.py [--cells 1000000] [--json benchmarks/out/memory.json]

The peak resident set size of the whole process (interpreter, numpy, scipy,
numba included) as the OS reports it (ru_maxrss), next to the unavoidable
part: LAPACK's band storage of the Jacobian, (2 kl + ku + 1) x n doubles.
``pnp.run`` on this fixed mesh also solves a copy with its cells merged in
pairs (n/2 cells) for the error estimate; the solve on the mesh itself sets
the peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
import pnp
from pnp import analytic
n = int(sys.argv[1])
lam = analytic.debye_length({"Na": 100, "Cl": 100}, {"Na": 1, "Cl": -1}, 79, 298.15)
data = {"title": "memory", "temperature": 298.15,
        "species": {"Na": {"z": 1, "D": 1e-9}, "Cl": {"z": -1, "D": 1e-9}, "K": {"z": 1, "D": 1e-9}},
        "region": [{"name": "b", "length": 1000 * lam, "eps_r": 79,
                    "concentration": {"Na": 100, "Cl": 150, "K": 50}}],
        "boundary": {"left": {"type": "wall", "potential": 0.05},
                     "right": {"type": "reservoir", "potential": 0}},
        "mesh": {"uniform_cells": 1000}}
pnp.run(pnp.Case.from_dict(data))  # compile / load the kernels
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
data["mesh"]["uniform_cells"] = n
t0 = time.perf_counter()
res = pnp.run(pnp.Case.from_dict(data))
print(json.dumps({"cells": n, "species": 3, "status": res.status,
                  "newton_iterations": res.stats["newton_iterations"],
                  "wall_s": time.perf_counter() - t0, "baseline_mib": base,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "memory.json"))
    args = ap.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.cells)], capture_output=True, text=True, check=True
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])
    m = 4
    row["band_storage_mib"] = (2 * m + 2 * m - 1 + 1) * args.cells * m * 8 / 2**20
    # the error estimate's solve on the copy with cells merged in pairs
    row["merged_cells"] = args.cells // 2
    row["band_storage_merged_mib"] = row["band_storage_mib"] / 2
    print(
        f"{row['cells']:,} cells, 3 species: peak RSS {row['peak_rss_mib']:.0f} MiB "
        f"(interpreter + libraries {row['baseline_mib']:.0f} MiB, LAPACK band storage "
        f"{row['band_storage_mib']:.0f} MiB, {row['band_storage_merged_mib']:.0f} MiB on the "
        f"merged copy), {row['newton_iterations']} Newton iterations, "
        f"{row['wall_s']:.2f} s"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
