"""Parameter sweeps: grids of case overrides run on any executor.

Public interface: docs/interface.md, sections "Python API" and "Command line".

A sweep is one case and a few dotted keys, each with a list of values::

    import pnp
    from pnp.simulation.sweep import sweep, parse_spec

    case = pnp.load_case("cases/ghk_iv.toml")
    res = sweep(case, {"boundary.left.potential": parse_spec("-0.1:0.06:33")},
                out="results/ghk_iv_sweep")
    res.table["current"]            # one value per point [A/m^2]
    res.reversal_potential()        # zero crossing of the I-V curve [V]

or from the shell::

    pnp sweep cases/ghk_iv.toml --param boundary.left.potential=-0.1:0.06:33

SPEC is ``a:b:n`` (n values from a to b, inclusive), ``log:a:b:n`` (log
spaced) or a list ``v1,v2,...``; values may carry units (``"-100 mV:60 mV:17"``,
``"5 mM,10 mM"``). Several parameters make a Cartesian grid (the first one
varies slowest) or, with ``zip``, a path through equal-length lists. Every
point is ``case.with_overrides({...})`` and every point is validated before
anything runs: one bad key or value fails the whole sweep at once.

Output directory
----------------
``point_0000.h5``, ``point_0001.h5``, ...  one result file per point
                                           (docs/interface.md, "Result files")
``summary.csv``, ``summary.h5``            one row per point: index, parameter
                                           values (SI), status, message, the
                                           observables at the end of the run,
                                           solver work, wall time, case_sha256

Both summaries are rewritten (temporary file + ``os.replace``) each time a
point finishes, so an interrupted sweep keeps what it did; points not yet run
are listed with status "pending". ``resume=True`` (``--resume``) keeps every
point whose file is completed and holds the same resolved case (by the
SHA-256 of ``case.to_toml()``) and runs the others again: failed, missing,
damaged or computed from another case.

Failures stay with their point: a solver failure (status "failed") or any
exception in the worker is recorded with its message and the sweep goes on.
If a worker process of the local pool dies (segfault, out of memory), the
points it took down are run again, alone if need be; one that kills its
worker twice is recorded as failed. ``pnp sweep`` exits 3 when any point
failed, after finishing all of them.

Executors
---------
Points are independent tasks for any ``concurrent.futures.Executor``. The
default is a local ``ProcessPoolExecutor`` with ``max_workers`` (``-j N``,
default: every core) workers started by *spawn*, running the module-level
function :func:`run_point`. Before fanning out, the sweep runs a tiny
version of the first point in the calling process (:func:`warm_up`): numba
compiles the kernels once and stores them in its on-disk cache, and every
worker loads the compiled code from there instead of compiling its own.
With one worker the points run in the calling process.

A Dask cluster: ``pnp sweep ... --scheduler tcp://HOST:8786`` connects a
``dask.distributed.Client`` to a running scheduler and submits through
``client.get_executor()``; ``--scheduler local`` starts a ``LocalCluster``
(``-j`` worker processes, one thread each) on this machine. From Python::

    from dask.distributed import Client
    with Client("tcp://HOST:8786") as client:
        res = sweep(case, params, executor=client.get_executor(), out=...)

Dask is an optional extra: ``pip install 'pnp[dask]'``.

On an HPC cluster
~~~~~~~~~~~~~~~~~
Workers write the point files themselves, so ``out`` must be on a file
system every node sees (home, project or scratch space), and pnp must be
installed in the same environment on every node. The numba cache lives
beside the installed package (or in ``NUMBA_CACHE_DIR``, which should then
also be shared): the warm-up in the submitting process fills it once.

* dask-jobqueue (workers as batch jobs)::

      from dask_jobqueue import SLURMCluster      # or PBSCluster, SGECluster, ...
      from dask.distributed import Client
      cluster = SLURMCluster(cores=32, processes=32, memory="64GB",
                             walltime="02:00:00")
      cluster.scale(jobs=4)                       # 128 worker processes
      with Client(cluster) as client:
          sweep(case, params, executor=client.get_executor(), out="/scratch/me/iv")

* by hand: start ``dask-scheduler`` on one node (it prints its address,
  ``tcp://NODE:8786``), ``dask-worker tcp://NODE:8786 --nworkers 32
  --nthreads 1`` on each compute node (e.g. ``srun dask-worker ...`` inside
  one allocation), then ``pnp sweep CASE --param ... --scheduler
  tcp://NODE:8786 -o /shared/dir``.

* MPI, with ``mpi4py.futures`` (rank 0 submits, the others work)::

      # sweep_mpi.py
      from mpi4py.futures import MPIPoolExecutor
      import pnp
      from pnp.simulation.sweep import sweep, parse_spec
      if __name__ == "__main__":
          case = pnp.load_case("cases/ghk_iv.toml")
          with MPIPoolExecutor() as pool:
              sweep(case, {"boundary.left.potential": parse_spec("-0.1:0.06:161")},
                    executor=pool, out="/scratch/me/iv")

  run as ``mpiexec -n 64 python -m mpi4py.futures sweep_mpi.py``.

Continuation
------------
``continuation=True`` (1D sweeps of steady cases: one parameter, or zipped
ones) runs the points one after another, each starting from the final state
of the last completed point before it (:func:`pnp.simulation.runner.restart_state`)
instead of the case's initial contents. Every point must have the same mesh.
The steady state reached is the same to within the solver tolerance.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor, CancelledError, Executor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaseError, ResultFileError

__all__ = [
    "SweepResult",
    "add_sweep_arguments",
    "cmd_sweep",
    "dask_executor",
    "load_sweep",
    "parse_param",
    "parse_spec",
    "point_overrides",
    "run_point",
    "sweep",
    "warm_up",
    "zero_crossings",
]

SUMMARY_CSV = "summary.csv"
SUMMARY_H5 = "summary.h5"
SUMMARY_FORMAT = "pnp-sweep"
SUMMARY_FORMAT_VERSION = 1
#: Status of a point that has not finished (yet) in a summary.
PENDING = "pending"
#: Observables every summary has (plus ``flux_<species>`` after ``pump_current``).
LEADING_OBSERVABLES = ("membrane_potential", "current", "pump_current")
TRAILING_OBSERVABLES = ("surface_charge_left", "surface_charge_right")
STAT_COLUMNS = ("steps", "newton_iterations", "rejected_steps", "wall_time")
INT_COLUMNS = ("index", "steps", "newton_iterations", "rejected_steps")
STRING_COLUMNS = ("status", "message", "case_sha256")
# A point whose worker process died this many times runs alone; dying alone
# as well marks it failed.
_CRASHES_BEFORE_ALONE = 2

builtins_zip = zip  # `zip` is also a parameter of `sweep` and `point_overrides`

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


# ---------------------------------------------------------------------------
# Parameter specs and points
# ---------------------------------------------------------------------------


def parse_spec(text: str) -> list[Any]:
    """Values of one swept parameter from a SPEC string.

    ``a:b:n``
        n values from a to b, evenly spaced, both ends included.
    ``log:a:b:n``
        n values from a to b, evenly spaced in log (a, b non-zero, same sign).
    ``v1,v2,...``
        the values given, each read as a TOML value (``0.5``, ``"floating"``)
        or, failing that, a bare string (``5 nm``, ``floating``).
    ``v``
        one value.

    The ends of a range may carry a unit, the same at both ends
    (``"-100 mV:60 mV:17"``); the values are then strings with that unit,
    which the case converts like any other override. A range of integers
    (``"4:16:4"``) whose values are all integral gives ints.

    Raises
    ------
    CaseError
        Malformed SPEC.
    """
    if not isinstance(text, str):
        raise CaseError(f"a SPEC is a string, got {type(text).__name__}")
    spec = text.strip()
    if not spec:
        raise CaseError("empty SPEC; expected a:b:n, log:a:b:n or v1,v2,...")
    if "," in spec:
        items = [item.strip() for item in spec.split(",")]
        if not all(items):
            raise CaseError(f"SPEC '{text}': empty item in the list v1,v2,...")
        return [_value(item) for item in items]
    head, _, rest = spec.partition(":")
    if head.strip().lower() == "log" and rest:
        return _range(rest, text, log=True)
    if ":" in spec:
        return _range(spec, text, log=False)
    return [_value(spec)]


def _value(text: str) -> Any:
    from ..input.overrides import parse_override

    return parse_override(f"value={text}")[1]


def _range(body: str, text: str, log: bool) -> list[Any]:
    import re

    form = "log:a:b:n" if log else "a:b:n"
    parts = [part.strip() for part in body.split(":")]
    if len(parts) != 3:
        raise CaseError(f"SPEC '{text}': expected {form}")
    ends = []
    for part in parts[:2]:
        match = re.fullmatch(rf"\s*({_NUMBER})\s*(.*?)\s*", part)
        if match is None:
            raise CaseError(f"SPEC '{text}': '{part}' is not a number (with an optional unit)")
        ends.append((match.group(1), match.group(2)))
    (a_text, a_unit), (b_text, b_unit) = ends
    if a_unit != b_unit:
        raise CaseError(
            f"SPEC '{text}': give both ends the same unit "
            f"(got '{a_unit or 'none'}' and '{b_unit or 'none'}')"
        )
    if not re.fullmatch(r"\d+", parts[2]):
        raise CaseError(f"SPEC '{text}': the count n must be a positive integer, got '{parts[2]}'")
    n = int(parts[2])
    a, b = float(a_text), float(b_text)
    if n < 1 or (n == 1 and a != b):
        raise CaseError(f"SPEC '{text}': n must be at least 2 (or 1 with a == b)")
    if not (math.isfinite(a) and math.isfinite(b)):
        raise CaseError(f"SPEC '{text}': the ends must be finite")
    if log:
        if a == 0 or b == 0 or (a < 0) != (b < 0):
            raise CaseError(f"SPEC '{text}': a log range needs non-zero ends of the same sign")
        values = np.geomspace(a, b, n)
        values[0], values[-1] = a, b  # exact ends
    else:
        values = np.linspace(a, b, n)
    integral = (
        not log
        and re.fullmatch(r"[+-]?\d+", a_text)
        and re.fullmatch(r"[+-]?\d+", b_text)
        and all(float(v).is_integer() for v in values)
    )
    out: list[Any] = [int(v) if integral else float(v) for v in values]
    if a_unit:
        out = [f"{v!r} {a_unit}" for v in out]
    return out


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``KEY=SPEC`` (the ``--param`` option) → ``(key, values)``."""
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key or any(c.isspace() for c in key):
        raise CaseError(f"expected --param KEY=SPEC with a dotted KEY, got '{text}'")
    return key, parse_spec(spec)


