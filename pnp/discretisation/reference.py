"""Plain-numpy residual of the discrete PNP system: a test oracle.

Nothing in the solver uses this module. It re-derives, from the formulas in
the ``pnp.discretisation.kernel`` docstring, the residual that ``kernel.assemble`` computes,
vectorised over cells and faces with ordinary numpy and written in a
deliberately different algebraic form, so that the tests can check the
compiled kernel against it (two implementations agree, STYLE.md):

* the Bernoulli function is B(x) = x / expm1(x) for x < 0 and
  x e^-x / (-expm1(-x)) for x > 0 (no overflow anywhere, no series);
* the flux through two half cells in series is written as
  (c_L e^uL - c_R e^uR) / sum_halves r ∫ e^u, the integral of the
  exponential of a linear u over a half cell taken as
  exp(mean u) sinh(h) / h with h half the rise of u, after subtracting the
  largest exponent of the face (the kernel uses the larger end point and
  (e^d - 1)/d instead);
* boundary and clamp equations are written per side from their physical
  meaning (current entering the domain, displacement toward +x).

Units and layout are those of ``pnp.discretisation.kernel`` and ``pnp.discretisation.model``.
"""

from __future__ import annotations

import numpy as np

from . import kernel

# Above this half rise of u across a half cell, sinh(h)/h is replaced by
# its asymptote e^h (1 - e^-2h) / (2h), so sinh never overflows.
_SINH_LIMIT = 300.0


def bernoulli(x: np.ndarray) -> np.ndarray:
    """B(x) = x / (e^x - 1), elementwise, B(0) = 1; finite for every finite x."""
    x = np.asarray(x, dtype=float)
    out = np.ones_like(x)
    neg = x < 0.0
    pos = x > 0.0
    xn = x[neg]
    out[neg] = xn / np.expm1(xn)  # expm1 in (-1, 0): no overflow
    xp = x[pos]
    out[pos] = xp * np.exp(-xp) / -np.expm1(-xp)  # e^-x <= 1: no overflow
    return out


def exp_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean of e^u over an interval on which u is linear from a to b.

    Equals the logarithmic mean (e^a - e^b)/(a - b), written as
    e^((a+b)/2) sinh(h)/h with h = |a - b|/2. Meant for a, b <= 0 (the caller
    subtracts the largest exponent first).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    mid = 0.5 * (a + b)
    half = 0.5 * np.abs(a - b)
    out = np.empty(np.broadcast(a, b).shape)
    small = half <= _SINH_LIMIT
    hs = half[small]
    shc = np.ones_like(hs)
    nz = hs > 0.0
    shc[nz] = np.sinh(hs[nz]) / hs[nz]
    out[small] = np.exp(mid[small]) * shc
    big = ~small
    hb = half[big]
    top = np.maximum(a, b)[big]
    out[big] = np.exp(top) * -np.expm1(-2.0 * hb) / (2.0 * hb)
    return out


def sg_flux(cond, c_left, c_right, u_left, u_right):
    """Scharfetter–Gummel flux toward +x and the size of its two terms."""
    du = u_right - u_left
    forward = cond * bernoulli(du) * c_left
    backward = cond * bernoulli(-du) * c_right
    return forward - backward, np.abs(forward) + np.abs(backward)


def half_cells_flux(c_left, c_right, u_left, uf_left, uf_right, u_right, r_left, r_right):
    """Exact NP flux through two half cells in series (u linear in each half).

    J e^u / D = -d(c e^u)/dx integrated over both halves:
    F (r_L <e^u>_L + r_R <e^u>_R) = c_L e^uL - c_R e^uR, with r = (h/2)/(D A)
    and <e^u> the mean of e^u over the half cell. Returns (F, size of terms).
    """
    top = np.maximum(np.maximum(u_left, uf_left), np.maximum(uf_right, u_right))
    resist = r_left * exp_mean(u_left - top, uf_left - top) + r_right * exp_mean(
        uf_right - top, u_right - top
    )
    p_left = c_left * np.exp(u_left - top)
    p_right = c_right * np.exp(u_right - top)
    return (p_left - p_right) / resist, (np.abs(p_left) + np.abs(p_right)) / resist


