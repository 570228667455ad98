"""The solver's building blocks against exact identities, and its conservation.

- Variable-step BDF: the coefficients differentiate polynomials exactly (BDF1
  up to degree 1, BDF2 up to degree 2) for any step ratio.
- The predictors extrapolate polynomials exactly (degree 1 through 2 points,
  degree 2 through 3).
- The error estimate: error_ratio x |predictor - corrector| equals the true
  local error of the corrector exactly when the solution is the lowest
  polynomial the method does not integrate exactly (t^2 for BDF1, t^3 for
  BDF2) — derived from the leading error terms.
- Closed compartments: found where no boundary reaches a species; their
  amounts are restored exactly by the projection and kept by a transient.
- A transient of a closed cell conserves every species to the Newton
  tolerance; the steady Donnan state matches its closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pnp
from pnp.discretisation.model import build_model
from pnp.input.case import Case
from pnp.solvers.bdf import BDF, bdf_coefficients, error_ratio, initial_step
from pnp.solvers.compartments import REGULARISE, closed_compartments, projector
from pnp.solvers.history import predict
from pnp.solvers.newton import Weights, boundary_displacement, concentrations
from pnp.solvers.steady import solve_steady

STEPS = [(1e-3, None), (2e-3, 1e-3), (1e-3, 2.3e-3), (5e-4, 5e-4)]


@pytest.mark.parametrize(("h", "h_prev"), STEPS)
def test_bdf_coefficients_differentiate_polynomials_exactly(h, h_prev):
    a0, a1, a2 = bdf_coefficients(h, h_prev)
    t1 = 0.37
    t0 = t1 - h
    tm = t0 - (h_prev or 0.0)
    degree = 1 if h_prev is None else 2
    for k in range(degree + 1):
        y = [t1**k, t0**k, tm**k]
        exact = k * t1 ** (k - 1) if k else 0.0
        approx = (a0 * y[0] + a1 * y[1] + a2 * y[2]) / h
        # measured round-off ~1e-13 relative to the terms (y / h ~ 1e3)
        assert approx == pytest.approx(exact, abs=1e-9)
    if h_prev is None:
        assert (a0, a1, a2) == (1.0, -1.0, 0.0)
    else:
        # constant steps give the classical BDF2 (3/2, -2, 1/2)
        w = h / h_prev
        if w == 1.0:
            assert (a0, a1, a2) == pytest.approx((1.5, -2.0, 0.5), rel=1e-15, abs=0)


def test_predictors_extrapolate_polynomials_exactly():
    t_hist = [1.0, 0.7, 0.55]
    for coeffs, n in (((0.3, -2.0), 2), ((0.3, -2.0, 4.0), 3)):

        def poly(t, coeffs=coeffs):
            return sum(c * t**k for k, c in enumerate(coeffs))

        x_hist = [np.array([poly(t), 2 * poly(t)]) for t in t_hist[:n]]
        out = predict(t_hist[:n], x_hist, 1.4)
        np.testing.assert_allclose(out, [poly(1.4), 2 * poly(1.4)], rtol=1e-12)


@pytest.mark.parametrize(
    ("h", "h1", "h2"), [(1e-2, 1e-2, 1e-2), (2e-2, 1e-2, 0.7e-2), (0.5e-2, 1.3e-2, 2e-2)]
)
def test_error_ratio_is_exact_on_the_leading_error_term(h, h1, h2):
    # y' = f(t) with y = t^p: the corrector solves its step exactly in y
    t0 = 0.8
    # BDF1, y = t^2
    corr = t0**2 + h * 2 * (t0 + h)
    pred = predict([t0, t0 - h1], [np.array([t0**2]), np.array([(t0 - h1) ** 2])], t0 + h)[0]
    true = abs(corr - (t0 + h) ** 2)
    assert error_ratio(h, [h1]) * abs(pred - corr) == pytest.approx(true, rel=1e-9, abs=0)
    # BDF2, y = t^3: corrector a0 y1 + a1 y0 + a2 y_-1 = h f(t1)
    a0, a1, a2 = bdf_coefficients(h, h1)
    t1, tm = t0 + h, t0 - h1
    corr = (h * 3 * t1**2 - a1 * t0**3 - a2 * tm**3) / a0
    ts = [t0, tm, tm - h2]
    pred = predict(ts, [np.array([t**3]) for t in ts], t1)[0]
    true = abs(corr - t1**3)
    # exact up to round-off of differences of O(1) numbers (measured 1e-10
    # relative at these steps); 1e-7
    assert error_ratio(h, [h1, h2]) * abs(pred - corr) == pytest.approx(true, rel=1e-7, abs=0)


def _donnan_data(n=12) -> dict:
    """A cytoplasm with impermeant X-, a K/Cl-leaky membrane, a bath (plain dict)."""
    return {
        "title": "donnan",
        "temperature": 310.15,
        "inside": "left",
        "species": {
            "K": {"z": 1, "D": 1.96e-9},
            "Cl": {"z": -1, "D": 2.03e-9},
            "X": {"z": -1, "D": 1e-10},
        },
        "region": [
            {
                "name": "cyt",
                "length": 200e-9,
                "eps_r": 80,
                "concentration": {"K": 150, "Cl": 8, "X": 142},
            },
            {
                "name": "mem",
                "membrane": True,
                "length": 5e-9,
                "eps_r": 2,
                "permeability": {"K": 5e-9, "Cl": 5e-10},
            },
            {"name": "bath", "length": 200e-9, "eps_r": 80, "concentration": {"K": 150, "Cl": 150}},
        ],
        "boundary": {
            "left": {"type": "wall", "surface_charge": 0},
            "right": {"type": "reservoir", "potential": 0},
        },
        "mesh": {"uniform_cells": n},
    }


def _donnan(n=12):
    return build_model(Case.from_dict(_donnan_data(n)))


def test_closed_compartments_and_exact_projection():
    m = _donnan()
    comps = closed_compartments(m, m.x0)
    ix = m.species.index("X")
    (a, b), _, _ = m.mesh.region_slices
    # only X is confined (K and Cl reach the bath reservoir through the
    # membrane): in the cytoplasm, and (empty) in each membrane cell, where
    # it is absent and every face is closed to it
    assert {c.species for c in comps} == {ix}
    _, (ma, mb), _ = m.mesh.region_slices
    empty = [c for c in comps if c.amount == 0.0]
    assert sorted(int(c.cells[0]) for c in empty) == list(range(ma, mb))
    (comp,) = [c for c in comps if c.amount > 0.0]
    np.testing.assert_array_equal(comp.cells, np.arange(a, b))
    assert comp.amount == pytest.approx(142.0 * m.volume[a:b].sum(), rel=1e-14, abs=0)
    assert comp.relax_time == pytest.approx(200e-9**2 / 1e-10, rel=1e-12, abs=0)
    project = projector(m, comps)
    x = m.x0.copy()
    idx = m.layout.conc_at(np.arange(a, b), ix)
    x[idx] *= np.linspace(0.5, 1.5, b - a)
    project(x)
    assert float(np.dot(m.volume[a:b], x[idx])) == pytest.approx(comp.amount, rel=1e-14, abs=0)


def test_initial_step_is_a_hundredth_of_the_fastest_cell_time():
    m = _donnan()
    h = m.mesh.widths
    dmax = m.d_reg.max(axis=0)[m.mesh.region]
    assert initial_step(m) == pytest.approx(1e-2 * float(np.min(h**2 / dmax)), rel=1e-14, abs=0)


def test_where_nothing_can_move_the_first_step_is_a_picosecond_and_the_state_stays():
    """Every species immobile in the bulk (D = 0) and the membrane impermeable:
    no cell has a diffusion time, the initial step falls back to 1e-12 s;
    the transient keeps the state bit for bit (no flux, Gauss's law already
    holding at the consistent start)."""
    data = _donnan_data()
    for region in data["region"]:
        if region.get("membrane"):
            region["permeability"] = {}
        else:
            region["D"] = dict.fromkeys(data["species"], 0.0)
    m = build_model(Case.from_dict(data))
    assert initial_step(m) == 1e-12
    stepper = BDF(m, m.x0)
    assert stepper.h == 1e-12
    assert stepper.step(1e-9)[0] and stepper.h_last == 1e-12
    np.testing.assert_array_equal(m.layout.split(stepper.x)[1], m.layout.split(m.x0)[1])


def test_weights_are_rtol_abs_plus_floor():
    is_psi = np.array([False, True, False])
    w = Weights(is_psi, rtol=1e-3, atol=1e-6, psi_floor=1e-2)
    np.testing.assert_allclose(w(np.array([-2.0, 3.0, 0.0])), [2e-3 + 1e-6, 3e-3 + 1e-2, 1e-6])
    # the potential floor is never below rtol (V_T units)
    assert Weights(is_psi, rtol=1e-3, atol=1e-6, psi_floor=0.0).floor_psi == 1e-3


def test_transient_conserves_a_closed_cell_and_reaches_donnan():
    m = _donnan()
    amounts0 = (concentrations(m, m.x0) * m.volume).sum(axis=1)
    seen = []
    stepper = BDF(m, m.x0, rtol=1e-6, atol=1e-9)
    for stop in (1e-7, 1e-6):
        while stepper.t != stop:
            success, message = stepper.step(stop)
            assert success, message
        seen.append(stepper.t)
    assert seen == [1e-7, 1e-6]
    ix = m.species.index("X")
    amounts = (concentrations(m, stepper.x) * m.volume).sum(axis=1)
    # X never crosses the membrane: its amount is kept by the projection to
    # round-off (measured 2e-16 relative)
    assert amounts[ix] == pytest.approx(amounts0[ix], rel=1e-13, abs=0)
    # Donnan: the steady state of this cell, against the closed form
    steady = solve_steady(m, stepper.x)
    assert steady.success
    phi, c = m.split(steady.x)
    (a, b), _, (c0, c1) = m.mesh.region_slices
    # total charge per unit area is zero (the cell plus bath are neutral):
    # sum of the boundary displacements through both ends is the enclosed charge
    disp = boundary_displacement(m, steady.x)
    q = float(m.z @ (c * m.volume).sum(axis=1))
    assert q == pytest.approx(disp[1] - disp[0], abs=1e-12 * 150 * 400e-9)
    # Donnan equilibrium: each permeant ion at its Nernst potential,
    # K_in / K_out = Cl_out / Cl_in = exp(-F V / RT), so K_in Cl_in = 150^2.
    # The solver tolerance (rtol 1e-6) and the ~1e-7 charge imbalance of the
    # mid-cell sample leave ~1e-6 relative; 1e-4 allowed
    mid_in, mid_out = a + (b - a) // 2, c0 + (c1 - c0) // 2
    k_in, cl_in = c[0, mid_in], c[1, mid_in]
    assert k_in * cl_in == pytest.approx(150.0 * 150.0, rel=1e-4, abs=0)
    v = phi[mid_in] - phi[mid_out]
    assert k_in / 150.0 == pytest.approx(math.exp(-v / m.thermal_voltage), rel=1e-4, abs=0)
    assert v < -1e-3  # the impermeant anions hold the inside negative


@pytest.mark.parametrize("t0", [1e4, 1e5])
def test_a_start_late_in_time_steps_as_one_at_zero(t0):
    """The same model and state started at t0 = 1e5 s (a restart from a file,
    a protocol change late in a run) must step as from t = 0: its first
    steps (~1e-13 s) are below the resolution of t0 itself (ulp 1.5e-11 s).
    Before, the predictor divided by t + h - t = 0 (non-finite residual) or
    the step was judged collapsed against t0, and the run failed."""
    m = _donnan()
    finals = []
    for start in (0.0, t0):
        stepper = BDF(m, m.x0, start, rtol=1e-6, atol=1e-9)
        target = start + 1e-6
        while stepper.t != target:
            success, message = stepper.step(target)
            assert success, message
        finals.append(stepper.x.copy())
    (phi0, c0), (phi1, c1) = m.split(finals[0]), m.split(finals[1])
    phi_init, c_init = m.split(m.x0)
    # the span t0 + 1e-6 - t0 is 1e-6 only to ulp(t0)/1e-6 = 1.5e-5 relative,
    # so the two runs differ by that fraction of what the state changed
    # (measured 6e-6 of it for c, 7e-6 for phi); 1e-4 allowed
    assert np.max(np.abs(c1 - c0)) <= 1e-4 * np.max(np.abs(c0 - c_init))
    assert np.max(np.abs(phi1 - phi0)) <= 1e-4 * np.max(np.abs(phi0 - phi_init))
    assert np.max(np.abs(c0 - c_init)) > 1e-6  # the state did change (by 2.8e-6 mol/m^3)


def test_step_to_a_time_not_after_t_is_refused_with_a_message():
    stepper = BDF(_donnan(), _donnan().x0, 5.0)
    for t_limit in (5.0, 1.0):
        success, message = stepper.step(t_limit)
        assert not success
        assert "nothing to step" in message
    assert stepper.t == 5.0 and stepper.stats.steps == 0


def _pumped_donnan_data(pump, t_end: float = 0.0) -> dict:
    """The Donnan cell with Na+ (K/Na/Cl/X 140/10/8/142 mM inside, K/Na/Cl
    5/145/150 outside) that only the pump moves (no Na+ permeability);
    ``pump``: the [pump] table(s); a transient to ``t_end`` if given."""
    data = _donnan_data()
    data["title"] = "pumped, Na-impermeant cell"
    data["species"]["Na"] = {"z": 1, "D": 1.33e-9}
    cyt, _, bath = data["region"]
    cyt["concentration"] = {"K": 140, "Na": 10, "Cl": 8, "X": 142}
    bath["concentration"] = {"K": 5, "Na": 145, "Cl": 150}
    data["pump"] = pump
    if t_end:
        data["run"] = {"mode": "transient", "t_end": t_end, "outputs": [t_end]}
    return data


def _pumped_cell(rate: float | None, t_end: float = 0.0) -> Case:
    """The pumped Donnan cell with a constant-rate pump, or a saturating one (rate None)."""
    pump = (
        {"membrane": "mem", "rate": rate}
        if rate is not None
        else {"membrane": "mem", "j_max": 1e-6, "K_Na": 10, "K_K": 1.5}
    )
    return Case.from_dict(_pumped_donnan_data(pump, t_end))


@pytest.mark.parametrize(("rate", "closed"), [(1e-7, False), (None, False), (0.0, True)])
def test_a_running_pump_opens_the_compartment_of_the_ions_it_moves(rate, closed):
    """Na+ cannot leak out of the cytoplasm, but a running pump (constant or
    saturating rate) moves it: its amount is not conserved there. A pump at
    rate 0 moves nothing, and the cytoplasm is a closed compartment for Na+."""
    m = build_model(_pumped_cell(rate))
    ina = m.species.index("Na")
    (a, b), _, _ = m.mesh.region_slices
    comps = closed_compartments(m, m.x0)
    cytoplasm_na = [c for c in comps if c.species == ina and c.cells[0] == a]
    assert bool(cytoplasm_na) == closed
    if closed:
        np.testing.assert_array_equal(cytoplasm_na[0].cells, np.arange(a, b))


def test_the_pump_alone_changes_the_amount_of_an_ion_that_cannot_leak():
    """Na+ in the cytoplasm falls by exactly 3 j_p t (cartesian, per m^2)."""
    rate, t_end = 1e-7, 1e-2
    case = _pumped_cell(rate, t_end)
    res = pnp.run(case)
    assert res.status == "completed", res.message
    ina = res.species.index("Na")
    (a, b), _, _ = res.mesh().region_slices
    h = res.mesh().widths[a:b]
    amount = [float(np.dot(h, c[ina, a:b])) for c in res.concentration]
    # each step conserves every amount up to Newton's tolerance; the change is
    # 1.5e-3 of the amount (measured 1.6e-12 relative to it after 309 steps)
    assert amount[-1] - amount[0] == pytest.approx(-3.0 * rate * t_end, rel=1e-9, abs=0)


def test_a_compartment_against_a_closed_right_end_is_closed_too():
    """The mirror image of the Donnan cell (cytoplasm on the right, against a
    wall): X is confined there as on the left, and K and Cl reach the bath
    reservoir now on the left."""
    data = _donnan_data()
    data["inside"] = "right"
    data["region"] = data["region"][::-1]
    data["boundary"] = {"left": data["boundary"]["right"], "right": data["boundary"]["left"]}
    m = build_model(Case.from_dict(data))
    ix = m.species.index("X")
    _, _, (a, b) = m.mesh.region_slices
    comps = closed_compartments(m, m.x0)
    assert {c.species for c in comps} == {ix}
    (comp,) = [c for c in comps if c.amount > 0.0]
    np.testing.assert_array_equal(comp.cells, np.arange(a, b))


def test_a_closed_compartment_relaxes_a_thousand_times_slower_than_it_diffuses():
    """The steady solver's time term of a confined species: 1/(REGULARISE x its
    slowest diffusion time across the compartment), L^2/D."""
    m = _donnan()
    comps = closed_compartments(m, m.x0)
    floor = comps.time_floor(m.n_species, m.n_cells)
    ix = m.species.index("X")
    (a, b), _, _ = m.mesh.region_slices
    assert REGULARISE == 1e3
    np.testing.assert_allclose(floor[ix, a:b], 1e-10 / (REGULARISE * 200e-9**2), rtol=1e-12)
    others = np.ones(floor.shape, dtype=bool)
    others[ix] = False
    assert np.all(floor[others] == 0.0)


def test_a_direct_newton_that_does_not_converge_is_not_taken_for_a_steady_state(monkeypatch):
    """Direct Newton held to 2 iterations cannot converge on the Donnan cell: the
    attempt is rejected and pseudo-transient continuation finds the same state."""
    from pnp.solvers import steady

    m = _donnan()
    reference = solve_steady(m)
    assert reference.success and reference.stats.rejected_steps == 0
    monkeypatch.setattr(steady, "DIRECT_MAX_ITER", 2)
    out = solve_steady(m)
    assert out.success, out.message
    assert out.stats.rejected_steps >= 1 and out.stats.steps > 1  # continuation ran
    # within the steady tolerance (rtol 1e-6 of each unknown; measured 3.7e-7)
    np.testing.assert_allclose(out.x, reference.x, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------
# The transient's start with a current clamp: consistent_start, initial_rates
# ----------------------------------------------------------------------------

CLAMP = 2.0  # A/m^2 entering the domain through the floating reservoir


def _perturbed(m, rng: np.random.Generator) -> np.ndarray:
    """The model's start with every concentration of every cell scaled by
    1 + 1e-3 N(0, 1), drawn from ``rng`` species by species."""
    N = m.n_cells
    x = m.x0.copy()
    for i in range(m.n_species):
        x[m.layout.conc_at(np.arange(N), i)] *= 1.0 + 1e-3 * rng.standard_normal(N)
    return x


def _clamped(side: int):
    """The Donnan cell with its cytoplasm end a floating reservoir driven by
    CLAMP (side 0: on the left; side 1: the mirror image, on the right), the
    bath end a reservoir at 0 V (the cytoplasm 300 nm long, eps_r 60); and a
    state off equilibrium: concentrations
    perturbed by 1e-3, random potentials, the floating potential at 0.3 V_T."""
    data = _donnan_data()
    # the two end cells differ (width, permittivity): each clamp row is
    # scaled by its own half cell
    data["region"][0].update(length=300e-9, eps_r=60)
    data["boundary"] = {
        "left": {"type": "reservoir", "potential": "floating", "current": CLAMP},
        "right": {"type": "reservoir", "potential": 0.0},
    }
    if side == 1:
        data["inside"] = "right"
        data["region"] = data["region"][::-1]
        data["boundary"] = {"left": data["boundary"]["right"], "right": data["boundary"]["left"]}
    m = build_model(Case.from_dict(data))
    N = m.n_cells
    rng = np.random.default_rng(11)
    x = _perturbed(m, rng)
    x[m.layout.potential_at(np.arange(N))] = rng.uniform(-1.0, 1.0, N)
    (floating,) = m.layout.boundary
    x[floating] = 0.3
    return m, x, floating


@pytest.mark.parametrize("side", [0, 1])
def test_a_consistent_start_holds_gauss_s_law_and_the_floating_reservoir_s_charge(side):
    """consistent_start: the concentrations untouched (bit for bit); Gauss's
    law holds in every cell (the numpy oracle's Poisson rows, relative to the
    size of their terms: measured 1.1e-16; 2e-15 allowed); the floating
    reservoir keeps the displacement through its face (measured 2e-15
    relative; 2e-14 allowed), its potential moving with the cells'."""
    from pnp.discretisation.reference import _displacements, residual_reference
    from pnp.solvers.bdf import consistent_start

    m, x, floating = _clamped(side)
    S, N = m.n_species, m.n_cells
    out = consistent_start(m, x)
    assert out is not x
    np.testing.assert_array_equal(m.layout.split(out)[1], m.layout.split(x)[1])
    zero = np.zeros((S, N))
    res, scale = residual_reference(
        m, out, zero, 0.0, zero, np.zeros(N + 1), zero, return_scale=True
    )
    rows = m.layout.potential_at(np.arange(N))
    assert np.max(np.abs(res[rows]) / scale[rows]) < 2e-15
    before = _displacements(m, x[rows], m.boundary_psi(x))[0]
    after = _displacements(m, out[rows], m.boundary_psi(out))[0]
    face = 0 if side == 0 else N
    assert after[face] == pytest.approx(before[face], rel=2e-14, abs=0)
    assert abs(out[floating] - x[floating]) > 1e-3  # the potentials did move


