"""Compiled kernel: Scharfetter–Gummel fluxes, residual and banded Jacobian.

This module imports nothing from the rest of the package: the model is lowered
to flat arrays once (``pnp.discretisation.model``) and passed in explicitly, so the compiled
functions are cached on disk and shared by every case.

Unknowns and layout
-------------------
Cell ``k`` (0..N-1) carries the concentrations ``c[i, k]`` [mol/m^3] of the S
species and the scaled potential ``psi[k] = phi[k] / V_T``. They are
interleaved, potential last, so that the Jacobian is banded with
``kl = m`` sub- and ``ku = 2m - 1`` super-diagonals (m = S + 1)::

    x = [ (psi_L) | c_0,0 .. c_S-1,0  psi_0 | c_0,1 .. psi_1 | ... | (psi_R) ]

``psi_L`` / ``psi_R`` exist only when that boundary is a floating reservoir
(current clamp); they are adjacent to their cell, so the border keeps the band.

Finite volumes::

    wall/res |  cell 0  |  cell 1  | ... |  cell k  | ...  | cell N-1 | wall/res
          face 0     face 1     face 2  face k   face k+1         face N
                         F[i, k] = A_k J_i(x_k)   (mol/s, positive toward +x)

Species balance (cell k, species i), time discretised by the solver as
dc/dt ~ alpha[i,k] c - beta[i,k] (alpha = 0: steady)::

    R = V_k (alpha[i,k] c[i,k] - beta[i,k]) + F[i,k+1] - F[i,k] - source[i,k]

Gauss's law (cell k), with P_f = (D.A)_f / F the displacement through face f
in mol of elementary charge::

    R = P[k+1] - P[k] - V_k (sum_i z_i c[i,k] + rho_fixed[k])
    P_f = G_f (psi_L - psi_R)           (G_f: half cells in series, harmonic eps)

Current continuity (cell k with ``cont[k]``, in place of species 0's balance;
a transient with one alpha for every species): the total current, ionic plus
displacement, entering the cell equals that leaving it::

    R = sum_i z_i (F[i,k+1] - F[i,k] - source[i,k]) + dP[k+1] - dP[k]
    dP_f = alpha_d P_f - beta_d[f]      (the displacement rate, history in beta_d)

It is sum_i z_i (balance i) + alpha_d (Gauss's law), with the storage terms
cancelled by hand: the charge a cell gains in a step is then carried by the
displacements, not by a difference of concentrations 1e6 times larger, and
the total current through every face is the same to round-off of the
currents themselves. Needs z_0 != 0 (the replaced row must be in the sum).

At a wall held at a potential, the wall gradient comes from the quadratic
through the wall value and the first two cell centres (second order, where
the Debye layer is steepest); reservoirs use the two-point half cell.

Face fluxes (Scharfetter–Gummel on the effective potential
u_i = z_i psi + g_i, g_i = ln gamma_i + dG_i/RT per cell)::

    inside a region:  F = cond * (B(du) c_L - B(-du) c_R),   du = u_R - u_L
    region interface: F = (c_L e^uL - c_R e^uR) / (rL LM(e^uL, e^ufL) + rR LM(e^ufR, e^uR))

(``face_cond`` holds cond on SG faces and rL on interface faces; ``face_rr`` rR.)

The interface form integrates the Nernst–Planck flux exactly through the two
half cells in series, each with its own diffusivity and offset g, with the
potential linear in each half and continuous at the face (psi_f from the
Poisson flux balance). LM is the logarithmic mean. It keeps Boltzmann/partition
equilibrium exact and makes a membrane of uniform cells reproduce the GHK flux.
"""

from __future__ import annotations

import numpy as np

from ..compiled import njit

# Boundary types (index 0: left, 1: right).
WALL_POTENTIAL = 0   # blocking wall at a fixed potential
WALL_CHARGE = 1      # blocking wall with a fixed surface charge
RESERVOIR = 2        # concentrations and potential held
FLOATING = 3         # concentrations held, potential unknown, current prescribed

# Face kinds per species.
CLOSED = 0
SG = 1
INTERFACE = 2

_SERIES = 1e-2  # below this |x|, Bernoulli-type functions use their Taylor series


