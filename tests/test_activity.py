"""Activity coefficients: constants, models, limits, per-region values, case checks.

References are written out here (textbook numbers, or formulas from
scipy.constants) rather than taken from pnp.discretisation.activity. Tolerances:
- A and B against the tabulated 0.509 / 3.29e9 at 25 degC: the tables round
  to 3 digits, and differ by ~1e-3 relative among themselves (CODATA, the
  eps_r of water), so 1e-3 absolute on A and 0.005e9 on B.
- Davies at 0.15 M: the issue asks 1e-3 of the formula; the formula is
  evaluated here with the textbook A = 0.509.
- Limits I -> 0: the first omitted term, relative sqrt(I) (extended DH:
  B a sqrt(I); Davies: 1.3 sqrt(I)).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import constants

import pnp
from pnp import activity, analytic
from pnp.errors import CaseError
from pnp.input.case import Case
from pnp.presentation.cli import main

CASES = Path(__file__).resolve().parent.parent / "cases"
T_ROOM = 298.15  # 25 degC [K]
T_BODY = 310.15  # 37 degC [K]
EPS_WATER = 78.5  # water at 25 degC
MODELS_WITH_SIZE = {"model": "extended-debye-huckel", "size": 0.3e-9}


def davies_textbook(z: float, molar: float, a_const: float = 0.509) -> float:
    root = math.sqrt(molar)
    return 10.0 ** (-a_const * z * z * (root / (1.0 + root) - 0.3 * molar))


def molar_ionic_strength(concentration: dict[str, float], valences: dict[str, int]) -> float:
    """I = 1/2 sum z^2 c [mol/L], from concentrations in mol/m^3."""
    return 0.5 * sum(valences[n] ** 2 * c for n, c in concentration.items()) * constants.liter


def textbook_gamma(
    model: str, z: int, molar: float, temperature: float, eps_r: float, size: float | None = None
) -> float:
    """Activity coefficient from the textbook log10 forms, written out here.

    A and B come from the Debye–Hückel theory with scipy's constants only:
    B sqrt(I) = kappa, kappa^2 = 2 e^2 N_A I / (eps kT) (I in mol/m^3), and
    ln gamma = -z^2 e^2 kappa / (8 pi eps kT) gives A = e^2 B / (8 pi eps kT ln 10).
    """
    eps = constants.epsilon_0 * eps_r
    kT = constants.k * temperature
    b_const = math.sqrt(2.0 * constants.e**2 * constants.N_A / (constants.liter * eps * kT))
    a_const = constants.e**2 * b_const / (8.0 * math.pi * eps * kT * math.log(10.0))
    root = math.sqrt(molar)
    if model == "ideal":
        return 1.0
    if model == "debye-huckel":
        log10_gamma = -a_const * z * z * root
    elif model == "extended-debye-huckel":
        log10_gamma = -a_const * z * z * root / (1.0 + b_const * size * root) if z else 0.0
    elif model == "davies":
        log10_gamma = -a_const * z * z * (root / (1.0 + root) - 0.3 * molar)
    else:
        raise ValueError(model)
    return 10.0**log10_gamma


@pytest.mark.parametrize("model", ["debye-huckel", "extended-debye-huckel", "davies"])
@pytest.mark.parametrize("z", [1, -2, 3])
@pytest.mark.parametrize("molar", [1e-6, 0.025, 0.15, 0.5])
def test_models_match_the_textbook_formulas(model, z, molar):
    """The code's gamma against the formulas written out above: round-off only.

    Both evaluate the same closed form; measured 0 (bit-identical) on this grid,
    4.4e-16 in test_ln_gamma_by_region; allowed 1e-14 of ln gamma (~45 ulp).
    """
    size = 0.4e-9 if model == "extended-debye-huckel" else None
    gamma = analytic.activity_coefficient(
        model, z, molar / constants.liter, T_BODY, 74.2, size=size
    )
    expected = textbook_gamma(model, z, molar, T_BODY, 74.2, size)
    assert math.log(gamma) == pytest.approx(math.log(expected), rel=1e-14, abs=0)


# ---------------------------------------------------------------- constants


def test_debye_huckel_constants_match_the_tables_at_25_degC():
    assert activity.debye_huckel_a(T_ROOM, EPS_WATER) == pytest.approx(0.509, abs=1e-3)
    assert activity.debye_huckel_b(T_ROOM, EPS_WATER) == pytest.approx(3.29e9, abs=0.005e9)


def test_debye_huckel_constants_from_the_debye_length():
    # B sqrt(I) is the inverse Debye length; A follows from the limiting law
    # ln gamma = -z^2 e^2 kappa / (8 pi eps kT).
    molar = 0.1
    c = molar / constants.liter  # mol/m^3
    eps = constants.epsilon_0 * EPS_WATER
    kT = constants.k * T_ROOM
    kappa = math.sqrt(2.0 * constants.e**2 * constants.N_A * c / (eps * kT))
    b_const = activity.debye_huckel_b(T_ROOM, EPS_WATER)
    assert b_const * math.sqrt(molar) == pytest.approx(kappa, rel=1e-12)
    ln_gamma = -(constants.e**2) * kappa / (8.0 * math.pi * eps * kT)
    a_const = activity.debye_huckel_a(T_ROOM, EPS_WATER)
    # formula identities: round-off only (measured 0 and 2.2e-16)
    assert -a_const * math.log(10.0) * math.sqrt(molar) == pytest.approx(ln_gamma, rel=4e-15, abs=0)
    # and the Debye length of the analytic module, 0.1 M 1:1 (I = c)
    assert 1.0 / (b_const * math.sqrt(molar)) == pytest.approx(
        analytic.debye_length({"Na": c, "Cl": c}, {"Na": 1, "Cl": -1}, EPS_WATER, T_ROOM),
        rel=4e-15,
        abs=0,
    )


def test_constants_scale_with_permittivity_and_temperature():
    a0 = activity.debye_huckel_a(T_ROOM, EPS_WATER)
    b0 = activity.debye_huckel_b(T_ROOM, EPS_WATER)
    factor = (74.2 * T_BODY) / (EPS_WATER * T_ROOM)
    # round-off of the power laws: measured 4.3e-16 and 2.9e-16
    assert activity.debye_huckel_a(T_BODY, 74.2) == pytest.approx(
        a0 * factor**-1.5, rel=4e-15, abs=0
    )
    assert activity.debye_huckel_b(T_BODY, 74.2) == pytest.approx(
        b0 * factor**-0.5, rel=4e-15, abs=0
    )
    # water at 37 degC: tabulated A = 0.521-0.523 (eps_r 74.2-74.3)
    assert activity.debye_huckel_a(T_BODY, 74.2) == pytest.approx(0.522, abs=2e-3)


# ---------------------------------------------------------------- models


def test_davies_at_physiological_ionic_strength():
    gamma = analytic.activity_coefficient("davies", [1, -1, 2, -2], 150.0, T_ROOM)
    assert gamma[0] == pytest.approx(0.76, abs=1e-3)
    assert gamma[0] == pytest.approx(davies_textbook(1, 0.15), abs=1e-3)
    assert gamma[2] == pytest.approx(davies_textbook(2, 0.15), abs=1e-3)
    assert gamma[2] == pytest.approx(0.333, abs=1e-3)
    # only z^2 matters, and gamma(z=2) = gamma(z=1)^4
    assert gamma[1] == gamma[0] and gamma[3] == gamma[2]
    assert gamma[2] == pytest.approx(gamma[0] ** 4, rel=4e-15, abs=0)  # measured 1.7e-16


@pytest.mark.parametrize("z", [1, 2, 3])
@pytest.mark.parametrize("molar", [1e-8, 1e-6, 1e-4])
def test_models_tend_to_the_limiting_law(z, molar):
    strength = molar / constants.liter
    limiting = math.log(analytic.activity_coefficient("debye-huckel", z, strength, T_ROOM))
    assert limiting == pytest.approx(
        # ln of gamma ~ 1 - 1e-4 keeps fewer digits: measured 1.0e-13 (1e-8 M)
        -math.log(10.0) * activity.debye_huckel_a(T_ROOM) * z * z * math.sqrt(molar),
        rel=1e-12,
        abs=0,
    )
    davies = math.log(analytic.activity_coefficient("davies", z, strength, T_ROOM))
    extended = math.log(
        analytic.activity_coefficient("extended-debye-huckel", z, strength, T_ROOM, size=0.4e-9)
    )
    root = math.sqrt(molar)
    assert davies == pytest.approx(limiting, rel=1.3 * root * 1.01)
    assert davies != limiting
    b_a = activity.debye_huckel_b(T_ROOM) * 0.4e-9
    assert extended == pytest.approx(limiting, rel=b_a * root * 1.01)


def test_extended_debye_huckel_with_zero_size_is_the_limiting_law():
    z = np.array([1, -1, 2, -3])
    for strength in (0.0, 1.0, 150.0, 1000.0):
        extended = analytic.activity_coefficient(
            "extended-debye-huckel", z, strength, T_BODY, 74.2, size=0.0
        )
        limiting = analytic.activity_coefficient("debye-huckel", z, strength, T_BODY, 74.2)
        np.testing.assert_array_equal(extended, limiting)


def test_extended_debye_huckel_textbook_value():
    # K+ (a = 0.3 nm) at 0.1 M, 25 degC: log10 gamma = -0.509 sqrt(.1)/(1 + 3.29 * 0.3 sqrt(.1))
    expected = 10 ** (-0.509 * math.sqrt(0.1) / (1 + 3.29 * 0.3 * math.sqrt(0.1)))
    gamma = analytic.activity_coefficient("extended-debye-huckel", 1, 100.0, T_ROOM, size=0.3e-9)
    assert gamma == pytest.approx(expected, abs=1e-3)
    assert gamma == pytest.approx(0.754, abs=1e-3)


def test_ideal_neutral_and_zero_strength():
    assert analytic.activity_coefficient("ideal", 2, 150.0, T_ROOM) == 1.0
    for model, size in (("debye-huckel", None), ("davies", None), ("extended-debye-huckel", 3e-10)):
        assert analytic.activity_coefficient(model, 0, 150.0, T_ROOM, size=size) == 1.0
        assert analytic.activity_coefficient(model, 1, 0.0, T_ROOM, size=size) == 1.0
    # a neutral species needs no size
    gamma = analytic.activity_coefficient(
        "extended-debye-huckel", [0, 1], 150.0, T_ROOM, size=[float("nan"), 3e-10]
    )
    assert gamma[0] == 1.0 and gamma[1] < 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("davis", 1, 150.0, T_ROOM), {}, "unknown activity model"),
        (("davies", 1, -1.0, T_ROOM), {}, "ionic_strength"),
        (("davies", 1, 150.0, -1.0), {}, "temperature"),
        (("davies", 1, 150.0, T_ROOM), {"eps_r": 0.0}, "eps_r"),
        (("extended-debye-huckel", 1, 150.0, T_ROOM), {}, "ion size"),
        (("extended-debye-huckel", 1, 150.0, T_ROOM), {"size": -1e-10}, "ion size"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        analytic.activity_coefficient(*args, **kwargs)


def test_nernst_activity():
    c_in, c_out = 140.0, 5.0
    plain = analytic.nernst(c_in, c_out, 1, T_BODY)
    assert analytic.nernst_activity(c_in, c_out, 1, T_BODY, 0.8, 0.8) == pytest.approx(
        plain,
        rel=2e-15,
        abs=0,  # measured 0
    )
    shift = constants.R * T_BODY / analytic.FARADAY * math.log(0.9 / 0.75)
    assert analytic.nernst_activity(c_in, c_out, 1, T_BODY, 0.75, 0.9) == pytest.approx(
        plain + shift,
        rel=2e-15,
        abs=0,  # measured 1.7e-16
    )
    # divalent: half the shift
    assert analytic.nernst_activity(c_in, c_out, 2, T_BODY, 0.75, 0.9) - analytic.nernst(
        c_in, c_out, 2, T_BODY
    ) == pytest.approx(shift / 2, rel=2.5e-14, abs=0)  # a difference: measured 2.3e-15
    with pytest.raises(ValueError, match="positive"):
        analytic.nernst_activity(c_in, c_out, 1, T_BODY, 0.0, 0.9)


# ---------------------------------------------------------------- cases


def three_regions(activity_model: str, **species_extra) -> dict:
    species = {
        "K": {"z": 1, "D": 1.96e-9},
        "Ca": {"z": 2, "D": 0.79e-9},
        "Cl": {"z": -1, "D": 2.03e-9},
        "X": {"z": -1, "D": 1e-10},
        "G": {"z": 0, "D": 6e-10},  # a neutral solute
    }
    for name, extra in species_extra.items():
        species[name].update(extra)
    return {
        "temperature": "37 degC",
        "activity": activity_model,
        "species": species,
        "region": [
            {"name": "cytoplasm", "length": "1 um", "eps_r": 74.2,
             "concentration": {"K": 140, "Ca": 1, "Cl": 2, "X": 140, "G": 10}},
            {"name": "membrane", "membrane": True, "length": "5 nm", "eps_r": 2,
             "permeability": {"K": 1e-8}},
            {"name": "bath", "length": "1 um", "eps_r": 80,
             "concentration": {"K": 5, "Ca": 2, "Cl": 9}},
        ],
        "boundary": {"left": {"type": "wall", "surface_charge": 0},
                     "right": {"type": "reservoir", "potential": 0}},
    }  # fmt: skip


SIZES = {"K": {"size": "0.3 nm"}, "Ca": {"size": "0.6 nm"}, "Cl": {"size": 3e-10},
         "X": {"size": "0.5 nm"}}  # fmt: skip


def test_case_models_agree_with_the_schema():
    from pnp.input.schema import SCHEMA  # the loader's table of keys

    assert SCHEMA["activity"].choices == activity.MODELS


@pytest.mark.parametrize("model", activity.MODELS)
def test_ln_gamma_by_region(model):
    sizes = SIZES if model == "extended-debye-huckel" else {}
    case = Case.from_dict(three_regions(model, **sizes))
    assert case.activity == model
    ln_gamma = activity.ln_gamma_by_region(case)
    assert ln_gamma.shape == (3, 5)
    names = case.species_names
    z = [s.z for s in case.species]
    size = [case.species[i].size for i in range(len(names))]
    # region ionic strengths, X- included: 0.5 (140 + 4 + 2 + 140) and 0.5 (5 + 8 + 9) mM
    valences = dict(zip(names, z, strict=True))
    for row, strength, eps_r in ((0, 143.0, 74.2), (2, 11.0, 80.0)):
        molar = molar_ionic_strength(case.regions[row].concentration, valences)
        assert molar == pytest.approx(
            strength * constants.liter, rel=4 * np.finfo(float).eps, abs=0
        )
        for i in range(len(names)):
            expected = math.log(
                textbook_gamma(model, z[i], molar, case.temperature, eps_r, size[i])
            )
            # measured 4.4e-16 (2 ulp)
            assert ln_gamma[row, i] == pytest.approx(expected, rel=4e-15, abs=1e-300)
    assert np.all(ln_gamma[1] == 0.0)  # membrane: its barrier is its partition
    assert np.all(ln_gamma[:, names.index("G")] == 0.0)  # neutral
    if model == "ideal":
        assert np.all(ln_gamma == 0.0)
    else:
        # the concentrated cytoplasm screens more: lower gamma than the bath
        assert np.all(ln_gamma[0, :4] < ln_gamma[2, :4]) and np.all(ln_gamma[2, :4] < 0)
        k, ca = names.index("K"), names.index("Ca")
        if model == "debye-huckel":
            np.testing.assert_allclose(ln_gamma[:, ca], 4 * ln_gamma[:, k], rtol=1e-12)


def test_extended_debye_huckel_needs_sizes():
    with pytest.raises(CaseError, match=r"`species\.K\.size`") as info:
        Case.from_dict(three_regions("extended-debye-huckel"))
    assert "extended-debye-huckel" in str(info.value)
    assert info.value.key == "species.K.size"
    # one size missing: that species is named; the neutral G needs none
    partial = {name: value for name, value in SIZES.items() if name != "Cl"}
    with pytest.raises(CaseError, match=r"`species\.Cl\.size`"):
        Case.from_dict(three_regions("extended-debye-huckel", **partial))
    Case.from_dict(three_regions("extended-debye-huckel", **SIZES))  # complete: accepted
    # sizes are kept, in metres, and round-trip
    case = Case.from_dict(three_regions("davies", **SIZES))
    assert case.species[0].size == pytest.approx(0.3e-9)
    assert Case.from_dict(case.to_dict()) == case


def test_unknown_activity_model_names_the_choices():
    with pytest.raises(CaseError, match="extended-debye-huckel") as info:
        Case.from_dict(three_regions("debye"))
    assert info.value.key == "activity"


# ---------------------------------------------------------------- activity_ek.toml


def expected_activity_ek(case: Case) -> tuple[float, float, float]:
    """(gamma_in, gamma_out, activity-based E_K) of the activity_ek case.

    Independent of pnp: ionic strengths from the case's concentrations, Davies
    from `textbook_gamma`, and E_K = (RT/F) ln(gamma_out K_out / (gamma_in K_in)).
    """
    inside, outside = case.regions[0], case.regions[-1]
    z = {s.name: s.z for s in case.species}
    gammas = [
        textbook_gamma(
            "davies", z["K"], molar_ionic_strength(r.concentration, z), case.temperature, r.eps_r
        )
        for r in (inside, outside)
    ]
    v_t = constants.R * case.temperature / (constants.e * constants.N_A)
    e_k = v_t * math.log(
        gammas[1] * outside.concentration["K"] / (gammas[0] * inside.concentration["K"])
    )
    return gammas[0], gammas[1], e_k


def test_activity_ek_case_is_pinned(capsys):
    case = pnp.load_case(CASES / "activity_ek.toml")
    assert case.activity == "davies"
    gamma_in, gamma_out, e_k = expected_activity_ek(case)
    # the numbers the case file and README quote, to their printed digits
    assert gamma_in == pytest.approx(0.7537, abs=0.5e-4)
    assert gamma_out == pytest.approx(0.8562, abs=0.5e-4)
    assert e_k == pytest.approx(-85.653e-3, abs=0.0005e-3)
    v_t = constants.R * case.temperature / (constants.e * constants.N_A)
    plain = v_t * math.log(5.0 / 140.0)
    assert e_k - plain == pytest.approx(3.406e-3, abs=0.0005e-3)  # the activity correction
    # the [expect] value, written with 15 digits: measured equal to the last bit
    assert case.expect["membrane_potential"] == pytest.approx(e_k, rel=1e-14, abs=0)
    assert main(["check", str(CASES / "activity_ek.toml")]) == 0
    assert "davies" in capsys.readouterr().out


def test_activity_ek_simulated_membrane_potential():
    case = pnp.load_case(CASES / "activity_ek.toml")
    result = pnp.run(case, progress=False)
    assert result.status == "completed", result.message
    _, _, e_k = expected_activity_ek(case)
    # an equilibrium, exact in SG with the static ln gamma offsets: round-off
    # (measured 8.3e-17 V; README 6.9e-14 mV); 16 ulp of E_K allowed
    assert abs(result.membrane_potential[-1] - e_k) <= 16 * np.finfo(float).eps * abs(e_k)