def _current_excess(m, x, rates, known, end, alpha=0.0, beta=0.0):
    """Largest |total current - known| over the faces (toward +x: ionic by the
    numpy oracle's fluxes, plus the displacement rates), in units of eps times
    the round-off of the terms summed face by face from face ``end`` (as in
    test_total_current)."""
    from pnp.discretisation.reference import _displacements, _species_fluxes

    psi, c = m.layout.split(x)
    psi_b = m.boundary_psi(x)
    flux, fsize = _species_fluxes(m, c, psi, psi_b, m.z[:, None] * psi[None, :] + m.g_cell)
    _, dsize = _displacements(m, psi, psi_b)
    total = m.z @ flux + rates
    terms = np.abs(m.z) @ fsize + alpha * dsize + np.abs(beta) + np.abs(rates)
    path = np.cumsum(terms) if end == 0 else np.cumsum(terms[::-1])[::-1]
    deviation = np.abs(total - known)
    scale = np.finfo(float).eps * path
    # a face with no terms at all (a closed wall) must carry exactly nothing
    excess = np.zeros_like(deviation)
    excess[deviation > 0] = np.inf
    some = scale > 0
    excess[some] = deviation[some] / scale[some]
    return float(np.max(excess))


@pytest.mark.parametrize("side", [0, 1])
def test_the_initial_rates_carry_the_clamp_current_through_every_face(side):
    """initial_rates at a consistent state: the total current, ionic (the numpy
    oracle's fluxes) plus the displacement rates, is the clamp's current
    through every face, entering at the floating reservoir: measured 2.0 eps
    x the summed round-off; 20 allowed."""
    from pnp.constants import FARADAY
    from pnp.solvers.bdf import consistent_start, initial_rates

    m, x, _ = _clamped(side)
    x = consistent_start(m, x)
    rates = initial_rates(m, x)
    clamp = CLAMP / FARADAY if side == 0 else -CLAMP / FARADAY
    assert _current_excess(m, x, rates, clamp, side) < 20.0
    assert np.max(np.abs(rates)) > abs(clamp)  # the displacement carries much of it


