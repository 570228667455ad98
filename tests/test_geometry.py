"""Closed-form checks of the radial geometries (cylindrical and spherical).

Every check here depends on the geometry factors (face areas r or r^2, cell
volumes (r_R^2 - r_L^2)/2 or (r_R^3 - r_L^3)/3) and would fail if the mesh,
the kernel, the observables or the report's per-metre / whole-cell values used
them wrongly (a factor 2, or the cartesian 1 and h):

- the mesh: volumes add up to pi R^2 per metre (4/3 pi R^3), areas are 2 pi r;
- the small-signal capacitance of a cylindrical (spherical) membrane in series
  with its two curved diffuse layers (Debye–Hückel with I0/I1 inside, K0/K1
  outside; sinh(kr)/r and exp(-kr)/r for the sphere), from the excess charge
  per metre (whole cell) at a small membrane potential;
- the whole linear Debye–Hückel potential profile of a thin cell whose core is
  only a few Debye lengths across, pointwise, with the observed order of
  accuracy on refinement;
- transients where volume and area enter differently: the exchange rate of a
  solute through the membrane of a cylinder (sphere, slab) against the root of
  its Bessel (trigonometric) eigenvalue equation, and the conservation of
  sum c V (with V from pi (r_R^2 - r_L^2)) in a closed cylindrical cell;
- the report's per-metre summary values against the model's own totals.

Lengths of the geometry: pnp works per radian and metre (cylindrical) or per
steradian (spherical); the factor 2 pi (4 pi) converts to per metre of cell
(whole cell).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import load
from scipy import constants, optimize, special

import pnp
from pnp import analytic
from pnp.constants import FARADAY
from pnp.discretisation.mesh import build_mesh
from pnp.discretisation.model import build_model
from pnp.presentation.report import charge_separation, summary
from pnp.results.observables import face_fluxes

EPS0 = constants.epsilon_0
T = 298.15
V_T = constants.R * T / FARADAY
FULL_ANGLE = {"cylindrical": 2.0 * math.pi, "spherical": 4.0 * math.pi}


# --- mesh ----------------------------------------------------------------------


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical"])
def test_mesh_volumes_and_areas(geometry):
    """Cell volumes fill each region's shell exactly; face areas are 2 pi r (4 pi r^2)."""
    case = load("pump_leak", geometry=geometry)
    mesh = build_mesh(case)
    full = FULL_ANGLE[geometry]
    power = 2 if geometry == "cylindrical" else 3
    shell = math.pi if geometry == "cylindrical" else 4.0 * math.pi / 3.0
    r = mesh.faces
    # every cell, and every region's cells together, fill their shell
    np.testing.assert_allclose(full * mesh.volume, shell * np.diff(r**power), rtol=1e-13)
    for (a, b), name in zip(mesh.region_slices, mesh.region_names, strict=True):
        expected = shell * (r[b] ** power - r[a] ** power)
        assert full * mesh.volume[a:b].sum() == pytest.approx(expected, rel=1e-13, abs=0), name
    radius = sum(reg.length for reg in case.regions)
    assert full * mesh.volume.sum() == pytest.approx(shell * radius**power, rel=1e-13, abs=0)
    np.testing.assert_allclose(full * mesh.face_area, full * r ** (power - 1), rtol=0, atol=0)
    assert mesh.face_area[0] == 0.0  # the centre r = 0
    # the cells are ordinary cartesian widths: only areas and volumes are radial
    np.testing.assert_allclose(mesh.widths, np.diff(r), rtol=0, atol=0)


# --- a cell whose membrane potential is a small Nernst potential --------------


