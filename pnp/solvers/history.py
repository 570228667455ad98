"""The stepper's work on its history of states, compiled.

Every BDF step combines the last few states: the predictor extrapolates
them, the corrector's history term weighs them, the order selection takes
their divided differences, and every Newton iteration checks a vector for
non-finite entries; every accepted state is read into the history (its
concentrations, the displacement through every face). Written with numpy each of these is a handful of
temporaries and calls (~5-40 us each at the shipped cases' sizes, most of it
call overhead); here each is one compiled loop over the entries, taking the
history as a tuple of arrays, newest first.

Each function performs the same floating-point operations in the same order
as the numpy expression it replaces (no ``fastmath``: no contraction or
reassociation), so the stepper's results are unchanged bit for bit
(tests/test_history.py compares them with the numpy forms).
"""

from __future__ import annotations

import math

import numpy as np

from ..compiled import njit
from ..discretisation.kernel import FLOATING, _boundary_displacement


def bdf_weights(steps) -> np.ndarray:
    """a_0..a_k: dy/dt(t_{n+1}) ~ sum_j a_j y_{n+1-j} / h, BDF of order k = len(steps).

    ``steps`` = [h, h_1, ..., h_{k-1}], the step being taken first, then the
    earlier ones (newest first). The weights are h times the derivatives at
    t_{n+1} of the Lagrange basis on t_{n+1}, t_n, ..., t_{n+1-k}: exact for
    polynomials of degree k on any grid.
    """
    return _bdf_weights(np.asarray(steps, dtype=np.float64))


@njit(cache=True)
def _bdf_weights(steps):
    k = steps.shape[0]
    tau = np.zeros(k + 1)  # t_{n+1-j} - t_{n+1}
    for j in range(k):
        tau[j + 1] = tau[j] - steps[j]
    a = np.zeros(k + 1)
    for m in range(1, k + 1):
        a[0] += -1.0 / tau[m]
    for j in range(1, k + 1):
        num = 1.0
        den = 1.0
        for m in range(k + 1):
            if m != j:
                den *= tau[j] - tau[m]
                if m:
                    num *= -tau[m]
        a[j] = num / den
    for j in range(k + 1):
        a[j] *= steps[0]
    return a


@njit(cache=True)
def all_finite(v) -> bool:
    """No nan or inf in the 1-D array ``v`` (``np.all(np.isfinite(v))``)."""
    for i in range(v.shape[0]):
        if not math.isfinite(v[i]):
            return False
    return True


# Longest histories the stepper keeps (BDF-5: 7 states, 5 amounts and
# displacements); :func:`step_terms` takes its tuples padded to these lengths
# so that one compiled specialisation serves every order.
STATES_PAD = 7
AMOUNTS_PAD = 5


def padded(arrays, length: int) -> tuple:
    """``arrays`` as a tuple of ``length``, filled up with its first entry
    (never read: the compiled callers are told how many are real)."""
    return (*arrays, *(arrays[0],) * (length - len(arrays)))


def predict(t_hist, x_hist, t_new: float) -> np.ndarray:
    """Polynomial extrapolation through the last states (newest first), as
    many as ``x_hist`` holds (2 or more; ``t_hist`` may be longer)."""
    n = len(x_hist)
    times = np.array(t_hist[:n], dtype=np.float64)
    return _extrapolate(times, padded(x_hist, max(n, STATES_PAD)), n, t_new)


@njit(cache=True)
def _lagrange_weights(ts, t_new):
    """The Lagrange weights at ``t_new`` of the nodes ``ts`` (three nodes:
    written out; more: each a product over the other nodes, in order)."""
    n = ts.shape[0]
    weights = np.empty(n)
    if n == 3:
        t0, t1, t2 = ts[0], ts[1], ts[2]
        weights[0] = (t_new - t1) * (t_new - t2) / ((t0 - t1) * (t0 - t2))
        weights[1] = (t_new - t0) * (t_new - t2) / ((t1 - t0) * (t1 - t2))
        weights[2] = (t_new - t0) * (t_new - t1) / ((t2 - t0) * (t2 - t1))
        return weights
    for i in range(n):
        weight = 1.0
        for j in range(n):
            if j != i:
                weight *= (t_new - ts[j]) / (ts[i] - ts[j])
        weights[i] = weight
    return weights


