"""Case files: schema, TOML loading, units, validation and overrides.

A case is validated once, converted to SI, and held in the frozen dataclasses
below. Everything downstream (mesh, model, solver) reads only these.

The case-file schema is the single table `PARAMETERS` (one `Parameter` per
key, with description, SI unit, type, default and allowed values). The
loader checks every key against it and `schema_reference` renders it as the
Markdown key reference kept in README.md (docs/interface.md, section
"Case files").

Pipeline of `Case.from_dict` (and `load_case`)::

    input dict ──copy, limits──▶ raw ──overrides──▶ raw' ──_Reader──▶ Case (SI)

``raw'`` (the input with the overrides applied, units still as written) is
kept in `Case.raw`; `Case.with_overrides` re-validates from it, so an
override goes through exactly the checks of a case file.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import numbers
import os
import re
import tomllib
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CaseError
from .units import UnitParseError, describe_unit, to_si

__all__ = [
    "PARAMETERS",
    "Boundary",
    "Case",
    "CaseWarning",
    "MeshSpec",
    "OutputSpec",
    "Parameter",
    "Protocol",
    "Pump",
    "Region",
    "RunSpec",
    "Species",
    "load_case",
    "parse_override",
    "schema_reference",
]


@dataclass(frozen=True)
class Species:
    name: str
    z: int                      # valence
    D: float                    # bulk diffusivity [m^2/s]
    size: float | None = None   # ion size parameter a [m] (extended Debye-Hueckel); None if not given


@dataclass(frozen=True)
class Region:
    name: str
    length: float                       # [m]
    eps_r: float                        # relative permittivity [-]
    membrane: bool
    concentration: dict[str, float]     # initial / reservoir contents [mol/m^3], every species present (0 if not given)
    fixed_charge: float                 # [mol/m^3 of elementary charges], signed
    D: dict[str, float]                 # diffusivity in this region [m^2/s], every species (default: species D)
    barrier: dict[str, float]           # standard free-energy offset dG_i [J/mol], every species; inf = impermeant
    permeability: dict[str, float]      # membranes: P_i = exp(-dG_i/RT) D_i / length [m/s], every species (0 = impermeant); bulk: {}


@dataclass(frozen=True)
class Boundary:
    side: str                           # "left" | "right"
    type: str                           # "wall" | "reservoir"
    potential: float | None             # [V]; None: wall with surface charge, or floating reservoir
    surface_charge: float = 0.0         # [C/m^2], wall without potential only
    current: float = 0.0                # [A/m^2] into the domain through this boundary, floating reservoir only

    @property
    def floating(self) -> bool:
        return self.type == "reservoir" and self.potential is None


@dataclass(frozen=True)
class Pump:
    membrane: str                       # name of a membrane region
    rate: float | None = None           # constant cycle rate j_p [mol/m^2/s]
    j_max: float | None = None          # saturating form [mol/m^2/s]
    K_Na: float | None = None           # [mol/m^3]
    K_K: float | None = None            # [mol/m^3]
    sodium: str = "Na"                  # species names the pump moves
    potassium: str = "K"


@dataclass(frozen=True)
class MeshSpec:
    cells_per_debye: float = 4.0
    growth: float = 1.2
    max_cell: float = 100e-9            # [m]
    membrane_cells: int = 10
    uniform_cells: int | None = None


@dataclass(frozen=True)
class RunSpec:
    mode: str = "steady"                # steady | transient
    t_end: float | None = None          # [s], transient only
    outputs: int | tuple[float, ...] = 200
    rtol: float = 1e-6
    atol: float = 1e-9
    max_steps: int = 100000


@dataclass(frozen=True)
class Protocol:
    at: float                           # [s]
    set: dict[str, Any]                 # dotted key -> value (already validated)


@dataclass(frozen=True)
class OutputSpec:
    path: str | None = None             # resolved relative to the case file
    plot: bool = True


@dataclass(frozen=True)
class Case:
    """A validated case in SI units.

    Equality compares the physics and numerics only: ``source`` (where the
    case came from) and ``raw`` (how it was written) are provenance and are
    left out, so a case and its `to_toml` text loaded back compare equal.
    """

    title: str
    temperature: float                  # [K]
    geometry: str                       # cartesian | cylindrical | spherical
    inside: str                         # left | right
    activity: str                       # ideal | debye-huckel | extended-debye-huckel | davies (pnp.discretisation.activity)
    species: tuple[Species, ...]
    regions: tuple[Region, ...]
    left: Boundary
    right: Boundary
    pumps: tuple[Pump, ...] = ()
    mesh: MeshSpec = field(default_factory=MeshSpec)
    run: RunSpec = field(default_factory=RunSpec)
    protocols: tuple[Protocol, ...] = ()
    output: OutputSpec = field(default_factory=OutputSpec)
    expect: dict[str, Any] = field(default_factory=dict)
    strict: bool = True
    source: str | None = field(default=None, compare=False)  # path of the case file, if loaded from one
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the validated input (before SI conversion)

    @property
    def species_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.species)

    def region(self, name: str) -> Region:
        """The region called ``name`` (`KeyError` if there is none)."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
        source: str | os.PathLike | None = None,
        strict: bool | None = None,
    ) -> Case:
        """Validate a case given as a dict (the parsed TOML schema).

        Parameters
        ----------
        data : mapping
            Same layout as a case file: ``{"species": {...}, "region": [...], ...}``.
            Plain numbers are SI; strings with units (``"5 nm"``) are converted.
        overrides : mapping, optional
            Dotted key → value, applied before validation (see `load_case`).
        source : str or path, optional
            The file the data came from: named in error messages, and the
            directory that a relative ``output.path`` is resolved against.
        strict : bool, optional
            Overrides the case's ``strict`` key (electroneutrality error vs warning).

        Raises
        ------
        CaseError
            Anything invalid, with the dotted key and what is allowed.
        """
        return _case_from_data(data, overrides, source, strict)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Case:
        """A new case with dotted-key ``overrides`` applied and re-validated."""
        return _case_from_data(self._input(), overrides, self.source, None)

    def at_time(self, t: float) -> Case:
        """The case in effect at time ``t`` [s] of a transient run.

        Every ``[[protocol]]`` with ``at <= t`` is applied, in order; the
        returned case keeps only the protocols still to come (``at > t``), so
        calling it again at a later protocol time continues the sequence.
        """
        data = self._input()
        data.pop("protocol", None)
        for protocol in self.protocols:
            if protocol.at <= t:
                for key, value in protocol.set.items():
                    _apply_override(data, key, value, self.source)
        later = tuple(p for p in self.protocols if p.at > t)
        # The remaining protocols were validated as a sequence from this very
        # state when the case was loaded: no need to re-check them (that would
        # make stepping through P protocols cost O(P^2) validations).
        case = _Reader(self.source).build(data, self.source, check_protocols=False)
        if later:
            data["protocol"] = [{"at": p.at, "set": copy.deepcopy(p.set)} for p in later]
        return dataclasses.replace(case, protocols=later, raw=data)

    def to_dict(self) -> dict[str, Any]:
        """The resolved case as a plain dict in SI numbers (the `to_toml` content)."""
        return _case_to_dict(self)

    def to_toml(self) -> str:
        """The resolved case as TOML text in plain SI numbers.

        Loading the text back (`load_case` or `Case.from_dict`) gives an equal case.
        """
        return _dump_toml(self.to_dict())

    def _input(self) -> dict[str, Any]:
        # A Case built directly from the dataclasses has no raw input: its
        # resolved SI form is an equivalent input.
        return copy.deepcopy(self.raw) if self.raw else self.to_dict()


class CaseWarning(UserWarning):
    """A suspicious but accepted case (``strict = false``)."""


# ---------------------------------------------------------------------------
# Schema: one table of every key
# ---------------------------------------------------------------------------


class _Required:
    def __repr__(self) -> str:
        return "required"


#: Marks a key without a default.
REQUIRED: Any = _Required()

_MAX_FILE_BYTES = 1_000_000
_MAX_DEPTH = 8
_MAX_SPECIES = 64
_MAX_REGIONS = 1000
_MAX_PUMPS = 1000
_MAX_PROTOCOLS = 1000
_MAX_OUTPUT_TIMES = 100_000
_MAX_STRING = 1000
# Most cells a mesh may have (all regions together): a 1e8-cell 1D problem is
# far beyond any physical need, and refusing it at validation keeps an absurd
# `uniform_cells` or `max_cell` from attempting a huge allocation or loop.
_MAX_CELLS = 100_000_000
_MAX_VALENCE = 100
# Longest key path and message an error shows (user input is quoted in them).
_MAX_KEY_SHOWN = 120
_MAX_MESSAGE = 1000
_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_ACTIVITY_MODELS = ("ideal", "debye-huckel", "extended-debye-huckel", "davies")
_SIDES = ("left", "right")


