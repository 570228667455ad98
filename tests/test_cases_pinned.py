"""Every shipped case pinned to one number (regression).

The values were produced by this code base (`python tests/test_cases_pinned.py`
prints them anew; paste them here only after checking why they moved). The
physics of each number is proven against closed forms in the other test
files; these pins catch silent changes. The tolerance is the run's rtol
(1e-6 relative), the accuracy the solver promises.

Moved with the adaptive meshes (issue 12), each within the old mesh's own
error: debye_layer's wall charge 0.0514761 -> 0.0515652 C/m^2 (Grahame:
0.0515653; the old mesh was 0.17 % low), diffuse_charge's -1.14250e-4 ->
-1.15050e-4 C/m^2 (its steady end state was 0.7 % low on the old mesh),
membrane_charging +8.3e-5, ischemia +8.3e-6 and pump_leak -2.5 uV (3.7e-5)
relative; the steady cases' new values carry error estimates below 1e-5.

Moved with cells_per_debye 6 and meshes that refine the estimated one
(issue 12), each within the old value's error estimate: pump_leak -0.31 uV
(old estimate 2.5 uV), membrane_charging +3.4e-10 C/m^2 (9.6e-6 relative;
old spatial estimate 2.9e-9 C/m^2, `run.error_estimate = true`).

Moved with the variable-order stepper (orders 1-5, issue 16), each toward a
run at rtol = 1e-10 (and one of BDF2 at 1e-9): the old value's time error
against that reference -> the new one's, relative: ap_train 1.2e-3 -> 1.8e-4
(V_m after a 60 ms spike train carries the phase error of every spike),
diffuse_charge 2.9e-5 -> 7.7e-6, action_potential 1.7e-5 -> 6.6e-6, ischemia
9.9e-6 -> 4.0e-7, membrane_charging 7.4e-6 -> 1.0e-7, donnan_swelling 5.8e-6
-> 2.3e-7, ischemia_swelling 1.6e-6 -> 1.5e-7, soma_spike 1.0e-5 -> 4.1e-6;
refractory 2.7e-6 -> 4.1e-6. BDF2's global error was thus above the pins'
1e-6 in these transients: the pins catch changes, they do not measure
accuracy (tests/test_variable_order.py does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pnp

CASES = Path(__file__).resolve().parent.parent / "cases"

PINNED = {
    "nernst_k": ("membrane_potential", -0.08905869403673179),
    "debye_layer": ("surface_charge_left", 0.0515652478437839),
    "donnan": ("membrane_potential", -0.012220339565088221),
    "ghk": ("membrane_potential", -0.06734079006449056),
    "membrane_charging": ("membrane_charge", 3.510728502389801e-05),
    "diffuse_charge": ("surface_charge_right", -0.00011504788836707272),
    "donnan_approach": ("membrane_potential", -0.01222033972302377),
    "pump_leak": ("membrane_potential", -0.0694088847168489),
    "ischemia": ("membrane_potential", -0.017519740506591164),
    "charge_separation": ("membrane_potential", -0.07000372294267221),
    "selectivity": ("membrane_potential", -0.08255549472233613),
    "calcium": ("membrane_potential", 0.13234356792097424),
    "activity_ek": ("membrane_potential", -0.08565275031653097),
    "donnan_stiff": ("volume", 6.62204067888245e-06),
    "donnan_swelling": ("volume", 1.2332903401407462e-05),
    "pump_leak_volume": ("volume", 4.286055931820975e-15),
    "ischemia_swelling": ("volume", 4.5750611115187604e-15),
    "hypotonic": ("volume", 6.283185399748518e-15),
    "action_potential": ("membrane_potential", -0.06360460412651203),
    "ap_train": ("membrane_potential", -0.06753113114168105),
    "refractory": ("membrane_potential", -0.06283804463652617),
    "soma_spike": ("membrane_potential", -0.06527788976516259),
}


def test_every_case_is_pinned():
    shipped = {p.stem for p in CASES.glob("*.toml")}
    sweep_only = {"ghk_iv"}  # an I-V sweep case: pinned by tests/test_sweep.py
    assert shipped - sweep_only == set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_case_value(name):
    observable, value = PINNED[name]
    res = pnp.run(pnp.load_case(CASES / f"{name}.toml"))
    assert res.status == "completed", res.message
    assert res.observables()[observable][-1] == pytest.approx(value, rel=1e-6)


if __name__ == "__main__":  # regenerate
    for name, (observable, _) in sorted(PINNED.items()):
        res = pnp.run(pnp.load_case(CASES / f"{name}.toml"))
        print(f'    "{name}": ("{observable}", {float(res.observables()[observable][-1])!r}),')