def _cell(geometry, radius, salt, eps_m, v, bath=60e-9, thickness=5e-9, cells_per_debye=4.0):
    """Core (K+ and impermeant X-) | K+-only membrane | bath (K+, Cl-), bath held at 0 V.

    The bath's K+ is the core's times exp(-v), so that V_m = E_K ~ -v V_T: a
    small membrane potential, in the linear (Debye–Hückel) regime. The
    permeability is tiny: K+ dissolved in the membrane (partition P d / D)
    would carry an uncompensated charge of its own (at P = 1e-8 m/s it shifts
    Q/V by 1e-4 at v = 1e-3); the steady state does not depend on P.
    """
    return pnp.Case.from_dict(
        {
            "title": f"{geometry} capacitor",
            "temperature": T,
            "geometry": geometry,
            "species": {
                "K": {"z": 1, "D": 2e-9},
                "Cl": {"z": -1, "D": 2e-9},
                "X": {"z": -1, "D": 1e-9},
            },
            "region": [
                {
                    "name": "core",
                    "length": radius,
                    "eps_r": 80.0,
                    "concentration": {"K": salt, "X": salt},
                },
                {
                    "name": "membrane",
                    "membrane": True,
                    "length": thickness,
                    "eps_r": eps_m,
                    "permeability": {"K": 1e-12},
                },
                {
                    "name": "bath",
                    "length": bath,
                    "eps_r": 80.0,
                    "concentration": {"K": salt * math.exp(-v), "Cl": salt * math.exp(-v)},
                },
            ],
            "boundary": {
                "left": {"type": "wall"},
                "right": {"type": "reservoir", "potential": 0.0},
            },
            "mesh": {"cells_per_debye": cells_per_debye},
        }
    )


def _kappa(case, region):
    conc = case.region(region).concentration
    z = {s.name: s.z for s in case.species}
    return 1.0 / analytic.debye_length(conc, z, case.region(region).eps_r, case.temperature)


def _core_charge(case, mesh, res):
    """Excess charge of the core [C per metre (cylinder) or whole cell (sphere)], volumes from r."""
    a = mesh.region_slices[1][0]
    rho = FARADAY * sum(s.z * res.c(s.name)[-1, :a] for s in case.species)
    r = mesh.faces[: a + 1]
    if case.geometry == "cylindrical":
        shells = math.pi * np.diff(r**2)
    else:
        shells = 4.0 * math.pi / 3.0 * np.diff(r**3)
    return float(np.sum(shells * rho))