@dataclass(frozen=True)
class Parameter:
    """One key of the case-file schema.

    ``key`` is a dotted path in which ``<species>``, ``<region>``, ``<side>``,
    ``<pump>`` and ``<protocol>`` stand for a species name, a region name,
    ``left``/``right``, and an entry of ``[[pump]]``/``[[protocol]]``.
    ``type`` is one of ``float`` (number or string with a unit), ``int``,
    ``bool``, ``str``, ``name``, ``choice``, ``potential`` (number or
    ``"floating"``), ``outputs``, ``table`` (protocol changes) or ``value``
    (number or string, stored as given).
    """

    key: str
    type: str
    unit: str                             # SI unit, or "-" for a dimensionless / non-numeric key
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: bool = False       # minimum itself not allowed (> instead of >=)
    maximum: float | None = None          # largest value allowed (inclusive)
    default_text: str | None = None       # shown instead of the default when it is derived
    protocol: bool = False                # may change during a run ([[protocol]] set)

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``"> 0"`` or ``"wall | reservoir"``."""
        if self.choices:
            return " | ".join(self.choices)
        if self.type == "potential":
            return 'number or "floating"'
        if self.type == "outputs":
            return f"int 1 to {_MAX_OUTPUT_TIMES}, or up to {_MAX_OUTPUT_TIMES} increasing times >= 0"
        if self.minimum is not None or self.maximum is not None:
            limits = []
            if self.minimum is not None:
                limits.append(f"{'>' if self.exclusive_minimum else '>='} {_limit(self.minimum)}")
            if self.maximum is not None:
                limits.append(f"<= {_limit(self.maximum)}")
            return ", ".join(limits)
        if self.type == "bool":
            return "true | false"
        if self.type == "name":
            return "letters, digits, _ or -"
        if self.type == "value":
            return "number or string"
        if self.type == "float":
            return "any finite number"
        return ""

    def expectation(self) -> str:
        """What a value must be, for error messages."""
        if self.type == "float":
            what = describe_unit(self.unit) if self.unit != "-" else "a number"
        elif self.type == "int":
            what = "an integer"
        elif self.type == "bool":
            return "true or false"
        elif self.type == "choice":
            return "one of " + " | ".join(f'"{c}"' for c in self.choices)
        elif self.type == "potential":
            return 'a potential (V) or "floating"'
        elif self.type == "name":
            return "a name (letters, digits, _ or -, starting with a letter)"
        elif self.type == "str":
            return "a string"
        elif self.type == "outputs":
            return (f"an integer from 1 to {_MAX_OUTPUT_TIMES} (number of outputs) or a list of "
                    "increasing times (s)")
        elif self.type == "table":
            return "a table"
        else:
            return "a number or a string"
        limit = self.allowed() if self.minimum is not None or self.maximum is not None else ""
        return f"{what}, {limit}" if limit else what


def _limit(value: float) -> str:
    """A schema limit for people: ``1``, ``0.5``, ``100``, ``1e8``."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:g}".replace("e+0", "e").replace("e+", "e")


def _p(key, type_, unit, default, description, **kw) -> Parameter:
    return Parameter(key, type_, unit, default, description, **kw)


#: The case-file schema (docs/interface.md, section "Case files"): every key the loader accepts.
PARAMETERS: tuple[Parameter, ...] = (
    # -- top level --------------------------------------------------------
    _p("title", "str", "-", None, "Short description shown in summaries and stored in results.",
       default_text="case file stem"),
    _p("temperature", "float", "K", 298.15, "Temperature (accepts \"37 degC\"); cannot change during a run.",
       minimum=0.0, exclusive_minimum=True),
    _p("geometry", "choice", "-", "cartesian",
       "Coordinate of the 1D domain; cylindrical and spherical put r = 0 at the left boundary.",
       choices=("cartesian", "cylindrical", "spherical")),
    _p("inside", "choice", "-", "left", "Which end of the domain is the cell's inside.",
       choices=("left", "right")),
    _p("activity", "choice", "-", "ideal",
       "Activity-coefficient model; gamma per bulk region from its initial ionic strength, "
       "static (`extended-debye-huckel` needs `size` of every charged species).",
       choices=_ACTIVITY_MODELS),
    _p("strict", "bool", "-", True,
       "Non-electroneutral regions and protocols after the end of the run are errors (false: warnings)."),
    # -- species ----------------------------------------------------------
    _p("species.<species>.z", "int", "-", REQUIRED, "Valence (an integer; 0 for a neutral species).",
       minimum=-_MAX_VALENCE, maximum=_MAX_VALENCE),
    _p("species.<species>.D", "float", "m^2/s", REQUIRED, "Bulk diffusivity.",
       minimum=0.0, exclusive_minimum=True),
    _p("species.<species>.size", "float", "m", None,
       "Ion size parameter a (extended Debye-Hückel).", minimum=0.0, exclusive_minimum=True),
    # -- regions ----------------------------------------------------------
    _p("region.<region>.name", "name", "-", REQUIRED, "Unique name; override paths use it (`region.bath.length`)."),
    _p("region.<region>.length", "float", "m", REQUIRED, "Thickness of the region.",
       minimum=0.0, exclusive_minimum=True),
    _p("region.<region>.eps_r", "float", "-", REQUIRED, "Relative permittivity.",
       minimum=1.0, default_text="required (membranes: or capacitance)"),
    _p("region.<region>.capacitance", "float", "F/m^2", None,
       "Membranes only, instead of eps_r: eps_r = capacitance·length/ε0.",
       minimum=0.0, exclusive_minimum=True),
    _p("region.<region>.membrane", "bool", "-", False,
       "A membrane: not the first or last region; transport set by permeability or barrier."),
    _p("region.<region>.concentration.<species>", "float", "mol/m^3", 0.0,
       "Initial contents (held fixed next to a reservoir boundary).", minimum=0.0, protocol=True),
    _p("region.<region>.fixed_charge", "float", "mol/m^3", 0.0,
       "Fixed charge density in mol/m^3 of elementary charges (signed)."),
    _p("region.<region>.D.<species>", "float", "m^2/s", None,
       "Diffusivity in this region; 0 = immobile here.", minimum=0.0, default_text="species D"),
    _p("region.<region>.permeability.<species>", "float", "m/s", None,
       "Membranes only: permeability P = exp(-barrier/RT)·D/length; unlisted species are impermeant.",
       minimum=0.0, default_text="0 (impermeant)", protocol=True),
    _p("region.<region>.barrier.<species>", "float", "J/mol", None,
       "Standard free-energy offset ΔG; membranes: instead of permeability (unlisted: impermeant); "
       "bulk: partition offset.", default_text="bulk 0; membranes impermeant", protocol=True),
    # -- boundaries -------------------------------------------------------
    _p("boundary.<side>.type", "choice", "-", REQUIRED,
       "wall: no flux of any species; reservoir: concentrations of the adjacent region held.",
       choices=("wall", "reservoir")),
    _p("boundary.<side>.potential", "potential", "V", None,
       "Wall: blocking electrode potential (else surface_charge); reservoir: a number or "
       "\"floating\" (current clamp).", default_text="wall: none; reservoir: required", protocol=True),
    _p("boundary.<side>.surface_charge", "float", "C/m^2", 0.0,
       "Walls without a potential: charge on the wall.", protocol=True),
    _p("boundary.<side>.current", "float", "A/m^2", 0.0,
       "Floating reservoirs only: current density entering the domain through this boundary.",
       protocol=True),
    # -- pumps ------------------------------------------------------------
    _p("pump.<pump>.membrane", "name", "-", REQUIRED, "Name of the membrane region the pump sits in."),
    _p("pump.<pump>.rate", "float", "mol/m^2/s", None,
       "Constant cycle rate j_p (3 Na out, 2 K in per cycle).", minimum=0.0, protocol=True),
    _p("pump.<pump>.j_max", "float", "mol/m^2/s", None,
       "Saturating form: j_p = j_max·(Na_in/(Na_in+K_Na))³·(K_out/(K_out+K_K))².",
       minimum=0.0, protocol=True),
    _p("pump.<pump>.K_Na", "float", "mol/m^3", None, "Saturating form: Na half-activation.",
       minimum=0.0, exclusive_minimum=True),
    _p("pump.<pump>.K_K", "float", "mol/m^3", None, "Saturating form: K half-activation.",
       minimum=0.0, exclusive_minimum=True),
    _p("pump.<pump>.sodium", "name", "-", "Na", "Species the pump moves out (3 per cycle)."),
    _p("pump.<pump>.potassium", "name", "-", "K", "Species the pump moves in (2 per cycle)."),
    # -- mesh -------------------------------------------------------------
    _p("mesh.cells_per_debye", "float", "-", 4.0,
       "Smallest cells at interfaces and walls: this many per local Debye length.",
       minimum=0.0, exclusive_minimum=True),
    _p("mesh.growth", "float", "-", 1.2, "Geometric growth of cell sizes away from interfaces.",
       minimum=1.0),
    _p("mesh.max_cell", "float", "m", 100e-9, "Largest cell.", minimum=0.0, exclusive_minimum=True),
    _p("mesh.membrane_cells", "int", "-", 10, "Uniform cells in each membrane.", minimum=1,
       maximum=_MAX_CELLS),
    _p("mesh.uniform_cells", "int", "-", None,
       "Instead of grading: this many equal cells in every region (at most 1e8 cells in all "
       "regions together, like any mesh).", minimum=1, maximum=_MAX_CELLS),
    # -- run --------------------------------------------------------------
    _p("run.mode", "choice", "-", "steady", "Steady state or time course.",
       choices=("steady", "transient")),
    _p("run.t_end", "float", "s", None, "End time; required for transient runs.",
       minimum=0.0, exclusive_minimum=True),
    _p("run.outputs", "outputs", "s", 200,
       "Number of log-spaced output times, or an explicit list of times."),
    _p("run.rtol", "float", "-", 1e-6, "Relative tolerance.", minimum=0.0, exclusive_minimum=True),
    _p("run.atol", "float", "-", 1e-9, "Absolute tolerance.", minimum=0.0, exclusive_minimum=True),
    _p("run.max_steps", "int", "-", 100000, "Most time steps before giving up.", minimum=1),
    # -- protocols ----------------------------------------------------------
    _p("protocol.<protocol>.at", "float", "s", REQUIRED, "Time of the change.", minimum=0.0),
    _p("protocol.<protocol>.set", "table", "-", REQUIRED,
       "Dotted key → new value; only run-time parameters (marked in this table)."),
    # -- output -------------------------------------------------------------
    _p("output.path", "str", "-", None, "Result file, relative to the case file's directory.",
       default_text="`results/<case stem>.h5`"),
    _p("output.plot", "bool", "-", True, "Write a PNG figure beside the result file."),
    # -- expect -------------------------------------------------------------
    _p("expect.<key>", "value", "-", None,
       "What the run should reproduce, stored as given: membrane_potential (\"nernst:K\", \"ghk\", "
       "\"donnan\" or V), surface_charge (\"grahame\"), concentration (\"donnan\"), "
       "potential_profile (\"gouy-chapman\"), tolerance, ..."),
)

