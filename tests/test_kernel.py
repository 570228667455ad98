"""The compiled kernel against an independent numpy residual and finite differences.

* Bernoulli function and derivative against mpmath (or 80-digit decimal).
* Log-mean and two-half-cell interface flux: derivatives, SG limit, exact
  Boltzmann equilibrium.
* ``kernel.assemble`` residual equals ``pnp.discretisation.reference.residual_reference``
  on random states for every boundary type and geometry.
* The analytic band Jacobian equals a central finite-difference Jacobian and
  nothing lies outside the band.
* The assembled structure grows linearly with the number of cells.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from decimal import Decimal, localcontext

import numpy as np
import pytest
from helpers import neuron_cell, neuron_species
from scipy import constants

from pnp.discretisation import kernel
from pnp.discretisation.model import build_model, pump_rate, pump_sources
from pnp.discretisation.reference import bernoulli as ref_bernoulli
from pnp.discretisation.reference import exp_mean, residual_reference
from pnp.input.case import Boundary, Case, MeshSpec, Region, Species
from pnp.solvers.newton import System

try:
    import mpmath
except ImportError:  # pragma: no cover - then the decimal fallback is used
    mpmath = None

T = 310.15
RT = constants.R * T


# ----------------------------------------------------------------------------
# Case helpers
# ----------------------------------------------------------------------------


def membrane(name, length, eps_r, perms, species, temperature=T, d=None):
    """A membrane region from permeabilities P_i = exp(-dG_i/RT) D_i / length."""
    rt = constants.R * temperature
    d = {s.name: s.D for s in species} if d is None else d
    barrier = {}
    for s in species:
        p = perms.get(s.name, 0.0)
        barrier[s.name] = math.inf if p == 0 else -rt * math.log(p * length / d[s.name])
    return Region(
        name,
        length,
        eps_r,
        True,
        {s.name: 0.0 for s in species},
        0.0,
        dict(d),
        barrier,
        {s.name: perms.get(s.name, 0.0) for s in species},
    )


def bulk(name, length, conc, species, eps_r=80.0, rho=0.0):
    """An aqueous region with the species' bulk diffusivities and no barrier."""
    return Region(
        name,
        length,
        eps_r,
        False,
        {s.name: conc.get(s.name, 0.0) for s in species},
        rho,
        {s.name: s.D for s in species},
        {s.name: 0.0 for s in species},
        {},
    )


def make_case(title, species, regions, left, right, geometry="cartesian", cells=5):
    mesh = MeshSpec() if cells is None else MeshSpec(uniform_cells=cells)
    return Case(
        title, T, geometry, "left", "ideal", tuple(species), tuple(regions), left, right, mesh=mesh
    )


K = Species("K", 1, 1.96e-9)
NA = Species("Na", 1, 1.33e-9)
CL = Species("Cl", -1, 2.03e-9)
X = Species("X", -1, 1e-10)
CA = Species("Ca", 2, 0.79e-9)
SO4 = Species("SO4", -2, 1.07e-9)


def _nernst(cells=5, length=1e-6):
    sp = (K, CL)
    regs = (
        bulk("in", length, {"K": 140, "Cl": 140}, sp),
        membrane("mem", 5e-9, 2.0, {"K": 5e-9}, sp),
        bulk("out", length, {"K": 5, "Cl": 5}, sp),
    )
    return make_case(
        "nernst",
        sp,
        regs,
        Boundary("left", "reservoir", None, 0.0, 0.0),
        Boundary("right", "reservoir", 0.0),
        cells=cells,
    )


def _donnan():
    sp = (K, CL, X)
    regs = (
        bulk("cyto", 2e-6, {"K": 150, "Cl": 8, "X": 142}, sp),
        membrane("mem", 5e-9, 2.0, {"K": 5e-9, "Cl": 5e-10}, sp),
        bulk("bath", 2e-6, {"K": 150, "Cl": 150}, sp),
    )
    return make_case(
        "donnan", sp, regs, Boundary("left", "wall", None, 0.0), Boundary("right", "reservoir", 0.0)
    )


def _wall_potential():
    sp = (NA, CL)
    regs = (
        bulk("gel", 50e-9, {"Na": 100, "Cl": 60}, sp, eps_r=60.0, rho=-40.0),
        bulk("sol", 200e-9, {"Na": 100, "Cl": 100}, sp),
    )
    return make_case(
        "wall_potential",
        sp,
        regs,
        Boundary("left", "wall", 0.05),
        Boundary("right", "reservoir", -0.01),
        cells=6,
    )


def _wall_potential_right():
    """The mirror image: the held wall (its second-order, three-point
    gradient) on the right end, the reservoir on the left."""
    sp = (NA, CL)
    regs = (
        bulk("sol", 200e-9, {"Na": 100, "Cl": 100}, sp),
        bulk("gel", 50e-9, {"Na": 100, "Cl": 60}, sp, eps_r=60.0, rho=-40.0),
    )
    return make_case(
        "wall_potential_right",
        sp,
        regs,
        Boundary("left", "reservoir", -0.01),
        Boundary("right", "wall", 0.05),
        cells=6,
    )


def _wall_charge():
    sp = (NA, CL)
    regs = (
        bulk("sol", 100e-9, {"Na": 10, "Cl": 10}, sp),
        bulk("sol2", 100e-9, {"Na": 10, "Cl": 10}, sp, eps_r=40.0),
    )
    return make_case(
        "wall_charge",
        sp,
        regs,
        Boundary("left", "wall", None, -0.05),
        Boundary("right", "wall", None, 0.02),
        cells=6,
    )


def _radial(geometry):
    sp = (K, NA, CL)
    perms = {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}
    d_mem = {"K": 1e-11, "Na": 3e-12, "Cl": 5e-11}  # membrane D unlike the bulk D
    regs = (
        bulk("cell", 1e-6, {"K": 140, "Na": 10, "Cl": 150}, sp),
        membrane("mem", 5e-9, 2.0, perms, sp, d=d_mem),
        bulk("bath", 1e-6, {"K": 5, "Na": 145, "Cl": 150}, sp),
    )
    right = (
        Boundary("right", "reservoir", None, 0.0, 2e-3)
        if geometry == "cylindrical"
        else Boundary("right", "reservoir", 0.0)
    )
    return make_case(
        geometry, sp, regs, Boundary("left", "wall", None, 0.0), right, geometry=geometry
    )


