"""An independent reference for the flagship pump–leak steady state (cases/pump_leak.toml).

The reference is built here from first principles and touches none of the
solver's code (no pnp.discretisation.model, kernel, solver or activity); it reads only the
parsed case parameters.

Physics of the steady state (37 degC, ideal solutions, spherical cell of
radius r1 with a membrane shell r1..r2 = r1 + d, bath held at the outer end):

* Every permeant ion's total flux vanishes: its leak through the membrane is
  minus the pump's flux (3 Na+ out, 2 K+ in per cycle; the pump rate is per
  m^2 at the membrane's mid radius r_m, as in the case's definition).
* Leak through the charge-free membrane shell: Laplace's equation gives
  phi = a + b/r, and the Nernst–Planck flux integrates exactly in s = 1/r, so
  the whole-shell rate is the planar GHK flux over the area 4 pi r1 r2,
  I_i = 4 pi r1 r2 P_i [c_i(r1) B(-z_i u) - c_i(r2) B(z_i u)], B(x) = x/(e^x - 1),
  with u the scaled drop across the membrane proper and c_i(r1), c_i(r2) the
  concentrations at its two faces. (r1 r2 = r_m^2 - d^2/4: 6e-8 from r_m^2.)
* Diffuse (Debye) layers on both faces: Boltzmann equilibrium (the leak
  fluxes perturb them by J lambda / (D c) ~ 1e-14) with the planar
  Poisson–Boltzmann first integral (Grahame, any mixture):
  sigma^2 = 2 eps RT sum_i c_i (exp(-z_i zeta/V_T) - 1), sigma the "wall"
  charge the layer screens, here the membrane capacitor's displacement,
  D(r1) = eps_m r2 u / (r1 d), D(r2) = eps_m r1 u / (r2 d) (spherical shell).
  Their curvature corrections are lambda_D / r1 ~ 1e-4 of zeta (~2e-5 mV).
* Inside bulk: electroneutral. The impermeant X- keeps its amount; its bulk
  value is lowered by the layer's surface excess, 3 Gamma_X / r1 = 3.5e-4 mM
  (a 5e-6 mV effect, included anyway). The net charge of the cell,
  C_m V_m (4 pi r^2), is 2.5e-6 of its ions: it lives in the diffuse layer,
  the bulk stays neutral.

Given the two diffuse potentials, each inside concentration is explicit in V
and electroneutrality leaves one equation for V (brentq); the diffuse
potentials follow from V by Grahame (brentq); a fixed point over the pair
converges to round-off in a few passes (the layers take ~1 % of V_m).

What the diffuse layers are worth (the share the bulk-only closed form
misses, measured with this reference): zeta_in = +0.276 mV, zeta_out =
-0.278 mV, so the membrane proper carries u = -68.855 mV of V_m = -69.409 mV;
the face concentrations differ from the bulk by exp(-/+0.0103) (1 %); the
bulk-only closed form (GHK at V_m with bulk concentrations) gives -69.688 mV,
0.279 mV off. Na_in is a small difference of large terms (1 % of its GHK
balance), so that 1 % flux factor moves V_m by a quarter of a millivolt: the
layers must be in the reference to test V_m to 0.05 mV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from scipy import constants, integrate, optimize

import pnp
from pnp.discretisation.mesh import build_mesh
from pnp.presentation import report

CASE = Path(__file__).resolve().parent.parent / "cases" / "pump_leak.toml"
FARADAY = constants.e * constants.N_A


# --------------------------------------------------------------------------- reference


def _bernoulli(x: float) -> float:
    """B(x) = x / (e^x - 1), B(0) = 1."""
    return 1.0 if x == 0.0 else x / math.expm1(x)


@dataclass
class Reference:
    """The reference steady state (potentials in V, concentrations in mol/m^3)."""

    v_m: float  # phi(inside bulk) - phi(outside bulk)
    u_membrane: float  # drop across the membrane proper
    zeta_in: float  # phi(inner membrane face) - phi(inside bulk)
    zeta_out: float  # phi(outer membrane face) - phi(bath bulk)
    rate: float  # pump cycle rate [mol/m^2/s] at the mid radius
    c_in: dict[str, float]  # inside bulk
    c_face_in: dict[str, float]  # at the inner membrane face
    c_face_out: dict[str, float]  # at the outer membrane face
    leak: dict[str, float] = field(default_factory=dict)  # GHK, outward, per m^2 at r_m
    r_mid: float = 0.0


class _Params:
    """The case's numbers, in SI."""

    def __init__(self, case):
        cyt, mem, bath = case.regions
        assert (case.geometry, case.inside, case.activity) == ("spherical", "left", "ideal")
        assert case.left.type == "wall" and case.left.surface_charge == 0.0
        assert case.right.type == "reservoir" and case.right.potential == 0.0
        assert all(r.fixed_charge == 0.0 for r in case.regions)
        self.names = case.species_names
        self.z = {s.name: s.z for s in case.species}
        self.rt = constants.R * case.temperature
        self.vt = self.rt / FARADAY
        self.r1 = cyt.length
        self.d = mem.length
        self.r2 = self.r1 + self.d
        self.r_mid = self.r1 + self.d / 2.0
        self.eps_in = constants.epsilon_0 * cyt.eps_r
        self.eps_out = constants.epsilon_0 * bath.eps_r
        self.eps_m = constants.epsilon_0 * mem.eps_r
        self.P = {n: mem.permeability.get(n, 0.0) for n in self.names}
        self.c_out = {n: bath.concentration.get(n, 0.0) for n in self.names}
        # closed species (impermeant): their inside amount is fixed
        self.closed = {n: cyt.concentration.get(n, 0.0) for n in self.names if self.P[n] == 0.0}
        (pump,) = case.pumps
        self.pump = pump


