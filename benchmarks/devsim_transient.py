"""DEVSIM's transient on the blocking-electrode charging of ``cases/diffuse_charge.toml``.

Used by ``benchmarks/transient_peers.py`` (the one command); not run alone.

The physics is the case's: a 1:1 electrolyte (c0 = 10 mol/m^3, D = 1e-9 m^2/s
for both ions, eps_r = 80, T = 298.15 K) between two blocking walls 2L =
614 nm apart, both walls at 0 V until t0 = 10 ns, when the left one steps to
1 mV. DEVSIM solves it in scaled units (x in the Debye length lambda, psi in
V_T = kT/e, c in c0, t in lambda^2/D):

    Gauss:      sum over a node's edges of (psi_0 - psi_1)/h - V (c+ - c-)/2 = 0
    each ion:   sum over its edges of the Scharfetter-Gummel flux + V dc/dt = 0

on the nodes given (``transient_peers`` gives it pnp's cell faces: the same
resolution as pnp's mesh, not the same semi-discrete system: DEVSIM's boxes
are centred on the nodes, pnp's cells between them). Dirichlet potentials at
both contacts, no contact equation for the ions (zero flux). From the
equilibrium state (c = c0, psi = 0; ``transient_dc``), the left contact's
potential is stepped and the transient is integrated with DEVSIM's TR-BDF2
(``transient_tr`` over gamma h, then ``transient_bdf2`` to h, gamma = 2 -
sqrt 2; the L-stable second-order composite of DEVSIM's own examples) in
equal steps, ``n`` per output interval (DEVSIM chooses no step sizes itself;
every output interval of the case is the same length). The first step after
the jump is ``transient_bdf1`` (one Euler step of h), as DEVSIM's examples
start a transient from a changed bias: TR's first stage would take the
pre-jump rates, zero here.

The observable: the charge per area on the left electrode, sigma = eps E(0),
from Gauss's law on the first node's box: E(0) = (psi_0 - psi_1)/h_0 -
(h_0 / 2) (c+ - c-)_0 / 2 in scaled units, times eps V_T / lambda.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import numpy as np
from scipy import constants

GAMMA = 2.0 - math.sqrt(2.0)
# DEVSIM fails a transient solve whose charge differs from its projection by
# more than charge_error (relative; default 0: every step fails). The steps
# here are fixed, the accuracy is measured afterwards: no check.
NO_CHARGE_CHECK = 1e30


@contextlib.contextmanager
def quiet():
    """File descriptor 1 to /dev/null: DEVSIM reports every Newton iteration
    there whatever its debug_level, and the printing would be timed with it."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class Charging:
    """One DEVSIM device for the charging problem; ``run`` integrates it again."""

    def __init__(
        self, faces_m, c0, eps_r, temperature, d_ion, v_step, newton_rtol=1e-10, newton_atol=1e-12
    ):
        import devsim as ds
        from devsim_models import electrolyte_equations

        self.ds = ds
        self._equations = electrolyte_equations
        self.version = ds.__version__
        self.solver = ds.get_parameter(name="info").get("direct_solver")
        self.vt = constants.k * temperature / constants.e
        eps = eps_r * constants.epsilon_0
        self.lam = math.sqrt(eps * self.vt / (2.0 * constants.e * constants.N_A * c0))
        self.t_scale = self.lam**2 / d_ion
        self.sigma_scale = eps * self.vt / self.lam
        self.u_step = v_step / self.vt
        self.newton_rtol, self.newton_atol = newton_rtol, newton_atol
        self.dev, self.reg = "charging", "electrolyte"
        x = (np.asarray(faces_m) - faces_m[0]) / self.lam
        with quiet():
            self._build(x)
        self.h0 = x[1] - x[0]

    def _build(self, x):
        ds, dev, reg = self.ds, self.dev, self.reg
        ds.create_1d_mesh(mesh="line")
        for k, pos in enumerate(x):
            tag = "left" if k == 0 else ("right" if k == x.size - 1 else "")
            ds.add_1d_mesh_line(mesh="line", pos=float(pos), ps=1.0, tag=tag)
        ds.add_1d_contact(mesh="line", name="left", tag="left", material="metal")
        ds.add_1d_contact(mesh="line", name="right", tag="right", material="metal")
        ds.add_1d_region(mesh="line", material="water", region=reg, tag1="left", tag2="right")
        ds.finalize_mesh(mesh="line")
        ds.create_device(mesh="line", device=dev)
        self._equations(ds, dev, reg, transient=True)
        for side in ("left", "right"):
            ds.set_parameter(device=dev, name=f"{side}_potential", value=0.0)
            model = f"{side}Psi"
            ds.contact_node_model(
                device=dev, contact=side, name=model, equation=f"Potential - {side}_potential"
            )
            ds.contact_node_model(device=dev, contact=side, name=f"{model}:Potential", equation="1")
            ds.contact_equation(device=dev, contact=side, name="Gauss", node_model=model)

    def _solve(self, kind, tdelta=0.0):
        out = self.ds.solve(
            type=kind,
            absolute_error=self.newton_atol,
            relative_error=self.newton_rtol,
            maximum_iterations=30,
            tdelta=tdelta,
            charge_error=NO_CHARGE_CHECK,
            gamma=GAMMA if kind in ("transient_tr", "transient_bdf2") else 1.0,
            info=True,
        )
        if not out["converged"]:
            raise RuntimeError(f"DEVSIM {kind} did not converge (tdelta {tdelta:.3g})")
        return len(out["iterations"])

    def _values(self, name):
        return np.asarray(
            self.ds.get_node_model_values(device=self.dev, region=self.reg, name=name)
        )

    def charge(self) -> float:
        """sigma on the left electrode [C/m^2] (Gauss's law on the first box)."""
        psi, cp, cm = self._values("Potential"), self._values("Cation"), self._values("Anion")
        field = (psi[0] - psi[1]) / self.h0 - 0.5 * self.h0 * 0.5 * (cp[0] - cm[0])
        return float(field * self.sigma_scale)

    def run(self, t0, times, n_sub):
        """From equilibrium at t0 (left contact then stepped), ``n_sub`` equal
        steps per output interval: (charges at ``times``, stats, wall [s])."""
        ds, dev, reg = self.ds, self.dev, self.reg
        ds.set_parameter(device=dev, name="left_potential", value=0.0)
        ds.set_node_value(device=dev, region=reg, name="Potential", value=0.0)
        ds.set_node_value(device=dev, region=reg, name="Cation", value=1.0)
        ds.set_node_value(device=dev, region=reg, name="Anion", value=1.0)
        with quiet():
            start = time.perf_counter()
            charges, stats = self._steps(t0, times, n_sub)
            wall = time.perf_counter() - start
        return charges, stats, wall

    def _steps(self, t0, times, n_sub):
        ds, dev = self.ds, self.dev
        newton = self._solve("transient_dc")
        ds.set_parameter(device=dev, name="left_potential", value=self.u_step)
        charges, steps, t_prev, first = [], 0, t0, True
        for target in times:
            h = (target - t_prev) / self.t_scale / n_sub
            for _ in range(n_sub):
                if first:  # the step across the jump: backward Euler
                    newton += self._solve("transient_bdf1", h)
                    first = False
                else:
                    newton += self._solve("transient_tr", h)
                    newton += self._solve("transient_bdf2", h)
                steps += 1
            charges.append(self.charge())
            t_prev = target
        return np.array(charges), {"steps": steps, "newton_iterations": newton}
