"""Sweep summaries as the figures read them: a dict of equal-length columns.

Owns the accepted forms of a summary (mapping, DataFrame, SweepResult, or
the path of ``summary.csv`` or its directory), the CSV reader, and the
column queries the I-V and sweep figures share: numeric columns, completed
rows and the note on the rest, parameter and voltage columns, valences.

The CSV reader is this module's own: :func:`pnp.load_sweep` reads
``summary.h5`` instead, and a sweep directory (or a hand-written summary)
is recognised here by its ``summary.csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


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
