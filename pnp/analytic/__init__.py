"""Closed-form references: Nernst, GHK, Donnan, Debye, Gouy–Chapman, Grahame, capacitance,
counter-ions between charged walls, Debye–Hückel spheres and cylinders,
osmotic pressure and cell volume; and an ODE reference for action potentials
of a space-clamped patch.

Everything here is a pure numpy/scipy function of SI quantities, used by the
tests, the benchmarks and the ``[expect]`` table of a case:

============================  ==============================
concentration                 mol/m^3 (= mM)
potential                     V
temperature                   K
length                        m
permeability                  m/s
surface charge density        C/m^2
capacitance                   F/m^2
current density               A/m^2
molar flux                    mol/m^2/s
============================  ==============================

Sign conventions (docs/numerics.md, section "Sign conventions"): the
membrane potential is ``V = phi_inside - phi_outside``; fluxes and currents
are positive outward (inside -> outside); a surface charge is the charge on
the wall.

Physical constants, the thermal voltage, the ionic strength and the Debye
length are those of :mod:`pnp.constants` (re-exported here).

Modules, by topic (every public name is importable from ``pnp.analytic``):

- ``equilibria``: `nernst`, `nernst_activity`, `activity_coefficient`, `donnan`.
- ``transport``: `ghk_flux`, `ghk_current`, `ghk_voltage`, `ghk_voltage_monovalent`.
- ``double_layer``: `gouy_chapman`, `gouy_chapman_concentration`, `grahame`,
  `grahame_potential`, `gouy_chapman_length`, `diffuse_layer_capacitance`,
  `membrane_capacitance`, `series_capacitance`, `membrane_series_capacitance`.
- ``volume``: `osmotic_pressure`, `boyle_van_t_hoff`, `osmotic_volume`,
  `stiff_donnan`, `pump_leak_volume` (water and cell volume).
- ``space_clamp``: `rest`, `simulate`, `spikes`, `peak`, `threshold_current`,
  `firing_rate`, `patch_capacitance`, `layer_shifts`, `from_case`,
  `gate_rate`, `gate_rates` and the types `Patch`, `ChannelSpec`, `State`,
  `RestState`, `Trace`, `HODGKIN_HUXLEY` (a space-clamped patch with
  Hodgkin–Huxley-type channels and equilibrium diffuse layers: an ODE
  reference for action potentials; the equations are in ``_space_clamp_model``).
- ``charged_bodies``: `counterion_gap_midplane`, `counterion_gap_concentration`,
  `counterion_gap_potential`, `counterion_gap_contact`, `debye_huckel_sphere`,
  `debye_huckel_cylinder`.
- ``_numerics``: the root tolerances and overflow-safe helpers they share.
"""

from __future__ import annotations

from ..constants import (
    FARADAY,
    GAS_CONSTANT,
    VACUUM_PERMITTIVITY,
    debye_length,
    ionic_strength,
    thermal_voltage,
)
from ..constants import (
    Concentrations as Concentrations,  # the signatures' type aliases, importable as before
)
from ..constants import (
    Valences as Valences,
)
from .charged_bodies import (
    counterion_gap_concentration,
    counterion_gap_contact,
    counterion_gap_midplane,
    counterion_gap_potential,
    debye_huckel_cylinder,
    debye_huckel_sphere,
)
from .double_layer import (
    diffuse_layer_capacitance,
    gouy_chapman,
    gouy_chapman_concentration,
    gouy_chapman_length,
    grahame,
    grahame_potential,
    membrane_capacitance,
    membrane_series_capacitance,
    series_capacitance,
)
from .equilibria import activity_coefficient, donnan, nernst, nernst_activity
from .space_clamp import (
    HODGKIN_HUXLEY,
    ChannelSpec,
    Patch,
    RestState,
    State,
    Trace,
    firing_rate,
    from_case,
    gate_rate,
    gate_rates,
    layer_shifts,
    patch_capacitance,
    peak,
    rest,
    simulate,
    spikes,
    threshold_current,
)
from .transport import ghk_current, ghk_flux, ghk_voltage, ghk_voltage_monovalent
from .volume import (
    boyle_van_t_hoff,
    osmotic_pressure,
    osmotic_volume,
    pump_leak_volume,
    stiff_donnan,
)

__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "HODGKIN_HUXLEY",
    "VACUUM_PERMITTIVITY",
    "ChannelSpec",
    "Patch",
    "RestState",
    "State",
    "Trace",
    "activity_coefficient",
    "boyle_van_t_hoff",
    "counterion_gap_concentration",
    "counterion_gap_contact",
    "counterion_gap_midplane",
    "counterion_gap_potential",
    "debye_huckel_cylinder",
    "debye_huckel_sphere",
    "debye_length",
    "diffuse_layer_capacitance",
    "donnan",
    "firing_rate",
    "from_case",
    "gate_rate",
    "gate_rates",
    "ghk_current",
    "ghk_flux",
    "ghk_voltage",
    "ghk_voltage_monovalent",
    "gouy_chapman",
    "gouy_chapman_concentration",
    "gouy_chapman_length",
    "grahame",
    "grahame_potential",
    "ionic_strength",
    "layer_shifts",
    "membrane_capacitance",
    "membrane_series_capacitance",
    "nernst",
    "nernst_activity",
    "osmotic_pressure",
    "osmotic_volume",
    "patch_capacitance",
    "peak",
    "pump_leak_volume",
    "rest",
    "series_capacitance",
    "simulate",
    "spikes",
    "stiff_donnan",
    "thermal_voltage",
    "threshold_current",
]
