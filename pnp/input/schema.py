"""The case-file schema: one `Parameter` per key and the table `PARAMETERS`.

Owns what a case file may contain: every key with its type, SI unit,
default, limits and description (`PARAMETERS`, indexed by dotted key in
`SCHEMA`) and the size limits the loader enforces on any input (``MAX_*``).
Nothing here reads or validates a case; `pnp.input.reader` and its
section readers do, against this table. `pnp.input.key_reference` renders
the table as the Markdown key reference kept in README.md.
"""

from __future__ import annotations

import re

from .parameter import MAX_OUTPUT_TIMES, REQUIRED, Parameter, show_limit
from .schema_channels import CHANNEL_PARAMETERS, STIMULUS_PARAMETERS

__all__ = [
    "MAX_OUTPUT_TIMES",
    "PARAMETERS",
    "REQUIRED",
    "SCHEMA",
    "Parameter",
    "children",
    "show_limit",
]


MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 8
MAX_SPECIES = 64
MAX_REGIONS = 1000
MAX_PUMPS = 1000
MAX_PROTOCOLS = 1000
MAX_STRING = 1000
# Most cells a mesh may have (all regions together): a 1e8-cell 1D problem is
# far beyond any physical need, and refusing it at validation keeps an absurd
# `uniform_cells` or `max_cell` from attempting a huge allocation or loop.
MAX_CELLS = 100_000_000
MAX_VALENCE = 100

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
ACTIVITY_MODELS = ("ideal", "debye-huckel", "extended-debye-huckel", "davies")
SIDES = ("left", "right")


_p = Parameter  # one key per call, arguments as Parameter's

