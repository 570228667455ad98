"""pnp — Poisson–Nernst–Planck simulation of ions across neuronal membranes.

Public API (docs/interface.md, section "Python API")::

    case = pnp.load_case("cases/ghk.toml", overrides={...})
    result = pnp.run(case)
    pnp.load_result("out.h5"); pnp.analytic.nernst(...)

The package follows the pipeline, one subpackage per stage:

- ``pnp.input``: case file -> :class:`~pnp.input.case.Case` (schema, units).
- ``pnp.discretisation``: Case -> Mesh -> Model (flat arrays) -> compiled
  residual and Jacobian (numba kernel, its NumPy reference, activity).
- ``pnp.solvers``: Model + state -> converged state (Newton, steady, BDF2).
- ``pnp.results``: state -> observables -> Result -> HDF5 file.
- ``pnp.simulation``: the run loop (``pnp.run``) and sweeps (``pnp.sweep``).
- ``pnp.presentation``: report, plots and the ``pnp`` command.

Beside them: ``pnp.constants`` (physical constants and tiny shared formulas),
``pnp.analytic`` (closed forms) and ``pnp.errors``.

Everything is imported lazily so that ``import pnp`` and ``pnp --help`` stay
fast and compile nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> (module, attribute), imported on first access.
_LAZY = {
    "load_case": ("pnp.input.case", "load_case"),
    "Case": ("pnp.input.case", "Case"),
    "run": ("pnp.simulation.runner", "run"),
    # pnp.sweep is the function: pnp.sweep(case, params) runs a sweep. Its
    # package is pnp.simulation.sweep, so importing that never rebinds the name.
    "sweep": ("pnp.simulation.sweep.api", "sweep"),
    "SweepResult": ("pnp.simulation.sweep.summary", "SweepResult"),
    "load_sweep": ("pnp.simulation.sweep.summary", "load_sweep"),
    "Result": ("pnp.results.result", "Result"),
    "load_result": ("pnp.results.reader", "load_result"),
    "CaseError": ("pnp.errors", "CaseError"),
    "PnpError": ("pnp.errors", "PnpError"),
    "ResultFileError": ("pnp.errors", "ResultFileError"),
    "SolverError": ("pnp.errors", "SolverError"),
    "build_mesh": ("pnp.discretisation.mesh", "build_mesh"),
    "build_model": ("pnp.discretisation.model", "build_model"),
}
# Public name -> module, imported on first access: the top-level modules, the
# pipeline stages, and the modules docs/interface.md names as entry points
# (pnp.plot for figures, pnp.activity for activity coefficients).
_SUBMODULES = {
    "analytic": "pnp.analytic",
    "constants": "pnp.constants",
    "errors": "pnp.errors",
    "input": "pnp.input",
    "discretisation": "pnp.discretisation",
    "solvers": "pnp.solvers",
    "results": "pnp.results",
    "simulation": "pnp.simulation",
    "presentation": "pnp.presentation",
    "plot": "pnp.presentation.plot",
    "activity": "pnp.discretisation.activity",
}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(_SUBMODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'pnp' has no attribute {name!r}")


def __dir__():
    return __all__
