"""Case-file input of voltage-gated channels and stimuli (issue 15, "Case-file keys").

``[[channel]]`` -> `pnp.input.case.Channel` (rates as `pnp.discretisation.gates.Rate`
in 1/ms, 1/(ms mV) and mV), ``[[stimulus]]`` -> `Stimulus` and its pulses as
protocols on ``boundary.<side>.current``; every error one line naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import warnings

import pytest
import tomli_w

from pnp.discretisation.gates import HODGKIN_HUXLEY, Rate
from pnp.errors import CaseError
from pnp.input import Case, CaseWarning, load_case
from pnp.input.case import Channel, Protocol, Stimulus

AP_CASE = """
title = "ap"
temperature = "6.3 degC"
[species.Na]
z = 1
D = 1.33e-9
[species.K]
z = 1
D = 1.96e-9
[species.Cl]
z = -1
D = 2.03e-9
[species.G]
z = 0
D = 1e-9
[[region]]
name = "cyto"
length = "1 um"
eps_r = 80
concentration = { Na = 10, K = 140, Cl = 150 }
[[region]]
name = "membrane"
membrane = true
length = "5 nm"
capacitance = "1 uF/cm^2"
permeability = { K = "1e-8 m/s", Na = "1e-9 m/s" }
[[region]]
name = "bath"
length = "1 um"
eps_r = 80
concentration = { Na = 145, K = 5, Cl = 150 }
[boundary.left]
type = "reservoir"
potential = "floating"
[boundary.right]
type = "reservoir"
potential = 0
[run]
mode = "transient"
t_end = "20 ms"

[[channel]]
name = "NaV"
membrane = "membrane"
species = "Na"
permeability = "3.3e-6 m/s"
gates = { m = 3, h = 1 }
kinetics = "hodgkin-huxley"
q10 = 3
reference_temperature = "6.3 degC"
[channel.rates.m]
alpha = { form = "linoid", rate = "0.1 1/ms/mV", v_half = "-40 mV", slope = "10 mV" }
beta  = { form = "exponential", rate = "4 1/ms", v_half = "-65 mV", slope = "18 mV" }

[[channel]]
name = "KV"
membrane = "membrane"
species = "K"
permeability = "1e-6 m/s"
gates = { n = 4 }

