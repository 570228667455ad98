"""The compiled Newton update and state readers against the Python forms they
replace, bit for bit.

:func:`pnp.solvers.iteration.update` (substitution, finiteness check,
damping, x + lam delta, the closed compartments' amounts, the norm),
:func:`pnp.solvers.history.face_displacements` and
:func:`pnp.solvers.history.gather_concentrations` promise numpy's
floating-point operations in numpy's order. Each test writes the Python
form out (the code as it was before they were compiled) and compares with
``array_equal`` / ``==``, never a tolerance, on models of every boundary
kind (wall at a potential with the second-order wall gradient, charged
wall, reservoir, floating reservoir on either side) and on states far from
a solution, where the update is damped.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from helpers import CASES
from test_mirror import mirror

import pnp
from pnp.discretisation import kernel
from pnp.discretisation.model import build_model, initial_state
from pnp.solvers.compartments import closed_compartments, projector
from pnp.solvers.newton import (
    DPSI_MAX,
    System,
    apply_update,
    boundary_displacement,
    concentrations,
    displacements,
    make_weights,
)

# (case, mirrored): every boundary kind on both sides between them
MODELS = [
    ("donnan_approach", False),  # charged wall | reservoir; closed compartments
    ("diffuse_charge", False),  # walls at a potential, second-order gradient at both
    ("debye_layer", True),  # reservoir | wall at a potential (mirrored)
    ("ghk", False),  # floating reservoir on the left
    ("ghk", True),  # ... and on the right
    ("membrane_charging", False),  # reservoirs both sides
]


def _model(name: str, mirrored: bool):
    data = tomllib.loads((CASES / f"{name}.toml").read_text())
    data.pop("output", None)
    if mirrored:
        data["geometry"] = "cartesian"
        data = mirror(data)
    return build_model(pnp.Case.from_dict(data))


def _random_state(model, rng):
    """The initial state with potentials of a few V_T and concentrations
    moved by up to 30 %, the floating reservoirs' potentials too."""
    x = initial_state(model).copy()
    lay = model.layout
    x[lay.potential] = rng.uniform(-3, 3, model.n_cells)
    _, c = lay.split(x)
    c *= rng.uniform(0.7, 1.3, c.shape)
    x[lay.boundary] = rng.uniform(-3, 3, lay.boundary.size)
    return x


def _boundary_displacement_reference(model, x):
    """The Python form (before it was compiled)."""
    psi_b = model.boundary_psi(x)
    N = model.n_cells
    psi = x[model.layout.potential]
    nxt0, nxtn = (psi[1], psi[N - 2]) if N >= 2 else (psi[0], psi[0])
    out = np.empty(2)
    out[0] = (
        model.b_sigma[0]
        if model.b_type[0] == kernel.WALL_CHARGE
        else model.b_pois_cond[0] * (psi_b[0] - psi[0]) + model.b_pois_next[0] * (nxt0 - psi[0])
    )
    out[1] = (
        -model.b_sigma[1]
        if model.b_type[1] == kernel.WALL_CHARGE
        else model.b_pois_cond[1] * (psi[N - 1] - psi_b[1])
        - model.b_pois_next[1] * (nxtn - psi[N - 1])
    )
    return out


def _displacements_reference(model, x):
    psi = x[model.layout.potential]
    out = np.empty(model.n_cells + 1)
    out[1:-1] = model.pois_cond[1:-1] * (psi[:-1] - psi[1:])
    out[[0, -1]] = _boundary_displacement_reference(model, x)
    return out


def test_the_models_cover_every_boundary_kind_on_both_sides():
    seen = set()
    for name, mirrored in MODELS:
        m = _model(name, mirrored)
        for side in range(2):
            kind = int(m.b_type[side])
            seen.add((side, kind, bool(m.b_pois_next[side] != 0.0)))
    kinds = {(side, kind) for side, kind, _ in seen}
    for kind in (kernel.WALL_POTENTIAL, kernel.RESERVOIR, kernel.FLOATING):
        assert {(0, kind), (1, kind)} <= kinds
    assert (0, kernel.WALL_CHARGE) in kinds
    assert (0, kernel.WALL_POTENTIAL, True) in seen and (1, kernel.WALL_POTENTIAL, True) in seen


