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
from ..discretisation.swelling import set_scale

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


class Compartments:
    """Every closed compartment of a state, held as arrays (one entry each).

    A membrane is a run of one-cell compartments for every species it does
    not let through, so a case has dozens of them: arrays keep finding them
    and setting their time terms to a few numpy calls per species. Indexing
    and iteration give :class:`Compartment` objects.
    """

    def __init__(self, species, starts, stops, amount, relax_time):
        self.species = np.asarray(species, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.stops = np.asarray(stops, dtype=np.int64)
        self.amount = np.asarray(amount, dtype=float)
        self.relax_time = np.asarray(relax_time, dtype=float)

    def __len__(self) -> int:
        return int(self.species.size)

    def __getitem__(self, k: int) -> Compartment:
        return Compartment(
            int(self.species[k]),
            np.arange(self.starts[k], self.stops[k]),
            float(self.amount[k]),
            float(self.relax_time[k]),
        )

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def time_floor(self, n_species: int, n_cells: int) -> np.ndarray:
        """(S, N) smallest time coefficient of each species in each cell:
        1/(REGULARISE x relax time) in a closed compartment, 0 elsewhere."""
        floor = np.zeros((n_species, n_cells), order="F")
        sizes = self.stops - self.starts
        cells = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        cells += np.repeat(self.starts, sizes)
        floor[np.repeat(self.species, sizes), cells] = np.repeat(
            1.0 / (REGULARISE * self.relax_time), sizes
        )
        return floor


def closed_compartments(model: Model, x: np.ndarray) -> Compartments:
    """Every (species, connected cell range) that no boundary flux can reach."""
    N = model.n_cells
    if model.swelling is not None:
        set_scale(model, float(x[-1]))  # amounts at the state's own volumes
    h = model.mesh.widths
    region = model.mesh.region
    _, conc = model.layout.split(x)
    parts = []
    for i in range(model.n_species):
        open_faces = model.face_kind[i, 1:N] != kernel.CLOSED
        # break points between compartments
        cuts = np.flatnonzero(~open_faces) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [N]])
        keep = np.ones(starts.size, dtype=bool)
        keep[0] &= not model.b_cond[0, i] > 0  # open to the left boundary
        keep[-1] &= not model.b_cond[1, i] > 0
        for cell in _pumped_cells(model, i):
            keep[np.searchsorted(stops, cell, side="right")] = False
        if not keep.any():
            continue
        d = model.d_reg[i, region]
        amounts = np.add.reduceat(model.volume * conc[i], starts)[keep]
        lengths = np.add.reduceat(h, starts)[keep]
        dmin = np.minimum.reduceat(d, starts)[keep]
        relax = np.ones(dmin.size)
        moving = dmin > 0
        relax[moving] = lengths[moving] ** 2 / dmin[moving]
        parts.append((np.full(dmin.size, i), starts[keep], stops[keep], amounts, relax))
    if not parts:
        return Compartments(*([] for _ in range(5)))
    return Compartments(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def _pumped_cells(model: Model, species: int) -> list[int]:
    """Cells a running pump moves ``species`` into or out of: their
    compartments' amounts are not conserved."""
    return [
        cell
        for p in model.pumps
        if (p.rate is None or p.rate > 0.0) and species in (p.sodium, p.potassium)
        for cell in (p.inside_cell, p.outside_cell)
    ]


def projector(model: Model, compartments: Compartments):
    """Restore each closed compartment's amount exactly (multiplicative):
    a :class:`Projection`, or None when no compartment needs it."""
    items = [
        (
            model.layout.conc_at(comp.cells, comp.species),
            comp.cells,
            model.volume[comp.cells],
            comp.amount,
        )
        for comp in (
            compartments[k]
            for k in np.flatnonzero(
                (compartments.amount > 0) & (compartments.stops - compartments.starts > 1)
            )
        )
    ]
    if not items:
        return None
    return Projection(model, items)


class Projection:
    """Called on a state ``x``: scales each closed compartment's
    concentrations in place so that its amount sum V c is the one it
    started with.

    On a fixed mesh the compartments are also held as flat arrays
    (``index``, ``start``, ``volume``, ``amount``: compartment k's unknowns
    are ``index[start[k]:start[k + 1]]``), which the compiled Newton update
    (:func:`pnp.solvers.iteration.update`) applies in the same order with
    the same arithmetic. ``moving``: the mesh moves with the cell volume,
    and the volumes are read at the iterate's scale (Python only).
    """

    def __init__(self, model: Model, items):
        self.model = model
        self.items = items
        self.moving = model.swelling is not None
        self.index = np.concatenate([idx for idx, _, _, _ in items]).astype(np.int64)
        self.start = np.cumsum([0] + [len(cells) for _, cells, _, _ in items]).astype(np.int64)
        self.volume = np.concatenate([vol for _, _, vol, _ in items])
        self.amount = np.array([amount for _, _, _, amount in items], dtype=float)

    def __call__(self, x: np.ndarray) -> None:
        model = self.model
        if self.moving:  # the cell volumes at the iterate's scale
            set_scale(model, float(x[-1]))
        for idx, cells, vol, amount in self.items:
            now = float(np.dot(model.volume[cells] if self.moving else vol, x[idx]))
            if now > 0:
                x[idx] *= amount / now
