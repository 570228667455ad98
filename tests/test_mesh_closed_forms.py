"""The mesh's small formulas against values written out by hand (no solve).

- ``mesh_from_faces``: centres, widths, areas, volumes and region slices of a
  hand-made 4-cell mesh in each geometry (the shell volumes computed from
  the radii by hand), and its refusal of non-contiguous regions and of a
  face count that is not one more than the cell count.
- ``wall_screening_length``: the Gouy-Chapman length 2 eps kT / (|z| e |sigma|)
  of a charged wall, and of a held wall with the Grahame charge written in
  closed form: lambda_D / sinh(|psi|/2) for a 1:1 salt, and the factored
  form sigma^2 = 2 eps kT N_A c (u - 1)^2 (2u + 1) / u^2 (u = exp(psi)) for
  a 2:1 salt, in logarithms where exp(psi) overflows. Constants are spelled
  with k_B, e and N_A (scipy), the module with R and F.
- ``build_mesh``: the first cell beside a charged wall resolves the wall's
  Gouy-Chapman length, beside an interface the region's Debye length, and
  each wall's length reaches only the region beside it.
- ``assemble_mesh``: widths are scaled to fill each region (ratios kept),
  and the faces are summed from each region's nearer end, so that a region's
  widths read backwards give the mirrored widths to within round-off of the
  region's end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import constants

from pnp.discretisation.mesh import (
    assemble_mesh,
    build_mesh,
    mesh_from_faces,
    wall_screening_length,
)
from pnp.input.case import Boundary, Case, Region, Species

T = 298.15
KT = constants.k * T
E = constants.e
NA = constants.N_A
EPS_R = 78.5
EPS = EPS_R * constants.epsilon_0

# -- mesh_from_faces ----------------------------------------------------------

FACES = [0.0, 1.0, 3.0, 6.0, 10.0]


@pytest.mark.parametrize(
    ("geometry", "area", "volume"),
    [
        ("cartesian", [1, 1, 1, 1, 1], [1, 2, 3, 4]),
        # r and (r_R^2 - r_L^2)/2: (1-0)/2, (9-1)/2, (36-9)/2, (100-36)/2
        ("cylindrical", [0, 1, 3, 6, 10], [0.5, 4.0, 13.5, 32.0]),
        # r^2 and (r_R^3 - r_L^3)/3: 1/3, 26/3, 189/3, 784/3
        ("spherical", [0, 1, 9, 36, 100], [1 / 3, 26 / 3, 63.0, 784 / 3]),
    ],
)
def test_mesh_from_faces_of_a_hand_made_mesh(geometry, area, volume):
    mesh = mesh_from_faces(FACES, [0, 0, 1, 1], ("a", "b"), geometry)
    np.testing.assert_array_equal(mesh.centers, [0.5, 2.0, 4.5, 8.0])
    np.testing.assert_array_equal(mesh.widths, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(mesh.faces, FACES)
    np.testing.assert_array_equal(mesh.region, [0, 0, 1, 1])
    assert mesh.region_names == ("a", "b")
    assert mesh.region_slices == ((0, 2), (2, 4))
    assert mesh.geometry == geometry
    np.testing.assert_array_equal(mesh.face_area, area)
    np.testing.assert_allclose(mesh.volume, volume, rtol=1e-15, atol=0)
    assert mesh.mid_face("b") == 3


def test_mesh_from_faces_gives_an_empty_region_an_empty_slice():
    # region "b" holds no cell: its slice is empty, between its neighbours
    mesh = mesh_from_faces(FACES, [0, 0, 2, 2], ("a", "b", "c"), "cartesian")
    assert mesh.region_slices == ((0, 2), (2, 2), (2, 4))


@pytest.mark.parametrize(
    ("faces", "region"),
    [
        (FACES, [0, 1, 0, 1]),  # right face count, region "a" split in two
        (FACES, [1, 1, 0, 0]),  # right face count, regions right to left
        (FACES[:-1], [0, 0, 1, 1]),  # contiguous, one face short
        (FACES, [0, 0, 1]),  # contiguous, one face too many
    ],
)
def test_mesh_from_faces_refuses_split_regions_and_wrong_face_counts(faces, region):
    with pytest.raises(ValueError, match="contiguous"):
        mesh_from_faces(faces, region, ("a", "b"), "cartesian")


# -- wall_screening_length ------------------------------------------------------

SPECIES = (
    Species("Na", 1, 1.33e-9),
    Species("Cl", -1, 2.03e-9),
    Species("Ca", 2, 0.79e-9),
    Species("P", -3, 0.5e-9),
    Species("Glc", 0, 0.6e-9),
)


def _region(**conc) -> Region:
    full = {s.name: 0.0 for s in SPECIES} | conc
    d = {s.name: s.D for s in SPECIES}
    zero = dict.fromkeys(full, 0.0)
    return Region("r", 40e-9, EPS_R, False, full, 0.0, d, zero, {})


def _wall(potential=None, surface_charge=0.0, side="left") -> Boundary:
    return Boundary(side, "wall", potential, surface_charge)


def _reservoir(potential=0.0) -> Boundary:
    return Boundary("right", "reservoir", potential)


def _psi(volts: float) -> float:
    return E * volts / KT


def _gouy_chapman(z: int, sigma: float) -> float:
    return 2.0 * EPS * KT / (abs(z) * E * abs(sigma))


def _debye_11(c: float) -> float:
    """Debye length of a 1:1 salt at c mol/m^3: sqrt(eps kT / (2 e^2 N_A c))."""
    return math.sqrt(EPS * KT / (2.0 * E**2 * NA * c))


@pytest.mark.parametrize("sigma", [-0.05, 0.05, -0.2, 1.0])
def test_charged_wall_gets_the_gouy_chapman_length(sigma):
    region = _region(Na=150.0, Cl=150.0)
    got = wall_screening_length(SPECIES, T, region, _wall(surface_charge=sigma), _reservoir())
    assert got == pytest.approx(_gouy_chapman(1, sigma), rel=1e-12, abs=0)


@pytest.mark.parametrize(("sigma", "z"), [(-0.05, 2), (0.05, 1)])
def test_charged_wall_in_a_21_salt_takes_the_counter_ion_valence(sigma, z):
    # CaCl2: a negative wall is screened by Ca2+ (z = 2), a positive one by Cl-
    region = _region(Ca=50.0, Cl=100.0)
    got = wall_screening_length(SPECIES, T, region, _wall(surface_charge=sigma), _reservoir())
    assert got == pytest.approx(_gouy_chapman(z, sigma), rel=1e-12, abs=0)


@pytest.mark.parametrize("sigma", [-0.05, 0.05])
def test_neutral_and_absent_species_are_not_counter_ions(sigma):
    # Ca2+ and P3- absent (c = 0) and glucose (z = 0) present: only Na+ / Cl-
    # screen, whichever the sign
    region = _region(Na=150.0, Cl=150.0, Glc=10.0, Ca=0.0, P=0.0)
    got = wall_screening_length(SPECIES, T, region, _wall(surface_charge=sigma), _reservoir())
    assert got == pytest.approx(_gouy_chapman(1, sigma), rel=1e-12, abs=0)
    held = wall_screening_length(SPECIES, T, region, _wall(potential=0.1), _reservoir())
    assert held == pytest.approx(_debye_11(150.0) / math.sinh(_psi(0.1) / 2), rel=1e-12, abs=0)


def test_a_wall_without_counter_ions_or_charge_is_not_resolved():
    only_na = _region(Na=100.0)  # e.g. a gel whose fixed charge balances Na+
    # a positive wall: no counter-ion present
    assert wall_screening_length(SPECIES, T, only_na, _wall(surface_charge=0.05), _reservoir()) == (
        math.inf
    )
    # a negative one: Na+ screens it
    got = wall_screening_length(SPECIES, T, only_na, _wall(surface_charge=-0.05), _reservoir())
    assert got == pytest.approx(_gouy_chapman(1, -0.05), rel=1e-12, abs=0)
    # held above the bulk: the Grahame sum c (exp(-psi) - 1) is negative, no charge
    assert wall_screening_length(SPECIES, T, only_na, _wall(potential=0.1), _reservoir()) == (
        math.inf
    )
    salt = _region(Na=100.0, Cl=100.0)
    assert wall_screening_length(SPECIES, T, salt, _wall(), _reservoir()) == math.inf
    assert wall_screening_length(SPECIES, T, salt, _wall(potential=0.0), _reservoir()) == math.inf
    # a reservoir is not a wall, whatever its potential
    assert wall_screening_length(SPECIES, T, salt, _reservoir(0.1), _wall()) == math.inf


@pytest.mark.parametrize("volts", [0.1, -0.1, 0.02, -0.3])
def test_held_wall_in_a_11_salt_is_debye_over_sinh(volts):
    # Grahame: sigma = sqrt(8 eps kT N_A c) sinh(psi/2), so 2 eps kT / (e sigma)
    # = lambda_D / sinh(|psi|/2)
    region = _region(Na=150.0, Cl=150.0)
    got = wall_screening_length(SPECIES, T, region, _wall(potential=volts), _reservoir())
    want = _debye_11(150.0) / math.sinh(abs(_psi(volts)) / 2)
    assert got == pytest.approx(want, rel=1e-12, abs=0)


def _ln_abs_expm1(x: float) -> float:
    """ln|exp(x) - 1| without overflow."""
    return x + math.log(-math.expm1(-x)) if x > 0 else math.log(-math.expm1(x))


def _ln_sigma_21(c: float, psi: float) -> float:
    """ln sigma for CaCl2 at c: sigma^2 = 2 eps kT N_A c (u-1)^2 (2u+1) / u^2, u = e^psi."""
    ln_2u_plus_1 = float(np.logaddexp(math.log(2.0) + psi, 0.0))
    return 0.5 * (
        math.log(2.0 * EPS * KT * NA * c) + 2.0 * _ln_abs_expm1(psi) + ln_2u_plus_1 - 2.0 * psi
    )


def _length_21(c: float, psi: float) -> float:
    z = 1 if psi > 0 else 2  # counter-ion: Cl- above the bulk, Ca2+ below
    return math.exp(math.log(2.0 * EPS * KT / (z * E)) - _ln_sigma_21(c, psi))


@pytest.mark.parametrize(
    ("volts", "bulk"),
    [
        (0.1, 0.0),
        (-0.1, 0.0),
        # relative to a reservoir at nonzero potential: psi0 = V - V_bulk
        (0.1, 0.04),
        (-0.05, 0.03),
        (0.02, -0.06),
    ],
)
def test_held_wall_in_a_21_salt_against_the_factored_grahame_charge(volts, bulk):
    region = _region(Ca=50.0, Cl=100.0)
    got = wall_screening_length(SPECIES, T, region, _wall(potential=volts), _reservoir(bulk))
    # sanity of the closed form against the plain sum at this moderate psi
    psi = _psi(volts - bulk)
    plain = math.sqrt(2 * EPS * KT * NA * 50.0 * ((math.exp(-2 * psi) - 1) + 2 * math.expm1(psi)))
    assert math.exp(_ln_sigma_21(50.0, psi)) == pytest.approx(plain, rel=1e-12, abs=0)
    assert got == pytest.approx(_length_21(50.0, psi), rel=1e-12, abs=0)


@pytest.mark.parametrize(
    "other",
    [
        _wall(potential=0.07, side="right"),
        _wall(surface_charge=0.3, side="right"),
        _reservoir(None),
    ],
)
def test_held_wall_is_relative_to_0_V_unless_the_other_end_is_a_held_reservoir(other):
    # another wall (held or charged) or a floating reservoir: the bulk is at 0 V
    region = _region(Ca=50.0, Cl=100.0)
    got = wall_screening_length(SPECIES, T, region, _wall(potential=0.1), other)
    assert got == pytest.approx(_length_21(50.0, _psi(0.1)), rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("volts", "salt"),
    [(25.0, "11"), (-25.0, "11"), (25.0, "21"), (-15.0, "21")],
)
def test_a_huge_wall_potential_takes_the_log_path(volts, salt):
    # |psi| ~ 970 (1:1, 2:1 above the bulk) or 2|psi| ~ 1170 (Ca2+ below):
    # exp of the largest exponent overflows a float (> 709.8), sigma does not
    psi = _psi(volts)
    if salt == "11":
        region = _region(Na=150.0, Cl=150.0)
        # lambda_D / sinh(|psi|/2), sinh(x) = e^x (1 - e^-2x) / 2 in logs
        x = abs(psi) / 2
        want = math.exp(
            math.log(_debye_11(150.0)) - (x + math.log1p(-math.exp(-2 * x)) - math.log(2))
        )
    else:
        region = _region(Ca=50.0, Cl=100.0)
        want = _length_21(50.0, psi)
    top = abs(psi) if salt == "11" else max(psi, -2 * psi)  # largest of -z_i psi
    assert 700 < top < 1300
    got = wall_screening_length(SPECIES, T, region, _wall(potential=volts), _reservoir())
    assert 0.0 < got < 1e-200
    # the exponent (~1e3) is rounded to ~1e-13: its exp to ~1e-13 relative
    assert got == pytest.approx(want, rel=1e-11, abs=0)


@pytest.mark.parametrize("volts", [100.0, -100.0, 1e306])
def test_a_wall_charge_beyond_the_float_range_gives_zero_length(volts):
    # |psi| ~ 3900: sigma ~ e^1950 overflows; 1e306 V: psi itself is inf
    region = _region(Na=150.0, Cl=150.0)
    got = wall_screening_length(SPECIES, T, region, _wall(potential=volts), _reservoir())
    assert got == 0.0


# -- build_mesh: which ends are graded, to which length --------------------------


def _case(regions, left, right, mesh=None):
    return Case.from_dict(
        {
            "title": "mesh ends",
            "temperature": T,
            "species": {"Na": {"z": 1, "D": 1.33e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
            "region": regions,
            "boundary": {"left": left, "right": right},
            "mesh": mesh or {"cells_per_debye": 4, "growth": 1.2, "max_cell": 2e-9},
        }
    )


def _bulk(name, c, length=30e-9):
    return {
        "name": name,
        "length": length,
        "eps_r": EPS_R,
        "concentration": {"Na": c, "Cl": c},
    }


def test_each_wall_grades_its_own_region_to_its_gouy_chapman_length():
    # region a (100 mM) beside a wall of -0.1 C/m^2, region b (10 mM) beside
    # one held at -0.1 V (against 0 V: the other end is a wall); both walls
    # screen more tightly than the Debye length
    case = _case(
        [_bulk("a", 100.0), _bulk("b", 10.0)],
        {"type": "wall", "surface_charge": -0.1},
        {"type": "wall", "potential": -0.1},
    )
    mesh = build_mesh(case)
    (_, stop), _ = mesh.region_slices
    lam_a, lam_b = _debye_11(100.0), _debye_11(10.0)
    gc_left, gc_right = _gouy_chapman(1, -0.1), lam_b / math.sinh(_psi(0.1) / 2)
    assert gc_left < lam_a / 2 and gc_right < lam_b / 2
    # each region's smallest cell (at both of its graded ends) is
    # min(lambda_D, l_GC of its own wall) / cells_per_debye, scaled down by
    # less than a factor 2 to fit
    for cell, ell in [(0, gc_left), (stop - 1, gc_left), (stop, gc_right), (-1, gc_right)]:
        assert ell / 8 <= mesh.widths[cell] <= ell / 4 * (1 + 1e-12), cell


def test_a_held_wall_grades_to_its_grahame_length_and_the_reservoir_end_is_coarse():
    # 0.15 V against a reservoir at 0.05 V: psi0 = F 0.1 V / RT
    case = _case(
        [_bulk("a", 150.0, length=40e-9)],
        {"type": "wall", "potential": 0.15},
        {"type": "reservoir", "potential": 0.05},
    )
    mesh = build_mesh(case)
    ell = _debye_11(150.0) / math.sinh(_psi(0.1) / 2)
    assert ell < _debye_11(150.0) / 2
    assert ell / 8 <= mesh.widths[0] <= ell / 4 * (1 + 1e-12)
    # the reservoir end: no double layer, max_cell-sized cells
    assert mesh.widths[-1] > 1e-9


def test_uniform_cells_ignore_walls_and_fill_each_region():
    case = _case(
        [_bulk("a", 100.0, length=37e-9), _bulk("b", 10.0, length=43e-9)],
        {"type": "wall", "surface_charge": -0.1},
        {"type": "wall", "potential": 0.1},
        mesh={"uniform_cells": 5},
    )
    mesh = build_mesh(case)
    assert mesh.region_slices == ((0, 5), (5, 10))
    np.testing.assert_allclose(mesh.widths[:5], 37e-9 / 5, rtol=1e-14)
    np.testing.assert_allclose(mesh.widths[5:], 43e-9 / 5, rtol=1e-14)
    assert mesh.faces[5] == 37e-9 and mesh.faces[-1] == 80e-9


# -- assemble_mesh -----------------------------------------------------------------


def test_assemble_mesh_scales_widths_to_fill_each_region():
    case = _case(
        [_bulk("a", 100.0, length=30e-9), _bulk("b", 10.0, length=20e-9)],
        {"type": "wall"},
        {"type": "reservoir", "potential": 0},
    )
    # widths in proportion only (e.g. a stored mesh 1e-9 off the case's lengths)
    mesh = assemble_mesh(case, [np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0]) * (1 + 1e-9)])
    np.testing.assert_allclose(mesh.widths, [3e-9, 6e-9, 9e-9, 12e-9, 10e-9, 10e-9], rtol=1e-14)
    assert mesh.faces[4] == 30e-9 and mesh.faces[-1] == 50e-9
    assert mesh.region_slices == ((0, 4), (4, 6))


def test_assemble_mesh_sums_faces_from_the_nearer_end():
    # a 509-cell graded mesh (fine at x = 0) and the same widths read backwards
    # (fine at x = L): the faces beside each end carry only the round-off of
    # that end's few cells, so the second mesh is the mirror of the first to
    # an ulp of L (measured 0.7 ulp; summed from the left only: 25 ulp)
    length = 1e-6
    case = _case(
        [_bulk("a", 150.0, length=length)],
        {"type": "wall", "potential": 0.05},
        {"type": "reservoir", "potential": 0},
    )
    w = build_mesh(case).widths
    assert w.size > 400 and w[-1] > 10 * w[0]
    forward = assemble_mesh(case, [w]).widths
    backward = assemble_mesh(case, [w[::-1].copy()]).widths
    np.testing.assert_allclose(backward[::-1], forward, rtol=0, atol=2 * np.spacing(length))


@pytest.mark.parametrize("n_given", [1, 3])
def test_assemble_mesh_wants_one_widths_array_per_region(n_given):
    case = _case(
        [_bulk("a", 100.0), _bulk("b", 10.0)],
        {"type": "wall"},
        {"type": "reservoir", "potential": 0},
    )
    # one array for two regions would otherwise give 4 faces' worth of
    # geometry for 8 cells (np.repeat broadcasts a single count)
    with pytest.raises(ValueError):
        assemble_mesh(case, [np.ones(4)] * n_given)