def _divalent():
    sp = (CA, SO4, NA)
    # "out" carries standard free-energy offsets (g != 0 next to a reservoir)
    out = bulk("out", 500e-9, {"Ca": 2, "SO4": 51, "Na": 98}, sp)
    out = dataclasses.replace(out, barrier={"Ca": 0.7 * RT, "SO4": -0.4 * RT, "Na": 0.1 * RT})
    regs = (
        bulk("in", 500e-9, {"Ca": 1, "SO4": 51, "Na": 100}, sp),
        membrane("mem", 5e-9, 4.0, {"Ca": 1e-8, "Na": 1e-9}, sp),
        out,
    )
    return make_case(
        "divalent",
        sp,
        regs,
        Boundary("left", "reservoir", None, 0.0, -1e-2),
        Boundary("right", "reservoir", 0.02),
    )


def _ghk_graded():
    """Default graded mesh (non-uniform widths), three species, floating left."""
    sp = (K, NA, CL)
    perms = {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}
    regs = (
        bulk("in", 100e-9, {"K": 140, "Na": 10, "Cl": 150}, sp),
        membrane("mem", 5e-9, 2.0, perms, sp),
        bulk("out", 100e-9, {"K": 5, "Na": 145, "Cl": 150}, sp),
    )
    return make_case(
        "ghk_graded",
        sp,
        regs,
        Boundary("left", "reservoir", None, 0.0, 5e-3),
        Boundary("right", "reservoir", 0.0),
        cells=None,
    )


CASES = {
    "nernst": _nernst,
    "donnan": _donnan,
    "wall_potential": _wall_potential,
    "wall_potential_right": _wall_potential_right,
    "wall_charge": _wall_charge,
    "cylindrical": lambda: _radial("cylindrical"),
    "spherical": lambda: _radial("spherical"),
    "divalent": _divalent,
    "ghk_graded": _ghk_graded,
}

_MODELS = {}


def get_model(name):
    if name not in _MODELS:
        _MODELS[name] = build_model(CASES[name]())
    return _MODELS[name]


def test_case_set_covers_every_boundary_type():
    types = {int(t) for name in CASES for t in get_model(name).b_type}
    assert types == {kernel.WALL_POTENTIAL, kernel.WALL_CHARGE, kernel.RESERVOIR, kernel.FLOATING}
    kinds = {int(k) for name in CASES for k in np.unique(get_model(name).face_kind[:, 1:-1])}
    assert kinds == {kernel.CLOSED, kernel.SG, kernel.INTERFACE}
    assert get_model("spherical").mesh.face_area[0] == 0.0
    assert np.ptp(get_model("ghk_graded").mesh.widths) > 0.0
    assert get_model("cylindrical").b_type[1] == kernel.FLOATING
    # the three-point wall gradient on each side
    assert get_model("wall_potential").b_pois_next[0] != 0.0
    assert get_model("wall_potential_right").b_pois_next[1] != 0.0
    assert np.all(get_model("divalent").b_g[1] != 0.0)
    # the membrane in the radial cases has its own diffusivities: r_L != r_R
    m = get_model("cylindrical")
    itf = m.face_kind == kernel.INTERFACE
    assert np.all(m.face_rl[itf] > 0) and np.all(m.face_rr[itf] > 0)


def random_state(model, rng):
    """Concentrations log-uniform in 1e-9..1e3 mol/m^3, potentials within ±20 V_T."""
    x = np.empty(model.n_unknowns)
    lay = model.layout
    N, S = model.n_cells, model.n_species
    body = lay.cells_view(x)
    body[:, :S] = 10.0 ** rng.uniform(-9.0, 3.0, size=(N, S))
    body[:, S] = rng.uniform(-20.0, 20.0, size=N)
    # floating boundary potentials, left then right
    for i in lay.boundary:
        x[i] = rng.uniform(-20.0, 20.0)
    return x


#: the kinds of time terms: none, random per species and cell, and a
#: transient step (one alpha) with the current-continuity rows
TIME_KINDS = ["steady", "transient", "continuity"]


def time_terms(model, rng, kind):
    """(alpha_c, alpha_d, beta_c, beta_d, source, cont) of one of ``TIME_KINDS``."""
    S, N = model.n_species, model.n_cells
    none = np.zeros(N, dtype=np.int8)
    if kind == "steady":
        z2 = np.zeros((S, N))
        return z2, 0.0, z2.copy(), np.zeros(N + 1), z2.copy(), none
    dt = 10.0 ** rng.uniform(-9.0, -3.0)
    alpha_d = 1.0 / dt
    if kind == "continuity":
        alpha_c = np.full((S, N), alpha_d)
        cont = model.continuity_cells()
    else:
        alpha_c = (1.0 / dt) * rng.uniform(0.5, 2.0, size=(S, N))
        cont = none
    c_old = 10.0 ** rng.uniform(-9.0, 3.0, size=(S, N))
    beta_c = alpha_c * c_old
    beta_d = alpha_d * rng.normal(size=N + 1) * 1e-6
    source = rng.normal(size=(S, N)) * model.volume * 1e-3
    return alpha_c, alpha_d, beta_c, beta_d, source, cont


def kernel_residual(model, x, alpha_c, alpha_d, beta_c, beta_d, source, cont=None):
    n = model.n_unknowns
    kl, ku = model.bandwidths
    res = np.zeros(n)
    ab = np.zeros((2 * kl + ku + 1, n), order="F")
    cont = np.zeros(model.n_cells, dtype=np.int8) if cont is None else cont
    kernel.assemble(
        x, *model.kernel_args(), alpha_c, alpha_d, beta_c, beta_d, cont, source, res, ab, False
    )
    return res


def band_to_dense(ab, kl, ku):
    n = ab.shape[1]
    dense = np.zeros((n, n))
    for j in range(n):
        lo, hi = max(0, j - ku), min(n - 1, j + kl)
        i = np.arange(lo, hi + 1)
        dense[i, j] = ab[kl + ku + i - j, j]
    return dense


# ----------------------------------------------------------------------------
# Bernoulli function
# ----------------------------------------------------------------------------

