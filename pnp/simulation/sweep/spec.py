"""Sweep parameters: SPEC strings, value lists, the grid of points and their validation.

Owns the step from what the user gives (``{"dotted.key": "a:b:n" or a list}``)
to one validated :class:`~pnp.input.case.Case` per point, and the resolved
(SI) value of every swept key at every point (the parameter columns of the
summary). Nothing here runs a point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import CaseError

builtins_zip = zip  # `zip` is also a parameter of `point_overrides`

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


# ---------------------------------------------------------------------------
# Parameter specs and points
# ---------------------------------------------------------------------------


def parse_spec(text: str) -> list[Any]:
    """Values of one swept parameter from a SPEC string.

    ``a:b:n``
        n values from a to b, evenly spaced, both ends included.
    ``log:a:b:n``
        n values from a to b, evenly spaced in log (a, b non-zero, same sign).
    ``v1,v2,...``
        the values given, each read as a TOML value (``0.5``, ``"floating"``)
        or, failing that, a bare string (``5 nm``, ``floating``).
    ``v``
        one value.

    The ends of a range may carry a unit, the same at both ends
    (``"-100 mV:60 mV:17"``); the values are then strings with that unit,
    which the case converts like any other override. A range of integers
    (``"4:16:4"``) whose values are all integral gives ints.

    Raises
    ------
    CaseError
        Malformed SPEC.
    """
    if not isinstance(text, str):
        raise CaseError(f"a SPEC is a string, got {type(text).__name__}")
    spec = text.strip()
    if not spec:
        raise CaseError("empty SPEC; expected a:b:n, log:a:b:n or v1,v2,...")
    if "," in spec:
        items = [item.strip() for item in spec.split(",")]
        if not all(items):
            raise CaseError(f"SPEC '{text}': empty item in the list v1,v2,...")
        return [_value(item) for item in items]
    head, _, rest = spec.partition(":")
    if head.strip().lower() == "log" and rest:
        return _range(rest, text, log=True)
    if ":" in spec:
        return _range(spec, text, log=False)
    return [_value(spec)]


def _value(text: str) -> Any:
    from ...input.overrides import parse_override

    return parse_override(f"value={text}")[1]


def _range(body: str, text: str, log: bool) -> list[Any]:
    import re

    form = "log:a:b:n" if log else "a:b:n"
    parts = [part.strip() for part in body.split(":")]
    if len(parts) != 3:
        raise CaseError(f"SPEC '{text}': expected {form}")
    ends = []
    for part in parts[:2]:
        match = re.fullmatch(rf"\s*({_NUMBER})\s*(.*?)\s*", part)
        if match is None:
            raise CaseError(f"SPEC '{text}': '{part}' is not a number (with an optional unit)")
        ends.append((match.group(1), match.group(2)))
    (a_text, a_unit), (b_text, b_unit) = ends
    if a_unit != b_unit:
        raise CaseError(
            f"SPEC '{text}': give both ends the same unit "
            f"(got '{a_unit or 'none'}' and '{b_unit or 'none'}')"
        )
    if not re.fullmatch(r"\d+", parts[2]):
        raise CaseError(f"SPEC '{text}': the count n must be a positive integer, got '{parts[2]}'")
    n = int(parts[2])
    a, b = float(a_text), float(b_text)
    if n < 1 or (n == 1 and a != b):
        raise CaseError(f"SPEC '{text}': n must be at least 2 (or 1 with a == b)")
    if not (math.isfinite(a) and math.isfinite(b)):
        raise CaseError(f"SPEC '{text}': the ends must be finite")
    if log:
        if a == 0 or b == 0 or (a < 0) != (b < 0):
            raise CaseError(f"SPEC '{text}': a log range needs non-zero ends of the same sign")
        values = np.geomspace(a, b, n)
        values[0], values[-1] = a, b  # exact ends
    else:
        values = np.linspace(a, b, n)
    integral = (
        not log
        and re.fullmatch(r"[+-]?\d+", a_text)
        and re.fullmatch(r"[+-]?\d+", b_text)
        and all(float(v).is_integer() for v in values)
    )
    out: list[Any] = [int(v) if integral else float(v) for v in values]
    if a_unit:
        out = [f"{v!r} {a_unit}" for v in out]
    return out


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``KEY=SPEC`` (the ``--param`` option) → ``(key, values)``."""
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key or any(c.isspace() for c in key):
        raise CaseError(f"expected --param KEY=SPEC with a dotted KEY, got '{text}'")
    return key, parse_spec(spec)


def _values(key: str, values: Any) -> list[Any]:
    if isinstance(values, str):
        values = parse_spec(values)
    elif isinstance(values, np.ndarray):
        values = values.reshape(-1).tolist()
    elif not isinstance(values, Sequence) or isinstance(values, bytes | bytearray):
        try:
            values = list(values)
        except TypeError:
            raise CaseError(
                f"sweep values must be a sequence or a SPEC string, got {type(values).__name__}",
                key=key,
            ) from None
    out = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not out:
        raise CaseError("no values to sweep", key=key)
    return out


