"""Error estimates of the observables: from the run loop's trackers to the
Result, the result file and back (issue 12: every observable carries one).

The run loop gives no estimates yet (NaN everywhere); these tests give
explicit values through the Tracker, ResultWriter and Result interfaces.
"""

from __future__ import annotations

import itertools
import math

import h5py
import numpy as np
import pytest
from helpers import load
from test_io import append_output, assert_results_equal, make_result, writer_for

from pnp.discretisation.mesh import build_mesh
from pnp.discretisation.model import build_model, initial_state
from pnp.errors import ResultFileError
from pnp.results.display import with_error
from pnp.results.reader import describe, load_result
from pnp.results.result import Result
from pnp.simulation.loop import Tracker, Trackers
from pnp.simulation.trackers import Collector, FileWriter, observable_names


def estimates_for(result: Result, seed: int = 1) -> dict[str, np.ndarray]:
    """Non-negative estimates of every observable, with NaN, zero, a subnormal and inf."""
    rng = np.random.default_rng(seed)
    out = {name: rng.uniform(0, 1e-3, result.t.size) for name in result.observables()}
    out["membrane_potential"][0] = math.nan
    out["current"][1] = 0.0
    out["flux_K"][2] = 5e-324
    out["pump_current"][3] = math.inf
    return out


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float64 and a.tobytes() == b.tobytes()


# -- Result ---------------------------------------------------------------------


def test_every_observable_gets_a_nan_estimate_by_default():
    result = make_result()
    assert list(result.error_estimate) == list(result.observables())
    for values in result.error_estimate.values():
        assert values.shape == (4,) and values.dtype == np.float64
        assert np.isnan(values).all()


def test_given_estimates_are_kept_and_the_rest_are_nan():
    result = make_result(error_estimate={"flux_Na": [1e-9, 2e-9, 0.0, math.nan]})
    assert list(result.error_estimate) == list(result.observables())  # registry order
    np.testing.assert_array_equal(result.error_estimate["flux_Na"], [1e-9, 2e-9, 0.0, math.nan])
    assert np.isnan(result.error_estimate["membrane_potential"]).all()
    assert np.isnan(result.error_estimate["capacitive_current"]).all()  # an extra observable


@pytest.mark.parametrize(
    ("estimate", "match"),
    [
        ({"flux_Ca": np.zeros(4)}, "not observables"),  # no such species
        ({"voltage": np.zeros(4)}, "not observables"),
        ({"current": np.zeros(3)}, "expected 4 values"),
        ({"current": [0.0, 1e-3, -1e-12, 0.0]}, "negative"),
        ({"surface_charge_left": -np.inf * np.ones(4)}, "negative"),
    ],
)
def test_result_refuses_bad_estimates(estimate, match):
    with pytest.raises(ValueError, match=match):
        make_result(error_estimate=estimate)


def test_from_arrays_takes_estimates_by_flat_name():
    result = make_result()
    fields = {name: getattr(result, name) for name in ("t", "potential", "concentration")}
    fields.update(
        temperature=result.temperature,
        geometry=result.geometry,
        x=result.x,
        faces=result.faces,
        region=result.region,
        region_names=result.region_names,
        z=result.z,
        D=result.D,
    )
    built = Result.from_arrays(
        observables=result.observables(),
        species=result.species,
        error_estimate={"surface_charge_right": [1.0, 2.0, 3.0, 4.0]},
        **fields,
    )
    np.testing.assert_array_equal(built.error_estimate["surface_charge_right"], [1, 2, 3, 4])
    assert np.isnan(built.error_estimate["current"]).all()


# -- result files ---------------------------------------------------------------


def test_round_trip_keeps_estimates_bit_for_bit(tmp_path):
    result = make_result()
    result = make_result(error_estimate=estimates_for(result))
    result.save(tmp_path / "out.h5")
    loaded = load_result(tmp_path / "out.h5")
    assert_results_equal(loaded, result)
    assert list(loaded.error_estimate) == list(result.error_estimate)
    for name, values in result.error_estimate.items():
        assert same_bits(loaded.error_estimate[name], values), name


def test_file_layout_of_the_estimates(tmp_path):
    result = make_result()
    make_result(error_estimate=estimates_for(result)).save(tmp_path / "out.h5")
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert sorted(f["error_estimate"]) == sorted(f["observables"])
        for name in f["observables"]:
            if name == "t":  # each group's own copy of the output times, its coordinate
                continue
            estimate, observable = f["error_estimate"][name], f["observables"][name]
            assert estimate.attrs["units"] == observable.attrs["units"], name
            assert estimate.chunks == observable.chunks and estimate.maxshape == (None,)
            assert estimate.dims[0][0].name == "/error_estimate/t"
        np.testing.assert_array_equal(f["error_estimate/t"][:], f["t"][:])
        assert f["error_estimate/flux_K"].attrs["units"] == "mol/m^2/s"
        assert f["error_estimate/membrane_potential"].attrs["units"] == "V"
        assert f.attrs["format_version"] == 1


