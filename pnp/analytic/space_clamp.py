"""Space-clamped membrane patch with Hodgkin–Huxley-type channels: an ODE reference.

The independent model that pnp's action potentials are tested against
(issue 15). It shares nothing with the solver (no import from
``pnp.discretisation``, ``pnp.solvers`` or ``pnp.results``): the rate
functions are written out here from the issue's formulas.

Model. Two well-mixed baths (inside, outside) keep their bulk concentrations
c_i; between them a membrane of thickness d and permittivity eps_m. The state
is q [C/m^2], the charge in the inside diffuse layer (-q in the outside one),
and the channels' gates. Gauss's law across the charge-free membrane gives
the voltage across the membrane proper (inside face minus outside face)::

    V_mem = q / C_m,   C_m = eps0 eps_m / d

Each diffuse layer is in equilibrium (Gouy–Chapman with any mixture of ions):
its surface potential psi_s relative to its own bulk solves Grahame's
relation for the wall charge that faces it (-q inside, +q outside)::

    q_layer^2 = 2 eps eps0 R T sum_i c_i (exp(-z_i F psi_s/RT) - 1),
    sign(psi_s) = -sign(q_layer)

so for q > 0 the inside face lies below the inside bulk (psi_s,in < 0) and
the outside face above the outside bulk (psi_s,out > 0). Adding the three
drops from bulk to bulk, the membrane potential is three capacitors in series::

    V_m = phi_bulk,in - phi_bulk,out = V_mem - psi_s,in + psi_s,out

The ions reach the membrane at the Boltzmann surface concentrations
c_i,s = c_i exp(-z_i F psi_s/RT) and cross it by GHK electrodiffusion at
V_mem (outward positive, w = z_i F V_mem/RT, B(x) = x/(e^x - 1), B(0) = 1)::

    I_i = P_i z_i^2 F^2 V_mem/(RT) (c_i,s,in - c_i,s,out e^-w)/(1 - e^-w)
        = P_i z_i F (c_i,s,in B(-w) - c_i,s,out B(w))

with P_i = leak_i + sum over the channels of species i of P̄ prod_k x_k^p_k.
A single permeant ion rests exactly at its Nernst potential, and ions of one
valence at the bulk GHK voltage: the layers' Boltzmann factors and their
voltage drops cancel. The gates follow V = V_m in mV (rates in 1/ms)::

    dx/dt = phi_T (alpha(V) (1 - x) - beta(V) x),   phi_T = q10^((T - T_ref)/10 K)
    dq/dt = I_stim(t) - sum_i I_i

I_stim is the current density injected into the inside (positive
depolarises), piecewise constant; each constant piece is integrated on its
own by scipy's ``solve_ivp`` (LSODA by default), so the jumps are hit
exactly. The state vector is (V_mem, gates), so one absolute tolerance (V
and gate fractions) fits both.

Rates: (form, rate, v_half, slope) in ms and mV, x = (V - v_half)/slope:
exponential rate e^-x, sigmoid rate/(1 + e^-x), linoid
rate (V - v_half)/(1 - e^-x) (its removable singularity at V = v_half is
rate slope, evaluated through B(-x), exact). The built-in Hodgkin–Huxley set
(modern convention, rest near -65 mV) is that table by gate name m, h, n.

Sizes (the squid set of tests/test_analytic_space_clamp.py: 6.3 degC, inside
K 400, Na 50, Cl 40 mM, outside K 20, Na 440, Cl 560 mM, C_m 0.996 uF/cm^2):
at rest (-65.02 mV) psi_s,in = +0.40 mV and psi_s,out = -0.34 mV, so V_mem is
0.75 mV smaller in magnitude than V_m; the series capacitance is 1.1 % below
C_m (`patch_capacitance`, `layer_shifts`, `RestState`).

Neglected: changes of the bath concentrations (a spike moves ~1e-8 mol/m^2
of charge), the baths' resistance (access RC time ~16 ns for 5 um baths of
150 mM) and diffusion in them; the layers are in equilibrium at every
instant (Debye time ~0.1 ns). Units SI except the rate parameters (ms, mV).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from ._space_clamp_model import (
    HODGKIN_HUXLEY,
    RateParameters,
    _integrate,
    _Model,
    _Piece,
    _segments,
    gate_rate,
    gate_rates,
)

__all__ = [
    "HODGKIN_HUXLEY",
    "ChannelSpec",
    "Patch",
    "RestState",
    "State",
    "Trace",
    "firing_rate",
    "from_case",
    "gate_rate",
    "gate_rates",
    "layer_shifts",
    "patch_capacitance",
    "peak",
    "rest",
    "simulate",
    "spikes",
    "threshold_current",
]


@dataclass(frozen=True)
class ChannelSpec:
    """A voltage-gated channel: P = permeability * prod gate^exponent for one species.

    `rates` maps each gate to ((form, rate, v_half, slope) of alpha, same of
    beta) in ms and mV; None takes the built-in Hodgkin–Huxley rates by gate
    name. `name` labels the gates ("<name>.<gate>", the species if empty).
    """

    species: str
    permeability: float  # P̄ [m/s]
    gates: dict[str, int]
    rates: dict[str, tuple[RateParameters, RateParameters]] | None = None
    q10: float = 3.0
    reference_temperature: float = 279.45  # [K] (6.3 degC)
    name: str = ""


@dataclass(frozen=True)
class Patch:
    """A space-clamped membrane patch between two baths of fixed bulk composition (SI)."""

    temperature: float  # [K]
    z: dict[str, int]  # every species' valence
    inside: dict[str, float]  # bulk concentrations [mol/m^3] (missing: 0)
    outside: dict[str, float]
    leak: dict[str, float]  # leak permeabilities [m/s] (missing: 0)
    channels: tuple[ChannelSpec, ...]
    thickness: float  # [m]
    eps_membrane: float
    eps_inside: float = 80.0
    eps_outside: float = 80.0


@dataclass(frozen=True)
class State:
    """A state of the patch: the inside layer's charge q [C/m^2] and the gates."""

    q: float
    gates: dict[str, float]


