"""Live spike sources: a spike-event stream from any rig, or a voltage stream with detection.

Both are :class:`bioloop.sources.Source` implementations whose chunks carry times on this
machine's LSL clock (``pylsl.local_clock()``, seconds). A chunk covers ``[t_start, t_stop]``;
consecutive chunks tile time without overlap, and ``read_chunk`` returns None only after
:meth:`close`. Everything not passed on is counted by reason in :meth:`stats`.

Streams are taken as rigs publish them (no re-publishing to please bioloop):

- **Spike events** (:class:`LSLSpikeSource`): irregular rate, any numeric format (``int8`` ..
  ``int64``, ``float32``, ``double64``); channel 0 the electrode index, channel 1 (when present)
  the unit. Wider streams are read as ``[channel, unit, waveform...]`` (the Neural Data
  Simulator's ``SpikeEvents`` profile: ``int16``, 2 + 48 channels) when their type is
  ``SpikeEvents`` in any case, or their ``desc/channels`` labels say so; the waveform is not
  used. A **string-marker** stream (one ``string`` channel) carries electrode labels as samples
  (``"ch_12A"``), or indices as text (``"12"``).
- **Voltage** (:class:`LSLVoltageSource`): regular rate, any numeric format, one channel per
  electrode, labelled the XDF way (``desc/channels/channel/label``, as mne-lsl's player writes)
  or in bioloop's ``desc/electrodes``.

Electrode labels of a spike stream come from, in this order: the caller (``labels``, or
``n_electrodes`` = N for ``e0..e{N-1}``), bioloop's ``desc/electrodes``, or an XDF
``desc/channels`` list with one entry per *electrode* (a list with one entry per stream channel
describes the stream's columns, e.g. ``electrode, unit``, not electrodes). A stream with none of
these is refused, and the message says how to give them (``bioloop live --electrodes N`` or
``--labels FILE``).

An electrode index is never guessed: values of channel 0 that are not whole numbers (or NaN)
are dropped as ``non_integral_index``, negative ones as ``negative_index``, and indices (or
marker labels) with no electrode as ``unmapped``.
"""

from __future__ import annotations

import math
import re

import numpy as np

from bioloop import validate as _v
from bioloop.sources import LiveSource
from bioloop.types import SpikeEvents, _trusted

from .connection import GAP_AFTER, InletConnection
from .detect import DetectorConfig, ThresholdDetector
from .profile import SPIKE_TYPE, read_channel_labels, read_electrodes
from .resolve import StreamQuery, StreamSummary

#: seconds a spike may arrive after the reading clock has passed its timestamp (default)
LATENESS = 0.1

#: LSL channel formats that carry numbers (liblsl's names)
NUMERIC_FORMATS = ("int8", "int16", "int32", "int64", "float32", "double64")
MARKER_FORMAT = "string"
#: drop reasons of a spike-event source, besides ``late``
INDEX_DROPS = ("non_integral_index", "negative_index", "unmapped")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
#: ``desc/channels`` labels of a first column holding the electrode / a second holding the unit
_ELECTRODE_COLUMN = {"electrode", "electrodes", "channel", "channels", "chan", "ch", "index",
                     "electrode_index", "channel_index", "id"}
_UNIT_COLUMN = {"unit", "units", "unit_id", "cluster", "sort"}
#: shared empty arrays of an empty chunk (never written to)
_NO_TIMES = np.zeros(0)
_NO_UNITS = np.zeros(0, np.int64)
_NO_TIMES.flags.writeable = False
_NO_UNITS.flags.writeable = False


def _labels_from(labels, n_electrodes, from_stream, what: str) -> tuple[str, ...]:
    if labels is not None:
        if isinstance(labels, str) or not all(isinstance(s, str) for s in labels):
            raise TypeError(f"labels must be a sequence of strings, got {labels!r}")
        labels = tuple(labels)
        if not labels:
            raise ValueError("labels must not be empty")
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise ValueError(f"labels must be distinct; repeated: {dup[:5]}")
        if n_electrodes is not None and n_electrodes != len(labels):
            raise ValueError(f"n_electrodes = {n_electrodes} but {len(labels)} labels given")
        return labels
    if n_electrodes is not None:
        n = _v.integer("n_electrodes", n_electrodes, lo=1)
        return tuple(f"e{i}" for i in range(n))
    if from_stream is not None:
        return tuple(from_stream)
    raise ValueError(f"{what} names no electrodes (neither desc/electrodes nor an electrode "
                     "list in desc/channels); give them: bioloop live --electrodes N (indices "
                     "0..N-1) or --labels FILE (one label per line); in Python n_electrodes=N "
                     "or labels=[...]")


