"""Voltage-gated channels lowered to a model: gate unknowns and the faces they open.

A channel adds P̄ Π_g x_g^p_g to the permeability of its species in its
membrane (:mod:`pnp.discretisation.gates` for the rates). pnp resolves the
membrane: its permeability P = exp(-dG/RT) D_m / L is a partition offset dG
and a diffusivity D_m in the membrane's cells. Here the partition is fixed
by a reference permeability, the fully open one

    P_ref = P_leak + Σ_channels P̄,

and the gates scale the diffusivity of that species in that membrane by

    f = (P_leak + Σ_channels P̄ Π x^p) / P_ref      (0 < f <= 1),

so the flux through the membrane stays electrodiffusive exactly as for a
leak and is proportional to P at any state of the membrane (the membrane's
content relaxes in L^2/(f D_m), well below a microsecond). One such factor
per (membrane, species) with channels: a *conductor*. It multiplies the
Scharfetter-Gummel conductances of the faces inside the membrane and
divides the membrane-side half-cell resistances of its two interface faces.

The gates are unknowns of the coupled system (the state's extra block
``"gates"``, before the volume's ``"scale"``), one equation each,

    dx/dt = k (alpha(V) (1 - x) - beta(V) x),   k = 1000/s per 1/ms times phi_T,

with V = V_m in mV, the membrane potential of the case: the potential of the
inside boundary face minus that of the outside one (the ``membrane_potential``
observable). V_m is affine in the state (a boundary unknown, a cell
potential next to a charged wall, or a held value), so its gradient is a
few fixed coefficients (set by :func:`attach`, read by
:func:`membrane_potential`). Steady mode: the time
term is zero and x = x_inf(V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..compiled import njit
from ..constants import VACUUM_PERMITTIVITY
from . import kernel
from .gates import FORMS, Rate, temperature_factor

#: Rates are in 1/ms; the solver's time is in s.
PER_MS = 1000.0

#: Smallest conductor factor applied: a Newton iterate may put a gate
#: slightly below 0; the faces never get a negative conductance.
FACTOR_FLOOR = 1e-12

#: Relative step of the one-sided difference in a conductor factor.
FACTOR_STEP = 1e-7


@dataclass
class Conductor:
    """One species in one membrane whose permeability the gates change."""

    species: int
    start: int  # first membrane cell
    stop: int  # one past the last
    leak: float  # [m/s]
    reference: float  # P_ref [m/s]: the partition is built from it
    # faces (index arrays into the (S, N+1) face arrays / b_cond) and their
    # values at f = 1 on the model's current geometry
    base_sg: np.ndarray = field(default=None, repr=False)
    base_left: float = 0.0
    base_right: float = 0.0


@dataclass
class ChannelSet:
    """The channels of a model, lowered."""

    names: tuple[str, ...]  # channel names
    species: tuple[int, ...]  # per channel
    permeability: np.ndarray  # (C,) P̄ [m/s]
    conductor_of: np.ndarray  # (C,) int: the conductor each channel opens
    gate_names: tuple[str, ...]  # "<channel>.<gate>"
    gate_channel: np.ndarray  # (G,) int
    exponent: np.ndarray  # (G,) float
    alpha: tuple[Rate, ...]  # (G,)
    beta: tuple[Rate, ...]
    rate_factor: np.ndarray  # (G,) 1000 phi_T: rates in 1/s
    conductors: tuple[Conductor, ...]
    block: slice  # the gates in the state vector
    factors: np.ndarray = field(default=None)  # (K,) applied now
    vm_index: tuple[int, ...] = ()  # V_m / V_T = sum coef x[index] + constant
    vm_coef: tuple[float, ...] = ()
    held: bool = False  # gates held at the history's values (a steady solver's first pass)
    # the same as flat tables for the compiled functions (made by lower and refresh)
    rates: np.ndarray = field(default=None, repr=False)  # (G, 2, 4): alpha, beta as Rate.row
    leak: np.ndarray = field(default=None, repr=False)  # (K,) per conductor
    reference: np.ndarray = field(default=None, repr=False)  # (K,)
    cond_index: np.ndarray = field(default=None, repr=False)  # (K, 3) int: species, start, stop
    base_ends: np.ndarray = field(default=None, repr=False)  # (K, 2): base_left, base_right
    base_start: np.ndarray = field(default=None, repr=False)  # (K + 1,) into base_faces
    base_faces: np.ndarray = field(default=None, repr=False)  # every conductor's base_sg

    @property
    def n_gates(self) -> int:
        return len(self.gate_names)


# the forms' codes in rate_at (their index in FORMS; the linoid is the other one)
EXPONENTIAL, SIGMOID = FORMS.index("exponential"), FORMS.index("sigmoid")


@njit(cache=True)
def rate_at(form, rate, v_half, slope, v):
    """(rate [1/ms], d rate / dV) of the form with code ``form`` (its index in
    ``gates.FORMS``) at one potential ``v`` [mV]: :meth:`gates.Rate.__call__`'s
    formulas on floats. Squares are products (x * x: one rounding)."""
    x = (v - v_half) / slope
    if form == EXPONENTIAL:
        value = rate * math.exp(-x) if x > -700.0 else math.inf
        return value, -value / slope
    if form == SIGMOID:
        e = math.exp(-abs(x))
        s = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
        return rate * s, rate * e / ((1.0 + e) * (1.0 + e)) / slope
    if x == 0.0:
        g, dg = 1.0, 0.5
    elif x < -700.0:  # e^-x overflows: g and g' tend to 0
        g, dg = 0.0, 0.0
    else:
        den = -math.expm1(-x)
        g = x / den
        if abs(x) < 1e-3:
            dg = 0.5 + x / 6.0 - x * x * x / 180.0
        else:
            dg = (den - x * math.exp(-x)) / (den * den)
    return rate * slope * g, rate * dg


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------


def reference_permeabilities(case) -> dict[tuple[str, str], float]:
    """(membrane, species) -> P_ref = P_leak + sum of the channels' P̄, for every conductor."""
    out: dict[tuple[str, str], float] = {}
    for ch in getattr(case, "channels", ()):
        key = (ch.membrane, ch.species)
        if key not in out:
            out[key] = case.region(ch.membrane).permeability.get(ch.species, 0.0)
        out[key] += ch.permeability
    return out


