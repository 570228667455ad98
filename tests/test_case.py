"""Case files: schema, units, validation, overrides, protocols, TOML round trip."""

from __future__ import annotations

import copy
import math
import os
import tomllib
import warnings

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import constants

from pnp.errors import CaseError
from pnp.input import (
    PARAMETERS,
    Case,
    CaseWarning,
    MeshSpec,
    OutputSpec,
    RunSpec,
    load_case,
    parse_override,
    schema_reference,
)

# A full case using every table of the schema (rules: docs/interface.md, section "Case files").
FULL_EXAMPLE = """
title = "Pump-leak steady state of a neuron"
temperature = "37 degC"
geometry = "cartesian"            # cartesian | cylindrical | spherical
inside = "left"
activity = "ideal"                # ideal | debye-huckel | extended-debye-huckel | davies

[species.K]
z = 1
D = "1.96e-9 m^2/s"
[species.Na]
z = 1
D = 1.33e-9
[species.Cl]
z = -1
D = 2.03e-9
[species.X]                       # impermeant macro-anions
z = -1
D = 1e-10

[[region]]
name = "cytoplasm"
length = "5 um"
eps_r = 80
concentration = { K = 140, Na = 12, Cl = 10, X = 142 }
fixed_charge = 0                  # optional, mol/m^3 of elementary charge

[[region]]
name = "membrane"
membrane = true
length = "5 nm"
eps_r = 2                         # or capacitance = "1 uF/cm^2"
permeability = { K = "5e-9 m/s", Na = "2.5e-10 m/s", Cl = "5e-10 m/s" }
# or: barrier = { K = "0 kJ/mol", Na = "12 kJ/mol" }  (unlisted species: impermeant)

[[region]]
name = "bath"
length = "5 um"
eps_r = 80
concentration = { K = 5, Na = 145, Cl = 150 }

[boundary.left]                   # cell centre: closed
type = "wall"                     # zero flux of every species
surface_charge = 0                # or potential = 0.05 (blocking electrode)

[boundary.right]
type = "reservoir"                # concentrations of the adjacent region, held
potential = 0                     # or potential = "floating", current = 0 (current clamp / open circuit)

[pump]
membrane = "membrane"
rate = "1e-7 mol/m^2/s"           # constant, or j_max/K_Na/K_K for the saturating form

[mesh]
cells_per_debye = 4               # smallest cells at every interface and wall
growth = 1.2                      # geometric grading away from them
max_cell = "100 nm"
membrane_cells = 10
# uniform_cells = 400             # instead: N uniform cells per region (convergence studies, benchmarks)

[run]
mode = "steady"                   # steady | transient
t_end = "1 s"                     # transient only
outputs = 200                     # log-spaced output times, or an explicit list
rtol = 1e-6
atol = 1e-9

[[protocol]]                      # transient: piecewise-constant changes
at = "10 ms"
set = { "boundary.left.potential" = -0.02, "pump.rate" = 0 }

[output]
path = "results/pump_leak.h5"
plot = true

[expect]                          # optional: what the run should reproduce; `pnp run` prints simulated vs expected
membrane_potential = "ghk"        # a closed form (nernst:K, ghk, donnan, ...) or a number with `tolerance`
"""

RT_310 = constants.R * 310.0


@pytest.fixture
def example_file(tmp_path):
    path = tmp_path / "pump_leak.toml"
    path.write_text(FULL_EXAMPLE)
    return path


@pytest.fixture
def example() -> dict:
    """The full example case as a dict (fresh copy per test)."""
    return tomllib.loads(FULL_EXAMPLE)


def write(tmp_path, data: dict, name: str = "case.toml"):
    path = tmp_path / name
    path.write_text(tomli_w.dumps(data))
    return path


def region(data: dict, name: str) -> dict:
    return next(r for r in data["region"] if r["name"] == name)


# ---------------------------------------------------------------------------
# A valid case
# ---------------------------------------------------------------------------