def residual_reference(
    model, x, alpha_c, alpha_d, beta_c, beta_d, source, cont=None, return_scale: bool = False
):
    """Residual of ``kernel.assemble`` recomputed with numpy (test oracle).

    Arguments are those of ``kernel.assemble`` (the model's flat arrays are
    read from ``model``; ``beta_d`` has one entry per face; ``cont`` marks the
    cells with a current-continuity row, default none). With ``return_scale``
    also returns, per row, the sum of the magnitudes of the terms that make up
    the row (the size against which round-off in that row is to be judged).
    """
    x = np.asarray(x, dtype=float)
    N = model.n_cells
    S = model.n_species
    m = S + 1
    off = model.layout.n_boundary
    n = model.n_unknowns
    z = np.asarray(model.z, dtype=float)
    vol = model.volume
    alpha_c = np.broadcast_to(np.asarray(alpha_c, dtype=float), (S, N))
    beta_c = np.broadcast_to(np.asarray(beta_c, dtype=float), (S, N))
    source = np.broadcast_to(np.asarray(source, dtype=float), (S, N))
    beta_d = np.broadcast_to(np.asarray(beta_d, dtype=float), (N + 1,))
    alpha_d = float(alpha_d)
    cont = np.zeros(N, dtype=bool) if cont is None else np.asarray(cont, dtype=bool)

    body = x[off : off + N * m].reshape(N, m)
    c = body[:, :S].T  # (S, N)
    psi = body[:, S]  # (N,)
    floating = model.b_type == kernel.FLOATING
    psi_b = np.array(model.b_psi, dtype=float)
    if floating[0]:
        psi_b[0] = x[0]
    if floating[1]:
        psi_b[1] = x[n - 1]

    u = z[:, None] * psi[None, :] + model.g_cell  # effective potentials (S, N)
    flux, fsize = _species_fluxes(model, c, psi, psi_b, u)
    disp, dsize = _displacements(model, psi, psi_b)

    # ---- cell balances ---------------------------------------------------------
    storage = vol * (alpha_c * c - beta_c)
    r_species = storage + flux[:, 1:] - flux[:, :-1] - source
    s_species = (
        vol * (np.abs(alpha_c * c) + np.abs(beta_c)) + fsize[:, 1:] + fsize[:, :-1] + np.abs(source)
    )
    charge = z @ c + model.rho_fixed
    r_gauss = disp[1:] - disp[:-1] - vol * charge
    s_gauss = dsize[1:] + dsize[:-1] + vol * (np.abs(z) @ np.abs(c) + np.abs(model.rho_fixed))

    # current continuity: the charge each species carries out of the cell,
    # plus the displacement current out of it, minus the sources' charge
    current = z @ flux + alpha_d * disp - beta_d  # total current toward +x, per face
    r_current = current[1:] - current[:-1] - z @ source
    s_current = (
        np.abs(z) @ (fsize[:, 1:] + fsize[:, :-1] + np.abs(source))
        + abs(alpha_d) * (dsize[1:] + dsize[:-1])
        + np.abs(beta_d[1:])
        + np.abs(beta_d[:-1])
    )
    r_species[0] = np.where(cont, r_current, r_species[0])
    s_species[0] = np.where(cont, s_current, s_species[0])

    res = np.zeros(n)
    scale = np.zeros(n)
    rows = np.empty((N, m))
    rows[:, :S] = r_species.T
    rows[:, S] = r_gauss
    res[off : off + N * m] = rows.ravel()
    rows[:, :S] = s_species.T
    rows[:, S] = s_gauss
    scale[off : off + N * m] = rows.ravel()

    # ---- current clamp of a floating reservoir -----------------------------------
    # current carried toward +x through the face: ionic sum_i z_i F_i plus the
    # displacement current dP/dt ~ alpha_d P - beta_d. Prescribed: the current
    # entering the domain (toward +x on the left, toward -x on the right).
    for side, face, row, into in ((0, 0, 0, 1.0), (1, N, n - 1, -1.0)):
        if not floating[side]:
            continue
        res[row] = into * current[face] - model.b_current[side]
        scale[row] = (
            np.abs(z) @ fsize[:, face]
            + abs(alpha_d) * dsize[face]
            + abs(beta_d[face])
            + abs(model.b_current[side])
        )

    if return_scale:
        return res, scale
    return res