def _grahame(zeta: float, c: dict[str, float], p: _Params, eps: float) -> float:
    """Charge [C/m^2] a diffuse layer of bulk ``c`` screens at scaled potential ``zeta``."""
    s = sum(ci * math.expm1(-p.z[n] * zeta) for n, ci in c.items())
    return math.copysign(math.sqrt(2.0 * eps * p.rt * max(s, 0.0)), zeta)


def _zeta(sigma: float, c: dict[str, float], p: _Params, eps: float) -> float:
    """Scaled diffuse potential that screens ``sigma`` (inverse Grahame)."""
    return optimize.brentq(
        lambda t: _grahame(t, c, p, eps) - sigma,
        -5.0,
        5.0,
        xtol=1e-15,
        rtol=4 * np.finfo(float).eps,
    )


def _surface_excess(name: str, zeta: float, c: dict[str, float], p: _Params, eps: float) -> float:
    """Gamma [mol/m^2] of one species in a planar diffuse layer, from the PB first integral.

    (dpsi/dx)^2 = 2 F^2/(eps RT) sum_j c_j (e^(-z_j psi) - 1), so
    Gamma = int c (e^(-z psi) - 1) dx = int c (e^(-z psi) - 1) / |dpsi/dx| |dpsi|.
    """
    k = 2.0 * FARADAY**2 / (eps * p.rt)

    def integrand(psi: float) -> float:
        s = sum(cj * math.expm1(-p.z[n] * psi) for n, cj in c.items())
        return c[name] * math.expm1(-p.z[name] * psi) / math.sqrt(k * s)

    value, _ = integrate.quad(integrand, 0.0, zeta, epsabs=0.0, epsrel=1e-12)
    return math.copysign(value, zeta) if zeta != 0.0 else 0.0


def _pump_flux(name: str, rate: float, p: _Params) -> float:
    """Outward pump flux of one species per m^2 at the mid radius."""
    if name == p.pump.sodium:
        return 3.0 * rate
    if name == p.pump.potassium:
        return -2.0 * rate
    return 0.0


def _face_in(name: str, u: float, rate: float, c_face_out: dict[str, float], p: _Params) -> float:
    """Inner-face concentration at which the shell GHK leak cancels the pump."""
    z = p.z[name]
    j_shell = -_pump_flux(name, rate, p) * p.r_mid**2 / (p.r1 * p.r2)
    return (j_shell + p.P[name] * c_face_out[name] * _bernoulli(z * u)) / (
        p.P[name] * _bernoulli(-z * u)
    )


def _rate(u: float, c_face_out: dict[str, float], p: _Params) -> float:
    """Pump cycle rate: constant, or the saturating law read at the membrane faces.

    A saturating pump's rate depends on Na at the inner face, which depends on
    the rate through the Na balance: rate - j(rate) is increasing, so the root
    is unique in [0, j_max].
    """
    pump = p.pump
    if pump.rate is not None:
        return pump.rate

    def excess(rate: float) -> float:
        na = max(_face_in(pump.sodium, u, rate, c_face_out, p), 0.0)
        k = c_face_out[pump.potassium]
        return rate - pump.j_max * (na / (na + pump.K_Na)) ** 3 * (k / (k + pump.K_K)) ** 2

    if pump.j_max == 0.0:
        return 0.0
    return optimize.brentq(excess, 0.0, pump.j_max, xtol=1e-30, rtol=4 * np.finfo(float).eps)