@njit(cache=True)
def bernoulli(x):
    """B(x) = x / (exp(x) - 1), stable from |x| = 0 to beyond 1e3."""
    if abs(x) < _SERIES:
        x2 = x * x
        return 1.0 - 0.5 * x + x2 / 12.0 - x2 * x2 / 720.0 + x2 * x2 * x2 / 30240.0
    if x > 700.0:
        return x * np.exp(-x)
    return x / np.expm1(x)


@njit(cache=True)
def bernoulli_deriv(x):
    """dB/dx = B(x) (1 - B(x) - x) / x, with its series near 0."""
    if abs(x) < _SERIES:
        x2 = x * x
        return -0.5 + x / 6.0 - x2 * x / 180.0 + x2 * x2 * x / 5040.0
    b = bernoulli(x)
    return b * (1.0 - b - x) / x


@njit(cache=True)
def _expm1_over(d):
    """E(d) = (e^d - 1)/d and E'(d) for d <= 0."""
    if d > -_SERIES:
        d2 = d * d
        d4 = d2 * d2
        e = 1.0 + d / 2.0 + d2 / 6.0 + d2 * d / 24.0 + d4 / 120.0 + d4 * d / 720.0 + d4 * d2 / 5040.0
        de = 0.5 + d / 3.0 + d2 / 8.0 + d2 * d / 30.0 + d4 / 144.0 + d4 * d / 840.0 + d4 * d2 / 5760.0
        return e, de
    em = np.expm1(d)
    return em / d, (d * (em + 1.0) - em) / (d * d)


@njit(cache=True)
def logmean_exp(p, q):
    """LM(e^p, e^q) = (e^p - e^q)/(p - q) and its derivatives in p and q.

    Evaluated by factoring out the larger exponential, so p, q <= 0 never
    overflow.
    """
    if p >= q:
        e, de = _expm1_over(q - p)
        ep = np.exp(p)
        return ep * e, ep * (e - de), ep * de
    e, de = _expm1_over(p - q)
    eq = np.exp(q)
    return eq * e, eq * de, eq * (e - de)


@njit(cache=True)
def interface_flux(cL, cR, uL, ufL, ufR, uR, rL, rR):
    """Flux through two half cells in series, and its derivatives.

    Returns (F, dF/dcL, dF/dcR, dF/duL, dF/dufL, dF/dufR, dF/duR).
    """
    s = max(max(uL, ufL), max(ufR, uR))
    eL = np.exp(uL - s)
    eR = np.exp(uR - s)
    lm1, d1p, d1q = logmean_exp(uL - s, ufL - s)
    lm2, d2p, d2q = logmean_exp(ufR - s, uR - s)
    den = rL * lm1 + rR * lm2
    num = cL * eL - cR * eR
    f = num / den
    return (
        f,
        eL / den,
        -eR / den,
        (cL * eL - f * rL * d1p) / den,
        -f * rL * d1q / den,
        -f * rR * d2p / den,
        (-cR * eR - f * rR * d2q) / den,
    )


@njit(cache=True)
def _sg(cond, cL, cR, du):
    """Scharfetter–Gummel flux and derivatives (F, dF/dcL, dF/dcR, dF/d(du))."""
    bp = bernoulli(du)
    bm = bernoulli(-du)
    f = cond * (bp * cL - bm * cR)
    dfdu = cond * (bernoulli_deriv(du) * cL + bernoulli_deriv(-du) * cR)
    return f, cond * bp, -cond * bm, dfdu


@njit(cache=True)
def _interior_flux(kind, cl, cr, zi, psl, psr, wl, gl, gr, cond, rr):
    """Flux A J through an interior face toward +x, and its derivatives.

    ``kind`` is SG (``cond`` the series conductance) or INTERFACE (``cond``
    the left half-cell resistance rL, ``rr`` the right one; the face
    potential is ``wl psl + (1 - wl) psr``). Returns
    (F, dF/dcL, dF/dcR, dF/dpsiL, dF/dpsiR).
    """
    ul = zi * psl + gl
    ur = zi * psr + gr
    if kind == SG:
        fl, dcl, dcr, ddu = _sg(cond, cl, cr, ur - ul)
        return fl, dcl, dcr, -zi * ddu, zi * ddu
    psf = wl * psl + (1.0 - wl) * psr
    fl, dcl, dcr, dul, dufl, dufr, dur = interface_flux(
        cl, cr, ul, zi * psf + gl, zi * psf + gr, ur, cond, rr
    )
    return (fl, dcl, dcr, zi * (dul + wl * (dufl + dufr)),
            zi * (dur + (1.0 - wl) * (dufl + dufr)))