def test_full_example_loads_in_si(example_file):
    case = load_case(example_file)
    assert case.title == "Pump-leak steady state of a neuron"
    assert case.temperature == pytest.approx(constants.zero_Celsius + 37.0, abs=1e-12)
    assert case.species_names == ("K", "Na", "Cl", "X")
    assert case.species[0].D == 1.96e-9 and case.species[0].z == 1
    cytoplasm, membrane, bath = case.regions
    assert cytoplasm.length == pytest.approx(5e-6, rel=1e-15, abs=0)
    assert membrane.length == pytest.approx(5e-9, rel=1e-15, abs=0)
    assert membrane.membrane and not bath.membrane
    assert bath.concentration == {"K": 5.0, "Na": 145.0, "Cl": 150.0, "X": 0.0}
    assert membrane.concentration == dict.fromkeys(case.species_names, 0.0)
    assert membrane.permeability["K"] == pytest.approx(5e-9, rel=1e-15, abs=0)
    assert membrane.permeability["X"] == 0.0 and membrane.barrier["X"] == math.inf
    assert bath.permeability == {} and bath.barrier == dict.fromkeys(case.species_names, 0.0)
    assert bath.D["Cl"] == 2.03e-9
    assert (
        case.left.type == "wall" and case.left.potential is None and case.left.surface_charge == 0
    )
    assert case.right.potential == 0.0 and not case.right.floating
    (pump,) = case.pumps
    assert pump.membrane == "membrane" and pump.rate == pytest.approx(1e-7, rel=1e-15, abs=0)
    assert case.mesh.max_cell == pytest.approx(1e-7, rel=1e-15, abs=0)
    assert case.run.t_end == 1.0 and case.run.outputs == 200
    (protocol,) = case.protocols
    assert protocol.at == pytest.approx(0.01, rel=1e-15, abs=0)
    assert protocol.set == {"boundary.left.potential": -0.02, "pump.rate": 0.0}
    assert case.output.path == os.path.join(str(example_file.parent), "results", "pump_leak.h5")
    assert case.expect == {"membrane_potential": "ghk"}
    assert case.source == str(example_file)


def test_unit_strings_give_the_si_numbers_meant(example):
    cyto = region(example, "cytoplasm")
    cyto["concentration"] = {"K": "140 mM", "Na": "12 mmol/L", "Cl": "0.01 M", "X": 142}
    cyto["length"] = "5 um"
    example["temperature"] = "37 degC"
    case = Case.from_dict(example)
    # 15 significant digits: pint's round-off in the last bit is removed
    assert case.regions[0].concentration == {"K": 140.0, "Na": 12.0, "Cl": 10.0, "X": 142.0}
    assert case.regions[0].length == 5e-6
    assert case.temperature == 310.15


def test_capacitance_gives_eps_r(example):
    membrane = region(example, "membrane")
    del membrane["eps_r"]
    membrane["capacitance"] = "1 uF/cm^2"
    case = Case.from_dict(example)
    assert case.regions[1].eps_r == pytest.approx(
        0.01 * 5e-9 / constants.epsilon_0, rel=1e-14, abs=0
    )


def test_barrier_of_12_kj_per_mol_at_310_k_gives_pk_over_pna_of_105(example):
    example["temperature"] = 310
    membrane = region(example, "membrane")
    del membrane["permeability"]
    membrane["barrier"] = {"K": "0 kJ/mol", "Na": "12 kJ/mol"}
    membrane["D"] = {"K": 1e-12, "Na": 1e-12}  # equal membrane diffusivities
    case = Case.from_dict(example)
    p = case.regions[1].permeability
    expected = math.exp(12e3 / (constants.R * 310.0))
    assert p["K"] / p["Na"] == pytest.approx(expected, rel=1e-13)
    assert expected == pytest.approx(105, abs=0.5)
    assert p["K"] == pytest.approx(1e-12 / 5e-9, rel=1e-14, abs=0)  # barrier 0: P = D/d
    assert p["Cl"] == 0.0 and case.regions[1].barrier["Cl"] == math.inf  # unlisted: impermeant


def test_permeability_and_barrier_convert_both_ways(example):
    example["temperature"] = 310
    case = Case.from_dict(example)
    membrane = case.regions[1]
    for name, p in {"K": 5e-9, "Na": 2.5e-10, "Cl": 5e-10}.items():
        expected = -RT_310 * math.log(p * 5e-9 / membrane.D[name])
        assert membrane.barrier[name] == pytest.approx(expected, rel=1e-13)
    # and the barriers, given back, reproduce the permeabilities
    given_back = region(example, "membrane")
    del given_back["permeability"]
    given_back["barrier"] = {n: membrane.barrier[n] for n in ("K", "Na", "Cl")}
    again = Case.from_dict(example).regions[1]
    for name in ("K", "Na", "Cl"):
        assert again.permeability[name] == pytest.approx(
            membrane.permeability[name], rel=1e-12, abs=0
        )


