"""The mesh against exact identities: no solve, each test well under a second.

- Geometry factors: the cell volumes telescope to the exact volume of the
  domain (L, R^2/2, R^3/3 per unit angle), and face area x width tends to the
  volume (the divergence theorem cell by cell).
- Graded widths: they sum to the length (to round-off), the first cell never
  exceeds the requested smallest one, neighbours grow by at most ``growth``,
  no cell exceeds ``max_cell``, and a length that is an exact geometric sum
  gives exactly that geometric sequence.
- The Debye length against its closed form written with k_B T, e and N_A
  instead of R T and F (an independent spelling of the same constants).
- ``build_mesh``: region ends land exactly on the case's interfaces, the
  walls that carry a double layer (held potential, surface charge) are graded
  and the others are not, ``refine`` divides the smallest cell.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import constants

from pnp.discretisation.mesh import (
    MIN_CELLS_PER_REGION,
    build_mesh,
    debye_length,
    geometry_factors,
    graded_widths,
)
from pnp.input.case import Case

# Round-off of a sum of ~100 doubles of similar size: ~1e-15 relative
# (measured max 4e-16); 1e-13 leaves room for longer sums.
RTOL_SUM = 1e-13


def _case(left=None, right=None, geometry="cartesian", mesh=None, regions=None):
    data = {
        "title": "mesh test",
        "temperature": 298.15,
        "geometry": geometry,
        "species": {"Na": {"z": 1, "D": 1.33e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
        "region": regions
        or [
            {"name": "a", "length": 40e-9, "eps_r": 78.5, "concentration": {"Na": 150, "Cl": 150}},
        ],
        "boundary": {
            "left": left or {"type": "wall", "potential": 0.05},
            "right": right or {"type": "reservoir", "potential": 0},
        },
        "mesh": mesh or {"cells_per_debye": 4, "growth": 1.2, "max_cell": 2e-9},
    }
    return Case.from_dict(data)


def _lambda_closed_form(c_molar_by_z: dict[int, float], eps_r: float, t: float) -> float:
    """Debye length from k_B T, e and N_A: sqrt(eps kT / (e^2 N_A sum z^2 c))."""
    strength = sum(z * z * c for z, c in c_molar_by_z.items())  # mol/m^3
    return math.sqrt(
        eps_r * constants.epsilon_0 * constants.k * t / (constants.e**2 * constants.N_A * strength)
    )


# -- geometry factors -------------------------------------------------------

FACES = np.array([0.0, 0.3e-6, 0.7e-6, 1.2e-6, 2.0e-6])


@pytest.mark.parametrize(
    ("geometry", "area", "total"),
    [
        ("cartesian", lambda r: np.ones_like(r), lambda r: r),
        ("cylindrical", lambda r: r, lambda r: r**2 / 2.0),
        ("spherical", lambda r: r**2, lambda r: r**3 / 3.0),
    ],
)
def test_geometry_factors_are_the_exact_areas_and_shell_volumes(geometry, area, total):
    a, v = geometry_factors(FACES, geometry)
    np.testing.assert_allclose(a, area(FACES), rtol=0, atol=0)
    # each cell volume is the exact shell volume, so they telescope
    np.testing.assert_allclose(v, np.diff(total(FACES)), rtol=1e-15)
    np.testing.assert_allclose(v.sum(), total(FACES[-1]), rtol=RTOL_SUM)
    # dV/dr = A: the mid-face area times the width approaches the volume to O(h^2)
    fine = np.linspace(1e-6, 1.001e-6, 11)
    af, vf = geometry_factors(fine, geometry)
    mid_area = area(0.5 * (fine[1:] + fine[:-1]))
    # measured relative gap <= 1e-8 (h/r = 1e-4, squared); 1e-7 allowed
    np.testing.assert_allclose(mid_area * np.diff(fine), vf, rtol=1e-7)
    assert af.shape == fine.shape


def test_geometry_factors_do_not_alias_the_faces():
    faces = FACES.copy()
    area, _ = geometry_factors(faces, "cylindrical")
    area[:] = -1.0
    np.testing.assert_array_equal(faces, FACES)


def test_unknown_geometry_is_refused():
    with pytest.raises(ValueError, match="unknown geometry"):
        geometry_factors(FACES, "toroidal")


# -- graded widths ---------------------------------------------------------


@pytest.mark.parametrize(("left", "right"), [(True, False), (False, True), (True, True)])
def test_graded_widths_fill_the_length_and_respect_their_bounds(left, right):
    length, smallest, growth, largest = 50e-9, 0.1e-9, 1.3, 4e-9
    w = graded_widths(length, smallest, growth, largest, left, right)
    np.testing.assert_allclose(w.sum(), length, rtol=RTOL_SUM)
    assert w.max() <= largest * (1 + 1e-12)
    ratio = w[1:] / w[:-1]
    assert np.all(ratio <= growth * (1 + 1e-12))
    assert np.all(ratio >= 1 / growth * (1 - 1e-12))
    ends = [w[0]] * left + [w[-1]] * right
    for end in ends:
        # scaled down (never up) to fit: at most `smallest`, and not far below
        # it (the scale-down is at most one last cell out of the sum)
        assert end <= smallest * (1 + 1e-12)
        assert end >= smallest * (1 - largest / length) * 0.5
    if left and right:
        np.testing.assert_array_equal(w, w[::-1])
        # the fine cells are at the ends, the coarse ones in the middle
        assert w[w.size // 2] > 10 * w[0]
    elif left:
        assert w[-1] > 10 * w[0]
    else:
        assert w[0] > 10 * w[-1]


def test_an_exact_geometric_sum_gives_the_geometric_sequence():
    smallest, growth = 1e-9, 1.5
    seq = smallest * growth ** np.arange(6)
    length = float(seq.sum())
    w = graded_widths(length, smallest, growth, 1.0, True, False)
    # exact up to the accumulated round-off of the sum (measured 2e-16)
    np.testing.assert_allclose(w, seq, rtol=1e-14)
    # capped: beyond the cap every cell is `largest`
    capped = graded_widths(
        smallest * (1 + 1.5 + 2.25) + 5 * 2.5e-9, smallest, growth, 2.5e-9, True, False
    )
    np.testing.assert_allclose(capped, [1e-9, 1.5e-9, 2.25e-9] + [2.5e-9] * 5, rtol=1e-14)
    # exactly MIN_CELLS_PER_REGION graded cells are enough: still graded
    seq = 1e-9 * 2.0 ** np.arange(MIN_CELLS_PER_REGION)
    w = graded_widths(float(seq.sum()), 1e-9, 2.0, 1.0, False, True)
    np.testing.assert_allclose(w, seq[::-1], rtol=1e-14)


def test_ungraded_regions_are_uniform_with_the_fewest_cells_below_max_cell():
    # 10 nm at max 3 nm: ceil(10/3) = 4 cells of 2.5 nm
    w = graded_widths(10e-9, 1e-9, 1.2, 3e-9, False, False)
    np.testing.assert_allclose(w, np.full(4, 2.5e-9), rtol=1e-15)
    # an exact multiple is not bumped up by round-off: 12 nm / 2 nm = 6 cells
    w = graded_widths(12e-9, 1e-9, 1.2, 2e-9, False, False)
    assert w.size == 6
    # never fewer than MIN_CELLS_PER_REGION, even for a short region
    w = graded_widths(1e-9, 1e-9, 1.2, 3e-9, False, False)
    np.testing.assert_allclose(w, np.full(MIN_CELLS_PER_REGION, 1e-9 / MIN_CELLS_PER_REGION))
    # smallest >= largest: no grading possible, the fewest uniform cells
    # (15 nm at 3 nm: 5 cells, not two halves of 3 cells each)
    w = graded_widths(15e-9, 3e-9, 1.2, 3e-9, True, True)
    np.testing.assert_allclose(w, np.full(5, 3e-9), rtol=1e-15)


def test_a_short_graded_region_still_gets_min_cells():
    w = graded_widths(1e-9, 0.6e-9, 2.0, 5e-9, True, False)
    assert w.size == MIN_CELLS_PER_REGION
    np.testing.assert_allclose(w, np.full(MIN_CELLS_PER_REGION, 0.25e-9), rtol=1e-15)


# -- Debye length ------------------------------------------------------------


@pytest.mark.parametrize(
    ("conc", "valence", "by_z"),
    [
        ({"Na": 150.0, "Cl": 150.0}, {"Na": 1, "Cl": -1}, {1: 150.0, -1: 150.0}),
        ({"Ca": 2.0, "Cl": 4.0}, {"Ca": 2, "Cl": -1}, {2: 2.0, -1: 4.0}),
        # dilute: 100 nM CaCl2 (ionic strength far below 1 mol/m^3)
        ({"Ca": 1e-4, "Cl": 2e-4}, {"Ca": 2, "Cl": -1}, {2: 1e-4, -1: 2e-4}),
    ],
)
def test_debye_length_closed_form(conc, valence, by_z):
    t, eps_r = 310.15, 80.0
    lam = debye_length(conc, valence, eps_r, t)
    # R = k N_A and F = e N_A exactly (SI 2019): agreement to round-off
    assert lam == pytest.approx(_lambda_closed_form(by_z, eps_r, t), rel=1e-14, abs=0)


def test_debye_length_of_150_mM_salt_is_0785_nm():
    lam = debye_length({"Na": 150.0, "Cl": 150.0}, {"Na": 1, "Cl": -1}, 78.5, 298.15)
    assert lam == pytest.approx(0.785e-9, abs=0.0005e-9)


def test_debye_length_without_ions_is_infinite():
    assert debye_length({}, {}, 80.0, 300.0) == math.inf
    assert debye_length({"X": 0.0}, {"X": -1}, 80.0, 300.0) == math.inf


# -- build_mesh ---------------------------------------------------------------


def _check_mesh_identities(mesh, lengths):
    np.testing.assert_array_equal(np.diff(mesh.faces), mesh.widths)
    np.testing.assert_allclose(
        mesh.centers, 0.5 * (mesh.faces[1:] + mesh.faces[:-1]), rtol=0, atol=0
    )
    assert mesh.faces[0] == 0.0
    assert mesh.n_cells == mesh.centers.size == mesh.widths.size
    np.testing.assert_array_equal(mesh.spacing, np.diff(mesh.centers))
    assert np.all(mesh.widths > 0)
    ends = np.cumsum(lengths)
    for j, (start, stop) in enumerate(mesh.region_slices):
        # region ends are exactly the case's interfaces, not a rounded sum
        assert mesh.faces[stop] == ends[j]
        np.testing.assert_array_equal(mesh.region[start:stop], j)
    assert mesh.region_slices[0][0] == 0
    assert mesh.region_slices[-1][1] == mesh.n_cells
    area, vol = geometry_factors(mesh.faces, mesh.geometry)
    np.testing.assert_array_equal(mesh.face_area, area)
    np.testing.assert_array_equal(mesh.volume, vol)


THREE_REGIONS = [
    {"name": "cyt", "length": 37e-9, "eps_r": 80, "concentration": {"Na": 100, "Cl": 100}},
    {"name": "mem", "membrane": True, "length": 5e-9, "eps_r": 2, "permeability": {"Na": 1e-9}},
    {"name": "bath", "length": 43e-9, "eps_r": 80, "concentration": {"Na": 100, "Cl": 100}},
]


@pytest.mark.parametrize("geometry", ["cartesian", "cylindrical", "spherical"])
def test_build_mesh_regions_and_interfaces(geometry):
    # the left end is a plain wall (in radial geometry it is the centre r = 0)
    case = _case(
        regions=THREE_REGIONS,
        geometry=geometry,
        left={"type": "wall"},
        right={"type": "reservoir", "potential": 0},
        mesh={"cells_per_debye": 4, "growth": 1.2, "max_cell": 2e-9, "membrane_cells": 7},
    )
    mesh = build_mesh(case)
    assert mesh.geometry == geometry
    assert mesh.region_names == ("cyt", "mem", "bath")
    _check_mesh_identities(mesh, [37e-9, 5e-9, 43e-9])
    lam = debye_length({"Na": 100, "Cl": 100}, {"Na": 1, "Cl": -1}, 80, 298.15)
    (a0, _), (m0, m1), (_, b1) = mesh.region_slices
    # membrane: membrane_cells uniform cells
    assert m1 - m0 == 7
    np.testing.assert_allclose(mesh.widths[m0:m1], 5e-9 / 7, rtol=1e-9)
    # beside the membrane: the smallest cells resolve lambda / cells_per_debye;
    # at the plain wall and the reservoir (no double layer): coarse cells
    for cell in (m0 - 1, m1):
        assert lam / 4 * 0.5 <= mesh.widths[cell] <= lam / 4 * (1 + 1e-12)
    for cell in (a0, b1 - 1):
        assert mesh.widths[cell] > 5 * lam / 4


@pytest.mark.parametrize(
    ("left", "graded"),
    [
        ({"type": "wall", "potential": 0.05}, True),
        ({"type": "wall", "surface_charge": -0.01}, True),
        ({"type": "wall", "surface_charge": 0.0}, False),
        ({"type": "reservoir", "potential": 0}, False),
    ],
)
def test_only_walls_with_a_double_layer_are_graded(left, graded):
    case = _case(left=left, right={"type": "reservoir", "potential": 0})
    mesh = build_mesh(case)
    _check_mesh_identities(mesh, [40e-9])
    lam = debye_length({"Na": 150, "Cl": 150}, {"Na": 1, "Cl": -1}, 78.5, 298.15)
    if graded:
        assert mesh.widths[0] <= lam / 4 * (1 + 1e-12)
        assert mesh.widths[0] >= lam / 8
    else:
        # uniform cells of (at most) max_cell: 40 nm / 2 nm = 20 cells
        np.testing.assert_allclose(mesh.widths, 2e-9, rtol=1e-9)


def test_right_wall_is_graded_at_the_right_end():
    case = _case(
        left={"type": "reservoir", "potential": 0}, right={"type": "wall", "potential": 0.05}
    )
    mesh = build_mesh(case)
    lam = debye_length({"Na": 150, "Cl": 150}, {"Na": 1, "Cl": -1}, 78.5, 298.15)
    assert mesh.widths[-1] <= lam / 4 * (1 + 1e-12)
    assert 5 * lam / 4 < mesh.widths[0] <= 2e-9 * (1 + 1e-12)


def test_refine_divides_the_cells():
    case = _case()
    coarse, fine = build_mesh(case), build_mesh(case, refine=2)
    _check_mesh_identities(fine, [40e-9])
    # the smallest cell halves (up to the scale-down to fit: within 10 %)
    assert fine.widths[0] == pytest.approx(coarse.widths[0] / 2, rel=0.1, abs=0)
    # the largest cell halves: max_cell / refine
    assert fine.widths.max() <= 1e-9 * (1 + 1e-12)
    # growth^(1/2): neighbour ratio at most sqrt(1.2)
    assert np.all(fine.widths[1:] / fine.widths[:-1] <= math.sqrt(1.2) * (1 + 1e-12))
    # about twice the cells (same grading shape)
    assert 1.8 <= fine.n_cells / coarse.n_cells <= 2.2


def test_uniform_cells_gives_n_equal_cells_per_region():
    case = _case(
        regions=THREE_REGIONS,
        left={"type": "reservoir", "potential": 0},
        right={"type": "reservoir", "potential": 0},
        mesh={"uniform_cells": 6},
    )
    mesh = build_mesh(case)
    _check_mesh_identities(mesh, [37e-9, 5e-9, 43e-9])
    assert mesh.n_cells == 18
    for (a, b), length in zip(mesh.region_slices, (37e-9, 5e-9, 43e-9), strict=True):
        assert b - a == 6
        np.testing.assert_allclose(mesh.widths[a:b], length / 6, rtol=1e-9)
    refined = build_mesh(case, refine=3)
    assert refined.n_cells == 54


def test_every_interface_between_bulk_regions_is_graded_on_both_sides():
    # two electrolytes in contact (a liquid junction), reservoirs at both
    # ends: the only double layer is at the junction
    regions = [
        {"name": "a", "length": 30e-9, "eps_r": 80, "concentration": {"Na": 100, "Cl": 100}},
        {"name": "b", "length": 30e-9, "eps_r": 80, "concentration": {"Na": 10, "Cl": 10}},
    ]
    case = _case(
        regions=regions,
        left={"type": "reservoir", "potential": 0},
        right={"type": "reservoir", "potential": 0},
    )
    mesh = build_mesh(case)
    _check_mesh_identities(mesh, [30e-9, 30e-9])
    (_, stop), _ = mesh.region_slices
    for j, c in enumerate((100, 10)):
        lam = debye_length({"Na": c, "Cl": c}, {"Na": 1, "Cl": -1}, 80, 298.15)
        cell = stop - 1 if j == 0 else stop
        assert lam / 8 <= mesh.widths[cell] <= lam / 4 * (1 + 1e-12)
    # the reservoir ends are coarse
    assert mesh.widths[0] > 2 * mesh.widths[stop - 1]
    assert mesh.widths[-1] > 2 * mesh.widths[stop]


def test_a_mesh_is_immutable():
    # models and refined families share meshes: nobody may edit one in place
    mesh = build_mesh(_case())
    with pytest.raises(dataclasses.FrozenInstanceError):
        mesh.geometry = "spherical"


def test_a_moved_mesh_is_the_mesh_with_new_faces():
    """Mesh.moved (what a moving mesh makes at every new scale) gives the
    fields dataclasses.replace would, the centres and widths from the new
    faces, and leaves the original untouched."""
    import dataclasses

    from pnp.discretisation.mesh import geometry_factors, mesh_from_faces

    rng = np.random.default_rng(4)
    faces = np.concatenate([[1e-6], 1e-6 + np.cumsum(10.0 ** rng.uniform(-9, -7, 40))])
    mesh = mesh_from_faces(faces, np.repeat([0, 1], 20), ("a", "b"), "spherical")
    before = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in vars(mesh).items()}
    new_faces = faces * 1.3
    area, volume = geometry_factors(new_faces, "spherical")
    moved = mesh.moved(new_faces, area, volume)
    want = dataclasses.replace(
        mesh,
        faces=new_faces,
        centers=0.5 * (new_faces[1:] + new_faces[:-1]),
        widths=np.diff(new_faces),
        face_area=area,
        volume=volume,
    )
    assert type(moved) is type(mesh) and vars(moved).keys() == vars(want).keys()
    for key, value in vars(want).items():
        assert np.array_equal(getattr(moved, key), value), key
    for key, value in before.items():
        assert np.array_equal(getattr(mesh, key), value), key