@njit(cache=True)
def _reservoir_flux(side, cond, c_cell, c_res, zi, psi_cell, psi_res, g_cell, g_res):
    """Flux A J toward +x through a reservoir face (side 0: left, 1: right).

    The reservoir value sits on the face, half a cell from the centre.
    Returns (F, dF/dc_cell, dF/dpsi_cell, dF/dpsi_res).
    """
    uc = zi * psi_cell + g_cell
    ub = zi * psi_res + g_res
    if side == 0:
        fl, _, dcc, ddu = _sg(cond, c_res, c_cell, uc - ub)
        return fl, dcc, zi * ddu, -zi * ddu
    fl, dcc, _, ddu = _sg(cond, c_cell, c_res, ub - uc)
    return fl, dcc, -zi * ddu, zi * ddu


@njit(cache=True)
def _add(ab, kl, ku, row, col, val):
    ab[kl + ku + row - col, col] += val


@njit(cache=True)
def assemble(
    x, n_cells, n_species, offset,
    z, volume, rho_fixed, g_cell,
    pois_cond, pois_wleft,
    face_kind, face_cond, face_rr,
    b_type, b_psi, b_sigma, b_current, b_conc, b_g, b_pois_cond, b_pois_next, b_cond,
    alpha_c, alpha_d, beta_c, beta_d, cont, source,
    res, ab, jacobian,
):
    """Residual ``res`` and (if ``jacobian``) the LAPACK band matrix ``ab``.

    Parameters are the flat model arrays described in ``pnp.discretisation.model.Model``;
    ``ab`` has shape (2 kl + ku + 1, n) in LAPACK ``gbsv`` storage and is
    overwritten. ``beta_d`` (N+1) is the history part of the displacement
    rate of every face, dP_f/dt ~ alpha_d P_f - beta_d[f]; ``cont`` (N) marks
    the cells whose first species row is the current-continuity row (module
    docstring). Returns nothing; cost is O(N S). The work is split by term
    (cells, interior faces, the two boundary faces): each part loops over
    all its cells or faces itself, so the split costs one call per part.
    """
    m = n_species + 1
    kl = m
    ku = 2 * m - 1
    res[:] = 0.0
    if jacobian:
        # Rows 0..kl-1 are LAPACK's fill-in workspace: gbsv need not see them
        # zeroed. Column by column: ab is Fortran-ordered (a slice assignment
        # would sweep it row by row, strided, ~10x slower at 1e6 cells).
        ldab = ab.shape[0]
        for col in range(ab.shape[1]):
            for row in range(kl, ldab):
                ab[row, col] = 0.0
    _cell_terms(x, n_cells, n_species, offset, z, volume, rho_fixed, alpha_c, beta_c, cont,
                source, res, ab, kl, ku, jacobian)
    _interior_faces(x, n_cells, n_species, offset, z, g_cell, pois_cond, pois_wleft, face_kind,
                    face_cond, face_rr, alpha_d, beta_d, cont, res, ab, kl, ku, jacobian)
    for side in range(2):
        _boundary_face(side, x, n_cells, n_species, offset, z, g_cell, b_type, b_psi, b_sigma,
                       b_current, b_conc, b_g, b_pois_cond, b_pois_next, b_cond, alpha_d, beta_d,
                       cont, res, ab, kl, ku, jacobian)


@njit(cache=True)
def _cell_terms(x, n_cells, n_species, offset, z, volume, rho_fixed, alpha_c, beta_c, cont,
                source, res, ab, kl, ku, jacobian):
    """Storage and charge of every cell (species rows and Gauss rows).

    A continuity row (``cont[k]``) has no storage term: the charge stored is
    the displacement's, added by the faces; it takes the sources' charge.
    """
    m = n_species + 1
    S = n_species
    for k in range(n_cells):
        base = offset + k * m
        ip = base + S
        q = rho_fixed[k]
        for i in range(S):
            ci = x[base + i]
            q += z[i] * ci
            if jacobian:
                _add(ab, kl, ku, ip, base + i, -volume[k] * z[i])
            if cont[k] and i == 0:
                continue
            res[base + i] += volume[k] * (alpha_c[i, k] * ci - beta_c[i, k]) - source[i, k]
            if jacobian:
                _add(ab, kl, ku, base + i, base + i, volume[k] * alpha_c[i, k])
        if cont[k]:
            for i in range(S):
                res[base] -= z[i] * source[i, k]
        res[ip] -= volume[k] * q