def series_capacitance(geometry, a, b, eps_m, eps_w, kappa_in, kappa_out):
    """Small-signal capacitance of a curved membrane and its two diffuse layers.

    Per metre of cylinder [F/m] or for the whole sphere [F]; the membrane
    spans a < r < b, the core (r < a) and the bath (r > b, unbounded) are
    linear Debye–Hückel electrolytes of the same eps_w. Derivation: in each
    layer the potential solves the linearised Poisson–Boltzmann equation
    (Laplace's in the membrane); the capacitance of a layer is its charge over
    its potential drop, with the charge from Gauss's law, Q = -A eps phi'::

        cylinder  membrane  2 pi eps0 eps_m / ln(b/a)        (phi = A + B ln r)
                  core      2 pi a eps0 eps_w k I1(ka)/I0(ka) (phi = phi_c + B I0(kr))
                  bath      2 pi b eps0 eps_w k K1(kb)/K0(kb) (phi = A K0(kr))
        sphere    membrane  4 pi eps0 eps_m / (1/a - 1/b)    (phi = A + B/r)
                  core      4 pi a eps0 eps_w (ka coth(ka) - 1)  (phi = phi_c + B sinh(kr)/r)
                  bath      4 pi b eps0 eps_w (1 + kb)        (phi = A exp(-kr)/r)

    The three are in series. Large radii give 2 pi a (or 4 pi a^2) times the
    planar eps/d and eps/lambda.
    """
    ka, kb = kappa_in * a, kappa_out * b
    if geometry == "cylindrical":
        c_m = 2 * math.pi * EPS0 * eps_m / math.log(b / a)
        # exponentially scaled Bessel functions: the ratios without overflow
        c_in = 2 * math.pi * a * EPS0 * eps_w * kappa_in * special.i1e(ka) / special.i0e(ka)
        c_out = 2 * math.pi * b * EPS0 * eps_w * kappa_out * special.k1e(kb) / special.k0e(kb)
    else:
        c_m = 4 * math.pi * EPS0 * eps_m / (1.0 / a - 1.0 / b)
        c_in = 4 * math.pi * a * EPS0 * eps_w * (ka / math.tanh(ka) - 1.0)
        c_out = 4 * math.pi * b * EPS0 * eps_w * (1.0 + kb)
    return 1.0 / (1.0 / c_m + 1.0 / c_in + 1.0 / c_out)


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical"])
def test_series_capacitance_of_a_curved_membrane(geometry):
    """Excess charge per metre (whole cell) over V_m = the curved series capacitance.

    A 20 nm core (150 mM, lambda = 0.79 nm, ka = 25: its centre is bulk) and a
    5 nm membrane of eps_m 40, so that the diffuse layers carry ~14 % of 1/C:
    the membrane alone differs from its planar formula by 11 % (cylinder) or
    25 % (sphere), each diffuse layer by ~2-4 %.
    """
    case = _cell(geometry, 20e-9, 150.0, 40.0, v=1e-3)
    a = case.regions[0].length
    b = a + case.regions[1].length
    c_exact = series_capacitance(
        geometry, a, b, 40.0, 80.0, _kappa(case, "core"), _kappa(case, "bath")
    )
    errors = []
    for refine in (1, 2, 4):
        mesh = build_mesh(case, refine=refine)
        res = pnp.run(case, mesh=mesh)
        assert res.status == "completed", res.message
        vm = float(res.membrane_potential[-1])
        assert vm == pytest.approx(-1e-3 * V_T, rel=0.05, abs=0)
        errors.append(_core_charge(case, mesh, res) / vm / c_exact - 1.0)
    # measured relative errors at refine 1, 2, 4: cylinder -1.83e-3, -4.82e-4, -1.32e-4;
    # sphere -2.00e-3, -5.22e-4, -1.43e-4 (second order: ratios 3.8, 3.6)
    assert abs(errors[-1]) < 1.5e-3
    order = math.log2(errors[1] / errors[2])
    assert 1.6 < order < 2.4, errors
    # Richardson extrapolation of the second-order error: measured -1.5e-5 (cylinder),
    # -1.7e-5 (sphere); the curvature terms of the diffuse layers alone are ~3e-3
    extrapolated = errors[2] + (errors[2] - errors[1]) / (2.0**order - 1.0)
    assert abs(extrapolated) < 2e-4, errors


