"""Observables of a state: membrane potential, currents, fluxes, surface charge.

Sign conventions (docs/numerics.md, section "Sign conventions"):
V_m = phi(inside end) - phi(outside end) at the two boundary faces; fluxes
and currents across the membrane are positive outward; surface charge is the
charge on the wall.

The flux "across the membrane" is measured at the mid face of the membrane
nearest the inside (steady: the same at every membrane face). A case without
a membrane measures at the outside boundary face, flowing out of the domain.
"""

from __future__ import annotations

import numpy as np

from ..constants import FARADAY, VACUUM_PERMITTIVITY
from ..discretisation import channels, kernel, swelling
from ..discretisation.model import Model, pump_rate
from ..solvers.newton import boundary_displacement, displacement_at


def measurement_face(model: Model) -> int:
    """Face at which membrane fluxes and currents are reported."""
    if model.membranes:
        # the membrane met first going outward from the inside end
        name, _, _ = model.membranes[0 if model.inside == "left" else -1]
        return model.mesh.mid_face(name)
    return model.n_cells if model.inside == "left" else 0


def membrane_faces(model: Model) -> tuple[int, int] | None:
    """(inner face, outer face) of the membrane nearest the inside; None without one.

    The membrane is the one whose mid face is the :func:`measurement_face`.
    """
    if not model.membranes:
        return None
    _, start, stop = model.membranes[0 if model.inside == "left" else -1]
    return (start, stop) if model.inside == "left" else (stop, start)


def face_potential(model: Model, x: np.ndarray, face: int) -> float:
    """phi [V] on face ``face``: a boundary face's potential, else the flux-continuous value.

    Between cells L and R the discrete displacement is the same computed from
    either half cell, eps_L (psi_L - psi_f)/(h_L/2) = eps_R (psi_f - psi_R)/(h_R/2),
    which gives psi_f = w psi_L + (1 - w) psi_R with w = ``pois_wleft[face]``
    (the weight the species fluxes use); at an interface of two permittivities
    this is not the plain average.
    """
    if face in (0, model.n_cells):
        return float(boundary_potentials(model, x)[0 if face == 0 else 1])
    w = model.pois_wleft[face]
    psi_l = x[model.layout.potential_at(face - 1)]
    psi_r = x[model.layout.potential_at(face)]
    return float((w * psi_l + (1.0 - w) * psi_r) * model.thermal_voltage)


def membrane_voltage(model: Model, x: np.ndarray) -> float:
    """phi(inner face) - phi(outer face) of the membrane nearest the inside [V]; 0 without one."""
    faces = membrane_faces(model)
    if faces is None:
        return 0.0
    return face_potential(model, x, faces[0]) - face_potential(model, x, faces[1])


def outward_sign(model: Model) -> float:
    """+1 when outward (inside → outside) is the +x direction."""
    return 1.0 if model.inside == "left" else -1.0


def face_fluxes(model: Model, x: np.ndarray) -> np.ndarray:
    """(S, N+1) species fluxes A_f J_i through every face [mol/s per geometry unit], +x."""
    out = np.zeros((model.n_species, model.n_cells + 1))
    kernel.face_fluxes(
        x,
        model.n_cells,
        model.n_species,
        model.layout.n_boundary,
        model.z,
        model.g_cell,
        model.pois_wleft,
        model.face_kind,
        model.face_cond,
        model.face_rr,
        model.b_type,
        model.b_psi,
        model.b_conc,
        model.b_g,
        model.b_cond,
        out,
    )
    return out


def boundary_potentials(model: Model, x: np.ndarray) -> np.ndarray:
    """phi [V] on the left and right boundary faces.

    Held or floating boundaries give their potential; a wall with a given
    surface charge gives the adjacent centre plus sigma * (h/2) / eps.
    """
    psi_b = model.boundary_psi(x)
    phi_b = psi_b * model.thermal_voltage
    for side in range(2):
        if model.b_type[side] != kernel.WALL_CHARGE:
            continue
        cell = 0 if side == 0 else model.n_cells - 1
        psi_c = x[model.layout.potential_at(cell)]
        sigma = model.case.left.surface_charge if side == 0 else model.case.right.surface_charge
        h = model.mesh.widths[cell]
        eps = VACUUM_PERMITTIVITY * model.eps_r[cell]
        phi_b[side] = psi_c * model.thermal_voltage + sigma * (h / 2.0) / eps
    return phi_b


def surface_charges(model: Model, x: np.ndarray) -> np.ndarray:
    """Charge density on each boundary surface [C/m^2] (normal displacement into the domain)."""
    disp = boundary_displacement(model, x)  # toward +x, kernel units (mol)
    out = np.empty(2)
    for side, face in ((0, 0), (1, model.n_cells)):
        bnd = model.case.left if side == 0 else model.case.right
        if model.b_type[side] == kernel.WALL_CHARGE:
            out[side] = bnd.surface_charge
            continue
        area = model.mesh.face_area[face]
        d = disp[side] * FARADAY / area
        out[side] = d if side == 0 else -d
    return out


