"""Observables of hand-built states against closed forms (no solve).

In a uniform 1:1 electrolyte with a linear potential phi(x) = phi0 (1 - x/L):
- the Scharfetter–Gummel flux of uniform c in a uniform field is pure drift,
  exactly: J_i = -D_i z_i c F/(RT) dphi/dx, so the current is Ohm's law
  I = (F^2/RT) c (D_+ + D_-) phi0 / L;
- the displacement is eps phi0 / L everywhere (no space charge), so the wall
  carries sigma = eps phi0 / L, the reservoir end -sigma (the second-order wall
  gradient and the half-cell reservoir gradient are exact for a linear phi);
- V_m = phi(inside end) - phi(outside end): swapping the inside flips it.
A charged wall's potential is the adjacent centre plus sigma (h/2) / eps
(Gauss across the half cell). Pumps and dP/dt enter the membrane fluxes and
the current additively: their contribution is checked as the difference of
two observations of one state, with the inside on either side.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import neuron_cell
from scipy import constants

from pnp.constants import FARADAY
from pnp.discretisation.model import build_model
from pnp.input.case import Case
from pnp.results.observables import (
    face_fluxes,
    face_potential,
    measurement_face,
    membrane_faces,
    membrane_voltage,
    observe,
    outward_sign,
)

PHI0 = 0.05  # V
LENGTH = 20e-9  # m
C0 = 150.0  # mol/m^3
D_NA, D_CL = 1.33e-9, 2.03e-9
EPS_R = 78.5
EPS = EPS_R * constants.epsilon_0
# Linear state: only round-off remains (measured relative error <= 3e-14 in
# the fluxes, currents and charges: differences of nearby potentials); 1e-12.
RTOL = 1e-12


def _electrolyte(inside="left", left=None, right=None, n=10, geometry="cartesian"):
    data = {
        "title": "observables test",
        "temperature": 298.15,
        "geometry": geometry,
        "inside": inside,
        "species": {"Na": {"z": 1, "D": D_NA}, "Cl": {"z": -1, "D": D_CL}},
        "region": [
            {
                "name": "bath",
                "length": LENGTH,
                "eps_r": EPS_R,
                "concentration": {"Na": C0, "Cl": C0},
            }
        ],
        "boundary": {
            "left": left or {"type": "wall", "potential": PHI0},
            "right": right or {"type": "reservoir", "potential": 0},
        },
        "mesh": {"uniform_cells": n},
    }
    return build_model(Case.from_dict(data))


def _linear_state(model, phi_of_x):
    x = model.x0.copy()
    centres = model.mesh.centers
    x[model.potential_index()] = phi_of_x(centres) / model.thermal_voltage
    return x


def test_linear_potential_gives_ohms_law_and_gauss():
    model = _electrolyte()
    x = _linear_state(model, lambda r: PHI0 * (1 - r / LENGTH))
    obs = observe(model, x)
    vt = model.thermal_voltage
    grad = -PHI0 / LENGTH  # dphi/dx [V/m]
    # measured at the outside (right, reservoir) face, outward = +x
    assert measurement_face(model) == model.n_cells
    assert obs["flux_Na"] == pytest.approx(-D_NA * C0 * grad / vt, rel=RTOL, abs=0)
    assert obs["flux_Cl"] == pytest.approx(+D_CL * C0 * grad / vt, rel=RTOL, abs=0)
    ohm = FARADAY * C0 * (D_NA + D_CL) * PHI0 / (vt * LENGTH)
    assert obs["current"] == pytest.approx(ohm, rel=RTOL, abs=0)
    assert obs["membrane_potential"] == pytest.approx(PHI0, rel=RTOL, abs=0)
    sigma = EPS * PHI0 / LENGTH
    assert obs["surface_charge_left"] == pytest.approx(sigma, rel=RTOL, abs=0)
    assert obs["surface_charge_right"] == pytest.approx(-sigma, rel=RTOL, abs=0)
    # the charge on the inside (+x normal) of the measurement face: the
    # capacitor charge eps E = sigma
    assert obs["membrane_charge"] == pytest.approx(sigma, rel=RTOL, abs=0)
    assert obs["pump_current"] == 0.0


def test_swapping_the_inside_flips_potential_and_outward_quantities():
    left = _electrolyte(inside="left")
    right = _electrolyte(inside="right")
    assert outward_sign(left) == 1.0
    assert outward_sign(right) == -1.0
    # inside on the right: measured at the left (wall) face, where nothing flows
    assert measurement_face(right) == 0
    phi = lambda r: PHI0 * (1 - r / LENGTH)  # noqa: E731
    a = observe(left, _linear_state(left, phi))
    b = observe(right, _linear_state(right, phi))
    assert b["membrane_potential"] == pytest.approx(-a["membrane_potential"], rel=RTOL, abs=0)
    assert b["flux_Na"] == 0.0 and b["flux_Cl"] == 0.0 and b["current"] == 0.0
    # outward normal at the wall is -x: the displacement there is +eps phi0/L
    # toward +x, so the outward charge is -sigma
    sigma = EPS * PHI0 / LENGTH
    assert b["membrane_charge"] == pytest.approx(-sigma, rel=RTOL, abs=0)
    # surface charges do not depend on which side is inside
    assert b["surface_charge_left"] == pytest.approx(a["surface_charge_left"], rel=RTOL, abs=0)
    assert b["surface_charge_right"] == pytest.approx(a["surface_charge_right"], rel=RTOL, abs=0)


@pytest.mark.parametrize("sigma", [-0.02, 0.01])
def test_charged_wall_potential_is_gauss_across_the_half_cell(sigma):
    # charged wall on the left: the field at the wall is sigma / eps, and the
    # linear profile with that slope reaches 0 at the reservoir
    model = _electrolyte(left={"type": "wall", "surface_charge": sigma})
    slope = -sigma / EPS  # dphi/dx
    x = _linear_state(model, lambda r: slope * (r - LENGTH))
    obs = observe(model, x)
    # the wall potential: the linear profile at x = 0 (exact for a line)
    assert obs["membrane_potential"] == pytest.approx(-slope * LENGTH, rel=RTOL, abs=0)
    assert obs["surface_charge_left"] == sigma
    # neutral electrolyte: the reservoir end carries the opposite charge
    assert obs["surface_charge_right"] == pytest.approx(-sigma, rel=RTOL, abs=0)


def test_charged_wall_on_the_right():
    sigma = 0.015
    model = _electrolyte(
        left={"type": "reservoir", "potential": 0}, right={"type": "wall", "surface_charge": sigma}
    )
    slope = sigma / EPS  # D_x = -sigma at the right wall (normal into the domain is -x)
    x = _linear_state(model, lambda r: slope * r)
    obs = observe(model, x)
    # inside is left (reservoir at 0): V_m = 0 - phi(L)
    assert obs["membrane_potential"] == pytest.approx(-slope * LENGTH, rel=RTOL, abs=0)
    assert obs["surface_charge_right"] == sigma
    assert obs["surface_charge_left"] == pytest.approx(-sigma, rel=RTOL, abs=0)


@pytest.mark.parametrize("inside", ["left", "right"])
def test_displacement_rate_adds_the_capacitive_current(inside):
    model = _electrolyte(inside=inside, left={"type": "reservoir", "potential": 0})
    # at rest (uniform, no field) no ion flows: the current is F dP/dt alone
    x = model.x0
    rate = 3e-9  # dP/dt toward +x, mol/s per unit area
    a, b = observe(model, x), observe(model, x, displacement_rate=rate)
    sign = 1.0 if inside == "left" else -1.0
    assert a["current"] == 0.0
    assert b["current"] == pytest.approx(sign * FARADAY * rate, rel=1e-14, abs=0)
    assert b["flux_Na"] == a["flux_Na"] == 0.0


def _membrane_cell(inside, pump_rate, geometry="cartesian"):
    data = neuron_cell(
        inside,
        title="pump test",
        geometry=geometry,
        pump={"membrane": "mem", "rate": pump_rate},
        mesh={"uniform_cells": 8},
    )
    return build_model(Case.from_dict(data))


@pytest.mark.parametrize("inside", ["left", "right"])
def test_pump_moves_three_sodium_out_and_two_potassium_in(inside):
    rate = 1e-7  # cycles, mol/m^2/s
    off, on = _membrane_cell(inside, 0.0), _membrane_cell(inside, rate)
    # a state with a field and gradients (x0 plus a potential ramp)
    x = on.x0.copy()
    x[on.potential_index()] = np.linspace(-2.0, 0.0, on.n_cells)
    # the membrane is the middle region: fluxes at its mid face
    _, start, stop = on.membranes[0]
    assert measurement_face(on) == (start + stop) // 2
    a, b = observe(off, x), observe(on, x)
    # outward positive whichever side the inside is on
    assert b["flux_Na"] - a["flux_Na"] == pytest.approx(3.0 * rate, rel=1e-9, abs=0)
    assert b["flux_K"] - a["flux_K"] == pytest.approx(-2.0 * rate, rel=1e-9, abs=0)
    assert b["flux_Cl"] == a["flux_Cl"]
    # one net positive charge out per cycle
    assert b["pump_current"] == pytest.approx(FARADAY * rate, rel=1e-14, abs=0)
    assert b["current"] - a["current"] == pytest.approx(FARADAY * rate, rel=1e-6, abs=0)
    assert a["pump_current"] == 0.0


def _layered(geometry, inside="left", mesh=None):
    """Electrolyte | 5 nm membrane | electrolyte (r from 1 um in radial runs)."""
    regions = [
        {"name": "a", "length": 1e-6, "eps_r": 80, "concentration": {"Na": C0, "Cl": C0}},
        {"name": "mem", "membrane": True, "length": 5e-9, "eps_r": 2, "permeability": {"Na": 1e-9}},
        {"name": "b", "length": 0.2e-6, "eps_r": 80, "concentration": {"Na": C0, "Cl": C0}},
    ]
    data = {
        "title": "capacitor",
        "temperature": 298.15,
        "geometry": geometry,
        "inside": inside,
        "species": {"Na": {"z": 1, "D": D_NA}, "Cl": {"z": -1, "D": D_CL}},
        "region": regions,
        "boundary": {"left": {"type": "wall"}, "right": {"type": "reservoir", "potential": 0}},
        "mesh": mesh or {"uniform_cells": 40},
    }
    return build_model(Case.from_dict(data))


def _coulomb_potential(model, q, r_f):
    """Cell-centre potential of a charge q r_f^2 per steradian inside the
    domain, no space charge: phi_k(r) = q r_f^2 / (eps_k r) + b_k in each
    layer, continuous at every face. Returns (phi at the centres, the last b_k)."""
    faces, eps = model.mesh.faces, constants.epsilon_0 * model.eps_r
    phi_c = np.empty(model.n_cells)
    b = 0.0
    for k in range(model.n_cells):
        if k > 0:
            # continuity at face k between cells k-1 and k
            b += q * r_f**2 * (1 / (eps[k - 1] * faces[k]) - 1 / (eps[k] * faces[k]))
        phi_c[k] = q * r_f**2 / (eps[k] * model.mesh.centers[k]) + b
    return phi_c, b


@pytest.mark.parametrize("geometry", ["cartesian", "spherical"])
def test_membrane_charge_is_the_capacitor_displacement(geometry):
    # no space charge anywhere: the displacement through a sphere of radius r
    # is D(r) r^2 = q (per steradian), so phi = q / (eps r) + const in each
    # layer; cartesian: D uniform, phi linear. Sampled at the cell centres,
    # the membrane charge at the mid membrane face must be D there.
    # graded: the membrane is not in the middle of the state vector
    model = _layered(
        geometry, mesh={"cells_per_debye": 1, "growth": 1.5, "max_cell": 50e-9, "membrane_cells": 6}
    )
    faces = model.mesh.faces
    q = 2e-3  # D at the mid membrane face [C/m^2]
    face = measurement_face(model)
    r_f = faces[face]
    eps = constants.epsilon_0 * model.eps_r
    if geometry == "cartesian":
        field = -q / eps * np.ones_like(eps)
        phi_faces = np.concatenate([[0.0], np.cumsum(field * model.mesh.widths)])
        phi_c = phi_faces[:-1] + field * model.mesh.widths / 2
    else:
        phi_c, _ = _coulomb_potential(model, q, r_f)
    x = model.x0.copy()
    x[model.potential_index()] = phi_c / model.thermal_voltage
    obs = observe(model, x)
    # cartesian: exact (measured 2e-14 relative); spherical: the face
    # conductance is second order in h/r (measured 1.7e-7); 10x those
    assert obs["membrane_charge"] == pytest.approx(
        q, rel=2e-13 if geometry == "cartesian" else 2e-6, abs=0
    )
    # the membrane charge is per unit membrane area: dP/dt too, so a
    # displacement rate of q r_f^2 / F per second is q A/m^2 of current
    rate = q * model.mesh.face_area[face] / FARADAY
    a, b_ = observe(model, model.x0), observe(model, model.x0, displacement_rate=rate)
    assert b_["current"] - a["current"] == pytest.approx(q, rel=1e-12, abs=0)


def test_spherical_membrane_fluxes_are_per_unit_area():
    # the same uniform-drift state in cartesian and spherical geometry: the
    # flux density through the membrane face must not depend on r^2
    for geometry in ("cartesian", "spherical"):
        model = _layered(geometry)
        x = model.x0.copy()
        # same potential step across the membrane only: bulk cells at 0 and -1
        _, start, stop = model.membranes[0]
        psi = np.zeros(model.n_cells)
        psi[stop:] = -1.0
        psi[start:stop] = np.linspace(0.0, -1.0, stop - start + 2)[1:-1]
        x[model.potential_index()] = psi
        # only Na permeates; its membrane cells empty in x0: fill with C0
        ina = model.species.index("Na")
        x[model.layout.conc_at(np.arange(start, stop), ina)] = C0
        obs = observe(model, x)
        if geometry == "cartesian":
            ref = obs["flux_Na"]
        else:
            # the mid-face flux is local (uniform c, linear psi in the
            # membrane): the same density to round-off (measured 2e-16)
            assert obs["flux_Na"] == pytest.approx(ref, rel=1e-14, abs=0)
    assert ref > 0  # drift outward down the potential


def test_nothing_crosses_the_centre_of_a_sphere():
    # inside on the outer side of a sphere without membrane: measured at the
    # centre r = 0, a face of zero area, where no flux, current or
    # displacement can pass (finite zeros, not 0/0)
    model = _electrolyte(inside="right", left={"type": "wall"}, geometry="spherical")
    assert measurement_face(model) == 0
    assert model.mesh.face_area[0] == 0.0
    x = _linear_state(model, lambda r: PHI0 * r / LENGTH)
    obs = observe(model, x, displacement_rate=1e-9)
    for key in ("current", "membrane_charge", "flux_Na", "flux_Cl"):
        assert obs[key] == 0.0


def test_divalent_ions_carry_twice_the_charge():
    # CaCl2 in a uniform field: J_i = -D_i z_i c_i dpsi/dx exactly (uniform c),
    # and the current is Ohm's law with sum z_i^2 D_i c_i: Ca2+ counts four times
    d_ca = 0.79e-9
    data = {
        "title": "CaCl2",
        "temperature": 298.15,
        "species": {"Ca": {"z": 2, "D": d_ca}, "Cl": {"z": -1, "D": D_CL}},
        "region": [
            {
                "name": "bath",
                "length": LENGTH,
                "eps_r": EPS_R,
                "concentration": {"Ca": 50.0, "Cl": 100.0},
            }
        ],
        "boundary": {
            "left": {"type": "wall", "potential": PHI0},
            "right": {"type": "reservoir", "potential": 0},
        },
        "mesh": {"uniform_cells": 10},
    }
    model = build_model(Case.from_dict(data))
    x = _linear_state(model, lambda r: PHI0 * (1 - r / LENGTH))
    obs = observe(model, x)
    vt = model.thermal_voltage
    e_field = PHI0 / LENGTH
    assert obs["flux_Ca"] == pytest.approx(2 * d_ca * 50.0 * e_field / vt, rel=RTOL, abs=0)
    ohm = FARADAY * (4 * d_ca * 50.0 + D_CL * 100.0) * e_field / vt
    assert obs["current"] == pytest.approx(ohm, rel=RTOL, abs=0)


@pytest.mark.parametrize("n", [1, 7])
@pytest.mark.parametrize("inside", ["left", "right"])
def test_boundary_membrane_charge_is_minus_the_wall_charge(inside, n):
    # without a membrane the capacitor charge is read at the outside boundary
    # face; Gauss there: the outward displacement is minus the charge on that
    # boundary surface (normal into the domain), for any state, including one
    # with space charge, where the two ends differ
    model = _electrolyte(
        inside=inside,
        left={"type": "reservoir", "potential": 0},
        right={"type": "wall", "potential": -PHI0},
        n=n,
    )
    x = _linear_state(model, lambda r: PHI0 * np.sin(7.0 * r / LENGTH) - PHI0 * r / LENGTH)
    obs = observe(model, x)
    outside = "right" if inside == "left" else "left"
    assert obs["membrane_charge"] == pytest.approx(
        -obs[f"surface_charge_{outside}"], rel=1e-14, abs=0
    )
    # space charge: the two ends carry different charges
    assert abs(obs["surface_charge_left"] + obs["surface_charge_right"]) > 1e-3 * abs(
        obs["surface_charge_left"]
    )


def test_fluxes_are_measured_in_the_first_membrane():
    # bath | membrane | organelle | membrane | bath, the inside on the left:
    # the reported fluxes and currents are those of the first (outer cell)
    # membrane
    model = _two_membranes("left")
    (_, a, b), (_, c, _) = model.membranes
    assert measurement_face(model) == (a + b) // 2
    assert c > b


def test_spherical_reservoir_charge_is_gauss_at_the_outer_radius():
    # the 1/r potential of a charge q r_f^2 per steradian: D(R) = q r_f^2 / R^2
    # on the outer (reservoir) surface, whose normal into the domain is -r
    model = _layered("spherical")
    faces, eps = model.mesh.faces, constants.epsilon_0 * model.eps_r
    face = measurement_face(model)
    q, r_f = 2e-3, faces[face]
    phi_c, b = _coulomb_potential(model, q, r_f)
    # the reservoir holds the potential of the exact solution at R
    radius = faces[-1]
    model.b_psi[1] = (q * r_f**2 / (eps[-1] * radius) + b) / model.thermal_voltage
    x = model.x0.copy()
    x[model.potential_index()] = phi_c / model.thermal_voltage
    obs = observe(model, x)
    # the half-cell gradient of 1/r is first order in h/R = 4.1e-3 (measured
    # 2.1e-3 relative); 2e-2
    assert obs["surface_charge_right"] == pytest.approx(-q * r_f**2 / radius**2, rel=2e-2, abs=0)


# -- membranes with inside = "right", face potentials, boundary faces ----------------


def _two_membranes(inside):
    """bath | m1 (eps 2) | organelle | m2 (eps 3) | bath, uneven cells, cartesian."""
    regions = [
        {"name": "a", "length": 100e-9, "eps_r": 80, "concentration": {"Na": C0, "Cl": C0}},
        {"name": "m1", "membrane": True, "length": 5e-9, "eps_r": 2, "permeability": {"Na": 1e-9}},
        {"name": "org", "length": 60e-9, "eps_r": 70, "concentration": {"Na": C0, "Cl": C0}},
        {"name": "m2", "membrane": True, "length": 7e-9, "eps_r": 3, "permeability": {"Na": 1e-9}},
        {"name": "b", "length": 100e-9, "eps_r": 80, "concentration": {"Na": C0, "Cl": C0}},
    ]
    walls = {"type": "wall"}, {"type": "reservoir", "potential": 0}
    data = {
        "title": "two membranes",
        "temperature": 298.15,
        "inside": inside,
        "species": {"Na": {"z": 1, "D": D_NA}, "Cl": {"z": -1, "D": D_CL}},
        "region": regions,
        "boundary": {
            "left": walls[0] if inside == "left" else walls[1],
            "right": walls[1] if inside == "left" else walls[0],
        },
        "mesh": {"cells_per_debye": 1, "growth": 1.5, "max_cell": 20e-9, "membrane_cells": 4},
    }
    return build_model(Case.from_dict(data))


def _series_face_potential(model, phi_c, face):
    """phi on an interior face from the two half cells as capacitors in series:
    eps_L (phi_L - phi_f)/(h_L/2) = eps_R (phi_f - phi_R)/(h_R/2)."""
    h, eps = model.mesh.widths, model.eps_r
    a = eps[face - 1] / (h[face - 1] / 2)
    b = eps[face] / (h[face] / 2)
    return (a * phi_c[face - 1] + b * phi_c[face]) / (a + b)


@pytest.mark.parametrize("inside", ["left", "right"])
def test_membrane_nearest_the_inside_gives_the_faces_and_the_voltage(inside):
    # two membranes: the reported one is the first met going outward from the
    # inside end; its faces are (inner, outer), and membrane_voltage is
    # phi(inner face) - phi(outer face), each face potential the series value
    model = _two_membranes(inside)
    (_, a, b), (_, c, d) = model.membranes
    inner, outer = (a, b) if inside == "left" else (d, c)
    assert membrane_faces(model) == (inner, outer)
    assert measurement_face(model) == ((a + b) // 2 if inside == "left" else (c + d) // 2)
    rng = np.random.default_rng(3)
    phi_c = rng.uniform(-0.1, 0.1, model.n_cells)
    x = model.x0.copy()
    x[model.potential_index()] = phi_c / model.thermal_voltage
    for face in (a, b, c, d):
        # an interface of two permittivities: not the plain average
        ref = _series_face_potential(model, phi_c, face)
        assert face_potential(model, x, face) == pytest.approx(ref, rel=1e-13, abs=0)
        assert abs(ref - 0.5 * (phi_c[face - 1] + phi_c[face])) > 1e-4
    v_ref = _series_face_potential(model, phi_c, inner) - _series_face_potential(
        model, phi_c, outer
    )
    assert membrane_voltage(model, x) == pytest.approx(v_ref, rel=1e-12, abs=0)
    assert observe(model, x)["membrane_voltage"] == pytest.approx(v_ref, rel=1e-12, abs=0)


def test_face_potential_at_the_boundary_faces_is_the_boundary_potential():
    # left: a charged wall (its centre plus sigma (h/2) / eps); right: a
    # reservoir held at -20 mV
    sigma, held = 0.01, -0.02
    model = _electrolyte(
        left={"type": "wall", "surface_charge": sigma},
        right={"type": "reservoir", "potential": held},
        n=5,
    )
    phi_c = np.linspace(0.03, 0.01, model.n_cells)
    x = model.x0.copy()
    x[model.potential_index()] = phi_c / model.thermal_voltage
    h0 = LENGTH / 5
    left = phi_c[0] + sigma * (h0 / 2) / EPS
    assert face_potential(model, x, 0) == pytest.approx(left, rel=1e-13, abs=0)
    assert face_potential(model, x, model.n_cells) == pytest.approx(held, rel=1e-13, abs=0)
    assert observe(model, x)["membrane_potential"] == pytest.approx(left - held, rel=1e-12, abs=0)


def test_species_currents_are_z_f_times_the_fluxes():
    # NaCl in a uniform field: current_i = z_i F flux_i,
    # each from the pure-drift closed form, and they add up to the current
    model = _electrolyte()
    x = _linear_state(model, lambda r: PHI0 * (1 - r / LENGTH))
    obs = observe(model, x)
    vt = model.thermal_voltage
    e_field = PHI0 / LENGTH
    j_na, j_cl = D_NA * C0 * e_field / vt, -D_CL * C0 * e_field / vt
    assert obs["current_Na"] == pytest.approx(FARADAY * j_na, rel=RTOL, abs=0)
    assert obs["current_Cl"] == pytest.approx(-FARADAY * j_cl, rel=RTOL, abs=0)
    assert obs["current_Cl"] > 0  # anions drifting inward carry outward current
    assert obs["current_Na"] + obs["current_Cl"] == pytest.approx(obs["current"], rel=RTOL, abs=0)


# -- the volume observables of a swelling cell ---------------------------------------

CELL = 2e-6  # m: the inside compartment as written


def _swelling_cell(geometry, left=None):
    """cytoplasm (KCl 150 mM) | membrane with water permeability and stiffness | bath."""
    regions = [
        {"name": "cyt", "length": CELL, "eps_r": 80, "concentration": {"Na": C0, "Cl": C0}},
        {
            "name": "mem",
            "membrane": True,
            "length": 5e-9,
            "eps_r": 2,
            "water_permeability": 1e-12,
            "stiffness": 1e4,
        },
        {"name": "bath", "length": 1e-6, "eps_r": 80, "concentration": {"Na": C0, "Cl": C0}},
    ]
    data = {
        "title": "swelling",
        "temperature": 298.15,
        "geometry": geometry,
        "species": {"Na": {"z": 1, "D": D_NA}, "Cl": {"z": -1, "D": D_CL}},
        "region": regions,
        "boundary": {
            "left": left or {"type": "wall"},
            "right": {"type": "reservoir", "potential": 0},
        },
        "mesh": {"uniform_cells": 6},
    }
    return build_model(Case.from_dict(data))


@pytest.mark.parametrize(
    ("geometry", "whole"),
    [
        ("cartesian", lambda r: r),  # per m^2 of membrane
        ("cylindrical", lambda r: np.pi * r**2),  # per m of length
        ("spherical", lambda r: 4.0 / 3.0 * np.pi * r**3),
    ],
)
def test_volume_is_the_whole_inside_compartment_at_the_states_scale(geometry, whole):
    # the state's last unknown is the scale s of the inside compartment: its
    # radius (cartesian: thickness) is s CELL, the volume the whole cell's
    model = _swelling_cell(geometry)
    s = 1.3
    x = model.x0.copy()
    x[-1] = s
    obs = observe(model, x)
    assert obs["volume"] == pytest.approx(whole(s * CELL), rel=1e-12, abs=0)
    # P_in - P_out = K (V / V0 - 1)
    assert obs["pressure"] == pytest.approx(
        1e4 * (whole(s * CELL) / whole(CELL) - 1.0), rel=1e-12, abs=0
    )
    # the amounts kept, the concentrations of x are those on the stretched cells
    assert obs["osmolarity_inside"] == pytest.approx(2 * C0, rel=1e-12, abs=0)
    assert obs["osmolarity_outside"] == pytest.approx(2 * C0, rel=1e-12, abs=0)
    # at scale 1 the volume is the case's
    assert observe(model, model.x0)["volume"] == pytest.approx(whole(CELL), rel=1e-12, abs=0)


def test_observables_of_a_swelling_cell_are_on_its_stretched_mesh():
    # a held wall at the inside end and a linear potential over the stretched
    # inside compartment: the wall's charge is -eps dphi/dx on the mesh at the
    # state's scale (the cells' widths are s times the case's)
    model = _swelling_cell("cartesian", left={"type": "wall", "potential": PHI0})
    s = 1.7
    base = model.mesh.faces.copy()
    stop = model.membranes[0][1]  # first membrane cell: the inside compartment ends there
    centres = 0.5 * (base[1:] + base[:-1])
    slope = -PHI0 / CELL  # dphi/dx [V/m] on the stretched compartment
    phi_c = np.zeros(model.n_cells)
    phi_c[:stop] = PHI0 + slope * s * centres[:stop]
    x = model.x0.copy()
    x[model.potential_index()] = phi_c / model.thermal_voltage
    x[-1] = s
    obs = observe(model, x)
    eps = 80 * constants.epsilon_0
    assert obs["surface_charge_left"] == pytest.approx(-eps * slope, rel=1e-10, abs=0)
    assert obs["volume"] == pytest.approx(s * CELL, rel=1e-12, abs=0)


@pytest.mark.parametrize("inside", ["left", "right"])
def test_a_species_current_at_rest_is_plus_zero(inside):
    # nothing flows at rest: every species' current is 0, written +0.0 (an
    # anion's z F j would otherwise give -0.0, printed "-0" in tables)
    model = _electrolyte(inside=inside, left={"type": "reservoir", "potential": 0})
    obs = observe(model, model.x0)
    for name in ("Na", "Cl"):
        assert obs[f"current_{name}"] == 0.0
        assert math.copysign(1.0, obs[f"current_{name}"]) == 1.0, name


def test_face_fluxes_are_the_drift_through_every_face_and_nothing_through_the_wall():
    # face_fluxes: (S, N+1), A_f J_i toward +x through every face. Uniform c in
    # a linear potential: pure drift -D z c dphi/dx / V_T through every
    # interior face and the reservoir face (area 1, cartesian), 0 at the wall
    model = _electrolyte(n=7)
    x = _linear_state(model, lambda r: PHI0 * (1 - r / LENGTH))
    flux = face_fluxes(model, x)
    assert flux.shape == (2, model.n_cells + 1)
    vt = model.thermal_voltage
    grad = -PHI0 / LENGTH
    for i, (d, z) in enumerate(((D_NA, 1), (D_CL, -1))):
        np.testing.assert_allclose(flux[i, 1:], -d * z * C0 * grad / vt, rtol=RTOL, atol=0)
        assert flux[i, 0] == 0.0


def test_no_membrane_no_membrane_voltage():
    # membrane_voltage is the drop over the membrane's own dielectric: 0 when
    # the case has none (V_m is then the whole drop)
    model = _electrolyte()
    x = _linear_state(model, lambda r: PHI0 * (1 - r / LENGTH))
    assert membrane_faces(model) is None
    assert membrane_voltage(model, x) == 0.0
    obs = observe(model, x)
    assert obs["membrane_voltage"] == 0.0
    assert obs["membrane_potential"] == pytest.approx(PHI0, rel=RTOL, abs=0)


def _channel_data():
    import tomllib
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "cases" / "action_potential.toml"
    data = tomllib.loads(path.read_text())
    data.pop("output", None)
    data.pop("stimulus", None)
    return data


def _channel_cell(inside: str):
    """action_potential's patch with a second Na+ channel (NaP: m^3 only) and
    a pump: the share of each channel is taken among all channels of its
    species and the leak, and the pump's flux is not a channel's."""
    from test_mirror import mirror

    data = _channel_data()
    data["channel"].append(
        {
            "name": "NaP",
            "membrane": "membrane",
            "species": "Na",
            "permeability": "2e-7 m/s",
            "gates": {"m": 3},
        }
    )
    data["pump"] = {"membrane": "membrane", "rate": "1e-7 mol/m^2/s"}
    if inside == "right":
        data = mirror(data)
    return build_model(Case.from_dict(data))


@pytest.mark.parametrize("inside", ["left", "right"])
def test_channel_currents_are_each_channels_share_of_its_species(inside):
    """gate_* are the state's gate unknowns; permeability_<ch> = P_max times
    the product of the gates to their powers (from the case's numbers); each
    channel's current is z F times its species' flux through the membrane
    without the pump's, times P_ch / (P_leak + the P of every channel of
    that species); with the leak's share they add up to the species'
    electrodiffusive current."""
    from pnp.solvers.steady import solve_steady

    model = _channel_cell(inside)
    rest = solve_steady(model)
    assert rest.success, rest.message
    x = rest.x.copy()  # at rest: ions cross the membrane
    chans = model.channels
    rng = np.random.default_rng(3)
    x[chans.block] = rng.uniform(0.05, 0.95, chans.n_gates)  # not at rest
    obs = observe(model, x)
    gate = {name: x[chans.block][k] for k, name in enumerate(chans.gate_names)}
    for name, value in gate.items():
        assert obs["gate_" + name.replace(".", "_")] == value
    p_open = {
        "NaV": 1.43e-6 * gate["NaV.m"] ** 3 * gate["NaV.h"],
        "KV": 9.2e-7 * gate["KV.n"] ** 4,
        "NaP": 2e-7 * gate["NaP.m"] ** 3,
    }
    leak = {"Na": 3e-10, "K": 8e-9}
    species = {"NaV": "Na", "NaP": "Na", "KV": "K"}
    pump = {"Na": 3.0 * 1e-7, "K": -2.0 * 1e-7}  # outward, mol/m^2/s
    for ch, ion in species.items():
        assert obs[f"permeability_{ch}"] == pytest.approx(p_open[ch], rel=1e-12)
        total = leak[ion] + sum(p for c, p in p_open.items() if species[c] == ion)
        ionic = FARADAY * (obs[f"flux_{ion}"] - pump[ion])
        want = ionic * p_open[ch] / total
        assert obs[f"channel_current_{ch}"] == pytest.approx(want, rel=1e-12)
        assert abs(want) > 1e-9 * abs(ionic)  # the share is not negligible
    for ion in ("Na", "K"):
        channel_sum = sum(obs[f"channel_current_{c}"] for c in species if species[c] == ion)
        total = leak[ion] + sum(p for c, p in p_open.items() if species[c] == ion)
        ionic = FARADAY * (obs[f"flux_{ion}"] - pump[ion])
        assert channel_sum + ionic * leak[ion] / total == pytest.approx(ionic, rel=1e-12)


def test_a_divalent_channel_carries_z_f_times_its_flux():
    """A Ca2+ channel (z = 2) beside a Ca2+ leak: its current is 2 F times its
    share of the Ca2+ flux."""
    from pnp.solvers.steady import solve_steady

    data = _channel_data()
    data["species"]["Ca"] = {"z": 2, "D": "0.79e-9 m^2/s"}
    data["region"][0]["concentration"].update(Ca=1e-4, X=410.0002)
    data["region"][1]["permeability"]["Ca"] = "1e-9 m/s"
    data["region"][2]["concentration"].update(Ca=2.0, Cl=470.0)
    data["channel"] = [
        {
            "name": "CaV",
            "membrane": "membrane",
            "species": "Ca",
            "permeability": "5e-8 m/s",
            "gates": {"m": 2},
        }
    ]
    model = build_model(Case.from_dict(data))
    rest = solve_steady(model)
    assert rest.success, rest.message
    x = rest.x.copy()
    x[model.channels.block] = 0.7
    obs = observe(model, x)
    p_ca = 5e-8 * 0.7**2
    want = 2.0 * FARADAY * obs["flux_Ca"] * p_ca / (1e-9 + p_ca)
    assert obs["channel_current_CaV"] == pytest.approx(want, rel=1e-12)
    assert obs["current_Ca"] == pytest.approx(2.0 * FARADAY * obs["flux_Ca"], rel=1e-12)
    assert abs(want) > 0.0


def test_a_closed_channel_of_an_unleaky_pumped_species_carries_exactly_zero():
    """NaV with every gate shut and no Na+ leak: nothing lets Na+ through but
    the pump, so P_leak + P_NaV = 0 and the channel's current is 0.0 (not
    nan, not -0.0 from the pump's outward flux times a zero share)."""
    import math

    data = _channel_data()
    del data["region"][1]["permeability"]["Na"]
    data["pump"] = {"membrane": "membrane", "rate": "1e-7 mol/m^2/s"}
    model = build_model(Case.from_dict(data))
    x = model.x0.copy()
    chans = model.channels
    x[chans.block] = [0.0 if name.startswith("NaV") else 0.5 for name in chans.gate_names]
    obs = observe(model, x)
    assert obs["permeability_NaV"] == 0.0
    value = obs["channel_current_NaV"]
    assert value == 0.0 and math.copysign(1.0, value) == 1.0
    assert obs["flux_Na"] == pytest.approx(3e-7, rel=1e-12)  # the pump's alone


def test_a_shut_channel_beside_a_leak_carries_plus_zero():
    """NaV shut (m = 0) while Na+ leaks inward at rest: its share is 0, and
    its current 0.0, not the -0.0 of an inward flux times a zero share."""
    import math

    from pnp.solvers.steady import solve_steady

    model = build_model(Case.from_dict(_channel_data()))
    rest = solve_steady(model)
    assert rest.success, rest.message
    x = rest.x.copy()
    chans = model.channels
    x[chans.block] = [0.0 if name == "NaV.m" else 0.5 for name in chans.gate_names]
    obs = observe(model, x)
    assert obs["current_Na"] < 0.0  # inward through the leak
    value = obs["channel_current_NaV"]
    assert value == 0.0 and math.copysign(1.0, value) == 1.0
