"""The case-file keys of ``[[channel]]`` and ``[[stimulus]]`` (issue 15), part of `pnp.input.schema`.

Kept apart so that the table of keys in `pnp.input.schema` has room to
grow; `pnp.input.schema.PARAMETERS` takes these in place (channels after
the pumps, stimuli after the protocols). `pnp.input.channels` reads them.
"""

from __future__ import annotations

from .parameter import REQUIRED, Parameter

__all__ = [
    "CHANNEL_PARAMETERS",
    "MAX_CHANNELS",
    "MAX_EXPONENT",
    "MAX_GATES",
    "MAX_STIMULI",
    "RATE_FIELDS",
    "STIMULUS_PARAMETERS",
]

MAX_CHANNELS = 64
MAX_GATES = 4
MAX_EXPONENT = 8
MAX_STIMULI = 500
#: The keys of one rate table, ``alpha = { form, rate, v_half, slope }``.
RATE_FIELDS = ("form", "rate", "v_half", "slope")

_p = Parameter

CHANNEL_PARAMETERS: tuple[Parameter, ...] = (
    _p(
        "channel.<channel>.name",
        "name",
        "-",
        REQUIRED,
        "Unique name among the channels; override paths use it (`channel.NaV.permeability`).",
    ),
    _p(
        "channel.<channel>.membrane",
        "name",
        "-",
        REQUIRED,
        "Name of the membrane region (membrane = true) the channel sits in.",
    ),
    _p(
        "channel.<channel>.species",
        "name",
        "-",
        REQUIRED,
        "The charged species the channel conducts.",
    ),
    _p(
        "channel.<channel>.permeability",
        "float",
        "m/s",
        REQUIRED,
        "Open-channel permeability P̄: the species' permeability in the membrane is its leak "
        "permeability plus P̄·Π gate^exponent (electrodiffusive, like the leak).",
        minimum=0.0,
        protocol=True,
    ),
    _p(
        "channel.<channel>.gates",
        "table",
        "-",
        REQUIRED,
        "Gate name → exponent, e.g. `{ m = 3, h = 1 }` (P = P̄·m³·h): 1 to 4 gates, exponents "
        "integers 1 to 8.",
    ),
    _p(
        "channel.<channel>.kinetics",
        "choice",
        "-",
        "hodgkin-huxley",
        "Rates of the gates: `hodgkin-huxley` has built-in rates for gates named m, h and n "
        "(squid axon 1952, rest near −65 mV, 6.3 °C; any may be replaced under `rates`); "
        "`custom`: every gate's rates given under `rates`.",
        choices=("hodgkin-huxley", "custom"),
    ),
    _p(
        "channel.<channel>.q10",
        "float",
        "-",
        3.0,
        "Temperature factor per 10 K: every rate is multiplied by q10^((T − T_ref)/10 K).",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "channel.<channel>.reference_temperature",
        "float",
        "K",
        279.45,
        'Temperature T_ref the rates are given at; a plain number is kelvin (or "6.3 degC").',
        minimum=200.0,
        maximum=400.0,
        default_text='`279.45` ("6.3 degC")',
    ),
    _p(
        "channel.<channel>.rates.<gate>.<rate>.form",
        "choice",
        "-",
        REQUIRED,
        "Form of a rate: `[channel.rates.GATE]` holds `alpha` and `beta` (opening, closing), each a table "
        "`{ form, rate, v_half, slope }`; with x = (V − v_half)/slope: exponential rate·e^(−x), "
        "sigmoid rate/(1 + e^(−x)), linoid rate·(V − v_half)/(1 − e^(−x)). A gate of the "
        "built-in kinetics may give one of the two.",
        choices=("exponential", "sigmoid", "linoid"),
    ),
    _p(
        "channel.<channel>.rates.<gate>.<rate>.rate",
        "float",
        "1/s",
        REQUIRED,
        'Rate constant: a plain number is 1/s (linoid: 1/(s·V)); write "0.1 1/ms" '
        '(linoid "0.1 1/ms/mV"). Refused when the rate is faster than 1e9 /s anywhere in '
        "−100…+50 mV or slower than 1e-4 /s everywhere there.",
        minimum=0.0,
    ),
    _p(
        "channel.<channel>.rates.<gate>.<rate>.v_half",
        "float",
        "V",
        REQUIRED,
        'Midpoint potential (plain: V; write "-40 mV"); |v_half| <= 1 V.',
    ),
    _p(
        "channel.<channel>.rates.<gate>.<rate>.slope",
        "float",
        "V",
        REQUIRED,
        'Slope factor (plain: V; write "10 mV"), non-zero, |slope| <= 1 V; its sign sets the '
        "direction.",
    ),
)

STIMULUS_PARAMETERS: tuple[Parameter, ...] = (
    _p(
        "stimulus.<stimulus>.at",
        "float",
        "s",
        REQUIRED,
        "Start of the first pulse: from then for `duration` the boundary's current is its "
        "case value plus `current` (expanded into `[[protocol]]` changes when loaded).",
        minimum=0.0,
    ),
    _p(
        "stimulus.<stimulus>.duration",
        "float",
        "s",
        REQUIRED,
        "Length of each pulse.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    _p(
        "stimulus.<stimulus>.current",
        "float",
        "A/m^2",
        REQUIRED,
        "Current density of the pulse entering the domain (the boundary.<side>.current "
        'convention), e.g. "10 uA/cm^2".',
    ),
    _p(
        "stimulus.<stimulus>.count",
        "int",
        "-",
        1,
        "Pulses in the train.",
        minimum=1,
        maximum=MAX_STIMULI,
    ),
    _p(
        "stimulus.<stimulus>.interval",
        "float",
        "s",
        None,
        "Start-to-start time of the pulses; required when count > 1, longer than duration.",
        minimum=0.0,
        exclusive_minimum=True,
        default_text="none (required when count > 1)",
    ),
    _p(
        "stimulus.<stimulus>.side",
        "choice",
        "-",
        None,
        'The boundary the current flows through: a reservoir with potential = "floating".',
        choices=("left", "right"),
        default_text="the floating reservoir",
    ),
)
