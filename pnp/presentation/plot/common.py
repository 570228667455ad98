"""What every figure shares: pyplot, units and what a result says about its layout.

Owns the matplotlib entry points (pyplot on a headless-safe backend, new and
bare figures, saving), the unit choices of every axis (SI prefixes, nm/µm,
mV, mM, units of sweep columns), the figure title of a result, and the
reading of a result's layout: its resolved case, region extents, which
regions are membranes and which walls are charged, and the zoom windows
around them where the Debye layers are.
"""

from __future__ import annotations

import math
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure

    from pnp.input.case import Case
    from pnp.results.result import Result

# A zoom window reaches this many Debye lengths of the bulk beside a membrane
# or charged wall into each neighbouring region (never past its far end): the
# diffuse layer's potential decays as exp(-x / lambda_D) however strongly the
# interface is charged (the Gouy-Chapman length only sets how steep its first
# part is), so the whole layer and some bulk beyond it are in view. It does
# not depend on the mesh, which adapts to the solution.
ZOOM_DEBYE_LENGTHS = 12.0
# Relative permittivity assumed for a result without its case (water, 25 degC).
WATER_EPS_R = 78.5

# "auto": a log c axis for profiles whose concentrations (outside membranes)
# span more decades than this: a Debye layer at a few RT/F, whose counter-ions
# pile up and co-ions empty out, then shows both on one axis.
LOG_CONCENTRATION_DECADES = 1.5
LOG_SWEEP_DECADES = 3.0  # "auto": log y axis of a sweep figure for positive values spanning more
LOG_TIME_DECADES = 3.0  # "auto": log time axis when positive output times span more
MARKER_LIMIT = 50  # draw markers on a curve with at most this many points
DPI = 150

_PREFIXES = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


# -- matplotlib -----------------------------------------------------------------


