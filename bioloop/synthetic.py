"""A seeded synthetic bursting culture: spikes with the shape of a dissociated MEA culture.

Dissociated cortical and hippocampal cultures on multi-electrode arrays fire sparsely most of
the time and, every few seconds, in *network bursts*: within about 100 ms most electrodes are
recruited and fire at tens of Hz for a few hundred ms (Wagenaar et al., BMC Neurosci 7:11, 2006;
the shared TC89 and hiPSN recordings look the same). The model here is that, and no more:

- background: each electrode a Poisson process, rates log-normal around ``background_rate``;
- network bursts: onsets with gamma-distributed intervals (mean ``burst_interval``, shape 4:
  fairly regular, as in cultures); in each burst an electrode takes part with probability
  ``burst_recruitment``, starts after a delay uniform in ``[0, recruitment_window]`` and fires
  as a Poisson process at ``burst_rate`` for ``burst_duration`` x U(0.5, 1.5);
- a ``refractory`` period per electrode (a spike closer than this to the previous one of the
  same electrode is not generated).

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same
spikes, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import validate as _v
from .layouts import MCS60_LABELS
from .spiketools import apply_dead_time
from .types import SpikeEvents

DEMO_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class CultureParams:
    """Parameters of :func:`synthetic_culture` (rates in Hz, times in s)."""

    background_rate: float = 0.3
    burst_interval: float = 5.0
    burst_recruitment: float = 0.85
    recruitment_window: float = 0.1
    burst_rate: float = 60.0
    burst_duration: float = 0.2
    refractory: float = 2e-3

    def __post_init__(self):
        _v.real("background_rate", self.background_rate, lo=0.0, hi=1e3)
        _v.real("burst_interval", self.burst_interval, lo=0.05, lo_open=False)
        _v.real("burst_recruitment", self.burst_recruitment, lo=0.0, hi=1.0)
        _v.real("recruitment_window", self.recruitment_window, lo=0.0, hi=10.0)
        _v.real("burst_rate", self.burst_rate, lo=0.0, hi=1e3)
        _v.real("burst_duration", self.burst_duration, lo=0.0, hi=10.0)
        _v.real("refractory", self.refractory, lo=0.0, hi=0.1)


def electrode_labels(n_electrodes: int) -> tuple[str, ...]:
    """MCS labels for 60 electrodes, ``el00``... otherwise.

    Examples
    --------
    >>> electrode_labels(60)[:3], electrode_labels(3)
    (('12', '13', '14'), ('el00', 'el01', 'el02'))
    """
    if n_electrodes == 60:
        return MCS60_LABELS
    width = max(2, len(str(n_electrodes - 1)))
    return tuple(f"el{i:0{width}d}" for i in range(n_electrodes))


def burst_onsets(rng: np.random.Generator, duration: float, burst_interval: float) -> np.ndarray:
    """Network-burst onset times in ``[0, duration)``: gamma intervals (shape 4), mean given."""
    shape = 4.0
    onsets = []
    t = rng.uniform(0.0, burst_interval)
    while t < duration:
        onsets.append(t)
        t += rng.gamma(shape, burst_interval / shape)
    return np.asarray(onsets, np.float64)


def synthetic_culture(n_electrodes: int = 60, duration: float = 60.0, seed: int = 0,
                      params: CultureParams | None = None) -> SpikeEvents:
    """Spikes of a synthetic bursting culture, deterministic for a seed.

    Parameters
    ----------
    n_electrodes : int
        Electrodes (60 gives MCS 8x8 labels).
    duration : float
        Seconds; the segment is ``[0, duration]``.
    seed : int
        Seed of ``numpy.random.default_rng``.
    params : CultureParams, optional
        Rates and burst shape; defaults: 0.3 Hz background, a burst every 5 s on average,
        85 % of electrodes recruited within 100 ms, 60 Hz for about 200 ms inside a burst.

    Returns
    -------
    SpikeEvents
        Sorted by time (ties by channel).

    Raises
    ------
    TypeError, ValueError
        For parameters of the wrong type or out of range.

    Examples
    --------
    >>> ev = synthetic_culture(n_electrodes=16, duration=10.0, seed=1)
    >>> ev.n_channels, ev.t_stop, len(ev) == len(synthetic_culture(16, 10.0, seed=1))
    (16, 10.0, True)
    """
    n = _v.integer("n_electrodes", n_electrodes, lo=1, hi=100_000)
    dur = _v.real("duration", duration, lo=0.0, lo_open=True, hi=1e6)
    seed = _v.integer("seed", seed, lo=0)
    if params is None:
        params = CultureParams()
    if not isinstance(params, CultureParams):
        raise TypeError(f"params must be a CultureParams, got {type(params).__name__}")
    rng = np.random.default_rng(seed)
    sigma = 0.5
    rates = params.background_rate * np.exp(rng.normal(-sigma**2 / 2, sigma, n))
    per_el: list[list[np.ndarray]] = [[] for _ in range(n)]
    for i in range(n):
        k = rng.poisson(rates[i] * dur)
        per_el[i].append(rng.uniform(0.0, dur, k))
    for onset in burst_onsets(rng, dur, params.burst_interval):
        joins = rng.random(n) < params.burst_recruitment
        delays = rng.uniform(0.0, params.recruitment_window, n)
        lengths = params.burst_duration * rng.uniform(0.5, 1.5, n)
        counts = rng.poisson(params.burst_rate * lengths)
        for i in np.flatnonzero(joins):
            start = onset + delays[i]
            per_el[i].append(rng.uniform(start, start + lengths[i], counts[i]))
    times, chans = [], []
    for i in range(n):
        t = np.sort(np.concatenate(per_el[i]))
        t = apply_dead_time(t[t < dur], params.refractory)
        times.append(t)
        chans.append(np.full(t.size, i, np.int64))
    times = np.concatenate(times)
    chans = np.concatenate(chans)
    order = np.lexsort((chans, times))
    return SpikeEvents(times[order], chans[order], electrode_labels(n), 0.0, dur)


def write_demo_recording(path, *, n_electrodes: int = 32, duration: float = 60.0, seed: int = 0,
                         overwrite: bool = False) -> Path:
    """Write a synthetic culture as a Neo NIX file (one SpikeTrain per electrode).

    The default, 32 electrodes (two 16-axon clusters of the chip) for 60 s, stays under 1 MB:
    a NIX SpikeTrain costs about 20 kB of HDF5 structure whatever its length, so 60 electrodes
    would not fit.

    Parameters
    ----------
    path : str or Path
        Target ``.nix`` file.
    n_electrodes, duration, seed
        As in :func:`synthetic_culture`.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The written file; Neo's ``NixIO`` (and ``open_recording``) read it back.

    Raises
    ------
    ValueError
        If the file exists and ``overwrite`` is False, or its folder does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_demo_recording(pathlib.Path(tempfile.mkdtemp()) / "demo.nix")
    >>> p.stat().st_size < 1_000_000
    True
    """
    import neo  # Neo is needed only to write the file

    from .neoconv import spike_events_to_block

    if not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    p = Path(path)
    if p.exists() and not overwrite:
        raise ValueError(f"{p} exists; pass overwrite=True to replace it")
    if not p.parent.is_dir():
        raise ValueError(f"folder {p.parent} does not exist")
    params = CultureParams()
    ev = synthetic_culture(n_electrodes, duration, seed, params)
    ann = {"source": "bioloop.synthetic.synthetic_culture", "seed": int(seed),
           "n_electrodes": int(n_electrodes), "duration_s": float(duration),
           "params": ", ".join(f"{k}={v}" for k, v in params.__dict__.items())}
    blk = spike_events_to_block(ev, name="synthetic bursting culture", annotations=ann)
    io = neo.io.NixIO(str(p), mode="ow")
    try:
        io.write_block(blk)
    finally:
        io.close()
    return p
