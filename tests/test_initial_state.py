"""The state a transient starts from, and its first output.

- From the regions' contents, Gauss's law is solved for the potential at those concentrations before
  the first output: the t = 0 state is consistent (the algebraic part of
  the system holds), so V_m(0), the surface charges and the fields are
  those of the initial contents, not of psi = 0.
- A floating reservoir keeps the charge on its face at t = 0.
- The first output's current is the total current at t = 0 (ionic plus
  the displacement current that keeps Gauss's law).
- ``[run] initial = "steady"``: the steady state of the case at t = 0, then
  the protocols. A failed steady solve fails the run, saying so.
- A restart state is used as it is; a floating potential is rebuilt from
  the surface charge of the file.
- A protocol at t = 0 is part of the case at t = 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CASES, load

import pnp
from pnp.constants import FARADAY, VACUUM_PERMITTIVITY
from pnp.discretisation import kernel
from pnp.discretisation.model import build_model
from pnp.discretisation.reference import residual_reference
from pnp.results.observables import face_fluxes
from pnp.simulation.runner import restart_state
from pnp.solvers.bdf import consistent_start, initial_rates
from pnp.solvers.newton import PSI_FLOOR_NEWTON


def state_of(model, res, index):
    """The state vector of output ``index`` of ``res``: cell potentials and
    contents; a floating reservoir's potential from the charge on its face."""
    psi = res.potential[index] / model.thermal_voltage
    boundary = [
        psi[cell] + res.surface_charge[side][index] / (FARADAY * model.b_pois_cond[k])
        for k, (side, cell) in enumerate((("left", 0), ("right", -1)))
        if model.b_type[k] == kernel.FLOATING
    ]
    return model.layout.pack(psi, res.concentration[index], boundary=np.array(boundary))


def gauss_residual(model, x):
    """Largest |Gauss's law residual| over its terms' size, over the cells."""
    S, N = model.n_species, model.n_cells
    z2 = np.zeros((S, N))
    res, scale = residual_reference(model, x, z2, 0.0, z2, np.zeros(N + 1), z2, return_scale=True)
    rows = model.potential_index()
    return float(np.max(np.abs(res[rows]) / scale[rows]))


def test_a_wall_potential_at_t0_gives_the_linear_potential_of_the_neutral_bath():
    """cases/debye_layer.toml as a transient: +50 mV on a wall, 0 V at a
    reservoir 30 nm away, neutral 150 mM NaCl. At t = 0 (no ion has moved)
    Gauss's law with no charge is Laplace's: the potential falls linearly
    and the wall holds eps V / L. Before, the first output had phi = 0
    inside and a wall charge from the jump to the wall's 50 mV over half a
    cell: 1.89 C/m^2 instead of 1.16e-3 C/m^2.
    """
    case = load("debye_layer", **{"run.mode": "transient", "run.t_end": 1e-12, "run.outputs": 1})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    model = build_model(case, res.mesh())
    np.testing.assert_array_equal(res.concentration[0], model.layout.split(model.x0)[1])
    length, eps = case.regions[0].length, VACUUM_PERMITTIVITY * case.regions[0].eps_r
    # the scheme is exact on a linear potential (two-point faces, quadratic
    # wall gradient), so only round-off is left: measured 3e-15
    expected = 0.05 * (1.0 - res.x / length)
    np.testing.assert_allclose(res.potential[0], expected, rtol=0, atol=1e-13)
    assert res.surface_charge["left"][0] == pytest.approx(eps * 0.05 / length, rel=1e-11)
    assert res.membrane_potential[0] == pytest.approx(0.05, rel=1e-15)
    assert gauss_residual(model, state_of(model, res, 0)) <= 1e-13


def _charged_box(left: dict) -> pnp.Case:
    """10 mM K and 9.99 mM Cl: 0.01 mM of net charge, uniform mesh."""
    return pnp.Case.from_dict(
        {
            "title": "a charged box",
            "temperature": 298.15,
            "strict": False,
            "species": {"K": {"z": 1, "D": 2e-9}, "Cl": {"z": -1, "D": 2e-9}},
            "region": [
                {
                    "name": "box",
                    "length": 100e-9,
                    "eps_r": 80,
                    "concentration": {"K": 10, "Cl": 9.99},
                }
            ],
            "boundary": {"left": left, "right": {"type": "reservoir", "potential": 0}},
            "mesh": {"uniform_cells": 50},
            "run": {"mode": "transient", "t_end": 1e-12, "outputs": 1},
        }
    )