def linear_dh_profile(geometry, vm, a, b, big_r, eps_m, eps_w, kappa_in, kappa_out):
    """phi(r) [V] of the linearised cell: core r < a, membrane a < r < b, bath b < r < R.

    Each layer's general solution (regular at r = 0 in the core), matched by
    continuity of phi and of eps phi' at a and b, phi(R) = 0 at the bath
    reservoir and phi(0) = V_m::

        cylinder  core phi_c + B I0(k r) | membrane C + D ln r | bath A K0(k r) + E I0(k r)
        sphere    core phi_c + B i0(k r) | membrane C + D / r  | bath (A e^(-kr) + E e^(kr)) / r

    (i0(x) = sinh(x)/x). phi_c is the potential at which the core would be
    neutral; in a core a few Debye lengths across it differs from phi(0).
    Returns (phi, charge of the core per radian and metre / per steradian).
    """
    ki, ko = kappa_in, kappa_out
    if geometry == "cylindrical":
        core = (lambda r: special.i0(ki * r), lambda r: ki * special.i1(ki * r))
        mem = (np.log, lambda r: 1.0 / r)
        dec = (lambda r: special.k0(ko * r), lambda r: -ko * special.k1(ko * r))
        grow = (lambda r: special.i0(ko * r), lambda r: ko * special.i1(ko * r))
    else:
        core = (
            lambda r: np.sinh(ki * r) / (ki * r),
            lambda r: (ki * r * np.cosh(ki * r) - np.sinh(ki * r)) / (ki * r * r),
        )
        mem = (lambda r: 1.0 / r, lambda r: -1.0 / r**2)
        dec = (lambda r: np.exp(-ko * r) / r, lambda r: -np.exp(-ko * r) * (1 + ko * r) / r**2)
        grow = (lambda r: np.exp(ko * r) / r, lambda r: np.exp(ko * r) * (ko * r - 1) / r**2)
    # unknowns: phi_c, B, C, D, A, E
    m = np.array(
        [
            [1, 1, 0, 0, 0, 0],  # phi(0) = V_m (core(0) = 1)
            [1, core[0](a), -1, -mem[0](a), 0, 0],  # phi continuous at a
            [0, eps_w * core[1](a), 0, -eps_m * mem[1](a), 0, 0],  # displacement continuous at a
            [0, 0, 1, mem[0](b), -dec[0](b), -grow[0](b)],  # phi continuous at b
            [0, 0, 0, eps_m * mem[1](b), -eps_w * dec[1](b), -eps_w * grow[1](b)],
            [0, 0, 0, 0, dec[0](big_r), grow[0](big_r)],  # phi(R) = 0
        ],
        dtype=float,
    )
    phi_c, bb, cc, dd, aa, ee = np.linalg.solve(m, [vm, 0, 0, 0, 0, 0])

    def phi(r):
        r = np.asarray(r, dtype=float)
        return np.where(
            r <= a,
            phi_c + bb * core[0](r),
            np.where(r <= b, cc + dd * mem[0](r), aa * dec[0](r) + ee * grow[0](r)),
        )

    area = a if geometry == "cylindrical" else a * a
    return phi, -area * EPS0 * eps_w * bb * core[1](a)


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical"])
def test_linear_debye_huckel_profile_of_a_thin_cell(geometry):
    """The whole potential profile of a 10 nm core (ka = 3.3), pointwise, second order.

    10 mM (lambda = 3.0 nm): the core's diffuse layer fills it (I0 or sinh(kr)/r
    all the way to the centre) and the bath's decays as K0(kr) or exp(-kr)/r.
    The closed form takes the simulated V_m; the error is relative to |V_m|.
    """
    case = _cell(geometry, 10e-9, 10.0, 40.0, v=1e-3)
    a = case.regions[0].length
    b = a + case.regions[1].length
    big_r = b + case.regions[2].length
    errors, charge_errors = [], []
    for refine in (1, 2, 4):
        mesh = build_mesh(case, refine=refine)
        res = pnp.run(case, mesh=mesh)
        assert res.status == "completed", res.message
        vm = float(res.membrane_potential[-1])
        phi, q_core = linear_dh_profile(
            geometry, vm, a, b, big_r, 40.0, 80.0, _kappa(case, "core"), _kappa(case, "bath")
        )
        errors.append(np.max(np.abs(res.potential[-1] - phi(mesh.centers))) / abs(vm))
        charge_errors.append(_core_charge(case, mesh, res) / (FULL_ANGLE[geometry] * q_core) - 1)
    # measured max |error| / |V_m| at refine 1, 2, 4: cylinder 1.49e-3, 4.58e-4, 1.19e-4;
    # sphere 2.09e-3, 6.46e-4, 1.69e-4 (order 1.7 then 1.94)
    assert errors[-1] < 1.5e-3
    assert 1.7 < math.log2(errors[1] / errors[2]) < 2.3, errors
    assert math.log2(errors[0] / errors[1]) > 1.4, errors
    # the core's excess charge against the closed form's: measured -2.4e-4 (cylinder),
    # -2.1e-4 (sphere) at refine 4, decreasing like the profile error
    assert abs(charge_errors[-1]) < 2.5e-3
    assert abs(charge_errors[-1]) < abs(charge_errors[0]) / 5.0


