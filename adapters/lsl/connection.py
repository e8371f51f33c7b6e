"""One live LSL inlet: clock-corrected pulls, small buffers, and gaps when the outlet goes away.

Reconnection is LSL's own: the inlet is created with ``recover=True``, so when its outlet
disappears liblsl keeps looking for a stream with the same ``source_id`` (and name, type,
format, channel count) and reconnects to it. liblsl does not tell the reader when that happens,
so a continuous resolver watches the same query in the background: when the connected stream
(its ``uid``) stops answering for ``gap_after`` seconds a :class:`Gap` opens, and it closes when
a stream with the same ``source_id`` answers again. A stream without a ``source_id`` cannot be
recovered by liblsl; then a lost stream raises inside liblsl, the gap opens at once and the
connection re-opens an inlet itself when the stream comes back.

All times are LSL local-clock seconds (``pylsl.local_clock()``) of this machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bioloop import validate as _v

from .config import ensure_configured
from .resolve import StreamQuery, StreamSummary, resolve_one, xpath_literal

#: seconds of absence before a gap opens. liblsl's same-machine discovery refreshes a stream
#: that does not own the shared discovery port about every 2 s; 3 s never flickered in tests.
GAP_AFTER = 3.0


@dataclass
class Gap:
    """A stretch with no connection to the stream.

    ``start`` is the last moment data (or, without data, the connection) was known good;
    ``detected`` when the absence was noticed; ``stop`` when a stream with the same source
    answered again (None while the gap lasts). LSL local-clock seconds.
    """

    start: float
    detected: float
    stop: float | None = None
    uid_before: str = ""
    uid_after: str = ""

    def to_dict(self) -> dict:
        return {"start": self.start, "detected": self.detected, "stop": self.stop,
                "duration": None if self.stop is None else self.stop - self.start,
                "uid_before": self.uid_before, "uid_after": self.uid_after}


def recovery_predicate(summary: StreamSummary) -> str:
    """The query liblsl itself uses to recover a stream (name, type, source_id, format, count)."""
    parts = [f"channel_count='{summary.channel_count}'"]
    for key in ("name", "type", "source_id"):
        value = getattr(summary, key)
        if value:
            parts.append(f"{key}={xpath_literal(value)}")
    parts.append(f"channel_format='{summary.channel_format}'")
    return " and ".join(parts)


class InletConnection:
    """A resolved, format-checked, clock-corrected LSL inlet that survives its outlet.

    Parameters
    ----------
    query : StreamQuery
        Which stream.
    check : callable
        ``check(StreamSummary)`` raises ValueError when the stream's format does not fit.
    resolve_timeout : float
        Longest wait for the stream at open, s.
    max_buflen : int
        liblsl's inlet buffer: seconds for regular streams, hundreds of samples for irregular.
    gap_after : float
        Seconds of absence before a gap opens.
    """

    def __init__(self, query: StreamQuery, *, check: Callable[[StreamSummary], None],
                 resolve_timeout: float = 5.0, max_buflen: int = 5, gap_after: float = GAP_AFTER,
                 liveness_interval: float = 0.25, clock_interval: float = 0.5):
        self._pylsl = ensure_configured()
        from pylsl.util import LostError
        from pylsl.util import TimeoutError as LSLTimeoutError

        self._errors = (LostError, LSLTimeoutError)
        self._lost_error = LostError
        self.query = query
        self._check = check
        self._resolve_timeout = _v.real("resolve_timeout", resolve_timeout, lo=0.0, lo_open=True)
        self._max_buflen = _v.integer("max_buflen", max_buflen, lo=1)
        self._gap_after = _v.real("gap_after", gap_after, lo=0.5)
        self._liveness_interval = liveness_interval
        self._clock_interval = clock_interval
        self.gaps: list[Gap] = []
        self.reconnects = 0
        self.ambiguous_recoveries = 0
        self.clock_offset = 0.0
        self.clock_offset_known = False
        self._inlet = None
        self._watch = None
        info = resolve_one(query, resolve_timeout)
        self.summary = StreamSummary.of(info)
        check(self.summary)
        self._open_inlet(info, at_start=True)
        self.full_xml = self._full_xml
        self._watch = self._pylsl.ContinuousResolver(pred=recovery_predicate(self.summary),
                                                     forget_after=self._gap_after)
        now = self._pylsl.local_clock()
        self.opened_at = now
        self._last_data = now
        self._seen_by_watch = False
        self._next_liveness = now
        self._next_clock = now + clock_interval

    # --- opening ----------------------------------------------------------------------------
    def _open_inlet(self, info, at_start: bool = False) -> None:
        """Open an inlet on ``info``. The clock offset's first estimate takes a few probes
        (0.1-0.7 s): at the start it is taken before the data stream opens (spikes pushed
        meanwhile would wait in the inlet's queue, to be read after a session started, stamped
        before it); on a reconnection after it (the returned outlet's spikes of that time are
        received, late, not lost in a gap that the watcher already closed)."""
        pylsl = self._pylsl
        inlet = pylsl.StreamInlet(info, max_buflen=self._max_buflen, max_chunklen=0,
                                  recover=True)
        try:
            full = inlet.info(timeout=self._resolve_timeout)
            if at_start:
                self._refresh_clock(inlet, first=True)
            self.subscribed_at = pylsl.local_clock()
            inlet.open_stream(timeout=self._resolve_timeout)
        except self._errors as exc:
            raise ValueError(f"LSL stream {StreamSummary.of(info)} was found but could not be "
                             f"opened ({exc})") from exc
        self._full_xml = full.as_xml()
        self._dtype = inlet.np_dtype or object  # string streams: raw bytes per value
        self.uid = info.uid()
        self._inlet = inlet
        if not at_start:
            self._refresh_clock(first=True)

    def _refresh_clock(self, inlet=None, first: bool = False) -> None:
        try:
            # the first estimate takes a few probes (~0.1-0.7 s); later calls return at once
            inlet = self._inlet if inlet is None else inlet
            self.clock_offset = float(inlet.time_correction(timeout=2.0 if first else 0.0))
            self.clock_offset_known = True
        except self._errors:
            pass  # keep the last estimate (0 on one machine) until the next refresh

    # --- reading ----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether no gap is open."""
        return not (self.gaps and self.gaps[-1].stop is None)

    def pull(self, timeout: float, max_samples: int = 4096, max_rounds: int = 64):
        """Everything available (waiting up to ``timeout`` s for the first sample).

        Returns
        -------
        data : ndarray (n, channels)
            Samples in the stream's dtype.
        times : ndarray (n,)
            Timestamps on this machine's LSL clock (remote timestamps + clock offset).
        """
        n_ch = self.summary.channel_count
        if self._inlet is None:  # lost without liblsl recovery: wait, then look for it again
            if timeout > 0:
                time.sleep(min(timeout, self._liveness_interval))
            self._poll_liveness(force=True)
            return self._empty(n_ch)
        inlet = self._inlet
        data = ts = None
        more = None  # further rounds, when one pull filled max_samples
        try:
            data, ts = inlet.pull_chunk(timeout=timeout, max_samples=max_samples,
                                        min_samples=1 if timeout > 0 else None, as_numpy=True)
            if len(ts) == max_samples:
                more = [(data, ts)]
                for _ in range(max_rounds - 1):
                    d, t = inlet.pull_chunk(timeout=0.0, max_samples=max_samples, as_numpy=True)
                    if len(t):
                        more.append((d, t))
                    if len(t) < max_samples:
                        break
        except self._lost_error:
            self._lost()
        if more is not None:
            data, ts = np.concatenate([d for d, _ in more]), np.concatenate([t for _, t in more])
        got = ts is not None and len(ts) > 0
        now = self._pylsl.local_clock()
        if got:
            self._last_data = now
        # upkeep (clock offset, liveness) waits for a pull without data, when the caller has
        # time, so it does not delay a spike; a stream that never pauses gets it one interval
        # late. Data during a gap is the stream coming back: then upkeep runs at once
        defer = got and self.connected
        if now >= self._next_clock + (self._clock_interval if defer else 0.0) and self._inlet is not None:
            self._refresh_clock()
            self._next_clock = now + self._clock_interval
        self._poll_liveness(now, late=self._liveness_interval if defer else 0.0)
        if not got:
            return self._empty(n_ch)
        return data, ts + self.clock_offset

    def _empty(self, n_ch: int):
        return np.zeros((0, n_ch), self._dtype), np.zeros(0)

    # --- gaps -------------------------------------------------------------------------------
    def _open_gap(self, now: float) -> None:
        if self.connected:
            self.gaps.append(Gap(start=self._last_data, detected=now, uid_before=self.uid))

    def _lost(self) -> None:
        """liblsl gave up on the stream (no source_id): drop the inlet, open a gap."""
        now = self._pylsl.local_clock()
        self._open_gap(now)
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            inlet.close_stream()
            del inlet

    def _poll_liveness(self, now: float | None = None, *, force: bool = False, late: float = 0.0) -> None:
        if now is None:
            now = self._pylsl.local_clock()
        if self._watch is None or (not force and now < self._next_liveness + late):
            return
        self._next_liveness = now + self._liveness_interval
        infos = {i.uid(): i for i in self._watch.results()}
        if self.uid in infos:
            self._seen_by_watch = True
            if not self.connected and self._inlet is not None:  # the same outlet came back
                self._close_gap(now, self.uid)
            return
        # the watcher needs one discovery round before it lists anything
        if self.connected and (self._seen_by_watch
                               or now - self.opened_at > self._gap_after + 1.0):
            self._open_gap(now)
        if self.connected or not infos:
            return
        if len(infos) > 1:
            self.ambiguous_recoveries += 1  # liblsl refuses to pick one too
            return
        (uid, info), = infos.items()
        if self._inlet is None:
            try:
                self._check(StreamSummary.of(info))
                self._open_inlet(info)
            except (ValueError, *self._errors):
                return  # try again at the next poll
        self._close_gap(now, uid)

    def _close_gap(self, now: float, uid: str) -> None:
        gap = self.gaps[-1]
        gap.stop = now
        gap.uid_after = uid
        self.uid = uid
        self.reconnects += 1
        self._last_data = now

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Disconnect (idempotent)."""
        if self._inlet is not None:
            self._inlet.close_stream()
        self._inlet = None
        self._watch = None

    def stats(self) -> dict:
        """Gaps, reconnects and the clock offset, as plain values."""
        return {"stream": str(self.summary), "uid": self.uid,
                "connected": self.connected, "reconnects": self.reconnects,
                "ambiguous_recoveries": self.ambiguous_recoveries,
                "gaps": [g.to_dict() for g in self.gaps],
                "clock_offset": self.clock_offset if math.isfinite(self.clock_offset) else None}