@pytest.mark.parametrize(
    "left",
    [
        {"type": "wall", "surface_charge": 0},
        {"type": "reservoir", "potential": "floating", "current": 0},
    ],
    ids=["closed_wall", "floating_reservoir"],
)
def test_contents_that_are_not_neutral_charge_the_start(left):
    """A uniform charge rho between a face with no displacement (a closed
    wall; a floating reservoir, which keeps the zero charge of its face at
    t = 0) and a grounded reservoir at distance L: phi(0) = rho L^2 / (2 eps).
    On a uniform mesh the discrete value at the face is exactly that (the
    quadratic's errors at the centres are one constant, which the half cell
    at the reservoir cancels), to round-off.
    """
    with pytest.warns(UserWarning, match="not electroneutral"):
        case = _charged_box(left)
    res = pnp.run(case)
    assert res.status == "completed", res.message
    rho = 0.01 * FARADAY
    expected = rho * 100e-9**2 / (2 * VACUUM_PERMITTIVITY * 80)  # 6.8 mV
    assert res.membrane_potential[0] == pytest.approx(expected, rel=1e-12)
    assert res.surface_charge["left"][0] == 0.0 or abs(res.surface_charge["left"][0]) < 1e-18
    model = build_model(case, res.mesh())
    x = state_of(model, res, 0)
    assert gauss_residual(model, x) <= 1e-13


def test_the_initial_current_is_the_total_current_of_the_start():
    """donnan_approach at t = 0: Cl- starts to flow in from the bath (8 mM
    inside, 150 outside), but at open circuit nothing carries current: the
    displacement current that keeps Gauss's law (its rate at t = 0, from
    the species balances) cancels the ionic current at every face, and the
    first output's current is zero."""
    case = load("donnan_approach", **{"run.t_end": 1e-9, "run.outputs": 3})
    model = build_model(case)
    x = consistent_start(model, model.x0)
    np.testing.assert_array_equal(x, model.x0)  # neutral regions: psi = 0 is Gauss's law
    ionic = model.z @ face_fluxes(model, x)
    rates = initial_rates(model, x)
    assert np.abs(ionic).max() > 1e-6  # mol/s per m^2: ~0.1 A/m^2 somewhere
    assert np.abs(ionic + rates).max() <= 1e-13 * np.abs(ionic).max()
    res = pnp.run(case)
    assert res.current[0] == 0.0 or abs(res.current[0]) <= 1e-13 * FARADAY * np.abs(ionic).max()


def _clamp_stepped_at_1ns(initial: str) -> pnp.Result:
    """membrane_charging clamped at -70 mV by a protocol at t = 0, stepped to
    -60 mV at 1 ns, started from ``initial``."""
    data = load("membrane_charging", **{"run.initial": initial}).to_dict()
    data["protocol"] = [
        {"at": 0.0, "set": {"boundary.left.potential": -0.07}},
        {"at": 1e-9, "set": {"boundary.left.potential": -0.06}},
    ]
    data["run"]["t_end"] = 2e-9
    data["run"]["outputs"] = 4
    res = pnp.run(pnp.Case.from_dict(data))
    assert res.status == "completed", res.message
    return res


def test_a_protocol_at_t0_is_part_of_the_case_at_t0():
    """Before, a protocol at t = 0 was never applied (the run began from the
    case as loaded and stepped only to later protocol times)."""
    res = _clamp_stepped_at_1ns("contents")
    assert res.membrane_potential[0] == pytest.approx(-0.07, rel=1e-15)
    assert res.membrane_potential[-1] == pytest.approx(-0.06, rel=1e-15)
    # from the contents the membrane holds only what the neutral dielectric
    # column (two 5 um baths, eps_r 80, and the 5 nm membrane, eps_r 2) gives
    # it: exact on the mesh (a piecewise linear potential)
    column = VACUUM_PERMITTIVITY / (10e-6 / 80 + 5e-9 / 2)
    assert res.extra_observables["membrane_charge"][0] == pytest.approx(-0.07 * column, rel=1e-9)


# --- [run] initial = "steady" -------------------------------------------------


def test_a_steady_start_is_the_steady_state_of_the_case_at_t0():
    """donnan_approach from its steady state: the first output is the Donnan
    state of cases/donnan.toml (same mesh), and nothing moves after it."""
    res = pnp.run(load("donnan_approach", **{"run.initial": "steady", "run.t_end": 1.0}))
    assert res.status == "completed", res.message
    # on the transient's mesh; its solve is polished by one more Newton pass, the
    # steady start's is not: the same state to round-off (measured 4.3e-15)
    steady = pnp.run(load("donnan"), mesh=res.mesh())
    np.testing.assert_allclose(res.concentration[0], steady.concentration[0], rtol=4e-14, atol=0)
    # Gauss's law solved again at the start: a change at its round-off, below
    # Newton's potential floor (measured 4e-10 V_T)
    vt = build_model(load("donnan")).thermal_voltage
    np.testing.assert_allclose(
        res.potential[0], steady.potential[0], rtol=0, atol=PSI_FLOOR_NEWTON * vt
    )
    # every later output: the same state to the run's tolerance
    for c in res.concentration[1:]:
        np.testing.assert_allclose(c, res.concentration[0], rtol=1e-6, atol=1e-9)
    assert res.stats["newton_iterations"] > res.stats["steps"]  # the steady solve counts


