"""The closed form a case's ``[expect]`` names, as a curve over its profile.

Of the expectations (:mod:`pnp.presentation.expectations`), one is a
profile: ``potential_profile = "gouy-chapman"``, the potential of the
diffuse layer beside a wall held at a potential. When a result's case names
it and its premises hold at the last output (the same check as the run
summary's ``[expect]`` table), :func:`potential_closed_form` gives the curve
to draw dashed over φ, labelled "closed form".
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .common import _case_dict, _region_extents, _validated_case

if TYPE_CHECKING:
    from pnp.results.result import Result

POINTS = 400  # samples of a closed-form curve, spaced geometrically from the wall


def _case(result: Result):
    """The result's case as a validated Case (None without one, or unreadable)."""
    # {} when absent or unreadable (deeply nested, damaged)
    return _validated_case(_case_dict(result))


def potential_closed_form(result: Result) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(name, positions [m], φ [V]) of the closed form to overlay, or None.

    None when the case names no profile, or the profile's premises do not
    hold (then the run summary says why).
    """
    from pnp.errors import CaseError
    from pnp.presentation.expectations import case_at_end, expectations, gouy_chapman_reference

    case = _case(result)
    if case is None or case.expect.get("potential_profile") != "gouy-chapman":
        return None
    if result.t.size == 0:
        return None
    only = dataclasses.replace(case, expect={"potential_profile": "gouy-chapman"})
    try:
        rows = expectations(only, result)
        if not rows or not all(row["applicable"] for row in rows):
            return None
        final = case_at_end(case, result)
        side = "left" if final.left.type == "wall" and final.left.potential is not None else "right"
        extents = _region_extents(result)
        first, stop = extents[0] if side == "left" else extents[-1]
        start, end = float(result.faces[first]), float(result.faces[stop])
        length = end - start
        distance = np.concatenate([[0.0], np.geomspace(length * 1e-5, length, POINTS)])
        x = start + distance if side == "left" else end - distance
        phi, _ = gouy_chapman_reference(final, x - start)
    except (CaseError, ValueError, TypeError, IndexError):
        return None
    order = np.argsort(x)
    return "Gouy–Chapman", x[order], np.asarray(phi, dtype=float)[order]