def lower(case, mesh, species: tuple[str, ...], start_gates: int) -> ChannelSet | None:
    """The :class:`ChannelSet` of ``case`` on ``mesh`` (None without channels).

    ``start_gates``: index of the first gate unknown in the state vector.
    """
    channels = tuple(getattr(case, "channels", ()))
    if not channels:
        return None
    slices = dict(zip(mesh.region_names, mesh.region_slices, strict=True))
    refs = reference_permeabilities(case)
    keys = list(refs)
    conductors = []
    for membrane, name in keys:
        start, stop = slices[membrane]
        leak = case.region(membrane).permeability.get(name, 0.0)
        conductors.append(Conductor(species.index(name), start, stop, leak, refs[membrane, name]))
    gate_names, gate_channel, exponent, alpha, beta, factor = [], [], [], [], [], []
    for c, ch in enumerate(channels):
        phi = temperature_factor(case.temperature, ch.q10, ch.reference_temperature)
        for gate, power in ch.gates.items():
            a, b = ch.rates[gate]
            gate_names.append(f"{ch.name}.{gate}")
            gate_channel.append(c)
            exponent.append(float(power))
            alpha.append(a)
            beta.append(b)
            factor.append(PER_MS * phi)
    out = ChannelSet(
        names=tuple(ch.name for ch in channels),
        species=tuple(species.index(ch.species) for ch in channels),
        permeability=np.array([ch.permeability for ch in channels], dtype=float),
        conductor_of=np.array([keys.index((ch.membrane, ch.species)) for ch in channels]),
        gate_names=tuple(gate_names),
        gate_channel=np.array(gate_channel, dtype=np.int64),
        exponent=np.array(exponent),
        alpha=tuple(alpha),
        beta=tuple(beta),
        rate_factor=np.array(factor),
        conductors=tuple(conductors),
        block=slice(start_gates, start_gates + len(gate_names)),
    )
    out.factors = np.ones(len(conductors))
    out.rates = np.array([[a.row(), b.row()] for a, b in zip(alpha, beta, strict=True)])
    out.rates = out.rates.reshape(len(gate_names), 2, 4)
    out.leak = np.array([cd.leak for cd in conductors])
    out.reference = np.array([cd.reference for cd in conductors])
    out.cond_index = np.array(
        [(cd.species, cd.start, cd.stop) for cd in conductors], dtype=np.int64
    ).reshape(len(conductors), 3)
    return out


