"""Where each unknown sits in the flat state vector.

The state vector is, in order::

    [leading boundary unknowns | cell 0 | cell 1 | ... | cell N-1 | trailing boundary
     unknowns | extra blocks]

Each cell block holds the S concentrations [mol/m^3] then the scaled potential
psi = phi / V_T, so cell k's species i sits at ``n_boundary + k * (S + 1) + i``
and its potential at ``n_boundary + k * (S + 1) + S``. Boundary unknowns are the
potentials of floating reservoirs (left one leading, right one trailing). Extra
blocks are named groups of unknowns appended after everything else (a cell
volume, the gates of a membrane, ...).

The compiled kernel cannot import this class: it receives ``n_boundary`` and
``block`` as plain ints and finds a trailing boundary unknown at the last
entry. A layout with extras therefore still needs the kernel to be told where
that trailing unknown is before a model may use extras.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class StateLayout:
    """Index arithmetic of the state vector (immutable; ``with_extra`` returns a new one).

    Parameters
    ----------
    n_cells, n_species
        Mesh cells N and species S.
    n_boundary
        Leading boundary unknowns (before cell 0).
    n_trailing
        Trailing boundary unknowns (right after cell N-1).
    boundary_names
        One name per boundary unknown, leading then trailing (empty: unnamed).
    extras
        ``(name, count)`` of each appended block, in order.
    """

    n_cells: int
    n_species: int
    n_boundary: int = 0
    n_trailing: int = 0
    boundary_names: tuple[str, ...] = ()
    extras: tuple[tuple[str, int], ...] = ()

    def __post_init__(self):
        for name in ("n_cells", "n_species", "n_boundary", "n_trailing"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if self.n_cells < 1:
            raise ValueError("a layout needs at least one cell")
        object.__setattr__(self, "boundary_names", tuple(self.boundary_names))
        object.__setattr__(self, "extras", tuple((str(n), int(c)) for n, c in self.extras))
        if self.boundary_names and len(self.boundary_names) != self.n_boundary + self.n_trailing:
            raise ValueError("boundary_names needs one name per boundary unknown")
        names = [n for n, _ in self.extras]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate extra block names: {names}")
        if any(c < 1 for _, c in self.extras):
            raise ValueError("an extra block holds at least one unknown")

    # -- sizes -----------------------------------------------------------
    @property
    def block(self) -> int:
        """Unknowns per cell: S concentrations and one potential."""
        return self.n_species + 1

    @cached_property
    def body(self) -> slice:
        """All cell blocks, contiguous."""
        return slice(self.n_boundary, self.n_boundary + self.n_cells * self.block)

    @cached_property
    def size(self) -> int:
        """Length of the state vector."""
        return self.body.stop + self.n_trailing + sum(c for _, c in self.extras)

    # -- indices ---------------------------------------------------------
    @cached_property
    def potential(self) -> slice:
        """Scaled potential of every cell (strided: indexing gives a view)."""
        return slice(self.n_boundary + self.n_species, self.body.stop, self.block)

    def species(self, i: int) -> slice:
        """Concentration of species ``i`` in every cell (strided)."""
        if not 0 <= i < self.n_species:
            raise IndexError(f"species {i} out of range (S = {self.n_species})")
        return slice(self.n_boundary + i, self.body.stop, self.block)

    def cell(self, k: int) -> slice:
        """Block of cell ``k``: its S concentrations then its potential."""
        if not 0 <= k < self.n_cells:
            raise IndexError(f"cell {k} out of range (N = {self.n_cells})")
        start = self.n_boundary + k * self.block
        return slice(start, start + self.block)

    def conc_at(self, k, i: int):
        """Flat index of species ``i`` in cell(s) ``k`` (int or int array)."""
        return self.n_boundary + k * self.block + i

    def potential_at(self, k):
        """Flat index of the potential of cell(s) ``k`` (int or int array)."""
        return self.n_boundary + k * self.block + self.n_species

    @cached_property
    def boundary(self) -> np.ndarray:
        """Indices of the boundary unknowns: leading, then trailing (read-only)."""
        lead = np.arange(self.n_boundary)
        trail = self.body.stop + np.arange(self.n_trailing)
        indices = np.concatenate([lead, trail])
        indices.setflags(write=False)
        return indices

    def extra(self, name: str) -> slice:
        """Slice of the appended block ``name``."""
        start = self.body.stop + self.n_trailing
        for other, count in self.extras:
            if other == name:
                return slice(start, start + count)
            start += count
        raise KeyError(f"no extra block {name!r}")

    def with_extra(self, name: str, count: int) -> StateLayout:
        """This layout with ``count`` more unknowns named ``name`` appended."""
        return dataclasses.replace(self, extras=(*self.extras, (name, count)))

    # -- whole vectors ---------------------------------------------------
    def cells_view(self, x: np.ndarray) -> np.ndarray:
        """(N, S+1) view of the cell blocks of ``x``."""
        return x[self.body].reshape(self.n_cells, self.block)

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views (psi (N,) scaled potential, c (S, N) [mol/m^3]) of ``x``."""
        body = self.cells_view(x)
        return body[:, self.n_species], body[:, : self.n_species].T

    def pack(
        self,
        phi: np.ndarray,
        c: np.ndarray,
        boundary: np.ndarray | None = None,
        extras: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """A new state vector from cell potentials ``phi`` (N,) (scaled) and ``c`` (S, N).

        Boundary unknowns and extra blocks not given are zero.
        """
        x = np.zeros(self.size)
        body = self.cells_view(x)
        body[:, : self.n_species] = np.asarray(c).T
        body[:, self.n_species] = phi
        if boundary is not None:
            x[self.boundary] = boundary
        for name, values in (extras or {}).items():
            x[self.extra(name)] = values
        return x