@njit(cache=True)
def _species_flux_rows(base, i, zi, contk, sign, fl, res):
    """Add ``sign * fl``, species ``i``'s flux, to the rows of the cell at ``base``:
    its own balance, and z_i times it to the continuity row when ``contk``."""
    if not (contk and i == 0):
        res[base + i] += sign * fl
    if contk:
        res[base] += sign * zi * fl


@njit(cache=True)
def _species_flux_jac(ab, kl, ku, base, i, zi, contk, col, val):
    """The Jacobian entry ``val`` of species ``i``'s flux rows (as _species_flux_rows)."""
    if not (contk and i == 0):
        _add(ab, kl, ku, base + i, col, val)
    if contk:
        _add(ab, kl, ku, base, col, zi * val)


@njit(cache=True)
def _interior_faces(x, n_cells, n_species, offset, z, g_cell, pois_cond, pois_wleft, face_kind,
                    face_cond, face_rr, alpha_d, beta_d, cont, res, ab, kl, ku, jacobian):
    """Displacement and species fluxes through the interior faces 1 … N-1."""
    m = n_species + 1
    S = n_species
    for f in range(1, n_cells):
        bl = offset + (f - 1) * m
        br = offset + f * m
        pl = bl + S
        pr = br + S
        psl = x[pl]
        psr = x[pr]
        cl_ = cont[f - 1]
        cr_ = cont[f]
        # Poisson: P = G (psi_L - psi_R) leaves cell L, enters cell R
        gp = pois_cond[f]
        pf = gp * (psl - psr)
        res[pl] += pf
        res[pr] -= pf
        if jacobian:
            _add(ab, kl, ku, pl, pl, gp)
            _add(ab, kl, ku, pl, pr, -gp)
            _add(ab, kl, ku, pr, pl, -gp)
            _add(ab, kl, ku, pr, pr, gp)
        # continuity rows: the displacement current alpha_d P - beta_d
        if cl_ or cr_:
            dpf = alpha_d * pf - beta_d[f]
            if cl_:
                res[bl] += dpf
                if jacobian:
                    _add(ab, kl, ku, bl, pl, alpha_d * gp)
                    _add(ab, kl, ku, bl, pr, -alpha_d * gp)
            if cr_:
                res[br] -= dpf
                if jacobian:
                    _add(ab, kl, ku, br, pl, -alpha_d * gp)
                    _add(ab, kl, ku, br, pr, alpha_d * gp)
        wl = pois_wleft[f]
        for i in range(S):
            kind = face_kind[i, f]
            if kind == CLOSED:
                continue
            zi = z[i]
            fl, dcl, dcr, dpl, dpr = _interior_flux(
                kind, x[bl + i], x[br + i], zi, psl, psr, wl, g_cell[i, f - 1], g_cell[i, f],
                face_cond[i, f], face_rr[i, f],
            )
            _species_flux_rows(bl, i, zi, cl_, 1.0, fl, res)
            _species_flux_rows(br, i, zi, cr_, -1.0, fl, res)
            if jacobian:
                # leaves cell L (+), enters cell R (-)
                _species_flux_jac(ab, kl, ku, bl, i, zi, cl_, bl + i, dcl)
                _species_flux_jac(ab, kl, ku, bl, i, zi, cl_, br + i, dcr)
                _species_flux_jac(ab, kl, ku, bl, i, zi, cl_, pl, dpl)
                _species_flux_jac(ab, kl, ku, bl, i, zi, cl_, pr, dpr)
                _species_flux_jac(ab, kl, ku, br, i, zi, cr_, bl + i, -dcl)
                _species_flux_jac(ab, kl, ku, br, i, zi, cr_, br + i, -dcr)
                _species_flux_jac(ab, kl, ku, br, i, zi, cr_, pl, -dpl)
                _species_flux_jac(ab, kl, ku, br, i, zi, cr_, pr, -dpr)


