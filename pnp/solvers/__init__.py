"""Stage 3, solvers: Model + state -> converged state.

In: a :class:`~pnp.discretisation.model.Model` and an initial (or restart)
state. Out: the converged steady state (``steady.py``: direct Newton, else
pseudo-transient continuation), or a transient advanced one accepted step at
a time (``bdf.py``: the variable-step BDF2 stepper). ``newton.py`` holds the
damped Newton iteration they share, ``compartments.py`` the closed
compartments whose amounts are kept exact.
"""
