"""Contracts of pnp/solvers/newton.py pinned with values derived here.

* the band Jacobian that ``System`` assembles (saturating pump included, in a
  transient with continuity rows) against a finite-difference Jacobian of
  the residual, on every in-band entry of the pump's columns;
* the messages of ``System.solve`` on a singular Jacobian and on an invalid
  LAPACK argument;
* the control logic of ``newton`` (convergence, contraction-rate test,
  round-off stagnation, damping, divergence, iteration budget) on a
  scripted system whose update norms are chosen by the test;
* ``contents`` of a swelling model and the displacements through faces
  (Gauss's law cell by cell at a steady state).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_solver_contracts import _donnan, _donnan_data, _pumped_donnan_data
from test_swelling import _cell

from pnp.discretisation.model import build_model
from pnp.discretisation.swelling import set_scale
from pnp.input.case import Case
from pnp.solvers import newton as nt
from pnp.solvers.newton import (
    DPSI_MAX,
    NewtonInfo,
    Stats,
    System,
    contents,
    displacement_at,
    displacements,
)

# ----------------------------------------------------------------------------
# The assembled band Jacobian of a saturating pump
# ----------------------------------------------------------------------------


def _band_entry(system: System, row: int, col: int) -> float:
    return float(system.ab[system.kl + system.ku + row - col, col])


def _strong_radial_pump(constant_first: bool = False) -> Case:
    """The pumped Donnan cell (saturating pump), cylindrical (membrane area
    2 pi r, not 1) and with j_max 1e-2 mol/(m^2 s): the pump's entries are
    ~1e-4 of the largest of their columns, the differences' error ~1e-9."""
    pump = {"membrane": "mem", "j_max": 1e-2, "K_Na": 10, "K_K": 1.5}
    if constant_first:  # a constant-rate pump (no Jacobian) listed before it
        pump = [{"membrane": "mem", "rate": 1e-7}, pump]
    data = _pumped_donnan_data(pump, t_end=1e-3)
    data["geometry"] = "cylindrical"
    return Case.from_dict(data)


@pytest.mark.parametrize("constant_first", [False, True])
def test_the_pump_jacobian_is_the_derivative_of_the_residual_with_continuity_rows(
    constant_first,
):
    """A transient step (continuity rows in every cell where K+ moves) of the
    cell with a saturating pump: every in-band entry of the columns of
    Na inside and K outside next to the pump equals the central difference
    of the residual. The pump's part is large against the difference's
    error: dropping it, dividing by the area, losing the continuity row's
    z * value or writing it to the wrong row all fail."""
    m = build_model(_strong_radial_pump(constant_first))
    system = System(m, continuity=True)
    assert system.cont.all()  # K+ (species 0, z=1) moves through every cell
    p = m.pumps[-1]  # the saturating pump
    assert len(m.pumps) == 1 + constant_first and p.rate is None
    S, N = m.n_species, m.n_cells
    alpha = 50.0
    alpha_c = np.full((S, N), alpha, order="F")
    beta_c = alpha * nt.concentrations(m, m.x0)
    beta_d = np.zeros(N + 1)
    x = m.x0.copy()
    x[m.layout.potential] = np.linspace(0.0, -2.0, N)  # a potential across the cell

    def residual(y):
        return system.assemble(y, alpha_c, alpha, beta_c, beta_d, jacobian=False).copy()

    system.assemble(x, alpha_c, alpha, beta_c, beta_d, jacobian=True)
    band = system.ab.copy()
    lay = m.layout
    cols = [lay.conc_at(p.inside_cell, p.sodium), lay.conc_at(p.outside_cell, p.potassium)]
    checked = 0
    for col in cols:
        h = 1e-6 * max(abs(x[col]), 1.0)
        xp, xm = x.copy(), x.copy()
        xp[col] += h
        xm[col] -= h
        fd = (residual(xp) - residual(xm)) / (2 * h)
        scale = np.max(np.abs(fd))
        for row in range(max(0, col - system.ku), min(len(x), col + system.kl + 1)):
            got = float(band[system.kl + system.ku + row - col, col])
            assert got == pytest.approx(fd[row], rel=1e-7, abs=1e-8 * scale), (row, col)
            checked += 1
    assert checked > 4
    assert abs(p.area - 1.0) > 0.5


