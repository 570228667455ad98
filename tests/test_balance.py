"""``balance``: a bulk region's named ion adjusted to keep it electroneutral."""

from __future__ import annotations

import tomllib
import warnings

import pytest
from helpers import CASES, pnp_subprocess

from pnp.errors import CaseError
from pnp.input import Case, load_case
from pnp.simulation.sweep.spec import _validate, point_overrides

GHK = CASES / "ghk.toml"


def ghk_dict(**bath) -> dict:
    data = tomllib.loads(GHK.read_text())
    data["output"].pop("path")
    data["region"][2].update(bath)
    return data


def net_charge(case: Case, name: str) -> float:
    region = case.region(name)
    return region.fixed_charge + sum(s.z * region.concentration[s.name] for s in case.species)


def test_without_balance_a_changed_ion_breaks_electroneutrality():
    with pytest.raises(CaseError, match="region 'bath' is not electroneutral"):
        load_case(GHK, overrides={"region.bath.concentration.K": 20})


@pytest.mark.parametrize("given", ["file", "override"])
def test_balance_adjusts_the_named_ion_after_overrides(given):
    data = ghk_dict(balance="Cl") if given == "file" else ghk_dict()
    overrides = {"region.bath.concentration.K": 20}
    if given == "override":
        overrides["region.bath.balance"] = "Cl"
    case = Case.from_dict(data, overrides=overrides)
    bath = case.region("bath")
    assert bath.balance == "Cl"
    assert bath.concentration == {"K": 20.0, "Na": 145.0, "Cl": 165.0, "X": 0.0}
    assert net_charge(case, "bath") == 0.0
    assert case.region("cytoplasm").balance is None


def test_balance_replaces_the_listed_value_and_counts_fixed_charge():
    # Na is listed as 1000 (ignored): 150 Cl + 40 fixed anions - 5 K leave 185 Na
    data = ghk_dict(balance="Na", fixed_charge=-40)
    data["region"][2]["concentration"]["Na"] = 1000
    case = Case.from_dict(data)
    assert case.region("bath").concentration["Na"] == 185.0
    assert net_charge(case, "bath") == 0.0


def test_divalent_balance():
    data = ghk_dict(balance="Ca")
    data["species"]["Ca"] = {"z": 2, "D": 0.79e-9}
    data["region"][2]["concentration"] = {"K": 5, "Na": 140, "Cl": 150}
    assert Case.from_dict(data).region("bath").concentration["Ca"] == 2.5


def test_balanced_case_round_trips_through_toml():
    case = Case.from_dict(ghk_dict(balance="Cl"), overrides={"region.bath.concentration.K": 7})
    text = case.to_toml()
    assert 'balance = "Cl"' in text
    again = Case.from_dict(tomllib.loads(text))
    assert again.regions == case.regions


def test_balanced_region_passes_strict_and_warns_nothing_when_not_strict():
    overrides = {"region.bath.concentration.K": 50, "region.bath.balance": "Cl"}
    load_case(GHK, overrides=overrides)  # strict (the default): no error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        case = load_case(GHK, overrides=overrides, strict=False)
    assert case.region("bath").concentration["Cl"] == 195.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region.bath.balance": "Q"}, r"`region\.bath\.balance`: unknown species `Q`"),
        ({"region.bath.balance": "membrane"}, "unknown species `membrane`"),
        ({"region.bath.balance": 3}, "expected a name"),
        ({"region.membrane.balance": "Cl"}, r"`region\.membrane\.balance`: only a bulk region"),
        (
            {"region.bath.balance": "K", "region.bath.concentration.Na": 200},
            r"`region\.bath\.balance`: balance = \"K\" cannot make region 'bath' electroneutral: "
            r"Na = 200, Cl = 150 \(mol/m\^3\) carry a net charge of \+50 mol/m\^3, which K "
            r"\(z = \+1\) would offset only at -50 mol/m\^3 < 0; change those values or balance "
            r"with an anion$",
        ),
        (
            {"region.bath.balance": "Cl", "region.bath.fixed_charge": -200},
            r"K = 5, Na = 145, fixed_charge = -200 \(mol/m\^3\) carry a net charge of -50 .* "
            r"with a cation$",
        ),
        (
            {"region.bath.balance": "Cl", "region.bath.concentration.Cl": 100},
            r"`region\.bath\.concentration\.Cl`: region 'bath' has balance = \"Cl\": its Cl is "
            "computed",
        ),
    ],
)
def test_balance_mistakes_give_one_line_errors(overrides, message):
    with pytest.raises(CaseError, match=message) as info:
        load_case(GHK, overrides=overrides, strict=False)
    assert "\n" not in str(info.value)


