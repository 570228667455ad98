"""Zip groups crossed with the grid: ``zip=["K,Cl"]``, ``--zip K,Cl``; sweeps of balanced regions."""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import pnp
from pnp.errors import CaseError
from pnp.presentation.sweep_command import _case_and_zip, add_sweep_arguments, cmd_sweep
from pnp.simulation.sweep import load_sweep, point_overrides, sweep

CASES = Path(__file__).resolve().parent.parent / "cases"
P = "region.membrane.permeability.Na"
K = "region.bath.concentration.K"
CL = "region.bath.concentration.Cl"


def test_a_zip_group_is_one_axis_of_the_grid():
    params = {P: [1, 2], K: [5, 10, 20], CL: [150, 155, 165]}
    points = point_overrides(params, zip=["K,Cl"])
    assert points == [
        {P: p, K: k, CL: cl} for p in (1, 2) for k, cl in ((5, 150), (10, 155), (20, 165))
    ]
    assert list(points[0]) == [P, K, CL]  # keys in params order
    # full keys, a tuple group, and a group named out of order: the same points
    assert point_overrides(params, zip=[(CL, K)]) == points
    assert point_overrides(params, zip=f"{K},{CL}") == points
    # the axis sits at its first key: here first, so it varies slowest
    first = point_overrides({K: [5, 10], P: [1, 2, 3], CL: [150, 155]}, zip=["Cl,K"])
    assert [(p[K], p[P]) for p in first] == [(k, p) for k in (5, 10) for p in (1, 2, 3)]
    assert all(p[CL] == p[K] + 145 for p in first)


def test_two_groups_and_the_old_forms():
    params = {"a": [1, 2], "b": [3, 4], "c": [5, 6, 7], "d": [8, 9, 10]}
    points = point_overrides(params, zip=["a,b", "c,d"])
    assert [(p["a"], p["b"], p["c"], p["d"]) for p in points] == [
        (a, a + 2, c, c + 3) for a in (1, 2) for c in (5, 6, 7)
    ]
    two = {"a": [1, 2], "b": [3, 4]}
    assert point_overrides(two, zip=True) == point_overrides(two, zip=["a,b"])
    assert (
        point_overrides(two, zip=False)
        == point_overrides(two, zip=[])
        == (point_overrides(two, zip=None))
    )
    assert len(point_overrides(two)) == 4


@pytest.mark.parametrize(
    ("zip", "message"),
    [
        (["K"], "pair two or more"),
        (["K,K"], "is twice in it"),
        (["K,Cl", "Cl,Na"], "in two zip groups"),
        (["Q,K"], r"`Q` is not a swept key; swept: region\.membrane"),
        (["concentration.Na,K"], "`concentration.Na` is not a swept key"),
        (["K,"], "zip groups name swept keys"),
        ([3], "a zip group is a list"),
        (3, "zip is True, False or a list"),
    ],
)
def test_bad_zip_groups(zip, message):
    params = {P: [1, 2], K: [5, 10], CL: [150, 155]}
    with pytest.raises(CaseError, match=message):
        point_overrides(params, zip=zip)


def test_an_ambiguous_short_name_and_unequal_lengths():
    params = {"region.cytoplasm.concentration.K": [1, 2], K: [5, 10], CL: [150, 155, 160]}
    with pytest.raises(CaseError, match=r"`K` ends several swept keys .*; say which"):
        point_overrides(params, zip=["K,Cl"])
    with pytest.raises(CaseError, match=r"equal numbers of values \(.*K: 2, .*Cl: 3\)"):
        point_overrides(params, zip=["bath.concentration.K,Cl"])


