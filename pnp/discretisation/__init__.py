"""Stage 2, discretisation: Case -> Mesh -> Model (flat arrays) -> residual and Jacobian.

In: a :class:`~pnp.input.case.Case`. Out: a ``Model`` whose flat arrays the
compiled kernel assembles into the residual and band Jacobian of the
finite-volume PNP system.

- ``mesh.py``: regions -> graded 1D mesh resolving the Debye layers.
- ``model.py``: Case + Mesh -> flat arrays (scaled units, boundary codes, pump).
- ``activity.py``: activity coefficients per region.
- ``kernel.py``: the numba kernel (imports nothing from pnp; cached on disk).
- ``reference.py``: a plain NumPy oracle of the kernel, for the tests.
"""
