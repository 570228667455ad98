"""The case → kernel-array lowering against exact identities (no solve).

- Poisson: for a layered dielectric the exact potential is piecewise linear
  with a continuous displacement eps E; the face conductances (half cells in
  series, harmonic eps) must carry the same displacement through every face
  of that sampled potential, and the interpolation weight must put the face
  potential on the exact line.
- The second-order wall gradient is exact for a quadratic potential.
- Diffusion: resistances in series. Through a membrane of uniform D_m the
  half-cell and face resistances add up to L / (D_m A) exactly; in a bulk
  region every face conductance is D A / (centre distance).
- Impermeant species are absent (zero initial concentration, closed faces),
  barriers become offsets dG / RT, and boundary data are the case's
  (sigma A / F, I A / F, held concentrations, half-cell conductances).
- Pumps conserve every species (what leaves one cell enters the other), move
  3 Na out and 2 K in per cycle, and the saturating rate and its analytic
  derivatives agree with the Michaelis–Menten closed form and a central
  difference.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import bath, cytoplasm, membrane, neuron_cell, neuron_species
from scipy import constants

import pnp
from pnp.constants import FARADAY
from pnp.discretisation import kernel
from pnp.discretisation.model import (
    build_model,
    initial_state,
    pump_rate,
    pump_rate_derivatives,
    pump_sources,
)
from pnp.input.case import Case
from pnp.solvers.newton import boundary_displacement

CASES = Path(__file__).resolve().parent.parent / "cases"

T = 310.15
SPECIES = neuron_species()
CYT = cytoplasm(200e-9)
BATH = bath(300e-9)
MEM = membrane()


def _model(regions=None, left=None, right=None, mesh=None, pump=None, geometry="cartesian"):
    data = {
        "title": "model test",
        "temperature": T,
        "geometry": geometry,
        "species": SPECIES,
        "region": regions or [CYT, MEM, BATH],
        "boundary": {
            "left": left or {"type": "wall"},
            "right": right or {"type": "reservoir", "potential": 0},
        },
        "mesh": mesh or {"cells_per_debye": 2, "growth": 1.5, "max_cell": 20e-9},
    }
    if pump is not None:
        data["pump"] = pump
    return build_model(Case.from_dict(data))


def test_thermal_voltage_and_layout():
    m = _model()
    assert m.thermal_voltage == pytest.approx(constants.k * T / constants.e, rel=1e-15, abs=0)
    assert m.layout.block == 5
    assert m.n_unknowns == m.n_cells * 5
    assert m.bandwidths == (5, 9)
    np.testing.assert_array_equal(m.z, [1, 1, -1, -1])
    phi, c = m.split(m.x0)
    np.testing.assert_array_equal(phi, 0.0)
    assert c.shape == (4, m.n_cells)


def test_floating_boundaries_add_one_unknown_each():
    m = _model(left={"type": "reservoir", "potential": "floating", "current": 2.0})
    assert m.layout.n_boundary == 1
    assert m.n_unknowns == m.n_cells * 5 + 1
    np.testing.assert_array_equal(m.b_type, [kernel.FLOATING, kernel.RESERVOIR])
    # I A / F entering the domain, cartesian A = 1
    assert m.b_current[0] == pytest.approx(2.0 / FARADAY, rel=1e-15, abs=0)
    x = m.x0.copy()
    x[0] = 0.7
    np.testing.assert_array_equal(m.boundary_psi(x), [0.7, 0.0])
    # the body of x starts after the left boundary unknown
    _, c = m.split(x)
    np.testing.assert_allclose(c[:, 0], [140, 12, 10, 142])
    r = _model(
        left={"type": "wall", "potential": 0.0},
        right={"type": "reservoir", "potential": "floating", "current": -1.0},
    )
    assert r.layout.n_boundary == 0
    assert r.n_unknowns == r.n_cells * 5 + 1
    assert r.b_current[1] == pytest.approx(-1.0 / FARADAY, rel=1e-15, abs=0)
    x = r.x0.copy()
    x[-1] = -0.3
    np.testing.assert_array_equal(r.boundary_psi(x), [0.0, -0.3])


def test_layered_dielectric_carries_one_displacement():
    # the exact potential of a series capacitor: eps_j dphi/dx the same in
    # every layer. Sampled at the centres, every face must pass the same P.
    m = _model(
        left={"type": "wall"},
        right={"type": "wall", "potential": 0.0},
        mesh={"cells_per_debye": 1, "growth": 1.4, "max_cell": 30e-9, "membrane_cells": 5},
    )
    eps = m.eps_r
    disp = 1e-3  # D [C/m^2]
    field = -disp / (constants.epsilon_0 * eps)  # dphi/dx per cell
    # phi at the faces by integrating the field, then at the centres
    phi_faces = np.concatenate([[0.0], np.cumsum(field * m.mesh.widths)])
    phi_c = phi_faces[:-1] + field * m.mesh.widths / 2.0
    psi = phi_c / m.thermal_voltage
    p = m.pois_cond[1:-1] * (psi[:-1] - psi[1:])  # P toward +x, mol per unit area
    # measured relative spread ~1e-12 (differences of psi); 1e-9 allowed
    np.testing.assert_allclose(p * FARADAY, disp, rtol=1e-9)
    w = m.pois_wleft[1:-1]
    np.testing.assert_allclose(
        w * psi[:-1] + (1 - w) * psi[1:],
        phi_faces[1:-1] / m.thermal_voltage,
        rtol=1e-9,
        atol=1e-12 * np.abs(psi).max(),
    )


@pytest.mark.parametrize("side", [0, 1])
def test_wall_gradient_is_exact_for_a_quadratic(side):
    held = {"type": "wall", "potential": 0.02}
    m = _model(
        regions=[CYT],
        left=held if side == 0 else {"type": "reservoir", "potential": 0},
        right=held if side == 1 else {"type": "reservoir", "potential": 0},
        mesh={"cells_per_debye": 2, "growth": 1.5, "max_cell": 20e-9},
    )
    length = m.mesh.faces[-1]
    wall = 0.0 if side == 0 else length
    a, b = 3e5, 4e13  # V/m, V/m^2

    def phi(r):
        return 0.02 + a * (r - wall) + b * (r - wall) ** 2

    x = m.x0.copy()
    x[m.potential_index()] = phi(m.mesh.centers) / m.thermal_voltage
    if side == 0:
        m.b_psi[1] = phi(length) / m.thermal_voltage
    else:
        m.b_psi[0] = phi(0.0) / m.thermal_voltage
    dphi = a + 2 * b * (0.0 if side == 0 else length - wall)  # at the wall
    expected = -constants.epsilon_0 * 80 * dphi / FARADAY  # P toward +x, A = 1
    # exact but for round-off of psi differences (measured 2e-12); 1e-9
    assert boundary_displacement(m, x)[side] == pytest.approx(expected, rel=1e-9, abs=0)


@pytest.mark.parametrize("side", [0, 1])
def test_two_cells_beside_a_held_wall_already_give_the_second_order_gradient(side):
    """N = 2, the fewest cells for the quadratic through the wall and two
    centres (h/2, 3h/2): the wall's displacement is exact for a quadratic
    potential (measured 3.3e-16 relative; 5e-15 allowed)."""
    held = {"type": "wall", "potential": 0.02}
    h = 50e-9
    m = _model(
        regions=[cytoplasm(2 * h)],
        left=held if side == 0 else {"type": "reservoir", "potential": 0},
        right=held if side == 1 else {"type": "reservoir", "potential": 0},
        mesh={"uniform_cells": 2},
    )
    assert m.n_cells == 2 and m.b_pois_next[side] != 0.0
    wall = 0.0 if side == 0 else 2 * h
    a, b = 3e5, 4e12  # V/m, V/m^2

    def phi(r):
        return 0.02 + a * (r - wall) + b * (r - wall) ** 2

    x = m.x0.copy()
    x[m.potential_index()] = phi(m.mesh.centers) / m.thermal_voltage
    m.b_psi[1 - side] = phi(2 * h - wall) / m.thermal_voltage
    expected = -constants.epsilon_0 * 80 * a / FARADAY  # P toward +x at the wall, A = 1
    assert boundary_displacement(m, x)[side] == pytest.approx(expected, rel=5e-15, abs=0)


def test_series_resistance_through_the_membrane():
    m = _model(mesh={"cells_per_debye": 2, "growth": 1.5, "max_cell": 20e-9, "membrane_cells": 6})
    _, start, stop = m.membranes[0]
    case = m.case
    for i, name in enumerate(m.species):
        d_m = m.d_reg[i, 1]
        if d_m == 0.0:
            continue
        # left interface face `start`: its right half cell is in the membrane;
        # right interface face `stop`: its left half cell is
        assert m.face_kind[i, start] == m.face_kind[i, stop] == kernel.INTERFACE
        inner = range(start + 1, stop)
        assert all(m.face_kind[i, f] == kernel.SG for f in inner)
        total = (
            m.face_rr[i, start] + sum(1.0 / m.face_cond[i, f] for f in inner) + m.face_rl[i, stop]
        )
        assert total == pytest.approx(5e-9 / d_m, rel=1e-12, abs=0)
        # and the membrane D reproduces the permeability with its offset
        perm = math.exp(-m.g_cell[i, start]) * d_m / 5e-9
        assert perm == pytest.approx(case.regions[1].permeability[name], rel=1e-12, abs=0)


def test_bulk_faces_conduct_d_over_distance_and_closed_faces_do_not():
    m = _model()
    (a, b), _, (c, d) = m.mesh.region_slices
    for i in range(m.n_species):
        for lo, hi, j in ((a, b, 0), (c, d, 2)):
            faces = np.arange(lo + 1, hi)
            dist = m.mesh.centers[faces] - m.mesh.centers[faces - 1]
            np.testing.assert_allclose(m.face_cond[i, faces] * dist, m.d_reg[i, j], rtol=1e-12)
            assert np.all(m.face_kind[i, faces] == kernel.SG)
    # X is impermeant: closed at the membrane, absent there, immobile
    ix = m.species.index("X")
    _, start, stop = m.membranes[0]
    assert m.face_kind[ix, start] == m.face_kind[ix, stop] == kernel.CLOSED
    assert m.face_cond[ix, start] == m.face_rr[ix, start] == 0.0
    assert m.d_reg[ix, 1] == 0.0
    _, c0 = m.split(initial_state(m))
    np.testing.assert_array_equal(c0[ix, start:stop], 0.0)
    np.testing.assert_array_equal(c0[ix, :start], 142.0)
    # the boundary faces are never SG/interface faces of the body
    assert np.all(m.face_kind[:, 0] == kernel.CLOSED)
    assert np.all(m.face_kind[:, -1] == kernel.CLOSED)


def test_barrier_is_an_offset_of_dg_over_rt():
    bath = dict(BATH, barrier={"K": 2500.0})
    m = _model(regions=[CYT, MEM, bath])
    ik = m.species.index("K")
    (_, _), _, (c, d) = m.mesh.region_slices
    rt = constants.R * T
    np.testing.assert_allclose(m.g_cell[ik, c:d], 2500.0 / rt, rtol=1e-14)
    np.testing.assert_array_equal(m.g_cell[ik, :2], 0.0)
    assert m.b_g[1, ik] == pytest.approx(2500.0 / rt, rel=1e-14, abs=0)


def test_boundary_data():
    sigma = -0.01
    m = _model(
        regions=[CYT, MEM, BATH],
        left={"type": "wall", "surface_charge": sigma},
        right={"type": "reservoir", "potential": -0.004},
    )
    assert m.b_type[0] == kernel.WALL_CHARGE and m.b_type[1] == kernel.RESERVOIR
    assert m.b_sigma[0] == pytest.approx(sigma / FARADAY, rel=1e-15, abs=0)
    assert m.b_psi[1] == pytest.approx(-0.004 / m.thermal_voltage, rel=1e-15, abs=0)
    np.testing.assert_array_equal(m.b_conc[1], [5, 145, 150, 0])
    np.testing.assert_array_equal(m.b_conc[0], 0.0)  # walls hold nothing
    h = m.mesh.widths[-1]
    np.testing.assert_allclose(m.b_cond[1], m.d_reg[:, 2] / (h / 2), rtol=1e-14)
    eps0s = constants.epsilon_0 * m.thermal_voltage / FARADAY
    assert m.b_pois_cond[1] == pytest.approx(eps0s * 80 / (h / 2), rel=1e-14, abs=0)
    # reservoir and charged walls use the half-cell gradient only
    np.testing.assert_array_equal(m.b_pois_next, 0.0)
    assert m.membranes == (("mem", *m.mesh.region_slices[1]),)
    assert m.inside == "left"


def _pump_model(inside="left", **pump):
    # K neither first nor last: an index off by the species position shows
    data = neuron_cell(
        inside,
        cyt_length=CYT["length"],
        bath_length=BATH["length"],
        title="pump",
        temperature=T,
        species=neuron_species(("Na", "K", "Cl", "X")),
        mesh={"uniform_cells": 5},
        pump=dict(membrane="mem", **pump),
    )
    return build_model(Case.from_dict(data))


@pytest.mark.parametrize("inside", ["left", "right"])
def test_pump_conserves_and_moves_three_na_out_two_k_in(inside):
    m = _pump_model(inside, rate=2e-7)
    (p,) = m.pumps
    _, start, stop = m.membranes[0]
    # the cells beside the membrane, inside first
    cells = (start - 1, stop) if inside == "left" else (stop, start - 1)
    assert (p.inside_cell, p.outside_cell) == cells
    out = pump_sources(m, m.x0, np.full((m.n_species, m.n_cells), 9.0))
    np.testing.assert_array_equal(out.sum(axis=1), 0.0)  # conservation
    ina, ik = m.species.index("Na"), m.species.index("K")
    assert out[ina, p.inside_cell] == pytest.approx(-3 * 2e-7, rel=1e-15, abs=0)
    assert out[ik, p.inside_cell] == pytest.approx(2 * 2e-7, rel=1e-15, abs=0)
    assert out[ina, p.outside_cell] == pytest.approx(3 * 2e-7, rel=1e-15, abs=0)
    # nothing elsewhere (the 9.0 filler is cleared)
    mask = np.ones(m.n_cells, bool)
    mask[list(cells)] = False
    np.testing.assert_array_equal(out[:, mask], 0.0)
    # net charge moved outward per cycle: +1
    assert float(m.z @ out[:, p.outside_cell]) == pytest.approx(2e-7, rel=1e-12, abs=0)


def test_saturating_pump_rate_and_derivatives():
    m = _pump_model(j_max=1e-6, K_Na=12.0, K_K=3.0)
    (p,) = m.pumps
    ina, ik = m.species.index("Na"), m.species.index("K")
    x = m.x0.copy()
    i_na = m.layout.conc_at(p.inside_cell, ina)
    i_k = m.layout.conc_at(p.outside_cell, ik)
    # at the half-activation concentrations: (1/2)^3 (1/2)^2
    x[i_na], x[i_k] = 12.0, 3.0
    assert pump_rate(m, p, x) == pytest.approx(1e-6 / 32, rel=1e-15, abs=0)
    x[i_na], x[i_k] = 20.0, 4.0
    expected = 1e-6 * (20 / 32) ** 3 * (4 / 7) ** 2
    assert pump_rate(m, p, x) == pytest.approx(expected, rel=1e-15, abs=0)
    d_na, d_k = pump_rate_derivatives(m, p, x)
    for idx, d in ((i_na, d_na), (i_k, d_k)):
        step = 1e-4
        xp, xm = x.copy(), x.copy()
        xp[idx] += step
        xm[idx] -= step
        fd = (pump_rate(m, p, xp) - pump_rate(m, p, xm)) / (2 * step)
        # central difference error ~ step^2 f'''/6: measured 1e-9 relative; 1e-7
        assert d == pytest.approx(fd, rel=1e-7, abs=0)
    # a dilute K bath (0.5 mM, below every shipped case) still follows the
    # closed form, and a K-free bath stops the pump
    x[i_k] = 0.5
    assert pump_rate(m, p, x) == pytest.approx(
        1e-6 * (20 / 32) ** 3 * (0.5 / 3.5) ** 2, rel=1e-15, abs=0
    )
    x[i_k] = 0.0
    assert pump_rate(m, p, x) == 0.0
    x[i_k] = 4.0
    # negative iterates are clipped to 0: no pumping, no negative rate
    x[i_na] = -1.0
    assert pump_rate(m, p, x) == 0.0
    assert pump_rate_derivatives(m, p, x)[0] == 0.0
    x[i_na], x[i_k] = 20.0, -1.0  # the same for K outside
    assert pump_rate(m, p, x) == 0.0
    assert pump_rate_derivatives(m, p, x) == (0.0, 0.0)
    # a constant pump has no derivatives
    c = _pump_model(rate=1e-7)
    assert pump_rate_derivatives(c, c.pumps[0], c.x0) == (0.0, 0.0)
    assert pump_rate(c, c.pumps[0], c.x0) == 1e-7


def test_array_shapes_follow_the_documented_layout():
    # the kernel indexes faces 0..N and sides 0..1 without bounds checks: an
    # array of the wrong length would be read past its meaning silently
    m = _model(left={"type": "reservoir", "potential": "floating"})
    S, N = m.n_species, m.n_cells
    shapes = {
        "z": (S,),
        "eps_r": (N,),
        "volume": (N,),
        "rho_fixed": (N,),
        "g_cell": (S, N),
        "d_reg": (S, 3),
        "pois_cond": (N + 1,),
        "pois_wleft": (N + 1,),
        "face_kind": (S, N + 1),
        "face_cond": (S, N + 1),
        "face_rr": (S, N + 1),
        "b_type": (2,),
        "b_psi": (2,),
        "b_sigma": (2,),
        "b_current": (2,),
        "b_conc": (2, S),
        "b_g": (2, S),
        "b_pois_cond": (2,),
        "b_pois_next": (2,),
        "b_cond": (2, S),
        "x0": (m.n_unknowns,),
    }
    for name, shape in shapes.items():
        assert getattr(m, name).shape == shape, name
    assert m.face_rl.shape == (S, N + 1)
    assert m.d_cell.shape == (S, N)
    # the kernel arguments are exactly these arrays, in its order
    args = m.kernel_args()
    assert args[:3] == (N, S, m.layout.n_boundary)
    assert args[3] is m.z and args[-1] is m.b_cond


def test_an_impermeant_species_is_absent_from_a_membrane_even_if_given():
    mem = dict(MEM, concentration={"Na": 1.0, "K": 2.0, "X": 3.0})
    m = _model(regions=[CYT, mem, BATH])
    _, start, stop = m.membranes[0]
    _, c = m.split(m.x0)
    ix, ina = m.species.index("X"), m.species.index("Na")
    # X is impermeant (no permeability): absent; Na permeates: kept
    np.testing.assert_array_equal(c[ix, start:stop], 0.0)
    np.testing.assert_array_equal(c[ina, start:stop], 1.0)
    # and it cannot move there: no diffusivity in the membrane, every face touching a
    # membrane cell closed to X (its two interfaces included), open to Na
    np.testing.assert_array_equal(m.d_cell[ix, start:stop], 0.0)
    np.testing.assert_array_equal(m.face_kind[ix, start : stop + 1], kernel.CLOSED)
    assert np.all(m.face_kind[ina, start : stop + 1] != kernel.CLOSED)


def test_initial_contents_are_each_regions_concentrations_and_nothing_where_absent():
    """x0 holds every region's given concentrations, exactly 0 for a species the region
    does not list (X in the bath, every species in the membrane that names none), at
    zero potential: each region's amounts are its concentrations times its volume."""
    m = _model(regions=[CYT, MEM, BATH])
    psi, c = m.split(m.x0)
    np.testing.assert_array_equal(psi, 0.0)
    for j, region in enumerate([CYT, MEM, BATH]):
        cells = m.mesh.region == j
        for i, name in enumerate(m.species):
            given = region.get("concentration", {}).get(name, 0.0)
            np.testing.assert_array_equal(c[i, cells], given, err_msg=f"{region['name']} {name}")
            amount = c[i, cells] @ m.mesh.volume[cells]
            assert amount == pytest.approx(given * m.mesh.volume[cells].sum(), rel=1e-15)
    assert "X" not in BATH["concentration"] and not np.any(
        c[m.species.index("X"), m.mesh.region == 2]
    )


