"""The case-file key reference: `PARAMETERS` rendered as Markdown.

`schema_reference` turns the schema table (`pnp.input.schema`) into one
Markdown table per section; README.md keeps its output between the
``case-reference`` markers (docs/interface.md, section "Case files";
``scripts/update_readme.py`` regenerates it). Presentation only: nothing
here decides what a case may contain.
"""

from __future__ import annotations

from typing import Any

from .schema import PARAMETERS, REQUIRED, Parameter

__all__ = ["SECTION_NAMES", "keys_text", "schema_reference"]

_SECTION_TITLES = {
    "": "Top level",
    "species.<species>": "`[species.NAME]` — one table per species",
    "region.<region>": "`[[region]]` — one per region, left to right",
    "boundary.<side>": "`[boundary.left]`, `[boundary.right]`",
    "pump.<pump>": "`[pump]` or `[[pump]]` — Na⁺/K⁺-ATPase in a membrane",
    "channel.<channel>": "`[[channel]]` — voltage-gated channels in a membrane",
    "mesh": "`[mesh]`",
    "run": "`[run]`",
    "protocol.<protocol>": "`[[protocol]]` — piecewise-constant changes in a transient run",
    "stimulus.<stimulus>": "`[[stimulus]]` — current pulses through a floating reservoir",
    "cell": "`[cell]` — the whole cell of a cartesian case (currents in pA and pA/pF)",
    "output": "`[output]`",
    "expect": "`[expect]` — free table of numbers or strings",
}


#: Short name of each section (``pnp keys NAME``) → its key prefix in the schema.
SECTION_NAMES = {
    "top": "",
    "species": "species.<species>",
    "region": "region.<region>",
    "boundary": "boundary.<side>",
    "pump": "pump.<pump>",
    "channel": "channel.<channel>",
    "mesh": "mesh",
    "run": "run",
    "protocol": "protocol.<protocol>",
    "stimulus": "stimulus.<stimulus>",
    "cell": "cell",
    "output": "output",
    "expect": "expect",
}


def _sections() -> dict[str, list[Parameter]]:
    """The schema's parameters grouped by section prefix, in schema order."""
    sections: dict[str, list[Parameter]] = {}
    for param in PARAMETERS:
        parts = param.key.split(".")
        if len(parts) == 1:
            section = ""
        elif parts[1].startswith("<") and parts[0] != "expect":
            section = ".".join(parts[:2])
        else:
            section = parts[0]
        sections.setdefault(section, []).append(param)
    return sections


def schema_reference() -> str:
    """The case-file reference as Markdown, generated from `PARAMETERS`.

    Returns
    -------
    str
        One table per section with key, type, unit, default, allowed values,
        whether a ``[[protocol]]`` may change it, and a description.
    """
    sections = _sections()
    lines = [
        "Plain numbers are SI (m, s, V, K, mol/m³ = mM, m²/s, m/s, A/m², C/m², J/mol); a string",
        'with a unit is converted (`"5 nm"`, `"37 degC"`, `"140 mM"`, `"1 uF/cm^2"`, `"12 kJ/mol"`).',
        "Unknown keys are errors. Overrides (`--set KEY=VALUE`, `overrides={...}`, `[[protocol]] set`)",
        "use dotted paths: `region.<name>.concentration.K`, `boundary.left.potential`, `pump.rate`",
        "(`pump.<i>.rate` with several pumps), `channel.<name>.permeability`, `stimulus.current`",
        "(`stimulus.<i>.current` with several). *Protocol* marks what may change during a run.",
        "A plain number far from anything a cell has draws a one-line warning (a concentration",
        "above 10 M, a membrane thinner than 0.5 nm, a potential beyond 1 V, ...: docs/interface.md).",
        "",
    ]
    for section, params in sections.items():
        lines += [f"### {_SECTION_TITLES.get(section, section)}", ""]
        lines += [
            "| Key | Type | Unit | Default | Allowed | Protocol | Description |",
            "|---|---|---|---|---|---|---|",
        ]
        for param in params:
            name = param.key[len(section) + 1 :] if section else param.key
            default = _default(param)
            cells = [
                f"`{name}`",
                param.type,
                param.unit,
                default,
                param.allowed(),
                "yes" if param.protocol else "",
                param.description,
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _default(param: Parameter) -> str:
    if param.default_text is not None:
        return param.default_text
    if param.default is REQUIRED:
        return "required"
    if param.default is None:
        return "—"
    return f"`{_toml_scalar(param.default)}`"


def keys_text(section: str | None = None, width: int = 88) -> str:
    """The key reference as plain text for a terminal (``pnp keys [SECTION]``).

    Generated from `PARAMETERS`, like :func:`schema_reference`: per section a
    heading, then per key a line with its name, type, unit, default, allowed
    values and whether a ``[[protocol]]`` may change it, and its description
    wrapped below.

    Parameters
    ----------
    section : str, optional
        One of :data:`SECTION_NAMES` (all sections if None).
    width : int
        Line width the descriptions are wrapped to.

    Raises
    ------
    KeyError
        ``section`` is not one of :data:`SECTION_NAMES`.
    """
    import textwrap

    sections = _sections()
    names = list(SECTION_NAMES) if section is None else [section]
    if section is not None and section not in SECTION_NAMES:
        raise KeyError(section)
    lines: list[str] = []
    for short in names:
        prefix = SECTION_NAMES[short]
        params = sections[prefix]
        title = _SECTION_TITLES.get(prefix, prefix).replace("`", "")
        lines += [f"{title}  (pnp keys {short})", ""]
        keys = [p.key[len(prefix) + 1 :] if prefix else p.key for p in params]
        pad = max(len(k) for k in keys)
        for key, param in zip(keys, params, strict=True):
            facts = [param.type, f"unit {param.unit}", f"default {_default(param)}"]
            if param.allowed():
                facts.append(f"allowed {param.allowed()}")
            if param.protocol:
                facts.append("protocol")
            head = f"  {key:<{pad}}  " + "; ".join(facts)
            lines.append(head.replace("`", ""))
            lines += textwrap.wrap(
                param.description.replace("`", ""),
                width,
                initial_indent=" " * 6,
                subsequent_indent=" " * 6,
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)