def test_region_diffusivity_zero_means_immobile_and_bulk_barrier_is_an_offset(example):
    bath = region(example, "bath")
    bath["D"] = {"Cl": 0}
    bath["barrier"] = {"K": "1 kJ/mol"}
    case = Case.from_dict(example)
    assert case.regions[2].D["Cl"] == 0.0 and case.regions[2].D["K"] == 1.96e-9
    assert case.regions[2].barrier == {"K": 1000.0, "Na": 0.0, "Cl": 0.0, "X": 0.0}


def test_defaults_and_output_path(example, tmp_path):
    for key in (
        "title",
        "temperature",
        "geometry",
        "inside",
        "activity",
        "mesh",
        "run",
        "protocol",
        "output",
        "expect",
        "pump",
    ):
        example.pop(key)
    case = Case.from_dict(example)
    assert case.temperature == 298.15 and case.geometry == "cartesian" and case.inside == "left"
    assert case.mesh == MeshSpec() and case.run == RunSpec() and case.output == OutputSpec()
    assert case.title == "" and case.output.path is None and case.strict
    from_file = load_case(write(tmp_path, example, "my_cell.toml"))
    assert from_file.title == "my_cell"
    assert from_file.output.path == os.path.join(str(tmp_path), "results", "my_cell.h5")


def test_saturating_pumps_as_array_and_floating_boundary(example):
    example["pump"] = [
        {"membrane": "membrane", "j_max": "2e-7 mol/m^2/s", "K_Na": "10 mM", "K_K": 1.5},
        {"membrane": "membrane", "rate": 0},
    ]
    del example["protocol"]  # its `pump.rate` is ambiguous with two pumps
    example["boundary"]["left"] = {
        "type": "reservoir",
        "potential": "floating",
        "current": "1 uA/cm^2",
    }
    case = Case.from_dict(example)
    assert case.pumps[0].j_max == pytest.approx(2e-7, rel=1e-15, abs=0)
    assert case.pumps[0].K_Na == 10.0 and case.pumps[0].rate is None
    assert case.pumps[1].rate == 0.0
    assert case.left.floating and case.left.current == pytest.approx(0.01, rel=1e-15, abs=0)


def test_transient_run_with_output_times(example):
    example["run"] = {"mode": "transient", "t_end": "2 s", "outputs": ["1 ms", 0.5, 2]}
    case = Case.from_dict(example)
    assert case.run.outputs == (0.001, 0.5, 2.0) and case.run.t_end == 2.0


def test_spherical_cell_with_closed_centre(example):
    example["geometry"] = "spherical"
    with pytest.raises(CaseError, match=r"`protocol\[0\].set`: the changes at t = 0.01 s .* r = 0"):
        Case.from_dict(example)  # the protocol puts a potential on the centre
    del example["protocol"]
    case = Case.from_dict(example)
    assert case.geometry == "spherical"


def test_neutral_species_is_allowed(example):
    example["species"]["glucose"] = {"z": 0, "D": 6e-10}
    region(example, "bath")["concentration"]["glucose"] = 5
    assert Case.from_dict(example).regions[2].concentration["glucose"] == 5.0


# ---------------------------------------------------------------------------
# Mistakes: one CaseError each, naming file and key
# ---------------------------------------------------------------------------


def _set(path, value):
    def change(data):
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _region_set(name, key, value):
    def change(data):
        region(data, name)[key] = value

    return change


def _delete(*path):
    def change(data):
        target = data
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _chain(*changes):
    def change(data):
        for c in changes:
            c(data)

    return change


def _membrane_first(data):
    data["region"] = data["region"][1:]
    data["pump"]["membrane"] = "membrane"


def _duplicate_region(data):
    data["region"].append(copy.deepcopy(data["region"][2]))


