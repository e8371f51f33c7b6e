"""Reader of Cortical Labs CL API recordings (HDF5 written by the ``cl`` SDK's recorder).

Layout, as the SDK's recording writer makes it with PyTables (public ``cl-sdk`` repository,
``Recording`` / ``RecordingWriter``; read here with h5py, our own code):

- ``/spikes``: a table of rows ``timestamp`` (int64, frames), ``channel`` (uint8) and
  ``samples`` (75 float32, the waveform around the spike, µV);
- ``/stims``: a table of rows ``timestamp``, ``channel``: the stimulation the system delivered;
- ``/samples`` (optional): raw frames x channels, int16; ``/data_stream`` (optional);
- root attributes: ``channel_count``, ``sampling_frequency``, ``frames_per_second`` (25 kHz),
  ``uV_per_sample_unit``, ``start_timestamp``, ``end_timestamp``, ``duration_frames``,
  ``duration_seconds``, ISO dates, and ``file_format`` / ``application`` dictionaries.

Timestamps count frames; the SDK writes them relative to ``start_timestamp``
(``file_format["stim_and_spike_timestamps_relative_to_start"]``). PyTables stores dictionary
attributes (and ``None``) as Python pickles: those are never loaded here (a pickle runs code);
the reader names them in a note instead, and decides relative vs absolute timestamps from the
numbers (timestamps at or after ``start_timestamp`` and beyond the recording's duration are
absolute and are shifted to the start).

Spikes: one channel per electrode, labels ``ch<index>`` for ``0..channel_count-1``.
Stimulation: :class:`bioloop.recording.RecordedStimulation`, carried by the file source so a
session can show it beside bioloop's own.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field

import h5py
import numpy as np

from bioloop.recording import RecordedStimulation, RecordingHeader
from bioloop.types import SpikeEvents

from .common import existing_file

CL_FRAME_RATE_DEFAULT = 25_000.0  #: Hz; the CL1's frame rate, when the file does not say


@dataclass(frozen=True, kw_only=True)
class CLHeader(RecordingHeader):
    """What a CL recording says besides its spikes: its clock, attributes and stimulation count."""

    format: str = "cl"
    frames_per_second: float = CL_FRAME_RATE_DEFAULT
    start_timestamp: int | None = None
    timestamps: str = "relative to start_timestamp"
    attributes: dict = field(default_factory=dict)  #: plain (non-pickled) root attributes
    n_stims: int = 0


@dataclass(frozen=True)
class CLRecording:
    """Spikes (sorted by time) and the recorded stimulation of a CL file."""

    header: CLHeader
    events: SpikeEvents
    stimulation: RecordedStimulation

    def spike_events(self) -> SpikeEvents:
        return self.events


def is_cl_recording(h5: h5py.File) -> bool:
    """Whether an open HDF5 file has the CL layout: a ``/spikes`` table of timestamp, channel."""
    ds = h5.get("spikes")
    if not isinstance(ds, h5py.Dataset) or ds.dtype.names is None:
        return False
    return {"timestamp", "channel"} <= set(ds.dtype.names)


_PYTABLES_SYSTEM = {"CLASS", "PYTABLES_FORMAT_VERSION", "TITLE", "VERSION", "FILTERS"}
RELATIVE_FLAG = "stim_and_spike_timestamps_relative_to_start"


def _pickle_ops(v) -> list | None:
    """The opcodes of a pickled attribute value (parsed by :mod:`pickletools`, never run), or
    None when the value is not a pickle."""
    if not isinstance(v, bytes | np.bytes_):
        return None
    raw = bytes(v)
    if not raw.endswith(b"."):
        return None
    try:
        ops = list(pickletools.genops(raw))
    except (ValueError, EOFError, IndexError, KeyError, UnicodeDecodeError):
        return None
    return ops if ops and ops[-1][0].name == "STOP" else None


def pickled_flag(ops: list, key: str) -> bool | None:
    """A boolean stored under ``key`` in a pickled dict, read from its opcodes (not unpickled).

    Examples
    --------
    >>> ops = list(pickletools.genops(b"(dp0\\nVflag\\np1\\nI01\\ns."))
    >>> pickled_flag(ops, "flag")
    True
    """
    for i, (op, arg, _pos) in enumerate(ops):
        if arg == key and "UNICODE" in op.name or arg == key and "STRING" in op.name:
            for op2, arg2, _ in ops[i + 1:]:
                if op2.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                    continue
                if op2.name in ("NEWTRUE", "NEWFALSE"):
                    return op2.name == "NEWTRUE"
                if op2.name == "INT" and isinstance(arg2, bool):
                    return arg2
                return None
    return None


def _attributes(h5: h5py.File) -> tuple[dict, dict]:
    """Plain root attributes, and the opcodes of those stored as Python pickles (not loaded)."""
    plain, pickled = {}, {}
    for key in h5.attrs:
        if key in _PYTABLES_SYSTEM:
            continue
        try:
            v = h5.attrs[key]
        except (OSError, TypeError, ValueError):
            pickled[key] = []
            continue
        if isinstance(v, h5py.Empty):
            continue
        ops = _pickle_ops(v)
        if ops is not None:
            pickled[key] = ops
            continue
        if isinstance(v, bytes | np.bytes_):
            v = bytes(v).decode("utf-8", "replace")
        elif isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            if v.dtype.kind in "OV":
                pickled[key] = []
                continue
            v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v.tolist()]
        plain[key] = v
    return plain, pickled


def _table(p, h5: h5py.File, name: str) -> tuple[np.ndarray, np.ndarray]:
    ds = h5.get(name)
    if ds is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not isinstance(ds, h5py.Dataset) or ds.dtype.names is None or \
            not {"timestamp", "channel"} <= set(ds.dtype.names):
        raise ValueError(f"{p}: /{name} is not a table of (timestamp, channel) rows")
    try:
        ts = np.asarray(ds.fields("timestamp")[()], np.int64).ravel()
        ch = np.asarray(ds.fields("channel")[()], np.int64).ravel()
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{p}: /{name} could not be read (corrupt file?): {err}") from err
    return ts, ch


def read_cl_recording(path) -> CLRecording:
    """Read a Cortical Labs CL API recording: spikes, recorded stimulation, attributes.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file written by the ``cl`` SDK's recorder.

    Returns
    -------
    CLRecording
        ``events`` (SpikeEvents, s), ``stimulation`` (RecordedStimulation) and the header.

    Raises
    ------
    TypeError
        If ``path`` is not a str or Path.
    ValueError
        If the file is missing, not HDF5 or truncated, has no ``/spikes`` table of (timestamp,
        channel), a frame rate that is not positive, a channel outside ``0..channel_count-1``
        or negative, timestamps before the recording's start, or no spike. The message names
        the file.

    Examples
    --------
    >>> rec = read_cl_recording("2025-01-01_recording.h5")  # doctest: +SKIP
    >>> rec.header.frames_per_second, len(rec.stimulation)  # doctest: +SKIP
    (25000.0, 120)
    """
    p = existing_file(path)
    try:
        h5 = h5py.File(p, "r")
    except OSError as err:
        raise ValueError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {err}") from err
    with h5:
        if not is_cl_recording(h5):
            raise ValueError(f"{p}: not a CL API recording (no /spikes table of timestamp, "
                             f"channel)")
        attrs, pickled = _attributes(h5)
        sp_ts, sp_ch = _table(p, h5, "spikes")
        st_ts, st_ch = _table(p, h5, "stims")
        has_stims = "stims" in h5
    notes = []
    fps = attrs.get("frames_per_second", attrs.get("sampling_frequency"))
    if fps is None:
        fps = CL_FRAME_RATE_DEFAULT
        notes.append(f"no frames_per_second attribute: {CL_FRAME_RATE_DEFAULT:g} frames/s "
                     f"assumed (the CL1's rate)")
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"{p}: frames_per_second = {fps}; must be a positive rate")
    if pickled:
        notes.append(f"attribute(s) {', '.join(sorted(pickled))} are Python pickles (PyTables "
                     f"stores dictionaries and None that way): not loaded")
    relative = pickled_flag(pickled.get("file_format", []), RELATIVE_FLAG)
    n_chan = attrs.get("channel_count")
    top = int(max(sp_ch.max(initial=-1), st_ch.max(initial=-1)))
    if n_chan is None:
        n_chan = top + 1
        notes.append(f"no channel_count attribute: {n_chan} channels, up to the highest one "
                     f"that spiked or was stimulated")
    n_chan = int(n_chan)
    for name, ch in (("spikes", sp_ch), ("stims", st_ch)):
        if ch.size and (ch.min() < 0 or ch.max() >= n_chan):
            bad = int(ch[(ch < 0) | (ch >= n_chan)][0])
            raise ValueError(f"{p}: /{name} names channel {bad}, outside 0..{n_chan - 1} "
                             f"(channel_count = {n_chan})")
    start = attrs.get("start_timestamp")
    dur_frames = attrs.get("duration_frames")
    mode = "relative to start_timestamp"
    allts = np.concatenate([sp_ts, st_ts])
    if allts.size and allts.min() < 0:
        raise ValueError(f"{p}: a timestamp of {int(allts.min())} frames is negative")
    if relative is not None:
        notes.append(f"file_format.{RELATIVE_FLAG} = {relative} (read from the pickle's "
                     f"opcodes, not unpickled)")
    if start is not None and allts.size and (relative is False or relative is None and (
            allts.min() >= int(start) > 0 and (dur_frames is None or allts.max() > int(dur_frames)))):
        sp_ts, st_ts = sp_ts - int(start), st_ts - int(start)
        mode = "absolute (at or after start_timestamp): shifted to the start"
        notes.append(f"spike and stim timestamps are absolute frames (>= start_timestamp "
                     f"{int(start)}): times count from start_timestamp")
        early = np.concatenate([sp_ts, st_ts])
        if early.size and early.min() < 0:
            raise ValueError(f"{p}: a timestamp {int(early.min() + int(start))} is before "
                             f"start_timestamp {int(start)} of an absolute-timestamp file")
    times = sp_ts / fps
    if times.size == 0:
        raise ValueError(f"{p}: the recording holds no spikes (/spikes is empty)")
    order = np.lexsort((sp_ch, times))
    if np.any(order != np.arange(order.size)):
        notes.append("/spikes rows are not in time order: sorted (nothing dropped)")
    times, chans = times[order], sp_ch[order]
    stim_t = st_ts / fps
    s_order = np.argsort(stim_t, kind="stable")
    stim_t, st_ch = stim_t[s_order], st_ch[s_order]
    t_stop_data = float(max(times[-1], stim_t[-1] if stim_t.size else 0.0))
    if dur_frames is not None and float(dur_frames) / fps >= t_stop_data:
        t_stop, seg_from = float(dur_frames) / fps, "0 s to duration_frames / frames_per_second"
    else:
        t_stop, seg_from = t_stop_data, "0 s to the last spike or stim (no usable duration)"
        if dur_frames is not None:
            notes.append(f"duration_frames = {dur_frames} ends before the last event: the "
                         f"segment runs to the last event")
    if not has_stims:
        notes.append("no /stims table: the recording logged no stimulation")
    labels = tuple(f"ch{i}" for i in range(n_chan))
    ev = SpikeEvents(times, chans, labels, 0.0, t_stop)
    header = CLHeader(path=str(p), labels=labels, t_start=0.0, t_stop=t_stop,
                      segment_from=seg_from, notes=tuple(notes), frames_per_second=fps,
                      start_timestamp=None if start is None else int(start), timestamps=mode,
                      attributes=attrs, n_stims=int(stim_t.size))
    return CLRecording(header, ev, RecordedStimulation(stim_t, st_ch, labels, source="/stims"))
