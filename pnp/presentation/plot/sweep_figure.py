"""The ``sweep`` figure: any summary column against a parameter.

Owns the grouping into one line per value of a second parameter, the colours
of a family of lines, the units of parameter columns on the axes, and the
log-or-linear choice of each axis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .common import (
    LOG_SWEEP_DECADES,
    MARKER_LIMIT,
    _axis_label,
    _column_unit,
    _display_unit,
    _new_figure,
    _parameter_label,
    _save,
)
from .summary import _columns, _completed, _left_out, _numeric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LOG_PARAMETER_DECADES = 2.0  # log axis for a positive parameter spanning more
GEOMETRIC_RTOL = 0.02  # ratios of log-spaced values agree to this (values rounded by hand)


def _use_log(values: np.ndarray, decades: float) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size >= 2 and finite.min() > 0 and finite.max() > 10**decades * finite.min())


def _geometric(values: np.ndarray) -> bool:
    """Whether the distinct values are log-spaced: three or more, positive, in
    a constant ratio (``pnp sweep --param KEY=log:a:b:n``, or typed by hand to
    a few digits)."""
    distinct = np.unique(values[np.isfinite(values)])
    if distinct.size < 3 or distinct[0] <= 0:
        return False
    ratios = distinct[1:] / distinct[:-1]
    return bool(ratios.min() > 1.05 and ratios.max() <= ratios.min() * (1 + GEOMETRIC_RTOL))


def _label(name: str, unit: str) -> str:
    """Axis label of a column: a parameter in words (from the schema), an observable by name."""
    return _axis_label(_parameter_label(name) if "." in name else name, unit)


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
        decades = LOG_PARAMETER_DECADES if axis == "x" else LOG_SWEEP_DECADES
        if mode == "auto":
            # A log-spaced parameter reads evenly on a log axis, however few decades it spans.
            log = _use_log(values, decades) or (axis == "x" and _geometric(values))
        elif isinstance(mode, str):
            raise ValueError(f"log{axis} must be 'auto', True or False, got {mode!r}")
        else:
            log = bool(mode)
        if log:
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    ax.set_xlabel(_label(x, x_unit))
    ax.set_ylabel(_label(y, y_unit))
    ax.grid(True, lw=0.3, alpha=0.5)
    note = _left_out(columns, _completed(columns))
    if note:
        ax.set_title(note, fontsize=9)
    if by is not None:
        ax.legend(fontsize=8, title=_label(by, ""), title_fontsize=8, loc="best")


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
        two decades (x) or three (y), and a log x axis for log-spaced values
        (three or more in a constant ratio).

    Returns
    -------
    Figure

    Parameters are labelled in words with their units from the case schema
    (``region.bath.concentration.K`` → "concentration (bath, K) [mM]",
    potentials in mV); observables by name, with units from
    :func:`pnp.results.registry.observable_units`.
    """
    columns = _columns(summary)
    fig = _new_figure((6.5, 4.8))
    ax = fig.subplots()
    _draw_sweep(ax, columns, x, y, by, logx, logy)
    _save(fig, path)
    return fig
