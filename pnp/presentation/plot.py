"""Figures of results and sweeps (matplotlib).

Four kinds of figure, the ``--kind`` choices of ``pnp plot``:

``profiles``
    φ and every concentration against position at chosen output times, with
    one zoomed panel per membrane and per charged wall so that the Debye
    layers are visible.
``traces``
    Membrane potential, currents and per-species fluxes against time.
``iv``
    Current against clamp voltage from a sweep summary, per-species currents,
    the reversal potential and, optionally, the analytic GHK curve.
``sweep``
    Any summary column against any parameter, one line per value of a second
    parameter.

Every function returns the figure and saves it when given ``path``.
:func:`plot_file` is what ``pnp plot`` and ``pnp run`` call: it reads a
result file or a sweep directory and writes a PNG.

Units on the axes are chosen for reading, not SI: positions in nm or µm,
potentials in mV, concentrations in mM (= mol/m^3), currents and fluxes with
an SI prefix picked from their size (``mA/m²``, ``µmol/m²/s``).

matplotlib is imported inside the functions, so ``import pnp.presentation.plot`` costs
nothing. The public functions create figures through pyplot (they show in
Jupyter and with ``plt.show()``), choosing the Agg backend when there is no
display; :func:`plot_file` uses a bare ``Figure`` that pyplot never tracks, so
a long sweep or CLI run does not accumulate open figures.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from pnp.results.result import Result

__all__ = ["iv", "plot_file", "profiles", "reversal_potential", "sweep", "traces"]

KINDS = ("profiles", "traces", "iv", "sweep")

# The mesher grades cells geometrically away from every membrane and charged
# wall, starting at a fraction of the local Debye length. A zoom window ends
# where the cells have grown to LAYER_GROWTH times the cell at the interface
# (for the default growth 1.2 and 4 cells per Debye length: about 12 Debye
# lengths), or after LAYER_MAX_CELLS cells on a mesh that stops growing early.
LAYER_GROWTH = 10.0
LAYER_MAX_CELLS = 40

LOG_CONCENTRATION_DECADES = 3.0  # "auto": log axis when concentrations span more
LOG_TIME_DECADES = 3.0  # "auto": log time axis when positive output times span more
LOG_PARAMETER_DECADES = 2.0  # sweep figures: log axis for a positive parameter spanning more
PROFILE_TIMES = 5  # outputs drawn by default for a transient
MARKER_LIMIT = 50  # draw markers on a curve with at most this many points
DPI = 150

MEMBRANE_COLOUR = "#c9b27c"
REGION_COLOURS = ("#dfeaf7", "#e7f2dc", "#f5e9dc", "#ece3f3")
TIME_ALPHA_MIN = 0.3  # earliest of several output times; the last is opaque
LABEL_SIZE = 8  # [pt] region names
LABEL_CHAR_WIDTH = 0.075  # [in] a generous character width at LABEL_SIZE

_PREFIXES = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


# -- matplotlib -----------------------------------------------------------------


def _pyplot():
    """pyplot, on the Agg backend when nothing chose one and there is no display."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib

        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        # Private but stable since matplotlib 3.7: None while nobody chose a
        # backend, so that a user's matplotlib.use(...) is never overridden.
        if headless and matplotlib.rcParams._get_backend_or_none() is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _new_figure(size: tuple[float, float]) -> Figure:
    return _pyplot().figure(figsize=size, layout="constrained")


def _bare_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=DPI)


def _root(fig: Figure | SubFigure) -> Figure:
    return fig.get_figure(root=True)


# -- units ----------------------------------------------------------------------


def _prefixed(values: Any, template: str) -> tuple[float, str]:
    """Factor and unit text with an SI prefix fitting the largest |value|.

    ``template`` holds ``{}`` where the prefix goes: ``"{}A/m²"``.
    """
    array = np.abs(np.asarray(values, dtype=float))
    array = array[np.isfinite(array) & (array > 0)]
    largest = float(array.max()) if array.size else 1.0
    for scale, prefix in _PREFIXES:
        if largest >= scale:
            return 1.0 / scale, template.format(prefix)
    scale, prefix = _PREFIXES[-1]
    return 1.0 / scale, template.format(prefix)


def _length_unit(span: float) -> tuple[float, str]:
    """Factor and unit for positions over a span [m]: mm, µm or nm."""
    if span >= 1e-3:
        return 1e3, "mm"
    if span >= 1e-6:
        return 1e6, "µm"
    return 1e9, "nm"


def _time_unit(span: float) -> tuple[float, str]:
    """Factor and unit for times up to ``span`` [s] on a linear axis."""
    for scale, prefix in _PREFIXES:
        if span >= scale:
            return 1.0 / scale, f"{prefix}s"
    return 1e15, "fs"


def _format_time(t: float) -> str:
    if math.isinf(t):
        return "steady state"
    if t == 0:
        return "t = 0"
    factor, unit = _time_unit(abs(t))
    return f"t = {t * factor:.3g} {unit}"


