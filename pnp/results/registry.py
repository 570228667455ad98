"""The one table of per-time observables: flat names, units, descriptions.

How to add an observable: compute it in :func:`pnp.results.observables.observe`
(a new key in the dict it returns, or one key per species / per side), then add
one :class:`Observable` entry to :data:`OBSERVABLES` below with its name (a
pattern with ``{species}`` or ``{side}`` for per-species / per-side ones), unit,
description and kind. Everything else follows from the table: the names the
solver collects, the datasets of a result file and their ``units`` attribute,
:meth:`Result.observables`, the sweep summary columns (unless ``summary=False``)
and the units on plot axes. An observable that is not one of the structured
:class:`~pnp.results.result.Result` fields (``membrane_potential``, ``current``,
``pump_current``, ``flux``, ``surface_charge``) lands in
``Result.extra_observables`` under its flat name. tests/test_registry.py checks
that the table and ``observe()`` agree.

The order of the table is the order of the names everywhere (result files,
``Result.observables()``, summary columns).

Every observable also has an error estimate (``Result.error_estimate``, the
result file's ``/error_estimate`` group) under the same flat name and in the
same unit; a sweep summary holds it in the column :func:`error_column`
(``membrane_potential_error``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SIDES = ("left", "right")
SCALAR, PER_SPECIES, PER_SIDE = "scalar", "per species", "per side"
PER_CHANNEL, PER_GATE = "per channel", "per gate"
#: Suffix of the sweep-summary column holding an observable's error estimate.
ERROR_SUFFIX = "_error"


@dataclass(frozen=True)
class Observable:
    """One entry of the table.

    Parameters
    ----------
    name : str
        Flat name, or a pattern with ``{species}`` (kind ``per species``) or
        ``{side}`` (kind ``per side``) expanded to one name each.
    unit : str
        SI unit as written in result files (``A/m^2``).
    description : str
        What it is, with its sign convention.
    kind : str
        ``scalar``, ``per species`` or ``per side``.
    label : str
        Short human label (``membrane potential``; patterns as in ``name``).
    compute : str
        Where its value comes from: the function of
        :mod:`pnp.results.observables` that computes it (``observe()`` returns
        it under the expanded name).
    attribute : str
        The :class:`~pnp.results.result.Result` field that holds it
        (``flux`` for ``flux_{species}``); "" for ``extra_observables``.
    summary : bool
        Whether it is one of the fixed observable columns of a sweep summary
        (after the parameters and status); the others still get a column, after
        the solver statistics, as every observable a run reports does.
    water : bool
        Reported only by a case whose volume moves (a membrane with a
        ``water_permeability``); never a fixed summary column.

    Kinds ``per channel`` and ``per gate`` (patterns with ``{channel}`` or
    ``{gate}``, the gate as ``<channel>_<gate>``) are reported only by a case
    with voltage-gated channels; never fixed summary columns.
    """

    name: str
    unit: str
    description: str
    kind: str
    label: str
    compute: str
    attribute: str = ""
    summary: bool = True
    water: bool = False  # reported only when water crosses a membrane (the volume moves)

    @property
    def prefix(self) -> str:
        """The fixed part of a pattern before ``{``: ``flux_`` (the name itself if scalar)."""
        return self.name.split("{", 1)[0]

    def expand(
        self,
        species: Sequence[str] = (),
        sides: Sequence[str] = SIDES,
        channels: Sequence[str] = (),
        gates: Sequence[str] = (),
    ) -> list[str]:
        """Flat names of this entry for the given species, sides, channels and gates."""
        return [name for name, _ in self.rows(species, sides, channels, gates)]

    def rows(self, species=(), sides=SIDES, channels=(), gates=()) -> list[tuple[str, str]]:
        """(flat name, description) of every expansion of this entry."""
        key = {
            PER_SPECIES: ("species", species),
            PER_SIDE: ("side", sides),
            PER_CHANNEL: ("channel", channels),
            PER_GATE: ("gate", gates),
        }.get(self.kind)
        if key is None:
            return [(self.name, self.description)]
        field, values = key
        return [
            (self.name.format(**{field: v}), self.description.format(**{field: v})) for v in values
        ]

    def matches(self, flat: str) -> bool:
        """Whether ``flat`` is this entry or starts with its pattern's prefix (``flux_``)."""
        if self.kind == SCALAR:
            return flat == self.name
        return flat.startswith(self.prefix)


OBSERVABLES: tuple[Observable, ...] = (
    Observable(
        "membrane_potential",
        "V",
        "V_m = phi(inside end) - phi(outside end), at the two boundary faces",
        SCALAR,
        "membrane potential",
        "boundary_potentials",
        attribute="membrane_potential",
    ),
    Observable(
        "current",
        "A/m^2",
        "total membrane current density (ionic, pump, displacement), outward positive",
        SCALAR,
        "membrane current",
        "face_fluxes",
        attribute="current",
    ),
    Observable(
        "pump_current",
        "A/m^2",
        "net pump current density F*sum(j_p), outward positive",
        SCALAR,
        "pump current",
        "pump_rate",
        attribute="pump_current",
    ),
    Observable(
        "flux_{species}",
        "mol/m^2/s",
        "flux of {species} across the membrane (leak + pump), outward positive",
        PER_SPECIES,
        "flux {species}",
        "face_fluxes",
        attribute="flux",
    ),
    Observable(
        "surface_charge_{side}",
        "C/m^2",
        "charge on the {side} boundary surface",
        PER_SIDE,
        "surface charge {side}",
        "surface_charges",
        attribute="surface_charge",
    ),
    Observable(
        "membrane_charge",
        "C/m^2",
        "charge of the membrane capacitor on its inside face",
        SCALAR,
        "membrane charge",
        "displacement_at",
        summary=False,
    ),
    Observable(
        "membrane_voltage",
        "V",
        "phi(inner face) - phi(outer face) of the membrane nearest the inside: the drop over "
        "its dielectric, without the diffuse layers (0 without a membrane)",
        SCALAR,
        "membrane voltage",
        "membrane_voltage",
    ),
    Observable(
        "current_{species}",
        "A/m^2",
        "current density of {species} across the membrane, z F flux_{species}, outward positive",
        PER_SPECIES,
        "current {species}",
        "face_fluxes",
    ),
    Observable(
        "gate_{gate}",
        "1",
        "open fraction of gate {gate} (<channel>_<gate>)",
        PER_GATE,
        "gate {gate}",
        "channel_observables",
        summary=False,
    ),
    Observable(
        "permeability_{channel}",
        "m/s",
        "permeability of channel {channel}, its open permeability times its gates' product",
        PER_CHANNEL,
        "permeability {channel}",
        "channel_observables",
        summary=False,
    ),
    Observable(
        "channel_current_{channel}",
        "A/m^2",
        "current density through channel {channel}: its share of its species' "
        "current across the membrane, outward positive",
        PER_CHANNEL,
        "current {channel}",
        "channel_observables",
        summary=False,
    ),
    Observable(
        "volume",
        "m^3",
        "volume of the inside compartment: the whole cell (spherical), per m of length "
        "(cylindrical, m^3/m) or per m^2 of membrane (cartesian, m^3/m^2)",
        SCALAR,
        "volume",
        "volume_observables",
        summary=False,
        water=True,
    ),
    Observable(
        "water_flux",
        "m/s",
        "water flux across the membrane, L_p [(P_in - P_out) - (Pi_in - Pi_out)], outward positive",
        SCALAR,
        "water flux",
        "volume_observables",
        summary=False,
        water=True,
    ),
    Observable(
        "osmolarity_inside",
        "mol/m^3",
        "sum of phi c over every solute, averaged over the inside compartment",
        SCALAR,
        "osmolarity inside",
        "volume_observables",
        summary=False,
        water=True,
    ),
    Observable(
        "osmolarity_outside",
        "mol/m^3",
        "sum of phi c over every solute, averaged over the region beside the membrane outside",
        SCALAR,
        "osmolarity outside",
        "volume_observables",
        summary=False,
        water=True,
    ),
    Observable(
        "pressure",
        "Pa",
        "hydrostatic pressure difference P_in - P_out = stiffness (V/V0 - 1)",
        SCALAR,
        "pressure",
        "volume_observables",
        summary=False,
        water=True,
    ),
)


def entry(name: str) -> Observable:
    """The entry whose name or pattern is ``name`` (``flux_{species}``, ``current``)."""
    for obs in OBSERVABLES:
        if obs.name == name:
            return obs
    raise KeyError(f"no observable {name!r} in the registry")


def lookup(flat: str) -> Observable | None:
    """The entry a flat name belongs to (``flux_K`` → ``flux_{species}``), or None."""
    for obs in OBSERVABLES:
        if obs.matches(flat):
            return obs
    return None


def observable_names(
    species: Sequence[str],
    sides: Sequence[str] = SIDES,
    *,
    summary: bool = False,
    water: bool = False,
    channels: Sequence[str] = (),
    gates: Sequence[str] = (),
) -> list[str]:
    """Every flat observable name for these species and sides, in table order.

    With ``summary=True`` only those that are sweep summary columns; the
    volume observables only with ``water=True`` (a case whose volume moves);
    the channel observables for the ``channels`` and ``gates`` given.
    """
    names: list[str] = []
    for obs in OBSERVABLES:
        if (summary and not obs.summary) or (obs.water and not water):
            continue
        names += obs.expand(species, sides, channels, gates)
    return names


def error_column(name: str) -> str:
    """The sweep-summary column of a flat name's error estimate (``current_error``)."""
    return name + ERROR_SUFFIX


def observable_units(name: str) -> str:
    """Unit of a flat observable name (``flux_K`` → ``mol/m^2/s``); "" if unregistered.

    An error-estimate column (``membrane_potential_error``) has its
    observable's unit.
    """
    obs = lookup(name)
    if obs is None and name.endswith(ERROR_SUFFIX):
        obs = lookup(name[: -len(ERROR_SUFFIX)])
    return obs.unit if obs is not None else ""


def describe(
    species: Sequence[str],
    sides: Sequence[str] = SIDES,
    *,
    water: bool = False,
    channels: Sequence[str] = (),
    gates: Sequence[str] = (),
) -> list[tuple[str, str, str]]:
    """(flat name, unit, description) of every observable, in table order
    (the volume observables with ``water=True``, the channel ones for the
    ``channels`` and ``gates`` given)."""
    rows = []
    for obs in OBSERVABLES:
        if obs.water and not water:
            continue
        rows += [(n, obs.unit, d) for n, d in obs.rows(species, sides, channels, gates)]
    return rows