def test_the_initial_rates_carry_no_current_at_a_charged_wall():
    """The mirrored Donnan cell (a wall of 0.01 C/m^2 on the right, the bath
    reservoir on the left), off equilibrium: open circuit, no current through
    any face (measured 3.3 eps x the summed round-off; 30 allowed)."""
    from pnp.solvers.bdf import consistent_start, initial_rates

    data = _donnan_data()
    data["inside"] = "right"
    data["region"] = data["region"][::-1]
    data["boundary"] = {
        "left": {"type": "reservoir", "potential": 0.0},
        "right": {"type": "wall", "surface_charge": 0.01},
    }
    m = build_model(Case.from_dict(data))
    x = consistent_start(m, _perturbed(m, np.random.default_rng(12)))
    rates = initial_rates(m, x)
    assert _current_excess(m, x, rates, 0.0, 1) < 30.0
    assert np.max(np.abs(rates)) > 0.0
    assert rates[-1] == 0.0  # the wall's charge is held: its displacement does not move


@pytest.mark.parametrize("side", [0, 1])
def test_every_step_carries_the_clamp_current_through_every_face(side):
    """The current-continuity rows (kernel docstring): after every step of a
    clamped transient the total current through every face is the clamp's,
    to round-off (measured 0.41 eps x the summed round-off; 5 allowed), not
    to Newton's tolerance, as species 0's balance alone would give."""
    from pnp.constants import FARADAY
    from pnp.solvers.bdf import consistent_start

    m, x, _ = _clamped(side)
    stepper = BDF(m, consistent_start(m, x), rtol=1e-6, atol=1e-9)
    clamp = CLAMP / FARADAY if side == 0 else -CLAMP / FARADAY
    worst = 0.0
    while stepper.t != 1e-9:
        assert stepper.step(1e-9)[0]
        alpha, beta = stepper._rate_terms
        rates = np.array([stepper.displacement_rate()(f) for f in range(m.n_cells + 1)])
        worst = max(worst, _current_excess(m, stepper.x, rates, clamp, side, alpha, beta))
    assert stepper.stats.steps >= 5
    assert worst < 5.0