_SWITCH = kernel._SERIES
_MAGNITUDES = [
    0.0,
    1e-12,
    1e-8,
    1e-4,
    _SWITCH * (1 - 1e-12),
    _SWITCH,
    _SWITCH * (1 + 1e-12),
    0.0099,
    0.0101,
    0.1,
    1.0,
    10.0,
    100.0,
    700.0,
    709.5,
    710.0,
    1000.0,
]
XS = sorted({s * a for a in _MAGNITUDES for s in (1.0, -1.0)})


def _exact_bernoulli(x):
    """(B(x), B'(x)) to far better than double precision (mpmath, else decimal)."""
    if x == 0:
        return 1.0, -0.5
    if mpmath is not None:
        with mpmath.workdps(80):
            xm = mpmath.mpf(x)
            em1 = mpmath.expm1(xm)
            return float(xm / em1), float((em1 - xm * mpmath.exp(xm)) / em1**2)
    with localcontext() as ctx:  # pragma: no cover - mpmath is normally present
        ctx.prec = 80
        xd = Decimal(x)
        ex = xd.exp()
        em1 = ex - 1
        return float(xd / em1), float((em1 - xd * ex) / em1**2)


def _rel_ok(got, want, rtol=1e-13, atol=1e-300):
    return np.isfinite(got) and abs(got - want) <= max(rtol * abs(want), atol)


@pytest.mark.parametrize("x", XS)
def test_bernoulli_matches_high_precision(x):
    b_want, db_want = _exact_bernoulli(x)
    b = kernel.bernoulli(x)
    db = kernel.bernoulli_deriv(x)
    # B itself to a few ulp (series and expm1 branches alike)
    assert _rel_ok(b, b_want, rtol=1e-15), (x, b, b_want, abs(b - b_want) / b_want)
    assert _rel_ok(db, db_want), (x, db, db_want, abs(db - db_want) / abs(db_want))
    # the oracle's own Bernoulli (different algebraic form) agrees as well
    assert _rel_ok(float(ref_bernoulli(np.array([x]))[0]), b_want)


@pytest.mark.skipif(mpmath is None, reason="needs mpmath")
@pytest.mark.parametrize(
    "d",
    [0.0, -1e-12, -1e-6, -1e-4, -1e-3, -5e-3, -7e-3, -9.9e-3, -0.0099999, -0.0100001, -0.02, -3.0],
)
def test_expm1_over_and_its_derivative_match_high_precision(d):
    """E(d) = (e^d - 1)/d and E'(d), used by the interface flux: the series
    branch (|d| < 1e-2) to 2 ulp (measured <= 0.51 ulp), the expm1 branch,
    whose E' cancels near the switch, to 50 ulp (measured 14 at d = -0.02)."""
    e, de = kernel._expm1_over(d)
    with mpmath.workdps(60):
        dm = mpmath.mpf(d)
        if d == 0.0:
            e_want, de_want = 1.0, 0.5
        else:
            e_want = float(mpmath.expm1(dm) / dm)
            de_want = float((dm * mpmath.exp(dm) - mpmath.expm1(dm)) / dm**2)
    ulps = 2.0 if d > -1e-2 else 50.0
    eps = np.finfo(float).eps
    assert abs(e - e_want) <= ulps * eps * e_want
    assert abs(de - de_want) <= ulps * eps * de_want


@pytest.mark.parametrize("x", [a for a in XS if a >= 0])
def test_bernoulli_reflection_identity(x):
    # B(-x) = B(x) + x exactly in exact arithmetic
    lhs = kernel.bernoulli(x) - kernel.bernoulli(-x)
    assert abs(lhs + x) <= 4 * np.finfo(float).eps * max(1.0, abs(x))
    dl = kernel.bernoulli_deriv(x) + kernel.bernoulli_deriv(-x)  # B'(x) + B'(-x) = -1
    assert abs(dl + 1.0) <= 1e-13


@pytest.mark.parametrize("x", XS)
def test_bernoulli_deriv_central_difference(x):
    h = 1e-5 * min(max(1.0, abs(x)), 10.0)
    fd = (kernel.bernoulli(x + h) - kernel.bernoulli(x - h)) / (2 * h)
    db = kernel.bernoulli_deriv(x)
    assert np.isfinite(db)
    assert abs(fd - db) <= 1e-7 * abs(db) + 1e-300, (fd, db)


# ----------------------------------------------------------------------------
# Log-mean and the interface flux
# ----------------------------------------------------------------------------


def _exact_logmean(p, q):
    with mpmath.workdps(60):
        p, q = mpmath.mpf(p), mpmath.mpf(q)
        if p == q:
            return float(mpmath.exp(p))
        return float((mpmath.exp(p) - mpmath.exp(q)) / (p - q))


_LM_PAIRS = [
    (0.0, 0.0),
    (0.0, -1e-12),
    (-1e-3, 0.0),
    (0.0, -0.0099),
    (-0.0101, 0.0),
    (-0.5, -0.2),
    (0.0, -3.0),
    (-7.0, 0.0),
    (0.0, -50.0),
    (-300.0, 0.0),
    (0.0, -800.0),
    (-2.0, -2.0 - 5e-3),
    (1.0, 2.0),
]


@pytest.mark.skipif(mpmath is None, reason="needs mpmath")
@pytest.mark.parametrize(("p", "q"), _LM_PAIRS)
def test_logmean_exp_value(p, q):
    want = _exact_logmean(p, q)
    got = kernel.logmean_exp(p, q)[0]
    assert abs(got - want) <= 2e-15 * want  # measured 2.1e-16 (worst pair)
    # the oracle's sinh form agrees
    assert abs(float(exp_mean(np.array(p), np.array(q))) - want) <= 2e-15 * want  # measured 1.8e-16


@pytest.mark.skipif(mpmath is None, reason="needs mpmath")
def test_logmean_exp_accurate_to_few_ulp_near_series_switch():
    worst = 0.0
    for d in (-0.0099, -0.00999, -0.005):
        want = _exact_logmean(0.0, d)
        got = kernel.logmean_exp(0.0, d)[0]
        worst = max(worst, abs(got - want) / want)
    assert worst <= 1e-15  # measured 1.1e-16


