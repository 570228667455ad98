"""Charged-wall accuracy cases of issue 12, written the way a README user would write them.

Each case is a plain case dict of the README's case-file reference (the
TOML schema as a dict, like ``cases/debye_layer.toml``), validated by
``pnp.Case.from_dict`` and solved by ``pnp.run`` at the default mesh
settings (no ``[mesh]`` table) unless overrides say otherwise. The number a
user reads off the result is compared with its closed form in
``pnp.analytic``:

- ``surface_potential``: a wall with ``surface_charge`` sigma in a bath of a
  1:1, 2:1, 1:2 or 2:2 salt, a reservoir at 0 V 32 Debye lengths away. The
  user's surface potential is ``result.membrane_potential`` (phi at the
  inside = left end face minus phi at the outside = right end face, which
  the reservoir holds at 0 V); closed form :func:`pnp.analytic.grahame_potential`.
- ``wall_charge``: the same wall held at a ``potential`` instead; the user's
  wall charge is ``result.surface_charge["left"]``; closed form
  :func:`pnp.analytic.grahame`.
- ``counterion_gap``: counter-ions only (no salt) between two walls 2L
  apart: the left wall carries ``surface_charge`` sigma, the right wall is
  held at 0 V (one boundary must fix the potential) and then carries sigma
  too, by Gauss's law, since the region holds exactly the counter-charge
  -2 sigma of the two walls (a non-electroneutral region: ``strict =
  false``, whose warning is expected and silenced here). The user's contact
  concentration at a wall is the Boltzmann factor between the wall face and
  the cell next to it, c_cell exp(-z (phi_wall - phi_cell)/V_T), with
  phi_wall = ``membrane_potential`` on the left (the right face is at 0 V)
  and 0 on the right; closed form :func:`pnp.analytic.counterion_gap_contact`.
- ``sphere``: spherical geometry, a core of radius a carrying the charge
  4 pi a^2 sigma as ``fixed_charge`` (no ions: every species has D = 0
  there; eps_r = 1e6, so the core is nearly equipotential; ``strict =
  false``), in a 1:1 bath reaching a reservoir at 0 V 32 Debye lengths
  further out. The user's surface potential is ``membrane_potential``
  (phi at r = 0 minus the reservoir's 0 V) less the exact potential drop
  inside the uniformly charged core, sigma a/(2 eps0 eps_core); closed form
  :func:`pnp.analytic.debye_huckel_sphere`, at |sigma| small enough that
  the linearisation is far below the errors measured (its size is reported:
  the flat Grahame potential minus its Debye–Hückel limit).

`run_point` runs one case and returns a row with the measured value, the
reference, the error, the number of cells and the solve time.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pnp
from pnp import analytic
from pnp.constants import FARADAY, VACUUM_PERMITTIVITY, thermal_voltage
from pnp.input.case import CaseWarning

TEMPERATURE = 298.15  # K
EPS_R = 78.5
DOMAIN_DEBYE_LENGTHS = 32  # bath length in Debye lengths: the far reservoir is bulk
CORE_EPS_R = 1e6  # the sphere's core

# electrolyte name -> (cation valence, anion valence)
SALTS = {"1:1": (1, -1), "2:1": (2, -1), "1:2": (1, -2), "2:2": (2, -2)}
MOLAR = (1.0, 10.0, 100.0, 1000.0)  # mol/m^3 of formula units: 1 mM .. 1 M
SIGMAS = (-0.3, -0.2, -0.1, -0.05, -0.01, 0.01, 0.05, 0.1, 0.2, 0.3)  # C/m^2
WALL_POTENTIALS = (-0.25, -0.2, -0.125, -0.1, -0.025, 0.025, 0.1, 0.125, 0.2, 0.25)  # V
# What sets a held wall's layer is the counter-ion's z F phi / RT: at 250 mV a
# divalent counter-ion would sit at 1e17 times its bulk concentration at the wall
# (far beyond the density of water; Grahame charges of 4 to 990 C/m^2). A wall
# whose counter-ions are divalent is held at up to the same exponent as a
# monovalent one at 250 mV: 125 mV.
MAX_COUNTERION_EXPONENT = 0.25  # V times the counter-ion's valence
GAP_COUNTERIONS = (1, 2, -1)  # valence; the walls carry the opposite sign
GAP_SIGMAS = (0.01, 0.05, 0.2, 0.3)  # |sigma| [C/m^2]
GAP_HALF_WIDTHS = (2e-9, 10e-9)  # m
SPHERE_RADII = (1e-9, 5e-9, 50e-9)  # m
SPHERE_MOLAR = (10.0, 100.0)
SPHERE_SIGMAS = (1e-4, -1e-4)  # C/m^2: linearisation error ~1e-4 of phi(a) at 10 mM

# The targets of issue 12 at default settings.
TARGETS = {
    "surface_potential": ("abs error [mV]", 0.05),
    "wall_charge": ("relative error", 1e-3),
    "counterion_gap": ("relative error", 5e-3),
}

_SPECIES_D = 1e-9  # m^2/s; irrelevant at steady state


def salt_bath(electrolyte: str, molar: float) -> tuple[dict[str, float], dict[str, int]]:
    """Electroneutral bulk contents of `molar` formula units of a z+:z- salt.

    Cation M and anion X in the stoichiometric ratio |z-| : z+ (reduced), so
    sum z c = 0 exactly: 2:1 is M 1, X 2 per formula unit (CaCl2), 1:2 is
    M 2, X 1 (Na2SO4), 2:2 is M 1, X 1 (MgSO4).
    """
    z_plus, z_minus = SALTS[electrolyte]
    common = math.gcd(z_plus, -z_minus)
    concentrations = {"M": molar * (-z_minus // common), "X": molar * (z_plus // common)}
    return concentrations, {"M": z_plus, "X": z_minus}


def _bath_case(electrolyte: str, molar: float, left: dict[str, Any], title: str) -> dict:
    concentrations, valences = salt_bath(electrolyte, molar)
    debye = analytic.debye_length(concentrations, valences, EPS_R, TEMPERATURE)
    return {
        "title": title,
        "temperature": TEMPERATURE,
        "species": {name: {"z": z, "D": _SPECIES_D} for name, z in valences.items()},
        "region": [
            {
                "name": "bath",
                "length": DOMAIN_DEBYE_LENGTHS * debye,
                "eps_r": EPS_R,
                "concentration": concentrations,
            }
        ],
        "boundary": {"left": left, "right": {"type": "reservoir", "potential": 0.0}},
    }


def charged_wall_case(electrolyte: str, molar: float, sigma: float) -> dict:
    """A wall carrying `sigma` [C/m^2] in the salt, a grounded reservoir 32 lambda_D away."""
    return _bath_case(
        electrolyte,
        molar,
        {"type": "wall", "surface_charge": sigma},
        f"charged wall {sigma:g} C/m^2, {molar:g} mM {electrolyte}",
    )


def held_wall_case(electrolyte: str, molar: float, potential: float) -> dict:
    """A wall held at `potential` [V] in the salt, a grounded reservoir 32 lambda_D away."""
    return _bath_case(
        electrolyte,
        molar,
        {"type": "wall", "potential": potential},
        f"wall at {potential * 1e3:g} mV, {molar:g} mM {electrolyte}",
    )


def counterion_gap_case(z: int, sigma: float, half_width: float) -> dict:
    """Counter-ions C (valence z) only between two walls 2 `half_width` apart, each charged sigma.

    The region holds their mean concentration -sigma/(z F L), the
    counter-charge of both walls.
    """
    return {
        "title": f"counter-ions z={z} between walls of {sigma:g} C/m^2, L = {half_width:g} m",
        "temperature": TEMPERATURE,
        "strict": False,
        "species": {"C": {"z": z, "D": _SPECIES_D}},
        "region": [
            {
                "name": "gap",
                "length": 2 * half_width,
                "eps_r": EPS_R,
                "concentration": {"C": -sigma / (z * FARADAY * half_width)},
            }
        ],
        "boundary": {
            "left": {"type": "wall", "surface_charge": sigma},
            "right": {"type": "wall", "potential": 0.0},
        },
    }


def charged_sphere_case(molar: float, sigma: float, radius: float) -> dict:
    """A sphere of `radius` carrying `sigma` per area (as core fixed charge) in a 1:1 bath."""
    concentrations, valences = salt_bath("1:1", molar)
    debye = analytic.debye_length(concentrations, valences, EPS_R, TEMPERATURE)
    # 4 pi a^2 sigma spread over 4 pi a^3 / 3, in mol/m^3 of elementary charges
    fixed = 3 * sigma / (radius * FARADAY)
    return {
        "title": f"sphere a = {radius:g} m, {sigma:g} C/m^2, {molar:g} mM 1:1",
        "temperature": TEMPERATURE,
        "geometry": "spherical",
        "strict": False,
        "species": {name: {"z": z, "D": _SPECIES_D} for name, z in valences.items()},
        "region": [
            {
                "name": "core",
                "length": radius,
                "eps_r": CORE_EPS_R,
                "fixed_charge": fixed,
                "D": dict.fromkeys(valences, 0.0),
            },
            {
                "name": "bath",
                "length": DOMAIN_DEBYE_LENGTHS * debye,
                "eps_r": EPS_R,
                "concentration": concentrations,
            },
        ],
        "boundary": {"left": {"type": "wall"}, "right": {"type": "reservoir", "potential": 0.0}},
    }


# --------------------------------------------------------------------------- points


@dataclass(frozen=True)
class Point:
    """One accuracy point: what is varied, the case dict, and its closed form."""

    kind: str  # surface_potential | wall_charge | counterion_gap | sphere
    label: dict[str, Any]  # the varied parameters, for tables
    case: dict = field(repr=False)
    reference: float = math.nan  # closed-form value, SI


def surface_potential_points(electrolytes=tuple(SALTS), molar=MOLAR, sigmas=SIGMAS) -> list[Point]:
    points = []
    for name in electrolytes:
        for m in molar:
            concentrations, valences = salt_bath(name, m)
            for sigma in sigmas:
                reference = analytic.grahame_potential(
                    sigma, concentrations, valences, EPS_R, TEMPERATURE
                )
                label = {"electrolyte": name, "molar": m, "sigma": sigma}
                points.append(
                    Point("surface_potential", label, charged_wall_case(name, m, sigma), reference)
                )
    return points


def wall_charge_points(
    electrolytes=tuple(SALTS), molar=MOLAR, potentials=WALL_POTENTIALS
) -> list[Point]:
    points = []
    for name in electrolytes:
        for m in molar:
            concentrations, valences = salt_bath(name, m)
            for potential in potentials:
                counter = max(abs(z) for z in valences.values() if z * potential < 0)
                if counter * abs(potential) > MAX_COUNTERION_EXPONENT + 1e-12:
                    continue
                reference = analytic.grahame(
                    potential, concentrations, valences, EPS_R, TEMPERATURE
                )
                label = {"electrolyte": name, "molar": m, "potential": potential}
                points.append(
                    Point("wall_charge", label, held_wall_case(name, m, potential), reference)
                )
    return points


def counterion_gap_points(
    valences=GAP_COUNTERIONS, sigmas=GAP_SIGMAS, half_widths=GAP_HALF_WIDTHS
) -> list[Point]:
    points = []
    for z in valences:
        for magnitude in sigmas:
            sigma = -math.copysign(magnitude, z)
            for half in half_widths:
                reference = analytic.counterion_gap_contact(sigma, z, half, EPS_R, TEMPERATURE)
                label = {"z": z, "sigma": sigma, "half_width": half}
                points.append(
                    Point("counterion_gap", label, counterion_gap_case(z, sigma, half), reference)
                )
    return points


def sphere_points(radii=SPHERE_RADII, molar=SPHERE_MOLAR, sigmas=SPHERE_SIGMAS) -> list[Point]:
    points = []
    for m in molar:
        concentrations, valences = salt_bath("1:1", m)
        for sigma in sigmas:
            for radius in radii:
                reference = analytic.debye_huckel_sphere(
                    radius, sigma, radius, concentrations, valences, EPS_R, TEMPERATURE
                )
                label = {"molar": m, "sigma": sigma, "radius": radius}
                points.append(
                    Point("sphere", label, charged_sphere_case(m, sigma, radius), reference)
                )
    return points


KINDS = ("surface_potential", "wall_charge", "counterion_gap", "sphere")


def all_points(kinds=KINDS) -> list[Point]:
    """The full grid of every kind in `kinds`."""
    makers = {
        "surface_potential": surface_potential_points,
        "wall_charge": wall_charge_points,
        "counterion_gap": counterion_gap_points,
        "sphere": sphere_points,
    }
    return [point for kind in kinds for point in makers[kind]()]


def representative_points(kinds=KINDS) -> list[Point]:
    """A smaller grid spanning the same ranges: every electrolyte, both ends of the
    concentrations, the strongest and a weak wall of each sign."""
    points = []
    if "surface_potential" in kinds:
        points += surface_potential_points(molar=(1.0, 1000.0), sigmas=(-0.3, -0.01, 0.05, 0.3))
        points += surface_potential_points(("1:1",), (10.0, 100.0), (-0.2, -0.05, -0.01))
    if "wall_charge" in kinds:
        points += wall_charge_points(("1:1",), (1.0, 10.0, 1000.0), (-0.25, 0.025, 0.1, 0.2))
        points += wall_charge_points(("2:1", "1:2"), (10.0,), (-0.25, -0.125, 0.1, 0.125))
        points += wall_charge_points(("2:2",), (100.0,), (-0.025, 0.125))
    if "counterion_gap" in kinds:
        points += counterion_gap_points(sigmas=(0.01, 0.3), half_widths=(10e-9,))
        points += counterion_gap_points((1,), (0.05, 0.2), (2e-9, 10e-9))
    if "sphere" in kinds:
        points += sphere_points(radii=(1e-9, 50e-9), molar=(10.0,), sigmas=(-1e-4,))
    return points


def point_id(point: Point) -> str:
    """A short name of the point, for test ids and tables."""
    parts = [point.kind]
    for key, value in point.label.items():
        if key == "molar":
            parts.append(f"{value:g}mM")
        elif key in ("half_width", "radius"):
            parts.append(f"{key[0]}{value * 1e9:g}nm")
        elif key == "potential":
            parts.append(f"{value * 1e3:+g}mV")
        elif key == "electrolyte":
            parts.append(str(value))
        else:
            parts.append(f"{key}{value:+g}")
    return "-".join(parts)


# --------------------------------------------------------------------------- measuring


def build_case(point: Point, overrides: Mapping[str, Any] | None = None) -> pnp.Case:
    """The point's case through ``pnp.Case.from_dict`` (with `overrides`, dotted keys)."""
    with warnings.catch_warnings():
        # the gap and the sphere's core are not electroneutral on purpose (strict = false)
        warnings.simplefilter("ignore", CaseWarning)
        return pnp.Case.from_dict(point.case, overrides=dict(overrides or {}) or None)