def attach(model) -> None:
    """Finish ``model.channels`` on a built model: V_m's coefficients and the
    faces' values at f = 1."""
    chans = model.channels
    if chans is None:
        return
    index, coef = [], []
    lay = model.layout
    bnd = iter(int(i) for i in lay.boundary)
    inside = 0 if model.inside == "left" else 1
    for side in range(2):
        sign = 1.0 if side == inside else -1.0
        kind = model.b_type[side]
        if kind == kernel.FLOATING:
            index.append(next(bnd))
            coef.append(sign)
        elif kind == kernel.WALL_CHARGE:
            cell = 0 if side == 0 else model.n_cells - 1
            index.append(int(lay.potential_at(cell)))
            coef.append(sign)
    chans.vm_index, chans.vm_coef = tuple(index), tuple(coef)
    refresh(model)


def refresh(model) -> None:
    """Take the faces' values at f = 1 from the model's face arrays (just
    recomputed: built, or moved by a swelling cell), then apply the factors."""
    chans = model.channels
    N = model.n_cells
    for cd in chans.conductors:
        i = cd.species
        cd.base_sg = model.face_cond[i, cd.start + 1 : cd.stop].copy()
        cd.base_left = (
            float(model.b_cond[0, i]) if cd.start == 0 else float(model.face_rr[i, cd.start])
        )
        cd.base_right = (
            float(model.b_cond[1, i]) if cd.stop == N else float(model.face_cond[i, cd.stop])
        )
    sizes = [cd.base_sg.size for cd in chans.conductors]
    chans.base_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    chans.base_faces = np.concatenate([cd.base_sg for cd in chans.conductors])
    chans.base_ends = np.array([(cd.base_left, cd.base_right) for cd in chans.conductors])
    apply(model, chans.factors)


def apply(model, factors: np.ndarray) -> None:
    """Write the faces of every conductor at ``factors`` (each floored at ``FACTOR_FLOOR``)."""
    chans = model.channels
    _apply(np.asarray(factors, dtype=np.float64), *face_tables(model))
    if chans.factors is not factors:
        chans.factors[:] = factors


def face_tables(model) -> tuple:
    """:func:`_apply`'s arguments after the factors: the conductors' flat
    tables and the model's face arrays they write."""
    chans = model.channels
    return (
        chans.cond_index,
        chans.base_ends,
        chans.base_start,
        chans.base_faces,
        model.n_cells,
        model.face_cond,
        model.face_rr,
        model.b_cond,
    )


@njit(cache=True)
def _apply(
    factors, cond_index, base_ends, base_start, base_faces, n_cells, face_cond, face_rr, b_cond
):
    """:func:`apply` on the flat tables: conductor k's faces inside its
    membrane scaled by f, its two interface faces' membrane halves (a
    resistance) divided by it, a boundary face's conductance scaled."""
    for k in range(factors.shape[0]):
        f = FACTOR_FLOOR if FACTOR_FLOOR > factors[k] else factors[k]  # max(f, floor)
        i, start, stop = cond_index[k, 0], cond_index[k, 1], cond_index[k, 2]
        for j in range(base_start[k + 1] - base_start[k]):
            face_cond[i, start + 1 + j] = base_faces[base_start[k] + j] * f
        if start == 0:  # a membrane at the boundary: its conductance scales
            b_cond[0, i] = base_ends[k, 0] * f
        else:  # the membrane's half of the interface face: a resistance
            face_rr[i, start] = base_ends[k, 0] / f
        if stop == n_cells:
            b_cond[1, i] = base_ends[k, 1] * f
        else:
            face_cond[i, stop] = base_ends[k, 1] / f


# ---------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------


def membrane_potential(model, x: np.ndarray) -> float:
    """V_m / V_T of state ``x`` (inside boundary face minus outside)."""
    chans = model.channels
    total = vm_constant(model)
    for i, c in zip(chans.vm_index, chans.vm_coef, strict=True):
        total += c * x[i]
    return float(total)


def vm_constant(model) -> float:
    """The part of V_m / V_T that no unknown carries: held potentials, a
    charged wall's shift (added first, in this order, by
    :func:`membrane_potential`)."""
    psi_b = model.b_psi
    inside = 0 if model.inside == "left" else 1
    total = 0.0
    for side in range(2):
        kind = model.b_type[side]
        sign = 1.0 if side == inside else -1.0
        if kind in (kernel.RESERVOIR, kernel.WALL_POTENTIAL):
            total += sign * psi_b[side]
        elif kind == kernel.WALL_CHARGE:  # the cell next to it plus sigma (h/2)/eps
            cell = 0 if side == 0 else model.n_cells - 1
            bnd = model.case.left if side == 0 else model.case.right
            eps = VACUUM_PERMITTIVITY * model.eps_r[cell]
            shift = bnd.surface_charge * model.mesh.widths[cell] / (2.0 * eps)
            total += sign * shift / model.thermal_voltage
    return float(total)


