"""HDF5 result files, the reading side: load_result and describe (``pnp info``).

The reader refuses a foreign or damaged file with a one-line
:class:`~pnp.errors.ResultFileError` before reading its arrays: format and
version, then the kind, dtype and rank of every dataset, then consistent lengths
along t and a finite increasing mesh. Attributes are read only when their datatype
is one pnp writes (numbers, strings; `_attr`). The format name and version it accepts are
defined here; the layout, and why a file from a killed run still opens, are in
:mod:`pnp.results.writer`.

Reading a running file
----------------------
A writer holds the HDF5 file lock. A reader in another process gets
``BlockingIOError``; the readers here then open without locking. Such a reader
keeps the end of file it saw when opening, and the writer's later metadata can
point past it ("truncated file", "addr overflow"), so reads of a file another
process is writing are retried (5 times, 50 ms apart). Other tools need
``locking=False`` or ``HDF5_USE_FILE_LOCKING=FALSE`` and the same patience. In
the same process, a reader must use the writer's locking setting ("file locking
flag values don't match" otherwise); HDF5 then shares the open file.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import h5py
import numpy as np

from ..errors import ResultFileError
from .display import with_error
from .registry import observable_units
from .result import Result
from .whole_cell import CellSize, cell_texts, density_text

FORMAT = "pnp-result"
# /error_estimate was added within version 1: it is optional (files written
# before it load with NaN estimates) and readers that predate it ignore it.
FORMAT_VERSION = 1
# The optional group of the observables' error estimates.
ERROR_GROUP = "error_estimate"
# each per-time group's own copy of the output times (its netCDF coordinate);
# not an observable. Files written before it have none.
GROUP_TIME = "t"
#: The (T, N+1) face positions of a mesh that moves (a swelling cell); optional.
FACE_POSITIONS = "face_positions"
# Root attribute: outputs completely written (the commit mark of an append).
COMMIT_ATTR = "n_outputs"
# Reads of a file another process is writing are retried this often.
LIVE_READ_ATTEMPTS = 5

__all__ = [
    "COMMIT_ATTR",
    "ERROR_GROUP",
    "FORMAT",
    "FORMAT_VERSION",
    "GROUP_TIME",
    "describe",
    "load_result",
]


def _from_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attr(attrs: h5py.AttributeManager, key: str, default: Any = None) -> Any:
    """One attribute's value (``default`` if absent), if its type is one pnp writes.

    pnp writes numbers, strings and arrays of them. Any other datatype is
    refused with TypeError from its header, before HDF5 converts the value:
    a damaged datatype message can turn a variable-length string into a
    variable-length sequence whose conversion crashes libhdf5 (a segfault
    with HDF5 2.0.0) instead of failing.
    """
    if key not in attrs:
        return default
    dtype = attrs.get_id(key).dtype
    if dtype.kind not in "biuf" and h5py.check_string_dtype(dtype) is None:
        base = h5py.check_vlen_dtype(dtype)
        kind = f"variable-length sequences of {base}" if base is not None else str(dtype)
        raise TypeError(f"attribute {key!r} holds {kind}, not numbers or strings")
    return _from_attr(attrs[key])


def _open(path: str | os.PathLike[str]) -> tuple[h5py.File, bool]:
    """Open a file for reading, or raise ResultFileError saying why not.

    Returns the file and whether another process is writing it (its lock is
    held), in which case the file may change while it is read.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise ResultFileError(f"{name}: no such file")
    if os.path.isdir(name):
        raise ResultFileError(f"{name}: is a directory, not a result file")
    if os.path.getsize(name) == 0:
        raise ResultFileError(f"{name}: empty file, not a pnp result")
    if not h5py.is_hdf5(name):
        raise ResultFileError(f"{name}: not an HDF5 file, so not a pnp result")
    live = False
    try:
        try:
            return h5py.File(name, "r"), False
        except BlockingIOError:
            # A writer in another process holds the lock: read anyway.
            live = True
            return h5py.File(name, "r", locking=False), True
        except OSError as exc:
            # A writer in this process opened it without locking.
            if "locking flag" not in str(exc):
                raise
            return h5py.File(name, "r", locking=False), False
    except OSError as exc:
        error = _LiveFileError if live else ResultFileError
        raise error(f"{name}: cannot open the HDF5 file, truncated or damaged ({exc})") from None