SCHEMA: dict[str, Parameter] = {p.key: p for p in PARAMETERS}
_TOP_LEVEL_SCALARS = ("title", "temperature", "geometry", "inside", "activity", "strict")
_REGION_TABLES = ("concentration", "D", "permeability", "barrier")


def _children(prefix: str) -> tuple[str, ...]:
    """Names of the keys directly under ``prefix`` in the schema, in order."""
    depth = prefix.count(".") + 1 if prefix else 0
    head = prefix.split(".") if prefix else []
    out: list[str] = []
    for key in SCHEMA:
        parts = key.split(".")
        if len(parts) > depth and parts[:depth] == head and parts[depth] not in out:
            out.append(parts[depth])
    return tuple(out)


_SECTION_TITLES = {
    "": "Top level",
    "species.<species>": "`[species.NAME]` — one table per species",
    "region.<region>": "`[[region]]` — one per region, left to right",
    "boundary.<side>": "`[boundary.left]`, `[boundary.right]`",
    "pump.<pump>": "`[pump]` or `[[pump]]` — Na⁺/K⁺-ATPase in a membrane",
    "mesh": "`[mesh]`",
    "run": "`[run]`",
    "protocol.<protocol>": "`[[protocol]]` — piecewise-constant changes in a transient run",
    "output": "`[output]`",
    "expect": "`[expect]` — free table of numbers or strings",
}