MISTAKES = [
    # (id, change, key, fragments of the message)
    ("unknown-key", _region_set("bath", "eps", 80), "region.bath.eps", ["did you mean `eps_r`?"]),
    ("unknown-top-key", _set(["temprature"], 300), "temprature", ["did you mean `temperature`?"]),
    (
        "unknown-section-key",
        _set(["mesh", "grwoth"], 1.1),
        "mesh.grwoth",
        ["did you mean `growth`?"],
    ),
    (
        "wrong-unit",
        _region_set("bath", "length", "5 mV"),
        "region.bath.length",
        ["'5 mV'", "millivolt", "expected a length (m)"],
    ),
    (
        "unknown-unit",
        _region_set("bath", "length", "5 parsecs-ish"),
        "region.bath.length",
        ["unit"],
    ),
    (
        "negative-concentration",
        _region_set("bath", "concentration", {"K": -5, "Na": 145, "Cl": 150}),
        "region.bath.concentration.K",
        [">= 0"],
    ),
    (
        "not-electroneutral",
        _region_set("bath", "concentration", {"K": 5, "Na": 145, "Cl": 140}),
        "region.bath.concentration",
        ["not electroneutral", "10", "strict = false"],
    ),
    ("membrane-at-end", _membrane_first, "region.membrane.membrane", ["first", "bulk region"]),
    (
        "unknown-species",
        _region_set("bath", "concentration", {"Kx": 5}),
        "region.bath.concentration.Kx",
        ["unknown species", "did you mean `K`?"],
    ),
    (
        "both-floating",
        _chain(
            _set(["boundary", "left"], {"type": "reservoir", "potential": "floating"}),
            _set(["boundary", "right"], {"type": "reservoir", "potential": "floating"}),
        ),
        "boundary",
        ["undefined"],
    ),
    (
        "walls-without-potential",
        _set(["boundary", "right"], {"type": "wall"}),
        "boundary",
        ["undefined"],
    ),
    ("duplicate-region", _duplicate_region, "region[3].name", ["duplicate region name 'bath'"]),
    ("activity-unknown", _set(["activity"], "debye"), "activity", ["one of ideal"]),
    (
        "protocol-changes-length",
        _set(["protocol"], [{"at": 0.1, "set": {"region.bath.length": "1 um"}}]),
        "protocol[0].set",
        ["`region.bath.length` cannot change during a run"],
    ),
    (
        "protocol-changes-temperature",
        _set(["protocol"], [{"at": 0.1, "set": {"temperature": 300}}]),
        "protocol[0].set",
        ["cannot change during a run"],
    ),
    (
        "protocol-changes-interior-region",
        _set(["protocol"], [{"at": 0.1, "set": {"region.cytoplasm.concentration.K": 100}}]),
        "protocol[0].set",
        ["next to a reservoir"],
    ),
    (
        "protocol-breaks-electroneutrality",
        _set(["protocol"], [{"at": 0.1, "set": {"region.bath.concentration.K": "10 mM"}}]),
        "protocol[0].set",
        ["t = 0.1 s", "not electroneutral"],
    ),
    (
        "protocol-unknown-key",
        _set(["protocol"], [{"at": 0.1, "set": {"boundary.left.potental": 0}}]),
        "protocol[0].set",
        ["`boundary.left.potental`", "did you mean `potential`?"],
    ),
    (
        "permeability-and-barrier",
        _region_set("membrane", "barrier", {"K": 0}),
        "region.membrane.barrier.K",
        ["both a permeability and a barrier"],
    ),
    (
        "permeability-in-bulk",
        _region_set("bath", "permeability", {"K": 1e-8}),
        "region.bath.permeability",
        ["only membranes"],
    ),
    ("eps-r-below-one", _region_set("bath", "eps_r", 0.5), "region.bath.eps_r", [">= 1"]),
    (
        "capacitance-too-small",
        _chain(_delete("region", 1, "eps_r"), _region_set("membrane", "capacitance", "1 nF/cm^2")),
        "region.membrane.capacitance",
        ["eps_r = ", "< 1"],
    ),
    ("missing-eps-r", _delete("region", 2, "eps_r"), "region.bath.eps_r", ["missing"]),
    (
        "current-on-fixed-reservoir",
        _set(["boundary", "right", "current"], 0),
        "boundary.right.current",
        ['potential = "floating"'],
    ),
    (
        "floating-wall",
        _set(["boundary", "left"], {"type": "wall", "potential": "floating"}),
        "boundary.left.potential",
        ["only for reservoirs"],
    ),
    (
        "wall-potential-and-charge",
        _set(["boundary", "left", "potential"], 0.01),
        "boundary.left.surface_charge",
        ["not both"],
    ),
    (
        "boundary-type",
        _set(["boundary", "right", "type"], "reservior"),
        "boundary.right.type",
        ["did you mean `reservoir`?"],
    ),
    (
        "spherical-centre-with-charge",
        _chain(_set(["geometry"], "spherical"), _set(["boundary", "left", "surface_charge"], 0.01)),
        "boundary.left",
        ["r = 0"],
    ),
    ("pump-in-bulk", _set(["pump", "membrane"], "bath"), "pump.membrane", ["not a membrane"]),
    ("pump-both-forms", _set(["pump", "j_max"], 1e-7), "pump.j_max", ["either rate"]),
    (
        "pump-unknown-species",
        _set(["pump", "sodium"], "Nax"),
        "pump.sodium",
        ["did you mean `Na`?"],
    ),
    (
        "transient-without-end",
        _chain(_set(["run", "mode"], "transient"), _delete("run", "t_end")),
        "run.t_end",
        ["transient"],
    ),
    (
        "outputs-not-increasing",
        _set(["run", "outputs"], [0.1, 0.1]),
        "run.outputs[1]",
        ["increasing"],
    ),
    ("bool-as-number", _region_set("bath", "length", True), "region.bath.length", ["boolean"]),
    ("nan", _region_set("bath", "length", math.nan), "region.bath.length", ["finite"]),
    ("float-valence", _set(["species", "K", "z"], 1.5), "species.K.z", ["integer"]),
    ("zero-diffusivity", _set(["species", "K", "D"], 0), "species.K.D", ["> 0"]),
    ("bad-species-name", _set(["species", "K+"], {"z": 1, "D": 1e-9}), "species.K+", ["valid"]),
    ("regions-as-table", _set(["region"], {"name": "bath"}), "region", ["[[region]]"]),
    ("expect-nested", _set(["expect", "flux"], {"K": 1}), "expect.flux", ["number or a string"]),
    ("strict-not-bool", _set(["strict"], "yes"), "strict", ["true or false"]),
]


