"""Overrides: dotted key paths (``region.bath.concentration.K``) on a raw case input.

Owns the override language shared by ``--set KEY=VALUE``, ``overrides={...}``,
`Case.with_overrides`, `Case.at_time` and ``[[protocol]] set``: parsing a
command-line ``KEY=VALUE`` (`parse_override`), finding where a dotted path
points in the raw input (`resolve`, one resolver per section), and setting
the value there (`apply_override`), dropping the alternative the new value
replaces. Values are checked later, when the raw input is validated.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import CaseError
from .messages import case_error, unknown
from .schema import REGION_TABLES, SCHEMA, SIDES, TOP_LEVEL_SCALARS, Parameter, children

__all__ = [
    "Target",
    "apply_override",
    "balanced_refusal",
    "parse_override",
    "resolve",
    "split_key",
]


def parse_override(text: str) -> tuple[str, Any]:
    """Split a command-line ``KEY=VALUE`` into the key and a value.

    VALUE is read as a TOML value (``0.5``, ``true``, ``[1, 2]``,
    ``"text"``); anything that is not valid TOML is kept as a bare string,
    so ``floating`` and ``5 nm`` work unquoted.

    Raises
    ------
    CaseError
        No ``=``, an empty key, or a line break in the value.
    """
    if "=" not in text:
        raise case_error(f"expected KEY=VALUE, got '{text}'")
    key, value_text = text.split("=", 1)
    key = key.strip()
    value_text = value_text.strip()
    if not key or any(c.isspace() for c in key):
        raise case_error(f"expected KEY=VALUE with a dotted KEY, got '{text}'")
    if "\n" in value_text or "\r" in value_text:
        raise case_error("the value may not contain a line break", key=key)
    try:
        value = tomllib.loads(f"value = {value_text}")["value"]
    except (ValueError, RecursionError):  # not TOML (TOMLDecodeError is a ValueError), too
        value = value_text  # many digits, or nested too deep: a bare string
    return key, value


@dataclass
class Target:
    """Where a dotted override path points in the raw input."""

    key: str  # canonical dotted path
    parts: list[str]  # its parts: section, [entry], field, [species]
    container: dict[str, Any]  # the table that holds the value
    name: str  # the value's key in ``container``
    param: Parameter | None  # schema entry (None: a whole species table)
    entry: dict[str, Any] | None  # the region / boundary / pump table, if any


def split_key(key: str, file: str | None) -> list[str]:
    normal = re.sub(r"\[(\d+)\]", r".\1", key.strip())
    parts = normal.split(".")
    if not normal or any(not part for part in parts):
        raise case_error(
            "not a dotted key path (e.g. `region.bath.concentration.K`)", file=file, key=key
        )
    return parts


@dataclass
class _Path:
    """A dotted path being resolved, with the helpers every section's resolver needs."""

    raw: dict[str, Any]
    key: str
    parts: list[str]
    file: str | None
    create: bool

    def error(self, message: str) -> CaseError:
        return case_error(message, file=self.file, key=self.key)

    def need(self, count: int, form: str) -> None:
        if len(self.parts) != count:
            raise self.error(f"expected a path of the form `{form}`")

    def sub_table(self, table: dict[str, Any], name: str) -> dict[str, Any]:
        """``table[name]``; missing: added (``create``) or an unattached empty table."""
        if name not in table:
            if not self.create:
                return {}
            table[name] = {}
        if not isinstance(table[name], dict):
            raise self.error(f"`{name}` is not a table in the case")
        return table[name]

    def field(self, name: str, prefix: str) -> None:
        """``name`` is a key of the schema table ``prefix``."""
        allowed = children(prefix)
        if name not in allowed:
            raise unknown(name, allowed, self.key, self.file)

    def species(self, name: str) -> None:
        """``name`` is a species of the case."""
        table = self.raw.get("species")
        known = list(table) if isinstance(table, dict) else []
        if name not in known:
            raise unknown(name, known, self.key, self.file, "species")

    def target(
        self,
        container: dict[str, Any],
        name: str,
        param: Parameter | None,
        entry: dict[str, Any] | None,
    ) -> Target:
        return Target(self.key, self.parts, container, name, param, entry)