# ----------------------------------------------------------------------------
# The stepper's control: tolerance, order, rejections, step sizes, restarts
# ----------------------------------------------------------------------------


def test_a_tolerance_below_round_off_is_refused_unless_the_steps_are_fixed():
    """rtol below NEWTON_RTOL_FLOOR (1e-11) cannot be controlled: the first
    step refuses with a message and leaves the state; rtol = 1e-11 itself is
    allowed, and so is any rtol with fixed steps (no error control)."""
    from pnp.solvers.newton import NEWTON_RTOL_FLOOR

    assert NEWTON_RTOL_FLOOR == 1e-11
    m = _donnan()
    stepper = BDF(m, m.x0, rtol=1e-12)
    success, message = stepper.step(1e-9)
    assert not success
    assert message.startswith("run.rtol = 1e-12 is below round-off")
    assert "use rtol >= 1e-11" in message
    assert stepper.t == 0.0 and stepper.stats.steps == 0
    np.testing.assert_array_equal(stepper.x, m.x0)
    for kw in ({"rtol": 1e-11}, {"rtol": 1e-12, "fixed_step": 1e-12}):
        stepper = BDF(m, m.x0, **kw)
        success, message = stepper.step(1e-9)
        assert success, message


def test_the_order_is_one_after_a_start_or_restart_and_two_after_a_step():
    m = _donnan()
    stepper = BDF(m, m.x0)
    assert stepper.order == 1
    assert stepper.step(1e-9)[0]
    assert stepper.order == 2
    stepper.restart(m)
    assert stepper.order == 1


