"""Figures: layout, labels and units, zoom panels, axis choices, reversal potential, files."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import pnp
from pnp import plot
from pnp.analytic import FARADAY, ghk_current, ghk_voltage, gouy_chapman
from pnp.constants import VACUUM_PERMITTIVITY, debye_length
from pnp.errors import ResultFileError
from pnp.presentation.plot.common import _case_dict, _format_time
from pnp.presentation.plot.face_values import potential_line
from pnp.presentation.plot.iv_figure import _ghk_reference
from pnp.presentation.plot.summary import _read_summary_csv
from pnp.results.result import Result

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "cases"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- results to draw --------------------------------------------------------------------


def _graded(length: float, smallest: float, growth: float = 1.2) -> np.ndarray:
    """Cell widths growing geometrically from ``smallest`` and summing to ``length``."""
    widths = [smallest]
    while sum(widths) < length:
        widths.append(widths[-1] * growth)
    widths = np.array(widths)
    return widths * length / widths.sum()


# A valid case (the face values of the ends read it through Case.at_time), with
# the layout of make_result; equal eps_r everywhere.
CASE_TOML = """\
title = "synthetic"
temperature = 310.0
inside = "left"
[species.K]
z = 1
D = 1e-9
[species.Cl]
z = -1
D = 1e-9
[[region]]
name = "cytoplasm"
membrane = false
length = 200e-9
eps_r = 78.5
concentration = {{ K = 140, Cl = 140 }}
[[region]]
name = "membrane"
membrane = true
length = 5e-9
eps_r = 78.5
permeability = {{}}
[[region]]
name = "bath"
membrane = false
length = 200e-9
eps_r = 78.5
concentration = {{ K = 5 }}
balance = "Cl"
[boundary.left]
type = "wall"
surface_charge = {charge}
[boundary.right]
type = "reservoir"
potential = 0.0
"""


def make_result(
    *,
    charged_wall: bool = True,
    with_case: bool = True,
    trace: float | None = None,
    membrane_trace: float = 0.0,
    times: tuple[float, ...] = (math.inf,),
    pump: float = 0.0,
) -> Result:
    """cytoplasm (wall at x = 0) | 5 nm membrane | bath, on a graded mesh.

    ``trace`` adds a species at that concentration [mM] on both sides (to span
    decades); ``membrane_trace`` is what every species holds inside the membrane.
    """
    half = _graded(100e-9, 0.2e-9)
    left = np.concatenate([half, half[::-1]]) if charged_wall else half[::-1] * 2
    widths = np.concatenate([left, np.full(10, 0.5e-9), _graded(200e-9, 0.2e-9)])
    faces = np.concatenate([[0.0], np.cumsum(widths)])
    x = 0.5 * (faces[1:] + faces[:-1])
    region = np.repeat([0, 1, 2], [left.size, 10, widths.size - left.size - 10])
    species = ["K", "Cl"] + (["Ca"] if trace is not None else [])
    z = [1, -1] + ([2] if trace is not None else [])
    inside_mask, membrane_mask = region == 0, region == 1
    k = np.where(inside_mask, 140.0, 5.0)
    concentration = [k, k.copy()] + ([np.full(x.size, trace)] if trace is not None else [])
    concentration = np.array(concentration)
    concentration[:, membrane_mask] = membrane_trace
    potential = np.where(inside_mask, -0.07, 0.0)
    n = len(times)
    ramp = np.linspace(0.2, 1.0, n)
    return Result(
        title="synthetic cell",
        case_toml=CASE_TOML.format(charge=-0.01 if charged_wall else 0.0) if with_case else "",
        temperature=310.0,
        geometry="cartesian",
        x=x,
        faces=faces,
        region=region,
        region_names=("cytoplasm", "membrane", "bath"),
        species=species,
        z=z,
        D=np.full(len(species), 1e-9),
        t=np.array(times, dtype=float),
        potential=ramp[:, None] * potential,
        concentration=np.broadcast_to(concentration, (n, *concentration.shape)).copy(),
        membrane_potential=-0.07 * ramp,
        current=1e-3 * (1 - ramp),
        pump_current=np.full(n, pump),
        flux={"K": 1e-8 * (1 - ramp), "Cl": np.zeros(n)},
        surface_charge={"left": np.full(n, -0.01), "right": np.zeros(n)},
    )


@pytest.fixture(scope="module")
def nernst() -> Result:
    return pnp.run(pnp.load_case(CASES / "nernst_k.toml"), progress=False)


@pytest.fixture(scope="module")
def debye_layer() -> Result:
    return pnp.run(pnp.load_case(CASES / "debye_layer.toml"), progress=False)


@pytest.fixture(scope="module")
def nernst_transient() -> Result:
    overrides = {"run.mode": "transient", "run.t_end": 1.0, "run.outputs": 12}
    return pnp.run(pnp.load_case(CASES / "nernst_k.toml", overrides=overrides), progress=False)


@pytest.fixture(scope="module")
def ghk_sweep(tmp_path_factory) -> Path:
    """A sweep directory as `pnp sweep` lays it out: one file per point and summary.csv."""
    directory = tmp_path_factory.mktemp("ghk_iv")
    rows = []
    for index, voltage in enumerate([-0.09, -0.08, -0.07, -0.06, -0.05, 0.0]):
        case = pnp.load_case(CASES / "ghk_iv.toml", overrides={"boundary.left.potential": voltage})
        result = pnp.run(case, progress=False)
        result.save(directory / f"{index:04d}.h5")
        row = {
            "boundary.left.potential": voltage,
            "status": result.status,
            "message": result.message,
            "membrane_potential": result.membrane_potential[-1],
            "current": result.current[-1],
            "pump_current": result.pump_current[-1],
        }
        row.update({f"flux_{name}": values[-1] for name, values in result.flux.items()})
        rows.append(row)
    _write_csv(directory / "summary.csv", rows)
    return directory


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _grid(fig) -> tuple[list, list]:
    """Potential row and concentration row of a profiles figure."""
    axes = fig.axes
    columns = len(axes) // 2
    return axes[:columns], axes[columns:]


def _texts(ax) -> set[str]:
    return {text.get_text() for text in ax.texts}


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG_SIGNATURE


# -- module ----------------------------------------------------------------------------


def test_import_does_not_load_matplotlib():
    code = "import sys, pnp.presentation.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- profiles --------------------------------------------------------------------------


def test_profiles_of_a_real_steady_result(nernst):
    fig = plot.profiles(nernst)
    potential_row, concentration_row = _grid(fig)
    assert len(potential_row) == 2  # whole domain + the membrane
    main, zoom = potential_row
    assert main.get_title() == "whole domain"
    assert zoom.get_title() == "zoom: membrane"
    assert main.get_ylabel() == "φ [mV]"
    assert concentration_row[0].get_ylabel() == "c [mM]"
    assert concentration_row[0].get_xlabel() == "x [µm]"  # 2 µm domain
    assert concentration_row[1].get_xlabel() == "distance from membrane [nm]"
    assert {"cytoplasm", "bath"} <= _texts(main)
    # In the zoom, names that do not fit are left out (the 10 nm of cytoplasm
    # here); the membrane's stands upright in its band.
    assert {"membrane", "bath"} <= _texts(zoom)
    upright = [text for text in zoom.texts if text.get_text() == "membrane"]
    assert upright[0].get_rotation() == 90
    assert concentration_row[0].get_yscale() == "linear"  # 5..140 mM
    assert _labels(concentration_row[0]) == ["K", "Cl"]
    assert "steady state" in fig.get_suptitle()
    # The potential curve is in mV: V_m = E_K = -89 mV.
    phi = main.get_lines()[0].get_ydata()
    assert phi.min() == pytest.approx(1e3 * nernst.potential[-1].min())
    assert -95 < phi.min() < -85


def test_zoom_window_spans_the_debye_layers(nernst):
    fig = plot.profiles(nernst)
    zoom = fig.axes[1]
    low, high = zoom.get_xlim()  # nm from the membrane's inner face
    cells = np.flatnonzero(nernst.region == 1)
    start, end = 0.0, 1e9 * (nernst.faces[cells[-1] + 1] - nernst.faces[cells[0]])
    assert low < start and 4.5 < end < 5.5 and end < high
    # A few tens of Debye lengths (0.8 nm at 140 mM, 4 nm at 5 mM) in all, not the 2 µm domain.
    assert 10 < high - low < 100
    # Each side reaches ZOOM_DEBYE_LENGTHS Debye lengths of its own bath's bulk
    # (eps_r 80, 37 degC), whatever the mesh: the bulk holds the initial
    # contents to far below this tolerance.
    debye = {c: debye_length({"K": c, "Cl": c}, {"K": 1, "Cl": -1}, 80.0, 310.15) for c in (140, 5)}
    assert start - low == pytest.approx(1e9 * plot.ZOOM_DEBYE_LENGTHS * debye[140], rel=1e-6)
    assert high - end == pytest.approx(1e9 * plot.ZOOM_DEBYE_LENGTHS * debye[5], rel=1e-6)


def test_debye_layer_wall_gets_a_zoom_of_tens_of_debye_lengths(debye_layer):
    fig = plot.profiles(debye_layer)
    potential_row, concentration_row = _grid(fig)
    assert [ax.get_title() for ax in potential_row] == ["whole domain", "zoom: left wall"]
    low, high = potential_row[1].get_xlim()
    debye_length = 0.785  # nm, 150 mM NaCl
    assert low == pytest.approx(0.0, abs=1e-12)
    assert 5 * debye_length < high < 40 * debye_length
    assert concentration_row[0].get_xlabel() == "x [nm]"  # 30 nm domain


def test_one_zoom_per_membrane_and_charged_wall():
    fig = plot.profiles(make_result(charged_wall=True))
    titles = [ax.get_title() for ax in _grid(fig)[0]]
    assert titles == ["whole domain", "zoom: left wall", "zoom: membrane"]
    wall_low, wall_high = fig.axes[1].get_xlim()
    assert wall_low == 0.0 and 5 < wall_high < 100  # nm

    # An uncharged wall (the centre of a cell) has no double layer: no zoom.
    fig = plot.profiles(make_result(charged_wall=False))
    assert [ax.get_title() for ax in _grid(fig)[0]] == ["whole domain", "zoom: membrane"]


def test_zooms_found_from_the_mesh_without_a_case():
    fig = plot.profiles(make_result(charged_wall=True, with_case=False))
    titles = [ax.get_title() for ax in _grid(fig)[0]]
    assert titles == ["whole domain", "zoom: left wall", "zoom: membrane"]
    fig = plot.profiles(make_result(charged_wall=False, with_case=False))
    assert [ax.get_title() for ax in _grid(fig)[0]] == ["whole domain", "zoom: membrane"]


def test_log_concentration_axis_when_concentrations_span_decades():
    # 1e-4 mM Ca beside 140 mM K: six decades.
    fig = plot.profiles(make_result(trace=1e-4))
    concentration_row = _grid(fig)[1]
    assert all(ax.get_yscale() == "log" for ax in concentration_row)
    low, high = concentration_row[0].get_ylim()
    assert low < 1e-4 and high > 140
    # Exactly-zero values (X outside its cell) are masked, not drawn at a clip value:
    # every species' curve is NaN in the membrane (where it holds 0) and the data elsewhere.
    result = make_result(trace=1e-4, membrane_trace=0.0)
    fig = plot.profiles(result)
    membrane = result.region == 1
    whole_domain = _grid(fig)[1][0]
    assert whole_domain.get_yscale() == "log"
    curves = {line.get_label(): line for line in whole_domain.get_lines()}
    assert set(result.species) <= set(curves)
    for name in result.species:
        x, y = (np.asarray(a, dtype=float) for a in curves[name].get_data())
        assert x.size == result.x.size and np.all(np.isnan(y[membrane]))
        np.testing.assert_array_equal(y[~membrane], result.c(name)[-1][~membrane])
    assert whole_domain.get_ylim()[0] > 1e-6  # no clipped zeros dragging the axis down

    # 5..140 mM: linear from 0.
    fig = plot.profiles(make_result())
    assert _grid(fig)[1][0].get_yscale() == "linear"
    assert _grid(fig)[1][0].get_ylim()[0] == 0

    # Traces inside the membrane do not decide the axis.
    fig = plot.profiles(make_result(membrane_trace=1e-9))
    assert _grid(fig)[1][0].get_yscale() == "linear"


def test_log_concentration_can_be_forced():
    assert _grid(plot.profiles(make_result(), log_concentration=True))[1][0].get_yscale() == "log"
    fig = plot.profiles(make_result(trace=1e-4), log_concentration=False)
    assert _grid(fig)[1][0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="log_concentration"):
        plot.profiles(make_result(), log_concentration="yes")


def _curves(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def test_species_with_equal_profiles_differ_in_line_style():
    # K and Cl hold equal concentrations everywhere: colour alone would hide one.
    fig = plot.profiles(make_result(trace=1.0))
    for ax in _grid(fig)[1]:
        styles = [line.get_linestyle() for line in ax.get_lines()]
        assert len(styles) == 3 and len(set(styles)) == 3
    curves = _curves(_grid(fig)[1][0])
    np.testing.assert_array_equal(curves["K"].get_ydata(), curves["Cl"].get_ydata())
    assert curves["K"].get_linestyle() == "-" and curves["Cl"].get_linestyle() == "--"


def test_log_concentration_axis_from_one_and_a_half_decades():
    # 2 mM beside 140 mM (1.85 decades): log; 5..140 mM (1.45 decades): linear.
    assert _grid(plot.profiles(make_result(trace=2.0)))[1][0].get_yscale() == "log"
    assert _grid(plot.profiles(make_result(trace=5.0)))[1][0].get_yscale() == "linear"


def test_debye_layer_reads_on_a_log_axis_with_the_closed_form(debye_layer):
    # At +50 mV the Cl- of 150 mM piles up to ~1 M at the wall and Na+ drops to
    # ~20 mM: the counter- and co-ion layers show only on a log axis.
    fig = plot.profiles(debye_layer)
    potential_row, concentration_row = _grid(fig)
    assert concentration_row[0].get_yscale() == "log"
    # The Gouy-Chapman profile named by [expect], dashed over the simulated φ.
    for ax in potential_row:
        closed = _curves(ax)["closed form (Gouy–Chapman)"]
        assert closed.get_linestyle() == "--"
        x, phi = (np.asarray(a, dtype=float) for a in closed.get_data())
        np.testing.assert_allclose(
            phi, 1e3 * gouy_chapman(x * 1e-9, 0.05, 150.0, 1, 78.5, 298.15), rtol=1e-12
        )
        assert x.min() == 0.0 and phi[0] == pytest.approx(50.0, rel=1e-12)
    assert "closed form (Gouy–Chapman)" in [
        t.get_text() for t in potential_row[0].get_legend().texts
    ]
    # φ is drawn to the wall, where it is held at 50 mV, and to the grounded end.
    simulated = potential_row[0].get_lines()[0]
    x, phi = (np.asarray(a, dtype=float) for a in simulated.get_data())
    assert x[0] == 0.0 and x[-1] == pytest.approx(30.0, rel=1e-12)
    assert phi[0] == pytest.approx(50.0, rel=1e-12) and phi[-1] == 0.0
    # Also into a given pair of axes.
    fig, pair = plt.subplots(2, 1)
    plot.profiles(debye_layer, ax=pair)
    assert "closed form (Gouy–Chapman)" in _labels(pair[0])
    # No [expect] profile, no closed form.
    fig = plot.profiles(make_result())
    assert not any("closed form" in label for label in _labels(fig.axes[0]))


def test_potential_is_drawn_to_the_ends_and_region_interfaces():
    result = make_result()  # left: wall with -0.01 C/m^2; right: grounded reservoir
    fig = plot.profiles(result)
    line = _grid(fig)[0][0].get_lines()[0]
    x, phi = (np.asarray(a, dtype=float) for a in line.get_data())
    faces, centres, phi_cells = result.faces, result.x, result.potential[-1]
    interfaces = faces[np.flatnonzero(np.diff(result.region)) + 1]
    np.testing.assert_allclose(x * 1e-9, np.sort(np.r_[faces[0], centres, interfaces, faces[-1]]))
    # Ends: Gauss's law over the wall's half cell; the reservoir's potential.
    half = 0.5 * (faces[1] - faces[0])
    wall = phi_cells[0] + (-0.01) * half / (VACUUM_PERMITTIVITY * 78.5)
    assert phi[0] * 1e-3 == pytest.approx(wall, rel=1e-12) and phi[-1] == 0.0
    # Interfaces: the two half cells in series (equal eps_r without one in the case).
    k = np.flatnonzero(np.diff(result.region))[0]
    left, right = faces[k + 1] - centres[k], centres[k + 1] - faces[k + 1]
    expected = (phi_cells[k] / left + phi_cells[k + 1] / right) / (1 / left + 1 / right)
    at = np.flatnonzero(np.isclose(x * 1e-9, faces[k + 1], rtol=0, atol=1e-18))
    assert phi[at[0]] * 1e-3 == pytest.approx(expected, rel=1e-12)
    # With a membrane of eps_r 2 beside water (80), the face sits near the water's value.
    case = _case_dict(result)
    case["region"] = [
        dict(entry, eps_r=2.0 if entry["membrane"] else 80.0) for entry in case["region"]
    ]
    positions, values = potential_line(result, case, 0)
    weighted = (80 * phi_cells[k] / left + 2 * phi_cells[k + 1] / right) / (80 / left + 2 / right)
    index = np.flatnonzero(positions == faces[k + 1])[0]
    assert values[index] == pytest.approx(weighted, rel=1e-12)
    assert abs(values[index] - phi_cells[k]) < abs(expected - phi_cells[k])


def _transient_case(boundary: dict, protocols: list[dict]) -> dict:
    """A valid case dict (membrane_charging's layout) with these ends and protocol
    steps, run to 5 s (a result's ``case_toml`` read back has this form)."""
    data = pnp.load_case(CASES / "membrane_charging.toml").to_dict()
    data["boundary"] = boundary
    data["run"] = {"mode": "transient", "t_end": 5.0, "outputs": [1.0, 2.0, 3.0, 4.0, 5.0]}
    data["protocol"] = protocols
    return data


def test_potential_ends_follow_protocol_steps_and_a_floating_end():
    case = _transient_case(
        {
            "left": {"type": "reservoir", "potential": "floating"},
            "right": {"type": "reservoir", "potential": 0.0},
        },
        [{"at": 1.0, "set": {"boundary.right.potential": 0.02}}],
    )
    result = make_result(times=(0.0, 1.0, 2.0))
    for index, right in ((0, 0.0), (1, 0.0), (2, 0.02)):  # a step at t itself is not yet in
        _, phi = potential_line(result, case, index)
        assert phi[-1] == right
        assert phi[0] == pytest.approx(right + result.membrane_potential[index], rel=1e-12)


def test_zoom_panels_read_in_distance_from_the_membrane_and_wall():
    result = make_result(charged_wall=True)
    fig = plot.profiles(result)
    _, wall, membrane = _grid(fig)[1]
    assert wall.get_xlabel() == "distance from wall [nm]"
    assert membrane.get_xlabel() == "distance from membrane [nm]"
    cells = np.flatnonzero(result.region == 1)
    near, far = result.faces[cells[0]], result.faces[cells[-1] + 1]
    thickness = 1e9 * (far - near)  # 5 nm
    # Curves are drawn from the membrane's inner face, and ticks count outwards
    # from each face: 0 at both, the same distances on either side.
    x = np.asarray(_curves(membrane)["K"].get_xdata(), dtype=float)
    np.testing.assert_allclose(x, 1e9 * (result.x - near), rtol=1e-12)
    label = membrane.xaxis.get_major_formatter()
    ticks = membrane.get_xticks()
    assert label(0.0, None) == "0" and label(thickness, None) == "0"
    outside = [label(t, None) for t in ticks if t > thickness]
    inside = [label(t, None) for t in ticks if t < 0]
    assert outside and inside  # both sides, each with its own round step
    assert [float(text) for text in outside] == pytest.approx(
        [t - thickness for t in ticks if t > thickness]
    )
    assert [float(text) for text in inside] == pytest.approx([-t for t in ticks if t < 0])
    assert label(-4.0, None) == "4" and label(thickness + 4.0, None) == "4"
    assert not [t for t in ticks if 0 < t < thickness]
    low, high = membrane.get_xlim()
    assert low < 0 and high > thickness
    wall_label, wall_ticks = wall.xaxis.get_major_formatter(), wall.get_xticks()
    assert wall_ticks[0] == 0.0 and wall_label(wall_ticks[0], None) == "0"
    assert float(wall_label(wall_ticks[1], None)) == pytest.approx(wall_ticks[1])


def test_transient_profiles_default_to_a_few_log_spaced_times(nernst_transient):
    fig = plot.profiles(nernst_transient)
    main = fig.axes[0]
    times = _labels(main)
    assert 3 <= len(times) <= plot.PROFILE_TIMES
    assert times[0] == "t = 0" and times[-1] == "t = 1 s"
    assert main.get_legend() is not None
    # Species colours are shared by the times; the legend names each species once.
    assert _labels(_grid(fig)[1][0]) == ["K", "Cl"]


def test_profiles_at_chosen_times(nernst_transient):
    t = nernst_transient.t
    fig = plot.profiles(nernst_transient, times=[t[3] * 1.01, math.inf])
    assert _labels(fig.axes[0]) == [_format_time(t[3]), "t = 1 s"]
    fig = plot.profiles(nernst_transient, times=0.0)
    assert "t = 0" in fig.get_suptitle()


def test_profiles_into_given_axes_and_figures(nernst):
    fig, (potential_ax, concentration_ax) = plt.subplots(2, 1)
    assert plot.profiles(nernst, ax=(potential_ax, concentration_ax)) is fig
    assert potential_ax.get_ylabel() == "φ [mV]" and concentration_ax.get_ylabel() == "c [mM]"
    assert len(fig.axes) == 2  # no zoom panels in a pair of axes

    fig = plt.figure(layout="constrained")
    _, right = fig.subfigures(1, 2)
    assert plot.profiles(nernst, ax=right) is fig
    assert len(right.axes) == 4

    with pytest.raises(TypeError, match="pair of Axes"):
        plot.profiles(nernst, ax=potential_ax)


def test_profiles_of_an_empty_result_fail_clearly():
    empty = make_result(times=(0.0, 1.0))
    empty = Result(
        **{
            **{name: getattr(empty, name) for name in ("title", "temperature", "geometry", "x")},
            "faces": empty.faces,
            "region": empty.region,
            "region_names": empty.region_names,
            "species": empty.species,
            "z": empty.z,
            "D": empty.D,
            "t": [],
            "potential": [],
            "concentration": [],
            "membrane_potential": [],
            "current": [],
            "flux": {},
            "surface_charge": {},
            "status": "running",
        }
    )
    with pytest.raises(ValueError, match="no output"):
        plot.profiles(empty)


# -- traces ----------------------------------------------------------------------------


def test_traces_of_a_steady_result_raise(nernst):
    with pytest.raises(ValueError, match="a steady result has no time series; use profiles"):
        plot.traces(nernst)


def test_traces_of_a_real_transient_use_a_log_time_axis(nernst_transient):
    fig = plot.traces(nernst_transient)
    potential_ax, current_ax, flux_ax = fig.axes
    assert potential_ax.get_ylabel() == "$V_m$ [mV]"
    assert current_ax.get_ylabel().startswith("current [") and "A/m²" in current_ax.get_ylabel()
    assert flux_ax.get_ylabel().startswith("flux [") and "mol/m²/s" in flux_ax.get_ylabel()
    assert flux_ax.get_xscale() == "log" and flux_ax.get_xlabel() == "t [s]"
    assert _labels(flux_ax) == ["K"]  # Cl cannot cross
    # no pump; the total, and K's own current (current_K, the one species crossing)
    assert _labels(current_ax) == ["total", "K"]
    k_current = np.asarray(current_ax.get_lines()[1].get_ydata(), dtype=float)
    shown = nernst_transient.extra_observables["current_K"][nernst_transient.t > 0]
    big = np.argmax(np.abs(shown))
    scale = k_current[big] / shown[big]  # the panel's SI prefix: a power of 1000
    assert np.log10(scale) / 3 == pytest.approx(round(np.log10(scale) / 3), abs=1e-12)
    np.testing.assert_allclose(k_current, shown * scale, rtol=1e-12, atol=0)
    # V_m (first line) and, dashed, the voltage over the membrane alone
    assert _labels(potential_ax) == ["$V_m$ (ends)", "membrane"]
    membrane = np.asarray(potential_ax.get_lines()[1].get_ydata(), dtype=float)
    np.testing.assert_allclose(
        membrane,
        1e3 * nernst_transient.extra_observables["membrane_voltage"][nernst_transient.t > 0],
        rtol=1e-15,
        atol=0,
    )
    # t = 0 cannot sit on a log axis: it is left out.
    times = potential_ax.get_lines()[0].get_xdata()
    assert times.size == nernst_transient.t.size - 1 and times.min() > 0
    # The trace is the result's V_m in mV at t > 0, which heads for E_K = -89 mV.
    drawn = np.asarray(potential_ax.get_lines()[0].get_ydata(), dtype=float)
    later = nernst_transient.t > 0
    np.testing.assert_allclose(
        drawn, 1e3 * nernst_transient.membrane_potential[later], rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(times, nernst_transient.t[later], rtol=1e-15, atol=0)
    assert drawn[-1] < -80


def test_traces_use_a_linear_time_axis_for_a_short_span():
    result = make_result(times=(0.0, 1e-9, 2e-9, 3e-9, 4e-9), pump=2e-3)
    fig = plot.traces(result)
    current_ax = fig.axes[1]
    assert current_ax.get_xscale() == "linear"
    assert fig.axes[-1].get_xlabel() == "t [ns]"
    assert _labels(current_ax) == ["total", "pump"]
    assert current_ax.get_ylabel() == "current [mA/m²]"
    # A forced log axis drops t = 0.
    assert plot.traces(result, log_time=True).axes[-1].get_xscale() == "log"


def test_traces_skip_the_flux_panel_when_nothing_crosses():
    result = make_result(times=(0.0, 1.0, 2.0))
    result.flux = {"K": np.zeros(3), "Cl": np.zeros(3)}
    assert len(plot.traces(result).axes) == 2


def test_traces_draw_the_gates_of_voltage_gated_channels():
    result = make_result(times=(0.0, 1.0, 2.0))
    result.flux = {"K": np.zeros(3), "Cl": np.zeros(3)}
    result.extra_observables["gate_NaV_m"] = np.array([0.05, 0.9, 0.1])
    result.extra_observables["gate_NaV_h"] = np.array([0.6, 0.2, 0.3])
    axes = plot.traces(result).axes
    assert len(axes) == 3  # V_m, current, gates (no flux crosses)
    assert axes[2].get_ylabel() == "gate (open fraction)"
    assert _labels(axes[2]) == ["NaV_m", "NaV_h"]
    assert list(axes[2].lines[0].get_ydata()) == [0.05, 0.9, 0.1]


PROTOCOL_TOML = """
[[protocol]]
at = 1e-9
set = { "boundary.right.potential" = 0.01 }
[[protocol]]
at = 3e-9
set = { "region.bath.concentration.K" = 20.0 }
"""


def test_traces_label_each_protocol_step():
    result = make_result(times=(0.0, 1e-9, 2e-9, 3e-9, 4e-9))
    result.case_toml = CASE_TOML.format(charge=-0.01) + PROTOCOL_TOML
    fig = plot.traces(result)
    for ax in fig.axes:
        at = sorted({line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"})
        assert at == pytest.approx([1.0, 3.0], rel=1e-12)  # ns
    labels = {text.get_text(): text.get_position()[0] for text in fig.axes[0].texts}
    assert list(labels) == ["right potential → 10 mV", "bath concentration K → 20 mM"]
    assert list(labels.values()) == pytest.approx([1.0, 3.0], rel=1e-12)
    # A result without protocol steps has no lines and no labels.
    fig = plot.traces(make_result(times=(0.0, 1e-9, 2e-9)))
    assert not fig.axes[0].texts
    assert not [line for line in fig.axes[0].get_lines() if line.get_linestyle() == ":"]


def test_current_axis_turns_symlog_beside_a_capacitive_spike():
    t = np.linspace(0.0, 100e-9, 101)
    result = make_result(times=tuple(t))
    # A 2000 A/m^2 charging spike decaying in 2 ns, then a 0.5 A/m^2 ionic current.
    result.current = np.where(t > 0, 2000.0 * np.exp(-t / 2e-9), 0.0) + 0.5 * (t > 0)
    current_ax = plot.traces(result).axes[1]
    assert current_ax.get_yscale() == "symlog"
    linthresh = current_ax.yaxis.get_transform().linthresh
    assert linthresh == 1.0  # the next power of ten above the late 0.5 A/m^2
    low, high = current_ax.get_ylim()
    assert -linthresh < low < 0 and high > 2000  # the spike and the tail both in view
    drawn = np.asarray(current_ax.get_lines()[0].get_ydata(), dtype=float)
    np.testing.assert_allclose(drawn, result.current, rtol=1e-15)  # unit: A/m²
    # A current that only decays tenfold stays linear.
    result.current = np.linspace(10.0, 1.0, t.size)
    assert plot.traces(result).axes[1].get_yscale() == "linear"


# -- reversal potential --------------------------------------------------------------------


def test_reversal_potential_is_exact_for_linear_data():
    v = np.linspace(-0.1, 0.05, 7)
    i = 2.5 * (v + 0.0673)
    assert plot.reversal_potential(v, i) == pytest.approx(-0.0673, abs=1e-15)
    # Any order, NaN points dropped.
    order = np.array([3, 0, 6, 2, 5, 1, 4])
    v_nan, i_nan = np.append(v[order], np.nan), np.append(i[order], 1.0)
    assert plot.reversal_potential(v_nan, i_nan) == pytest.approx(-0.0673, abs=1e-15)


def test_reversal_potential_edge_cases():
    assert math.isnan(plot.reversal_potential([0.0, 0.1], [1.0, 2.0]))  # no crossing
    assert math.isnan(plot.reversal_potential([], []))
    assert plot.reversal_potential([-0.1, 0.0, 0.1], [-1.0, 0.0, 1.0]) == 0.0  # on a point
    assert plot.reversal_potential([0.0, 0.1], [-1.0, 3.0]) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="differ in length"):
        plot.reversal_potential([0.0, 0.1], [1.0])


# -- I-V -----------------------------------------------------------------------------


def _ghk_summary(n: int = 9):
    """An analytic GHK summary (dict of arrays) for K, Na, Cl as in cases/ghk_iv.toml."""
    v = np.linspace(-0.1, 0.06, n)
    c_in, c_out = {"K": 140, "Na": 12, "Cl": 10}, {"K": 5, "Na": 145, "Cl": 150}
    z, p = {"K": 1, "Na": 1, "Cl": -1}, {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9}
    currents = {s: ghk_current(v, c_in[s], c_out[s], z[s], p[s], 310.15) for s in z}
    summary = {"boundary.left.potential": v, "current": sum(currents.values())}
    summary.update({f"flux_{s}": currents[s] / (z[s] * FARADAY) for s in z})
    summary["flux_X"] = np.zeros(n)
    return summary, z


def test_iv_from_a_dict_of_arrays(tmp_path):
    summary, z = _ghk_summary()
    dense = np.linspace(-0.1, 0.06, 50)
    reference = (dense, np.interp(dense, summary["boundary.left.potential"], summary["current"]))
    path = tmp_path / "iv.png"
    fig = plot.iv(summary, path=path, ghk=reference, valences=z)
    (ax,) = fig.axes
    labels = _labels(ax)
    assert labels[:5] == ["GHK (analytic)", "total", "K: zFJ", "Na: zFJ", "Cl: zFJ"]
    assert not any(label.startswith("X") for label in labels)  # impermeant: no curve
    reversal = plot.reversal_potential(summary["boundary.left.potential"], summary["current"])
    assert labels[-1] == f"$V_{{rev}}$ = {reversal * 1e3:.2f} mV"
    assert ax.get_xlabel() == "clamp potential (left boundary) [mV]"
    assert ax.get_ylabel() == "current density, outward + [mA/m²]"
    # The per-species currents add up to the total.
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    species_total = lines["K: zFJ"] + lines["Na: zFJ"] + lines["Cl: zFJ"]
    # round-off: measured 1.4e-16 (3.4e-11 while this file retyped F to 10 digits)
    np.testing.assert_allclose(species_total, lines["total"], rtol=2e-15)
    assert _is_png(path)


def test_iv_without_valences_draws_the_total_only():
    summary, _ = _ghk_summary()
    labels = _labels(plot.iv(summary).axes[0])
    assert labels[0] == "total" and labels[-1].startswith("$V_{rev}$")
    assert len(labels) == 2


def test_iv_leaves_out_failed_points():
    summary, z = _ghk_summary(5)
    summary["status"] = np.array(["completed", "failed", "completed", "completed", "completed"])
    summary["current"] = summary["current"].copy()
    summary["current"][1] = np.nan
    (ax,) = plot.iv(summary, valences=z).axes
    assert ax.get_title() == "1 failed point not shown"
    assert ax.get_lines()[1].get_xdata().size == 4


def test_unfinished_points_are_named_and_left_out():
    summary, z = _ghk_summary(5)
    summary["status"] = np.array(["completed", "failed", "pending", "pending", "completed"])
    (ax,) = plot.iv(summary, valences=z).axes
    assert ax.get_title() == "1 failed, 2 pending points not shown"
    (ax,) = plot.sweep(summary, "boundary.left.potential", "current").axes
    assert ax.get_title() == "1 failed, 2 pending points not shown"
    assert ax.get_lines()[0].get_xdata().size == 2


def test_summary_from_a_sweep_result_table():
    summary, z = _ghk_summary()

    class SweepResultLike:  # pnp.simulation.sweep.SweepResult: column names and a table
        def __init__(self, table):
            self.columns = list(table)
            self.table = table

    assert "K: zFJ" in _labels(plot.iv(SweepResultLike(summary), valences=z).axes[0])


def test_iv_from_a_dataframe():
    pandas = pytest.importorskip("pandas")
    summary, z = _ghk_summary()
    fig = plot.iv(pandas.DataFrame(summary), valences=z)
    assert "total" in _labels(fig.axes[0])


def test_iv_of_real_clamp_runs(ghk_sweep):
    result = pnp.load_result(ghk_sweep / "0000.h5")
    fig = plot.iv(ghk_sweep, valences=result)
    (ax,) = fig.axes
    reversal = float(ax.get_lines()[-1].get_xdata()[0]) * 1e-3
    expected = ghk_voltage(
        {"K": 140, "Na": 12, "Cl": 10},
        {"K": 5, "Na": 145, "Cl": 150},
        {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9},
        {"K": 1, "Na": 1, "Cl": -1},
        310.15,
    )
    # The spline root of the clamp runs, plus the diffuse layers: measured 3.5e-7 V.
    assert reversal == pytest.approx(expected, abs=4e-6)


def test_iv_needs_a_voltage_column():
    with pytest.raises(ValueError, match="voltage column"):
        plot.iv({"current": [0.0, 1.0]})
    with pytest.raises(ValueError, match="no column 'current'"):
        plot.iv({"boundary.left.potential": [0.0, 0.1]})


# -- sweeps --------------------------------------------------------------------------------


def _two_parameter_summary():
    k_out = np.repeat([2.5, 5.0, 7.5], 4)  # evenly spaced
    p_na = np.tile(np.geomspace(1e-11, 1e-8, 4), 3)
    vm = -0.09 + 0.01 * np.log10(p_na / 1e-11) + 0.005 * k_out
    return {
        "region.bath.concentration.K": k_out,
        "region.membrane.permeability.Na": p_na,
        "status": np.array(["completed"] * 12),
        "membrane_potential": vm,
        "current": np.zeros(12),
    }


def test_sweep_one_line_per_value_of_by(tmp_path):
    summary = _two_parameter_summary()
    path = tmp_path / "sweep.png"
    fig = plot.sweep(
        summary,
        "region.membrane.permeability.Na",
        "membrane_potential",
        by="region.bath.concentration.K",
        path=path,
    )
    (ax,) = fig.axes
    assert _labels(ax) == ["2.5 mM", "5 mM", "7.5 mM"]
    # Parameters in words from the schema, not as dotted keys.
    assert ax.get_legend().get_title().get_text() == "concentration (bath, K)"
    assert ax.get_xscale() == "log"  # three decades of permeability
    assert ax.get_xlabel() == "permeability (membrane, Na) [nm/s]"
    assert ax.get_ylabel() == "membrane_potential [mV]"
    for line in ax.get_lines():
        assert line.get_xdata().size == 4 and np.all(np.diff(line.get_xdata()) > 0)
    assert _is_png(path)


def test_sweep_without_by_and_with_a_linear_parameter():
    summary = _two_parameter_summary()
    fig = plot.sweep(summary, "region.bath.concentration.K", "membrane_potential")
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 1 and ax.get_legend() is None
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "concentration (bath, K) [mM]"


def test_sweep_of_a_log_spaced_parameter_gets_a_log_axis():
    # 1, 2, 4, 8 mM: under a decade, but log-spaced (a constant ratio): log axis.
    summary = {
        "region.bath.concentration.K": np.array([1.0, 2.0, 4.0, 8.0]),
        "membrane_potential": np.array([-0.1, -0.08, -0.06, -0.04]),
    }
    ax = plot.sweep(summary, "region.bath.concentration.K", "membrane_potential").axes[0]
    assert ax.get_xscale() == "log"
    # Typed by hand to a few digits (1, 3.16, 10, 31.6, 100) still counts.
    summary["region.bath.concentration.K"] = np.array([1.0, 3.16, 10.0, 31.6])
    ax = plot.sweep(summary, "region.bath.concentration.K", "membrane_potential").axes[0]
    assert ax.get_xscale() == "log"
    # Evenly spaced over a decade: linear; so is a ratio that changes (1, 2, 3, 4).
    for values in ([1.0, 4.0, 7.0, 10.0], [1.0, 2.0, 3.0, 4.0]):
        summary["region.bath.concentration.K"] = np.array(values)
        ax = plot.sweep(summary, "region.bath.concentration.K", "membrane_potential").axes[0]
        assert ax.get_xscale() == "linear"


def test_parameter_labels_come_from_the_schema():
    from pnp.presentation.plot.common import _column_unit, _parameter_label

    assert _parameter_label("species.K.D") == "Bulk diffusivity (K)"
    assert _column_unit("species.K.D") == "m^2/s"
    assert _parameter_label("region.bath.eps_r") == "Relative permittivity (bath)"
    assert (
        _parameter_label("boundary.right.surface_charge") == "charge on the wall (right boundary)"
    )
    assert _column_unit("boundary.right.surface_charge") == "C/m^2"
    assert _parameter_label("pump.rate") == "Constant cycle rate j_p"
    assert _parameter_label("not.a.key") == "not.a.key"


def test_sweep_names_missing_columns():
    with pytest.raises(ValueError, match=r"no column 'flux_K'.*membrane_potential"):
        plot.sweep(_two_parameter_summary(), "region.bath.concentration.K", "flux_K")


# -- files ------------------------------------------------------------------------------


def test_plot_file_of_a_steady_result_writes_a_png_beside_it(tmp_path, nernst):
    source = tmp_path / "nernst.h5"
    nernst.save(source)
    open_figures = plt.get_fignums()
    out = plot.plot_file(source)
    assert out == tmp_path / "nernst.png"
    assert _is_png(out)
    assert plt.get_fignums() == open_figures  # the CLI path leaves no pyplot figure open
    image = plt.imread(out)
    assert image.shape[1] > image.shape[0]  # two columns: domain and membrane zoom


def test_plot_file_of_a_transient_puts_traces_beside_profiles(tmp_path, nernst_transient):
    source = tmp_path / "transient.h5"
    nernst_transient.save(source)
    overview = plt.imread(plot.plot_file(source, out=tmp_path / "overview.png"))
    profiles = plt.imread(plot.plot_file(source, kind="profiles", out=tmp_path / "p.png"))
    traces = plt.imread(plot.plot_file(source, kind="traces", out=tmp_path / "t.png"))
    assert overview.shape[1] > profiles.shape[1] > traces.shape[1]


def test_plot_file_rejects_kinds_that_do_not_fit(tmp_path, nernst, ghk_sweep):
    source = tmp_path / "nernst.h5"
    nernst.save(source)
    with pytest.raises(ValueError, match="steady result has no time series"):
        plot.plot_file(source, kind="traces")
    with pytest.raises(ValueError, match="needs a sweep directory"):
        plot.plot_file(source, kind="iv")
    with pytest.raises(ValueError, match="unknown plot kind"):
        plot.plot_file(source, kind="contour")
    with pytest.raises(ValueError, match="must be iv or sweep"):
        plot.plot_file(ghk_sweep, kind="profiles", out=tmp_path / "x.png")


def test_plot_file_passes_result_file_errors_on(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a result")
    with pytest.raises(ResultFileError, match="not an HDF5 file"):
        plot.plot_file(bad)
    with pytest.raises(ResultFileError, match="no such file"):
        plot.plot_file(tmp_path / "missing.h5")
    with pytest.raises(ResultFileError, match=r"without summary\.csv"):
        plot.plot_file(tmp_path)
    assert not list(tmp_path.glob("*.png"))


def test_plot_file_of_a_clamp_sweep_is_an_iv_curve(ghk_sweep):
    out = plot.plot_file(ghk_sweep)
    assert out == ghk_sweep / "iv.png" and _is_png(out)


def test_ghk_reference_of_a_clamp_sweep_matches_the_points(ghk_sweep):
    point = pnp.load_result(ghk_sweep / "0000.h5")
    columns = _read_summary_csv(ghk_sweep / "summary.csv")
    voltage = columns["boundary.left.potential"]
    v, i = _ghk_reference(point, "boundary.left.potential", voltage)
    np.testing.assert_allclose(
        np.interp(voltage, v, i), columns["current"], rtol=0.01, atol=1e-3 * np.abs(i).max()
    )
    # Not GHK-like: no reference.
    assert _ghk_reference(point, "region.bath.concentration.K", voltage) is None


def _wall_potential_sweep(directory: Path) -> Path:
    """A sweep of a blocking wall's electrode potential: not a clamp voltage."""
    directory.mkdir()
    point = make_result()
    point.case_toml = CASE_TOML.format(charge=0.0).replace(
        "surface_charge = 0.0", "potential = 0.05"
    )
    point.save(directory / "point_0000.h5")
    rows = [
        {
            "boundary.left.potential": v,
            "status": "completed",
            "current": 0.0,
            "membrane_potential": v,
        }
        for v in (0.0, 0.025, 0.05)
    ]
    _write_csv(directory / "summary.csv", rows)
    return directory


def test_iv_refuses_a_sweep_without_a_clamp_voltage(tmp_path, ghk_sweep, capsys):
    from pnp.presentation.cli import main

    summary = _two_parameter_summary()
    concentrations = tmp_path / "concentrations"
    concentrations.mkdir()
    _write_csv(
        concentrations / "summary.csv", [{k: v[i] for k, v in summary.items()} for i in range(12)]
    )
    wall = _wall_potential_sweep(tmp_path / "wall")
    with pytest.raises(ValueError, match=r"sweeps region\.bath.*not a clamp voltage"):
        plot.plot_file(concentrations, kind="iv")
    with pytest.raises(ValueError, match="a wall's electrode potential"):
        plot.plot_file(wall, kind="iv")
    # By default a wall-potential sweep is a sweep figure, not an I-V curve.
    assert plot.plot_file(wall) == wall / "sweep.png"
    # On the command line: one line, exit 2, no traceback.
    capsys.readouterr()
    for directory in (concentrations, wall):
        assert main(["plot", str(directory), "--kind", "iv"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pnp: error: ") and "no I-V curve" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (concentrations / "iv.png").exists() and not (wall / "iv.png").exists()
    # A clamp sweep of a reservoir's potential is accepted.
    assert main(["plot", str(ghk_sweep), "--kind", "iv", "-o", str(tmp_path / "iv.png")]) == 0
    assert _is_png(tmp_path / "iv.png")


def test_zipped_parameters_give_one_line(tmp_path):
    k = np.geomspace(1.0, 100.0, 5)
    rows = [
        {
            "region.bath.concentration.K": value,
            "region.bath.concentration.Cl": value,
            "status": "completed",
            "membrane_potential": -0.01 * index,
        }
        for index, value in enumerate(k)
    ]
    _write_csv(tmp_path / "summary.csv", rows)
    out = plot.plot_file(tmp_path)
    assert _is_png(out)
    from pnp.presentation.plot.files import _sweep_defaults
    from pnp.presentation.plot.summary import _read_summary_csv

    columns = _read_summary_csv(tmp_path / "summary.csv")
    assert _sweep_defaults(columns, None, None, None) == (
        "region.bath.concentration.K",
        "membrane_potential",
        None,
    )


def test_every_figure_kind_renders(tmp_path, nernst_transient, ghk_sweep):
    transient = tmp_path / "transient.h5"
    nernst_transient.save(transient)
    summary = _two_parameter_summary()
    two = tmp_path / "two"
    two.mkdir()
    _write_csv(two / "summary.csv", [{k: v[i] for k, v in summary.items()} for i in range(12)])
    written = [
        plot.plot_file(transient, kind="profiles", out=tmp_path / "profiles.png"),
        plot.plot_file(transient, kind="traces", out=tmp_path / "traces.png"),
        plot.plot_file(transient, out=tmp_path / "overview.png"),
        plot.plot_file(ghk_sweep, kind="iv", out=tmp_path / "iv.png"),
        plot.plot_file(two, kind="sweep", out=tmp_path / "sweep.png"),
    ]
    for path in written:
        assert _is_png(path)
        height, width = plt.imread(path).shape[:2]
        assert height > 400 and width > 600


def test_plot_file_of_a_two_parameter_sweep(tmp_path):
    summary = _two_parameter_summary()
    rows = [{name: summary[name][k] for name in summary} for k in range(12)]
    _write_csv(tmp_path / "summary.csv", rows)
    out = plot.plot_file(tmp_path)
    assert out == tmp_path / "sweep.png" and _is_png(out)
    out = plot.plot_file(
        tmp_path, out=tmp_path / "k.png", x="region.bath.concentration.K", y="membrane_potential"
    )
    assert _is_png(out)


def test_an_end_switched_to_a_current_clamp_is_no_longer_held():
    """phi at a domain end is the held potential only while a potential holds it: a
    protocol step to a current clamp (or a surface charge) lets it float."""
    from pnp.presentation.plot.face_values import held_potential

    reservoir = {"type": "reservoir", "potential": 0.0}
    case = pnp.Case.from_dict(
        _transient_case(
            {"left": {"type": "reservoir", "potential": -0.07}, "right": reservoir},
            [
                {"at": 1.0, "set": {"boundary.left.current": 0.01}},
                {"at": 3.0, "set": {"boundary.left.potential": -0.02}},
            ],
        )
    )
    assert held_potential(case, "left", 1.0) == -0.07  # a step at t is not yet applied
    assert held_potential(case, "left", 2.0) is None
    assert held_potential(case, "left", 4.0) == -0.02
    assert held_potential(case, "right", 4.0) == 0.0
    wall = pnp.Case.from_dict(
        _transient_case(
            {"left": {"type": "wall", "potential": 0.05}, "right": reservoir},
            [{"at": 1.0, "set": {"boundary.left.surface_charge": 0.01}}],
        )
    )
    assert held_potential(wall, "left", 1.0) == 0.05
    assert held_potential(wall, "left", 2.0) is None
    assert held_potential(None, "left", 2.0) is None  # no (valid) case: nothing held


def test_held_ends_read_the_case_as_validated():
    """The protocol steps are applied by Case.at_time, so a case mapping as written
    (units in strings: membrane_charging's step to "10 mV" at "1 ns") is read
    like the resolved one."""
    import tomllib

    case = tomllib.loads((CASES / "membrane_charging.toml").read_text(encoding="utf-8"))
    result = make_result(times=(1e-9, 2e-9))
    for index, left in ((0, 0.0), (1, 0.01)):  # the step at 1 ns itself is not yet in
        _, phi = potential_line(result, case, index)
        assert (phi[0], phi[-1]) == (pytest.approx(left, rel=1e-12), 0.0)