[[stimulus]]
at = "1 ms"
duration = "0.5 ms"
current = "0.1 A/m^2"
"""


@pytest.fixture
def data():
    return tomllib.loads(AP_CASE)


def load(tmp_path, data, name="ap.toml"):
    path = tmp_path / name
    path.write_text(tomli_w.dumps(data))
    return load_case(path), path


def nav(data):
    return data["channel"][0]


# -- channels: values ----------------------------------------------------------


def test_channels_parse_to_exact_internal_values(tmp_path, data):
    case, _ = load(tmp_path, data)
    na, k = case.channels
    assert na == Channel(
        name="NaV",
        membrane="membrane",
        species="Na",
        permeability=3.3e-6,
        gates={"m": 3, "h": 1},
        rates={"m": HODGKIN_HUXLEY["m"], "h": HODGKIN_HUXLEY["h"]},
        q10=3.0,
        reference_temperature=279.45,
        kinetics="hodgkin-huxley",
    )
    assert list(na.gates) == ["m", "h"] and list(na.rates) == ["m", "h"]
    assert na.rates["m"][0] == Rate("linoid", 0.1, -40.0, 10.0)
    assert k.gates == {"n": 4} and k.rates == {"n": HODGKIN_HUXLEY["n"]}
    assert type(na.gates["m"]) is int and type(na.q10) is float


def test_plain_numbers_are_si(tmp_path, data):
    """rate 1/s (linoid 1/(s V)), v_half and slope in V: the same Rate as with units."""
    nav(data)["rates"]["m"] = {
        "alpha": {"form": "linoid", "rate": 1e5, "v_half": -0.04, "slope": 0.01},
        "beta": {"form": "exponential", "rate": 4000, "v_half": -0.065, "slope": 0.018},
    }
    nav(data)["rates"]["h"] = {
        "beta": {"form": "sigmoid", "rate": "60 1/min", "v_half": "-35 mV", "slope": "10 mV"},
    }
    nav(data)["permeability"] = 3.3e-6
    nav(data)["reference_temperature"] = 279.45
    case, _ = load(tmp_path, data)
    na = case.channels[0]
    assert na.rates["m"] == HODGKIN_HUXLEY["m"]
    assert na.rates["h"] == (HODGKIN_HUXLEY["h"][0], Rate("sigmoid", 0.001, -35.0, 10.0))
    assert na.permeability == 3.3e-6 and na.reference_temperature == 279.45


def test_hodgkin_huxley_defaults_are_the_table(tmp_path, data):
    data["channel"] = [
        {
            "name": "HH",
            "membrane": "membrane",
            "species": "K",
            "permeability": 0,
            "gates": {"n": 4, "m": 1, "h": 2},
        }
    ]
    case, _ = load(tmp_path, data)
    (channel,) = case.channels
    assert channel.rates == {g: HODGKIN_HUXLEY[g] for g in ("n", "m", "h")}
    assert channel.q10 == 3.0 and channel.reference_temperature == 279.45
    assert channel.kinetics == "hodgkin-huxley" and channel.permeability == 0.0


def test_one_rate_of_a_built_in_gate_may_be_replaced(tmp_path, data):
    nav(data)["rates"] = {
        "h": {"alpha": {"form": "exponential", "rate": "0.1 1/ms", "v_half": 0, "slope": "20 mV"}}
    }
    case, _ = load(tmp_path, data)
    alpha, beta = case.channels[0].rates["h"]
    assert alpha == Rate("exponential", 0.1, 0.0, 20.0) and beta == HODGKIN_HUXLEY["h"][1]
    assert case.channels[0].rates["m"] == HODGKIN_HUXLEY["m"]


def test_custom_kinetics_and_other_gate_names(tmp_path, data):
    rate = {"form": "sigmoid", "rate": "2 1/ms", "v_half": "-30 mV", "slope": "-6 mV"}
    data["channel"][1] = {
        "name": "KA",
        "membrane": "membrane",
        "species": "K",
        "permeability": "1e-7 m/s",
        "gates": {"a": 3, "b": 1},
        "kinetics": "custom",
        "q10": 2.5,
        "reference_temperature": "22 degC",
        "rates": {"a": {"alpha": rate, "beta": rate}, "b": {"alpha": rate, "beta": rate}},
    }
    case, _ = load(tmp_path, data)
    ka = case.channels[1]
    assert ka.rates["a"] == (Rate("sigmoid", 2.0, -30.0, -6.0),) * 2
    assert ka.q10 == 2.5 and ka.reference_temperature == 295.15 and ka.kinetics == "custom"


def test_a_single_channel_table_is_accepted(tmp_path, data):
    data["channel"] = data["channel"][1]
    case, _ = load(tmp_path, data)
    assert [c.name for c in case.channels] == ["KV"]
    assert Case.from_dict(data).channels == case.channels


def test_no_channels_no_stimuli(tmp_path, data):
    del data["channel"], data["stimulus"]
    case, _ = load(tmp_path, data)
    assert case.channels == () and case.stimuli == () and case.protocols == ()


# -- channels and stimuli: errors ----------------------------------------------


def _set(path, value):
    """A change of the case data at a path of keys and list indices (None: delete)."""

    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


_RATE = {"form": "exponential", "rate": "4 1/ms", "v_half": "-65 mV", "slope": "18 mV"}
_M = ("channel", 0, "rates", "m")

MISTAKES = [
    ("no name", _set(("channel", 0, "name"), None), "channel[0].name", "missing"),
    ("bad name", _set(("channel", 0, "name"), "Na V"), "channel[0].name", "not a valid name"),
    (
        "duplicate",
        _set(("channel", 1, "name"), "NaV"),
        "channel[1].name",
        "duplicate channel name",
    ),
    ("unknown key", _set(("channel", 0, "conductance"), 1), "channel.NaV.conductance", "unknown"),
    ("bulk", _set(("channel", 0, "membrane"), "cyto"), "channel.NaV.membrane", "not a membrane"),
    (
        "no region",
        _set(("channel", 0, "membrane"), "membrne"),
        "channel.NaV.membrane",
        "did you mean",
    ),
    ("species", _set(("channel", 0, "species"), "Ca"), "channel.NaV.species", "unknown species"),
    ("neutral", _set(("channel", 0, "species"), "G"), "channel.NaV.species", "uncharged"),
    (
        "immobile in the membrane",
        lambda data: next(r for r in data["region"] if r.get("membrane")).update(
            D={"Na": 0}, permeability={"K": "1e-8 m/s"}
        ),
        "channel.NaV.species",
        "has D = 0",
    ),
    ("no P", _set(("channel", 0, "permeability"), None), "channel.NaV.permeability", "missing"),
    ("P < 0", _set(("channel", 0, "permeability"), -1e-6), "channel.NaV.permeability", ">= 0"),
    ("P unit", _set(("channel", 0, "permeability"), "3 mV"), "channel.NaV.permeability", "m/s"),
    ("no gates", _set(("channel", 0, "gates"), None), "channel.NaV.gates", "missing"),
    ("empty gates", _set(("channel", 0, "gates"), {}), "channel.NaV.gates", "0 gates; give 1 to 4"),
    (
        "5 gates",
        _set(("channel", 1, "gates"), {"n": 1, "a": 1, "b": 1, "c": 1, "d": 1}),
        "channel.KV.gates",
        "5 gates",
    ),
    ("gates not table", _set(("channel", 0, "gates"), 3), "channel.NaV.gates", "expected a table"),
    ("exponent 0", _set(("channel", 0, "gates", "m"), 0), "channel.NaV.gates.m", "1 to 8"),
    ("exponent 9", _set(("channel", 0, "gates", "m"), 9), "channel.NaV.gates.m", "1 to 8"),
    ("exponent 2.5", _set(("channel", 0, "gates", "m"), 2.5), "channel.NaV.gates.m", "integer"),
    ("exponent bool", _set(("channel", 0, "gates", "m"), True), "channel.NaV.gates.m", "integer"),
    (
        "gate without HH rates",
        _set(("channel", 1, "gates"), {"x": 2}),
        "channel.KV.rates.x.alpha",
        "gates m, h and n only",
    ),
    (
        "custom without rates",
        _set(("channel", 1, "kinetics"), "custom"),
        "channel.KV.rates.n.alpha",
        'kinetics = "custom"',
    ),
    ("kinetics", _set(("channel", 1, "kinetics"), "hh"), "channel.KV.kinetics", "not allowed"),
    ("q10 = 0", _set(("channel", 1, "q10"), 0), "channel.KV.q10", "> 0"),
    (
        "T_ref in degC",
        _set(("channel", 1, "reference_temperature"), 6.3),
        "channel.KV.reference_temperature",
        "degC",
    ),
    (
        "rates of no gate",
        _set((*_M[:3], "n"), {"alpha": _RATE}),
        "channel.NaV.rates.n",
        "not a gate",
    ),
    ("gamma", _set((*_M, "gamma"), _RATE), "channel.NaV.rates.m.gamma", "unknown key"),
    ("rate not table", _set((*_M, "alpha"), 0.1), "channel.NaV.rates.m.alpha", "expected a table"),
    (
        "form missing",
        _set((*_M, "alpha", "form"), None),
        "channel.NaV.rates.m.alpha.form",
        "missing",
    ),
    (
        "form",
        _set((*_M, "alpha", "form"), "quadratic"),
        "channel.NaV.rates.m.alpha.form",
        "allowed",
    ),
    ("field", _set((*_M, "alpha", "vhalf"), 1), "channel.NaV.rates.m.alpha.vhalf", "v_half"),
    ("rate < 0", _set((*_M, "beta", "rate"), -4000), "channel.NaV.rates.m.beta.rate", ">= 0"),
    (
        "linoid rate in 1/ms",
        _set((*_M, "alpha", "rate"), "0.1 1/ms"),
        "channel.NaV.rates.m.alpha.rate",
        "expected a rate per potential (1/s/V)",
    ),
    ("slope 0", _set((*_M, "beta", "slope"), 0), "channel.NaV.rates.m.beta.slope", "non-zero"),
    (
        "v_half in mV, plain",
        _set((*_M, "beta", "v_half"), -65),
        "channel.NaV.rates.m.beta.v_half",
        "did you mean '-65 mV'?",
    ),
    (
        "slope in mV, plain",
        _set((*_M, "beta", "slope"), 18),
        "channel.NaV.rates.m.beta.slope",
        "did you mean '18 mV'?",
    ),
    (
        "slope beyond 1 V",
        _set((*_M, "beta", "slope"), "2 V"),
        "channel.NaV.rates.m.beta.slope",
        "within -1 V to 1 V",
    ),
    (
        "absurdly fast, plain",
        _set((*_M, "beta", "rate"), 4e9),
        "channel.NaV.rates.m.beta.rate",
        "did you mean '4e+09 1/ms'?",
    ),
    (
        "absurdly slow",
        _set((*_M, "beta", "rate"), "1e-9 1/ms"),
        "channel.NaV.rates.m.beta.rate",
        "longer than 10000 s everywhere",
    ),
    (
        "too steep",
        _set((*_M, "beta", "slope"), "0.01 mV"),
        "channel.NaV.rates.m.beta.rate",
        "shorter than 1e-09 s",
    ),
    ("stimulus key", _set(("stimulus", 0, "amplitude"), 1), "stimulus[0].amplitude", "unknown key"),
    ("no at", _set(("stimulus", 0, "at"), None), "stimulus[0].at", "missing"),
    ("at < 0", _set(("stimulus", 0, "at"), -1e-3), "stimulus[0].at", ">= 0"),
    ("duration 0", _set(("stimulus", 0, "duration"), 0), "stimulus[0].duration", "> 0"),
    ("no current", _set(("stimulus", 0, "current"), None), "stimulus[0].current", "missing"),
    ("current", _set(("stimulus", 0, "current"), "1 mV"), "stimulus[0].current", "A/m^2"),
    ("count 0", _set(("stimulus", 0, "count"), 0), "stimulus[0].count", ">= 1"),
    ("count", _set(("stimulus", 0, "count"), 501), "stimulus[0].count", "<= 500"),
    ("no interval", _set(("stimulus", 0, "count"), 3), "stimulus[0].interval", "missing"),
    ("side", _set(("stimulus", 0, "side"), "right"), "stimulus[0].side", "not a floating"),
    ("side name", _set(("stimulus", 0, "side"), "inside"), "stimulus[0].side", "left | right"),
    (
        "after t_end",
        _set(("stimulus", 0, "at"), "30 ms"),
        "stimulus[0].at",
        "after run.t_end = 0.02 s",
    ),
]


@pytest.mark.parametrize(
    ("change", "key", "fragment"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_mistakes_are_one_line_errors_naming_file_and_key(tmp_path, data, change, key, fragment):
    change(data)
    with pytest.raises(CaseError) as info:
        load(tmp_path, data)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'ap.toml'}: `{key}`: "), message
    assert fragment in message, message
    assert "\n" not in message and info.value.key == key


def _stimulus_error(tmp_path, data, key, fragment):
    with pytest.raises(CaseError) as info:
        load(tmp_path, data)
    message = str(info.value)
    assert f"`{key}`: " in message and fragment in message and "\n" not in message, message


def test_train_interval_must_exceed_duration(tmp_path, data):
    data["stimulus"][0].update(count=3, interval="0.5 ms")
    _stimulus_error(tmp_path, data, "stimulus[0].interval", "overlap")


def test_pulses_of_two_stimuli_may_not_overlap(tmp_path, data):
    data["stimulus"].append({"at": "1.2 ms", "duration": "1 ms", "current": 0.2})
    _stimulus_error(tmp_path, data, "stimulus[1]", "may not overlap")
    # ... nor a long pulse hide a short one behind the next
    data["stimulus"] = [
        {"at": "1 ms", "duration": "5 ms", "current": 0.1},
        {"at": "2 ms", "duration": "0.1 ms", "current": 0.1, "count": 2, "interval": "1 ms"},
    ]
    _stimulus_error(tmp_path, data, "stimulus[1]", "lasts until 0.006 s")


def test_a_stimulus_needs_a_floating_reservoir(tmp_path, data):
    data["boundary"]["left"] = {"type": "wall", "surface_charge": 0}
    _stimulus_error(tmp_path, data, "stimulus[0]", "floating reservoir")


def test_a_protocol_may_not_set_the_current_a_stimulus_drives(tmp_path, data):
    for key in ("boundary.left.current", "boundary.left.potential"):
        data["protocol"] = [{"at": "5 ms", "set": {key: 0.2}}]
        _stimulus_error(tmp_path, data, "protocol[0].set", "[[stimulus]] drives the current")


def test_too_many_changes(tmp_path, data):
    data["stimulus"] = [
        {"at": t0, "duration": "0.1 ms", "current": 0.1, "count": 300, "interval": "0.2 ms"}
        for t0 in ("0 ms", "60 ms")
    ]
    data["run"]["t_end"] = "200 ms"
    _stimulus_error(tmp_path, data, "stimulus", "1200; at most 1000")


def test_a_steady_case_warns_that_stimuli_are_ignored(tmp_path, data):
    data["run"] = {"mode": "steady"}
    with pytest.warns(CaseWarning, match="acts only in a transient run"):
        case, _ = load(tmp_path, data)
    assert len(case.stimuli) == 1


def test_stimulus_after_t_end_only_warns_when_not_strict(tmp_path, data):
    data["stimulus"][0]["at"] = "30 ms"
    data["strict"] = False
    with pytest.warns(CaseWarning, match="after run.t_end"):
        load(tmp_path, data)


# -- plausibility --------------------------------------------------------------


def test_a_plain_rate_in_1_per_s_meant_as_1_per_ms_warns(tmp_path, data):
    nav(data)["rates"]["m"]["beta"]["rate"] = 0.004  # 4 1/ms written as 1/s, then /1000
    with pytest.warns(CaseWarning, match=r"slower than 1 s .* did you mean '0.004 1/ms'\?"):
        load(tmp_path, data)
    nav(data)["rates"]["m"]["beta"]["rate"] = "0.004 1/s"  # written with its unit: as meant
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tmp_path, data)


def test_a_rate_of_zero_is_allowed(tmp_path, data):
    nav(data)["rates"]["m"]["beta"]["rate"] = 0
    case, _ = load(tmp_path, data)
    assert case.channels[0].rates["m"][1].rate == 0.0


# -- stimuli: expansion into protocols ------------------------------------------


def test_a_pulse_is_two_protocols_on_the_boundary_current(tmp_path, data):
    data["boundary"]["left"]["current"] = "5 uA/cm^2"  # the base: 0.05 A/m^2
    case, _ = load(tmp_path, data)
    assert case.stimuli == (
        Stimulus(at=1e-3, duration=5e-4, current=0.1, count=1, interval=None, side="left"),
    )
    assert case.protocols == (
        Protocol(at=1e-3, set={"boundary.left.current": 0.15000000000000002}),
        Protocol(at=1.5e-3, set={"boundary.left.current": 0.05}),
    )
    assert case.left.current == 0.05


def test_a_train_and_a_user_protocol(tmp_path, data):
    data["stimulus"][0].update(count=3, interval="5 ms", current="-10 uA/cm^2")
    data["protocol"] = [{"at": "6 ms", "set": {"channel.NaV.permeability": 0}}]
    case, _ = load(tmp_path, data)
    times = [p.at for p in case.protocols]
    assert times == pytest.approx([1e-3, 1.5e-3, 6e-3, 6e-3, 6.5e-3, 11e-3, 11.5e-3], rel=1e-12)
    assert times == sorted(times) and len(case.protocols) == 7
    currents = [
        p.set["boundary.left.current"]
        for p in case.protocols
        if len(p.set) == 1 and "boundary.left.current" in p.set
    ]
    assert currents == [-0.1, 0.0] * 3
    assert case.protocols[2].set == {"channel.NaV.permeability": 0.0}  # file order at equal times
    # the default output times include every change
    outputs = set(case.run.outputs)
    assert all(p.at in outputs for p in case.protocols)


def test_touching_pulses_end_before_the_next_starts(tmp_path, data):
    data["stimulus"] = [
        {"at": "1 ms", "duration": "1 ms", "current": 0.1},
        {"at": "2 ms", "duration": "1 ms", "current": 0.3},
    ]
    case, _ = load(tmp_path, data)
    values = [(p.at, p.set["boundary.left.current"]) for p in case.protocols]
    assert values == [(1e-3, 0.1), (2e-3, 0.0), (2e-3, 0.3), (3e-3, 0.0)]
    assert case.at_time(2e-3).left.current == 0.3


def test_at_time_replays_the_pulses(tmp_path, data):
    data["boundary"]["left"]["current"] = 0.05
    data["stimulus"][0].update(count=2, interval="5 ms")
    case, _ = load(tmp_path, data)
    assert case.at_time(0.5e-3).left.current == 0.05
    during = case.at_time(1.2e-3)
    assert during.left.current == pytest.approx(0.15) and during.left.floating
    assert during.stimuli == () and [p.at for p in during.protocols] == pytest.approx(
        [1.5e-3, 6e-3, 6.5e-3]
    )
    after = during.at_time(3e-3)
    assert after.left.current == 0.05 and len(after.protocols) == 2
    assert after.at_time(6.1e-3).left.current == pytest.approx(0.15)
    assert case.at_time(1.0).left.current == 0.05 and case.at_time(1.0).protocols == ()
    # the state at a time, written and read back, is that state
    again = Case.from_dict(tomllib.loads(during.to_toml()))
    assert again == during


# -- round trip -----------------------------------------------------------------


def test_round_trip_keeps_channels_and_stimuli(tmp_path, data):
    data["stimulus"][0].update(count=3, interval="5 ms")
    data["protocol"] = [{"at": "6 ms", "set": {"channel.KV.permeability": "2e-6 m/s"}}]
    nav(data)["rates"]["h"] = {
        "beta": {"form": "sigmoid", "rate": "1.3 1/ms", "v_half": "-33.3 mV", "slope": "9.7 mV"}
    }
    case, _ = load(tmp_path, data)
    text = case.to_toml()
    written = tomllib.loads(text)
    assert len(written["protocol"]) == 1  # the pulses are written as the stimulus, once
    assert written["stimulus"] == [
        {"at": 1e-3, "duration": 5e-4, "current": 0.1, "count": 3, "interval": 5e-3, "side": "left"}
    ]
    assert "m" not in written["channel"][0]["rates"]  # equal to the built-in rates
    assert written["channel"][0]["rates"]["h"] == {
        "beta": {"form": "sigmoid", "rate": 1300.0, "v_half": -0.0333, "slope": 0.0097}
    }
    path = tmp_path / "again.toml"
    path.write_text(text)
    again = load_case(path)
    assert again == case
    assert again.protocols == case.protocols and again.channels == case.channels


def test_round_trip_of_awkward_numbers_is_exact(tmp_path, data):
    """Rates read from SI and from units, converted and written back, give the same floats."""
    values = [0.123456789012345, 7.77e-3, 3.3333333333333e2, 1 / 3]
    for i, value in enumerate(values):
        nav(data)["rates"]["m"]["alpha"] = {
            "form": "linoid",
            "rate": value * 1e6 if i % 2 else f"{value!r} 1/ms/mV",
            "v_half": f"{-40 - value!r} mV",
            "slope": 0.01 + value * 1e-5 if i % 2 else f"{10 + value!r} mV",
        }
        case, _ = load(tmp_path, data)
        again = Case.from_dict(tomllib.loads(case.to_toml()))
        assert again.channels == case.channels, value


def test_a_case_made_of_dataclasses_round_trips(tmp_path, data):
    case, _ = load(tmp_path, data)
    bare = dataclasses.replace(case, raw={}, source=None)
    again = Case.from_dict(tomllib.loads(bare.to_toml()))
    assert again.channels == case.channels and again.stimuli == case.stimuli
    assert again.protocols == case.protocols


# -- overrides, sweeps and protocols ---------------------------------------------


def test_overrides_address_channels_and_stimuli(tmp_path, data):
    case, path = load(tmp_path, data)
    changed = case.with_overrides(
        {
            "channel.NaV.permeability": "1e-6 m/s",
            "channel.NaV.gates.m": 2,
            "channel.NaV.rates.m.alpha.rate": "0.2 1/ms/mV",
            "channel.KV.q10": 2,
            "channel.KV.rates.n.beta": {
                "form": "exponential",
                "rate": 100,
                "v_half": -0.065,
                "slope": 0.08,
            },
            "stimulus.current": "20 uA/cm^2",
            "stimulus.0.duration": "1 ms",
        }
    )
    na, k = changed.channels
    assert na.permeability == 1e-6 and na.gates == {"m": 2, "h": 1}
    assert na.rates["m"][0] == Rate("linoid", 0.2, -40.0, 10.0)
    assert k.q10 == 2.0 and k.rates["n"] == (
        HODGKIN_HUXLEY["n"][0],
        Rate("exponential", 0.1, -65.0, 80.0),
    )
    assert changed.stimuli[0].current == 0.2 and changed.stimuli[0].duration == 1e-3
    assert [p.at for p in changed.protocols] == pytest.approx([1e-3, 2e-3])
    again = load_case(path, overrides={"channel.NaV.permeability": 2e-6})
    assert again.channels[0].permeability == 2e-6
    for key, fragment in (
        ("channel.CaV.permeability", "unknown channel `CaV`"),
        ("channel.NaV.conductance", "unknown key"),
        ("channel.NaV", "channel.<name>.<key>"),
        ("channel.NaV.rates.m.gamma.rate", "unknown key `gamma`"),
        ("stimulus.1.current", "numbered 0 to 0"),
        ("channel.NaV.permeability", "not allowed"),
    ):
        value = -1 if key == "channel.NaV.permeability" else 1
        with pytest.raises(CaseError, match=fragment) as info:
            case.with_overrides({key: value})
        assert "\n" not in str(info.value)


def test_a_sweep_reads_the_channel_permeability_back(tmp_path, data):
    from pnp.simulation.sweep.spec import _point_values

    case, _ = load(tmp_path, data)
    point = {"channel.NaV.permeability": "1 um/s", "stimulus.current": "1 uA/cm^2"}
    assert _point_values(point, case.with_overrides(point)) == {
        "channel.NaV.permeability": 1e-6,
        "stimulus.current": 0.01,
    }


def test_protocols_change_only_a_channels_permeability(tmp_path, data):
    data["protocol"] = [{"at": "5 ms", "set": {"channel.NaV.permeability": "1e-6 m/s"}}]
    case, _ = load(tmp_path, data)
    assert case.at_time(6e-3).channels[0].permeability == 1e-6
    assert case.at_time(4e-3).channels[0].permeability == 3.3e-6
    for key, value, fragment in (
        ("channel.NaV.q10", 2, "cannot change during a run"),
        ("channel.NaV.gates.m", 2, "cannot change during a run"),
        ("channel.NaV.permeability", -1, ">= 0"),
    ):
        bad = copy.deepcopy(data)
        bad["protocol"] = [{"at": "5 ms", "set": {key: value}}]
        _stimulus_error(
            tmp_path,
            bad,
            "protocol[0].set" if "cannot" in fragment else f"protocol[0].set.{key}",
            fragment,
        )


def test_the_readme_example_loads(tmp_path, data):
    """README.md's "Channels and stimuli" block, in a case with a floating inside."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("#### Channels and stimuli", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    del data["channel"], data["stimulus"]
    path = tmp_path / "readme.toml"
    path.write_text(tomli_w.dumps(data) + "\n" + block)
    case = load_case(path)
    assert case.channels[0].rates == {"m": HODGKIN_HUXLEY["m"], "h": HODGKIN_HUXLEY["h"]}
    assert case.stimuli == (Stimulus(1e-3, 5e-4, 0.1, 1, 1e-2, "left"),)


