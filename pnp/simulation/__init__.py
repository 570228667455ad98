"""Stage 5, simulation: the run loop and sweeps, tying stages 1-4 together.

In: a :class:`~pnp.input.case.Case` (and, for a sweep, dotted overrides).
Out: a :class:`~pnp.results.result.Result` (``runner.py``: ``pnp.run`` and
restarts; ``loop.py``: the one loop driving the solvers, reporting through
the trackers of ``trackers.py``: result, file, progress bar, interrupt) or a
sweep summary over many runs (``sweep/``: ``pnp.sweep``, any
``concurrent.futures.Executor``, resuming).
"""
