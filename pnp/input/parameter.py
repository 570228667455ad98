"""One key of the case-file schema: `Parameter`, the `REQUIRED` marker and `show_limit`.

`pnp.input.schema` declares every key with these; kept apart so that the
table of keys has room to grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .units import describe_unit

__all__ = ["MAX_OUTPUT_TIMES", "REQUIRED", "Parameter", "show_limit"]

MAX_OUTPUT_TIMES = 100_000


class _Required:
    def __repr__(self) -> str:
        return "required"


#: Marks a key without a default.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Parameter:
    """One key of the case-file schema.

    ``key`` is a dotted path in which ``<species>``, ``<region>``, ``<side>``,
    ``<pump>`` and ``<protocol>`` stand for a species name, a region name,
    ``left``/``right``, and an entry of ``[[pump]]``/``[[protocol]]``.
    ``type`` is one of ``float`` (number or string with a unit), ``int``,
    ``bool``, ``str``, ``name``, ``choice``, ``potential`` (number or
    ``"floating"``), ``outputs``, ``table`` (protocol changes) or ``value``
    (number or string, stored as given).
    """

    key: str
    type: str
    unit: str  # SI unit, or "-" for a dimensionless / non-numeric key
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: bool = False  # minimum itself not allowed (> instead of >=)
    maximum: float | None = None  # largest value allowed (inclusive)
    default_text: str | None = None  # shown instead of the default when it is derived
    protocol: bool = False  # may change during a run ([[protocol]] set)

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``"> 0"`` or ``"wall | reservoir"``."""
        if self.choices:
            return " | ".join(self.choices)
        if self.type == "potential":
            return 'number or "floating"'
        if self.type == "outputs":
            return (
                f"int 1 to {MAX_OUTPUT_TIMES}, or up to {MAX_OUTPUT_TIMES} increasing times >= 0, "
                "or { every = STEP }"
            )
        if self.minimum is not None or self.maximum is not None:
            limits = []
            if self.minimum is not None:
                limits.append(
                    f"{'>' if self.exclusive_minimum else '>='} {show_limit(self.minimum)}"
                )
            if self.maximum is not None:
                limits.append(f"<= {show_limit(self.maximum)}")
            return ", ".join(limits)
        if self.type == "bool":
            return "true | false"
        if self.type == "name":
            return "letters, digits, _ or -"
        if self.type == "value":
            return "number or string"
        if self.type == "float":
            return "any finite number"
        return ""

    def expectation(self) -> str:
        """What a value must be, for error messages."""
        if self.type == "float":
            what = describe_unit(self.unit) if self.unit != "-" else "a number"
        elif self.type == "int":
            what = "an integer"
        elif self.type == "bool":
            return "true or false"
        elif self.type == "choice":
            return "one of " + " | ".join(f'"{c}"' for c in self.choices)
        elif self.type == "potential":
            return 'a potential (V) or "floating"'
        elif self.type == "name":
            return "a name (letters, digits, _ or -, starting with a letter)"
        elif self.type == "str":
            return "a string"
        elif self.type == "outputs":
            return (
                f"an integer from 1 to {MAX_OUTPUT_TIMES} (number of outputs), a list of "
                "increasing times (s) or a table {every = STEP} (evenly spaced)"
            )
        elif self.type == "table":
            return "a table"
        else:
            return "a number or a string"
        limit = self.allowed() if self.minimum is not None or self.maximum is not None else ""
        return f"{what}, {limit}" if limit else what


def show_limit(value: float) -> str:
    """A schema limit for people: ``1``, ``0.5``, ``100``, ``1e8``."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:g}".replace("e+0", "e").replace("e+", "e")
