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
from pnp.solvers.bdf import BDF, bdf_coefficients, error_ratio, initial_step, predict
from pnp.solvers.compartments import REGULARISE, closed_compartments, projector
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
    assert amount[-1] - amount[0] == pytest.approx(-3.0 * rate * t_end, rel=1e-9)


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