@pytest.mark.parametrize(("name", "mirrored"), MODELS)
def test_displacements_are_the_python_forms(name, mirrored):
    model = _model(name, mirrored)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = _random_state(model, rng)
        assert np.array_equal(displacements(model, x), _displacements_reference(model, x))
        assert np.array_equal(
            boundary_displacement(model, x), _boundary_displacement_reference(model, x)
        )


@pytest.mark.parametrize(("name", "mirrored"), MODELS[:4])
def test_concentrations_are_the_layouts_copy(name, mirrored):
    model = _model(name, mirrored)
    x = _random_state(model, np.random.default_rng(2))
    got = concentrations(model, x)
    _, want = model.layout.split(x)
    assert got.flags.f_contiguous and got.shape == want.shape
    assert np.array_equal(got, want)
    got[...] = -1.0  # a copy: the state is untouched
    assert np.array_equal(model.layout.split(x)[1], want)


def _factored_system(model, x, alpha):
    """A transient system at ``x``, assembled and factored at ``alpha``."""
    system = System(model, continuity=True, keep=True)
    S, N = model.n_species, model.n_cells
    alpha_c = np.full((S, N), alpha, order="F")
    beta_c = np.asfortranarray(alpha * concentrations(model, x))
    beta_d = alpha * displacements(model, x)
    system.assemble(x, alpha_c, alpha, beta_c, beta_d, jacobian=True)
    assert system.factor() == ""
    return system, (alpha_c, alpha, beta_c, beta_d)


def _both_ways(model, x, residual, project, weights):
    """(lam, norm, x after) by the Python path and by the compiled update,
    from the same factorization and residual."""
    system, _ = _factored_system(model, x, 1e3)
    out = []
    for compiled in (False, True):
        xx = x.copy()
        system.res[:] = residual
        if compiled:
            lam, norm, why = system.update(xx, weights, project)
            assert why == ""
        else:
            delta, why = system.substitute()
            assert why == ""
            lam, norm = apply_update(system, xx, delta, weights, project)
        out.append((lam, norm, xx))
    return out


@pytest.mark.parametrize(("name", "mirrored"), MODELS)
def test_the_compiled_update_is_substitute_then_apply_update(name, mirrored):
    """Small residuals (undamped) and large ones (damped to DPSI_MAX), with
    the case's closed compartments projected and without."""
    model = _model(name, mirrored)
    rng = np.random.default_rng(3)
    x = _random_state(model, rng)
    comps = closed_compartments(model, x)
    project = projector(model, comps)
    system = System(model, continuity=True, keep=True)
    weights = make_weights(system, 1e-8, 1e-11, 1e-8)
    damped = 0
    for size in (1e-12, 1e-3, 1e3, 1e9):
        residual = rng.standard_normal(model.n_unknowns) * size
        for proj in (project, None):
            (lam0, norm0, x0), (lam1, norm1, x1) = _both_ways(model, x, residual, proj, weights)
            assert lam1 == lam0 and norm1 == norm0
            assert np.array_equal(x1, x0)
            damped += lam0 < 1.0
    assert damped > 0  # the damped branch ran


def test_the_projection_runs_in_the_compiled_update():
    """donnan_approach has closed compartments of more than one cell: the
    compiled update restores their amounts (sum V c) as the Python one."""
    model = _model("donnan_approach", False)
    x = _random_state(model, np.random.default_rng(4))
    project = projector(model, closed_compartments(model, x))
    assert project is not None and project.amount.size > 0
    system = System(model, continuity=True, keep=True)
    weights = make_weights(system, 1e-8, 1e-11, 1e-8)
    residual = np.random.default_rng(5).standard_normal(model.n_unknowns)
    (_, _, x0), (_, _, x1) = _both_ways(model, x, residual, project, weights)
    for k in range(project.amount.size):
        index = project.index[project.start[k] : project.start[k + 1]]
        volume = project.volume[project.start[k] : project.start[k + 1]]
        assert float(np.dot(volume, x1[index])) == pytest.approx(project.amount[k], rel=1e-14)
    # and from the compartments themselves (not the projection's own arrays)
    comps = closed_compartments(model, x)
    checked = 0
    for k in range(len(comps)):
        comp = comps[k]
        if comp.amount > 0 and comp.cells.size > 1:
            conc = x1[model.layout.conc_at(comp.cells, comp.species)]
            got = float(np.dot(model.volume[comp.cells], conc))
            assert got == pytest.approx(comp.amount, rel=1e-14)
            checked += 1
    assert checked == project.amount.size
    # and without the projection the amounts move: the test can tell
    (_, _, x2), _ = _both_ways(model, x, residual, None, weights)
    assert not np.array_equal(x2, x0)


