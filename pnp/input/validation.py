"""Validation of a whole case: raw input (+ overrides) -> a `Case` in SI units.

Owns the pipeline of `Case.from_dict` and `load_case`::

    input dict ──copy, limits──▶ raw ──overrides──▶ raw' ──CaseReader──▶ Case (SI)

`plain_copy` copies the input as plain data within the nesting limit,
`case_from_data` applies the overrides and the ``strict`` flag, and
`CaseReader` (the section readers together) checks every key and builds
the dataclasses of `pnp.input.case`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .case import Case
from .channels import ChannelReader
from .messages import case_error
from .overrides import apply_override, balanced_refusal
from .protocols import ProtocolReader
from .schema import MAX_DEPTH
from .sections import SectionReader, StateCells, protocol_output_times

__all__ = ["CaseReader", "case_from_data", "plain_copy"]


class CaseReader(ProtocolReader, ChannelReader, SectionReader):
    """Validates one raw case and builds the SI dataclasses."""

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
        self.check_water(regions, inside)
        left, right = self.boundaries(raw, geometry)
        pumps = self.pumps(raw, species, regions)
        channels = self.channels(raw, species, regions)
        mesh = self.mesh(raw)
        graded = None
        if check_protocols:
            # The initial state here, and every state the protocols lead to
            # (`graded`, in `protocols` below), is held to the cell limit once,
            # when the case is loaded; `at_time` builds them without the check.
            cells = self.check_cells(mesh, species, regions, temperature, left, right)
            if mesh.uniform_cells is None:
                graded = StateCells(cells, mesh, species, regions, temperature, left, right)
        run = self.run(raw)
        output = self.output(raw, source)
        expect = self.expect(raw)
        cell = self.cell(raw, geometry, regions)
        stimuli = self.stimuli(raw, left, right, run, strict)
        protocols = ()
        if check_protocols:
            sides = {s.side for s in stimuli}
            protocols = self.protocols(raw, regions, left, right, run, strict, graded, sides)
            if stimuli:
                protocols = self.pulse_protocols(raw, stimuli, left, right, protocols)
        if protocols and run.mode == "transient" and "outputs" not in raw.get("run", {}):
            times = protocol_output_times(run.t_end, [p.at for p in protocols])
            run = dataclasses.replace(run, outputs=times)
        return Case(
            title=title,
            temperature=temperature,
            geometry=geometry,
            inside=inside,
            activity=activity,
            species=species,
            regions=regions,
            left=left,
            right=right,
            pumps=pumps,
            channels=channels,
            mesh=mesh,
            run=run,
            protocols=protocols,
            stimuli=stimuli,
            cell=cell,
            output=output,
            expect=expect,
            strict=strict,
            source=source,
            raw=raw,
        )

    def check_water(self, regions, inside: str) -> None:
        """Water crosses only the first membrane from the inside boundary: the
        one that bounds the inside compartment whose volume it changes."""
        order = list(regions) if inside == "left" else list(reversed(regions))
        first = next((r for r in order if r.membrane), None)
        for r in regions:
            if r.membrane and r is not first and (r.water_permeability or r.stiffness):
                key = "water_permeability" if r.water_permeability else "stiffness"
                raise self.error(
                    f"water crosses only the first membrane from the inside ({inside}) "
                    f"boundary, '{first.name}'; '{r.name}' cannot have a {key}",
                    f"region.{r.name}.{key}",
                )


def case_from_data(
    data: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
    source: str | os.PathLike | None,
    strict: bool | None,
) -> Case:
    file = os.fspath(source) if source is not None else None
    if not isinstance(data, Mapping):
        raise case_error(f"a case is a table (dict), got {type(data).__name__}", file=file)
    raw = plain_copy(data, file, "", 1)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise case_error("overrides must be a dict of dotted key -> value", file=file)
        for key, value in overrides.items():
            if not isinstance(key, str):
                raise case_error(f"override keys are dotted strings, got {key!r}", file=file)
            apply_override(raw, key, plain_copy(value, file, key, 2), file)
        for key in overrides:
            refusal = balanced_refusal(raw, key)
            if refusal:
                raise case_error(refusal, file=file, key=key)
    if strict is not None:
        if not isinstance(strict, bool):
            raise case_error("expected true or false", file=file, key="strict")
        raw["strict"] = strict
    return CaseReader(file).build(raw, file)


def plain_copy(value: Any, file: str | None, key: str, depth: int) -> Any:
    """Deep copy of plain data, refusing deep nesting and foreign objects."""
    if depth > MAX_DEPTH:
        raise case_error(f"nested deeper than {MAX_DEPTH} levels", file=file, key=key or None)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise case_error(f"keys must be strings, got {k!r}", file=file, key=key or None)
            out[k] = plain_copy(v, file, f"{key}.{k}" if key else k, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [plain_copy(v, file, key, depth + 1) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return plain_copy(value.tolist(), file, key, depth)  # numpy arrays and scalars
    return value
