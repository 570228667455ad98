"""Text reports: `pnp check` (case summary) and `pnp run` (result summary).

Also evaluates a case's ``[expect]`` table against closed forms
(:func:`expectations`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import constants

from .. import analytic
from ..constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY, debye_length
from ..discretisation.mesh import build_mesh
from ..errors import CaseError
from ..results.display import with_error
from ..results.registry import entry


def _fmt_len(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    for unit, scale in (("m", 1.0), ("mm", 1e-3), ("um", 1e-6)):
        if abs(x) >= scale:
            return f"{x / scale:.4g} {unit}"
    return f"{x / 1e-9:.4g} nm"


def _fmt_time(t: float) -> str:
    if not math.isfinite(t):
        return "inf"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("ps", 1e-12)):
        if abs(t) >= scale:
            return f"{t / scale:.4g} {unit}"
    return f"{t:.3g} s"


def _table(rows: list[tuple], header: tuple) -> str:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [
        max(len(str(h)), *(len(r[j]) for r in rows)) if rows else len(str(h))
        for j, h in enumerate(header)
    ]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _valences(case) -> dict[str, int]:
    return {s.name: s.z for s in case.species}


def end_regions(case):
    """(inside end region, outside end region)."""
    first, last = case.regions[0], case.regions[-1]
    return (first, last) if case.inside == "left" else (last, first)


def first_membrane(case):
    """The membrane nearest the inside end (None without a membrane)."""
    regions = case.regions if case.inside == "left" else case.regions[::-1]
    for r in regions:
        if r.membrane:
            return r
    return None


# ---------------------------------------------------------------------------
# pnp check
# ---------------------------------------------------------------------------


def check(case) -> str:
    """Mesh, Debye lengths, permeabilities and time scales of a case."""
    mesh = build_mesh(case)
    z = _valences(case)
    rt = GAS_CONSTANT * case.temperature
    lines = [
        f"case: {case.title}" + (f"  ({case.source})" if case.source else ""),
        f"temperature {case.temperature:.2f} K, geometry {case.geometry}, inside = {case.inside}, "
        f"activity {case.activity}, {len(case.species)} species: "
        + ", ".join(f"{s.name} (z={s.z:+d})" for s in case.species),
        f"boundaries: left {_describe_boundary(case.left)}; right {_describe_boundary(case.right)}",
        "",
    ]
    rows = []
    for j, r in enumerate(case.regions):
        a, b = mesh.region_slices[j]
        h = mesh.widths[a:b]
        lam = debye_length(r.concentration, z, r.eps_r, case.temperature)
        rows.append(
            (
                r.name,
                "membrane" if r.membrane else "bulk",
                _fmt_len(r.length),
                f"{r.eps_r:g}",
                b - a,
                _fmt_len(h.min()),
                _fmt_len(h.max()),
                "-" if r.membrane else _fmt_len(lam),
                "-" if r.membrane or not math.isfinite(lam) else f"{lam / h.min():.1f}",
            )
        )
    lines.append(
        _table(
            rows,
            (
                "region",
                "kind",
                "length",
                "eps_r",
                "cells",
                "smallest",
                "largest",
                "Debye length",
                "cells/λ at edge",
            ),
        )
    )
    lines.append(f"total: {mesh.n_cells} cells, {mesh.n_cells * (len(case.species) + 1)} unknowns")
    for r in case.regions:
        if not r.membrane:
            continue
        lines.append("")
        cap = VACUUM_PERMITTIVITY * r.eps_r / r.length
        lines.append(f"membrane {r.name}: {_fmt_len(r.length)}, C = {cap * 100:.4g} uF/cm^2")
        prow = []
        for s in case.species:
            p = r.permeability.get(s.name, 0.0)
            g = r.barrier.get(s.name, math.inf)
            prow.append(
                (
                    s.name,
                    f"{p:.4g}" if p > 0 else "impermeant",
                    f"{g / 1e3:.4g}" if math.isfinite(g) else "inf",
                    f"{math.exp(-g / rt):.4g}" if math.isfinite(g) else "0",
                )
            )
        lines.append(_table(prow, ("species", "P [m/s]", "barrier [kJ/mol]", "partition k")))
    lines.append("")
    lines.append("time scales:")
    for label, t in time_scales(case, mesh):
        lines.append(f"  {label}: {_fmt_time(t)}")
    return "\n".join(lines)


def _describe_boundary(b) -> str:
    if b.type == "wall":
        return (
            f"wall at {b.potential * 1e3:g} mV"
            if b.potential is not None
            else f"wall, surface charge {b.surface_charge:g} C/m^2"
        )
    if b.potential is None:
        return f"reservoir, floating (current {b.current:g} A/m^2)"
    return f"reservoir at {b.potential * 1e3:g} mV"


def time_scales(case, mesh) -> list[tuple[str, float]]:
    """Debye relaxation, diffusion across regions, membrane RC and equilibration."""
    z = _valences(case)
    out = []
    for r in case.regions:
        if r.membrane:
            continue
        d_max = max((r.D[s.name] for s in case.species), default=0.0)
        d_min = min((r.D[s.name] for s in case.species if r.D[s.name] > 0), default=0.0)
        lam = debye_length(r.concentration, z, r.eps_r, case.temperature)
        if d_max > 0 and math.isfinite(lam):
            out.append((f"Debye relaxation in {r.name} (λ²/D)", lam**2 / d_max))
        if d_min > 0:
            out.append((f"diffusion across {r.name} (L²/D_min)", r.length**2 / d_min))
    for r in case.regions:
        if not r.membrane:
            continue
        for s in case.species:
            p = r.permeability.get(s.name, 0.0)
            if p > 0:
                inside, _ = end_regions(case)
                out.append((f"{s.name} exchange through {r.name} (L_in/P)", inside.length / p))
    return out


# ---------------------------------------------------------------------------
# [expect]
# ---------------------------------------------------------------------------


def expectations(case, result) -> list[dict]:
    """Evaluate ``[expect]``: rows with quantity, simulated, expected, difference, ok."""
    spec = dict(case.expect)
    tol = spec.pop("tolerance", None)
    rows = []
    for key, value in spec.items():
        if key == "membrane_potential":
            expected, label = _expected_vm(case, value)
            sim = float(result.membrane_potential[-1])
            rows.append(_row(f"membrane potential ({label})", sim, expected, "V", tol))
        elif key == "surface_charge":
            side, expected = _expected_sigma(case, value)
            sim = float(result.surface_charge[side][-1])
            rows.append(
                _row(f"surface charge {side} ({value})", sim, expected, "C/m^2", tol, relative=True)
            )
        elif key == "concentration" and value == "donnan":
            d = _donnan(case)
            inside_idx = 0 if case.inside == "left" else -1
            permeant = [s for s, p in first_membrane(case).permeability.items() if p > 0]
            for name in permeant:
                c_exp = d["inside"][name]
                i = result.species.index(name)
                sim = float(result.concentration[-1, i, inside_idx])
                rows.append(
                    _row(f"{name} inside (donnan)", sim, c_exp, "mol/m^3", None, relative=True)
                )
        elif key == "potential_profile" and value == "gouy-chapman":
            rows.append(_gc_profile_row(case, result))
        else:
            raise CaseError(
                f"cannot evaluate expectation {key} = {value!r}",
                file=case.source,
                key=f"expect.{key}",
            )
    return rows


def _row(label, sim, expected, unit, tol, relative=False):
    diff = sim - expected
    return {
        "quantity": label,
        "simulated": sim,
        "expected": expected,
        "difference": diff,
        "unit": unit,
        "relative": relative,
        "ok": None if tol is None else abs(diff) <= float(tol),
    }


def _expected_vm(case, value):
    if isinstance(value, int | float):
        return float(value), "given"
    inside, outside = end_regions(case)
    z = _valences(case)
    if value.startswith("nernst:"):
        name = value.split(":", 1)[1]
        return analytic.nernst(
            inside.concentration[name], outside.concentration[name], z[name], case.temperature
        ), value
    mem = first_membrane(case)
    if value == "ghk":
        perm = {k: v for k, v in mem.permeability.items() if v > 0}
        return analytic.ghk_voltage(
            inside.concentration, outside.concentration, perm, z, case.temperature
        ), "GHK"
    if value == "donnan":
        return _donnan(case)["potential"], "Donnan"
    raise CaseError(
        f"unknown closed form {value!r}; use nernst:<species>, ghk, donnan or a number",
        file=case.source,
        key="expect.membrane_potential",
    )


def _donnan(case):
    inside, outside = end_regions(case)
    mem = first_membrane(case)
    z = _valences(case)
    permeant = [s for s, p in mem.permeability.items() if p > 0]
    fixed = inside.fixed_charge + sum(
        z[s] * c for s, c in inside.concentration.items() if s not in permeant
    )
    return analytic.donnan(
        dict(outside.concentration), z, fixed, case.temperature, permeant=permeant
    )


def _expected_sigma(case, value):
    if value != "grahame":
        raise CaseError(
            'use surface_charge = "grahame"', file=case.source, key="expect.surface_charge"
        )
    for side, b in (("left", case.left), ("right", case.right)):
        if b.type == "wall" and b.potential is not None:
            region = case.regions[0] if side == "left" else case.regions[-1]
            other = case.right if side == "left" else case.left
            phi0 = b.potential - (other.potential or 0.0)
            return side, analytic.grahame(
                phi0, region.concentration, _valences(case), region.eps_r, case.temperature
            )
    raise CaseError(
        "grahame needs a wall at a fixed potential", file=case.source, key="expect.surface_charge"
    )


def gouy_chapman_reference(case, x):
    """Gouy–Chapman potential at distances ``x`` from the charged wall, and phi0."""
    side = "left" if case.left.type == "wall" and case.left.potential is not None else "right"
    wall = case.left if side == "left" else case.right
    other = case.right if side == "left" else case.left
    region = case.regions[0] if side == "left" else case.regions[-1]
    zs = {abs(s.z) for s in case.species if region.concentration.get(s.name, 0) > 0}
    if len(zs) != 1:
        raise CaseError(
            "the Gouy–Chapman profile needs a symmetric z:z electrolyte",
            file=case.source,
            key="expect.potential_profile",
        )
    zsalt = zs.pop()
    c0 = max(region.concentration.values())
    phi0 = wall.potential - (other.potential or 0.0)
    dist = x if side == "left" else (region.length - x)
    return analytic.gouy_chapman(dist, phi0, c0, zsalt, region.eps_r, case.temperature), phi0


def _gc_profile_row(case, result):
    ref, phi0 = gouy_chapman_reference(case, result.x)
    err = float(np.max(np.abs(result.potential[-1] - ref)))
    return {
        "quantity": "potential vs Gouy–Chapman (max |error| / phi0)",
        "simulated": err / abs(phi0),
        "expected": 0.0,
        "difference": err / abs(phi0),
        "unit": "",
        "relative": False,
        "ok": None,
    }


# ---------------------------------------------------------------------------
# pnp run summary
# ---------------------------------------------------------------------------


def summary(case, result) -> str:
    """The `pnp run` summary: each observable at the last output ± its error
    estimate (as `with_error`), derived quantities, solver work, `[expect]`."""
    z = _valences(case)
    lines = [f"{case.title}: {result.status}" + (f" ({result.message})" if result.message else "")]
    # labels and units from the observables registry; V_m is shown in mV
    vm, cur, pump, flux, sigma = (
        entry(name)
        for name in (
            "membrane_potential",
            "current",
            "pump_current",
            "flux_{species}",
            "surface_charge_{side}",
        )
    )
    observables = result.observables()

    def last(name: str, unit: str, scale: float = 1.0) -> str:
        """The last value ± its error estimate (nothing added without one)."""
        error = result.error_estimate[name][-1]
        return with_error(observables[name][-1] * scale, error * scale, unit)

    rows = [
        (vm.label, last(vm.name, f"m{vm.unit}", 1e3)),
        (f"{cur.label} (outward +)", last(cur.name, cur.unit)),
    ]
    if case.pumps:
        rows.append((pump.label, last(pump.name, pump.unit)))
    for s in result.species:
        label = flux.label.format(species=s)
        rows.append((f"{label} (outward +)", last(flux.name.format(species=s), flux.unit)))
    for side in result.surface_charge:
        name = sigma.name.format(side=side)
        rows.append((sigma.label.format(side=side), last(name, sigma.unit)))
    for r in case.regions:
        if not r.membrane:
            lam = debye_length(r.concentration, z, r.eps_r, case.temperature)
            rows.append((f"Debye length {r.name}", _fmt_len(lam)))
    if case.pumps:
        rows.append(
            (
                "leak current (outward +)",
                f"{result.current[-1] - result.pump_current[-1]:.6g} A/m^2",
            )
        )
    rows.extend(_whole_cell_rows(case, result))
    st = result.stats
    rows.append(
        (
            "solver work",
            f"{st.get('steps', 0)} steps, {st.get('newton_iterations', 0)} Newton "
            f"iterations, {st.get('rejected_steps', 0)} rejected, {st.get('wall_time', 0.0):.3g} s",
        )
    )
    lines.append(_table(rows, ("quantity", "value")))
    if case.expect:
        failed = result.status != "completed"
        exp_rows = [_expectation_cells(r, failed) for r in expectations(case, result)]
        lines.append("")
        lines.append(
            _table(exp_rows, ("simulated vs analytic", "simulated", "expected", "difference", ""))
        )
    return "\n".join(lines)


def _expectation_cells(r: dict, failed: bool = False) -> tuple[str, str, str, str, str]:
    """One row of :func:`expectations` as table text: potentials in mV. The
    verdict of a failed run is "not reached (run failed)", whatever its last state."""
    if r["relative"]:
        diff = (
            f"{r['difference'] / r['expected']:.3g} rel"
            if r["expected"]
            else f"{r['difference']:.3g}"
        )
    elif r["unit"] == "V":
        diff = f"{r['difference'] * 1e3:.4g} mV"
    else:
        diff = f"{r['difference']:.3g}"
    sim, exp = r["simulated"], r["expected"]
    if r["unit"] == "V":
        sim, exp = f"{sim * 1e3:.6g} mV", f"{exp * 1e3:.6g} mV"
    else:
        sim, exp = f"{sim:.6g} {r['unit']}", f"{exp:.6g} {r['unit']}"
    ok = "" if r["ok"] is None else ("ok" if r["ok"] else "OUT OF TOLERANCE")
    if failed and r["ok"] is not None:
        ok = "not reached (run failed)"
    return (r["quantity"], sim, exp, diff, ok)


GEOMETRY_FACTOR = {
    "cartesian": (1.0, "per m^2 of membrane"),
    "cylindrical": (2.0 * math.pi, "per m of cell length"),
    "spherical": (4.0 * math.pi, "whole cell"),
}


def charge_separation(case, result) -> dict | None:
    """Excess charge inside the membrane nearest the inside vs the ions there.

    Counts in elementary charges / ions, for the whole cell (spherical), per
    metre of length (cylindrical) or per m^2 (cartesian); ``membrane_area`` is
    the area of the membrane's mid face [m^2 per cell, m per metre, 1 per m^2],
    where the membrane's current densities are measured. None without a membrane.
    """
    mem = first_membrane(case)
    if mem is None:
        return None
    mesh = result.mesh()
    j = case.regions.index(mem)
    start, stop = mesh.region_slices[j]
    inside = slice(0, start) if case.inside == "left" else slice(stop, mesh.n_cells)
    factor, unit = GEOMETRY_FACTOR[case.geometry]
    vol = mesh.volume[inside] * factor
    z = np.array([s.z for s in case.species], dtype=float)
    conc = result.concentration[-1][:, inside]
    charge = float(vol @ (z @ conc)) * constants.N_A  # elementary charges
    ions = float(vol @ conc.sum(axis=0)) * constants.N_A
    # current densities are measured at the mid face of the membrane
    # (pnp.results.observables.measurement_face): whole-cell currents are those
    # densities times the area of that same face
    area = mesh.face_area[mesh.mid_face(mem.name)] * factor
    return {
        "excess_charge": charge,
        "ions": ions,
        "ratio": abs(charge) / ions if ions else math.nan,
        "membrane_area": area,
        "unit": unit,
    }


def _whole_cell_rows(case, result) -> list[tuple[str, str]]:
    sep = charge_separation(case, result)
    if sep is None:
        return []
    rows = []
    if case.geometry != "cartesian":
        # Current densities are measured at the membrane's mid face (and the pump
        # acts on that face's area), so the whole-cell currents use that face's
        # area: `membrane_area`, not the inner face's (5e-4 smaller at 10 um).
        area = sep["membrane_area"]
        rows.append(
            (f"membrane current ({sep['unit']})", f"{result.current[-1] * area * 1e12:.6g} pA")
        )
        if case.pumps:
            rows.append(
                (f"pump current ({sep['unit']})", f"{result.pump_current[-1] * area * 1e12:.6g} pA")
            )
            for s in ("Na", "K"):
                if s in result.species:
                    leak_current = _valences(case)[s] * FARADAY * _leak_flux(case, result, s)
                    rows.append(
                        (
                            f"{s} leak current ({sep['unit']})",
                            f"{leak_current * area * 1e12:.6g} pA",
                        )
                    )
    rows.append((f"excess charge inside ({sep['unit']})", f"{sep['excess_charge']:.4g} e"))
    rows.append((f"ions inside ({sep['unit']})", f"{sep['ions']:.4g}"))
    rows.append(("excess charge / ions inside", f"{sep['ratio']:.3g}"))
    return rows


def _leak_flux(case, result, name: str) -> float:
    """Last flux of ``name`` through the leak alone [mol/m^2/s, outward +].

    Each pump moves 3 Na out and 2 K in per charge it carries (pump_current / F).
    """
    leak = result.flux[name][-1]
    for p in case.pumps:
        if name == p.sodium:
            leak -= 3.0 * (result.pump_current[-1] / FARADAY)
        if name == p.potassium:
            leak += 2.0 * (result.pump_current[-1] / FARADAY)
    return leak
