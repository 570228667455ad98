"""The output of one run: mesh, species, time series and solver statistics.

A :class:`Result` is plain data in SI units. The solver builds one with keyword
arguments (``Result(x=..., potential=..., ...)``); :func:`pnp.results.reader.load_result`
builds one from a result file; :meth:`Result.save` writes one.

Observables have two spellings that map one to one:

=====================================  =====================================
``Result`` attribute                   flat name (file: ``/observables/NAME``)
=====================================  =====================================
``membrane_potential``                 ``membrane_potential``
``current``                            ``current``
``pump_current``                       ``pump_current``
``flux[species]``                      ``flux_<species>``
``surface_charge["left" | "right"]``   ``surface_charge_left`` / ``_right``
``extra_observables[name]``            ``name`` (anything else)
=====================================  =====================================

The names, units and descriptions come from :mod:`pnp.results.registry`.

Every observable carries an estimate of its discretisation error:
``error_estimate[flat name]`` is an array (T,) of absolute errors in the
observable's unit (file: ``/error_estimate/NAME``), NaN where no estimate was
made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .registry import OBSERVABLES, PER_SIDE, PER_SPECIES, SCALAR, SIDES, observable_names
from .whole_cell import CellSize

STATUSES = ("running", "completed", "failed")


class _DeferredText:
    """A text field that may be given as a zero-argument function, called on first read.

    The solver hands the case's TOML this way: dumping it costs about a
    millisecond, as much as a small steady solve, and most results in a
    sweep or a script are never written or shown.
    """

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return ""  # the dataclass default
        value = obj.__dict__.get(self.slot, "")
        if callable(value):
            value = str(value())
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = value if callable(value) else str(value)


def _series(value: Any, n_times: int, what: str) -> np.ndarray:
    """One value per output time as a float array of shape (n_times,)."""
    array = np.asarray(value, dtype=float).reshape(-1)
    if array.shape != (n_times,):
        raise ValueError(
            f"{what}: expected {n_times} values (one per output time), got {array.size}"
        )
    return array


@dataclass(eq=False, kw_only=True)
class Result:
    """Output of one run, all SI.

    Parameters
    ----------
    title : str
        Title of the case.
    case_toml : str or callable
        The resolved case (SI) as TOML text, or a function returning it
        (called once, when the text is first read).
    temperature : float
        Temperature [K].
    geometry : str
        ``cartesian``, ``cylindrical`` or ``spherical``.
    x : array (N,)
        Cell centres [m].
    faces : array (N+1,)
        Face positions [m].
    region : int array (N,)
        Region index of each cell, into ``region_names``.
    region_names : tuple of str
        Region names, left to right.
    species : tuple of str
        Species names.
    z : int array (S,)
        Valences.
    D : array (S,)
        Diffusion coefficients [m^2/s].
    inside : str
        Which side is the cell's inside (``left`` or ``right``).
    t : array (T,)
        Output times [s] (steady: one entry).
    potential : array (T, N)
        Electric potential [V].
    concentration : array (T, S, N)
        Concentrations [mol/m^3].
    face_positions : array (T, N+1), optional
        Face positions [m] at every output when the mesh moves with a cell's
        volume (then ``faces`` and ``x`` are the first output's); None otherwise.
    membrane_potential : array (T,)
        V_m = φ(inside end) − φ(outside end) [V].
    current : array (T,)
        Membrane current density [A/m^2], outward positive.
    flux : dict of str → array (T,)
        Flux of each species across the membrane [mol/m^2/s], outward positive.
    surface_charge : dict of str → array (T,)
        Charge on the ``left`` and ``right`` walls [C/m^2].
    pump_current : array (T,), optional
        Net outward pump current [A/m^2]; zeros if omitted (no pump).
    extra_observables : dict of str → array (T,), optional
        Any other per-time observable, kept under its flat name.
    error_estimate : dict of str → array (T,), optional
        Estimated absolute discretisation error of each observable, by flat
        name (``membrane_potential``, ``flux_K``, ...), in the observable's
        unit; non-negative, NaN where unknown. On construction every
        observable of :meth:`observables` gets an entry (all NaN if omitted);
        a name that is not an observable is refused.
    cell : CellSize, optional
        The cell's membrane area and capacitance when its case gives them
        (:mod:`pnp.results.whole_cell`); a result file keeps them in its root
        attributes. None: unknown.
    stats : dict, optional
        Solver work: steps, newton_iterations, rejected_steps, factorizations,
        wall_time [s], ... (int, float, bool or str values).
    status : str
        ``running``, ``completed`` or ``failed``.
    message : str
        Why the run stopped (empty when there is nothing to say).

    Sequences of per-time values (e.g. a list of (N,) potentials) are stacked
    into arrays on construction.
    """

    title: str = ""
    case_toml: str = _DeferredText()
    temperature: float
    geometry: str
    x: np.ndarray
    faces: np.ndarray
    region: np.ndarray
    region_names: tuple[str, ...]
    species: tuple[str, ...]
    z: np.ndarray
    D: np.ndarray
    inside: str = "left"
    t: np.ndarray
    potential: np.ndarray
    concentration: np.ndarray
    membrane_potential: np.ndarray
    current: np.ndarray
    flux: dict[str, np.ndarray]
    surface_charge: dict[str, np.ndarray]
    pump_current: np.ndarray | None = None
    face_positions: np.ndarray | None = None
    extra_observables: dict[str, np.ndarray] = field(default_factory=dict)
    error_estimate: dict[str, np.ndarray] = field(default_factory=dict)
    cell: CellSize | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    message: str = ""

    def __post_init__(self) -> None:
        self.title = str(self.title)
        self.temperature = float(self.temperature)
        self.geometry = str(self.geometry)
        self.inside = str(self.inside)
        self.status = str(self.status)
        self.message = str(self.message)
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        n_cells, n_species = self._check_mesh_and_species()
        n_times = self._check_fields(n_cells, n_species)
        self._check_observables(n_times)
        self._check_error_estimate(n_times)

    def _check_mesh_and_species(self) -> tuple[int, int]:
        """Coerce and check the mesh and species arrays; return (N, S)."""
        self.x = np.asarray(self.x, dtype=float).reshape(-1)
        self.faces = np.asarray(self.faces, dtype=float).reshape(-1)
        self.region = np.asarray(self.region, dtype=np.int64).reshape(-1)
        self.region_names = tuple(str(name) for name in self.region_names)
        self.species = tuple(str(name) for name in self.species)
        self.z = np.asarray(self.z, dtype=np.int64).reshape(-1)
        self.D = np.asarray(self.D, dtype=float).reshape(-1)
        n_cells, n_species = self.x.size, len(self.species)
        if self.faces.size != n_cells + 1:
            raise ValueError(f"faces: expected {n_cells + 1} values (N+1), got {self.faces.size}")
        if self.region.size != n_cells:
            raise ValueError(
                f"region: expected {n_cells} values (one per cell), got {self.region.size}"
            )
        if n_cells and (self.region.min() < 0 or self.region.max() >= len(self.region_names)):
            raise ValueError(
                f"region: indices must lie in 0..{len(self.region_names) - 1} "
                f"(region_names {self.region_names})"
            )
        if len(set(self.species)) != n_species:
            raise ValueError(f"species: duplicate names in {self.species}")
        for what, array in (("z", self.z), ("D", self.D)):
            if array.size != n_species:
                raise ValueError(
                    f"{what}: expected {n_species} values (one per species), got {array.size}"
                )
        return n_cells, n_species

    def _check_fields(self, n_cells: int, n_species: int) -> int:
        """Coerce and check t, potential and concentration; return T."""
        self.t = np.asarray(self.t, dtype=float).reshape(-1)
        n_times = self.t.size
        self.potential = np.asarray(self.potential, dtype=float)
        self.concentration = np.asarray(self.concentration, dtype=float)
        if n_times == 0 and self.potential.size == 0:
            self.potential = self.potential.reshape(n_times, n_cells)
        if n_times == 0 and self.concentration.size == 0:
            self.concentration = self.concentration.reshape(n_times, n_species, n_cells)
        if self.potential.shape != (n_times, n_cells):
            raise ValueError(
                f"potential: expected shape (T, N) = {(n_times, n_cells)}, got {self.potential.shape}"
            )
        expected = (n_times, n_species, n_cells)
        if self.concentration.shape != expected:
            raise ValueError(
                f"concentration: expected shape (T, S, N) = {expected}, got {self.concentration.shape}"
            )
        if self.face_positions is not None:
            self.face_positions = np.asarray(self.face_positions, dtype=float)
            if self.face_positions.shape != (n_times, n_cells + 1):
                raise ValueError(
                    f"face_positions: expected shape (T, N+1) = {(n_times, n_cells + 1)}, "
                    f"got {self.face_positions.shape}"
                )
        return n_times

    def faces_at(self, index: int) -> np.ndarray:
        """Face positions [m] at output ``index`` (``faces`` when the mesh does not move)."""
        if self.face_positions is None:
            return self.faces
        return self.face_positions[index]

    def mesh_at(self, index: int):
        """The :class:`~pnp.discretisation.mesh.Mesh` of output ``index`` (:meth:`mesh`
        when the mesh does not move): its cell volumes hold that output's amounts."""
        from ..discretisation.mesh import mesh_from_faces

        return mesh_from_faces(self.faces_at(index), self.region, self.region_names, self.geometry)

    def _check_observables(self, n_times: int) -> None:
        """Coerce and check the observable time series."""
        self.membrane_potential = _series(self.membrane_potential, n_times, "membrane_potential")
        self.current = _series(self.current, n_times, "current")
        if self.pump_current is None:
            self.pump_current = np.zeros(n_times)
        self.pump_current = _series(self.pump_current, n_times, "pump_current")
        unknown = set(self.flux) - set(self.species)
        if unknown:
            raise ValueError(
                f"flux: unknown species {sorted(unknown)}; species are {', '.join(self.species)}"
            )
        # Species order, whatever order the caller used.
        self.flux = {
            name: _series(self.flux[name], n_times, f"flux[{name!r}]")
            for name in self.species
            if name in self.flux
        }
        unknown = set(self.surface_charge) - set(SIDES)
        if unknown:
            raise ValueError(
                f"surface_charge: keys must be 'left' and 'right', got {sorted(unknown)}"
            )
        self.surface_charge = {
            side: _series(self.surface_charge[side], n_times, f"surface_charge[{side!r}]")
            for side in SIDES
            if side in self.surface_charge
        }
        extra = {str(name): values for name, values in self.extra_observables.items()}
        # registered ones in table order (a file lists its datasets alphabetically),
        # then any others as given
        ordered = [n for n in observable_names(self.species, water=True) if n in extra]
        ordered += [n for n in extra if n not in ordered]
        self.extra_observables = {name: _series(extra[name], n_times, name) for name in ordered}
        clash = set(self.extra_observables) & set(self._structured())
        if clash:
            raise ValueError(f"extra_observables: {sorted(clash)} clash with standard observables")
        self.stats = dict(self.stats)

    def _check_error_estimate(self, n_times: int) -> None:
        """One non-negative series per observable, NaN where none was given."""
        given = dict(self.error_estimate or {})
        names = list(self.observables())
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(
                f"error_estimate: {sorted(unknown)} are not observables of this result "
                f"({', '.join(names)})"
            )
        estimates = {}
        for name in names:
            if name not in given:
                estimates[name] = np.full(n_times, np.nan)
                continue
            values = _series(given[name], n_times, f"error_estimate[{name!r}]")
            if np.any(values < 0):
                raise ValueError(f"error_estimate[{name!r}]: negative values")
            estimates[name] = values
        self.error_estimate = estimates

    # -- access ---------------------------------------------------------------

    @property
    def success(self) -> bool:
        """True when the run completed."""
        return self.status == "completed"

    def mesh(self):
        """The :class:`~pnp.discretisation.mesh.Mesh` the result was computed on.

        A steady state's mesh is adapted to the solution: use this one (not
        ``pnp.build_mesh(case)``) for cell volumes and face areas.
        """
        from ..discretisation.mesh import mesh_from_faces

        return mesh_from_faces(self.faces, self.region, self.region_names, self.geometry)

    def c(self, name: str) -> np.ndarray:
        """Concentration of one species, shape (T, N) [mol/m^3]."""
        try:
            index = self.species.index(name)
        except ValueError:
            raise KeyError(
                f"unknown species {name!r}; species are {', '.join(self.species)}"
            ) from None
        return self.concentration[:, index, :]

    def _structured(self) -> dict[str, np.ndarray]:
        """Observables held in their own fields, by flat name, in registry order."""
        flat: dict[str, np.ndarray] = {}
        for obs in OBSERVABLES:
            if not obs.attribute:
                continue
            value = getattr(self, obs.attribute)
            if obs.kind == SCALAR:
                flat[obs.name] = value
            else:
                flat.update({obs.prefix + key: series for key, series in value.items()})
        return flat

    def spike_times(self, level: float = 0.0) -> np.ndarray:
        """Times [s] where the membrane potential crosses ``level`` [V] upward
        (linear between outputs): the spikes of a transient (:mod:`pnp.results.spikes`)."""
        from .spikes import spike_times

        return spike_times(self.t, self.membrane_potential, level)

    def observables(self) -> dict[str, np.ndarray]:
        """Every per-time observable under its flat name (see module docstring)."""
        flat = self._structured()
        flat.update(self.extra_observables)
        return flat

    # -- construction and files ---------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        *,
        observables: Mapping[str, Any],
        species: Any,
        error_estimate: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Result:
        """Build a Result whose observables are given under their flat names.

        ``observables`` maps ``membrane_potential``, ``current``,
        ``pump_current``, ``flux_<species>``, ``surface_charge_<side>`` and any
        other name (kept in ``extra_observables``) to arrays (T,).
        ``error_estimate`` maps the same flat names to their error estimates
        (T,); names left out get NaN. Every other field is passed as a
        keyword, as to the constructor.
        """
        species = tuple(str(name) for name in species)
        keys = {PER_SPECIES: species, PER_SIDE: SIDES}
        structured: dict[str, Any] = {
            o.attribute: {} for o in OBSERVABLES if o.attribute and o.kind != SCALAR
        }
        structured["extra_observables"] = {}
        scalars: dict[str, Any] = {}
        for name, values in observables.items():
            obs = next(
                (
                    o
                    for o in OBSERVABLES
                    if o.attribute
                    and o.matches(name)
                    and (o.kind == SCALAR or name[len(o.prefix) :] in keys[o.kind])
                ),
                None,
            )
            if obs is None:
                structured["extra_observables"][name] = values
            elif obs.kind == SCALAR:
                scalars[name] = values
            else:
                structured[obs.attribute][name[len(obs.prefix) :]] = values
        missing = [name for name in ("membrane_potential", "current") if name not in scalars]
        if missing:
            raise ValueError(f"observables: missing {', '.join(missing)}")
        return cls(
            species=species,
            error_estimate=dict(error_estimate or {}),
            **structured,
            **scalars,
            **fields,
        )

    def save(self, path: str | Any) -> None:
        """Write the result to an HDF5 file (layout: docs/interface.md, section "Result files")."""
        from pnp.results.writer import save_result  # writer imports this module

        save_result(self, path)

    def __repr__(self) -> str:
        count = self.t.size
        times = f"T={count} output{'' if count == 1 else 's'}"
        if count == 1:
            times += " (steady state)" if np.isinf(self.t[0]) else f", t={self.t[0]:.3g} s"
        elif count > 1:
            times += f", t={self.t[0]:.3g}..{self.t[-1]:.3g} s"
        title = f"{self.title!r}, " if self.title else ""
        return (
            f"<Result {title}{self.status}, N={self.x.size} cells, "
            f"S={len(self.species)} species ({', '.join(self.species)}), {times}>"
        )
