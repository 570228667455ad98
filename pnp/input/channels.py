"""Validation of ``[[channel]]`` and ``[[stimulus]]`` (issue 15): Channel, Stimulus and the stimuli's protocols.

Owns the rules of voltage-gated channels (in a membrane; a charged species;
1 to `MAX_GATES` gates with integer exponents; the rates of each gate,
built-in ``hodgkin-huxley`` ones by gate name or given as parametric forms,
converted from SI or written units to the units of
`pnp.discretisation.gates.Rate`: 1/ms, 1/(ms mV), mV) and of current
stimuli (a pulse or a train through a floating reservoir, expanded into
`Protocol` changes of ``boundary.<side>.current``: base + current at each
pulse's start, base at its end, base being the boundary's current in the
case).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from .case import Boundary, Channel, Protocol, Region, RunSpec, Species, Stimulus
from .messages import join_key, show, suggest
from .plausibility import rate_speed_problem, slow_plain_rate
from .reader import Reader, is_plain
from .schema import MAX_PROTOCOLS, NAME_PATTERN, SCHEMA
from .schema_channels import (
    MAX_CHANNELS,
    MAX_EXPONENT,
    MAX_GATES,
    MAX_STIMULI,
    RATE_FIELDS,
)

__all__ = ["ChannelReader", "rate_to_si"]

# form -> (SI unit of a plain `rate`, factor SI -> Rate's unit, Rate's unit as written)
_RATE_UNITS = {
    "linoid": ("1/s/V", 1e-6, "1/ms/mV"),
    "exponential": ("1/s", 1e-3, "1/ms"),
    "sigmoid": ("1/s", 1e-3, "1/ms"),
}


def _clean(value: float) -> float:
    """15 significant digits, as `pnp.input.units` gives every converted number: a
    rate read from SI and one read from its unit (or written back by
    `Case.to_toml` and read again) are then the same float."""
    return float(f"{value:.15g}")


def rate_to_si(rate: Any) -> dict[str, Any]:
    """A `pnp.discretisation.gates.Rate` as the plain SI table a case file gives."""
    _, factor, _ = _RATE_UNITS[rate.form]
    return {
        "form": rate.form,
        "rate": _clean(rate.rate / factor),
        "v_half": _clean(rate.v_half * 1e-3),
        "slope": _clean(rate.slope * 1e-3),
    }


class ChannelReader(Reader):
    """Reads the channels and the stimuli."""

    def channels(
        self,
        raw: dict[str, Any],
        species: tuple[Species, ...],
        regions: tuple[Region, ...],
        only: Collection[str] | None = None,
    ) -> tuple[Channel, ...]:
        """The channels, validated; ``only``: validate (and return) just these names."""
        prefix = "channel.<channel>"
        valence = {s.name: s.z for s in species}
        membranes = tuple(r.name for r in regions if r.membrane)
        seen: dict[str, str] = {}
        out = []
        for position, entry in self.entries(raw, "channel", MAX_CHANNELS):
            if only is not None and entry.get("name") not in only:
                continue
            label = entry.get("name")
            named = isinstance(label, str) and NAME_PATTERN.fullmatch(label) and label not in seen
            key = f"channel.{label}" if named else position
            self.check_keys(entry, prefix, key)
            name = self.get(entry, prefix, "name", key)
            if name in seen:
                raise self.error(
                    f"duplicate channel name '{name}' ({seen[name]} and {position}); channel "
                    "names must be unique",
                    f"{position}.name",
                )
            seen[name] = position
            membrane = self.get(entry, prefix, "membrane", key)
            if membrane not in membranes:
                if any(r.name == membrane for r in regions):
                    raise self.error(
                        f"region '{membrane}' is not a membrane; channels sit in a membrane "
                        f"({', '.join(membranes) or 'the case has none'})",
                        f"{key}.membrane",
                    )
                self.name_in(membrane, membranes, f"{key}.membrane", "membrane region")
            ion = self.get(entry, prefix, "species", key)
            self.name_in(ion, valence, f"{key}.species", "species")
            if valence[ion] == 0:
                raise self.error(
                    f"`{ion}` is uncharged (z = 0); a channel conducts a charged species",
                    f"{key}.species",
                )
            region = next((r for r in regions if r.name == membrane), None)
            if region is not None and region.D.get(ion, 0.0) == 0.0:
                raise self.error(
                    f"`{ion}` has D = 0 in '{membrane}': a channel's flux is electrodiffusion "
                    f"through the membrane, give region.{membrane}.D.{ion} > 0",
                    f"{key}.species",
                )
            kinetics = self.get(entry, prefix, "kinetics", key)
            gates = self._gates(entry, key)
            out.append(
                Channel(
                    name=name,
                    membrane=membrane,
                    species=ion,
                    permeability=self.get(entry, prefix, "permeability", key),
                    gates=gates,
                    rates=self._rates(entry, key, gates, kinetics),
                    q10=self.get(entry, prefix, "q10", key),
                    reference_temperature=self.get(entry, prefix, "reference_temperature", key),
                    kinetics=kinetics,
                )
            )
        return tuple(out)

    def _gates(self, entry: dict[str, Any], key: str) -> dict[str, int]:
        """``gates = { m = 3, h = 1 }``: 1 to `MAX_GATES` names with exponents 1 to `MAX_EXPONENT`."""
        where = f"{key}.gates"
        if "gates" not in entry:
            raise self.error(
                "missing; give the gates and their exponents, e.g. { m = 3, h = 1 }", where
            )
        table = self.table(entry["gates"], where, "a table gate -> exponent, e.g. { m = 3, h = 1 }")
        if not 1 <= len(table) <= MAX_GATES:
            raise self.error(
                f"{len(table)} gates; give 1 to {MAX_GATES}, e.g. {{ m = 3, h = 1 }}", where
            )
        gates = {}
        for gate, exponent in table.items():
            if not NAME_PATTERN.fullmatch(gate):
                raise self.error(
                    "not a valid gate name (letters, digits, _ or -, starting with a letter)",
                    join_key(where, gate),
                )
            if isinstance(exponent, bool) or not isinstance(exponent, int):
                raise self.error(
                    f"expected an integer exponent 1 to {MAX_EXPONENT}, got {show(exponent)}",
                    join_key(where, gate),
                )
            if not 1 <= exponent <= MAX_EXPONENT:
                raise self.error(
                    f"{exponent} is not allowed; the exponent must be 1 to {MAX_EXPONENT}",
                    join_key(where, gate),
                )
            gates[gate] = int(exponent)
        return gates

    def _rates(
        self, entry: dict[str, Any], key: str, gates: dict[str, int], kinetics: str
    ) -> dict[str, tuple[Any, Any]]:
        """Every gate's (alpha, beta): given under ``rates``, else the built-in ones."""
        from ..discretisation.gates import HODGKIN_HUXLEY  # deferred: imports numpy

        where = f"{key}.rates"
        given = self.table(
            entry.get("rates", {}), where, "tables [channel.rates.GATE] with alpha and beta"
        )
        for gate in given:
            if gate not in gates:
                raise self.error(
                    f"`{gate}` is not a gate of this channel; {suggest(gate, list(gates))}",
                    join_key(where, gate),
                )
        built_in = HODGKIN_HUXLEY if kinetics == "hodgkin-huxley" else {}
        rates = {}
        for gate in gates:
            gate_key = join_key(where, gate)
            table = self.table(
                given.get(gate, {}), gate_key, "a table with alpha and beta, e.g. alpha = { ... }"
            )
            for name in table:
                if name not in ("alpha", "beta"):
                    raise self.error(
                        f"unknown key `{name}`; {suggest(name, ('alpha', 'beta'))}",
                        join_key(gate_key, name),
                    )
            pair = []
            for i, name in enumerate(("alpha", "beta")):
                if name in table:
                    pair.append(self._rate(table[name], join_key(gate_key, name)))
                elif gate in built_in:
                    pair.append(built_in[gate][i])
                else:
                    why = (
                        'kinetics = "custom"'
                        if kinetics == "custom"
                        else "the built-in hodgkin-huxley rates are for gates m, h and n only"
                    )
                    raise self.error(
                        f"missing; gate `{gate}` needs its {name} rate ({why}), e.g. "
                        f'{name} = {{ form = "exponential", rate = "4 1/ms", v_half = "-65 mV", '
                        'slope = "18 mV" }',
                        join_key(gate_key, name),
                    )
            rates[gate] = (pair[0], pair[1])
        return rates

    def _rate(self, value: Any, key: str) -> Any:
        """One rate table ``{ form, rate, v_half, slope }`` as a `Rate` (1/ms, mV)."""
        from ..discretisation.gates import Rate  # deferred: imports numpy

        table = self.table(value, key, 'a table { form = "linoid", rate, v_half, slope }')
        for name in table:
            if name not in RATE_FIELDS:
                raise self.error(
                    f"unknown key `{name}`; {suggest(name, RATE_FIELDS)}", f"{key}.{name}"
                )
        for name in RATE_FIELDS:
            if name not in table:
                param = SCHEMA[f"channel.<channel>.rates.<gate>.<rate>.{name}"]
                raise self.error(f"missing; give {param.expectation()}", f"{key}.{name}")
        form = self.text(
            table["form"], SCHEMA["channel.<channel>.rates.<gate>.<rate>.form"], f"{key}.form"
        )
        unit, factor, written = _RATE_UNITS[form]
        rate = self.number(table["rate"], unit, f"{key}.rate")
        if rate < 0:
            raise self.error(f"{rate:g} is not allowed; must be >= 0 {unit}", f"{key}.rate")
        v_half = self._potential(table["v_half"], f"{key}.v_half", allow_zero=True)
        slope = self._potential(table["slope"], f"{key}.slope", allow_zero=False)
        result = Rate(form, _clean(rate * factor), _clean(v_half * 1e3), _clean(slope * 1e3))
        plain = is_plain(table["rate"])
        hint = f"; a plain number is read in {unit}: did you mean '{rate:g} {written}'?"
        problem = rate_speed_problem(result)
        if problem is not None:
            raise self.error(problem + (hint if plain else ""), f"{key}.rate")
        if plain and slow_plain_rate(result):
            self.warn(
                f"{rate:g} {unit} makes a gate slower than 1 s at every potential from -100 to "
                f"+50 mV (ion channel gates: 0.01 to 100 ms){hint}",
                f"{key}.rate",
            )
        return result

    def _potential(self, value: Any, key: str, allow_zero: bool) -> float:
        """``v_half`` or ``slope`` [V]: within 1 V (and non-zero for a slope)."""
        number = self.number(value, "V", key)
        hint = (
            f"; a plain number is read in V: did you mean '{number:g} mV'?"
            if is_plain(value)
            else ""
        )
        if not allow_zero and number == 0.0:
            raise self.error(
                "0 is not allowed; the slope must be non-zero (it divides V - v_half)", key
            )
        if abs(number) > 1.0:
            raise self.error(f"{number:g} V is not allowed; must be within -1 V to 1 V{hint}", key)
        return number

    def stimuli(
        self, raw: dict[str, Any], left: Boundary, right: Boundary, run: RunSpec, strict: bool
    ) -> tuple[Stimulus, ...]:
        """The ``[[stimulus]]`` entries, each with its side resolved."""
        prefix = "stimulus.<stimulus>"
        floating = [b.side for b in (left, right) if b.floating]
        out = []
        for key, entry in self.entries(raw, "stimulus", MAX_STIMULI):
            self.check_keys(entry, prefix, key)
            values = {
                name: self.get(entry, prefix, name, key)
                for name in ("at", "duration", "current", "count", "interval", "side")
            }
            side = values["side"]
            if not floating:
                raise self.error(
                    'a stimulus is a current through a floating reservoir (type = "reservoir", '
                    'potential = "floating"); this case has none',
                    key,
                )
            if side is None:
                if len(floating) > 1:
                    raise self.error(
                        'missing; both boundaries are floating reservoirs: give side = "left" '
                        'or "right"',
                        f"{key}.side",
                    )
                values["side"] = floating[0]
            elif side not in floating:
                raise self.error(
                    f'boundary.{side} is not a floating reservoir (potential = "floating"); '
                    f"the case's is boundary.{floating[0]}",
                    f"{key}.side",
                )
            count, interval, duration = values["count"], values["interval"], values["duration"]
            if count > 1 and interval is None:
                raise self.error(
                    f"missing; a train of {count} pulses needs the start-to-start interval (s), "
                    f"longer than the duration ({duration:g} s)",
                    f"{key}.interval",
                )
            if count > 1 and interval <= duration:
                raise self.error(
                    f"pulses of {duration:g} s every {interval:g} s overlap: the interval must "
                    "be longer than the duration",
                    f"{key}.interval",
                )
            if run.mode == "transient" and run.t_end is not None and values["at"] > run.t_end:
                self.complain(
                    strict,
                    f"the stimulus at {values['at']:g} s is after run.t_end = {run.t_end:g} s",
                    f"{key}.at",
                )
            out.append(Stimulus(**values))
        if out and run.mode != "transient":
            self.warn(
                'a stimulus acts only in a transient run (run.mode = "transient"); a steady '
                "state ignores it, like the protocols",
                "stimulus",
            )
        return tuple(out)

    def pulse_protocols(
        self,
        raw: dict[str, Any],
        stimuli: tuple[Stimulus, ...],
        left: Boundary,
        right: Boundary,
        protocols: tuple[Protocol, ...],
    ) -> tuple[Protocol, ...]:
        """``protocols`` with the stimuli's pulses added, sorted by time.

        Each pulse sets ``boundary.<side>.current`` to the boundary's current
        in the case plus the stimulus' current at its start and back at its
        end; pulses on one boundary may touch but not overlap.
        """
        keys = [key for key, _ in self.entries(raw, "stimulus", MAX_STIMULI)]
        pulses: dict[str, list[tuple[float, float, float, str]]] = {}
        for stimulus, key in zip(stimuli, keys, strict=True):
            step = stimulus.interval or 0.0
            for k in range(stimulus.count):
                start = stimulus.at + k * step
                end = start + stimulus.duration
                if not math.isfinite(end):
                    raise self.error(f"pulse {k + 1} ends at an infinite time", key)
                pulses.setdefault(stimulus.side, []).append((start, end, stimulus.current, key))
        changes = []
        for side, train in pulses.items():
            boundary = left if side == "left" else right
            path = f"boundary.{side}.current"
            train.sort(key=lambda pulse: pulse[0])
            latest, first = -math.inf, ""  # the end of the pulses so far, and whose
            for start, end, _, second in train:
                if start < latest:
                    raise self.error(
                        f"a pulse of {first} through boundary.{side} lasts until {latest:g} s "
                        f"and one of {second} starts at {start:g} s: pulses on one boundary "
                        "may not overlap",
                        second,
                    )
                latest, first = end, second
            for start, end, current, key in train:
                value = boundary.current + current
                if not math.isfinite(value):
                    raise self.error(f"{path} + current is not finite", f"{key}.current")
                changes += [
                    Protocol(at=start, set={path: value}),
                    Protocol(at=end, set={path: boundary.current}),
                ]
        total = len(protocols) + len(changes)
        if total > MAX_PROTOCOLS:
            raise self.error(
                f"the pulses make {len(changes)} changes, with the {len(protocols)} [[protocol]] "
                f"entries {total}; at most {MAX_PROTOCOLS} allowed",
                "stimulus",
            )
        return tuple(sorted([*protocols, *changes], key=lambda p: p.at))