def _inside(v: float, zeta_in: float, zeta_out: float, closed: dict[str, float], p: _Params):
    """(u, rate, faces in, faces out, bulk in) for scaled V and diffuse potentials."""
    u = v + zeta_in - zeta_out
    c_face_out = {n: c * math.exp(-p.z[n] * zeta_out) for n, c in p.c_out.items()}
    rate = _rate(u, c_face_out, p)
    c_face_in, c_in = {}, {}
    for n in p.names:
        if n in closed:
            c_in[n] = closed[n]
            c_face_in[n] = closed[n] * math.exp(-p.z[n] * zeta_in)
        else:
            c_face_in[n] = _face_in(n, u, rate, c_face_out, p)
            c_in[n] = c_face_in[n] * math.exp(p.z[n] * zeta_in)
    return u, rate, c_face_in, c_face_out, c_in


def pump_leak_reference(case, diffuse_layers: bool = True) -> Reference:
    """Steady state of the pump–leak cell from GHK leaks, the pump and electroneutrality.

    ``diffuse_layers=False`` is the textbook closed form (GHK at V_m with the
    bulk concentrations, X- at its initial value).
    """
    p = _Params(case)
    zeta_in = zeta_out = 0.0
    closed = dict(p.closed)
    v = math.nan
    for _ in range(50):

        def charge(v_, zi=zeta_in, zo=zeta_out, cl=closed):
            c_in = _inside(v_, zi, zo, cl, p)[-1]
            return sum(p.z[n] * c for n, c in c_in.items())

        # a negative cell: V in (-20, 0) V_T, one sign change there (checked on a grid)
        v_new = optimize.brentq(charge, -20.0, -1e-3, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        done = abs(v_new - v) < 1e-14
        v = v_new
        if not diffuse_layers or done:
            break
        u, _, _, _, c_in = _inside(v, zeta_in, zeta_out, closed, p)
        d_in = p.eps_m * p.vt * u * p.r2 / (p.r1 * p.d)  # displacement at r1 (outward)
        d_out = p.eps_m * p.vt * u * p.r1 / (p.r2 * p.d)  # and at r2
        zeta_in = _zeta(-d_in, c_in, p, p.eps_in)  # the inside layer screens -D(r1)
        zeta_out = _zeta(d_out, p.c_out, p, p.eps_out)
        # X- amount fixed: bulk = total - surface excess * area / volume (sphere: 3/r1)
        closed = {
            n: c0 - 3.0 * _surface_excess(n, zeta_in, c_in, p, p.eps_in) / p.r1
            for n, c0 in p.closed.items()
        }
    else:
        raise AssertionError("pump-leak reference: fixed point did not converge")
    u, rate, c_face_in, c_face_out, c_in = _inside(v, zeta_in, zeta_out, closed, p)
    ref = Reference(
        v_m=v * p.vt,
        u_membrane=u * p.vt,
        zeta_in=zeta_in * p.vt,
        zeta_out=zeta_out * p.vt,
        rate=rate,
        c_in=c_in,
        c_face_in=c_face_in,
        c_face_out=c_face_out,
        r_mid=p.r_mid,
    )
    for n in p.names:
        if p.P[n] > 0.0:
            z = p.z[n]
            shell = p.P[n] * (c_face_in[n] * _bernoulli(-z * u) - c_face_out[n] * _bernoulli(z * u))
            ref.leak[n] = shell * p.r1 * p.r2 / p.r_mid**2
    return ref


# --------------------------------------------------------------------------- pnp side


def _load(**overrides):
    return pnp.load_case(CASE, overrides=overrides or None)


def _membrane_cells(res) -> tuple[int, int]:
    (cells,) = np.nonzero(res.region == res.region_names.index("membrane"))
    return int(cells[0]), int(cells[-1]) + 1


def _profile(res) -> dict[str, float]:
    """Membrane drop and diffuse potentials read off pnp's profile [V].

    The membrane is charge-free (its ions sit at partition ~1e-8): its field
    is uniform, so a line through its first (last) two cell centres gives the
    face potential.
    """
    start, stop = _membrane_cells(res)
    phi, x, f = res.potential[-1], res.x, res.faces
    face_in = phi[start] + (phi[start + 1] - phi[start]) / (x[start + 1] - x[start]) * (
        f[start] - x[start]
    )
    face_out = phi[stop - 1] + (phi[stop - 1] - phi[stop - 2]) / (x[stop - 1] - x[stop - 2]) * (
        f[stop] - x[stop - 1]
    )
    # bulk inside: the centre cell; bath bulk: the reservoir's 0 V
    return {
        "u": face_in - face_out,
        "zeta_in": face_in - phi[0],
        "zeta_out": face_out,
        "phi_face_in": face_in,
        "phi_face_out": face_out,
    }


def _whole_cell_pA(res, density: float) -> float:
    """A current density [A/m^2] at the mid membrane face → whole cell [pA]."""
    start, stop = _membrane_cells(res)
    r_mid = res.faces[(start + stop) // 2]
    return density * 4.0 * math.pi * r_mid**2 * 1e12


@pytest.fixture(scope="module")
def flagship():
    case = _load()
    res = pnp.run(case)
    assert res.status == "completed", res.message
    return case, res, pump_leak_reference(case)


# --------------------------------------------------------------------------- the reference itself


def test_reference_closes(flagship):
    """The reference satisfies every equation it was built from (to round-off)."""
    case, _, ref = flagship
    p = _Params(case)
    # inside bulk electroneutral; X- amount = bulk + diffuse-layer excess
    assert abs(sum(p.z[n] * c for n, c in ref.c_in.items())) < 1e-12 * ref.c_in["K"]
    gamma_x = _surface_excess("X", ref.zeta_in / p.vt, ref.c_in, p, p.eps_in)
    assert ref.c_in["X"] + 3.0 * gamma_x / p.r1 == pytest.approx(142.0, rel=1e-14, abs=0)
    # the potential drops add up: bulk in → inner face → outer face → bath bulk
    assert ref.v_m == pytest.approx(ref.u_membrane - ref.zeta_in + ref.zeta_out, abs=1e-15)
    # Grahame on both faces, each screening the membrane capacitor's displacement
    d_in = p.eps_m * ref.u_membrane * p.r2 / (p.r1 * p.d)
    d_out = p.eps_m * ref.u_membrane * p.r1 / (p.r2 * p.d)
    assert _grahame(ref.zeta_in / p.vt, ref.c_in, p, p.eps_in) == pytest.approx(
        -d_in, rel=1e-12, abs=0
    )
    assert _grahame(ref.zeta_out / p.vt, p.c_out, p, p.eps_out) == pytest.approx(
        d_out, rel=1e-12, abs=0
    )
    # faces in Boltzmann equilibrium with their bulk
    for n in p.names:
        assert ref.c_face_in[n] == pytest.approx(
            ref.c_in[n] * math.exp(-p.z[n] * ref.zeta_in / p.vt), rel=1e-13, abs=0
        )
    # each leak (GHK through the shell, re-evaluated) is minus the pump's flux
    assert ref.leak["Na"] == pytest.approx(-3e-7, rel=1e-11, abs=0)
    assert ref.leak["K"] == pytest.approx(2e-7, rel=1e-11, abs=0)
    assert abs(ref.leak["Cl"]) < 1e-11 * 1e-7
    # the net charge C u (4 pi r1 r2) against the ions inside: negligible, and
    # held by the diffuse layer, not the bulk
    q = p.eps_m / p.d * abs(ref.u_membrane) * p.r1 * p.r2 / FARADAY  # mol / sr
    ions = sum(ref.c_in.values()) * p.r1**3 / 3.0
    assert q / ions == pytest.approx(2.5e-6, rel=0.05, abs=0)


# --------------------------------------------------------------------------- pnp vs reference


def test_membrane_potential(flagship):
    _, res, ref = flagship
    # measured |V_pnp - V_ref| = 3.3 uV on the case's mesh (second order in
    # the mesh, see test_converges_to_reference); 10x, inside the 0.05 mV asked
    assert res.membrane_potential[-1] == pytest.approx(ref.v_m, abs=3.3e-5)


def test_inside_concentrations(flagship):
    _, res, ref = flagship
    # measured relative errors on the case's mesh: K 1.3e-4, Na 1.3e-3 (Na_in is
    # 1 % of its GHK balance, so it carries the flux errors 100x), Cl 1.2e-4,
    # X 4.3e-10 (conservation; the reference includes the layer's X excess)
    for name, rel in (("K", 1.3e-3), ("Na", 1.3e-2), ("Cl", 1.2e-3), ("X", 4e-9)):
        assert res.c(name)[-1, 0] == pytest.approx(ref.c_in[name], rel=rel, abs=0), name


def test_pump_and_leak_currents_whole_cell(flagship):
    """Whole-cell currents [pA] over the mid-membrane sphere 4 pi r_m^2, where pnp measures."""
    _, res, ref = flagship
    area = 4.0 * math.pi * ref.r_mid**2
    assert _whole_cell_pA(res, res.pump_current[-1]) == pytest.approx(
        FARADAY * ref.rate * area * 1e12, rel=1e-12, abs=0
    )  # 12.13 pA
    rate = res.pump_current[-1] / FARADAY
    pump_flux = {"K": -2.0 * rate, "Na": 3.0 * rate, "Cl": 0.0}
    # leak = total flux at the mid face - pump: measured 2e-14 relative to the
    # reference (the discrete flux balance is exact; this is Newton's last
    # residual), 1e-12 allows for round-off of the 1e-6 mol/m^2/s GHK terms
    for name, z in (("K", 1), ("Na", 1), ("Cl", -1)):
        leak_pA = _whole_cell_pA(res, z * FARADAY * (res.flux[name][-1] - pump_flux[name]))
        expected = z * FARADAY * ref.leak[name] * area * 1e12  # K 24.26, Na -36.39
        assert leak_pA == pytest.approx(expected, rel=1e-12, abs=1e-12 * 36.0), name


def test_run_summary_whole_cell_currents(flagship):
    """The `pnp run` summary's whole-cell currents use the mid-face area the densities are per.

    (They used the inner face's 4 pi r1^2: 5e-4 low, 12.1247 pA of pump current
    for 12.1308.) The summary prints 6 significant digits.
    """
    case, res, ref = flagship
    text = report.summary(case, res)
    printed = {}
    for line in text.splitlines():
        m = re.match(r"(pump|Na leak|K leak) current \(whole cell\)\s+(\S+) pA", line)
        if m:
            printed[m.group(1)] = float(m.group(2))
    area_pA = 4.0 * math.pi * ref.r_mid**2 * 1e12
    assert printed["pump"] == pytest.approx(FARADAY * ref.rate * area_pA, rel=1e-5, abs=0)
    assert printed["Na leak"] == pytest.approx(FARADAY * ref.leak["Na"] * area_pA, rel=1e-5, abs=0)
    assert printed["K leak"] == pytest.approx(FARADAY * ref.leak["K"] * area_pA, rel=1e-5, abs=0)


def test_diffuse_layers_share(flagship):
    """The layers pnp resolves are the ones the reference adds to the textbook closed form."""
    case, res, ref = flagship
    p = _Params(case)
    bulk_only = pump_leak_reference(case, diffuse_layers=False)
    share = ref.v_m - bulk_only.v_m  # +0.279 mV
    assert share > 0.1e-3  # the bulk-only closed form would miss 0.05 mV by 5x
    assert res.membrane_potential[-1] - bulk_only.v_m == pytest.approx(share, abs=3.3e-5)
    # read off pnp's profile; measured errors u 10.6 uV, zeta_in 4.1, zeta_out 3.2 uV
    prof = _profile(res)
    assert prof["u"] == pytest.approx(ref.u_membrane, abs=1e-4)  # -68.855 mV
    assert prof["zeta_in"] == pytest.approx(ref.zeta_in, abs=4e-5)  # +0.276 mV
    assert prof["zeta_out"] == pytest.approx(ref.zeta_out, abs=3e-5)  # -0.278 mV
    # GHK through the shell from pnp's own membrane faces (Boltzmann from the
    # adjacent cells, which are ~lambda_D/8 from the face) balances the pump
    # to 1.24e-5 (measured); GHK at V_m with bulk values misses it by 0.41 %,
    # the layers' flux factor (the same for K and Na), as the reference predicts
    start, stop = _membrane_cells(res)
    phi = res.potential[-1]
    u = prof["u"] / p.vt
    for name, pumped in (("K", -2e-7), ("Na", 3e-7)):
        z = p.z[name]
        c_in = res.c(name)[-1, start - 1] * math.exp(
            -z * (prof["phi_face_in"] - phi[start - 1]) / p.vt
        )
        c_out = res.c(name)[-1, stop] * math.exp(-z * (prof["phi_face_out"] - phi[stop]) / p.vt)
        face_ghk = p.P[name] * (c_in * _bernoulli(-z * u) - c_out * _bernoulli(z * u))
        assert face_ghk * p.r1 * p.r2 / p.r_mid**2 == pytest.approx(-pumped, rel=1.2e-4, abs=0), (
            name
        )
        v = res.membrane_potential[-1] / p.vt
        bulk_ghk = p.P[name] * (
            res.c(name)[-1, 0] * _bernoulli(-z * v) - p.c_out[name] * _bernoulli(z * v)
        )
        v_ref = ref.v_m / p.vt
        predicted = p.P[name] * (
            ref.c_in[name] * _bernoulli(-z * v_ref) - p.c_out[name] * _bernoulli(z * v_ref)
        )
        assert predicted / -pumped - 1.0 == pytest.approx(-4.078e-3, rel=1e-3, abs=0), name
        # measured: pnp's bulk-GHK miss -4.126e-3 differs from the predicted one by 4.8e-5
        assert bulk_ghk / -pumped == pytest.approx(predicted / -pumped, abs=4.8e-4), name


def test_converges_to_reference():
    """pnp → reference under mesh refinement, at second order.

    Measured |V_pnp - V_ref| at refine 1, 2, 4, 8, 16: 3.30, 0.88, 0.16,
    0.029, 0.078 uV: second order down to a floor below 0.1 uV, the size of
    what the reference neglects (the diffuse layers' curvature, lambda_D / r1
    of zeta: ~0.02 uV a side).
    """
    case = _load()
    ref = pump_leak_reference(case)
    err = [
        abs(pnp.run(case, mesh=build_mesh(case, refine=k)).membrane_potential[-1] - ref.v_m)
        for k in (1, 2, 4)
    ]
    order = math.log2(err[0] / err[1])  # measured 1.91
    assert 1.7 < order < 2.5
    assert err[2] < 0.5e-6  # measured 0.16 uV


def test_pump_rate_derivative(flagship):
    """A 1 % pump-rate change moves pnp and the reference alike (agreement is not luck)."""
    *_, ref = flagship
    slopes = []
    for solve in (
        lambda c: pnp.run(c).membrane_potential[-1],
        lambda c: pump_leak_reference(c).v_m,
    ):
        v = [solve(_load(**{"pump.rate": ref.rate * (1.0 + s)})) for s in (-0.01, 0.01)]
        slopes.append((v[1] - v[0]) / 0.02)  # dV_m / dln(rate)
    pnp_slope, ref_slope = slopes
    assert ref_slope == pytest.approx(-67.55e-3, rel=1e-3, abs=0)  # -0.68 mV per 1 %
    # measured relative difference 1.4e-4 (7.8e-6 at refine 4); the bulk-only
    # closed form's slope (-68.36 mV) is 1.2 % off, far outside
    assert pnp_slope == pytest.approx(ref_slope, rel=1.4e-3, abs=0)


def test_saturating_pump():
    """The saturating law, read at the membrane faces, against pnp (which reads the adjacent cells).

    pnp evaluates j_p from the cell next to the membrane, half a cell into
    the diffuse layer: its rate converges to the face law at first order.
    Measured |V_pnp - V_ref| at refine 1, 2, 4: 3.15, 1.61, 0.77 uV; rate
    error -2.5e-5 relative at refine 1.
    """
    case = _load(**{"pump.j_max": 2e-7, "pump.K_Na": 10.0, "pump.K_K": 1.5})
    ref = pump_leak_reference(case)
    assert ref.v_m == pytest.approx(-57.018e-3, abs=1e-6)
    results = [pnp.run(case, mesh=build_mesh(case, refine=k)) for k in (1, 2, 4)]
    res = results[0]
    assert res.membrane_potential[-1] == pytest.approx(ref.v_m, abs=3.2e-5)
    assert res.pump_current[-1] / FARADAY == pytest.approx(ref.rate, rel=2.5e-4, abs=0)
    for name, rel in (("K", 1.3e-3), ("Na", 1.7e-3), ("Cl", 1.2e-3), ("X", 4e-9)):
        assert res.c(name)[-1, 0] == pytest.approx(ref.c_in[name], rel=rel, abs=0), name
    err = [abs(r.membrane_potential[-1] - ref.v_m) for r in results]
    assert 0.8 < math.log2(err[0] / err[2]) / 2.0 < 1.3  # measured 1.01