def resolve(raw: dict[str, Any], key: str, file: str | None, create: bool = False) -> Target:
    """Find the value an override path addresses.

    With ``create``, missing sub-tables (``[mesh]``, a region's
    ``concentration``, ...) are added to ``raw`` so the value can be set;
    without, ``raw`` is left untouched.
    """
    parts = split_key(key, file)
    head = parts[0]
    top = children("")
    if head not in top:
        raise unknown(head, top, key, file)
    if head == "protocol":
        raise case_error("protocols cannot be overridden; edit the case file", file=file, key=key)
    if head in TOP_LEVEL_SCALARS:
        if len(parts) != 1:
            raise case_error(f"`{head}` has no sub-keys", file=file, key=key)
        return Target(head, parts, raw, head, SCHEMA[head], None)
    return _RESOLVERS[head](_Path(raw, key, parts, file, create))


def _resolve_table(path: _Path) -> Target:
    """``mesh.<key>``, ``run.<key>``, ``output.<key>``, ``cell.<key>``."""
    head, parts = path.parts[0], path.parts
    path.need(2, f"{head}.<key>")
    path.field(parts[1], head)
    return path.target(path.sub_table(path.raw, head), parts[1], SCHEMA[f"{head}.{parts[1]}"], None)


def _resolve_expect(path: _Path) -> Target:
    path.need(2, "expect.<name>")
    return path.target(
        path.sub_table(path.raw, "expect"), path.parts[1], SCHEMA["expect.<key>"], None
    )


def _resolve_species(path: _Path) -> Target:
    parts = path.parts
    path.need(3, "species.<name>.<key>")
    path.species(parts[1])
    entry = path.sub_table(path.raw["species"], parts[1])
    path.field(parts[2], "species.<species>")
    return path.target(entry, parts[2], SCHEMA[f"species.<species>.{parts[2]}"], entry)


def _resolve_boundary(path: _Path) -> Target:
    parts = path.parts
    path.need(3, "boundary.<left|right>.<key>")
    if parts[1] not in SIDES:
        raise unknown(parts[1], SIDES, path.key, path.file, "boundary")
    entry = path.sub_table(path.sub_table(path.raw, "boundary"), parts[1])
    path.field(parts[2], "boundary.<side>")
    return path.target(entry, parts[2], SCHEMA[f"boundary.<side>.{parts[2]}"], entry)


def _indexed_entry(path: _Path, section: str, plural: str) -> tuple[dict[str, Any], str]:
    """``<section>.<key>`` (the only entry) or ``<section>.<index>.<key>``: (entry, key)."""
    parts = path.parts
    value = path.raw.get(section)
    entries = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    if not entries:
        raise path.error(f"the case has no [{section}]")
    if len(parts) == 2:
        if len(entries) != 1:
            raise path.error(
                f"the case has {len(entries)} {plural}: address one as "
                f"`{section}.<index>.{parts[1]}` (from 0)"
            )
        entry, name = entries[0], parts[1]
    else:
        path.need(3, f"{section}.<key> or {section}.<index>.<key>")
        if not parts[1].isdigit() or int(parts[1]) >= len(entries):
            raise path.error(
                f"no {section} `{parts[1]}`; {plural} are numbered 0 to {len(entries) - 1}"
            )
        entry, name = entries[int(parts[1])], parts[2]
    if not isinstance(entry, dict):
        raise path.error(f"the {section} entry is not a table")
    return entry, name


def _resolve_pump(path: _Path) -> Target:
    """``pump.<key>`` (the only pump) or ``pump.<index>.<key>``."""
    entry, name = _indexed_entry(path, "pump", "pumps")
    path.field(name, "pump.<pump>")
    return path.target(entry, name, SCHEMA[f"pump.<pump>.{name}"], entry)


