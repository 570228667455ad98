"""Validation of ``[[protocol]]``: piecewise-constant changes during a transient run.

Owns what a protocol may change (`runtime_refusal`: boundary potential,
current and surface charge, held contents next to a reservoir, membrane
transport and water permeability or stiffness, pump rates, channel
permeabilities; not the current of a boundary a ``[[stimulus]]`` drives), the conversion of its values to SI, and the check
that every state the run goes through, protocol after protocol, is itself
a valid case.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from ..errors import CaseError
from .boundaries import BoundaryReader
from .case import Boundary, Protocol, Region, RunSpec
from .overrides import Target, apply_override, balanced_refusal, resolve, split_key
from .regions import RegionReader
from .schema import MAX_CELLS, MAX_PROTOCOLS, SCHEMA
from .sections import StateCells, too_many_cells

__all__ = ["ProtocolReader", "runtime_refusal", "stimulus_refusal"]


class ProtocolReader(RegionReader, BoundaryReader):
    """Reads the protocols; re-checks the regions, boundaries and pumps they change."""

    def protocols(
        self,
        raw: dict[str, Any],
        regions: tuple[Region, ...],
        left: Boundary,
        right: Boundary,
        run: RunSpec,
        strict: bool,
        cells: StateCells | None = None,
        stimulated: Collection[str] = (),
    ) -> tuple[Protocol, ...]:
        """The protocols, sorted by time; every state they lead to is a valid case.

        ``cells`` sizes the graded mesh of each state (None: not graded);
        ``stimulated``: the sides whose current a ``[[stimulus]]`` drives.
        """
        prefix = "protocol.<protocol>"
        parsed: list[tuple[str, float, dict[str, Any]]] = []
        for key, entry in self.entries(raw, "protocol", MAX_PROTOCOLS):
            self.check_keys(entry, prefix, key)
            at = self.get(entry, prefix, "at", key)
            changes = self.table(
                self.get(entry, prefix, "set", key),
                f"{key}.set",
                'a table of dotted key -> value, e.g. { "pump.rate" = 0 }',
            )
            converted = {}
            for path, value in changes.items():
                try:
                    target = resolve(raw, path, None)
                except CaseError as exc:
                    raise self.error(str(exc), f"{key}.set") from None
                reason = (
                    runtime_refusal(target.parts, regions, left, right)
                    or balanced_refusal(raw, target.key)
                    or stimulus_refusal(target.parts, stimulated)
                )
                if reason:
                    raise self.error(
                        f"`{target.key}` cannot change during a run: {reason}", f"{key}.set"
                    )
                converted[target.key] = self.si_value(value, target, f"{key}.set.{target.key}")
            if run.mode == "transient" and run.t_end is not None and at > run.t_end:
                self.complain(
                    strict,
                    f"the protocol at {at:g} s is after run.t_end = {run.t_end:g} s",
                    f"{key}.at",
                )
            parsed.append((key, at, converted))
        parsed.sort(key=lambda item: item[1])  # stable: equal times keep file order
        # Each protocol is a set of overrides applied on top of the previous
        # ones: every state the run goes through must be a valid case. A
        # protocol can change only boundaries, regions and pumps (see
        # `runtime_refusal`), so only those are checked again, and of the
        # regions and pumps only the ones it touches: validating P protocols
        # costs O(P), not O(P x regions). The same holds for the size of each
        # state's graded mesh (`StateCells`), which a transient builds.
        state = copy.deepcopy(raw)
        state.pop("protocol", None)
        checker = type(self)(None)  # the full case reader, without a file
        species = self.species(raw)
        temperature = self.get(raw, "", "temperature", "")
        geometry = self.get(raw, "", "geometry", "")
        for key, at, converted in parsed:
            touched_regions: set[str] = set()
            touched_pumps: set[int] = set()
            touched_channels: set[str] = set()
            for path, value in converted.items():
                apply_override(state, path, value, self.file)
                parts = split_key(path, None)
                if parts[0] == "region":
                    touched_regions.add(parts[1])
                elif parts[0] == "pump":
                    touched_pumps.add(int(parts[1]) if len(parts) == 3 else 0)
                elif parts[0] == "channel":
                    touched_channels.add(parts[1])
            try:
                changed = checker.regions(state, species, temperature, strict, only=touched_regions)
                state_left, state_right = checker.boundaries(state, geometry)
                if touched_pumps:
                    checker.pumps(state, species, regions, only=touched_pumps)
                if touched_channels:
                    checker.channels(state, species, regions, only=touched_channels)
            except CaseError as exc:
                raise self.error(
                    f"the changes at t = {at:g} s make the case invalid: {exc}", f"{key}.set"
                ) from None
            total = cells.after(changed, state_left, state_right) if cells else 0.0
            if total > MAX_CELLS:
                raise self.error(f"at t = {at:g} s {too_many_cells(total)}", f"{key}.set")
        return tuple(Protocol(at=at, set=converted) for _, at, converted in parsed)

    def si_value(self, value: Any, target: Target, key: str) -> Any:
        """A protocol value in SI (a species table stays a table)."""
        if target.param is None:
            table = self.table(value, key)
            param = SCHEMA[f"region.<region>.{target.parts[-1]}.<species>"]
            return {name: self.convert(v, param, f"{key}.{name}") for name, v in table.items()}
        return self.convert(value, target.param, key)


def runtime_refusal(
    parts: list[str], regions: tuple[Region, ...], left: Boundary, right: Boundary
) -> str | None:
    """Why a protocol may not set this path (None: it may)."""
    allowed = (
        "a protocol may set boundary.<side>.potential | current | surface_charge, "
        "region.<name>.concentration.<species> next to a reservoir, "
        "region.<membrane>.permeability | barrier.<species>, "
        "region.<membrane>.water_permeability | stiffness, pump.rate | j_max, "
        "channel.<name>.permeability"
    )
    section = parts[0]
    if section == "boundary" and parts[2] in ("potential", "current", "surface_charge"):
        return None
    if section == "pump" and parts[-1] in ("rate", "j_max"):
        return None
    if section == "channel" and len(parts) == 3 and parts[2] == "permeability":
        return None
    if section == "region":
        index = next(i for i, r in enumerate(regions) if r.name == parts[1])
        region = regions[index]
        if parts[2] == "concentration":
            held = (index == 0 and left.type == "reservoir") or (
                index == len(regions) - 1 and right.type == "reservoir"
            )
            if held:
                return None
            return (
                f"only the contents of a region next to a reservoir boundary are held by the "
                f"boundary; '{region.name}' is not"
            )
        if parts[2] in ("permeability", "barrier", "water_permeability", "stiffness"):
            if region.membrane:
                return None
            return f"'{region.name}' is not a membrane"
    if section == "temperature":
        return "the temperature is fixed for the whole run"
    return allowed


def stimulus_refusal(parts: list[str], stimulated: Collection[str]) -> str | None:
    """Why a protocol may not set this path, a ``[[stimulus]]`` driving it (None: it may)."""
    if parts[0] == "boundary" and parts[1] in stimulated and parts[2] in ("current", "potential"):
        return (
            f"a [[stimulus]] drives the current of boundary.{parts[1]} (its pulses are protocols "
            "on it); give the change as a stimulus, or set this boundary without stimuli"
        )
    return None