#: The case-file schema (docs/interface.md, section "Case files"): every key the loader accepts.
PARAMETERS: tuple[Parameter, ...] = (
    # -- top level --------------------------------------------------------
    _p(
        "title",
        "str",
        "-",
        None,
        "Short description shown in summaries and stored in results.",
        default_text="case file stem",
    ),
    _p(
        "temperature",
        "float",
        "K",
        298.15,
        'Temperature; a plain number is kelvin (or "37 degC"); cannot change during a run.',
        minimum=200.0,
        maximum=400.0,
    ),
    _p(
        "geometry",
        "choice",
        "-",
        "cartesian",
        "Coordinate of the 1D domain; cylindrical and spherical put r = 0 at the left boundary.",
        choices=("cartesian", "cylindrical", "spherical"),
    ),
    _p(
        "inside",
        "choice",
        "-",
        "left",
        "Which end of the domain is the cell's inside.",
        choices=("left", "right"),
    ),
    _p(
        "activity",
        "choice",
        "-",
        "ideal",
        "Activity-coefficient model; gamma per bulk region from its initial ionic strength, "
        "static (`extended-debye-huckel` needs `size` of every charged species).",
        choices=ACTIVITY_MODELS,
    ),
    _p(
        "strict",
        "bool",
        "-",
        True,
        "Non-electroneutral regions and protocols after the end of the run are errors (false: warnings).",
    ),
    # -- species ----------------------------------------------------------
    _p(
        "species.<species>.z",
        "int",
        "-",
        REQUIRED,
        "Valence (an integer; 0 for a neutral species).",
        minimum=-MAX_VALENCE,
        maximum=MAX_VALENCE,
    ),
    _p(
        "species.<species>.D",
        "float",
        "m^2/s",
        REQUIRED,
        "Bulk diffusivity.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "species.<species>.size",
        "float",
        "m",
        None,
        "Ion size parameter a (extended Debye-Hückel).",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    # -- regions ----------------------------------------------------------
    _p(
        "region.<region>.name",
        "name",
        "-",
        REQUIRED,
        "Unique name; override paths use it (`region.bath.length`).",
    ),
    _p(
        "region.<region>.length",
        "float",
        "m",
        REQUIRED,
        "Thickness of the region.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "region.<region>.eps_r",
        "float",
        "-",
        REQUIRED,
        "Relative permittivity.",
        minimum=1.0,
        default_text="required (membranes: or capacitance)",
    ),
    _p(
        "region.<region>.capacitance",
        "float",
        "F/m^2",
        None,
        "Membranes only, instead of eps_r: eps_r = capacitance·length/ε0.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "region.<region>.membrane",
        "bool",
        "-",
        False,
        "A membrane: not the first or last region; transport set by permeability or barrier.",
    ),
    _p(
        "region.<region>.concentration.<species>",
        "float",
        "mol/m^3",
        0.0,
        "Initial contents (held fixed next to a reservoir boundary).",
        minimum=0.0,
        protocol=True,
    ),
    _p(
        "region.<region>.balance",
        "name",
        "-",
        None,
        "Bulk regions: the charged species whose concentration is set so that the region is "
        "electroneutral after overrides, sweep values and protocols (its listed value is replaced).",
        default_text="none",
    ),
    _p(
        "region.<region>.fixed_charge",
        "float",
        "mol/m^3",
        0.0,
        "Fixed charge density in mol/m^3 of elementary charges (signed).",
    ),
    _p(
        "region.<region>.D.<species>",
        "float",
        "m^2/s",
        None,
        "Diffusivity in this region; 0 = immobile here.",
        minimum=0.0,
        default_text="species D",
    ),
    _p(
        "region.<region>.permeability.<species>",
        "float",
        "m/s",
        None,
        "Membranes only: permeability P = exp(-barrier/RT)·D/length; unlisted species are impermeant.",
        minimum=0.0,
        default_text="0 (impermeant)",
        protocol=True,
    ),
    _p(
        "region.<region>.barrier.<species>",
        "float",
        "J/mol",
        None,
        "Standard free-energy offset ΔG; membranes: instead of permeability (unlisted: impermeant); "
        "bulk: partition offset.",
        default_text="bulk 0; membranes impermeant",
        protocol=True,
    ),
    _p(
        "region.<region>.water_permeability",
        "float",
        "m/s/Pa",
        0.0,
        "Membranes only (the first from the inside boundary): hydraulic conductivity L_p; water "
        "flux J_w = L_p·[(P_in − P_out) − (Π_in − Π_out)], outward positive. 0: fixed volume.",
        minimum=0.0,
        protocol=True,
    ),
    _p(
        "region.<region>.stiffness",
        "float",
        "Pa",
        0.0,
        "Membranes only: pressure P_in − P_out = stiffness·(V/V₀ − 1), V₀ the initial inside "
        "volume.",
        minimum=0.0,
        protocol=True,
    ),
    # -- boundaries -------------------------------------------------------
    _p(
        "boundary.<side>.type",
        "choice",
        "-",
        REQUIRED,
        "wall: no flux of any species; reservoir: concentrations of the adjacent region held.",
        choices=("wall", "reservoir"),
    ),
    _p(
        "boundary.<side>.potential",
        "potential",
        "V",
        None,
        "Wall: blocking electrode potential (else surface_charge); reservoir: a number or "
        '"floating" (current clamp).',
        default_text="wall: none; reservoir: required",
        protocol=True,
    ),
    _p(
        "boundary.<side>.surface_charge",
        "float",
        "C/m^2",
        0.0,
        "Walls without a potential: charge on the wall.",
        protocol=True,
    ),
    _p(
        "boundary.<side>.current",
        "float",
        "A/m^2",
        0.0,
        "Floating reservoirs only: current density entering the domain through this boundary.",
        protocol=True,
    ),
    # -- pumps ------------------------------------------------------------
    _p(
        "pump.<pump>.membrane",
        "name",
        "-",
        REQUIRED,
        "Name of the membrane region the pump sits in.",
    ),
    _p(
        "pump.<pump>.rate",
        "float",
        "mol/m^2/s",
        None,
        "Constant cycle rate j_p (3 Na out, 2 K in per cycle).",
        minimum=0.0,
        protocol=True,
    ),
    _p(
        "pump.<pump>.j_max",
        "float",
        "mol/m^2/s",
        None,
        "Saturating form: j_p = j_max·(Na_in/(Na_in+K_Na))³·(K_out/(K_out+K_K))².",
        minimum=0.0,
        protocol=True,
    ),
    _p(
        "pump.<pump>.K_Na",
        "float",
        "mol/m^3",
        None,
        "Saturating form: Na half-activation.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "pump.<pump>.K_K",
        "float",
        "mol/m^3",
        None,
        "Saturating form: K half-activation.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p("pump.<pump>.sodium", "name", "-", "Na", "Species the pump moves out (3 per cycle)."),
    _p("pump.<pump>.potassium", "name", "-", "K", "Species the pump moves in (2 per cycle)."),
    # -- voltage-gated channels (pnp.input.schema_channels) ----------------
    *CHANNEL_PARAMETERS,
    # -- mesh -------------------------------------------------------------
    _p(
        "mesh.cells_per_debye",
        "float",
        "-",
        6.0,
        "Starting mesh: cells per screening length (Debye; Gouy-Chapman at a charged wall).",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "mesh.growth",
        "float",
        "-",
        1.2,
        "Geometric growth of cell sizes away from interfaces.",
        minimum=1.0,
    ),
    _p("mesh.max_cell", "float", "m", 100e-9, "Largest cell.", minimum=0.0, exclusive_minimum=True),
    _p(
        "mesh.membrane_cells",
        "int",
        "-",
        10,
        "Uniform cells in each membrane.",
        minimum=1,
        maximum=MAX_CELLS,
    ),
    _p(
        "mesh.uniform_cells",
        "int",
        "-",
        None,
        "Instead of grading: this many equal cells in every region (at most 1e8 cells in all "
        "regions together, like any mesh).",
        minimum=1,
        maximum=MAX_CELLS,
    ),
    _p(
        "mesh.adapt",
        "bool",
        "-",
        True,
        "Steady states: refine and coarsen the mesh from the solution until every observable's "
        "error estimate is within mesh.tolerance (off: solve on the graded mesh as given; the "
        "estimate is still reported). Transients run on the adapted mesh of their initial and "
        "protocol steady states.",
    ),
    _p(
        "mesh.tolerance",
        "float",
        "-",
        1e-5,
        "Error allowed in each observable: in V for potentials, relative for charges, fluxes "
        "and currents (docs/numerics.md, adaptive meshes).",
        minimum=1e-9,
        maximum=0.1,
    ),
    _p(
        "mesh.max_cells",
        "int",
        "-",
        100_000,
        "Most cells an adapted mesh may have; refinement stops there with a message.",
        minimum=10,
        maximum=MAX_CELLS,
    ),
    _p(
        "mesh.max_cycles",
        "int",
        "-",
        6,
        "Most solve-and-refine cycles of an adaptive steady solve; stops there with a message.",
        minimum=1,
        maximum=50,
    ),
    # -- run --------------------------------------------------------------
    _p(
        "run.mode",
        "choice",
        "-",
        "steady",
        "Steady state or time course.",
        choices=("steady", "transient"),
    ),
    _p(
        "run.t_end",
        "float",
        "s",
        None,
        "End time; required for transient runs.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "run.outputs",
        "outputs",
        "s",
        200,
        "Number of log-spaced output times, an explicit list of times, or "
        '`{ every = "0.1 ms" }`: evenly spaced times every STEP up to t_end. Not given in a '
        "case with `[[protocol]]`: each stretch between changes gets evenly spaced times and "
        'a log-spaced burst after its start (docs/interface.md, "Output times").',
        default_text="200 (log-spaced); with protocols, per stretch",
    ),
    _p("run.rtol", "float", "-", 1e-6, "Relative tolerance.", minimum=0.0, exclusive_minimum=True),
    _p("run.atol", "float", "-", 1e-9, "Absolute tolerance.", minimum=0.0, exclusive_minimum=True),
    _p("run.max_steps", "int", "-", 100000, "Most time steps before giving up.", minimum=1),
    _p(
        "run.max_order",
        "int",
        "-",
        5,
        "Highest order of the variable-order BDF time stepper (1-5; 2 keeps to "
        "the variable-step BDF2).",
        minimum=1,
        maximum=5,
    ),
    _p(
        "run.initial",
        "choice",
        "-",
        "contents",
        "State a transient starts from: the regions' contents, or the steady state of the case "
        "at t = 0 (a resting or holding state; protocols then change it). Gauss's law is solved "
        "in either. Not used with a restart.",
        choices=("contents", "steady"),
    ),
    _p(
        "run.error_estimate",
        "bool",
        "-",
        False,
        "Transients: estimate each output's discretisation error by two more runs, on the "
        "mesh with cells merged in pairs (space) and at 5x rtol (time); about 1.5x the cost. "
        "Steady states always carry an estimate.",
    ),
    # -- protocols ----------------------------------------------------------
    _p("protocol.<protocol>.at", "float", "s", REQUIRED, "Time of the change.", minimum=0.0),
    _p(
        "protocol.<protocol>.set",
        "table",
        "-",
        REQUIRED,
        "Dotted key → new value; only run-time parameters (marked in this table).",
    ),
    # -- stimuli (pnp.input.schema_channels) --------------------------------
    *STIMULUS_PARAMETERS,
    # -- cell ---------------------------------------------------------------
    _p(
        "cell.area",
        "float",
        "m^2",
        None,
        'Cartesian cases: membrane area of the whole cell (e.g. "1000 um^2"); the summary and '
        "`pnp info` then show currents in pA and pA/pF. Not with cell.capacitance.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "cell.capacitance",
        "float",
        "F",
        None,
        'Cartesian cases: whole-cell capacitance (e.g. "10 pF"); the area is this over the '
        "specific capacitance eps0 eps_r / length of the membrane region. Not with cell.area.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    # -- output -------------------------------------------------------------
    _p(
        "output.path",
        "str",
        "-",
        None,
        "Result file, relative to the case file's directory.",
        default_text="`results/<case stem>.h5`",
    ),
    _p("output.plot", "bool", "-", True, "Write a PNG figure beside the result file."),
    # -- expect -------------------------------------------------------------
    _p(
        "expect.<key>",
        "value",
        "-",
        None,
        'What the run should reproduce, stored as given: membrane_potential ("nernst:K", "ghk", '
        '"donnan" or V), surface_charge ("grahame"), concentration ("donnan"), '
        'potential_profile ("gouy-chapman"), tolerance, ...; compared only where the closed '
        'form\'s premises hold (docs/interface.md, "The [expect] table").',
    ),
)

SCHEMA: dict[str, Parameter] = {p.key: p for p in PARAMETERS}
TOP_LEVEL_SCALARS = ("title", "temperature", "geometry", "inside", "activity", "strict")
REGION_TABLES = ("concentration", "D", "permeability", "barrier")


def children(prefix: str) -> tuple[str, ...]:
    """Names of the keys directly under ``prefix`` in the schema, in order."""
    depth = prefix.count(".") + 1 if prefix else 0
    head = prefix.split(".") if prefix else []
    out: list[str] = []
    for key in SCHEMA:
        parts = key.split(".")
        if len(parts) > depth and parts[:depth] == head and parts[depth] not in out:
            out.append(parts[depth])
    return tuple(out)
