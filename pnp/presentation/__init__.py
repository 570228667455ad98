"""Stage 6, presentation: results -> text, figures and the ``pnp`` command.

In: a Case, a Result or a result file. Out: the case check and run summary
(``report.py``), figures (``plot/``, public as ``pnp.plot``; matplotlib is
imported only when drawing) and the command line (``cli.py``, the ``pnp``
console script and ``python -m pnp``).
"""
