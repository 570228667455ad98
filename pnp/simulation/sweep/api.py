"""The sweep itself: ``pnp.sweep(case, params, ...)`` from points to a SweepResult.

Owns the steps of a sweep in order: validate every point (:mod:`.spec`),
prepare the output directory, keep what a resumed sweep already did
(:mod:`.worker`), run the rest (:mod:`.pool`) and record each outcome as a
summary row rewritten to disk (:mod:`.summary`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CaseError
from .pool import _Progress, _run_continued, _run_parallel
from .spec import _point_values, _validate, axis_count, point_overrides, zip_groups
from .summary import (
    PENDING,
    SUMMARY_CSV,
    SUMMARY_H5,
    SweepResult,
    _base_columns,
    _row,
    _Summary,
    point_path,
)
from .worker import _completed_outcome, _sha256

builtins_zip = zip  # `zip` is also a parameter of `sweep`


def sweep(
    case,
    params: Mapping[str, Any],
    executor: Executor | None = None,
    zip: bool | Sequence[str | Sequence[str]] = False,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    continuation: bool = False,
    progress: bool | str = False,
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
    zip : bool or sequence of groups
        True: zip every parameter (equal lengths), a path instead of a
        grid. A sequence of groups (each a sequence of keys, or one
        ``"KEY1,KEY2"`` string; a key may be named by a dotted suffix that
        ends one swept key, ``"K,Cl"``): each group's keys take their i-th
        values together and form one axis of the grid, crossed with the
        other groups and the keys in none (``zip=["K,Cl"]`` with a third key
        P gives len(P) x len(K) points). False: a grid of every key.
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
    progress : bool or str
        True or "bar": a tqdm bar over points (done, failed, running, ETA)
        on stderr; "lines": a line on stderr as points finish, at most every
        5 s (``PNP_PROGRESS_INTERVAL``), for a log file; False: nothing.
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
    SweepInterrupted
        Ctrl-C (SIGINT): a KeyboardInterrupt whose ``result`` holds every
        point's status as the summary files have it: no point starts after
        the signal, running ones end at their next step (saved as
        interrupted), queued ones stay pending. ``resume`` continues.
    CaseError
        A malformed parameter, or a point whose override is invalid (named
        with its index and key), before any point runs or any file is
        written; an ``out`` holding an earlier sweep without ``resume`` or
        ``force``; continuation where it does not apply.
    """
    if progress not in (False, True, "bar", "lines"):
        raise ValueError(f'progress must be True, False, "bar" or "lines", not {progress!r}')
    case = _base_case(case, max_workers)
    plan = _plan(case, params, zip, continuation)
    zip = plan.zipped
    n = len(plan.cases)
    out_dir, scratch, files = _point_files(out, n, resume, force, continuation)
    base_columns = _base_columns(plan.keys, case.species_names)
    summary = _Summary(out_dir, base_columns, case, plan.keys, zip, plan.groups)
    book = _Book(plan, files, base_columns, summary)
    pending = book.keep_completed() if resume and out_dir is not None else list(range(n))
    book.write()
    if progress:
        book.bar = _Progress(n, n - len(pending), book.failed(), lines=progress == "lines")
    try:
        _run_points(plan, book, files, pending, executor, max_workers, continuation)
    except KeyboardInterrupt:
        book.write()  # every point as it stands: completed, interrupted, pending
        raise SweepInterrupted(_result(plan, book, files, out_dir, zip)) from None
    finally:
        if book.bar is not None:
            book.bar.close()
        if scratch is not None:
            scratch.cleanup()
    return _result(plan, book, files, out_dir, zip)