def schema_reference() -> str:
    """The case-file reference as Markdown, generated from `PARAMETERS`.

    Returns
    -------
    str
        One table per section with key, type, unit, default, allowed values,
        whether a ``[[protocol]]`` may change it, and a description.
    """
    sections: dict[str, list[Parameter]] = {}
    for param in PARAMETERS:
        parts = param.key.split(".")
        if len(parts) == 1:
            section = ""
        elif parts[1].startswith("<") and parts[0] != "expect":
            section = ".".join(parts[:2])
        else:
            section = parts[0]
        sections.setdefault(section, []).append(param)
    lines = [
        "Plain numbers are SI (m, s, V, K, mol/m³ = mM, m²/s, m/s, A/m², C/m², J/mol); a string",
        'with a unit is converted (`"5 nm"`, `"37 degC"`, `"140 mM"`, `"1 uF/cm^2"`, `"12 kJ/mol"`).',
        "Unknown keys are errors. Overrides (`--set KEY=VALUE`, `overrides={...}`, `[[protocol]] set`)",
        "use dotted paths: `region.<name>.concentration.K`, `boundary.left.potential`, `pump.rate`",
        "(`pump.<i>.rate` with several pumps). *Protocol* marks what may change during a run.",
        "",
    ]
    for section, params in sections.items():
        lines += [f"### {_SECTION_TITLES.get(section, section)}", ""]
        lines += ["| Key | Type | Unit | Default | Allowed | Protocol | Description |",
                  "|---|---|---|---|---|---|---|"]
        for param in params:
            name = param.key[len(section) + 1:] if section else param.key
            if param.default_text is not None:
                default = param.default_text
            elif param.default is REQUIRED:
                default = "required"
            elif param.default is None:
                default = "—"
            else:
                default = f"`{_toml_scalar(param.default)}`"
            cells = [f"`{name}`", param.type, param.unit, default, param.allowed(),
                     "yes" if param.protocol else "", param.description]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_case(
    path: str | os.PathLike,
    overrides: Mapping[str, Any] | None = None,
    strict: bool | None = None,
) -> Case:
    """Load and validate a TOML case file.

    Parameters
    ----------
    path : str or path
        The case file (at most 1 MB).
    overrides : mapping, optional
        Dotted key → value, e.g. ``{"boundary.left.current": 0,
        "region.bath.concentration.K": "10 mM", "run.rtol": 1e-8}``. Values
        are numbers (SI) or strings with units; ``region.<name>`` addresses a
        region by name; ``pump.rate`` the only pump, ``pump.<i>.rate`` one of
        several.
    strict : bool, optional
        Overrides the file's ``strict`` key.

    Returns
    -------
    Case
        Validated, in SI units.

    Raises
    ------
    CaseError
        Unreadable file, invalid TOML (with line and column) or invalid case.
    """
    file = os.fspath(path)
    try:
        size = os.path.getsize(file)
        if size > _MAX_FILE_BYTES:
            raise _error(f"file is {size} bytes; case files are limited to {_MAX_FILE_BYTES} bytes",
                            file=file)
        with open(file, "rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _error(f"cannot read the case file: {exc.strerror or exc}", file=file) from None
    if len(data) > _MAX_FILE_BYTES:
        raise _error(f"case files are limited to {_MAX_FILE_BYTES} bytes", file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(f"not UTF-8 text (byte {exc.start})", file=file) from None
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(f"invalid TOML: {exc}", file=file) from None
    except ValueError as exc:
        # tomllib lets Python's limit on integer digits (4300) through as a
        # plain ValueError, whose advice (sys.set_int_max_str_digits) is not
        # for users.
        raise _error(f"invalid TOML: {str(exc).split(';')[0]}", file=file) from None
    except RecursionError:
        raise _error(f"invalid TOML: nested deeper than {_MAX_DEPTH} levels", file=file) from None
    return _case_from_data(parsed, overrides, file, strict)


def parse_override(text: str) -> tuple[str, Any]:
    """Split a command-line ``KEY=VALUE`` into the key and a value.

    VALUE is read as a TOML value (``0.5``, ``true``, ``[1, 2]``,
    ``"text"``); anything that is not valid TOML is kept as a bare string,
    so ``floating`` and ``5 nm`` work unquoted.

    Raises
    ------
    CaseError
        No ``=``, an empty key, or a line break in the value.
    """
    if "=" not in text:
        raise _error(f"expected KEY=VALUE, got '{text}'")
    key, value_text = text.split("=", 1)
    key = key.strip()
    value_text = value_text.strip()
    if not key or any(c.isspace() for c in key):
        raise _error(f"expected KEY=VALUE with a dotted KEY, got '{text}'")
    if "\n" in value_text or "\r" in value_text:
        raise _error("the value may not contain a line break", key=key)
    try:
        value = tomllib.loads(f"value = {value_text}")["value"]
    except (ValueError, RecursionError):  # not TOML (TOMLDecodeError is a ValueError), too
        value = value_text                # many digits, or nested too deep: a bare string
    return key, value


def _case_from_data(
    data: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
    source: str | os.PathLike | None,
    strict: bool | None,
) -> Case:
    file = os.fspath(source) if source is not None else None
    if not isinstance(data, Mapping):
        raise _error(f"a case is a table (dict), got {type(data).__name__}", file=file)
    raw = _plain_copy(data, file, "", 1)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise _error("overrides must be a dict of dotted key -> value", file=file)
        for key, value in overrides.items():
            if not isinstance(key, str):
                raise _error(f"override keys are dotted strings, got {key!r}", file=file)
            _apply_override(raw, key, _plain_copy(value, file, key, 2), file)
    if strict is not None:
        if not isinstance(strict, bool):
            raise _error("expected true or false", file=file, key="strict")
        raw["strict"] = strict
    return _Reader(file).build(raw, file)


def _plain_copy(value: Any, file: str | None, key: str, depth: int) -> Any:
    """Deep copy of plain data, refusing deep nesting and foreign objects."""
    if depth > _MAX_DEPTH:
        raise _error(f"nested deeper than {_MAX_DEPTH} levels", file=file, key=key or None)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _error(f"keys must be strings, got {k!r}", file=file, key=key or None)
            out[k] = _plain_copy(v, file, f"{key}.{k}" if key else k, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_plain_copy(v, file, key, depth + 1) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _plain_copy(value.tolist(), file, key, depth)  # numpy arrays and scalars
    return value


# ---------------------------------------------------------------------------
# Validation and conversion to SI
# ---------------------------------------------------------------------------


def _printable(text: str | None) -> str | None:
    """``text`` with line breaks and other control characters escaped (``\\n``).

    Error messages quote what the user wrote (values, key names, file
    names); they must stay one line.
    """
    if text is None or text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _error(message: str, *, file: str | None = None, key: str | None = None) -> CaseError:
    """A `CaseError` whose message, file and key are printable one-liners."""
    if key == "":
        key = '""'  # an empty TOML key, as TOML writes it
    return CaseError(_clip(_printable(message), _MAX_MESSAGE), file=_printable(file),
                     key=_clip(_printable(key), _MAX_KEY_SHOWN))


def _clip(text: str | None, limit: int) -> str | None:
    """At most ``limit`` characters: a 500 kB key name is not repeated in full."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 3] + "..."


def _estimated_cells(mesh: MeshSpec, species: tuple[Species, ...], regions: tuple[Region, ...],
                     temperature: float) -> float:
    """About as many cells as `pnp.discretisation.mesh.build_mesh` makes (never far fewer); inf if absurd.

    Each bulk region is counted as graded at both ends: the geometric ramp
    from the smallest cell (Debye length / cells_per_debye) to max_cell, then
    cells of max_cell. Computed in closed form, so a billion-cell mesh costs
    nothing to refuse.
    """
    from ..constants import debye_length
    from ..discretisation.mesh import MIN_CELLS_PER_REGION

    valence = {s.name: s.z for s in species}
    growth, largest = mesh.growth, mesh.max_cell
    total = 0.0
    for region in regions:
        if region.membrane:
            total += mesh.membrane_cells
            continue
        try:
            lam = debye_length(region.concentration, valence, region.eps_r, temperature)
        except (OverflowError, ValueError, ZeroDivisionError):
            return math.inf
        smallest = min(lam / mesh.cells_per_debye, largest)
        if not smallest > 0.0:
            return math.inf
        half = region.length / 2.0
        if smallest >= largest:
            cells = half / largest
        elif growth == 1.0:
            cells = half / smallest
        else:
            step = math.log1p(growth - 1.0)
            ramp = (largest - smallest) / (growth - 1.0)  # length of the geometric part
            if half <= ramp:
                cells = math.log1p(half * (growth - 1.0) / smallest) / step
            else:
                cells = math.log(largest / smallest) / step + (half - ramp) / largest
        total += 2.0 * cells + MIN_CELLS_PER_REGION
    return total


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _suggest(name: str, candidates: Any) -> str:
    candidates = [str(c) for c in candidates]
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    if len(candidates) <= 20:
        return "allowed: " + ", ".join(f"`{c}`" for c in candidates)
    return f"none of the {len(candidates)} known names is close"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Reader:
    """Validates one raw case and builds the SI dataclasses."""

    def __init__(self, file: str | None):
        self.file = file

    # -- small helpers -----------------------------------------------------

    def error(self, message: str, key: str | None = None) -> CaseError:
        return _error(message, file=self.file, key=key)

    def complain(self, strict: bool, message: str, key: str) -> None:
        """Error in strict mode, warning otherwise."""
        if strict:
            raise self.error(message + " (or set strict = false to only warn)", key)
        where = f"{self.file}: " if self.file else ""
        warnings.warn(_printable(f"{where}`{key}`: {message}"), CaseWarning, stacklevel=4)

    def table(self, value: Any, key: str, what: str = "a table") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"expected {what}, got {_show(value)}", key)
        return value

    def check_keys(self, table: dict[str, Any], prefix: str, path: str) -> None:
        allowed = _children(prefix)
        for name in table:
            if name not in allowed:
                raise self.error(f"unknown key `{name}`; {_suggest(name, allowed)}", _join(path, name))

    def get(self, table: dict[str, Any], prefix: str, name: str, path: str) -> Any:
        """Read ``table[name]`` as the schema key ``prefix.name`` (default if absent)."""
        param = SCHEMA[_join(prefix, name)]
        key = _join(path, name)
        if name not in table:
            if param.default is REQUIRED:
                raise self.error(f"missing; give {param.expectation()}", key)
            return param.default
        return self.convert(table[name], param, key)

    def convert(self, value: Any, param: Parameter, key: str) -> Any:
        kind = param.type
        if kind == "float":
            number = self.number(value, param.unit, key)
            self.check_minimum(number, param, key)
            return number
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise self.error(f"expected an integer, got {_show(value)}", key)
            number = int(value)
            self.check_minimum(number, param, key)
            return number
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.error(f"expected true or false, got {_show(value)}", key)
            return value
        if kind in ("str", "name", "choice"):
            if not isinstance(value, str):
                raise self.error(f"expected {param.expectation()}, got {_show(value)}", key)
            if len(value) > _MAX_STRING:
                raise self.error(f"string longer than {_MAX_STRING} characters", key)
            if kind == "name" and not _NAME_PATTERN.fullmatch(value):
                raise self.error(f"'{value}' is not a valid name; expected {param.expectation()}", key)
            if kind == "choice" and value not in param.choices:
                raise self.error(f"'{value}' is not allowed; {_suggest(value, param.choices)} "
                                 f"(one of {' | '.join(param.choices)})", key)
            return value
        if kind == "table":
            return self.table(value, key, param.expectation())
        if kind == "value":
            return value  # checked by expect()
        if kind == "potential":
            if value == "floating":
                return value
            if isinstance(value, str) and not re.match(r"\s*[-+.\d]", value):
                close = difflib.get_close_matches(value, ["floating"], n=1)
                hint = "; did you mean `floating`?" if close else ""
                raise self.error(f"'{value}' is not allowed; give a potential (V), e.g. 0 or "
                                 f"\"-70 mV\", or \"floating\"{hint}", key)
            return self.number(value, param.unit, key)
        raise AssertionError(f"no converter for {kind}")  # pragma: no cover

    def number(self, value: Any, unit: str, key: str) -> float:
        """A finite float in ``unit`` from a plain number (SI) or a string with a unit."""
        expected = describe_unit(unit) if unit != "-" else "a plain number"
        if isinstance(value, bool):
            raise self.error(f"expected {expected}, got a boolean ({_show(value)})", key)
        if isinstance(value, numbers.Real):
            try:
                number = float(value)
            except (OverflowError, ValueError):
                raise self.error(f"{_show(value)} is out of range", key) from None
            if not math.isfinite(number):
                raise self.error(f"expected a finite number, got {_show(value)}", key)
            return number
        if isinstance(value, str):
            if unit == "-":
                raise self.error(f"expected a plain number (dimensionless), got {_show(value)}", key)
            if len(value) > 100:
                raise self.error("expected a number with a unit; string too long", key)
            try:
                return to_si(value, unit)
            except UnitParseError as exc:
                raise self.error(str(exc), key) from None
        raise self.error(f"expected {expected} as a number or a string with a unit, "
                         f"got {_show(value)}", key)

    def check_minimum(self, number: float, param: Parameter, key: str) -> None:
        """The schema limits of ``param`` (minimum and maximum)."""
        low, high = param.minimum, param.maximum
        if ((low is not None and (number < low or (param.exclusive_minimum and number == low)))
                or (high is not None and number > high)):
            shown = f"{number:g}" if isinstance(number, float) or abs(number) < 10**15 \
                else _show(number)
            raise self.error(f"{shown} is not allowed; must be {param.allowed()}"
                             + (f" {param.unit}" if param.unit != "-" else ""), key)

    def name_in(self, name: str, known: Any, key: str, what: str) -> None:
        if name not in known:
            raise self.error(f"unknown {what} `{name}`; {_suggest(name, known)}", key)

    def entries(self, raw: dict[str, Any], section: str, limit: int) -> list[tuple[str, dict]]:
        """``[pump]`` (one table) or ``[[pump]]`` (array): (key path, table) pairs."""
        value = raw.get(section)
        if value is None:
            return []
        if isinstance(value, dict):
            return [(section, value)]
        if not isinstance(value, list):
            raise self.error(f"expected a table [{section}] or an array of tables [[{section}]]", section)
        if len(value) > limit:
            raise self.error(f"{len(value)} entries; at most {limit} allowed", section)
        return [(f"{section}[{i}]", self.table(item, f"{section}[{i}]")) for i, item in enumerate(value)]

    # -- the case ----------------------------------------------------------

    def build(self, raw: dict[str, Any], source: str | None, check_protocols: bool = True) -> Case:
        self.check_keys(raw, "", "")
        strict = self.get(raw, "", "strict", "")
        temperature = self.get(raw, "", "temperature", "")
        geometry = self.get(raw, "", "geometry", "")
        inside = self.get(raw, "", "inside", "")
        activity = self.get(raw, "", "activity", "")
        title = self.get(raw, "", "title", "")
        if title is None:
            title = Path(source).stem if source else ""

        species = self.species(raw)
        self.check_activity(activity, species)
        regions = self.regions(raw, species, temperature, strict)
        left, right = self.boundaries(raw, geometry)
        pumps = self.pumps(raw, species, regions)
        mesh = self.mesh(raw)
        if check_protocols:
            # The mesh is built once, from the initial state (`at_time` states
            # reuse it), so only the initial state is held to the cell limit.
            self.check_cells(mesh, species, regions, temperature)
        run = self.run(raw)
        output = self.output(raw, source)
        expect = self.expect(raw)
        protocols = self.protocols(raw, regions, left, right, run, strict) if check_protocols else ()
        return Case(
            title=title, temperature=temperature, geometry=geometry, inside=inside,
            activity=activity, species=species, regions=regions, left=left, right=right,
            pumps=pumps, mesh=mesh, run=run, protocols=protocols, output=output,
            expect=expect, strict=strict, source=source, raw=raw,
        )

    def species(self, raw: dict[str, Any]) -> tuple[Species, ...]:
        if "species" not in raw:
            raise self.error("missing; give at least one [species.NAME] table with z and D", "species")
        table = self.table(raw["species"], "species", "[species.NAME] tables")
        if not table:
            raise self.error("no species; give at least one [species.NAME] table with z and D", "species")
        if len(table) > _MAX_SPECIES:
            raise self.error(f"{len(table)} species; at most {_MAX_SPECIES} allowed", "species")
        out = []
        for name, entry in table.items():
            key = f"species.{name}"
            if not _NAME_PATTERN.fullmatch(name):
                raise self.error("not a valid species name (letters, digits, _ or -, starting with a letter)",
                                 key)
            entry = self.table(entry, key, "a table with z and D")
            prefix = "species.<species>"
            self.check_keys(entry, prefix, key)
            out.append(Species(name=name, z=self.get(entry, prefix, "z", key),
                               D=self.get(entry, prefix, "D", key),
                               size=self.get(entry, prefix, "size", key)))
        return tuple(out)

    def check_activity(self, activity: str, species: tuple[Species, ...]) -> None:
        """The activity model has what it needs: extended Debye-Hueckel an ion size per charged species."""
        if activity != "extended-debye-huckel":
            return
        for s in species:
            if s.z != 0 and s.size is None:
                raise self.error(
                    'missing; activity = "extended-debye-huckel" needs the ion size a of every '
                    f'charged species (e.g. size = "0.3 nm"), and {s.name} (z = {s.z}) has none',
                    f"species.{s.name}.size")

    def species_table(self, entry: dict[str, Any], name: str, path: str,
                      species_names: tuple[str, ...]) -> dict[str, float]:
        """A region's species → value table (only the given entries)."""
        if name not in entry:
            return {}
        key = _join(path, name)
        table = self.table(entry[name], key, "a table species -> value, e.g. { K = 140, Cl = 140 }")
        param = SCHEMA[f"region.<region>.{name}.<species>"]
        out = {}
        for species_name, value in table.items():
            item_key = _join(key, species_name)
            self.name_in(species_name, species_names, item_key, "species")
            out[species_name] = self.convert(value, param, item_key)
        return out

    def regions(self, raw: dict[str, Any], species: tuple[Species, ...], temperature: float,
                strict: bool, only: Collection[str] | None = None) -> tuple[Region, ...]:
        """The regions, validated; ``only``: validate (and return) just the regions of these names."""
        if "region" not in raw:
            raise self.error("missing; give the regions left to right as [[region]] tables", "region")
        value = raw["region"]
        if isinstance(value, dict):
            raise self.error("write the regions as an array of tables, [[region]] (double brackets), "
                             "one per region from left to right", "region")
        if not isinstance(value, list) or not value:
            raise self.error("expected one or more [[region]] tables", "region")
        if len(value) > _MAX_REGIONS:
            raise self.error(f"{len(value)} regions; at most {_MAX_REGIONS} allowed", "region")
        from ..constants import GAS_CONSTANT  # deferred: keeps `import pnp.input.case` light

        names = tuple(s.name for s in species)
        bulk_d = {s.name: s.D for s in species}
        rt = GAS_CONSTANT * temperature
        prefix = "region.<region>"
        seen: dict[str, int] = {}
        out = []
        for index, entry in enumerate(value):
            entry = self.table(entry, f"region[{index}]")
            label = entry.get("name")
            if only is not None and label not in only:
                continue
            named = isinstance(label, str) and _NAME_PATTERN.fullmatch(label) and label not in seen
            key = f"region.{label}" if named else f"region[{index}]"
            self.check_keys(entry, prefix, key)
            region_name = self.get(entry, prefix, "name", key)
            if region_name in seen:
                raise self.error(f"duplicate region name '{region_name}' (regions {seen[region_name]} and "
                                 f"{index}); region names must be unique", f"region[{index}].name")
            seen[region_name] = index
            membrane = self.get(entry, prefix, "membrane", key)
            length = self.get(entry, prefix, "length", key)
            eps_r = self.permittivity(entry, membrane, length, key)
            concentration = dict.fromkeys(names, 0.0)
            concentration.update(self.species_table(entry, "concentration", key, names))
            fixed_charge = self.get(entry, prefix, "fixed_charge", key)
            diffusivity = dict(bulk_d)
            diffusivity.update(self.species_table(entry, "D", key, names))
            barrier_given = self.species_table(entry, "barrier", key, names)
            if membrane:
                permeability, barrier = self.membrane_transport(entry, key, names, diffusivity,
                                                                barrier_given, length, rt)
            else:
                if "permeability" in entry:
                    raise self.error("only membranes have a permeability (set membrane = true, or use "
                                     "barrier for a partition offset)", f"{key}.permeability")
                permeability = {}
                barrier = dict.fromkeys(names, 0.0)
                barrier.update(barrier_given)
            if membrane and index in (0, len(value) - 1):
                end = "first (left end)" if index == 0 else "last (right end)"
                raise self.error(f"a membrane cannot be the {end} region of the domain; put a bulk "
                                 f"region on each side of it", f"{key}.membrane")
            region = Region(name=region_name, length=length, eps_r=eps_r, membrane=membrane,
                            concentration=concentration, fixed_charge=fixed_charge, D=diffusivity,
                            barrier=barrier, permeability=permeability)
            if not membrane:
                self.electroneutrality(region, species, key, strict)
            out.append(region)
        return tuple(out)

    def permittivity(self, entry: dict[str, Any], membrane: bool, length: float, key: str) -> float:
        prefix = "region.<region>"
        if "capacitance" in entry:
            if not membrane:
                raise self.error("capacitance is only for membranes (membrane = true); give eps_r",
                                 f"{key}.capacitance")
            if "eps_r" in entry:
                raise self.error("give either eps_r or capacitance for a membrane, not both",
                                 f"{key}.capacitance")
            from ..constants import VACUUM_PERMITTIVITY

            capacitance = self.get(entry, prefix, "capacitance", key)
            eps_r = capacitance * length / VACUUM_PERMITTIVITY
            if not math.isfinite(eps_r):
                raise self.error(f"{capacitance:g} F/m^2 across {length:g} m gives an infinite eps_r",
                                 f"{key}.capacitance")
            if eps_r < 1.0:
                raise self.error(f"{capacitance:g} F/m^2 across {length:g} m gives eps_r = {eps_r:.3g} "
                                 "< 1; check the capacitance and the membrane length",
                                 f"{key}.capacitance")
            return eps_r
        if "eps_r" not in entry:
            extra = " or capacitance (F/m^2)" if membrane else ""
            raise self.error(f"missing; give eps_r (relative permittivity, >= 1){extra}", f"{key}.eps_r")
        return self.get(entry, prefix, "eps_r", key)

    def membrane_transport(self, entry: dict[str, Any], key: str, names: tuple[str, ...],
                           diffusivity: dict[str, float], barrier_given: dict[str, float],
                           length: float, rt: float) -> tuple[dict[str, float], dict[str, float]]:
        """Permeability and barrier of every species: P = exp(-ΔG/RT)·D_m/d."""
        permeability_given = self.species_table(entry, "permeability", key, names)
        permeability, barrier = {}, {}
        for name in names:
            d_membrane = diffusivity[name]
            if name in permeability_given and name in barrier_given:
                raise self.error(f"`{name}` has both a permeability and a barrier; give one",
                                 f"{key}.barrier.{name}")
            if name in permeability_given:
                p = permeability_given[name]
                if p == 0.0:
                    g = math.inf
                elif d_membrane == 0.0:
                    raise self.error(f"permeability {p:g} m/s needs a nonzero D of `{name}` in the "
                                     "membrane (it is 0 here)", f"{key}.permeability.{name}")
                else:
                    try:
                        g = -rt * math.log(p * length / d_membrane)
                    except ValueError:
                        raise self.error(f"permeability {p:g} m/s is too small to represent",
                                         f"{key}.permeability.{name}") from None
                    if not math.isfinite(g):
                        raise self.error(f"permeability {p:g} m/s is too large to represent (as a "
                                         "barrier)", f"{key}.permeability.{name}")
            elif name in barrier_given:
                g = barrier_given[name]
                try:
                    p = math.exp(-g / rt) * d_membrane / length
                except OverflowError:
                    p = math.inf
                if not math.isfinite(p):
                    raise self.error(f"barrier {g:g} J/mol gives an infinite permeability",
                                     f"{key}.barrier.{name}")
            else:
                p, g = 0.0, math.inf  # unlisted: impermeant
            permeability[name] = p
            barrier[name] = g
        return permeability, barrier

    def electroneutrality(self, region: Region, species: tuple[Species, ...], key: str,
                          strict: bool) -> None:
        net = region.fixed_charge
        scale = 0.0
        for s in species:
            c = region.concentration[s.name]
            net += s.z * c
            scale += abs(s.z) * c
        if not (math.isfinite(net) and math.isfinite(scale)):
            raise self.error(f"the charge of region '{region.name}' (sum |z|*c) overflows; "
                             "the concentrations are far too large", f"{key}.concentration")
        if abs(net) > 1e-6 * scale:
            self.complain(
                strict,
                f"region '{region.name}' is not electroneutral: sum z*c + fixed_charge = {net:.6g} "
                f"mol/m^3 (tolerance 1e-6 of sum |z|*c = {scale:.6g}); adjust the concentrations "
                "or fixed_charge",
                f"{key}.concentration",
            )

    def boundaries(self, raw: dict[str, Any], geometry: str) -> tuple[Boundary, Boundary]:
        if "boundary" not in raw:
            raise self.error("missing; give [boundary.left] and [boundary.right] with a type "
                             "(wall | reservoir)", "boundary")
        table = self.table(raw["boundary"], "boundary", "[boundary.left] and [boundary.right]")
        for side in table:
            if side not in _SIDES:
                raise self.error(f"unknown boundary `{side}`; {_suggest(side, _SIDES)}",
                                 f"boundary.{side}")
        sides = []
        for side in _SIDES:
            key = f"boundary.{side}"
            if side not in table:
                raise self.error('missing; give type = "wall" or "reservoir"', key)
            sides.append(self.boundary(side, self.table(table[side], key), key))
        left, right = sides
        if all(b.potential is None for b in sides):
            raise self.error(
                "no boundary fixes the potential, so its level is undefined: give one boundary a "
                "numeric potential (a wall with potential = <V>, or a reservoir with potential = <V>)",
                "boundary")
        if geometry != "cartesian" and not (left.type == "wall" and left.potential is None
                                            and left.surface_charge == 0.0):
            raise self.error(
                f"in {geometry} geometry the left boundary is the centre r = 0: it must be "
                'type = "wall" with no potential and surface_charge = 0', "boundary.left")
        return left, right

    def boundary(self, side: str, entry: dict[str, Any], key: str) -> Boundary:
        prefix = "boundary.<side>"
        self.check_keys(entry, prefix, key)
        kind = self.get(entry, prefix, "type", key)
        potential = self.get(entry, prefix, "potential", key)
        if kind == "wall":
            if potential == "floating":
                raise self.error('"floating" is only for reservoirs; a wall has either a potential '
                                 "(a number, V) or a surface_charge", f"{key}.potential")
            if "current" in entry:
                raise self.error('current is only for a reservoir with potential = "floating"',
                                 f"{key}.current")
            if potential is not None and "surface_charge" in entry:
                raise self.error("give a wall either a potential or a surface_charge, not both",
                                 f"{key}.surface_charge")
            surface_charge = self.get(entry, prefix, "surface_charge", key) if potential is None else 0.0
            return Boundary(side=side, type="wall", potential=potential, surface_charge=surface_charge)
        if "surface_charge" in entry:
            raise self.error("surface_charge is only for walls; a reservoir holds a potential",
                             f"{key}.surface_charge")
        if potential is None:
            raise self.error('missing; a reservoir needs a potential: a number (V) or "floating"',
                             f"{key}.potential")
        if potential == "floating":
            current = self.get(entry, prefix, "current", key)
            return Boundary(side=side, type="reservoir", potential=None, current=current)
        if "current" in entry:
            raise self.error('current is only allowed with potential = "floating" (a reservoir at a '
                             "fixed potential passes whatever current the solution needs)",
                             f"{key}.current")
        return Boundary(side=side, type="reservoir", potential=potential)

    def pumps(self, raw: dict[str, Any], species: tuple[Species, ...],
              regions: tuple[Region, ...], only: Collection[int] | None = None) -> tuple[Pump, ...]:
        """The pumps, validated; ``only``: validate (and return) just the pumps of these indices."""
        prefix = "pump.<pump>"
        names = tuple(s.name for s in species)
        membranes = tuple(r.name for r in regions if r.membrane)
        out = []
        for index, (key, entry) in enumerate(self.entries(raw, "pump", _MAX_PUMPS)):
            if only is not None and index not in only:
                continue
            self.check_keys(entry, prefix, key)
            membrane = self.get(entry, prefix, "membrane", key)
            if membrane not in membranes:
                if any(r.name == membrane for r in regions):
                    raise self.error(f"region '{membrane}' is not a membrane; pumps sit in a membrane "
                                     f"({', '.join(membranes) or 'the case has none'})",
                                     f"{key}.membrane")
                self.name_in(membrane, membranes, f"{key}.membrane", "membrane region")
            values = {name: self.get(entry, prefix, name, key)
                      for name in ("rate", "j_max", "K_Na", "K_K", "sodium", "potassium")}
            saturating = [name for name in ("j_max", "K_Na", "K_K") if name in entry]
            if "rate" in entry and saturating:
                raise self.error("give either rate (constant) or j_max, K_Na and K_K (saturating), "
                                 "not both", f"{key}.{saturating[0]}")
            if "rate" not in entry:
                if not saturating:
                    raise self.error("give rate (constant, mol/m^2/s) or j_max, K_Na and K_K "
                                     "(saturating)", f"{key}.rate")
                for name in ("j_max", "K_Na", "K_K"):
                    if name not in entry:
                        raise self.error("missing; the saturating pump needs j_max, K_Na and K_K",
                                         f"{key}.{name}")
            for role in ("sodium", "potassium"):
                self.name_in(values[role], names, f"{key}.{role}", "species")
            if values["sodium"] == values["potassium"]:
                raise self.error("sodium and potassium must be different species", f"{key}.potassium")
            out.append(Pump(membrane=membrane, **values))
        return tuple(out)

    def section(self, raw: dict[str, Any], name: str) -> dict[str, Any]:
        table = self.table(raw.get(name, {}), name, f"a table [{name}]")
        self.check_keys(table, name, name)
        return table

    def mesh(self, raw: dict[str, Any]) -> MeshSpec:
        table = self.section(raw, "mesh")
        return MeshSpec(**{name: self.get(table, "mesh", name, "mesh") for name in _children("mesh")})

    def check_cells(self, mesh: MeshSpec, species: tuple[Species, ...], regions: tuple[Region, ...],
                    temperature: float) -> None:
        """Refuse a mesh of more than `_MAX_CELLS` cells before anything allocates it."""
        if mesh.uniform_cells is not None:
            cells = float(mesh.uniform_cells) * len(regions)
            if cells > _MAX_CELLS:
                raise self.error(f"{mesh.uniform_cells} cells in each of {len(regions)} regions make "
                                 f"{cells:.3g} cells; at most {_limit(_MAX_CELLS)} in all", "mesh.uniform_cells")
            return
        cells = _estimated_cells(mesh, species, regions, temperature)
        if cells > _MAX_CELLS:
            raise self.error(
                f"the graded mesh would have about {cells:.3g} cells; at most {_limit(_MAX_CELLS)} "
                "in all: raise max_cell or growth, or lower cells_per_debye or membrane_cells", "mesh")

    def run(self, raw: dict[str, Any]) -> RunSpec:
        table = self.section(raw, "run")
        values = {name: self.get(table, "run", name, "run")
                  for name in _children("run") if name != "outputs"}
        if values["mode"] == "transient" and values["t_end"] is None:
            raise self.error('missing; a transient run needs its end time t_end (s), > 0', "run.t_end")
        outputs = table.get("outputs", SCHEMA["run.outputs"].default)
        if isinstance(outputs, list):
            if not outputs or len(outputs) > _MAX_OUTPUT_TIMES:
                raise self.error(f"give between 1 and {_MAX_OUTPUT_TIMES} output times", "run.outputs")
            times = []
            for i, value in enumerate(outputs):
                t = self.number(value, "s", f"run.outputs[{i}]")
                if t < 0 or (times and t <= times[-1]):
                    raise self.error(f"output times must be >= 0 and increasing; {t:g} s follows "
                                     f"{times[-1] if times else 0:g} s", f"run.outputs[{i}]")
                times.append(t)
            if values["mode"] == "transient" and times[-1] > values["t_end"]:
                raise self.error(f"last output time {times[-1]:g} s is after t_end = {values['t_end']:g} s",
                                 "run.outputs")
            outputs = tuple(times)
        elif (isinstance(outputs, bool) or not isinstance(outputs, numbers.Integral) or outputs < 1
              or outputs > _MAX_OUTPUT_TIMES):
            raise self.error(f"expected {SCHEMA['run.outputs'].expectation()}, got {_show(outputs)}",
                             "run.outputs")
        else:
            outputs = int(outputs)
        return RunSpec(outputs=outputs, **values)

    def output(self, raw: dict[str, Any], source: str | None) -> OutputSpec:
        table = self.section(raw, "output")
        path = self.get(table, "output", "path", "output")
        plot = self.get(table, "output", "plot", "output")
        if path is not None and not path.strip():
            raise self.error("empty path", "output.path")
        if source is not None:
            if path is None:
                path = os.path.join("results", Path(source).stem + ".h5")
            if not os.path.isabs(path):
                path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(source)), path))
        return OutputSpec(path=path, plot=plot)

    def expect(self, raw: dict[str, Any]) -> dict[str, Any]:
        table = self.table(raw.get("expect", {}), "expect", "a table [expect]")
        out: dict[str, Any] = {}
        for name, value in table.items():
            key = f"expect.{name}"
            if not name or len(name) > 64:
                raise self.error("expectation names are 1 to 64 characters", key)
            if isinstance(value, str) and len(value) <= _MAX_STRING:
                out[name] = value
                continue
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                try:
                    number = float(value)
                except (OverflowError, ValueError):
                    number = math.nan
                if math.isfinite(number):
                    # Plain int or float (a Fraction or numpy scalar is not TOML).
                    out[name] = int(value) if isinstance(value, numbers.Integral) else number
                    continue
            raise self.error(f"expected a number or a string (e.g. \"ghk\" or -0.07), "
                             f"got {_show(value)}", key)
        return out

    # -- protocols ---------------------------------------------------------

    def protocols(self, raw: dict[str, Any], regions: tuple[Region, ...], left: Boundary,
                  right: Boundary, run: RunSpec, strict: bool) -> tuple[Protocol, ...]:
        prefix = "protocol.<protocol>"
        parsed: list[tuple[str, float, dict[str, Any]]] = []
        for key, entry in self.entries(raw, "protocol", _MAX_PROTOCOLS):
            self.check_keys(entry, prefix, key)
            at = self.get(entry, prefix, "at", key)
            changes = self.table(self.get(entry, prefix, "set", key), f"{key}.set",
                                 'a table of dotted key -> value, e.g. { "pump.rate" = 0 }')
            converted = {}
            for path, value in changes.items():
                try:
                    target = _resolve(raw, path, None)
                except CaseError as exc:
                    raise self.error(str(exc), f"{key}.set") from None
                reason = _runtime_refusal(target.parts, regions, left, right)
                if reason:
                    raise self.error(f"`{target.key}` cannot change during a run: {reason}",
                                     f"{key}.set")
                converted[target.key] = self.si_value(value, target, f"{key}.set.{target.key}")
            if run.mode == "transient" and run.t_end is not None and at > run.t_end:
                self.complain(strict, f"the protocol at {at:g} s is after run.t_end = {run.t_end:g} s",
                              f"{key}.at")
            parsed.append((key, at, converted))
        parsed.sort(key=lambda item: item[1])  # stable: equal times keep file order
        # Each protocol is a set of overrides applied on top of the previous
        # ones: every state the run goes through must be a valid case. A
        # protocol can change only boundaries, regions and pumps (see
        # `_runtime_refusal`), so only those are checked again, and of the
        # regions and pumps only the ones it touches: validating P protocols
        # costs O(P), not O(P x regions).
        state = copy.deepcopy(raw)
        state.pop("protocol", None)
        checker = _Reader(None)
        species = self.species(raw)
        temperature = self.get(raw, "", "temperature", "")
        geometry = self.get(raw, "", "geometry", "")
        for key, at, converted in parsed:
            touched_regions: set[str] = set()
            touched_pumps: set[int] = set()
            for path, value in converted.items():
                _apply_override(state, path, value, self.file)
                parts = _split_key(path, None)
                if parts[0] == "region":
                    touched_regions.add(parts[1])
                elif parts[0] == "pump":
                    touched_pumps.add(int(parts[1]) if len(parts) == 3 else 0)
            try:
                checker.regions(state, species, temperature, strict, only=touched_regions)
                checker.boundaries(state, geometry)
                if touched_pumps:
                    checker.pumps(state, species, regions, only=touched_pumps)
            except CaseError as exc:
                raise self.error(f"the changes at t = {at:g} s make the case invalid: {exc}",
                                 f"{key}.set") from None
        return tuple(Protocol(at=at, set=converted) for _, at, converted in parsed)

    def si_value(self, value: Any, target: _Target, key: str) -> Any:
        """A protocol value in SI (a species table stays a table)."""
        if target.param is None:
            table = self.table(value, key)
            param = SCHEMA[f"region.<region>.{target.parts[-1]}.<species>"]
            return {name: self.convert(v, param, f"{key}.{name}") for name, v in table.items()}
        return self.convert(value, target.param, key)


