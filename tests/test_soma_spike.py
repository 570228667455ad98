"""cases/soma_spike.toml: one spike of a closed spherical soma with a pump.

Tiny charge, macroscopic neutrality, in time: the Na+ that enters through
the Na+ channels in one spike is more than the least charge that moves the
membrane potential by the spike's height, C dV / F (the Na+ and K+ currents
overlap), and a small fraction of the cell's Na+; the cell's Na+ changes by
exactly what crossed the membrane.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy.integrate import simpson

import pnp
from pnp.constants import FARADAY, VACUUM_PERMITTIVITY

CASE = Path(__file__).resolve().parents[1] / "cases" / "soma_spike.toml"


@pytest.fixture(scope="module")
def soma():
    case = pnp.load_case(CASE)
    result = pnp.run(case)
    assert result.status == "completed", result.message
    return case, result


def test_starts_at_the_pump_leak_rest(soma):
    case, result = soma
    v = result.membrane_potential
    assert -0.070 < v[0] < -0.060  # the resting branch (-65.2 mV), not a run-down cell
    rate = case.pumps[0].rate
    # every ion's leak + channel flux balanced by the pump: fluxes (pump included) zero
    # to the steady solver's tolerance (rtol 1e-6 of the state): measured 8.7e-10 of the
    # pump's flux at most (K+; 2.0e-12 on another Newton path to the same state)
    for name in ("K", "Na", "Cl"):
        assert abs(result.flux[name][0]) <= 1e-8 * rate, name
    assert len(result.spike_times()) == 1
    assert v.max() > 0.02


def _cell_amount(result, index: int, species: int) -> float:
    """Moles (per steradian) of a species in the cytoplasm at output ``index``."""
    mesh = result.mesh_at(index)
    cells = mesh.region == 0
    return float(result.concentration[index][species, cells] @ mesh.volume[cells])


def test_sodium_entry_per_spike(soma):
    case, result = soma
    t, v = result.t, result.membrane_potential
    after = t >= case.protocols[0].at
    # Na+ through the Na+ channels beyond their resting (window) current
    i_nav = result.extra_observables["channel_current_NaV"]
    entered = -simpson(i_nav[after] - i_nav[0], x=t[after])  # C/m^2
    membrane = case.region("membrane")
    c_m = VACUUM_PERMITTIVITY * membrane.eps_r / membrane.length
    least = c_m * (v.max() - v[0])  # C dV: the charge that moves V_m by the spike's height
    # measured 17.1 C dV: the Na+ and K+ currents overlap through the slow repolarisation
    assert entered > least
    assert 10.0 < entered / least < 30.0
    # a small fraction of the cell's Na+: measured 1.2e-3 (per steradian both)
    radius = case.regions[0].length
    na = result.species.index("Na")
    cell_na = _cell_amount(result, 0, na)
    fraction = entered * radius**2 / FARADAY / cell_na
    assert 5e-4 < fraction < 3e-3


def test_the_cells_sodium_changes_by_what_crossed(soma):
    """Conservation audit: the change of the cytoplasm's Na+ equals the Na+ flux
    (leak, channels and pump) through the membrane integrated over time
    (Simpson over the outputs, every 50 us: measured 5.0e-5 of the change)."""
    case, result = soma
    na = result.species.index("Na")
    t = result.t
    change = _cell_amount(result, -1, na) - _cell_amount(result, 0, na)
    membrane_mid = case.regions[0].length + 0.5 * case.regions[1].length
    crossed = -simpson(result.flux["Na"], x=t) * membrane_mid**2
    assert change > 0.0  # a spike leaves Na+ behind
    assert change == pytest.approx(crossed, rel=5e-4)
