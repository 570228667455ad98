"""Error estimates are honest: the true error is no larger than the estimate, and
the estimate no more than ten times the true error (issue 12).

Steady states: charged walls against the Grahame equation, written as a user
would (default mesh settings). Transients (``[run] error_estimate = true``):
the blocking-electrode charging of cases/diffuse_charge.toml against a run on
a mesh four times finer at rtol 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CASES

import pnp
from pnp import analytic
from pnp.discretisation.adapt import merge_pairs, split_mesh
from pnp.discretisation.model import build_model
from pnp.simulation.adaptive import error_tolerances


def _wall(sigma: float, salt: tuple[int, int], c_cation: float) -> pnp.Case:
    z_plus, z_minus = salt
    c_anion = c_cation * z_plus / -z_minus
    return pnp.Case.from_dict(
        {
            "title": "charged wall",
            "species": {
                "P": {"z": z_plus, "D": "1e-9 m^2/s"},
                "M": {"z": z_minus, "D": "1e-9 m^2/s"},
            },
            "region": [
                {
                    "name": "bath",
                    "length": "200 nm",
                    "eps_r": 78.5,
                    "concentration": {"P": c_cation, "M": c_anion},
                }
            ],
            "boundary": {
                "left": {"type": "wall", "surface_charge": sigma},
                "right": {"type": "reservoir", "potential": 0},
            },
        }
    )


@pytest.mark.parametrize(
    ("sigma", "salt", "conc"),
    [
        (-0.01, (1, -1), 100.0),
        (-0.2, (1, -1), 10.0),
        (0.3, (2, -1), 1.0),
        (-0.05, (1, -2), 1000.0),
        (0.1, (2, -2), 100.0),
    ],
)
def test_steady_estimate_brackets_the_grahame_error(sigma, salt, conc):
    case = _wall(sigma, salt, conc)
    res = pnp.run(case)
    assert res.status == "completed", res.message
    c = {"P": conc, "M": conc * salt[0] / -salt[1]}
    exact = analytic.grahame_potential(sigma, c, {"P": salt[0], "M": salt[1]}, 78.5, 298.15)
    true = abs(res.membrane_potential[-1] - exact)
    estimate = res.error_estimate["membrane_potential"][-1]
    # measured: the estimate is 3.0x the error at every such point (second order)
    assert true <= estimate <= 10 * true
    assert estimate <= case.mesh.tolerance  # adapted until within the tolerance


@pytest.mark.parametrize(
    ("cells", "comparison", "factor"),
    [(40, merge_pairs, 1.0), (41, merge_pairs, 1.0), (3, split_mesh, 2.0)],
)
def test_a_fixed_mesh_is_compared_with_its_cells_merged_in_pairs(cells, comparison, factor):
    """A fixed mesh's estimate is the change from the mesh with its cells merged in
    pairs (an odd last cell kept), or, with no region of four cells, twice the
    change from the mesh halved: rebuilt here from separate runs on those meshes."""
    case = _wall(-0.05, (1, -1), 10.0).with_overrides({"mesh.uniform_cells": cells})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    other = comparison(case, res.mesh())
    assert other.n_cells == ((cells + 1) // 2 if comparison is merge_pairs else 2 * cells)
    ref = pnp.run(case, mesh=other, adapt_mesh=False)
    final = {name: values[-1] for name, values in res.observables().items()}
    # each observable's scale in this case (its magnitude, never below that of its
    # kind): a difference below 1e-9 of it is the round-off of two solves
    scale = error_tolerances(build_model(case, res.mesh()), final, 1.0)
    compared = []
    for name, value in final.items():
        expected = factor * abs(value - ref.observables()[name][-1])
        got = res.error_estimate[name][-1]
        if max(expected, got) <= 1e-9 * scale[name]:
            continue
        # both states polished to round-off: the same difference to round-off
        assert got == pytest.approx(expected, rel=1e-8), name  # measured 1.4e-10
        compared.append(name)
    assert "membrane_potential" in compared  # the wall's potential: tens of mV off


def test_transient_estimate_bounds_the_error_at_every_output():
    case = pnp.load_case(CASES / "diffuse_charge.toml").with_overrides({"run.error_estimate": True})
    res = pnp.run(case)
    assert res.status == "completed", res.message
    plain = case.with_overrides(
        {"run.error_estimate": False, "run.outputs": [float(t) for t in res.t[1:]]}
    )
    tight = plain.with_overrides({"run.rtol": 1e-9})
    finest = pnp.run(tight, mesh=split_mesh(case, split_mesh(case, res.mesh())), adapt_mesh=False)
    same_mesh = pnp.run(tight, mesh=res.mesh(), adapt_mesh=False)
    name = "surface_charge_right"
    value = res.observables()[name]
    estimate = res.error_estimate[name]
    reference = finest.observables()[name]
    true = np.abs(value - reference)
    # the errors of space and time apart: the estimate is at most 10x their sum (where
    # they cancel, the total can be far smaller than either)
    space = np.abs(same_mesh.observables()[name] - reference)
    time = np.abs(value - same_mesh.observables()[name])
    # measured (comparison at 5x rtol, orders up to 5): estimate / true >= 1.10,
    # 1.1 .. 19 where the error is significant (more where space and time errors
    # cancel); estimate / (space + time) <= 7.9
    # at t = 0 and 10 ns the charge is still zero and every figure round-off (~1e-29
    # C/m^2, its sign and size set by the order of operations): there only that is
    # checked
    roundoff = 1e-12 * np.max(np.abs(value))
    zero = np.abs(value) <= roundoff
    assert zero.sum() == 2 and np.all(true[zero] <= roundoff)
    assert np.all(estimate[~zero] >= true[~zero])
    assert np.all(estimate <= 10 * (space + time) + 1e-20)
    assert np.all(np.isfinite(estimate))


@pytest.mark.parametrize("at_call", [1, 2, 3, 4, 5])
def test_an_interrupt_in_any_solve_of_the_cycle_ends_the_steady_run(at_call):
    """Ctrl-C (or a sweep's stop flag) in any solve of an adaptive cycle — the
    first, the halved mesh, the next mesh, the polish — ends the run as
    interrupted; no fallback solve may finish it as if nothing happened."""
    from pnp.discretisation.model import build_model
    from pnp.simulation.adaptive import solve_adaptive

    case = pnp.load_case(CASES / "debye_layer.toml")
    calls = []

    def stop_at(t, h, stats, x):
        calls.append(t)
        if len(calls) == at_call:
            raise KeyboardInterrupt

    out = solve_adaptive(case, build_model(case), callback=stop_at)
    assert out.outcome.message == "interrupted" and not out.outcome.success