def _run_points(plan, book, files, pending, executor, max_workers, continuation) -> None:
    """The pending points: in order from each other's state, or in parallel."""
    if continuation:
        _run_continued(
            plan.cases, files, book.rows, pending, book.task, book.record, executor, book.bar
        )
    elif pending:
        _run_parallel(plan.cases, pending, book.task, book.record, executor, max_workers, book.bar)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; ``result`` (a SweepResult) holds every point as recorded.

    Points completed before, or while the running ones were winding down, are
    "completed"; the points that were running are "failed" with message
    "interrupted"; the others are "pending". The summary files say the same.
    A KeyboardInterrupt: code that catches Ctrl-C catches this too.
    """

    def __init__(self, result: SweepResult):
        super().__init__("sweep interrupted")
        self.result = result


def _result(plan: _Plan, book: _Book, files: list, out_dir, zipped: bool) -> SweepResult:
    n = len(plan.cases)
    return SweepResult(
        out=out_dir,
        params=plan.keys,
        rows=book.rows,
        paths=list(files) if out_dir is not None else [None] * n,
        zipped=zipped,
        zip_groups=plan.groups,
        columns=book.summary.columns(book.rows),
    )


def _base_case(case, max_workers: int | None):
    """The case (loaded if given as a path), after checking ``max_workers``."""
    if isinstance(case, str | os.PathLike):
        from ...input.case import load_case

        case = load_case(case)
    if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
        raise CaseError(f"max_workers must be a positive integer, got {max_workers!r}")
    return case


def _point_files(out, n: int, resume: bool, force: bool, continuation: bool):
    """The output directory (prepared), a scratch directory, and the file of every point.

    Without ``out`` points write no file, except with continuation, which
    reads each point's start from its neighbour's file: those go to a
    temporary directory (the caller cleans it up).
    """
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
    files = [None if file_dir is None else point_path(file_dir, i, n) for i in range(n)]
    return out_dir, scratch, files


@dataclass
class _Plan:
    """The validated points of a sweep, in sweep order."""

    keys: tuple[str, ...]  # the swept dotted keys
    cases: list  # the Case of every point
    hashes: list[str]  # SHA-256 of every point's case.to_toml(): what resume compares
    values: list[dict[str, Any]]  # every point's swept values as resolved (SI)
    groups: tuple[tuple[str, ...], ...] = ()  # the zip groups (full keys, sweep order)
    zipped: bool = False  # one group of every key: a path, not a grid


def _plan(case, params: Mapping[str, Any], zip: Any, continuation: bool) -> _Plan:
    """Every point validated (and checked for continuation) before anything runs."""
    points = point_overrides(params, zip=zip)
    keys = tuple(points[0])
    groups = tuple(zip_groups(keys, zip))
    cases = _validate(case, points)
    if continuation:
        _check_continuation(cases, keys, axis_count(keys, groups))
    return _Plan(
        keys=keys,
        cases=cases,
        hashes=[_sha256(c.to_toml()) for c in cases],
        values=[_point_values(p, c) for p, c in builtins_zip(points, cases, strict=True)],
        groups=groups,
        zipped=len(groups) == 1 and len(groups[0]) == len(keys),
    )


class _Book:
    """The summary rows of a sweep: "pending" at first, then each point's outcome.

    Every outcome recorded rewrites the summary files at once, so an
    interrupted sweep keeps what it did, and advances the progress bar.
    """

    def __init__(self, plan: _Plan, files: list, base_columns: list[str], summary: _Summary):
        self.plan = plan
        self.files = files
        self.base_columns = base_columns
        self.summary = summary
        self.bar: _Progress | None = None
        pending = {"status": PENDING, "message": ""}
        self.rows = [self._row(i, pending) for i in range(len(plan.cases))]

    def _row(self, i: int, outcome: Mapping[str, Any]) -> dict[str, Any]:
        return _row(i, self.plan.values[i], self.plan.hashes[i], outcome, self.base_columns)

    def keep_completed(self) -> list[int]:
        """Resume: keep every point whose file completed the same case; the others to run."""
        pending = []
        for i, path in enumerate(self.files):
            kept = _completed_outcome(path, self.plan.hashes[i])
            if kept is None:
                pending.append(i)
            else:
                self.rows[i] = self._row(i, kept)
        return pending

    def failed(self) -> int:
        return sum(row["status"] == "failed" for row in self.rows)

    def write(self) -> None:
        self.summary.write(self.rows)

    def record(self, i: int, outcome: Mapping[str, Any]) -> None:
        """Point ``i`` finished with ``outcome``: its row, the summary files, the bar."""
        self.rows[i] = self._row(i, outcome)
        self.write()
        if self.bar is not None:
            self.bar.done(outcome["status"] == "failed")

    def task(self, i: int, start=None) -> dict[str, Any]:
        """What :func:`~.worker.run_point` gets for point ``i`` (picklable: no closures).

        ``start``: a :class:`~pnp.simulation.runner.Start` (continuation) or None.
        """
        path = self.files[i]
        return {
            "case": self.plan.cases[i],
            "path": None if path is None else os.fspath(path),
            "x0": None if start is None else start.x,
            "mesh": None if start is None else start.mesh,
            "index": i,
        }


def _check_continuation(cases: list, keys: tuple[str, ...], axes: int) -> None:
    from ...discretisation.mesh import build_mesh

    if axes > 1:
        raise CaseError(
            "continuation needs a 1D sweep: one parameter, or parameters zipped into one group"
        )
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