def test_the_potential_unknowns_are_the_cells_potentials_and_the_boundary_unknowns():
    """``is_psi`` (the unknowns weighted in V_T) marks every cell's potential
    and every boundary unknown, and nothing else."""
    m = _donnan()
    system = System(m)
    expected = np.zeros(m.n_unknowns, dtype=bool)
    expected[m.layout.potential] = True
    expected[m.layout.boundary] = True
    np.testing.assert_array_equal(system.is_psi, expected)
    assert system.is_psi.sum() == m.n_cells + len(m.layout.boundary)


# ----------------------------------------------------------------------------
# System.solve: failures named
# ----------------------------------------------------------------------------


def _assembled_donnan(keep: bool = False) -> System:
    m = _donnan()
    system = System(m, keep=keep)
    S, N = m.n_species, m.n_cells
    zero = np.zeros((S, N), order="F")
    system.assemble(m.x0.copy(), zero, 0.0, zero, np.zeros(N + 1))
    return system


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("unknown", [0, 7])
def test_a_zero_column_is_a_singular_jacobian_named_by_its_unknown(unknown, keep):
    """A Jacobian whose column ``unknown`` is zero stays zero there through
    the elimination: LU meets its first zero pivot at that unknown (LAPACK's
    info = unknown + 1, 1-based), and the message names it 0-based; with
    the factorization kept apart (``keep``: factor, then substitute) too."""
    system = _assembled_donnan(keep)
    system.ab[:, unknown] = 0.0
    delta, why = system.solve()
    assert delta is None
    assert why == f"singular Jacobian (zero pivot at unknown {unknown})"
    assert system.stats.factorizations == 1


# ----------------------------------------------------------------------------
# newton: the control logic on a scripted system
# ----------------------------------------------------------------------------


class _Scripted:
    """A system whose update is ``DELTA`` every iteration, with the largest
    potential entries ``dpsi`` (one per iteration, the last one repeated)."""

    DELTA = np.array([1.0, -2.0, 0.5])

    def __init__(self, dpsi=(1.0,), residual=None, failure=None):
        self.stats = Stats()
        self.dpsi = list(dpsi)
        self.residual = np.zeros(3) if residual is None else residual
        self.failure = failure
        self.assemblies = 0

    def assemble(self, x, alpha_c, alpha_d, beta_c, beta_d):
        self.assemblies += 1
        return self.residual

    def solve(self):
        if self.failure:
            return None, self.failure
        return self.DELTA.copy(), ""

    def max_abs_potential(self, v):
        return self.dpsi.pop(0) if len(self.dpsi) > 1 else self.dpsi[0]


class _Norms:
    """Weights whose norms of successive updates are scripted."""

    def __init__(self, norms):
        self.norms = list(norms)
        self.scales = []

    def norm(self, delta, x, scale=1.0):
        self.scales.append(scale)
        return self.norms.pop(0)


def _run(norms, **kw):
    system = _Scripted(**kw)
    weights = _Norms(norms)
    x = np.zeros(3)
    info = nt.newton(system, x, 0.0, 0.0, 0.0, 0.0, weights)
    return info, system, weights, x


def test_an_undamped_update_within_the_tolerance_converges():
    """No potential change at all (dpsi = 0): the step is undamped."""
    info, system, weights, x = _run([0.5], dpsi=[0.0])
    assert info == NewtonInfo(True, 1, 0.5, "converged")
    np.testing.assert_array_equal(x, _Scripted.DELTA)
    assert weights.scales == [1.0]
    assert system.stats.newton_iterations == 1 and system.assemblies == 1


def test_a_potential_update_above_dpsi_max_scales_the_whole_update():
    """dpsi = 4 DPSI_MAX: lambda = 1/4 on the first update, which cannot
    converge (damped); the second, undamped, does."""
    info, system, weights, x = _run([0.5, 0.5], dpsi=[4.0 * DPSI_MAX, 1.0])
    assert info == NewtonInfo(True, 2, 0.5, "converged")
    assert weights.scales == [0.25, 1.0]
    np.testing.assert_allclose(x, 1.25 * _Scripted.DELTA, rtol=1e-15)
    assert system.stats.newton_iterations == 2


