"""The ``pnp sweep`` command: its options, running it, and the table it prints.

Owns the command-line face of :mod:`pnp.simulation.sweep`: the argparse
options (:func:`add_sweep_arguments`), :func:`cmd_sweep` with its exit codes
(0 all points completed, 2 bad input, 3 some point failed), the default
output directory, the plain-text summary table (:func:`format_summary`),
``pnp info DIR`` (:func:`describe_sweep`) and the points by status that it
and an interrupted sweep's message show (:func:`status_counts`).
The sweep machinery is imported only when the command runs, so building
the parser stays cheap.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CaseError, ResultFileError

if TYPE_CHECKING:
    from ..simulation.sweep import SweepResult

ZIP_ALL = "\0all"  # the value of a bare --zip


def add_sweep_arguments(parser) -> None:
    """Add the options of ``pnp sweep`` to an argparse (sub)parser."""
    parser.add_argument("case", nargs="?", help="case file (TOML)")
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
        "--zip",
        action="append",
        nargs="?",
        const=ZIP_ALL,
        default=[],
        metavar="KEY,KEY",
        help="alone: zip every --param list (equal lengths) into one path; with keys (or their "
        "last dotted parts, K,Cl): zip those into one axis of the grid; repeatable",
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
    parser.add_argument(
        "--quiet", action="store_true", help="no progress (bar or lines on stderr), no table"
    )
    if "--debug" not in getattr(parser, "_option_string_actions", {}):
        import argparse

        parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def cmd_sweep(args) -> int:
    """``pnp sweep``: 0 all points completed, 2 bad input, 3 some point failed,
    130 interrupted (Ctrl-C; the summaries list every point's status)."""
    from ..input import load_case, parse_override
    from ..simulation.sweep import SweepInterrupted, dask_executor, parse_param, sweep
    from ..simulation.sweep.summary import SUMMARY_CSV

    try:
        case_file, zip_arg = _case_and_zip(args)
        overrides = dict(parse_override(item) for item in args.overrides)
        case = load_case(case_file, overrides=overrides or None)
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
        out = Path(args.output) if args.output else _default_out(case, case_file)
        quiet = args.quiet
        # a bar on a terminal; a log file gets a line as points finish, every few seconds
        show = False if quiet else "bar" if sys.stderr.isatty() else "lines"
        with contextlib.ExitStack() as stack:
            executor = None
            if args.scheduler:
                executor = stack.enter_context(dask_executor(args.scheduler, args.jobs))
            res = sweep(
                case,
                params,
                executor=executor,
                zip=zip_arg,
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
    except SweepInterrupted as stopped:
        print(f"pnp: interrupted: {_interrupted_counts(stopped.result)}", file=sys.stderr)
        return 130
    if not quiet:
        print(format_summary(res))
    if res.failed:
        print(
            f"pnp: {res.failed} of {len(res)} points failed (see {out / SUMMARY_CSV})",
            file=sys.stderr,
        )
        return 3
    return 0


def _case_and_zip(args) -> tuple[str, Any]:
    """The case file and ``zip`` of :func:`~pnp.simulation.sweep.sweep` from the options.

    ``--zip`` alone zips every parameter; ``--zip K,Cl`` (repeatable) makes
    groups. A bare ``--zip`` written before the case file takes the file as
    its value (``pnp sweep --zip case.toml ...``, as before groups existed):
    then the file is the case and ``--zip`` zips every parameter.
    """
    groups = list(args.zip)
    case_file = args.case
    if case_file is None:
        stray = [g for g in groups if g != ZIP_ALL and g.strip().lower().endswith(".toml")]
        if len(stray) != 1:
            raise CaseError("give the case file (TOML)")
        case_file = stray[0]
        groups[groups.index(case_file)] = ZIP_ALL
    if ZIP_ALL in groups:
        if len(groups) > 1:
            raise CaseError("--zip alone zips every --param; with KEY,KEY groups, leave it out")
        return case_file, True
    return case_file, groups


def _interrupted_counts(res: SweepResult) -> str:
    """What an interrupted sweep leaves, and how to go on (counts: :func:`status_counts`)."""
    counts = status_counts(res)
    text = (
        f"{counts['completed']} completed, {counts['interrupted']} interrupted, "
        f"{counts['failed']} failed, {counts['pending']} not run"
    )
    if res.out is not None:
        text += f" (summary: {res.out / 'summary.csv'}; --resume runs the rest)"
    return text


def _default_out(case, case_path: str) -> Path:
    if case.output.path:
        target = Path(case.output.path)
        return target.with_name(f"{target.stem}_sweep")
    return Path("results") / f"{Path(case_path).stem}_sweep"


def format_summary(res: SweepResult, max_rows: int = 40) -> str:
    """A plain-text table of a sweep (at most ``max_rows`` rows) and its zero crossing."""
    from ..simulation.sweep.summary import SUMMARY_CSV

    lines = _table_lines(res, max_rows)
    lines.append(
        f"{res.completed} completed, {res.failed} failed"
        + (f"; summary: {res.out / SUMMARY_CSV}" if res.out is not None else "")
    )
    return "\n".join(lines + _crossing(res))


def describe_sweep(path: str | Path, max_rows: int = 20) -> str:
    """A human summary of a sweep output directory (``pnp info DIR``).

    The swept parameters with their values, the points by status
    (completed, failed, interrupted, pending) and a table of the summary:
    parameter values, status, membrane potential and current of each point
    (the first and last ``max_rows // 2`` rows of a longer sweep).

    Raises
    ------
    ResultFileError
        ``path`` holds no readable sweep summary (``summary.h5``).
    """
    from ..simulation.sweep.summary import SUMMARY_H5, load_sweep

    res = load_sweep(path)
    title = _summary_title(Path(path) / SUMMARY_H5)
    n = len(res)
    kind = "zipped" if res.zipped else "grid"
    lines = [
        f"{path}: pnp sweep, {n} point{'s' if n != 1 else ''} ({kind})"
        + (f": {title}" if title else "")
    ]
    pad = max(len(key) for key in res.params)
    for k, key in enumerate(res.params):
        values = list(dict.fromkeys(res.table[key].tolist()))
        shown = [_value_text(v) for v in values]
        if len(shown) > 8:
            shown = [*shown[:3], "...", *shown[-2:]]
        head = "parameters" if k == 0 else ""
        lines.append(
            f"{head:<12} {key:<{pad}}  {', '.join(shown)}  ({len(values)} value"
            f"{'s' if len(values) != 1 else ''})"
        )
    counts = status_counts(res)
    lines.append("points       " + ", ".join(f"{c} {name}" for name, c in counts.items()))
    lines += _table_lines(res, max_rows)
    return "\n".join(lines + _crossing(res))


def status_counts(res: SweepResult) -> dict[str, int]:
    """Points of a sweep by status: completed, failed, interrupted, pending.

    An interrupted point is "failed" in the summary with a message starting
    "interrupted"; it is counted as interrupted only (so "failed" here is
    ``res.failed`` less the interrupted points). ``pnp info DIR`` and the
    message of an interrupted ``pnp sweep`` both show these counts.
    """
    counts = {"completed": 0, "failed": 0, "interrupted": 0, "pending": 0}
    for status, message in zip(res.table["status"], res.table["message"], strict=True):
        if status == "failed" and str(message).startswith("interrupted"):
            status = "interrupted"
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def _summary_title(path: Path) -> str:
    import h5py

    with contextlib.suppress(OSError, KeyError), h5py.File(path, "r") as f:
        return str(f.attrs.get("title", ""))
    return ""


def _value_text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _table_lines(res: SweepResult, max_rows: int) -> list[str]:
    """Parameter values, status, V_m and current of each point, aligned."""
    import numpy as np

    table = res.table
    shown = [*res.params, "status", "membrane_potential", "current"]
    heads = [*res.params, "status", "V_m [mV]", "I [A/m^2]"]
    body = []
    for k in range(len(res)):
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
    lines = ["  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
    cut = len(body) > max_rows
    for cells in (body[: max_rows // 2] + body[-max_rows // 2 :]) if cut else body:
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    if cut:
        lines.insert(1 + max_rows // 2, f"  ... {len(body) - max_rows} more rows ...")
    return lines


def _crossing(res: SweepResult) -> list[str]:
    """Where the current crosses zero along a 1D sweep, if it does once."""
    if len(res.params) != 1 or res.completed < 2:
        return []
    key = res.params[0]
    with contextlib.suppress(ValueError, TypeError):
        root = res.reversal_potential()
        if key.endswith("potential"):
            return [f"reversal potential (current = 0): {1e3 * root:.4f} mV"]
        return [f"current = 0 at {key} = {root:.6g}"]
    return []