def test_uncharged_species_cannot_balance():
    data = ghk_dict(balance="G")
    data["species"]["G"] = {"z": 0, "D": 1e-9}
    with pytest.raises(CaseError, match=r"`G` is uncharged \(z = 0\)"):
        Case.from_dict(data)


def test_exact_cancellation_gives_zero_not_a_rounding_error():
    data = ghk_dict(balance="K")
    data["region"][2]["concentration"] = {"K": 1, "Na": 0.1 + 0.2, "Cl": 0.3}
    assert Case.from_dict(data).region("bath").concentration["K"] == 0.0


def test_a_whole_concentration_table_is_rebalanced():
    case = Case.from_dict(
        ghk_dict(balance="Cl"), overrides={"region.bath.concentration": {"K": 10, "Na": 100}}
    )
    assert case.region("bath").concentration == {"K": 10.0, "Na": 100.0, "Cl": 110.0, "X": 0.0}


def transient_with(changes: dict) -> dict:
    data = ghk_dict(balance="Cl")
    data["run"] = {"mode": "transient", "t_end": 1.0}
    data["protocol"] = [{"at": 0.5, "set": changes}]
    return data


def test_a_protocol_changing_a_balanced_region_rebalances_it():
    case = Case.from_dict(transient_with({"region.bath.concentration.K": 40}))
    assert case.region("bath").concentration["Cl"] == 150.0
    later = case.at_time(0.5).region("bath")
    assert later.concentration["K"] == 40.0 and later.concentration["Cl"] == 185.0


def test_a_protocol_may_not_set_the_balanced_ion():
    with pytest.raises(CaseError, match="cannot change during a run: region 'bath' has balance"):
        Case.from_dict(transient_with({"region.bath.concentration.Cl": 40}))


def test_a_protocol_making_the_balance_negative_is_refused():
    data = ghk_dict(balance="K")
    data["run"] = {"mode": "transient", "t_end": 1.0}
    data["protocol"] = [{"at": 0.5, "set": {"region.bath.concentration.Na": 200}}]
    with pytest.raises(CaseError, match=r"changes at t = 0\.5 s make the case invalid: .*< 0"):
        Case.from_dict(data)


def test_sweeping_an_ion_of_a_balanced_region_rebalances_every_point():
    case = load_case(GHK, overrides={"region.bath.balance": "Cl"})
    points = point_overrides({"region.bath.concentration.K": [5, 10, 20]})
    cases = _validate(case, points)
    assert [c.region("bath").concentration["Cl"] for c in cases] == [150.0, 155.0, 165.0]
    with pytest.raises(CaseError, match=r"sweep point 2 \(region\.bath\.concentration\.Na=300\)"):
        _validate(
            load_case(GHK, overrides={"region.bath.balance": "K"}),
            point_overrides({"region.bath.concentration.Na": [100, 145, 300]}),
        )


def test_check_command_with_balance(tmp_path):
    args = ("check", str(GHK), "--set", "region.bath.concentration.K=20")
    refused = pnp_subprocess(*args, cwd=tmp_path)
    assert refused.returncode == 2 and "not electroneutral" in refused.stderr
    balanced = pnp_subprocess(*args, "--set", "region.bath.balance=Cl", cwd=tmp_path)
    assert balanced.returncode == 0, balanced.stderr