# Units of sweep parameters (dotted case keys), by their last segment or a
# segment on the way; observables use pnp.results.result.observable_units.
_PARAMETER_UNITS = (
    ("potential", "V"),
    ("surface_charge", "C/m^2"),
    ("current", "A/m^2"),
    ("temperature", "K"),
    ("length", "m"),
    ("max_cell", "m"),
    ("t_end", "s"),
    ("rate", "mol/m^2/s"),
    ("j_max", "mol/m^2/s"),
    ("K_Na", "mol/m^3"),
    ("K_K", "mol/m^3"),
    ("fixed_charge", "mol/m^3"),
    ("concentration", "mol/m^3"),
    ("permeability", "m/s"),
    ("barrier", "J/mol"),
    ("D", "m^2/s"),
)


def _column_unit(name: str) -> str:
    """SI unit of a summary column: a dotted parameter key or an observable."""
    if "." in name:
        parts = name.split(".")
        for segment in reversed(parts):
            for key, unit in _PARAMETER_UNITS:
                if segment == key:
                    return unit
        return ""
    from pnp.results.result import observable_units

    if name == "wall_time":
        return "s"
    return observable_units(name)


def _display_unit(unit: str, values: Any) -> tuple[float, str]:
    """Factor and unit text to show values of an SI unit on an axis."""
    if unit == "V":
        return 1e3, "mV"
    if unit == "mol/m^3":
        return 1.0, "mM"
    if unit == "J/mol":
        return 1e-3, "kJ/mol"
    if unit == "m":
        array = np.abs(np.asarray(values, dtype=float))
        array = array[np.isfinite(array)]
        return _length_unit(float(array.max()) if array.size else 1.0)
    templates = {
        "A/m^2": "{}A/m²",
        "mol/m^2/s": "{}mol/m²/s",
        "C/m^2": "{}C/m²",
        "m/s": "{}m/s",
        "m^2/s": "{}m²/s",
        "s": "{}s",
    }
    if unit in templates:
        return _prefixed(values, templates[unit])
    return 1.0, unit


def _axis_label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


# -- the case behind a result ------------------------------------------------------


def _case_dict(result: Result) -> dict[str, Any]:
    """The resolved case of a result as a dict ({} when absent or unreadable)."""
    if not result.case_toml:
        return {}
    try:
        return tomllib.loads(result.case_toml)
    except (ValueError, RecursionError):  # TOMLDecodeError is a ValueError
        return {}


def _region_extents(result: Result) -> list[tuple[int, int]]:
    """First and one-past-last cell of every region (regions are contiguous)."""
    extents = []
    for index in range(len(result.region_names)):
        cells = np.flatnonzero(result.region == index)
        extents.append((int(cells[0]), int(cells[-1]) + 1) if cells.size else (0, 0))
    return extents


def _membrane_regions(result: Result, case: Mapping[str, Any]) -> list[int]:
    """Indices of membrane regions: from the case, else guessed from the mesh.

    Without a case, an inner region whose cells are all under a tenth of the
    largest cell of both neighbours is taken for a membrane (the mesher puts
    uniform nanometre cells there).
    """
    names = result.region_names
    regions = case.get("region")
    if isinstance(regions, list):
        flagged = {entry.get("name") for entry in regions if entry.get("membrane")}
        return [index for index, name in enumerate(names) if name in flagged]
    widths = np.diff(result.faces)
    extents = _region_extents(result)
    largest = [float(widths[a:b].max()) if b > a else 0.0 for a, b in extents]
    return [
        index
        for index in range(1, len(names) - 1)
        if largest[index] > 0 and largest[index] * 10 < min(largest[index - 1], largest[index + 1])
    ]


def _charged_walls(result: Result, case: Mapping[str, Any]) -> list[str]:
    """Sides whose wall carries a double layer (held potential or surface charge).

    An uncharged wall (the centre of a cell) has no layer and no zoom. Without
    a case, a side where the mesh is graded towards the end is taken for one.
    """
    boundary = case.get("boundary")
    if isinstance(boundary, Mapping):
        sides = []
        for side in ("left", "right"):
            spec = boundary.get(side, {})
            if spec.get("type") != "wall":
                continue
            potential = spec.get("potential")
            if isinstance(potential, int | float) or spec.get("surface_charge", 0) != 0:
                sides.append(side)
        return sides
    widths = np.diff(result.faces)
    if widths.size < 3:
        return []
    extents = _region_extents(result)
    sides = []
    first, last = extents[0], extents[-1]
    if widths[first[0]] * 5 < widths[first[0] : first[1]].max():
        sides.append("left")
    if widths[last[1] - 1] * 5 < widths[last[0] : last[1]].max():
        sides.append("right")
    return sides


@dataclass(frozen=True)
class _Zoom:
    """A window around an interface: where the Debye layers are."""

    title: str
    low: float  # [m]
    high: float  # [m]