def _brief(value: Any) -> str:
    """``repr`` of a value read from a file, on one line and at most 60 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(exc: ResultFileError) -> ResultFileError:
    """The error with a one-line, printable message.

    HDF5 messages may span lines, and a damaged file can put any bytes into
    an object name that a message quotes (terminal escapes included).
    """
    text = str(exc)
    if text.isprintable():
        return exc
    text = " ".join(text.split())
    text = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
    return ResultFileError(text)


class _LiveFileError(ResultFileError):
    """Opening failed while another process writes the file: worth another try."""


def _check_format(f: h5py.File, name: str) -> None:
    fmt = _attr(f.attrs, "format")
    if fmt is None:
        raise ResultFileError(f"{name}: HDF5 file but not a pnp result (no 'format' attribute)")
    if not isinstance(fmt, str) or fmt != FORMAT:
        raise ResultFileError(
            f"{name}: not a pnp result (format is {_brief(fmt)}, expected {FORMAT!r})"
        )
    version = _attr(f.attrs, "format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise ResultFileError(
            f"{name}: unsupported format_version {_brief(version)} "
            f"(this pnp reads version {FORMAT_VERSION})"
        )


_REQUIRED = (
    "x",
    "faces",
    "region",
    "species/name",
    "species/z",
    "species/D",
    "t",
    "potential",
    "concentration",
    "observables",
)


def _read_attrs(obj: h5py.HLObject) -> tuple[dict[str, Any], list[str]]:
    """Attributes of an object, skipping (and naming) any that cannot be read."""
    values, unreadable = {}, []
    for key in obj.attrs:
        try:
            values[key] = _attr(obj.attrs, key)
        except (OSError, RuntimeError, TypeError, ValueError):
            unreadable.append(key)
    return values, unreadable


# Dataset → (number of dimensions, allowed dtype kinds): signed/unsigned
# integers, floats. Anything else (strings, opaque bytes, references,
# compounds, object dtypes) is refused before it is read.
_NUMERIC = {
    "x": (1, "f"),
    "faces": (1, "f"),
    "region": (1, "iu"),
    "species/z": (1, "iu"),
    "species/D": (1, "fiu"),
    "t": (1, "f"),
    "potential": (2, "f"),
    "concentration": (3, "f"),
}


def _check_layout(f: h5py.File, name: str) -> None:
    """Refuse datasets of the wrong kind, dtype or rank, before reading any."""
    for key in _REQUIRED:
        if key not in f:
            raise ResultFileError(f"{name}: damaged pnp result, missing /{key}")
    if not isinstance(f["observables"], h5py.Group):
        raise ResultFileError(f"{name}: damaged pnp result, /observables is not a group")
    wanted = dict(_NUMERIC)
    if FACE_POSITIONS in f:
        wanted[FACE_POSITIONS] = (2, "f")
    wanted.update({f"observables/{key}": (1, "f") for key in f["observables"]})
    # (each group's own "t", if there, must be as long as the outputs like the rest)
    if ERROR_GROUP in f:  # optional: files written before it have none
        if not isinstance(f[ERROR_GROUP], h5py.Group):
            raise ResultFileError(f"{name}: damaged pnp result, /{ERROR_GROUP} is not a group")
        wanted.update({f"{ERROR_GROUP}/{key}": (1, "f") for key in f[ERROR_GROUP]})
    for key, (ndim, kinds) in wanted.items():
        dataset = f[key]
        if not isinstance(dataset, h5py.Dataset):
            raise ResultFileError(f"{name}: damaged pnp result, /{key} is not a dataset")
        if dataset.dtype.kind not in kinds or dataset.ndim != ndim:
            raise ResultFileError(
                f"{name}: damaged pnp result, /{key} holds {dataset.dtype} with {dataset.ndim} "
                f"dimensions; expected {ndim}-D {'floats' if kinds[0] == 'f' else 'integers'}"
            )
    names = f["species/name"]
    if (
        not isinstance(names, h5py.Dataset)
        or names.ndim != 1
        or h5py.check_string_dtype(names.dtype) is None
    ):
        raise ResultFileError(f"{name}: damaged pnp result, /species/name is not a list of names")


def _check_mesh(result: Result, name: str) -> None:
    if result.x.size == 0 or not result.species:
        raise ResultFileError(f"{name}: damaged pnp result, no cells or no species")
    faces = result.faces
    if not (
        np.all(np.isfinite(faces))
        and np.all(np.isfinite(result.x))
        and np.all(faces[1:] > faces[:-1])
    ):
        raise ResultFileError(
            f"{name}: damaged pnp result, the mesh faces are not finite and increasing"
        )


def _read(f: h5py.File, name: str) -> tuple[Result, dict[str, Any]]:
    _check_layout(f, name)
    attrs, unreadable = _read_attrs(f)
    status = attrs.get("status", "running")
    message = attrs.get("message", "")
    if "status" in unreadable:
        # Only finish() rewrites it: the run was killed while finishing.
        message = "status attribute unreadable (file damaged while finishing)"
    observables = {key: f["observables"][key] for key in f["observables"] if key != GROUP_TIME}
    errors = (
        {key: f[ERROR_GROUP][key] for key in f[ERROR_GROUP] if key != GROUP_TIME}
        if ERROR_GROUP in f
        else {}
    )
    series = {
        "t": f["t"],
        "potential": f["potential"],
        "concentration": f["concentration"],
        **observables,
        **{f"{ERROR_GROUP}/{key}": dataset for key, dataset in errors.items()},
    }
    if FACE_POSITIONS in f:
        series[FACE_POSITIONS] = f[FACE_POSITIONS]
    lengths = {key: dataset.shape[0] if dataset.ndim else -1 for key, dataset in series.items()}
    committed = attrs.get(COMMIT_ATTR)
    if committed is not None:  # (unreadable: a kill hit it; the lengths along t decide)
        if not isinstance(committed, int) or isinstance(committed, bool) or committed < 0:
            raise ResultFileError(
                f"{name}: damaged pnp result, attribute {COMMIT_ATTR} is "
                f"{_brief(committed)}, not a count of outputs"
            )
        lengths["n_outputs"] = committed
    count = min(lengths.values())
    if count < 0:
        raise ResultFileError(f"{name}: damaged pnp result, a time series is a scalar")
    if len(set(lengths.values())) > 1 and status != "running":
        detail = ", ".join(f"{key} {length}" for key, length in lengths.items())
        raise ResultFileError(
            f"{name}: inconsistent lengths along t ({detail}) in a {status!r} file"
        )

    stats = {}
    if "solver" in f:
        stats = _read_attrs(f["solver"])[0]
    try:
        result = Result.from_arrays(
            title=attrs.get("title", ""),
            case_toml=attrs.get("case", ""),
            temperature=attrs["temperature"],
            geometry=attrs["geometry"],
            inside=attrs.get("inside", "left"),
            x=f["x"][()],
            faces=f["faces"][()],
            region=f["region"][()],
            region_names=[
                _from_attr(v)
                for v in _attr(f["region"].attrs, "region_names", attrs.get("region_names", []))
            ],
            species=list(f["species/name"].asstr()[()]),
            z=f["species/z"][()],
            D=f["species/D"][()],
            t=f["t"][:count],
            potential=f["potential"][:count],
            concentration=f["concentration"][:count],
            face_positions=f[FACE_POSITIONS][:count] if FACE_POSITIONS in f else None,
            observables={key: dataset[:count] for key, dataset in observables.items()},
            error_estimate={key: dataset[:count] for key, dataset in errors.items()},
            cell=CellSize.from_attrs(attrs),
            stats=stats,
            status=status,
            message=message,
        )
    except KeyError as exc:
        raise ResultFileError(f"{name}: damaged pnp result, missing attribute {exc}") from None
    except ValueError as exc:
        raise ResultFileError(f"{name}: inconsistent pnp result ({exc})") from None
    _check_mesh(result, name)
    return result, attrs


def _load(path: str | os.PathLike[str]) -> tuple[Result, dict[str, Any]]:
    name = os.fspath(path)
    for attempt in range(LIVE_READ_ATTEMPTS):
        retry = attempt + 1 < LIVE_READ_ATTEMPTS
        # A reader of a file that another process is writing keeps the end of
        # file it saw on opening, and the writer's later metadata can point
        # past it ("truncated file", "addr overflow"): open it again.
        try:
            f, live = _open(name)
        except _LiveFileError as exc:
            if retry:
                time.sleep(0.05)
                continue
            raise _one_line(ResultFileError(str(exc))) from None
        except ResultFileError as exc:
            raise _one_line(exc) from None
        try:
            with f:
                _check_format(f, name)
                return _read(f, name)
        except Exception as exc:  # whatever a damaged file makes h5py or numpy raise
            if live and retry:
                time.sleep(0.05)
                continue
            if isinstance(exc, ResultFileError):
                raise _one_line(exc) from None
            raise _one_line(
                ResultFileError(f"{name}: damaged pnp result ({type(exc).__name__}: {exc})")
            ) from None
    raise AssertionError("unreachable")


def load_result(path: str | os.PathLike[str]) -> Result:
    """Read a result file written by :class:`ResultWriter` or :meth:`Result.save`.

    A file whose run was killed loads with status "running" and every output
    fully written before the kill.

    Raises
    ------
    ResultFileError
        The file is missing, not HDF5, not a pnp result, of another
        format_version, or damaged (missing datasets, inconsistent shapes).
    """
    return _load(path)[0]


def _length(metres: float) -> str:
    for unit, scale in (("m", 1.0), ("mm", 1e-3), ("um", 1e-6), ("nm", 1e-9), ("pm", 1e-12)):
        if abs(metres) >= scale:
            return f"{metres / scale:.4g} {unit}"
    return f"{metres:.4g} m"


def _stat(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _observable_lines(result: Result, size: CellSize | None = None) -> list[str]:
    """Each observable at the last output, ± its error estimate, in SI units;
    current densities also in µA/cm^2, and with the cell's ``size`` as the
    cell's current [pA] and per its capacitance [pA/pF]."""
    observables = result.observables()
    if result.t.size == 0:
        return [f"observables  {', '.join(observables)} (no outputs)"]
    last = {name: float(series[-1]) for name, series in observables.items()}
    errors = {name: float(series[-1]) for name, series in result.error_estimate.items()}
    estimated = any(not math.isnan(error) for error in errors.values())
    note = "± estimated discretisation error" if estimated else "no error estimates"
    lines = [f"observables  at the last output ({note})"]
    pad = max(len(name) for name in last)
    for name, value in last.items():
        unit = observable_units(name)
        if unit != "A/m^2":
            lines.append(f"  {name:<{pad}}  {with_error(value, errors[name], unit)}")
            continue
        lines.append(f"  {name:<{pad}}  {density_text(value, errors[name])}")
        if size is not None:
            current, per_capacitance = cell_texts(value, errors[name], size)
            lines.append(f"  {'':<{pad}}  {current}, {per_capacitance} ({size.scope})")
    return lines


