"""Parameter sweeps: grids of case overrides run on any executor.

Public interface: docs/interface.md, sections "Python API" and "Command line".

A sweep is one case and a few dotted keys, each with a list of values::

    import pnp
    from pnp.simulation.sweep import sweep, parse_spec

    case = pnp.load_case("cases/ghk_iv.toml")
    res = sweep(case, {"boundary.left.potential": parse_spec("-0.1:0.06:33")},
                out="results/ghk_iv_sweep")
    res.table["current"]            # one value per point [A/m^2]
    res.reversal_potential()        # zero crossing of the I-V curve [V]

or from the shell::

    pnp sweep cases/ghk_iv.toml --param boundary.left.potential=-0.1:0.06:33

SPEC is ``a:b:n`` (n values from a to b, inclusive), ``log:a:b:n`` (log
spaced) or a list ``v1,v2,...``; values may carry units (``"-100 mV:60 mV:17"``,
``"5 mM,10 mM"``). Several parameters make a Cartesian grid (the first one
varies slowest) or, with ``zip=True``, a path through equal-length lists;
``zip=["K,Cl"]`` zips only those keys into one axis of the grid. Every
point is ``case.with_overrides({...})`` and every point is validated before
anything runs: one bad key or value fails the whole sweep at once.

Output directory
----------------
``point_0000.h5``, ``point_0001.h5``, ...  one result file per point
                                           (docs/interface.md, "Result files")
``summary.csv``, ``summary.h5``            one row per point: index, parameter
                                           values (SI), status, message, the
                                           observables at the end of the run,
                                           then their error estimates
                                           (``<name>_error``, same unit; blank
                                           or NaN if none), solver work, wall
                                           time, case_sha256

Both summaries are rewritten (temporary file + ``os.replace``) each time a
point finishes, so an interrupted sweep keeps what it did; points not yet run
are listed with status "pending". ``resume=True`` (``--resume``) keeps every
point whose file is completed and holds the same resolved case (by the
SHA-256 of ``case.to_toml()``) and runs the others again: failed, missing,
damaged or computed from another case.

Ctrl-C (SIGINT) stops a sweep at once: no point starts after it, the
running points end at their next step and are saved as interrupted
(status "failed", message "interrupted"), queued points stay "pending",
and both summaries are rewritten with every point's status before
:class:`SweepInterrupted` (a KeyboardInterrupt) is raised; ``pnp sweep``
exits 130, within about a second. Resuming runs the interrupted and pending
points. Workers of the local pool ignore SIGINT: the sweep tells them
through a shared stop flag (:mod:`.pool`). On Dask or MPI, running points
cannot be stopped from the sweep and finish on their own.

Failures stay with their point: a solver failure (status "failed") or any
exception in the worker is recorded with its message and the sweep goes on.
If a worker process of the local pool dies (segfault, out of memory), the
points it took down are run again, alone if need be; one that kills its
worker twice is recorded as failed. ``pnp sweep`` exits 3 when any point
failed, after finishing all of them.

Executors
---------
Points are independent tasks for any ``concurrent.futures.Executor``. The
default is a local ``ProcessPoolExecutor`` with ``max_workers`` (``-j N``,
default: every core) workers started by *spawn*, running the module-level
function :func:`run_point`. Before fanning out, the sweep runs a tiny
version of the first point in the calling process (:func:`warm_up`): numba
compiles the kernels once and stores them in its on-disk cache, and every
worker loads the compiled code from there instead of compiling its own.
With one worker the points run in the calling process.

A Dask cluster: ``pnp sweep ... --scheduler tcp://HOST:8786`` connects a
``dask.distributed.Client`` to a running scheduler and submits through
``client.get_executor()``; ``--scheduler local`` starts a ``LocalCluster``
(``-j`` worker processes, one thread each) on this machine. From Python::

    from dask.distributed import Client
    with Client("tcp://HOST:8786") as client:
        res = sweep(case, params, executor=client.get_executor(), out=...)

Dask is an optional extra: ``pip install 'pnp[dask]'``.

On an HPC cluster
~~~~~~~~~~~~~~~~~
Workers write the point files themselves, so ``out`` must be on a file
system every node sees (home, project or scratch space), and pnp must be
installed in the same environment on every node. The numba cache lives
beside the installed package (or in ``NUMBA_CACHE_DIR``, which should then
also be shared): the warm-up in the submitting process fills it once.

* dask-jobqueue (workers as batch jobs)::

      from dask_jobqueue import SLURMCluster      # or PBSCluster, SGECluster, ...
      from dask.distributed import Client
      cluster = SLURMCluster(cores=32, processes=32, memory="64GB",
                             walltime="02:00:00")
      cluster.scale(jobs=4)                       # 128 worker processes
      with Client(cluster) as client:
          sweep(case, params, executor=client.get_executor(), out="/scratch/me/iv")

* by hand: start ``dask-scheduler`` on one node (it prints its address,
  ``tcp://NODE:8786``), ``dask-worker tcp://NODE:8786 --nworkers 32
  --nthreads 1`` on each compute node (e.g. ``srun dask-worker ...`` inside
  one allocation), then ``pnp sweep CASE --param ... --scheduler
  tcp://NODE:8786 -o /shared/dir``.

* MPI, with ``mpi4py.futures`` (rank 0 submits, the others work)::

      # sweep_mpi.py
      from mpi4py.futures import MPIPoolExecutor
      import pnp
      from pnp.simulation.sweep import sweep, parse_spec
      if __name__ == "__main__":
          case = pnp.load_case("cases/ghk_iv.toml")
          with MPIPoolExecutor() as pool:
              sweep(case, {"boundary.left.potential": parse_spec("-0.1:0.06:161")},
                    executor=pool, out="/scratch/me/iv")

  run as ``mpiexec -n 64 python -m mpi4py.futures sweep_mpi.py``.

Continuation
------------
``continuation=True`` (1D sweeps of steady cases: one parameter, or zipped
ones) runs the points one after another, each starting from the final state
of the last completed point before it (:func:`pnp.simulation.runner.restart_state`)
instead of the case's initial contents. Every point must have the same mesh.
The steady state reached is the same to within the solver tolerance.

The package, by step: :mod:`.spec` (SPECs, the grid, validation),
:mod:`.worker` (one point: :func:`run_point`, :func:`warm_up`, the case hash
that resume compares), :mod:`.pool` (executors, worker crashes, progress,
:func:`dask_executor`), :mod:`.summary` (:class:`SweepResult`, the summary
files, :func:`load_sweep`), :mod:`.roots` (:func:`zero_crossings`) and
:mod:`.api` (:func:`sweep`). The ``pnp sweep`` command is
:mod:`pnp.presentation.sweep_command`.
"""

from __future__ import annotations

from .api import SweepInterrupted, sweep
from .pool import dask_executor
from .roots import zero_crossings
from .spec import parse_param, parse_spec, point_overrides
from .summary import SweepResult, load_sweep
from .worker import run_point, warm_up

__all__ = [
    "SweepInterrupted",
    "SweepResult",
    "dask_executor",
    "load_sweep",
    "parse_param",
    "parse_spec",
    "point_overrides",
    "run_point",
    "sweep",
    "warm_up",
    "zero_crossings",
]