@pytest.mark.parametrize(
    ("change", "key", "fragments"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_mistakes_give_one_line_errors_naming_file_and_key(
    tmp_path, example, change, key, fragments
):
    change(example)
    path = write(tmp_path, example)
    with pytest.raises(CaseError) as info:
        load_case(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert f"`{key}`" in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    assert info.value.file == str(path)


def test_non_electroneutral_region_only_warns_when_not_strict(example):
    region(example, "bath")["concentration"]["Cl"] = 140
    with pytest.warns(CaseWarning, match="region 'bath' is not electroneutral"):
        case = Case.from_dict(example, strict=False)
    assert not case.strict
    example["strict"] = False
    with pytest.warns(CaseWarning):
        Case.from_dict(example)


def test_invalid_toml_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('title = "x"\n[species.K]\nz = \n')
    with pytest.raises(CaseError, match=r"broken\.toml: invalid TOML: .*line 3, column 5"):
        load_case(path)


def test_duplicate_species_is_invalid_toml(tmp_path):
    path = tmp_path / "twice.toml"
    path.write_text(FULL_EXAMPLE + "\n[species.K]\nz = 1\nD = 1e-9\n")
    with pytest.raises(CaseError, match=r"twice\.toml: invalid TOML: Cannot declare .*'K'.* twice"):
        load_case(path)


def test_unreadable_and_absurd_input_is_refused(tmp_path, example):
    with pytest.raises(CaseError, match="cannot read"):
        load_case(tmp_path / "missing.toml")
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 1_100_000 + "\n")
    with pytest.raises(CaseError, match="limited to"):
        load_case(big)
    deep = tmp_path / "deep.toml"
    deep.write_text("expect = { a = " + "[" * 20 + "]" * 20 + " }\n")
    with pytest.raises(CaseError, match="nested deeper than 8"):
        load_case(deep)
    many = copy.deepcopy(example)
    many["species"] = {f"S{i}": {"z": 0, "D": 1e-9} for i in range(65)}
    with pytest.raises(CaseError, match="at most 64"):
        Case.from_dict(many)
    example["region"] = [{"name": f"r{i}"} for i in range(1001)]
    with pytest.raises(CaseError, match="at most 1000"):
        Case.from_dict(example)


def test_from_dict_errors_have_no_file_unless_given(example):
    example["temperature"] = -1
    with pytest.raises(CaseError) as info:
        Case.from_dict(example)
    assert str(info.value).startswith("`temperature`: ")
    with pytest.raises(CaseError, match=r"^cell\.toml: `temperature`: -1 K is outside 200-400 K"):
        Case.from_dict(example, source="cell.toml")


# ---------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------


def test_overrides_with_numbers_and_unit_strings(example_file):
    case = load_case(
        example_file,
        overrides={
            "boundary.right.current": 0,  # makes the reservoir floating
            "boundary.left.potential": "-20 mV",  # wall: replaces surface_charge
            "region.bath.concentration.K": 10,
            "region.bath.concentration.Cl": "155 mM",
            "pump.rate": 0,
            "temperature": 310,
            "run.rtol": 1e-8,
            "mesh.cells_per_debye": 8,
            "region.membrane.barrier.Na": "12 kJ/mol",  # replaces the permeability of Na
        },
    )
    assert case.right.floating and case.right.current == 0.0
    assert case.left.potential == -0.02
    assert case.regions[2].concentration["K"] == 10.0
    assert case.pumps[0].rate == 0.0
    assert case.temperature == 310.0 and case.run.rtol == 1e-8 and case.mesh.cells_per_debye == 8.0
    membrane = case.regions[1]
    assert membrane.barrier["Na"] == 12e3
    assert membrane.permeability["Na"] == pytest.approx(
        math.exp(-12e3 / RT_310) * 1.33e-9 / 5e-9, rel=1e-13, abs=0
    )


def test_floating_override_and_back(example):
    case = Case.from_dict(
        example, overrides={"boundary.right.potential": "floating", "boundary.left.potential": 0}
    )
    assert case.right.floating and case.left.potential == 0.0
    back = case.with_overrides({"boundary.right.potential": 0.01})
    assert back.right.potential == 0.01 and not back.right.floating


def test_with_overrides_keeps_the_rest_and_revalidates(example):
    case = Case.from_dict(example)
    changed = case.with_overrides({"region.membrane.length": "4 nm"})
    assert changed.regions[1].length == 4e-9
    assert changed.regions[0] == case.regions[0] and changed.protocols == case.protocols
    with pytest.raises(CaseError, match="not electroneutral"):
        case.with_overrides({"region.bath.concentration.K": 10})


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("region.bath.concentraton.K", "did you mean `concentration`?"),
        ("region.bth.length", "did you mean `bath`?"),
        ("region.bath.concentration.Kx", "did you mean `K`?"),
        ("boundary.rigth.potential", "did you mean `right`?"),
        ("mesh.cell_per_debye", "did you mean `cells_per_debye`?"),
        ("temprature", "did you mean `temperature`?"),
        ("species.Na.DD", "did you mean `D`?"),
        ("pump.3.rate", "numbered 0 to 0"),
        ("protocol.0.at", "cannot be overridden"),
        ("region..length", "not a dotted key path"),
    ],
)
def test_unknown_override_paths_suggest(example, key, fragment):
    with pytest.raises(CaseError) as info:
        Case.from_dict(example, overrides={key: 1}, source="c.toml")
    assert f"`{key}`" in str(info.value) and fragment in str(info.value)


