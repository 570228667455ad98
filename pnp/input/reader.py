"""The base of case validation: one value of the raw input -> a checked SI value.

Owns the `Reader` the section readers (`pnp.input.regions`,
`pnp.input.boundaries`, `pnp.input.sections`, `pnp.input.protocols`) build
on: errors and warnings with the file and dotted key, unknown-key checks,
the plausibility of plain numbers (`pnp.input.plausibility`),
reading a key with its schema default, and conversion by schema type (a
number with a unit to SI, an integer, a name, a choice, a potential) with
the schema limits.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import warnings
from typing import Any

from ..errors import CaseError
from .case import CaseWarning
from .messages import case_error, join_key, printable, show, suggest
from .plausibility import implausible, temperature_problem
from .schema import MAX_STRING, NAME_PATTERN, REQUIRED, SCHEMA, Parameter, children
from .units import UnitParseError, describe_unit, to_si

__all__ = ["Reader", "is_plain"]


def is_plain(value: Any) -> bool:
    """A number written without a unit (read in the key's SI unit)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Reader:
    """Reads values of one raw case against the schema; the section readers build on it.

    Every message names the file (``file``, None for a dict) and the dotted
    key of the offending value.
    """

    def __init__(self, file: str | None):
        self.file = file

    def error(self, message: str, key: str | None = None) -> CaseError:
        return case_error(message, file=self.file, key=key)

    def complain(self, strict: bool, message: str, key: str) -> None:
        """Error in strict mode, warning otherwise."""
        if strict:
            raise self.error(message + " (or set strict = false to only warn)", key)
        self.warn(message, key)

    def warn(self, message: str, key: str) -> None:
        """A `CaseWarning` naming the file and the dotted key, on one line.

        The ``pnp`` command prints it as ``pnp: warning: FILE: `KEY`: MESSAGE``
        (`pnp.input.messages.case_warning_lines`).
        """
        where = f"{self.file}: " if self.file else ""
        warnings.warn(printable(f"{where}`{key}`: {message}"), CaseWarning, stacklevel=5)

    def plausible(self, value: Any, number: float, param: Parameter, key: str) -> None:
        """A plain number far outside what cells have: a warning (`pnp.input.plausibility`)."""
        if is_plain(value):
            problem = implausible(param.key, number, param.unit)
            if problem is not None:
                self.warn(problem, key)

    def table(self, value: Any, key: str, what: str = "a table") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"expected {what}, got {show(value)}", key)
        return value

    def check_keys(self, table: dict[str, Any], prefix: str, path: str) -> None:
        allowed = children(prefix)
        for name in table:
            if name not in allowed:
                raise self.error(
                    f"unknown key `{name}`; {suggest(name, allowed)}", join_key(path, name)
                )

    def get(self, table: dict[str, Any], prefix: str, name: str, path: str) -> Any:
        """Read ``table[name]`` as the schema key ``prefix.name`` (default if absent)."""
        param = SCHEMA[join_key(prefix, name)]
        key = join_key(path, name)
        if name not in table:
            if param.default is REQUIRED:
                raise self.error(f"missing; give {param.expectation()}", key)
            return param.default
        return self.convert(table[name], param, key)

    def convert(self, value: Any, param: Parameter, key: str) -> Any:
        """``value`` of the schema key ``param`` checked and in SI (numbers) or as given."""
        kind = param.type
        if kind == "float":
            number = self.number(value, param.unit, key)
            if param.unit == "K":  # before the minimum: "-5" is likely -5 degC
                problem = temperature_problem(number, is_plain(value), param.minimum, param.maximum)
                if problem is not None:
                    raise self.error(problem, key)
            self.check_minimum(number, param, key)
            self.plausible(value, number, param, key)
            return number
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise self.error(f"expected an integer, got {show(value)}", key)
            number = int(value)
            self.check_minimum(number, param, key)
            return number
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.error(f"expected true or false, got {show(value)}", key)
            return value
        if kind in ("str", "name", "choice"):
            return self.text(value, param, key)
        if kind == "table":
            return self.table(value, key, param.expectation())
        if kind == "value":
            return value  # checked by expect()
        if kind == "potential":
            return self.potential(value, param, key)
        raise AssertionError(f"no converter for {kind}")  # pragma: no cover

    def text(self, value: Any, param: Parameter, key: str) -> str:
        """A ``str``, ``name`` or ``choice`` value."""
        kind = param.type
        if not isinstance(value, str):
            raise self.error(f"expected {param.expectation()}, got {show(value)}", key)
        if len(value) > MAX_STRING:
            raise self.error(f"string longer than {MAX_STRING} characters", key)
        if kind == "name" and not NAME_PATTERN.fullmatch(value):
            raise self.error(f"'{value}' is not a valid name; expected {param.expectation()}", key)
        if kind == "choice" and value not in param.choices:
            raise self.error(
                f"'{value}' is not allowed; {suggest(value, param.choices)} "
                f"(one of {' | '.join(param.choices)})",
                key,
            )
        return value

    def potential(self, value: Any, param: Parameter, key: str) -> float | str:
        """A potential [V], or ``"floating"``."""
        if value == "floating":
            return value
        if isinstance(value, str) and not re.match(r"\s*[-+.\d]", value):
            close = difflib.get_close_matches(value, ["floating"], n=1)
            hint = "; did you mean `floating`?" if close else ""
            raise self.error(
                f"'{value}' is not allowed; give a potential (V), e.g. 0 or "
                f'"-70 mV", or "floating"{hint}',
                key,
            )
        number = self.number(value, param.unit, key)
        self.plausible(value, number, param, key)
        return number

    def number(self, value: Any, unit: str, key: str) -> float:
        """A finite float in ``unit`` from a plain number (SI) or a string with a unit."""
        expected = describe_unit(unit) if unit != "-" else "a plain number"
        if isinstance(value, bool):
            raise self.error(f"expected {expected}, got a boolean ({show(value)})", key)
        if isinstance(value, numbers.Real):
            try:
                number = float(value)
            except (OverflowError, ValueError):
                raise self.error(f"{show(value)} is out of range", key) from None
            if not math.isfinite(number):
                raise self.error(f"expected a finite number, got {show(value)}", key)
            return number
        if isinstance(value, str):
            if unit == "-":
                raise self.error(f"expected a plain number (dimensionless), got {show(value)}", key)
            if len(value) > 100:
                raise self.error("expected a number with a unit; string too long", key)
            try:
                return to_si(value, unit)
            except UnitParseError as exc:
                raise self.error(str(exc), key) from None
        raise self.error(
            f"expected {expected} as a number or a string with a unit, got {show(value)}", key
        )

    def check_minimum(self, number: float, param: Parameter, key: str) -> None:
        """The schema limits of ``param`` (minimum and maximum)."""
        low, high = param.minimum, param.maximum
        if (low is not None and (number < low or (param.exclusive_minimum and number == low))) or (
            high is not None and number > high
        ):
            shown = (
                f"{number:g}" if isinstance(number, float) or abs(number) < 10**15 else show(number)
            )
            raise self.error(
                f"{shown} is not allowed; must be {param.allowed()}"
                + (f" {param.unit}" if param.unit != "-" else ""),
                key,
            )

    def name_in(self, name: str, known: Any, key: str, what: str) -> None:
        if name not in known:
            raise self.error(f"unknown {what} `{name}`; {suggest(name, known)}", key)

    def entries(self, raw: dict[str, Any], section: str, limit: int) -> list[tuple[str, dict]]:
        """``[pump]`` (one table) or ``[[pump]]`` (array): (key path, table) pairs."""
        value = raw.get(section)
        if value is None:
            return []
        if isinstance(value, dict):
            return [(section, value)]
        if not isinstance(value, list):
            raise self.error(
                f"expected a table [{section}] or an array of tables [[{section}]]", section
            )
        if len(value) > limit:
            raise self.error(f"{len(value)} entries; at most {limit} allowed", section)
        return [
            (f"{section}[{i}]", self.table(item, f"{section}[{i}]")) for i, item in enumerate(value)
        ]

    def section(self, raw: dict[str, Any], name: str) -> dict[str, Any]:
        table = self.table(raw.get(name, {}), name, f"a table [{name}]")
        self.check_keys(table, name, name)
        return table
