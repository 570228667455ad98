"""HDF5 result files, the writing side: the file format, an incremental writer, save_result.

This module lays out the file (below) and makes a file written as the run goes
survive a kill. The format's name, version and commit attribute are defined in
:mod:`pnp.results.reader`, whose checks every file written here must pass.

Layout (docs/interface.md, section "Result files"; format_version 1)::

    /                      attrs: format="pnp-result", format_version=1, pnp_version,
                           created, status, message, case, case_sha256, temperature [K],
                           geometry, title, inside, region_names; cell_area [m^2],
                           cell_capacitance [F], cell_scope when the cell's size is known
    /x (N,)                cell centres [m]; dimension scale "x"
    /faces (N+1,)          face positions [m]; dimension scale "faces"
    /region (N,)           region index per cell; attr region_names
    /species/name (S,)     /species/z (S,), /species/D (S,) [m^2/s]
    /species_name (S,)     the species names again, as the dimension scale of the S axis
    /t (T,)                output times [s]; unlimited, chunked; dimension scale "t"
    /potential (T, N)      [V]; one chunk per output
    /concentration (T, S, N)  [mol/m^3]; one chunk per output
    /face_positions (T, N+1)  [m] faces per output if the mesh moves (/faces: the first's)
    /observables/NAME (T,) membrane_potential, current, pump_current, flux_<species>,
                           surface_charge_left, surface_charge_right, ... (attr units)
    /error_estimate/NAME (T,)  estimated absolute discretisation error of
                           /observables/NAME, same unit (attr units); NaN where none
    /solver                attrs: steps, newton_iterations, rejected_steps, wall_time, ...

Every dataset axis has a dimension scale, so ``xarray.open_dataset(path,
engine="h5netcdf")`` gives named dims ``t``, ``species_name``, ``x`` (and
``faces``); ``group="observables"``, ``group="error_estimate"`` or
``group="species"`` open those groups.

``/error_estimate`` came after format_version 1 was fixed, without a new
version: a reader that does not know it ignores it, and
:func:`~pnp.results.reader.load_result` reads a file without it (written
before) with NaN estimates.

Why ``species_name`` and not ``species``: h5netcdf names a dimension after the
path of its scale dataset and only finds scales in the variable's own group or
its parents. The contract puts the names at ``/species/name``, so a root-level
dataset called ``species`` cannot exist next to the ``/species`` group.

Crash safety
------------
A run killed at any moment (SIGKILL included) must leave a file that opens and
holds every output appended so far, with status "running". What makes it hold:

* HDF5's default (oldest) format bounds. With ``libver="latest"`` (and so with
  SWMR) the version-3 superblock records "open for writing" and a killed file
  refuses to open ("file is already open for write (may use <h5clear file> to
  clear file consistency flags)"), even with ``locking=False``, until
  ``h5clear -s`` repairs it. The version-0 superblock has the same flag but
  HDF5 ignores it on reading.
* A two-phase append. All rows (``/t``, ``/potential``, ``/concentration``,
  the observables and their error estimates) are resized, written and flushed; then the root attribute
  ``n_outputs`` (an int64, rewritten in place) is set to the new count and
  flushed. :func:`~pnp.results.reader.load_result` trusts ``min(n_outputs, every length along
  t)``, so a kill inside the first flush (where a dataset's new length may be
  on disk before its chunk index, reading as zeros) loses only that output.
  Within one flush HDF5 writes raw data first, then object headers and
  B-trees, the superblock last.
* No compression, so a partly filled chunk (``/t``, observables, error
  estimates: 256 outputs each) is rewritten in place with identical bytes before the new value.

Measured: 1,200 SIGKILLs at random times during appends, every file opened
and held at least every output whose append had returned. Limits: a kill
before the constructor's first flush leaves no usable file (there is no output
yet); a kill inside :meth:`ResultWriter.finish` can damage the status and
message attributes (they are then reported unreadable and the status read as
"running"); none of this survives a machine crash (no fsync).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

# The format the reader accepts. Importing it here also loads the reader with
# the writer, before any file is read.
from .reader import COMMIT_ATTR, ERROR_GROUP, FACE_POSITIONS, FORMAT, FORMAT_VERSION, GROUP_TIME
from .registry import observable_units
from .result import STATUSES, Result

SPECIES_DIM = "species_name"
# Outputs per chunk of /t, of each observable and of each error estimate
# (8 bytes each).
TIME_CHUNK = 256

__all__ = [
    "COMMIT_ATTR",
    "ERROR_GROUP",
    "FORMAT",
    "FORMAT_VERSION",
    "ResultWriter",
    "save_result",
]


def _pnp_version() -> str:
    try:
        from pnp import __version__
    except ImportError:
        return "0"
    return str(__version__)


def _check_name(name: str, what: str) -> str:
    name = str(name)
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{what} {name!r} cannot be an HDF5 dataset name")
    return name


def _attr_value(key: str, value: Any) -> Any:
    """A stats value as an HDF5 attribute (int, float, bool or str)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"stats[{key!r}] = {value!r}: only int, float, bool and str can be stored")


