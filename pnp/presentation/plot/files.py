"""``plot_file``: the figure for a result file or a sweep directory (``pnp plot``).

Owns the choice of figure by input and kind (profiles, or traces beside
profiles, for a result file; I-V or sweep for a sweep directory), the
default columns of a sweep figure, the default output path, and drawing on
bare figures that pyplot never tracks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .common import DPI, _bare_figure, _case_dict, _title, _zoom_windows
from .iv_figure import _draw_iv, _ghk_reference
from .profile_figure import _draw_profiles, _profile_indices
from .summary import _numeric, _parameter_columns, _read_summary_csv, _valence_map, _voltage_column
from .sweep_figure import _draw_sweep
from .trace_figure import _draw_traces

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pnp.results.result import Result

KINDS = ("profiles", "traces", "iv", "sweep")


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


CLAMP_KEYS = ("boundary.left.potential", "boundary.right.potential")


def _clamp_column(
    columns: Mapping[str, np.ndarray], point: Result | None
) -> tuple[str | None, str]:
    """The swept clamp voltage of a sweep, or None and why it has none.

    A clamp voltage: ``boundary.<side>.potential`` of a reservoir held at a
    potential (in the points' case; any such key when no point is readable),
    not a wall's electrode potential and not a floating end.
    """
    parameters = _parameter_columns(columns)
    swept = ", ".join(parameters) or "no parameter"
    clamps = [name for name in parameters if name in CLAMP_KEYS]
    if not clamps:
        return None, f"it sweeps {swept}, not a clamp voltage ({' or '.join(CLAMP_KEYS)})"
    boundary = _case_dict(point).get("boundary", {}) if point is not None else {}
    for name in clamps:
        spec = boundary.get(name.split(".")[1]) if isinstance(boundary, Mapping) else None
        if not isinstance(spec, Mapping) or (
            spec.get("type") == "reservoir" and isinstance(spec.get("potential"), int | float)
        ):
            return name, ""
        what = "a wall's electrode" if spec.get("type") == "wall" else "a floating end's"
    return None, f"it sweeps {what} potential ({clamps[-1]}), not a clamp voltage"


def _default_sweep_kind(columns: Mapping[str, np.ndarray], point: Result | None) -> str:
    parameters = _parameter_columns(columns)
    if len(parameters) == 1 and "current" in columns and _clamp_column(columns, point)[0]:
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
        # A parameter zipped with x (one value per value of x) would give one point per line.
        x_values = np.asarray(columns[x]).astype(str) if x in columns else None
        others = [
            name
            for name in parameters
            if name != x
            and (
                x_values is None
                or len(set(zip(x_values, np.asarray(columns[name]).astype(str), strict=True)))
                > len(set(x_values))
            )
        ]
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
        parameter is a clamp voltage (``boundary.<side>.potential`` of a
        reservoir held at a potential) and it has a current, else "sweep".
    out : path, optional
        Where to write the figure. Default: next to the result file with
        suffix ``.png``; ``<kind>.png`` inside a sweep directory.
    x, y, by : str, optional
        Columns of a "sweep" figure. Default: the first parameter, then
        ``current`` if that parameter is a potential else
        ``membrane_potential``, one line per value of a second parameter
        (unless it is zipped with the first: then one line).

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
        ``iv`` of a result file or of a sweep whose parameter is not a clamp
        voltage, ...).
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown plot kind {kind!r}; choose from {', '.join(KINDS)}")
    source = Path(path)
    if source.is_dir():
        columns = _sweep_directory_columns(source)
        point = _first_point_result(source)
        kind = kind or _default_sweep_kind(columns, point)
        if kind not in ("iv", "sweep"):
            raise ValueError(
                f"{source} is a sweep directory: plot kind must be iv or sweep, not {kind}"
            )
        if kind == "iv":
            clamp, why = _clamp_column(columns, point)
            if clamp is None:
                raise ValueError(f"no I-V curve: {why}; use --kind sweep")
        target = Path(out) if out is not None else source / f"{kind}.png"
        fig = _draw_sweep_directory(source, columns, kind, (x, y, by), point)
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


def _sweep_directory_columns(source: Path) -> dict[str, np.ndarray]:
    """The columns of a sweep directory's ``summary.csv``."""
    from pnp.errors import ResultFileError

    summary_path = source / "summary.csv"
    if not summary_path.is_file():
        raise ResultFileError(f"{source}: directory without summary.csv, so not a sweep output")
    columns = _read_summary_csv(summary_path)
    if not columns:
        raise ResultFileError(f"{summary_path}: empty summary")
    return columns


def _draw_sweep_directory(
    source: Path,
    columns: Mapping[str, np.ndarray],
    kind: str,
    choice: tuple[str | None, str | None, str | None],
    point: Result | None,
) -> Figure:
    """The "iv" or "sweep" figure of a sweep directory, titled by its case or name.

    ``choice``: the x, y and by columns of a "sweep" figure (None: default).
    """
    fig = _bare_figure((6.5, 4.8))
    ax = fig.subplots()
    x, y, by = choice
    if kind == "iv":
        voltage = _clamp_column(columns, point)[0] or _voltage_column(columns)
        reference = _ghk_reference(point, voltage, _numeric(columns, voltage))
        _draw_iv(ax, columns, voltage, reference, _valence_map(point))
    else:
        x, y, by = _sweep_defaults(columns, x, y, by)
        _draw_sweep(ax, columns, x, y, by, "auto", "auto")
    fig.suptitle(point.title if point is not None and point.title else source.name, fontsize=11)
    return fig


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