@pytest.mark.parametrize(
    ("membrane_k", "bath_d_k", "expected"),
    [
        # K (species 0, charged) crosses every face but the left wall: every cell
        (1e-8, None, {"cyt": 1, "mem": 1, "bath": 1}),
        # the membrane keeps K out: its cells have no open face for K; the cells beside
        # it (one face closed, the other open) still do
        (None, None, {"cyt": 1, "mem": 0, "bath": 1}),
        # K immobile in the bath: no bath face is open for it, not even the reservoir's
        (1e-8, 0.0, {"cyt": 1, "mem": 1, "bath": 0}),
    ],
)
def test_current_continuity_replaces_species_0_where_it_can_move(membrane_k, bath_d_k, expected):
    """Model.continuity_cells: 1 exactly in the cells where species 0 is charged and
    crosses at least one face (a wall is closed; a reservoir is open to a mobile
    species), 0 elsewhere, so that a transient keeps species 0's own balance where its
    amount cannot change (docs/numerics.md, "Current continuity")."""
    mem = dict(MEM, permeability={k: v for k, v in MEM["permeability"].items() if k != "K"})
    if membrane_k is not None:
        mem["permeability"]["K"] = membrane_k
    bath_region = dict(BATH) if bath_d_k is None else dict(BATH, D={"K": bath_d_k})
    m = _model(regions=[CYT, mem, bath_region])
    assert m.species[0] == "K" and m.z[0] == 1.0
    cont = m.continuity_cells()
    assert cont.dtype == np.int8
    for j, name in enumerate(("cyt", "mem", "bath")):
        np.testing.assert_array_equal(cont[m.mesh.region == j], expected[name], err_msg=name)