@njit(cache=True)
def _extrapolate(times, states, n_states, t_new):
    """The polynomial through the first ``n_states`` (>= 2) of ``states`` at
    ``times``, at ``t_new``: two states as x0 + (t_new - t0) (x0 - x1) / (t0
    - t1); more as the sum of their Lagrange weights times the states, in
    order (three: as one expression; more: from 0.0)."""
    x0 = states[0]
    n = x0.shape[0]
    out = np.empty(n)
    if n_states == 2:
        x1 = states[1]
        dt = t_new - times[0]
        span = times[0] - times[1]
        for i in range(n):
            out[i] = x0[i] + dt * (x0[i] - x1[i]) / span
        return out
    weights = _lagrange_weights(times[:n_states], t_new)
    if n_states == 3:
        x1, x2 = states[1], states[2]
        l0, l1, l2 = weights[0], weights[1], weights[2]
        for i in range(n):
            out[i] = l0 * x0[i] + l1 * x1[i] + l2 * x2[i]
        return out
    out[:] = 0.0
    for k in range(n_states):
        w = weights[k]
        x = states[k]
        for i in range(n):
            out[i] += w * x[i]
    return out


def scaled_difference_norms(t_hist, x_hist, h: float, levels, scales, weights) -> list[float]:
    """``weights.norm(d_m, x_hist[0], scale)`` of each scaled divided
    difference d_m = h^m m! y[t_0, ..., t_m] (m in ``levels``, each with its
    ``scales`` entry; the m-th backward difference on a uniform grid of step
    h, ~ h^m y^(m) on any), all from one divided-difference table in one
    compiled call, without the differences' arrays."""
    m = len(x_hist) - 1
    if not all(1 <= k <= m for k in levels):  # the compiled table has no bounds checks
        raise ValueError(f"levels {list(levels)} need 1 <= level <= {m} (states - 1)")
    times = np.asarray(t_hist[: m + 1], dtype=np.float64)
    factors = np.array([h**k * math.factorial(k) for k in levels])
    norms = _difference_norms(
        times,
        tuple(x_hist),
        m + 1,
        np.asarray(levels, dtype=np.int64),
        factors,
        np.asarray(scales, dtype=np.float64),
        weights.rtol,
        weights.floor_c,
        weights.floor_psi,
        weights.is_psi,
    )
    return norms.tolist()


@njit(cache=True)
def _difference_norms(
    times, arrays, n_states, levels, factors, scales, rtol, floor_c, floor_psi, is_psi
):
    """For each level m: max_i |scale (factor y[t_0..t_m]_i)| / (rtol |x_0i| + floor_i),
    the product and quotient as weighted_max forms them on the stored difference.
    Row k of the table holds y[t_k, ..., t_{k+order}] (of the first
    ``n_states`` arrays); each norm is taken from row 0 when the order
    reaches its level."""
    m = n_states - 1
    n = arrays[0].shape[0]
    x = arrays[0]
    table = np.empty((m + 1, n))
    for k in range(m + 1):
        table[k, :] = arrays[k]
    out = np.zeros(levels.shape[0])
    for order in range(1, m + 1):
        for k in range(m - order + 1):
            span = times[k] - times[k + order]
            row, below = table[k], table[k + 1]
            for i in range(n):
                row[i] = (row[i] - below[i]) / span
        for j in range(levels.shape[0]):
            if levels[j] != order:
                continue
            row, factor, scale = table[0], factors[j], scales[j]
            big = 0.0
            for i in range(n):
                floor = floor_psi if is_psi[i] else floor_c
                v = abs(scale * (row[i] * factor)) / (rtol * abs(x[i]) + floor)
                if v > big:
                    big = v
            out[j] = big
    return out


@njit(cache=True)
def max_abs_strided(v, start, stop, step, extra):
    """max |v[start:stop:step]| and |v[i]| for i in ``extra`` (0 when empty)."""
    big = 0.0
    for i in range(start, stop, step):
        big = max(big, abs(v[i]))
    for i in extra:
        big = max(big, abs(v[i]))
    return big