def test_override_value_is_validated_like_the_file(example):
    with pytest.raises(CaseError, match=r"`mesh.growth`: 0.5 is not allowed; must be >= 1"):
        Case.from_dict(example, overrides={"mesh.growth": 0.5})
    with pytest.raises(CaseError, match=r"`run.atol`: .*'1 mM'"):
        Case.from_dict(example, overrides={"run.atol": "1 mM"})


def test_pump_index_paths(example):
    example["pump"] = [
        {"membrane": "membrane", "rate": 1e-7},
        {"membrane": "membrane", "rate": 2e-7},
    ]
    example["protocol"][0]["set"] = {"pump.1.rate": 0}
    case = Case.from_dict(example, overrides={"pump[1].rate": 0, "pump.0.rate": "3e-7 mol/m^2/s"})
    assert [p.rate for p in case.pumps] == [3e-7, 0.0]
    with pytest.raises(CaseError, match="2 pumps"):
        Case.from_dict(example, overrides={"pump.rate": 0})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run.rtol=1e-8", ("run.rtol", 1e-8)),
        ("mesh.uniform_cells = 400", ("mesh.uniform_cells", 400)),
        ("boundary.right.potential=floating", ("boundary.right.potential", "floating")),
        ("region.bath.length=5 nm", ("region.bath.length", "5 nm")),
        ('title="a = b"', ("title", "a = b")),
        ("output.plot=false", ("output.plot", False)),
        ("run.outputs=[0.1, 0.2]", ("run.outputs", [0.1, 0.2])),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


