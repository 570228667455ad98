"""Validation of ``[mesh]``, ``[run]``, ``[cell]``, ``[output]``, ``[expect]``; the mesh size limit.

Owns the numerical settings of a case: the mesh spec and the refusal of a
mesh of more than `MAX_CELLS` cells before anything allocates it (sized
in closed form by `estimated_cells`), the run spec (mode, end time,
output times, tolerances; `protocol_output_times`, the default output times
of a case with protocols), the size of a cartesian case's cell, where the
result goes, and the free ``[expect]`` table.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from pathlib import Path
from typing import Any

from .case import Boundary, CellSpec, MeshSpec, OutputSpec, Region, RunSpec, Species
from .messages import show
from .reader import Reader
from .schema import MAX_CELLS, MAX_OUTPUT_TIMES, MAX_STRING, SCHEMA, children, show_limit

__all__ = [
    "SectionReader",
    "StateCells",
    "estimated_cells",
    "protocol_output_times",
    "region_cells",
]

#: Outputs a case with protocols gets by default (`protocol_output_times`):
#: about this many in all, at least `SEGMENT_OUTPUTS` per stretch between changes.
PROTOCOL_OUTPUTS = 200
SEGMENT_OUTPUTS = 8
#: ... and never more than this many (which caps the stretches that get `SEGMENT_OUTPUTS`).
MAX_PROTOCOL_OUTPUTS = 400
#: The log-spaced burst after each change starts this fraction of its stretch after it.
BURST_START = 1e-6


class SectionReader(Reader):
    """Reads the mesh, run, output and expect tables."""

    def mesh(self, raw: dict[str, Any]) -> MeshSpec:
        table = self.section(raw, "mesh")
        return MeshSpec(
            **{name: self.get(table, "mesh", name, "mesh") for name in children("mesh")}
        )

    def check_cells(
        self,
        mesh: MeshSpec,
        species: tuple[Species, ...],
        regions: tuple[Region, ...],
        temperature: float,
        left: Boundary,
        right: Boundary,
    ) -> float:
        """Refuse a mesh of more than `MAX_CELLS` cells before anything allocates it.

        Returns the mesh's cells (`estimated_cells` of a graded mesh).
        """
        if mesh.uniform_cells is not None:
            cells = float(mesh.uniform_cells) * len(regions)
            if cells > MAX_CELLS:
                raise self.error(
                    f"{mesh.uniform_cells} cells in each of {len(regions)} regions make "
                    f"{cells:.3g} cells; at most {show_limit(MAX_CELLS)} in all",
                    "mesh.uniform_cells",
                )
            return cells
        cells = estimated_cells(mesh, species, regions, temperature, left, right)
        if cells > MAX_CELLS:
            raise self.error(too_many_cells(cells), "mesh")
        return cells

    def _every(self, table: dict[str, Any], values: dict[str, Any]) -> list[float]:
        """``outputs = { every = STEP }``: STEP, 2 STEP, ... up to t_end (and t_end)."""
        unknown = sorted(set(table) - {"every"})
        if unknown or "every" not in table:
            raise self.error(
                "a table of outputs takes one key, every (the spacing, s); got "
                + (", ".join(map(show, unknown)) or "none"),
                "run.outputs",
            )
        step = self.number(table["every"], "s", "run.outputs.every")
        t_end = values["t_end"]
        if values["mode"] != "transient" or t_end is None:
            raise self.error("evenly spaced outputs need a transient run with t_end", "run.outputs")
        if not step > 0.0:
            raise self.error(f"the spacing must be > 0 s, got {step:g} s", "run.outputs.every")
        count = math.floor(t_end / step * (1.0 + 1e-12))
        if count + 1 > MAX_OUTPUT_TIMES:
            raise self.error(
                f"every {step:g} s up to t_end = {t_end:g} s makes {count} outputs; at most "
                f"{MAX_OUTPUT_TIMES}: choose a larger spacing",
                "run.outputs.every",
            )
        times = [step * k for k in range(1, count + 1)]
        if not times or times[-1] < t_end * (1.0 - 1e-12):
            times.append(t_end)
        times[-1] = min(times[-1], t_end)
        return times

    def run(self, raw: dict[str, Any]) -> RunSpec:
        table = self.section(raw, "run")
        values = {
            name: self.get(table, "run", name, "run")
            for name in children("run")
            if name != "outputs"
        }
        if values["mode"] == "transient" and values["t_end"] is None:
            raise self.error(
                "missing; a transient run needs its end time t_end (s), > 0", "run.t_end"
            )
        outputs = table.get("outputs", SCHEMA["run.outputs"].default)
        if isinstance(outputs, dict):
            outputs = self._every(outputs, values)
        if isinstance(outputs, list):
            if not outputs or len(outputs) > MAX_OUTPUT_TIMES:
                raise self.error(
                    f"give between 1 and {MAX_OUTPUT_TIMES} output times", "run.outputs"
                )
            times = []
            for i, value in enumerate(outputs):
                t = self.number(value, "s", f"run.outputs[{i}]")
                if t < 0 or (times and t <= times[-1]):
                    raise self.error(
                        f"output times must be >= 0 and increasing; {t:g} s follows "
                        f"{times[-1] if times else 0:g} s",
                        f"run.outputs[{i}]",
                    )
                times.append(t)
            if values["mode"] == "transient" and times[-1] > values["t_end"]:
                raise self.error(
                    f"last output time {times[-1]:g} s is after t_end = {values['t_end']:g} s",
                    "run.outputs",
                )
            outputs = tuple(times)
        elif (
            isinstance(outputs, bool)
            or not isinstance(outputs, numbers.Integral)
            or outputs < 1
            or outputs > MAX_OUTPUT_TIMES
        ):
            raise self.error(
                f"expected {SCHEMA['run.outputs'].expectation()}, got {show(outputs)}",
                "run.outputs",
            )
        else:
            outputs = int(outputs)
        return RunSpec(outputs=outputs, **values)

    def cell(self, raw: dict[str, Any], geometry: str, regions: tuple[Region, ...]) -> CellSpec:
        """``[cell]``: the membrane area or capacitance of a cartesian case's whole cell."""
        table = self.section(raw, "cell")
        given = [name for name in children("cell") if name in table]
        if len(given) > 1:
            raise self.error(
                "give the cell's area or its capacitance, not both (the area follows from "
                "the capacitance and the membrane's specific capacitance)",
                "cell.capacitance",
            )
        if given and geometry != "cartesian":
            raise self.error(
                f"only for cartesian cases: in a {geometry} case the cell's size follows "
                "from the geometry (the membrane's radius)",
                f"cell.{given[0]}",
            )
        if given and not any(r.membrane for r in regions):
            raise self.error("needs a membrane region (the cell's membrane)", f"cell.{given[0]}")
        return CellSpec(**{name: self.get(table, "cell", name, "cell") for name in given})

    def output(self, raw: dict[str, Any], source: str | None) -> OutputSpec:
        table = self.section(raw, "output")
        path = self.get(table, "output", "path", "output")
        plot = self.get(table, "output", "plot", "output")
        if path is not None and not path.strip():
            raise self.error("empty path", "output.path")
        if source is not None:
            if path is None:
                path = os.path.join("results", Path(source).stem + ".h5")
            if not os.path.isabs(path):
                path = os.path.normpath(
                    os.path.join(os.path.dirname(os.path.abspath(source)), path)
                )
        return OutputSpec(path=path, plot=plot)

    def expect(self, raw: dict[str, Any]) -> dict[str, Any]:
        table = self.table(raw.get("expect", {}), "expect", "a table [expect]")
        out: dict[str, Any] = {}
        for name, value in table.items():
            key = f"expect.{name}"
            if not name or len(name) > 64:
                raise self.error("expectation names are 1 to 64 characters", key)
            if isinstance(value, str) and len(value) <= MAX_STRING:
                out[name] = value
                continue
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                try:
                    number = float(value)
                except (OverflowError, ValueError):
                    number = math.nan
                if math.isfinite(number):
                    # Plain int or float (a Fraction or numpy scalar is not TOML).
                    out[name] = int(value) if isinstance(value, numbers.Integral) else number
                    continue
            raise self.error(
                f'expected a number or a string (e.g. "ghk" or -0.07), got {show(value)}', key
            )
        return out