# ---------------------------------------------------------------------------
# Overrides: dotted key paths on the raw input
# ---------------------------------------------------------------------------


@dataclass
class _Target:
    """Where a dotted override path points in the raw input."""

    key: str                      # canonical dotted path
    parts: list[str]              # its parts: section, [entry], field, [species]
    container: dict[str, Any]     # the table that holds the value
    name: str                     # the value's key in ``container``
    param: Parameter | None       # schema entry (None: a whole species table)
    entry: dict[str, Any] | None  # the region / boundary / pump table, if any


def _split_key(key: str, file: str | None) -> list[str]:
    normal = re.sub(r"\[(\d+)\]", r".\1", key.strip())
    parts = normal.split(".")
    if not normal or any(not part for part in parts):
        raise _error("not a dotted key path (e.g. `region.bath.concentration.K`)", file=file, key=key)
    return parts


def _unknown(name: str, candidates: Any, key: str, file: str | None, what: str = "key") -> CaseError:
    return _error(f"unknown {what} `{name}`; {_suggest(name, candidates)}", file=file, key=key)


def _resolve(raw: dict[str, Any], key: str, file: str | None, create: bool = False) -> _Target:
    """Find the value an override path addresses.

    With ``create``, missing sub-tables (``[mesh]``, a region's
    ``concentration``, ...) are added to ``raw`` so the value can be set;
    without, ``raw`` is left untouched.
    """
    parts = _split_key(key, file)
    head = parts[0]
    top = _children("")
    if head not in top:
        raise _unknown(head, top, key, file)
    if head == "protocol":
        raise _error("protocols cannot be overridden; edit the case file", file=file, key=key)
    if head in _TOP_LEVEL_SCALARS:
        if len(parts) != 1:
            raise _error(f"`{head}` has no sub-keys", file=file, key=key)
        return _Target(head, parts, raw, head, SCHEMA[head], None)

    def need(count: int, form: str) -> None:
        if len(parts) != count:
            raise _error(f"expected a path of the form `{form}`", file=file, key=key)

    def sub_table(table: dict[str, Any], name: str) -> dict[str, Any]:
        if name not in table:
            if not create:
                return {}
            table[name] = {}
        if not isinstance(table[name], dict):
            raise _error(f"`{name}` is not a table in the case", file=file, key=key)
        return table[name]

    if head in ("mesh", "run", "output"):
        need(2, f"{head}.<key>")
        if parts[1] not in _children(head):
            raise _unknown(parts[1], _children(head), key, file)
        return _Target(key, parts, sub_table(raw, head), parts[1], SCHEMA[f"{head}.{parts[1]}"], None)
    if head == "expect":
        need(2, "expect.<name>")
        return _Target(key, parts, sub_table(raw, "expect"), parts[1], SCHEMA["expect.<key>"], None)
    if head == "species":
        need(3, "species.<name>.<key>")
        table = raw.get("species")
        known = list(table) if isinstance(table, dict) else []
        if parts[1] not in known:
            raise _unknown(parts[1], known, key, file, "species")
        entry = sub_table(table, parts[1])
        allowed = _children("species.<species>")
        if parts[2] not in allowed:
            raise _unknown(parts[2], allowed, key, file)
        return _Target(key, parts, entry, parts[2], SCHEMA[f"species.<species>.{parts[2]}"], entry)
    if head == "boundary":
        need(3, "boundary.<left|right>.<key>")
        if parts[1] not in _SIDES:
            raise _unknown(parts[1], _SIDES, key, file, "boundary")
        entry = sub_table(sub_table(raw, "boundary"), parts[1])
        allowed = _children("boundary.<side>")
        if parts[2] not in allowed:
            raise _unknown(parts[2], allowed, key, file)
        return _Target(key, parts, entry, parts[2], SCHEMA[f"boundary.<side>.{parts[2]}"], entry)
    if head == "pump":
        pumps = raw.get("pump")
        entries = [pumps] if isinstance(pumps, dict) else pumps if isinstance(pumps, list) else []
        if not entries:
            raise _error("the case has no [pump]", file=file, key=key)
        if len(parts) == 2:
            if len(entries) != 1:
                raise _error(f"the case has {len(entries)} pumps: address one as "
                                f"`pump.<index>.{parts[1]}` (from 0)", file=file, key=key)
            entry, name = entries[0], parts[1]
        else:
            need(3, "pump.<key> or pump.<index>.<key>")
            if not parts[1].isdigit() or int(parts[1]) >= len(entries):
                raise _error(f"no pump `{parts[1]}`; pumps are numbered 0 to {len(entries) - 1}",
                                file=file, key=key)
            entry, name = entries[int(parts[1])], parts[2]
        if not isinstance(entry, dict):
            raise _error("the pump entry is not a table", file=file, key=key)
        allowed = _children("pump.<pump>")
        if name not in allowed:
            raise _unknown(name, allowed, key, file)
        return _Target(key, parts, entry, name, SCHEMA[f"pump.<pump>.{name}"], entry)
    # region.<name>.<key>[.<species>]
    if len(parts) < 3:
        raise _error("expected `region.<name>.<key>`", file=file, key=key)
    regions = raw.get("region") if isinstance(raw.get("region"), list) else []
    by_name = {r["name"]: r for r in regions if isinstance(r, dict) and isinstance(r.get("name"), str)}
    if parts[1] not in by_name:
        raise _unknown(parts[1], [n for n in by_name if isinstance(n, str)], key, file, "region")
    entry = by_name[parts[1]]
    allowed = _children("region.<region>")
    if parts[2] not in allowed:
        raise _unknown(parts[2], allowed, key, file)
    if parts[2] in _REGION_TABLES:
        if len(parts) == 3:
            return _Target(key, parts, entry, parts[2], None, entry)
        need(4, f"region.<name>.{parts[2]}.<species>")
        species = raw.get("species")
        known = list(species) if isinstance(species, dict) else []
        if parts[3] not in known:
            raise _unknown(parts[3], known, key, file, "species")
        return _Target(key, parts, sub_table(entry, parts[2]), parts[3],
                       SCHEMA[f"region.<region>.{parts[2]}.<species>"], entry)
    need(3, "region.<name>.<key>")
    return _Target(key, parts, entry, parts[2], SCHEMA[f"region.<region>.{parts[2]}"], entry)


