"""The compiled helpers never index outside their arrays.

numba compiles without bounds checks: an index one past an array's end reads
or writes whatever memory lies there, and a test comparing results passes as
long as that memory happens to hold the right value (found by mutants of
``pnp.solvers.history`` that shrink an array by one). Here the tests of the
compiled helpers run again in a fresh interpreter with numba's bounds
checking on (``NUMBA_BOUNDSCHECK=1``, compiled into a cache of their own),
where any such index raises IndexError. The stepper's helpers and the
moving mesh's geometry run by default (~15 s each, compilation included);
the Newton iteration, the compiled loop, the channel tables, the gates'
and the swelling cell's assembly in the slow set (~40 s each).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _run_bounds_checked(tmp_path, *files):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_the_stepper_helpers_stay_in_bounds(tmp_path):
    _run_bounds_checked(tmp_path, "tests/test_history.py")


def test_the_moving_mesh_geometry_stays_in_bounds(tmp_path):
    _run_bounds_checked(
        tmp_path,
        "tests/test_model_contracts.py",
        "-k",
        "boundary_geometry or geometric_arrays or compiled_face_conductances",
    )


@pytest.mark.slow
def test_the_newton_iteration_and_channel_tables_stay_in_bounds(tmp_path):
    _run_bounds_checked(
        tmp_path,
        "tests/test_iteration.py",
        "tests/test_compiled_loop.py",
        "tests/test_channel_tables.py",
    )


@pytest.mark.slow
def test_the_gates_assembly_and_border_algebra_stay_in_bounds(tmp_path):
    _run_bounds_checked(
        tmp_path,
        "tests/test_schur.py",
        "tests/test_gated_loop.py",
        "-k",
        "dense or small_lu or singular or compiled_gate_assembly",
    )


@pytest.mark.slow
def test_the_swelling_cell_s_step_stays_in_bounds(tmp_path):
    """The moving mesh (pnp.discretisation.moving), the swelling cell's
    assembly and a whole compiled run of donnan_swelling (pnp.solvers.swollen,
    the volume's branches of the compiled step)."""
    _run_bounds_checked(
        tmp_path,
        "tests/test_swollen_loop.py",
        "-k",
        "numpy_places or brought_back or donnan_swelling or pieces or fixed_mesh",
    )