def permeabilities(model, x: np.ndarray) -> np.ndarray:
    """(C,) P̄ Π x^p of every channel at ``x`` [m/s]."""
    chans = model.channels
    return _opened(x[chans.block], chans.permeability, chans.gate_channel, chans.exponent)


def factors(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f (K,), df/dx (G,)): each conductor's factor, and each gate's
    derivative of its own conductor's factor."""
    return _factors(x[model.channels.block], *factor_tables(model))


def factor_tables(model) -> tuple:
    """:func:`_factors`' arguments after the gates: the channels' flat tables."""
    chans = model.channels
    return (
        chans.permeability,
        chans.gate_channel,
        chans.exponent,
        chans.conductor_of,
        chans.leak,
        chans.reference,
    )


@njit(cache=True)
def _opened(gates, permeability, gate_channel, exponent):
    out = permeability.copy()
    for g in range(gates.shape[0]):
        out[gate_channel[g]] *= gates[g] ** exponent[g]
    return out


@njit(cache=True)
def _factors(gates, permeability, gate_channel, exponent, conductor_of, leak, reference):
    """:func:`factors` on the flat tables: f = (leak + sum of the opened P̄) / P_ref
    (channels added in order), and each gate's df/dx with the others held."""
    opened = _opened(gates, permeability, gate_channel, exponent)
    f = leak.copy()
    for c in range(conductor_of.shape[0]):
        f[conductor_of[c]] += opened[c]
    n = gates.shape[0]
    dfdx = np.zeros(n)
    for g in range(n):
        c = gate_channel[g]
        p = exponent[g]
        rest = permeability[c]
        for other in range(n):
            if other != g and gate_channel[other] == c:
                rest *= gates[other] ** exponent[other]
        dfdx[g] = rest * p * gates[g] ** (p - 1.0) / reference[conductor_of[c]]
    return f / reference, dfdx


def gate_residual(model, x: np.ndarray, alpha: float, beta: np.ndarray):
    """(residual (G,), d/dx (G,), d/d(V_m/V_T) (G,)) of the gate equations

    alpha x - beta - k (a(V) (1 - x) - b(V) x) = 0 (``alpha x - beta``: the
    time derivative; zero in a steady state).
    """
    chans = model.channels
    x_g = x[chans.block]
    v_mv = membrane_potential(model, x) * model.thermal_voltage * 1e3
    res = np.empty(chans.n_gates)
    diag = np.empty(chans.n_gates)
    dv = np.empty(chans.n_gates)
    mv_per_psi = model.thermal_voltage * 1e3
    if chans.held:  # x = its history value beta/alpha; steady: alpha = 0, held at x itself
        res[:] = 0.0 if alpha == 0.0 else alpha * x_g - beta
        diag[:] = 1.0 if alpha == 0.0 else alpha
        dv[:] = 0.0
        return res, diag, dv
    _gate_rows(x_g, v_mv, alpha, beta, chans.rates, chans.rate_factor, mv_per_psi, res, diag, dv)
    return res, diag, dv


@njit(cache=True)
def _gate_rows(x_g, v_mv, alpha, beta, rates, rate_factor, mv_per_psi, res, diag, dv):
    """:func:`gate_residual`'s rows on the flat tables (``rates``: each gate's
    alpha and beta as :meth:`Rate.row`)."""
    for g in range(x_g.shape[0]):
        ra, rb = rates[g, 0], rates[g, 1]
        a, da = rate_at(ra[0], ra[1], ra[2], ra[3], v_mv)
        b, db = rate_at(rb[0], rb[1], rb[2], rb[3], v_mv)
        k = rate_factor[g]
        res[g] = alpha * x_g[g] - beta[g] - k * (a * (1.0 - x_g[g]) - b * x_g[g])
        diag[g] = alpha + k * (a + b)
        dv[g] = -k * (da * (1.0 - x_g[g]) - db * x_g[g]) * mv_per_psi


def steady_gates(model, x: np.ndarray) -> np.ndarray:
    """(G,) x_inf of every gate at ``x``'s membrane potential."""
    return gates_at(model, membrane_potential(model, x) * model.thermal_voltage * 1e3)