def _layer_extent(widths: np.ndarray) -> float:
    """Distance [m] from an interface over which its graded cells stay small.

    ``widths`` are cell widths going away from the interface.
    """
    if widths.size == 0:
        return 0.0
    grown = np.flatnonzero(widths > LAYER_GROWTH * widths[0])
    count = int(grown[0]) if grown.size else widths.size
    count = min(max(count, 1), LAYER_MAX_CELLS)
    return float(widths[:count].sum())


def _zoom_windows(result: Result, case: Mapping[str, Any]) -> list[_Zoom]:
    """One window per membrane and per charged wall, left to right."""
    widths = np.diff(result.faces)
    faces = result.faces
    extents = _region_extents(result)
    zooms = []
    if "left" in _charged_walls(result, case):
        zooms.append(_Zoom("left wall", faces[0], faces[0] + _layer_extent(widths)))
    for index in _membrane_regions(result, case):
        first, stop = extents[index]
        if stop <= first:
            continue
        left = _layer_extent(widths[:first][::-1])
        right = _layer_extent(widths[stop:])
        title = result.region_names[index]
        zooms.append(_Zoom(title, faces[first] - left, faces[stop] + right))
    if "right" in _charged_walls(result, case):
        zooms.append(_Zoom("right wall", faces[-1] - _layer_extent(widths[::-1]), faces[-1]))
    return zooms


# -- profiles -------------------------------------------------------------------------


def _log_like(t: np.ndarray) -> bool:
    """Whether positive output times span more than LOG_TIME_DECADES decades."""
    positive = t[np.isfinite(t) & (t > 0)]
    return positive.size >= 2 and positive.max() > 10**LOG_TIME_DECADES * positive.min()


def _nearest(t: np.ndarray, target: float, log: bool) -> int:
    finite = np.isfinite(t)
    if log:
        usable = finite & (t > 0)
        distance = np.full(t.shape, np.inf)
        distance[usable] = np.abs(np.log10(t[usable]) - math.log10(target))
    else:
        distance = np.where(finite, np.abs(np.where(finite, t, 0.0) - target), np.inf)
    return int(np.argmin(distance))


def _profile_indices(result: Result, times: float | Sequence[float] | None) -> list[int]:
    """Output indices to draw: the nearest outputs to ``times`` [s], or a default.

    The default is the only output of a steady result, or for a transient the
    first output and a few more spaced evenly in log time (linear time when
    the outputs span less than LOG_TIME_DECADES decades), ending at the last.
    """
    t = result.t
    if t.size == 0:
        raise ValueError("the result holds no output yet; nothing to plot")
    if t.size == 1:
        return [0]
    if times is not None:
        wanted = np.atleast_1d(np.asarray(times, dtype=float))
        picked = set()
        for target in wanted:
            if math.isinf(target) or target >= t[-1]:
                picked.add(t.size - 1)
            else:
                picked.add(_nearest(t, float(target), log=False))
        return sorted(picked)
    if _log_like(t):
        positive = t[np.isfinite(t) & (t > 0)]
        targets = np.geomspace(positive.min(), positive.max(), PROFILE_TIMES)[1:]
        picked = {0} | {_nearest(t, float(target), log=True) for target in targets}
    else:
        targets = np.linspace(t[0], t[-1], PROFILE_TIMES)
        picked = {_nearest(t, float(target), log=False) for target in targets}
    picked.add(t.size - 1)
    return sorted(picked)


def _time_alphas(count: int) -> np.ndarray:
    return np.linspace(TIME_ALPHA_MIN, 1.0, count) if count > 1 else np.ones(1)


def _shade_regions(
    ax: Axes,
    result: Result,
    membranes: Sequence[int],
    factor: float,
    window: tuple[float, float],
    label: bool,
) -> None:
    """Shade each region (membranes in lipid tan) and name the wide-enough ones."""
    from matplotlib.transforms import blended_transform_factory

    faces = result.faces
    low, high = window
    span = high - low
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    # Panel width before layout (an overestimate by the tick labels' room).
    panel_width = ax.get_window_extent().width / _root(ax.figure).dpi
    aqueous = 0
    for index, (first, stop) in enumerate(_region_extents(result)):
        if stop <= first:
            continue
        start, end = faces[first], faces[stop]
        if index in membranes:
            colour = MEMBRANE_COLOUR
        else:
            colour = REGION_COLOURS[aqueous % len(REGION_COLOURS)]
            aqueous += 1
        if index in membranes and (end - start) < 0.004 * span:
            # Thinner than a pixel or two on this panel: widen the band to stay visible.
            middle = 0.5 * (start + end)
            start, end = middle - 0.002 * span, middle + 0.002 * span
        layer = 0.5 if index in membranes else 0.0  # a widened membrane stays on top
        ax.axvspan(start * factor, end * factor, color=colour, alpha=0.6, lw=0, zorder=layer)
        visible_start, visible_end = max(start, low), min(end, high)
        if label and visible_end > visible_start:
            room = (visible_end - visible_start) / span * panel_width  # [in]
            name = result.region_names[index]
            if room >= LABEL_CHAR_WIDTH * (len(name) + 2):
                rotation = 0
            elif index in membranes and room >= 1.6 * LABEL_CHAR_WIDTH:
                rotation = 90  # upright inside a narrow membrane band
            else:
                continue
            ax.text(
                0.5 * (visible_start + visible_end) * factor,
                0.97,
                name,
                transform=transform,
                ha="center",
                va="top",
                rotation=rotation,
                fontsize=LABEL_SIZE,
                color="0.25",
                clip_on=True,
                zorder=1,  # under the curves
            )


