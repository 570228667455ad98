"""Result objects and HDF5 result files: round trips, incremental writing, crashes, bad files."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from pnp.errors import ResultFileError
from pnp.results.reader import describe, load_result
from pnp.results.result import Result
from pnp.results.writer import ResultWriter

REPO = Path(__file__).resolve().parents[1]
SPECIES = ("K", "Na", "Cl")


def make_result(n_times: int = 4, n_cells: int = 12, seed: int = 0, **overrides) -> Result:
    """A synthetic result with random arrays: three species, two regions."""
    rng = np.random.default_rng(seed)
    faces = np.concatenate([[0.0], np.cumsum(rng.uniform(1e-9, 1e-7, n_cells))])
    fields = dict(
        title="Synthetic — µ test",
        case_toml='title = "Synthetic — µ test"\ntemperature = 310.15\n',
        temperature=310.15,
        geometry="cylindrical",
        x=0.5 * (faces[1:] + faces[:-1]),
        faces=faces,
        region=np.repeat([0, 1], [n_cells // 2, n_cells - n_cells // 2]),
        region_names=("cytoplasm", "bath"),
        species=SPECIES,
        z=np.array([1, 1, -1]),
        D=np.array([1.96e-9, 1.33e-9, 2.03e-9]),
        inside="right",
        t=np.sort(rng.uniform(0, 1, n_times)),
        potential=rng.normal(size=(n_times, n_cells)),
        concentration=rng.uniform(0, 150, size=(n_times, len(SPECIES), n_cells)),
        membrane_potential=rng.normal(size=n_times),
        current=rng.normal(size=n_times),
        flux={name: rng.normal(size=n_times) for name in SPECIES},
        surface_charge={"left": rng.normal(size=n_times), "right": rng.normal(size=n_times)},
        pump_current=rng.normal(size=n_times),
        # the registered observables beyond the fields that are sweep summary
        # columns, as a run reports them, then one the registry does not know
        extra_observables={
            "membrane_voltage": rng.normal(size=n_times),
            **{f"current_{name}": rng.normal(size=n_times) for name in SPECIES},
            "capacitive_current": rng.normal(size=n_times),
        },
        stats={
            "steps": 17,
            "newton_iterations": 53,
            "rejected_steps": 2,
            "factorizations": 40,
            "wall_time": 0.125,
            "pseudo_time": np.inf,
            "converged": False,
            "method": "bdf2",
        },
        status="failed",
        message="Newton did not converge at t = 0.5 s",
    )
    fields.update(overrides)
    return Result(**fields)


def assert_results_equal(actual: Result, expected: Result) -> None:
    for field in dataclasses.fields(Result):
        got, want = getattr(actual, field.name), getattr(expected, field.name)
        if isinstance(want, np.ndarray):
            assert got.shape == want.shape, field.name
            assert got.dtype.kind == want.dtype.kind, field.name
            np.testing.assert_array_equal(got, want, err_msg=field.name)
        elif isinstance(want, dict) and field.name != "stats":
            assert list(got) == list(want), field.name
            for key in want:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{field.name}[{key}]")
        else:
            assert got == want, field.name
            assert type(got) is type(want), field.name
    for key, value in expected.stats.items():
        assert type(actual.stats[key]) is type(value), key


def writer_for(path, result: Result) -> ResultWriter:
    return ResultWriter(
        path,
        title=result.title,
        case_toml=result.case_toml,
        temperature=result.temperature,
        geometry=result.geometry,
        x=result.x,
        faces=result.faces,
        region=result.region,
        region_names=result.region_names,
        species=result.species,
        z=result.z,
        D=result.D,
        inside=result.inside,
        observable_names=list(result.observables()),
    )


def append_output(writer: ResultWriter, result: Result, k: int) -> None:
    writer.append(
        result.t[k],
        result.potential[k],
        result.concentration[k],
        {name: values[k] for name, values in result.observables().items()},
    )


# -- Result -------------------------------------------------------------------


def test_result_accessors():
    result = make_result()
    np.testing.assert_array_equal(result.c("Na"), result.concentration[:, 1, :])
    with pytest.raises(KeyError, match="K, Na, Cl"):
        result.c("Ca")
    assert not result.success
    assert make_result(status="completed").success
    text = repr(result)
    assert "failed" in text and "N=12" in text and "T=4" in text and "K, Na, Cl" in text


def test_result_stacks_per_time_lists_and_defaults_pump_current():
    result = make_result()
    built = make_result(
        potential=list(result.potential),
        concentration=[list(c) for c in result.concentration],
        membrane_potential=list(result.membrane_potential),
        flux={name: list(values) for name, values in reversed(result.flux.items())},
        pump_current=None,
    )
    np.testing.assert_array_equal(built.potential, result.potential)
    np.testing.assert_array_equal(built.concentration, result.concentration)
    assert list(built.flux) == list(SPECIES)  # species order, whatever the input order
    np.testing.assert_array_equal(built.pump_current, np.zeros(4))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"potential": np.zeros((4, 11))}, "potential"),
        ({"faces": np.zeros(12)}, "faces"),
        ({"flux": {"Ca": np.zeros(4)}}, "unknown species"),
        ({"current": np.zeros(3)}, "current"),
        ({"status": "done"}, "status"),
    ],
)
def test_result_rejects_inconsistent_fields(override, match):
    with pytest.raises(ValueError, match=match):
        make_result(**override)


def test_from_arrays_maps_flat_observable_names():
    result = make_result()
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(Result)}
    for name in (
        "membrane_potential",
        "current",
        "pump_current",
        "flux",
        "surface_charge",
        "extra_observables",
    ):
        del fields[name]
    assert_results_equal(Result.from_arrays(observables=result.observables(), **fields), result)


# -- round trip ---------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    result = make_result()
    path = tmp_path / "sub" / "out.h5"
    result.save(path)
    assert_results_equal(load_result(path), result)
    assert_results_equal(load_result(str(path)), result)


def test_round_trip_steady_result_with_infinite_time(tmp_path):
    result = make_result(
        n_times=1, t=[np.inf], status="completed", message="", extra_observables={}
    )
    result.save(tmp_path / "steady.h5")
    assert_results_equal(load_result(tmp_path / "steady.h5"), result)
    assert "1 output (steady state)" in describe(tmp_path / "steady.h5")


def test_file_layout(tmp_path):
    result = make_result()
    result.save(tmp_path / "out.h5")
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert f.attrs["format"] == "pnp-result"
        assert f.attrs["format_version"] == 1
        assert f.attrs["status"] == "failed"
        assert len(f.attrs["case_sha256"]) == 64
        assert f["t"].maxshape == (None,)
        assert f["potential"].chunks == (1, 12)
        assert f["concentration"].chunks == (1, 3, 12)
        assert list(f["species/name"].asstr()[()]) == list(SPECIES)
        assert f["observables/flux_Na"].attrs["units"] == "mol/m^2/s"
        assert f["observables/surface_charge_left"].attrs["units"] == "C/m^2"
        assert f["solver"].attrs["newton_iterations"] == 53
        assert f["concentration"].dims[1][0].name == "/species_name"


# -- incremental writing and crashes --------------------------------------------


def test_incremental_writing_leaves_running_file(tmp_path):
    result = make_result()
    path = tmp_path / "run.h5"
    writer = writer_for(path, result)
    for k in range(3):
        append_output(writer, result, k)
    with h5py.File(path, "r") as f:  # while the writer still has it open
        assert f.attrs["status"] == "running"
        assert f["t"].shape == (3,)
        np.testing.assert_array_equal(f["potential"][()], result.potential[:3])
    partial = load_result(path)  # also while open
    assert partial.status == "running"
    assert partial.t.size == 3
    writer.close()

    loaded = load_result(path)
    assert loaded.status == "running"
    assert loaded.message == ""
    assert loaded.stats == {}
    np.testing.assert_array_equal(loaded.t, result.t[:3])
    np.testing.assert_array_equal(loaded.concentration, result.concentration[:3])
    np.testing.assert_array_equal(loaded.flux["Cl"], result.flux["Cl"][:3])
    assert "running" in describe(path)


def test_file_without_outputs_loads(tmp_path):
    result = make_result()
    writer_for(tmp_path / "empty_run.h5", result).close()
    loaded = load_result(tmp_path / "empty_run.h5")
    assert loaded.status == "running"
    assert loaded.potential.shape == (0, 12)
    assert loaded.concentration.shape == (0, 3, 12)
    assert loaded.flux["K"].shape == (0,)
    assert "no outputs" in describe(tmp_path / "empty_run.h5")


def test_finish_and_context_manager(tmp_path):
    result = make_result()
    with writer_for(tmp_path / "a.h5", result) as writer:
        append_output(writer, result, 0)
        writer.finish("completed", "steady state reached", {"steps": 3, "wall_time": 0.5})
    loaded = load_result(tmp_path / "a.h5")
    assert (loaded.status, loaded.message) == ("completed", "steady state reached")
    assert loaded.stats == {"steps": 3, "wall_time": 0.5}
    with pytest.raises(ValueError, match="closed"):
        append_output(writer, result, 1)

    with pytest.raises(RuntimeError), writer_for(tmp_path / "b.h5", result) as writer:
        append_output(writer, result, 0)
        raise RuntimeError("boom")
    loaded = load_result(tmp_path / "b.h5")
    assert loaded.status == "failed"
    assert "boom" in loaded.message


def test_append_checks_shapes_and_names(tmp_path):
    result = make_result()
    with writer_for(tmp_path / "a.h5", result) as writer:
        with pytest.raises(ValueError, match="potential"):
            writer.append(0.0, np.zeros(5), result.concentration[0], result.observables())
        with pytest.raises(ValueError, match="missing"):
            writer.append(0.0, result.potential[0], result.concentration[0], {"current": 1.0})
        assert writer.n_outputs == 0


@pytest.mark.parametrize(
    "longer",
    [
        ["potential", "observables/current"],
        ["t"],
        ["t", "potential"],
        ["error_estimate/flux_K"],
        ["t", "potential", "concentration", "observables/flux_K"],  # all but the estimates
    ],
)
def test_interrupted_append_loads_committed_outputs(tmp_path, longer):
    """A kill inside an append leaves some rows one longer than ``n_outputs``."""
    result = make_result(status="completed")
    path = tmp_path / "a.h5"
    writer = writer_for(path, result)
    for k in range(3):
        append_output(writer, result, k)
    writer.close()
    with h5py.File(path, "r+") as f:
        for key in longer:
            f[key].resize(4, axis=0)
    loaded = load_result(path)
    assert loaded.status == "running"
    assert loaded.potential.shape == (3, 12)
    assert loaded.current.shape == (3,)
    np.testing.assert_array_equal(loaded.t, result.t[:3])

    with h5py.File(path, "r+") as f:
        f.attrs["status"] = "completed"
    with pytest.raises(ResultFileError, match="inconsistent lengths"):
        load_result(path)


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pnp.results.writer import ResultWriter

    n = 50
    faces = np.linspace(0.0, 1e-6, n + 1)
    writer = ResultWriter(
        sys.argv[1], temperature=300.0, geometry="cartesian",
        x=0.5 * (faces[1:] + faces[:-1]), faces=faces, region=np.zeros(n, int),
        region_names=["bath"], species=["K", "Cl"], z=[1, -1], D=[2e-9, 2e-9],
        observable_names=["membrane_potential", "current", "flux_K", "flux_Cl"],
    )
    k = 0
    while True:
        writer.append(float(k), np.full(n, k), np.full((2, n), k),
                      {"membrane_potential": k, "current": k, "flux_K": k, "flux_Cl": k},
                      {"membrane_potential": 1e-3 * k, "flux_K": 2e-3 * k})
        k += 1
        print(k, flush=True)
    """
)


