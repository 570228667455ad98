"""The equations of the space-clamp reference (:mod:`pnp.analytic.space_clamp`).

Rate functions, the two diffuse layers (Grahame's relation and its inverse),
the right-hand side the integrator calls, and the piecewise integration. The
physics and the public API are in :mod:`pnp.analytic.space_clamp`; nothing
here comes from the solver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from ..constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY

__all__ = ["HODGKIN_HUXLEY", "gate_rate", "gate_rates"]

RateParameters = tuple[
    str, float, float, float
]  # (form, rate [1/ms or 1/(ms mV)], v_half, slope [mV])

HODGKIN_HUXLEY: dict[str, tuple[RateParameters, RateParameters]] = {
    "m": (("linoid", 0.1, -40.0, 10.0), ("exponential", 4.0, -65.0, 18.0)),
    "h": (("exponential", 0.07, -65.0, 20.0), ("sigmoid", 1.0, -35.0, 10.0)),
    "n": (("linoid", 0.01, -55.0, 10.0), ("exponential", 0.125, -65.0, 80.0)),
}
_FORMS = ("exponential", "sigmoid", "linoid")
_EXP_MAX = 700.0  # exponents are capped here: no overflow for any voltage
_E2_SERIES = tuple(1 / math.factorial(k) for k in range(2, 13))

# --------------------------------------------------------------------------- rates


def _exp(x: float) -> float:
    return math.exp(min(x, _EXP_MAX))


def _bernoulli(x: float) -> float:
    """B(x) = x/(e^x - 1), B(0) = 1, exact near 0 (expm1) and without overflow."""
    if x == 0.0:
        return 1.0
    if x > _EXP_MAX:
        return x * math.exp(-x)
    return x / math.expm1(x)


def _rate(params: RateParameters, v: float) -> float:
    form, value, v_half, slope = params
    x = (v - v_half) / slope
    if form == "exponential":
        return value * _exp(-x)
    if form == "sigmoid":
        return value / (1.0 + _exp(-x)) if x > -_EXP_MAX else value * math.exp(x)
    if form == "linoid":  # value (v - v_half)/(1 - e^-x) = value slope B(-x)
        return value * slope * _bernoulli(-x)
    raise ValueError(f"rate form must be one of {_FORMS}, got {form!r}")


def gate_rate(params: RateParameters, v: ArrayLike) -> float | NDArray[np.floating]:
    """One rate [1/ms] of the generic form (form, rate, v_half, slope) at V [mV]."""
    out = np.vectorize(lambda x: _rate(params, float(x)), otypes=[float])(v)
    return float(out) if out.ndim == 0 else out


def gate_rates(
    gate: str,
    v: ArrayLike,
    rates: Mapping[str, tuple[RateParameters, RateParameters]] | None = None,
) -> tuple[Any, Any]:
    """(alpha, beta) [1/ms] of a gate at V [mV] (`rates` None: built-in Hodgkin–Huxley)."""
    table = HODGKIN_HUXLEY if rates is None else rates
    if gate not in table:
        raise ValueError(f"no rates for gate {gate!r} (have {sorted(table)})")
    alpha, beta = table[gate]
    return gate_rate(alpha, v), gate_rate(beta, v)


# --------------------------------------------------------------------------- diffuse layers


def _e2(y: float) -> float:
    """e^y - 1 - y, to full relative precision (Taylor series to y^12 below |y| = 0.1)."""
    if abs(y) > 0.1:
        return math.expm1(y) - y
    c, y2 = _E2_SERIES, y * y  # c[k] = 1/(k + 2)!, evaluated in Estrin's scheme
    y4 = y2 * y2
    low = c[0] + y * c[1] + y2 * (c[2] + y * c[3])
    middle = c[4] + y * c[5] + y2 * (c[6] + y * c[7])
    high = c[8] + y * c[9] + y2 * c[10]
    return y2 * (low + y4 * (middle + y4 * high))


class _Bath:
    """One bath's diffuse layer: Grahame's relation and its inverse (u = F psi/RT)."""

    def __init__(self, c: Sequence[float], z: Sequence[float], eps_r: float, temperature: float):
        pairs = [(ci, zi) for ci, zi in zip(c, z, strict=True) if ci > 0 and zi != 0]
        if not pairs:
            raise ValueError("each bath needs charged species (its diffuse layer holds the charge)")
        charge = math.fsum(ci * zi for ci, zi in pairs)
        if abs(charge) > 1e-6 * math.fsum(ci * abs(zi) for ci, zi in pairs):
            raise ValueError(f"a bath must be electroneutral, sum z c = {charge!r} mol/m^3")
        totals: dict[float, float] = {}  # ions of one valence share their Boltzmann factor
        for ci, zi in pairs:
            totals[zi] = totals.get(zi, 0.0) + ci
        self.pairs = [(ci, zi) for zi, ci in totals.items()]
        # only +-1 ions, equal totals C: G = 2 sqrt(C) sinh(u/2) = a sinh(u/2), so H(u) = u
        self.symmetric = set(totals) == {1.0, -1.0} and totals[1.0] == totals[-1.0]
        # sigma = scale * G(u), G = sign(u) sqrt(sum c (e^-zu - 1 + zu)), G ~ u a/2 near 0
        self.scale = math.sqrt(2 * eps_r * VACUUM_PERMITTIVITY * GAS_CONSTANT * temperature)
        self.a = math.sqrt(2 * math.fsum(ci * zi * zi for ci, zi in pairs))

    def _g(self, u: float) -> tuple[float, float]:
        """G(u) and G'(u) (u != 0); every term of both sums has one sign: no cancellation."""
        f = sum([ci * _e2(-zi * u) for ci, zi in self.pairs])  # positive terms
        df = sum([-zi * ci * math.expm1(-zi * u) for ci, zi in self.pairs])  # terms of sign u
        return math.copysign(math.sqrt(f), u), abs(df) / (2 * math.sqrt(f))

    def charge(self, u: float) -> float:
        """Wall charge sigma [C/m^2] facing a layer at u = F psi_s/RT (Grahame)."""
        return 0.0 if u == 0 else self.scale * self._g(u)[0]

    def capacitance(self, u: float, vt: float) -> float:
        """d sigma / d psi_s [F/m^2] (eps eps0/lambda_D at u = 0)."""
        slope = self.a / 2 if abs(u) < 1e-100 else self._g(u)[1]
        return self.scale * slope / vt

    def potential(self, sigma: float) -> float:
        """u = F psi_s/RT of the layer facing the wall charge sigma (safeguarded Newton)."""
        target = 2 * math.asinh(sigma / self.scale / self.a)
        if self.symmetric:
            return target
        u, low, high = target, -math.inf, math.inf
        for _ in range(200):
            if abs(u) < 1e-100:
                return u
            g, dg = self._g(u)  # Newton on H(u) = 2 asinh(G/a): exactly u for monovalent ions
            h, dh = 2 * math.asinh(g / self.a), 2 * dg / math.hypot(self.a, g)
            low, high = (low, u) if h > target else (u, high)
            new = u - (h - target) / dh
            if not low < new < high and math.isfinite(low + high):
                new = 0.5 * (low + high)
            if abs(new - u) <= 1e-8 * abs(u):  # Newton: the step after is ~1e-16 |u|
                return new
            u = new
        raise RuntimeError(f"Grahame's relation did not converge for sigma = {sigma!r}")