def test_plain_permeability_and_stimulus_current_far_off_warn(tmp_path, data):
    nav(data)["permeability"] = 3.3  # cm/s? m/s: above 1 m/s
    data["stimulus"][0]["current"] = 1000  # uA/cm^2 meant: 1000 A/m^2
    with pytest.warns(CaseWarning) as caught:
        load(tmp_path, data)
    messages = [str(w.message) for w in caught]
    assert any("`channel.NaV.permeability`: 3.3 m/s is above 1 m/s" in m for m in messages)
    assert any("`stimulus[0].current`: 1000 A/m^2 is beyond 100 A/m^2" in m for m in messages)


def test_a_protocol_cannot_change_a_stimulus(tmp_path, data):
    data["protocol"] = [{"at": "5 ms", "set": {"stimulus.current": 0.2}}]
    _stimulus_error(tmp_path, data, "protocol[0].set", "cannot change during a run")


def test_pnp_keys_lists_the_channel_and_stimulus_keys(capsys):
    from pnp.presentation.cli import main

    assert main(["keys", "channel"]) == 0
    out = capsys.readouterr().out
    assert "rates.<gate>.<rate>.v_half" in out and "permeability" in out and "protocol" in out
    assert main(["keys", "stimulus"]) == 0
    assert "interval" in capsys.readouterr().out
