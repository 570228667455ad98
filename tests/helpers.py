"""Helpers shared by several test modules (pytest puts tests/ on sys.path).

- `load`: a shipped case of cases/ by name, with dotted overrides.
- `pnp_subprocess`: `python -m pnp ARGS` in a fresh interpreter importing this
  checkout's pnp (not whichever pnp is installed), warnings as errors;
  `pnp_popen` starts the same without waiting for it.
- `neuron_species`, `cytoplasm`, `membrane`, `bath`, `neuron_cell`: the
  K/Na/Cl/X cell (the flagship's 140/12/10/142 mM inside, 5/145/150 mM
  outside; a 5 nm membrane of P_K 1e-8, P_Na 5e-10, P_Cl 4.5e-9 m/s), as
  case dicts to build models from; each call returns fresh dicts.
- `osmotic_ode`: the osmotic volume ODE dV/dt = k (n/V - c_out) integrated by
  scipy (the reference for cell volume in time).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pnp

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"


def load(name, **overrides):
    return pnp.load_case(CASES / f"{name}.toml", overrides=overrides or None)


def _pnp_env(path=(), env=None) -> dict:
    folders = [str(ROOT), *map(str, path), os.environ.get("PYTHONPATH")]
    path = os.pathsep.join(f for f in folders if f)  # an empty entry would add the cwd
    extra = env or {}
    return {
        **os.environ,
        "PYTHONPATH": path,
        "PYTHONWARNINGS": "error",
        "MPLBACKEND": "agg",
        **extra,
    }


def pnp_subprocess(*args, cwd=None, timeout=120, path=(), env=None) -> subprocess.CompletedProcess:
    """`python -m pnp ARGS`; `path`: more module folders, after this checkout;
    `env`: more environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "pnp", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=_pnp_env(path, env),
    )


def pnp_popen(*args, env=None, **kw) -> subprocess.Popen:
    """`python -m pnp ARGS` started, not waited for; `kw` as for `subprocess.Popen`."""
    return subprocess.Popen(
        [sys.executable, "-m", "pnp", *map(str, args)], env=_pnp_env(env=env), **kw
    )


_SPECIES = {
    "K": {"z": 1, "D": 1.96e-9},
    "Na": {"z": 1, "D": 1.33e-9},
    "Cl": {"z": -1, "D": 2.03e-9},
    "X": {"z": -1, "D": 1e-10},
}


def neuron_species(order=("K", "Na", "Cl", "X")) -> dict:
    return {name: dict(_SPECIES[name]) for name in order}


def cytoplasm(length: float) -> dict:
    return {
        "name": "cyt",
        "length": length,
        "eps_r": 80,
        "concentration": {"K": 140, "Na": 12, "Cl": 10, "X": 142},
    }


def bath(length: float) -> dict:
    return {
        "name": "bath",
        "length": length,
        "eps_r": 80,
        "concentration": {"K": 5, "Na": 145, "Cl": 150},
    }


def membrane() -> dict:
    return {
        "name": "mem",
        "membrane": True,
        "length": 5e-9,
        "eps_r": 2,
        "permeability": {"K": 1e-8, "Na": 5e-10, "Cl": 4.5e-9},
    }


def neuron_cell(inside="left", cyt_length=1e-6, bath_length=1e-6, **extra) -> dict:
    """The cell with its cytoplasm on the `inside` end (a wall there), the bath
    held at 0 V on the other; `extra` adds or replaces top-level entries."""
    regions = [cytoplasm(cyt_length), membrane(), bath(bath_length)]
    ends = [{"type": "wall"}, {"type": "reservoir", "potential": 0}]
    if inside == "right":
        regions.reverse()
        ends.reverse()
    data = {
        "title": "neuron cell",
        "temperature": 310.15,
        "inside": inside,
        "species": neuron_species(),
        "region": regions,
        "boundary": {"left": ends[0], "right": ends[1]},
    }
    data.update(extra)
    return data


def osmotic_ode(k: float, n: float, c_out: float, v0: float, t_span, method: str = "Radau"):
    """dV/dt = k (n/V - c_out) from V = ``v0`` at ``t_span[0]`` (k = A L_p RT,
    n the trapped osmoles), integrated by scipy's ``method`` to rtol 1e-12 (atol
    1e-15 v0): the dense solution, V(t) = ``sol(t)[0]``."""
    from scipy.integrate import solve_ivp

    return solve_ivp(
        lambda t, v: k * (n / v - c_out),
        t_span,
        [v0],
        method=method,
        rtol=1e-12,
        atol=1e-15 * v0,
        dense_output=True,
    ).sol


def charged_wall_toml(surface_charge: float, salt: float, length: str, title: str) -> str:
    """Case text: a wall of ``surface_charge`` [C/m^2] in NaCl of ``salt``
    [mM], a grounded reservoir ``length`` away (eps_r 78.5, 298.15 K)."""
    return f"""\
title = "{title}"
temperature = 298.15

[species.Na]
z = 1
D = 1.33e-9
[species.Cl]
z = -1
D = 2.03e-9

[[region]]
name = "bath"
length = "{length}"
eps_r = 78.5
concentration = {{ Na = {salt:g}, Cl = {salt:g} }}

[boundary.left]
type = "wall"
surface_charge = {surface_charge:g}

[boundary.right]
type = "reservoir"
potential = 0
"""


def pnp_cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``pnp ARGV`` run in this process."""
    from pnp.presentation.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def summary_rows(text: str) -> dict[str, str]:
    """The `label  value` rows of a `pnp run` summary or of `pnp info`."""
    import re

    rows = {}
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 2:
            rows[parts[0]] = parts[1]
    return rows


def neutral_diffusion_case(n_cells=40, length=1e-6, diffusivity=1e-9):
    """One neutral species diffusing between two held walls on a uniform mesh
    (its cosine modes are exact eigenvectors of the finite-volume Laplacian)."""
    return pnp.Case.from_dict(
        {
            "title": "neutral diffusion",
            "temperature": 298.15,
            "species": {"N": {"z": 0, "D": diffusivity}},
            "region": [{"name": "box", "length": length, "eps_r": 80, "concentration": {"N": 1.0}}],
            "boundary": {
                "left": {"type": "wall", "potential": 0},
                "right": {"type": "wall", "potential": 0},
            },
            "mesh": {"uniform_cells": n_cells},
            "run": {"mode": "transient", "t_end": 1e-4, "outputs": 1, "rtol": 1e-10, "atol": 1e-14},
        }
    )