# --------------------------------------------------------------------------- the model


class _Model:
    """The patch's equations in the flat form the integrator calls (state: V_mem, gates)."""

    def __init__(self, patch: Any):
        t = patch.temperature
        for name in ("temperature", "thickness", "eps_membrane", "eps_inside", "eps_outside"):
            value = getattr(patch, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
        self.names = list(patch.z)
        unknown = set(patch.inside) | set(patch.outside) | set(patch.leak)
        if unknown - set(self.names):
            raise ValueError(f"species without a valence: {sorted(unknown - set(self.names))}")
        self.z = [float(patch.z[n]) for n in self.names]
        self.c_in = [float(patch.inside.get(n, 0.0)) for n in self.names]
        self.c_out = [float(patch.outside.get(n, 0.0)) for n in self.names]
        self.leak = [float(patch.leak.get(n, 0.0)) for n in self.names]
        self.vt = GAS_CONSTANT * t / FARADAY
        self.c_m = VACUUM_PERMITTIVITY * patch.eps_membrane / patch.thickness
        self.inside = _Bath(self.c_in, self.z, patch.eps_inside, t)
        self.outside = _Bath(self.c_out, self.z, patch.eps_outside, t)
        self.gate_keys: list[str] = []
        self.gate_rates: list[tuple[RateParameters, RateParameters, float]] = []
        self.channels: list[tuple[int, float, list[tuple[int, int]]]] = []
        for channel in patch.channels:
            self._add_channel(channel, t)

    def _add_channel(self, channel: Any, temperature: float) -> None:
        if channel.species not in self.names:
            raise ValueError(f"channel species {channel.species!r} is not a species of the patch")
        phi = channel.q10 ** ((temperature - channel.reference_temperature) / 10.0)
        table = HODGKIN_HUXLEY if channel.rates is None else channel.rates
        gates = []
        for gate, exponent in channel.gates.items():
            key = f"{channel.name or channel.species}.{gate}"
            if key in self.gate_keys:
                raise ValueError(f"two channels have the gate {key!r}: give them names")
            if gate not in table:
                raise ValueError(f"no rates for gate {gate!r} of the {channel.species} channel")
            for params in table[gate]:
                if params[0] not in _FORMS:
                    raise ValueError(f"rate form must be one of {_FORMS}, got {params[0]!r}")
            gates.append((len(self.gate_keys), int(exponent)))
            self.gate_keys.append(key)
            self.gate_rates.append((*table[gate], phi))
        index = self.names.index(channel.species)
        self.channels.append((index, float(channel.permeability), gates))

    def layers(self, v_mem: float) -> tuple[float, float, float]:
        """(V_m, u_in, u_out) for V_mem: bulk-to-bulk voltage and F psi_s/RT of each layer."""
        q = self.c_m * v_mem
        u_in = self.inside.potential(-q)
        u_out = self.outside.potential(q)
        return v_mem + self.vt * (u_out - u_in), u_in, u_out

    def membrane_voltage(self, v_m: float) -> float:
        """V_mem at the bulk-to-bulk V_m (V_m rises with V_mem, |V_mem| <= |V_m|, same sign)."""
        if v_m == 0:
            return 0.0
        low, high = sorted((0.0, v_m))
        return brentq(lambda v: self.layers(v)[0] - v_m, low, high, xtol=1e-300, rtol=1e-15)

    def steady_gates(self, v_m: float) -> list[float]:
        out = []
        for alpha, beta, _ in self.gate_rates:
            a, b = _rate(alpha, 1e3 * v_m), _rate(beta, 1e3 * v_m)
            out.append(a / (a + b))
        return out

    def currents(self, v_mem: float, u_in: float, u_out: float, gates: Sequence[float]) -> list:
        """I_i [A/m^2] outward, GHK through the membrane proper with the surface concentrations."""
        perm = list(self.leak)
        for index, p_bar, channel_gates in self.channels:
            perm[index] += p_bar * math.prod(gates[k] ** p for k, p in channel_gates)
        out = []
        for p, z, c_in, c_out in zip(perm, self.z, self.c_in, self.c_out, strict=True):
            if p == 0.0 or z == 0.0:
                out.append(0.0)
                continue
            w = z * v_mem / self.vt
            inner = c_in * _exp(-z * u_in) * _bernoulli(-w)
            outer = c_out * _exp(-z * u_out) * _bernoulli(w)
            out.append(p * z * FARADAY * (inner - outer))
        return out

    def rhs(self, y: NDArray[np.floating], stimulus: float) -> list[float]:
        v_mem, *gates = y.tolist()  # Python floats: faster scalar arithmetic than numpy's
        v_m, u_in, u_out = self.layers(v_mem)
        dy = [(stimulus - math.fsum(self.currents(v_mem, u_in, u_out, gates))) / self.c_m]
        v = 1e3 * v_m
        for x, (alpha, beta, phi) in zip(gates, self.gate_rates, strict=True):
            dy.append(1e3 * phi * (_rate(alpha, v) * (1.0 - x) - _rate(beta, v) * x))
        return dy

    def capacitance(self, q: float) -> float:
        """dq/dV_m: 1/C = 1/C_m + 1/C_dl,in + 1/C_dl,out at the layers' state."""
        u_in, u_out = self.inside.potential(-q), self.outside.potential(q)
        return 1.0 / math.fsum(
            [
                1.0 / self.c_m,
                1.0 / self.inside.capacitance(u_in, self.vt),
                1.0 / self.outside.capacitance(u_out, self.vt),
            ]
        )

    def unpack(self, y: NDArray[np.floating]) -> tuple[float, dict[str, float]]:
        """(q, gates) of a state vector."""
        return self.c_m * float(y[0]), dict(zip(self.gate_keys, map(float, y[1:]), strict=True))

    def vector(self, q: float, gates: Mapping[str, float]) -> list[float]:
        """The state vector (V_mem, gates) of q and the gates by key."""
        missing = set(self.gate_keys) - set(gates)
        if missing:
            raise ValueError(f"the initial state has no value for the gates {sorted(missing)}")
        return [q / self.c_m] + [float(gates[k]) for k in self.gate_keys]


# --------------------------------------------------------------------------- integration


@dataclass(frozen=True)
class _Piece:
    start: float
    end: float
    stimulus: float  # [A/m^2]
    sol: Any  # scipy OdeSolution over [start, end]


def _segments(
    stimulus: Sequence[tuple[float, float]], t0: float, t_end: float
) -> list[tuple[float, float, float]]:
    """(start, end, value) of each constant piece on [t0, t_end]; 0 before the first breakpoint."""
    if not t_end > t0:
        raise ValueError(f"t_end must be after the start {t0!r}, got {t_end!r}")
    value, start, out = 0.0, t0, []
    for t, v in sorted(((float(t), float(v)) for t, v in stimulus), key=lambda p: p[0]):
        if start < t < t_end:
            out.append((start, t, value))
            start = t
        if t < t_end:
            value = v
    out.append((start, t_end, value))
    return out


def _integrate(
    model: _Model,
    segments: list[tuple[float, float, float]],
    y0: Sequence[float],
    options: dict[str, Any],
    stop_above: float | None = None,
) -> tuple[list[_Piece], bool]:
    """Each constant piece by solve_ivp; stops at an upward crossing of V_m = stop_above."""

    level = 0.0 if stop_above is None else model.membrane_voltage(stop_above)

    def crossing(t: float, y: NDArray[np.floating]) -> float:  # V_m rises with V_mem
        return y[0] - level

    crossing.terminal = True  # type: ignore[attr-defined]
    crossing.direction = 1  # type: ignore[attr-defined]
    pieces, y = [], np.asarray(y0, dtype=float)
    for start, end, value in segments:
        sol = solve_ivp(
            lambda t, y, value=value: model.rhs(y, value),
            (start, end),
            y,
            dense_output=True,
            events=None if stop_above is None else crossing,
            **options,
        )
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed on [{start}, {end}] s: {sol.message}")
        pieces.append(_Piece(start, float(sol.t[-1]), value, sol.sol))
        if sol.status == 1:
            return pieces, True
        y = sol.y[:, -1]
    return pieces, False