def _pyplot():
    """pyplot, on the Agg backend when nothing chose one and there is no display."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib

        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        # Private but stable since matplotlib 3.7: None while nobody chose a
        # backend, so that a user's matplotlib.use(...) is never overridden.
        if headless and matplotlib.rcParams._get_backend_or_none() is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _new_figure(size: tuple[float, float]) -> Figure:
    return _pyplot().figure(figsize=size, layout="constrained")


def _bare_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=DPI)


def _root(fig: Figure | SubFigure) -> Figure:
    return fig.get_figure(root=True)


# -- units ----------------------------------------------------------------------


def _prefixed(values: Any, template: str) -> tuple[float, str]:
    """Factor and unit text with an SI prefix fitting the largest |value|.

    ``template`` holds ``{}`` where the prefix goes: ``"{}A/m²"``.
    """
    array = np.abs(np.asarray(values, dtype=float))
    array = array[np.isfinite(array) & (array > 0)]
    largest = float(array.max()) if array.size else 1.0
    for scale, prefix in _PREFIXES:
        if largest >= scale:
            return 1.0 / scale, template.format(prefix)
    scale, prefix = _PREFIXES[-1]
    return 1.0 / scale, template.format(prefix)


def _length_unit(span: float) -> tuple[float, str]:
    """Factor and unit for positions over a span [m]: mm, µm or nm."""
    if span >= 1e-3:
        return 1e3, "mm"
    if span >= 1e-6:
        return 1e6, "µm"
    return 1e9, "nm"


def _time_unit(span: float) -> tuple[float, str]:
    """Factor and unit for times up to ``span`` [s] on a linear axis."""
    for scale, prefix in _PREFIXES:
        if span >= scale:
            return 1.0 / scale, f"{prefix}s"
    return 1e15, "fs"


def _format_time(t: float) -> str:
    if math.isinf(t):
        return "steady state"
    if t == 0:
        return "t = 0"
    factor, unit = _time_unit(abs(t))
    return f"t = {t * factor:.3g} {unit}"


# Units of sweep parameters (dotted case keys), by their last segment or a
# segment on the way; observables use pnp.results.registry.observable_units.
_PARAMETER_UNITS = (
    ("potential", "V"),
    ("surface_charge", "C/m^2"),
    ("current", "A/m^2"),
    ("temperature", "K"),
    ("length", "m"),
    ("max_cell", "m"),
    ("t_end", "s"),
    ("rate", "mol/m^2/s"),
    ("j_max", "mol/m^2/s"),
    ("K_Na", "mol/m^3"),
    ("K_K", "mol/m^3"),
    ("fixed_charge", "mol/m^3"),
    ("concentration", "mol/m^3"),
    ("permeability", "m/s"),
    ("barrier", "J/mol"),
    ("D", "m^2/s"),
)


# What a parameter is, where the schema's description is conditional ("Wall: ...;
# reservoir: ...") or describes the start of a run rather than the swept value.
_PARAMETER_NAMES = {
    "boundary.<side>.potential": "potential",
    "region.<region>.concentration.<species>": "concentration",
    "region.<region>.permeability.<species>": "permeability",
    "boundary.<side>.current": "injected current",
    "region.<region>.barrier.<species>": "free-energy offset",
    "region.<region>.length": "thickness",
    "pump.<pump>.j_max": "maximal pump rate j_max",
}
_PLACEHOLDER_TEXT = {"<side>": "{} boundary", "<pump>": "pump {}", "<protocol>": "step {}"}


def _schema_parameter(key: str) -> tuple[Any, list[str]] | None:
    """The schema's Parameter of a dotted case key, and what its placeholders stand for."""
    from pnp.input.schema import PARAMETERS

    parts = key.split(".")
    candidates = [parts]
    if parts[0] == "pump" and len(parts) == 2:
        candidates.append(["pump", "", parts[1]])  # pump.rate: the only pump
    for concrete in candidates:
        for param in PARAMETERS:
            pattern = param.key.split(".")
            if len(pattern) != len(concrete):
                continue
            names = []
            for want, have in zip(pattern, concrete, strict=True):
                if want.startswith("<") and want.endswith(">"):
                    if have:
                        names.append(_PLACEHOLDER_TEXT.get(want, "{}").format(have))
                elif want != have:
                    break
            else:
                return param, names
    return None


def _parameter_label(key: str) -> str:
    """A sweep parameter (dotted case key) in words, from the schema's description.

    The description's first phrase (after a "Walls only:"-like qualifier, up
    to the first of ``. ; ( =``) when it is at most four words, else the
    key's name; then what the placeholders stand for:
    ``region.bath.concentration.Na`` → "concentration (bath, Na)",
    ``species.K.D`` → "Bulk diffusivity (K)". A key not in the schema is
    returned as it is.
    """
    import re

    found = _schema_parameter(key)
    if found is None:
        return key
    param, names = found
    what = _PARAMETER_NAMES.get(param.key)
    if what is None:
        text = param.description
        if ":" in text.split(".")[0]:
            text = text.split(":", 1)[1]
        phrase = re.split(r"[.;(=]", text, maxsplit=1)[0].strip()
        words = phrase.split()
        what = phrase if 0 < len(words) <= 4 else param.name.replace("_", " ")
    return f"{what} ({', '.join(names)})" if names else what


def _column_unit(name: str) -> str:
    """SI unit of a summary column: a dotted parameter key or an observable."""
    if "." in name:
        found = _schema_parameter(name)
        if found is not None and found[0].unit not in ("-", ""):
            return found[0].unit
        parts = name.split(".")
        for segment in reversed(parts):
            for key, unit in _PARAMETER_UNITS:
                if segment == key:
                    return unit
        return ""
    from pnp.results.registry import observable_units

    if name == "wall_time":
        return "s"
    return observable_units(name)