def _values(key: str, values: Any) -> list[Any]:
    if isinstance(values, str):
        values = parse_spec(values)
    elif isinstance(values, np.ndarray):
        values = values.reshape(-1).tolist()
    elif not isinstance(values, Sequence) or isinstance(values, bytes | bytearray):
        try:
            values = list(values)
        except TypeError:
            raise CaseError(
                f"sweep values must be a sequence or a SPEC string, got {type(values).__name__}",
                key=key,
            ) from None
    out = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not out:
        raise CaseError("no values to sweep", key=key)
    return out


def point_overrides(params: Mapping[str, Any], zip: bool = False) -> list[dict[str, Any]]:
    """The override dict of every point, in sweep order.

    A Cartesian grid (the first parameter varies slowest), or with ``zip``
    the i-th values of every parameter together (equal lengths required).
    """
    if not isinstance(params, Mapping) or not params:
        raise CaseError("a sweep needs at least one parameter: {dotted key: values}")
    keys = list(params)
    for key in keys:
        if not isinstance(key, str) or not key.strip():
            raise CaseError(f"sweep parameters are dotted keys, got {key!r}")
    lists = [_values(key, params[key]) for key in keys]
    if zip:
        lengths = {key: len(values) for key, values in builtins_zip(keys, lists)}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise CaseError(f"zipped parameters need equal numbers of values ({detail})")
        combos = builtins_zip(*lists)
    else:
        combos = itertools.product(*lists)
    return [dict(builtins_zip(keys, combo)) for combo in combos]


