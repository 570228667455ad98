"""Spikes in a membrane potential trace: when V_m crosses a level upward, and how often.

A spike is an upward crossing of ``level`` (0 V by default) by V_m between
two outputs, placed by linear interpolation between them; the firing rate
is (n - 1) / (t_n - t_1) over the spikes after the first ``skip`` (the
first interval includes the latency from the stimulus onset). Used by the
sweep summary of a case with voltage-gated channels (columns ``spikes`` and
``firing_rate``, an f-I curve) and by ``Result.spike_times``.
"""

from __future__ import annotations

import math

import numpy as np


def spike_times(t: np.ndarray, v: np.ndarray, level: float = 0.0) -> np.ndarray:
    """Times [s] where ``v`` [V] crosses ``level`` upward, linear between samples."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    finite = np.isfinite(t) & np.isfinite(v)
    t, v = t[finite], v[finite]
    k = np.nonzero((v[:-1] < level) & (v[1:] >= level))[0]
    return t[k] + (level - v[k]) * (t[k + 1] - t[k]) / (v[k + 1] - v[k])


def firing_rate(times: np.ndarray, skip: int = 1) -> float:
    """Spikes per second from the spikes after the first ``skip``; NaN with fewer than two."""
    times = np.asarray(times, dtype=float)[skip:]
    if times.size < 2:
        return math.nan
    return float((times.size - 1) / (times[-1] - times[0]))


def spike_summary(t: np.ndarray, v: np.ndarray, level: float = 0.0) -> dict[str, float]:
    """``spikes`` (count) and ``firing_rate`` [1/s] of a V_m trace (steady results: none)."""
    t = np.asarray(t, dtype=float)
    if t.size < 2 or not np.all(np.isfinite(t)):
        return {}
    times = spike_times(t, v, level)
    return {"spikes": float(times.size), "firing_rate": firing_rate(times)}
