"""Voltage-gated channels in the solver: gate equations, their Jacobian, the
permeability they open, steady gates and the order of the coupled stepper.

The reference model comparisons (rest, peak, threshold, rate against an
independent ODE) are in tests/test_action_potential.py.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

import pnp
from pnp.discretisation import channels as chan
from pnp.discretisation.gates import HODGKIN_HUXLEY, Rate
from pnp.discretisation.mesh import build_mesh
from pnp.discretisation.model import build_model
from pnp.solvers.bdf import BDF, consistent_start
from pnp.solvers.newton import System
from pnp.solvers.steady import solve_steady

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "action_potential.toml"


def steady_case(**overrides):
    """The action-potential patch as a steady case (no stimulus)."""
    data = tomllib.loads(CASE.read_text())
    del data["stimulus"]
    data["run"] = {"mode": "steady"}
    return pnp.Case.from_dict(data, overrides=overrides, source=CASE)


@pytest.fixture(scope="module")
def rest():
    """(model, steady state) of the patch at rest."""
    case = steady_case()
    model = build_model(case, build_mesh(case))
    outcome = solve_steady(model, rtol=1e-9, atol=1e-12)
    assert outcome.success, outcome.message
    return model, outcome.x


def _excited(model, x_rest):
    """A state away from rest: gates part open, potentials shifted (a mid-spike guess)."""
    x = x_rest.copy()
    x[model.channels.block] = [0.6, 0.3, 0.5]  # m, h, n
    x[model.layout.potential] += 1.5  # +40 mV everywhere: V_m moves with the floating end
    x[model.layout.boundary] += 1.5
    return x


def test_gate_rows_match_central_differences(rest):
    model, x_rest = rest
    x = _excited(model, x_rest)
    beta = np.array([3.0, 5.0, 7.0])  # a history part, as a step has
    _, diag, dv = chan.gate_residual(model, x, 2e3, beta)
    block = model.channels.block
    (vm_index,) = model.channels.vm_index  # the floating inside end: V_m = psi_b
    for g in range(model.channels.n_gates):
        for index, analytic in ((block.start + g, diag[g]), (vm_index, dv[g])):
            step = 1e-6
            up, down = x.copy(), x.copy()
            up[index] += step
            down[index] -= step
            numeric = (
                chan.gate_residual(model, up, 2e3, beta)[0][g]
                - chan.gate_residual(model, down, 2e3, beta)[0][g]
            ) / (2 * step)
            # central differences of the residual: measured 2.6e-10 relative
            assert analytic == pytest.approx(numeric, rel=3e-9, abs=1e-9 * abs(diag[g]))


def _stepping(model, x_rest):
    """(model, transient System, excited state, time terms of a 0.1 ms step from rest)."""
    system = System(model, continuity=True)
    S, N = model.n_species, model.n_cells
    alpha_c = np.full((S, N), 1e4, order="F")
    beta_c = 1e4 * np.asfortranarray(model.layout.split(x_rest)[1])
    return model, system, _excited(model, x_rest), (alpha_c, 1e4, beta_c, np.zeros(N + 1))


def test_gate_columns_match_differences_of_the_residual(rest):
    """dR/dx_gate from the conductor difference and df/dx, against a central
    difference of the whole cells' residual in the gate itself."""
    model, system, x, (alpha_c, _, beta_c, beta_d) = _stepping(*rest)
    system.assemble(x, alpha_c, 1e4, beta_c, beta_d)
    border = system.bordered
    columns = border.columns.copy()
    n0 = border.n0
    for g in range(model.channels.n_gates):
        index = model.channels.block.start + g
        step = 1e-5
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        r_up = system.assemble(up, alpha_c, 1e4, beta_c, beta_d, jacobian=False)[:n0].copy()
        r_down = system.assemble(down, alpha_c, 1e4, beta_c, beta_d, jacobian=False)[:n0].copy()
        numeric = (r_up - r_down) / (2 * step)
        scale = np.abs(numeric).max()
        assert scale > 0.0
        # the one-sided factor difference (1e-7 relative) dominates: measured 4.5e-9 (m, h)
        # and 6.0e-8 (n) of the largest entry
        assert np.abs(columns[:, g] - numeric).max() <= 1e-6 * scale


def test_newton_update_solves_the_linearised_system(rest):
    """R(x + eps d) - R(x) = -eps R(x) to first order for the update d = -J^-1 R
    of the whole bordered system (band, gate rows and columns, Schur complement)."""
    model, system, x, terms = _stepping(*rest)
    x_rest = rest[1]
    border = system.bordered
    border.beta_gates[:] = 1e4 * x_rest[model.channels.block]
    res = system.assemble(x, *terms).copy()
    delta, why = system.solve()
    assert delta is not None, why
    delta = delta.copy()
    eps = 1e-7
    moved = system.assemble(x + eps * delta, *terms, jacobian=False).copy()
    predicted = -eps * res
    # the remainder, relative: 6.8e-6, 6.8e-7, 6.7e-8 at eps = 1e-5, 1e-6, 1e-7 (second
    # order: a wrong Jacobian entry would leave a part that does not shrink with eps)
    assert np.abs((moved - res) - predicted).max() <= 1e-5 * np.abs(predicted).max()