def test_file_without_estimates_loads_with_nan(tmp_path):
    """A file written before the estimates existed has no /error_estimate group."""
    result = make_result()
    path = tmp_path / "old.h5"
    make_result(error_estimate=estimates_for(result)).save(path)
    with h5py.File(path, "r+") as f:
        del f["error_estimate"]
    loaded = load_result(path)
    assert_results_equal(loaded, result)  # result: the same arrays, no estimates
    assert list(loaded.error_estimate) == list(loaded.observables())
    assert all(np.isnan(values).all() for values in loaded.error_estimate.values())
    assert "(no error estimates)" in describe(path)


def test_file_with_some_estimates_missing_loads_them_as_nan(tmp_path):
    path = tmp_path / "some.h5"
    make_result(error_estimate={"current": [1.0, 2.0, 3.0, 4.0]}).save(path)
    with h5py.File(path, "r+") as f:
        del f["error_estimate/flux_Na"]
    loaded = load_result(path)
    np.testing.assert_array_equal(loaded.error_estimate["current"], [1, 2, 3, 4])
    assert np.isnan(loaded.error_estimate["flux_Na"]).all()


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda f: f["error_estimate/current"].__setitem__(1, -1.0), "negative"),
        (lambda f: f["error_estimate"].create_dataset("voltage", data=np.zeros(4)), "observables"),
        (
            lambda f: (
                f.__delitem__("error_estimate/current"),
                f["error_estimate"].create_dataset("current", data=np.zeros((4, 2))),
            ),
            "error_estimate/current",
        ),
        (
            lambda f: (f.__delitem__("error_estimate"), f.create_dataset("error_estimate", data=1)),
            "not a group",
        ),
    ],
)
def test_damaged_estimates_are_refused(tmp_path, damage, match):
    path = tmp_path / "bad.h5"
    make_result(status="completed").save(path)
    with h5py.File(path, "r+") as f:
        damage(f)
    with pytest.raises(ResultFileError, match=match):
        load_result(path)


def test_writer_stores_nan_where_no_estimate_is_given(tmp_path):
    result = make_result()
    path = tmp_path / "w.h5"
    with writer_for(path, result) as writer:
        append_output(writer, result, 0)  # no estimates at all
        row = {name: values[1] for name, values in result.observables().items()}
        writer.append(
            result.t[1],
            result.potential[1],
            result.concentration[1],
            row,
            {"current": 2e-6, "flux_K": None},
        )
        writer.extend(
            result.t[2:],
            result.potential[2:],
            result.concentration[2:],
            {name: values[2:] for name, values in result.observables().items()},
            {"membrane_potential": [1e-5, 3e-5]},
        )
        writer.finish("completed")
    loaded = load_result(path)
    nan = math.nan
    np.testing.assert_array_equal(loaded.error_estimate["current"], [nan, 2e-6, nan, nan])
    np.testing.assert_array_equal(
        loaded.error_estimate["membrane_potential"], [nan, nan, 1e-5, 3e-5]
    )
    assert np.isnan(loaded.error_estimate["flux_K"]).all()


@pytest.mark.parametrize(
    ("errors", "match"),
    [
        ({"flux_Ca": 1.0}, "unknown"),
        ({"current": -1e-9}, "negative"),
        ({"current": [1.0, 2.0]}, "expected 1"),
    ],
)
def test_writer_refuses_bad_estimates_and_writes_nothing(tmp_path, errors, match):
    result = make_result()
    row = {name: values[0] for name, values in result.observables().items()}
    with writer_for(tmp_path / "w.h5", result) as writer:
        with pytest.raises(ValueError, match=match):
            writer.append(result.t[0], result.potential[0], result.concentration[0], row, errors)
        assert writer.n_outputs == 0


def test_streamed_file_has_the_estimates_of_every_output_written(tmp_path):
    result = make_result()
    estimates = estimates_for(result)
    path = tmp_path / "run.h5"
    writer = writer_for(path, result)
    for k in range(3):
        writer.append(
            result.t[k],
            result.potential[k],
            result.concentration[k],
            {name: values[k] for name, values in result.observables().items()},
            {name: values[k] for name, values in estimates.items()},
        )
        live = load_result(path)  # while the writer has it open
        assert live.status == "running" and live.t.size == k + 1
        for name, values in estimates.items():
            np.testing.assert_array_equal(live.error_estimate[name], values[: k + 1])
    writer.close()  # like a killed run: never finished
    loaded = load_result(path)
    assert loaded.status == "running"
    for name, values in estimates.items():
        assert same_bits(loaded.error_estimate[name], values[:3]), name


# -- the run loop's trackers ----------------------------------------------------


class _Recorder(Tracker):
    """A tracker written against the old protocol's defaults."""

    def __init__(self):
        self.calls = []

    def output(self, model, t, x, observables, errors=None):
        self.calls.append(errors)


def _outputs(model, count):
    """Arbitrary states and observables of ``model`` (nothing is solved)."""
    x = initial_state(model)
    names = observable_names(model)
    for k in range(count):
        yield float(k), x + k, {name: float(10 * k + j) for j, name in enumerate(names)}


