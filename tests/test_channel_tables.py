"""The compiled channel functions against the Python forms they replace.

:func:`pnp.discretisation.channels.factors`, :func:`apply` and
:func:`gate_residual` run on flat tables in compiled code (the gates'
rates through :func:`pnp.discretisation.channels.rate_at`). Each test writes
the Python form out (the code as it was before it was compiled) and
compares: bit for bit where the operations are the same (factors and
their derivatives, the faces written), and against the array form of the
rates (:meth:`Rate.__call__`, numpy, an independent implementation) to 8
ulps of each row's terms for the gate equations (numpy's vectorised exp
differs from the C library's by up to an ulp; the compiled squares are
products, as numpy's are; measured: 1-2 ulps). The models: the shipped action potential (two channels, one
with two gates, on two conductors), the same with both channels on one
species (one conductor, channels added in order); and, on synthetic tables,
conductors reaching a boundary (which a case cannot write: a membrane is
never an end region), whose boundary face is scaled, not a resistance.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from helpers import CASES

import pnp
from pnp.discretisation import channels as chan
from pnp.discretisation.model import build_model


def _data():
    data = tomllib.loads((CASES / "action_potential.toml").read_text())
    data.pop("output", None)
    return data


def _one_conductor():
    data = _data()
    for ch in data["channel"]:
        ch["species"] = "K"
    return data


MODELS = {
    "action_potential": _data,
    "one_conductor": _one_conductor,
}


def _model(name):
    return build_model(pnp.Case.from_dict(MODELS[name]()))


def _factors_reference(model, x):
    """The Python form of channels.factors."""
    chans = model.channels
    gates = x[chans.block]
    opened = chans.permeability.copy()
    for g in range(chans.n_gates):
        opened[chans.gate_channel[g]] *= gates[g] ** chans.exponent[g]
    f = np.array([cd.leak for cd in chans.conductors])
    np.add.at(f, chans.conductor_of, opened)
    ref = np.array([cd.reference for cd in chans.conductors])
    dfdx = np.zeros(chans.n_gates)
    for g in range(chans.n_gates):
        c = chans.gate_channel[g]
        p = chans.exponent[g]
        rest = chans.permeability[c]
        for other in range(chans.n_gates):
            if other != g and chans.gate_channel[other] == c:
                rest *= gates[other] ** chans.exponent[other]
        dfdx[g] = rest * p * gates[g] ** (p - 1.0) / ref[chans.conductor_of[c]]
    return f / ref, dfdx


def _apply_reference(model, factors):
    """The Python form of channels.apply, on copies: (face_cond, face_rr, b_cond)."""
    face_cond, face_rr, b_cond = model.face_cond.copy(), model.face_rr.copy(), model.b_cond.copy()
    N = model.n_cells
    for cd, f in zip(model.channels.conductors, factors, strict=True):
        f = max(float(f), chan.FACTOR_FLOOR)
        i = cd.species
        np.multiply(cd.base_sg, f, out=face_cond[i, cd.start + 1 : cd.stop])
        if cd.start == 0:
            b_cond[0, i] = cd.base_left * f
        else:
            face_rr[i, cd.start] = cd.base_left / f
        if cd.stop == N:
            b_cond[1, i] = cd.base_right * f
        else:
            face_cond[i, cd.stop] = cd.base_right / f
    return face_cond, face_rr, b_cond


def _random_gates(model, rng):
    x = model.x0.copy()
    x[model.channels.block] = rng.uniform(0.0, 1.0, model.channels.n_gates)
    return x


@pytest.mark.parametrize("name", list(MODELS))
def test_the_models_cover_one_and_two_conductors(name):
    chans = _model(name).channels
    assert len(chans.conductors) == {"action_potential": 2, "one_conductor": 1}[name]
    assert chans.n_gates == 3 and len(set(chans.gate_channel.tolist())) == 2


def test_a_conductor_at_a_boundary_scales_the_boundary_conductance():
    """Synthetic tables on N = 8 cells, two species: conductor 0 spans
    cells 0-3 of species 1 (its left face is the boundary's), conductor 1
    cells 5-8 of species 0 (its right face is the boundary's)."""
    n, rng = 8, np.random.default_rng(2)
    face_cond, face_rr, b_cond = (
        rng.uniform(1, 2, (2, n + 1)),
        rng.uniform(1, 2, (2, n + 1)),
        rng.uniform(1, 2, (2, 2)),
    )
    cond_index = np.array([[1, 0, 3], [0, 5, n]], dtype=np.int64)
    base_start = np.array([0, 2, 4], dtype=np.int64)  # faces 1, 2 and 6, 7
    base_faces, base_ends = rng.uniform(1, 2, 4), rng.uniform(1, 2, (2, 2))
    factors = np.array([0.25, 1e-15])  # the second below the floor
    want = [a.copy() for a in (face_cond, face_rr, b_cond)]
    f0, f1 = 0.25, chan.FACTOR_FLOOR
    want[0][1, 1:3] = base_faces[:2] * f0
    want[2][0, 1] = base_ends[0, 0] * f0  # left boundary, species 1
    want[0][1, 3] = base_ends[0, 1] / f0  # interface face 3
    want[0][0, 6:8] = base_faces[2:] * f1
    want[1][0, 5] = base_ends[1, 0] / f1  # interface face 5
    want[2][1, 0] = base_ends[1, 1] * f1  # right boundary, species 0
    chan._apply(
        factors, cond_index, base_ends, base_start, base_faces, n, face_cond, face_rr, b_cond
    )
    for got, expected in zip((face_cond, face_rr, b_cond), want, strict=True):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("name", list(MODELS))
def test_factors_are_the_python_form(name):
    model = _model(name)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = _random_gates(model, rng)
        f, dfdx = chan.factors(model, x)
        f_ref, dfdx_ref = _factors_reference(model, x)
        assert np.array_equal(f, f_ref) and np.array_equal(dfdx, dfdx_ref)


@pytest.mark.parametrize("name", list(MODELS))
def test_apply_writes_the_faces_of_the_python_form(name):
    model = _model(name)
    rng = np.random.default_rng(5)
    # factors across the range, one below the floor
    for factors in (rng.uniform(0.0, 1.0, len(model.channels.conductors)), np.full(2, -1.0)):
        factors = factors[: len(model.channels.conductors)]
        expected = _apply_reference(model, factors)
        chan.apply(model, factors)
        for got, want in zip((model.face_cond, model.face_rr, model.b_cond), expected, strict=True):
            assert np.array_equal(got, want)
        assert np.array_equal(model.channels.factors, factors)


@pytest.mark.parametrize("name", list(MODELS))
def test_gate_rows_are_the_rates_array_forms(name):
    """res = alpha x - beta - k (a (1 - x) - b x), diag = alpha + k (a + b),
    dv = -k (a' (1 - x) - b' x) mV/V_T, with a, b and their derivatives
    from Rate.__call__ (numpy), at V_m over the rates' whole range
    (including the linoids' removable singularities at -40 and -55 mV)."""
    model = _model(name)
    chans = model.channels
    rng = np.random.default_rng(11)
    mv = model.thermal_voltage * 1e3
    for v_target in (-90.0, -55.0, -40.0, -40.0005, 0.0, 35.0):
        x = _random_gates(model, rng)
        shift = v_target / mv - chan.membrane_potential(model, x)
        x[model.layout.potential] += shift
        x[model.layout.boundary] += shift
        v_mv = chan.membrane_potential(model, x) * mv
        alpha, beta = 2.0e4, rng.uniform(0.0, 1e4, chans.n_gates)
        res, diag, dv = chan.gate_residual(model, x, alpha, beta)
        x_g = x[chans.block]
        for g in range(chans.n_gates):
            a, da = (float(v[0]) for v in chans.alpha[g](np.array([v_mv])))
            b, db = (float(v[0]) for v in chans.beta[g](np.array([v_mv])))
            k = chans.rate_factor[g]
            want = alpha * x_g[g] - beta[g] - k * (a * (1.0 - x_g[g]) - b * x_g[g])
            scale = abs(alpha * x_g[g]) + abs(beta[g]) + k * (a + b)
            assert abs(res[g] - want) <= 8 * np.finfo(float).eps * scale
            assert abs(diag[g] - (alpha + k * (a + b))) <= 8 * np.finfo(float).eps * scale
            want_dv = -k * (da * (1.0 - x_g[g]) - db * x_g[g]) * mv
            dscale = k * (abs(da) + abs(db)) * mv
            assert abs(dv[g] - want_dv) <= 8 * np.finfo(float).eps * dscale
