"""Live spike sources: an LSL spike-event stream, or a voltage stream with online detection.

Both are :class:`bioloop.sources.Source` implementations whose chunks carry times on this
machine's LSL clock (``pylsl.local_clock()``, seconds). A chunk covers ``[t_start, t_stop]``;
consecutive chunks tile time without overlap, and ``read_chunk`` returns None only after
:meth:`close`. Everything not passed on is counted by reason in :meth:`stats`.
"""

from __future__ import annotations

import math

import numpy as np

from bioloop import validate as _v
from bioloop.sources import LiveSource
from bioloop.types import SpikeEvents

from .connection import GAP_AFTER, InletConnection
from .detect import DetectorConfig, ThresholdDetector
from .profile import (
    SPIKE_FORMAT,
    VOLTAGE_FORMAT,
    read_channel_labels,
    read_electrodes,
)
from .resolve import StreamQuery, StreamSummary

#: seconds a spike may arrive after the reading clock has passed its timestamp (default)
LATENESS = 0.1


def _labels_from(labels, n_electrodes, from_stream, what: str) -> tuple[str, ...]:
    if labels is not None:
        if isinstance(labels, str) or not all(isinstance(s, str) for s in labels):
            raise TypeError(f"labels must be a sequence of strings, got {labels!r}")
        labels = tuple(labels)
        if not labels:
            raise ValueError("labels must not be empty")
        if n_electrodes is not None and n_electrodes != len(labels):
            raise ValueError(f"n_electrodes = {n_electrodes} but {len(labels)} labels given")
        return labels
    if n_electrodes is not None:
        n = _v.integer("n_electrodes", n_electrodes, lo=1)
        return tuple(f"e{i}" for i in range(n))
    if from_stream is not None:
        return tuple(from_stream)
    raise ValueError(f"{what} lists no electrodes in desc/electrodes; pass labels=[...] or "
                     "n_electrodes=N")


class _LiveSource(LiveSource):
    """Shared bookkeeping of the two live sources."""

    _conn: InletConnection

    def read_all(self) -> SpikeEvents:
        raise TypeError(f"{type(self).__name__} reads a live stream that never ends; call "
                        "read_chunk() in a loop instead of read_all()")

    @property
    def stream(self) -> StreamSummary:
        """The stream this source reads."""
        return self._conn.summary

    def clock(self) -> float:
        """LSL's clock (``local_clock``) now, s: the time base of this source's spike times."""
        return self._clock()

    @property
    def gaps(self):
        """Stretches without connection (see :class:`~bioloop.adapters.lsl.connection.Gap`)."""
        return list(self._conn.gaps)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()