def test_a_single_cell_beside_a_held_wall_uses_the_half_cell_gradient():
    """One region of one cell (`uniform_cells = 1`) with a held wall: no second
    cell for the wall's quadratic gradient, so the model keeps the half-cell
    one (b_pois_next = 0) and the case solves (Gauss's law then gives the
    wall charge of a linear drop over the half cell)."""
    case = pnp.load_case(CASES / "debye_layer.toml", overrides={"mesh.uniform_cells": 1})
    m = build_model(case)
    assert m.n_cells == 1 and m.b_pois_next[0] == 0.0
    r = pnp.run(case)
    assert r.status == "completed", r.message
    assert np.isfinite(r.surface_charge["left"][-1])


def test_face_rl_is_the_left_half_cell_resistance_at_interfaces_only():
    """Model.face_rl: (h_L/2) / (D_L A) on the interface faces a species can cross,
    0 on every other face (SG, closed, boundary)."""
    m = _model()
    h, area = m.mesh.widths, m.mesh.face_area
    interfaces = np.flatnonzero(m.mesh.region[:-1] != m.mesh.region[1:]) + 1
    for i in range(m.n_species):
        d_cell = m.d_reg[i, m.mesh.region]
        expected = np.zeros(m.n_cells + 1)
        for f in interfaces:
            if d_cell[f - 1] > 0 and d_cell[f] > 0:
                expected[f] = (h[f - 1] / 2) / (d_cell[f - 1] * area[f])
        np.testing.assert_allclose(m.face_rl[i], expected, rtol=1e-14, atol=0, err_msg=m.species[i])
    # X cannot cross the membrane: nothing on its interfaces either
    assert not np.any(m.face_rl[m.species.index("X")])
    assert np.count_nonzero(m.face_rl) == 2 * (m.n_species - 1)


