"""Layers a fixed mesh cannot resolve: the mesh warnings of `pnp check` and `pnp run`.

With adaptivity off (``[mesh] adapt = false`` or ``uniform_cells``) the
mesh is the user's, and so is its error. The one error a user is unlikely
to expect is that of a double layer thinner than the cells beside it: a
charged or held wall, or the diffuse layers on either side of a membrane or
region interface. :func:`unresolved_layers` finds every such layer in the
case at t = 0 and, for a transient, after each protocol change, and
predicts the error it brings; :func:`warn_unresolved` issues one
`CaseWarning` per layer (``pnp: warning: FILE: `KEY`: ...``).

A layer is resolved when the cell beside it is at most half its screening
length l (``RESOLVED``): the smaller of the region's Debye length and,
beside a wall, the Gouy-Chapman length that
:func:`pnp.discretisation.mesh.wall_screening_length` predicts. The
predictions are the scheme's second-order error with constants measured on
uniform meshes against the closed forms (docs/numerics.md, "Meshes that do
not adapt"; predicted / true error 0.68 to 1.5 for every wall of
``tests/accuracy_cases.py`` tried, 0.6 <= r <= 5000, and 1.0 to 1.6 for the
membranes of the shipped cases at r >= 6, 3.5 at r = 1.2), r = h/l:

* a wall with a surface charge: its surface potential off by about
  s r^2 / (1 + r/3), s = min(|psi_0|/8, V_T/(3|z|)), psi_0 the Grahame
  potential of the charge and z the counter-ions' largest valence (1 + r/3
  is where the error turns from quadratic to linear in h: the whole layer
  sits in one cell);
* a wall held at a potential, and a bulk-bulk interface: the charge in the
  layer off by a fraction q/(1 + q), q = r^2/16;
* a membrane: its charge off by a fraction x/(1 + x), x = (eps_m/d) sum
  over its two sides of (h/2)/eps_r: an unresolved layer sits in the cell
  next to the membrane, on average h/2 from it instead of l, a capacitor
  of that gap in series with the membrane's (the fluxes through it move by
  the same order).

At h = l/2 the first two are at most 3 % of psi_0 and 1.5 % of the charge.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from ..constants import FARADAY, GAS_CONSTANT, debye_length
from ..discretisation.mesh import Mesh, wall_screening_length

__all__ = ["RESOLVED", "Layer", "unresolved_layers", "warn_unresolved"]

#: The largest first cell, as a fraction of the screening length, that resolves a layer.
RESOLVED = 0.5


@dataclass(frozen=True)
class Layer:
    """An unresolved layer: where, its cell and screening length, the predicted error."""

    where: str  # "the left wall", "membrane `membrane` (cytoplasm side)", ...
    cell: float  # width of the cell beside it [m]
    length: float  # screening length [m]
    error: str  # "about 440 mV in its surface potential"
    size: float  # the predicted error as a number, to pick the worst state
    when: str  # "" (at t = 0) or " after the protocol at t = 0.001 s"


def _length(x: float) -> str:
    return f"{_num(x * 1e9)} nm"


def _num(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _potential(volts: float) -> str:
    if volts >= 1.0:
        return f"{_num(volts)} V"
    if volts >= 1e-3:
        return f"{_num(volts * 1e3)} mV"
    return f"{_num(volts * 1e6)} uV"


def _fraction(f: float) -> str:
    return f"{_num(100.0 * f)} %"


def _valences(case) -> dict[str, int]:
    return {s.name: s.z for s in case.species}


def _debye(case, region) -> float:
    return debye_length(region.concentration, _valences(case), region.eps_r, case.temperature)


def _charged_wall_error(case, region, wall, r: float) -> tuple[str, float]:
    """Predicted error of the surface potential of a wall carrying a charge."""
    vt = GAS_CONSTANT * case.temperature / FARADAY
    z = _valences(case)
    conc = {k: c for k, c in region.concentration.items() if c > 0.0 and z.get(k, 0) != 0}
    counter = [abs(z[k]) for k in conc if z[k] * wall.surface_charge < 0.0]
    scale = vt / (3.0 * max(counter, default=1))
    try:
        from ..analytic import grahame_potential

        psi0 = float(
            grahame_potential(
                wall.surface_charge,
                conc,
                {k: z[k] for k in conc},
                region.eps_r,
                case.temperature,
            )
        )
        scale = min(scale, abs(psi0) / 8.0)
    except (ValueError, ArithmeticError):  # not an electroneutral bath: no Grahame potential
        pass
    volts = scale * r * r / (1.0 + r / 3.0)
    return f"about {_potential(volts)} in its surface potential", volts


def _layer_charge_error(r: float) -> float:
    q = r * r / 16.0
    return q / (1.0 + q)


def _walls(case, mesh: Mesh, when: str) -> list[Layer]:
    out = []
    last = len(case.regions) - 1
    for side, wall, other, j, cell in (
        ("left", case.left, case.right, 0, 0),
        ("right", case.right, case.left, last, mesh.n_cells - 1),
    ):
        if wall.type != "wall" or (wall.potential is None and wall.surface_charge == 0.0):
            continue
        region = case.regions[j]
        if region.membrane:
            continue
        ell = min(
            _debye(case, region),
            wall_screening_length(case.species, case.temperature, region, wall, other),
        )
        h = float(mesh.widths[cell])
        if not math.isfinite(ell) or h <= RESOLVED * ell:
            continue
        r = h / ell
        if wall.potential is None:
            error, size = _charged_wall_error(case, region, wall, r)
        else:
            size = _layer_charge_error(r)
            error = f"about {_fraction(size)} in its charge"
        out.append(Layer(f"the {side} wall", h, ell, error, size, when))
    return out


def _interfaces(case, mesh: Mesh, when: str) -> list[Layer]:
    out = []
    regions = case.regions
    for j in range(1, len(regions)):
        start = mesh.region_slices[j][0]
        left, right = regions[j - 1], regions[j]
        if left.membrane or right.membrane:
            continue  # membranes below, both sides at once
        for region, cell in ((left, start - 1), (right, start)):
            ell = _debye(case, region)
            h = float(mesh.widths[cell])
            if not math.isfinite(ell) or h <= RESOLVED * ell:
                continue
            size = _layer_charge_error(h / ell)
            out.append(
                Layer(
                    f"the interface of `{left.name}` and `{right.name}` ({region.name} side)",
                    h,
                    ell,
                    f"about {_fraction(size)} in the charge of the layer",
                    size,
                    when,
                )
            )
    for j, membrane in enumerate(regions):
        if not membrane.membrane:
            continue
        a, b = mesh.region_slices[j]
        sides = [
            (regions[k], cell)
            for k, cell in ((j - 1, a - 1), (j + 1, b))
            if 0 <= k < len(regions) and not regions[k].membrane
        ]
        worst = None
        gap = 0.0
        for region, cell in sides:
            h = float(mesh.widths[cell])
            ell = _debye(case, region)
            gap += 0.5 * h / region.eps_r
            if math.isfinite(ell) and h > RESOLVED * ell and (worst is None or h / ell > worst[0]):
                worst = (h / ell, region, h, ell)
        if worst is None:
            continue
        x = gap * membrane.eps_r / membrane.length
        size = x / (1.0 + x)
        _, region, h, ell = worst
        out.append(
            Layer(
                f"membrane `{membrane.name}` ({region.name} side)",
                h,
                ell,
                f"about {_fraction(size)} in its charge, and of that order in the fluxes "
                "through it",
                size,
                when,
            )
        )
    return out


def _states(case):
    """(case, when) at t = 0 and, for a transient, after each protocol change."""
    yield case, ""
    if case.run.mode != "transient":
        return
    for at in sorted({p.at for p in case.protocols if 0.0 < p.at <= case.run.t_end}):
        yield case.at_time(at), f" after the protocol at t = {at:g} s"


def unresolved_layers(case, mesh: Mesh) -> list[Layer]:
    """Every layer of ``case`` that ``mesh`` does not resolve, each at its worst state."""
    worst: dict[str, Layer] = {}
    for state, when in _states(case):
        try:
            layers = _walls(state, mesh, when) + _interfaces(state, mesh, when)
        except (OverflowError, ValueError, ZeroDivisionError):
            continue  # a state beyond what the screening lengths can be computed for
        for layer in layers:
            if layer.where not in worst or layer.size > worst[layer.where].size:
                worst[layer.where] = layer
    return list(worst.values())


def warn_unresolved(case, mesh: Mesh | None = None) -> None:
    """One `CaseWarning` per layer the run's mesh does not resolve, when it does not adapt.

    ``mesh``: the mesh the run uses (a restart's); default the case's own.
    """
    from ..discretisation.mesh import build_mesh
    from ..input.case import CaseWarning
    from ..input.messages import printable

    spec = case.mesh
    if spec.adapt and spec.uniform_cells is None:
        return
    mesh = build_mesh(case) if mesh is None else mesh
    if spec.uniform_cells is not None:
        key = "mesh.uniform_cells"
        fix = "remove mesh.uniform_cells (the mesh then adapts to the solution)"
    else:
        key = "mesh.adapt"
        fix = "set mesh.adapt = true"
    where = f"{case.source}: " if case.source else ""
    for layer in unresolved_layers(case, mesh):
        message = (
            f"cells of {_length(layer.cell)} at {layer.where} resolve a "
            f"{_length(layer.length)} layer{layer.when}: expect errors of {layer.error}; "
            f"{fix}, or make the cells there smaller than {_length(RESOLVED * layer.length)}"
        )
        warnings.warn(printable(f"{where}`{key}`: {message}"), CaseWarning, stacklevel=2)