def _create_mesh(
    f: h5py.File, x: np.ndarray, faces: np.ndarray, region: np.ndarray, region_names: list[str]
) -> h5py.Dataset:
    """Write /x, /faces and /region; return the "x" dimension scale."""
    x_scale = f.create_dataset("x", data=x, dtype="f8")
    x_scale.attrs["units"] = "m"
    x_scale.make_scale("x")
    faces_scale = f.create_dataset("faces", data=faces, dtype="f8")
    faces_scale.attrs["units"] = "m"
    faces_scale.make_scale("faces")
    region_ds = f.create_dataset("region", data=region, dtype="i8")
    region_ds.attrs["units"] = "1"
    region_ds.attrs["region_names"] = region_names
    region_ds.dims[0].attach_scale(x_scale)
    return x_scale


def _create_species(f: h5py.File, species: list[str], z: np.ndarray, D: np.ndarray) -> h5py.Dataset:
    """Write /species_name and the /species group; return the species dimension scale."""
    strings = h5py.string_dtype()
    species_scale = f.create_dataset(
        SPECIES_DIM, data=np.array(species, dtype=object), dtype=strings
    )
    species_scale.make_scale(SPECIES_DIM)
    group = f.create_group("species")
    name_ds = group.create_dataset("name", data=np.array(species, dtype=object), dtype=strings)
    z_ds = group.create_dataset("z", data=z, dtype="i8")
    z_ds.attrs["units"] = "1"
    d_ds = group.create_dataset("D", data=D, dtype="f8")
    d_ds.attrs["units"] = "m^2/s"
    for dataset in (name_ds, z_ds, d_ds):
        dataset.dims[0].attach_scale(species_scale)
    return species_scale


