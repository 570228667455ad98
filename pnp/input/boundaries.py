"""Validation of ``[boundary.left]``, ``[boundary.right]`` and ``[pump]``: Boundary and Pump.

Owns the rules of the two domain ends (wall with a potential or a surface
charge, reservoir at a potential or floating with a current; the centre of
a cylinder or sphere is a plain wall; something must fix the potential)
and of the Na⁺/K⁺ pumps (in a membrane; constant rate or saturating form;
two different species).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .case import Boundary, Pump, Region, Species
from .messages import suggest
from .reader import Reader
from .schema import MAX_PUMPS, SIDES

__all__ = ["BoundaryReader"]


class BoundaryReader(Reader):
    """Reads the boundaries and the pumps."""

    def boundaries(self, raw: dict[str, Any], geometry: str) -> tuple[Boundary, Boundary]:
        if "boundary" not in raw:
            raise self.error(
                "missing; give [boundary.left] and [boundary.right] with a type (wall | reservoir)",
                "boundary",
            )
        table = self.table(raw["boundary"], "boundary", "[boundary.left] and [boundary.right]")
        for side in table:
            if side not in SIDES:
                raise self.error(
                    f"unknown boundary `{side}`; {suggest(side, SIDES)}", f"boundary.{side}"
                )
        sides = []
        for side in SIDES:
            key = f"boundary.{side}"
            if side not in table:
                raise self.error('missing; give type = "wall" or "reservoir"', key)
            sides.append(self.boundary(side, self.table(table[side], key), key))
        left, right = sides
        if all(b.potential is None for b in sides):
            raise self.error(
                "no boundary fixes the potential, so its level is undefined: give one boundary a "
                "numeric potential (a wall with potential = <V>, or a reservoir with potential = <V>)",
                "boundary",
            )
        if geometry != "cartesian" and not (
            left.type == "wall" and left.potential is None and left.surface_charge == 0.0
        ):
            raise self.error(
                f"in {geometry} geometry the left boundary is the centre r = 0: it must be "
                'type = "wall" with no potential and surface_charge = 0',
                "boundary.left",
            )
        return left, right

    def boundary(self, side: str, entry: dict[str, Any], key: str) -> Boundary:
        prefix = "boundary.<side>"
        self.check_keys(entry, prefix, key)
        kind = self.get(entry, prefix, "type", key)
        potential = self.get(entry, prefix, "potential", key)
        if kind == "wall":
            if potential == "floating":
                raise self.error(
                    '"floating" is only for reservoirs; a wall has either a potential '
                    "(a number, V) or a surface_charge",
                    f"{key}.potential",
                )
            if "current" in entry:
                raise self.error(
                    'current is only for a reservoir with potential = "floating"', f"{key}.current"
                )
            if potential is not None and "surface_charge" in entry:
                raise self.error(
                    "give a wall either a potential or a surface_charge, not both",
                    f"{key}.surface_charge",
                )
            surface_charge = (
                self.get(entry, prefix, "surface_charge", key) if potential is None else 0.0
            )
            return Boundary(
                side=side, type="wall", potential=potential, surface_charge=surface_charge
            )
        if "surface_charge" in entry:
            raise self.error(
                "surface_charge is only for walls; a reservoir holds a potential",
                f"{key}.surface_charge",
            )
        if potential is None:
            raise self.error(
                'missing; a reservoir needs a potential: a number (V) or "floating"',
                f"{key}.potential",
            )
        if potential == "floating":
            current = self.get(entry, prefix, "current", key)
            return Boundary(side=side, type="reservoir", potential=None, current=current)
        if "current" in entry:
            raise self.error(
                'current is only allowed with potential = "floating" (a reservoir at a '
                "fixed potential passes whatever current the solution needs)",
                f"{key}.current",
            )
        return Boundary(side=side, type="reservoir", potential=potential)

    def pumps(
        self,
        raw: dict[str, Any],
        species: tuple[Species, ...],
        regions: tuple[Region, ...],
        only: Collection[int] | None = None,
    ) -> tuple[Pump, ...]:
        """The pumps, validated; ``only``: validate (and return) just the pumps of these indices."""
        prefix = "pump.<pump>"
        names = tuple(s.name for s in species)
        membranes = tuple(r.name for r in regions if r.membrane)
        out = []
        for index, (key, entry) in enumerate(self.entries(raw, "pump", MAX_PUMPS)):
            if only is not None and index not in only:
                continue
            self.check_keys(entry, prefix, key)
            membrane = self.get(entry, prefix, "membrane", key)
            if membrane not in membranes:
                if any(r.name == membrane for r in regions):
                    raise self.error(
                        f"region '{membrane}' is not a membrane; pumps sit in a membrane "
                        f"({', '.join(membranes) or 'the case has none'})",
                        f"{key}.membrane",
                    )
                self.name_in(membrane, membranes, f"{key}.membrane", "membrane region")
            values = {
                name: self.get(entry, prefix, name, key)
                for name in ("rate", "j_max", "K_Na", "K_K", "sodium", "potassium")
            }
            saturating = [name for name in ("j_max", "K_Na", "K_K") if name in entry]
            if "rate" in entry and saturating:
                raise self.error(
                    "give either rate (constant) or j_max, K_Na and K_K (saturating), not both",
                    f"{key}.{saturating[0]}",
                )
            if "rate" not in entry:
                if not saturating:
                    raise self.error(
                        "give rate (constant, mol/m^2/s) or j_max, K_Na and K_K (saturating)",
                        f"{key}.rate",
                    )
                for name in ("j_max", "K_Na", "K_K"):
                    if name not in entry:
                        raise self.error(
                            "missing; the saturating pump needs j_max, K_Na and K_K",
                            f"{key}.{name}",
                        )
            for role in ("sodium", "potassium"):
                self.name_in(values[role], names, f"{key}.{role}", "species")
            if values["sodium"] == values["potassium"]:
                raise self.error(
                    "sodium and potassium must be different species", f"{key}.potassium"
                )
            out.append(Pump(membrane=membrane, **values))
        return tuple(out)
