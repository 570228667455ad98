"""Water and cell volume (issue 14): the volume unknown against closed forms.

Each case is written here from the README's keys; the references are derived
in the tests (an ODE integrated by scipy, not by pnp's stepper) or come from
:mod:`pnp.analytic.volume`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import osmotic_ode
from scipy.integrate import solve_ivp

import pnp
from pnp.analytic.volume import stiff_donnan
from pnp.constants import GAS_CONSTANT
from pnp.errors import CaseError

T = 310.15
RT = GAS_CONSTANT * T
LP = 1e-12  # m/(s Pa): a membrane with aquaporins
CELL = 5e-6  # m


def _cell(geometry="cartesian", bath=75.0, inside="left", **extra) -> dict:
    """A cell impermeant to every solute (KCl 150 mM inside), in a KCl bath."""
    regions = [
        {"name": "cytoplasm", "length": CELL, "eps_r": 80, "concentration": {"K": 150, "Cl": 150}},
        {
            "name": "membrane",
            "membrane": True,
            "length": 5e-9,
            "eps_r": 2,
            "water_permeability": LP,
            **extra,
        },
        {"name": "bath", "length": 5e-6, "eps_r": 80, "concentration": {"K": bath, "Cl": bath}},
    ]
    walls = {"type": "wall"}, {"type": "reservoir", "potential": 0.0}
    if inside == "right":
        regions = regions[::-1]
        walls = walls[::-1]
    return {
        "temperature": T,
        "geometry": geometry,
        "inside": inside,
        "species": {"K": {"z": 1, "D": 1.96e-9}, "Cl": {"z": -1, "D": 2.03e-9}},
        "region": regions,
        "boundary": {"left": walls[0], "right": walls[1]},
    }


def _volume0(geometry: str) -> float:
    """The cell as written: per m^2 (cartesian), per m of length, whole sphere."""
    return {
        "cartesian": CELL,
        "cylindrical": math.pi * CELL**2,
        "spherical": 4.0 / 3.0 * math.pi * CELL**3,
    }[geometry]


@pytest.fixture(scope="module")
def bvh_transient():
    """Bath at 75 mM KCl: the cell takes water until it has doubled (Boyle-van 't Hoff)."""
    data = _cell()
    data["run"] = {"mode": "transient", "t_end": 100.0, "outputs": [1.0, 5.0, 20.0, 50.0, 100.0]}
    return pnp.run(pnp.Case.from_dict(data))


def test_boyle_van_t_hoff_volume_follows_the_osmotic_ode(bvh_transient):
    """dV/dt = A L_p RT (n/V - c_out), n = 300 mM V0, per m^2 of a flat membrane,
    integrated by scipy's Radau to 1e-12. Measured: 1.0e-5 relative at the
    default rtol 1e-6 (the per-step error control's global error; 4.9e-7 at
    rtol 1e-8)."""
    r = bvh_transient
    assert r.status == "completed", r.message
    v0 = _volume0("cartesian")
    reference = osmotic_ode(LP * RT, 300.0 * v0, 150.0, v0, (0.0, 100.0))(r.t)[0]
    volume = r.extra_observables["volume"]
    assert volume[0] == pytest.approx(v0, rel=1e-14)
    assert np.max(np.abs(volume / reference - 1.0)) < 1e-4
    assert volume[-1] / v0 > 1.98  # nearly doubled


def test_every_inside_amount_is_kept_while_the_volume_doubles(bvh_transient):
    """No solute crosses: each species' amount inside, sum c V_cell over the
    moving cells, stays what it was (round-off: measured 3.3e-16 relative)."""
    r = bvh_transient
    inside = r.region == r.region_names.index("cytoplasm")
    widths = np.diff(r.face_positions, axis=1)[:, inside]  # each output's own cells
    amounts = np.einsum("tsn,tn->ts", r.concentration[:, :, inside], widths)
    assert np.max(np.abs(amounts / amounts[0] - 1.0)) < 1e-12
    assert np.allclose(amounts[0], 150.0 * CELL, rtol=1e-12)
    # the faces are those of the volume: the inside compartment ends where V says
    end = r.face_positions[:, np.flatnonzero(inside)[-1] + 1]
    assert np.allclose(end, r.extra_observables["volume"], rtol=1e-12)
    np.testing.assert_array_equal(r.faces, r.face_positions[0])


def test_the_faces_of_every_output_survive_the_result_file(bvh_transient, tmp_path):
    """/face_positions (T, N+1): written by Result.save and read back bit for bit;
    a file written as the run goes (`pnp run`) has it too, and plots read it."""
    path = tmp_path / "saved.h5"
    bvh_transient.save(path)
    loaded = pnp.load_result(path)
    np.testing.assert_array_equal(loaded.face_positions, bvh_transient.face_positions)
    np.testing.assert_array_equal(loaded.faces, bvh_transient.faces)
    data = _cell()
    data["run"] = {"mode": "transient", "t_end": 10.0, "outputs": [1.0, 10.0]}
    data["output"] = {"path": str(tmp_path / "live.h5"), "plot": False}
    run = pnp.run(pnp.Case.from_dict(data), output=str(tmp_path / "live.h5"))
    live = pnp.load_result(tmp_path / "live.h5")
    np.testing.assert_array_equal(live.face_positions, run.face_positions)
    assert live.face_positions[-1, -1] > live.face_positions[0, -1]  # the bath moved out
    assert live.mesh_at(-1).faces[-1] == live.face_positions[-1, -1]


def test_the_water_flux_is_the_rate_of_volume_change(bvh_transient):
    """J_w at t = 0: L_p (0 - RT (300 - 150 mM)), inward, and the volume the
    flux moves: V(t) - V0 = -A integral J_w dt (trapezoid over dense outputs
    is too coarse; the ODE test covers the integral)."""
    r = bvh_transient
    jw = r.extra_observables["water_flux"]
    assert jw[0] == pytest.approx(-LP * RT * 150.0, rel=1e-12)
    osm_in = r.extra_observables["osmolarity_inside"]
    v = r.extra_observables["volume"]
    # amounts fixed: the inside osmolarity is 300 mM V0 / V at every output
    assert np.allclose(osm_in * v, 300.0 * v[0], rtol=1e-12)
    assert np.all(r.extra_observables["pressure"] == 0.0)


@pytest.mark.parametrize("geometry", ["cartesian", "cylindrical", "spherical"])
def test_steady_volume_is_boyle_van_t_hoff(geometry):
    """Steady: V = V0 Pi_in,0 / Pi_out = 2 V0 for a cell of 300 mOsm in 150 mOsm."""
    r = pnp.run(pnp.Case.from_dict({**_cell(geometry), "run": {"mode": "steady"}}))
    assert r.status == "completed", r.message
    assert r.extra_observables["volume"][-1] == pytest.approx(2.0 * _volume0(geometry), rel=1e-9)
    assert abs(r.extra_observables["water_flux"][-1]) < 1e-9 * LP * RT * 150.0


def test_a_mirrored_cell_swells_the_same():
    """inside = "right": the same cell drawn right to left gives the same volume."""
    r = pnp.run(pnp.Case.from_dict({**_cell(inside="right"), "run": {"mode": "steady"}}))
    assert r.extra_observables["volume"][-1] == pytest.approx(2.0 * CELL, rel=1e-9)


def _donnan(stiffness: float) -> dict:
    data = _cell(bath=150.0, stiffness=stiffness)
    data["species"]["X"] = {"z": -1, "D": 1e-10}
    data["region"][0]["concentration"] = {"K": 150, "Cl": 8, "X": 142}
    data["region"][1]["permeability"] = {"K": 5e-9, "Cl": 5e-9}
    data["run"] = {"mode": "steady"}
    return data


def test_donnan_swelling_held_by_a_stiffness_matches_the_closed_form():
    """Donnan equilibrium with K (V/V0 - 1) balancing the osmotic excess
    (analytic.stiff_donnan, which neglects the diffuse layers: measured
    volume 2.6e-8 relative, V_m 8.5e-10 V; V = 1.32 V0 with K = 1 MPa)."""
    k = 1e6
    r = pnp.run(pnp.Case.from_dict(_donnan(k)))
    assert r.status == "completed", r.message
    volume, vm = stiff_donnan(150.0, 142.0 * CELL, CELL, k, T)
    assert r.extra_observables["volume"][-1] == pytest.approx(volume, rel=3e-7)
    assert r.membrane_potential[-1] == pytest.approx(vm, abs=1e-8)
    assert r.extra_observables["pressure"][-1] == pytest.approx(k * (volume / CELL - 1), rel=1e-6)


def test_donnan_swelling_without_stiffness_has_no_steady_state():
    """Impermeant X- inside, no pump, no stiffness: the cell swells without bound."""
    r = pnp.run(pnp.Case.from_dict(_donnan(0.0)))
    assert r.status == "failed"
    assert "swells without bound" in r.message


def _mirror(data: dict) -> dict:
    """The same cell drawn right to left (inside = "right")."""
    ends = data["boundary"]
    return {
        **data,
        "inside": "right",
        "region": data["region"][::-1],
        "boundary": {"left": ends["right"], "right": ends["left"]},
    }


@pytest.mark.parametrize("mirrored", [False, True])
def test_no_steady_volume_is_read_from_the_first_membrane_from_the_inside(mirrored):
    """swelling.unbounded on the Donnan cell and its mirror image: X- trapped
    inside with no pump and no stiffness has no steady volume; a stiffness,
    or X- in the bath beside the membrane too, leaves it one."""
    from pnp.discretisation.swelling import unbounded

    def why(data: dict) -> str:
        return unbounded(pnp.Case.from_dict(_mirror(data) if mirrored else data))

    assert "'membrane' lets water through" in why(_donnan(0.0))
    assert "swells without bound" in why(_donnan(0.0))
    assert why(_donnan(1e6)) == ""
    both = _donnan(0.0)
    both["region"][2]["concentration"] = {"K": 151, "Cl": 150, "X": 1}
    assert why(both) == ""


@pytest.mark.parametrize(
    ("geometry", "inside"),  # a radial cell has its centre, a wall, on the left
    [("cartesian", "left"), ("cartesian", "right"), ("cylindrical", "left"), ("spherical", "left")],
)
def test_the_compartment_as_written_is_the_model_s_at_scale_one(geometry, inside):
    """swelling.written_compartment: V0 and the area of the compartment's face
    on the membrane, the same floats as the hand computation `pnp check`'s
    water time scale made before it (ends by cumsum; A 1, r, r^2); V0 / A is
    L, r/2, r/3 from the centre. The model at scale 1 has that V0 (to
    round-off: its cells added up), and its A, at the membrane's mid face,
    half a membrane (2.5 nm) further out."""
    from pnp.discretisation.model import build_model
    from pnp.discretisation.swelling import (
        case_volume,
        inside_membrane,
        inside_volume,
        membrane_area,
        written_compartment,
    )
    from pnp.presentation.report import time_scales

    case = pnp.Case.from_dict(_cell(geometry, inside=inside))
    first = inside_membrane(case)
    v0, area = written_compartment(case)
    ends = np.cumsum([0.0] + [r.length for r in case.regions])
    face = ends[first] if inside == "left" else ends[first + 1]
    assert area == {"cartesian": 1.0, "cylindrical": face, "spherical": face**2}[geometry]
    assert v0 == case_volume(case, first)
    if inside == "left":
        shape = {"cartesian": 1.0, "cylindrical": 2.0, "spherical": 3.0}[geometry]
        assert v0 / area == pytest.approx(CELL / shape, rel=1e-15)
    model = build_model(case)
    assert inside_volume(model) == pytest.approx(v0, rel=1e-13)
    mid = face + (2.5e-9 if inside == "left" else -2.5e-9)
    mid_area = {"cartesian": 1.0, "cylindrical": mid, "spherical": mid**2}[geometry]
    assert membrane_area(model) == pytest.approx(mid_area, rel=1e-13)
    tau = dict(time_scales(case, model.mesh))["water exchange through membrane (V/(A L_p RT c))"]
    assert tau == v0 / (area * LP * (RT * 150.0))  # bit for bit, as the report multiplies


@pytest.mark.parametrize(("geometry", "inside"), [("cartesian", "right"), ("spherical", "left")])
def test_the_volume_row_is_the_derivative_of_the_volume_residual(geometry, inside):
    """The bordered system's last row (swelling.volume_row, written through the
    layout's view of the row) against the volume residual, which is linear in
    the concentrations: a unit change of one concentration moves the residual
    by that entry of the row, to round-off (measured 4.9e-16 of the residual
    at worst; 5e-15 allowed), not at all where the row is 0 (potentials,
    membrane cells, the scale). The residual itself (compiled,
    pnp.discretisation.moving) against the formula written here in numpy:
    the osmolarities agree to round-off of sums over the cells (1e-14
    allowed), the flux to that round-off times RT c L_p."""
    from pnp.discretisation.model import build_model
    from pnp.discretisation.swelling import (
        membrane_area,
        osmolarities,
        pressure,
        set_scale,
        volume_residual,
        volume_row,
    )

    # a stiff membrane: the pressure K (V/V0 - 1) is part of the flux
    model = build_model(pnp.Case.from_dict(_cell(geometry, inside=inside, stiffness="1 MPa")))
    lay = model.layout
    x = model.x0.copy()
    _, c = lay.split(x)
    c[...] *= np.random.default_rng(7).uniform(0.5, 1.5, c.shape)
    set_scale(model, 1.3)
    sw = model.swelling
    osm = []
    for cells, phi in ((sw.inside, sw.phi_inside), (sw.bath, sw.phi_bath)):
        vol = model.volume[cells]
        osm.append(np.dot(phi * vol, c[:, cells].sum(axis=0)) / vol.sum())
    np.testing.assert_allclose(osmolarities(model, x), osm, rtol=1e-14, atol=0)
    p = sw.stiffness * (model.volume[sw.inside].sum() / sw.reference_volume - 1.0)
    assert p == pytest.approx(pressure(model), rel=1e-13) and abs(p) > 0.1 * sw.stiffness
    flux = sw.water_permeability * (p - sw.rt * (osm[0] - osm[1]))
    g = volume_residual(model, x, 0.0, 0.0)
    tol = 1e-14 * sw.water_permeability * (sw.rt * max(osm) + abs(p)) * membrane_area(model)
    assert abs(g - membrane_area(model) * flux) <= tol
    row = np.full(model.n_unknowns, np.nan)
    volume_row(model, row)
    sw, n = model.swelling, model.n_cells
    cells = [sw.inside.start, sw.inside.stop - 1, sw.bath.start, sw.bath.stop - 1, n // 2]
    worst = 0.0
    for k in cells:
        for j in (lay.conc_at(k, 0), lay.conc_at(k, 1), lay.potential_at(k)):
            moved = x.copy()
            moved[j] += 1.0
            change = volume_residual(model, moved, 0.0, 0.0) - g
            worst = max(worst, abs(change - row[j]) / abs(g))
            assert (change == 0.0) == (row[j] == 0.0)
    assert worst < 5e-15
    inside_or_bath = np.zeros(n, dtype=bool)
    inside_or_bath[sw.inside] = inside_or_bath[sw.bath] = True
    _, c_row = lay.split(row)
    assert np.all(c_row[:, inside_or_bath] != 0.0) and np.all(c_row[:, ~inside_or_bath] == 0.0)
    assert np.all(row[lay.potential] == 0.0) and row[-1] == 0.0


def test_water_keys_are_refused_where_no_water_can_cross():
    data = _cell()
    data["region"][0]["water_permeability"] = LP
    with pytest.raises(CaseError, match=r"region\.cytoplasm\.water_permeability.*only membranes"):
        pnp.Case.from_dict(data)
    data = _cell()
    data["region"].insert(2, {**data["region"][1], "name": "second", "water_permeability": 0.0})
    data["region"][2]["stiffness"] = 1e3
    data["region"].insert(
        2, {"name": "gap", "length": 1e-6, "eps_r": 80, "concentration": {"K": 75, "Cl": 75}}
    )
    with pytest.raises(CaseError, match=r"region\.second\.stiffness.*first membrane"):
        pnp.Case.from_dict(data)


def test_profiles_are_drawn_where_each_output_s_cells_are(bvh_transient):
    """The profile figure places each time's curves at that output's cell centres."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from pnp.presentation.plot import profiles

    r = bvh_transient
    fig, axes = plt.subplots(2)
    profiles(r, times=[0.0, 100.0], ax=axes)
    lines = axes[1].get_lines()  # concentrations: species per time, earliest first
    first, last = lines[0].get_xdata(), lines[-1].get_xdata()
    plt.close(fig)
    for xdata, index in ((first, 0), (last, -1)):
        faces = r.face_positions[index]
        centres = 0.5 * (faces[1:] + faces[:-1])
        scale = xdata[-1] / centres[-1]  # the axis unit (um)
        np.testing.assert_allclose(xdata, centres * scale, rtol=1e-12)
    assert last[-1] > first[-1] * 1.4  # the bath moved out by the 5 um the cell grew


def test_the_volume_change_is_the_integral_of_the_water_flux():
    """V(t) - V0 = -A integral J_w dt (A = 1 per m^2, cartesian), the integral by
    Simpson's rule over 400 outputs: measured 1.2e-5 of the volume change (the
    time-step error of both series at rtol 1e-6)."""
    from scipy.integrate import cumulative_simpson

    data = _cell()
    outputs = [float(t) for t in np.linspace(0.05, 20.0, 400)]
    data["run"] = {"mode": "transient", "t_end": 20.0, "outputs": outputs}
    r = pnp.run(pnp.Case.from_dict(data))
    volume, jw = r.extra_observables["volume"], r.extra_observables["water_flux"]
    moved = -cumulative_simpson(jw, x=r.t, initial=0.0)
    assert np.max(np.abs((volume - volume[0]) - moved)) < 1e-4 * (volume[-1] - volume[0])


def test_a_swelling_run_restarts_from_its_file_at_the_volume_it_reached(tmp_path):
    """`pnp run --restart`: the last output's volume comes back from its faces;
    20 s run in two halves ends within 1e-6 of one run (measured 1.0e-7: the
    restart begins a new BDF history)."""
    from pnp.simulation.runner import restart_state

    data = _cell()
    data["run"] = {"mode": "transient", "t_end": 20.0, "outputs": [10.0, 20.0]}
    case = pnp.Case.from_dict(data)
    whole = pnp.run(case)
    first = dict(data, run={"mode": "transient", "t_end": 10.0, "outputs": [10.0]})
    pnp.run(pnp.Case.from_dict(first), output=str(tmp_path / "half.h5"))
    start = restart_state(case, tmp_path / "half.h5")
    assert start.x[-1] == pytest.approx(whole.extra_observables["volume"][1] / CELL, rel=1e-12)
    second = pnp.run(case, mesh=start.mesh, x0=start.x, t_start=start.t)
    assert second.extra_observables["volume"][0] == pytest.approx(
        whole.extra_observables["volume"][1], rel=1e-12
    )
    assert second.extra_observables["volume"][-1] == pytest.approx(
        whole.extra_observables["volume"][-1], rel=1e-6
    )


def test_a_steady_result_s_mesh_gives_the_same_steady_volume():
    """`pnp.run(case, mesh=result.mesh())`: a steady result's mesh is at its
    steady volume; the model moves it back to the case's geometry, so the
    contents (and the answer) are the case's, not a swollen copy of them."""
    case = pnp.Case.from_dict(_donnan(1e6))
    adaptive = pnp.run(case)
    again = pnp.run(case, mesh=adaptive.mesh(), adapt_mesh=False)
    assert adaptive.faces[-1] > 1.3 * CELL  # the answer's mesh is swollen
    assert again.extra_observables["volume"][-1] == pytest.approx(
        adaptive.extra_observables["volume"][-1], rel=1e-9
    )


def test_fixed_charge_inside_is_diluted_by_the_water():
    """The Donnan cell with its 142 mM of impermeant anions as fixed charge (not
    a solute) held by a stiffness: K (V/V0 - 1) = RT (sqrt(4 c^2 + x^2) - 2 c)
    with x = 142 mM V0 / V (the amount of fixed charge kept), and V_m =
    -(RT/F) asinh(x / 2c). Were the fixed charge a density that the water
    does not dilute, x would stay 142 mM and V would be 1.0824 V0 instead."""
    from scipy.optimize import brentq

    from pnp.constants import FARADAY

    k = 1e6
    data = _donnan(k)
    del data["species"]["X"]
    data["region"][0]["concentration"] = {"K": 150, "Cl": 8}
    data["region"][0]["fixed_charge"] = -142.0
    r = pnp.run(pnp.Case.from_dict(data))
    assert r.status == "completed", r.message

    def balance(v):
        x = 142.0 * CELL / v
        return k * (v / CELL - 1.0) - RT * (math.sqrt(4 * 150.0**2 + x * x) - 300.0)

    volume = brentq(balance, CELL, 3 * CELL, xtol=1e-30, rtol=1e-15)
    vm = -RT / FARADAY * math.asinh(142.0 * CELL / volume / 300.0)
    assert volume / CELL == pytest.approx(1.07205, abs=1e-5)
    assert r.extra_observables["volume"][-1] == pytest.approx(volume, rel=3e-7)
    assert r.membrane_potential[-1] == pytest.approx(vm, abs=1e-8)


def test_protocols_open_and_close_the_water_path():
    """water_permeability is protocol-changeable: closed at 5 s the volume holds
    (to round-off) and J_w reads 0; a cell that starts without water flux and
    gets it at 5 s swells only from then on."""
    data = _cell()
    data["run"] = {"mode": "transient", "t_end": 20.0, "outputs": [2.0, 5.0, 10.0, 20.0]}
    data["protocol"] = [{"at": 5.0, "set": {"region.membrane.water_permeability": 0.0}}]
    r = pnp.run(pnp.Case.from_dict(data))
    assert r.status == "completed", r.message
    v, jw, t = r.extra_observables["volume"], r.extra_observables["water_flux"], r.t
    assert v[t == 5.0][0] > 1.2 * CELL
    assert np.allclose(v[t >= 5.0], v[t == 5.0][0], rtol=1e-12, atol=0)
    assert np.all(jw[t > 5.0] == 0.0)
    data = _cell()
    data["region"][1]["water_permeability"] = 0.0
    data["run"] = {"mode": "transient", "t_end": 20.0, "outputs": [2.0, 5.0, 10.0, 20.0]}
    data["protocol"] = [{"at": 5.0, "set": {"region.membrane.water_permeability": LP}}]
    r = pnp.run(pnp.Case.from_dict(data))
    v, t = r.extra_observables["volume"], r.t
    assert np.allclose(v[t <= 5.0], CELL, rtol=1e-13, atol=0)
    assert v[-1] > 1.5 * CELL


def test_the_trace_figure_shows_the_volume(bvh_transient):
    """A swelling result's traces get a last panel: the volume over its first value."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from pnp.presentation.plot import traces

    fig = traces(bvh_transient)
    axes = [ax for ax in fig.axes if ax.get_ylabel()]
    assert axes[-1].get_ylabel() == "volume / first"
    drawn = axes[-1].get_lines()[0].get_ydata()
    volume = bvh_transient.extra_observables["volume"]
    keep = bvh_transient.t > 0 if axes[-1].get_xscale() == "log" else np.isfinite(bvh_transient.t)
    np.testing.assert_allclose(drawn, volume[keep] / volume[keep][0], rtol=1e-14)
    plt.close(fig)


def test_a_swelling_cylinder_follows_the_osmotic_ode_with_its_growing_area():
    """Per m of a cylinder: dV/dt = 2 pi r_m L_p RT (n/V - c_out), r_m the
    membrane's mid radius sqrt(V/pi) + 2.5 nm, by scipy's Radau; measured
    4.0e-5 relative at the default rtol 1e-6."""
    data = _cell("cylindrical")
    data["run"] = {"mode": "transient", "t_end": 30.0, "outputs": [1.0, 5.0, 10.0, 30.0]}
    r = pnp.run(pnp.Case.from_dict(data))
    v0 = _volume0("cylindrical")

    def rate(t, v):
        radius = math.sqrt(v[0] / math.pi) + 2.5e-9
        return [2.0 * math.pi * radius * LP * RT * (300.0 * v0 / v[0] - 150.0)]

    ode = solve_ivp(
        rate, (0.0, 30.0), [v0], method="Radau", rtol=1e-12, atol=1e-30, dense_output=True
    )
    volume = r.extra_observables["volume"]
    assert np.max(np.abs(volume / ode.sol(r.t)[0] - 1.0)) < 4e-4
    assert volume[-1] / v0 > 1.95


def test_absurd_plain_water_numbers_are_warned_about():
    """A plain L_p 100 times that of a membrane full of aquaporins, or a stiffness
    beyond 10 MPa, is most likely a unit slip: a one-line warning naming the key;
    the same value with its unit is taken as meant."""
    from pnp.input import CaseWarning

    for key, value in (("water_permeability", 3e-9), ("stiffness", 5e7)):
        data = _cell()
        data["region"][1][key] = value
        with pytest.warns(CaseWarning, match=rf"region\.membrane\.{key}"):
            pnp.Case.from_dict(data)
    data = _cell()
    data["region"][1]["water_permeability"] = "3e-9 m/s/Pa"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnp.Case.from_dict(data)