def _one_cell_regions(species, left, right):
    """a | membrane (only Na permeates) | b with one cell per region: a and b each
    have a single face that could open for species 0 besides the membrane's."""
    conc = {name: 100.0 for name in species}
    data = {
        "title": "continuity",
        "temperature": T,
        "species": species,
        "region": [
            {"name": "a", "length": 50e-9, "eps_r": 80, "concentration": conc},
            {
                "name": "m",
                "membrane": True,
                "length": 5e-9,
                "eps_r": 2,
                "permeability": {"Na": 1e-9},
            },
            {"name": "b", "length": 50e-9, "eps_r": 80, "concentration": conc},
        ],
        "boundary": {"left": left, "right": right},
        "mesh": {"uniform_cells": 1},
    }
    return build_model(Case.from_dict(data))


RES = {"type": "reservoir", "potential": 0}
WALL = {"type": "wall", "potential": 0}


@pytest.mark.parametrize(
    ("first", "left", "right", "expected"),
    [
        # species 0 (Cl-, kept out of the membrane) can cross only a reservoir's face
        ("Cl", RES, WALL, [1, 0, 0]),
        ("Cl", WALL, RES, [0, 0, 1]),
        ("Cl", RES, RES, [1, 0, 1]),
        ("Cl", WALL, WALL, [0, 0, 0]),
        # species 0 neutral: it carries no current, its balance stays everywhere
        ("U", RES, RES, [0, 0, 0]),
    ],
)
def test_continuity_cells_follow_species_0_through_the_boundary_faces(first, left, right, expected):
    """docs/numerics.md "Current continuity": the cells where species 0 is charged
    and crosses a face, here only the boundary faces (a reservoir is open, a wall
    closed); the charged species 0 is an anion, the last species neutral or not."""
    species = {
        "Na": {"z": 1, "D": 1.33e-9},
        "Cl": {"z": -1, "D": 2.03e-9},
        "U": {"z": 0, "D": 1e-9},
    }
    order = [first] + [s for s in ("Na", "U", "Cl") if s != first]
    m = _one_cell_regions({s: species[s] for s in order}, left, right)
    assert m.species[0] == first and m.n_cells == 3
    np.testing.assert_array_equal(m.continuity_cells(), expected)


