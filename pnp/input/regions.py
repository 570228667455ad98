"""Validation of ``[species.NAME]`` and ``[[region]]``: Species and Region in SI.

Owns the checks that involve the species and the regions: names, valences
and diffusivities, the activity model's needs, each region's permittivity
(or a membrane's capacitance), contents, fixed charge, per-region
diffusivity, membrane transport (permeability <-> barrier,
P = exp(-ΔG/RT)·D/d) and electroneutrality.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from .case import Region, Species
from .messages import join_key
from .plausibility import thin_membrane
from .reader import Reader, is_plain
from .schema import MAX_REGIONS, MAX_SPECIES, NAME_PATTERN, SCHEMA

__all__ = ["RegionReader"]


class RegionReader(Reader):
    """Reads the species and the regions."""

    def species(self, raw: dict[str, Any]) -> tuple[Species, ...]:
        if "species" not in raw:
            raise self.error(
                "missing; give at least one [species.NAME] table with z and D", "species"
            )
        table = self.table(raw["species"], "species", "[species.NAME] tables")
        if not table:
            raise self.error(
                "no species; give at least one [species.NAME] table with z and D", "species"
            )
        if len(table) > MAX_SPECIES:
            raise self.error(f"{len(table)} species; at most {MAX_SPECIES} allowed", "species")
        out = []
        for name, entry in table.items():
            key = f"species.{name}"
            if not NAME_PATTERN.fullmatch(name):
                raise self.error(
                    "not a valid species name (letters, digits, _ or -, starting with a letter)",
                    key,
                )
            entry = self.table(entry, key, "a table with z and D")
            prefix = "species.<species>"
            self.check_keys(entry, prefix, key)
            out.append(
                Species(
                    name=name,
                    z=self.get(entry, prefix, "z", key),
                    D=self.get(entry, prefix, "D", key),
                    size=self.get(entry, prefix, "size", key),
                )
            )
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
                    f"species.{s.name}.size",
                )

    def species_table(
        self, entry: dict[str, Any], name: str, path: str, species_names: tuple[str, ...]
    ) -> dict[str, float]:
        """A region's species → value table (only the given entries)."""
        if name not in entry:
            return {}
        key = join_key(path, name)
        table = self.table(entry[name], key, "a table species -> value, e.g. { K = 140, Cl = 140 }")
        param = SCHEMA[f"region.<region>.{name}.<species>"]
        out = {}
        for species_name, value in table.items():
            item_key = join_key(key, species_name)
            self.name_in(species_name, species_names, item_key, "species")
            out[species_name] = self.convert(value, param, item_key)
        return out

    def _region_entries(self, raw: dict[str, Any]) -> list:
        """The [[region]] array of tables, checked for shape and count."""
        if "region" not in raw:
            raise self.error(
                "missing; give the regions left to right as [[region]] tables", "region"
            )
        value = raw["region"]
        if isinstance(value, dict):
            raise self.error(
                "write the regions as an array of tables, [[region]] (double brackets), "
                "one per region from left to right",
                "region",
            )
        if not isinstance(value, list) or not value:
            raise self.error("expected one or more [[region]] tables", "region")
        if len(value) > MAX_REGIONS:
            raise self.error(f"{len(value)} regions; at most {MAX_REGIONS} allowed", "region")
        return value

    def _balance(self, region_name, balance, membrane, concentration, fixed_charge, species, key):
        """Set the balancing ion of a bulk region in ``concentration`` (in place)."""
        if membrane:
            raise self.error(
                "only a bulk region (membrane = false) is kept electroneutral; "
                "remove balance from the membrane",
                f"{key}.balance",
            )
        concentration[balance] = self.balanced(
            region_name, balance, concentration, fixed_charge, species, key
        )

    def regions(
        self,
        raw: dict[str, Any],
        species: tuple[Species, ...],
        temperature: float,
        strict: bool,
        only: Collection[str] | None = None,
    ) -> tuple[Region, ...]:
        """The regions, validated; ``only``: validate (and return) just the regions of these names."""
        value = self._region_entries(raw)
        from ..constants import GAS_CONSTANT  # deferred: keeps `import pnp.input` light

        names = tuple(s.name for s in species)
        bulk_d = {s.name: s.D for s in species}
        rt = GAS_CONSTANT * temperature
        prefix = "region.<region>"
        seen: dict[str, int] = {}
        out = []
        for index, entry in enumerate(value):
            # a protocol re-checks only the regions it touches: skip the others
            # before any work (P protocols x R regions would otherwise cost
            # O(P R) table checks; the full pass has validated every entry)
            if only is not None and not (isinstance(entry, dict) and entry.get("name") in only):
                continue
            entry = self.table(entry, f"region[{index}]")
            label = entry.get("name")
            named = isinstance(label, str) and NAME_PATTERN.fullmatch(label) and label not in seen
            key = f"region.{label}" if named else f"region[{index}]"
            self.check_keys(entry, prefix, key)
            region_name = self.get(entry, prefix, "name", key)
            if region_name in seen:
                raise self.error(
                    f"duplicate region name '{region_name}' (regions {seen[region_name]} and "
                    f"{index}); region names must be unique",
                    f"region[{index}].name",
                )
            seen[region_name] = index
            membrane = self.get(entry, prefix, "membrane", key)
            length = self.get(entry, prefix, "length", key)
            thin = thin_membrane(length) if membrane and is_plain(entry["length"]) else None
            if thin is not None:
                self.warn(thin, f"{key}.length")
            eps_r = self.permittivity(entry, membrane, length, key)
            concentration = dict.fromkeys(names, 0.0)
            concentration.update(self.species_table(entry, "concentration", key, names))
            fixed_charge = self.get(entry, prefix, "fixed_charge", key)
            balance = self.get(entry, prefix, "balance", key)
            if balance is not None:
                self._balance(
                    region_name, balance, membrane, concentration, fixed_charge, species, key
                )
            diffusivity = dict(bulk_d)
            diffusivity.update(self.species_table(entry, "D", key, names))
            barrier_given = self.species_table(entry, "barrier", key, names)
            if membrane:
                permeability, barrier = self.membrane_transport(
                    entry, key, names, diffusivity, barrier_given, length, rt
                )
            else:
                if "permeability" in entry:
                    raise self.error(
                        "only membranes have a permeability (set membrane = true, or use "
                        "barrier for a partition offset)",
                        f"{key}.permeability",
                    )
                permeability = {}
                barrier = dict.fromkeys(names, 0.0)
                barrier.update(barrier_given)
                for water_key in ("water_permeability", "stiffness"):
                    if water_key in entry:
                        raise self.error(
                            f"only membranes have a {water_key} (set membrane = true on the "
                            "membrane the water crosses)",
                            f"{key}.{water_key}",
                        )
            if membrane and index in (0, len(value) - 1):
                end = "first (left end)" if index == 0 else "last (right end)"
                raise self.error(
                    f"a membrane cannot be the {end} region of the domain; put a bulk "
                    f"region on each side of it",
                    f"{key}.membrane",
                )
            region = Region(
                name=region_name,
                length=length,
                eps_r=eps_r,
                membrane=membrane,
                concentration=concentration,
                fixed_charge=fixed_charge,
                D=diffusivity,
                barrier=barrier,
                permeability=permeability,
                balance=balance,
                water_permeability=self.get(entry, prefix, "water_permeability", key),
                stiffness=self.get(entry, prefix, "stiffness", key),
            )
            if not membrane:
                self.electroneutrality(region, species, key, strict)
            out.append(region)
        return tuple(out)

    def permittivity(self, entry: dict[str, Any], membrane: bool, length: float, key: str) -> float:
        prefix = "region.<region>"
        if "capacitance" in entry:
            if not membrane:
                raise self.error(
                    "capacitance is only for membranes (membrane = true); give eps_r",
                    f"{key}.capacitance",
                )
            if "eps_r" in entry:
                raise self.error(
                    "give either eps_r or capacitance for a membrane, not both",
                    f"{key}.capacitance",
                )
            from ..constants import VACUUM_PERMITTIVITY

            capacitance = self.get(entry, prefix, "capacitance", key)
            eps_r = capacitance * length / VACUUM_PERMITTIVITY
            if not math.isfinite(eps_r):
                raise self.error(
                    f"{capacitance:g} F/m^2 across {length:g} m gives an infinite eps_r",
                    f"{key}.capacitance",
                )
            if eps_r < 1.0:
                raise self.error(
                    f"{capacitance:g} F/m^2 across {length:g} m gives eps_r = {eps_r:.3g} "
                    "< 1; check the capacitance and the membrane length",
                    f"{key}.capacitance",
                )
            return eps_r
        if "eps_r" not in entry:
            extra = " or capacitance (F/m^2)" if membrane else ""
            raise self.error(
                f"missing; give eps_r (relative permittivity, >= 1){extra}", f"{key}.eps_r"
            )
        return self.get(entry, prefix, "eps_r", key)

    def membrane_transport(
        self,
        entry: dict[str, Any],
        key: str,
        names: tuple[str, ...],
        diffusivity: dict[str, float],
        barrier_given: dict[str, float],
        length: float,
        rt: float,
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Permeability and barrier of every species: P = exp(-ΔG/RT)·D_m/d."""
        permeability_given = self.species_table(entry, "permeability", key, names)
        permeability, barrier = {}, {}
        for name in names:
            d_membrane = diffusivity[name]
            if name in permeability_given and name in barrier_given:
                raise self.error(
                    f"`{name}` has both a permeability and a barrier; give one",
                    f"{key}.barrier.{name}",
                )
            if name in permeability_given:
                p = permeability_given[name]
                if p == 0.0:
                    g = math.inf
                elif d_membrane == 0.0:
                    raise self.error(
                        f"permeability {p:g} m/s needs a nonzero D of `{name}` in the "
                        "membrane (it is 0 here)",
                        f"{key}.permeability.{name}",
                    )
                else:
                    try:
                        g = -rt * math.log(p * length / d_membrane)
                    except ValueError:
                        raise self.error(
                            f"permeability {p:g} m/s is too small to represent",
                            f"{key}.permeability.{name}",
                        ) from None
                    if not math.isfinite(g):
                        raise self.error(
                            f"permeability {p:g} m/s is too large to represent (as a barrier)",
                            f"{key}.permeability.{name}",
                        )
            elif name in barrier_given:
                g = barrier_given[name]
                try:
                    p = math.exp(-g / rt) * d_membrane / length
                except OverflowError:
                    p = math.inf
                if not math.isfinite(p):
                    raise self.error(
                        f"barrier {g:g} J/mol gives an infinite permeability",
                        f"{key}.barrier.{name}",
                    )
            else:
                p, g = 0.0, math.inf  # unlisted: impermeant
            permeability[name] = p
            barrier[name] = g
        return permeability, barrier

    def balanced(
        self,
        region_name: str,
        balance: str,
        concentration: dict[str, float],
        fixed_charge: float,
        species: tuple[Species, ...],
        key: str,
    ) -> float:
        """The concentration of ``balance`` that makes the region electroneutral.

        sum_i z_i c_i + fixed_charge = 0 solved for c_balance, the others as given.
        """
        where = f"{key}.balance"
        valence = {s.name: s.z for s in species}
        self.name_in(balance, valence, where, "species")
        z = valence[balance]
        if z == 0:
            raise self.error(
                f"`{balance}` is uncharged (z = 0) and cannot balance a charge; name a charged species",
                where,
            )
        others = {name: c for name, c in concentration.items() if name != balance}
        rest = fixed_charge + sum(valence[name] * c for name, c in others.items())
        scale = abs(fixed_charge) + sum(abs(valence[name]) * c for name, c in others.items())
        value = -rest / z
        if not (math.isfinite(value) and math.isfinite(scale)):
            raise self.error(
                f"the charge of region '{region_name}' (sum |z|*c) overflows; "
                "the concentrations are far too large",
                where,
            )
        if value < 0.0 and abs(rest) <= 1e-12 * scale:
            value = 0.0  # rounding of an exact cancellation
        if value < 0.0:
            charged = [f"{name} = {c:g}" for name, c in others.items() if c and valence[name]]
            if fixed_charge:
                charged.append(f"fixed_charge = {fixed_charge:g}")
            sign = "a cation" if z < 0 else "an anion"
            raise self.error(
                f"balance = \"{balance}\" cannot make region '{region_name}' electroneutral: "
                f"{', '.join(charged)} (mol/m^3) carry a net charge of {rest:+.6g} mol/m^3, "
                f"which {balance} (z = {z:+d}) would offset only at {value:.6g} mol/m^3 < 0; "
                f"change those values or balance with {sign}",
                where,
            )
        return value + 0.0  # no -0.0

    def electroneutrality(
        self, region: Region, species: tuple[Species, ...], key: str, strict: bool
    ) -> None:
        net = region.fixed_charge
        scale = 0.0
        for s in species:
            c = region.concentration[s.name]
            net += s.z * c
            scale += abs(s.z) * c
        if not (math.isfinite(net) and math.isfinite(scale)):
            raise self.error(
                f"the charge of region '{region.name}' (sum |z|*c) overflows; "
                "the concentrations are far too large",
                f"{key}.concentration",
            )
        if abs(net) > 1e-6 * scale:
            self.complain(
                strict,
                f"region '{region.name}' is not electroneutral: sum z*c + fixed_charge = {net:.6g} "
                f"mol/m^3 (tolerance 1e-6 of sum |z|*c = {scale:.6g}); adjust the concentrations "
                "or fixed_charge",
                f"{key}.concentration",
            )