def test_a_restart_from_a_given_state_starts_there_at_the_same_time():
    """restart(model, x): the state is a copy of x, the time is kept, the next
    step is the model's initial step with BDF1; then it steps from x."""
    m = _donnan()
    stepper = BDF(m, m.x0)
    while stepper.t != 1e-9:
        assert stepper.step(1e-9)[0]
    x = m.x0.copy()
    x[m.layout.potential] += 0.1
    stepper.restart(m, x)
    assert stepper.t == 1e-9 and stepper.order == 1
    assert stepper.h == initial_step(m)
    np.testing.assert_array_equal(stepper.x, x)
    x[:] = 0.0
    assert stepper.x.any()  # a copy
    assert stepper.step(2e-9)[0]
    assert stepper.h_last == initial_step(m)


def _failing_newton(failures: list[int]):
    """newton failing on the calls listed (counted from 0), else the real one."""
    from pnp.solvers import bdf
    from pnp.solvers.newton import NewtonInfo

    real = bdf.newton
    calls = []

    def scripted(*args, **kwargs):
        calls.append(len(calls))
        if len(calls) - 1 in failures or failures == [-1]:
            return NewtonInfo(False, 3, np.inf, "scripted failure")
        return real(*args, **kwargs)

    return scripted, calls


def test_a_newton_failure_retries_the_step_at_a_quarter(monkeypatch, python_step_path):
    from pnp.solvers import bdf

    scripted, _ = _failing_newton([0])
    monkeypatch.setattr(bdf, "newton", scripted)
    m = _donnan()
    stepper = BDF(m, m.x0)
    h0 = stepper.h
    success, message = stepper.step(1.0)
    assert success, message
    assert stepper.stats.rejected_steps == 1 and stepper.stats.steps == 1
    assert stepper.h_last == 0.25 * h0
    assert stepper.t == 0.25 * h0