def test_a_non_finite_update_leaves_the_state_and_says_why():
    model = _model("donnan_approach", False)
    x = _random_state(model, np.random.default_rng(6))
    system, _ = _factored_system(model, x, 1e3)
    weights = make_weights(system, 1e-8, 1e-11, 1e-8)
    iterations = system.stats.newton_iterations
    for bad in (np.nan, np.inf):
        system.res[:] = 1.0
        system.res[7] = bad
        xx = x.copy()
        lam, norm, why = system.update(xx, weights, None)
        assert why == "non-finite Newton update" and norm == np.inf and np.isnan(lam)
        assert np.array_equal(xx, x)
    assert system.stats.newton_iterations == iterations  # not counted


def test_the_damping_limits_the_largest_potential_step_to_dpsi_max():
    """Independent of the Python form: after a damped update the largest
    potential change is DPSI_MAX V_T (to round-off), and lam says by how much."""
    model = _model("diffuse_charge", False)
    x = _random_state(model, np.random.default_rng(7))
    system, _ = _factored_system(model, x, 1e3)
    weights = make_weights(system, 1e-8, 1e-11, 1e-8)
    system.res[:] = np.random.default_rng(8).standard_normal(model.n_unknowns) * 1e6
    xx = x.copy()
    lam, norm, why = system.update(xx, weights, None)
    assert why == "" and 0.0 < lam < 1.0 and norm > 1.0
    step = np.abs(xx[model.layout.potential] - x[model.layout.potential]).max()
    assert step == pytest.approx(DPSI_MAX, rel=1e-12)
    assert system.stats.newton_iterations == 1