def protocol_output_times(t_end: float, changes: list[float]) -> tuple[float, ...]:
    """Default output times of a transient with protocols changing at ``changes`` [s].

    The run from 0 to ``t_end`` falls into stretches between changes (and
    its ends). Each stretch of length L gets ``n`` evenly spaced outputs
    ending at its end (so every change time and t_end is one) and ``m``
    log-spaced ones from `BURST_START` L after its start up to its first even
    output, which catch the fast transient after a change; n is about 3/5 and
    m 2/5 of `PROTOCOL_OUTPUTS` shared among the stretches, each stretch
    getting at least `SEGMENT_OUTPUTS` while that keeps the total within
    `MAX_PROTOCOL_OUTPUTS` (fewer each, down to just its end, beyond).
    """
    edges = sorted({0.0, t_end, *(t for t in changes if 0.0 < t < t_end)})
    stretches = len(edges) - 1
    per = max(PROTOCOL_OUTPUTS // stretches, SEGMENT_OUTPUTS)
    per = max(min(per, MAX_PROTOCOL_OUTPUTS // stretches), 1)
    even = max(math.ceil(per * 3 / 5), 1)
    burst = per - even
    times = set()
    for start, stop in itertools.pairwise(edges):
        step = (stop - start) / even
        times.update(start + step * k for k in range(1, even))
        times.add(stop)
        if burst:
            first = (stop - start) * BURST_START
            ratio = step / first
            times.update(start + first * ratio ** (k / burst) for k in range(burst))
    return tuple(sorted(t for t in times if 0.0 < t <= t_end))


def too_many_cells(cells: float) -> str:
    """The refusal of a graded mesh of about ``cells`` cells."""
    return (
        f"the graded mesh would have about {cells:.3g} cells; at most {show_limit(MAX_CELLS)} "
        "in all: raise max_cell or growth, or lower cells_per_debye or membrane_cells"
    )


def estimated_cells(
    mesh: MeshSpec,
    species: tuple[Species, ...],
    regions: tuple[Region, ...],
    temperature: float,
    left: Boundary,
    right: Boundary,
) -> float:
    """As many cells as `pnp.discretisation.mesh.build_mesh` makes or more (not far more); inf if absurd.

    Each bulk region is counted as graded at both ends: the geometric ramp
    from the smallest cell (screening length / cells_per_debye) to max_cell,
    then cells of max_cell. The screening length is the region's Debye
    length or, in the first and last region, the Gouy-Chapman length of a
    charged or held wall beside it when that is shorter, as the mesh grades.
    Computed in closed form, so a billion-cell mesh costs nothing to refuse.

    This deliberately does not call the mesh's own sizing
    (`pnp.discretisation.mesh.graded_widths`): that builds the cells one by
    one into arrays, which for an absurd case is the very loop and allocation
    this check exists to prevent. It shares the mesh's inputs instead: the
    Debye length (`pnp.constants.debye_length`), the wall's screening length
    (`pnp.discretisation.mesh.wall_screening_length`, closed form) and
    `MIN_CELLS_PER_REGION`.
    """
    n = len(regions)
    return sum(
        region_cells(mesh, species, temperature, region, walls_beside(j, n, left, right))
        for j, region in enumerate(regions)
    )


def walls_beside(j: int, n: int, left: Boundary, right: Boundary) -> tuple:
    """The (boundary, opposite boundary) pairs beside region ``j`` of ``n``."""
    return ((left, right),) * (j == 0) + ((right, left),) * (j == n - 1)


def region_cells(
    mesh: MeshSpec,
    species: tuple[Species, ...],
    temperature: float,
    region: Region,
    walls: tuple = (),
    debye: float | None = None,
) -> float:
    """The share of one region in `estimated_cells` (inf if absurd).

    ``walls``: `walls_beside` the region; ``debye``: its Debye length, if known.
    """
    from ..constants import debye_length
    from ..discretisation.mesh import MIN_CELLS_PER_REGION, wall_screening_length

    if region.membrane:
        return float(mesh.membrane_cells)
    growth, largest = mesh.growth, mesh.max_cell
    try:
        if debye is None:
            valence = {s.name: s.z for s in species}
            debye = debye_length(region.concentration, valence, region.eps_r, temperature)
        lam = debye
        for wall, other in walls:
            lam = min(lam, wall_screening_length(species, temperature, region, wall, other))
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.inf
    smallest = min(lam / mesh.cells_per_debye, largest)
    if not smallest > 0.0:
        return math.inf
    half = region.length / 2.0
    if smallest >= largest:
        cells = half / largest
    elif growth == 1.0:
        cells = half / smallest
    else:
        step = math.log1p(growth - 1.0)
        ramp = (largest - smallest) / (growth - 1.0)  # length of the geometric part
        if half <= ramp:
            cells = math.log1p(half * (growth - 1.0) / smallest) / step
        else:
            cells = math.log(largest / smallest) / step + (half - ramp) / largest
    return 2.0 * cells + MIN_CELLS_PER_REGION


class StateCells:
    """`estimated_cells` of each state a run's protocols lead to, at O(1) cost per state.

    A transient builds the graded mesh of every state it goes through (to
    adapt it: `pnp.simulation.adaptive.transient_mesh`), so each is held to
    `MAX_CELLS` like the initial one. Starting from the initial state's
    estimate ``total``, only the regions a protocol changes, and the first
    and last region when it changes a boundary, are counted again (before
    and after), so P protocols cost O(P), not O(P x regions).
    """

    def __init__(
        self,
        total: float,
        mesh: MeshSpec,
        species: tuple[Species, ...],
        regions: tuple[Region, ...],
        temperature: float,
        left: Boundary,
        right: Boundary,
    ) -> None:
        self.total = total
        self.mesh, self.species, self.temperature = mesh, species, temperature
        self.regions = list(regions)
        self.index = {r.name: j for j, r in enumerate(regions)}
        self.left, self.right = left, right
        self.debye: dict[int, float] = {}  # Debye lengths computed so far

    def _count(self, j: int) -> float:
        region = self.regions[j]
        if j not in self.debye and not region.membrane:
            from ..constants import debye_length

            valence = {s.name: s.z for s in self.species}
            try:
                self.debye[j] = debye_length(
                    region.concentration, valence, region.eps_r, self.temperature
                )
            except (OverflowError, ValueError, ZeroDivisionError):
                return math.inf
        walls = walls_beside(j, len(self.regions), self.left, self.right)
        return region_cells(
            self.mesh, self.species, self.temperature, region, walls, self.debye.get(j)
        )

    def after(self, changed: tuple[Region, ...], left: Boundary, right: Boundary) -> float:
        """The estimate once the ``changed`` regions and the boundaries are as given."""
        redo = {self.index[r.name] for r in changed}
        if left != self.left or right != self.right:
            # a held wall's screening length depends on the opposite reservoir's potential
            redo |= {0, len(self.regions) - 1}
        before = {j: self._count(j) for j in redo}
        for region in changed:
            j = self.index[region.name]
            self.regions[j] = region
            self.debye.pop(j, None)
        self.left, self.right = left, right
        for j in sorted(redo):
            self.total += self._count(j) - before[j]
        return self.total