def test_sigkill_keeps_every_flushed_output(tmp_path):
    path = tmp_path / "killed.h5"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        done = 0
        while done < 5:
            line = child.stdout.readline()
            assert line, f"child died: {child.stderr.read()}"
            done = int(line)
        live = load_result(path)  # from another process while it writes
        assert live.status == "running"
        assert live.t.size >= done
        np.testing.assert_array_equal(live.t, np.arange(live.t.size, dtype=float))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    done = max([done, *map(int, out.split())])

    loaded = load_result(path)
    assert loaded.status == "running"
    count = loaded.t.size
    assert count >= done
    steps = np.arange(count, dtype=float)
    np.testing.assert_array_equal(loaded.t, steps)
    np.testing.assert_array_equal(loaded.potential, np.broadcast_to(steps[:, None], (count, 50)))
    np.testing.assert_array_equal(
        loaded.concentration, np.broadcast_to(steps[:, None, None], (count, 2, 50))
    )
    for values in (loaded.membrane_potential, loaded.current, loaded.flux["K"], loaded.flux["Cl"]):
        np.testing.assert_array_equal(values, steps)
    # the error estimates of every output kept, NaN where none was given
    errors = loaded.error_estimate
    np.testing.assert_array_equal(errors["membrane_potential"], 1e-3 * steps)
    np.testing.assert_array_equal(errors["flux_K"], 2e-3 * steps)
    assert np.isnan(errors["current"]).all() and np.isnan(errors["flux_Cl"]).all()
    assert errors["current"].shape == (count,)