# --- observables and the report's per-metre (whole-cell) values ---------------


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical"])
def test_membrane_charge_and_report_counts(geometry):
    """membrane_charge x area = the charge inside (Gauss); the report's counts per metre.

    ``membrane_charge`` is a density at the membrane's mid face: times the
    full area there (2 pi r per metre, 4 pi r^2) it is every charge at
    smaller r. The report's excess charge and ion count inside are sums over
    the core's shells.
    """
    case = _cell(geometry, 10e-9, 10.0, 40.0, v=1e-3)
    mesh = build_mesh(case)
    res = pnp.run(case, mesh=mesh)
    assert res.status == "completed", res.message
    start, stop = mesh.region_slices[1]
    mid = (start + stop) // 2
    full = FULL_ANGLE[geometry]
    power = 2 if geometry == "cylindrical" else 3
    shells = full / power * np.diff(mesh.faces**power)
    rho = FARADAY * sum(s.z * res.c(s.name)[-1] for s in case.species)
    enclosed = float(np.sum(shells[:mid] * rho[:mid]))
    area_mid = full * mesh.faces[mid] ** (power - 1)
    sigma = float(res.extra_observables["membrane_charge"][-1])
    # measured relative difference 1e-16 .. 1e-12 (the Newton residual of Gauss's law)
    assert sigma * area_mid == pytest.approx(enclosed, rel=1e-9, abs=0)
    sep = charge_separation(case, res)
    core_charge = float(np.sum(shells[:start] * rho[:start]))
    ions = float(np.sum(shells[:start] * (res.c("K")[-1, :start] + res.c("X")[-1, :start])))
    assert sep["excess_charge"] * constants.e == pytest.approx(core_charge, rel=1e-12, abs=0)
    assert sep["ions"] == pytest.approx(ions * constants.N_A, rel=1e-12, abs=0)
    # X- cannot leave the core: its count is its initial 10 mM times the core's volume
    shell = math.pi if geometry == "cylindrical" else 4.0 * math.pi / 3.0
    x_count = float(np.sum(shells[:start] * res.c("X")[-1, :start])) * constants.N_A
    assert x_count == pytest.approx(
        10.0 * shell * mesh.faces[start] ** power * constants.N_A, rel=1e-12, abs=0
    )
    unit = "per m of cell length" if geometry == "cylindrical" else "whole cell"
    assert sep["unit"] == unit


