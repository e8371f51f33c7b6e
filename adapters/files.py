"""One entry for recordings on disk: :func:`open_recording` picks the reader, returns a Source.

Formats, recognised by content whatever the file's suffix (:func:`sniff_format`):

- ``"sjemea"``: HDF5 with ``/spikes`` and ``/sCount`` (:mod:`.sjemea`);
- ``"cl"``: HDF5 written by the Cortical Labs ``cl`` SDK recorder, a ``/spikes`` table of
  ``timestamp`` (frames) and ``channel`` (:mod:`.cortical_labs`);
- ``"nwb"``: an NWB file (HDF5 with ``nwb_version``) with a Units table (:mod:`.nwb_units`);
- ``"mcDataTool"``: MC_DataTool's ASCII spike export (:mod:`.mc_datatool`);
- ``"nexTimestamps"``: the ragged timestamp table, one column of spike times per electrode
  (NeuroExplorer's export, sjemea's ``.nexTimestamps`` / ``.txt``; :mod:`.nex_timestamps`);
- everything else goes to Neo (:mod:`.neo_files`; ``"neo"`` lets Neo pick by suffix, or name a
  Neo IO such as ``"nix"``).

A file that none of them reads is refused with one line naming the formats tried.
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

from .common import decode_text, existing_file, is_hdf5
from .cortical_labs import is_cl_recording, read_cl_recording
from .mc_datatool import MC_DATATOOL_MARK, read_mc_datatool
from .neo_files import DetectionOptions, read_neo_file
from .nex_timestamps import looks_like_timestamp_table, read_nex_timestamps
from .nwb_units import is_nwb_file, read_nwb_units
from .sjemea import REQUIRED, read_sjemea

SJEMEA, CL, NWB, MC_DATATOOL, NEX_TIMESTAMPS, NEO = (
    "sjemea", "cl", "nwb", "mcDataTool", "nexTimestamps", "neo")
_FORMAT_ALIASES = {"sjemea": SJEMEA, "nextimestamps": NEX_TIMESTAMPS,
                   "nex-timestamps": NEX_TIMESTAMPS, "timestamps": NEX_TIMESTAMPS,
                   "mcdatatool": MC_DATATOOL, "mc_datatool": MC_DATATOOL, "cl": CL,
                   "cortical-labs": CL, "nwb": NWB, "neo": NEO}
#: what each format is, for the one line that refuses a file none of them reads
FORMATS_TRIED = {
    SJEMEA: "sjemea HDF5 (/spikes + /sCount)",
    CL: "Cortical Labs CL HDF5 (/spikes table of timestamp, channel)",
    NWB: "NWB with a Units table",
    MC_DATATOOL: "MC_DataTool ASCII spike export",
    NEX_TIMESTAMPS: "timestamp text table (one column of spike times per electrode)",
    NEO: "the Neo IOs for its suffix",
}
_TEXT_HEAD = 65536  #: bytes of a text file looked at to recognise its layout


def sniff_format(path) -> str:
    """The reader for a file, from its content (its suffix only for Neo).

    Returns one of ``"sjemea"``, ``"cl"``, ``"nwb"``, ``"mcDataTool"``, ``"nexTimestamps"``,
    ``"neo"``.

    Raises
    ------
    ValueError
        If the file is missing, or an HDF5 file that cannot be opened (truncated / corrupt).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "spikes.txt"
    >>> _ = p.write_text("ch_12A_unit_0\\tch_13A_unit_0\\n0.5\\t0.25\\n0.75\\t\\n")
    >>> sniff_format(p)
    'nexTimestamps'
    """
    p = existing_file(path)
    if is_hdf5(p):
        try:
            with h5py.File(p, "r") as h5:
                if all(k in h5 and isinstance(h5[k], h5py.Dataset) for k in REQUIRED):
                    return SJEMEA
                if is_cl_recording(h5):
                    return CL
                if is_nwb_file(h5):
                    return NWB
        except OSError as err:
            raise ValueError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {err}"
                             ) from err
        return NEO
    with open(p, "rb") as fh:
        head = fh.read(_TEXT_HEAD)
    try:
        text = decode_text(head, str(p))
    except ValueError:
        return NEO  # binary: Neo's business
    if text.lstrip("\ufeff").startswith(MC_DATATOOL_MARK):
        return MC_DATATOOL
    if p.suffix.lower() == ".nextimestamps" or looks_like_timestamp_table(text):
        return NEX_TIMESTAMPS
    return NEO


def _refused(p: Path, err: Exception, table_error: Exception | None = None) -> ValueError:
    """The one line for a file no reader takes: every format tried, and what they said."""
    def short(e: Exception, n: int) -> str:
        why = " ".join(str(e).split())
        if why.startswith(f"{p}: "):
            why = why[len(f"{p}: "):]
        return why if len(why) <= n else why[:n - 3] + "..."

    table = f"timestamp table: {short(table_error, 150)}; " if table_error else ""
    return ValueError(f"{p}: not a recording bioloop reads; tried {'; '.join(FORMATS_TRIED.values())} "
                      f"({table}Neo: {short(err, 300)})")


def _is_text(p: Path) -> bool:
    """Whether a file is text (as :func:`sniff_format` decides before handing it to Neo)."""
    if is_hdf5(p):
        return False
    with open(p, "rb") as fh:
        head = fh.read(_TEXT_HEAD)
    try:
        decode_text(head, str(p))
    except ValueError:
        return False
    return True


def _table_error(p: Path) -> ValueError | None:
    """What the timestamp-table reader says of a text file (None if it reads it)."""
    try:
        read_nex_timestamps(p)
    except ValueError as err:
        return err
    return None


class RecordingSource(Source):
    """A recording on disk as a :class:`~bioloop.sources.Source` of SpikeEvents.

    The whole file is read (and checked) when the source is made; :meth:`read_chunk` hands it
    out whole, or in windows of ``chunk_duration`` seconds.

    Parameters
    ----------
    path : str or Path
        The recording.
    format : str, optional
        ``"sjemea"``, ``"cl"``, ``"nwb"``, ``"mcDataTool"``, ``"nexTimestamps"``, ``"neo"`` or
        a Neo IO name (``"nix"``...); default: recognised by content (:func:`sniff_format`).
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

    name: ClassVar[str] = "file"  #: its entry-point name in bioloop.sources

    #: what the recording itself says was stimulated (Cortical Labs CL files), else None
    recorded_stimulation = None

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
        rec, table_error = None, None
        if fmt == SJEMEA:
            rec = read_sjemea(p, well=well)
        elif fmt == NEX_TIMESTAMPS:
            try:
                rec = read_nex_timestamps(p)
            except ValueError as err:
                if format is not None or p.suffix.lower() == ".nextimestamps":
                    raise
                # only looked like a timestamp table: Neo may know better
                fmt, table_error = NEO, err
        elif fmt == MC_DATATOOL:
            rec = read_mc_datatool(p)
        elif fmt == CL:
            rec = read_cl_recording(p)
        elif fmt == NWB:
            rec = read_nwb_units(p)
        if rec is None:
            try:
                rec = read_neo_file(p, format=neo_io, segment=segment, use=use or "auto",
                                    detection=DetectionOptions(**det_given))
            except ValueError as err:
                msg = str(err)
                if format is None and ("Neo could not read" in msg or "unknown format" in msg):
                    raise _refused(p, err, table_error) from err
                if format is None and _is_text(p):
                    # a text file Neo guessed by its suffix (AsciiSignalIO for .txt) and could not
                    # read is none of the formats either; the table reader says what it saw
                    raise _refused(p, err, table_error or _table_error(p)) from err
                raise
        self._events = rec.spike_events()
        self.header = rec.header
        self.recorded_stimulation = getattr(rec, "stimulation", None)
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
        out = {"path": str(self.path), "format": self.format, "n_channels": ev.n_channels,
               "n_spikes": len(ev), "t_start": ev.t_start, "t_stop": ev.t_stop,
               "segment_from": self.header.segment_from, "notes": list(self.header.notes)}
        if self.recorded_stimulation is not None:
            out["recorded_stimulation"] = len(self.recorded_stimulation.times)
        return out


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