def test_a_fast_contraction_converges_on_the_rate_estimate():
    """norms 100 then 3: rate 0.03, error left <= 0.03/0.97 * 3 = 0.093 <= 1."""
    info, *_ = _run([100.0, 3.0, 0.5])
    assert info == NewtonInfo(True, 2, 3.0, "converged")


def test_a_slow_contraction_is_not_taken_for_convergence():
    """norms 20 then 8: rate 0.4, error left <= 0.4/0.6 * 8 = 5.3 > 1, and 8
    is not above half of 20 (no stagnation): one more update (0.5)."""
    info, *_ = _run([20.0, 8.0, 0.5])
    assert info == NewtonInfo(True, 3, 0.5, "converged")


def test_an_update_of_exactly_half_the_previous_one_is_not_stagnation():
    """norms 8 then 4 (= 0.5 * 8, rate bound 4 > 1): Newton goes on."""
    info, *_ = _run([8.0, 4.0, 0.5])
    assert info == NewtonInfo(True, 3, 0.5, "converged")


def test_stagnation_at_most_10_above_half_the_previous_update_is_round_off():
    """norms 15 then 10: 10 <= 10 and 10 > 7.5, rate bound 2 * 10 > 1."""
    info, *_ = _run([15.0, 10.0, 0.5])
    assert info == NewtonInfo(True, 2, 10.0, "converged to round-off")


def test_stagnation_just_above_10_is_not_round_off():
    """norms 20 then 10.5: above half of 20 but above 10 (the round-off
    bound): Newton goes on to 0.5."""
    info, *_ = _run([20.0, 10.5, 0.5])
    assert info == NewtonInfo(True, 3, 0.5, "converged")


def test_an_update_of_exactly_the_tolerance_converges():
    """norm 1.0 on the first, undamped update: within the tolerance (<= 1)."""
    info, *_ = _run([1.0, 0.5])
    assert info == NewtonInfo(True, 1, 1.0, "converged")


def test_the_error_left_bound_is_rate_over_one_minus_rate():
    """norms 4 then 2: rate 0.5, error left <= 0.5/(1 - 0.5) * 2 = 2 > 1 (and 2
    is not above half of 4): not converged; the next update (0.5) is. A bound
    of rate/(1 + rate) * 2 = 0.67 would have stopped at the second."""
    info, *_ = _run([4.0, 2.0, 0.5])
    assert info == NewtonInfo(True, 3, 0.5, "converged")


def test_an_error_left_bound_of_exactly_1_converges():
    """norms 12 then 3: rate 0.25, error left <= 0.25/0.75 * 3 = 1.0 exactly
    (in floating point too): converged on the rate estimate."""
    assert 0.25 / (1.0 - 0.25) * 3.0 == 1.0
    info, *_ = _run([12.0, 3.0, 0.5])
    assert info == NewtonInfo(True, 2, 3.0, "converged")


def test_an_update_as_large_as_the_previous_one_is_stagnation_not_contraction():
    """norms 6 then 6: rate 1 gives no error bound (rate/(1 - rate) is not
    evaluated); 6 <= 10 and 6 > 3: round-off stagnation."""
    info, *_ = _run([6.0, 6.0, 0.5])
    assert info == NewtonInfo(True, 2, 6.0, "converged to round-off")


def test_growth_by_1e4_over_the_best_update_diverges_from_the_fourth_iteration():
    """norms 100, 200, 2e6, 3e6: 2e6 > 1e4 * 100 at iteration 3 is not yet
    divergence (it < 4); 3e6 at iteration 4 is."""
    info, *_ = _run([100.0, 200.0, 2e6, 3e6, 4e6, 5e6])
    assert info == NewtonInfo(False, 4, 3e6, "Newton diverged")


def test_growth_of_exactly_1e4_over_the_best_update_is_not_divergence():
    """1e6 = 1e4 * 100 exactly at iteration 4: not above; 2e6 at 5 is."""
    info, *_ = _run([100.0, 200.0, 300.0, 1e6, 2e6, 3e6])
    assert info == NewtonInfo(False, 5, 2e6, "Newton diverged")


def test_growth_just_above_1e4_over_the_best_update_is_divergence():
    """1.00005e6 = 1.00005e4 * 100 at iteration 4: above 1e4 times the best,
    by less than one part in 1e4 (the guard's factor is 1e4, not more)."""
    info, *_ = _run([100.0, 200.0, 300.0, 1.00005e6, 2e6, 3e6])
    assert info == NewtonInfo(False, 4, 1.00005e6, "Newton diverged")


