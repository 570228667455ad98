"""Activity coefficients: Debye–Hückel, extended Debye–Hückel and Davies.

An ion's activity is a_i = γ_i c_i; in the effective potential of the
Nernst–Planck flux (docs/numerics.md, section "Equations")

    u_i = z_i φ/V_T + ln γ_i(x) + ΔG_i(x)/RT

ln γ_i acts like a standard free-energy offset: at equilibrium γ_i c_i e^(z_i φ/V_T)
is uniform, so a Nernst potential compares activities, not concentrations.
γ_i is static: each region's value follows from its *initial* ionic
strength, temperature and permittivity (`ln_gamma_by_region`).

Models (I in mol/L, log10 form as tabulated in textbooks)::

    ideal                   log10 γ = 0
    debye-huckel            log10 γ = -A z² √I                      (limiting law)
    extended-debye-huckel   log10 γ = -A z² √I / (1 + B a √I)       (ion size a [m])
    davies                  log10 γ = -A z² (√I / (1 + √I) - 0.3 I)

with the Debye–Hückel constants derived from the Debye screening length,
κ² = 2 e² N_A I / (ε0 εr k T) (I in mol/m³):

    B = κ / √I = (2 e² N_A / (L ε0 εr k T))^(1/2)                [m^-1 (mol/L)^-1/2]
    A = e² B / (8π ε0 εr k T ln 10)                             [(mol/L)^-1/2]

(L = 1e-3 m³ per litre), i.e. A = e³ (2 N_A / L)^(1/2) / (8π ln10 (ε0 εr k T)^(3/2)):
the limiting law is ln γ = -z² e² κ / (8π ε0 εr k T), half the Coulomb energy
of the ion with its screening cloud. Water at 25 °C (εr = 78.5):
A = 0.509 (mol/L)^-1/2, B = 3.29e9 m^-1 (mol/L)^-1/2.

The osmotic coefficient consistent with each model (`osmotic_coefficient`)
follows from the Gibbs–Duhem relation, integrated along the dilution of the
solution at fixed proportions (c_i = λ c_i°, 0 <= λ <= 1), on which
d[(φ - 1) c_tot] = Σ_i c_i d ln γ_i.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants

from ..constants import VACUUM_PERMITTIVITY, _check_positive, _check_temperature, ionic_strength

if TYPE_CHECKING:
    from ..input.case import Case

__all__ = [
    "MODELS",
    "debye_huckel_a",
    "debye_huckel_b",
    "ionic_strength_molar",
    "ln_gamma",
    "ln_gamma_by_region",
    "log10_gamma",
    "osmotic_coefficient",
]

#: Activity models a case may name (``activity = ...``).
MODELS: tuple[str, ...] = ("ideal", "debye-huckel", "extended-debye-huckel", "davies")

#: Davies' empirical linear term, 0.3 I (I in mol/L).
DAVIES_LINEAR = 0.3

_LN10 = math.log(10.0)


def _dielectric_energy(temperature: float, eps_r: float) -> float:
    """ε0 εr k T [F/m · J]; checks both arguments."""
    temperature = _check_temperature(temperature)
    eps_r = _check_positive("eps_r", eps_r)
    return VACUUM_PERMITTIVITY * eps_r * constants.k * temperature


def debye_huckel_b(temperature: float, eps_r: float = 78.5) -> float:
    """Debye–Hückel B constant, κ/√I.

    Parameters
    ----------
    temperature : float
        T [K].
    eps_r : float
        Relative permittivity of the solvent [-]; 78.5 for water at 25 °C.

    Returns
    -------
    float
        B [m^-1 (mol/L)^-1/2]; 3.29e9 for water at 25 °C. 1/(B √I) is the
        Debye length at ionic strength I [mol/L].
    """
    energy = _dielectric_energy(temperature, eps_r)
    return math.sqrt(2.0 * constants.e**2 * constants.N_A / (constants.liter * energy))


def debye_huckel_a(temperature: float, eps_r: float = 78.5) -> float:
    """Debye–Hückel A constant of the log10 limiting law, log10 γ = -A z² √I.

    Parameters
    ----------
    temperature : float
        T [K].
    eps_r : float
        Relative permittivity of the solvent [-]; 78.5 for water at 25 °C.

    Returns
    -------
    float
        A [(mol/L)^-1/2]; 0.509 for water at 25 °C. Scales as (εr T)^(-3/2).
    """
    energy = _dielectric_energy(temperature, eps_r)
    return constants.e**2 * debye_huckel_b(temperature, eps_r) / (8.0 * math.pi * energy * _LN10)


def ionic_strength_molar(concentrations: ArrayLike, valences: ArrayLike) -> float:
    """Ionic strength I = ½ Σ z_i² c_i in mol/L, from concentrations in mol/m³.

    Parameters
    ----------
    concentrations : array_like
        c_i [mol/m^3] (= mM).
    valences : array_like
        z_i [-], aligned with `concentrations`.

    Returns
    -------
    float
        I [mol/L] (the unit the A and B constants are quoted for).
    """
    return ionic_strength(concentrations, valences) * constants.liter


def log10_gamma(
    model: str,
    z: ArrayLike,
    ionic_strength: float,
    temperature: float,
    eps_r: float = 78.5,
    size: ArrayLike | None = None,
) -> NDArray[np.floating]:
    """log10 of the activity coefficient in one of the `MODELS`.

    Parameters
    ----------
    model : str
        One of `MODELS`.
    z : array_like
        Valences [-].
    ionic_strength : float
        I [mol/L], >= 0.
    temperature : float
        T [K].
    eps_r : float
        Relative permittivity of the solvent [-].
    size : array_like, optional
        Ion size parameters a [m], aligned with `z` (NaN allowed for neutral
        species); extended Debye–Hückel only, required there for every
        charged ion. a = 0 gives the limiting law.

    Returns
    -------
    ndarray
        log10 γ [-], shaped like `z`. Neutral species (z = 0) get 0 in every model.

    Raises
    ------
    ValueError
        Unknown model, negative or non-finite I, or a missing/negative size.
    """
    _check_model(model)
    z = np.asarray(z, dtype=float)
    ionic_strength = float(ionic_strength)
    if not (math.isfinite(ionic_strength) and ionic_strength >= 0):
        raise ValueError(f"ionic strength must be finite and >= 0, got {ionic_strength!r}")
    if model == "ideal":
        return np.zeros_like(z)
    root = math.sqrt(ionic_strength)
    a_const = debye_huckel_a(temperature, eps_r)
    if model == "debye-huckel":
        return -a_const * z * z * root
    if model == "davies":
        return -a_const * z * z * (root / (1.0 + root) - DAVIES_LINEAR * ionic_strength)
    # extended Debye-Hueckel
    a_ion = _ion_sizes(z, size)
    b_const = debye_huckel_b(temperature, eps_r)
    return -a_const * z * z * root / (1.0 + b_const * a_ion * root)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown activity model {model!r}; use one of {', '.join(MODELS)}")


def _ion_sizes(z: NDArray[np.floating], size: ArrayLike | None) -> NDArray[np.floating]:
    """Extended Debye-Hueckel ion sizes a [m] aligned with `z`, 0 for neutral species."""
    charged = z != 0
    if size is None:
        if np.any(charged):
            raise ValueError(
                "extended-debye-huckel needs the ion size a [m] of every charged species"
            )
        return np.zeros_like(z)
    a_ion = np.broadcast_to(np.asarray(size, dtype=float), z.shape)
    bad = charged & ~(np.isfinite(a_ion) & (a_ion >= 0))
    if np.any(bad):
        raise ValueError(
            f"extended-debye-huckel needs a finite ion size a >= 0 [m] for every charged species, "
            f"got {np.asarray(size).tolist()!r}"
        )
    return np.where(charged, a_ion, 0.0)


def ln_gamma(
    model: str,
    z: ArrayLike,
    ionic_strength: float,
    temperature: float,
    eps_r: float = 78.5,
    size: ArrayLike | None = None,
) -> NDArray[np.floating]:
    """Natural log of the activity coefficient: ``ln 10 * log10_gamma(...)`` (same arguments)."""
    return _LN10 * log10_gamma(model, z, ionic_strength, temperature, eps_r, size)


def ln_gamma_by_region(case: Case) -> NDArray[np.floating]:
    """ln γ of every species in every region of a case.

    Each bulk region's value comes from its own initial (or reservoir)
    contents: I = ½ Σ z_i² c_i over every species present, mobile or not
    (impermeant X⁻ counts; ``fixed_charge`` is not an ion and does not), at
    the case temperature and the region's ``eps_r``. It is static: the
    value does not follow the concentrations as they evolve.

    Membranes get ln γ = 0: a membrane's partition coefficient is its
    ``barrier`` (ΔG_i, or the ``permeability`` it is derived from), so an
    activity coefficient there would count it twice.

    Parameters
    ----------
    case : pnp.Case
        A validated case.

    Returns
    -------
    ndarray, shape (n_regions, n_species)
        ln γ [-], rows in region order, columns in ``case.species_names``
        order; all zeros for ``activity = "ideal"``. The model adds it to the
        effective-potential offset of every cell of the region (transpose to
        the (S, n_regions) layout of ``g_reg``).
    """
    names = case.species_names
    z = np.array([s.z for s in case.species], dtype=float)
    size = np.array([np.nan if s.size is None else s.size for s in case.species], dtype=float)
    out = np.zeros((len(case.regions), len(names)))
    if case.activity == "ideal":
        return out
    for j, region in enumerate(case.regions):
        if region.membrane:
            continue
        c = np.array([region.concentration.get(name, 0.0) for name in names], dtype=float)
        strength = ionic_strength_molar(c, z)
        out[j] = ln_gamma(case.activity, z, strength, case.temperature, region.eps_r, size)
    return out


def _sigma(x: float) -> float:
    """σ(x) = 3/x³ [1 + x - 1/(1 + x) - 2 ln(1 + x)], σ(0) = 1.

    The series 3 Σ_{n>=3} (-1)^(n-1) (n-2)/n x^(n-3) below x = 0.05, where
    the closed form loses digits to cancellation (its terms are O(1), the
    bracket O(x³)); 12 terms leave < 1e-16.
    """
    if x < 0.05:
        return 3.0 * sum((-1.0) ** (n - 1) * (n - 2) / n * x ** (n - 3) for n in range(3, 15))
    return 3.0 / x**3 * (1.0 + x - 1.0 / (1.0 + x) - 2.0 * math.log1p(x))


def osmotic_coefficient(
    model: str,
    concentrations: ArrayLike,
    z: ArrayLike,
    temperature: float,
    eps_r: float = 78.5,
    size: ArrayLike | None = None,
) -> float:
    """Osmotic coefficient φ of a solution, consistent with an activity model.

    The osmotic pressure of the solution is Π = φ R T Σ_i c_i (every
    solute, neutral and impermeant ones included). Every model here has
    ln γ_i = -α z_i² h_i(I) (α = A ln 10, I in mol/L), so the Gibbs–Duhem
    relation along the dilution path gives

        (φ - 1) c_tot = -α Σ_i (c_i z_i² / I) K_i(I),   K_i(I) = ∫_0^I s h_i'(s) ds,

    with c_tot = Σ_i c_i, all in mol/L. In closed form, with b_i = B a_i
    (0 without an ion size) and x_i = b_i √I,

        debye-huckel, extended-debye-huckel:  K_i = I^(3/2) σ(x_i) / 3
        davies (b = 1, plus its linear term): K   = I^(3/2) σ(√I) / 3 - 0.15 I²

    σ(x) = 3/x³ [1 + x - 1/(1 + x) - 2 ln(1 + x)] (σ(0) = 1). For a single
    salt this is the textbook φ - 1 = -(α |z+ z-| √I / 3) σ(B a √I); the
    limiting law gives φ = 1 - α √I / 3 for a 1:1 salt. Davies gives
    0.934 for 150 mM NaCl at 25 °C and 0.933 at 37 °C (εr 74.2); measured
    NaCl is 0.93. An extended Debye–Hückel mixture of ions of different
    sizes is not exactly consistent with any free energy: its path
    integral is used as it stands.

    Parameters
    ----------
    model : str
        One of `MODELS` ("ideal" gives 1).
    concentrations : array_like
        c_i [mol/m^3] of every solute, >= 0.
    z : array_like
        Valences, aligned with `concentrations`.
    temperature, eps_r, size
        As for :func:`log10_gamma` (``size`` only for extended Debye–Hückel).

    Returns
    -------
    float
        φ [-]; 1 for an empty solution.
    """
    c = np.asarray(concentrations, dtype=float) * constants.liter  # mol/L
    z = np.asarray(z, dtype=float)
    if c.shape != z.shape or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(
            f"concentrations must be finite, >= 0 and aligned with z, got {concentrations!r}"
        )
    _check_model(model)
    if model == "extended-debye-huckel":
        b = debye_huckel_b(temperature, eps_r) * _ion_sizes(z, size)
    else:
        b = np.zeros(z.shape)
    alpha = _LN10 * debye_huckel_a(temperature, eps_r)  # validates temperature and eps_r
    strength = 0.5 * float(np.sum(z * z * c))
    total = float(c.sum())
    if model == "ideal" or strength == 0.0 or total == 0.0:
        return 1.0
    root = math.sqrt(strength)
    if model == "davies":
        linear = 0.5 * DAVIES_LINEAR * strength**2
        k = np.full(z.shape, strength * root * _sigma(root) / 3.0 - linear)
    else:
        k = np.array([strength * root * _sigma(bi * root) / 3.0 for bi in b])
    excess = -alpha * float(np.sum(c * z * z / strength * k))
    return 1.0 + excess / total
