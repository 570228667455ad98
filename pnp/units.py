"""Numbers with units: ``"5 nm"``, ``"37 degC"``, ``"140 mM"`` → SI floats.

Case files give plain numbers in SI or strings with a unit. This module turns
such a string into a float in the SI unit of the key it belongs to, via pint.
The pint registry is created on first use only, so ``import pnp`` stays fast.

Only the form ``NUMBER UNIT`` is accepted, and the unit expression is checked
against a small grammar before pint sees it: pint evaluates powers of numbers
exactly, so an input such as ``"1 m^10^10^10"`` would otherwise hang the
loader.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

__all__ = ["UNIT_KINDS", "UnitParseError", "describe_unit", "registry", "to_si"]

#: SI unit string (as written in the case-file reference) → what it measures.
UNIT_KINDS: dict[str, str] = {
    "m": "a length",
    "s": "a time",
    "K": "a temperature",
    "V": "a potential",
    "mol/m^3": "a concentration",
    "m^2/s": "a diffusivity",
    "m/s": "a permeability (a velocity)",
    "A/m^2": "a current density",
    "C/m^2": "a surface charge density",
    "F/m^2": "a capacitance per area",
    "J/mol": "a molar energy",
    "mol/m^2/s": "a molar flux density",
}

# Longest unit expression we accept; real ones are below 20 characters.
_MAX_UNIT_CHARS = 64
_NUMBER_UNIT = re.compile(
    r"\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>.*?)\s*"
)
_NAME = r"[A-Za-zµμΩ°_]+"
_EXPONENT = r"(?:\^|\*\*)\s*[+-]?\d{1,2}(?:\.\d{1,3})?"
# One factor: a unit name or a parenthesised group, optionally raised to a
# small power. Parentheses are checked separately for balance.
_UNIT_TOKENS = re.compile(rf"\s*(?:{_NAME}|\(|\)|{_EXPONENT}|\*|/)")
_registry = None


class UnitParseError(ValueError):
    """A value could not be read as a number with a unit of the right kind."""


def registry():
    """Return the package's pint ``UnitRegistry`` (created on first call)."""
    global _registry
    if _registry is None:
        import pint  # deferred: building the registry takes ~0.3 s

        _registry = pint.UnitRegistry()
    return _registry


def describe_unit(unit: str) -> str:
    """Say what an SI unit string measures, e.g. ``"a length (m)"``."""
    kind = UNIT_KINDS.get(unit)
    return f"{kind} ({unit})" if kind else f"a quantity in {unit}"


def _check_unit_grammar(text: str, unit: str) -> None:
    if len(unit) > _MAX_UNIT_CHARS:
        raise UnitParseError(f"'{text}': unit expression too long")
    position = 0
    depth = 0
    previous = ""
    while position < len(unit):
        match = _UNIT_TOKENS.match(unit, position)
        if match is None or match.end() == position:
            raise UnitParseError(
                f"'{text}' is not a number followed by a unit (cannot read '{unit[position:]}')"
            )
        token = match.group().strip()
        is_power = token.startswith(("^", "**"))
        if is_power and not (previous == ")" or re.fullmatch(_NAME, previous)):
            # "m^2^3" or "^2" alone: pint would evaluate numeric powers.
            raise UnitParseError(f"'{text}': a power must follow a unit name")
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0:
                raise UnitParseError(f"'{text}': unbalanced parentheses in the unit")
        previous = token
        position = match.end()
    if depth != 0:
        raise UnitParseError(f"'{text}': unbalanced parentheses in the unit")


def _clean(value: float) -> float:
    # pint's conversion factors leave round-off in the last digit
    # (140 mM -> 139.99999999999997); 15 significant digits are far beyond
    # any physical input and give the numbers the user meant.
    return float(f"{value:.15g}")


@functools.lru_cache(maxsize=4096)
def to_si(text: str, unit: str) -> float:
    """Convert ``text`` (``"NUMBER UNIT"``) to a float in the SI ``unit``.

    Parameters
    ----------
    text : str
        For example ``"5 nm"``, ``"37 degC"``, ``"1 uF/cm^2"``.
    unit : str
        Target SI unit, a key of `UNIT_KINDS` (or any pint unit string).

    Returns
    -------
    float
        The value in ``unit``; finite.

    Raises
    ------
    UnitParseError
        The text is not a number with a unit, the unit is unknown, or it has
        the wrong dimension. The message is one line.
    """
    match = _NUMBER_UNIT.fullmatch(text)
    if match is None:
        raise UnitParseError(
            f"'{text}' is not a number followed by a unit; expected {describe_unit(unit)}, "
            f"e.g. a plain number in {unit}"
        )
    number = float(match["number"])
    unit_text = match["unit"]
    if not unit_text:
        raise UnitParseError(
            f"'{text}' has no unit; give a plain number for {unit} or add a unit, "
            f"expected {describe_unit(unit)}"
        )
    _check_unit_grammar(text, unit_text)
    ureg = registry()
    try:
        given = ureg.parse_units(unit_text)
    except Exception as exc:  # pint raises several unrelated types
        raise UnitParseError(f"'{text}': unknown unit '{unit_text}' ({exc})") from None
    target = ureg.parse_units(unit)
    if given.dimensionality != target.dimensionality:
        raise UnitParseError(
            f"'{text}' has units of {given}{_kind_of(given)}, expected {describe_unit(unit)}"
        )
    try:
        value = ureg.Quantity(number, given).to(target).magnitude
    except Exception as exc:
        raise UnitParseError(f"'{text}' cannot be converted to {unit} ({exc})") from None
    value = float(value)
    if not math.isfinite(value):
        raise UnitParseError(f"'{text}' is not a finite number in {unit}")
    return _clean(value)


def _kind_of(units: Any) -> str:
    ureg = registry()
    for si_unit, kind in UNIT_KINDS.items():
        if ureg.parse_units(si_unit).dimensionality == units.dimensionality:
            return f" ({kind}, {si_unit})"
    return ""
