"""Text reports: `pnp check` (case summary) and `pnp run` (result summary).

The run summary ends with a case's ``[expect]`` table against closed forms,
as evaluated by :mod:`pnp.presentation.expectations` (re-exported here).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import constants

from ..constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY, debye_length
from ..discretisation.mesh import build_mesh
from ..results.display import with_error
from ..results.registry import entry
from ..results.whole_cell import cell_size, cell_texts, density_text
from .expectations import (
    _valences,
    end_regions,
    expectations,
    first_membrane,
    verdict,
)

__all__ = [
    "charge_separation",
    "check",
    "end_regions",
    "expectations",
    "first_membrane",
    "summary",
    "time_scales",
]


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


LAST_RULE = 32  # longest rule drawn under a table's last column


def _table(rows: list[tuple], header: tuple) -> str:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [
        max(len(str(h)), *(len(r[j]) for r in rows)) if rows else len(str(h))
        for j, h in enumerate(header)
    ]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))
    # the last column is not padded, and its rule is no longer than a usual value
    # (one long line, such as the mesh's, would otherwise widen every row)
    rule = [*widths[:-1], max(len(str(header[-1])), min(widths[-1], LAST_RULE))]
    out = [line.rstrip(), "  ".join("-" * w for w in rule)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


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
    lines.append(_adaptivity(case))
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


def _adaptivity(case) -> str:
    """What happens to the mesh above when the case runs (docs/numerics.md, adaptive meshes)."""
    spec = case.mesh
    if not spec.adapt or spec.uniform_cells is not None:
        why = (
            f"mesh.uniform_cells = {spec.uniform_cells}"
            if spec.uniform_cells is not None
            else "mesh.adapt = false"
        )
        return (
            f"mesh: fixed ({why}): the run uses these cells; error estimates are the "
            "difference from the same mesh with its cells merged in pairs (twice that from "
            "the mesh halved when no region has four cells)"
        )
    what = (
        "a transient runs on a mesh adapted to its steady states at t = 0 and after each "
        "protocol change"
        if case.run.mode == "transient"
        else "the steady state is solved on meshes adapted to it"
    )
    return (
        f"mesh: adaptive (mesh.adapt = true), tolerance {spec.tolerance:g} (V for potentials, "
        f"relative for charges, fluxes and currents); these are the starting cells: {what}"
    )


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
    out.extend(_water_time_scale(case))
    return out


def _water_time_scale(case) -> list[tuple[str, float]]:
    """The osmotic relaxation of a swelling cell, V / (A L_p RT c_bath), at its volume
    as written (V/A: L, r/2, r/3 in the three geometries)."""
    from ..constants import GAS_CONSTANT
    from ..discretisation.swelling import inside_membrane, written_compartment

    first = inside_membrane(case)
    if first is None or case.regions[first].water_permeability <= 0.0:
        return []
    membrane = case.regions[first]
    volume, area = written_compartment(case, first)
    bath = case.regions[first + 1] if case.inside == "left" else case.regions[first - 1]
    osmotic = GAS_CONSTANT * case.temperature * sum(bath.concentration.values())
    tau = volume / (area * membrane.water_permeability * osmotic)
    return [(f"water exchange through {membrane.name} (V/(A L_p RT c))", tau)]


# ---------------------------------------------------------------------------
# pnp run summary
# ---------------------------------------------------------------------------


def summary(case, result) -> str:
    """The `pnp run` summary: each observable at the last output ± its error
    estimate (as `with_error`), derived quantities, solver work, `[expect]`."""
    z = _valences(case)
    lines = [f"{case.title}: {result.status}" + (f" ({result.message})" if result.message else "")]
    # labels and units from the observables registry; V_m is shown in mV
    vm, mv, cur, cur_s, pump, flux, sigma = (
        entry(name)
        for name in (
            "membrane_potential",
            "membrane_voltage",
            "current",
            "current_{species}",
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

    def density(name: str) -> str:
        """The last current density ± its estimate in A/m^2 and µA/cm^2."""
        return density_text(observables[name][-1], result.error_estimate[name][-1])

    rows = [(vm.label, last(vm.name, f"m{vm.unit}", 1e3))]
    if first_membrane(case) is not None and mv.name in observables:
        # the drop over the membrane's dielectric alone (V_m less the diffuse layers)
        rows.append((f"{mv.label} (over the membrane)", last(mv.name, f"m{mv.unit}", 1e3)))
    rows.append((f"{cur.label} (outward +)", density(cur.name)))
    # one line per charged species: its share of the ionic current
    for s in result.species:
        name = cur_s.name.format(species=s)
        if z.get(s, 0) != 0 and name in observables:
            rows.append((f"{cur_s.label.format(species=s)} (outward +)", density(name)))
    if case.pumps:
        rows.append((pump.label, density(pump.name)))
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
        leak = result.current[-1] - result.pump_current[-1]
        rows.append(("leak current (outward +)", density_text(leak, None)))
    rows.extend(_volume_rows(case, result, last))
    rows.extend(_channel_rows(case, result, last))
    rows.extend(_whole_cell_rows(case, result))
    st = result.stats
    rows.append(
        (
            "solver work",
            f"{st.get('steps', 0)} steps, {st.get('newton_iterations', 0)} Newton "
            f"iterations, {st.get('rejected_steps', 0)} rejected, {st.get('wall_time', 0.0):.3g} s",
        )
    )
    rows.append(("mesh", _mesh_line(case, result)))
    lines.append(_table(rows, ("quantity", "value")))
    if case.expect:
        failed = result.status != "completed"
        exp_rows = [_expectation_cells(r, failed) for r in expectations(case, result)]
        lines.append("")
        lines.append(
            _table(exp_rows, ("simulated vs analytic", "simulated", "expected", "difference", ""))
        )
    return "\n".join(lines)


def _channel_rows(case, result, last) -> list[tuple[str, str]]:
    """Each channel's gates and permeability at the last output; a transient's
    spikes (upward 0 V crossings of V_m) and highest V_m."""
    rows = []
    observables = result.observables()
    for ch in getattr(case, "channels", ()):
        gates = ", ".join(
            f"{g} {observables[f'gate_{ch.name}_{g}'][-1]:.4g}"
            for g in ch.gates
            if f"gate_{ch.name}_{g}" in observables
        )
        rows.append((f"gates {ch.name}", gates))
        rows.append((f"permeability {ch.name}", last(f"permeability_{ch.name}", "m/s")))
    if getattr(case, "channels", ()) and len(result.t) > 1 and np.all(np.isfinite(result.t)):
        times = result.spike_times()
        shown = ", ".join(_fmt_time(t) for t in times[:5]) + (", ..." if len(times) > 5 else "")
        rows.append(
            ("spikes (V_m up through 0 V)", f"{len(times)}" + (f" at {shown}" if shown else ""))
        )
        rows.append(("highest V_m", f"{result.membrane_potential.max() * 1e3:.6g} mV"))
    return rows


#: Geometry -> (unit label, factor from m^3) of the inside volume in the summary.
_VOLUME_UNITS = {
    "spherical": ("pL", 1e15),
    "cylindrical": ("µm^3/µm", 1e12),
    "cartesian": ("µm", 1e6),
}


def _volume_rows(case, result, last) -> list[tuple[str, str]]:
    """A swelling cell's volume (whole cell: pL and µm^3; per µm of length;
    per m^2 of membrane as a thickness in µm), water flux, osmolarities, pressure."""
    observables = result.extra_observables
    if "volume" not in observables:
        return []
    unit, factor = _VOLUME_UNITS[case.geometry]
    volume = last("volume", unit, factor)
    if case.geometry == "spherical":
        volume += f" ({observables['volume'][-1] * 1e18:.6g} µm^3)"
    from ..discretisation.swelling import case_volume
    from ..results.observables import FULL_ANGLE

    written = FULL_ANGLE[case.geometry] * case_volume(case)
    return [
        ("volume (inside)", volume),
        ("volume / as written (V0)", f"{observables['volume'][-1] / written:.6g}"),
        ("water flux (outward +)", last("water_flux", "µm/s", 1e6)),
        ("osmolarity inside", last("osmolarity_inside", "mOsm")),
        ("osmolarity outside", last("osmolarity_outside", "mOsm")),
        ("pressure (inside - outside)", last("pressure", "Pa")),
    ]


def _expectation_cells(r: dict, failed: bool = False) -> tuple[str, str, str, str, str]:
    """One row of :func:`expectations` as table text: potentials in mV. The
    verdict of a failed run is "not reached (run failed)", whatever its last
    state; an expectation whose premises the case does not meet is "not
    applicable (why)", with "-" for what is not computed."""
    sim, exp, difference = r["simulated"], r["expected"], r["difference"]
    if difference is None:
        diff = "-"
    elif r["relative"]:
        diff = f"{difference / exp:.3g} rel" if exp else f"{difference:.3g}"
    elif r["unit"] == "V":
        diff = f"{difference * 1e3:.4g} mV"
    else:
        diff = f"{difference:.3g}"
    shown = []
    for value in (sim, exp):
        if value is None:
            shown.append("-")
        elif r["unit"] == "V":
            shown.append(f"{value * 1e3:.6g} mV")
        else:
            shown.append(f"{value:.6g} {r['unit']}")
    return (r["quantity"], shown[0], shown[1], diff, verdict(r, failed))