@pytest.mark.parametrize(("p", "q"), _LM_PAIRS)
def test_logmean_exp_derivatives(p, q):
    _, dp, dq = kernel.logmean_exp(p, q)
    for k, d in ((0, dp), (1, dq)):
        h = 1e-6
        a = [p, q]
        b = [p, q]
        a[k] += h
        b[k] -= h
        fd = (kernel.logmean_exp(*a)[0] - kernel.logmean_exp(*b)[0]) / (2 * h)
        assert abs(fd - d) <= 1e-7 * max(abs(d), 1e-3 * kernel.logmean_exp(p, q)[0]), (k, fd, d)


_FLUX_ARGS = [
    # cL, cR, uL, ufL, ufR, uR, rL, rR
    (140.0, 5.0, 0.0, -1.0, 2.0, -3.0, 1e6, 5e8),
    (1e-9, 1e3, 20.0, 5.0, -4.0, -20.0, 3e5, 3e5),
    (10.0, 10.0, -40.0, -40.0, -40.0, -40.0, 1.0, 2.0),
    (1.0, 2.0, 1.0, 1.0 + 1e-4, 1.0 - 3e-3, 1.0 + 2e-2, 1e7, 1e2),
    (50.0, 3e-4, 3.0, 12.0, 4.0, 8.0, 1e4, 1e9),
    (7.0, 0.2, -15.0, -1.0, 30.0, 9.0, 2.0, 0.5),
]


@pytest.mark.parametrize("args", _FLUX_ARGS)
def test_interface_flux_derivatives(args):
    out = kernel.interface_flux(*args)
    # size of the two terms of the numerator: sets the round-off of F itself
    size = abs(kernel.interface_flux(args[0], 0.0, *args[2:])[0]) + abs(
        kernel.interface_flux(0.0, args[1], *args[2:])[0]
    )
    for k in range(6):  # cL, cR, uL, ufL, ufR, uR
        h = 1e-6 * max(1.0, abs(args[k]))
        a = list(args)
        b = list(args)
        a[k] += h
        b[k] -= h
        fd = (kernel.interface_flux(*a)[0] - kernel.interface_flux(*b)[0]) / (2 * h)
        tol = 1e-6 * abs(out[k + 1]) + 20 * np.finfo(float).eps * size / h
        assert abs(fd - out[k + 1]) <= tol, (k, fd, out[k + 1])


@pytest.mark.parametrize("du", [0.0, 1e-9, 3e-3, -0.2, 1.0, -7.5, 40.0, -300.0])
@pytest.mark.parametrize("u0", [0.0, -35.0, 600.0])
def test_interface_flux_reduces_to_sg(du, u0):
    """Same D and g on both sides, linear potential: the SG flux exactly."""
    cL, cR, r = 3.0, 0.7, 2.5e7
    uL, uR = u0, u0 + du
    uf = 0.5 * (uL + uR)
    got = kernel.interface_flux(cL, cR, uL, uf, uf, uR, r, r)
    cond = 1.0 / (2.0 * r)
    want, dcl, dcr, ddu = kernel._sg(cond, cL, cR, du)
    size = cond * (kernel.bernoulli(du) * cL + kernel.bernoulli(-du) * cR)
    # two algebraic forms of the same flux: measured 3.9e-14, 5.0e-14, 2.3e-14 (worst du, u0)
    assert abs(got[0] - want) <= 1e-13 * size
    assert abs(got[1] - dcl) <= 1e-13 * abs(dcl) + 1e-300
    assert abs(got[2] - dcr) <= 1e-13 * abs(dcr) + 1e-300
    # d/d(du) with uL = u0 fixed and uf following the midpoint
    d_du = got[6] + 0.5 * (got[4] + got[5])
    assert abs(d_du - ddu) <= 1e-9 * max(abs(ddu), cond * max(cL, cR) * 1e-6)
    # and the potential enters only through differences
    assert abs(got[3] + got[4] + got[5] + got[6]) <= 1e-9 * (abs(got[3]) + abs(got[6]) + 1e-300)


@pytest.mark.parametrize(
    ("uL", "uR"),
    [
        (0.0, 0.0),
        (700.0, 690.0),
        (-700.0, -650.0),
        (700.0, 0.0),
        (-700.0, 0.0),
        (350.0, -350.0),
        (0.0, 700.0),
        (-650.0, 50.0),
    ],
)
@pytest.mark.parametrize("g_jump", [0.0, 9.0, -25.0])
def test_interface_flux_vanishes_at_boltzmann_equilibrium(uL, uR, g_jump):
    """c_L e^uL = c_R e^uR: no flux whatever the partition jump at the face."""
    with np.errstate(under="ignore"):
        if uL > uR:
            cL, cR = 1e3 * math.exp(uR - uL), 1e3
        else:
            cL, cR = 1e3, 1e3 * math.exp(uL - uR)
    uf = 0.5 * (uL + uR)
    args = (uL, uf, uf + g_jump, uR, 3e5, 7e7)
    f = kernel.interface_flux(cL, cR, *args)[0]
    assert np.isfinite(f)
    size = kernel.interface_flux(cL, 0.0, *args)[0]
    assert size > 0.0
    assert abs(f) <= 8 * np.finfo(float).eps * size, f / size
    # exactly zero when the two Boltzmann factors are bitwise equal
    assert kernel.interface_flux(2.0, 2.0, uL, uf, uf + g_jump, uL, 3e5, 7e7)[0] == 0.0


# ----------------------------------------------------------------------------
# Residual: kernel against the numpy oracle
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("transient", TIME_KINDS)
@pytest.mark.parametrize("name", list(CASES))
def test_residual_matches_reference(name, transient):
    model = get_model(name)
    seed = {"steady": False, "transient": True}.get(transient, transient)
    rng = np.random.default_rng(zlib.crc32(f"{name}-{seed}".encode()))
    worst = 0.0
    for _ in range(4):
        x = random_state(model, rng)
        terms = time_terms(model, rng, transient)
        got = kernel_residual(model, x, *terms)
        want, scale = residual_reference(model, x, *terms, return_scale=True)
        assert np.all(np.isfinite(got))
        # rows with no term at all (steady, impermeant species in a membrane) are exactly 0
        assert np.array_equal(got[scale == 0], want[scale == 0])
        live = scale > 0
        err = np.abs(got[live] - want[live]) / scale[live]
        worst = max(worst, float(err.max()))
    assert worst <= 6e-15, worst  # measured 5.8e-16 (all cases)


