"""Stage 3, solvers: Model + state -> converged state.

In: a :class:`~pnp.discretisation.model.Model` and an initial (or restart)
state. Out: the converged steady state, or the states of a transient at the
output times (``solver.py``: damped Newton, steady continuation, BDF2 with
adaptive steps). Failures raise :class:`~pnp.errors.SolverError`.
"""
