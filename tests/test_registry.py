"""The observables registry: one table of names, units and descriptions."""

from __future__ import annotations

import h5py
import numpy as np

from pnp.results.result import Result


def _tiny_result(**extra) -> Result:
    """Two cells, one species, two output times; observables are arbitrary numbers."""
    n = 2
    return Result(
        temperature=300.0,
        geometry="cartesian",
        x=[0.25, 0.75],
        faces=[0.0, 0.5, 1.0],
        region=[0, 0],
        region_names=("bath",),
        species=("K",),
        z=[1],
        D=[1e-9],
        t=[0.0, 1.0],
        potential=np.zeros((n, 2)),
        concentration=np.ones((n, 1, 2)),
        membrane_potential=[0.1, 0.2],
        current=[1.0, 2.0],
        flux={"K": [3.0, 4.0]},
        surface_charge={"left": [5.0, 6.0], "right": [7.0, 8.0]},
        extra_observables=extra,
    )


def test_membrane_charge_is_written_in_coulomb_per_square_metre(tmp_path):
    # Documented [C/m^2] (README "Conventions", docs/interface.md); the file
    # used to store it with units "" because only prefixes were recognised.
    _tiny_result(membrane_charge=[1e-3, 2e-3]).save(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["observables/membrane_charge"].attrs["units"] == "C/m^2"
