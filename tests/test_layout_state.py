"""The state-vector layout (pnp.discretisation.layout.StateLayout).

Every index is checked against the hand formula it replaces,
``n_boundary + k * (S + 1) + i`` (species i of cell k; i = S is the potential),
on layouts with and without floating-boundary unknowns, and on the layout a
real model builds. Splitting then packing (and packing then splitting) is
exact: no arithmetic happens on the values. Extra blocks come after the cells
and the trailing boundary unknown, in the order they were added, and never
overlap; the layout is immutable.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pnp.discretisation import kernel
from pnp.discretisation.layout import StateLayout
from pnp.discretisation.model import build_model
from pnp.input.case import Case

LAYOUTS = [
    StateLayout(n_cells=7, n_species=3),
    StateLayout(n_cells=7, n_species=3, n_boundary=1),
    StateLayout(n_cells=5, n_species=4, n_trailing=1),
    StateLayout(n_cells=1, n_species=1, n_boundary=1, n_trailing=1),
]


def _model(left=None, right=None):
    """A small bath between two boundaries (the layout depends only on them)."""
    data = {
        "title": "layout test",
        "temperature": 310.15,
        "species": {"K": {"z": 1, "D": 1.96e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
        "region": [
            {"name": "bath", "length": 100e-9, "eps_r": 80, "concentration": {"K": 150, "Cl": 150}}
        ],
        "boundary": {
            "left": left or {"type": "wall"},
            "right": right or {"type": "reservoir", "potential": 0},
        },
        "mesh": {"cells_per_debye": 2, "growth": 1.5, "max_cell": 20e-9},
    }
    return build_model(Case.from_dict(data))


def _old_index(lay: StateLayout, k: int, i: int) -> int:
    return lay.n_boundary + k * (lay.n_species + 1) + i


@pytest.mark.parametrize("lay", LAYOUTS, ids=repr)
def test_indices_match_the_hand_formula(lay):
    N, S = lay.n_cells, lay.n_species
    assert lay.block == S + 1
    assert lay.size == lay.n_boundary + N * (S + 1) + lay.n_trailing
    idx = np.arange(lay.size)
    expected_psi = [_old_index(lay, k, S) for k in range(N)]
    np.testing.assert_array_equal(idx[lay.potential], expected_psi)
    np.testing.assert_array_equal(lay.potential_at(np.arange(N)), expected_psi)
    for i in range(S):
        expected = [_old_index(lay, k, i) for k in range(N)]
        np.testing.assert_array_equal(idx[lay.species(i)], expected)
        np.testing.assert_array_equal(lay.conc_at(np.arange(N), i), expected)
    for k in range(N):
        np.testing.assert_array_equal(
            idx[lay.cell(k)], [_old_index(lay, k, i) for i in range(S + 1)]
        )
        assert lay.potential_at(k) == _old_index(lay, k, S)
    # boundary: the leading ones first, the trailing one is the last entry
    expected_b = list(range(lay.n_boundary)) + ([lay.size - 1] if lay.n_trailing else [])
    np.testing.assert_array_equal(lay.boundary, expected_b)
    # every unknown is exactly one of: boundary, potential, a species
    owners = np.zeros(lay.size, dtype=int)
    owners[lay.boundary] += 1
    owners[lay.potential] += 1
    for i in range(S):
        owners[lay.species(i)] += 1
    np.testing.assert_array_equal(owners, 1)


@pytest.mark.parametrize("lay", LAYOUTS, ids=repr)
def test_split_and_pack_round_trip(lay):
    rng = np.random.default_rng(11)
    N, S = lay.n_cells, lay.n_species
    phi = rng.normal(size=N)
    c = rng.uniform(0.0, 150.0, size=(S, N))
    b = rng.normal(size=lay.n_boundary + lay.n_trailing)
    x = lay.pack(phi, c, boundary=b)
    assert x.shape == (lay.size,)
    psi2, c2 = lay.split(x)
    np.testing.assert_array_equal(psi2, phi)
    np.testing.assert_array_equal(c2, c)
    np.testing.assert_array_equal(x[lay.boundary], b)
    # split gives views: writing through them changes x
    assert np.shares_memory(psi2, x) and np.shares_memory(c2, x)
    c2[0, -1] = -1.0
    assert x[lay.conc_at(N - 1, 0)] == -1.0
    # and the other way round: an arbitrary vector survives split → pack
    y = rng.normal(size=lay.size)
    psi3, c3 = lay.split(y)
    np.testing.assert_array_equal(lay.pack(psi3, c3, boundary=y[lay.boundary]), y)
    # boundary unknowns not given are zero
    np.testing.assert_array_equal(lay.pack(phi, c)[lay.boundary], 0.0)


def test_extras_sit_after_the_cells_and_the_trailing_boundary():
    base = StateLayout(n_cells=6, n_species=2, n_boundary=1, n_trailing=1)
    lay = base.with_extra("volume", 1).with_extra("gates", 3)
    assert base.extras == ()  # with_extra returned a new layout
    assert lay.size == base.size + 4
    assert lay.extra("volume") == slice(base.size, base.size + 1)
    assert lay.extra("gates") == slice(base.size + 1, base.size + 4)
    # the cell and boundary indices do not move
    np.testing.assert_array_equal(lay.boundary, base.boundary)
    assert lay.potential == base.potential
    assert lay.cell(5) == base.cell(5)
    rng = np.random.default_rng(3)
    phi, c = rng.normal(size=6), rng.uniform(size=(2, 6))
    gates = np.array([0.1, 0.2, 0.3])
    x = lay.pack(phi, c, boundary=[4.0, 5.0], extras={"gates": gates, "volume": 2.5})
    np.testing.assert_array_equal(x[lay.extra("gates")], gates)
    np.testing.assert_array_equal(x[lay.extra("volume")], [2.5])
    np.testing.assert_array_equal(x[: base.size], base.pack(phi, c, boundary=[4.0, 5.0]))
    psi2, c2 = lay.split(x)
    np.testing.assert_array_equal(psi2, phi)
    np.testing.assert_array_equal(c2, c)
    with pytest.raises(KeyError):
        lay.extra("missing")
    with pytest.raises(ValueError, match="duplicate"):
        lay.with_extra("gates", 2)
    with pytest.raises(ValueError, match="at least one"):
        lay.with_extra("empty", 0)


def test_layout_is_immutable_and_validated():
    lay = StateLayout(n_cells=3, n_species=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lay.n_cells = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        lay.extras = (("v", 1),)
    assert hash(lay) == hash(StateLayout(n_cells=3, n_species=2))
    with pytest.raises(ValueError):
        StateLayout(n_cells=0, n_species=2)
    with pytest.raises(ValueError):
        StateLayout(n_cells=3, n_species=2, n_boundary=-1)
    with pytest.raises(ValueError, match="one name per"):
        StateLayout(n_cells=3, n_species=2, n_boundary=1, boundary_names=("a", "b"))
    with pytest.raises(IndexError):
        lay.species(2)
    with pytest.raises(IndexError):
        lay.cell(3)


@pytest.mark.parametrize(
    ("left", "right", "lead", "trail"),
    [
        (None, None, 0, 0),
        ({"type": "reservoir", "potential": "floating", "current": 1.0}, None, 1, 0),
        (
            {"type": "wall", "potential": 0.0},
            {"type": "reservoir", "potential": "floating", "current": -1.0},
            0,
            1,
        ),
    ],
)
def test_model_layout_matches_its_boundaries(left, right, lead, trail):
    m = _model(left=left, right=right)
    lay = m.layout
    assert (lay.n_cells, lay.n_species) == (m.n_cells, m.n_species)
    assert (lay.n_boundary, lay.n_trailing) == (lead, trail)
    assert m.n_unknowns == lay.size
    assert m.bandwidths == (lay.block, 2 * lay.block - 1)
    assert m.kernel_args()[2] == lead and isinstance(m.kernel_args()[2], int)
    assert len(lay.boundary_names) == lead + trail
    floating = [s for s in range(2) if m.b_type[s] == kernel.FLOATING]
    assert len(floating) == lead + trail
    # the floating potentials are read from the layout's boundary unknowns
    x = m.x0.copy()
    x[lay.boundary] = np.arange(1.0, lead + trail + 1.0)
    np.testing.assert_array_equal(m.boundary_psi(x)[floating], np.arange(1.0, lead + trail + 1.0))
    np.testing.assert_array_equal(
        m.potential_index(), [_old_index(lay, k, m.n_species) for k in range(m.n_cells)]
    )
