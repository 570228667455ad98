"""The ``traces`` figure: membrane potential, currents and fluxes against time.

Owns the check that a result is a time series, the log-or-linear time axis,
the panels (V_m and the membrane voltage; total, pump and per-species
currents; per-species fluxes of the species that cross), the labelled
protocol-step markers and the symlog current axis beside a capacitive spike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ...results.registry import entry
from .common import (
    MARKER_LIMIT,
    _case_dict,
    _column_unit,
    _display_unit,
    _log_like,
    _membrane_regions,
    _new_figure,
    _save,
    _time_unit,
    _title,
)
from .profile_figure import _species_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from pnp.results.result import Result


# The current axis turns symlog when the trace's peak exceeds its late values
# (the last third of the outputs) this many times: a capacitive spike then no
# longer flattens the ionic current that follows it.
SPIKE_RATIO = 100.0
SPIKE_DECADES = 4  # at most this many decades of the peak on the log part
PROTOCOL_LABEL_SIZE = 7  # [pt]
_SECTIONS = ("boundary", "region", "pump", "species")


def _protocol_steps(case: Mapping[str, Any]) -> list[tuple[float, str]]:
    """(time [s], short text of what changed) of every ``[[protocol]]`` step."""
    steps = case.get("protocol")
    if not isinstance(steps, list):
        return []
    out = []
    for step in steps:
        if not isinstance(step, Mapping) or not isinstance(step.get("at"), int | float):
            continue
        changes = step.get("set")
        texts = []
        for key, value in changes.items() if isinstance(changes, Mapping) else []:
            parts = str(key).split(".")
            where = " ".join(parts[1:] if parts[0] in _SECTIONS and len(parts) > 1 else parts)
            if isinstance(value, int | float) and not isinstance(value, bool):
                factor, unit = _display_unit(_column_unit(str(key)), [value])
                value = f"{value * factor:.3g} {unit}".rstrip()
            texts.append(f"{where} → {value}")
        out.append((float(step["at"]), "; ".join(texts) or "protocol step"))
    return out


def _mark_protocol(axes: list[Axes], steps: list[tuple[float, str]], factor: float, log: bool):
    """A dotted line at each protocol time across the panels, labelled on the top one."""
    from matplotlib.transforms import blended_transform_factory

    top = axes[0]
    transform = blended_transform_factory(top.transData, top.transAxes)
    shown = [(at, text) for at, text in steps if at > 0 or not log]
    for number, (at, text) in enumerate(shown):
        for ax in axes:
            ax.axvline(at * factor, color="0.45", lw=0.8, ls=":", zorder=0)
        # Above the top panel, clear of the traces; alternate rows keep close steps legible.
        top.text(
            at * factor,
            1.02 + 0.09 * (number % 2),
            text,
            transform=transform,
            ha="center",
            va="bottom",
            fontsize=PROTOCOL_LABEL_SIZE,
            color="0.25",
        )


def _spike_threshold(values: np.ndarray) -> float | None:
    """linthresh of a symlog axis for a trace with a spike, None for a linear axis.

    A spike: the peak |value| over SPIKE_RATIO times the largest |value| of
    the last third of the outputs. The linear part then reaches the next
    power of ten above those late values (at most SPIKE_DECADES below the
    peak), so the ionic current after the spike is read on a linear scale.
    """
    finite = np.abs(values[np.isfinite(values)])
    if finite.size < 3:
        return None
    peak = float(finite.max())
    late = float(finite[-max(1, finite.size // 3) :].max())
    if peak == 0 or peak <= SPIKE_RATIO * late:
        return None
    floor = max(late, peak * 10.0**-SPIKE_DECADES)
    return float(10.0 ** math.ceil(math.log10(floor)))


def _check_time_series(result: Result) -> None:
    t = result.t
    if t.size < 2:
        if t.size == 1 and math.isinf(t[0]):
            raise ValueError("a steady result has no time series; use profiles")
        raise ValueError(
            f"the result has {t.size} output time{'' if t.size == 1 else 's'}, "
            "no time series; use profiles"
        )


def _symlog_current(ax: Axes, values: np.ndarray, linthresh: float) -> None:
    """Symlog current axis, its linear band shaded, limits hugging the data."""
    finite = values[np.isfinite(values)]
    low, high = min(float(finite.min()), 0.0), max(float(finite.max()), 0.0)
    ax.set_yscale("symlog", linthresh=linthresh, linscale=1.0)
    ax.axhspan(-linthresh, linthresh, color="0.93", lw=0, zorder=0)
    ax.text(
        0.99,
        0.02,
        f"log scale beyond ±{linthresh:g}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=PROTOCOL_LABEL_SIZE,
        color="0.35",
    )
    # A decade of room beyond the peaks; a sliver below 0 for a one-signed trace.
    ax.set_ylim(
        low * 3 if low < -linthresh else min(low, 0.0) - 0.15 * linthresh,
        high * 3 if high > linthresh else max(high, 0.0) + 0.15 * linthresh,
    )


def _draw_traces(fig: Figure | SubFigure, result: Result, log_time: bool | str) -> list[Axes]:
    _check_time_series(result)
    t = result.t
    if log_time == "auto":
        log = _log_like(t)
    elif isinstance(log_time, str):
        raise ValueError(f"log_time must be 'auto', True or False, got {log_time!r}")
    else:
        log = bool(log_time)
    keep = np.isfinite(t) & (t > 0) if log else np.isfinite(t)
    if log and keep.sum() < 2:
        raise ValueError("a log time axis needs at least two positive output times")
    factor, unit = (1.0, "s") if log else _time_unit(float(np.abs(t[keep]).max()))
    times = t[keep] * factor
    style = {"marker": "o", "ms": 2.5} if keep.sum() <= MARKER_LIMIT else {}

    fluxes = {name: values for name, values in result.flux.items() if np.any(values[keep] != 0)}
    # Species that never cross (impermeant, or no membrane) get no curve;
    # with none crossing, no flux panel.
    volume = result.extra_observables.get("volume")  # a swelling cell: one more panel
    # voltage-gated channels: their gates, one more panel
    gates = {
        n[len("gate_") :]: v for n, v in result.extra_observables.items() if n.startswith("gate_")
    }
    rows = (3 if fluxes else 2) + (volume is not None) + bool(gates)
    axes = list(fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0])

    _draw_potentials(axes[0], result, keep, times, style)

    pump = result.pump_current[keep]
    # each species' current, for the species whose flux is drawn
    extra = result.extra_observables
    species_currents = {
        name: extra[f"current_{name}"][keep]
        for name in fluxes
        if f"current_{name}" in extra and np.any(extra[f"current_{name}"][keep] != 0)
    }
    # units from the observables registry, with an SI prefix for the data
    both = np.concatenate([result.current[keep], pump, *species_currents.values()])
    scale, current_unit = _display_unit(entry("current").unit, both)
    axes[1].plot(times, result.current[keep] * scale, color="k", label="total", **style)
    if np.any(pump != 0):
        axes[1].plot(times, pump * scale, color="C3", label="pump", **style)
    for name, values in species_currents.items():
        number = result.species.index(name)
        axes[1].plot(times, values * scale, color=f"C{number % 10}", ls="--", label=name, **style)
    axes[1].axhline(0, color="0.6", lw=0.6, zorder=0)
    axes[1].set_ylabel(f"current [{current_unit}]")
    linthresh = _spike_threshold(result.current[keep] * scale)
    if linthresh is not None:
        _symlog_current(axes[1], result.current[keep] * scale, linthresh)
    axes[1].legend(fontsize=8, loc="best", title="outward +", title_fontsize=8)

    if fluxes:
        scale, flux_unit = _display_unit(
            entry("flux_{species}").unit,
            np.concatenate([values[keep] for values in fluxes.values()]),
        )
        for name, values in fluxes.items():
            number = result.species.index(name)
            axes[2].plot(times, values[keep] * scale, label=name, **_species_style(number), **style)
        axes[2].axhline(0, color="0.6", lw=0.6, zorder=0)
        axes[2].set_ylabel(f"flux [{flux_unit}]")
        axes[2].legend(fontsize=8, loc="best", title="outward +", title_fontsize=8)

    if gates:
        ax = axes[(3 if fluxes else 2)]
        for number, (name, values) in enumerate(gates.items()):
            ax.plot(times, values[keep], color=f"C{number % 10}", label=name, **style)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("gate (open fraction)")
        ax.legend(fontsize=8, loc="best")

    if volume is not None:
        # relative to the first output (the case as written, or its steady start)
        axes[-1].plot(times, volume[keep] / volume[keep][0], color="C2", **style)
        axes[-1].set_ylabel("volume / first")

    _mark_protocol(axes, _protocol_steps(_case_dict(result)), factor, log)
    if log:
        axes[-1].set_xscale("log")
    axes[-1].set_xlabel(f"t [{unit}]")
    for ax in axes:
        ax.grid(True, lw=0.3, alpha=0.5)
    return axes


def _draw_potentials(ax: Axes, result: Result, keep, times, style) -> None:
    """V_m (the ends) and, with a membrane, the drop over the membrane alone, in mV."""
    ax.plot(times, result.membrane_potential[keep] * 1e3, color="k", **style)
    ax.set_ylabel("$V_m$ [mV]")
    voltage = result.extra_observables.get("membrane_voltage")
    if voltage is None or not _membrane_regions(result, _case_dict(result)):
        return
    ax.lines[0].set_label("$V_m$ (ends)")
    ax.plot(times, voltage[keep] * 1e3, color="C1", ls="--", label="membrane", **style)
    ax.legend(fontsize=8, loc="best")


def traces(
    result: Result,
    path: str | os.PathLike[str] | None = None,
    log_time: bool | str = "auto",
) -> Figure:
    """Membrane potential, currents and fluxes of a transient against time.

    Three panels sharing the time axis: V_m [mV] and, with a membrane, the
    voltage over the membrane alone (``membrane_voltage``, dashed); the
    membrane current (total, the pump's when there is a pump, and each
    crossing species' own, dashed), outward positive; the flux of every
    species that crosses, outward positive. Each ``[[protocol]]`` step is a
    dotted vertical line, labelled above the top panel with what it sets
    ("left potential → 10 mV"). When the current's peak exceeds
    ``SPIKE_RATIO`` (100) times its late values (a capacitive spike), the
    current axis is symlog, linear up to the next power of ten above them.

    Parameters
    ----------
    result : Result
        A transient result (two outputs or more).
    path : path, optional
        Also save the figure there.
    log_time : {"auto", True, False}
        Log time axis; "auto" chooses it when the positive output times span
        more than three decades (t = 0 is then left out).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        For a steady result (one output): it has no time series.
    """
    _check_time_series(result)
    fig = _new_figure((6.5, 6.5))
    _draw_traces(fig, result, log_time)
    _title(fig, result, None)
    _save(fig, path)
    return fig
