"""φ at the faces where a profile must reach: the domain ends and region interfaces.

A result holds the potential at cell centres (``x``) and the positions of the
faces (``faces``). Drawn through the centres only, φ would stop half a cell
short of each end and cut the corner at every interface, where the slope
changes with the permittivity. :func:`potential_line` adds the face values,
estimated from the adjacent cells as the scheme itself couples them:

- **Region interfaces**: the two half cells in series, each of resistance
  (h/2)/eps_r, so that the displacement is continuous:
  ``φ_f = (φ_L eps_L/h_L + φ_R eps_R/h_R) / (eps_L/h_L + eps_R/h_R)``
  (the discretisation's own interface value; eps_r from the case, equal on
  both sides without one).
- **An end held at a potential** (a reservoir, or a blocking wall): that
  potential, as changed by the ``[[protocol]]`` steps before the output
  (applied by ``Case.at_time``: the case must validate).
- **A wall with a surface charge**: Gauss's law over the half cell,
  ``φ_f = φ_cell + σ (h/2) / (eps_0 eps_r)``, with σ the wall's charge at that
  output.
- **A floating (current-clamped) reservoir**: from V_m = φ(inside end) −
  φ(outside end) and the other end's value.
- **Anything else** (no case, both ends floating): linear extrapolation
  from the two cells nearest the end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .common import WATER_EPS_R, _region_extents, _validated_case

if TYPE_CHECKING:
    from pnp.input.case import Case
    from pnp.results.result import Result


def _region_eps(result: Result, case: Mapping[str, Any]) -> list[float]:
    """eps_r of every region, by name from the case (water's without one)."""
    by_name = {}
    regions = case.get("region")
    if isinstance(regions, list):
        for entry in regions:
            if isinstance(entry, Mapping) and isinstance(entry.get("eps_r"), int | float):
                by_name[entry.get("name")] = float(entry["eps_r"])
    return [by_name.get(name, WATER_EPS_R) for name in result.region_names]


def held_potential(case: Case | None, side: str, t: float) -> float | None:
    """The potential [V] an end is held at by output time ``t`` (None: not held).

    The end of ``case`` as :meth:`pnp.input.case.Case.at_time` changes it by
    the ``[[protocol]]`` steps before ``t`` (a step at ``t`` itself is not
    applied: the output is the state just before it); an end switched to a
    current clamp or a surface charge has no potential, so it is not held.
    """
    if case is None:
        return None
    earlier = [protocol.at for protocol in case.protocols if protocol.at < t]
    state = case.at_time(max(earlier)) if earlier else case
    return getattr(state, side).potential


def _end_values(
    result: Result,
    case: Mapping[str, Any],
    validated: Case | None,
    index: int,
    eps: list[float],
) -> dict[str, float]:
    """φ [V] at the left and right domain ends at output ``index`` (``validated``:
    ``case`` as a Case, None when it is not a valid one)."""
    from pnp.constants import VACUUM_PERMITTIVITY

    phi = np.asarray(result.potential[index], dtype=float)
    faces = np.asarray(result.faces_at(index), dtype=float)  # a moving mesh: this output's
    x = 0.5 * (faces[1:] + faces[:-1])
    t = float(result.t[index])
    boundary = case.get("boundary") if isinstance(case.get("boundary"), Mapping) else {}
    cells = {"left": (0, 1, faces[0]), "right": (x.size - 1, x.size - 2, faces[-1])}
    values: dict[str, float] = {}
    for side, (cell, _, face) in cells.items():
        spec = boundary.get(side, {})
        held = held_potential(validated, side, t)
        if held is not None:
            values[side] = held
        elif isinstance(spec, Mapping) and spec.get("type") == "wall":
            sigma = np.asarray(result.surface_charge.get(side, [math.nan]), dtype=float)
            charge = float(sigma[index]) if sigma.size > index else math.nan
            if not math.isfinite(charge):
                charge = float(spec.get("surface_charge", 0.0) or 0.0)
            region_eps = eps[int(result.region[cell])]
            half = abs(face - x[cell])
            values[side] = phi[cell] + charge * half / (VACUUM_PERMITTIVITY * region_eps)
    inside = result.inside if result.inside in cells else "left"
    outside = "right" if inside == "left" else "left"
    v_m = float(result.membrane_potential[index]) if result.membrane_potential.size else math.nan
    if math.isfinite(v_m) and case:
        if inside not in values and outside in values:
            values[inside] = values[outside] + v_m
        elif outside not in values and inside in values:
            values[outside] = values[inside] - v_m
    for side, (cell, neighbour, face) in cells.items():
        if side not in values:
            if x.size < 2:
                values[side] = phi[cell]
            else:
                slope = (phi[cell] - phi[neighbour]) / (x[cell] - x[neighbour])
                values[side] = phi[cell] + slope * (face - x[cell])
    return values


def potential_line(
    result: Result, case: Mapping[str, Any], index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions [m] and φ [V] of output ``index``: both ends, every cell centre
    and every region interface (see the module docstring for the face values)."""
    phi = np.asarray(result.potential[index], dtype=float)
    faces = np.asarray(result.faces_at(index), dtype=float)  # a moving mesh: this output's
    x = 0.5 * (faces[1:] + faces[:-1])
    eps = _region_eps(result, case)
    ends = _end_values(result, case, _validated_case(case), index, eps)
    positions, values = [np.array([faces[0]])], [np.array([ends["left"]])]
    extents = [(a, b) for a, b in _region_extents(result) if b > a]
    extents.sort()
    for number, (first, stop) in enumerate(extents):
        positions.append(x[first:stop])
        values.append(phi[first:stop])
        if number + 1 < len(extents) and stop < x.size:
            left, right = stop - 1, stop
            conductance_left = eps[int(result.region[left])] / (faces[stop] - x[left])
            conductance_right = eps[int(result.region[right])] / (x[right] - faces[stop])
            interface = (conductance_left * phi[left] + conductance_right * phi[right]) / (
                conductance_left + conductance_right
            )
            positions.append(np.array([faces[stop]]))
            values.append(np.array([interface]))
    positions.append(np.array([faces[-1]]))
    values.append(np.array([ends["right"]]))
    return np.concatenate(positions), np.concatenate(values)