def test_a_steady_start_is_taken_after_the_protocols_at_t0():
    """A protocol at t = 0 is part of the case at t = 0 (before, a protocol
    at 0 was never applied): the holding state is that of the changed case."""
    res = _clamp_stepped_at_1ns("steady")
    assert res.membrane_potential[0] == pytest.approx(-0.07, rel=1e-15)
    assert res.membrane_potential[-1] == pytest.approx(-0.06, rel=1e-15)
    # at rest at -70 mV the membrane holds C V (C = 3.51 mF/m^2 in series
    # with its diffuse layers, tests/test_total_current.py): 50x what the
    # start from the contents gives it (the test above)
    held = res.extra_observables["membrane_charge"][0]
    assert held == pytest.approx(-0.07 * 3.5133e-3, rel=1e-3)


def test_a_failed_steady_start_fails_the_run_and_keeps_what_it_has(tmp_path):
    """One pseudo-time step is not enough for the closed cell of
    donnan_approach: the run fails with the steady solver's reason, and the
    file holds the state it reached (at t = 0), marked failed."""
    out = tmp_path / "failed.h5"
    case = load("donnan_approach", **{"run.initial": "steady", "run.max_steps": 1})
    res = pnp.run(case, output=str(out))
    assert res.status == "failed"
    assert res.message.startswith('run.initial = "steady": no steady state to start from (')
    assert list(res.t) == [0.0]
    stored = pnp.load_result(out)
    assert stored.status == "failed" and stored.message == res.message
    assert list(stored.t) == [0.0]


def test_initial_from_the_command_line(tmp_path, capsys):
    """``--set run.initial=steady`` reaches the run; a protocol cannot change it."""
    from pnp.presentation.cli import main

    out = tmp_path / "steady_start.h5"
    argv = ["run", str(CASES / "donnan_approach.toml"), "-o", str(out), "--quiet"]
    argv += ["--set", "run.initial=steady", "--set", "run.t_end=1", "--set", "run.outputs=2"]
    assert main(argv) == 0
    started = pnp.load_result(out)
    steady = pnp.run(load("donnan"), mesh=started.mesh())  # round-off apart, as above
    np.testing.assert_allclose(
        started.concentration[0], steady.concentration[0], rtol=4e-14, atol=0
    )
    data = load("membrane_charging").to_dict()
    data["protocol"] = [{"at": 1e-9, "set": {"run.initial": "steady"}}]
    with pytest.raises(pnp.CaseError, match=r"`run\.initial` cannot change during a run"):
        pnp.Case.from_dict(data)


def test_a_restart_is_used_as_it_is_whatever_initial_says(tmp_path):
    """--restart continues from the file: run.initial is not used, the
    state is not re-solved, and a floating reservoir's potential comes back
    from the surface charge of its face (before: the charge was dropped, the
    boundary potential set to its neighbour's)."""
    data = load("ghk").to_dict()
    data["region"][0]["length"] = 2e-9  # the membrane's diffuse layer reaches the clamp
    data["boundary"]["left"]["current"] = 0.5
    data["run"] = {"mode": "transient", "t_end": 1e-8, "outputs": 5}
    first = tmp_path / "first.h5"
    part = pnp.run(pnp.Case.from_dict(data), output=str(first))
    assert part.status == "completed", part.message
    assert abs(part.surface_charge["left"][-1]) > 1e-10
    data["run"] = {**data["run"], "t_end": 2e-8, "initial": "steady"}
    case = pnp.Case.from_dict(data)
    x0, t0, mesh = restart_state(case, first)
    rest = pnp.run(case, x0=x0, t_start=t0, mesh=mesh)
    assert rest.status == "completed", rest.message
    assert rest.t[0] == t0 == part.t[-1]
    np.testing.assert_array_equal(rest.concentration[0], part.concentration[-1])
    assert rest.membrane_potential[0] == pytest.approx(part.membrane_potential[-1], rel=1e-13)
    assert rest.surface_charge["left"][0] == pytest.approx(
        part.surface_charge["left"][-1], rel=1e-13
    )
    assert rest.current[0] == pytest.approx(0.5, rel=1e-9)