@dataclass(frozen=True)
class RestState(State):
    """The zero-current state with every gate at x_inf(V_m) (SI; capacitances in F/m^2)."""

    V_m: float = 0.0
    V_mem: float = 0.0
    psi_s_in: float = 0.0
    psi_s_out: float = 0.0
    capacitance: float = 0.0  # series small-signal dq/dV_m
    membrane_capacitance: float = 0.0  # C_m = eps0 eps_m / d


# --------------------------------------------------------------------------- rest


def _rest_current(model: _Model, v_mem: float) -> float:
    v_m, u_in, u_out = model.layers(v_mem)
    return math.fsum(model.currents(v_mem, u_in, u_out, model.steady_gates(v_m)))


def _rest(model: _Model) -> RestState:
    """The lowest zero-current V_mem with the gates at x_inf: a grid scan, then Brent."""
    span = 0.25
    for _ in range(6):
        grid = np.linspace(-span, span, 501)
        values = [_rest_current(model, float(v)) for v in grid]
        ups = [k for k in range(len(grid) - 1) if values[k] < 0 <= values[k + 1]]
        if ups:
            break
        span *= 2
    else:
        raise ValueError("the patch has no zero-current state (is any ion permeant?)")
    low, high = float(grid[ups[0]]), float(grid[ups[0] + 1])
    v_mem = high
    if values[ups[0] + 1] != 0:
        v_mem = brentq(lambda v: _rest_current(model, v), low, high, xtol=1e-18, rtol=1e-15)
    v_m, u_in, u_out = model.layers(v_mem)
    q = model.c_m * v_mem
    return RestState(
        q=q,
        gates=dict(zip(model.gate_keys, model.steady_gates(v_m), strict=True)),
        V_m=v_m,
        V_mem=v_mem,
        psi_s_in=model.vt * u_in,
        psi_s_out=model.vt * u_out,
        capacitance=model.capacitance(q),
        membrane_capacitance=model.c_m,
    )


def rest(patch: Patch) -> RestState:
    """The resting state: zero net current, every gate at x_inf(V_m).

    The most negative zero of the steady current-voltage relation (gates at
    x_inf), found by a scan of V_mem over +-0.25 V (widened if needed) and
    Brent's method; a single permeant ion rests at its Nernst potential to
    round-off. Also gives the layer shifts psi_s and the series capacitance.
    """
    return _rest(_Model(patch))


def patch_capacitance(patch: Patch, q: float | None = None) -> float:
    """Small-signal series capacitance dq/dV_m [F/m^2] at the charge q (default: at rest).

    1/C = 1/C_m + 1/C_dl,in + 1/C_dl,out with C_dl = d sigma/d psi_s of each
    layer at its state (for monovalent baths (eps eps0/lambda_D) cosh(F psi_s/2RT)).
    """
    model = _Model(patch)
    return model.capacitance(_rest(model).q if q is None else float(q))


