"""The pint-free fast path of unit conversion agrees with pint for every unit it knows."""

from __future__ import annotations

import pytest

from pnp.input import units


@pytest.mark.parametrize(("unit_text", "target"), sorted(units._COMMON))
def test_fast_path_equals_pint(unit_text, target):
    ureg = units.registry()
    for number in (1.0, 37.0, 5e-9, 140.0, -0.07, 1.96e-9):
        fast = units.to_si(f"{number} {unit_text}", target)
        exact = ureg.Quantity(number, ureg.parse_units(unit_text)).to(target).magnitude
        # the two paths multiply by the same factors in another order: measured 4.1e-16
        assert fast == pytest.approx(float(exact), rel=4e-15, abs=1e-300)


def test_fast_path_does_not_hide_wrong_dimensions():
    with pytest.raises(units.UnitParseError, match="expected a length"):
        units.to_si("5 mV", "m")
