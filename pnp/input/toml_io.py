"""Case files as TOML: reading one (with its size and format limits) and writing a case back.

Owns the file side of a case: `read_case_file` turns a path into the
parsed table (at most `MAX_FILE_BYTES`, UTF-8, valid TOML; every failure a
one-line `CaseError` naming the file), `case_to_dict` writes a `Case` back
as plain SI data (the content of `Case.to_dict` / `Case.to_toml`), and
`dump_toml` lays that out like a hand-written case file.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from typing import TYPE_CHECKING, Any

from .messages import case_error
from .schema import MAX_DEPTH, MAX_FILE_BYTES, children

if TYPE_CHECKING:
    from .case import Boundary, Case, Channel, Region

__all__ = ["case_to_dict", "dump_toml", "read_case_file"]


def read_case_file(file: str) -> dict[str, Any]:
    """The parsed TOML table of the case file ``file``.

    Raises
    ------
    CaseError
        Unreadable file, larger than `MAX_FILE_BYTES`, not UTF-8, or invalid
        TOML (with line and column).
    """
    try:
        size = os.path.getsize(file)
        if size > MAX_FILE_BYTES:
            raise case_error(
                f"file is {size} bytes; case files are limited to {MAX_FILE_BYTES} bytes", file=file
            )
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise case_error(f"cannot read the case file: {exc.strerror or exc}", file=file) from None
    if len(data) > MAX_FILE_BYTES:
        raise case_error(f"case files are limited to {MAX_FILE_BYTES} bytes", file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise case_error(f"not UTF-8 text (byte {exc.start})", file=file) from None
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise case_error(f"invalid TOML: {exc}", file=file) from None
    except ValueError as exc:
        # tomllib lets Python's limit on integer digits (4300) through as a
        # plain ValueError, whose advice (sys.set_int_max_str_digits) is not
        # for users.
        raise case_error(f"invalid TOML: {str(exc).split(';')[0]}", file=file) from None
    except RecursionError:
        raise case_error(
            f"invalid TOML: nested deeper than {MAX_DEPTH} levels", file=file
        ) from None
    return parsed


def _given_forms(case: Case, region_name: str) -> dict[str, str]:
    """Species → "permeability" | "barrier": how the input gave a membrane's transport."""
    regions = case.raw.get("region", []) if case.raw else []
    for entry in regions:
        if isinstance(entry, dict) and entry.get("name") == region_name:
            forms = {}
            for form in ("permeability", "barrier"):
                if isinstance(entry.get(form), dict):
                    forms.update(dict.fromkeys(entry[form], form))
            return forms
    return {}


def case_to_dict(case: Case) -> dict[str, Any]:
    """``case`` as plain data in SI numbers, laid out like a case file."""
    out: dict[str, Any] = {
        "title": case.title,
        "temperature": case.temperature,
        "geometry": case.geometry,
        "inside": case.inside,
        "activity": case.activity,
        "strict": case.strict,
        "species": {},
        "region": [],
        "boundary": {},
    }
    bulk_d = {}
    for s in case.species:
        entry: dict[str, Any] = {"z": s.z, "D": s.D}
        if s.size is not None:
            entry["size"] = s.size
        out["species"][s.name] = entry
        bulk_d[s.name] = s.D
    out["region"] = [_region_dict(case, r, bulk_d) for r in case.regions]
    out["boundary"] = {b.side: _boundary_dict(b) for b in (case.left, case.right)}
    pumps = []
    for pump in case.pumps:
        entry = {"membrane": pump.membrane}
        for name in ("rate", "j_max", "K_Na", "K_K"):
            if getattr(pump, name) is not None:
                entry[name] = getattr(pump, name)
        entry["sodium"] = pump.sodium
        entry["potassium"] = pump.potassium
        pumps.append(entry)
    if len(pumps) == 1:
        out["pump"] = pumps[0]
    elif pumps:
        out["pump"] = pumps
    if case.channels:
        out["channel"] = [_channel_dict(c) for c in case.channels]
    out["mesh"] = {
        name: getattr(case.mesh, name)
        for name in children("mesh")
        if getattr(case.mesh, name) is not None
    }
    run = {
        name: getattr(case.run, name)
        for name in children("run")
        if getattr(case.run, name) is not None
    }
    if isinstance(run["outputs"], tuple):
        run["outputs"] = list(run["outputs"])
    out["run"] = run
    # the stimuli's pulses are protocols on the current of the boundary each
    # drives, a key no [[protocol]] may set: written back as the stimuli
    driven = {f"boundary.{s.side}.current" for s in case.stimuli}
    protocols = [p for p in case.protocols if not driven.intersection(p.set)]
    if protocols:
        out["protocol"] = [{"at": p.at, "set": copy.deepcopy(p.set)} for p in protocols]
    if case.stimuli:
        out["stimulus"] = [
            {
                name: getattr(s, name)
                for name in children("stimulus.<stimulus>")
                if getattr(s, name) is not None
            }
            for s in case.stimuli
        ]
    cell = {name: getattr(case.cell, name) for name in children("cell")}
    if any(value is not None for value in cell.values()):
        out["cell"] = {name: value for name, value in cell.items() if value is not None}
    output: dict[str, Any] = {"plot": case.output.plot}
    if case.output.path is not None:
        output["path"] = case.output.path
    out["output"] = output
    if case.expect:
        out["expect"] = dict(case.expect)
    return out