def _display_unit(unit: str, values: Any) -> tuple[float, str]:
    """Factor and unit text to show values of an SI unit on an axis."""
    if unit == "V":
        return 1e3, "mV"
    if unit == "mol/m^3":
        return 1.0, "mM"
    if unit == "J/mol":
        return 1e-3, "kJ/mol"
    if unit == "m":
        array = np.abs(np.asarray(values, dtype=float))
        array = array[np.isfinite(array)]
        return _length_unit(float(array.max()) if array.size else 1.0)
    templates = {
        "A/m^2": "{}A/m²",
        "mol/m^2/s": "{}mol/m²/s",
        "C/m^2": "{}C/m²",
        "m/s": "{}m/s",
        "m^2/s": "{}m²/s",
        "s": "{}s",
    }
    if unit in templates:
        return _prefixed(values, templates[unit])
    return 1.0, unit


def _axis_label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


# -- the case behind a result ------------------------------------------------------


def _case_dict(result: Result) -> dict[str, Any]:
    """The resolved case of a result as a dict ({} when absent or unreadable)."""
    if not result.case_toml:
        return {}
    try:
        return tomllib.loads(result.case_toml)
    except (ValueError, RecursionError):  # TOMLDecodeError is a ValueError
        return {}


def _validated_case(data: Mapping[str, Any]) -> Case | None:
    """A case dict (as :func:`_case_dict` reads it) as a validated Case (None when
    empty or not a valid case)."""
    from pnp.errors import CaseError
    from pnp.input.validation import case_from_data

    if not data:
        return None
    try:
        return case_from_data(data, None, None, None)
    except (CaseError, ValueError, TypeError, KeyError, RecursionError):
        return None


def _region_extents(result: Result) -> list[tuple[int, int]]:
    """First and one-past-last cell of every region (regions are contiguous)."""
    extents = []
    for index in range(len(result.region_names)):
        cells = np.flatnonzero(result.region == index)
        extents.append((int(cells[0]), int(cells[-1]) + 1) if cells.size else (0, 0))
    return extents


def _membrane_regions(result: Result, case: Mapping[str, Any]) -> list[int]:
    """Indices of membrane regions: from the case, else guessed from the mesh.

    Without a case, an inner region whose cells are all under a tenth of the
    largest cell of both neighbours is taken for a membrane (the mesher puts
    uniform nanometre cells there).
    """
    names = result.region_names
    regions = case.get("region")
    if isinstance(regions, list):
        flagged = {entry.get("name") for entry in regions if entry.get("membrane")}
        return [index for index, name in enumerate(names) if name in flagged]
    widths = np.diff(result.faces)
    extents = _region_extents(result)
    largest = [float(widths[a:b].max()) if b > a else 0.0 for a, b in extents]
    return [
        index
        for index in range(1, len(names) - 1)
        if largest[index] > 0 and largest[index] * 10 < min(largest[index - 1], largest[index + 1])
    ]


def _charged_walls(result: Result, case: Mapping[str, Any]) -> list[str]:
    """Sides whose wall carries a double layer (held potential or surface charge).

    An uncharged wall (the centre of a cell) has no layer and no zoom. Without
    a case, a side where the mesh is graded towards the end is taken for one.
    """
    boundary = case.get("boundary")
    if isinstance(boundary, Mapping):
        sides = []
        for side in ("left", "right"):
            spec = boundary.get(side, {})
            if spec.get("type") != "wall":
                continue
            potential = spec.get("potential")
            if isinstance(potential, int | float) or spec.get("surface_charge", 0) != 0:
                sides.append(side)
        return sides
    widths = np.diff(result.faces)
    if widths.size < 3:
        return []
    extents = _region_extents(result)
    sides = []
    first, last = extents[0], extents[-1]
    if widths[first[0]] * 5 < widths[first[0] : first[1]].max():
        sides.append("left")
    if widths[last[1] - 1] * 5 < widths[last[0] : last[1]].max():
        sides.append("right")
    return sides


@dataclass(frozen=True)
class _Zoom:
    """A window around an interface: where the Debye layers are.

    ``near`` and ``far`` are the faces of the membrane (left and right) or the
    wall (both the end face): the zoom panel's axis is the distance from them.
    """

    title: str
    low: float  # [m]
    high: float  # [m]
    near: float  # [m]
    far: float  # [m]

    @property
    def what(self) -> str:
        return "wall" if self.near == self.far else "membrane"