def electrode_indices(values, n_electrodes: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Electrode indices of channel-0 values, and which values cannot be one, by reason.

    Parameters
    ----------
    values : array
        Channel 0 of a spike-event stream, any numeric dtype.
    n_electrodes : int
        Electrodes known; an index must be below it.

    Returns
    -------
    index : numpy.ndarray of int64
        The index of each value (0 where the value is refused).
    refused : dict
        Boolean masks by reason: ``non_integral_index`` (fractions, NaN, infinities),
        ``negative_index``, ``unmapped`` (``>= n_electrodes``); at most one is true per value.
        Empty when an integer stream's values are all electrodes.

    Examples
    --------
    >>> idx, bad = electrode_indices(np.array([0.0, 2.0, 1.5, -1.0, 7.0, np.nan]), 4)
    >>> idx.tolist(), {k: np.flatnonzero(v).tolist() for k, v in bad.items()}
    ([0, 2, 0, 0, 0, 0], {'non_integral_index': [2, 5], 'negative_index': [3], 'unmapped': [4]})
    >>> electrode_indices(np.array([3, 0], np.int32), 4)
    (array([3, 0]), {})
    >>> idx, bad = electrode_indices(np.array([7], np.int32), 4)  # one spike, no such electrode
    >>> idx.tolist(), bad["unmapped"].tolist()
    ([0], [True])
    """
    v = np.asarray(values)
    if v.dtype.kind in "iu":
        if v.size == 1 and 0 <= v[0] < n_electrodes:  # a live stream's usual chunk: one spike
            return v.astype(np.int64), {}
        if v.size and 0 <= v.min() and v.max() < n_electrodes:  # the usual case, kept cheap
            return v.astype(np.int64), {}
        whole = np.ones(v.shape, bool)
        negative = v < 0
        unmapped = v >= n_electrodes
        index = np.where(negative | unmapped, 0, v).astype(np.int64)
    else:
        v = v.astype(np.float64)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(v) & (v == np.floor(v))
            negative = whole & (v < 0)
            unmapped = whole & (v >= n_electrodes)
        index = np.where(whole & ~negative & ~unmapped, v, 0).astype(np.int64)
    return index, {"non_integral_index": ~whole, "negative_index": negative & whole,
                   "unmapped": unmapped & ~negative}


def marker_indices(markers, labels) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Electrode indices of string markers: a label of ``labels``, else an index written as text.

    A marker equal to a label (surrounding blanks ignored) is that electrode; otherwise a
    whole number (``"12"``) is the electrode index, checked like :func:`electrode_indices`;
    anything else is ``unmapped``.

    Examples
    --------
    >>> idx, bad = marker_indices(["ch_12A", " 1 ", "9", "-2", "2.5", "ch_99"], ["ch_12A", "B", "C"])
    >>> idx.tolist(), {k: np.flatnonzero(v).tolist() for k, v in bad.items()}
    ([0, 1, 0, 0, 0, 0], {'non_integral_index': [4], 'negative_index': [3], 'unmapped': [2, 5]})
    """
    where = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    index = np.zeros(len(markers), np.int64)
    bad = {k: np.zeros(len(markers), bool) for k in INDEX_DROPS}
    for i, raw in enumerate(markers):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        text = text.strip()
        if text in where:
            index[i] = where[text]
        elif _INTEGER_TEXT.fullmatch(text):
            k = int(text)
            if k < 0:
                bad["negative_index"][i] = True
            elif k >= n:
                bad["unmapped"][i] = True
            else:
                index[i] = k
        elif _NUMBER_TEXT.fullmatch(text):
            bad["non_integral_index"][i] = True
        else:
            bad["unmapped"][i] = True
    return index, bad


def _column_labels(xml: str, n_channels: int) -> tuple[str, ...] | None:
    """``desc/channels`` labels when they describe the stream's columns (one per channel)."""
    found = read_channel_labels(xml)
    return found if found is not None and len(found) == n_channels else None


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
    """Spike events from an LSL stream of any rig: numeric events or string markers.

    Irregular rate. Numeric streams (any integer or float format): channel 0 the electrode
    index, optional channel 1 the unit, and for the ``[channel, unit, waveform...]`` layout
    (Neural Data Simulator) the waveform, not used. String-marker streams: one channel whose
    samples name electrodes (see :func:`marker_indices`). The LSL timestamp is the spike time.
    Labels: see the module docstring. Spikes whose channel 0 cannot be an electrode are dropped
    (``non_integral_index``, ``negative_index``, ``unmapped``); spikes arriving more than
    ``lateness`` seconds after the previous chunk already ended are dropped (``late``), so
    chunks never overlap.

    Parameters
    ----------
    name, type, source_id : str, optional
        Which stream (at least one; ``type`` in any case). A query matching several streams
        is an error.
    timeout : float
        Longest wait for the stream to appear, s.
    labels : sequence of str, optional
        Electrode labels (index order); by default those the stream names.
    n_electrodes : int, optional
        Label electrodes ``e0..e{n-1}`` (indices ``0..n-1``) instead.
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
        If the stream has a regular rate, a format or width that is no spike layout, or names
        no electrodes and neither ``labels`` nor ``n_electrodes`` is given.

    Examples
    --------
    >>> src = LSLSpikeSource(name="culture", timeout=2.0)  # doctest: +SKIP
    >>> src = LSLSpikeSource(type="markers", n_electrodes=60)  # doctest: +SKIP
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
        if n_electrodes is not None:
            _v.integer("n_electrodes", n_electrodes, lo=1)
        # liblsl sizes irregular-rate inlet buffers in hundreds of samples
        buflen = max(1, math.ceil(buffer_s * max_rate_hz / 100))
        self._closed = False
        self._layout = ""
        self._conn = InletConnection(query, check=self._check, resolve_timeout=timeout,
                                     max_buflen=buflen, gap_after=gap_after)
        s = self._conn.summary
        xml = self._conn.full_xml
        try:
            self._layout = self._layout_of(s, xml)
            found = read_electrodes(xml)
            listed = read_channel_labels(xml)
            if found is not None:
                from_stream, origin = found.labels, "desc/electrodes"
            elif listed is not None and len(listed) != s.channel_count:
                from_stream, origin = listed, "desc/channels"
            else:
                from_stream, origin = None, ""
            self._labels = _labels_from(labels, n_electrodes, from_stream, f"LSL stream {s}")
        except (TypeError, ValueError):
            self._conn.close()
            raise
        self.labels_from = ("labels" if labels is not None else
                            "n_electrodes" if n_electrodes is not None else origin)
        self.positions = (found.positions if found is not None and self.labels_from ==
                          "desc/electrodes" else None)
        self.is_marker = s.channel_format == MARKER_FORMAT
        self.has_units = not self.is_marker and s.channel_count >= 2
        self.last_units = np.zeros(0, np.int64)  #: units of the last chunk's spikes (-1: none)
        self._clock = self._conn._pylsl.local_clock
        # spikes stamped before the subscription (less the lateness allowance) count as late
        self._t_stop = self._conn.subscribed_at - self._lateness
        self._received = 0
        self._delivered = 0
        self._dropped = {**{k: 0 for k in INDEX_DROPS}, "late": 0}

    @staticmethod
    def _check(s: StreamSummary) -> None:
        problems = []
        if s.channel_format not in (*NUMERIC_FORMATS, MARKER_FORMAT):
            problems.append(f"channel format {s.channel_format} (needs a number format: "
                            f"{', '.join(NUMERIC_FORMATS)}, or string markers)")
        elif s.channel_format == MARKER_FORMAT and s.channel_count != 1:
            problems.append(f"{s.channel_count} string channels (a marker stream has 1)")
        if s.nominal_srate != 0:
            problems.append(f"a regular rate of {s.nominal_srate:g} Hz (spike events are "
                            "irregular; a voltage stream is read with bioloop live --voltage, "
                            "in Python LSLVoltageSource)")
        if problems:
            raise ValueError(f"LSL stream {s} is not a spike-event stream: "
                             + "; ".join(problems))

    @staticmethod
    def _layout_of(s: StreamSummary, xml: str) -> str:
        """What the channels hold; wide streams only in the [channel, unit, waveform] layout."""
        if s.channel_format == MARKER_FORMAT:
            return "electrode labels as string markers"
        if s.channel_count == 1:
            return "electrode"
        if s.channel_count == 2:
            return "electrode, unit"
        cols = _column_labels(xml, s.channel_count)
        by_labels = cols is not None and (cols[0].lower() in _ELECTRODE_COLUMN
                                          and cols[1].lower() in _UNIT_COLUMN)
        if s.type.lower() == SPIKE_TYPE.lower() or by_labels:
            return f"electrode, unit, {s.channel_count - 2} waveform samples (not used)"
        raise ValueError(
            f"LSL stream {s} is not a spike-event stream: {s.channel_count} channels (needs 1: "
            "electrode, 2: electrode, unit, or [channel, unit, waveform...] with type "
            "SpikeEvents or desc/channels labels channel, unit, ...)")

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def layout(self) -> str:
        """What the stream's channels were read as (e.g. ``"electrode, unit"``)."""
        return self._layout

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
        if type(timeout) is not float or not timeout >= 0.0:  # the loop's float: checked cheaply
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
            self.last_units = _NO_UNITS
            return self._chunk(_NO_TIMES, _NO_UNITS, t_start, t_stop)
        if self.is_marker:
            el, refused = marker_indices(data[:, 0], self._labels)
        else:
            el, refused = electrode_indices(data[:, 0], len(self._labels))
        if refused:
            ok = ~(refused["non_integral_index"] | refused["negative_index"] | refused["unmapped"])
            for reason, mask in refused.items():
                self._dropped[reason] += int(mask.sum())
            late = ok & (ts < t_start)
        else:
            ok = True
            late = ts < t_start
        if ok is True and ts[0] >= t_start and (n == 1 or np.all(ts[1:] >= ts[:-1])):
            keep = slice(None)  # the usual case: every spike kept, already in time order
            times, chans, order = ts, el, slice(None)
        else:
            self._dropped["late"] += int(late.sum())
            keep = ok & ~late
            order = np.argsort(ts[keep], kind="stable")
            times, chans = ts[keep][order], el[keep][order]
        if times.size:
            t_stop = max(t_stop, float(times[-1]))
        self._t_stop = t_stop
        if self.has_units:
            u = data[keep, 1][order].astype(np.float64)
            self.last_units = np.where(np.isfinite(u), u, -1).astype(np.int64)
        else:
            self.last_units = _NO_UNITS
        self._delivered += int(times.size)
        return self._chunk(times, chans, t_start, t_stop)

    def _chunk(self, times: np.ndarray, chans: np.ndarray, t_start: float, t_stop: float) -> SpikeEvents:
        """The chunk, built without re-validation: ``read_chunk`` has just made every field
        with the dtypes, order and bounds :class:`SpikeEvents` requires (float64 times, sorted,
        in ``[t_start, t_stop]``; int64 electrodes below ``len(labels)``)."""
        return _trusted(SpikeEvents, times=times, channels=chans, labels=self._labels,
                        t_start=float(t_start), t_stop=float(t_stop))

    def stats(self) -> dict:
        """Counts (received = delivered + every drop), what was assumed, gaps, clock offset."""
        return {"received": self._received, "delivered": self._delivered,
                "dropped": dict(self._dropped), "layout": self._layout,
                "labels_from": self.labels_from, "n_electrodes": len(self._labels),
                **self._conn.stats()}


class LSLVoltageSource(_LiveSource):
    """Spikes detected online in a regular-rate LSL voltage stream (any numeric format).

    One channel per electrode, float (``float32``, ``double64``: volts or microvolts, the
    detector is scale-free) or integer counts (``int16``, as amplifiers send them). See :mod:`bioloop.adapters.lsl.detect` for the detector.
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
        If the stream is not regular-rate numeric, or ``labels`` does not match its channels.
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
            from_stream, origin = ((found.labels, "desc/electrodes") if found is not None else
                                   (read_channel_labels(self._conn.full_xml), "desc/channels"))
            if from_stream is not None and len(from_stream) != s.channel_count:
                from_stream = None
            if from_stream is None:
                from_stream = tuple(f"ch{i}" for i in range(s.channel_count))
                origin = "ch0.. (the stream names no channels)"
            self.labels_from = "labels" if labels is not None else origin
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
        if s.channel_format not in NUMERIC_FORMATS:
            problems.append(f"channel format {s.channel_format} (needs a number format: "
                            f"{', '.join(NUMERIC_FORMATS)})")
        if s.nominal_srate <= 0:
            problems.append("an irregular rate (a voltage stream has a fixed sampling rate; "
                            "spike events are read by bioloop live without --voltage, in "
                            "Python LSLSpikeSource)")
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
        if type(timeout) is not float or not timeout >= 0.0:  # the loop's float: checked cheaply
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
        return {**self._counts, "labels_from": self.labels_from,
                "samples_dropped": dict(self._dropped_samples),
                "crossings_suppressed": dict(self._suppressed),
                "noise_sigma": self.detector.sigma.tolist(), **self._conn.stats()}
