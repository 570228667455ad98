"""Sweep summaries: one row per point, the files summary.csv/summary.h5, and reading them.

Owns the summary format (columns, units, attributes; ``SUMMARY_FORMAT``;
each observable column has its error estimate in ``<name>_error``, same unit),
:class:`SweepResult` (what ``pnp.sweep`` returns and ``pnp.load_sweep``
reads back), the row of a point from its outcome, and the atomic rewrite of
both files (temporary file + ``os.replace``) after every point.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ResultFileError
from ...results.registry import error_column, observable_names, observable_units
from .roots import zero_crossings

SUMMARY_CSV = "summary.csv"
SUMMARY_H5 = "summary.h5"
SUMMARY_FORMAT = "pnp-sweep"
SUMMARY_FORMAT_VERSION = 1
#: Status of a point that has not finished (yet) in a summary.
PENDING = "pending"
STAT_COLUMNS = ("steps", "newton_iterations", "rejected_steps", "wall_time")
INT_COLUMNS = ("index", "steps", "newton_iterations", "rejected_steps")
STRING_COLUMNS = ("status", "message", "case_sha256")


def point_path(directory: Path, index: int, n: int) -> Path:
    """The result file of point ``index`` of ``n``: ``point_0007.h5`` (at least 4 digits)."""
    width = max(4, len(str(n - 1)))
    return directory / f"point_{index:0{width}d}.h5"


@dataclass
class SweepResult:
    """What a sweep produced: one summary row per point.

    Attributes
    ----------
    out : Path or None
        The output directory (None: the sweep kept no files).
    params : tuple of str
        The swept dotted keys.
    rows : list of dict
        One per point, in sweep order (see :attr:`columns`).
    paths : list of Path or None
        Result file of each point (None without ``out``).
    zipped : bool
        Whether the parameters were zipped into one path instead of a grid.
    zip_groups : tuple of tuple of str
        The zip groups: keys whose values went together, each group one axis
        of the grid (``zipped``: one group of every key).
    """

    out: Path | None
    params: tuple[str, ...]
    rows: list[dict[str, Any]]
    paths: list[Path | None]
    zipped: bool = False
    zip_groups: tuple[tuple[str, ...], ...] = ()
    columns: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def table(self) -> dict[str, np.ndarray]:
        """Column name → array over points (float, int, or str arrays)."""
        return _table(self.columns or _columns(self.rows, self.params), self.rows)

    @property
    def failed(self) -> int:
        """Number of points whose status is "failed"."""
        return sum(row.get("status") == "failed" for row in self.rows)

    @property
    def completed(self) -> int:
        """Number of points whose status is "completed"."""
        return sum(row.get("status") == "completed" for row in self.rows)

    def column(self, name: str) -> np.ndarray:
        """One column of :attr:`table`."""
        table = self.table
        if name not in table:
            raise KeyError(f"no column {name!r}; columns: {', '.join(table)}")
        return table[name]

    def reversal_potential(self, param: str | None = None, column: str = "current") -> float:
        """Where ``column`` (default: the membrane current) crosses zero along ``param``.

        For a 1D sweep (one parameter, or zipped ones: give ``param``). Uses
        completed points only and a cubic spline through them
        (:func:`zero_crossings`).

        Raises
        ------
        ValueError
            The curve does not cross zero exactly once.
        """
        if param is None:
            if len(self.params) != 1:
                raise ValueError(f"name the parameter: the sweep has {', '.join(self.params)}")
            param = self.params[0]
        table = self.table
        ok = table["status"] == "completed"
        roots = zero_crossings(table[param][ok].astype(float), table[column][ok].astype(float))
        if roots.size != 1:
            raise ValueError(f"{column} crosses zero {roots.size} times along {param}")
        return float(roots[0])

    def __repr__(self) -> str:
        where = f" in {self.out}" if self.out is not None else ""
        points = f"{len(self.rows)} point{'s' if len(self.rows) != 1 else ''}"
        return (
            f"<SweepResult {points} over {', '.join(self.params)}: "
            f"{self.completed} completed, {self.failed} failed{where}>"
        )


def _base_columns(keys: Sequence[str], species: Sequence[str]) -> list[str]:
    observables = observable_names(species, summary=True)
    return [
        "index",
        *keys,
        "status",
        "message",
        # the registered observables with summary=True, in registry order,
        # then their error estimates in the same order
        *observables,
        *(error_column(name) for name in observables),
        *STAT_COLUMNS,
        "case_sha256",
    ]


def _row(
    index: int,
    values: Mapping[str, Any],
    sha: str,
    outcome: Mapping[str, Any],
    base_columns: Sequence[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "index": index,
        **values,
        "status": outcome["status"],
        "message": outcome.get("message", ""),
    }
    observables = outcome.get("observables", {})
    errors = {error_column(name): value for name, value in outcome.get("errors", {}).items()}
    error_of = {error_column(name): name for name in base_columns}
    stats = outcome.get("stats", {})
    for name in base_columns:
        if name in row or name == "case_sha256":
            continue
        if name in STAT_COLUMNS:
            value = stats.get(name)
            if value is None:
                row[name] = -1 if name in INT_COLUMNS else math.nan
            else:
                row[name] = int(value) if name in INT_COLUMNS else float(value)
        elif name in error_of:  # <observable>_error
            row[name] = _estimate(errors.get(name))
        else:
            row[name] = float(observables.get(name, math.nan))
    # observables beyond the standard ones, then their error estimates
    extra = [name for name in observables if name not in row]
    for name in extra:
        row[name] = float(observables[name])
    for name in extra:
        row[error_column(name)] = _estimate(errors.get(error_column(name)))
    row["case_sha256"] = sha
    return row


def _estimate(value: Any) -> float:
    """An error estimate as a column value: NaN where there is none."""
    return math.nan if value is None else float(value)


def _columns(rows: Sequence[Mapping[str, Any]], keys: Sequence[str] = ()) -> list[str]:
    columns: list[str] = ["index", *keys]
    for row in rows:
        for name in row:
            if name not in columns:
                columns.append(name)
    if "case_sha256" in columns:  # always last
        columns.remove("case_sha256")
        columns.append("case_sha256")
    return columns


def _column_array(name: str, values: list[Any]) -> np.ndarray:
    if name in STRING_COLUMNS:
        return np.array(["" if v is None else str(v) for v in values], dtype=str)
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all((isinstance(v, int | float) and not isinstance(v, bool)) or v is None for v in values):
        return np.array([math.nan if v is None else float(v) for v in values], dtype=float)
    return np.array(["" if v is None else str(v) for v in values], dtype=str)


def _table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    return {name: _column_array(name, [row.get(name) for row in rows]) for name in columns}


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


class _Summary:
    """summary.csv and summary.h5 of an output directory, rewritten atomically."""

    def __init__(
        self, out_dir: Path | None, base_columns: list[str], case, keys, zipped, groups=()
    ):
        self.out_dir = out_dir
        self.base_columns = base_columns
        self.attrs = {
            "format": SUMMARY_FORMAT,
            "format_version": SUMMARY_FORMAT_VERSION,
            "params": list(keys),
            "zip": bool(zipped),
            "zip_groups": json.dumps([list(group) for group in groups]),
            "case": case.to_toml(),
            "title": case.title,
        }

    def columns(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        columns = list(self.base_columns)
        extra = [c for c in _columns(rows) if c not in columns]
        return columns[:-1] + extra + columns[-1:]

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.out_dir is None:
            return
        columns = self.columns(rows)
        self._write_csv(columns, rows)
        self._write_h5(columns, rows)

    def _write_csv(self, columns: list[str], rows: Sequence[Mapping[str, Any]]) -> None:
        target = self.out_dir / SUMMARY_CSV
        tmp = target.with_name(f".{SUMMARY_CSV}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_csv_text(row.get(c)) for c in columns])
        os.replace(tmp, target)

    def _write_h5(self, columns: list[str], rows: Sequence[Mapping[str, Any]]) -> None:
        import h5py

        from ...results.writer import _pnp_version

        target = self.out_dir / SUMMARY_H5
        tmp = target.with_name(f".{SUMMARY_H5}.{os.getpid()}.tmp")
        table = _table(columns, rows)
        with h5py.File(tmp, "w") as f:
            for key, value in self.attrs.items():
                f.attrs[key] = value
            f.attrs["columns"] = columns
            f.attrs["pnp_version"] = _pnp_version()
            f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
            index = f.create_dataset("index", data=table["index"])
            index.make_scale("index")
            for name in columns:
                if name == "index":
                    continue
                values = table[name]
                if values.dtype.kind == "U":
                    dataset = f.create_dataset(
                        name, data=values.astype(object), dtype=h5py.string_dtype()
                    )
                else:
                    dataset = f.create_dataset(name, data=values)
                dataset.dims[0].attach_scale(index)
                # every observable column, fixed or extra, and its error estimate
                unit = observable_units(name)
                if unit:
                    dataset.attrs["units"] = unit
        os.replace(tmp, target)


def load_sweep(path: str | os.PathLike) -> SweepResult:
    """Read a sweep's ``summary.h5`` (give the file or its directory).

    Raises
    ------
    ResultFileError
        Not a readable pnp sweep summary.
    """
    import h5py

    name = Path(path)
    if name.is_dir():
        name = name / SUMMARY_H5
    if not name.is_file():
        raise ResultFileError(f"{name}: no such file")
    try:
        with h5py.File(name, "r") as f:
            if f.attrs.get("format") != SUMMARY_FORMAT:
                raise ResultFileError(f"{name}: not a pnp sweep summary")
            columns = [str(c) for c in f.attrs["columns"]]
            params = tuple(str(p) for p in f.attrs["params"])
            zipped = bool(f.attrs.get("zip", False))
            groups = tuple(tuple(g) for g in json.loads(str(f.attrs.get("zip_groups", "[]"))))
            data = {}
            for c in columns:
                dataset = f[c]
                data[c] = (
                    dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]
                )
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ResultFileError(f"{name}: damaged pnp sweep summary ({exc})") from None
    n = len(data["index"])
    rows = [{c: _plain(data[c][k]) for c in columns} for k in range(n)]
    paths = [point_path(name.parent, int(i), n) for i in data["index"]]
    return SweepResult(
        out=name.parent,
        params=params,
        rows=rows,
        paths=paths,
        zipped=zipped,
        zip_groups=groups,
        columns=columns,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
