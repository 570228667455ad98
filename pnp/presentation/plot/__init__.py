"""Figures of results and sweeps (matplotlib), public as ``pnp.plot``.

Four kinds of figure, the ``--kind`` choices of ``pnp plot``:

``profiles``
    φ (to the boundary faces) and every concentration against position at
    chosen output times, with one zoomed panel per membrane and per charged
    wall, in distance from it, so that the Debye layers are visible; the
    closed form when ``[expect]`` names one.
``traces``
    Membrane potential, currents and per-species fluxes against time, with
    the protocol steps labelled.
``iv``
    Current against clamp voltage from a sweep summary, per-species currents,
    the reversal potential and, optionally, the analytic GHK curve. Only a
    sweep of a clamp voltage has one.
``sweep``
    Any summary column against any parameter, one line per value of a second
    parameter.

Every function returns the figure and saves it when given ``path``.
:func:`plot_file` is what ``pnp plot`` and ``pnp run`` call: it reads a
result file or a sweep directory and writes a PNG.

Units on the axes are chosen for reading, not SI: positions in nm or µm,
potentials in mV, concentrations in mM (= mol/m^3), currents and fluxes with
an SI prefix picked from their size (``mA/m²``, ``µmol/m²/s``).

matplotlib is imported inside the functions, so ``import pnp.presentation.plot``
costs nothing. The public functions create figures through pyplot (they show
in Jupyter and with ``plt.show()``), choosing the Agg backend when there is no
display; :func:`plot_file` uses a bare ``Figure`` that pyplot never tracks, so
a long sweep or CLI run does not accumulate open figures.

Modules, one per seam: ``common`` (pyplot, units, titles, parameter labels,
a result's regions, membranes, charged walls and zoom windows),
``face_values`` (φ at the domain ends and region interfaces),
``closed_form`` (the ``[expect]`` profile to overlay), ``profile_figure``,
``trace_figure``, ``summary`` (sweep summaries as columns), ``iv_figure``
(with the reversal potential and the GHK reference), ``sweep_figure`` and
``files`` (:func:`plot_file`). Their names differ from the functions' so that
``pnp.plot.sweep`` and the others are always the functions.
"""

from __future__ import annotations

from .common import ZOOM_DEBYE_LENGTHS as ZOOM_DEBYE_LENGTHS
from .files import KINDS as KINDS
from .files import plot_file
from .iv_figure import iv, reversal_potential
from .profile_figure import PROFILE_TIMES as PROFILE_TIMES
from .profile_figure import profiles
from .sweep_figure import sweep
from .trace_figure import traces

__all__ = ["iv", "plot_file", "profiles", "reversal_potential", "sweep", "traces"]
