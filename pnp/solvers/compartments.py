"""Closed compartments: cells among which a species moves but which it cannot leave.

Owns finding them (:func:`closed_compartments`) and keeping each one's
amount exactly (:func:`projector`, applied after every Newton update). The
steady solver also gives their species a small time term (``REGULARISE``)
so the steady Jacobian stays non-singular.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..discretisation import kernel
from ..discretisation.model import Model

# Closed compartments: the time term of a confined species never drops below
# 1/(REGULARISE * its slowest diffusion time), so the steady Jacobian stays
# non-singular (its amount is a conserved quantity, not a free mode).
REGULARISE = 1e3


@dataclass(frozen=True)
class Compartment:
    """Cells among which one species moves, closed to it on both ends."""

    species: int
    cells: np.ndarray  # cell indices
    amount: float  # sum V c at the start [mol per geometry unit]
    relax_time: float  # slowest diffusion time across it [s]


def closed_compartments(model: Model, x: np.ndarray) -> list[Compartment]:
    """Every (species, connected cell range) that no boundary flux can reach."""
    out = []
    N = model.n_cells
    h = model.mesh.widths
    for i in range(model.n_species):
        open_faces = model.face_kind[i, 1:N] != kernel.CLOSED
        # break points between compartments
        cuts = np.flatnonzero(~open_faces) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [N]])
        for a, b in zip(starts, stops, strict=True):
            touches_left = a == 0 and model.b_cond[0, i] > 0
            touches_right = b == N and model.b_cond[1, i] > 0
            if touches_left or touches_right or _pumped(model, i, a, b):
                continue
            cells = np.arange(a, b)
            c = x[model.layout.conc_at(cells, i)]
            amount = float(np.sum(model.volume[cells] * c))
            d = model.d_reg[i, model.mesh.region[cells]]
            length = float(np.sum(h[cells]))
            dmin = float(np.min(d)) if np.all(d > 0) else 0.0
            relax = length**2 / dmin if dmin > 0 else 1.0
            out.append(Compartment(i, cells, amount, relax))
    return out


def _pumped(model: Model, species: int, a: int, b: int) -> bool:
    """A pump moves ``species`` into or out of cells [a, b): their amount is not conserved."""
    for p in model.pumps:
        moving = p.rate is None or p.rate > 0.0
        if (
            moving
            and species in (p.sodium, p.potassium)
            and (a <= p.inside_cell < b or a <= p.outside_cell < b)
        ):
            return True
    return False


def projector(model: Model, compartments: list[Compartment]):
    """Restore each closed compartment's amount exactly (multiplicative)."""
    items = [
        (model.layout.conc_at(comp.cells, comp.species), model.volume[comp.cells], comp.amount)
        for comp in compartments
        if comp.amount > 0 and comp.cells.size > 1
    ]
    if not items:
        return None

    def project(x):
        for idx, vol, amount in items:
            now = float(np.dot(vol, x[idx]))
            if now > 0:
                x[idx] *= amount / now

    return project