def _resolve_stimulus(path: _Path) -> Target:
    """``stimulus.<key>`` (the only stimulus) or ``stimulus.<index>.<key>``."""
    entry, name = _indexed_entry(path, "stimulus", "stimuli")
    path.field(name, "stimulus.<stimulus>")
    return path.target(entry, name, SCHEMA[f"stimulus.<stimulus>.{name}"], entry)


#: A gate's exponent, ``channel.<name>.gates.<gate>`` (the schema lists the whole table).
_GATE_EXPONENT = Parameter(
    "channel.<channel>.gates.<gate>", "int", "-", None, "Exponent of a gate.", minimum=1
)
#: ``channel.<name>.rates...`` above a single number: a table.
_RATE_TABLE = Parameter("channel.<channel>.rates", "table", "-", None, "Rates of the gates.")


def _resolve_channel(path: _Path) -> Target:
    """``channel.<name>.<key>``, ``channel.<name>.gates.<gate>`` or
    ``channel.<name>.rates.<gate>[.<alpha|beta>[.<form|rate|v_half|slope>]]``."""
    parts = path.parts
    if len(parts) < 3:
        raise path.error("expected `channel.<name>.<key>`")
    value = path.raw.get("channel")
    entries = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    by_name = {
        e["name"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)
    }
    if parts[1] not in by_name:
        raise unknown(parts[1], list(by_name), path.key, path.file, "channel")
    entry = by_name[parts[1]]
    path.field(parts[2], "channel.<channel>")
    if parts[2] == "gates" and len(parts) > 3:
        path.need(4, "channel.<name>.gates.<gate>")
        return path.target(path.sub_table(entry, "gates"), parts[3], _GATE_EXPONENT, entry)
    if parts[2] == "rates":
        if len(parts) > 6:
            raise path.error("expected `channel.<name>.rates.<gate>.<alpha|beta>.<key>`")
        container = entry
        for name in parts[2:-1]:
            container = path.sub_table(container, name)
        if len(parts) == 6:
            if parts[4] not in ("alpha", "beta"):
                raise unknown(parts[4], ("alpha", "beta"), path.key, path.file)
            path.field(parts[5], "channel.<channel>.rates.<gate>.<rate>")
            param = SCHEMA[f"channel.<channel>.rates.<gate>.<rate>.{parts[5]}"]
            return path.target(container, parts[-1], param, entry)
        return path.target(container, parts[-1], _RATE_TABLE, entry)
    path.need(3, "channel.<name>.<key>")
    return path.target(entry, parts[2], SCHEMA[f"channel.<channel>.{parts[2]}"], entry)


def _resolve_region(path: _Path) -> Target:
    """``region.<name>.<key>``, or ``region.<name>.<table>[.<species>]`` for a species table."""
    parts = path.parts
    if len(parts) < 3:
        raise path.error("expected `region.<name>.<key>`")
    regions = path.raw.get("region") if isinstance(path.raw.get("region"), list) else []
    by_name = {
        r["name"]: r for r in regions if isinstance(r, dict) and isinstance(r.get("name"), str)
    }
    if parts[1] not in by_name:
        raise unknown(
            parts[1], [n for n in by_name if isinstance(n, str)], path.key, path.file, "region"
        )
    entry = by_name[parts[1]]
    path.field(parts[2], "region.<region>")
    if parts[2] in REGION_TABLES:
        if len(parts) == 3:
            return path.target(entry, parts[2], None, entry)
        path.need(4, f"region.<name>.{parts[2]}.<species>")
        path.species(parts[3])
        return path.target(
            path.sub_table(entry, parts[2]),
            parts[3],
            SCHEMA[f"region.<region>.{parts[2]}.<species>"],
            entry,
        )
    path.need(3, "region.<name>.<key>")
    return path.target(entry, parts[2], SCHEMA[f"region.<region>.{parts[2]}"], entry)


# Section -> its resolver (the top-level scalars and `protocol` are handled in `resolve`).
_RESOLVERS: dict[str, Callable[[_Path], Target]] = {
    "mesh": _resolve_table,
    "run": _resolve_table,
    "output": _resolve_table,
    "cell": _resolve_table,
    "expect": _resolve_expect,
    "species": _resolve_species,
    "boundary": _resolve_boundary,
    "pump": _resolve_pump,
    "region": _resolve_region,
    "channel": _resolve_channel,
    "stimulus": _resolve_stimulus,
}


