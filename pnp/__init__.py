"""pnp — Poisson–Nernst–Planck simulation of ions across neuronal membranes.

Public API (docs/interface.md, section "Python API")::

    case = pnp.load_case("cases/ghk.toml", overrides={...})
    result = pnp.run(case)
    pnp.load_result("out.h5"); pnp.analytic.nernst(...)

Submodules are imported lazily so that ``import pnp`` and ``pnp --help`` stay
fast and compile nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_case": ("pnp.case", "load_case"),
    "Case": ("pnp.case", "Case"),
    "run": ("pnp.runner", "run"),
    "Result": ("pnp.result", "Result"),
    "load_result": ("pnp.io", "load_result"),
    "CaseError": ("pnp.errors", "CaseError"),
    "PnpError": ("pnp.errors", "PnpError"),
    "ResultFileError": ("pnp.errors", "ResultFileError"),
    "SolverError": ("pnp.errors", "SolverError"),
    "build_mesh": ("pnp.mesh", "build_mesh"),
    "build_model": ("pnp.model", "build_model"),
    "SweepResult": ("pnp.sweep", "SweepResult"),
    "load_sweep": ("pnp.sweep", "load_sweep"),
}
# `sweep` is a callable module: pnp.sweep(case, params) runs a sweep.
_SUBMODULES = {"sweep", "plot", "activity", "report", "analytic", "case", "mesh", "model", "kernel", "solver", "observables", "io",
               "result", "runner", "cli", "errors"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"pnp.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'pnp' has no attribute {name!r}")


def __dir__():
    return __all__
