"""Donnan potential of a closed cell against its impermeant (fixed) charge.

Loops over the concentration of the impermeant anion X⁻ in the cytoplasm of
``cases/donnan.toml`` (Cl⁻ lowered by as much, so the cell starts
electroneutral), solves each steady state with ``pnp.run`` and compares the
membrane potential with the closed-form Donnan potential
``pnp.analytic.donnan`` of a compartment holding that fixed charge.

Run: ``python examples/donnan_fixed_charge.py [OUTPUT_DIR]`` (default: a
temporary directory). ``main()`` returns the simulated Donnan potential [V]
at the largest fixed charge (142 mM, the case as shipped).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import pnp

CASE = Path(__file__).resolve().parents[1] / "cases" / "donnan.toml"
IMPERMEANT = [10.0, 30.0, 60.0, 100.0, 142.0]  # X⁻ in the cytoplasm [mol/m^3]


def main(out_dir: str | Path | None = None) -> float:
    """Solve every fixed charge, write ``donnan.png``, return V_m [V] at 142 mM of X⁻."""
    base = pnp.load_case(CASE)
    bath = base.regions[-1].concentration
    potassium = base.regions[0].concentration["K"]
    simulated, closed_form = [], []
    for x in IMPERMEANT:
        case = pnp.load_case(
            CASE,
            overrides={
                "region.cytoplasm.concentration.X": x,
                "region.cytoplasm.concentration.Cl": potassium - x,  # electroneutral start
            },
        )
        result = pnp.run(case)
        simulated.append(result.membrane_potential[-1])
        # X⁻ cannot leave, so its concentration is the fixed charge the ions balance.
        donnan = pnp.analytic.donnan(
            {"K": bath["K"], "Cl": bath["Cl"]},
            {"K": 1, "Cl": -1},
            fixed_charge=-x,
            temperature=case.temperature,
        )
        closed_form.append(donnan["potential"])
    simulated, closed_form = np.array(simulated), np.array(closed_form)

    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(out_dir) if out_dir is not None else Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        fine = np.linspace(0.0, max(IMPERMEANT), 100)
        curve = [
            pnp.analytic.donnan(
                {"K": bath["K"], "Cl": bath["Cl"]}, {"K": 1, "Cl": -1}, -x, base.temperature
            )["potential"]
            for x in fine
        ]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(fine, np.array(curve) * 1e3, "-", color="0.6", label="Donnan (closed form)")
        ax.plot(IMPERMEANT, simulated * 1e3, "o", label="pnp")
        ax.set_xlabel("impermeant X⁻ in the cell [mM]")
        ax.set_ylabel("membrane potential V_m [mV]")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "donnan.png", dpi=120)
        plt.close(fig)
        figure = out / "donnan.png"

    for x, v, v_d in zip(IMPERMEANT, simulated, closed_form, strict=True):
        print(f"  X = {x:5.1f} mM   V_m = {v * 1e3:9.5f} mV   Donnan {v_d * 1e3:9.5f} mV")
    print(
        f"Donnan potential at {IMPERMEANT[-1]:g} mM of X-: {simulated[-1] * 1e3:.5f} mV "
        f"(largest deviation from the closed form {np.max(np.abs(simulated - closed_form)):.2g} V)"
        + (f"; figure: {figure}" if out_dir is not None else "")
    )
    return float(simulated[-1])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
