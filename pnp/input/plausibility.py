"""Plausibility of the numbers of a case: values no cell has, most often a unit slip.

Owns the ranges outside which a value is suspicious and what is said about
it. A plain number is read in the key's SI unit, so ``temperature = 22``
is 22 K, ``potential = -70`` is -70 V and ``D = 1.96e-5`` (cm²/s copied
from a table) is 1.96e-5 m²/s. The loader (`pnp.input.reader.Reader`)
asks :func:`implausible` about every plain number it reads and warns with
the answer; a number written with its unit is taken as meant. The one
error is the temperature: outside its schema range (200–400 K) it is
refused however it is written (:func:`temperature_problem`), since no
aqueous cell is there and a case's resolved form (``Case.to_toml``, plain
kelvin) must load again.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MEMBRANE_MIN_THICKNESS",
    "PLAUSIBLE",
    "Plausible",
    "implausible",
    "rate_speed_problem",
    "slow_plain_rate",
    "temperature_problem",
    "thin_membrane",
]

#: A membrane thinner than this [m] is suspicious (a lipid bilayer is ~4 nm).
MEMBRANE_MIN_THICKNESS = 0.5e-9


@dataclass(frozen=True)
class Plausible:
    """Where the plain numbers of one schema key are believable.

    ``high``: |value| above it is suspicious; ``low``: a nonzero |value|
    below it is. ``what`` says why in a few words; ``example`` is the value
    written with a unit, as the user probably meant it.
    """

    what: str
    example: str
    high: float | None = None
    low: float | None = None

    def violated(self, number: float) -> bool:
        size = abs(number)
        return (self.high is not None and size > self.high) or (
            self.low is not None and 0.0 < size < self.low
        )


_CONCENTRATION = Plausible("above 10 M", '"150 mM"', high=1e4)
_DIFFUSIVITY = Plausible(
    "above 1e-7 m^2/s, ten times that of H+ in water", '"2e-5 cm^2/s"', high=1e-7
)

#: Schema key -> its believable plain numbers. Not listed: no check.
PLAUSIBLE: dict[str, Plausible] = {
    "species.<species>.D": _DIFFUSIVITY,
    "region.<region>.D.<species>": _DIFFUSIVITY,
    "species.<species>.size": Plausible("an ion size above 5 nm", '"0.45 nm"', high=5e-9),
    "region.<region>.length": Plausible("a region longer than 10 cm", '"5 um"', high=0.1),
    "region.<region>.eps_r": Plausible(
        "a relative permittivity above 1000 (water: 80)", "80", high=1000.0
    ),
    "region.<region>.capacitance": Plausible(
        "above 10 uF/cm^2 (cell membranes: about 1 uF/cm^2)", '"1 uF/cm^2"', high=0.1
    ),
    "region.<region>.concentration.<species>": _CONCENTRATION,
    "region.<region>.fixed_charge": _CONCENTRATION,
    "region.<region>.permeability.<species>": Plausible(
        "above 1 m/s, more than free diffusion across 2 nm of water", '"1e-6 cm/s"', high=1.0
    ),
    "region.<region>.barrier.<species>": Plausible(
        "below 100 J/mol, a small fraction of RT (2.6 kJ/mol)", '"12 kJ/mol"', low=100.0
    ),
    "region.<region>.water_permeability": Plausible(
        "above 1e-10 m/s/Pa, 100 times a membrane full of aquaporins",
        '"3e-14 m/s/Pa"',
        high=1e-10,
    ),
    "region.<region>.stiffness": Plausible(
        "above 10 MPa, stiffer than a plant cell wall's turgor", '"1 kPa"', high=1e7
    ),
    "boundary.<side>.potential": Plausible("beyond 1 V", '"-70 mV"', high=1.0),
    "boundary.<side>.surface_charge": Plausible(
        "beyond 1 C/m^2 (a lipid head group layer: about 0.3 C/m^2)", '"-20 mC/m^2"', high=1.0
    ),
    "channel.<channel>.permeability": Plausible(
        "above 1 m/s, more than free diffusion across 2 nm of water", '"3.3e-6 m/s"', high=1.0
    ),
    "stimulus.<stimulus>.current": Plausible(
        "beyond 100 A/m^2 (10 mA/cm^2; stimuli: about 10 uA/cm^2)", '"10 uA/cm^2"', high=100.0
    ),
    "pump.<pump>.K_Na": _CONCENTRATION,
    "pump.<pump>.K_K": _CONCENTRATION,
}


def implausible(schema_key: str, number: float, unit: str) -> str | None:
    """What is wrong with the plain number ``number`` of ``schema_key``, or None.

    ``unit`` is the key's SI unit ("-" for a dimensionless key).
    """
    check = PLAUSIBLE.get(schema_key)
    if check is None or not check.violated(number):
        return None
    if unit == "-":
        return f"{number:g} is {check.what}; is that meant?"
    return (
        f"{number:g} {unit} is {check.what}; a plain number is read in {unit}: "
        f"if another unit was meant, write it (e.g. {check.example})"
    )


def temperature_problem(kelvin: float, plain: bool, low: float, high: float) -> str | None:
    """Why ``kelvin`` is refused as a temperature (accepted: ``low`` to ``high``), or None.

    The range is the schema's (`pnp.input.schema`, key ``temperature``):
    body and laboratory temperatures with a wide margin.
    """
    if low <= kelvin <= high:
        return None
    message = f"{kelvin:g} K is outside {low:g}-{high:g} K"
    if not plain:
        return f"{message}, the temperatures pnp accepts"
    if kelvin < low:
        return (
            f'{message}; a plain number is in kelvin: for degrees Celsius write "{kelvin:g} degC"'
        )
    return f'{message}; a plain number is in kelvin (e.g. 310.15, or "37 degC")'


def thin_membrane(length: float) -> str | None:
    """What is wrong with a membrane ``length`` [m] given as a plain number, or None."""
    if length >= MEMBRANE_MIN_THICKNESS:
        return None
    return (
        f"{length:g} m is a membrane thinner than {MEMBRANE_MIN_THICKNESS * 1e9:g} nm (a lipid "
        "bilayer: about 4 nm); a plain number is read in m: if another unit was meant, write "
        'it (e.g. "5 nm")'
    )


#: Gate rates are judged over these membrane potentials [mV] (`rate_speed_problem`).
RATE_CHECK_RANGE = (-100.0, 50.0)
#: A gate rate faster than this anywhere in that range, or slower everywhere [1/s], is refused.
FASTEST_RATE = 1e9
SLOWEST_RATE = 1e-4


def _fastest(rate) -> float:
    """The largest value [1/s] of a `pnp.discretisation.gates.Rate` over `RATE_CHECK_RANGE`."""
    import numpy as np

    low, high = RATE_CHECK_RANGE
    with np.errstate(all="ignore"):
        values, _ = rate(np.linspace(low, high, 301))
    values = np.where(np.isnan(values), np.inf, values)
    return float(np.max(values)) * 1e3


def rate_speed_problem(rate) -> str | None:
    """Why a gate rate is refused, or None: a time constant 1/rate shorter than 1 ns
    at some potential from -100 to +50 mV, or longer than 1e4 s at all of them
    (a rate of 0, a gate that never moves that way, is allowed)."""
    if rate.rate == 0.0:
        return None
    fastest = _fastest(rate)
    low, high = RATE_CHECK_RANGE
    if fastest > FASTEST_RATE:
        return (
            f"reaches {fastest:.3g} /s between {low:g} and {high:g} mV, a time constant "
            f"shorter than {1 / FASTEST_RATE:g} s; rates must stay within {FASTEST_RATE:g} /s"
        )
    if fastest < SLOWEST_RATE:
        return (
            f"stays below {fastest:.3g} /s from {low:g} to {high:g} mV, a time constant longer "
            f"than {1 / SLOWEST_RATE:g} s everywhere; rates must reach {SLOWEST_RATE:g} /s"
        )
    return None


def slow_plain_rate(rate) -> bool:
    """A gate rate below 1 /s everywhere from -100 to +50 mV: likely 1/s written for 1/ms."""
    return rate.rate > 0.0 and _fastest(rate) < 1.0
