"""The ``iv`` figure: current against clamp voltage from a sweep summary.

Owns the reversal-potential estimate (shared with the sweep summary table),
the drawing of the total, per-species (z F J) and pump currents, and the
analytic GHK reference for a GHK-like clamp sweep.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ...results.registry import ERROR_SUFFIX, entry
from .common import MARKER_LIMIT, _case_dict, _new_figure, _parameter_label, _prefixed, _save
from .summary import _columns, _completed, _left_out, _numeric, _valence_map, _voltage_column

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from pnp.results.result import Result


def reversal_potential(v: Any, i: Any) -> float:
    """Voltage where a current changes sign (the first crossing in voltage).

    The same estimate as the sweep summary (:func:`pnp.simulation.sweep.zero_crossings`:
    a cubic-spline root in the bracketing interval, exact for linear and
    cubic data), so figure and table agree. NaN entries are dropped; NaN if
    the current never changes sign.
    """
    from pnp.simulation.sweep import zero_crossings

    v = np.asarray(v, dtype=float).reshape(-1)
    i = np.asarray(i, dtype=float).reshape(-1)
    if v.shape != i.shape:
        raise ValueError(f"v and i differ in length ({v.size} and {i.size})")
    roots = zero_crossings(v, i)
    return float(roots[0]) if roots.size else math.nan


def _draw_iv(
    ax: Axes,
    columns: Mapping[str, np.ndarray],
    voltage: str | None,
    ghk: tuple[Any, Any] | None,
    valences: Mapping[str, float],
) -> float:
    from pnp.constants import FARADAY

    name = voltage or _voltage_column(columns)
    v = _numeric(columns, name)
    current = _numeric(columns, "current")
    completed = _completed(columns)
    keep = completed & np.isfinite(v) & np.isfinite(current)
    order = np.argsort(v[keep], kind="stable")
    v_points, i_points = v[keep][order], current[keep][order]

    species_currents = {}
    flux_prefix = entry("flux_{species}").prefix
    for column in columns:
        if not column.startswith(flux_prefix) or column.endswith(ERROR_SUFFIX):
            continue  # not a flux, or a flux's error estimate
        species = column[len(flux_prefix) :]
        flux = _numeric(columns, column)[keep][order]
        if species in valences and np.any(flux != 0):
            species_currents[species] = valences[species] * FARADAY * flux
    pump = _numeric(columns, "pump_current")[keep][order] if "pump_current" in columns else None

    everything = [i_points, *species_currents.values()]
    if ghk is not None:
        ghk_v, ghk_i = (np.asarray(values, dtype=float).reshape(-1) for values in ghk)
        everything.append(ghk_i)
    scale, unit = _prefixed(np.concatenate(everything), "{}A/m²")

    ax.axhline(0, color="0.5", lw=0.6, zorder=0)
    style = {"marker": "o", "ms": 3} if v_points.size <= MARKER_LIMIT else {}
    if ghk is not None:
        # On top of the simulated total, dashed, so that agreement still shows both.
        ax.plot(
            ghk_v * 1e3,
            ghk_i * scale,
            color="0.65",
            ls="--",
            lw=1.5,
            label="GHK (analytic)",
            zorder=4,
        )
    ax.plot(v_points * 1e3, i_points * scale, color="k", lw=1.5, label="total", zorder=3, **style)
    for species, values in species_currents.items():
        ax.plot(v_points * 1e3, values * scale, lw=1, label=f"{species}: zFJ", **style)
    if pump is not None and np.any(pump != 0):
        ax.plot(v_points * 1e3, pump * scale, lw=1, ls="-.", label="pump", **style)

    reversal = reversal_potential(v_points, i_points)
    if math.isfinite(reversal):
        ax.axvline(reversal * 1e3, color="C3", lw=0.8, ls=":")
        ax.plot(
            [reversal * 1e3],
            [0.0],
            marker="o",
            ms=7,
            mfc="none",
            mec="C3",
            ls="none",
            label=f"$V_{{rev}}$ = {reversal * 1e3:.2f} mV",
            zorder=4,
        )
    if name == "membrane_potential":
        xlabel = "$V_m$"
    elif name.startswith("boundary."):
        xlabel = f"clamp {_parameter_label(name)}"
    else:
        xlabel = _parameter_label(name)
    ax.set_xlabel(f"{xlabel} [mV]")
    ax.set_ylabel(f"current density, outward + [{unit}]")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="best")
    note = _left_out(columns, completed)
    if note:
        ax.set_title(note, fontsize=9)
    return reversal


def iv(
    summary: Any,
    path: str | os.PathLike[str] | None = None,
    ghk: tuple[Any, Any] | None = None,
    *,
    voltage: str | None = None,
    valences: Any = None,
) -> Figure:
    """Current–voltage curve of a clamp sweep.

    Parameters
    ----------
    summary : mapping, DataFrame or path
        Sweep summary: column name → values (a dict of arrays, a pandas
        DataFrame, or the path of ``summary.csv`` or its directory). Needs a
        voltage column [V] and ``current`` [A/m^2]; ``flux_<species>``
        [mol/m^2/s] and ``pump_current`` [A/m^2] are drawn when present. Rows
        whose ``status`` is not "completed" are left out.
    path : path, optional
        Also save the figure there.
    ghk : (array, array), optional
        Analytic curve (V [V], I [A/m^2]), drawn dashed over the simulated
        total. (:func:`plot_file` computes it for a GHK-like sweep.)
    voltage : str, optional
        The voltage column. Default: the one parameter column (dotted key)
        ending in ``potential``, else ``membrane_potential``.
    valences : mapping or Result, optional
        Species valences for the per-species currents z F J_i (a Result gives
        its own). Without them only the total (and pump) current is drawn.

    Returns
    -------
    Figure
        With the reversal potential (see :func:`reversal_potential`) marked
        and given in the legend.
    """
    columns = _columns(summary)
    fig = _new_figure((6.5, 4.8))
    ax = fig.subplots()
    _draw_iv(ax, columns, voltage, ghk, _valence_map(valences))
    _save(fig, path)
    return fig


def _ghk_reference(point: Result | None, voltage: str, v: np.ndarray) -> tuple[Any, Any] | None:
    """The analytic GHK current over the swept voltages, when the case is GHK-like.

    GHK-like: one membrane with permeant species between two reservoirs at
    fixed potentials, the swept column being one of their potentials (or
    V_m itself). The reservoirs hold the concentrations of the end regions.
    """
    if point is None:
        return None
    from pnp.analytic import ghk_current

    case = _case_dict(point)
    regions = case.get("region", [])
    boundary = case.get("boundary", {})
    membranes = [entry for entry in regions if entry.get("membrane")]
    if len(membranes) != 1 or len(regions) < 3:
        return None
    permeability = {k: p for k, p in membranes[0].get("permeability", {}).items() if p > 0}
    potentials = {}
    for side in ("left", "right"):
        spec = boundary.get(side, {})
        if spec.get("type") != "reservoir" or not isinstance(spec.get("potential"), int | float):
            return None
        potentials[side] = float(spec["potential"])
    finite = v[np.isfinite(v)]
    if not permeability or finite.size < 2:
        return None
    grid = np.linspace(finite.min(), finite.max(), 241)
    inside = case.get("inside", "left")
    outside = "right" if inside == "left" else "left"
    if voltage == "membrane_potential":
        membrane_voltage = grid
    elif voltage in (f"boundary.{side}.potential" for side in potentials):
        swept = voltage.split(".")[1]
        phi = {side: np.full_like(grid, value) for side, value in potentials.items()}
        phi[swept] = grid
        membrane_voltage = phi[inside] - phi[outside]
    else:
        return None
    ends = {
        "left": regions[0].get("concentration", {}),
        "right": regions[-1].get("concentration", {}),
    }
    species = case.get("species", {})
    total = np.zeros_like(grid)
    for name, p in permeability.items():
        z = species.get(name, {}).get("z")
        if not z:
            continue
        total += ghk_current(
            membrane_voltage,
            ends[inside].get(name, 0.0),
            ends[outside].get(name, 0.0),
            z,
            p,
            float(case["temperature"]),
        )
    return grid, total
