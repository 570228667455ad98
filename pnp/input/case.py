"""Cases: the frozen dataclasses a validated case is held in, and `load_case`.

A case is validated once, converted to SI, and held in the frozen dataclasses
below. Everything downstream (mesh, model, solver) reads only these.

The rest of the stage is split by job: `pnp.input.schema` (the table of
every key, `PARAMETERS`), `pnp.input.key_reference` (that table as
Markdown), `pnp.input.toml_io` (reading a case file, writing a case back),
`pnp.input.validation` and the section readers it combines (checking every
key, building these dataclasses), and `pnp.input.overrides` (dotted key
paths).

Pipeline of `Case.from_dict` (and `load_case`)::

    input dict ──copy, limits──▶ raw ──overrides──▶ raw' ──CaseReader──▶ Case (SI)

``raw'`` (the input with the overrides applied, units still as written) is
kept in `Case.raw`; `Case.with_overrides` re-validates from it, so an
override goes through exactly the checks of a case file.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .overrides import apply_override
from .toml_io import case_to_dict, dump_toml, read_case_file

if TYPE_CHECKING:  # numpy is imported only by cases with channels
    from ..discretisation.gates import Rate

__all__ = [
    "Boundary",
    "Case",
    "CaseWarning",
    "CellSpec",
    "Channel",
    "MeshSpec",
    "OutputSpec",
    "Protocol",
    "Pump",
    "Region",
    "RunSpec",
    "Species",
    "Stimulus",
    "load_case",
]


@dataclass(frozen=True)
class Species:
    name: str
    z: int  # valence
    D: float  # bulk diffusivity [m^2/s]
    size: float | None = (
        None  # ion size parameter a [m] (extended Debye-Hueckel); None if not given
    )


@dataclass(frozen=True)
class Region:
    name: str
    length: float  # [m]
    eps_r: float  # relative permittivity [-]
    membrane: bool
    concentration: dict[
        str, float
    ]  # initial / reservoir contents [mol/m^3], every species present (0 if not given)
    fixed_charge: float  # [mol/m^3 of elementary charges], signed
    D: dict[str, float]  # diffusivity in this region [m^2/s], every species (default: species D)
    barrier: dict[
        str, float
    ]  # standard free-energy offset dG_i [J/mol], every species; inf = impermeant
    permeability: dict[
        str, float
    ]  # membranes: P_i = exp(-dG_i/RT) D_i / length [m/s], every species (0 = impermeant); bulk: {}
    balance: str | None = None  # species adjusted to keep the region electroneutral (None: none)
    water_permeability: float = 0.0  # membranes: L_p [m/(s Pa)], 0 = fixed volume
    stiffness: float = 0.0  # membranes: K [Pa], P_in - P_out = K (V/V0 - 1)


@dataclass(frozen=True)
class Boundary:
    side: str  # "left" | "right"
    type: str  # "wall" | "reservoir"
    potential: float | None  # [V]; None: wall with surface charge, or floating reservoir
    surface_charge: float = 0.0  # [C/m^2], wall without potential only
    current: float = 0.0  # [A/m^2] into the domain through this boundary, floating reservoir only

    @property
    def floating(self) -> bool:
        return self.type == "reservoir" and self.potential is None


@dataclass(frozen=True)
class Pump:
    membrane: str  # name of a membrane region
    rate: float | None = None  # constant cycle rate j_p [mol/m^2/s]
    j_max: float | None = None  # saturating form [mol/m^2/s]
    K_Na: float | None = None  # [mol/m^3]
    K_K: float | None = None  # [mol/m^3]
    sodium: str = "Na"  # species names the pump moves
    potassium: str = "K"


@dataclass(frozen=True)
class Channel:
    """A voltage-gated channel in a membrane (``[[channel]]``, issue 15).

    Its permeability to ``species`` is ``permeability`` times the product of
    gate^exponent over ``gates``; each gate obeys
    dx/dt = phi_T (alpha(V) (1 - x) - beta(V) x), phi_T = q10^((T - T_ref)/10 K),
    V the membrane potential in mV (`pnp.discretisation.gates`).
    """

    name: str
    membrane: str  # a membrane region's name
    species: str  # the ion it conducts (a charged species)
    permeability: float  # open-channel permeability P̄ [m/s], >= 0
    gates: dict[str, int]  # gate name -> exponent (positive int), in file order
    rates: dict[str, tuple[Rate, Rate]]  # gate -> (alpha, beta); Rate in 1/ms, 1/(ms mV), mV
    q10: float = 3.0
    reference_temperature: float = 279.45  # [K] (6.3 degC)
    kinetics: str = "hodgkin-huxley"  # or "custom"


@dataclass(frozen=True)
class Stimulus:
    """A current pulse (train) through a floating reservoir (``[[stimulus]]``, issue 15).

    Expanded at validation into `Protocol` changes of ``boundary.<side>.current``:
    base + ``current`` at each pulse's start, the base again at its end.
    """

    at: float  # [s] start of the first pulse
    duration: float  # [s] of each pulse
    current: float  # [A/m^2] entering the domain, added to the boundary's current
    count: int = 1  # pulses in the train
    interval: float | None = None  # [s] start to start; given when count > 1
    side: str = "left"  # the floating reservoir it flows through (resolved at validation)


@dataclass(frozen=True)
class MeshSpec:
    cells_per_debye: float = 6.0
    growth: float = 1.2
    max_cell: float = 100e-9  # [m]
    membrane_cells: int = 10
    uniform_cells: int | None = None
    adapt: bool = True
    tolerance: float = 1e-5  # [V] for potentials; relative for charges, fluxes, currents
    max_cells: int = 100_000
    max_cycles: int = 6


@dataclass(frozen=True)
class RunSpec:
    mode: str = "steady"  # steady | transient
    t_end: float | None = None  # [s], transient only
    outputs: int | tuple[float, ...] = 200
    rtol: float = 1e-6
    atol: float = 1e-9
    max_steps: int = 100000
    max_order: int = 5  # highest BDF order of the time stepper
    initial: str = "contents"  # contents | steady: the state a transient starts from
    error_estimate: bool = False  # transients: comparison runs for an error estimate


@dataclass(frozen=True)
class Protocol:
    at: float  # [s]
    set: dict[str, Any]  # dotted key -> value (already validated)


@dataclass(frozen=True)
class CellSpec:
    """The ``[cell]`` table of a cartesian case, as given (at most one of the two)."""

    area: float | None = None  # [m^2] membrane area of the whole cell
    capacitance: float | None = None  # [F] whole-cell capacitance


@dataclass(frozen=True)
class OutputSpec:
    path: str | None = None  # resolved relative to the case file
    plot: bool = True


@dataclass(frozen=True)
class Case:
    """A validated case in SI units.

    Equality compares the physics and numerics only: ``source`` (where the
    case came from) and ``raw`` (how it was written) are provenance and are
    left out, so a case and its `to_toml` text loaded back compare equal.
    """

    title: str
    temperature: float  # [K]
    geometry: str  # cartesian | cylindrical | spherical
    inside: str  # left | right
    activity: (
        str  # ideal | debye-huckel | extended-debye-huckel | davies (pnp.discretisation.activity)
    )
    species: tuple[Species, ...]
    regions: tuple[Region, ...]
    left: Boundary
    right: Boundary
    pumps: tuple[Pump, ...] = ()
    channels: tuple[Channel, ...] = ()
    mesh: MeshSpec = field(default_factory=MeshSpec)
    run: RunSpec = field(default_factory=RunSpec)
    protocols: tuple[Protocol, ...] = ()  # the [[protocol]] entries and the stimuli's pulses
    stimuli: tuple[Stimulus, ...] = ()
    cell: CellSpec = field(default_factory=CellSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    expect: dict[str, Any] = field(default_factory=dict)
    strict: bool = True
    source: str | None = field(
        default=None, compare=False
    )  # path of the case file, if loaded from one
    raw: dict[str, Any] = field(
        default_factory=dict, repr=False, compare=False
    )  # the validated input (before SI conversion)

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
        return _validate(data, overrides, source, strict)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Case:
        """A new case with dotted-key ``overrides`` applied and re-validated."""
        return _validate(self._input(), overrides, self.source, None)

    def at_time(self, t: float) -> Case:
        """The case in effect at time ``t`` [s] of a transient run.

        Every ``[[protocol]]`` with ``at <= t`` is applied, in order; the
        returned case keeps only the protocols still to come (``at > t``), so
        calling it again at a later protocol time continues the sequence.
        The pulses of its ``[[stimulus]]`` entries are protocols like the
        others: the returned case has no stimuli, and its remaining pulses'
        changes of ``boundary.<side>.current`` among its protocols.
        """
        data = self._input()
        data.pop("protocol", None)
        data.pop("stimulus", None)
        if isinstance(self.run.outputs, tuple):
            # the output times of the whole run (defaults derived from its
            # protocols included) stay those of the run
            data.setdefault("run", {})["outputs"] = list(self.run.outputs)
        for protocol in self.protocols:
            if protocol.at <= t:
                for key, value in protocol.set.items():
                    apply_override(data, key, value, self.source)
        later = tuple(p for p in self.protocols if p.at > t)
        # The remaining protocols were validated as a sequence from this very
        # state when the case was loaded: no need to re-check them (that would
        # make stepping through P protocols cost O(P^2) validations).
        from .validation import CaseReader  # deferred: the readers import this module

        case = CaseReader(self.source).build(data, self.source, check_protocols=False)
        if later:
            data["protocol"] = [{"at": p.at, "set": copy.deepcopy(p.set)} for p in later]
        return dataclasses.replace(case, protocols=later, raw=data)

    def to_dict(self) -> dict[str, Any]:
        """The resolved case as a plain dict in SI numbers (the `to_toml` content)."""
        return case_to_dict(self)

    def to_toml(self) -> str:
        """The resolved case as TOML text in plain SI numbers.

        Loading the text back (`load_case` or `Case.from_dict`) gives an equal case.
        """
        return dump_toml(self.to_dict())

    def _input(self) -> dict[str, Any]:
        # A Case built directly from the dataclasses has no raw input: its
        # resolved SI form is an equivalent input.
        return copy.deepcopy(self.raw) if self.raw else self.to_dict()


class CaseWarning(UserWarning):
    """A suspicious but accepted case (``strict = false``)."""


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
    return _validate(read_case_file(file), overrides, file, strict)


def _validate(
    data: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
    source: str | os.PathLike | None,
    strict: bool | None,
) -> Case:
    """`pnp.input.validation.case_from_data`, imported on first use."""
    from .validation import case_from_data  # deferred: the readers import this module

    return case_from_data(data, overrides, source, strict)