def test_trackers_carry_estimates_to_the_result_and_the_file(tmp_path):
    model = build_model(load("nernst_k"))
    path = tmp_path / "run.h5"
    collector, writer, recorder = Collector(), FileWriter(path, stream=True), _Recorder()
    trackers = Trackers([collector, writer, recorder])
    given = [
        {"membrane_potential": 4e-6, "flux_K": 1e-12, "surface_charge_left": 0.0},
        None,  # no estimates at this output
        {"current": 3e-9},
    ]
    trackers.start(model)
    for (t, x, obs), errors in zip(_outputs(model, 3), given, strict=True):
        trackers.output(model, t, x, obs, errors)
    trackers.output(model, 3.0, initial_state(model), dict(obs))  # the old call, no errors
    trackers.finish("completed", "", {"steps": 4})
    trackers.close()
    assert recorder.calls == [*given, None]

    nan = math.nan
    expected = {
        "membrane_potential": [4e-6, nan, nan, nan],
        "flux_K": [1e-12, nan, nan, nan],
        "surface_charge_left": [0.0, nan, nan, nan],
        "current": [nan, nan, 3e-9, nan],
    }
    result = collector.result("completed", "", {"steps": 4})
    loaded = load_result(path)
    for got in (result, loaded):
        assert list(got.error_estimate) == observable_names(model)
        for name, values in got.error_estimate.items():
            np.testing.assert_array_equal(values, expected.get(name, [nan] * 4), err_msg=name)
    assert_results_equal(loaded, result)


def test_collector_builds_the_result_on_the_last_outputs_model():
    """The steady solver may end on a finer mesh than the one it started on."""
    case = load("nernst_k")
    start = build_model(case)
    finer = build_model(case, build_mesh(case.with_overrides({"mesh.uniform_cells": 60})))
    assert finer.n_cells != start.n_cells
    collector = Collector()
    collector.start(start)
    ((_t, x, obs),) = _outputs(finer, 1)
    collector.output(finer, math.inf, x, obs, {"membrane_potential": 1e-7})
    result = collector.result("completed", "", {})
    assert result.x.size == finer.n_cells
    np.testing.assert_array_equal(result.faces, finer.mesh.faces)
    assert result.error_estimate["membrane_potential"].tolist() == [1e-7]


def test_collector_refuses_an_estimate_of_no_observable():
    model = build_model(load("nernst_k"))
    collector = Collector()
    collector.start(model)
    ((t, x, obs),) = _outputs(model, 1)
    collector.output(model, t, x, obs, {"flux_Na": 1.0})  # nernst_k has K and Cl only
    with pytest.raises(ValueError, match="flux_Na"):
        collector.result("completed", "", {})


# -- display ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "unit", "text"),
    [
        (-70.1234567, 0.0043, "mV", "-70.123 ± 0.004 mV"),
        (-70.1234567, 0.0014, "mV", "-70.1235 ± 0.0014 mV"),  # a leading 1: two digits
        (-70.1234567, 0.00196, "mV", "-70.123 ± 0.002 mV"),  # 0.0020 rounds to one digit
        (70.0, 0.001, "mV", "70.0000 ± 0.0010 mV"),  # trailing zeros are digits too
        (1.234567e-5, 3e-9, "A/m^2", "1.2346e-05 ± 3e-09 A/m^2"),
        (3e-12, 5e-9, "A/m^2", "3e-12 ± 5e-09 A/m^2"),  # below the error: one digit
        (0.0, 2e-6, "V", "0 ± 2e-06 V"),
        (1.0, 1e-20, "", "1.00000000000 ± 1.0e-20"),  # at most 12 digits
        (1.2345678, math.nan, "V", "1.23457 V"),  # no estimate: as without one
        (1.2345678, None, "V", "1.23457 V"),
        (1.2345678, 0.0, "V", "1.23457 ± 0 V"),
        (1.2345678, math.inf, "V", "1.23457 ± inf V"),
        (1.0, 1.7976931348623157e308, "", "1 ± 1.8e+308"),  # rounding up would overflow
        (1.0, 1.75e308, "", "1 ± 1.8e+308"),
    ],
)
def test_value_with_error_text(value, error, unit, text):
    assert with_error(value, error, unit) == text


def test_value_with_error_text_for_any_floats():
    """What a damaged file may hold: every finite, infinite or NaN value with
    any non-negative estimate gives one line of text, never an exception."""
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**64, 2000, dtype=np.uint64).view(np.float64)
    errors = np.abs(rng.integers(0, 2**64, 2000, dtype=np.uint64).view(np.float64))
    specials = [0.0, -0.0, 5e-324, 1.7976931348623157e308, math.inf, math.nan]
    pairs = [*zip(values, errors, strict=True), *itertools.product(specials, specials)]
    for value, error in pairs:
        text = with_error(float(value), float(error), "V")
        assert text.isprintable() and text.endswith(" V"), (value, error, text)
        assert ("±" in text) != math.isnan(error), (value, error, text)
