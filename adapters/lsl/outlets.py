"""LSL outlets in bioloop's profile: spike events, chip spikes (monitoring), stimulation.

Timestamps are LSL local-clock seconds: ``timestamp = time + time_offset``. liblsl reads a
timestamp of exactly 0.0 as "now", so items whose timestamp is not positive are refused and
counted rather than sent with the wrong time.
"""

from __future__ import annotations

import numpy as np

from bioloop import validate as _v
from bioloop.sinks import FireMonitor, Sink
from bioloop.types import FireEvents, SpikeEvents, StimCommands

from .config import ensure_configured
from .profile import (
    CHIP_SPIKE_TYPE,
    FLOAT32_EXACT_INT,
    SPIKE_CHANNELS,
    SPIKE_FORMAT,
    SPIKE_TYPE,
    STIM_CHANNELS,
    STIM_FORMAT,
    STIM_TYPE,
    Electrodes,
    write_desc,
)


def _name(what: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {value!r}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


def _labels(labels) -> tuple[str, ...]:
    if isinstance(labels, str) or not all(isinstance(s, str) for s in labels):
        raise TypeError(f"labels must be a sequence of strings, got {labels!r}")
    labels = tuple(labels)
    if not labels:
        raise ValueError("labels must name at least one electrode")
    return labels


class _Outlet:
    """A pylsl outlet plus the count of what it sent and refused."""

    def __init__(self, *, name, stream_type, n_channels, channel_format, source_id, profile,
                 channels, electrodes, max_buffered, extra=()):
        pylsl = ensure_configured()
        self.name = _name("stream name", name)
        self.source_id = _name("source_id", source_id)
        info = pylsl.StreamInfo(self.name, _name("stream type", stream_type), n_channels,
                                pylsl.IRREGULAR_RATE, channel_format, self.source_id)
        write_desc(info, profile=profile, channels=channels, electrodes=electrodes, extra=extra)
        self._outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=max_buffered)
        self.uid = self._outlet.get_info().uid()
        self._clock = pylsl.local_clock
        self.pushed = 0
        self.refused: dict[str, int] = {"timestamp_not_positive": 0}

    def local_clock(self) -> float:
        return self._clock()

    @property
    def closed(self) -> bool:
        return self._outlet is None

    def push(self, rows: np.ndarray, stamps: np.ndarray) -> int:
        """Send ``rows`` (n, channels) stamped ``stamps``; refuse stamps <= 0. Returns n sent."""
        if self._outlet is None:
            raise ValueError(f"the LSL outlet {self.name!r} is closed")
        ok = stamps > 0
        self.refused["timestamp_not_positive"] += int((~ok).sum())
        if not ok.all():
            rows, stamps = rows[ok], stamps[ok]
        if stamps.size == 1:  # the live loop's usual case: one sample is cheaper than a chunk
            self._outlet.push_sample(rows[0].tolist(), float(stamps[0]))
            self.pushed += 1
        elif stamps.size:
            self._outlet.push_chunk(np.ascontiguousarray(rows), stamps.tolist())
            self.pushed += int(stamps.size)
        return int(stamps.size)

    def have_consumers(self) -> bool:
        return self._outlet.have_consumers()

    def wait_for_consumers(self, timeout: float) -> bool:
        return self._outlet.wait_for_consumers(_v.real("timeout", timeout, lo=0.0))

    def close(self) -> None:
        self._outlet = None