def test_displacement_at_one_face_is_the_displacements_there():
    from pnp.solvers.newton import displacement_at

    for name, mirrored in MODELS:
        model = _model(name, mirrored)
        x = _random_state(model, np.random.default_rng(9))
        every = displacements(model, x)
        for face in (0, 1, 2, model.n_cells // 2, model.n_cells - 1, model.n_cells):
            assert displacement_at(model, x, face) == every[face], (name, face)


def _assembled(model, x, keep):
    system = System(model, continuity=True, keep=keep)
    S, N = model.n_species, model.n_cells
    alpha_c = np.full((S, N), 1e3, order="F")
    beta_c = np.asfortranarray(1e3 * concentrations(model, x))
    system.assemble(x, alpha_c, 1e3, beta_c, 1e3 * displacements(model, x))
    return system


def test_solve_is_the_same_with_the_factorization_kept_apart():
    """System.solve: one compiled solve of the band, or (keep) factor then
    substitute with the factors kept apart: the same update bit for bit,
    one factorization counted either way."""
    model = _model("donnan_approach", False)
    x = _random_state(model, np.random.default_rng(10))
    updates = []
    for keep in (False, True):
        system = _assembled(model, x, keep)
        delta, why = system.solve()
        assert why == "" and system.stats.factorizations == 1
        updates.append(delta.copy())
    assert np.array_equal(updates[0], updates[1])


@pytest.mark.parametrize("keep", [False, True])
def test_a_singular_jacobian_names_its_first_zero_pivot(keep):
    """A Jacobian with unknown 11's column zeroed: solve (and factor) say so,
    naming that unknown (0-based)."""
    model = _model("donnan_approach", False)
    x = _random_state(model, np.random.default_rng(11))
    system = _assembled(model, x, keep)
    system.ab[:, 11] = 0.0
    delta, why = system.solve()
    assert delta is None and why == "singular Jacobian (zero pivot at unknown 11)"


def test_substitute_reports_a_non_finite_update():
    model = _model("donnan_approach", False)
    x = _random_state(model, np.random.default_rng(12))
    system = _assembled(model, x, True)
    assert system.factor() == ""
    system.res[5] = np.nan
    delta, why = system.substitute()
    assert delta is None and why == "non-finite Newton update"


@pytest.mark.parametrize("name", ["action_potential", "pump_leak_volume"])
def test_a_system_with_border_unknowns_updates_in_python(name):
    """Gates or a volume (border unknowns): System.update is substitute +
    apply_update (the bordered solve), the same bits, counted once."""
    from pnp.solvers.newton import substitute_and_apply

    model = _model(name, False)
    assert model.channels is not None or model.swelling is not None
    x = model.x0.copy()
    project = projector(model, closed_compartments(model, x))
    results = []
    for way in ("update", "python"):
        system = System(model, continuity=True, keep=True)
        S, N = model.n_species, model.n_cells
        alpha_c = np.full((S, N), 1e3, order="F")
        beta_c = np.asfortranarray(1e3 * concentrations(model, x))
        system.assemble(x, alpha_c, 1e3, beta_c, 1e3 * displacements(model, x))
        assert system.factor() == ""
        xx = x.copy()
        if way == "update":
            lam, norm, why = system.update(xx, make_weights(system, 1e-8, 1e-11, 1e-8), project)
        else:
            lam, norm, why = substitute_and_apply(
                system, xx, make_weights(system, 1e-8, 1e-11, 1e-8), project
            )
        assert why == "" and system.stats.newton_iterations == 1
        results.append((lam, norm, xx))
    assert results[0][:2] == results[1][:2] and np.array_equal(results[0][2], results[1][2])


def test_a_kept_factorization_survives_a_later_jacobian_assembly():
    """keep: the factors live apart from the assembly target, so a Jacobian
    assembled after them (a step whose residual then proves non-finite,
    before its factorization) leaves the kept factorization usable."""
    model = _model("donnan_approach", False)
    rng = np.random.default_rng(13)
    x = _random_state(model, rng)
    system = _assembled(model, x, True)
    assert system.factor() == ""
    residual = system.res.copy()
    first, _ = system.substitute()
    first = first.copy()
    S, N = model.n_species, model.n_cells
    x2 = _random_state(model, rng)
    system.assemble(
        x2,
        np.full((S, N), 1e3, order="F"),
        1e3,
        np.asfortranarray(1e3 * concentrations(model, x2)),
        1e3 * displacements(model, x2),
        jacobian=True,
    )
    system.res[:] = residual
    again, why = system.substitute()
    assert why == "" and np.array_equal(again, first)


def test_displacement_at_the_faces_of_a_one_cell_model():
    """One cell: face 1 is the right boundary, not the left (two held walls
    at 0 and a cell at 0.7 V_T: the two displacements have opposite signs)."""
    from helpers import neutral_diffusion_case

    from pnp.solvers.newton import displacement_at

    model = build_model(neutral_diffusion_case(1, 1e-6, 1e-9))
    x = model.x0.copy()
    x[model.layout.potential] = 0.7
    every = displacements(model, x)
    assert every[0] == -every[1] != 0.0
    assert [displacement_at(model, x, f) for f in (0, 1)] == every.tolist()


def test_an_update_that_moves_no_potential_is_taken_whole():
    """A neutral species: the Newton update has no potential part at all
    (dpsi = 0), and the whole update is taken (lam = 1), as in Python."""
    from helpers import neutral_diffusion_case

    model = build_model(neutral_diffusion_case(12, 1e-6, 1e-9))
    x = model.x0.copy()
    x[model.layout.species(0)] *= np.linspace(0.8, 1.2, model.n_cells)
    system = _assembled(model, x, True)
    assert system.factor() == ""
    residual = system.res.copy()
    weights = make_weights(system, 1e-8, 1e-11, 1e-8)
    delta, _ = system.substitute()
    assert np.all(delta[model.layout.potential] == 0.0) and np.any(delta != 0.0)
    want = x + delta
    system.res[:] = residual
    xx = x.copy()
    lam, norm, why = system.update(xx, weights, None)
    assert why == "" and lam == 1.0 and norm > 0.0
    assert np.array_equal(xx, want)


def test_an_emptied_compartment_is_left_empty_not_scaled_by_infinity():
    """A closed compartment whose concentrations an iterate set to zero:
    nothing to scale (0 < amount / 0), left as it is, as in Python."""
    model = _model("donnan_approach", False)
    x = _random_state(model, np.random.default_rng(14))
    project = projector(model, closed_compartments(model, x))
    index = project.index[project.start[0] : project.start[1]]
    x[index] = 0.0
    system = _assembled(model, x, True)
    assert system.factor() == ""
    system.res[:] = 0.0  # no update: the projection alone acts
    weights = make_weights(system, 1e-8, 1e-11, 1e-8)
    xx = x.copy()
    _, _, why = system.update(xx, weights, project)
    assert why == "" and np.all(np.isfinite(xx))
    assert np.all(xx[index] == 0.0)