def _species_fluxes(model, c, psi, psi_b, u):
    """Species fluxes through the N+1 faces (toward +x) and the size of their terms."""
    N, S = model.n_cells, model.n_species
    z = np.asarray(model.z, dtype=float)
    flux = np.zeros((S, N + 1))
    fsize = np.zeros((S, N + 1))
    kind = model.face_kind[:, 1:N]
    c_l, c_r = c[:, :-1], c[:, 1:]
    u_l, u_r = u[:, :-1], u[:, 1:]
    f_in = np.zeros((S, N - 1))
    s_in = np.zeros((S, N - 1))

    sg = kind == kernel.SG
    f_in[sg], s_in[sg] = sg_flux(model.face_cond[:, 1:N][sg], c_l[sg], c_r[sg], u_l[sg], u_r[sg])

    itf = kind == kernel.INTERFACE
    w = model.pois_wleft[1:N]
    psi_face = w * psi[:-1] + (1.0 - w) * psi[1:]
    uf_l = z[:, None] * psi_face[None, :] + model.g_cell[:, :-1]
    uf_r = z[:, None] * psi_face[None, :] + model.g_cell[:, 1:]
    f_in[itf], s_in[itf] = half_cells_flux(
        c_l[itf],
        c_r[itf],
        u_l[itf],
        uf_l[itf],
        uf_r[itf],
        u_r[itf],
        model.face_rl[:, 1:N][itf],
        model.face_rr[:, 1:N][itf],
    )
    flux[:, 1:N] = f_in
    fsize[:, 1:N] = s_in

    # boundary faces: a held reservoir at the face, SG over the half cell
    for side, cell, face in ((0, 0, 0), (1, N - 1, N)):
        if model.b_type[side] not in (kernel.RESERVOIR, kernel.FLOATING):
            continue
        cond = model.b_cond[side]
        u_cell = z * psi[cell] + model.g_cell[:, cell]
        u_res = z * psi_b[side] + model.b_g[side]
        c_res = model.b_conc[side]
        if side == 0:
            f, s = sg_flux(cond, c_res, c[:, cell], u_res, u_cell)
        else:
            f, s = sg_flux(cond, c[:, cell], c_res, u_cell, u_res)
        open_ = cond != 0.0
        flux[:, face] = np.where(open_, f, 0.0)
        fsize[:, face] = np.where(open_, s, 0.0)
    return flux, fsize


def _displacements(model, psi, psi_b):
    """Displacement (mol of charge) through the N+1 faces, toward +x, and its term sizes."""
    N = model.n_cells
    disp = np.zeros(N + 1)
    dsize = np.zeros(N + 1)
    g = model.pois_cond[1:N]
    disp[1:N] = g * (psi[:-1] - psi[1:])
    dsize[1:N] = g * (np.abs(psi[:-1]) + np.abs(psi[1:]))
    for side, cell, face in ((0, 0, 0), (1, N - 1, N)):
        if model.b_type[side] == kernel.WALL_CHARGE:
            # surface charge sigma on the wall: D points away from it, into the domain
            disp[face] = model.b_sigma[side] if side == 0 else -model.b_sigma[side]
            dsize[face] = abs(model.b_sigma[side])
        else:
            # two-point half cell, plus the second-order wall term where set
            gb = model.b_pois_cond[side]
            kn = model.b_pois_next[side]
            outer, inner = psi_b[side], psi[cell]
            nxt = psi[1] if side == 0 else psi[N - 2]
            if side == 0:
                disp[face] = gb * (outer - inner) + kn * (nxt - inner)
            else:
                disp[face] = gb * (inner - outer) - kn * (nxt - inner)
            dsize[face] = gb * (abs(outer) + abs(inner)) + kn * (abs(nxt) + abs(inner))
    return disp, dsize