def describe(path: str | os.PathLike[str]) -> str:
    """A human summary of a result file (``pnp info``).

    Raises
    ------
    ResultFileError
        As :func:`load_result`.
    """
    result, attrs = _load(path)
    lines = [
        f"{os.fspath(path)}: pnp result (format {attrs['format_version']}, "
        f"pnp {attrs.get('pnp_version', '?')}, created {attrs.get('created', '?')})"
    ]
    status = result.status
    if result.message and result.message != result.status:
        status += f": {result.message}"
    lines.append(f"status       {status}")
    if result.title:
        lines.append(f"title        {result.title}")
    lines.append(
        f"conditions   {result.geometry}, T = {result.temperature:.6g} K, inside = {result.inside}"
    )

    widths = np.diff(result.faces)
    length = result.faces[-1] - result.faces[0]
    lines.append(
        f"mesh         {result.x.size} cells over {_length(length)}, "
        f"cell size {_length(widths.min())} .. {_length(widths.max())}"
    )
    counts = np.bincount(result.region, minlength=len(result.region_names))
    pad = max(len(name) for name in result.region_names) if result.region_names else 0
    for name, cells in zip(result.region_names, counts, strict=True):
        lines.append(f"  {name:<{pad}}  {cells} cells")

    species = ", ".join(
        f"{name} (z={z:+d}, D={D:.3g} m^2/s)"
        for name, z, D in zip(result.species, result.z, result.D, strict=True)
    )
    lines.append(f"species      {species}")
    count = result.t.size
    if count == 0:
        times = "no outputs"
    elif count == 1 and np.isinf(result.t[0]):
        times = "1 output (steady state)"
    else:
        times = f"{count} output{'s' if count > 1 else ''}, t = {result.t[0]:.6g} .. {result.t[-1]:.6g} s"
    lines.append(f"times        {times}")
    size = CellSize.from_attrs(attrs)
    if size is not None:
        lines.append(
            f"cell         membrane area {size.area * 1e12:.6g} µm^2, capacitance "
            f"{size.capacitance * 1e12:.6g} pF ({size.scope})"
        )
    lines += _observable_lines(result, size)
    if result.stats:
        lines.append(
            "solver       "
            + ", ".join(f"{key}={_stat(value)}" for key, value in result.stats.items())
        )
    else:
        lines.append("solver       no statistics (run not finished)")
    return "\n".join(lines)
