"""The stress matrix (scripts/stress.py): converge and pass every check, or fail loudly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "stress.py"
spec = importlib.util.spec_from_file_location("stress", SCRIPT)
stress = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stress)

POINTS = dict(stress.stress_points())
EXTREMES = ["c_out=1e-09", "c_in=1e-09", "c_in=3000", "clamp=-1 V", "clamp=+1 V", "z=-3", "z=+3",
            "eps_m=1 d=1nm", "eps_m=80 d=50nm", "P=0", "P=0.001", "L=1e-08 m", "L=0.001 m",
            "T=273.15 K", "T=320 K", "z=3, c_out=1e-9, clamp=-1 V",
            "eps_m=1, d=1nm, P=1e-3, clamp=+1 V"]


@pytest.mark.parametrize("label", EXTREMES)
def test_extreme_point(label):
    row = stress.run_point(label, POINTS[label])
    assert row["outcome"] in ("ok", "failed"), row
    # today every point converges; a failure must at least say why
    assert row["outcome"] == "ok" or row["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(POINTS))
def test_every_stress_point(label):
    row = stress.run_point(label, POINTS[label])
    assert row["outcome"] != "WRONG", row


def test_checks_can_fail():
    """The checks catch a wrong answer: a doctored potential breaks Nernst."""
    import pnp

    case = pnp.Case.from_dict(POINTS["base"])
    res = pnp.run(case)
    assert stress.check(case, res) == []
    res.membrane_potential[-1] += 1e-3
    assert any("Nernst" in p for p in stress.check(case, res))