def test_newton_failing_at_every_size_is_a_step_size_underflow(monkeypatch, python_step_path):
    """Quartered from h0 until below 1e-12 h0 (the time run since the start
    is 0, so the initial step is the scale): 0.25^20 = 9.1e-13 is the first
    below, after 20 rejections; the state is unchanged and the message
    names Newton's."""
    from pnp.solvers import bdf

    scripted, calls = _failing_newton([-1])
    monkeypatch.setattr(bdf, "newton", scripted)
    m = _donnan()
    stepper = BDF(m, m.x0, 0.0)
    h0 = stepper.h
    success, message = stepper.step(1.0)
    assert not success
    assert message == "step size underflow at t = 0 s: scripted failure"
    assert stepper.stats.rejected_steps == 20 == len(calls)
    assert stepper.h == pytest.approx(h0 * 0.25**20, rel=1e-12, abs=0)
    assert stepper.t == 0.0 and stepper.stats.steps == 0
    np.testing.assert_array_equal(stepper.x, m.x0)


def test_the_collapse_scale_is_the_time_run_since_the_start(monkeypatch, python_step_path):
    """After 1 ns run in steps of 1e-11 s (fixed), Newton failing everywhere:
    the step is quartered from 1e-11 s until below 1e-12 x 1 ns = 1e-21 s:
    0.25^17 x 1e-11 = 5.8e-22 s, after 17 rejections (against the initial
    step's 1e-12 h0 it would take longer)."""
    from pnp.solvers import bdf

    m = _donnan()
    stepper = BDF(m, m.x0, fixed_step=1e-11)
    while stepper.t != 1e-9:
        assert stepper.step(1e-9)[0]
    assert initial_step(m) < 1e-12  # so the two scales differ
    scripted, calls = _failing_newton([-1])
    monkeypatch.setattr(bdf, "newton", scripted)
    success, message = stepper.step(2e-9)
    assert not success and message.startswith("step size underflow at t = 1e-09 s")
    assert len(calls) == 17


def _scripted_errors(monkeypatch, errors):
    """BDF._error returning the (error / tolerance, order) pairs given, in turn."""
    script = list(errors)

    def error(self, h_try, x_new):
        return script.pop(0) if len(script) > 1 else script[0]

    monkeypatch.setattr(BDF, "_error", error)


def test_a_step_above_its_error_tolerance_is_retried_smaller(monkeypatch):
    """Error 4 x tolerance of an order-1 estimate: retried at 0.9 x 4^(-1/2)
    = 0.45 of the step; error 1.0 exactly is accepted; the step after it is
    0.9 x 1^(-1/2) = 0.9 of the accepted one."""
    _scripted_errors(monkeypatch, [(4.0, 1), (1.0, 1)])
    m = _donnan()
    stepper = BDF(m, m.x0)
    h0 = stepper.h
    assert stepper.step(1.0)[0]
    assert stepper.stats.rejected_steps == 1
    assert stepper.h_last == pytest.approx(0.45 * h0, rel=1e-14, abs=0)
    assert stepper.h == pytest.approx(0.9 * 0.45 * h0, rel=1e-14, abs=0)