@njit(cache=True)
def face_displacements(
    x,
    offset,
    n_species,
    n_cells,
    pois_cond,
    b_type,
    b_psi,
    boundary,
    b_sigma,
    b_pois_cond,
    b_pois_next,
    out,
    interior,
):
    """P_f (kernel units, toward +x) of state ``x`` into ``out``: the two
    boundary faces (out[0], out[-1]) and, if ``interior``, faces 1..N-1 as
    well (``out`` then has N + 1 entries). The boundary faces by the
    kernel's own formula; a floating reservoir's potential is the next
    boundary unknown in ``boundary`` (leading, then trailing)."""
    m = n_species + 1
    first = offset + n_species  # the potential of cell 0
    if interior:
        for f in range(1, n_cells):
            out[f] = pois_cond[f] * (x[first + (f - 1) * m] - x[first + f * m])
    k = 0
    for side in range(2):
        psb = b_psi[side]
        if b_type[side] == FLOATING:
            psb = x[boundary[k]]
            k += 1
        ip = first if side == 0 else first + (n_cells - 1) * m
        pf = _boundary_displacement(
            side, x, ip, m, b_type[side], psb, b_sigma, b_pois_cond, b_pois_next
        )[0]
        out[0 if side == 0 else out.shape[0] - 1] = pf


@njit(cache=True)
def gather_concentrations(x, offset, n_species, n_cells):
    """(S, N) copy of the concentrations in ``x``, species fastest (Fortran order)."""
    m = n_species + 1
    out = np.empty((n_cells, n_species)).T
    for k in range(n_cells):
        for i in range(n_species):
            out[i, k] = x[offset + k * m + i]
    return out


@njit(cache=True)
def step_terms(steps, q, n_states, states, amounts, displacements, alpha_c, beta_c):
    """A BDF step's terms before Newton, in one call: its weights, the history terms, the predictor.

    ``steps`` = [h, h_1, h_2, ...] (the step being tried, then the earlier
    ones, newest first); ``q`` the order; ``states`` the last ``n_states``
    states, ``amounts`` and ``displacements`` the last ``q`` contents and
    face displacements (newest first; tuples padded by :func:`padded`).
    Fills ``alpha_c`` with a_0/h and ``beta_c`` with the amounts' history
    term c_n (-a_1/h) + c_{n-1} (-a_2/h) + ..., added in that order;
    returns (a, beta_d, predictor, start): the weights a_0..a_q (at least
    three; BDF1 and BDF2 as :func:`pnp.solvers.bdf.bdf_coefficients` forms
    them, higher orders by :func:`bdf_weights`), the displacements' history
    term -(a_1 P_n)/h - (a_2 P_{n-1})/h - ..., the polynomial through the
    states at t + h (:func:`predict`; an empty array with one state) and
    Newton's starting point (a copy of the predictor, or of the state). The
    states' times are formed from the step sizes (0, -h_1, -h_1 - h_2, ...),
    not from differences of absolute times: a step far below the resolution
    of t (the first steps after a restart at t = 1e5 s) leaves t + h == t,
    and the predictor would divide by zero. No
    weight is skipped: for q >= 2 none is zero (the nodes are distinct),
    and BDF1 reads one amount. tests/test_history.py compares every output
    bit for bit with the numpy expressions.
    """
    h = steps[0]
    if q == 1:
        a = np.zeros(3)
        a[0], a[1] = 1.0, -1.0
    elif q == 2:
        a = np.empty(3)
        w = h / steps[1]
        a[0], a[1], a[2] = (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)
    else:
        a = _bdf_weights(steps[:q])
    alpha = a[0] / h
    first = amounts[0]
    w0 = -a[1] / h
    for i in range(beta_c.shape[0]):
        for j in range(beta_c.shape[1]):
            alpha_c[i, j] = alpha
            beta_c[i, j] = first[i, j] * w0
    for k in range(1, q):
        w = -a[k + 1] / h
        c = amounts[k]
        for i in range(beta_c.shape[0]):
            for j in range(beta_c.shape[1]):
                beta_c[i, j] += c[i, j] * w
    p = displacements[0]
    beta_d = np.empty(p.shape[0])
    for f in range(p.shape[0]):
        beta_d[f] = -(a[1] * p[f]) / h
    for k in range(1, q):
        w = a[k + 1]
        p = displacements[k]
        for f in range(p.shape[0]):
            beta_d[f] -= w * p[f] / h
    if n_states < 2:
        return a, beta_d, np.empty(0), states[0].copy()
    # the states' times relative to the newest: 0, -h_1, -h_1 - h_2, ...
    times = np.zeros(n_states)
    for k in range(1, n_states):
        times[k] = times[k - 1] - steps[k]
    pred = _extrapolate(times, states, n_states, h)
    return a, beta_d, pred, pred.copy()


