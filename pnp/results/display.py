"""A value and its error estimate as text: ``-70.123 ± 0.004 mV``.

Used by the ``pnp run`` summary (:mod:`pnp.presentation.report`) and by
``pnp info`` (:func:`pnp.results.reader.describe`). The estimate is shown to
one significant digit (two when that digit would be a 1, as in ``0.0014``)
and the value to the same decimal place, at least one and at most
:data:`MAX_DIGITS` significant digits. Without an estimate (None or NaN) the
value is shown to ``digits`` significant digits and nothing is added.
"""

from __future__ import annotations

import math

#: Most significant digits shown for a value with a tiny error estimate.
MAX_DIGITS = 12


def _tidy(text: str) -> str:
    """Drop the point that ``#`` formatting leaves before an exponent or at the end."""
    return text.replace(".e", "e").rstrip(".") if "." in text else text


def _rounded_error(error: float) -> tuple[float, int]:
    """The estimate rounded to 1 significant digit (2 if it begins with 1), and that count."""
    two, one = float(f"{error:.1e}"), float(f"{error:.0e}")
    if not math.isfinite(one):  # near the largest float, rounding up overflows
        return (two, 2) if math.isfinite(two) else (error, 2)
    if f"{two:.1e}".startswith("1"):
        return two, 2
    return one, 1


def with_error(value: float, error: float | None, unit: str = "", digits: int = 6) -> str:
    """``value ± error unit`` with as many digits as the estimate supports.

    Parameters
    ----------
    value : float
        The value, in the unit shown.
    error : float or None
        Its estimated absolute error in the same unit (non-negative); None or
        NaN: no estimate, nothing is added.
    unit : str
        Appended after a space ("" for none).
    digits : int
        Significant digits of a value shown without an estimate.
    """
    suffix = f" {unit}" if unit else ""
    plain = f"{value:.{digits}g}"
    if error is None or math.isnan(error):
        return plain + suffix
    if not math.isfinite(value):
        return f"{plain} ± {error:.1g}{suffix}"
    if math.isinf(error):
        return f"{plain} ± inf{suffix}"
    if error == 0:
        return f"{plain} ± 0{suffix}"
    error, shown = _rounded_error(error)
    last = math.floor(math.log10(error)) - (shown - 1)  # decimal exponent of its last digit
    if value != 0 and abs(value) >= 10.0**last:
        count = math.floor(math.log10(abs(value))) - last + 1
    else:
        count = 1
    count = min(max(count, 1), MAX_DIGITS)
    return f"{_tidy(f'{value:#.{count}g}')} ± {_tidy(f'{error:#.{shown}g}')}{suffix}"