def args(*argv):
    parser = argparse.ArgumentParser(prog="pnp sweep")
    add_sweep_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("c.toml", "--param", "a=1"), ("c.toml", [])),
        (("c.toml", "--param", "a=1", "--zip"), ("c.toml", True)),
        (("c.toml", "--zip", "--param", "a=1"), ("c.toml", True)),
        (("--zip", "c.toml", "--param", "a=1"), ("c.toml", True)),  # as before groups
        (
            ("c.toml", "--zip", "K,Cl", "--zip", "a,b", "--param", "a=1"),
            ("c.toml", ["K,Cl", "a,b"]),
        ),
    ],
)
def test_cli_zip_forms(argv, expected):
    assert _case_and_zip(args(*argv)) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("c.toml", "--zip", "--zip", "K,Cl", "--param", "a=1"), "--zip alone zips every"),
        (("--param", "a=1"), "give the case file"),
    ],
)
def test_cli_zip_mistakes(argv, message):
    with pytest.raises(CaseError, match=message):
        _case_and_zip(args(*argv))


def test_continuation_needs_one_axis():
    case = pnp.load_case(CASES / "ghk.toml", overrides={"region.bath.balance": "Na"})
    with pytest.raises(CaseError, match="1D sweep"):
        sweep(case, {P: [1e-10, 1e-9], K: [5, 10], CL: [150, 155]}, zip=["K,Cl"], continuation=True)


@pytest.mark.slow
def test_grouped_sweep_of_a_balanced_bath_runs_and_reads_back(tmp_path):
    """P_Na x (K, Na) pairs in which K replaces Na; the balancing Cl stays 150 mM."""
    case = pnp.load_case(CASES / "ghk.toml", overrides={"region.bath.balance": "Cl"})
    params = {P: [5e-10, 2e-9], K: [5, 20], "region.bath.concentration.Na": [145, 130]}
    with ThreadPoolExecutor(1) as pool:
        res = sweep(case, params, zip=["K,concentration.Na"], executor=pool, out=tmp_path)
    assert res.completed == 4 and not res.zipped
    assert res.zip_groups == ((K, "region.bath.concentration.Na"),)
    again = load_sweep(tmp_path)
    assert again.zip_groups == res.zip_groups and not again.zipped
    vm = res.table["membrane_potential"].reshape(2, 2)
    # each point is the GHK voltage of its contents: more K+ outside depolarises,
    # more Na+ permeability too
    assert vm[0, 1] > vm[0, 0] and vm[1, 0] > vm[0, 0]
    for row, (p, k, na) in zip(
        vm.ravel(),
        [(p, k, n) for p in (5e-10, 2e-9) for k, n in ((5, 145), (20, 130))],
        strict=True,
    ):
        ghk = pnp.analytic.ghk_voltage(
            {"K": 140, "Na": 12, "Cl": 10},
            {"K": k, "Na": na, "Cl": 150},
            {"K": 1e-8, "Na": p, "Cl": 4.5e-9},
            {"K": 1, "Na": 1, "Cl": -1},
            310.15,
        )
        assert abs(row - ghk) < 1e-4


def test_cli_grouped_sweep_is_validated_before_it_runs(tmp_path, capsys):
    out = tmp_path / "never"
    argv = [
        os.fspath(CASES / "ghk.toml"),
        "--set",
        "region.bath.balance=Na",
        "--param",
        f"{K}=5,200",
        "--param",
        f"{P}=1e-10,1e-9",
        "--param",
        f"{CL}=150,150",
        "-o",
        os.fspath(out),
        "--zip",
    ]
    assert cmd_sweep(args(*argv, "K,Cl")) == 2
    err = capsys.readouterr().err
    # (K = 200, Cl = 150) is the 2nd value of the slowest axis: point 2 is the first bad one
    assert f"sweep point 2 ({K}=200, {P}=1e-10, {CL}=150)" in err
    assert "balance = \"Na\" cannot make region 'bath' electroneutral" in err
    assert not out.exists()
    assert cmd_sweep(args(*argv, "Q,Cl")) == 2
    assert "`Q` is not a swept key" in capsys.readouterr().err
    argv[6] = "region.bath.concentration.Na=1,2"
    assert cmd_sweep(args(*argv, "K,Cl")) == 2
    assert "its Na is computed" in capsys.readouterr().err