def test_parse_override_errors():
    for bad in ("no-equals", "=1", "a b=1"):
        with pytest.raises(CaseError):
            parse_override(bad)


# ---------------------------------------------------------------------------
# Protocols
# ---------------------------------------------------------------------------


def test_protocols_are_sorted_converted_and_applied_in_turn(example):
    example["run"] = {"mode": "transient", "t_end": 1}
    example["protocol"] = [
        {
            "at": "0.5 s",
            "set": {"region.bath.concentration.K": 20, "region.bath.concentration.Cl": 165},
        },
        {
            "at": "10 ms",
            "set": {
                "boundary.right.potential": "-10 mV",
                "region.membrane.permeability.Na": "1e-9 m/s",
                "pump.rate": 0,
            },
        },
    ]
    case = Case.from_dict(example)
    assert [p.at for p in case.protocols] == [0.01, 0.5]
    assert case.protocols[0].set == {
        "boundary.right.potential": -0.01,
        "region.membrane.permeability.Na": 1e-9,
        "pump.rate": 0.0,
    }
    assert case.at_time(0.0) == case
    early = case.at_time(0.2)
    assert early.right.potential == -0.01 and early.regions[1].permeability["Na"] == 1e-9
    assert early.regions[2].concentration["K"] == 5.0 and len(early.protocols) == 1
    late = early.at_time(0.5)
    assert late.regions[2].concentration["K"] == 20.0 and late.protocols == ()
    assert case.at_time(1.0) == late


def test_protocols_switch_between_alternatives_in_time_order(example):
    example["run"] = {"mode": "transient", "t_end": 1}
    example["protocol"] = [
        {"at": 0.1, "set": {"boundary.left.potential": 0.01}},
        {"at": 0.2, "set": {"boundary.left.surface_charge": 1e-3}},
        {"at": 0.3, "set": {"boundary.left.potential": 0.02}},
    ]
    case = Case.from_dict(example)
    assert case.at_time(0.15).left.potential == 0.01
    middle = case.at_time(0.25).left
    assert middle.potential is None and middle.surface_charge == 1e-3
    assert case.at_time(0.35).left.potential == 0.02


def test_protocol_after_the_end_is_an_error_or_warning(example):
    example["run"] = {"mode": "transient", "t_end": "1 ms"}
    with pytest.raises(CaseError, match=r"`protocol\[0\].at`: .*after run.t_end"):
        Case.from_dict(example)
    with pytest.warns(CaseWarning, match="after run.t_end"):
        Case.from_dict(example, strict=False)


# ---------------------------------------------------------------------------
# Writing back
# ---------------------------------------------------------------------------


def test_to_toml_round_trip_of_the_full_example(example_file, tmp_path):
    case = load_case(example_file)
    text = case.to_toml()
    assert tomllib.loads(text) == case.to_dict()
    again = load_case(write_text(tmp_path / "elsewhere" / "again.toml", text))
    assert again == case
    assert again.output.path == case.output.path  # absolute after the first load
    assert Case.from_dict(tomllib.loads(text)) == case