@pytest.mark.parametrize("side", [0, 1])
def test_a_single_cell_held_wall_has_the_half_cell_gradient_on_either_side(side):
    """One cell: no second cell for the quadratic, so the wall's displacement is the
    two-point half-cell one, eps A (psi_b - psi_0) / (h/2) (numerics.md, boundary
    faces), the wall on the left or on the right."""
    held = -0.02
    walls = [{"type": "wall", "potential": held}, dict(RES)]
    if side == 1:
        walls.reverse()
    m = _model(regions=[CYT], left=walls[0], right=walls[1], mesh={"uniform_cells": 1})
    assert m.n_cells == 1
    h = m.mesh.widths[0]
    eps0s = constants.epsilon_0 * m.thermal_voltage / FARADAY
    assert m.b_pois_cond[side] == pytest.approx(eps0s * 80 / (h / 2), rel=1e-14, abs=0)
    assert m.b_pois_next[side] == 0.0
    x = m.x0.copy()
    psi_c = 0.3
    x[m.potential_index()] = psi_c
    psi_b = held / m.thermal_voltage
    # toward +x: -eps dpsi/dx over the half cell
    p = eps0s * 80 * (psi_b - psi_c) / (h / 2) * (1 if side == 0 else -1)
    assert boundary_displacement(m, x)[side] == pytest.approx(p, rel=1e-13, abs=0)