@njit(cache=True)
def _boundary_displacement(side, x, ip, m, bt, psb, b_sigma, b_pois_cond, b_pois_next):
    """P through boundary face ``side`` toward +x, and its derivatives.

    Returns (P, dP/dpsi_cell, dP/dpsi_b, index of the next cell's psi (-1:
    none), dP/dpsi_next).
    """
    if bt == WALL_CHARGE:
        # left: D = sigma (into the domain, +x); right: D = -sigma
        return (b_sigma[side] if side == 0 else -b_sigma[side]), 0.0, 0.0, -1, 0.0
    # second-order wall gradient (quadratic through the wall and the first
    # two centres) where b_pois_next != 0, else two-point
    gb = b_pois_cond[side]
    kn = b_pois_next[side]
    inext = -1 if kn == 0.0 else (ip + m if side == 0 else ip - m)
    if side == 0:
        nxt = x[ip + m] if kn != 0.0 else 0.0
        return gb * (psb - x[ip]) + kn * (nxt - x[ip]), -gb - kn, gb, inext, kn
    nxt = x[ip - m] if kn != 0.0 else 0.0
    return gb * (x[ip] - psb) - kn * (nxt - x[ip]), gb + kn, -gb, inext, -kn


@njit(cache=True)
def _add_displacement(ab, kl, ku, row, scale, ip, ib, inext, dcell, db, dnext):
    """Jacobian entries of ``scale`` times a boundary displacement in ``row``."""
    _add(ab, kl, ku, row, ip, scale * dcell)
    if ib >= 0:
        _add(ab, kl, ku, row, ib, scale * db)
    if inext >= 0:
        _add(ab, kl, ku, row, inext, scale * dnext)


@njit(cache=True)
def _boundary_face(side, x, n_cells, n_species, offset, z, g_cell, b_type, b_psi, b_sigma,
                   b_current, b_conc, b_g, b_pois_cond, b_pois_next, b_cond, alpha_d, beta_d,
                   cont, res, ab, kl, ku, jacobian):
    """Displacement, reservoir fluxes and current clamp at boundary face ``side`` (0: left)."""
    m = n_species + 1
    S = n_species
    n = x.shape[0]
    # a flux F through face 0 (toward +x) enters cell 0; one through face N leaves cell N-1
    cell = 0 if side == 0 else n_cells - 1
    face = 0 if side == 0 else n_cells
    sign = -1.0 if side == 0 else 1.0
    base = offset + cell * m
    contk = cont[cell]
    ip = base + S
    bt = b_type[side]
    ib = -1
    psb = b_psi[side]
    if bt == FLOATING:
        ib = 0 if side == 0 else n - 1
        psb = x[ib]
    pf, dcell, db, inext, dnext = _boundary_displacement(
        side, x, ip, m, bt, psb, b_sigma, b_pois_cond, b_pois_next
    )
    res[ip] += sign * pf
    if jacobian:
        _add_displacement(ab, kl, ku, ip, sign, ip, ib, inext, dcell, db, dnext)
    if contk:
        # continuity row: the displacement current through the boundary face
        res[base] += sign * (alpha_d * pf - beta_d[face])
        if jacobian:
            _add_displacement(ab, kl, ku, base, sign * alpha_d, ip, ib, inext, dcell, db, dnext)
    if bt == FLOATING:
        # clamp: current entering the domain = prescribed.
        # charge flux toward +x through the face: sum z F + dP/dt
        res[ib] += -sign * (alpha_d * pf - beta_d[face]) - b_current[side]
        if jacobian:
            _add_displacement(ab, kl, ku, ib, -sign * alpha_d, ip, ib, inext, dcell, db, dnext)
    if bt == RESERVOIR or bt == FLOATING:
        for i in range(S):
            _reservoir_species(side, i, x, n_cells, base, ip, ib, psb, bt, z, g_cell, b_conc, b_g,
                               b_cond, contk, res, ab, kl, ku, jacobian)


