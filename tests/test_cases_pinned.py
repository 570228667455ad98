"""Every shipped case pinned to one number (regression).

The values were produced by this code base (`python tests/test_cases_pinned.py`
prints them anew; paste them here only after checking why they moved). The
physics of each number is proven against closed forms in the other test
files; these pins catch silent changes. The tolerance is the run's rtol
(1e-6 relative), the accuracy the solver promises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pnp

CASES = Path(__file__).resolve().parent.parent / "cases"

PINNED = {
    "nernst_k": ("membrane_potential", -0.08905869403673179),
    "debye_layer": ("surface_charge_left", 0.05147612634117476),
    "donnan": ("membrane_potential", -0.012220339565088221),
    "ghk": ("membrane_potential", -0.06734079006449056),
    "membrane_charging": ("membrane_charge", 3.5104297109629855e-05),
    "diffuse_charge": ("surface_charge_right", -0.00011425008333874339),
    "donnan_approach": ("membrane_potential", -0.01222033972302377),
    "pump_leak": ("membrane_potential", -0.0694060345528434),
    "ischemia": ("membrane_potential", -0.01751942917119794),
    "charge_separation": ("membrane_potential", -0.07000372294267221),
    "selectivity": ("membrane_potential", -0.08255549472233613),
    "calcium": ("membrane_potential", 0.13234356792097424),
    "activity_ek": ("membrane_potential", -0.08565275031653097),
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
