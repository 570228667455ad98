"""The ``profiles`` figure: φ and concentrations against position.

Owns the choice of output times to draw, the region shading and names, the
log-or-linear concentration axis, the species' colours and line styles, and
the layout: a whole-domain column and one zoomed column per membrane and
charged wall (windows from :mod:`.common`, axes in distance from the
membrane's or wall's faces), or the whole domain only into a given pair of
axes. φ comes with its face values (:mod:`.face_values`) and, when the case
names one, its closed form (:mod:`.closed_form`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .closed_form import potential_closed_form
from .common import (
    LOG_CONCENTRATION_DECADES,
    _case_dict,
    _format_time,
    _length_unit,
    _log_like,
    _membrane_regions,
    _new_figure,
    _region_extents,
    _root,
    _save,
    _title,
    _Zoom,
    _zoom_windows,
)
from .face_values import potential_line

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from pnp.results.result import Result

PROFILE_TIMES = 5  # outputs drawn by default for a transient
MEMBRANE_COLOUR = "#c9b27c"
REGION_COLOURS = ("#dfeaf7", "#e7f2dc", "#f5e9dc", "#ece3f3")
# Species differ in line style as well as colour, so that two species with
# equal profiles (the ions of a neutral bulk) both stay visible.
SPECIES_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
CLOSED_FORM_COLOUR = "C3"
TIME_ALPHA_MIN = 0.3  # earliest of several output times; the last is opaque
LABEL_SIZE = 8  # [pt] region names
LABEL_CHAR_WIDTH = 0.075  # [in] a generous character width at LABEL_SIZE


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
    origin: float = 0.0,
    faces: np.ndarray | None = None,
) -> None:
    """Shade each region (membranes in lipid tan) and name the wide-enough ones.

    Positions are drawn as (x - origin) * factor; ``faces``: where the regions
    are (default the result's; a swelling cell's move with each output).
    """
    from matplotlib.transforms import blended_transform_factory

    faces = result.faces if faces is None else faces
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
        ax.axvspan(
            (start - origin) * factor,
            (end - origin) * factor,
            color=colour,
            alpha=0.6,
            lw=0,
            zorder=layer,
        )
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
                (0.5 * (visible_start + visible_end) - origin) * factor,
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
    closed_form = potential_closed_form(result)
    domain, last_faces = _domain(result, indices)
    coordinate = "x" if result.geometry == "cartesian" else "r"
    for column, zoom in enumerate([None, *zooms]):
        potential_ax, concentration_ax = axes[0, column], axes[1, column]
        window = domain if zoom is None else (zoom.low, zoom.high)
        # Whole domain: position; a zoom: distance [nm] from the membrane's or wall's faces.
        factor, unit = _length_unit(window[1] - window[0]) if zoom is None else (1e9, "nm")
        origin = 0.0 if zoom is None else zoom.near
        # a zoom follows its membrane or wall when the mesh moves (a swelling cell)
        anchor = None if zoom is None else int(np.argmin(np.abs(result.faces - zoom.near)))
        shade = last_faces if zoom is None else None
        for ax in (potential_ax, concentration_ax):
            _shade_regions(ax, result, membranes, factor, window, ax is potential_ax, origin, shade)
        _draw_profile_curves(
            potential_ax, concentration_ax, result, case, indices, (factor, origin), log, anchor
        )
        _draw_closed_form(potential_ax, closed_form, factor, origin)
        concentration_ax.set_xlim((window[0] - origin) * factor, (window[1] - origin) * factor)
        if zoom is None:
            concentration_ax.set_xlabel(f"{coordinate} [{unit}]")
            potential_ax.set_title("whole domain", fontsize=9)
        else:
            _distance_ticks(concentration_ax, zoom, factor)
            concentration_ax.set_xlabel(f"distance from {zoom.what} [nm]")
            potential_ax.set_title(f"zoom: {zoom.title}", fontsize=9)
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
    if len(indices) > 1 or closed_form is not None:
        axes[0, 0].legend(fontsize=8, loc="best")


def _draw_closed_form(
    ax: Axes, closed_form: tuple[str, np.ndarray, np.ndarray] | None, factor: float, origin: float
) -> None:
    """The case's closed-form φ, dashed over the simulated one (nothing without one)."""
    if closed_form is None:
        return
    name, x, phi = closed_form
    ax.plot(
        (x - origin) * factor,
        phi * 1e3,
        color=CLOSED_FORM_COLOUR,
        ls="--",
        lw=1.2,
        label=f"closed form ({name})",
        zorder=3,
    )