class _OutletFacade:
    """What every outlet of this module answers through its ``_Outlet``."""

    _out: _Outlet

    @property
    def source_id(self) -> str:
        return self._out.source_id

    def local_clock(self) -> float:
        """LSL's clock now, s."""
        return self._out.local_clock()

    def have_consumers(self) -> bool:
        """Whether an inlet is connected."""
        return self._out.have_consumers()

    def wait_for_consumers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an inlet; True when one is connected."""
        return self._out.wait_for_consumers(timeout)


class SpikeEventOutlet(_OutletFacade):
    """Publish spikes as an LSL spike-event stream (bioloop's profile).

    Parameters
    ----------
    name : str
        Stream name.
    labels : sequence of str
        Electrode labels; electrode index ``i`` is ``labels[i]``.
    source_id : str, optional
        Unique, stable id; inlets reconnect to a restarted outlet with the same one. Default
        ``"bioloop:<name>"``.
    stream_type : str
        LSL content type (default ``"SpikeEvents"``).
    positions : array (n, 2), optional
        Electrode positions, um.
    with_unit : bool
        Add the second (unit) channel.
    max_buffered : int
        liblsl outlet buffer, hundreds of spikes.

    Examples
    --------
    >>> out = SpikeEventOutlet("replay", ["A1", "A2"])  # doctest: +SKIP
    >>> out.push_events(events, time_offset=out.local_clock())  # doctest: +SKIP
    """

    profile = "spike-events"

    def __init__(self, name: str, labels, *, source_id: str | None = None,
                 stream_type: str = SPIKE_TYPE, positions=None, with_unit: bool = False,
                 max_buffered: int = 100, extra=()):
        self.labels = _labels(labels)
        if positions is not None:
            positions = np.asarray(positions, dtype=np.float64)
            if positions.shape != (len(self.labels), 2):
                raise ValueError(f"positions must have shape ({len(self.labels)}, 2), got "
                                 f"{positions.shape}")
        if not isinstance(with_unit, bool):
            raise TypeError(f"with_unit must be True or False, got {with_unit!r}")
        self.with_unit = with_unit
        n_ch = 2 if with_unit else 1
        self._out = _Outlet(name=name, stream_type=stream_type, n_channels=n_ch,
                            channel_format=SPIKE_FORMAT,
                            source_id=f"bioloop:{name}" if source_id is None else source_id,
                            profile=self.profile, channels=SPIKE_CHANNELS[:n_ch],
                            electrodes=Electrodes(self.labels, positions),
                            max_buffered=_v.integer("max_buffered", max_buffered, lo=1),
                            extra=extra)
        self.refused = self._out.refused
        self.refused.setdefault("electrode_out_of_range", 0)

    @property
    def name(self) -> str:
        return self._out.name


    @property
    def pushed(self) -> int:
        return self._out.pushed

    def push(self, times, channels, units=None, *, time_offset: float = 0.0) -> int:
        """Send spikes: ``times`` (s) on electrode ``channels``; timestamp = time + offset.

        Returns
        -------
        int
            Spikes sent; refused ones (electrode without label, timestamp <= 0) are counted
            in :attr:`refused`.
        """
        t = np.asarray(times, dtype=np.float64).ravel()
        ch = np.asarray(channels).ravel()
        if ch.size and not np.issubdtype(ch.dtype, np.integer):
            raise TypeError(f"channels must hold integers, got dtype {ch.dtype}")
        if t.shape != ch.shape:
            raise ValueError(f"times and channels differ in length: {t.size} vs {ch.size}")
        off = _v.real("time_offset", time_offset)
        ok = (ch >= 0) & (ch < len(self.labels))
        self.refused["electrode_out_of_range"] += int((~ok).sum())
        rows = np.zeros((int(ok.sum()), 2 if self.with_unit else 1), np.int32)
        rows[:, 0] = ch[ok]
        if self.with_unit:
            if units is None:
                raise ValueError("this outlet has a unit channel: pass units=")
            u = np.asarray(units).ravel()
            if u.shape != ch.shape:
                raise ValueError(f"units and channels differ in length: {u.size} vs {ch.size}")
            rows[:, 1] = u[ok]
        return self._out.push(rows, t[ok] + off)

    def push_events(self, events: SpikeEvents, *, time_offset: float = 0.0, units=None) -> int:
        """Send a :class:`~bioloop.types.SpikeEvents` (its labels must be this outlet's)."""
        if not isinstance(events, SpikeEvents):
            raise TypeError(f"events must be SpikeEvents, got {type(events).__name__}")
        if events.labels != self.labels:
            raise ValueError(f"events have {events.n_channels} electrodes {events.labels[:4]}..., "
                             f"this outlet publishes {len(self.labels)} {self.labels[:4]}...")
        return self.push(events.times, events.channels, units, time_offset=time_offset)

    def stats(self) -> dict:
        """Spikes sent and refused (by reason)."""
        return {"stream": self.name, "source_id": self.source_id, "pushed": self.pushed,
                "refused": dict(self.refused)}

    def close(self) -> None:
        """Withdraw the stream (inlets see it vanish)."""
        self._out.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ChipSpikeOutlet(SpikeEventOutlet, FireMonitor):
    """Monitoring stream of the chip's FIRE outputs, laid out like spike events.

    Neuron ``(cluster, dend)`` is channel index ``cluster * n_dends + dend``, labelled
    ``c{cluster}d{dend}``; the timestamp is the FIRE time (GCLK edge) plus ``time_offset``.
    """

    profile = "chip-spikes"

    def __init__(self, name: str, n_clusters: int, *, n_dends: int = 16,
                 source_id: str | None = None, stream_type: str = CHIP_SPIKE_TYPE,
                 max_buffered: int = 100):
        self.n_clusters = _v.integer("n_clusters", n_clusters, lo=1)
        self.n_dends = _v.integer("n_dends", n_dends, lo=1)
        labels = [f"c{c}d{d}" for c in range(self.n_clusters) for d in range(self.n_dends)]
        super().__init__(name, labels, source_id=source_id, stream_type=stream_type,
                         max_buffered=max_buffered,
                         extra=(("n_clusters", self.n_clusters), ("n_dends", self.n_dends)))
        self.refused.setdefault("neuron_out_of_range", 0)

    def write_fires(self, fires: FireEvents, *, time_offset: float = 0.0) -> None:
        """The :class:`~bioloop.sinks.FireMonitor` hot path: :meth:`push_fires`."""
        self.push_fires(fires, time_offset=time_offset)

    def push_fires(self, fires: FireEvents, *, time_offset: float = 0.0) -> int:
        """Send FIRE events (sorted by cycle first); out-of-range neurons are refused."""
        if not isinstance(fires, FireEvents):
            raise TypeError(f"fires must be FireEvents, got {type(fires).__name__}")
        order = np.argsort(fires.cycles, kind="stable")
        clu, dend = fires.cluster[order], fires.dend[order]
        ok = (clu < self.n_clusters) & (dend < self.n_dends)
        self.refused["neuron_out_of_range"] += int((~ok).sum())
        index = clu[ok] * self.n_dends + dend[ok]
        return self.push(fires.times[order][ok], index, time_offset=time_offset)


class LSLStimSink(_OutletFacade, Sink):
    """Stimulation commands out as an LSL stream (bioloop's profile).

    Each command is one sample ``[electrode, amplitude_uA, phase_width_us, interphase_us]``
    (float32; the sign of the amplitude is the first phase's polarity of a biphasic,
    charge-balanced pulse) stamped with its intended delivery time ``times + time_offset``.

    Parameters
    ----------
    name : str
        Stream name (default ``"bioloop-stim"``).
    labels : sequence of str
        Electrode labels; commands for electrodes without a label are refused and counted.
    source_id : str, optional
        Default ``"bioloop:<name>"``.
    time_offset : float
        Added to command times to make LSL timestamps; 0 when the times are already LSL
        local-clock seconds (as the LSL sources deliver them).

    Examples
    --------
    >>> sink = LSLStimSink(labels=["A1", "A2"])  # doctest: +SKIP
    >>> sink.write(commands)  # doctest: +SKIP
    """

    name = "lsl"

    def __init__(self, name: str = "bioloop-stim", *, labels, source_id: str | None = None,
                 stream_type: str = STIM_TYPE, time_offset: float = 0.0,
                 max_buffered: int = 10):
        self.labels = _labels(labels)
        if len(self.labels) >= FLOAT32_EXACT_INT:
            raise ValueError(f"{len(self.labels)} electrodes do not fit a float32 channel exactly "
                             f"(at most {FLOAT32_EXACT_INT - 1})")
        self.time_offset = _v.real("time_offset", time_offset)
        self._out = _Outlet(name=name, stream_type=stream_type, n_channels=len(STIM_CHANNELS),
                            channel_format=STIM_FORMAT,
                            source_id=f"bioloop:{name}" if source_id is None else source_id,
                            profile="stimulation", channels=STIM_CHANNELS,
                            electrodes=Electrodes(self.labels),
                            max_buffered=_v.integer("max_buffered", max_buffered, lo=1),
                            extra=(("waveform", "biphasic, charge-balanced; sign of amplitude = "
                                                "polarity of the first phase"),
                                   ("timestamp", "intended delivery time")))
        self.refused = self._out.refused
        self.refused.setdefault("electrode_out_of_range", 0)

    @property
    def stream_name(self) -> str:
        return self._out.name


    @property
    def written(self) -> int:
        """Commands sent so far."""
        return self._out.pushed

    def write(self, commands: StimCommands) -> None:
        """Send the commands; refused ones are counted in :attr:`refused` by reason."""
        if not isinstance(commands, StimCommands):
            raise TypeError(f"commands must be StimCommands, got {type(commands).__name__}")
        if len(commands) == 0:
            return
        ok = commands.electrode < len(self.labels)
        self.refused["electrode_out_of_range"] += int((~ok).sum())
        rows = np.column_stack([commands.electrode[ok], commands.amplitude[ok] * 1e6,
                                commands.phase_width[ok] * 1e6,
                                commands.interphase[ok] * 1e6]).astype(np.float32)
        self._out.push(rows, commands.times[ok] + self.time_offset)

    def stats(self) -> dict:
        """Commands sent and refused (by reason)."""
        return {"stream": self.stream_name, "source_id": self.source_id,
                "written": self.written, "refused": dict(self.refused)}

    def close(self) -> None:
        """Withdraw the stream (idempotent)."""
        self._out.close()
