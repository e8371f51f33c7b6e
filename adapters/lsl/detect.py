"""Online threshold detection of spikes in a multi-channel voltage stream.

Per channel, the noise level is the robust estimate ``sigma = median(|x - median(x)|) / 0.6745``
(the median absolute deviation scaled to a Gaussian's standard deviation, Quiroga et al. 2004;
:func:`bioloop.spiketools.robust_noise`, the one estimate offline detection uses too) over a
running window of the most recent samples, refreshed every ``update`` seconds. A spike is a
threshold crossing: the first sample of a run beyond ``threshold * sigma`` from the window's
median, in the chosen polarity (the crossing rule of Elephant's ``threshold_detection``, which
offline detection uses). Crossings closer than ``dead_time`` to the channel's last kept spike
are suppressed (and counted) by :func:`bioloop.spiketools.dead_time_mask`, the same rule offline
detection applies, so both find the same spikes in the same signal once the noise estimates
agree. Detection starts once the window holds ``warmup`` seconds of samples. NaN values are
counted, never cross, and do not enter the noise estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bioloop import validate as _v
from bioloop.spiketools import dead_time_mask, robust_noise

POLARITIES = ("negative", "positive", "both")
ESTIMATE_SAMPLES = 4096  #: samples per channel the noise estimate uses at most (strided)


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of :class:`ThresholdDetector`.

    Parameters
    ----------
    threshold : float
        Crossing level in units of the robust noise sigma (typically 4..6).
    polarity : str
        ``"negative"`` (extracellular spikes, the default), ``"positive"`` or ``"both"``.
    dead_time : float
        Seconds after a spike during which the same channel cannot spike again.
    window : float
        Seconds of recent samples the noise estimate looks at.
    update : float
        Seconds between noise-estimate refreshes.
    warmup : float
        Seconds of samples needed before the first detection (at most ``window``).
    """

    threshold: float = 5.0
    polarity: str = "negative"
    dead_time: float = 1e-3
    window: float = 1.0
    update: float = 0.25
    warmup: float = 0.25

    def __post_init__(self):
        _v.real("threshold", self.threshold, lo=0.0, lo_open=True)
        _v.choice("polarity", self.polarity, POLARITIES)
        _v.real("dead_time", self.dead_time, lo=0.0)
        _v.real("window", self.window, lo=0.0, lo_open=True)
        _v.real("update", self.update, lo=0.0, lo_open=True)
        _v.real("warmup", self.warmup, lo=0.0, lo_open=True, hi=self.window)


@dataclass
class Detections:
    """What one :meth:`ThresholdDetector.process` call found and what it set aside."""

    times: np.ndarray  #: spike times (s), sorted
    channels: np.ndarray  #: channel of each spike
    crossings: int = 0  #: threshold crossings seen (spikes + suppressed)
    suppressed: dict = field(default_factory=dict)  #: crossings not passed on, by reason
    nan_values: int = 0  #: NaN channel-values ignored
    warmup_samples: int = 0  #: samples seen before detection could start