def test_steady_gates_sit_at_x_inf(rest):
    model, x = rest
    expected = chan.steady_gates(model, x)
    gates = x[model.channels.block]
    # to Newton's tolerance at rtol 1e-9 (1e-11 of each unknown): measured 1.3e-15
    assert gates == pytest.approx(expected, rel=1e-11)
    v_mv = chan.membrane_potential(model, x) * model.thermal_voltage * 1e3
    for g, (name, power) in enumerate((("m", 3), ("h", 1), ("n", 4))):
        a, b = HODGKIN_HUXLEY[name]
        # the 1952 formulas written out: x_inf = alpha / (alpha + beta)
        if name == "m":
            alpha = 0.1 * (v_mv + 40) / (1 - math.exp(-(v_mv + 40) / 10))
            beta = 4 * math.exp(-(v_mv + 65) / 18)
        elif name == "h":
            alpha = 0.07 * math.exp(-(v_mv + 65) / 20)
            beta = 1 / (1 + math.exp(-(v_mv + 35) / 10))
        else:
            alpha = 0.01 * (v_mv + 55) / (1 - math.exp(-(v_mv + 55) / 10))
            beta = 0.125 * math.exp(-(v_mv + 65) / 80)
        assert gates[g] == pytest.approx(alpha / (alpha + beta), rel=1e-9)
        assert power >= 1 and a.form and b.form


@pytest.mark.parametrize(("opening", "tolerance"), [(1.0, 1e-10), (0.5, 6e-6)])
def test_a_channel_held_open_is_a_leak_of_its_permeability(opening, tolerance):
    """Gates held at x = ``opening`` (beta = 0: x_inf = 1; alpha = beta:
    x_inf = 1/2) give the steady state of a leak-only case with P = P_leak +
    P̄ x^(sum of exponents). Fully open, the discrete systems are the same
    (one partition); half open, the gates scale the membrane's diffusivity
    where the leak case changes its partition, which differ only through the
    permeant ions the membrane holds: the gates keep the partition of the fully
    open membrane (ions at ~1e-5 of the bath's concentration inside it),
    the leak case's partition is x^p times smaller. Their charge is ~1 % of
    the membrane capacitor's here and shifts V_m by 0.57 uV."""
    closing = 0.0 if opening == 1.0 else 1.0
    held = (Rate("exponential", 1.0, 0.0, 10.0), Rate("exponential", closing, 0.0, 10.0))
    case = steady_case()
    opened = tuple(
        dataclasses.replace(ch, rates={g: held for g in ch.gates}, kinetics="custom")
        for ch in case.channels
    )
    case = dataclasses.replace(case, channels=opened)
    leak = dict(case.region("membrane").permeability)
    for ch in case.channels:
        leak[ch.species] += ch.permeability * opening ** sum(ch.gates.values())
    plain = steady_case(**{f"region.membrane.permeability.{k}": v for k, v in leak.items()})
    plain = dataclasses.replace(plain, channels=())
    mesh = build_mesh(case)
    results = []
    for c in (case, plain):
        model = build_model(c, mesh)
        out = solve_steady(model, rtol=1e-10, atol=1e-13)
        assert out.success
        results.append(chan_free_vm(model, out.x))
    # measured: 6e-17 V (open: the same discrete system) and 5.7e-7 V (half open) apart
    assert results[0] == pytest.approx(results[1], abs=tolerance)
    assert results[0] > 0.005  # open Na+ channels dominate: +9.5 mV


def chan_free_vm(model, x) -> float:
    """V_m [V] from the boundary potentials (independent of the channel code)."""
    psi = model.boundary_psi(x)
    inside = 0 if model.inside == "left" else 1
    return float((psi[inside] - psi[1 - inside]) * model.thermal_voltage)


def test_coupled_stepper_is_second_order_in_time(rest):
    """Fixed BDF2 steps through the upstroke of a spike: V_m and the gates at
    t = 0.6 ms (V_m -17 mV, mid-upstroke) converge at order >= 1.9 (measured
    1.97-1.99 from 60, 120, 240 steps)."""
    model_rest, x_rest = rest
    case = steady_case(**{"boundary.left.current": 0.6})
    model = build_model(case, model_rest.mesh)
    x0 = consistent_start(model, x_rest)
    t_end = 0.6e-3
    finals = []
    for n in (60, 120, 240):
        stepper = BDF(model, x0, fixed_step=t_end / n)
        while stepper.t < t_end * (1 - 1e-12):
            ok, why = stepper.step(t_end)
            assert ok, why
        finals.append(stepper.x.copy())
    picks = [
        *model.channels.vm_index,
        *range(model.channels.block.start, model.channels.block.stop),
    ]
    for i in picks:
        e1 = abs(finals[0][i] - finals[1][i])
        e2 = abs(finals[1][i] - finals[2][i])
        assert math.log2(e1 / e2) >= 1.9, (i, e1, e2)


def test_a_restart_continues_with_the_gates_of_the_result(tmp_path):
    """``--restart``: the state rebuilt from a result file holds the gates of its last
    output, and the continued run ends where one run to the same time ends (the
    restart begins a new step sequence: measured 0.05 uV apart)."""
    from pnp.simulation.runner import restart_state, result_state

    data = tomllib.loads(CASE.read_text())
    data.pop("output")
    data["run"].update(t_end="3 ms", outputs={"every": "0.5 ms"})
    case = pnp.Case.from_dict(data, source=CASE)
    first = pnp.run(case.with_overrides({"run.t_end": "2 ms"}), output=str(tmp_path / "a.h5"))
    loaded = pnp.load_result(tmp_path / "a.h5")
    model = build_model(case, loaded.mesh())
    x = result_state(model, loaded)
    for name, value in zip(model.channels.gate_names, x[model.channels.block], strict=True):
        assert value == first.extra_observables["gate_" + name.replace(".", "_")][-1]
    whole = pnp.run(case)
    x0, t_start, mesh = restart_state(case, tmp_path / "a.h5")
    continued = pnp.run(case, mesh=mesh, x0=x0, t_start=t_start)
    assert continued.t[-1] == whole.t[-1] == pytest.approx(3e-3)
    assert continued.membrane_potential[-1] == pytest.approx(whole.membrane_potential[-1], abs=5e-7)