def test_a_rejection_shrinks_the_step_at_most_five_fold(monkeypatch):
    """Error 1e6 of an order-2 estimate: 0.9 x 1e6^(-1/3) = 0.009, held at
    the factor 0.2; an error that never shrinks collapses the step below
    1e-12 h0 after 18 rejections (0.2^18 = 2.6e-13), with a message that
    says so."""
    _scripted_errors(monkeypatch, [(1e6, 2)])
    m = _donnan()
    stepper = BDF(m, m.x0)
    h0 = stepper.h
    success, message = stepper.step(1.0)
    assert not success
    assert message.startswith("step size underflow at t = 0 s: the local error (1e+06 x tolerance)")
    assert stepper.stats.rejected_steps == 18
    assert stepper.h == pytest.approx(h0 * 0.2**18, rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("err", "order", "factor"),
    [
        (0.0, 0, 2.0),  # no estimate (first step): doubled
        (0.0, 2, 2.4),  # no error: the largest zero-stable ratio kept below 1 + sqrt(2)
        (1e-9, 1, 2.4),  # 0.9 x 1e-9^(-1/2) = 28460: held at 2.4
        (0.5, 2, 0.9 * 0.5 ** (-1.0 / 3.0)),  # 1.134
        (0.9, 1, 0.9 * 0.9**-0.5),  # 0.949: the next step is smaller
    ],
)
def test_the_step_after_an_accepted_one(monkeypatch, err, order, factor):
    """h_next = h x min(2.4, max(0.2, 0.9 err^(-1/(order+1)))); 2.4 < 1 + sqrt(2),
    the bound of zero-stability for variable-step BDF2."""
    assert 2.4 < 1.0 + math.sqrt(2.0)
    _scripted_errors(monkeypatch, [(err, order)])
    m = _donnan()
    stepper = BDF(m, m.x0)
    assert stepper.step(1.0)[0]
    assert stepper.h == pytest.approx(factor * stepper.h_last, rel=1e-14, abs=0)


@pytest.mark.parametrize(
    ("fixed", "steps"),
    [
        (0.6e-9, [0.5e-9, 0.5e-9]),  # 2h >= what is left: two halves
        (0.4e-9, [0.4e-9, 0.3e-9, 0.3e-9]),  # the last two stretched to 0.3
        (1e-9 * (1 - 1e-13), [1e-9]),  # within 1e-12 of what is left: taken whole
    ],
)
def test_the_steps_before_a_target_are_stretched_to_land_on_it(fixed, steps):
    """With fixed steps h: the step is what is left when h reaches it (to 1e-12
    relative), half of it when 2h does, else h; t lands on the target exactly
    and the fixed step is kept for the steps after."""
    m = _donnan()
    stepper = BDF(m, m.x0, fixed_step=fixed)
    taken = []
    while stepper.t != 1e-9:
        assert stepper.step(1e-9)[0]
        taken.append(stepper.h_last)
        assert stepper.h == fixed
    np.testing.assert_allclose(taken, steps, rtol=1e-12)
    assert stepper.t == 1e-9


def test_a_swelling_cell_stepped_alone_follows_the_osmotic_ode():
    """The stepper on a moving mesh (the volume's BDF history): a cell of 300
    mOsm in 150 mOsm swells by dV/dt = A L_p RT (n/V - c_out) (per m^2, n =
    300 mM x V0), integrated by scipy's Radau to 1e-12. Measured 9.4e-6
    relative at 20 s (rtol 1e-6, 24 cells); 1e-4 allowed."""
    from scipy.integrate import solve_ivp
    from test_swelling import LP, RT, _cell

    from pnp.discretisation.swelling import inside_volume

    data = _cell()
    data["mesh"] = {"uniform_cells": 8}
    m = build_model(Case.from_dict(data))
    v0 = inside_volume(m)
    assert v0 == pytest.approx(5e-6, rel=1e-14, abs=0)
    stepper = BDF(m, m.x0, rtol=1e-6, atol=1e-9)
    times, volumes = [], []
    for stop in (1.0, 5.0, 20.0):
        while stepper.t != stop:
            success, message = stepper.step(stop)
            assert success, message
        times.append(stepper.t)
        volumes.append(inside_volume(stepper.model))
    ode = solve_ivp(
        lambda t, v: LP * RT * (300.0 * v0 / v - 150.0),
        (0.0, 20.0),
        [v0],
        method="Radau",
        rtol=1e-12,
        atol=1e-20,
        dense_output=True,
    )
    np.testing.assert_allclose(volumes, ode.sol(times)[0], rtol=1e-4)
    assert volumes[-1] > 1.1 * v0  # it did swell


