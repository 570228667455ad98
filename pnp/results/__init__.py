"""Stage 4, results: converged states -> observables -> Result -> HDF5 file.

In: the model and the states the solvers return. Out: the per-time
observables (``observables.py``: membrane potential, fluxes, currents,
surface charges; their names, units and descriptions are the one table in
``registry.py``), the in-memory :class:`~pnp.results.result.Result`
(``result.py``), and result files: ``writer.py`` defines the HDF5 layout and
writes it as a run goes (crash-safe appends), ``reader.py`` loads and checks
a file (:func:`~pnp.results.reader.load_result`, ``pnp info``).
"""