def _apply_override(raw: dict[str, Any], key: str, value: Any, file: str | None) -> None:
    """Set one dotted ``key`` in ``raw``; the value is checked when ``raw`` is validated.

    Setting one of two alternatives drops the other, so that the override
    replaces what the file said: a wall's potential ↔ surface_charge, a
    reservoir's numeric potential ↔ current (``current`` makes it floating),
    a membrane's permeability ↔ barrier of a species and eps_r ↔
    capacitance, a pump's rate ↔ j_max/K_Na/K_K.
    """
    target = _resolve(raw, key, file, create=True)
    entry, name = target.entry, target.name
    if target.param is None and not isinstance(value, dict):
        raise _error(f"expected a table species -> value for `{name}`", file=file, key=target.key)
    target.container[name] = value
    if entry is None:
        return
    section = target.parts[0]
    if section == "boundary":
        kind = entry.get("type")
        if name == "potential":
            if kind == "wall":
                entry.pop("surface_charge", None)
            elif value != "floating":
                entry.pop("current", None)
        elif name == "surface_charge":
            entry.pop("potential", None)
        elif name == "current" and kind == "reservoir":
            entry["potential"] = "floating"
        elif name == "type":
            entry.pop("surface_charge" if value == "reservoir" else "current", None)
    elif section == "region":
        other = {"permeability": "barrier", "barrier": "permeability",
                 "eps_r": "capacitance", "capacitance": "eps_r"}.get(target.parts[2])
        if other in ("eps_r", "capacitance"):
            entry.pop(other, None)
        elif other is not None and entry.get("membrane") is True:
            dropped = entry.get(other)
            if isinstance(dropped, dict):
                for species in (value if target.param is None else {name: None}):
                    dropped.pop(species, None)
    elif section == "pump":
        if name == "rate":
            for saturating in ("j_max", "K_Na", "K_K"):
                entry.pop(saturating, None)
        elif name in ("j_max", "K_Na", "K_K"):
            entry.pop("rate", None)


