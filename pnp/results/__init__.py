"""Stage 4, results: state -> observables -> Result -> HDF5 file.

In: solver states and their Model. Out: the scalar observables
(``observables.py``: potentials, currents, charges), the in-memory
:class:`~pnp.results.result.Result` (``result.py``) and the result file
(``io.py``: writing, reading with h5py only, ``describe``).
"""
