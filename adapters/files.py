"""One entry for recordings on disk: :func:`open_recording` picks the reader, returns a Source.

Formats: ``"sjemea"`` (HDF5 spike-time layout, :mod:`.sjemea`), ``"nexTimestamps"``
(NeuroExplorer timestamp text, :mod:`.nex_timestamps`), and everything Neo reads
(:mod:`.neo_files`; ``"neo"`` lets Neo pick by suffix, or name a Neo IO such as ``"nix"``).
Without ``format`` the file is sniffed: an HDF5 file with ``/spikes``, ``/sCount`` and
``/names`` is sjemea, a ``.nexTimestamps`` suffix is the text layout, anything else goes to Neo.

Trimming to a time window (``--start/--stop``) is the encoder's job, not the reader's.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from bioloop import validate as _v
from bioloop.sources import Source
from bioloop.types import SpikeEvents

from .neo_files import DetectionOptions, read_neo_file
from .nex_timestamps import read_nex_timestamps
from .sjemea import HDF5_SIGNATURE, REQUIRED, existing_file, read_sjemea

SJEMEA, NEX_TIMESTAMPS, NEO = "sjemea", "nexTimestamps", "neo"
_FORMAT_ALIASES = {"sjemea": SJEMEA, "nextimestamps": NEX_TIMESTAMPS,
                   "nex-timestamps": NEX_TIMESTAMPS, "neo": NEO}


def sniff_format(path) -> str:
    """``"sjemea"``, ``"nexTimestamps"`` or ``"neo"`` for a file, from its suffix and content.

    Examples
    --------
    >>> sniff_format("TC89_DIV15_A.nexTimestamps")  # doctest: +SKIP
    'nexTimestamps'
    """
    p = existing_file(path)
    if p.suffix.lower() == ".nextimestamps":
        return NEX_TIMESTAMPS
    if _is_hdf5(p):
        try:
            with h5py.File(p, "r") as h5:
                if all(k in h5 for k in REQUIRED):
                    return SJEMEA
        except OSError as err:
            raise ValueError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {err}"
                             ) from err
    return NEO


def _is_hdf5(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(8) == HDF5_SIGNATURE


class RecordingSource(Source):
    """A recording on disk as a :class:`~bioloop.sources.Source` of SpikeEvents.

    The whole file is read (and checked) when the source is made; :meth:`read_chunk` hands it
    out whole, or in windows of ``chunk_duration`` seconds.

    Parameters
    ----------
    path : str or Path
        The recording.
    format : str, optional
        ``"sjemea"``, ``"nexTimestamps"``, ``"neo"`` or a Neo IO name (``"nix"``...); default:
        sniffed.
    well : str, optional
        sjemea plate files: keep one well (``"A1"``).
    segment : int, optional
        Neo files: which segment when the Block has several.
    use : {"auto", "spiketrains", "analogsignals"}, optional
        Neo files: what to take spikes from.
    threshold_sd, polarity, dead_time : optional
        Neo files with AnalogSignals: detection threshold (robust sd), ``"negative"`` /
        ``"positive"`` / ``"both"``, dead time (s). Defaults 5, negative, 1 ms.
    chunk_duration : float, optional
        Window of :meth:`read_chunk` in seconds; default everything in one chunk.

    Raises
    ------
    TypeError, ValueError
        For a missing, unknown, corrupt or invalid file, and for options that do not apply to
        the file's format (e.g. ``well`` for a NIX file); messages name the file.
    """

    name: ClassVar[str] = "file"  #: its entry-point name

    def __init__(self, path, *, format: str | None = None, well: str | None = None,
                 segment: int | None = None, use: str | None = None,
                 threshold_sd: float | None = None, polarity: str | None = None,
                 dead_time: float | None = None, chunk_duration: float | None = None):
        p = existing_file(path)
        fmt, neo_io = self._resolve_format(p, format)
        if chunk_duration is not None:
            chunk_duration = _v.real("chunk_duration", chunk_duration, lo=0.0, lo_open=True)
        det_given = {k: v for k, v in (("threshold_sd", threshold_sd), ("polarity", polarity),
                                       ("dead_time", dead_time)) if v is not None}
        if fmt != SJEMEA and well is not None:
            raise ValueError(f"{p}: well = {well!r} applies only to sjemea multi-well plate "
                             f"files; this file is read as {fmt}")
        if fmt != NEO:
            extra = dict(det_given)
            if segment is not None:
                extra["segment"] = segment
            if use is not None:
                extra["use"] = use
            if extra:
                raise ValueError(f"{p}: option(s) {sorted(extra)} apply only to files read "
                                 f"through Neo; this file is read as {fmt}")
        if fmt == SJEMEA:
            rec = read_sjemea(p, well=well)
        elif fmt == NEX_TIMESTAMPS:
            rec = read_nex_timestamps(p)
        else:
            try:
                rec = read_neo_file(p, format=neo_io, segment=segment, use=use or "auto",
                                    detection=DetectionOptions(**det_given))
            except ValueError as err:
                if format is None and _is_hdf5(p) and "Neo could not read" in str(err):
                    raise ValueError(f"{p}: an HDF5 file, but neither the sjemea layout "
                                     f"(/{', /'.join(REQUIRED)}) nor a format Neo reads. "
                                     f"{err}") from err
                raise
        self._events = rec.spike_events()
        self.header = rec.header
        self.path = p
        self.format = fmt
        self.chunk_duration = chunk_duration
        self._cursor = self._events.t_start
        self._done = False

    @staticmethod
    def _resolve_format(p: Path, format) -> tuple[str, str | None]:
        if format is None:
            return sniff_format(p), None
        if not isinstance(format, str):
            raise TypeError(f"format must be a string, got {format!r}")
        key = format.lower()
        if key in _FORMAT_ALIASES:
            return _FORMAT_ALIASES[key], None
        return NEO, format  # a Neo IO name; read_neo_file says if there is no such IO

    @property
    def labels(self) -> tuple[str, ...]:
        return self._events.labels

    @property
    def events(self) -> SpikeEvents:
        """The whole recording, whatever has been read already."""
        return self._events

    @property
    def positions_um(self) -> np.ndarray | None:
        """Electrode positions (n_channels, 2) in micrometres, when the file gives them."""
        return getattr(self.header, "positions_um", None)

    def read_chunk(self, timeout: float = 0.0) -> SpikeEvents | None:
        """The next window of spikes (the whole recording when ``chunk_duration`` is None)."""
        if self._done:
            return None
        ev = self._events
        if self.chunk_duration is None:
            self._done = True
            return ev
        lo = self._cursor
        hi = min(lo + self.chunk_duration, ev.t_stop)
        last = hi >= ev.t_stop
        i0 = np.searchsorted(ev.times, lo, side="left")
        i1 = np.searchsorted(ev.times, hi, side="right" if last else "left")
        self._cursor = hi
        self._done = last
        return SpikeEvents(ev.times[i0:i1], ev.channels[i0:i1], ev.labels, lo, hi)

    def summary(self) -> dict:
        """A small dict for the CLI: file, format, counts, segment, notes."""
        ev = self._events
        return {"path": str(self.path), "format": self.format, "n_channels": ev.n_channels,
                "n_spikes": len(ev), "t_start": ev.t_start, "t_stop": ev.t_stop,
                "notes": list(getattr(self.header, "notes", ()))}


def open_recording(path, *, format: str | None = None, well: str | None = None,
                   segment: int | None = None, use: str | None = None,
                   threshold_sd: float | None = None, polarity: str | None = None,
                   dead_time: float | None = None, chunk_duration: float | None = None
                   ) -> RecordingSource:
    """Open a recording file as a :class:`RecordingSource` (see there for the parameters).

    Returns
    -------
    RecordingSource
        ``read_all()`` gives the recording's :class:`~bioloop.types.SpikeEvents`.

    Examples
    --------
    >>> src = open_recording("TC89_DIV15_A.nexTimestamps")  # doctest: +SKIP
    >>> ev = src.read_all()  # doctest: +SKIP
    >>> ev.n_channels, len(ev)  # doctest: +SKIP
    (59, 208277)
    """
    return RecordingSource(path, format=format, well=well, segment=segment, use=use,
                           threshold_sd=threshold_sd, polarity=polarity, dead_time=dead_time,
                           chunk_duration=chunk_duration)
