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
    "m^2": "an area",
    "s": "a time",
    "K": "a temperature",
    "V": "a potential",
    "mol/m^3": "a concentration",
    "m^2/s": "a diffusivity",
    "m/s": "a permeability (a velocity)",
    "A/m^2": "a current density",
    "C/m^2": "a surface charge density",
    "F": "a capacitance",
    "F/m^2": "a capacitance per area",
    "J/mol": "a molar energy",
    "mol/m^2/s": "a molar flux density",
    "m/s/Pa": "a hydraulic conductivity (velocity per pressure)",
    "Pa": "a pressure",
    "1/s": "a rate",
    "1/s/V": "a rate per potential",
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


# The units case files use most, converted without pint (importing pint and
# building its registry costs ~0.3 s of every `pnp run`). Exact SI factors;
# tests check each against pint. Anything else goes through pint.
_PREFIX = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9, "p": 1e-12}
_COMMON: dict[tuple[str, str], tuple[float, float]] = {
    **{(f"{p}m", "m"): (f, 0.0) for p, f in _PREFIX.items()},
    ("cm", "m"): (1e-2, 0.0),
    ("m^2", "m^2"): (1.0, 0.0),
    ("cm^2", "m^2"): (1e-4, 0.0),
    ("um^2", "m^2"): (1e-12, 0.0),
    ("µm^2", "m^2"): (1e-12, 0.0),
    **{(f"{p}F", "F"): (f, 0.0) for p, f in _PREFIX.items()},
    **{(f"{p}s", "s"): (f, 0.0) for p, f in _PREFIX.items()},
    ("min", "s"): (60.0, 0.0),
    ("h", "s"): (3600.0, 0.0),
    ("K", "K"): (1.0, 0.0),
    ("degC", "K"): (1.0, 273.15),
    **{(f"{p}V", "V"): (f, 0.0) for p, f in _PREFIX.items()},
    ("M", "mol/m^3"): (1e3, 0.0),
    **{(f"{p}M", "mol/m^3"): (1e3 * f, 0.0) for p, f in _PREFIX.items() if p},
    ("mol/m^3", "mol/m^3"): (1.0, 0.0),
    ("mmol/L", "mol/m^3"): (1.0, 0.0),
    ("mol/L", "mol/m^3"): (1e3, 0.0),
    ("m^2/s", "m^2/s"): (1.0, 0.0),
    ("cm^2/s", "m^2/s"): (1e-4, 0.0),
    ("um^2/s", "m^2/s"): (1e-12, 0.0),
    ("m/s", "m/s"): (1.0, 0.0),
    ("cm/s", "m/s"): (1e-2, 0.0),
    ("um/s", "m/s"): (1e-6, 0.0),
    ("nm/s", "m/s"): (1e-9, 0.0),
    ("A/m^2", "A/m^2"): (1.0, 0.0),
    ("mA/cm^2", "A/m^2"): (10.0, 0.0),
    ("uA/cm^2", "A/m^2"): (1e-2, 0.0),
    ("pA/um^2", "A/m^2"): (1.0, 0.0),
    ("C/m^2", "C/m^2"): (1.0, 0.0),
    ("uC/cm^2", "C/m^2"): (1e-2, 0.0),
    ("F/m^2", "F/m^2"): (1.0, 0.0),
    ("uF/cm^2", "F/m^2"): (1e-2, 0.0),
    ("J/mol", "J/mol"): (1.0, 0.0),
    ("kJ/mol", "J/mol"): (1e3, 0.0),
    ("kcal/mol", "J/mol"): (4184.0, 0.0),
    ("mol/m^2/s", "mol/m^2/s"): (1.0, 0.0),
    # gate rates ([[channel]] rates): 1/ms and 1/(ms mV) as physiologists write them
    ("1/s", "1/s"): (1.0, 0.0),
    ("1/ms", "1/s"): (1e3, 0.0),
    ("1/s/V", "1/s/V"): (1.0, 0.0),
    ("1/ms/mV", "1/s/V"): (1e6, 0.0),
}


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
    # a reciprocal unit, "1/ms" or "1/(ms*mV)": the leading 1 is the one number allowed
    one = re.match(r"1\s*(?=/)", unit)
    if one is not None:
        position = one.end()
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
    fast = _COMMON.get((unit_text, unit))
    if fast is not None:
        factor, offset = fast
        value = number * factor + offset
        if not math.isfinite(value):
            raise UnitParseError(f"'{text}' is not a finite number in {unit}")
        return _clean(value)
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
