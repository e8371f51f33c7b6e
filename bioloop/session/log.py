"""``SessionLog``: everything a session saw, did, dropped and refused, in memory and journaled.

Each accepted chunk of a session adds one record (journaled in batches: a live loop writes
them while it waits for input, every ``JOURNAL_BATCH_S`` of wall time or ``JOURNAL_BATCH_CHUNKS``
chunks; a chunk added when twice either is pending writes at once, for a stream that never
pauses and for replays): the input spikes with the fate of each, the
AXON pulses, the FIREs, the stimulation commands, the refused commands with their reasons, and
(for live sessions) latencies and gaps. The counts add up by construction:
``input_spikes == axon_pulses + sum(dropped)`` and ``fires == stimulations + sum(refused)``.
On a chip with routes, the packets between clusters add up too (``routing`` in the summary):
``packets == routed + dropped_congestion + in_flight``, every packet a FIRE sent being delivered
as an AXON input, dropped at a full link FIFO, or still in flight when the session ended;
``congestion_delayed`` (and the extra cycles they waited) and ``routed_merged`` are subsets.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from ..encoder import DROP_FATES, SpikeFate
from ..progress import percentile_summary
from ..stimulator import REFUSAL_REASONS
from ..types import AxonFrames, FireEvents, SpikeEvents, StimCommands
from .journal import JournalWriter, Record

#: chunks are journaled together at most this often (wall s) while a live loop waits for input;
#: a crash loses at most twice this, well inside the one second promised
JOURNAL_BATCH_S = 0.25

#: and at most about this many chunks go into one record: writing a record stops the loop for
#: a time that grows with its chunks (about 8 us each), and a network burst, in which the loop
#: never waits, piled up 500 chunks whose record stalled the next spikes by 3-5 ms (a replay of
#: 3,825 chunks writes about 120 records)
JOURNAL_BATCH_CHUNKS = 16

#: arrays of one chunk record, grouped by what they describe
_FIELDS = {
    "in": ("times", "channels", "fates"),
    "ax": ("cycles", "cluster", "axon"),
    "fire": ("cycles", "cluster", "dend"),
    "stim": ("times", "electrode", "amplitude", "phase_width", "interphase", "source_cycle",
             "cluster", "dend"),
    "ref": ("times", "cluster", "dend", "electrode", "reason", "source_cycle"),
    "lat": ("latency", "cycle"),
}

#: NoC counts of a chunk, summed over the session (``in_flight`` is a level: the last chunk's)
ROUTING_COUNTS = ("packets", "routed", "routed_merged", "congestion_delayed", "congestion_delay_cycles",
                  "dropped_congestion")


def routing_of(step) -> dict | None:
    """The NoC counts of one :class:`~bioloop.backends.base.BackendStep`, for
    :meth:`SessionLog.add_chunk`; None when every count is zero (a step that moved no packet
    adds nothing, and leaves the ``in_flight`` level as it was: packets leave the flight only
    as routed or dropped ones).

    Examples
    --------
    >>> from bioloop.backends.base import BackendStep
    >>> from bioloop.types import FireEvents
    >>> step = BackendStep(FireEvents([], [], [], 1e3), 0, 0, 0, 10, routed=2, packets=3, in_flight=1)
    >>> d = routing_of(step)
    >>> d["packets"] == d["routed"] + d["dropped_congestion"] + d["in_flight"]
    True
    >>> routing_of(BackendStep(FireEvents([], [], [], 1e3), 0, 0, 0, 10)) is None
    True
    """
    if not (step.packets or step.routed or step.in_flight or step.dropped_congestion or step.routed_merged
            or step.congestion_delayed or step.congestion_delay_cycles):
        return None
    return {k: int(getattr(step, k)) for k in (*ROUTING_COUNTS, "in_flight")}


@dataclass
class SessionLog:
    """Accumulates a session chunk by chunk; optionally mirrors every chunk to a journal.

    Parameters
    ----------
    labels : tuple of str
        Electrode labels of the input.
    gclk_hz : float
    n_clusters : int
    meta : dict
        JSON-able description (config, program, versions, source): becomes the session's
        annotations.
    journal : JournalWriter, optional
    """

    labels: tuple[str, ...]
    gclk_hz: float
    n_clusters: int
    meta: dict
    journal: JournalWriter | None = None
    ignored_refractory: int = 0
    backend_merged: int = 0
    delayed: int = 0  #: live: spikes applied at a later GCLK edge than their timestamp's
    t_start: float = 0.0
    t_stop: float = 0.0
    wall_s: float = 0.0
    gaps: list = field(default_factory=list)
    events: list = field(default_factory=list)  #: (time, kind, text) notes: stalls, reconnects
    routing: dict = field(default_factory=lambda: dict.fromkeys((*ROUTING_COUNTS, "in_flight"), 0))
    _parts: dict = field(default_factory=lambda: {f"{k}.{f}": [] for k, v in _FIELDS.items() for f in v})
    _unsorted: list = field(default_factory=list)  #: chunks added but not yet sorted into _parts
    _pending: list = field(default_factory=list)  #: chunks not journaled yet
    _flushed: float = field(default_factory=time.monotonic)

    def __post_init__(self):
        if self.journal is not None:
            self.journal.append("header", {"labels": list(self.labels), "gclk_hz": self.gclk_hz,
                                           "n_clusters": self.n_clusters,
                                           "meta_json": json.dumps(self.meta)})

    # ---- adding -------------------------------------------------------------------------
    def add_chunk(self, *, spikes: SpikeEvents | None = None, fates=None, frames: AxonFrames | None = None,
                  fires: FireEvents | None = None, stim=None, ignored_refractory: int = 0,
                  backend_merged: int = 0, latency=None, latency_cycle=None, delayed: int = 0,
                  routing: dict | None = None) -> None:
        """Add one accepted chunk (any part may be missing; ``routing`` from :func:`routing_of`)."""
        arrays: dict[str, np.ndarray] = {}
        if spikes is not None:
            arrays.update({"in.times": spikes.times, "in.channels": spikes.channels,
                           "in.fates": np.asarray(fates, np.int8)})
        if frames is not None:
            arrays.update({"ax.cycles": frames.cycles, "ax.cluster": frames.cluster, "ax.axon": frames.axon})
        if fires is not None:
            arrays.update({"fire.cycles": fires.cycles, "fire.cluster": fires.cluster, "fire.dend": fires.dend})
        if stim is not None:
            c = stim.commands
            arrays.update({"stim.times": c.times, "stim.electrode": c.electrode,
                           "stim.amplitude": c.amplitude, "stim.phase_width": c.phase_width,
                           "stim.interphase": c.interphase, "stim.source_cycle": c.source_cycle,
                           "stim.cluster": stim.accepted_cluster, "stim.dend": stim.accepted_dend})
            r = stim.refused
            if len(r):  # a missing array reads back as an empty one
                arrays.update({"ref.times": r.times, "ref.cluster": r.cluster, "ref.dend": r.dend,
                               "ref.electrode": r.electrode, "ref.reason": r.code,
                               "ref.source_cycle": r.source_cycle})
        if latency is not None:
            arrays.update({"lat.latency": np.asarray(latency, np.float64),
                           "lat.cycle": np.asarray(latency_cycle, np.int64)})
        meta = {"ignored_refractory": int(ignored_refractory), "backend_merged": int(backend_merged),
                "delayed": int(delayed)}
        if routing is not None:
            meta.update({k: int(routing.get(k, 0)) for k in (*ROUTING_COUNTS, "in_flight")})
        self._add(arrays, meta)
        if self.journal is not None:
            self._pending.append((arrays, meta))
            # a live loop writes in idle time (tick); only a stream that never pauses (a burst),
            # and a replay, write here, off the time of the spikes that wait for this chunk
            if len(self._pending) >= 2 * JOURNAL_BATCH_CHUNKS or \
                    time.monotonic() - self._flushed >= 2 * JOURNAL_BATCH_S:
                self._flush()

    def tick(self) -> None:
        """Journal what is pending once it is ``JOURNAL_BATCH_S`` old or ``JOURNAL_BATCH_CHUNKS``
        long (a live loop calls this while idle, so the last chunks reach the disk even if no
        other chunk follows)."""
        if self._pending and (len(self._pending) >= JOURNAL_BATCH_CHUNKS
                              or time.monotonic() - self._flushed >= JOURNAL_BATCH_S):
            self._flush()

    def _flush(self) -> None:
        """Journal the chunks added since the last flush as one record (their arrays joined)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._flushed = time.monotonic()
        if len(pending) == 1:
            arrays, meta = pending[0]
        else:
            keys = {k for a, _ in pending for k in a}
            arrays = {k: np.concatenate([a[k] for a, _ in pending if k in a]) for k in sorted(keys)}
            keys = {k for _, m in pending for k in m}
            meta = {k: sum(m.get(k, 0) for _, m in pending) for k in keys if k != "in_flight"}
            flights = [m["in_flight"] for _, m in pending if "in_flight" in m]
            if flights:  # a level, not a count: the last chunk's
                meta["in_flight"] = flights[-1]
        self.journal.append("chunk", meta, **arrays)

    def _add(self, arrays: dict, meta: dict) -> None:
        self._unsorted.append(arrays)  # sorted into _parts when read (off a live loop's path)
        self.ignored_refractory += int(meta.get("ignored_refractory", 0))
        self.backend_merged += int(meta.get("backend_merged", 0))
        self.delayed += int(meta.get("delayed", 0))
        for k in ROUTING_COUNTS:
            self.routing[k] += int(meta.get(k, 0))
        if "in_flight" in meta:
            self.routing["in_flight"] = int(meta["in_flight"])

    def note(self, time: float, kind: str, text: str) -> None:
        """A counted event of the session (stall, resume, gap, reconnect)."""
        self.events.append((float(time), kind, text))
        if self.journal is not None:
            self._flush()
            self.journal.append("note", {"time": float(time), "kind": kind, "text": text})

    def finish(self, *, t_start: float, t_stop: float, wall_s: float) -> None:
        self.t_start, self.t_stop, self.wall_s = float(t_start), float(t_stop), float(wall_s)
        if self.journal is not None:
            self._flush()
            self.journal.append("end", {"t_start": self.t_start, "t_stop": self.t_stop,
                                        "wall_s": self.wall_s})

    # ---- reading ------------------------------------------------------------------------
    def array(self, group: str, name: str) -> np.ndarray:
        if self._unsorted:
            chunks, self._unsorted = self._unsorted, []
            parts = self._parts
            for arrays in chunks:
                for key, arr in arrays.items():
                    parts[key].append(arr)
        parts = self._parts[f"{group}.{name}"]
        if not parts:
            dtype = np.int8 if name in ("fates", "reason") else (
                np.float64 if name in ("times", "amplitude", "phase_width", "interphase", "latency") else np.int64)
            return np.zeros(0, dtype)
        return np.concatenate(parts)

    @property
    def input(self) -> SpikeEvents:
        """All input spikes, sorted by time (a stable sort keeps chunk order for ties)."""
        t, ch = self.array("in", "times"), self.array("in", "channels")
        order = np.argsort(t, kind="stable")
        t0 = min(self.t_start, float(t.min())) if t.size else self.t_start
        t1 = max(self.t_stop, float(t.max())) if t.size else self.t_stop
        return SpikeEvents(t[order], ch[order], self.labels, t0, t1)

    @property
    def fates(self) -> np.ndarray:
        t = self.array("in", "times")
        return self.array("in", "fates")[np.argsort(t, kind="stable")]

    @property
    def axon_frames(self) -> AxonFrames:
        return AxonFrames(self.array("ax", "cycles"), self.array("ax", "cluster"), self.array("ax", "axon"),
                          self.gclk_hz)

    @property
    def fire_events(self) -> FireEvents:
        return FireEvents(self.array("fire", "cycles"), self.array("fire", "cluster"),
                          self.array("fire", "dend"), self.gclk_hz)

    @property
    def stim_commands(self) -> StimCommands:
        g = "stim"
        return StimCommands(self.array(g, "times"), self.array(g, "electrode"), self.array(g, "amplitude"),
                            self.array(g, "phase_width"), self.array(g, "interphase"),
                            source_cycle=self.array(g, "source_cycle"))

    @property
    def refused_reasons(self) -> np.ndarray:
        return np.array(REFUSAL_REASONS, dtype="<U12")[self.array("ref", "reason")] \
            if self.array("ref", "reason").size else np.zeros(0, "<U12")

    @property
    def latencies(self) -> np.ndarray:
        return self.array("lat", "latency")

    def dropped(self) -> dict[str, int]:
        f = self.array("in", "fates")
        return {name: int(np.count_nonzero(f == c)) for name, c in DROP_FATES.items()}

    def refused(self) -> dict[str, int]:
        r = self.array("ref", "reason")
        return {name: int(np.count_nonzero(r == i)) for i, name in enumerate(REFUSAL_REASONS)}

    def summary(self) -> dict:
        """The JSON summary of a session (keys fixed by the replay issue)."""
        n_in = int(self.array("in", "times").size)
        pulses = int(np.count_nonzero(self.array("in", "fates") == SpikeFate.PULSE))
        duration = self.t_stop - self.t_start
        out = {
            "input_spikes": n_in,
            "axon_pulses": pulses,
            "dropped": self.dropped(),
            "fires": int(self.array("fire", "cycles").size),
            "stimulations": int(self.array("stim", "times").size),
            "refused": self.refused(),
            "ignored_refractory": self.ignored_refractory,
            "delayed_to_next_edge": self.delayed,
            "routing": {"routes": len(self.meta.get("routing", {}).get("routes", ())), **self.routing},
            "duration_s": duration,
            "wall_s": self.wall_s,
            "realtime_factor": duration / self.wall_s if self.wall_s > 0 else None,
        }
        lat = self.latencies
        lat = lat[np.isfinite(lat)]  # NaN: a command no input spike of its chunk triggered
        if lat.size:
            out["latency_ms"] = percentile_summary(lat, scale=1e3)
        if self.events:
            kinds: dict[str, int] = {}
            for _, k, _ in self.events:
                kinds[k] = kinds.get(k, 0) + 1
            out["notes"] = kinds
        return out

    # ---- from a journal -----------------------------------------------------------------
    @classmethod
    def from_records(cls, records: list[Record]) -> SessionLog:
        """Rebuild a log from journal records (``bioloop recover``)."""
        if not records or records[0].kind != "header":
            raise ValueError("journal has no header record; nothing can be recovered")
        h = records[0].meta
        try:
            log = cls(tuple(h["labels"]), float(h["gclk_hz"]), int(h["n_clusters"]),
                      json.loads(h["meta_json"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"journal header is damaged: {exc}") from None
        t_first, t_last, wall = None, None, 0.0
        for rec in records[1:]:
            if rec.kind == "chunk":
                log._add(rec.arrays, rec.meta)
                t = rec.arrays.get("in.times")
                if t is not None and t.size:
                    t_first = float(t.min()) if t_first is None else min(t_first, float(t.min()))
                    t_last = float(t.max()) if t_last is None else max(t_last, float(t.max()))
            elif rec.kind == "note":
                log.events.append((rec.meta.get("time", 0.0), rec.meta.get("kind", "?"), rec.meta.get("text", "")))
            elif rec.kind == "end":
                log.t_start, log.t_stop, wall = rec.meta["t_start"], rec.meta["t_stop"], rec.meta["wall_s"]
                log.wall_s = wall
                return log
        # no end record: the session was cut short; its extent is what the journal holds
        log.t_start = float(log.meta.get("t_start", t_first or 0.0))
        log.t_stop = t_last if t_last is not None else log.t_start
        log.meta["recovered"] = True
        return log