def gates_at(model, v_mv: float) -> np.ndarray:
    """(G,) x_inf of every gate at the membrane potential ``v_mv`` [mV]."""
    chans = model.channels
    out = np.empty(chans.n_gates)
    for g in range(chans.n_gates):
        a, _ = chans.alpha[g].scalar(v_mv)
        b, _ = chans.beta[g].scalar(v_mv)
        out[g] = a / (a + b)
    return out


def settle(model, x: np.ndarray) -> np.ndarray:
    """``x`` with every gate at x_inf of its membrane potential (a new vector)."""
    out = x.copy()
    if model.channels is not None:
        out[model.channels.block] = steady_gates(model, x)
    return out


def resting_guess(model) -> float | None:
    """An estimate of the resting V_m [V]: the most negative zero of the net
    membrane current, the constant-field (GHK) currents of every ion through
    the first membrane with channels at the initial contents on its two
    sides, gates at x_inf(V), plus the pumps' outward current (saturating
    pumps at the initial contents). None without a zero in -150..+100 mV.

    Only a starting point: the steady solver starts the gates there (the
    potentials start at zero), so that it finds the resting branch of a cell
    whose channels could also hold it depolarised (a closed cell run down).
    """
    from scipy.optimize import brentq

    from ..constants import FARADAY

    case = model.case
    chans = model.channels
    membrane = case.channels[0].membrane
    index = next(j for j, r in enumerate(case.regions) if r.name == membrane)
    if index == 0 or index == len(case.regions) - 1:
        return None  # a membrane at a boundary: no contents on one side
    before, after = case.regions[index - 1], case.regions[index + 1]
    inside, outside = (before, after) if model.inside == "left" else (after, before)
    vt = model.thermal_voltage
    pump = _pump_current(case, membrane, inside, outside)
    leak = case.region(membrane).permeability

    def current(v: np.ndarray) -> np.ndarray:
        gates = []
        for alpha, beta in zip(chans.alpha, chans.beta, strict=True):
            a, b = alpha(v * 1e3)[0], beta(v * 1e3)[0]  # each rate evaluated once
            gates.append(a / (a + b))
        perm = {s: np.full(v.shape, leak.get(s, 0.0)) for s in model.species}
        for c, ch in enumerate(case.channels):
            if ch.membrane == membrane:
                opened = np.full(v.shape, ch.permeability)
                for g in range(chans.n_gates):
                    if chans.gate_channel[g] == c:
                        opened = opened * gates[g] ** chans.exponent[g]
                perm[ch.species] = perm[ch.species] + opened
        total = np.full(v.shape, pump)
        for s, z in zip(model.species, model.z, strict=True):
            if z == 0.0:
                continue
            u = z * v / vt
            safe = np.where(u == 0.0, 1.0, u)
            ratio = np.where(u == 0.0, 1.0, safe / -np.expm1(-safe))
            c_in, c_out = inside.concentration.get(s, 0.0), outside.concentration.get(s, 0.0)
            total = total + perm[s] * z * FARADAY * ratio * (c_in - c_out * np.exp(-u))
        return total

    grid = np.linspace(-0.15, 0.1, 501)
    with np.errstate(over="ignore", invalid="ignore"):
        values = current(grid)
        change = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) <= 0.0)[0]
        if change.size == 0:
            return None
        k = int(change[0])
        return float(
            brentq(lambda v: float(current(np.array([v]))[0]), grid[k], grid[k + 1], xtol=1e-12)
        )


def _pump_current(case, membrane: str, inside, outside) -> float:
    """Outward current [A/m^2] of the pumps of ``membrane`` at the initial contents."""
    from ..constants import FARADAY

    pump = 0.0
    for p in case.pumps:
        if p.membrane != membrane:
            continue
        if p.rate is not None:
            pump += FARADAY * p.rate
        else:
            na = inside.concentration.get(p.sodium, 0.0)
            k = outside.concentration.get(p.potassium, 0.0)
            pump += FARADAY * p.j_max * (na / (na + p.K_Na)) ** 3 * (k / (k + p.K_K)) ** 2
    return pump


def initial_gates(model, x: np.ndarray) -> np.ndarray:
    """``x`` with the gates of a starting state: x_inf at :func:`resting_guess`
    (at ``x``'s V_m when there is none)."""
    out = x.copy()
    if model.channels is None:
        return out
    guess = resting_guess(model)
    if guess is None:
        return settle(model, x)
    out[model.channels.block] = gates_at(model, guess * 1e3)
    return out