@njit(cache=True)
def error_norm(pred, x_new, rtol, floor_c, floor_psi, is_psi):
    """The step's error estimate before its ratio: ``pred`` -= ``x_new`` (in
    place: corrector minus predictor, negated) and max_i |pred_i| / (rtol
    |x_new_i| + floor_i), as :func:`pnp.discretisation.kernel.weighted_max`
    forms it with scale 1."""
    big = 0.0
    for i in range(pred.shape[0]):
        pred[i] -= x_new[i]
        floor = floor_psi if is_psi[i] else floor_c
        v = abs(1.0 * pred[i]) / (rtol * abs(x_new[i]) + floor)
        if v > big:
            big = v
    return big


@njit(cache=True)
def record_state(x, geometry):
    """An accepted state's entries in the history, in one call: (a copy of
    ``x``, its (S, N) concentrations as :func:`gather_concentrations` gives
    them, its displacement through every face as :func:`face_displacements`).
    ``geometry``: :func:`face_displacements`' arguments between the state
    and ``out`` (:func:`pnp.solvers.newton.record_args`)."""
    offset, n_species, n_cells = geometry[0], geometry[1], geometry[2]
    p = np.empty(n_cells + 1)
    face_displacements(x, *geometry, p, True)
    return x.copy(), gather_concentrations(x, offset, n_species, n_cells), p


@njit(cache=True)
def order_choice(steps, states, n_states, q, max_order, h, best_h, caps, tuning, weights):
    """The BDF order for the next steps, after q + 1 steps at order ``q``:
    (order, its next step). Order q - 1 or q + 1 replaces q when its error
    estimate allows a larger next step than ``best_h`` (q's own; going up
    must gain 10 %); neighbours whose step cap cannot beat ``best_h`` are not
    estimated. Order j's estimate is the (j + 1)-th scaled divided
    difference of the last j + 2 states (:func:`scaled_difference_norms`,
    the norm scaled by BDF-j's error constant 1/(j + 1)), its step the
    controller's: h min(cap_j, max(min_factor, safety err_j^(-1/(j + 1)))).

    ``steps`` = the steps between the states, newest first (the step just
    taken, h, first: the states' times are 0, -h, -h - h_1, ...); ``states``
    newest first (padded, the
    first ``n_states`` real); ``caps`` the largest step ratio of each order
    (index = order); ``tuning`` = (safety, min_factor, local_fraction);
    ``weights`` = (rtol, floor_c, floor_psi, is_psi) of the step error.
    The same operations in the same order as the stepper's Python form
    before (tests/test_variable_order.py)."""
    safety, min_factor, local_fraction = tuning
    rtol, floor_c, floor_psi, is_psi = weights
    orders = np.zeros(2, dtype=np.int64)
    count = 0
    for j in (q - 1, q + 1):
        gain = 1.0 if j < q else 1.1
        if 1 <= j <= max_order and n_states >= j + 2 and h * caps[j] > best_h * gain:
            orders[count] = j
            count += 1
    if count == 0:
        return q, best_h
    m = orders[count - 1] + 1  # the highest level, and the states it needs - 1
    times = np.zeros(m + 1)
    for k in range(1, m + 1):
        times[k] = times[k - 1] - steps[k - 1]
    levels = np.empty(count, dtype=np.int64)
    factors = np.empty(count)
    scales = np.empty(count)
    for i in range(count):
        k = orders[i] + 1
        fact = 1.0
        for f in range(2, k + 1):
            fact *= f
        levels[i] = k
        factors[i] = h ** float(k) * fact
        scales[i] = 1.0 / k
    norms = _difference_norms(
        times, states, m + 1, levels, factors, scales, rtol, floor_c, floor_psi, is_psi
    )
    best_order = q
    for i in range(count):
        j = orders[i]
        err_j = norms[i] / local_fraction
        cap = caps[j]
        factor = safety * err_j ** (-1.0 / (j + 1)) if err_j > 0 else cap
        h_j = h * min(cap, max(min_factor, factor))
        if h_j > best_h * (1.0 if j < q else 1.1):  # going up must pay
            best_order, best_h = j, h_j
    return best_order, best_h