def _distance_ticks(ax: Axes, zoom: _Zoom, factor: float) -> None:
    """Ticks of a zoom panel read as the distance from the nearer face.

    The panel is drawn in (x - zoom.near) * factor, so the membrane (or wall)
    keeps its place and thickness; ticks step outwards from each face
    (0 at both faces of a membrane), labelled with the distance from it.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    thickness = (zoom.far - zoom.near) * factor
    left = max((zoom.near - zoom.low) * factor, 0.0)
    right = max((zoom.high - zoom.far) * factor, 0.0)
    ticks = {0.0, thickness}
    # Each side its own round step, with ticks in proportion to its share of the panel.
    for side, sign, start in ((left, -1.0, 0.0), (right, 1.0, thickness)):
        if side > 0:
            bins = max(1, round(4 * side / (left + right)))
            steps = MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, side)
            ticks |= {start + sign * d for d in steps if 0 < d <= side * (1 + 1e-9)}

    def label(value: float, _position: int | None) -> str:
        distance = -value if value <= thickness / 2 else value - thickness
        return f"{abs(max(distance, 0.0)):g}"

    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(label))


def _headroom(ax: Axes) -> None:
    """Room above the curves for the region names."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.12 * (high - low))


def _species_style(number: int) -> dict[str, Any]:
    """Colour and line style of species ``number``: equal profiles stay visible."""
    return {
        "color": f"C{number % 10}",
        "ls": SPECIES_LINESTYLES[number % len(SPECIES_LINESTYLES)],
    }


def _domain(result: Result, indices: Sequence[int]) -> tuple[tuple[float, float], np.ndarray]:
    """(the span every drawn output covers, the last drawn output's faces)."""
    spans = [result.faces_at(i) for i in indices]
    low, high = min(f[0] for f in spans), max(f[-1] for f in spans)
    return (float(low), float(high)), spans[-1]


def _draw_profile_curves(
    potential_ax: Axes,
    concentration_ax: Axes,
    result: Result,
    case: Mapping[str, Any],
    indices: Sequence[int],
    scale: tuple[float, float],
    log: bool,
    anchor: int | None = None,
) -> None:
    """One φ curve per time (black, earlier lighter), to the faces; a colour and
    a line style per species for c. Positions are drawn as (x - origin) * factor,
    ``scale`` = (factor, origin); each output on its own cells (a swelling
    cell's move), shifted so that face ``anchor`` stays where it is in
    ``result.faces`` (a zoom on a membrane that moves)."""
    factor, origin = scale
    alphas = _time_alphas(len(indices))
    for alpha, index in zip(alphas, indices, strict=True):
        faces = result.faces_at(index)
        if anchor is not None:
            origin = scale[1] + faces[anchor] - result.faces[anchor]
        x = (0.5 * (faces[1:] + faces[:-1]) - origin) * factor
        last = index == indices[-1]
        label = _format_time(float(result.t[index])) if len(indices) > 1 else None
        line_x, phi = potential_line(result, case, index)
        potential_ax.plot(
            (line_x - origin) * factor, phi * 1e3, color="k", alpha=alpha, lw=1.3, label=label
        )
        for number, name in enumerate(result.species):
            values = result.concentration[index, number]
            if log:
                values = np.where(values > 0, values, np.nan)
            concentration_ax.plot(
                x,
                values,
                alpha=alpha,
                lw=1.4,
                label=name if last else None,
                **_species_style(number),
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
    per charged wall zooms on it: ``ZOOM_DEBYE_LENGTHS`` (12) bulk Debye
    lengths into each neighbouring region, or all of a shorter region, with
    the distance [nm] from the membrane's faces (or the wall) on its axis.
    Regions are shaded (membranes in tan) and named on the potential row.
    φ runs to the domain ends and region interfaces (see
    :func:`pnp.presentation.plot.face_values.potential_line`); species
    differ in colour and line style; the closed form named by the case's
    ``[expect] potential_profile`` is drawn dashed, labelled "closed form".

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
        the solutions (outside membranes) span more than
        ``LOG_CONCENTRATION_DECADES`` (1.5) decades.

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
    window, last_faces = _domain(result, indices)
    factor, unit = _length_unit(window[1] - window[0])
    for ax in (potential_ax, concentration_ax):
        _shade_regions(ax, result, membranes, factor, window, ax is potential_ax, faces=last_faces)
        ax.set_xlim(window[0] * factor, window[1] * factor)
    _draw_profile_curves(potential_ax, concentration_ax, result, case, indices, (factor, 0.0), log)
    closed_form = potential_closed_form(result)
    _draw_closed_form(potential_ax, closed_form, factor, 0.0)
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
    if len(indices) > 1 or closed_form is not None:
        potential_ax.legend(fontsize=8)
