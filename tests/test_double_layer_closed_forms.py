"""Closed forms of charged walls and bodies against independent oracles.

The reference side of issue 12 (charged walls off their closed forms on
default meshes): the inverse Grahame equation (surface potential of a given
wall charge, any electrolyte), the Gouy–Chapman length, counter-ions only
between two charged walls, and Debye–Hückel outside a charged sphere and
cylinder, each checked against something that does not share its
derivation:

- ``scipy.integrate.solve_bvp`` of the Poisson–Boltzmann equation itself
  (nonlinear, or linearised for Debye–Hückel) — no first integral, no
  closed form; its tolerance is set at about ten times the largest error
  measured over the test's grid at the solver tolerance used (stated beside
  each);
- the textbook sum of the Grahame equation at 60 digits (mpmath), the z:z
  asinh closed form, quadrature of the charge (Gauss's law), and known
  limits with their first omitted term as the bound.

Constants are written out from scipy.constants, not taken from pnp.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from scipy import constants, special
from scipy.integrate import quad, solve_bvp

from pnp import analytic

EPS = np.finfo(float).eps
F = constants.physical_constants["Faraday constant"][0]
R = constants.R
EPS0 = constants.epsilon_0
T = 298.15
EPS_R = 78.5
V_T = R * T / F
EPS_W = EPS0 * EPS_R

# (cation valence, anion valence): 1:1, 2:1 (CaCl2-like), 1:2 (Na2SO4-like), 2:2
SALTS = [(1, -1), (2, -1), (1, -2), (2, -2)]


def salt(molar: float, z_plus: int, z_minus: int) -> tuple[list[float], list[int]]:
    """Bulk concentrations [mol/m^3] of a salt of `molar` formula units per m^3."""
    common = math.gcd(z_plus, -z_minus)
    return [molar * -z_minus / common, molar * z_plus / common], [z_plus, z_minus]


def debye(concentrations, valences) -> float:
    moment = sum(z * z * c for c, z in zip(concentrations, valences, strict=True))
    return math.sqrt(EPS_W * R * T / (F**2 * moment))


# --------------------------------------------------------------------------- oracles


def textbook_grahame_potential(sigma, concentrations, valences, digits=60):
    """phi0 from sum_i c_i (e^(-z_i u) - 1) = sigma^2/(2 eps RT), solved at `digits` digits.

    The sum as printed in textbooks (no series, no logarithms): at 60
    digits its cancellation for small u costs nothing at the |sigma| used.
    """
    with mpmath.workdps(digits):
        target = mpmath.mpf(sigma) ** 2 / (2 * mpmath.mpf(EPS_W) * R * T)

        def excess(u):
            return (
                mpmath.fsum(
                    mpmath.mpf(c) * (mpmath.exp(-z * u) - 1)
                    for c, z in zip(concentrations, valences, strict=True)
                )
                - target
            )

        side = 1 if sigma > 0 else -1
        high = mpmath.mpf("1e-30")
        while excess(side * high) < 0:
            high *= 2
        u = mpmath.findroot(lambda t: excess(side * t), (high / 2, high), solver="anderson")
        return float(side * u) * V_T


def bvp_wall_potential(sigma, concentrations, valences, tol=1e-8, length=40.0):
    """phi(0) of eps phi'' = -F sum z_i c_i e^(-z_i F phi/RT) on [0, 40 lambda].

    Gauss at the wall, -eps phi'(0) = sigma; phi = 0 at 40 lambda (the bulk:
    the far field is down by e^-40). Scaled: xi = x/lambda, u = phi/V_T,
    u'' = -sum z_i c_i e^(-z_i u) / sum z_j^2 c_j.
    """
    c = np.asarray(concentrations, dtype=float)
    z = np.asarray(valences, dtype=float)
    moment = float(np.sum(z * z * c))
    slope = -sigma * debye(c, z) / (EPS_W * V_T)

    def rhs(_, y):
        charge = np.sum((z * c)[:, None] * np.exp(-z[:, None] * y[0]), axis=0) / moment
        return np.vstack([y[1], -charge])

    def boundary(ya, yb):
        return np.array([ya[1] - slope, yb[0]])

    xi = np.concatenate([[0.0], np.geomspace(1e-5, length, 400)])
    # a guess with the right slope at the wall and a symmetric-salt wall value
    u0 = math.copysign(2 * math.asinh(abs(slope) / 2), sigma)
    k = max(1.0, abs(slope / u0))
    guess = np.vstack([u0 * np.exp(-k * xi), -k * u0 * np.exp(-k * xi)])
    sol = solve_bvp(rhs, boundary, xi, guess, tol=tol, max_nodes=200000, bc_tol=1e-12)
    assert sol.status == 0, sol.message
    return float(sol.sol(0.0)[0]) * V_T


def bvp_counterion_gap(sigma, z, half_width, tol=1e-8):
    """(c_mid, u at xi points) of counter-ions between walls at +-L, by solve_bvp.

    u = zF(phi - phi(0))/RT on xi = x/L in [0, 1]: u'' = -P e^(-u) with the
    unknown parameter P = z^2 F^2 L^2 c_mid/(eps RT); u(0) = 0, u'(0) = 0
    (symmetry) and Gauss at the wall, u'(1) = zFL sigma/(eps RT). Reached
    by continuation in sigma from a nearly uniform gap.
    """
    wall_slope = z * F * half_width * sigma / (EPS_W * R * T)

    def rhs(_, y, p):
        return np.vstack([y[1], -p[0] * np.exp(-y[0])])

    xi = np.linspace(0.0, 1.0, 101)
    y = np.zeros((2, xi.size))
    p = [abs(wall_slope) * 1e-3]
    for fraction in np.geomspace(1e-3, 1.0, 13):
        slope = wall_slope * fraction

        def boundary(ya, yb, p, slope=slope):
            return np.array([ya[0], ya[1], yb[1] - slope])

        sol = solve_bvp(rhs, boundary, xi, y, p=p, tol=tol, max_nodes=200000, bc_tol=1e-12)
        assert sol.status == 0, sol.message
        xi, y, p = sol.x, sol.y, sol.p
    c_mid = float(p[0]) * EPS_W * R * T / (z * F * half_width) ** 2
    return c_mid, sol


def bvp_radial(alpha, dimension, wall_slope=-1.0, nonlinear=False, tol=1e-8, length=40.0):
    """psi'' + (d-1)/xi psi' = psi (or sinh psi) on xi = r/lambda in [alpha, alpha + 40].

    Linear: psi scaled by sigma lambda/eps, so psi'(alpha) = -1 (Gauss at the
    surface). Nonlinear (1:1 salt): u = phi/V_T with u'(alpha) = wall_slope.
    psi = 0 at alpha + 40: the bulk.
    """

    def rhs(x, y):
        source = np.sinh(y[0]) if nonlinear else y[0]
        return np.vstack([y[1], source - (dimension - 1) / x * y[1]])

    def boundary(ya, yb):
        return np.array([ya[1] - wall_slope, yb[0]])

    xi = alpha + np.concatenate([[0.0], np.geomspace(1e-4, length, 300)])
    decay = np.exp(-(xi - alpha))
    guess = np.vstack([-wall_slope * decay, wall_slope * decay])
    sol = solve_bvp(rhs, boundary, xi, guess, tol=tol, max_nodes=200000, bc_tol=1e-12)
    assert sol.status == 0, sol.message
    return sol


# --------------------------------------------------------------------------- Grahame inverse


@pytest.mark.parametrize("z", [1, 2, 3])
@pytest.mark.parametrize("molar", [1.0, 10.0, 100.0, 1000.0])
def test_grahame_potential_symmetric_salt_is_asinh(z, molar):
    # z:z salt: phi0 = (2 V_T/z) asinh(sigma / sqrt(8 eps RT c0)). Measured 8.9e-16.
    sigma = np.concatenate([-np.logspace(-12, math.log10(0.3), 20), np.logspace(-12, 0, 20)])
    phi0 = analytic.grahame_potential(sigma, *salt(molar, z, -z), EPS_R, T)
    closed = 2 * V_T / z * np.arcsinh(sigma / math.sqrt(8 * EPS_W * R * T * molar))
    np.testing.assert_allclose(phi0, closed, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    ("concentrations", "valences"),
    [
        *(salt(molar, *pair) for pair in SALTS for molar in (1.0, 1000.0)),
        salt(5.0, 3, -1),
        ([10.0, 5.0, 20.0, 1.0, 1.0], [1, 2, -1, 2, -2]),  # NaCl + CaCl2 + MgSO4
        ([140.0, 2.0, 144.0], [1, 2, -1]),
    ],
)
def test_grahame_potential_matches_the_textbook_sum(concentrations, valences):
    # The textbook sum at 60 digits, |sigma| from 1e-9 to 0.3 C/m^2 on both sides. Measured
    # 4.4e-16 relative; allowed 1e-14.
    for sigma in (1e-9, -1e-6, 1e-3, -0.01, 0.05, -0.1, 0.2, -0.3, 0.3):
        phi0 = analytic.grahame_potential(sigma, concentrations, valences, EPS_R, T)
        reference = textbook_grahame_potential(sigma, concentrations, valences)
        assert phi0 == pytest.approx(reference, rel=1e-14, abs=0)


@pytest.mark.parametrize(("z_plus", "z_minus"), SALTS)
@pytest.mark.parametrize("molar", [1.0, 1000.0])
@pytest.mark.parametrize("sigma", [1e-4, -0.01, 0.05, -0.2, 0.3, -0.3])
def test_grahame_potential_solves_poisson_boltzmann(z_plus, z_minus, molar, sigma):
    # solve_bvp of the PB equation at tol 1e-8 (no first integral used): measured up to
    # 1.7e-11 relative over this grid; allowed 2e-10.
    concentrations, valences = salt(molar, z_plus, z_minus)
    phi0 = analytic.grahame_potential(sigma, concentrations, valences, EPS_R, T)
    assert phi0 == pytest.approx(
        bvp_wall_potential(sigma, concentrations, valences), rel=2e-10, abs=0
    )


@pytest.mark.parametrize(("z_plus", "z_minus"), [*SALTS, (3, -1)])
def test_grahame_potential_inverts_grahame(z_plus, z_minus):
    # Round trips both ways over the whole range; the derivative of ln sigma with respect
    # to ln phi0 is between 1 and ~|z u0|, so a few ulp each way. Measured 2.2e-15.
    for molar in (1.0, 10.0, 100.0, 1000.0):
        concentrations, valences = salt(molar, z_plus, z_minus)
        sigma = np.concatenate([-np.logspace(-10, 0.5, 30), [0.0], np.logspace(-10, 0.5, 30)])
        phi0 = analytic.grahame_potential(sigma, concentrations, valences, EPS_R, T)
        back = analytic.grahame(phi0, concentrations, valences, EPS_R, T)
        np.testing.assert_allclose(back, sigma, rtol=2e-14, atol=0)
        phi = np.linspace(-0.3, 0.3, 41) / max(z_plus, -z_minus)
        sigma = analytic.grahame(phi, concentrations, valences, EPS_R, T)
        again = analytic.grahame_potential(sigma, concentrations, valences, EPS_R, T)
        np.testing.assert_allclose(again, phi, rtol=2e-14, atol=0)


@pytest.mark.parametrize(("z_plus", "z_minus"), SALTS)
def test_grahame_potential_debye_huckel_limit(z_plus, z_minus):
    # sigma/(eps phi0/lambda) = 1 - u T3/(6S) + O(u^2) (test_analytic), T3 = sum z^3 c,
    # S = sum z^2 c, u = phi0/V_T; so phi0/(sigma lambda/eps) = 1 + u T3/(6S) + O(u^2).
    # The O(u^2) remainder is below u^2 (its coefficient is below 1/2 for these salts).
    concentrations, valences = salt(100.0, z_plus, z_minus)
    t3_over_s = sum(z**3 * c for c, z in zip(concentrations, valences, strict=True)) / sum(
        z**2 * c for c, z in zip(concentrations, valences, strict=True)
    )
    lam = debye(concentrations, valences)
    for sigma in (1e-8, -1e-6, 1e-5, -1e-4, 1e-3):
        phi0 = analytic.grahame_potential(sigma, concentrations, valences, EPS_R, T)
        u = phi0 / V_T
        ratio = phi0 / (sigma * lam / EPS_W)
        assert abs(ratio - 1 - u * t3_over_s / 6) <= u * u + 16 * EPS


def test_grahame_potential_extremes_and_shapes():
    concentrations, valences = salt(100.0, 1, -1)
    lam = debye(concentrations, valences)
    # Far below any double-precision potential difference: the Debye-Hückel value exactly.
    assert analytic.grahame_potential(1e-300, concentrations, valences, EPS_R, T) == pytest.approx(
        1e-300 * lam / EPS_W, rel=1e-14, abs=0
    )
    assert analytic.grahame_potential(0.0, concentrations, valences, EPS_R, T) == 0.0
    # Huge charges stay finite: 2 V_T asinh(...) with no overflow.
    huge = analytic.grahame_potential(-1e6, concentrations, valences, EPS_R, T)
    closed = -2 * V_T * math.asinh(1e6 / math.sqrt(8 * EPS_W * R * T * 100.0))
    assert huge == pytest.approx(closed, rel=1e-14, abs=0)
    grid = analytic.grahame_potential(np.ones((2, 3)) * 0.01, concentrations, valences, EPS_R, T)
    assert grid.shape == (2, 3)
    assert isinstance(analytic.grahame_potential(0.01, concentrations, valences, EPS_R, T), float)


def test_grahame_potential_rejects_bad_input():
    with pytest.raises(ValueError, match="electroneutral"):
        analytic.grahame_potential(0.01, [100.0, 90.0], [1, -1], EPS_R, T)
    with pytest.raises(ValueError, match="finite"):
        analytic.grahame_potential(math.nan, [100.0, 100.0], [1, -1], EPS_R, T)
    with pytest.raises(ValueError, match="charged species"):
        analytic.grahame_potential(0.01, [0.0, 0.0], [1, -1], EPS_R, T)


# --------------------------------------------------------------------------- Gouy–Chapman length


def test_gouy_chapman_length_value():
    # 2 eps RT/(|z| F |sigma|): 0.357 nm... for -0.1 C/m^2 and a monovalent counter-ion.
    expected = 2 * EPS_W * R * T / (F * 0.1)
    assert analytic.gouy_chapman_length(-0.1, 1, EPS_R, T) == pytest.approx(
        expected, rel=4 * EPS, abs=0
    )
    assert analytic.gouy_chapman_length(0.1, -2, EPS_R, T) == pytest.approx(
        expected / 2, rel=4 * EPS, abs=0
    )
    lengths = analytic.gouy_chapman_length(np.array([0.0, 0.3]), 1, EPS_R, T)
    assert lengths[0] == math.inf
    assert lengths[1] == pytest.approx(expected / 3, rel=4 * EPS, abs=0)
    with pytest.raises(ValueError, match="non-zero"):
        analytic.gouy_chapman_length(0.1, 0, EPS_R, T)


@pytest.mark.parametrize(("sigma", "z"), [(-0.2, 1), (0.3, -2)])
def test_gouy_chapman_length_sets_the_counterion_layer(sigma, z):
    # A wall with counter-ions only holds them as c = 2 eps RT/(z^2 F^2 (s + l_GC)^2) at a
    # distance s from it: the wide-gap limit of counterion_gap_concentration. There
    # c = c_mid/sin^2(theta), theta = delta + kappa s, delta/kappa = l_GC (1 + O(delta^2)),
    # so c/c_wall - 1 = theta^2/3 + O(delta^2); with L = 1e4 l_GC, delta ~ pi/2e-4.
    length = analytic.gouy_chapman_length(sigma, z, EPS_R, T)
    half_width = 1e4 * length
    s = np.array([0.0, 0.3, 1.0, 3.0, 10.0]) * length
    c = analytic.counterion_gap_concentration(half_width - s, sigma, z, half_width, EPS_R, T)
    wall = 2 * EPS_W * R * T / (z * F * (s + length)) ** 2
    theta = math.pi / 2 * (s + length) / half_width
    np.testing.assert_array_less(np.abs(c / wall - 1), theta**2 / 3 + 1e-7)


# --------------------------------------------------------------------------- counter-ions only


@pytest.mark.parametrize(
    ("sigma", "z", "half_width"),
    [
        (-1e-4, 1, 5e-9),
        (-0.01, 1, 1e-9),
        (-0.05, 1, 5e-9),
        (-0.2, 1, 2e-9),
        (-0.3, 1, 1e-9),
        (-0.2, 2, 2e-9),
        (0.1, -1, 5e-9),
        (0.3, -2, 1e-9),
    ],
)
def test_counterion_gap_solves_poisson_boltzmann(sigma, z, half_width):
    # solve_bvp at tol 1e-8 with c_mid as an unknown parameter: measured up to 7.6e-10
    # relative on c_mid, the potential and the contact value over this grid; allowed 5e-9.
    c_mid, sol = bvp_counterion_gap(sigma, z, half_width)
    assert analytic.counterion_gap_midplane(sigma, z, half_width, EPS_R, T) == pytest.approx(
        c_mid, rel=5e-9, abs=0
    )
    xi = np.linspace(0.0, 1.0, 21)
    u = sol.sol(xi)[0]
    potential = analytic.counterion_gap_potential(xi * half_width, sigma, z, half_width, EPS_R, T)
    np.testing.assert_allclose(potential, u * V_T / z, rtol=0, atol=5e-9 * abs(u[-1]) * V_T)
    concentration = analytic.counterion_gap_concentration(
        -xi * half_width, sigma, z, half_width, EPS_R, T
    )
    np.testing.assert_allclose(concentration, c_mid * np.exp(-u), rtol=5e-9, atol=0)
    assert analytic.counterion_gap_contact(sigma, z, half_width, EPS_R, T) == pytest.approx(
        c_mid * math.exp(-u[-1]), rel=5e-9, abs=0
    )


@pytest.mark.parametrize("sigma", [-1e-6, -0.01, -0.3])
@pytest.mark.parametrize("half_width", [1e-10, 5e-9, 1e-6])
def test_counterion_gap_contact_theorem_and_charge(sigma, half_width):
    # Contact-value theorem c(L) - c_mid = sigma^2/(2 eps RT), for a narrow weak gap (where
    # c(L) ~ c_mid) and a wide strong one (cos(kappa L) ~ 2e-4). Measured 4.4e-16 relative
    # to c(L); allowed 5e-15.
    for z in (1, 2):
        contact = analytic.counterion_gap_contact(sigma, z, half_width, EPS_R, T)
        c_mid = analytic.counterion_gap_midplane(sigma, z, half_width, EPS_R, T)
        assert contact - c_mid == pytest.approx(
            sigma**2 / (2 * EPS_W * R * T), rel=0, abs=5e-15 * contact
        )
        # Each half holds the counter-charge of its wall: z F int_0^L c dx = -sigma. quad in
        # the distance s from the wall, over pieces growing geometrically from l_GC/100 (the
        # layer is l_GC thick); measured 1.1e-13 relative (quad's own estimate misses the
        # round-off of L - s in the integrand's argument), allowed quad's estimate + 1e-12.
        length = analytic.gouy_chapman_length(sigma, z, EPS_R, T)
        edges = np.concatenate([[0.0], np.geomspace(min(length, half_width) / 100, half_width, 40)])
        integral = error = 0.0
        for start, stop in itertools.pairwise(edges):
            piece, piece_error = quad(
                lambda s, z=z: analytic.counterion_gap_concentration(
                    half_width - s, sigma, z, half_width, EPS_R, T
                ),
                start,
                stop,
                epsabs=0,
                epsrel=1e-13,
                limit=200,
            )
            integral += piece
            error += piece_error
        assert abs(z * F * integral + sigma) <= z * F * error + 1e-12 * abs(sigma)


def test_counterion_gap_weak_limit_is_uniform():
    # kappa L tan(kappa L) = beta, beta = L/l_GC: (kappa L)^2 = beta - beta^2/3 + 4 beta^3/45 -
    # ..., so c_mid / (|sigma|/(|z| F L)) = 1 - beta/3 + 4 beta^2/45 + O(beta^3); the remainder
    # after beta/3 is below beta^2/10 for beta <= 0.1.
    half_width = 2e-9
    for z, sigma in ((1, -1e-6), (1, -1e-4), (2, -1e-3), (-1, 5e-3)):
        beta = half_width / analytic.gouy_chapman_length(sigma, z, EPS_R, T)
        uniform = abs(sigma) / (abs(z) * F * half_width)
        ratio = analytic.counterion_gap_midplane(sigma, z, half_width, EPS_R, T) / uniform
        assert abs(ratio - 1 + beta / 3) <= beta**2 / 10 + 16 * EPS


def test_counterion_gap_is_boltzmann_and_symmetric():
    sigma, z, half_width = -0.05, 1, 3e-9
    right = np.linspace(0.0, half_width, 7)
    x = np.concatenate([-right[:0:-1], right])
    c = analytic.counterion_gap_concentration(x, sigma, z, half_width, EPS_R, T)
    phi = analytic.counterion_gap_potential(x, sigma, z, half_width, EPS_R, T)
    c_mid = analytic.counterion_gap_midplane(sigma, z, half_width, EPS_R, T)
    np.testing.assert_allclose(c, c_mid * np.exp(-z * phi / V_T), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(c, c[::-1])
    assert phi[0] < 0  # counter-cations of a negative wall: the wall is negative
    assert analytic.counterion_gap_potential(0.0, sigma, z, half_width, EPS_R, T) == 0.0


def test_counterion_gap_rejects_bad_input():
    with pytest.raises(ValueError, match="counter-ions"):
        analytic.counterion_gap_midplane(-0.01, -1, 1e-9, EPS_R, T)
    with pytest.raises(ValueError, match="non-zero"):
        analytic.counterion_gap_contact(0.0, 1, 1e-9, EPS_R, T)
    with pytest.raises(ValueError, match="between the walls"):
        analytic.counterion_gap_concentration(2e-9, -0.01, 1, 1e-9, EPS_R, T)
    with pytest.raises(ValueError, match="half_width"):
        analytic.counterion_gap_potential(0.0, -0.01, 1, -1e-9, EPS_R, T)


# --------------------------------------------------------------------------- Debye–Hückel


DH_FORMS = {3: analytic.debye_huckel_sphere, 2: analytic.debye_huckel_cylinder}


@pytest.mark.parametrize("dimension", [3, 2])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0, 10.0, 100.0])
def test_debye_huckel_solves_linear_poisson_boltzmann(dimension, alpha):
    # solve_bvp of the linearised PB in spherical / cylindrical symmetry at tol 1e-8:
    # measured up to 2.0e-9 of phi(a) over this grid; allowed 2e-8.
    for concentrations, valences in (salt(100.0, 1, -1), salt(10.0, 2, -1)):
        lam = debye(concentrations, valences)
        sigma, radius = -0.002, alpha * lam
        scale = sigma * lam / EPS_W
        xi = alpha + np.array([0.0, 0.5, 1.0, 3.0, 10.0])
        closed = DH_FORMS[dimension](xi * lam, sigma, radius, concentrations, valences, EPS_R, T)
        numeric = bvp_radial(alpha, dimension).sol(xi)[0] * scale
        np.testing.assert_allclose(closed, numeric, rtol=0, atol=2e-8 * abs(closed[0]))


@pytest.mark.parametrize("dimension", [3, 2])
@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_debye_huckel_is_the_small_charge_limit_of_poisson_boltzmann(dimension, alpha):
    # Nonlinear PB of a 1:1 salt (solve_bvp, tol 1e-8): phi(a) = phi_DH (1 - k u^2 + ...),
    # u = phi_DH/V_T, 0 < k <= 1/24 (1/24 for the flat wall, less where curvature lowers the
    # potential; measured 1/26 to 1/1100, and up to 1.5e-8 of solve_bvp's own error where u
    # is tiny). Allowed: -u^2/20 - 3e-8 <= ratio - 1 <= 3e-8.
    concentrations, valences = salt(100.0, 1, -1)
    lam = debye(concentrations, valences)
    radius = alpha * lam
    for sigma in (1e-4, -1e-3, 1e-2):
        dh = DH_FORMS[dimension](radius, sigma, radius, concentrations, valences, EPS_R, T)
        slope = -sigma * lam / (EPS_W * V_T)
        pb = bvp_radial(alpha, dimension, wall_slope=slope, nonlinear=True).sol(alpha)[0] * V_T
        u = dh / V_T
        assert -(u**2) / 20 - 3e-8 <= pb / dh - 1 <= 3e-8


def test_debye_huckel_flat_and_point_limits():
    concentrations, valences = salt(100.0, 1, -1)
    lam = debye(concentrations, valences)
    sigma = 1e-3
    flat = sigma * lam / EPS_W
    for alpha in (1e2, 1e4, 1e6):
        a = alpha * lam
        # sphere: phi(a) = flat * a/(a + lambda), exactly
        sphere = analytic.debye_huckel_sphere(a, sigma, a, concentrations, valences, EPS_R, T)
        assert sphere == pytest.approx(flat * alpha / (alpha + 1), rel=8 * EPS, abs=0)
        # cylinder: K0/K1(x) = 1 - 1/(2x) + 3/(8x^2) + ...; remainder below 1/x^2
        cylinder = analytic.debye_huckel_cylinder(a, sigma, a, concentrations, valences, EPS_R, T)
        assert abs(cylinder / flat - 1 + 1 / (2 * alpha)) <= 1 / alpha**2 + 16 * EPS
    for alpha in (1e-3, 1e-5):
        a = alpha * lam
        # sphere: Coulomb Q/(4 pi eps a) = sigma a/eps, relative correction -alpha/(1+alpha)
        sphere = analytic.debye_huckel_sphere(a, sigma, a, concentrations, valences, EPS_R, T)
        assert sphere == pytest.approx(sigma * a / EPS_W / (1 + alpha), rel=8 * EPS, abs=0)
        # cylinder: (sigma a/eps)(ln(2/alpha) - gamma), relative remainder below alpha
        cylinder = analytic.debye_huckel_cylinder(a, sigma, a, concentrations, valences, EPS_R, T)
        line = sigma * a / EPS_W * (math.log(2 / alpha) - np.euler_gamma)
        assert abs(cylinder / line - 1) <= alpha
    # the cylinder's closed form through unscaled Bessel functions, where they do not underflow
    a, r = 2 * lam, np.array([2.0, 3.0, 7.0]) * lam
    cylinder = analytic.debye_huckel_cylinder(r, sigma, a, concentrations, valences, EPS_R, T)
    unscaled = flat * special.k0(r / lam) / special.k1(a / lam)
    np.testing.assert_allclose(cylinder, unscaled, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dimension", [3, 2])
@pytest.mark.parametrize("alpha", [0.05, 1.0, 20.0])
def test_debye_huckel_atmosphere_balances_the_charge(dimension, alpha):
    # The linearised charge density rho = -eps phi/lambda^2 integrated over the outside
    # (r^2 dr for the sphere, r dr for the cylinder) is minus the body's charge, a^2 sigma
    # or a sigma per unit solid angle / angle. quad's error estimate plus 1e-12 relative;
    # the tail beyond 60 lambda is below e^-60 of it.
    concentrations, valences = salt(50.0, 2, -2)
    lam = debye(concentrations, valences)
    a, sigma = alpha * lam, -0.004
    weight = (lambda r: r * r) if dimension == 3 else (lambda r: r)

    def density(r):
        phi = DH_FORMS[dimension](r, sigma, a, concentrations, valences, EPS_R, T)
        return -EPS_W * phi / lam**2 * weight(r)

    integral, error = quad(density, a, a + 60 * lam, epsabs=0, epsrel=1e-13, limit=200)
    body = sigma * weight(a)
    assert abs(integral + body) <= error + 1e-12 * abs(body) + math.exp(-60) * abs(body)


def test_debye_huckel_rejects_bad_input():
    concentrations, valences = salt(100.0, 1, -1)
    with pytest.raises(ValueError, match="outside the body"):
        analytic.debye_huckel_sphere(1e-9, 0.01, 2e-9, concentrations, valences, EPS_R, T)
    with pytest.raises(ValueError, match="charged species"):
        analytic.debye_huckel_cylinder(2e-9, 0.01, 2e-9, [0.0, 0.0], valences, EPS_R, T)
    with pytest.raises(ValueError, match="radius"):
        analytic.debye_huckel_sphere(2e-9, 0.01, 0.0, concentrations, valences, EPS_R, T)