def test_the_iteration_budget_is_max_iter_updates():
    """norms 1000 * 0.9^k: neither converged (rate bound 9 norm > 1, norm >
    10) nor diverging: all 25 updates are taken, the last norm returned."""
    norms = [1000.0 * 0.9**k for k in range(25)]
    info, system, _, x = _run(norms)
    assert info == NewtonInfo(False, 25, norms[-1], "no convergence in 25 Newton iterations")
    assert system.assemblies == 25 and system.stats.newton_iterations == 25
    np.testing.assert_allclose(x, 25 * _Scripted.DELTA, rtol=1e-14)


def test_a_failed_linear_solve_is_not_converged():
    why = "singular Jacobian (zero pivot at unknown 3)"
    info, system, _, x = _run([0.5], failure=why)
    assert info == NewtonInfo(False, 1, np.inf, why)
    assert system.stats.newton_iterations == 0 and not x.any()


def test_a_nan_in_the_state_is_a_non_finite_residual_not_converged():
    """The real system: a NaN concentration makes the residual non-finite."""
    m = _donnan()
    system = System(m)
    S, N = m.n_species, m.n_cells
    zero = np.zeros((S, N), order="F")
    x = m.x0.copy()
    x[m.layout.conc_at(3, 1)] = np.nan
    weights = nt.make_weights(system, 1e-6, 1e-9)
    info = nt.newton(system, x, zero, 0.0, zero, np.zeros(N + 1), weights)
    assert info == NewtonInfo(False, 1, np.inf, "non-finite residual")
    assert system.stats.factorizations == 0


# ----------------------------------------------------------------------------
# Helpers on states
# ----------------------------------------------------------------------------


def test_contents_of_a_swelling_cell_are_the_amounts_at_the_state_s_own_scale():
    """A swelling model conserves c V_cell; ``contents`` moves the model to
    the scale stored in the state (its last entry) and returns c times the
    cell volumes there: those of a second model moved to that scale."""
    case = Case.from_dict(_cell())
    m = build_model(case)
    assert m.swelling is not None and m.scale == 1.0
    x = m.x0.copy()
    x[-1] = 1.3
    got = contents(m, x)
    assert m.scale == 1.3
    other = build_model(case)
    set_scale(other, 1.3)
    assert not np.allclose(other.volume, build_model(case).volume)  # the mesh moved
    np.testing.assert_allclose(got, nt.concentrations(m, x) * other.volume, rtol=1e-15)


def _wall_charged_donnan(sigma_right: float):
    data = _donnan_data()
    data["boundary"] = {
        # an electrode: the second-order wall, P_0 through psi_0 and psi_1
        "left": {"type": "wall", "potential": 0.5},
        "right": {"type": "wall", "surface_charge": sigma_right},
    }
    return build_model(Case.from_dict(data))


