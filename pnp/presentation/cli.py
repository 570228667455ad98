"""The ``pnp`` command (docs/interface.md, section "Command line").

Exit codes: 0 success, 2 bad input, 3 solver failure (result still written),
4 a completed run misses an expectation of its ``[expect]`` table that
applies (result and figure still written), 130 interrupted, 1 anything else. Errors are one line on stderr; ``--debug`` shows tracebacks.
A reader that stops reading (``pnp info F | head -1``) ends the output
silently; the command finishes its work and keeps its own exit code.
Heavy modules (numba kernels, h5py, matplotlib) are imported only by the
subcommands that need them, so ``pnp --help`` and ``pnp check`` compile
nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from .. import __version__, ctrl_c

EXIT_OK, EXIT_OTHER, EXIT_INPUT, EXIT_SOLVER, EXIT_EXPECT = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pnp", description="Poisson–Nernst–Planck simulation of ions across membranes."
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"pnp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a case file")
    r.add_argument("case")
    r.add_argument("-o", "--output", help="result file (default: [output] path of the case)")
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a case value (dotted key, TOML value); repeatable",
    )
    r.add_argument("--no-plot", action="store_true", help="do not write a figure")
    r.add_argument(
        "--quiet", action="store_true", help="no progress (bar or lines on stderr), no table"
    )
    r.add_argument("--force", action="store_true", help="overwrite an existing result file")
    r.add_argument(
        "--restart",
        metavar="FROM.h5",
        help="continue from the last state of a result file (same mesh and species)",
    )
    r.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    c = sub.add_parser("check", help="validate a case and print its mesh and scales; runs nothing")
    c.add_argument("case")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    from .sweep_command import add_sweep_arguments

    sw = sub.add_parser("sweep", help="run a case over a grid of parameter values")
    add_sweep_arguments(sw)

    pl = sub.add_parser("plot", help="draw a result file or a sweep directory to PNG")
    pl.add_argument("path", metavar="FILE_OR_DIR")
    pl.add_argument(
        "--kind",
        choices=["profiles", "traces", "iv", "sweep"],
        help="default: profiles (steady), traces+profiles (transient), iv/sweep (sweep dir)",
    )
    pl.add_argument("-o", "--output", help="PNG path (default: next to the input)")
    pl.add_argument("--x", help="sweep: parameter column on the x axis")
    pl.add_argument("--y", help="sweep: summary column on the y axis")
    pl.add_argument("--by", help="sweep: one line per value of this parameter")
    pl.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    i = sub.add_parser("info", help="describe a result file or a sweep directory")
    i.add_argument("file", metavar="FILE_OR_DIR")
    i.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    from .starting import add_arguments as add_starting_arguments

    add_starting_arguments(sub)  # pnp keys, pnp new
    return p


def _overrides(items: list[str]) -> dict:
    from ..input.overrides import parse_override

    out = {}
    for item in items:
        key, value = parse_override(item)
        out[key] = value
    return out


class _ReaderMayLeave:
    """A text stream (stdout, stderr) whose reader may close the pipe early.

    ``pnp info F | head -1``: once ``head`` has its line and exits, writing
    fails with BrokenPipeError. From then on this stream drops what is
    written, silently, and the command goes on (a run still writes its
    figure) and keeps its exit code. The descriptor is pointed at the null
    device, so that what the stream's buffer still holds is discarded when
    the interpreter flushes it at exit instead of failing again.
    """

    def __init__(self, stream):
        self._stream = stream
        self.reader_left = False

    def write(self, text: str) -> int:
        if not self.reader_left:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.reader_left:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.reader_left = True
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (captured in tests)
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)

    def __getattr__(self, name):  # isatty, fileno, encoding, ...
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    # One BLAS thread: the banded solves are too small to gain from threads,
    # and threads oversubscribe sweep workers (set before numpy loads BLAS).
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    replaced = ctrl_c.install() if threading.current_thread() is threading.main_thread() else None
    try:
        with warnings.catch_warnings(), ctrl_c.raised_again():
            from ..input.messages import show_case_warnings_as_lines

            show_case_warnings_as_lines()  # one line each: pnp: warning: FILE: `KEY`: ...
            code = _main(argv)
        if code == EXIT_OK and ctrl_c.Latch.hit:  # a Ctrl-C Python dropped (pnp.ctrl_c)
            print("pnp: interrupted", file=sys.stderr)
            return 130
        return code
    except KeyboardInterrupt:  # before _main took over (its imports)
        print("pnp: interrupted", file=sys.stderr)
        return 130
    finally:
        if replaced is not None:
            signal.signal(signal.SIGINT, replaced)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from ..errors import CaseError, PnpError, ResultFileError

    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "check":
            return _cmd_check(args)
        if args.command == "info":
            return _cmd_info(args)
        if args.command == "plot":
            return _cmd_plot(args)
        if args.command == "sweep":
            from .sweep_command import cmd_sweep

            return cmd_sweep(args)
        if args.command in ("keys", "new"):
            from .starting import cmd_keys, cmd_new

            return cmd_keys(args) if args.command == "keys" else cmd_new(args)
    except (CaseError, ResultFileError) as exc:
        if args.debug:
            raise
        print(f"pnp: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except PnpError as exc:
        if args.debug:
            raise
        print(f"pnp: error: {exc}", file=sys.stderr)
        return EXIT_OTHER
    except KeyboardInterrupt:
        print("pnp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, no traceback
        if args.debug:
            raise
        if _interrupted(exc):
            print("pnp: interrupted", file=sys.stderr)
            return 130
        print(
            f"pnp: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        return EXIT_OTHER
    return EXIT_OTHER


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by a Ctrl-C: a KeyboardInterrupt that Python
    wrapped on its way (one landing in a ``__set_name__`` while numpy is being
    imported reaches us as a RuntimeError whose cause it is)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _cmd_run(args) -> int:
    from ..errors import CaseError
    from ..input.case import load_case

    case = load_case(args.case, overrides=_overrides(args.overrides))
    out = args.output or case.output.path
    if out is not None and Path(out).exists() and not args.force:
        raise CaseError(
            f"result file {out} exists; use --force to overwrite or -o to choose another",
            file=args.case,
        )
    from ..simulation.runner import restart_state, run
    from . import report
    from .resolution import warn_unresolved

    x0, t_start, mesh = (None, 0.0, None)
    if args.restart:
        x0, t_start, mesh = restart_state(case, args.restart)
    warn_unresolved(case, mesh)  # a mesh that does not adapt and misses a double layer
    # a bar redraws itself on a terminal; a log file gets a line every few seconds
    progress = False if args.quiet else "bar" if sys.stderr.isatty() else "lines"
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        if Path(out).exists():
            Path(out).unlink()  # --force was given
    result = run(
        case,
        progress=progress,
        output=out,
        mesh=mesh,
        x0=x0,
        t_start=t_start,
        adapt_mesh=True,
    )
    if not args.quiet:
        print(report.summary(case, result))
        if out is not None:
            print(f"result: {out}")
    if out is not None and case.output.plot and not args.no_plot and len(result.t) > 0:
        figure = _figure_for(out)
        if figure is not None and not args.quiet:
            print(f"figure: {figure}")
    if result.status != "completed":
        print(f"pnp: solver failed: {result.message}", file=sys.stderr)
        return EXIT_SOLVER
    from .expectations import out_of_tolerance

    missed = out_of_tolerance(case, result)
    if missed:
        print(f"pnp: out of tolerance: {'; '.join(missed)} (see [expect])", file=sys.stderr)
        return EXIT_EXPECT
    return EXIT_OK


def _cmd_check(args) -> int:
    from ..input.case import load_case
    from . import report
    from .resolution import warn_unresolved

    case = load_case(args.case, overrides=_overrides(args.overrides))
    warn_unresolved(case)
    print(report.check(case))
    return EXIT_OK


def _figure_for(result_path) -> Path | None:
    """PNG of a finished run next to its result file; a plotting problem is a warning."""
    from .plot import plot_file

    try:
        return plot_file(result_path)
    except Exception as exc:  # a figure must never lose a finished run
        print(f"pnp: warning: no figure: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def _cmd_plot(args) -> int:
    from ..errors import CaseError
    from .plot import plot_file

    if not Path(args.path).exists():
        raise CaseError(f"{args.path}: no such file or directory")
    try:
        written = plot_file(
            args.path, kind=args.kind, out=args.output, x=args.x, y=args.y, by=args.by
        )
    except ValueError as exc:
        raise CaseError(f"{args.path}: {exc}") from None
    print(f"figure: {written}")
    return EXIT_OK


def _cmd_info(args) -> int:
    if Path(args.file).is_dir():
        from .sweep_command import describe_sweep

        print(describe_sweep(args.file))
        return EXIT_OK
    from ..results.reader import describe

    print(describe(args.file))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