class LSLSpikeSource(_LiveSource):
    """Spike events from an LSL stream in bioloop's profile.

    The stream is irregular-rate ``int32``: channel 1 the electrode index, optional channel 2
    the unit; the LSL timestamp is the spike time. Spikes whose electrode index has no label
    are dropped (``electrode_out_of_range``); spikes arriving more than ``lateness`` seconds
    after the previous chunk already ended are dropped (``late``), so chunks never overlap.

    Parameters
    ----------
    name, type, source_id : str, optional
        Which stream (at least one). A query matching several streams is an error.
    timeout : float
        Longest wait for the stream to appear, s.
    labels : sequence of str, optional
        Electrode labels; by default those of the stream's ``desc/electrodes``.
    n_electrodes : int, optional
        Label electrodes ``e0..e{n-1}`` when the stream lists none.
    lateness : float
        How long after the reading clock a spike may still arrive, s.
    buffer_s : float
        Seconds of spikes liblsl buffers for this inlet at ``max_rate_hz``.
    max_rate_hz : float
        Highest expected total spike rate (sizes the buffer).
    gap_after : float
        Seconds without the stream before a gap is reported.

    Raises
    ------
    StreamResolutionError
        (a ValueError) if no stream or several match.
    ValueError
        If the stream is not irregular-rate int32 with 1 or 2 channels, or lists no electrodes
        and neither ``labels`` nor ``n_electrodes`` is given.

    Examples
    --------
    >>> src = LSLSpikeSource(name="culture", timeout=2.0)  # doctest: +SKIP
    >>> chunk = src.read_chunk(timeout=0.05)  # doctest: +SKIP
    """

    name = "lsl-spikes"

    def __init__(self, *, name: str | None = None, type: str | None = None,
                 source_id: str | None = None, timeout: float = 5.0, labels=None,
                 n_electrodes: int | None = None, lateness: float = LATENESS,
                 buffer_s: float = 5.0, max_rate_hz: float = 10_000.0,
                 gap_after: float = GAP_AFTER):
        query = StreamQuery(name=name, type=type, source_id=source_id)
        self._lateness = _v.real("lateness", lateness, lo=0.0)
        _v.real("buffer_s", buffer_s, lo=0.0, lo_open=True)
        _v.real("max_rate_hz", max_rate_hz, lo=0.0, lo_open=True)
        # liblsl sizes irregular-rate inlet buffers in hundreds of samples
        buflen = max(1, math.ceil(buffer_s * max_rate_hz / 100))
        self._closed = False
        self._conn = InletConnection(query, check=self._check, resolve_timeout=timeout,
                                     max_buflen=buflen, gap_after=gap_after)
        try:
            found = read_electrodes(self._conn.full_xml)
            self._labels = _labels_from(labels, n_electrodes,
                                        None if found is None else found.labels,
                                        f"LSL stream {self._conn.summary}")
        except (TypeError, ValueError):
            self._conn.close()
            raise
        self.positions = None if found is None or labels is not None else found.positions
        self.has_units = self._conn.summary.channel_count == 2
        self.last_units = np.zeros(0, np.int64)  #: units of the last chunk's spikes (2-ch streams)
        self._clock = self._conn._pylsl.local_clock
        # spikes stamped before the subscription (less the lateness allowance) count as late
        self._t_stop = self._conn.subscribed_at - self._lateness
        self._received = 0
        self._delivered = 0
        self._dropped = {"electrode_out_of_range": 0, "late": 0}

    @staticmethod
    def _check(s: StreamSummary) -> None:
        problems = []
        if s.channel_format != SPIKE_FORMAT:
            problems.append(f"channel format {s.channel_format} (needs {SPIKE_FORMAT})")
        if s.channel_count not in (1, 2):
            problems.append(f"{s.channel_count} channels (needs 1: electrode, or 2: electrode, "
                            "unit)")
        if s.nominal_srate != 0:
            problems.append(f"a regular rate of {s.nominal_srate:g} Hz (spike events are "
                            "irregular; for a voltage stream use LSLVoltageSource)")
        if problems:
            raise ValueError(f"LSL stream {s} is not a spike-event stream: "
                             + "; ".join(problems))

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def read_chunk(self, timeout: float = 0.0) -> SpikeEvents | None:
        """Spikes that arrived since the last call, waiting up to ``timeout`` s for one.

        Returns
        -------
        SpikeEvents or None
            Spikes in ``[t_start, t_stop]`` (``t_start`` = the previous chunk's ``t_stop``,
            ``t_stop`` = the later of the newest spike and the call's start - ``lateness``);
            possibly empty.
            None once the source is closed.
        """
        if self._closed:
            return None
        _v.real("timeout", timeout, lo=0.0)
        # the watermark is taken before the pull, which may block (waiting, or re-opening the
        # stream after a gap): whatever is stamped after it comes in this chunk or the next
        before = self._clock()
        data, ts = self._conn.pull(timeout)
        t_start = self._t_stop
        n = ts.size
        self._received += n
        t_stop = max(t_start, before - self._lateness)
        if n == 0:
            self._t_stop = t_stop
            self.last_units = np.zeros(0, np.int64)
            return SpikeEvents(np.zeros(0), np.zeros(0, np.int64), self._labels, t_start, t_stop)
        el = data[:, 0].astype(np.int64)
        ok = (el >= 0) & (el < len(self._labels))
        self._dropped["electrode_out_of_range"] += int((~ok).sum())
        late = ok & (ts < t_start)
        self._dropped["late"] += int(late.sum())
        keep = ok & ~late
        order = np.argsort(ts[keep], kind="stable")
        times = ts[keep][order]
        if times.size:
            t_stop = max(t_stop, float(times[-1]))
        self._t_stop = t_stop
        self.last_units = (data[keep, 1][order].astype(np.int64) if self.has_units
                           else np.zeros(0, np.int64))
        self._delivered += int(times.size)
        return SpikeEvents(times, el[keep][order], self._labels, t_start, t_stop)

    def stats(self) -> dict:
        """Counts (received = delivered + every drop), gaps, reconnects, clock offset."""
        return {"received": self._received, "delivered": self._delivered,
                "dropped": dict(self._dropped), **self._conn.stats()}