def layer_shifts(patch: Patch, q: float | None = None) -> tuple[float, float]:
    """(psi_s,in, psi_s,out) [V]: each layer's surface potential against its bulk (default: at rest)."""
    model = _Model(patch)
    q = _rest(model).q if q is None else float(q)
    return model.vt * model.inside.potential(-q), model.vt * model.outside.potential(q)


@dataclass(frozen=True)
class Trace:
    """A simulated patch (SI): outputs at `t` and the dense solution of every piece.

    At a stimulus jump `t` holds the time twice (the end of one piece, the
    start of the next), so `stimulus` shows the step.
    """

    t: NDArray[np.floating]
    V_m: NDArray[np.floating]  # bulk inside - bulk outside [V]
    V_mem: NDArray[np.floating]  # across the membrane proper [V]
    q: NDArray[np.floating]  # inside layer's charge [C/m^2]
    psi_s_in: NDArray[np.floating]  # [V]
    psi_s_out: NDArray[np.floating]
    stimulus: NDArray[np.floating]  # [A/m^2] into the inside
    gates: dict[str, NDArray[np.floating]]
    currents: dict[str, NDArray[np.floating]]  # per species, outward [A/m^2]
    pieces: tuple[_Piece, ...] = field(repr=False, compare=False)
    model: _Model = field(repr=False, compare=False)

    def _piece(self, t: float) -> _Piece:
        for piece in self.pieces:
            if t <= piece.end:
                return piece
        return self.pieces[-1]

    def state(self, t: float) -> State:
        """The state at any time t within the run (dense output)."""
        return State(*self.model.unpack(self._piece(t).sol(t)))

    def voltage(self, t: float) -> float:
        """V_m [V] at any time t within the run (dense output)."""
        return self.model.layers(float(self._piece(t).sol(t)[0]))[0]

    def charging(self, t: float) -> float:
        """dq/dt = I_stim - sum_i I_i [A/m^2] at t: the sign of dV_m/dt."""
        piece = self._piece(t)
        y = piece.sol(t)
        _, u_in, u_out = self.model.layers(float(y[0]))
        return piece.stimulus - math.fsum(self.model.currents(y[0], u_in, u_out, y[1:]))

    @property
    def final(self) -> State:
        """The state at the end: an `initial` for the next `simulate`."""
        return self.state(self.pieces[-1].end)


def _trace(model: _Model, pieces: list[_Piece], t_eval: ArrayLike | None) -> Trace:
    if t_eval is None:
        times = np.concatenate([p.sol.ts for p in pieces])
        owners = [p for p in pieces for _ in p.sol.ts]
    else:
        times = np.asarray(t_eval, dtype=float).ravel()
        if np.any(times < pieces[0].start) or np.any(times > pieces[-1].end):
            raise ValueError("t_eval must lie within [0, t_end]")
        owners = [next(p for p in pieces if t <= p.end) for t in times]
    rows = []
    for t, piece in zip(times, owners, strict=True):
        y = piece.sol(t)
        v_m, u_in, u_out = model.layers(float(y[0]))
        currents = model.currents(float(y[0]), u_in, u_out, y[1:])
        rows.append([v_m, y[0], u_in, u_out, piece.stimulus, *y[1:], *currents])
    table = np.array(rows, dtype=float).reshape(len(times), -1)
    n = len(model.gate_keys)
    return Trace(
        t=times,
        V_m=table[:, 0],
        V_mem=table[:, 1],
        q=model.c_m * table[:, 1],
        psi_s_in=model.vt * table[:, 2],
        psi_s_out=model.vt * table[:, 3],
        stimulus=table[:, 4],
        gates={k: table[:, 5 + i] for i, k in enumerate(model.gate_keys)},
        currents={name: table[:, 5 + n + i] for i, name in enumerate(model.names)},
        pieces=tuple(pieces),
        model=model,
    )


