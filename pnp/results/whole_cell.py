"""Currents as physiologists read them: µA/cm², and pA and pA/pF for a cell of known size.

A current density J [A/m^2] is 100 J µA/cm^2. With the membrane area A of
a cell [m^2] the cell carries J A [A] (shown in pA); over the cell's
capacitance C = c A [F], with c = eps0 eps_r / d the specific capacitance of
its membrane (thickness d), that is J / c [A/F, the same number in pA/pF]:
the current density patch-clampers report.

The cell's size is known for spherical cases (the whole cell: the area of the
membrane's mid face, where current densities are measured), cylindrical
ones (the same per metre of cell length) and cartesian ones with a
``[cell]`` table (its ``area``, or its ``capacitance`` over c). The membrane
is the one nearest the inside, as in the rest of the summary. `cell_size`
derives the size from a case; result files keep it in the root attributes
``cell_area`` [m^2], ``cell_capacitance`` [F] and ``cell_scope``
(`CellSize.attrs`), which ``pnp info`` reads back (`CellSize.from_attrs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..constants import VACUUM_PERMITTIVITY
from .display import with_error

__all__ = ["UA_PER_CM2", "CellSize", "cell_size", "cell_texts", "density_text"]

#: µA/cm^2 per A/m^2.
UA_PER_CM2 = 100.0

#: Geometry → (full angle the mesh's face areas are multiplied by, what a cell size covers).
_SCOPE = {
    "cartesian": (1.0, "whole cell"),
    "cylindrical": (2.0 * math.pi, "per m of cell length"),
    "spherical": (4.0 * math.pi, "whole cell"),
}


@dataclass(frozen=True)
class CellSize:
    """A cell's membrane area [m^2] and capacitance [F], for the whole cell or per metre."""

    area: float
    capacitance: float
    scope: str  # "whole cell" or "per m of cell length"

    def attrs(self) -> dict[str, Any]:
        """The result-file root attributes that keep this size."""
        return {
            "cell_area": float(self.area),
            "cell_capacitance": float(self.capacitance),
            "cell_scope": self.scope,
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> CellSize | None:
        """The size kept in a result file's root attributes (None if there is none)."""
        if "cell_area" not in attrs or "cell_capacitance" not in attrs:
            return None
        area, capacitance = float(attrs["cell_area"]), float(attrs["cell_capacitance"])
        if not (area > 0 and capacitance > 0):
            return None
        scope = attrs.get("cell_scope", "whole cell")
        return cls(area, capacitance, scope.decode() if isinstance(scope, bytes) else str(scope))


def first_membrane(case):
    """The membrane nearest the inside end (None without a membrane)."""
    regions = case.regions if case.inside == "left" else case.regions[::-1]
    return next((r for r in regions if r.membrane), None)


def cell_size(case, mesh=None) -> CellSize | None:
    """The cell's size from ``case`` (and ``mesh``, for a curved geometry); None if unknown.

    Cartesian cases need a ``[cell]`` table; curved ones use the area of the
    membrane's mid face on ``mesh`` (the case's graded mesh if None).
    """
    membrane = first_membrane(case)
    if membrane is None:
        return None
    specific = VACUUM_PERMITTIVITY * membrane.eps_r / membrane.length  # [F/m^2]
    factor, scope = _SCOPE[case.geometry]
    if case.geometry == "cartesian":
        if case.cell.area is not None:
            area = case.cell.area
        elif case.cell.capacitance is not None:
            area = case.cell.capacitance / specific
        else:
            return None
    else:
        if mesh is None:
            from ..discretisation.mesh import build_mesh  # deferred: results need no mesh builder

            mesh = build_mesh(case)
        area = float(mesh.face_area[mesh.mid_face(membrane.name)]) * factor
    return CellSize(area, area * specific, scope)


def _scaled(error: float | None, factor: float) -> float | None:
    return None if error is None else error * abs(factor)


def density_text(value: float, error: float | None, digits: int = 6) -> str:
    """A current density [A/m^2] ± its estimate, and the same in µA/cm^2."""
    si = with_error(value, error, "A/m^2", digits)
    physiological = with_error(value * UA_PER_CM2, _scaled(error, UA_PER_CM2), "µA/cm^2", digits)
    return f"{si} ({physiological})"


def _six_digits(value: float, error: float | None, unit: str) -> str:
    """``value ± error unit``, the value to 6 significant digits (as the summary
    has always shown whole-cell currents) and the estimate as `with_error` rounds it."""
    text = with_error(value, error, unit)
    if " ± " not in text:
        return text
    return f"{value:.6g} ± {text.split(' ± ', 1)[1]}"


def cell_texts(value: float, error: float | None, size: CellSize) -> tuple[str, str]:
    """A current density [A/m^2] ± its estimate as the cell's current [pA] and per capacitance [pA/pF].

    The current is shown to 6 significant digits, the current per capacitance
    to the digits its estimate supports (`with_error`).
    """
    to_pa = size.area * 1e12
    per_capacitance = size.area / size.capacitance  # A/F = pA/pF
    return (
        _six_digits(value * to_pa, _scaled(error, to_pa), "pA"),
        with_error(value * per_capacitance, _scaled(error, per_capacitance), "pA/pF"),
    )