def _runtime_refusal(parts: list[str], regions: tuple[Region, ...], left: Boundary,
                     right: Boundary) -> str | None:
    """Why a protocol may not set this path (None: it may)."""
    allowed = ("a protocol may set boundary.<side>.potential | current | surface_charge, "
               "region.<name>.concentration.<species> next to a reservoir, "
               "region.<membrane>.permeability | barrier.<species>, pump.rate | j_max")
    section = parts[0]
    if section == "boundary" and parts[2] in ("potential", "current", "surface_charge"):
        return None
    if section == "pump" and parts[-1] in ("rate", "j_max"):
        return None
    if section == "region":
        index = next(i for i, r in enumerate(regions) if r.name == parts[1])
        region = regions[index]
        if parts[2] == "concentration":
            held = ((index == 0 and left.type == "reservoir")
                    or (index == len(regions) - 1 and right.type == "reservoir"))
            if held:
                return None
            return (f"only the contents of a region next to a reservoir boundary are held by the "
                    f"boundary; '{region.name}' is not")
        if parts[2] in ("permeability", "barrier"):
            if region.membrane:
                return None
            return f"'{region.name}' is not a membrane"
    if section == "temperature":
        return "the temperature is fixed for the whole run"
    return allowed


# ---------------------------------------------------------------------------
# Writing back
# ---------------------------------------------------------------------------