class ThresholdDetector:
    """Streaming threshold-crossing detector; feed it chunks in time order.

    Parameters
    ----------
    n_channels : int
        Channels per sample.
    srate : float
        Sampling rate, Hz.
    config : DetectorConfig
        Threshold, polarity, dead time, noise window.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 1, (4000, 2)); x[3000, 1] = -12
    >>> det = ThresholdDetector(2, 1000.0, DetectorConfig(threshold=6))
    >>> out = det.process(x, np.arange(4000) / 1000.0)
    >>> out.times.tolist(), out.channels.tolist()
    ([3.0], [1])
    """

    def __init__(self, n_channels: int, srate: float, config: DetectorConfig | None = None):
        self.n_channels = _v.integer("n_channels", n_channels, lo=1)
        self.srate = _v.real("srate", srate, lo=0.0, lo_open=True)
        self.config = DetectorConfig() if config is None else config
        if not isinstance(self.config, DetectorConfig):
            raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
        cfg = self.config
        self._win = max(8, int(round(cfg.window * self.srate)))
        self._warm = max(8, min(self._win, int(round(cfg.warmup * self.srate))))
        self._every = max(1, int(round(cfg.update * self.srate)))
        self._buf = np.zeros((self._win, n_channels), np.float32)
        self._fill = 0
        self._pos = 0
        self._since_update = 0
        self.center = np.full(n_channels, np.nan)
        self.sigma = np.full(n_channels, np.nan)
        self._prev_beyond = np.zeros(n_channels, bool)
        self._last_spike = np.full(n_channels, -np.inf)

    @property
    def ready(self) -> bool:
        """Whether a noise estimate exists (the warm-up is over)."""
        return bool(np.isfinite(self.sigma).any())

    def _update_noise(self) -> None:
        window = self._buf[: self._fill] if self._fill < self._win else self._buf
        # a strided subset keeps the refresh cheap; the MAD of 4096 Gaussian samples is within
        # about 2 % (1 s.d.) of the full window's
        window = window[:: max(1, window.shape[0] // ESTIMATE_SAMPLES)]
        self.center, self.sigma = robust_noise(window, axis=0)
        self._since_update = 0

    def _remember(self, x: np.ndarray) -> None:
        """Append samples to the ring buffer (NaN replaced by the channel's centre)."""
        n = x.shape[0]
        if n >= self._win:
            self._buf[:] = x[-self._win:]
            self._pos = 0
            self._fill = self._win
            return
        end = self._pos + n
        if end <= self._win:
            self._buf[self._pos:end] = x
        else:
            k = self._win - self._pos
            self._buf[self._pos:] = x[:k]
            self._buf[: n - k] = x[k:]
        self._pos = end % self._win
        self._fill = min(self._win, self._fill + n)

    def process(self, x, times) -> Detections:
        """Detect spikes in one chunk.

        Parameters
        ----------
        x : array (n, n_channels)
            Samples, any real dtype; NaN allowed.
        times : array (n,)
            Sample times, s, increasing.

        Returns
        -------
        Detections
        """
        x = np.asarray(x, dtype=np.float64)
        t = np.asarray(times, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(f"samples must have shape (n, {self.n_channels}), got {x.shape}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"times must have shape ({x.shape[0]},), got {t.shape}")
        out = Detections(np.zeros(0), np.zeros(0, np.int64), suppressed={"dead_time": 0})
        if x.shape[0] == 0:
            return out
        nan = np.isnan(x)
        out.nan_values = int(nan.sum())
        start = 0
        while start < x.shape[0]:
            # process up to the next noise refresh so each part uses one estimate
            if not self.ready:
                need = self._warm - self._fill
                stop = min(x.shape[0], start + max(need, 1))
            else:
                stop = min(x.shape[0], start + max(self._every - self._since_update, 1))
            self._process_part(x[start:stop], t[start:stop], nan[start:stop], out)
            start = stop
        return out

    def _process_part(self, x, t, nan, out: Detections) -> None:
        n = x.shape[0]
        if self.ready:
            dev = x - self.center
            level = self.config.threshold * self.sigma
            with np.errstate(invalid="ignore"):
                if self.config.polarity == "negative":
                    beyond = dev < -level
                elif self.config.polarity == "positive":
                    beyond = dev > level
                else:
                    beyond = np.abs(dev) > level
            beyond &= ~nan
            beyond &= self.sigma > 0  # a flat channel has no noise scale: never detect on it
            prev = np.vstack([self._prev_beyond[None, :], beyond[:-1]])
            onset = beyond & ~prev
            self._prev_beyond = beyond[-1].copy()
            rows, chans = np.nonzero(onset)
            out.crossings += int(rows.size)
            if rows.size:
                keep = np.ones(rows.size, bool)
                for c in np.unique(chans).tolist():
                    sel = np.flatnonzero(chans == c)  # rows ascend: the channel's crossings in order
                    kept = dead_time_mask(t[rows[sel]], self.config.dead_time, self._last_spike[c])
                    keep[sel] = kept
                    if kept.any():
                        self._last_spike[c] = t[rows[sel[kept][-1]]]
                out.suppressed["dead_time"] += int((~keep).sum())
                out.times = np.concatenate([out.times, t[rows[keep]]])
                out.channels = np.concatenate([out.channels, chans[keep].astype(np.int64)])
        else:
            out.warmup_samples += n
            self._prev_beyond[:] = False
        clean = np.where(nan, np.nan_to_num(self.center, nan=0.0), x) if nan.any() else x
        self._remember(clean)
        self._since_update += n
        if (not self.ready and self._fill >= self._warm) or (
                self.ready and self._since_update >= self._every):
            self._update_noise()