# -- bad files ----------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ResultFileError, match=re.escape("nope.h5: no such file")):
        load_result(tmp_path / "nope.h5")


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a result\n")
    with pytest.raises(ResultFileError, match=re.escape("notes.txt: not an HDF5 file")):
        load_result(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.h5"
    path.touch()
    with pytest.raises(ResultFileError, match=re.escape("empty.h5: empty file")):
        load_result(path)


def test_hdf5_without_format(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(3.0))
    with pytest.raises(
        ResultFileError, match=re.escape("other.h5: HDF5 file but not a pnp result")
    ):
        load_result(path)
    with pytest.raises(ResultFileError, match="not a pnp result"):
        describe(path)


def test_foreign_format(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ResultFileError, match="format is 'something-else'"):
        load_result(path)


def test_wrong_format_version(tmp_path):
    path = tmp_path / "future.h5"
    make_result().save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(ResultFileError, match=re.escape("future.h5: unsupported format_version 2")):
        load_result(path)


def test_missing_dataset(tmp_path):
    path = tmp_path / "holed.h5"
    make_result().save(path)
    with h5py.File(path, "r+") as f:
        del f["concentration"]
    with pytest.raises(ResultFileError, match="missing /concentration"):
        load_result(path)


def test_inconsistent_mesh(tmp_path):
    path = tmp_path / "bad.h5"
    make_result().save(path)
    with h5py.File(path, "r+") as f:
        del f["faces"]
        f.create_dataset("faces", data=np.arange(5.0))
    with pytest.raises(ResultFileError, match=re.escape("bad.h5: inconsistent")):
        load_result(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "full.h5"
    make_result(n_times=4, n_cells=200).save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultFileError, match=re.escape("cut.h5")):
        load_result(cut)


# -- summary and xarray ---------------------------------------------------------


def test_describe(tmp_path):
    path = tmp_path / "out.h5"
    make_result().save(path)
    text = describe(path)
    assert "failed: Newton did not converge" in text
    assert "Synthetic — µ test" in text
    assert "cytoplasm  6 cells" in text and "bath       6 cells" in text
    assert "K (z=+1" in text and "Cl (z=-1" in text
    assert "4 outputs" in text
    assert "newton_iterations=53" in text


def test_xarray_opens_with_named_dims(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    result = make_result()
    path = tmp_path / "out.h5"
    result.save(path)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds["potential"].dims == ("t", "x")
        assert ds["concentration"].dims == ("t", "species_name", "x")
        assert list(ds["species_name"].values) == list(SPECIES)
        np.testing.assert_array_equal(
            ds["concentration"].sel(species_name="Na").values, result.c("Na")
        )
        np.testing.assert_array_equal(ds["x"].values, result.x)
        assert ds["potential"].attrs["units"] == "V"
        assert ds.attrs["format"] == "pnp-result"
    with xr.open_dataset(path, engine="h5netcdf", group="observables") as ds:
        assert ds["membrane_potential"].dims == ("t",)
        np.testing.assert_array_equal(ds["flux_K"].values, result.flux["K"])
        # the group carries t as its coordinate: V_m(t) directly
        np.testing.assert_array_equal(ds["membrane_potential"]["t"].values, result.t)
        assert ds["t"].attrs["units"] == "s"
        assert float(ds["membrane_potential"].sel(t=result.t[1])) == result.membrane_potential[1]
    estimated = make_result(error_estimate={"flux_K": np.arange(4.0)})
    estimated.save(path)
    with xr.open_dataset(path, engine="h5netcdf", group="error_estimate") as ds:
        assert ds["flux_K"].dims == ("t",) and ds["flux_K"].attrs["units"] == "mol/m^2/s"
        np.testing.assert_array_equal(ds["flux_K"].values, np.arange(4.0))
        np.testing.assert_array_equal(ds["flux_K"]["t"].values, estimated.t)
        assert np.isnan(ds["current"].values).all()


def test_write_interval_from_the_environment(monkeypatch):
    from pnp.simulation.trackers import WRITE_INTERVAL, write_interval

    monkeypatch.delenv("PNP_WRITE_INTERVAL", raising=False)
    assert write_interval() == WRITE_INTERVAL == 0.1
    for text, value in (("0", 0.0), ("2.5", 2.5), ("-1", 0.1), ("nan", 0.1), ("soon", 0.1)):
        monkeypatch.setenv("PNP_WRITE_INTERVAL", text)
        assert write_interval() == value, text


def test_gathered_appends_write_the_same_file(tmp_path, monkeypatch):
    """Every output gathered into one append at the end (a long interval) and one
    append per output give the same file contents."""
    import pnp

    case = pnp.load_case(
        Path(__file__).resolve().parents[1] / "cases" / "membrane_charging.toml",
        overrides={"run.outputs": 20},
    )
    results = []
    for interval in ("0", "1000"):
        monkeypatch.setenv("PNP_WRITE_INTERVAL", interval)
        path = tmp_path / f"run_{interval}.h5"
        pnp.run(case, output=str(path))
        results.append(pnp.load_result(path))
    a, b = results
    assert len(a.t) == len(b.t) == 22  # t = 0, 20 outputs and the protocol time
    assert np.array_equal(a.t, b.t) and np.array_equal(a.concentration, b.concentration)
    for name, values in a.observables().items():
        assert np.array_equal(values, b.observables()[name], equal_nan=True), name