def simulate(
    patch: Patch,
    stimulus: Sequence[tuple[float, float]],
    t_end: float,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_step: float = math.inf,
    t_eval: ArrayLike | None = None,
    initial: State | None = None,
    method: str = "LSODA",
) -> Trace:
    """Integrate the patch from t = 0 to `t_end` [s] under a piecewise-constant current.

    `stimulus`: (time [s], current density [A/m^2] into the inside) breakpoints,
    each value holding until the next breakpoint (0 before the first). Starts
    from `initial` (a `State`, e.g. `rest(patch)` or a trace's `final`), from
    rest by default. `atol` applies to V_mem [V] and the gate fractions alike.
    Outputs at `t_eval`, or at every solver step.
    """
    model = _Model(patch)
    start = _rest(model) if initial is None else initial
    y0 = model.vector(start.q, start.gates)
    options = {"rtol": rtol, "atol": atol, "max_step": max_step, "method": method}
    pieces, _ = _integrate(model, _segments(stimulus, 0.0, float(t_end)), y0, options)
    return _trace(model, pieces, t_eval)


# --------------------------------------------------------------------------- spikes


def _samples(trace: Trace, start: float, end: float) -> tuple[NDArray, NDArray, list[_Piece]]:
    """V_mem at every solver step and step midpoint within [start, end] (and their pieces).

    V_m rises with V_mem, so crossings and maxima of V_m are those of V_mem,
    which the dense output gives without solving for the layers.
    """
    times, values, owners = [], [], []
    for piece in trace.pieces:
        ts = piece.sol.ts
        fine = np.sort(np.concatenate([ts, 0.5 * (ts[1:] + ts[:-1])]))
        fine = fine[(fine >= start) & (fine <= end)]
        times.append(fine)
        values.append(piece.sol(fine)[0] if fine.size else fine)
        owners.extend([piece] * fine.size)
    return np.concatenate(times), np.concatenate(values), owners


def spikes(trace: Trace, threshold: float = 0.0) -> NDArray[np.floating]:
    """Times [s] at which V_m crosses `threshold` [V] upwards, refined on the dense output."""
    level = trace.model.membrane_voltage(threshold)
    times, v_mem, owners = _samples(trace, -math.inf, math.inf)
    ups = np.flatnonzero((v_mem[:-1] < level) & (v_mem[1:] >= level) & (times[1:] > times[:-1]))
    out = []
    for k in ups:
        sol = owners[k + 1].sol
        out.append(
            brentq(
                lambda t, sol=sol: sol(t)[0] - level,
                times[k],
                times[k + 1],
                xtol=1e-16,
                rtol=1e-15,
            )
        )
    return np.array(out, dtype=float)


def peak(trace: Trace, start: float | None = None, end: float | None = None) -> tuple[float, float]:
    """(time [s], V_m [V]) of the highest V_m within [start, end] (default: the whole run).

    The sampled maximum is refined to the root of dq/dt (whose sign is that
    of dV_m/dt) by Brent's method on the dense output.
    """
    low = trace.pieces[0].start if start is None else start
    high = trace.pieces[-1].end if end is None else end
    times, v_mem, _ = _samples(trace, low, high)
    if not times.size:
        raise ValueError(f"no output within [{low}, {high}] s")
    k = int(np.argmax(v_mem))
    a, b = float(times[max(k - 1, 0)]), float(times[min(k + 1, len(times) - 1)])
    t = float(times[k])
    if a < b and trace.charging(a) > 0 > trace.charging(b):
        t = brentq(trace.charging, a, b, xtol=1e-16, rtol=1e-15)
    return t, trace.voltage(t)


def threshold_current(
    patch: Patch,
    start: float,
    duration: float,
    low: float,
    high: float,
    rtol: float = 1e-4,
    *,
    window: float = 0.05,
    threshold: float = 0.0,
    solver_rtol: float = 1e-10,
    atol: float = 1e-12,
    max_step: float = math.inf,
    method: str = "LSODA",
) -> float:
    """The smallest amplitude [A/m^2] of a pulse from rest whose V_m reaches `threshold` [V].

    Bisection between `low` (must not fire) and `high` (must fire) until the
    bracket is `rtol` of `high`; returns its upper end (an amplitude that
    fires). Each trial runs from `start` (at rest until then) to `window` s
    after the pulse, stopping at the crossing; `solver_rtol`, `atol`,
    `max_step`, `method` are `simulate`'s `rtol`, `atol`, ....
    """
    model = _Model(patch)
    at_rest = _rest(model)
    y0 = model.vector(at_rest.q, at_rest.gates)
    settings = {"rtol": solver_rtol, "atol": atol, "max_step": max_step, "method": method}
    end = start + duration + window

    def fires(amplitude: float) -> bool:
        segments = _segments([(start, amplitude), (start + duration, 0.0)], start, end)
        return _integrate(model, segments, y0, settings, stop_above=threshold)[1]

    if fires(low) or not fires(high):
        raise ValueError(f"need a bracket: {low!r} A/m^2 must not fire and {high!r} must")
    while high - low > rtol * abs(high):
        middle = 0.5 * (low + high)
        low, high = (low, middle) if fires(middle) else (middle, high)
    return high


