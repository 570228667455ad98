"""Error estimates of a transient's outputs: two comparison runs (``[run] error_estimate``).

Owns :func:`comparison_runs` and :class:`WithEstimates`. A transient's
error has a spatial part (the mesh) and a temporal part (the step-size
control). Neither comes for free from one run, so with
``[run] error_estimate = true`` two cheaper runs are made first, at the same
output times as the run itself:

* space: the run's mesh with its cells merged in pairs (twice as coarse).
  The scheme is second order, so the run's own spatial error is about a
  third of the difference (as for steady states); the difference itself is
  the estimate, about 3x the error.
* time: the run's mesh at 5x ``run.rtol``. The difference is the
  estimate. Were the global error proportional to the tolerance it would be
  4x the run's temporal error; it falls more slowly than rtol, so no
  fraction of it is safe. The comparison was at 10x rtol while the stepper
  was BDF2 alone; with orders up to 5 the error of the looser run grows
  faster than BDF2's (rtol^(k/(k+1))), and at 10x the estimate was up to
  17x the error of diffuse_charge (estimate / (space + time error)); at 5x
  it is 7.9x at most and never below the true error (1.10x at least;
  BDF2: 1.13-2.5x). tests/test_error_estimates.py measures it.

The estimate of each observable at each output is the sum of the two.
:class:`WithEstimates` hands them to the trackers with each output of the
run itself.
"""

from __future__ import annotations

import math

from ..discretisation import adapt
from .loop import Tracker, output_times

TEMPORAL_FACTOR = 1.0  # the estimate: this times the difference at LOOSER x rtol
LOOSER = 5.0


def coarsened(case, mesh):
    """``mesh`` with its cells merged in pairs in every region (a region with an odd
    number of cells keeps its last one; one of fewer than 8 cells is kept)."""
    return adapt.merge_pairs(case, mesh, min_cells=8)


def run_times(case, model, t_start: float = 0.0) -> list[float]:
    """Every output time of a transient of ``case`` on ``model`` (as the run loop makes them)."""
    from ..solvers.bdf import initial_step

    t_end = case.run.t_end
    stops = output_times(case, initial_step(model))
    events = {p.at for p in case.protocols if t_start < p.at <= t_end}
    return sorted({*(s for s in stops if t_start < s <= t_end), *events, t_end})


def comparison_runs(case, mesh, times: list[float]):
    """The two comparison results (space, time), their outputs at ``times``."""
    from .runner import run

    fixed = case.with_overrides({"run.outputs": list(times), "run.error_estimate": False})
    space = run(fixed, mesh=coarsened(case, mesh), adapt_mesh=False)
    looser = fixed.with_overrides({"run.rtol": min(LOOSER * case.run.rtol, 1e-2)})
    time = run(looser, mesh=mesh, adapt_mesh=False)
    return space, time


class WithEstimates(Tracker):
    """Pass every output on with the error estimates of the comparison runs at its time."""

    def __init__(self, inner: Tracker, space, time):
        self.inner = inner
        self.refs = [_by_time(space), _by_time(time)]

    def start(self, model):
        self.inner.start(model)

    def output(self, model, t, x, observables, errors=None):
        found = [ref.get(t) for ref in self.refs]
        if all(f is not None for f in found):
            space, time = found
            errors = {
                name: abs(value - space[name]) + TEMPORAL_FACTOR * abs(value - time[name])
                for name, value in observables.items()
                if name in space and name in time
            }
        self.inner.output(model, t, x, observables, errors=errors)

    def step(self, t, h, stats, x):
        self.inner.step(t, h, stats, x)

    def finish(self, status, message, stats):
        self.inner.finish(status, message, stats)

    def close(self):
        self.inner.close()


def _by_time(result) -> dict[float, dict[str, float]]:
    """Observables of each output of a comparison run, by output time (the last
    one at a time wins: the state just before a protocol change is the first)."""
    if result.status != "completed":
        return {}
    series = result.observables()
    out: dict[float, dict[str, float]] = {}
    for k, t in enumerate(result.t):
        if math.isfinite(t) and t not in out:
            out[float(t)] = {name: float(v[k]) for name, v in series.items()}
    return out