# ----------------------------------------------------------------------------
# A moving mesh (water crosses the membrane): scale, rebuilds, given meshes
# ----------------------------------------------------------------------------


def _swelling_case(**membrane_keys):
    """test_swelling's cell: 5 um of cytoplasm (KCl 150 mM) behind a membrane
    that lets water through, a bath of 75 mM; cartesian, per m^2."""
    from test_swelling import _cell

    return Case.from_dict(_cell(**membrane_keys))


def _same_geometry(a, b, rtol):
    """The geometric arrays of two models agree (faces, volumes, Poisson and
    flux conductances, the boundary arrays that depend on the end cells)."""
    np.testing.assert_allclose(a.mesh.faces, b.mesh.faces, rtol=rtol, atol=0)
    for name in (
        "volume",
        "pois_cond",
        "pois_wleft",
        "face_cond",
        "face_rr",
        "b_sigma",
        "b_current",
        "b_pois_cond",
        "b_pois_next",
        "b_cond",
    ):
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=rtol, atol=0, err_msg=name
        )


def test_a_swelling_model_starts_at_scale_1_and_stretching_it_is_building_it_there():
    """A model whose volume moves is built at scale 1, the scale its last
    unknown (1 in the initial state); moved to scale 2, its inside volume is
    twice the written 5 um, and every geometric array is what build_model
    gives on the moved mesh with the volume fixed (measured equal bit for
    bit; 1e-14 allowed for another order of the same sums)."""
    from pnp.discretisation.swelling import inside_volume, set_scale

    case = _swelling_case()
    m = build_model(case)
    assert m.swelling is not None and m.scale == 1.0
    assert m.n_unknowns == m.layout.n_boundary + m.n_cells * (m.n_species + 1) + 1
    assert m.x0.shape == (m.n_unknowns,) and m.x0[-1] == 1.0
    assert inside_volume(m) == pytest.approx(5e-6, rel=1e-14, abs=0)
    set_scale(m, 2.0)
    assert m.scale == 2.0
    assert inside_volume(m) == pytest.approx(10e-6, rel=1e-13, abs=0)
    fixed = build_model(case, m.mesh, moving=False)
    assert fixed.swelling is None
    _same_geometry(m, fixed, rtol=1e-14)
    assert m.b_pois_cond[0] < build_model(case).b_pois_cond[0]  # the end cell did widen