def _use_log_concentration(
    result: Result, indices: Sequence[int], membranes: Sequence[int], mode: bool | str
) -> bool:
    if mode != "auto":
        if isinstance(mode, str):
            raise ValueError(f"log_concentration must be 'auto', True or False, got {mode!r}")
        return bool(mode)
    low, high = _concentration_range(result, indices, membranes)
    return high > 0 and low > 0 and high > 10**LOG_CONCENTRATION_DECADES * low


def _concentration_range(
    result: Result, indices: Sequence[int], membranes: Sequence[int]
) -> tuple[float, float]:
    """Smallest and largest positive concentration outside the membranes [mol/m^3].

    Membrane interiors hold partitioned traces (down to ~1e-7 mM) that would
    set a log axis by themselves; the solutions on either side decide.
    """
    aqueous = ~np.isin(result.region, list(membranes))
    if not aqueous.any():
        aqueous = np.ones(result.x.size, dtype=bool)
    values = result.concentration[np.asarray(indices)][:, :, aqueous]
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return 0.0, 0.0
    return float(values.min()), float(values.max())


def _draw_profiles(
    fig: Figure | SubFigure,
    result: Result,
    indices: Sequence[int],
    log_concentration: bool | str,
) -> None:
    """φ and concentrations: a full-domain column, then one column per zoom."""
    case = _case_dict(result)
    membranes = _membrane_regions(result, case)
    zooms = _zoom_windows(result, case)
    log = _use_log_concentration(result, indices, membranes, log_concentration)
    axes = fig.subplots(
        2,
        1 + len(zooms),
        sharex="col",
        sharey="row",
        squeeze=False,
        width_ratios=[2.0] + [1.0] * len(zooms),
    )
    domain = (float(result.faces[0]), float(result.faces[-1]))
    windows = [domain] + [(zoom.low, zoom.high) for zoom in zooms]
    coordinate = "x" if result.geometry == "cartesian" else "r"
    for column, window in enumerate(windows):
        potential_ax, concentration_ax = axes[0, column], axes[1, column]
        factor, unit = _length_unit(window[1] - window[0])
        for ax in (potential_ax, concentration_ax):
            _shade_regions(ax, result, membranes, factor, window, label=ax is potential_ax)
        _draw_profile_curves(potential_ax, concentration_ax, result, indices, factor, log)
        concentration_ax.set_xlim(window[0] * factor, window[1] * factor)
        concentration_ax.set_xlabel(f"{coordinate} [{unit}]")
        potential_ax.set_title(
            "whole domain" if column == 0 else f"zoom: {zooms[column - 1].title}", fontsize=9
        )
    axes[0, 0].set_ylabel("φ [mV]")
    axes[1, 0].set_ylabel("c [mM]")
    _headroom(axes[0, 0])
    if log:
        low, high = _concentration_range(result, indices, membranes)
        axes[1, 0].set_yscale("log")
        axes[1, 0].set_ylim(low / 3, high * 3)
    else:
        axes[1, 0].set_ylim(bottom=0)
    axes[1, 0].legend(fontsize=8, loc="best", title="species", title_fontsize=8)
    if len(indices) > 1:
        axes[0, 0].legend(fontsize=8, loc="best")