def _contact(result, z: int) -> tuple[float, float]:
    """Contact concentrations at the left and right walls of a counter-ion gap."""
    v_t = thermal_voltage(result.temperature)
    c = result.c("C")[-1]
    phi = result.potential[-1]
    left_wall = float(result.membrane_potential[-1])  # phi(left face) - phi(right face = 0 V)
    left = c[0] * math.exp(-z * (left_wall - phi[0]) / v_t)
    right = c[-1] * math.exp(-z * (0.0 - phi[-1]) / v_t)
    return float(left), float(right)


def _measure(point: Point, result) -> dict[str, float]:
    """The user's number, and its error against the closed form."""
    if point.kind == "surface_potential":
        measured = float(result.membrane_potential[-1])
        return {"measured": measured, "error": (measured - point.reference) * 1e3}
    if point.kind == "wall_charge":
        measured = float(result.surface_charge["left"][-1])
        return {"measured": measured, "error": measured / point.reference - 1}
    if point.kind == "counterion_gap":
        left, right = _contact(result, point.label["z"])
        errors = (left / point.reference - 1, right / point.reference - 1)
        return {
            "measured": left,
            "measured_right": right,
            "error_left": errors[0],
            "error_right": errors[1],
            "error": max(errors, key=abs),
        }
    # sphere: phi(r = 0) less the drop across the uniformly charged core
    sigma, radius = point.label["sigma"], point.label["radius"]
    core_drop = sigma * radius / (2 * VACUUM_PERMITTIVITY * CORE_EPS_R)
    measured = float(result.membrane_potential[-1]) - core_drop
    concentrations, valences = salt_bath("1:1", point.label["molar"])
    flat_nonlinear = analytic.grahame_potential(sigma, concentrations, valences, EPS_R, TEMPERATURE)
    debye = analytic.debye_length(concentrations, valences, EPS_R, TEMPERATURE)
    flat_linear = sigma * debye / (VACUUM_PERMITTIVITY * EPS_R)
    return {
        "measured": measured,
        "error": (measured - point.reference) * 1e3,
        "relative_error": measured / point.reference - 1,
        "linearisation_mV": (flat_nonlinear - flat_linear) * 1e3,
    }


ERROR_UNITS = {
    "surface_potential": "mV",
    "wall_charge": "relative",
    "counterion_gap": "relative",
    "sphere": "mV",
}


def run_point(point: Point, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Solve the point's case and compare; a failed run gives error = nan and its message."""
    case = build_case(point, overrides)
    start = time.perf_counter()
    result = pnp.run(case)
    elapsed = time.perf_counter() - start
    row: dict[str, Any] = {
        "kind": point.kind,
        **point.label,
        "reference": point.reference,
        "error_unit": ERROR_UNITS[point.kind],
        "cells": int(result.x.size),
        "solve_time_s": elapsed,
        "newton_iterations": int(result.stats.get("newton_iterations", -1)),
        "status": result.status,
        "message": result.message,
    }
    if result.status == "completed":
        row.update(_measure(point, result))
    else:
        row.update({"measured": math.nan, "error": math.nan})
    return row