class LSLVoltageSource(_LiveSource):
    """Spikes detected online in a regular-rate float32 LSL voltage stream.

    One channel per electrode. See :mod:`bioloop.adapters.lsl.detect` for the detector.
    Samples not newer than the newest one already seen are dropped (``out_of_order``), and so
    are samples stamped more than ``lateness`` s before the stream was opened (``late``); NaN
    values are counted and skipped; holes in the sample clock (more than 1.5 sample periods) are
    counted as ``missing_samples`` (LSL buffers dropped them, or the source skipped them).

    Parameters
    ----------
    name, type, source_id : str, optional
        Which stream (at least one).
    timeout : float
        Longest wait for the stream to appear, s.
    labels : sequence of str, optional
        Electrode labels (one per channel); by default ``desc/electrodes``, else
        ``desc/channels``, else ``ch0..``.
    threshold, polarity, dead_time, noise_window, warmup : detector settings
        See :class:`~bioloop.adapters.lsl.detect.DetectorConfig` (``noise_window`` = ``window``).
    lateness : float
        How far before the opening of the stream a sample may be stamped, s.
    buffer_s : float
        Seconds of samples liblsl buffers for this inlet.
    gap_after : float
        Seconds without the stream before a gap is reported.

    Raises
    ------
    ValueError
        If the stream is not regular-rate float32, or ``labels`` does not match its channels.
    """

    name = "lsl-voltage"

    def __init__(self, *, name: str | None = None, type: str | None = None,
                 source_id: str | None = None, timeout: float = 5.0, labels=None,
                 threshold: float = 5.0, polarity: str = "negative", dead_time: float = 1e-3,
                 noise_window: float = 1.0, warmup: float = 0.25, lateness: float = 0.5,
                 buffer_s: float = 5.0, gap_after: float = GAP_AFTER):
        query = StreamQuery(name=name, type=type, source_id=source_id)
        self._lateness = _v.real("lateness", lateness, lo=0.0)
        config = DetectorConfig(threshold=threshold, polarity=polarity, dead_time=dead_time,
                                window=noise_window, warmup=min(warmup, noise_window))
        _v.real("buffer_s", buffer_s, lo=0.0, lo_open=True)
        self._closed = False
        self._conn = InletConnection(query, check=self._check, resolve_timeout=timeout,
                                     max_buflen=max(1, math.ceil(buffer_s)), gap_after=gap_after)
        s = self._conn.summary
        try:
            found = read_electrodes(self._conn.full_xml)
            from_stream = found.labels if found is not None else read_channel_labels(
                self._conn.full_xml)
            if from_stream is not None and len(from_stream) != s.channel_count:
                from_stream = None
            if labels is None and from_stream is None:
                from_stream = tuple(f"ch{i}" for i in range(s.channel_count))
            self._labels = _labels_from(labels, None, from_stream, f"LSL stream {s}")
            if len(self._labels) != s.channel_count:
                raise ValueError(f"{len(self._labels)} labels given for LSL stream {s} with "
                                 f"{s.channel_count} channels; give one label per channel")
        except (TypeError, ValueError):
            self._conn.close()
            raise
        self.srate = s.nominal_srate
        self.detector = ThresholdDetector(s.channel_count, self.srate, config)
        self._clock = self._conn._pylsl.local_clock
        self._t_stop = self._conn.subscribed_at - self._lateness
        self._last_sample = -math.inf
        self._counts = {"samples_received": 0, "samples_used": 0, "warmup_samples": 0,
                        "nan_values": 0, "missing_samples": 0, "crossings": 0, "spikes": 0}
        self._dropped_samples = {"out_of_order": 0, "late": 0}
        self._suppressed = {"dead_time": 0}

    @staticmethod
    def _check(s: StreamSummary) -> None:
        problems = []
        if s.channel_format != VOLTAGE_FORMAT:
            problems.append(f"channel format {s.channel_format} (needs {VOLTAGE_FORMAT})")
        if s.nominal_srate <= 0:
            problems.append("an irregular rate (a voltage stream has a fixed sampling rate; for "
                            "spike events use LSLSpikeSource)")
        if problems:
            raise ValueError(f"LSL stream {s} is not a voltage stream: " + "; ".join(problems))

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def read_chunk(self, timeout: float = 0.0) -> SpikeEvents | None:
        """Spikes detected in the samples that arrived since the last call.

        Returns
        -------
        SpikeEvents or None
            Spikes in ``[t_start, t_stop]`` where ``t_stop`` is the newest sample's time (the
            detector has seen everything up to it); empty, with ``t_start == t_stop``, when no
            sample arrived. None once closed.
        """
        if self._closed:
            return None
        _v.real("timeout", timeout, lo=0.0)
        data, ts = self._conn.pull(timeout)
        c = self._counts
        c["samples_received"] += ts.size
        t_start = self._t_stop
        if ts.size:
            order = np.argsort(ts, kind="stable")
            data, ts = data[order], ts[order]
            stale = ts <= self._last_sample
            late = ~stale & (ts < t_start)
            self._dropped_samples["out_of_order"] += int(stale.sum())
            self._dropped_samples["late"] += int(late.sum())
            keep = ~(stale | late)
            data, ts = data[keep], ts[keep]
        if ts.size == 0:
            return SpikeEvents(np.zeros(0), np.zeros(0, np.int64), self._labels, t_start, t_start)
        steps = np.diff(np.concatenate([[self._last_sample], ts])) * self.srate
        holes = steps[np.isfinite(steps) & (steps > 1.5)]
        c["missing_samples"] += int(np.round(holes).sum() - holes.size)
        self._last_sample = float(ts[-1])
        found = self.detector.process(data, ts)
        c["samples_used"] += ts.size
        c["warmup_samples"] += found.warmup_samples
        c["nan_values"] += found.nan_values
        c["crossings"] += found.crossings
        c["spikes"] += found.times.size
        for k, v in found.suppressed.items():
            self._suppressed[k] = self._suppressed.get(k, 0) + v
        t_stop = max(t_start, float(ts[-1]))
        self._t_stop = t_stop
        return SpikeEvents(found.times, found.channels, self._labels, t_start, t_stop)

    def stats(self) -> dict:
        """Sample and spike counts, drops and suppressions by reason, gaps, clock offset.

        ``samples_received`` = ``samples_used`` + every ``samples_dropped``;
        ``crossings`` = ``spikes`` + every ``crossings_suppressed``.
        """
        return {**self._counts, "samples_dropped": dict(self._dropped_samples),
                "crossings_suppressed": dict(self._suppressed),
                "noise_sigma": self.detector.sigma.tolist(), **self._conn.stats()}