def _describe(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _validate(case, points: list[dict[str, Any]]) -> list:
    """Every point's case, or a CaseError naming the first bad point and key."""
    cases = []
    for index, point in enumerate(points):
        try:
            cases.append(case.with_overrides(point))
        except CaseError as exc:
            error = CaseError(f"sweep point {index} ({_describe(point)}): {exc}")
            error.file, error.key = exc.file, exc.key
            raise error from None
    return cases


def _resolved(tree: Any, key: str) -> Any:
    """The value at dotted ``key`` in a resolved case dict (None if not found).

    Lists (regions, pumps) are entered by name, by index, or, holding a single
    entry, directly.
    """
    node = tree
    for part in key.split("."):
        while True:
            if isinstance(node, dict):
                if part not in node:
                    return None
                node = node[part]
                break
            if isinstance(node, list):
                named = [e for e in node if isinstance(e, dict) and e.get("name") == part]
                if named:
                    node = named[0]
                    break
                if part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                    break
                if len(node) == 1:
                    node = node[0]
                    continue
            return None
    return node


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------
# Running one point (in a worker)
# ---------------------------------------------------------------------------


def _outcome(result) -> dict[str, Any]:
    """The summary fields of a Result: status, message, final observables, work."""
    observables = {}
    for name, series in result.observables().items():
        values = np.asarray(series, dtype=float).reshape(-1)
        observables[name] = float(values[-1]) if values.size else math.nan
    stats = {name: result.stats.get(name) for name in STAT_COLUMNS}
    return {
        "status": result.status,
        "message": str(result.message),
        "observables": observables,
        "stats": stats,
    }


def _failure(message: str, wall_time: float = math.nan) -> dict[str, Any]:
    return {
        "status": "failed",
        "message": message,
        "observables": {},
        "stats": {"wall_time": wall_time},
    }


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one sweep point; the task function every executor receives.

    Module level (importable by name) so that spawned processes, Dask and MPI
    workers can unpickle it. Never raises for a failed point: a solver
    failure or any exception comes back as status "failed" with the message.

    Parameters
    ----------
    task : mapping
        ``case`` (a validated Case), ``path`` (result file to write, or
        None), ``x0`` (initial state vector, or None).

    Returns
    -------
    dict
        ``status``, ``message``, ``observables`` (name → value at the end of
        the run), ``stats`` (steps, newton_iterations, rejected_steps,
        wall_time [s]).
    """
    start = time.perf_counter()
    try:
        from .runner import run

        path = task.get("path")
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a stale file of an earlier attempt
        return _outcome(
            run(task["case"], output=None if path is None else os.fspath(path), x0=task.get("x0"))
        )
    except Exception as exc:
        return _failure(f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


def warm_up(case) -> None:
    """Compile every kernel a run of ``case`` calls, or load it from numba's cache.

    Runs two steps of ``case`` on a 4-cells-per-region mesh without writing
    anything: the compiled code depends on the argument types only, not on
    the mesh, so the tiny mesh compiles (or loads) exactly what the points
    need without holding up the fan-out by a full solve. The kernels are
    ``@njit(cache=True)``: compiling them here stores the machine code on
    disk, where worker processes find it. Failures are ignored (the points
    themselves will report them).
    """
    from .runner import run

    with contextlib.suppress(Exception):
        run(case.with_overrides({"run.max_steps": 2, "mesh.uniform_cells": 4}))


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------


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
        Whether the parameters were zipped instead of gridded.
    """

    out: Path | None
    params: tuple[str, ...]
    rows: list[dict[str, Any]]
    paths: list[Path | None]
    zipped: bool = False
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
        return (
            f"<SweepResult {len(self.rows)} point{'s' if len(self.rows) != 1 else ''} over {', '.join(self.params)}: "
            f"{self.completed} completed, {self.failed} failed{where}>"
        )


def sweep(
    case,
    params: Mapping[str, Any],
    executor: Executor | None = None,
    zip: bool = False,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    continuation: bool = False,
    progress: bool = False,
    max_workers: int | None = None,
    force: bool = False,
) -> SweepResult:
    """Run ``case`` at every point of a parameter grid.

    Parameters
    ----------
    case : pnp.Case or path
        The base case (a path is loaded with `pnp.load_case`).
    params : mapping
        Dotted key → values: a sequence (numbers, unit strings) or a SPEC
        string (:func:`parse_spec`).
    executor : concurrent.futures.Executor, optional
        Where points run: a ``ProcessPoolExecutor``, ``client.get_executor()``
        of a Dask client, an ``mpi4py.futures.MPIPoolExecutor``... Default:
        a local spawn-based process pool with ``max_workers`` workers. Not
        shut down by the sweep.
    zip : bool
        Zip the parameters (equal lengths) instead of a Cartesian grid.
    out : str or path, optional
        Output directory (created): point files and summaries. Default: no
        files, only the returned table.
    resume : bool
        Keep the points of ``out`` already completed with the same resolved
        case, run the rest.
    continuation : bool
        1D steady sweeps: run in order, each point starting from the last
        completed point's state (in this process, or one at a time on
        ``executor``).
    progress : bool
        A tqdm bar over points (done, failed, running, ETA) on stderr.
    max_workers : int, optional
        Workers of the default pool (default: every core).
    force : bool
        Start over in an ``out`` that holds an earlier sweep (its point
        files and summaries are deleted first).

    Returns
    -------
    SweepResult

    Raises
    ------
    CaseError
        A malformed parameter, or a point whose override is invalid (named
        with its index and key), before any point runs or any file is
        written; an ``out`` holding an earlier sweep without ``resume`` or
        ``force``; continuation where it does not apply.
    """
    if isinstance(case, str | os.PathLike):
        from ..input.case import load_case

        case = load_case(case)
    if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
        raise CaseError(f"max_workers must be a positive integer, got {max_workers!r}")
    points = point_overrides(params, zip=zip)
    keys = tuple(points[0])
    cases = _validate(case, points)
    if continuation:
        _check_continuation(cases, keys, zip)
    hashes = [_sha256(c.to_toml()) for c in cases]
    param_values = []
    for point, point_case in builtins_zip(points, cases):
        resolved = point_case.to_dict()
        values = {}
        for key, given in point.items():
            value = _resolved(resolved, key)
            values[key] = value if isinstance(value, int | float | str | bool) else given
        param_values.append(values)

    n = len(points)
    width = max(4, len(str(n - 1)))
    out_dir = None if out is None else Path(out)
    scratch = None
    if out_dir is not None:
        _prepare_out(out_dir, resume, force)
        file_dir = out_dir
    elif continuation:
        scratch = tempfile.TemporaryDirectory(prefix="pnp-sweep-")
        file_dir = Path(scratch.name)
    else:
        file_dir = None
    files = [None if file_dir is None else file_dir / f"point_{i:0{width}d}.h5" for i in range(n)]

    base_columns = _base_columns(keys, case.species_names)
    rows: list[dict[str, Any]] = [
        _row(i, param_values[i], hashes[i], {"status": PENDING, "message": ""}, base_columns)
        for i in range(n)
    ]
    summary = _Summary(out_dir, base_columns, case, keys, zip)
    pending = list(range(n))
    if resume and out_dir is not None:
        pending = []
        for i in range(n):
            kept = _completed_outcome(files[i], hashes[i])
            if kept is None:
                pending.append(i)
            else:
                rows[i] = _row(i, param_values[i], hashes[i], kept, base_columns)
    summary.write(rows)

    bar = (
        _Progress(n, n - len(pending), sum(r["status"] == "failed" for r in rows))
        if progress
        else None
    )

    def record(i: int, outcome: Mapping[str, Any]) -> None:
        rows[i] = _row(i, param_values[i], hashes[i], outcome, base_columns)
        summary.write(rows)
        if bar is not None:
            bar.done(outcome["status"] == "failed")

    def task(i: int, x0=None) -> dict[str, Any]:
        return {
            "case": cases[i],
            "path": None if files[i] is None else os.fspath(files[i]),
            "x0": x0,
        }

    try:
        if continuation:
            _run_continued(cases, files, rows, pending, task, record, executor, bar)
        elif pending:
            _run_parallel(cases, pending, task, record, executor, max_workers, bar)
    finally:
        if bar is not None:
            bar.close()
        if scratch is not None:
            scratch.cleanup()
    return SweepResult(
        out=out_dir,
        params=keys,
        rows=rows,
        paths=list(files) if out_dir is not None else [None] * n,
        zipped=zip,
        columns=summary.columns(rows),
    )


def _check_continuation(cases: list, keys: tuple[str, ...], zipped: bool) -> None:
    from ..discretisation.mesh import build_mesh

    if len(keys) > 1 and not zipped:
        raise CaseError("continuation needs a 1D sweep: one parameter, or zipped parameters")
    modes = {c.run.mode for c in cases}
    if modes != {"steady"}:
        raise CaseError(
            'continuation applies to steady runs only (run.mode = "steady"): a '
            "transient run starting from another point's state is another problem"
        )
    centres = build_mesh(cases[0]).centers
    for index, point_case in enumerate(cases[1:], start=1):
        other = build_mesh(point_case).centers
        if other.shape != centres.shape or not np.allclose(other, centres, rtol=1e-12, atol=0.0):
            raise CaseError(
                f"continuation needs the same mesh at every point; point {index} has "
                f"another one ({other.size} cells, point 0: {centres.size}): the swept "
                "value changes the mesh (mesh.uniform_cells fixes it)"
            )


def _prepare_out(out_dir: Path, resume: bool, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise CaseError(f"output directory {out_dir} is a file")
    earlier = []
    if out_dir.is_dir():
        earlier = [
            p
            for p in out_dir.iterdir()
            if p.name in (SUMMARY_CSV, SUMMARY_H5)
            or (p.name.startswith("point_") and p.suffix == ".h5")
        ]
    if earlier and not resume:
        if not force:
            raise CaseError(
                f"{out_dir} holds an earlier sweep; resume it (--resume) or start "
                "over (--force) or choose another directory (-o)"
            )
        for p in earlier:
            p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _completed_outcome(path: Path | None, sha: str) -> dict[str, Any] | None:
    """The outcome stored in ``path`` if it completed the case with hash ``sha``."""
    if path is None or not path.is_file():
        return None
    from ..results.io import load_result

    try:
        result = load_result(path)
    except ResultFileError:
        return None
    if result.status != "completed" or _sha256(result.case_toml) != sha:
        return None
    return _outcome(result)


def _run_continued(cases, files, rows, pending, task, record, executor, bar) -> None:
    """Points in order, each from the state of the last completed one before it."""
    from .runner import restart_state

    todo = set(pending)
    previous = None
    for i in range(len(cases)):
        if i in todo:
            x0 = None
            if previous is not None:
                try:
                    x0 = restart_state(cases[i], previous)[0]
                except (CaseError, ResultFileError):
                    x0 = None  # unreadable neighbour: start from the initial contents
            if bar is not None:
                bar.running(1)
            if executor is None:
                outcome = run_point(task(i, x0))
            else:
                outcome = _collect(executor.submit(run_point, task(i, x0)))
            record(i, outcome)
            if outcome["status"] == "completed":
                previous = files[i]
        elif rows[i]["status"] == "completed":
            previous = files[i]


def _collect(future) -> dict[str, Any]:
    try:
        return future.result()
    except CancelledError:
        return _failure("cancelled")
    except Exception as exc:  # raised in transport or by the executor, not by the point
        return _failure(f"{type(exc).__name__}: {exc}")


def _cores() -> int:
    """Cores this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _spawn_pool(workers: int) -> Executor:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: workers start clean (no forked numba/HDF5/thread state) and the
    # path is the one remote executors take: run_point imported by name.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


#: Thread counts of the BLAS/OpenMP libraries, pinned to 1 in pool workers.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@contextlib.contextmanager
def _one_thread_per_worker():
    """Spawned workers inherit these variables: one BLAS thread each.

    N workers on N cores, each with a BLAS pool of N threads, oversubscribe
    the machine: measured on 2 cores with 2000-cell points, 2 workers took
    twice as long as 1. Values the user set are kept. (Dask's nanny does the
    same for its workers.)
    """
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name, value in saved.items():
        if value is None:
            os.environ[name] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def _run_parallel(
    cases,
    pending,
    task,
    record,
    executor,
    max_workers,
    bar,
    runner: Callable[[Mapping[str, Any]], dict[str, Any]] = run_point,
) -> None:
    if executor is not None:
        warm_up(cases[pending[0]])
        _drain(executor, pending, task, record, bar, runner, retry=None)
        return
    workers = min(max_workers or _cores(), len(pending))
    if workers == 1:
        for i in pending:
            if bar is not None:
                bar.running(1)
            record(i, runner(task(i)))
        return
    warm_up(cases[pending[0]])
    crashes: Counter[int] = Counter()
    queue = list(pending)
    while queue:
        together = [i for i in queue if crashes[i] < _CRASHES_BEFORE_ALONE]
        alone = [i for i in queue if crashes[i] >= _CRASHES_BEFORE_ALONE]
        queue = []
        rounds = [(together, workers)] if together else []
        rounds += [([i], 1) for i in alone]
        for group, size in rounds:
            size = min(size, len(group))
            last_chance = size == 1 and crashes[group[0]] >= _CRASHES_BEFORE_ALONE
            # workers start as tasks are submitted: keep the variables set
            with _one_thread_per_worker():
                pool = _spawn_pool(size)
                try:
                    queue += _drain(
                        pool,
                        group,
                        task,
                        record,
                        bar,
                        runner,
                        retry=None if last_chance else crashes,
                        workers=size,
                    )
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)


def _drain(
    executor, indices, task, record, bar, runner, retry: Counter | None, workers: int | None = None
) -> list[int]:
    """Submit ``indices``, record them as they finish; return those to run again.

    With ``retry`` (the local pool), points whose worker process died
    (BrokenExecutor) are counted there and returned instead of recorded; a
    no-op submitted first tells a point that kills its worker from workers
    that cannot start at all. ``workers`` caps the running count shown (a
    process pool marks one queued call more running).
    """
    ping = executor.submit(os.getpid) if retry is not None else None
    futures = {executor.submit(runner, task(i)): i for i in indices}
    again = []
    cap = workers or len(futures)

    def show_running() -> None:
        if bar is not None:
            bar.running(min(cap, sum(f.running() for f in futures if not f.done())))

    show_running()
    try:
        for future in as_completed(futures):
            i = futures[future]
            try:
                outcome = future.result()
            except BrokenExecutor as exc:
                if ping is not None and ping.exception() is not None:
                    raise RuntimeError(
                        "the worker processes of the local pool die before running anything "
                        f"({exc}); a script that sweeps with the default pool must start "
                        "from `if __name__ == '__main__':` (workers are spawned and import it), "
                        "see the messages above"
                    ) from None
                if retry is not None:
                    retry[i] += 1
                    again.append(i)
                    continue
                outcome = _failure(f"worker process died ({type(exc).__name__}: {exc})")
            except CancelledError:
                outcome = _failure("cancelled")
            except Exception as exc:
                outcome = _failure(f"{type(exc).__name__}: {exc}")
            record(i, outcome)
            show_running()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return sorted(again)


class _Progress:
    """tqdm bar over points: done, failed, running, ETA."""

    def __init__(self, total: int, done: int, failed: int):
        from tqdm import tqdm

        self.failed = failed
        self.active = 0
        self.bar = tqdm(
            total=total,
            initial=done,
            desc="sweep",
            unit="point",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(f"failed={self.failed} running={self.active}", refresh=True)

    def running(self, count: int) -> None:
        self.active = count
        self._show()

    def done(self, failed: bool) -> None:
        self.failed += bool(failed)
        self.active = max(0, self.active - 1)
        self.bar.update(1)
        self._show()

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------
# Summary rows and files
# ---------------------------------------------------------------------------


def _base_columns(keys: Sequence[str], species: Sequence[str]) -> list[str]:
    return [
        "index",
        *keys,
        "status",
        "message",
        *LEADING_OBSERVABLES,
        *[f"flux_{s}" for s in species],
        *TRAILING_OBSERVABLES,
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
        else:
            row[name] = float(observables.get(name, math.nan))
    for name, value in observables.items():  # observables beyond the standard ones
        row.setdefault(name, float(value))
    row["case_sha256"] = sha
    return row


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

    def __init__(self, out_dir: Path | None, base_columns: list[str], case, keys, zipped):
        self.out_dir = out_dir
        self.base_columns = base_columns
        self.attrs = {
            "format": SUMMARY_FORMAT,
            "format_version": SUMMARY_FORMAT_VERSION,
            "params": list(keys),
            "zip": bool(zipped),
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

        from ..results.io import _pnp_version

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
                if (
                    name in LEADING_OBSERVABLES
                    or name in TRAILING_OBSERVABLES
                    or name.startswith("flux_")
                ):
                    from ..results.result import observable_units

                    dataset.attrs["units"] = observable_units(name)
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
            data = {}
            for c in columns:
                dataset = f[c]
                data[c] = (
                    dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]
                )
    except (OSError, KeyError) as exc:
        raise ResultFileError(f"{name}: damaged pnp sweep summary ({exc})") from None
    n = len(data["index"])
    rows = [{c: _plain(data[c][k]) for c in columns} for k in range(n)]
    width = max(4, len(str(n - 1)))
    paths = [name.parent / f"point_{int(i):0{width}d}.h5" for i in data["index"]]
    return SweepResult(
        out=name.parent, params=params, rows=rows, paths=paths, zipped=zipped, columns=columns
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------
# I-V analysis
# ---------------------------------------------------------------------------


def zero_crossings(x: Any, y: Any) -> np.ndarray:
    """Where y(x) crosses zero, from samples: a cubic spline root in each sign change.

    Non-finite samples are dropped and the rest sorted by x. Each interval
    whose end values have opposite signs (or a sample exactly at 0) gives one
    root: of the not-a-knot cubic spline through all samples (4 or more), else
    of the straight line between the two. The spline takes a smooth curve's
    interpolation error from O(h^2) to O(h^4): on the GHK I-V curve with
    20 mV spacing, from ~1 mV to ~0.01 mV.
    """
    from scipy.interpolate import CubicSpline
    from scipy.optimize import brentq

    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError("x and y need the same length")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.size < 2:
        return np.empty(0)
    if np.any(np.diff(x) == 0):
        raise ValueError("repeated x values: zero crossings need a 1D curve")
    spline = CubicSpline(x, y) if x.size >= 4 else None
    roots = []
    for k in range(x.size - 1):
        y0, y1 = y[k], y[k + 1]
        if y0 == 0:
            roots.append(x[k])
        elif y0 * y1 < 0:
            if spline is None:
                roots.append(x[k] - y0 * (x[k + 1] - x[k]) / (y1 - y0))
            else:
                roots.append(brentq(lambda v: float(spline(v)), x[k], x[k + 1], xtol=1e-15))
    if y[-1] == 0:
        roots.append(x[-1])
    return np.array(roots, dtype=float)


# ---------------------------------------------------------------------------
# Command line: `pnp sweep`
# ---------------------------------------------------------------------------


def add_sweep_arguments(parser) -> None:
    """Add the options of ``pnp sweep`` to an argparse (sub)parser."""
    parser.add_argument("case", help="case file (TOML)")
    parser.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        required=True,
        metavar="KEY=SPEC",
        help="swept dotted key; SPEC: a:b:n (linear, inclusive), log:a:b:n or "
        "v1,v2,... (units allowed: -100 mV:60 mV:17); repeatable (grid)",
    )
    parser.add_argument(
        "--zip", action="store_true", help="zip the --param lists (equal lengths) instead of a grid"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: all cores); with --scheduler local: Dask workers",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="run on a Dask cluster: scheduler address (tcp://host:8786), or "
        "'local' for a LocalCluster on this machine (needs pnp[dask])",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="output directory (default: <case output dir>/<case>_sweep)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep points already completed in DIR with the same case; run the rest",
    )
    parser.add_argument(
        "--force", action="store_true", help="start over in a DIR that holds an earlier sweep"
    )
    parser.add_argument(
        "--continuation",
        action="store_true",
        help="1D steady sweeps: start each point from its neighbour's solution",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the base case; repeatable",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    if "--debug" not in getattr(parser, "_option_string_actions", {}):
        import argparse

        parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


@contextlib.contextmanager
def dask_executor(address: str, workers: int | None = None):
    """A Dask executor: ``address`` of a running scheduler, or "local" for a LocalCluster.

    A context manager yielding ``client.get_executor()``; client and cluster
    are closed on exit.

    Raises
    ------
    ImportError
        dask.distributed is not installed (``pip install 'pnp[dask]'``).
    ConnectionError
        No scheduler answers at ``address``.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "--scheduler needs dask.distributed: pip install 'pnp[dask]' (or dask[distributed])"
        ) from None
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers or _cores(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address))
            except OSError as exc:  # dask reports an unreachable scheduler as OSError
                raise ConnectionError(
                    f"cannot reach the Dask scheduler at {address}: {exc}"
                ) from None
        yield client.get_executor(pure=False)