def test_a_mesh_given_for_a_moving_volume_is_moved_back_to_the_case_s_geometry():
    """A mesh at scale 1.5 (a swollen result's) given to build_model: with the
    volume moving (the default for this case, or moving=True) the model is
    built at the case's own geometry (scale 1); with the volume fixed
    (moving=False, the adaptive runs' fixed model) on the mesh as given.
    Faces measured equal to 2.2e-16; 2e-15 allowed."""
    from pnp.discretisation.swelling import set_scale

    case = _swelling_case()
    m = build_model(case)
    own = m.mesh.faces.copy()
    set_scale(m, 1.5)
    swollen = m.mesh
    assert swollen.faces[-1] > own[-1] * 1.2
    for moving in (None, True):
        back = build_model(case, swollen, moving=moving)
        assert back.scale == 1.0
        np.testing.assert_allclose(back.mesh.faces, own, rtol=2e-15, atol=0)
    kept = build_model(case, swollen, moving=False)
    np.testing.assert_array_equal(kept.mesh.faces, swollen.faces)


def test_a_rebuilt_moving_model_keeps_its_scale_and_volume_unknown_when_water_stops():
    """rebuild_model (a protocol's new state) on a model at scale 1.5: the new
    model is at 1.5 on the same faces, with the same unknowns; also when the
    new state lets no water through (its volume stays an unknown).
    Measured equal bit for bit; 1e-14 allowed."""
    from pnp.discretisation.model import rebuild_model
    from pnp.discretisation.swelling import set_scale

    case = _swelling_case()
    m = build_model(case)
    set_scale(m, 1.5)
    no_water = _swelling_case(water_permeability=0.0)
    for new_case in (case, no_water):
        new = rebuild_model(new_case, m)
        assert new.swelling is not None and new.scale == 1.5
        assert new.n_unknowns == m.n_unknowns
        _same_geometry(new, m, rtol=1e-14)