def _headroom(ax: Axes) -> None:
    """Room above the curves for the region names."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.12 * (high - low))


def _draw_profile_curves(
    potential_ax: Axes,
    concentration_ax: Axes,
    result: Result,
    indices: Sequence[int],
    factor: float,
    log: bool,
) -> None:
    """One φ curve per time (black, earlier lighter); species colours for c."""
    x = result.x * factor
    alphas = _time_alphas(len(indices))
    for alpha, index in zip(alphas, indices, strict=True):
        last = index == indices[-1]
        label = _format_time(float(result.t[index])) if len(indices) > 1 else None
        potential_ax.plot(
            x, result.potential[index] * 1e3, color="k", alpha=alpha, lw=1.3, label=label
        )
        for number, name in enumerate(result.species):
            values = result.concentration[index, number]
            if log:
                values = np.where(values > 0, values, np.nan)
            concentration_ax.plot(
                x,
                values,
                color=f"C{number % 10}",
                alpha=alpha,
                lw=1.3,
                label=name if last else None,
            )


def profiles(
    result: Result,
    times: float | Sequence[float] | None = None,
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
    log_concentration: bool | str = "auto",
) -> Figure:
    """Potential and concentrations against position.

    The left column spans the whole domain; one more column per membrane and
    per charged wall zooms on a window of a few tens of Debye lengths around
    it, found from the mesh (the mesher's smallest cells cluster there).
    Regions are shaded (membranes in tan) and named on the potential row.

    Parameters
    ----------
    result : Result
        A steady or transient result.
    times : float or sequence of float, optional
        Output times to draw [s]; each picks the nearest output (``inf``: the
        last). Default: the only output of a steady result; for a transient,
        the first output and four more spaced in log time (linear time for
        outputs spanning under three decades) up to the last. Earlier times
        are drawn lighter.
    ax : Figure, SubFigure or pair of Axes, optional
        Where to draw. A Figure or SubFigure receives the whole layout; a
        pair ``(potential_ax, concentration_ax)`` receives the full-domain
        curves only (no zoom panels). Default: a new figure.
    path : path, optional
        Also save the figure there (PNG, PDF, SVG, ... by suffix).
    log_concentration : {"auto", True, False}
        Log concentration axis; "auto" chooses it when the concentrations in
        the solutions (outside membranes) span more than three decades.

    Returns
    -------
    Figure
        The (root) figure drawn into.
    """
    indices = _profile_indices(result, times)
    if ax is None:
        zooms = _zoom_windows(result, _case_dict(result))
        fig = _new_figure((5.5 + 3.0 * len(zooms), 6.0))
        _draw_profiles(fig, result, indices, log_concentration)
        _title(fig, result, indices)
    elif _is_figure(ax):
        fig = _root(ax)
        _draw_profiles(ax, result, indices, log_concentration)
        _title(ax, result, indices)
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))  # a tuple, list or array
        if len(axes) != 2:
            raise TypeError(
                "ax must be a Figure, a SubFigure or a pair of Axes (potential, concentration)"
            )
        _draw_profiles_into_axes(axes[0], axes[1], result, indices, log_concentration)
        fig = _root(axes[0].figure)
    _save(fig, path)
    return fig


def _is_figure(obj: Any) -> bool:
    from matplotlib.figure import FigureBase

    return isinstance(obj, FigureBase)


def _draw_profiles_into_axes(
    potential_ax: Axes,
    concentration_ax: Axes,
    result: Result,
    indices: Sequence[int],
    log_concentration: bool | str,
) -> None:
    case = _case_dict(result)
    membranes = _membrane_regions(result, case)
    log = _use_log_concentration(result, indices, membranes, log_concentration)
    window = (float(result.faces[0]), float(result.faces[-1]))
    factor, unit = _length_unit(window[1] - window[0])
    for ax in (potential_ax, concentration_ax):
        _shade_regions(ax, result, membranes, factor, window, label=ax is potential_ax)
        ax.set_xlim(window[0] * factor, window[1] * factor)
    _draw_profile_curves(potential_ax, concentration_ax, result, indices, factor, log)
    coordinate = "x" if result.geometry == "cartesian" else "r"
    potential_ax.set_xlabel(f"{coordinate} [{unit}]")
    concentration_ax.set_xlabel(f"{coordinate} [{unit}]")
    potential_ax.set_ylabel("φ [mV]")
    concentration_ax.set_ylabel("c [mM]")
    _headroom(potential_ax)
    if log:
        low, high = _concentration_range(result, indices, membranes)
        concentration_ax.set_yscale("log")
        concentration_ax.set_ylim(low / 3, high * 3)
    concentration_ax.legend(fontsize=8)
    if len(indices) > 1:
        potential_ax.legend(fontsize=8)


def _title(fig: Figure | SubFigure, result: Result, indices: Sequence[int] | None) -> None:
    title = result.title or "pnp result"
    notes = []
    if indices is not None and len(indices) == 1:
        notes.append(_format_time(float(result.t[indices[0]])))
    if result.status != "completed":
        notes.append(f"run {result.status}")
    if notes:
        title += f"  ({', '.join(notes)})"
    fig.suptitle(title, fontsize=11)


# -- traces -------------------------------------------------------------------------


def _protocol_times(case: Mapping[str, Any]) -> list[float]:
    steps = case.get("protocol")
    if not isinstance(steps, list):
        return []
    return [float(step["at"]) for step in steps if isinstance(step.get("at"), int | float)]


def _check_time_series(result: Result) -> None:
    t = result.t
    if t.size < 2:
        if t.size == 1 and math.isinf(t[0]):
            raise ValueError("a steady result has no time series; use profiles")
        raise ValueError(
            f"the result has {t.size} output time{'' if t.size == 1 else 's'}, "
            "no time series; use profiles"
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
    rows = 3 if fluxes else 2
    axes = list(fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0])

    axes[0].plot(times, result.membrane_potential[keep] * 1e3, color="k", **style)
    axes[0].set_ylabel("$V_m$ [mV]")

    pump = result.pump_current[keep]
    scale, current_unit = _prefixed(np.concatenate([result.current[keep], pump]), "{}A/m²")
    axes[1].plot(times, result.current[keep] * scale, color="k", label="total", **style)
    if np.any(pump != 0):
        axes[1].plot(times, pump * scale, color="C3", label="pump", **style)
    axes[1].axhline(0, color="0.6", lw=0.6, zorder=0)
    axes[1].set_ylabel(f"current [{current_unit}]")
    axes[1].legend(fontsize=8, loc="best", title="outward +", title_fontsize=8)

    if fluxes:
        scale, flux_unit = _prefixed(
            np.concatenate([values[keep] for values in fluxes.values()]), "{}mol/m²/s"
        )
        for name, values in fluxes.items():
            number = result.species.index(name)
            axes[2].plot(times, values[keep] * scale, color=f"C{number % 10}", label=name, **style)
        axes[2].axhline(0, color="0.6", lw=0.6, zorder=0)
        axes[2].set_ylabel(f"flux [{flux_unit}]")
        axes[2].legend(fontsize=8, loc="best", title="outward +", title_fontsize=8)

    for at in _protocol_times(_case_dict(result)):
        if at > 0 or not log:
            for ax in axes:
                ax.axvline(at * factor, color="0.5", lw=0.8, ls=":", zorder=0)
    if log:
        axes[-1].set_xscale("log")
    axes[-1].set_xlabel(f"t [{unit}]")
    for ax in axes:
        ax.grid(True, lw=0.3, alpha=0.5)
    return axes


def traces(
    result: Result,
    path: str | os.PathLike[str] | None = None,
    log_time: bool | str = "auto",
) -> Figure:
    """Membrane potential, currents and fluxes of a transient against time.

    Three panels sharing the time axis: V_m [mV]; the membrane current
    (total, and the pump's when there is a pump), outward positive; the flux
    of every species that crosses, outward positive. Protocol times are
    dotted vertical lines.

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


# -- sweep summaries -------------------------------------------------------------------


def _columns(summary: Any) -> dict[str, np.ndarray]:
    """A sweep summary as a dict of equal-length arrays.

    Accepts a mapping of column name to values, anything with ``columns``
    and item access (a pandas DataFrame), a :class:`pnp.simulation.sweep.SweepResult`
    (its ``table``), or a path to ``summary.csv`` or to the sweep directory
    holding it.
    """
    if isinstance(summary, str | os.PathLike):
        source = Path(summary)
        return _read_summary_csv(source / "summary.csv" if source.is_dir() else source)
    table = getattr(summary, "table", None)  # a pnp.simulation.sweep.SweepResult
    if isinstance(table, Mapping):
        summary = table
    names = list(summary.columns) if hasattr(summary, "columns") else list(summary.keys())
    columns = {str(name): np.asarray(summary[name]) for name in names}
    lengths = {array.shape[0] if array.ndim else 1 for array in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"summary columns differ in length: {sorted(lengths)}")
    return columns


def _read_summary_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a summary CSV: numeric ones as floats (blank: NaN), others as text."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        names = list(rows[0].keys()) if rows else []
    columns = {}
    for name in names:
        texts = [row.get(name) or "" for row in rows]
        try:
            columns[name] = np.array(
                [float(text) if text.strip() else np.nan for text in texts], dtype=float
            )
        except ValueError:
            columns[name] = np.array(texts, dtype=str)
    return columns


def _numeric(columns: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in columns:
        raise ValueError(f"the summary has no column {name!r}; columns: {', '.join(columns)}")
    try:
        return np.asarray(columns[name], dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"summary column {name!r} is not numeric") from None


def _completed(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows whose point completed (all rows when there is no status column)."""
    size = len(next(iter(columns.values()))) if columns else 0
    if "status" not in columns:
        return np.ones(size, dtype=bool)
    return np.asarray(columns["status"]).astype(str) == "completed"


def _left_out(columns: Mapping[str, np.ndarray], completed: np.ndarray) -> str:
    """ "2 failed, 1 pending points not shown" (empty when every point completed)."""
    if completed.all():
        return ""
    statuses = np.asarray(columns["status"]).astype(str)[~completed]
    names, counts = np.unique(statuses, return_counts=True)
    parts = ", ".join(
        f"{count} {name or 'unknown'}" for name, count in zip(names, counts, strict=True)
    )
    return f"{parts} point{'s' if completed.size - completed.sum() > 1 else ''} not shown"


def _parameter_columns(columns: Mapping[str, np.ndarray]) -> list[str]:
    """Parameter columns: dotted case keys (``boundary.left.potential``)."""
    return [name for name in columns if "." in name]


def _voltage_column(columns: Mapping[str, np.ndarray]) -> str:
    candidates = [name for name in _parameter_columns(columns) if name.endswith("potential")]
    if len(candidates) == 1:
        return candidates[0]
    if "membrane_potential" in columns:
        return "membrane_potential"
    raise ValueError(
        "cannot tell the voltage column of the summary (pass voltage=...); "
        f"columns: {', '.join(columns)}"
    )


def _valence_map(valences: Any) -> dict[str, float]:
    if valences is None:
        return {}
    if isinstance(valences, Mapping):
        return {str(name): float(z) for name, z in valences.items()}
    # A Result (or anything with species names and valences).
    return {str(name): float(z) for name, z in zip(valences.species, valences.z, strict=True)}


def reversal_potential(v: Any, i: Any) -> float:
    """Voltage where a current changes sign (the first crossing in voltage).

    The same estimate as the sweep summary (:func:`pnp.simulation.sweep.zero_crossings`:
    a cubic-spline root in the bracketing interval, exact for linear and
    cubic data), so figure and table agree. NaN entries are dropped; NaN if
    the current never changes sign.
    """
    from ..simulation.sweep import zero_crossings

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
    for column in columns:
        if not column.startswith("flux_"):
            continue
        species = column[len("flux_") :]
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
    xlabel = "$V_m$" if name == "membrane_potential" else name
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


def _use_log(values: np.ndarray, decades: float) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size >= 2 and finite.min() > 0 and finite.max() > 10**decades * finite.min())


def _format_value(value: Any, unit: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    factor, text = _display_unit(unit, [number])
    return f"{number * factor:.4g} {text}".rstrip()


def _draw_sweep(
    ax: Axes,
    columns: Mapping[str, np.ndarray],
    x: str,
    y: str,
    by: str | None,
    logx: bool | str,
    logy: bool | str,
) -> None:
    x_values = _numeric(columns, x)
    y_values = _numeric(columns, y)
    keep = _completed(columns) & np.isfinite(x_values) & np.isfinite(y_values)
    x_factor, x_unit = _display_unit(_column_unit(x), x_values[keep])
    y_factor, y_unit = _display_unit(_column_unit(y), y_values[keep])
    if by is None:
        groups = [(None, keep)]
    else:
        if by not in columns:
            raise ValueError(f"the summary has no column {by!r}; columns: {', '.join(columns)}")
        by_values = np.asarray(columns[by]).reshape(-1)
        groups = [(value, keep & (by_values == value)) for value in np.unique(by_values[keep])]
    by_unit = _column_unit(by) if by else ""
    colours = _pyplot_colours(len(groups))
    for colour, (value, rows) in zip(colours, groups, strict=True):
        order = np.argsort(x_values[rows], kind="stable")
        label = None if value is None else _format_value(value, by_unit)
        style = {"marker": "o", "ms": 3} if rows.sum() <= MARKER_LIMIT else {}
        ax.plot(
            x_values[rows][order] * x_factor,
            y_values[rows][order] * y_factor,
            color=colour,
            label=label,
            **style,
        )
    for axis, mode, values in (("x", logx, x_values[keep]), ("y", logy, y_values[keep])):
        decades = LOG_PARAMETER_DECADES if axis == "x" else LOG_CONCENTRATION_DECADES
        if mode == "auto":
            log = _use_log(values, decades)
        elif isinstance(mode, str):
            raise ValueError(f"log{axis} must be 'auto', True or False, got {mode!r}")
        else:
            log = bool(mode)
        if log:
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    ax.set_xlabel(_axis_label(x, x_unit))
    ax.set_ylabel(_axis_label(y, y_unit))
    ax.grid(True, lw=0.3, alpha=0.5)
    note = _left_out(columns, _completed(columns))
    if note:
        ax.set_title(note, fontsize=9)
    if by is not None:
        ax.legend(fontsize=8, title=by, title_fontsize=8, loc="best")


def _pyplot_colours(count: int) -> list[Any]:
    """Tab10 for a few lines; a sequential map for a family of many."""
    if count <= 10:
        return [f"C{number}" for number in range(count)]
    from matplotlib import colormaps

    return list(colormaps["viridis"](np.linspace(0.0, 0.9, count)))


def sweep(
    summary: Any,
    x: str,
    y: str,
    by: str | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    logx: bool | str = "auto",
    logy: bool | str = "auto",
) -> Figure:
    """Any summary column against a parameter, one line per value of another.

    Parameters
    ----------
    summary : mapping, DataFrame or path
        Sweep summary (see :func:`iv`).
    x : str
        Column on the horizontal axis (usually a parameter, a dotted key).
    y : str
        Column on the vertical axis (``membrane_potential``, ``current``,
        ``flux_K``, ``wall_time``, ...).
    by : str, optional
        Column whose distinct values each get a line.
    path : path, optional
        Also save the figure there.
    logx, logy : {"auto", True, False}
        Log axes; "auto" chooses one for positive values spanning more than
        two decades (x) or three (y).

    Returns
    -------
    Figure

    Units come from the column names: parameters by their key
    (``...potential`` in mV, ``...concentration...`` in mM, ...),
    observables by :func:`pnp.results.result.observable_units`.
    """
    columns = _columns(summary)
    fig = _new_figure((6.5, 4.8))
    ax = fig.subplots()
    _draw_sweep(ax, columns, x, y, by, logx, logy)
    _save(fig, path)
    return fig


# -- files ------------------------------------------------------------------------------


def _first_point_result(directory: Path) -> Result | None:
    """One point's result file of a sweep directory (for valences and the case)."""
    from pnp.errors import ResultFileError
    from pnp.results.reader import load_result

    for candidate in sorted(directory.glob("*.h5"))[:5]:
        if candidate.name == "summary.h5":
            continue
        try:
            return load_result(candidate)
        except ResultFileError:
            continue
    return None


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


def _default_sweep_kind(columns: Mapping[str, np.ndarray]) -> str:
    parameters = _parameter_columns(columns)
    if len(parameters) == 1 and parameters[0].endswith("potential") and "current" in columns:
        return "iv"
    return "sweep"


def _sweep_defaults(
    columns: Mapping[str, np.ndarray], x: str | None, y: str | None, by: str | None
) -> tuple[str, str, str | None]:
    parameters = _parameter_columns(columns)
    if x is None:
        if not parameters:
            raise ValueError(f"the summary has no parameter column; columns: {', '.join(columns)}")
        x = parameters[0]
    if by is None:
        others = [name for name in parameters if name != x]
        by = others[0] if others else None
    if y is None:
        y = "current" if x.endswith("potential") and "current" in columns else "membrane_potential"
    return x, y, by


def plot_file(
    path: str | os.PathLike[str],
    kind: str | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    by: str | None = None,
) -> Path:
    """Draw a result file or a sweep directory into a PNG (``pnp plot``).

    Parameters
    ----------
    path : path
        A result file (``.h5``), or a sweep directory holding ``summary.csv``.
    kind : {"profiles", "traces", "iv", "sweep"}, optional
        Default for a result: "profiles" when steady, traces and profiles
        side by side for a transient. For a sweep directory: "iv" when its one
        parameter is a potential and it has a current, else "sweep".
    out : path, optional
        Where to write the figure. Default: next to the result file with
        suffix ``.png``; ``<kind>.png`` inside a sweep directory.
    x, y, by : str, optional
        Columns of a "sweep" figure. Default: the first parameter, then
        ``current`` if that parameter is a potential else
        ``membrane_potential``, one line per value of a second parameter.

    Returns
    -------
    Path
        The figure written.

    Raises
    ------
    ResultFileError
        The file is not a readable result (from :func:`pnp.load_result`), or
        the directory holds no ``summary.csv``.
    ValueError
        A kind that does not fit the input (``traces`` of a steady result,
        ``iv`` of a result file, ...).
    """
    from pnp.errors import ResultFileError

    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown plot kind {kind!r}; choose from {', '.join(KINDS)}")
    source = Path(path)
    if source.is_dir():
        summary_path = source / "summary.csv"
        if not summary_path.is_file():
            raise ResultFileError(f"{source}: directory without summary.csv, so not a sweep output")
        columns = _read_summary_csv(summary_path)
        if not columns:
            raise ResultFileError(f"{summary_path}: empty summary")
        kind = kind or _default_sweep_kind(columns)
        if kind not in ("iv", "sweep"):
            raise ValueError(
                f"{source} is a sweep directory: plot kind must be iv or sweep, not {kind}"
            )
        target = Path(out) if out is not None else source / f"{kind}.png"
        fig = _bare_figure((6.5, 4.8))
        ax = fig.subplots()
        if kind == "iv":
            point = _first_point_result(source)
            voltage = _voltage_column(columns)
            reference = _ghk_reference(point, voltage, _numeric(columns, voltage))
            _draw_iv(ax, columns, voltage, reference, _valence_map(point))
            title = point.title if point is not None and point.title else source.name
        else:
            x, y, by = _sweep_defaults(columns, x, y, by)
            _draw_sweep(ax, columns, x, y, by, "auto", "auto")
            title = source.name
        fig.suptitle(title, fontsize=11)
    else:
        from pnp.results.reader import load_result

        result = load_result(source)
        if kind in ("iv", "sweep"):
            raise ValueError(
                f"plot kind {kind} needs a sweep directory, and {source} is a result file"
            )
        if kind is None:
            kind = "profiles" if result.t.size < 2 else "overview"
        target = Path(out) if out is not None else source.with_suffix(".png")
        fig = _draw_result_file(result, kind)
    fig.savefig(os.fspath(target), dpi=DPI)
    return target


def _draw_result_file(result: Result, kind: str) -> Figure:
    indices = _profile_indices(result, None)
    zooms = len(_zoom_windows(result, _case_dict(result)))
    if kind == "traces":
        fig = _bare_figure((6.5, 6.5))
        _draw_traces(fig, result, "auto")
        _title(fig, result, None)
    elif kind == "profiles":
        fig = _bare_figure((5.5 + 3.0 * zooms, 6.0))
        _draw_profiles(fig, result, indices, "auto")
        _title(fig, result, indices)
    else:  # overview of a transient: traces beside profiles
        fig = _bare_figure((11.5 + 3.0 * zooms, 6.5))
        left, right = fig.subfigures(1, 2, width_ratios=[5.5, 5.5 + 3.0 * zooms])
        _draw_traces(left, result, "auto")
        _draw_profiles(right, result, indices, "auto")
        _title(fig, result, None)
    return fig
