"""Charging transient of a membrane after a 10 mV clamp step: τ against R·C.

Runs ``cases/membrane_charging.toml`` (an impermeant membrane between two
150 mM KCl baths, the inside clamped from 0 to 10 mV at t = 1 ns), fits the
time constant of the decaying capacitive current with numpy, and compares it
with τ = R·C: the access resistance of the two baths (length over the KCl
conductivity) times the membrane capacitance in series with the two linear
diffuse layers (``pnp.analytic.membrane_series_capacitance``).

Run: ``python examples/membrane_charging.py [OUTPUT_DIR]`` (default: a
temporary directory). ``main()`` returns the fitted time constant [s].
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import pnp
from pnp.constants import FARADAY, GAS_CONSTANT

CASE = Path(__file__).resolve().parents[1] / "cases" / "membrane_charging.toml"


def r_times_c(case: pnp.Case) -> float:
    """τ = R_access·C_series [s] of a bath | membrane | bath case."""
    inside, membrane, outside = case.regions
    z = {s.name: s.z for s in case.species}
    # Conductivity of each bath, sum z² F² D c / RT [S/m], and its resistance [Ω m²].
    resistance = 0.0
    for bath in (inside, outside):
        kappa = sum(
            s.z**2 * FARADAY**2 * s.D * bath.concentration[s.name] for s in case.species
        ) / (GAS_CONSTANT * case.temperature)
        resistance += bath.length / kappa
    capacitance = pnp.analytic.membrane_series_capacitance(
        membrane.eps_r,
        membrane.length,
        inside.concentration,
        outside.concentration,
        z,
        inside.eps_r,
        outside.eps_r,
        case.temperature,
    )
    return resistance * capacitance


def fit_time_constant(t: np.ndarray, current: np.ndarray, t_step: float, guess: float) -> float:
    """τ [s] of a straight-line fit of ln|I| against t, between 1 and 4 τ after the step."""
    window = (t - t_step > guess) & (t - t_step < 4 * guess)
    slope = np.polyfit(t[window] - t_step, np.log(np.abs(current[window])), 1)[0]
    return -1.0 / slope


def main(out_dir: str | Path | None = None) -> float:
    """Run the transient, write ``charging.png``, return the fitted τ [s]."""
    case = pnp.load_case(CASE)
    result = pnp.run(case)
    t_step = 1e-9  # the [[protocol]] time of the clamp step
    tau_rc = r_times_c(case)
    tau = fit_time_constant(result.t, result.current, t_step, tau_rc)

    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(out_dir) if out_dir is not None else Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        after = result.t > t_step
        t_ns = (result.t[after] - t_step) * 1e9
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.semilogy(t_ns, np.abs(result.current[after]), "o", ms=3, label="pnp")
        start = result.current[after][0]
        ax.semilogy(
            t_ns,
            abs(start) * np.exp(-(t_ns - t_ns[0]) * 1e-9 / tau_rc),
            "-",
            color="0.6",
            label=f"exp(-t/RC), RC = {tau_rc * 1e9:.2f} ns",
        )
        ax.set_xlabel("time after the step [ns]")
        ax.set_ylabel("|membrane current| [A/m²]")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "charging.png", dpi=120)
        plt.close(fig)
        figure = out / "charging.png"

    print(
        f"fitted time constant {tau * 1e9:.3f} ns (R·C = {tau_rc * 1e9:.3f} ns, "
        f"{tau / tau_rc - 1:+.2%})" + (f"; figure: {figure}" if out_dir is not None else "")
    )
    return float(tau)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