def test_residual_matches_reference_on_initial_state():
    """The case's initial contents at zero potential (no random scaling)."""
    model = get_model("nernst")
    x = model.x0.copy()
    S, N = model.n_species, model.n_cells
    z2 = np.zeros((S, N))
    z1 = np.zeros(N + 1)
    got = kernel_residual(model, x, z2, 0.0, z2, z1, z2)
    want, scale = residual_reference(model, x, z2, 0.0, z2, z1, z2, return_scale=True)
    assert np.all(np.abs(got - want) <= 1e-15 * scale + 1e-300)  # measured 0


# ----------------------------------------------------------------------------
# Jacobian: band against central finite differences
# ----------------------------------------------------------------------------


def fd_jacobian(model, x, terms, rel_step=1e-7):
    """Dense central-difference Jacobian of the kernel residual, and its step sizes.

    Step ``rel_step * max(|x_j|, scale)``: scale 1 for potentials (V_T), the
    largest concentration for concentrations (the residual is linear in them,
    so a large step costs no truncation error and keeps round-off small).
    """
    n = model.n_unknowns
    psi_cols = np.zeros(n, dtype=bool)
    psi_cols[model.potential_index()] = True
    psi_cols[model.layout.boundary] = True
    cmax = np.max(np.abs(x[~psi_cols]))
    jac = np.zeros((n, n))
    steps = rel_step * np.maximum(np.abs(x), np.where(psi_cols, 1.0, cmax))
    for j in range(n):
        xp = x.copy()
        xm = x.copy()
        xp[j] += steps[j]
        xm[j] -= steps[j]
        jac[:, j] = (kernel_residual(model, xp, *terms) - kernel_residual(model, xm, *terms)) / (
            xp[j] - xm[j]
        )
    return jac, steps


@pytest.mark.parametrize("transient", TIME_KINDS)
@pytest.mark.parametrize("name", list(CASES))
def test_band_jacobian_matches_finite_differences(name, transient):
    model = get_model(name)
    seed = {"steady": False, "transient": True}.get(transient, transient)
    rng = np.random.default_rng(zlib.crc32(f"jac-{name}-{seed}".encode()))
    x = random_state(model, rng)
    terms = time_terms(model, rng, transient)
    alpha_c, alpha_d, beta_c, beta_d, _, cont = terms
    # System has no source (no pump here)
    terms = (alpha_c, alpha_d, beta_c, beta_d, np.zeros_like(alpha_c), cont)

    system = System(model, continuity=transient == "continuity")
    assert np.array_equal(system.cont, cont)
    res = system.assemble(x, alpha_c, alpha_d, beta_c, beta_d).copy()
    kl, ku = model.bandwidths
    assert (system.kl, system.ku) == (kl, ku)
    assert np.array_equal(res, kernel_residual(model, x, *terms))
    # the kl rows of LU fill-in space stay empty
    assert not np.any(system.ab[:kl])
    jac = band_to_dense(system.ab, kl, ku)

    fd, steps = fd_jacobian(model, x, terms)
    n = model.n_unknowns
    i, j = np.indices((n, n))
    outside = (j - i > ku) | (i - j > kl)
    assert not np.any(fd[outside]), "residual depends on unknowns outside the band"

    _, rscale = residual_reference(model, x, *terms, return_scale=True)
    row = np.maximum(np.abs(jac).max(axis=1), np.abs(fd).max(axis=1))[:, None]
    eps = np.finfo(float).eps

    # 1) central differences, step 1e-7: truncation negligible, round-off
    #    eps * (row terms) / step bounds the error of the small entries
    tol = 1e-6 * np.abs(jac) + 1e-9 * row + 50 * eps * rscale[:, None] / steps[None, :]
    err = np.abs(jac - fd)
    bad = np.argwhere(err > tol)
    assert bad.size == 0, [(int(a), int(b), jac[a, b], fd[a, b]) for a, b in bad[:10]]

    # 2) Richardson-extrapolated differences with a large step (truncation
    #    O(h^4) ~ 1e-12, round-off 1e3 times smaller): 1e-6 on nearly every entry
    d1, _ = fd_jacobian(model, x, terms, 2e-3)
    d2, s2 = fd_jacobian(model, x, terms, 1e-3)
    rich = (4.0 * d2 - d1) / 3.0
    tol = 1e-6 * np.abs(jac) + 1e-12 * row + 50 * eps * rscale[:, None] / s2[None, :]
    err = np.abs(jac - rich)
    bad = np.argwhere(err > tol)
    assert bad.size == 0, [(int(a), int(b), jac[a, b], rich[a, b]) for a, b in bad[:10]]


@pytest.mark.parametrize("continuity", [False, True], ids=["balances", "continuity"])
@pytest.mark.parametrize("first", ["Na", "K", "Cl"])
def test_pump_jacobian_in_band_matches_finite_differences(first, continuity):
    """A saturating pump's rate depends on Na inside and K outside: the
    System adds the derivative of each of its two cells' rows with respect
    to that cell's own concentration (the cross-membrane coupling is out of
    the band and lagged). With current-continuity rows the first species'
    row is the charge-weighted sum, pump included: checked with the pumped
    species first (Na, K) and not (Cl)."""
    order = (first, *[n for n in ("Na", "K", "Cl", "X") if n != first])
    data = neuron_cell(
        species=neuron_species(order),
        mesh={"uniform_cells": 4},
        # a strong pump (1e-4 mol/m^2/s): its entries stand out against the fluxes'
        pump={"membrane": "mem", "j_max": 1e-4, "K_Na": 12.0, "K_K": 3.0},
    )
    model = build_model(Case.from_dict(data))
    (p,) = model.pumps
    S, N = model.n_species, model.n_cells
    rng = np.random.default_rng(zlib.crc32(f"pump-{first}-{continuity}".encode()))
    x = model.x0.copy()
    x[model.layout.potential] = rng.uniform(-2.0, 2.0, size=N)
    alpha = 1e6
    alpha_c = np.full((S, N), alpha, order="F")
    beta_c = alpha_c * (model.layout.split(x)[1] * 1.01)
    beta_d = rng.normal(size=N + 1) * 1e-9
    system = System(model, continuity=continuity)
    cont = system.cont
    assert bool(cont.any()) == continuity

    def residual(y, scale=False):
        source = pump_sources(model, y, np.zeros((S, N), order="F"))
        if scale:  # the size of each row's terms
            terms = (alpha_c, alpha, beta_c, beta_d, source, cont)
            return residual_reference(model, y, *terms, return_scale=True)[1]
        return kernel_residual(model, y, alpha_c, alpha, beta_c, beta_d, source, cont)

    system.assemble(x, alpha_c, alpha, beta_c, beta_d)
    assert np.array_equal(system.res, residual(x))
    kl, ku = model.bandwidths
    jac = band_to_dense(system.ab, kl, ku)
    lay = model.layout
    for cell, species in ((p.inside_cell, p.sodium), (p.outside_cell, p.potassium)):
        col = lay.conc_at(cell, species)
        step = 1e-6 * x[col]
        xp, xm = x.copy(), x.copy()
        xp[col] += step
        xm[col] -= step
        fd = (residual(xp) - residual(xm)) / (xp[col] - xm[col])
        rows = np.arange(model.n_unknowns)[lay.cell(cell)]
        # the rows of the cell itself, in the band: to the central difference's
        # round-off, eps * (row terms) / step (as the band test above)
        noise = 50 * np.finfo(float).eps * residual(x, scale=True)[rows] / step
        assert np.all(np.abs(jac[rows, col] - fd[rows]) <= 1e-6 * np.abs(fd[rows]) + noise)