GEOMETRY_FACTOR = {
    "cartesian": (1.0, "per m^2 of membrane"),
    "cylindrical": (2.0 * math.pi, "per m of cell length"),
    "spherical": (4.0 * math.pi, "whole cell"),
}


def _mesh_line(case, result) -> str:
    """Cells, and how the mesh came about and what the ± estimates are."""
    st = result.stats
    cells = f"{result.x.size} cells"
    if case.run.mode == "transient":
        how = "adapted to the steady states of the run" if case.mesh.adapt else "as graded"
        if not np.isfinite(result.error_estimate["membrane_potential"]).any():
            return f"{cells}, {how}; no error estimate (set run.error_estimate = true)"
        return f"{cells}, {how}; estimates from runs twice as coarse and at 10x rtol"
    cycles = st.get("mesh_cycles")
    if cycles is None:
        return cells
    if case.mesh.adapt and case.mesh.uniform_cells is None:
        return (
            f"{cells}, adapted in {cycles} cycle{'s' * (cycles != 1)} to mesh.tolerance "
            f"{case.mesh.tolerance:g}; estimates: the change from the mesh with cells twice as "
            "large"
        )
    why = (
        f"mesh.uniform_cells = {case.mesh.uniform_cells}"
        if case.mesh.uniform_cells is not None
        else "mesh.adapt = false"
    )
    return (
        f"{cells}, as given ({why}); estimates: the change from this mesh with cells merged "
        "in pairs (twice that from it halved when no region has four cells)"
    )


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
    # Current densities are measured at the membrane's mid face (and the pump
    # acts on that face's area), so the whole-cell currents of a curved cell
    # use that face's area (not the inner face's, 5e-4 smaller at 10 um); a
    # cartesian case's cell has the area of its [cell] table (pnp.results.whole_cell).
    size = cell_size(case, result.mesh())
    if size is not None:
        area = size.area
        current, per_capacitance = cell_texts(
            result.current[-1], result.error_estimate["current"][-1], size
        )
        rows.append((f"membrane current ({size.scope})", current))
        rows.append(("membrane current per capacitance", per_capacitance))
        if case.pumps:
            rows.append(
                (f"pump current ({size.scope})", f"{result.pump_current[-1] * area * 1e12:.6g} pA")
            )
            for s in ("Na", "K"):
                if s in result.species:
                    leak_current = _valences(case)[s] * FARADAY * _leak_flux(case, result, s)
                    rows.append(
                        (
                            f"{s} leak current ({size.scope})",
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
