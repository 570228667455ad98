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

__all__ = ["schema_reference"]

_SECTION_TITLES = {
    "": "Top level",
    "species.<species>": "`[species.NAME]` — one table per species",
    "region.<region>": "`[[region]]` — one per region, left to right",
    "boundary.<side>": "`[boundary.left]`, `[boundary.right]`",
    "pump.<pump>": "`[pump]` or `[[pump]]` — Na⁺/K⁺-ATPase in a membrane",
    "mesh": "`[mesh]`",
    "run": "`[run]`",
    "protocol.<protocol>": "`[[protocol]]` — piecewise-constant changes in a transient run",
    "output": "`[output]`",
    "expect": "`[expect]` — free table of numbers or strings",
}


def schema_reference() -> str:
    """The case-file reference as Markdown, generated from `PARAMETERS`.

    Returns
    -------
    str
        One table per section with key, type, unit, default, allowed values,
        whether a ``[[protocol]]`` may change it, and a description.
    """
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
    lines = [
        "Plain numbers are SI (m, s, V, K, mol/m³ = mM, m²/s, m/s, A/m², C/m², J/mol); a string",
        'with a unit is converted (`"5 nm"`, `"37 degC"`, `"140 mM"`, `"1 uF/cm^2"`, `"12 kJ/mol"`).',
        "Unknown keys are errors. Overrides (`--set KEY=VALUE`, `overrides={...}`, `[[protocol]] set`)",
        "use dotted paths: `region.<name>.concentration.K`, `boundary.left.potential`, `pump.rate`",
        "(`pump.<i>.rate` with several pumps). *Protocol* marks what may change during a run.",
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
            if param.default_text is not None:
                default = param.default_text
            elif param.default is REQUIRED:
                default = "required"
            elif param.default is None:
                default = "—"
            else:
                default = f"`{_toml_scalar(param.default)}`"
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


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)
