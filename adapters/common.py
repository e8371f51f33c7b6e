"""Helpers every recording reader uses: one place for them (the readers import from here).

- :func:`existing_file`: a path argument checked (TypeError / ValueError naming it);
- :func:`is_hdf5`, :func:`decode_text`: what a file is, by content;
- :func:`check_grouped_times`, :func:`grouped_to_spike_events`: spike times grouped per channel
  (the sjemea ``/spikes`` + ``/sCount`` layout, ragged text columns, MC_DataTool blocks) checked
  and turned into :class:`~bioloop.types.SpikeEvents`;
- :class:`GroupedRecording`, :class:`EventsRecording`: the two shapes of a reader's result,
  both with ``header`` (a :class:`bioloop.recording.RecordingHeader`) and ``spike_events()``;
- ``h5_text`` / ``h5_texts`` / ``h5_scalar``: HDF5 values as Python values, whatever shape
  (``()`` or ``(1,)``) and string type the writer chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioloop.recording import RecordingHeader
from bioloop.types import SpikeEvents

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path) -> bool:
    """Whether the file starts with the HDF5 signature (it may still be truncated)."""
    with open(path, "rb") as fh:
        return fh.read(8) == HDF5_SIGNATURE


def decode_text(raw: bytes, source: str) -> str:
    """Text of a file: UTF-8, else Latin-1 (MCS tools write ``\xb5V`` in Latin-1).

    Raises
    ------
    ValueError
        If the bytes hold NUL characters (a binary file), naming ``source``.

    Examples
    --------
    >>> decode_text("[\xb5V]".encode("latin-1"), "demo")
    '[\xb5V]'
    """
    if b"\x00" in raw[:4096]:
        raise ValueError(f"{source}: not a text file (binary content)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass(frozen=True)
class GroupedRecording:
    """A reader's result as spike times grouped channel after channel (sorted within one)."""

    header: RecordingHeader
    times: np.ndarray
    counts: np.ndarray

    def channel_times(self, i: int) -> np.ndarray:
        """Spike times of channel ``i`` (s)."""
        off = np.concatenate([[0], np.cumsum(self.counts)])
        return self.times[off[i]:off[i + 1]]

    def spike_events(self) -> SpikeEvents:
        """All spikes as :class:`~bioloop.types.SpikeEvents` (sorted by time, ties by channel)."""
        h = self.header
        return grouped_to_spike_events(self.times, self.counts, h.labels, t_start=h.t_start,
                                       t_stop=h.t_stop, source=h.path)


@dataclass(frozen=True)
class EventsRecording:
    """A reader's result as :class:`~bioloop.types.SpikeEvents` already sorted by time."""

    header: RecordingHeader
    events: SpikeEvents

    def spike_events(self) -> SpikeEvents:
        return self.events


def check_grouped_times(times: np.ndarray, counts: np.ndarray, labels, *, t_start: float,
                        t_stop: float, source: str) -> None:
    """Check spike times grouped per channel; ValueError naming ``source`` and the channel.

    Refused: NaN or infinite times, negative times, times out of order within a channel,
    times outside ``[t_start, t_stop]``, and a recording without any spike.

    Examples
    --------
    >>> check_grouped_times(np.array([0.2, 0.1]), np.array([1, 1]), ("a", "b"),
    ...                     t_start=0.0, t_stop=1.0, source="demo")
    >>> check_grouped_times(np.array([0.2, 0.1]), np.array([2]), ("a",),
    ...                     t_start=0.0, t_stop=1.0, source="demo")
    Traceback (most recent call last):
    ...
    ValueError: demo: spike times of channel 'a' are not sorted: 0.1 s comes after 0.2 s
    """
    if times.size == 0:
        raise ValueError(f"{source}: the recording holds no spikes ({len(labels)} channels, "
                         f"all empty)")
    off = np.concatenate([[0], np.cumsum(counts)])

    def chan(j):
        return labels[int(np.searchsorted(off, j, side="right") - 1)]

    bad = ~np.isfinite(times)
    if bad.any():
        j = int(np.argmax(bad))
        raise ValueError(f"{source}: spike time {times[j]} on channel {chan(j)!r}; spike times "
                         f"must be finite numbers")
    if times.min() < 0:
        j = int(np.argmin(times))
        raise ValueError(f"{source}: spike time {times[j]:g} s on channel {chan(j)!r} is "
                         f"negative; times count from the start of the recording")
    if times.size > 1:
        d = np.diff(times) < 0
        d[off[1:-1][(off[1:-1] > 0) & (off[1:-1] < times.size)] - 1] = False  # channel changes
        if d.any():
            j = int(np.argmax(d)) + 1
            raise ValueError(f"{source}: spike times of channel {chan(j)!r} are not sorted: "
                             f"{times[j]:g} s comes after {times[j - 1]:g} s")
    lo, hi = int(np.argmin(times)), int(np.argmax(times))
    if times[lo] < t_start or times[hi] > t_stop:
        j = lo if times[lo] < t_start else hi
        raise ValueError(f"{source}: spike at {times[j]:g} s on channel {chan(j)!r} is outside "
                         f"the recording segment [{t_start:g}, {t_stop:g}] s")


def grouped_to_spike_events(times: np.ndarray, counts: np.ndarray, labels, *, t_start: float,
                            t_stop: float, source: str) -> SpikeEvents:
    """SpikeEvents from times grouped per channel (the sjemea ``/spikes`` + ``/sCount`` layout).

    Examples
    --------
    >>> ev = grouped_to_spike_events(np.array([0.3, 0.1, 0.2]), np.array([1, 2]), ("a", "b"),
    ...                              t_start=0.0, t_stop=1.0, source="demo")
    >>> ev.times.tolist(), ev.channels.tolist()
    ([0.1, 0.2, 0.3], [1, 1, 0])
    """
    times = np.asarray(times, np.float64)
    counts = np.asarray(counts, np.int64)
    check_grouped_times(times, counts, labels, t_start=t_start, t_stop=t_stop, source=source)
    chans = np.repeat(np.arange(len(labels), dtype=np.int64), counts)
    order = np.lexsort((chans, times))
    return SpikeEvents(times[order], chans[order], tuple(labels), t_start, t_stop)


def existing_file(path, what: str = "recording") -> Path:
    """``path`` as a Path to an existing regular file; ValueError/TypeError otherwise."""
    if not isinstance(path, str | Path):
        raise TypeError(f"{what} path must be a str or Path, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} file {p} does not exist")
    if not p.is_file():
        raise ValueError(f"{what} path {p} is not a file")
    if p.stat().st_size == 0:
        raise ValueError(f"{what} file {p} is empty (0 bytes)")
    return p


def h5_text(a) -> str:
    if isinstance(a, bytes | np.bytes_):
        return a.decode("utf-8", "replace").strip()
    return str(a).strip()


def h5_texts(ds) -> list[str]:
    return [h5_text(x) for x in np.asarray(ds[()]).ravel()]


def h5_scalar(ds):
    v = np.asarray(ds[()])
    if v.dtype.kind in "SUO":
        vals = [h5_text(x) for x in v.ravel()]
        return vals[0] if len(vals) == 1 else vals
    if v.size == 1:
        return v.ravel()[0].item()
    return v.tolist()