def test_the_compiled_face_conductances_and_poisson_faces_are_the_numpy_forms():
    """A moving mesh recomputes these at every new scale, compiled: the same
    bits as the numpy forms they replace, on random graded meshes with
    closed faces (D = 0 on one side), interfaces and bulk faces of every
    species, in every geometry's face areas."""
    from pnp.discretisation.mesh import mesh_from_faces
    from pnp.discretisation.model import _face_conductances, _face_kinds, _poisson_faces

    rng = np.random.default_rng(5)
    for geometry in ("cartesian", "cylindrical", "spherical"):
        N, S = 60, 4
        faces = np.concatenate([[0.0], np.cumsum(10.0 ** rng.uniform(-10, -7, N))])
        region = np.repeat([0, 1, 2], N // 3)
        mesh = mesh_from_faces(faces, region, ("a", "b", "c"), geometry)
        d_reg = 10.0 ** rng.uniform(-12, -9, (S, 3))
        d_reg[1, 1] = 0.0  # species 1 cannot enter the middle region
        d_cell = d_reg[:, region]
        kind = _face_kinds(mesh, d_cell)
        assert {kernel.CLOSED, kernel.SG, kernel.INTERFACE} <= set(np.unique(kind[:, 1:N]))
        got_cond, got_rr = _face_conductances(mesh, d_cell, kind)
        # the numpy form
        half_over_area = 0.5 / mesh.face_area[1:N]
        with np.errstate(divide="ignore"):
            rl = (mesh.widths[:-1] * half_over_area) / d_cell[:, :-1]
            rr = (mesh.widths[1:] * half_over_area) / d_cell[:, 1:]
        k = kind[:, 1:N]
        want_cond = np.zeros((S, N + 1))
        want_rr = np.zeros((S, N + 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            want_cond[:, 1:N] = np.where(
                k == kernel.SG, 1.0 / (rl + rr), np.where(k == kernel.INTERFACE, rl, 0.0)
            )
        want_rr[:, 1:N] = np.where(k == kernel.INTERFACE, rr, 0.0)
        assert np.array_equal(got_cond, want_cond) and np.array_equal(got_rr, want_rr)

        eps_r = rng.uniform(2.0, 80.0, N)
        got_pc, got_w = _poisson_faces(mesh, eps_r, 3.1e-13)
        h, area = mesh.widths, mesh.face_area
        half_l, half_r = h[:-1] / (2.0 * eps_r[:-1]), h[1:] / (2.0 * eps_r[1:])
        want_pc, want_w = np.zeros(N + 1), np.zeros(N + 1)
        want_pc[1:N] = area[1:N] * 3.1e-13 / (half_l + half_r)
        want_w[1:N] = half_r / (half_l + half_r)
        assert np.array_equal(got_pc, want_pc) and np.array_equal(got_w, want_w)


def _boundary_reference(case, mesh, eps_r, d_cell, eps0_scaled):
    """The Python form of the boundaries' geometric arrays (before they were compiled)."""
    N, h, area, reg = mesh.n_cells, mesh.widths, mesh.face_area, mesh.region
    out = {
        "b_sigma": np.zeros(2),
        "b_current": np.zeros(2),
        "b_pois_cond": np.zeros(2),
        "b_pois_next": np.zeros(2),
        "b_cond": np.zeros((2, d_cell.shape[0])),
    }
    for side, bnd in enumerate((case.left, case.right)):
        cell, face, nxt = (0, 0, 1) if side == 0 else (N - 1, N, N - 2)
        out["b_sigma"][side] = bnd.surface_charge * area[face] / FARADAY
        out["b_current"][side] = bnd.current * area[face] / FARADAY
        out["b_pois_cond"][side] = area[face] * eps0_scaled * eps_r[cell] / (h[cell] / 2.0)
        if bnd.type == "wall" and bnd.potential is not None and N >= 2 and reg[nxt] == reg[cell]:
            x0, x1 = h[cell] / 2.0, h[cell] + h[nxt] / 2.0
            eps_area = area[face] * eps0_scaled * eps_r[cell]
            out["b_pois_cond"][side] = eps_area * (x0 + x1) / (x0 * x1)
            out["b_pois_next"][side] = eps_area * x0 / (x1 * (x1 - x0))
        if bnd.type == "reservoir":
            out["b_cond"][side] = area[face] * d_cell[:, cell] / (h[cell] / 2.0)
    return out


@pytest.mark.parametrize(
    "left, right",
    [
        ({"type": "wall", "potential": 0.01}, {"type": "reservoir", "potential": 0}),
        ({"type": "wall", "surface_charge": -0.02}, {"type": "wall", "potential": -0.02}),
        (
            {"type": "reservoir", "potential": 0},
            {"type": "reservoir", "potential": "floating", "current": 3.0},
        ),
    ],
    ids=["wall-potential|reservoir", "wall-charge|wall-potential", "reservoir|floating-current"],
)
def test_the_compiled_boundary_geometry_is_the_python_form(left, right):
    """The boundaries' geometric arrays (formed at every new scale of a moving
    mesh, compiled) bit for bit against their Python form, on random graded
    meshes in every geometry, each boundary kind on each side."""
    from pnp.discretisation.geometry import _boundary_geometry
    from pnp.discretisation.mesh import mesh_from_faces

    rng = np.random.default_rng(9)
    case = _model(left=left, right=right).case
    N, S = 30, len(case.species_names)
    # one region; one-cell regions at both ends (no second-order wall gradient
    # there); at the left end only (each end's own cells decide)
    layouts = (
        np.zeros(N, dtype=int),
        np.array([0] + [1] * (N - 2) + [2]),
        np.array([0] + [1] * (N - 1)),
    )
    for geometry, regions in itertools.product(("cartesian", "cylindrical", "spherical"), layouts):
        faces = 1e-6 + np.concatenate([[0.0], np.cumsum(10.0 ** rng.uniform(-10, -7, N))])
        mesh = mesh_from_faces(faces, regions, ("a", "b", "c")[: regions.max() + 1], geometry)
        eps_r, d_cell = rng.uniform(2.0, 80.0, N), 10.0 ** rng.uniform(-12, -9, (S, N))
        got = _boundary_geometry(case, mesh, eps_r, d_cell, 3.1e-13)
        want = _boundary_reference(case, mesh, eps_r, d_cell, 3.1e-13)
        assert got.keys() == want.keys()
        for key in want:
            assert np.array_equal(got[key], want[key]), key


def test_a_channel_species_crosses_its_membrane_at_the_leak_plus_every_channel():
    """With voltage-gated channels the membrane's offset for their species is
    that of P_ref = P_leak + the channels' open permeabilities (the gates
    then scale the faces): u = -ln(P L / D), as for a plain permeability."""
    case = pnp.load_case(CASES / "action_potential.toml")
    model = build_model(case)
    membrane = [r.name for r in case.regions].index("membrane")
    cell = np.flatnonzero(model.mesh.region == membrane)[0]
    region = case.regions[membrane]
    for name, p in (("Na", 3e-10 + 1.43e-6), ("K", 8e-9 + 9.2e-7), ("Cl", 3e-9)):
        i = model.species.index(name)
        want = -math.log(p * region.length / region.D[name])
        assert model.g_cell[i, cell] == pytest.approx(want, rel=1e-13), name


@pytest.mark.parametrize(
    "name", ["diffuse_charge", "donnan_approach", "ghk", "pump_leak", "membrane_charging"]
)
def test_geometric_arrays_are_the_built_models(name):
    """What a moving mesh forms at every new scale (geometry.geometric_arrays,
    one compiled call) is, on the model's own mesh, exactly what building the
    model formed (walls at a potential with the second-order gradient,
    charged walls, reservoirs, floating reservoirs; cartesian and spherical)."""
    from pnp.discretisation.geometry import GEOMETRIC, geometric_arrays

    m = build_model(pnp.load_case(CASES / f"{name}.toml"))
    got = geometric_arrays(m.case, m.mesh, m.eps_r, m.d_cell, m.face_kind)
    assert tuple(got) == GEOMETRIC
    for key in GEOMETRIC:
        assert np.array_equal(got[key], getattr(m, key)), key
