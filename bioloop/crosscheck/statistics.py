"""Elephant statistics of two sets of FIRE trains, neuron by neuron.

Binned statistics use exact bin edges (``tolerance=None``): FIRE times sit on GCLK edges, and
Elephant's default would move every spike on a bin edge into the next bin with a log line.

Each of the ``C x 16`` neurons gives one Neo ``SpikeTrain`` per side (times in seconds, the
GCLK edge of the FIRE's cycle). Seven statistics, each summarised over the network in one
number whose meaning does not depend on the network's size:

==================  ================================================================  ========
name                value                                                              better
==================  ================================================================  ========
firing_rate         ``sum_n |r_a - r_b| / sum_n r_b``: relative L1 difference of the    lower
                    per-neuron mean firing rates (Elephant ``mean_firing_rate``)
cv_isi              mean ``|CV_a - CV_b|`` of the inter-spike intervals (Elephant       lower
                    ``isi``, ``cv``) over neurons with >= 3 spikes on both sides
van_rossum          ``sum_n D(a, b)^2 / sum_n (D(a, 0)^2 + D(b, 0)^2)`` with Elephant's  lower
                    van Rossum distance ``D``: the fraction of spikes not matched
                    within about ``tau`` (0 equal, 1 nothing in common)
victor_purpura      ``sum_n D_VP(a, b) / sum_n (n_a + n_b)``: Victor-Purpura cost per     lower
                    spike (0 equal, 1 nothing in common)
sttc                mean spike time tiling coefficient (Elephant) over neurons that     higher
                    fire on either side (a side without spikes counts 0)
correlation         mean Pearson correlation of the binned trains of each neuron       higher
                    (Elephant ``BinnedSpikeTrain``; the coefficient as Elephant's
                    ``correlation_coefficient`` computes it); a silent side counts 0
population_rate     RMS difference of the population rates (all neurons pooled,         lower
                    Elephant ``BinnedSpikeTrain`` with bins of ``bin_size``) divided
                    by the mean reference population rate
==================  ================================================================  ========

A statistic with nothing to compare (e.g. ``cv_isi`` when no neuron fires three times) has
value None and ``n = 0``. Time scales (:class:`MetricSettings`) default to multiples of the
GCLK period, the time unit of the chip's dynamics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import validate as _v
from ..chip.config import N_DENDS
from ..types import FireEvents

#: names in report order, and whether a higher value is better
METRICS = ("firing_rate", "cv_isi", "van_rossum", "victor_purpura", "sttc", "correlation",
           "population_rate")
HIGHER_IS_BETTER = frozenset({"sttc", "correlation"})


@dataclass(frozen=True)
class MetricSettings:
    """Time scales of the statistics, seconds (van Rossum tau, VP cost, STTC dt, bin width).

    Examples
    --------
    >>> s = MetricSettings.for_gclk(1e3)
    >>> s.van_rossum_tau, s.victor_purpura_cost, s.sttc_dt, s.bin_size
    (0.01, 100.0, 0.005, 0.01)
    """

    van_rossum_tau: float  #: s
    victor_purpura_cost: float  #: 1/s: cost of moving a spike by one second
    sttc_dt: float  #: s
    bin_size: float  #: s, for correlation and population rate

    def __post_init__(self):
        for name in ("van_rossum_tau", "victor_purpura_cost", "sttc_dt", "bin_size"):
            _v.real(name, getattr(self, name), lo=0.0, lo_open=True, hi=1e6)

    @classmethod
    def for_gclk(cls, gclk_hz: float, *, tau_cycles: float = 10.0, sttc_cycles: float = 5.0,
                 bin_cycles: float = 10.0) -> MetricSettings:
        """Scales in GCLK cycles: tau 10, VP cost 1 per 10 cycles, STTC dt 5, bins of 10."""
        f = _v.real("gclk_hz", gclk_hz, lo=1e3, hi=50e3)
        return cls(tau_cycles / f, f / tau_cycles, sttc_cycles / f, bin_cycles / f)

    def as_dict(self) -> dict:
        return {"van_rossum_tau_s": self.van_rossum_tau,
                "victor_purpura_cost_hz": self.victor_purpura_cost,
                "sttc_dt_s": self.sttc_dt, "bin_size_s": self.bin_size}


@dataclass(frozen=True)
class MetricValue:
    """One statistic: its network summary (None if nothing to compare) over ``n`` neurons."""

    value: float | None
    n: int


def spike_times(fires: FireEvents, n_neurons: int) -> list[np.ndarray]:
    """FIRE times (s) of each neuron ``16 * cluster + dend``, sorted.

    Examples
    --------
    >>> f = FireEvents([1, 2, 2], [0, 0, 1], [3, 3, 0], 1e3)
    >>> [t.tolist() for t in spike_times(f, 17)][3], spike_times(f, 17)[16].tolist()
    ([0.001, 0.002], [0.002])
    """
    if not isinstance(fires, FireEvents):
        raise TypeError(f"fires must be FireEvents, got {type(fires).__name__}")
    idx = fires.cluster * N_DENDS + fires.dend
    if idx.size and idx.max() >= n_neurons:
        raise ValueError(f"FIRE of neuron {int(idx.max())}; only {n_neurons} neurons compared")
    t = fires.times
    order = np.lexsort((t, idx))
    idx, t = idx[order], t[order]
    bounds = np.searchsorted(idx, np.arange(n_neurons + 1))
    return [t[bounds[i]:bounds[i + 1]] for i in range(n_neurons)]


def compare_trains(a: list[np.ndarray], b: list[np.ndarray], duration: float,
                   settings: MetricSettings) -> dict[str, MetricValue]:
    """The seven statistics of paired spike trains ``a`` (tested) and ``b`` (reference).

    Parameters
    ----------
    a, b : list of numpy.ndarray
        Spike times (s) per neuron, same length, all within ``[0, duration]``.
    duration : float
        Length of the compared segment, s (both sides start at 0).
    settings : MetricSettings

    Returns
    -------
    dict of str to MetricValue
        Keyed by :data:`METRICS`.

    Raises
    ------
    ValueError
        If ``a`` and ``b`` differ in length or a spike lies outside the segment.

    Examples
    --------
    >>> import numpy as np
    >>> tr = [np.array([0.1, 0.3, 0.35, 0.6]), np.array([])]
    >>> m = compare_trains(tr, tr, 1.0, MetricSettings.for_gclk(1e3))
    >>> m["van_rossum"].value, m["sttc"].value, m["firing_rate"].value
    (0.0, 1.0, 0.0)
    """
    import neo
    import quantities as pq
    from elephant import spike_train_correlation as corr
    from elephant import spike_train_dissimilarity as dis
    from elephant import statistics as st
    from elephant.conversion import BinnedSpikeTrain

    if len(a) != len(b):
        raise ValueError(f"{len(a)} trains against {len(b)}: both sides need one per neuron")
    dur = _v.real("duration", duration, lo=0.0, lo_open=True)
    for side, trains in (("tested", a), ("reference", b)):
        for i, t in enumerate(trains):
            if t.size and (t.min() < 0 or t.max() > dur):
                raise ValueError(f"{side} neuron {i} fires at {float(t.max()):g} s, outside the "
                                 f"segment [0, {dur:g}] s")

    def train(t, t_stop=dur):
        return neo.SpikeTrain(np.asarray(t, float) * pq.s, t_start=0 * pq.s, t_stop=t_stop * pq.s)

    # binned statistics cover whole bins: the last bin may reach past the segment's end
    n_bins = max(math.ceil(dur / settings.bin_size - 1e-9), 1)
    t_bins = n_bins * settings.bin_size

    out: dict[str, MetricValue] = {}
    n_neurons = len(a)
    ra = np.array([float(st.mean_firing_rate(train(t)).rescale(pq.Hz).magnitude) for t in a])
    rb = np.array([float(st.mean_firing_rate(train(t)).rescale(pq.Hz).magnitude) for t in b])
    out["firing_rate"] = MetricValue(_ratio(np.abs(ra - rb).sum(), rb.sum()), n_neurons)

    dcv = [abs(float(st.cv(st.isi(x))) - float(st.cv(st.isi(y))))
           for x, y in zip(a, b, strict=True) if x.size >= 3 and y.size >= 3]
    out["cv_isi"] = MetricValue(float(np.mean(dcv)) if dcv else None, len(dcv))

    active = [i for i in range(n_neurons) if a[i].size or b[i].size]
    vr_num = vr_den = vp_num = vp_den = 0.0
    sttc, rho = [], []
    # van Rossum in milliseconds: in seconds Elephant's sum of kernel products loses enough
    # precision to go slightly negative for close trains
    tau = (settings.van_rossum_tau * pq.s).rescale(pq.ms)
    empty_ms = train([]).rescale(pq.ms)
    for i in active:
        x, y = train(a[i]), train(b[i])
        same = np.array_equal(a[i], b[i])
        x_ms, y_ms = x.rescale(pq.ms), y.rescale(pq.ms)
        # each distance from its own call: a 3 x 3 matrix would also subtract the nearly
        # equal kernel sums of equal trains, which rounds slightly below zero
        if not same:
            vr_num += dis.van_rossum_distance([x_ms, y_ms], time_constant=tau)[0, 1] ** 2
        vr_den += (dis.van_rossum_distance([x_ms, empty_ms], time_constant=tau)[0, 1] ** 2
                   + dis.van_rossum_distance([y_ms, empty_ms], time_constant=tau)[0, 1] ** 2)
        if not same:
            vp_num += float(dis.victor_purpura_distance(
                [x, y], cost_factor=settings.victor_purpura_cost * pq.Hz)[0, 1])
        vp_den += a[i].size + b[i].size
        if a[i].size and b[i].size:
            sttc.append(float(corr.spike_time_tiling_coefficient(x, y, dt=settings.sttc_dt * pq.s)))
            binned = BinnedSpikeTrain([train(a[i], t_bins), train(b[i], t_bins)],
                                      bin_size=settings.bin_size * pq.s, tolerance=None)
            rho.append(_binned_correlation(binned))
        else:
            sttc.append(0.0)
            rho.append(0.0)
    out["van_rossum"] = MetricValue(_ratio(vr_num, vr_den) if active else None, len(active))
    out["victor_purpura"] = MetricValue(_ratio(vp_num, vp_den) if active else None, len(active))
    out["sttc"] = MetricValue(float(np.mean(sttc)) if active else None, len(active))
    out["correlation"] = MetricValue(float(np.mean(rho)) if active else None, len(active))

    all_a = np.concatenate(a) if n_neurons else np.zeros(0)
    all_b = np.concatenate(b) if n_neurons else np.zeros(0)
    pa = _population_rate(train(np.sort(all_a), t_bins), settings.bin_size, n_neurons)
    pb = _population_rate(train(np.sort(all_b), t_bins), settings.bin_size, n_neurons)
    rms = float(np.sqrt(np.mean((pa - pb) ** 2))) if pa.size else 0.0
    out["population_rate"] = MetricValue(_ratio(rms, float(pb.mean()) if pb.size else 0.0),
                                         n_neurons)
    return out


def _ratio(num: float, den: float) -> float:
    """num / den, with 0 / 0 = 0 (nothing on either side) and x / 0 = inf."""
    if den == 0:
        return 0.0 if num == 0 else math.inf
    return float(num / den)


def _binned_correlation(binned) -> float:
    """Pearson correlation of the two rows of an Elephant BinnedSpikeTrain.

    This is Elephant's ``correlation_coefficient`` dense path (``np.corrcoef`` of the binned
    counts), taken always: its sparse path goes through ``numpy.matrix``, which numpy
    deprecates.
    """
    counts = binned.to_array()
    same = np.array_equal(counts[0], counts[1])
    if counts[0].std() == 0 or counts[1].std() == 0:
        # a constant train (e.g. a spike in every bin) has no correlation: equal ones agree
        return 1.0 if same else 0.0
    return float(np.corrcoef(counts)[0, 1])


def _population_rate(train, bin_size: float, n_neurons: int) -> np.ndarray:
    """Mean rate per neuron (Hz) in each bin of the pooled train."""
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain

    counts = BinnedSpikeTrain(train, bin_size=bin_size * pq.s, tolerance=None).to_array()[0]
    return counts / bin_size / max(n_neurons, 1)