def _channel_dict(c: Channel) -> dict[str, Any]:
    """One ``[[channel]]`` table in SI; rates only where they are not the built-in ones."""
    from ..discretisation.gates import HODGKIN_HUXLEY  # deferred: imports numpy
    from .channels import rate_to_si

    built_in = HODGKIN_HUXLEY if c.kinetics == "hodgkin-huxley" else {}
    rates = {}
    for gate, pair in c.rates.items():
        given = {
            name: rate_to_si(rate)
            for name, rate, default in zip(
                ("alpha", "beta"), pair, built_in.get(gate, (None, None)), strict=True
            )
            if rate != default
        }
        if given:
            rates[gate] = given
    entry: dict[str, Any] = {
        "name": c.name,
        "membrane": c.membrane,
        "species": c.species,
        "permeability": c.permeability,
        "gates": dict(c.gates),
        "kinetics": c.kinetics,
        "q10": c.q10,
        "reference_temperature": c.reference_temperature,
    }
    if rates:
        entry["rates"] = rates
    return entry


def _region_dict(case: Case, r: Region, bulk_d: dict[str, float]) -> dict[str, Any]:
    """One ``[[region]]`` table: D only where it differs from the species' bulk D."""
    entry: dict[str, Any] = {
        "name": r.name,
        "membrane": r.membrane,
        "length": r.length,
        "eps_r": r.eps_r,
        "concentration": dict(r.concentration),
        "fixed_charge": r.fixed_charge,
    }
    if r.balance is not None:
        entry["balance"] = r.balance
    d_changed = {n: d for n, d in r.D.items() if d != bulk_d.get(n)}
    if d_changed:
        entry["D"] = d_changed
    if r.membrane:
        entry.update(_membrane_transport(case, r))
        for key in ("water_permeability", "stiffness"):
            if getattr(r, key):
                entry[key] = getattr(r, key)
    else:
        offsets = {n: g for n, g in r.barrier.items() if g != 0.0}
        if offsets:
            entry["barrier"] = offsets
    return entry


def _membrane_transport(case: Case, r: Region) -> dict[str, dict[str, float]]:
    """A membrane's ``permeability`` and ``barrier`` tables (only the non-empty ones).

    Each species is written the way it was given, so that the conversion
    P <-> barrier runs in the same direction when loaded back and the
    numbers agree to the last bit.
    """
    forms = _given_forms(case, r.name)
    permeability, barrier = {}, {}
    for name in r.permeability:
        form = forms.get(name)
        if form is None:
            if r.permeability[name] > 0:
                form = "permeability"
            elif math.isfinite(r.barrier.get(name, math.inf)):
                form = "barrier"
        if form == "permeability":
            permeability[name] = r.permeability[name]
        elif form == "barrier" and math.isfinite(r.barrier[name]):
            barrier[name] = r.barrier[name]
    tables = {"permeability": permeability, "barrier": barrier}
    return {name: table for name, table in tables.items() if table}


def _boundary_dict(b: Boundary) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": b.type}
    if b.type == "wall":
        if b.potential is None:
            entry["surface_charge"] = b.surface_charge
        else:
            entry["potential"] = b.potential
    elif b.potential is None:
        entry["potential"] = "floating"
        entry["current"] = b.current
    else:
        entry["potential"] = b.potential
    return entry


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text of a case dict, laid out like a hand-written case file.

    tomli_w formats the values; the layout is ours, because tomli_w writes a
    species table inside ``[[region]]`` as a separate ``[region.concentration]``
    section, which is valid but reads as if it were a new region.
    """
    import tomli_w  # deferred: only needed when writing

    def key(name: str) -> str:
        return tomli_w.dumps({name: 0}).rsplit(" = ", 1)[0]

    def value(item: Any) -> str:
        if isinstance(item, dict):
            if not item:
                return "{}"
            return "{ " + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + " }"
        return tomli_w.dumps({"v": item})[len("v = ") :].rstrip("\n")

    def table(header: str | None, items: dict[str, Any]) -> None:
        if header:
            lines.extend(["", header])
        lines.extend(f"{key(k)} = {value(v)}" for k, v in items.items())

    lines = ["# pnp case, resolved: plain numbers in SI units (m, s, V, K, mol/m^3, J/mol, ...)"]
    sections = []
    top = {}
    for name, item in data.items():
        if isinstance(item, dict) or (
            isinstance(item, list) and item and isinstance(item[0], dict)
        ):
            sections.append(name)
        else:
            top[name] = item
    table(None, top)
    for name in sections:
        item = data[name]
        if isinstance(item, list):
            for entry in item:
                table(f"[[{key(name)}]]", entry)
        elif item and all(isinstance(v, dict) for v in item.values()):
            for sub, entry in item.items():
                table(f"[{key(name)}.{key(sub)}]", entry)
        else:
            table(f"[{key(name)}]", item)
    return "\n".join(lines) + "\n"