# ----------------------------------------------------------------------------
# Work: the assembled structure is linear in N
# ----------------------------------------------------------------------------


def _nonzeros(model, rng):
    x = random_state(model, rng)
    S, N = model.n_species, model.n_cells
    alpha_c = np.ones((S, N))
    system = System(model)
    system.assemble(x, alpha_c, 1.0, alpha_c, np.zeros(N + 1))
    return system.ab, x


def test_assembly_structure_is_linear_in_cells():
    """No timing: count the Jacobian's nonzeros for N ~ 1e2, 1e3, 1e4 cells.

    The band storage is (2 kl + ku + 1) x n, and every bulk cell carries the
    same stencil (species row: c and psi of 3 cells = 6; Gauss row: psi of 3
    cells and the S local c = 3 + S), so nnz = a N + b exactly.
    """
    rng = np.random.default_rng(7)
    counts = []
    sizes = []
    for per_region in (34, 334, 3334):
        model = build_model(dataclasses.replace(_nernst(), mesh=MeshSpec(uniform_cells=per_region)))
        kl, ku = model.bandwidths
        ab, x = _nonzeros(model, rng)
        assert ab.shape == (2 * kl + ku + 1, model.n_unknowns)
        S, m = model.n_species, model.layout.block
        # a bulk cell far from every interface and boundary: the 7S+3 stencil
        k = per_region // 2
        rows = np.arange(model.n_unknowns)[model.layout.cell(k)]
        dense_rows = np.zeros((m, model.n_unknowns))
        for r_i, r in enumerate(rows):
            cols = np.arange(max(0, r - kl), min(model.n_unknowns, r + ku + 1))
            dense_rows[r_i, cols] = ab[kl + ku + r - cols, cols]
        assert np.count_nonzero(dense_rows[:S], axis=1).tolist() == [6] * S
        assert np.count_nonzero(dense_rows[S]) == 3 + S
        counts.append(np.count_nonzero(ab))
        sizes.append(model.n_cells)
        # the residual of the largest mesh still agrees with the oracle
        if per_region == 3334:
            S_, N_ = model.n_species, model.n_cells
            z2 = np.zeros((S_, N_))
            got = kernel_residual(
                model, x, np.ones((S_, N_)), 1.0, np.ones((S_, N_)), np.zeros(N_ + 1), z2
            )
            want, scale = residual_reference(
                model,
                x,
                np.ones((S_, N_)),
                1.0,
                np.ones((S_, N_)),
                np.zeros(N_ + 1),
                z2,
                return_scale=True,
            )
            assert np.all(np.abs(got - want) <= 6e-15 * scale)  # measured 6.3e-16
    assert sizes[2] >= 1e4 and sizes[1] >= 1e3
    slope_1 = (counts[1] - counts[0]) / (sizes[1] - sizes[0])
    slope_2 = (counts[2] - counts[1]) / (sizes[2] - sizes[1])
    assert slope_1 == slope_2
    assert slope_1 <= model.layout.block * (2 * model.bandwidths[0] + model.bandwidths[1] + 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_face_fluxes_are_the_fluxes_of_the_balance_rows(name):
    """face_fluxes (the observables' fluxes, reservoir and floating faces
    included) is the kernel's own balance: with no time terms and no sources
    each species row of the residual is out[f + 1] - out[f] of its cell,
    to round-off (measured exactly 0 on every case)."""
    from pnp.results.observables import face_fluxes

    model = get_model(name)
    x = random_state(model, np.random.default_rng(3))
    s, n = model.n_species, model.n_cells
    zero = np.zeros((s, n), order="F")
    res = kernel_residual(model, x, zero, 0.0, zero, np.zeros(n + 1), zero.copy(order="F"))
    flux = face_fluxes(model, x)
    rows = np.array([[res[model.layout.conc_at(c, i)] for c in range(n)] for i in range(s)])
    scale = np.abs(flux).max()
    np.testing.assert_allclose(rows, flux[:, 1:] - flux[:, :-1], rtol=0, atol=1e-13 * scale)


def test_weighted_max_is_the_largest_weighted_update():
    """The Newton/step norm: max |scale d_i| / (rtol |x_i| + floor_i), the
    floor by kind of unknown, against the numpy expression."""
    rng = np.random.default_rng(5)
    n = 257
    delta, x = rng.normal(size=n), rng.normal(size=n) * 10.0 ** rng.uniform(-6, 3, n)
    is_psi = rng.random(n) < 0.3
    for scale, rtol, floor_c, floor_psi in ((1.0, 1e-6, 1e-9, 1e-8), (0.25, 1e-3, 1e-4, 2.0)):
        want = np.max(
            np.abs(scale * delta) / (rtol * np.abs(x) + np.where(is_psi, floor_psi, floor_c))
        )
        got = kernel.weighted_max(delta, x, scale, rtol, floor_c, floor_psi, is_psi)
        assert got == pytest.approx(want, rel=1e-15)
    for end in (0, n - 1):  # the largest at either end is seen
        big = delta.copy()
        big[end] = 1e12
        got = kernel.weighted_max(big, x, 1.0, 1e-6, 1e-9, 1e-8, is_psi)
        assert got >= 1e12 / (1e-6 * abs(x[end]) + 1e-8)


# ----------------------------------------------------------------------------
# Contracts the shipped cases never vary (mutation survivors of the kernel)
# ----------------------------------------------------------------------------


def _residual_error(model, x, terms) -> float:
    """Largest |kernel - oracle| residual, each row over the size of its terms."""
    got = kernel_residual(model, x, *terms)
    want, scale = residual_reference(model, x, *terms, return_scale=True)
    live = scale > 0
    return float(np.max(np.abs(got[live] - want[live]) / scale[live]))


@pytest.mark.parametrize("name", ["nernst", "cylindrical", "wall_charge", "divalent"])
def test_residual_with_continuity_rows_in_some_cells_only(name):
    """``cont`` marks cells one by one: with a random pattern (neighbouring
    cells differing) each interior face must read its own two cells' marks."""
    model = get_model(name)
    rng = np.random.default_rng(zlib.crc32(f"mixed-{name}".encode()))
    worst = 0.0
    for _ in range(3):
        x = random_state(model, rng)
        alpha_c, alpha_d, beta_c, beta_d, source, _ = time_terms(model, rng, "continuity")
        cont = rng.integers(0, 2, model.n_cells).astype(np.int8)
        cont[0], cont[-1] = 1, 0  # both kinds present
        worst = max(
            worst, _residual_error(model, x, (alpha_c, alpha_d, beta_c, beta_d, source, cont))
        )
    assert worst <= 6e-15, worst  # as test_residual_matches_reference (measured 5.8e-16)


@pytest.mark.parametrize("name", ["nernst", "divalent", "cylindrical", "wall_potential"])
def test_residual_with_activity_factors_varying_by_cell(name):
    """Activity enters as g = ln(gamma) per species and cell; the shipped
    ideal cases have g = 0 everywhere, so here g is random per cell (the
    reservoir faces must read the boundary cell's, the interior faces each
    side's own)."""
    model = dataclasses.replace(get_model(name))
    rng = np.random.default_rng(zlib.crc32(f"g-{name}".encode()))
    model.g_cell = rng.uniform(-0.5, 0.5, model.g_cell.shape)
    x = random_state(model, rng)
    terms = time_terms(model, rng, "transient")
    assert _residual_error(model, x, terms) <= 6e-15  # as the random-state test


@pytest.mark.parametrize("name", ["nernst", "wall_potential", "wall_potential_right", "divalent"])
def test_conductances_of_exactly_one_are_not_special(name):
    """A reservoir face conductance or a wall's second-order Poisson
    coefficient equal to 1.0 (kernel units) is an ordinary value: residual
    and face fluxes as the oracle has them (the kernel skips zeros only)."""
    model = dataclasses.replace(get_model(name))
    model.b_cond = np.where(model.b_cond != 0.0, 1.0, 0.0)
    model.b_pois_next = np.where(model.b_pois_next != 0.0, 1.0, 0.0)
    rng = np.random.default_rng(zlib.crc32(f"one-{name}".encode()))
    x = random_state(model, rng)
    terms = time_terms(model, rng, "transient")
    assert _residual_error(model, x, terms) <= 6e-15  # as the random-state test
    from pnp.results.observables import face_fluxes

    flux = face_fluxes(model, x)
    steady = np.zeros_like(terms[0])
    res = kernel_residual(model, x, steady, 0.0, steady, np.zeros(model.n_cells + 1), steady)
    rows = np.array(
        [[res[model.layout.conc_at(c, i)] for c in range(model.n_cells)] for i in range(2)]
    )
    np.testing.assert_allclose(
        rows, flux[:2, 1:] - flux[:2, :-1], rtol=0, atol=1e-13 * np.abs(flux).max()
    )


def test_wall_displacement_ignores_the_next_cell_without_a_second_order_term():
    """At a wall with b_pois_next = 0 the next cell's potential is not read
    (a nan there stays out); with it, it is (to the coefficient's weight)."""
    x = np.array([0.0, 0.3, np.nan, 0.7])
    for side, ip in ((0, 1), (1, 3)):
        nxt = ip + 1 if side == 0 else ip - 1
        b_sigma, cond = np.zeros(2), np.array([2.0, 2.0])
        pf, _, _, inext, dnext = kernel._boundary_displacement(
            side, x, ip, 1, kernel.WALL_POTENTIAL, 0.1, b_sigma, cond, np.zeros(2)
        )
        assert np.isfinite(pf) and inext == -1 and dnext == 0.0
        assert pf == pytest.approx(2.0 * (0.1 - x[ip]) if side == 0 else 2.0 * (x[ip] - 0.1))
        y = x.copy()
        y[nxt] = 0.5
        pf1, *_, inext1, dnext1 = kernel._boundary_displacement(
            side, y, ip, 1, kernel.WALL_POTENTIAL, 0.1, b_sigma, cond, np.ones(2)
        )
        assert inext1 == nxt
        sign = 1.0 if side == 0 else -1.0
        assert pf1 == pytest.approx(pf + sign * (0.5 - y[ip]))
        assert dnext1 == sign


def test_assembly_overwrites_a_used_band():
    """A System assembles into the same band every iteration: a Jacobian
    left from before (here garbage) must not leak into the next one."""
    model = get_model("divalent")
    rng = np.random.default_rng(3)
    x = random_state(model, rng)
    alpha_c, alpha_d, beta_c, beta_d, _, _ = time_terms(model, rng, "transient")
    clean = System(model)
    clean.assemble(x, alpha_c, alpha_d, beta_c, beta_d)
    used = System(model)
    used.ab[:] = rng.normal(size=used.ab.shape)
    used.assemble(x, alpha_c, alpha_d, beta_c, beta_d)
    kl = used.kl
    assert np.array_equal(used.ab[kl:], clean.ab[kl:])  # rows below kl: LU fill-in space


def test_weighted_max_of_updates_all_below_their_weights():
    """A converged Newton update: every |d_i| below its weight, the norm below 1."""
    rng = np.random.default_rng(6)
    n = 64
    x = rng.uniform(1.0, 2.0, n)
    is_psi = np.zeros(n, dtype=bool)
    delta = 1e-3 * (1e-6 * x + 1e-9) * rng.uniform(-1.0, 1.0, n)
    got = kernel.weighted_max(delta, x, 1.0, 1e-6, 1e-9, 1e-8, is_psi)
    want = np.max(np.abs(delta) / (1e-6 * x + 1e-9))
    assert got == pytest.approx(want, rel=1e-15) and got < 1e-3
    assert kernel.weighted_max(np.zeros(n), x, 1.0, 1e-6, 1e-9, 1e-8, is_psi) == 0.0


@pytest.mark.skipif(mpmath is None, reason="needs mpmath")
@pytest.mark.parametrize("x", [-9.99e-3, -5e-3, 5e-3, 9.99e-3])
def test_bernoulli_series_to_an_ulp_at_the_switch(x):
    """Just inside |x| < 1e-2 the series' last terms (x^6/30240 in B, x^5/5040
    in B') are still 1e-14 of B': both series to 2 ulp (truncation 1e-19)."""
    with mpmath.workdps(50):
        xm = mpmath.mpf(x)
        b = xm / mpmath.expm1(xm)
        db = mpmath.diff(lambda t: t / mpmath.expm1(t), xm)
    eps = np.finfo(float).eps
    assert abs(kernel.bernoulli(x) - float(b)) <= 2 * eps * float(b)
    assert abs(kernel.bernoulli_deriv(x) - float(db)) <= 2 * eps * abs(float(db))


def test_equilibrate_rows_scales_each_row_by_its_largest_entry():
    """The row equilibration test_banded's LAPACK reference applies: every
    row of the band over its largest entry (a zero row left alone), the
    right-hand side with it; entries outside the matrix not touched."""
    rng = np.random.default_rng(12)
    n, kl, ku = 9, 2, 3
    dense = np.zeros((n, n))
    for i in range(n):
        for j in range(max(0, i - kl), min(n, i + ku + 1)):
            dense[i, j] = rng.normal() * 10.0 ** rng.uniform(-6, 6)
    dense[4] = 0.0  # a zero row
    dense[2] *= 1e-9 / np.abs(dense[2]).max()  # a row whose largest entry is below 1
    ab = np.zeros((2 * kl + ku + 1, n), order="F")
    for j in range(n):
        for i in range(max(0, j - ku), min(n, j + kl + 1)):
            ab[kl + ku + i - j, j] = dense[i, j]
    ab[:kl] = 7.0  # the fill-in rows: not part of the matrix
    outside = np.zeros(ab.shape, dtype=bool)  # band slots of rows < 0 or >= n
    for j in range(n):
        for r in range(kl, ab.shape[0]):
            outside[r, j] = not 0 <= r - kl - ku + j < n
    ab[outside] = 7.0
    res = rng.normal(size=n)
    big = np.abs(dense).max(axis=1)
    scale = np.where(big > 0, 1.0 / np.where(big > 0, big, 1.0), 1.0)
    want_res = res * scale
    kernel.equilibrate_rows(ab, res, kl, ku)
    assert np.array_equal(res, want_res)
    assert np.all(ab[:kl] == 7.0) and np.all(ab[outside] == 7.0)
    ab[outside] = 0.0
    got = band_to_dense(ab, kl, ku)
    assert np.array_equal(got, dense * scale[:, None])


def test_two_pumps_each_add_their_own_jacobian_and_sources():
    """Two [[pump]]s on one membrane, a constant one first (no derivatives)
    and a saturating one after it: the sources are the sum of the two rates
    (pump_rate, read through the layout), and the saturating pump's in-band
    derivatives are in the Jacobian (to the central difference's accuracy,
    as the single-pump test above), not dropped after the constant pump."""
    pumps = [
        {"membrane": "mem", "rate": 2e-5},
        {"membrane": "mem", "j_max": 1e-4, "K_Na": 12.0, "K_K": 3.0},
    ]
    # K and Na neither first (index 0) nor adjacent in the cell block
    species = neuron_species(("Cl", "Na", "X", "K"))
    data = neuron_cell(mesh={"uniform_cells": 4}, pump=pumps, species=species)
    model = build_model(Case.from_dict(data))
    constant, saturating = model.pumps
    assert constant.rate is not None and saturating.rate is None
    S, N = model.n_species, model.n_cells
    x = model.x0.copy()
    lay = model.layout
    rng = np.random.default_rng(12)
    _, c = lay.split(x)
    c *= rng.uniform(0.5, 1.5, c.shape)  # Na inside and K outside away from the K's
    out = pump_sources(model, x, np.zeros((S, N), order="F"))
    rate = sum(pump_rate(model, p, x) * p.area for p in model.pumps)
    ina, ik = model.species.index("Na"), model.species.index("K")
    assert out[ina, saturating.inside_cell] == pytest.approx(-3.0 * rate, rel=1e-15, abs=0)
    assert out[ik, saturating.outside_cell] == pytest.approx(-2.0 * rate, rel=1e-15, abs=0)
    alpha = 1e6
    alpha_c = np.full((S, N), alpha, order="F")
    beta_c = alpha_c * (lay.split(x)[1] * 1.01)
    beta_d = np.zeros(N + 1)
    system = System(model, continuity=False)
    system.assemble(x, alpha_c, alpha, beta_c, beta_d)
    kl, ku = model.bandwidths
    jac = band_to_dense(system.ab, kl, ku)
    cont = system.cont

    def residual(y):
        source = pump_sources(model, y, np.zeros((S, N), order="F"))
        return kernel_residual(model, y, alpha_c, alpha, beta_c, beta_d, source, cont)

    for cell, species in ((saturating.inside_cell, ina), (saturating.outside_cell, ik)):
        col = lay.conc_at(cell, species)
        step = 1e-6 * x[col]
        xp, xm = x.copy(), x.copy()
        xp[col] += step
        xm[col] -= step
        row = lay.conc_at(cell, species)
        fd = (residual(xp)[row] - residual(xm)[row]) / (xp[col] - xm[col])
        # the pump's part of the entry: 3 A dj/dNa (or 2 A dj/dK) is a few % of it
        assert jac[row, col] == pytest.approx(fd, rel=1e-6)
