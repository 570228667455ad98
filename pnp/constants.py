"""Physical constants and the few tiny formulas every stage of pnp shares.

The one place for them: the mesh (Debye lengths), the model (thermal voltage,
Faraday), the observables (currents), the report and the closed forms of
:mod:`pnp.analytic` all import from here, so no module retypes a constant or
recomputes RT/F its own way. Values come from :mod:`scipy.constants` (CODATA).

Concentrations are in mol/m^3 (numerically mM) throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants

__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "VACUUM_PERMITTIVITY",
    "debye_length",
    "ionic_strength",
    "thermal_voltage",
]

FARADAY: float = constants.e * constants.N_A  # [C/mol], exact since SI 2019
GAS_CONSTANT: float = constants.R  # [J/(mol K)]
VACUUM_PERMITTIVITY: float = constants.epsilon_0  # [F/m]

Concentrations = Mapping[str, float] | Sequence[float] | NDArray[np.floating]
Valences = Mapping[str, float] | Sequence[float] | NDArray[np.number]


# --------------------------------------------------------------------------- argument checks
# Shared with pnp.analytic, which validates its arguments the same way.


def _check_temperature(temperature: float) -> float:
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(
            f"temperature must be a positive finite number of kelvin, got {temperature!r}"
        )
    return temperature


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def _check_nonnegative_array(name: str, value: ArrayLike) -> NDArray[np.floating]:
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {value!r}")
    return array


def _ion_arrays(
    concentrations: Concentrations, valences: Valences
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Concentrations [mol/m^3] and valences as two aligned 1-D float arrays.

    Either both are mappings keyed by species name (the valences may hold
    more species than the concentrations), or both are sequences of one length.
    """
    if isinstance(concentrations, Mapping):
        if not isinstance(valences, Mapping):
            raise ValueError("concentrations are given by name, so valences must be a mapping too")
        missing = [name for name in concentrations if name not in valences]
        if missing:
            raise ValueError(f"no valence given for species {missing}")
        names = list(concentrations)
        c = np.array([concentrations[name] for name in names], dtype=float)
        z = np.array([valences[name] for name in names], dtype=float)
    else:
        if isinstance(valences, Mapping):
            raise ValueError("concentrations are a sequence, so valences must be a sequence too")
        c = np.atleast_1d(np.asarray(concentrations, dtype=float))
        z = np.atleast_1d(np.asarray(valences, dtype=float))
        if c.ndim != 1 or c.shape != z.shape:
            raise ValueError(
                f"concentrations and valences must be 1-D and of one length, got shapes {c.shape} and {z.shape}"
            )
    if not np.all(np.isfinite(z)):
        raise ValueError(f"valences must be finite, got {z.tolist()}")
    return _check_nonnegative_array("concentrations", c), z


# --------------------------------------------------------------------------- formulas


def thermal_voltage(temperature: float) -> float:
    """Thermal voltage V_T = RT/F.

    Parameters
    ----------
    temperature : float
        Absolute temperature T [K].

    Returns
    -------
    float
        V_T [V]; 25.69 mV at 298.15 K.
    """
    return GAS_CONSTANT * _check_temperature(temperature) / FARADAY


def ionic_strength(concentrations: Concentrations, valences: Valences) -> float:
    """Ionic strength I = 1/2 sum_i z_i^2 c_i.

    Parameters
    ----------
    concentrations : mapping or sequence of float
        c_i [mol/m^3]; a mapping name -> concentration, or a sequence.
    valences : mapping or sequence of float
        z_i [-], keyed or ordered like `concentrations` (a mapping may hold
        more species than `concentrations`).

    Returns
    -------
    float
        I [mol/m^3] (numerically equal to mM; times ``scipy.constants.liter``
        for mol/L).
    """
    c, z = _ion_arrays(concentrations, valences)
    return 0.5 * float(np.sum(z * z * c))


def debye_length(
    concentrations: Concentrations, valences: Valences, eps_r: float, temperature: float
) -> float:
    """Debye screening length.

    ::

        lambda_D = sqrt(eps0 eps_r R T / (F^2 sum_i z_i^2 c_i))

    Parameters
    ----------
    concentrations : mapping or sequence of float
        Bulk concentrations c_i [mol/m^3].
    valences : mapping or sequence of float
        z_i [-], keyed or ordered like `concentrations` (a mapping may hold
        more species than `concentrations`).
    eps_r : float
        Relative permittivity of the solvent [-].
    temperature : float
        T [K].

    Returns
    -------
    float
        lambda_D [m]: 0.785 nm for 150 mM NaCl in water (eps_r 78.5) at
        298.15 K; ``inf`` when no charged species is present.
    """
    eps_r = _check_positive("eps_r", eps_r)
    temperature = _check_temperature(temperature)
    charge_moment = 2.0 * ionic_strength(concentrations, valences)  # sum_i z_i^2 c_i
    if charge_moment == 0:
        return math.inf
    return math.sqrt(
        VACUUM_PERMITTIVITY * eps_r * GAS_CONSTANT * temperature / (FARADAY**2 * charge_moment)
    )