def _given_forms(case: Case, region_name: str) -> dict[str, str]:
    """Species → "permeability" | "barrier": how the input gave a membrane's transport."""
    regions = case.raw.get("region", []) if case.raw else []
    for entry in regions:
        if isinstance(entry, dict) and entry.get("name") == region_name:
            forms = {}
            for form in ("permeability", "barrier"):
                if isinstance(entry.get(form), dict):
                    forms.update(dict.fromkeys(entry[form], form))
            return forms
    return {}


def _case_to_dict(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": case.title,
        "temperature": case.temperature,
        "geometry": case.geometry,
        "inside": case.inside,
        "activity": case.activity,
        "strict": case.strict,
        "species": {},
        "region": [],
        "boundary": {},
    }
    bulk_d = {}
    for s in case.species:
        entry: dict[str, Any] = {"z": s.z, "D": s.D}
        if s.size is not None:
            entry["size"] = s.size
        out["species"][s.name] = entry
        bulk_d[s.name] = s.D
    for r in case.regions:
        entry = {"name": r.name, "membrane": r.membrane, "length": r.length, "eps_r": r.eps_r,
                 "concentration": dict(r.concentration), "fixed_charge": r.fixed_charge}
        d_changed = {n: d for n, d in r.D.items() if d != bulk_d.get(n)}
        if d_changed:
            entry["D"] = d_changed
        if r.membrane:
            # Write each species the way it was given, so that the conversion
            # P <-> barrier runs in the same direction when loaded back and
            # the numbers agree to the last bit.
            forms = _given_forms(case, r.name)
            permeability, barrier = {}, {}
            for name in r.permeability:
                form = forms.get(name)
                if form is None:
                    if r.permeability[name] > 0:
                        form = "permeability"
                    elif math.isfinite(r.barrier.get(name, math.inf)):
                        form = "barrier"
                if form == "permeability":
                    permeability[name] = r.permeability[name]
                elif form == "barrier" and math.isfinite(r.barrier[name]):
                    barrier[name] = r.barrier[name]
            if permeability:
                entry["permeability"] = permeability
            if barrier:
                entry["barrier"] = barrier
        else:
            offsets = {n: g for n, g in r.barrier.items() if g != 0.0}
            if offsets:
                entry["barrier"] = offsets
        out["region"].append(entry)
    for b in (case.left, case.right):
        entry = {"type": b.type}
        if b.type == "wall":
            if b.potential is None:
                entry["surface_charge"] = b.surface_charge
            else:
                entry["potential"] = b.potential
        elif b.potential is None:
            entry["potential"] = "floating"
            entry["current"] = b.current
        else:
            entry["potential"] = b.potential
        out["boundary"][b.side] = entry
    pumps = []
    for pump in case.pumps:
        entry = {"membrane": pump.membrane}
        for name in ("rate", "j_max", "K_Na", "K_K"):
            if getattr(pump, name) is not None:
                entry[name] = getattr(pump, name)
        entry["sodium"] = pump.sodium
        entry["potassium"] = pump.potassium
        pumps.append(entry)
    if len(pumps) == 1:
        out["pump"] = pumps[0]
    elif pumps:
        out["pump"] = pumps
    out["mesh"] = {name: getattr(case.mesh, name) for name in _children("mesh")
                   if getattr(case.mesh, name) is not None}
    run = {name: getattr(case.run, name) for name in _children("run")
           if getattr(case.run, name) is not None}
    if isinstance(run["outputs"], tuple):
        run["outputs"] = list(run["outputs"])
    out["run"] = run
    if case.protocols:
        out["protocol"] = [{"at": p.at, "set": copy.deepcopy(p.set)} for p in case.protocols]
    output: dict[str, Any] = {"plot": case.output.plot}
    if case.output.path is not None:
        output["path"] = case.output.path
    out["output"] = output
    if case.expect:
        out["expect"] = dict(case.expect)
    return out


def _dump_toml(data: dict[str, Any]) -> str:
    """TOML text of a case dict, laid out like a hand-written case file.

    tomli_w formats the values; the layout is ours, because tomli_w writes a
    species table inside ``[[region]]`` as a separate ``[region.concentration]``
    section, which is valid but reads as if it were a new region.
    """
    import tomli_w  # deferred: only needed when writing

    def key(name: str) -> str:
        return tomli_w.dumps({name: 0}).rsplit(" = ", 1)[0]

    def value(item: Any) -> str:
        if isinstance(item, dict):
            if not item:
                return "{}"
            return "{ " + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + " }"
        return tomli_w.dumps({"v": item})[len("v = "):].rstrip("\n")

    def table(header: str | None, items: dict[str, Any]) -> None:
        if header:
            lines.extend(["", header])
        lines.extend(f"{key(k)} = {value(v)}" for k, v in items.items())

    lines = ["# pnp case, resolved: plain numbers in SI units (m, s, V, K, mol/m^3, J/mol, ...)"]
    sections = []
    top = {}
    for name, item in data.items():
        if isinstance(item, dict) or (isinstance(item, list) and item and isinstance(item[0], dict)):
            sections.append(name)
        else:
            top[name] = item
    table(None, top)
    for name in sections:
        item = data[name]
        if isinstance(item, list):
            for entry in item:
                table(f"[[{key(name)}]]", entry)
        elif item and all(isinstance(v, dict) for v in item.values()):
            for sub, entry in item.items():
                table(f"[{key(name)}.{key(sub)}]", entry)
        else:
            table(f"[{key(name)}]", item)
    return "\n".join(lines) + "\n"
