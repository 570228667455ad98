"""The stress matrix (scripts/stress.py): every point converges and passes every check.

The README's Robustness table (``benchmarks/stress.md``, kept in the README by
``scripts/update_readme.py``) claims every one of the 54 points is "ok": each
point is a default test here (a few hundredths of a second each), and the
table's counts are checked against the matrix itself.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "stress.py"
spec = importlib.util.spec_from_file_location("stress", SCRIPT)
stress = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stress)

POINTS = dict(stress.stress_points())


def test_matrix_has_no_duplicate_labels():
    assert len(POINTS) == len(stress.stress_points())


@pytest.mark.parametrize("label", list(POINTS))
def test_every_stress_point_is_ok(label):
    row = stress.run_point(label, POINTS[label])
    # "ok": converged and every physics check that applies holds (the README
    # claims it for every point); "failed"/"refused" would need the table changed,
    # "WRONG" must never happen
    assert row["outcome"] == "ok", row


def _group(label: str) -> str:
    """The README table's row of a point (as scripts/stress.py groups them)."""
    return "combined extremes" if "," in label else label.split("=")[0]


def test_readme_table_counts_the_matrix():
    """Every row of the README's table says all of its points are ok, with the matrix's counts."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- BEGIN stress -->\n(.*?)<!-- END stress -->", text, re.S).group(1)
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].isdigit():
            rows[cells[0]] = tuple(int(c) for c in cells[1:])
    expected: dict[str, int] = {}
    for label in POINTS:
        expected[_group(label)] = expected.get(_group(label), 0) + 1
    expected["**all**"] = len(POINTS)
    assert rows == {name: (n, n, 0, 0) for name, n in expected.items()}
    assert f"({len(POINTS)} points;" in block


def test_checks_can_fail():
    """The checks catch a wrong answer: a doctored potential breaks Nernst."""
    import pnp

    case = pnp.Case.from_dict(POINTS["base"])
    res = pnp.run(case)
    assert stress.check(case, res) == []
    res.membrane_potential[-1] += 1e-3
    assert any("Nernst" in p for p in stress.check(case, res))