def cmd_sweep(args) -> int:
    """``pnp sweep``: 0 all points completed, 2 bad input, 3 some point failed."""
    from ..input import load_case, parse_override

    try:
        overrides = dict(parse_override(item) for item in args.overrides)
        case = load_case(args.case, overrides=overrides or None)
        params: dict[str, Any] = {}
        for item in args.params:
            key, values = parse_param(item)
            if key in params:
                raise CaseError(f"--param {key} given twice")
            params[key] = values
        if args.jobs is not None and args.jobs < 1:
            raise CaseError(f"-j needs a positive number of workers, got {args.jobs}")
        if args.scheduler and args.scheduler != "local" and args.jobs is not None:
            raise CaseError("-j sets local workers; with --scheduler ADDR the cluster has its own")
        if args.resume and args.force:
            raise CaseError("--resume and --force exclude each other")
        out = Path(args.output) if args.output else _default_out(case, args.case)
        quiet = args.quiet
        show = (not quiet) and sys.stderr.isatty()
        with contextlib.ExitStack() as stack:
            executor = None
            if args.scheduler:
                executor = stack.enter_context(dask_executor(args.scheduler, args.jobs))
            res = sweep(
                case,
                params,
                executor=executor,
                zip=args.zip,
                out=out,
                resume=args.resume,
                continuation=args.continuation,
                progress=show,
                max_workers=args.jobs,
                force=args.force,
            )
    except (CaseError, ResultFileError, ImportError, ConnectionError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"pnp: error: {exc}", file=sys.stderr)
        return 2
    if not quiet:
        print(format_summary(res))
    if res.failed:
        print(
            f"pnp: {res.failed} of {len(res)} points failed (see {out / SUMMARY_CSV})",
            file=sys.stderr,
        )
        return 3
    return 0