def zip_groups(keys: Sequence[str], zip: Any) -> list[tuple[str, ...]]:
    """The zip groups of a sweep over ``keys``, each a tuple of full keys.

    ``zip``: False or None (a grid, no groups), True (one group of every
    key, as before groups existed), or a sequence of groups, each a
    sequence of keys or one comma-separated string (``"K,Cl"``); a string
    alone is one group. A key is named in full or by a dotted suffix that
    ends exactly one swept key (``Cl`` for ``region.bath.concentration.Cl``).

    Raises
    ------
    CaseError
        A name matching no swept key or several, a group of one key, a key
        in two groups.
    """
    if zip is None or zip is False:
        return []
    if zip is True:
        return [tuple(keys)]
    if isinstance(zip, str):
        zip = [zip]
    if not isinstance(zip, Sequence):
        raise CaseError(f"zip is True, False or a list of groups of keys, got {type(zip).__name__}")
    groups: list[tuple[str, ...]] = []
    owner: dict[str, int] = {}
    for group in zip:
        if isinstance(group, str):
            names = [name.strip() for name in group.split(",")]
        elif isinstance(group, Sequence):
            names = list(group)
        else:
            raise CaseError(f"a zip group is a list of keys or 'KEY1,KEY2', got {group!r}")
        full = tuple(_swept_key(name, keys) for name in names)
        if len(full) < 2:
            raise CaseError(f"zip group {group!r}: pair two or more swept keys")
        for key in full:
            if key in owner:
                where = "twice in it" if owner[key] == len(groups) else "in two zip groups"
                raise CaseError(f"zip group {group!r}: {key} is {where}")
            owner[key] = len(groups)
        groups.append(tuple(sorted(full, key=list(keys).index)))  # in sweep order
    return groups


def _swept_key(name: Any, keys: Sequence[str]) -> str:
    """The swept key ``name`` means: itself, or the one key it is a dotted suffix of."""
    if not isinstance(name, str) or not name.strip():
        raise CaseError(f"zip groups name swept keys, got {name!r}")
    name = name.strip()
    if name in keys:
        return name
    matches = [key for key in keys if key.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CaseError(f"zip: `{name}` ends several swept keys ({', '.join(matches)}); say which")
    raise CaseError(f"zip: `{name}` is not a swept key; swept: {', '.join(keys)}")


def axis_count(keys: Sequence[str], groups: Sequence[tuple[str, ...]]) -> int:
    """The dimension of the sweep: each zip group and each other key is one axis."""
    return len(keys) - sum(len(group) - 1 for group in groups)


def point_overrides(params: Mapping[str, Any], zip: Any = False) -> list[dict[str, Any]]:
    """The override dict of every point, in sweep order.

    A Cartesian grid whose axes are the zip groups (the i-th values of
    their keys together; equal lengths required) and the keys in no group;
    an axis sits where its first key is in ``params``, and the first axis
    varies slowest. ``zip``: see :func:`zip_groups` (True: every key in one
    group, a path instead of a grid).
    """
    if not isinstance(params, Mapping) or not params:
        raise CaseError("a sweep needs at least one parameter: {dotted key: values}")
    keys = list(params)
    for key in keys:
        if not isinstance(key, str) or not key.strip():
            raise CaseError(f"sweep parameters are dotted keys, got {key!r}")
    values = {key: _values(key, params[key]) for key in keys}
    groups = zip_groups(keys, zip)
    group_of = {key: group for group in groups for key in group}
    axes: list[list[dict[str, Any]]] = []
    for key in keys:
        group = group_of.get(key, (key,))
        if group[0] != key:
            continue  # a later key of a group: on its first key's axis
        lengths = {k: len(values[k]) for k in group}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise CaseError(f"zipped parameters need equal numbers of values ({detail})")
        columns = builtins_zip(*(values[k] for k in group))
        axes.append([dict(builtins_zip(group, row)) for row in columns])
    points = []
    for parts in itertools.product(*axes):
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(part)
        points.append({key: merged[key] for key in keys})
    return points


def _describe(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _validate(case, points: list[dict[str, Any]]) -> list:
    """Every point's case, or a CaseError naming the first bad point and key."""
    cases = []
    for index, point in enumerate(points):
        try:
            cases.append(case.with_overrides(point))
        except CaseError as exc:
            error = CaseError(f"sweep point {index} ({_describe(point)}): {exc}")
            error.file, error.key = exc.file, exc.key
            raise error from None
    return cases


def _resolved(tree: Any, key: str) -> Any:
    """The value at dotted ``key`` in a resolved case dict (None if not found).

    Lists (regions, pumps) are entered by name, by index, or, holding a single
    entry, directly.
    """
    node = tree
    for part in key.split("."):
        while True:
            if isinstance(node, dict):
                if part not in node:
                    return None
                node = node[part]
                break
            if isinstance(node, list):
                named = [e for e in node if isinstance(e, dict) and e.get("name") == part]
                if named:
                    node = named[0]
                    break
                if part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                    break
                if len(node) == 1:
                    node = node[0]
                    continue
            return None
    return node


def _point_values(point: Mapping[str, Any], point_case) -> dict[str, Any]:
    """The value of every swept key of ``point`` as ``point_case`` resolved it (SI).

    A key whose resolved value is not a plain scalar keeps the value given.
    """
    resolved = point_case.to_dict()
    values = {}
    for key, given in point.items():
        value = _resolved(resolved, key)
        values[key] = value if isinstance(value, int | float | str | bool) else given
    return values
