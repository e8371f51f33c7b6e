"""Seeded Poisson input: independent Poisson spike trains on every AXON row.

Spike times are continuous (seconds); :func:`align` samples them at GCLK edges through the
:class:`~bioloop.encoder.Encoder` (a spike belongs to the first edge at or after it; repeats of
one axon in one cycle merge into one pulse, counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import validate as _v
from ..chip.config import K_AXONS
from ..encoder import ElectrodeMap, Encoder, EncoderConfig
from ..types import AxonFrames, SpikeEvents


def poisson_spikes(rate_hz: float, duration_s: float, n_clusters: int, seed: int | None) -> SpikeEvents:
    """Independent homogeneous Poisson trains, one per AXON row of ``n_clusters`` clusters.

    Parameters
    ----------
    rate_hz : float
        Rate of every train, Hz (0 to 10 kHz).
    duration_s : float
        Length, s (> 0).
    n_clusters : int
        Clusters; channel ``16 c + k`` drives AXON row ``k`` of cluster ``c``.
    seed : int or None
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    SpikeEvents
        Sorted times in ``[0, duration_s)``, labels ``"c<cluster>a<axon>"``.

    Raises
    ------
    TypeError, ValueError
        For values of the wrong type or out of range.

    Examples
    --------
    >>> ev = poisson_spikes(50.0, 2.0, 1, seed=0)
    >>> ev.n_channels, 1000 < len(ev) < 2200
    (16, True)
    """
    rate = _v.real("rate_hz", rate_hz, lo=0.0, hi=10e3)
    dur = _v.real("duration_s", duration_s, lo=0.0, lo_open=True, hi=1e5)
    nc = _v.integer("n_clusters", n_clusters, lo=1, hi=4096)
    if seed is not None:
        _v.integer("seed", seed, lo=0)
    rng = np.random.default_rng(seed)
    n_ch = nc * K_AXONS
    counts = rng.poisson(rate * dur, n_ch)
    times = rng.uniform(0.0, dur, counts.sum())
    chans = np.repeat(np.arange(n_ch), counts)
    order = np.argsort(times, kind="stable")
    labels = tuple(f"c{c}a{k}" for c in range(nc) for k in range(K_AXONS))
    return SpikeEvents(times[order], chans[order], labels, 0.0, dur)


@dataclass(frozen=True)
class Aligned:
    """AXON pulses from spikes, and the spikes merged into an earlier pulse of their cycle."""

    frames: AxonFrames
    merged: int
    n_cycles: int  #: cycles covering the spikes' segment: run the backends up to here


def align(events: SpikeEvents, gclk_hz: float) -> Aligned:
    """Sample spikes at GCLK edges through the encoder: cycle ``ceil((t - t_start) gclk_hz)``;
    repeats merge.

    Channel ``16 c + k`` becomes AXON row ``k`` of cluster ``c``.

    Parameters
    ----------
    events : SpikeEvents
        The spikes.
    gclk_hz : float
        The clock, 1 kHz to 50 kHz.

    Returns
    -------
    Aligned

    Examples
    --------
    >>> ev = SpikeEvents([0.0, 0.0012, 0.0015, 0.002], [0, 1, 1, 17], tuple("x" * 18), 0.0, 0.01)
    >>> a = align(ev, 1e3)
    >>> a.frames.cycles.tolist(), a.frames.cluster.tolist(), a.frames.axon.tolist(), a.merged
    ([0, 2, 2], [0, 0, 1], [0, 1, 1], 1)
    """
    if not isinstance(events, SpikeEvents):
        raise TypeError(f"events must be SpikeEvents, got {type(events).__name__}")
    f = _v.real("gclk_hz", gclk_hz, lo=1e3, hi=50e3)
    enc = Encoder(EncoderConfig(gclk_hz=f, t_start=events.t_start, t_stop=events.t_stop),
                  ElectrodeMap.default(events.n_channels))
    res = enc.encode(events)
    last = int(res.frames.cycles[-1]) + 1 if len(res.frames) else 0
    return Aligned(res.frames, int(res.dropped["merged"]), max(res.cycle_stop, last))