def _default_out(case, case_path: str) -> Path:
    if case.output.path:
        target = Path(case.output.path)
        return target.with_name(f"{target.stem}_sweep")
    return Path("results") / f"{Path(case_path).stem}_sweep"


def format_summary(res: SweepResult, max_rows: int = 40) -> str:
    """A plain-text table of a sweep (at most ``max_rows`` rows) and its zero crossing."""
    table = res.table
    shown = [*res.params, "status", "membrane_potential", "current"]
    heads = [*res.params, "status", "V_m [mV]", "I [A/m^2]"]
    lines = []
    rows = range(len(res))
    body = []
    for k in rows:
        cells = []
        for name in shown:
            value = table[name][k]
            if name == "membrane_potential":
                cells.append(f"{1e3 * value:.4f}")
            elif isinstance(value, float | np.floating):
                cells.append(f"{value:.6g}")
            else:
                cells.append(str(value))
        body.append(cells)
    widths = [max(len(h), *(len(c[j]) for c in body)) for j, h in enumerate(heads)]
    lines.append("  ".join(h.rjust(w) for h, w in builtins_zip(heads, widths)))
    cut = len(body) > max_rows
    for cells in (body[: max_rows // 2] + body[-max_rows // 2 :]) if cut else body:
        lines.append("  ".join(c.rjust(w) for c, w in builtins_zip(cells, widths)))
    if cut:
        lines.insert(1 + max_rows // 2, f"  ... {len(body) - max_rows} more rows ...")
    lines.append(
        f"{res.completed} completed, {res.failed} failed"
        + (f"; summary: {res.out / SUMMARY_CSV}" if res.out is not None else "")
    )
    if len(res.params) == 1 and res.completed >= 2:
        key = res.params[0]
        with contextlib.suppress(ValueError, TypeError):
            root = res.reversal_potential()
            if key.endswith("potential"):
                lines.append(f"reversal potential (current = 0): {1e3 * root:.4f} mV")
            else:
                lines.append(f"current = 0 at {key} = {root:.6g}")
    return "\n".join(lines)