def observe(model: Model, x: np.ndarray, displacement_rate: float = 0.0) -> dict[str, float]:
    """Scalar observables of state ``x``.

    ``displacement_rate`` is dP/dt at the measurement face (kernel units, +x)
    during a transient; 0 at steady state.
    """
    if model.swelling is not None:
        swelling.set_scale(model, float(x[-1]))  # the mesh where x's cells are
    if model.channels is not None:  # the membrane's faces as x's gates open them
        channels.apply(model, channels.factors(model, x)[0])
    flux = face_fluxes(model, x)
    face = measurement_face(model)
    area = model.mesh.face_area[face]
    sign = outward_sign(model)
    obs: dict[str, float] = {}
    phi_b = boundary_potentials(model, x)
    inside, outside = (0, 1) if model.inside == "left" else (1, 0)
    obs["membrane_potential"] = float(phi_b[inside] - phi_b[outside])
    # Pumps move 3 Na+ out and 2 K+ in per cycle: part of the membrane fluxes.
    pump_species = np.zeros(model.n_species)
    pump = 0.0
    for p in model.pumps:
        rate = pump_rate(model, p, x)
        pump_species[p.sodium] += 3.0 * rate
        pump_species[p.potassium] -= 2.0 * rate
        pump += FARADAY * rate
    species_flux = {}
    species_current = {}  # each species' share of the ionic current: z_i F j_i (pump included)
    for i, name in enumerate(model.species):
        j = (sign * flux[i, face] / area if area > 0 else 0.0) + pump_species[i]
        species_flux[name] = j
        species_current[name] = FARADAY * model.z[i] * j
    displacement = sign * FARADAY * displacement_rate / area if area > 0 else 0.0
    obs["current"] = float(sum(species_current.values()) + displacement)
    # charge held by the membrane capacitor on its inside face: the outward
    # normal displacement at the measurement face
    obs["membrane_charge"] = float(
        sign * FARADAY * displacement_at(model, x, face) / area if area > 0 else 0.0
    )
    obs["pump_current"] = float(pump)
    for name, j in species_flux.items():
        obs[f"flux_{name}"] = float(j)
    obs["membrane_voltage"] = membrane_voltage(model, x)
    for name, current in species_current.items():
        obs[f"current_{name}"] = float(current) + 0.0  # no -0.0
    sigma = surface_charges(model, x)
    obs["surface_charge_left"] = float(sigma[0])
    obs["surface_charge_right"] = float(sigma[1])
    if model.swelling is not None:
        obs.update(volume_observables(model, x))
    if model.channels is not None:
        obs.update(channel_observables(model, x, species_flux, pump_species))
    return obs


def channel_observables(model: Model, x: np.ndarray, species_flux, pump_species) -> dict:
    """gate_<channel>_<gate> (open fraction), permeability_<channel> [m/s] and
    current_<channel> [A/m^2, outward]: the channel's share P_ch / P of its
    species' electrodiffusive current through the membrane (the flux through
    a membrane is proportional to its permeability at any one state)."""
    chans = model.channels
    out = {}
    gates = x[chans.block]
    for name, value in zip(chans.gate_names, gates, strict=True):
        out["gate_" + name.replace(".", "_")] = float(value)
    opened = channels.permeabilities(model, x)
    for c, name in enumerate(chans.names):
        cd = chans.conductors[chans.conductor_of[c]]
        total = cd.leak + sum(
            opened[o]
            for o in range(len(chans.names))
            if chans.conductor_of[o] == chans.conductor_of[c]
        )
        i = chans.species[c]
        ionic = species_flux[model.species[i]] - pump_species[i]
        share = opened[c] / total if total > 0 else 0.0
        out[f"permeability_{name}"] = float(opened[c])
        out[f"channel_current_{name}"] = float(FARADAY * model.z[i] * ionic * share) + 0.0
    return out


#: Geometry -> the full angle a mesh volume (per radian, per steradian) is multiplied by.
FULL_ANGLE = {"cartesian": 1.0, "cylindrical": 2.0 * np.pi, "spherical": 4.0 * np.pi}


def whole_volume(model: Model) -> float:
    """The inside compartment's volume [m^3; per m of length, cylindrical; per m^2, cartesian]."""
    return FULL_ANGLE[model.mesh.geometry] * swelling.inside_volume(model)


def volume_observables(model: Model, x: np.ndarray) -> dict[str, float]:
    """volume, water_flux, osmolarity_inside/outside, pressure of state ``x`` (moves
    the model to ``x``'s scale)."""
    swelling.set_scale(model, float(x[-1]))
    osm_in, osm_out = swelling.osmolarities(model, x)
    return {
        "volume": whole_volume(model),
        "water_flux": swelling.water_flux(model, x),
        "osmolarity_inside": osm_in,
        "osmolarity_outside": osm_out,
        "pressure": swelling.pressure(model),
    }
