"""The scripts in examples/: each runs, and its headline number matches a closed form.

Every closed form is written out here from the case's inputs (not taken from
the example or from pnp.analytic), so a test fails if the example, the
solver or the analytic module drifts.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import constants

import pnp

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
F = constants.e * constants.N_A


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ghk_iv_curve_reversal_is_the_ghk_voltage(tmp_path, capsys):
    case = pnp.load_case(REPO / "cases" / "ghk_iv.toml")
    inside, membrane, outside = case.regions
    inside, outside = inside.concentration, outside.concentration
    p = membrane.permeability
    # Monovalent GHK voltage: V = (RT/F) ln((ΣP_cat c_out + ΣP_an c_in)/(ΣP_cat c_in + ΣP_an c_out)).
    numerator = p["K"] * outside["K"] + p["Na"] * outside["Na"] + p["Cl"] * inside["Cl"]
    denominator = p["K"] * inside["K"] + p["Na"] * inside["Na"] + p["Cl"] * outside["Cl"]
    v_ghk = constants.R * case.temperature / F * math.log(numerator / denominator)

    reversal = _example("ghk_iv_curve").main(tmp_path, workers=1)
    # spline root of 17 steady points against the GHK root: measured 2.1e-7 V
    assert reversal == pytest.approx(v_ghk, abs=2e-6)
    assert (tmp_path / "iv.png").stat().st_size > 0
    assert "reversal potential" in capsys.readouterr().out


def test_donnan_potential_against_fixed_charge(tmp_path):
    case = pnp.load_case(REPO / "cases" / "donnan.toml")
    c = case.regions[-1].concentration["K"]  # 1:1 KCl bath, K = Cl
    rho = -case.regions[0].concentration["X"]  # the case as shipped: 142 mM of X⁻
    # Electroneutral inside, c r - c / r + rho = 0, so r = (-rho + sqrt(rho² + 4c²)) / 2c.
    ratio = (-rho + math.sqrt(rho**2 + 4 * c**2)) / (2 * c)
    v_donnan = -constants.R * case.temperature / F * math.log(ratio)

    v_m = _example("donnan_fixed_charge").main(tmp_path)
    # steady solve against the closed form: measured 2.1e-9 V
    assert v_m == pytest.approx(v_donnan, abs=2e-8)
    assert (tmp_path / "donnan.png").stat().st_size > 0


def test_membrane_charging_time_constant_is_r_times_c(tmp_path):
    case = pnp.load_case(REPO / "cases" / "membrane_charging.toml")
    inside, membrane, outside = case.regions
    c = inside.concentration["K"]  # 150 mM KCl on both sides
    d_sum = sum(s.D for s in case.species)
    rt = constants.R * case.temperature
    kappa = F**2 * c * d_sum / rt  # S/m, a 1:1 salt
    access = (inside.length + outside.length) / kappa
    debye = math.sqrt(constants.epsilon_0 * inside.eps_r * rt / (2 * F**2 * c))
    # membrane slab in series with the two linear diffuse layers
    inverse_c = membrane.length / (constants.epsilon_0 * membrane.eps_r) + 2 * debye / (
        constants.epsilon_0 * inside.eps_r
    )
    tau_rc = access / inverse_c

    tau = _example("membrane_charging").main(tmp_path)
    # a single-exponential fit to a response that is not exactly one (the
    # diffuse layers charge nonlinearly): measured +1.94e-2, the same
    # systematic offset as tests/test_transient.py, which pins it at 5e-2.
    assert tau == pytest.approx(tau_rc, rel=0.05)
    assert (tmp_path / "charging.png").stat().st_size > 0


def test_an_example_runs_as_a_script_and_writes_nothing_into_the_repo(tmp_path):
    def files():
        return {
            p for p in REPO.rglob("*") if ".git" not in p.parts and "__pycache__" not in p.parts
        }

    before = files()
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "agg"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "donnan_fixed_charge.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Donnan potential at 142 mM" in proc.stdout
    assert files() <= before
    assert list(tmp_path.iterdir()) == []


def test_every_example_is_listed_in_the_readme():
    readme = (EXAMPLES / "README.md").read_text()
    for script in EXAMPLES.glob("*.py"):
        assert f"`{script.name}`" in readme