def apply_override(raw: dict[str, Any], key: str, value: Any, file: str | None) -> None:
    """Set one dotted ``key`` in ``raw``; the value is checked when ``raw`` is validated.

    Setting one of two alternatives drops the other, so that the override
    replaces what the file said: a wall's potential ↔ surface_charge, a
    reservoir's numeric potential ↔ current (``current`` makes it floating),
    a membrane's permeability ↔ barrier of a species and eps_r ↔
    capacitance, a pump's rate ↔ j_max/K_Na/K_K, the cell's area ↔ capacitance.
    """
    target = resolve(raw, key, file, create=True)
    entry, name = target.entry, target.name
    if target.param is None and not isinstance(value, dict):
        raise case_error(
            f"expected a table species -> value for `{name}`", file=file, key=target.key
        )
    target.container[name] = value
    if target.parts[0] == "cell" and name in ("area", "capacitance"):
        target.container.pop("capacitance" if name == "area" else "area", None)
    drop = _DROP_ALTERNATIVE.get(target.parts[0])
    if entry is not None and drop is not None:
        drop(entry, target, value)


def balanced_refusal(raw: dict[str, Any], key: str) -> str | None:
    """Why ``key`` may not be set in ``raw``: a concentration its region's ``balance`` computes.

    ``region.bath.concentration.Cl`` with ``balance = "Cl"`` in the bath
    would be replaced by the balanced value; refused rather than ignored.
    None: nothing against it (a whole ``concentration`` table is allowed; its
    balanced species' value is replaced like the file's).
    """
    parts = re.sub(r"\[(\d+)\]", r".\1", key.strip()).split(".")
    if len(parts) != 4 or parts[0] != "region" or parts[2] != "concentration":
        return None
    regions = raw.get("region")
    for entry in regions if isinstance(regions, list) else []:
        if isinstance(entry, dict) and entry.get("name") == parts[1]:
            if entry.get("balance") == parts[3]:
                return (
                    f"region '{parts[1]}' has balance = \"{parts[3]}\": its {parts[3]} is "
                    "computed to keep the region electroneutral; set another ion, or another "
                    "balance"
                )
    return None


def _drop_boundary(entry: dict[str, Any], target: Target, value: Any) -> None:
    kind, name = entry.get("type"), target.name
    if name == "potential":
        if kind == "wall":
            entry.pop("surface_charge", None)
        elif value != "floating":
            entry.pop("current", None)
    elif name == "surface_charge":
        entry.pop("potential", None)
    elif name == "current" and kind == "reservoir":
        entry["potential"] = "floating"
    elif name == "type":
        entry.pop("surface_charge" if value == "reservoir" else "current", None)


def _drop_region(entry: dict[str, Any], target: Target, value: Any) -> None:
    other = {
        "permeability": "barrier",
        "barrier": "permeability",
        "eps_r": "capacitance",
        "capacitance": "eps_r",
    }.get(target.parts[2])
    if other in ("eps_r", "capacitance"):
        entry.pop(other, None)
    elif other is not None and entry.get("membrane") is True:
        dropped = entry.get(other)
        if isinstance(dropped, dict):
            for species in value if target.param is None else {target.name: None}:
                dropped.pop(species, None)


def _drop_pump(entry: dict[str, Any], target: Target, value: Any) -> None:
    if target.name == "rate":
        for saturating in ("j_max", "K_Na", "K_K"):
            entry.pop(saturating, None)
    elif target.name in ("j_max", "K_Na", "K_K"):
        entry.pop("rate", None)


# Section -> how setting one of its keys drops the alternative it replaces.
_DROP_ALTERNATIVE: dict[str, Callable[[dict[str, Any], Target, Any], None]] = {
    "boundary": _drop_boundary,
    "region": _drop_region,
    "pump": _drop_pump,
}