def firing_rate(
    patch: Patch,
    current: float,
    t_end: float,
    settle: float,
    threshold: float = 0.0,
    **options: Any,
) -> float:
    """Spikes per second under a sustained current [A/m^2] switched on at t = 0 from rest.

    One over the mean interval between the spikes after `settle` [s]; 0 if
    fewer than two. `options` go to `simulate`.
    """
    trace = simulate(patch, [(0.0, current)], t_end, t_eval=[t_end], **options)
    times = [t for t in spikes(trace, threshold) if t >= settle]
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


# --------------------------------------------------------------------------- from a case


def _channel_spec(channel: Any, membrane: str) -> ChannelSpec:
    if channel.membrane != membrane:
        raise ValueError(f"channel {channel.name!r} is in {channel.membrane!r}, not {membrane!r}")
    given = getattr(channel, "rates", None)
    table = None
    if given:
        table = {
            gate: tuple((r.form, float(r.rate), float(r.v_half), float(r.slope)) for r in pair)
            for gate, pair in given.items()
        }
    return ChannelSpec(
        species=channel.species,
        permeability=float(channel.permeability),
        gates={gate: int(p) for gate, p in channel.gates.items()},
        rates=table,
        q10=float(channel.q10),
        reference_temperature=float(channel.reference_temperature),
        name=str(channel.name),
    )


def _case_stimulus(case: Any) -> list[tuple[float, float]]:
    sides = {"left": case.left, "right": case.right}
    floating = [side for side, boundary in sides.items() if boundary.floating]
    if len(floating) != 1:
        raise ValueError("a space clamp needs exactly one floating boundary (the current clamp)")
    side = floating[0]
    # current into the outside bath crosses the membrane inwards: it hyperpolarises
    sign = 1.0 if side == case.inside else -1.0
    key = f"boundary.{side}.current"
    out = [(0.0, sign * float(sides[side].current))]
    for protocol in case.protocols:
        for name, value in protocol.set.items():
            if name != key:
                raise ValueError(f"protocol key {name!r} is not part of the space-clamp model")
            out.append((float(protocol.at), sign * float(value)))
    return out


def from_case(case: Any) -> tuple[Patch, list[tuple[float, float]]]:
    """The patch and stimulus breakpoints of a pnp case (cartesian, bath | membrane | bath).

    Temperature, valences, the baths' concentrations and permittivities, the
    membrane's thickness, permittivity and permeabilities (the leaks), the
    channels (``case.channels``, if the case has them), and the current on
    the floating boundary with its protocol changes (sign flipped if that
    boundary is on the outside). Pumps, fixed charge in the baths, activity
    models and other protocol keys are not part of this model: ValueError.
    """
    if case.geometry != "cartesian" or case.pumps or case.activity != "ideal":
        raise ValueError("the space clamp models a cartesian, pump-free, ideal case")
    regions = list(case.regions) if case.inside == "left" else list(reversed(case.regions))
    if len(regions) != 3 or not regions[1].membrane or regions[0].membrane or regions[2].membrane:
        raise ValueError("the space clamp needs three regions: bath, membrane, bath")
    inside, membrane, outside = regions
    if inside.fixed_charge or outside.fixed_charge:
        raise ValueError("fixed charge in a bath is not part of the space-clamp model")
    patch = Patch(
        temperature=float(case.temperature),
        z={s.name: int(s.z) for s in case.species},
        inside=dict(inside.concentration),
        outside=dict(outside.concentration),
        leak=dict(membrane.permeability),
        channels=tuple(_channel_spec(c, membrane.name) for c in getattr(case, "channels", ())),
        thickness=float(membrane.length),
        eps_membrane=float(membrane.eps_r),
        eps_inside=float(inside.eps_r),
        eps_outside=float(outside.eps_r),
    )
    return patch, _case_stimulus(case)