def write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_to_toml_round_trip_of_a_case_using_every_form(example):
    membrane = region(example, "membrane")
    del membrane["eps_r"], membrane["permeability"]
    membrane["capacitance"] = "0.9 uF/cm^2"
    membrane["barrier"] = {"K": "1.3 kJ/mol", "Na": "12 kJ/mol"}
    membrane["permeability"] = {"Cl": "5e-10 m/s", "X": 0}
    membrane["D"] = {"K": 3e-12, "Na": 3e-12, "Cl": 1e-12}
    region(example, "bath")["barrier"] = {"X": 2000}
    region(example, "cytoplasm")["fixed_charge"] = "-1 mM"
    region(example, "cytoplasm")["concentration"]["X"] = 141
    example["species"]["K"]["size"] = "0.3 nm"
    example["temperature"] = "36.6 degC"
    example["pump"] = [
        {
            "membrane": "membrane",
            "j_max": 1e-7,
            "K_Na": 10,
            "K_K": 1.5,
            "sodium": "Na",
            "potassium": "K",
        },
        {"membrane": "membrane", "rate": 0},
    ]
    example["boundary"]["left"] = {"type": "reservoir", "potential": "floating", "current": 1e-3}
    example["mesh"]["uniform_cells"] = 50
    example["run"] = {"mode": "transient", "t_end": 2, "outputs": [0.1, "1 s", 2], "max_steps": 10}
    example["protocol"] = [
        {
            "at": 1,
            "set": {
                "region.membrane.barrier": {"K": "2 kJ/mol"},
                "boundary.right.potential": "floating",
                "boundary.left.potential": 0,
            },
        }
    ]
    example["expect"] = {"membrane_potential": -0.07, "tolerance": 1e-4, "note": "a string"}
    case = Case.from_dict(example)
    again = Case.from_dict(tomllib.loads(case.to_toml()))
    assert again == case
    assert again.to_toml() == case.to_toml()


@settings(max_examples=25, deadline=None)
@given(
    salt=st.floats(min_value=1e-9, max_value=1e4, allow_subnormal=False),
    potassium_fraction=st.floats(min_value=0.0, max_value=1.0),
    permeability=st.floats(min_value=1e-15, max_value=1e-3),
    temperature=st.floats(min_value=250.0, max_value=400.0),
)
def test_to_toml_round_trip_is_exact_for_any_numbers(
    salt, potassium_fraction, permeability, temperature
):
    data = tomllib.loads(FULL_EXAMPLE)
    k = salt * potassium_fraction
    region(data, "bath")["concentration"] = {"K": k, "Na": salt - k, "Cl": (salt - k) + k}
    region(data, "membrane")["permeability"]["K"] = permeability
    data["temperature"] = temperature
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaseWarning)  # salt - k + k may miss by an ulp
        case = Case.from_dict(data, strict=False)
        assert Case.from_dict(tomllib.loads(case.to_toml()), strict=False) == case


# ---------------------------------------------------------------------------
# The schema table
# ---------------------------------------------------------------------------


def test_schema_defaults_match_the_dataclasses():
    defaults = {p.key: p.default for p in PARAMETERS}
    for prefix, spec in (("mesh", MeshSpec()), ("run", RunSpec()), ("output", OutputSpec())):
        for name, value in vars(spec).items():
            if not (prefix == "output" and name == "path"):
                assert defaults[f"{prefix}.{name}"] == value, (prefix, name)


def test_every_parameter_is_documented():
    for param in PARAMETERS:
        assert param.description and param.unit and param.type, param.key
        assert param.choices or param.type != "choice", param.key
    reference = schema_reference()
    for param in PARAMETERS:
        assert f"`{param.name}`" in reference or f"`{param.key.split('.', 2)[-1]}`" in reference
    assert "| `eps_r` | float | - |" in reference and "`[[region]]`" in reference


def test_outputs_every_gives_evenly_spaced_times_to_t_end():
    """`outputs = { every = "1 ns" }`: 1, 2, ... ns and t_end (issue 13); a wrong key,
    a steady run or too many outputs are one-line errors naming the key."""
    import numpy as np
    from helpers import CASES

    import pnp

    base = CASES / "membrane_charging.toml"
    case = pnp.load_case(base, overrides={"run.outputs": {"every": "1 ns"}})
    times = np.asarray(case.run.outputs)
    assert case.run.t_end == pytest.approx(1.21e-7)
    assert times.size == 121 and times[-1] == case.run.t_end
    np.testing.assert_allclose(np.diff(times[:-1]), 1e-9, rtol=1e-9)
    assert pnp.run(case).t[1:].tolist() == times.tolist()
    for bad, key in (
        ({"evry": "1 ns"}, "run.outputs"),
        ({"every": 0}, "run.outputs.every"),
        ({"every": 1e-15}, "run.outputs.every"),
    ):
        with pytest.raises(pnp.CaseError, match=key.replace(".", r"\.")):
            pnp.load_case(base, overrides={"run.outputs": bad})
    with pytest.raises(pnp.CaseError, match="transient"):
        pnp.load_case(CASES / "ghk.toml", overrides={"run.outputs": {"every": 1.0}})