class _LocalErrors(BDF):
    """The stepper, recording for every step tried the local error estimate
    recomputed here: the Lagrange extrapolation through the history (written
    out, not pnp's predict) minus the corrector, times error_ratio, in units of
    rtol |x| + floor (atol for concentrations, max(rtol, PSI_FLOOR_STEP) V_T
    for potentials), max over the unknowns; with its order (the number of
    past states used, less one) and what the stepper's own _error returned."""

    def _error(self, h_try, x_new):
        from pnp.solvers.newton import PSI_FLOOR_STEP

        estimate = None
        if self.fixed_step is None and len(self.x_hist) >= 2:
            n = min(self.order + 1, len(self.x_hist))  # states the predictor uses
            hs = self.h_hist[: n - 1]
            ts = [0.0, *(-np.cumsum(hs))]
            pred = np.zeros_like(x_new)
            for i, (ti, xi) in enumerate(zip(ts, self.x_hist, strict=False)):
                weight = 1.0
                for j, tj in enumerate(ts):
                    if j != i:
                        weight *= (h_try - tj) / (ti - tj)
                pred += weight * xi
            floor = np.where(self.system.is_psi, max(self.rtol, PSI_FLOOR_STEP), self.atol)
            scale = self.rtol * np.abs(x_new) + floor
            ratio = error_ratio(h_try, hs[: len(ts) - 1])
            estimate = (ratio * float(np.max(np.abs(pred - x_new) / scale)), len(ts) - 1)
        out = super()._error(h_try, x_new)
        if estimate is not None:
            self.log.append((estimate, out, x_new.copy()))
        return out


@pytest.mark.parametrize("max_order", [2, 5])
def test_every_accepted_step_keeps_its_local_error_within_a_quarter_of_the_tolerance(max_order):
    """The BDF class contract: the local error estimate of every accepted step
    is at most LOCAL_FRACTION = 0.25 of rtol |x| + atol (potentials: rtol or
    PSI_FLOOR_STEP in V_T), and the controller uses that budget (the largest
    accepted: measured 0.19; at least 0.1 required). The stepper's own error
    (in units of that budget) and order agree with the estimate recomputed
    here: order 1 while two states are known, then 2 (and, with max_order 5,
    as high as the order goes); the errors to the round-off of predictor
    minus corrector, a difference of nearly equal states (measured 1.9e-9
    of the tolerance; 2e-8 allowed). Donnan cell, rtol 1e-6, to 1 us: 98
    steps at BDF2."""
    m = _donnan()
    stepper = _LocalErrors(m, m.x0, rtol=1e-6, atol=1e-9, max_order=max_order)
    stepper.log = []
    accepted = []
    while stepper.t != 1e-6:
        success, message = stepper.step(1e-6)
        assert success, message
        if stepper.log and np.array_equal(stepper.log[-1][2], stepper.x):
            accepted.append(stepper.log[-1][0][0])
    assert len(accepted) >= stepper.stats.steps - 1 >= 50  # all but the first (no estimate)
    assert max(accepted) <= 0.25 * (1 + 1e-9)
    assert max(accepted) >= 0.1
    orders = [order for (_, order), _, _ in stepper.log]
    assert orders[0] == 1 and set(orders) >= {1, 2} and max(orders) <= max_order
    assert max(orders) >= min(max_order, 3)  # the order does rise
    for (estimate, order), (err, its_order), _ in stepper.log:
        assert its_order == order
        assert abs(err - estimate / 0.25) <= 2e-8


@pytest.mark.parametrize("given_state", [False, True])
def test_a_restart_moves_the_charge_a_new_boundary_potential_puts_on_its_face(given_state):
    """restart(model) at a protocol change (the bath electrode from 0 to 50 mV):
    the state keeps the displacements it had under the previous model, so
    the first step's displacement rate at the electrode's face times the
    step is the charge moved there, P_new(after) - P_old(before) (measured
    4e-14 relative at most; 5e-13 allowed). restart(model, x) starts from
    x's own displacements under the new model instead."""
    from pnp.solvers.newton import displacements

    data = _donnan_data()
    m1 = build_model(Case.from_dict(data))
    data["boundary"]["right"]["potential"] = 0.05
    m2 = build_model(Case.from_dict(data), m1.mesh)
    stepper = BDF(m1, m1.x0)
    while stepper.t != 1e-9:
        assert stepper.step(1e-9)[0]
    before = stepper.x.copy()
    N = m1.n_cells
    if given_state:
        stepper.restart(m2, before)
        held = displacements(m2, before)[N]
    else:
        stepper.restart(m2)
        held = displacements(m1, before)[N]
    # the two models' displacements at the same state differ by far more
    # than what the test resolves
    assert abs(displacements(m2, before)[N] - displacements(m1, before)[N]) > 1e-3 * abs(held)
    assert stepper.step(2e-9)[0]
    moved = stepper.displacement_rate()(N) * stepper.h_last
    expected = displacements(m2, stepper.x)[N] - held
    assert moved == pytest.approx(expected, rel=5e-13, abs=0)


def test_the_stepper_defaults_and_newton_weights_are_the_documented_ones():
    """The Python API steps as a case file does: BDF's default rtol/atol are
    run.rtol/run.atol's defaults (RunSpec and the schema), and each step's
    Newton weights are those of docs/numerics.md ("Stopping test"):
    rtol_N = max(rtol/100, 1e-11), a = atol/100 for a concentration,
    max(rtol_N, 1e-8) V_T for a potential."""
    import inspect

    from pnp.input.case import RunSpec
    from pnp.input.schema import SCHEMA

    params = inspect.signature(BDF).parameters
    for key in ("rtol", "atol"):
        assert params[key].default == getattr(RunSpec(), key) == SCHEMA[f"run.{key}"].default
    m = _donnan()
    for rtol, atol in ((1e-6, 1e-9), (1e-10, 3e-4)):
        w = BDF(m, m.x0, rtol=rtol, atol=atol).wnewton
        rtol_n = max(rtol / 100, 1e-11)
        assert w.rtol == rtol_n
        assert w.floor_c == atol / 100
        assert w.floor_psi == max(rtol_n, 1e-8)
