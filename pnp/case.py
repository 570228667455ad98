"""Case files: schema, TOML loading, units, validation and overrides.

A case is validated once, converted to SI, and held in the frozen dataclasses
below. Everything downstream (mesh, model, solver) reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    title: str
    temperature: float                  # [K]
    geometry: str                       # cartesian | cylindrical | spherical
    inside: str                         # left | right
    activity: str                       # ideal (others: later)
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
    source: str | None = None           # path of the case file, if loaded from one
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the validated input (before SI conversion)

    @property
    def species_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.species)