def test_displacements_are_the_differences_of_the_poisson_residual():
    """Gauss's law cell by cell, read from the kernel's residual: changing
    only the potentials changes the Poisson row of cell k by the change of
    P_k - P_{k+1} (one sign for every cell, the charge being unchanged);
    a wall's surface charge enters through P_N alone. ``displacement_at``
    agrees with ``displacements`` at every face, boundary faces included."""
    m = _wall_charged_donnan(0.01)
    m0 = _wall_charged_donnan(0.0)
    assert m.b_pois_next[0] != 0.0
    S, N = m.n_species, m.n_cells
    zero = np.zeros((S, N), order="F")
    rng = np.random.default_rng(3)
    x1 = m.x0.copy()
    x2 = m.x0.copy()
    x1[m.layout.potential] = rng.uniform(-2.0, 2.0, N)
    x2[m.layout.potential] = rng.uniform(-2.0, 2.0, N)

    def poisson_rows(model, x):
        res = System(model).assemble(x, zero, 0.0, zero, np.zeros(N + 1), jacobian=False)
        return res[model.layout.potential].copy()

    dr = poisson_rows(m, x1) - poisson_rows(m, x2)
    p1, p2 = displacements(m, x1), displacements(m, x2)
    dp = (p1[:-1] - p1[1:]) - (p2[:-1] - p2[1:])
    sign = np.sign(dr[N // 2] / dp[N // 2])
    np.testing.assert_allclose(dr, sign * dp, rtol=1e-9, atol=1e-12 * np.max(np.abs(dr)))
    # the surface charge: through the last cell's row only
    dsig = poisson_rows(m, x1) - poisson_rows(m0, x1)
    dp_sig = displacements(m, x1) - displacements(m0, x1)
    assert dp_sig[N] != 0.0
    np.testing.assert_allclose(dsig[-1], sign * -dp_sig[N], rtol=1e-9)
    np.testing.assert_allclose(dsig[:-1], 0.0, atol=0.0)
    for face in range(N + 1):
        assert displacement_at(m, x1, face) == pytest.approx(p1[face], rel=1e-14, abs=0)


def test_a_single_cell_between_reservoirs_is_a_capacitor_at_each_face():
    """N = 1: each boundary face is a half-cell (h/2) of eps_r 80 between
    the reservoir's potential and the cell's: P = eps E / F per m^2."""
    from pnp.constants import FARADAY, VACUUM_PERMITTIVITY

    h = 100e-9
    data = {
        "title": "one cell",
        "temperature": 310.15,
        "species": {"K": {"z": 1, "D": 1.96e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
        "region": [
            {"name": "bath", "length": h, "eps_r": 80, "concentration": {"K": 150, "Cl": 150}}
        ],
        "boundary": {
            "left": {"type": "reservoir", "potential": 0.5},
            "right": {"type": "reservoir", "potential": -0.3},
        },
        "mesh": {"uniform_cells": 1},
    }
    m = build_model(Case.from_dict(data))
    assert m.n_cells == 1
    x = m.x0.copy()
    x[m.layout.potential] = 0.2  # V_T
    vt = m.thermal_voltage
    phi = 0.2 * vt  # V
    eps = VACUUM_PERMITTIVITY * 80
    expected = [eps * (0.5 - phi) / (h / 2) / FARADAY, eps * (phi + 0.3) / (h / 2) / FARADAY]
    np.testing.assert_allclose(displacements(m, x), expected, rtol=1e-12)


def test_a_charged_wall_is_the_displacement_at_its_face():
    """A wall of surface charge sigma (C/m^2, cartesian: area 1) bounds the
    field: P_0 = sigma / F (toward +x) at a left wall."""
    from pnp.constants import FARADAY

    data = _donnan_data()
    data["boundary"] = {
        "left": {"type": "wall", "surface_charge": 0.02},
        "right": {"type": "reservoir", "potential": 0.0},
    }
    m = build_model(Case.from_dict(data))
    x = m.x0.copy()
    x[m.layout.potential] = np.linspace(1.0, -1.0, m.n_cells)
    out = displacements(m, x)
    assert out[0] == pytest.approx(0.02 / FARADAY, rel=1e-14, abs=0)


def test_the_counters_start_at_zero():
    assert Stats().as_dict() == {
        "steps": 0,
        "newton_iterations": 0,
        "factorizations": 0,
        "rejected_steps": 0,
        "wall_time": 0.0,
    }


def test_the_largest_potential_entry_includes_a_floating_reservoir_s_potential():
    """A floating reservoir's potential is an unknown beyond the cells: an
    update of 7 V_T there (cells' potentials 1 V_T at most) is the largest."""
    data = _donnan_data()
    data["boundary"] = {
        "left": {"type": "wall", "potential": 0.0},
        "right": {"type": "reservoir", "potential": "floating"},
    }
    m = build_model(Case.from_dict(data))
    system = System(m)
    (b,) = m.layout.boundary
    v = np.full(m.n_unknowns, 100.0)  # concentrations' entries are not potentials
    v[m.layout.potential] = np.linspace(-1.0, 0.5, m.n_cells)
    v[b] = 0.0
    assert system.max_abs_potential(v) == 1.0
    v[b] = -7.0
    assert system.max_abs_potential(v) == 7.0


def test_the_potential_accuracy_floors_are_the_documented_voltages():
    """0.27 nV for Newton and 2.7 nV for step control at body temperature."""
    from pnp.constants import thermal_voltage

    vt = thermal_voltage(310.15)
    assert nt.PSI_FLOOR_NEWTON * vt == pytest.approx(0.27e-9, rel=0.02)
    assert nt.PSI_FLOOR_STEP * vt == pytest.approx(2.7e-9, rel=0.02)


def test_a_right_electrode_s_displacement_is_the_difference_of_its_poisson_row():
    """The mirror of the left electrode above: the second-order wall on the
    right (P_N through psi_{N-1} and psi_{N-2}); changing only potentials
    changes the last cell's Poisson row by the change of P_{N-1} - P_N."""
    data = _donnan_data()
    data["boundary"] = {
        "left": {"type": "wall", "surface_charge": 0.0},
        "right": {"type": "wall", "potential": -0.4},
    }
    m = build_model(Case.from_dict(data))
    assert m.b_pois_next[1] != 0.0
    S, N = m.n_species, m.n_cells
    zero = np.zeros((S, N), order="F")
    rng = np.random.default_rng(5)
    xs = [m.x0.copy(), m.x0.copy()]
    for x in xs:
        x[m.layout.potential] = rng.uniform(-2.0, 2.0, N)
    rows = [
        System(m)
        .assemble(x, zero, 0.0, zero, np.zeros(N + 1), jacobian=False)[m.layout.potential]
        .copy()
        for x in xs
    ]
    p = [displacements(m, x) for x in xs]
    dr = rows[0] - rows[1]
    dp = (p[0][:-1] - p[0][1:]) - (p[1][:-1] - p[1][1:])
    sign = np.sign(dr[N // 2] / dp[N // 2])
    np.testing.assert_allclose(dr, sign * dp, rtol=1e-9, atol=1e-12 * np.max(np.abs(dr)))


@pytest.mark.parametrize("side", [0, 1])
def test_two_cells_beside_an_electrode_give_its_exact_field_for_a_quadratic_potential(side):
    """N = 2 (the fewest cells with the second-order wall): a quadratic
    potential phi(x) = a + b x + c x^2 through the electrode and both cell
    centres (h/2, 3h/2), the other end a reservoir. The electrode's
    displacement is -eps phi'(wall) / F per m^2 exactly (the quadratic
    through the wall and the two cells is phi itself): measured 3.3e-16
    relative; 5e-15 allowed."""
    from pnp.constants import FARADAY, VACUUM_PERMITTIVITY

    h = 50e-9
    a, b, c = 0.02, -3e5, 4e12  # V, V/m, V/m^2
    phi = lambda x: a + b * x + c * x * x  # noqa: E731
    electrode = {"type": "wall", "potential": phi(0.0 if side == 0 else 2 * h)}
    reservoir = {"type": "reservoir", "potential": 0.0}
    data = {
        "title": "two cells",
        "temperature": 310.15,
        "species": {"K": {"z": 1, "D": 1.96e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
        "region": [
            {"name": "bath", "length": 2 * h, "eps_r": 80, "concentration": {"K": 150, "Cl": 150}}
        ],
        "boundary": {
            "left": electrode if side == 0 else reservoir,
            "right": reservoir if side == 0 else electrode,
        },
        "mesh": {"uniform_cells": 2},
    }
    m = build_model(Case.from_dict(data))
    assert m.n_cells == 2 and m.b_pois_next[side] != 0.0
    x = m.x0.copy()
    x[m.layout.potential] = [phi(0.5 * h) / m.thermal_voltage, phi(1.5 * h) / m.thermal_voltage]
    wall = 0.0 if side == 0 else 2 * h
    expected = -VACUUM_PERMITTIVITY * 80 * (b + 2 * c * wall) / FARADAY
    got = displacements(m, x)[0 if side == 0 else 2]
    assert got == pytest.approx(expected, rel=5e-15, abs=0)
    assert nt.boundary_displacement(m, x)[side] == got


def test_potential_weights_default_to_rtol_in_thermal_voltages():
    """Weights: a potential's absolute floor is rtol (in V_T) unless a larger
    psi_floor is given; a concentration's is atol."""
    from pnp.solvers.newton import Weights

    is_psi = np.array([True, False])
    assert np.array_equal(Weights(is_psi, 1e-6, 1e-9)(np.zeros(2)), [1e-6, 1e-9])
    assert np.array_equal(Weights(is_psi, 1e-6, 1e-9, 1e-4)(np.zeros(2)), [1e-4, 1e-9])
    assert np.array_equal(Weights(is_psi, 1e-6, 1e-9, 1e-8)(np.zeros(2)), [1e-6, 1e-9])