class ResultWriter:
    """Write a result file incrementally: one :meth:`append` per output time.

    Parameters
    ----------
    path : str or Path
        File to create (overwritten if it exists; parent folders are made).
    title, case_toml : str
        Case title and the resolved case as TOML text.
    temperature : float
        [K].
    geometry, inside : str
        As in the case.
    x, faces : array (N,), (N+1,)
        Cell centres and faces [m].
    region : int array (N,)
        Region index of each cell; ``region_names`` the regions left to right.
    species : sequence of str
        Species names; ``z`` (S,) valences, ``D`` (S,) diffusion coefficients [m^2/s].
    observable_names : list of str
        Flat names of the per-time observables that every append gives
        (``membrane_potential``, ``current``, ``flux_K``, ...).
    observable_units : dict, optional
        Units of observables whose name does not tell them.
    attrs : dict, optional
        More root attributes, e.g. the cell's size
        (:meth:`pnp.results.whole_cell.CellSize.attrs`).

    Every observable also gets a dataset of error estimates
    (``/error_estimate/NAME``, same unit); an append may give an estimate for
    any of them and the others are stored as NaN.

    Each append is flushed, so the file holds every output written so far even
    if the process dies (see the module docstring). :meth:`finish` records the
    solver statistics, status and message and closes the file; :meth:`close`
    alone leaves status "running". As a context manager, an exception marks
    the file "failed".
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        title: str = "",
        case_toml: str = "",
        temperature: float,
        geometry: str,
        x: Any,
        faces: Any,
        region: Any,
        region_names: Sequence[str],
        species: Sequence[str],
        z: Any,
        D: Any,
        inside: str = "left",
        observable_names: Sequence[str],
        observable_units: Mapping[str, str] | None = None,
        attrs: Mapping[str, Any] | None = None,
        moving: bool = False,
    ) -> None:
        self.path = Path(path)
        self.moving = bool(moving)
        x = np.asarray(x, dtype=float).reshape(-1)
        faces = np.asarray(faces, dtype=float).reshape(-1)
        region = np.asarray(region, dtype=np.int64).reshape(-1)
        region_names = [str(name) for name in region_names]
        species = [_check_name(name, "species") for name in species]
        z = np.asarray(z, dtype=np.int64).reshape(-1)
        D = np.asarray(D, dtype=float).reshape(-1)
        self.n_cells, self.n_species = x.size, len(species)
        if self.n_cells == 0 or self.n_species == 0:
            raise ValueError("a result needs at least one cell and one species")
        if faces.size != self.n_cells + 1 or region.size != self.n_cells:
            raise ValueError(
                f"inconsistent mesh: {self.n_cells} cells, {faces.size} faces, {region.size} region indices"
            )
        if z.size != self.n_species or D.size != self.n_species:
            raise ValueError(
                f"z and D need one value per species ({self.n_species}), got {z.size} and {D.size}"
            )
        self.observable_names = [_check_name(name, "observable") for name in observable_names]
        if len(set(self.observable_names)) != len(self.observable_names):
            raise ValueError(f"duplicate observable names in {self.observable_names}")
        units = dict(observable_units or {})

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Default libver on purpose: see "Crash safety" in the module docstring.
        self._file: h5py.File | None = h5py.File(self.path, "w")
        self.n_outputs = 0
        try:
            self._create(
                title=str(title),
                case_toml=str(case_toml),
                temperature=float(temperature),
                geometry=str(geometry),
                inside=str(inside),
                x=x,
                faces=faces,
                region=region,
                region_names=region_names,
                species=species,
                z=z,
                D=D,
                units=units,
            )
            self._file.attrs.update(dict(attrs or {}))
            self._file.flush()
        except BaseException:
            self._file.close()
            self._file = None
            raise

    def _create(
        self,
        *,
        title,
        case_toml,
        temperature,
        geometry,
        inside,
        x,
        faces,
        region,
        region_names,
        species,
        z,
        D,
        units,
    ) -> None:
        """Lay out the new file: root attributes, mesh, species, empty time series."""
        f = self._file
        assert f is not None
        f.attrs.update(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "pnp_version": _pnp_version(),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "status": "running",
                "message": "",
                COMMIT_ATTR: np.int64(0),
                "case": case_toml,
                "case_sha256": hashlib.sha256(case_toml.encode()).hexdigest(),
                "temperature": temperature,
                "geometry": geometry,
                "title": title,
                "inside": inside,
                "region_names": region_names,
            }
        )
        x_scale = _create_mesh(f, x, faces, region, region_names)
        species_scale = _create_species(f, species, z, D)
        self._create_series(f, x_scale, species_scale, units)
        f.create_group("solver", track_order=True)  # stats keep their order

    def _create_series(
        self,
        f: h5py.File,
        x_scale: h5py.Dataset,
        species_scale: h5py.Dataset,
        units: Mapping[str, str],
    ) -> None:
        """The datasets that grow along t: /t, /potential, /concentration,
        /observables/* and /error_estimate/*."""
        n_cells, n_species = self.n_cells, self.n_species
        t_scale = f.create_dataset(
            "t", shape=(0,), maxshape=(None,), chunks=(TIME_CHUNK,), dtype="f8"
        )
        t_scale.attrs["units"] = "s"
        t_scale.make_scale("t")
        potential = f.create_dataset(
            "potential",
            shape=(0, n_cells),
            maxshape=(None, n_cells),
            chunks=(1, n_cells),
            dtype="f8",
        )
        potential.attrs["units"] = "V"
        concentration = f.create_dataset(
            "concentration",
            shape=(0, n_species, n_cells),
            maxshape=(None, n_species, n_cells),
            chunks=(1, n_species, n_cells),
            dtype="f8",
        )
        concentration.attrs["units"] = "mol/m^3"
        for dataset in (potential, concentration):
            dataset.dims[0].attach_scale(t_scale)
            dataset.dims[dataset.ndim - 1].attach_scale(x_scale)  # h5py: no negative axes
        concentration.dims[1].attach_scale(species_scale)

        self._faces = None
        if self.moving:
            self._faces = f.create_dataset(
                FACE_POSITIONS,
                shape=(0, n_cells + 1),
                maxshape=(None, n_cells + 1),
                chunks=(1, n_cells + 1),
                dtype="f8",
            )
            self._faces.attrs["units"] = "m"
            self._faces.dims[0].attach_scale(t_scale)
            self._faces.dims[1].attach_scale(f["faces"])

        self._group_times: list[h5py.Dataset] = []
        self._observables = self._create_per_time(f, "observables", t_scale, units)
        self._errors = self._create_per_time(f, ERROR_GROUP, t_scale, units)
        self._t, self._potential, self._concentration = t_scale, potential, concentration

    def _create_per_time(
        self, f: h5py.File, group_name: str, t_scale: h5py.Dataset, units: Mapping[str, str]
    ) -> dict[str, h5py.Dataset]:
        """A group of one empty (T,) dataset per observable, with its unit.

        The group holds its own copy of the output times, ``t``, as the
        dimension scale of its datasets: netCDF readers find a coordinate only
        in the variable's own group, so ``xarray.open_dataset(path,
        engine="h5netcdf", group="observables")`` gives each observable
        against t.
        """
        group = f.create_group(group_name)
        times = group.create_dataset(
            GROUP_TIME, shape=(0,), maxshape=(None,), chunks=(TIME_CHUNK,), dtype="f8"
        )
        times.attrs["units"] = "s"
        times.make_scale("t")
        self._group_times.append(times)
        datasets = {}
        for name in self.observable_names:
            dataset = group.create_dataset(
                name, shape=(0,), maxshape=(None,), chunks=(TIME_CHUNK,), dtype="f8"
            )
            dataset.attrs["units"] = units.get(name, observable_units(name))
            dataset.dims[0].attach_scale(times)
            datasets[name] = dataset
        return datasets

    # -- writing --------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._file is None

    def _require_open(self) -> h5py.File:
        if self._file is None:
            raise ValueError(f"{self.path}: the result writer is closed")
        return self._file

    def append(
        self,
        t: float,
        potential: Any,
        concentration: Any,
        observables: Mapping[str, float],
        errors: Mapping[str, float | None] | None = None,
        faces: Any = None,
    ) -> None:
        """Append one output and flush it to disk.

        Parameters
        ----------
        t : float
            Output time [s].
        potential : array (N,)
            [V].
        concentration : array (S, N)
            [mol/m^3].
        observables : dict of str → float
            A value for every name given as ``observable_names``.
        errors : dict of str → float, optional
            Estimated absolute error of some of the observables, in their
            units (non-negative); the others (and None values) are stored as NaN.
        faces : array (N+1,), optional
            The face positions [m] of this output: required when the writer
            was made with ``moving=True``, refused otherwise.
        """
        self.extend(
            [t],
            np.asarray(potential, dtype=float)[np.newaxis],
            np.asarray(concentration, dtype=float)[np.newaxis],
            {name: [value] for name, value in observables.items()},
            {name: [np.nan if value is None else value] for name, value in (errors or {}).items()},
            None if faces is None else np.asarray(faces, dtype=float)[np.newaxis],
        )

    def extend(
        self,
        t: Any,
        potential: Any,
        concentration: Any,
        observables: Mapping[str, Any],
        errors: Mapping[str, Any] | None = None,
        faces: Any = None,
    ) -> None:
        """Append K outputs at once: t (K,), potential (K, N), concentration (K, S, N),
        observables name → (K,), errors (optional) name → (K,), faces (K, N+1)
        when the mesh moves. Flushed like :meth:`append`."""
        f = self._require_open()
        t = np.asarray(t, dtype=float).reshape(-1)
        count = t.size
        potential = np.asarray(potential, dtype=float)
        concentration = np.asarray(concentration, dtype=float)
        if potential.shape != (count, self.n_cells):
            raise ValueError(
                f"potential: expected shape {(count, self.n_cells)}, got {potential.shape}"
            )
        expected = (count, self.n_species, self.n_cells)
        if concentration.shape != expected:
            raise ValueError(f"concentration: expected shape {expected}, got {concentration.shape}")
        missing = set(self.observable_names) - set(observables)
        unknown = set(observables) - set(self.observable_names)
        if missing or unknown:
            raise ValueError(
                f"observables: missing {sorted(missing)}, unknown {sorted(unknown)} "
                f"(declared: {', '.join(self.observable_names)})"
            )
        values = {}
        for name in self.observable_names:
            values[name] = np.asarray(observables[name], dtype=float).reshape(-1)
            if values[name].size != count:
                raise ValueError(
                    f"observable {name!r}: expected {count} values, got {values[name].size}"
                )
        estimates = self._estimates(errors or {}, count)
        if (faces is not None) != self.moving or (
            self.moving and np.shape(faces) != (count, self.n_cells + 1)
        ):
            raise ValueError(
                f"faces: shape {(count, self.n_cells + 1)} for a moving mesh, None otherwise "
                f"(moving={self.moving}), got {np.shape(faces) if faces is not None else None}"
            )
        if count == 0:
            return

        start, stop = self.n_outputs, self.n_outputs + count
        # Write and flush every row first, then bump the commit count: that
        # second flush rewrites one fixed-size attribute in place.
        rows = [(self._t, t), (self._potential, potential), (self._concentration, concentration)]
        if self._faces is not None:
            rows.append((self._faces, faces))
        rows += [(times, t) for times in self._group_times]
        rows += [(self._observables[name], values[name]) for name in self.observable_names]
        rows += [(self._errors[name], estimates[name]) for name in self.observable_names]
        for dataset, data in rows:
            dataset.resize(stop, axis=0)
            dataset[start:stop] = data
        f.flush()
        f.attrs[COMMIT_ATTR] = np.int64(stop)
        f.flush()
        self.n_outputs = stop

    def _estimates(self, errors: Mapping[str, Any], count: int) -> dict[str, np.ndarray]:
        """Error estimates (count,) for every observable: NaN where none is given."""
        unknown = set(errors) - set(self.observable_names)
        if unknown:
            raise ValueError(
                f"errors: unknown {sorted(unknown)} (declared: {', '.join(self.observable_names)})"
            )
        estimates = {}
        for name in self.observable_names:
            given = errors.get(name)
            if given is None:
                estimates[name] = np.full(count, np.nan)
                continue
            array = np.asarray(given, dtype=float).reshape(-1)
            if array.size != count:
                raise ValueError(f"errors {name!r}: expected {count} values, got {array.size}")
            if np.any(array < 0):
                raise ValueError(f"errors {name!r}: an error estimate cannot be negative")
            estimates[name] = array
        return estimates

    def finish(
        self, status: str = "completed", message: str = "", stats: Mapping[str, Any] | None = None
    ) -> None:
        """Record solver statistics, the final status and message, and close the file."""
        f = self._require_open()
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        stats = {str(key): _attr_value(str(key), value) for key, value in (stats or {}).items()}
        f["solver"].attrs.update(stats)
        f.flush()
        f.attrs["status"] = status
        f.attrs["message"] = str(message)
        self.close()

    def close(self) -> None:
        """Close the file; the status stays as it is ("running" before :meth:`finish`)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc is not None and self._file is not None:
            self.finish("failed", f"{exc_type.__name__}: {exc}")
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ResultWriter {str(self.path)!r} ({state}, {self.n_outputs} outputs)>"


def save_result(result: Result, path: str | os.PathLike[str]) -> None:
    """Write a complete result file (used by :meth:`pnp.results.result.Result.save`)."""
    observables = result.observables()
    writer = ResultWriter(
        path,
        title=result.title,
        case_toml=result.case_toml,
        temperature=result.temperature,
        geometry=result.geometry,
        x=result.x,
        faces=result.faces,
        region=result.region,
        region_names=result.region_names,
        species=result.species,
        z=result.z,
        D=result.D,
        inside=result.inside,
        observable_names=list(observables),
        attrs=result.cell.attrs() if result.cell is not None else None,
        moving=result.face_positions is not None,
    )
    with writer:
        writer.extend(
            result.t,
            result.potential,
            result.concentration,
            observables,
            result.error_estimate,
            result.face_positions,
        )
        writer.finish(result.status, result.message, result.stats)