def _summary_value(text, label):
    """The number in the row ``label`` of a `pnp run` summary."""
    for line in text.splitlines():
        if line.startswith(label + "  "):
            return float(line[len(label) :].split()[0])
    raise AssertionError(f"no row {label!r} in\n{text}")


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical"])
def test_report_whole_cell_currents(geometry):
    """The summary's pump and leak currents per metre (whole cell) = the ions the model moves.

    The pump moves j_p per unit area of the membrane's mid face (where every
    current density is measured): F j_p 2 pi r_mid per metre (4 pi r_mid^2
    per cell). At steady state every species' leak balances its pump share,
    so the Na+ leak current is -3 and the K+ one +2 times the pump current.
    """
    case = load("pump_leak", geometry=geometry)
    res = pnp.run(case)
    assert res.status == "completed", res.message
    mesh = res.mesh()
    start, stop = mesh.region_slices[1]
    r_mid = mesh.faces[(start + stop) // 2]
    full = FULL_ANGLE[geometry]
    power = 2 if geometry == "cylindrical" else 3
    pump_total = FARADAY * 1e-7 * full * r_mid ** (power - 1) * 1e12  # pA
    text = summary(case, res)
    unit = "per m of cell length" if geometry == "cylindrical" else "whole cell"
    # printed to 6 significant digits: relative 5e-6
    assert _summary_value(text, f"pump current ({unit})") == pytest.approx(
        pump_total, rel=1e-5, abs=0
    )
    assert _summary_value(text, f"Na leak current ({unit})") == pytest.approx(
        -3 * pump_total, rel=1e-5, abs=0
    )
    assert _summary_value(text, f"K leak current ({unit})") == pytest.approx(
        2 * pump_total, rel=1e-5, abs=0
    )
    # the model's own Na+ flux through each membrane face: A_f J_f is the same at every face
    # (steady state), the leak part of it carried by the pump's share
    model = build_model(case, mesh)
    x = model.layout.pack(res.potential[-1] / model.thermal_voltage, res.concentration[-1])
    na = model.species.index("Na")
    through = face_fluxes(model, x)[na, start : stop + 1] * full
    np.testing.assert_allclose(through, through[0], rtol=1e-9)
    leak_total = FARADAY * through[0] * 1e12
    assert _summary_value(text, f"Na leak current ({unit})") == pytest.approx(
        leak_total, rel=1e-5, abs=0
    )


# --- transients: where volume and area enter differently ----------------------


def _exchange_case(
    geometry, radius=1e-6, thickness=5e-9, bath=20e-9, permeability=1e-6, diffusivity=1e-9
):
    """A core of a neutral solute (1 mM) behind a membrane, a thin bath held at 0 mM."""
    return pnp.Case.from_dict(
        {
            "title": f"{geometry} solute exchange",
            "temperature": T,
            "geometry": geometry,
            "species": {"G": {"z": 0, "D": diffusivity}},
            "region": [
                {"name": "core", "length": radius, "eps_r": 80.0, "concentration": {"G": 1.0}},
                {
                    "name": "membrane",
                    "membrane": True,
                    "length": thickness,
                    "eps_r": 2.0,
                    "permeability": {"G": permeability},
                },
                {"name": "bath", "length": bath, "eps_r": 80.0, "concentration": {"G": 0.0}},
            ],
            "boundary": {
                "left": {"type": "wall"}
                if geometry != "cartesian"
                else {"type": "wall", "surface_charge": 0.0},
                "right": {"type": "reservoir", "potential": 0.0},
            },
            "run": {
                "mode": "transient",
                "t_end": 0.5,
                "outputs": [0.05, 0.5],
                "rtol": 1e-6,
                "atol": 1e-14,
            },
        }
    )


def exchange_rate(geometry, a, b, big_r, permeability, thickness, diffusivity):
    """Decay rate [1/s] of the slowest mode of a solute leaving a core through its membrane.

    The core (0 < r < a) diffuses; the membrane (a < r < b, partition k, so
    P = k D / d) and the thin bath (b < r < R, c(R) = 0) hold almost nothing
    and pass the quasi-steady flux G c(a), G their series conductance per
    radian-metre / steradian / m^2::

        cylinder  1/G = ln(b/a) / (P d) + ln(R/b) / D     c = J0(mu r/a),  mu J1(mu)/J0(mu) = G/D
        sphere    1/G = (1/a - 1/b)/(P d) + (1/b - 1/R)/D  c = sin(mu r/a)/r, 1 - mu cot(mu) = G/(a D)
        slab      1/G = 1/P + (R - b)/D                   c = cos(mu x/a),  mu tan(mu) = G a/D

    and the rate is D mu^2 / a^2 (~ 2 P/a, 3 P/a, P/a when P a/D is small:
    area over volume).
    """
    pd, d = permeability * thickness, diffusivity
    if geometry == "cylindrical":
        g = 1.0 / (math.log(b / a) / pd + math.log(big_r / b) / d)
        root = optimize.brentq(lambda mu: mu * special.j1(mu) - g / d * special.j0(mu), 1e-12, 2.4)
    elif geometry == "spherical":
        g = 1.0 / ((1 / a - 1 / b) / pd + (1 / b - 1 / big_r) / d)
        root = optimize.brentq(lambda mu: 1.0 - mu / math.tan(mu) - g / (a * d), 1e-6, 3.0)
    else:
        g = 1.0 / (1.0 / permeability + (big_r - b) / d)
        root = optimize.brentq(lambda mu: mu * math.tan(mu) - g * a / d, 1e-12, 1.5)
    return d * root**2 / a**2


@pytest.mark.parametrize("geometry", ["cylindrical", "spherical", "cartesian"])
def test_solute_exchange_rate(geometry):
    """The amount in the core decays at the root of the Bessel (trigonometric) equation.

    A 1 um core, P = 1e-6 m/s (P a/D = 1e-3): the rate is area/volume times P,
    2 P/a for the cylinder, so a wrong volume or area (a factor 2, the slab's
    h) changes it by tens of %. Measured between 0.05 s (the faster modes,
    ~1e4 /s, are gone) and 0.5 s.
    """
    case = _exchange_case(geometry)
    a = case.regions[0].length
    b = a + case.regions[1].length
    big_r = b + case.regions[2].length
    res = pnp.run(case)
    assert res.status == "completed", res.message
    mesh = res.mesh()
    start = mesh.region_slices[1][0]
    r = mesh.faces[: start + 1]
    power = {"cylindrical": 2, "spherical": 3, "cartesian": 1}[geometry]
    shells = np.diff(r**power)  # volumes up to a constant factor
    amount = res.c("G")[:, :start] @ shells
    i1, i2 = (np.searchsorted(res.t, t) for t in (0.05, 0.5))
    rate = math.log(amount[i1] / amount[i2]) / (res.t[i2] - res.t[i1])
    expected = exchange_rate(geometry, a, b, big_r, 1e-6, 5e-9, 1e-9)
    # measured relative error 3.0e-5 (all three; 1e-6 at rtol 1e-8, ~10x slower): the
    # time integration's
    assert rate == pytest.approx(expected, rel=3e-4, abs=0)


def test_closed_cylinder_conserves_every_species():
    """A closed cylindrical cell (centre | core | K+/Cl- membrane | shell | wall): sum c V constant.

    V from pi (r_R^2 - r_L^2) per metre. K+ and Cl- move between the core and
    the shell by tens of % toward their Donnan state; the amounts of all
    species stay put to round-off. A kernel using any other cell volumes than
    its face areas imply (e.g. the slab's h) would not conserve these.
    """
    case = pnp.Case.from_dict(
        {
            "title": "closed cylinder",
            "temperature": T,
            "geometry": "cylindrical",
            "species": {
                "K": {"z": 1, "D": 2e-9},
                "Cl": {"z": -1, "D": 2e-9},
                "X": {"z": -1, "D": 1e-9},
            },
            "region": [
                {
                    "name": "core",
                    "length": 1e-6,
                    "eps_r": 80.0,
                    "concentration": {"K": 100.0, "X": 100.0},
                },
                {
                    "name": "membrane",
                    "membrane": True,
                    "length": 5e-9,
                    "eps_r": 2.0,
                    "permeability": {"K": 1e-6, "Cl": 1e-6},
                },
                {
                    "name": "shell",
                    "length": 0.5e-6,
                    "eps_r": 80.0,
                    "concentration": {"K": 50.0, "Cl": 50.0},
                },
            ],
            "boundary": {"left": {"type": "wall"}, "right": {"type": "wall", "potential": 0.0}},
            "mesh": {"max_cell": 5e-8},
            "run": {"mode": "transient", "t_end": 1.0, "outputs": 12},
        }
    )
    res = pnp.run(case)
    assert res.status == "completed", res.message
    mesh = res.mesh()
    per_metre = math.pi * np.diff(mesh.faces**2)
    start = mesh.region_slices[1][0]
    core = mesh.region_slices[0][1]
    # the core's K+ changes by tens of % ...
    k_core = res.c("K")[:, :core] @ per_metre[:core]
    assert abs(k_core[-1] / k_core[0] - 1.0) > 0.1
    assert start == core
    # ... while every species' total stays put: measured drift 3e-16 .. 7e-16 relative
    for name in ("K", "Cl", "X"):
        amount = res.c(name) @ per_metre
        assert np.max(np.abs(amount / amount[0] - 1.0)) < 1e-14, name