@njit(cache=True)
def _reservoir_species(side, i, x, n_cells, base, ip, ib, psb, bt, z, g_cell, b_conc, b_g,
                       b_cond, contk, res, ab, kl, ku, jacobian):
    """Flux of species ``i`` through a reservoir (or floating) boundary face, and
    its share of the current clamp."""
    sign = -1.0 if side == 0 else 1.0
    cond = b_cond[side, i]
    if cond == 0.0:
        return
    zi = z[i]
    fl, dcc, dfc_dpsi, dfb_dpsi = _reservoir_flux(
        side, cond, x[base + i], b_conc[side, i], zi, x[ip], psb,
        g_cell[i, 0 if side == 0 else n_cells - 1], b_g[side, i],
    )
    _species_flux_rows(base, i, zi, contk, sign, fl, res)
    if jacobian:
        _species_flux_jac(ab, kl, ku, base, i, zi, contk, base + i, sign * dcc)
        _species_flux_jac(ab, kl, ku, base, i, zi, contk, ip, sign * dfc_dpsi)
    if bt == FLOATING:
        res[ib] += -sign * zi * fl
        if jacobian:
            _species_flux_jac(ab, kl, ku, base, i, zi, contk, ib, sign * dfb_dpsi)
            _add(ab, kl, ku, ib, base + i, -sign * zi * dcc)
            _add(ab, kl, ku, ib, ip, -sign * zi * dfc_dpsi)
            _add(ab, kl, ku, ib, ib, -sign * zi * dfb_dpsi)


@njit(cache=True)
def face_fluxes(
    x, n_cells, n_species, offset, z, g_cell,
    pois_wleft, face_kind, face_cond, face_rr,
    b_type, b_psi, b_conc, b_g, b_cond, out,
):
    """Species fluxes through every face, ``out[i, f]`` = A_f J_i [mol/s], +x."""
    m = n_species + 1
    S = n_species
    n = x.shape[0]
    out[:, :] = 0.0
    for f in range(1, n_cells):
        bl = offset + (f - 1) * m
        br = offset + f * m
        psl = x[bl + S]
        psr = x[br + S]
        wl = pois_wleft[f]
        for i in range(S):
            kind = face_kind[i, f]
            if kind != CLOSED:
                out[i, f] = _interior_flux(
                    kind, x[bl + i], x[br + i], z[i], psl, psr, wl, g_cell[i, f - 1],
                    g_cell[i, f], face_cond[i, f], face_rr[i, f],
                )[0]
    for side in range(2):
        bt = b_type[side]
        if bt != RESERVOIR and bt != FLOATING:
            continue
        cell = 0 if side == 0 else n_cells - 1
        base = offset + cell * m
        if bt == FLOATING:
            psb = x[0] if side == 0 else x[n - 1]
        else:
            psb = b_psi[side]
        face = 0 if side == 0 else n_cells
        for i in range(S):
            cond = b_cond[side, i]
            if cond != 0.0:
                out[i, face] = _reservoir_flux(
                    side, cond, x[base + i], b_conc[side, i], z[i], x[base + S], psb,
                    g_cell[i, cell], b_g[side, i],
                )[0]


@njit(cache=True)
def equilibrate_rows(ab, res, kl, ku):
    """Scale every row of the band matrix (and residual) by its largest entry.

    Partial pivoting compares entries of one column across rows, so rows of
    very different physical scale (Gauss's law, species balances at 1e-12 and
    1e4 mol/m^3) must be brought to a common size first.
    """
    n = res.shape[0]
    for r in range(n):
        big = 0.0
        lo = max(0, r - kl)
        hi = min(n - 1, r + ku)
        for c in range(lo, hi + 1):
            v = abs(ab[kl + ku + r - c, c])
            if v > big:
                big = v
        if big > 0.0:
            s = 1.0 / big
            for c in range(lo, hi + 1):
                ab[kl + ku + r - c, c] *= s
            res[r] *= s


@njit(cache=True)
def weighted_max(delta, x, scale, rtol, floor_c, floor_psi, is_psi):
    """max_i |scale delta_i| / (rtol |x_i| + floor_i), floor_psi or floor_c by unknown.

    The norm of Newton updates and step errors, without the temporaries a
    numpy expression would allocate (4 arrays of the state's size).
    """
    big = 0.0
    for i in range(delta.shape[0]):
        floor = floor_psi if is_psi[i] else floor_c
        v = abs(scale * delta[i]) / (rtol * abs(x[i]) + floor)
        if v > big:
            big = v
    return big
