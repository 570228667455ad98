"""Stage 1, input: a case file (TOML) or a dict -> a validated :class:`~pnp.input.case.Case`.

In: a case file path or mapping, and optional dotted overrides. Out: a
frozen ``Case`` in SI units. Nothing here builds a mesh or imports numba.

- ``case.py``: the frozen dataclasses (``Case``, ``Species``, ``Region``, ...)
  and ``load_case``.
- ``schema.py``: the table of every key (``PARAMETERS``; the channel and
  stimulus keys in ``schema_channels.py``).
- ``key_reference.py``: that table as the Markdown key reference
  (``schema_reference``).
- ``toml_io.py``: reading a case file; writing a case back as TOML.
- ``validation.py``: raw input -> ``Case``, through the section readers
  ``reader.py`` (values by schema type), ``regions.py`` (species, regions),
  ``boundaries.py`` (boundaries, pumps), ``sections.py`` (mesh, run, output,
  expect), ``channels.py`` (channels, stimuli and their pulses) and
  ``protocols.py``.
- ``overrides.py``: dotted key paths (``--set``, ``overrides=``, protocols).
- ``messages.py``: error messages as safe one-liners.
- ``units.py``: quantities with units such as ``"150 mM"``.
"""

from __future__ import annotations

from .case import (
    Boundary,
    Case,
    CaseWarning,
    CellSpec,
    Channel,
    MeshSpec,
    OutputSpec,
    Protocol,
    Pump,
    Region,
    RunSpec,
    Species,
    Stimulus,
    load_case,
)
from .key_reference import schema_reference
from .overrides import parse_override
from .schema import PARAMETERS, Parameter

__all__ = [
    "PARAMETERS",
    "Boundary",
    "Case",
    "CaseWarning",
    "CellSpec",
    "Channel",
    "MeshSpec",
    "OutputSpec",
    "Parameter",
    "Protocol",
    "Pump",
    "Region",
    "RunSpec",
    "Species",
    "Stimulus",
    "load_case",
    "parse_override",
    "schema_reference",
]
