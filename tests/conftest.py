import os

os.environ.setdefault("MPLBACKEND", "agg")

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _strict_floating_point():
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)


@pytest.fixture
def python_step_path(monkeypatch):
    """Transient steps by the Python path, whose Newton (``pnp.solvers.bdf.newton``)
    a test may script; the stepper's reaction to a failure is the same on
    the compiled path (tests/test_compiled_loop.py runs both through failures)."""
    from pnp.solvers.newton import System

    monkeypatch.setattr(System, "loop_compiles", lambda self, project=None: False)
