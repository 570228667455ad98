"""numba's cache sees edits to what compiled code calls and reads (pnp.compiled).

numba stamps a function's stored machine code with its own file only; the
compiled functions it calls from other modules and the module constants it
reads are inside that code. pnp's functions are stamped with every file
compiled code can depend on, so an edit to any of them (a ``git pull`` in an
editable install) compiles them again instead of loading stale code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pnp
from pnp import compiled

PACKAGE = Path(pnp.__file__).resolve().parent

CALLEE = """from ..compiled import njit


@njit(cache=True)
def value():
    return {value}
"""

CALLER = """from ..compiled import njit
from ..constants import FARADAY
from ._probe_callee import value


@njit(cache=True)
def probe():
    return value(), FARADAY
"""

RUN = """
import pnp
from pnp.solvers import _probe
assert pnp.__file__.startswith({root!r}), pnp.__file__
s = _probe.probe.stats
print(*_probe.probe(), sum(s.cache_hits.values()), sum(s.cache_misses.values()))
"""


def _run(root: Path) -> tuple[float, float, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", RUN.format(root=str(root))],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3])


def test_an_edit_to_what_a_compiled_function_calls_or_reads_compiles_it_again(tmp_path):
    """A copy of the package with a compiled caller in one file and its
    callee in another: cached on the second run; after the callee's file
    changes, and after a constant it reads changes in pnp/constants.py, the
    caller gives the new values (numba's own stamp, the caller's file alone,
    would load the old code)."""
    shutil.copytree(PACKAGE, tmp_path / "pnp", ignore=shutil.ignore_patterns("__pycache__"))
    solvers = tmp_path / "pnp" / "solvers"
    (solvers / "_probe_callee.py").write_text(CALLEE.format(value="1.0"))
    (solvers / "_probe.py").write_text(CALLER)
    first = _run(tmp_path)
    assert first[:2] == (1.0, pnp.constants.FARADAY) and first[3] == 1  # compiled
    assert _run(tmp_path)[2:] == (1, 0)  # the second run loads it
    (solvers / "_probe_callee.py").write_text(CALLEE.format(value="2.0"))
    assert _run(tmp_path)[:1] == (2.0,)
    constants = tmp_path / "pnp" / "constants.py"
    text = constants.read_text()
    line = next(x for x in text.splitlines() if x.startswith("FARADAY"))
    constants.write_text(text.replace(line, "FARADAY = 96485.0"))
    assert _run(tmp_path)[:2] == (2.0, 96485.0)
    assert _run(tmp_path)[2:] == (1, 0)  # and is cached again


def test_pnp_s_functions_carry_the_package_stamp():
    """Every compiled function of pnp is stamped by pnp.compiled's locators."""
    from pnp.solvers import banded, iteration

    for fn in (iteration.bdf_step, banded._factor):
        locator = fn._cache._impl.locator
        assert type(locator).__name__.startswith("Pnp"), type(locator)
        assert locator.get_source_stamp() == compiled.source_stamp()