def _bulk_debye_length(result: Result, case: Mapping[str, Any], index: int) -> float:
    """Debye length [m] in the bulk of region ``index`` (inf without ions).

    From the solution: the contents of the region's middle cell at the last
    output, so that a Donnan gel or an equilibrated compartment counts what
    it holds, not what it started with; the case's initial contents if that
    is not a number. eps_r from the case; water's without one.
    """
    from pnp.constants import debye_length

    start, stop = _region_extents(result)[index]
    if stop <= start:
        return math.inf
    name = result.region_names[index]
    entry: Mapping[str, Any] = {}
    regions = case.get("region")
    if isinstance(regions, list):
        entry = next((r for r in regions if isinstance(r, Mapping) and r.get("name") == name), {})
    eps_r = entry.get("eps_r", WATER_EPS_R)
    z = dict(zip(result.species, np.asarray(result.z, dtype=float).tolist(), strict=True))
    middle = np.asarray(result.concentration[-1][:, (start + stop) // 2], dtype=float)
    initial = entry.get("concentration")
    candidates = [dict(zip(result.species, np.maximum(middle, 0.0).tolist(), strict=True))]
    if isinstance(initial, Mapping):
        candidates.append({k: v for k, v in initial.items() if k in z})
    for contents in candidates:
        try:
            return debye_length(contents, z, float(eps_r), result.temperature)
        except (TypeError, ValueError):  # NaN in a failed solution, a malformed case
            continue
    return math.inf


def _zoom_depth(result: Result, case: Mapping[str, Any], index: int) -> float:
    """How far [m] a zoom reaches into region ``index``: ZOOM_DEBYE_LENGTHS, at most all of it."""
    start, stop = _region_extents(result)[index]
    if stop <= start:
        return 0.0
    length = float(result.faces[stop] - result.faces[start])
    return min(ZOOM_DEBYE_LENGTHS * _bulk_debye_length(result, case, index), length)


def _zoom_windows(result: Result, case: Mapping[str, Any]) -> list[_Zoom]:
    """One window per membrane and per charged wall, left to right."""
    faces = result.faces
    extents = _region_extents(result)
    last = len(extents) - 1
    zooms = []
    if "left" in _charged_walls(result, case):
        depth = _zoom_depth(result, case, 0)
        zooms.append(_Zoom("left wall", faces[0], faces[0] + depth, faces[0], faces[0]))
    for index in _membrane_regions(result, case):
        first, stop = extents[index]
        if stop <= first:
            continue
        left = _zoom_depth(result, case, index - 1) if index > 0 else 0.0
        right = _zoom_depth(result, case, index + 1) if index < last else 0.0
        title = result.region_names[index]
        zooms.append(
            _Zoom(title, faces[first] - left, faces[stop] + right, faces[first], faces[stop])
        )
    if "right" in _charged_walls(result, case):
        depth = _zoom_depth(result, case, last)
        zooms.append(_Zoom("right wall", faces[-1] - depth, faces[-1], faces[-1], faces[-1]))
    return zooms


# -- times and titles -------------------------------------------------------------


def _log_like(t: np.ndarray) -> bool:
    """Whether positive output times span more than LOG_TIME_DECADES decades."""
    positive = t[np.isfinite(t) & (t > 0)]
    return positive.size >= 2 and positive.max() > 10**LOG_TIME_DECADES * positive.min()


def _title(fig: Figure | SubFigure, result: Result, indices: Sequence[int] | None) -> None:
    title = result.title or "pnp result"
    notes = []
    if indices is not None and len(indices) == 1:
        notes.append(_format_time(float(result.t[indices[0]])))
    if result.status != "completed":
        notes.append(f"run {result.status}")
    if notes:
        title += f"  ({', '.join(notes)})"
    fig.suptitle(title, fontsize=11)
