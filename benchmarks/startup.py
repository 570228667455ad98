"""Start-up costs: `import pnp`, `pnp --help`, `pnp check`, and `pnp run` cold (empty
numba cache: JIT compile) and cached, as separate processes.

    python benchmarks/startup.py [--repeat 5] [--json benchmarks/out/startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(
            cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "startup.json"))
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp()) / "n.h5"
    case = str(ROOT / "cases" / "nernst_k.toml")
    run = [
        sys.executable,
        "-m",
        "pnp",
        "run",
        case,
        "-o",
        str(out),
        "--force",
        "--quiet",
        "--no-plot",
    ]
    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        rows["python_startup_s"] = timed([sys.executable, "-c", "pass"], env, args.repeat)
        rows["import_pnp_s"] = timed([sys.executable, "-c", "import pnp"], env, args.repeat)
        rows["pnp_help_s"] = timed([sys.executable, "-m", "pnp", "--help"], env, args.repeat)
        rows["pnp_check_s"] = timed([sys.executable, "-m", "pnp", "check", case], env, args.repeat)
        rows["run_cold_s"] = timed(run, env, 1)  # empty cache: compiles every kernel
        rows["run_cached_s"] = timed(run, env, args.repeat)
    for key, value in rows.items():
        print(f"{key:<20} {value:8.3f} s")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
