"""The total current of a transient is the same through every face, to round-off.

In 1D the total current, ionic plus pump plus displacement, is uniform in
space: what enters a cell leaves it, since charge it keeps shows up as
displacement. At a closed wall it is zero; at a current clamp it is the
clamp's current. The stepper writes exactly this as one of each cell's rows
(the current-continuity row, pnp/discretisation/kernel.py), with the
displacement rate the observables report (`BDF.displacement_rate`), so at
every output the total current through face f may differ from that at the
closed end only by the round-off of the terms summed along the way: each
species' two Scharfetter-Gummel terms and the displacement terms
alpha P_f and beta_d[f] of every face in between (the error of each row is
a few eps times its terms, and the rows' errors add up face by face).
The initial output is no exception: its displacement rates are those that
hold Gauss's law at t = 0 (`initial_rates`).

Before, the continuity was that of the species balances: the charge a cell
gained was a difference of concentrations ~1e6 times larger than the
charge, and its round-off over steps of ps gave "currents" of up to
+-0.08 A/m^2 at open circuit that changed sign from one output to the next;
and the initial output reported the ionic current alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import load

import pnp
from pnp.constants import FARADAY
from pnp.discretisation import reference
from pnp.discretisation.mesh import build_mesh
from pnp.discretisation.model import build_model, pump_rate
from pnp.results.observables import measurement_face, observe
from pnp.simulation import loop
from pnp.solvers.bdf import BDF, initial_rates

EPS = np.finfo(float).eps
# the rows' round-off, in units of eps times the sum of their terms' sizes:
# measured up to 1.3 (ratios printed by the tests); 8 leaves room for another
# summation order without admitting anything but round-off
ROUND_OFF = 8.0


class RecordingBDF(BDF):
    """The stepper of the run, kept where a tracker can read it."""

    latest = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingBDF.latest = self


def face_currents(model, x, rates, alpha, beta):
    """(total current toward +x through every face [mol/s of charge], the
    size of its terms), from an independent flux evaluation (the numpy oracle)."""
    psi, c = model.layout.split(x)
    psi_b = model.boundary_psi(x)
    u = model.z[:, None] * psi[None, :] + model.g_cell
    flux, fsize = reference._species_fluxes(model, c, psi, psi_b, u)
    _, dsize = reference._displacements(model, psi, psi_b)
    total = model.z @ flux + rates
    terms = np.abs(model.z) @ fsize + alpha * dsize + np.abs(beta) + np.abs(rates)
    # a pump carries charge between its two cells: through the faces between them
    for p in model.pumps:
        rate = pump_rate(model, p, x) * p.area
        lo, hi = sorted((p.inside_cell, p.outside_cell))
        outward = 1.0 if p.inside_cell < p.outside_cell else -1.0
        total[lo + 1 : hi + 1] += outward * rate
        terms[lo + 1 : hi + 1] += abs(rate)
    return total, terms


class Check(loop.Tracker):
    """At every output: the total current against that at ``end`` (the closed
    or clamped face), and the reported ``current`` against the total."""

    def __init__(self, end: int, known=None):
        # known(t): the current toward +x at face ``end`` [mol/s]; None: not known
        self.end, self.known = end, known
        self.worst_faces = 0.0
        self.worst_reported = 0.0
        self.largest = 0.0
        self.outputs = 0
        self.records = []  # (t, reported current [A/m^2], its round-off scale [A/m^2], observables)

    def output(self, model, t, x, observables):
        stepper = RecordingBDF.latest
        if stepper is None:  # the initial output: the rates that hold Gauss's law at t = 0
            rates, alpha, beta = initial_rates(model, x), 0.0, np.zeros(model.n_cells + 1)
        else:  # the rates of the step just taken, as its continuity rows wrote them
            alpha, beta = stepper._rate_terms
            rates = alpha * stepper.p_hist[0] - beta
            assert np.array_equal(rates, stepper.rates)
        total, terms = face_currents(model, x, rates, alpha, beta)
        # errors add up face by face, from the end whose current is known
        path = np.cumsum(terms if self.end == 0 else terms[::-1])
        path = path if self.end == 0 else path[::-1]
        reference_current = total[self.end] if self.known is None else self.known(t)
        deviation = np.abs(total - reference_current)
        excess = np.where(deviation > 0, deviation / np.where(path > 0, EPS * path, 1.0), 0.0)
        excess[(deviation > 0) & (path == 0)] = np.inf
        self.worst_faces = max(self.worst_faces, float(excess.max()))
        # the observable: the total current at the measurement face, outward, per area
        face = measurement_face(model)
        area = model.mesh.face_area[face]
        sign = 1.0 if model.inside == "left" else -1.0
        reported = observables["current"]
        expected = sign * FARADAY * total[face] / area
        scale = FARADAY * path[face] / area
        self.worst_reported = max(self.worst_reported, abs(reported - expected) / (EPS * scale))
        self.largest = max(self.largest, abs(reported))
        assert observables == observe(model, x, rates[face])
        self.outputs += 1
        self.records.append((t, reported, EPS * scale, observables))


def checked_run(monkeypatch, case, end, known=None):
    monkeypatch.setattr(loop, "BDF", RecordingBDF)
    RecordingBDF.latest = None
    model = build_model(case, build_mesh(case))
    check = Check(end, known)
    status, message, _ = loop.simulate(case, model, check)
    assert status == "completed", message
    return check


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("donnan_approach", {}),
        ("ischemia", {}),
        ("donnan_approach", {"run.initial": "steady", "run.t_end": "1 ms"}),
    ],
    ids=["donnan_approach", "ischemia", "donnan_from_steady"],
)
def test_total_current_is_zero_at_open_circuit(monkeypatch, name, overrides):
    """A closed wall on the left: no current anywhere, at every output; from
    the steady state too (a trace flat to round-off; before: up to 0.1 A/m^2
    between 2 ps and 0.2 ns)."""
    case = load(name, **overrides)
    check = checked_run(monkeypatch, case, end=0, known=lambda t: 0.0)
    print(name, overrides, check.outputs, check.worst_faces, check.worst_reported, check.largest)
    assert check.outputs == (case.run.outputs + 1 + len(case.protocols))
    assert check.worst_faces <= ROUND_OFF
    assert check.worst_reported <= ROUND_OFF


def test_total_current_of_a_voltage_clamp_is_one_current(monkeypatch):
    """membrane_charging: both ends held; the charging current is the same
    through the baths, the membrane and the reservoir faces."""
    check = checked_run(monkeypatch, load("membrane_charging"), end=0)
    print(check.outputs, check.worst_faces, check.worst_reported, check.largest)
    assert check.largest > 1e3  # the charging current peaks near V/R ~ 2 kA/m^2
    assert check.worst_faces <= ROUND_OFF
    assert check.worst_reported <= ROUND_OFF


def test_total_current_of_a_current_clamp_is_the_clamp_current(monkeypatch):
    """membrane_charging driven by a current step instead of a voltage step:
    the current through every face is the injected one (before the step: none)."""
    case = load(
        "membrane_charging",
        **{"boundary.left.potential": "floating", "boundary.left.current": 0.0},
    )
    data = case.to_dict()
    data["protocol"] = [{"at": 1e-9, "set": {"boundary.left.current": 2.0}}]
    data["run"]["outputs"] = 40
    stepped = pnp.Case.from_dict(data)
    # entering at the left face (area 1), toward +x; at 1 ns the state just before
    check = checked_run(
        monkeypatch, stepped, end=0, known=lambda t: 2.0 / FARADAY if t > 1e-9 else 0.0
    )
    print(check.outputs, check.worst_faces, check.worst_reported, check.largest)
    assert check.largest == pytest.approx(2.0, rel=1e-9)
    assert check.worst_faces <= ROUND_OFF
    assert check.worst_reported <= ROUND_OFF


def test_voltage_step_from_a_holding_state_is_the_capacitive_transient_alone(monkeypatch):
    """From the steady state at -70 mV (``initial = "steady"``), a step to
    -60 mV at 1 ns: the membrane and its diffuse layers charge through the
    baths, and nothing else happens.

    - before the step the current is zero to round-off (the holding state is
      a state of rest: no step of it moves charge);
    - no ion crosses the membrane: the current is displacement alone;
    - the charge moved is C dV, C the membrane capacitance in series with
      its two diffuse layers (as tests/test_transient.py's charging case);
    - the current decays back to zero (to the run's tolerance: at 25 tau
      what is left is the local error of the steps, rtol of the charge).
    """
    from scipy import constants

    from pnp import analytic

    tau = 16.3e-9  # cases/membrane_charging.toml
    case = load(
        "membrane_charging",
        **{
            "boundary.left.potential": "-70 mV",
            "run.initial": "steady",
            "run.t_end": 1e-9 + 25 * tau,
            "run.outputs": 60,
        },
    )
    data = case.to_dict()
    data["protocol"] = [{"at": 1e-9, "set": {"boundary.left.potential": -0.06}}]
    case = pnp.Case.from_dict(data)
    check = checked_run(monkeypatch, case, end=0)
    print(check.outputs, check.worst_faces, check.worst_reported)
    assert check.worst_faces <= ROUND_OFF
    assert check.worst_reported <= ROUND_OFF
    times = np.array([r[0] for r in check.records])
    current = np.array([r[1] for r in check.records])
    noise = np.array([r[2] for r in check.records])
    charge = np.array([r[3]["membrane_charge"] for r in check.records])
    before, after = times <= 1e-9, times > 1e-9
    assert before.sum() > 10
    # zero to round-off before the step: measured 0.6 of the current's round-off
    assert np.all(np.abs(current[before]) <= ROUND_OFF * noise[before])
    assert np.ptp(charge[before]) <= 1e-12 * abs(charge[0])  # measured 0 (bitwise)
    for record in check.records:
        assert record[3]["flux_K"] == 0.0 and record[3]["flux_Cl"] == 0.0
    lam = analytic.debye_length({"K": 150.0, "Cl": 150.0}, {"K": 1, "Cl": -1}, 80, case.temperature)
    c_m = analytic.membrane_capacitance(2.0, 5e-9)
    c_dl = constants.epsilon_0 * 80 / lam
    c_series = analytic.series_capacitance(c_m, c_dl, c_dl)
    # the holding state and the charge moved: linearised diffuse layers on
    # the mesh of the case, measured 1.1e-4 (the 10 mV step from rest of
    # test_membrane_charging_time_constant_and_charge: 8.1e-4 at the end of a
    # shorter run)
    assert -charge[0] == pytest.approx(c_series * 0.07, rel=1e-3)
    assert charge[-1] - charge[0] == pytest.approx(c_series * 0.01, rel=1e-3)
    peak = current[after].max()
    assert peak > 0.5 * 0.01 / (tau / c_series)  # V/R, R = tau / C
    # measured 1.6e-7 of the peak: the local error of steps 10 tau long
    assert np.all(np.abs(current[after & (times > 1e-9 + 20 * tau)]) <= 1e-5 * peak)
