"""I–V curve of a leak membrane under voltage clamp, with the GHK curve beside it.

Sweeps the clamp (command) potential of ``cases/ghk_iv.toml`` with
``pnp.sweep``, draws the simulated membrane current against the
Goldman–Hodgkin–Katz current of the same permeabilities, and prints the
reversal potential (where the simulated current crosses zero) next to the GHK
voltage.

Run: ``python examples/ghk_iv_curve.py [OUTPUT_DIR]`` (default: a temporary
directory). ``main()`` returns the reversal potential [V].
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import pnp

CASE = Path(__file__).resolve().parents[1] / "cases" / "ghk_iv.toml"


def ghk_total_current(case: pnp.Case, voltage: np.ndarray) -> np.ndarray:
    """Sum of the GHK currents of every permeant species [A/m^2] at `voltage` [V]."""
    inside, membrane, outside = case.regions  # cytoplasm | membrane | bath
    total = np.zeros_like(voltage)
    for species in case.species:
        permeability = membrane.permeability[species.name]
        if permeability > 0:
            total += pnp.analytic.ghk_current(
                voltage,
                inside.concentration[species.name],
                outside.concentration[species.name],
                species.z,
                permeability,
                case.temperature,
            )
    return total


def main(out_dir: str | Path | None = None, workers: int = 1) -> float:
    """Run the sweep, write ``iv.png`` into `out_dir`, return the reversal potential [V]."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(out_dir) if out_dir is not None else Path(scratch)
        case = pnp.load_case(CASE)
        # 17 clamp potentials from -100 to +60 mV; every point is a steady solve.
        sweep = pnp.sweep(
            case,
            {"boundary.left.potential": "-0.1:0.06:17"},
            out=out / "sweep",
            max_workers=workers,
        )
        table = sweep.table
        clamp = table["boundary.left.potential"]
        current = table["current"]
        reversal = sweep.reversal_potential()

        inside, membrane, outside = case.regions
        names = [s.name for s in case.species if membrane.permeability[s.name] > 0]
        ghk = pnp.analytic.ghk_voltage(
            {n: inside.concentration[n] for n in names},
            {n: outside.concentration[n] for n in names},
            {n: membrane.permeability[n] for n in names},
            {s.name: s.z for s in case.species if s.name in names},
            case.temperature,
        )

        import matplotlib

        matplotlib.use("agg")
        import matplotlib.pyplot as plt

        fine = np.linspace(clamp.min(), clamp.max(), 200)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(fine * 1e3, ghk_total_current(case, fine), "-", color="0.6", label="GHK")
        ax.plot(clamp * 1e3, current, "o", label="pnp")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(reversal * 1e3, ls=":", color="C3", label=f"E_rev = {reversal * 1e3:.2f} mV")
        ax.set_xlabel("clamp potential V_m [mV]")
        ax.set_ylabel("membrane current, outward [A/m²]")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "iv.png", dpi=120)
        plt.close(fig)

        print(
            f"reversal potential {reversal * 1e3:.4f} mV (GHK voltage {ghk * 1e3:.4f} mV)"
            + (f"; figure: {out / 'iv.png'}" if out_dir is not None else "")
        )
    return reversal


if __name__ == "__main__":  # the guard pnp.sweep's spawned workers need
    main(sys.argv[1] if len(sys.argv) > 1 else None)
