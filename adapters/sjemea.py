"""Reader of the "sjemea" HDF5 layout of spike times (Eglen et al. 2014, GigaScience 3:3).

Layout: ``/spikes`` every spike time (s) concatenated channel after channel, ``/sCount`` the
number of spikes of each channel in the same order, ``/names`` the channel labels, ``/epos``
electrode positions (2 x N, micrometres), ``/array`` the array's name, ``/meta`` and
``/summary`` (``N``, ``duration``, ``totalspikes``, ``frate``). Multi-well plate files (Axion
Maestro, Cotterill et al. 2016) add ``/well``, ``/treatment``, ``/dose``, ``/units``, ``/size``
and a compound ``/summary.table``; their labels are ``<well>_<electrode>`` (``A1_12``).

Two layers, as in Neo: :func:`read_sjemea` is the raw reader (plain arrays + a
:class:`SjemeaHeader`); :class:`SjemeaIO` is a Neo IO whose ``read_block()`` gives a
``neo.Block`` with one SpikeTrain per channel (built by :mod:`bioloop.neoconv`).
Neo itself has no reader for this layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import neo
import numpy as np
from neo.io.baseio import BaseIO

from bioloop import neoconv
from bioloop.types import SpikeEvents

REQUIRED = ("spikes", "sCount", "names")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class SjemeaHeader:
    """What a sjemea file says besides the spike times (after any well selection).

    ``positions_um`` is (n_channels, 2) ``x, y`` or None when the file has no ``/epos``.
    ``segment_from`` says where ``t_start``/``t_stop`` come from. ``notes`` lists what the
    reader found odd in the file (kept, never silently corrected).
    """

    path: str
    labels: tuple[str, ...]
    positions_um: np.ndarray | None
    t_start: float
    t_stop: float
    segment_from: str
    array: str
    wells: tuple[str, ...] = ()  #: well of each channel (plate files), else ()
    plate_wells: tuple[str, ...] = ()  #: every well listed in /well (plate files)
    treatment: dict = field(default_factory=dict)  #: well -> treatment (plate files)
    dose: dict = field(default_factory=dict)  #: well -> "dose units" (plate files)
    selected_well: str | None = None
    meta: dict = field(default_factory=dict)
    n_channels_in_file: int = 0
    n_spikes_in_file: int = 0
    notes: tuple[str, ...] = ()
    format: str = "sjemea"

    @property
    def n_channels(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class SjemeaRecording:
    """Raw content: ``times`` grouped channel after channel (sorted within a channel), ``counts``."""

    header: SjemeaHeader
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


# ---------------------------------------------------------------------------------------------
# shared with the other text/HDF5 readers: spike times grouped per channel -> SpikeEvents


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
    return p


# ---------------------------------------------------------------------------------------------
# the raw reader


def _text(a) -> str:
    if isinstance(a, bytes | np.bytes_):
        return a.decode("utf-8", "replace").strip()
    return str(a).strip()


def _texts(ds) -> list[str]:
    return [_text(x) for x in np.asarray(ds[()]).ravel()]


def _scalar(ds):
    v = np.asarray(ds[()])
    if v.dtype.kind in "SUO":
        vals = [_text(x) for x in v.ravel()]
        return vals[0] if len(vals) == 1 else vals
    if v.size == 1:
        return v.ravel()[0].item()
    return v.tolist()


def is_sjemea_file(path) -> bool:
    """Whether ``path`` is an HDF5 file with ``/spikes``, ``/sCount`` and ``/names``."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_SIGNATURE:
                return False
        with h5py.File(path, "r") as h5:
            return all(k in h5 for k in REQUIRED)
    except OSError:
        return False


def _open_h5(p: Path) -> h5py.File:
    try:
        return h5py.File(p, "r")
    except OSError as err:
        raise ValueError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {err}") from err


def read_sjemea(path, *, well: str | None = None) -> SjemeaRecording:
    """Read a sjemea HDF5 file into plain arrays plus a :class:`SjemeaHeader`.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file.
    well : str, optional
        Multi-well plate files only: keep the channels of this well (``"A1"``), e.g. a
        16-electrode well of an Axion 48-well plate. Labels stay ``<well>_<electrode>``.

    Returns
    -------
    SjemeaRecording
        ``times`` grouped per channel, ``counts`` per channel, and the header.

    Raises
    ------
    TypeError
        If ``path`` or ``well`` has the wrong type.
    ValueError
        If the file is missing, not HDF5 (or truncated), lacks the sjemea datasets, is
        inconsistent (counts vs spikes, names vs counts), holds NaN / negative / unsorted
        spike times or spikes outside the segment, holds no spike, or ``well`` is not a
        well of the plate (or has no active electrode). The message names the file.

    Examples
    --------
    >>> import os
    >>> rec = read_sjemea(os.environ["BIOLOOP_SHARED"] + "/recordings/"
    ...                   "hiPSN_tc65_d27_spikes6sd.h5")  # doctest: +SKIP
    >>> rec.header.n_channels, int(rec.counts.sum())  # doctest: +SKIP
    (28, 26023)
    """
    p = existing_file(path)
    if well is not None and not isinstance(well, str):
        raise TypeError(f"well must be a string such as 'A1', got {well!r}")
    with _open_h5(p) as h5:
        missing = [k for k in REQUIRED if k not in h5]
        if missing:
            raise ValueError(f"{p}: not the sjemea layout; missing dataset(s) "
                             f"{['/' + k for k in missing]} (needs /spikes, /sCount, /names)")
        try:
            ds = h5["spikes"]
            if ds.ndim != 1:
                raise ValueError(f"/spikes has shape {ds.shape}; expected one dimension")
            n_spikes_file = int(ds.shape[0])
            counts_raw = np.asarray(h5["sCount"][()]).ravel()
            labels = _texts(h5["names"])
            epos = np.asarray(h5["epos"][()], dtype=np.float64) if "epos" in h5 else None
            array = _text(np.asarray(h5["array"][()]).ravel()[0]) if "array" in h5 else ""
            meta = {k: _scalar(v) for k, v in h5["meta"].items()} if "meta" in h5 else {}
            summary = ({k: _scalar(v) for k, v in h5["summary"].items()
                        if isinstance(v, h5py.Dataset)} if "summary" in h5 else {})
            table = h5["summary.table"][()] if "summary.table" in h5 else None
            plate = {k: _texts(h5[k]) for k in ("well", "treatment", "dose", "units", "size")
                     if k in h5}
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{p}: a dataset could not be read (corrupt file?): {err}") from err
    n_chan_file = len(labels)
    if counts_raw.size and (not np.issubdtype(counts_raw.dtype, np.number)
                            or np.any(counts_raw != np.rint(counts_raw)) or counts_raw.min() < 0):
        raise ValueError(f"{p}: /sCount must hold counts >= 0, got {counts_raw[:5]}...")
    counts = counts_raw.astype(np.int64)
    if counts.size != n_chan_file:
        raise ValueError(f"{p}: /names has {n_chan_file} labels but /sCount has {counts.size} "
                         f"entries; they must match")
    if int(counts.sum()) != n_spikes_file:
        raise ValueError(f"{p}: /sCount adds up to {int(counts.sum())} spikes but /spikes holds "
                         f"{n_spikes_file}")
    positions = _positions(p, epos, n_chan_file)
    notes = _layout_notes(array, positions)
    times = None if well is not None else _read_spikes(p)
    t_start, t_stop, segment_from, more = _segment(p, times, n_spikes_file, summary, table,
                                                   n_chan_file)
    notes += more

    wells: tuple[str, ...] = ()
    plate_wells: tuple[str, ...] = ()
    treatment, dose = {}, {}
    if "well" in plate:
        plate_wells = tuple(plate["well"])
        for key, target in (("treatment", treatment), ("dose", dose)):
            vals = plate.get(key, [])
            if vals and len(vals) != len(plate_wells):
                raise ValueError(f"{p}: /{key} has {len(vals)} entries for {len(plate_wells)} "
                                 f"wells in /well")
            units = plate.get("units", [""] * len(plate_wells)) if key == "dose" else None
            for i, w in enumerate(plate_wells):
                if vals:
                    target[w] = f"{vals[i]} {units[i]}".strip() if units else vals[i]
        wells = tuple(lab.split("_", 1)[0] if "_" in lab else "" for lab in labels)
        bad = [lab for lab, w in zip(labels, wells, strict=True) if w not in plate_wells]
        if bad:
            raise ValueError(f"{p}: channel label(s) {bad[:3]} do not start with a well of "
                             f"/well followed by '_' (e.g. 'A1_12')")
        idle = [w for w in plate_wells if w not in set(wells)]
        if idle:
            notes += (f"well(s) {', '.join(idle)} listed in /well have no active electrode",)

    off = np.concatenate([[0], np.cumsum(counts)])
    if well is not None:
        if not plate_wells:
            raise ValueError(f"{p}: well = {well!r} given, but this is not a multi-well plate "
                             f"file (no /well dataset)")
        if well not in plate_wells:
            raise ValueError(f"{p}: well {well!r} is not on this plate; wells: "
                             f"{', '.join(plate_wells)}")
        keep = np.flatnonzero(np.array(wells) == well)
        if keep.size == 0:
            raise ValueError(f"{p}: well {well!r} is on the plate but has no active electrode "
                             f"in this recording")
        times = _read_spikes(p, [(off[i], off[i + 1]) for i in keep])
        counts = counts[keep]
        labels = [labels[i] for i in keep]
        positions = positions[keep] if positions is not None else None
        wells = tuple(well for _ in keep)

    header = SjemeaHeader(
        path=str(p), labels=tuple(labels), positions_um=positions, t_start=t_start,
        t_stop=t_stop, segment_from=segment_from, array=array, wells=wells,
        plate_wells=plate_wells, treatment=treatment, dose=dose, selected_well=well, meta=meta,
        n_channels_in_file=n_chan_file, n_spikes_in_file=n_spikes_file, notes=notes)
    check_grouped_times(times, counts, header.labels, t_start=t_start, t_stop=t_stop,
                        source=f"{p}" + (f" (well {well})" if well else ""))
    return SjemeaRecording(header, times, counts)


def _read_spikes(p: Path, ranges=None) -> np.ndarray:
    """All of ``/spikes``, or the concatenation of its ``[a, b)`` ranges (one well's channels)."""
    merged: list[list[int]] = []
    for a, b in ranges or ():
        if merged and merged[-1][1] == a:
            merged[-1][1] = int(b)
        else:
            merged.append([int(a), int(b)])
    with _open_h5(p) as h5:
        ds = h5["spikes"]
        try:
            if ranges is None:
                return np.asarray(ds[()], dtype=np.float64).ravel()
            return np.concatenate([np.asarray(ds[a:b], dtype=np.float64) for a, b in merged])
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"{p}: /spikes could not be read (corrupt file?): {err}") from err


def _positions(p: Path, epos, n: int) -> np.ndarray | None:
    if epos is None:
        return None
    if epos.shape == (2, n):
        pos = epos.T.copy()
    elif epos.shape == (n, 2):
        pos = epos.copy()
    else:
        raise ValueError(f"{p}: /epos has shape {epos.shape}; expected (2, {n}) electrode "
                         f"positions for the {n} channels")
    if not np.all(np.isfinite(pos)):
        raise ValueError(f"{p}: /epos holds non-finite positions")
    return pos


def _pitch(pos: np.ndarray) -> float | None:
    steps = [np.diff(np.unique(pos[:, k])) for k in (0, 1)]
    steps = np.concatenate([s[s > 0] for s in steps])
    return float(steps.min()) if steps.size else None


def _layout_notes(array: str, pos: np.ndarray | None) -> tuple[str, ...]:
    """Compare what ``/array`` says (``APS_64x64_42um``) with what ``/epos`` shows."""
    if pos is None or not array:
        return ()
    m_pitch = re.search(r"(\d+(?:\.\d+)?)\s*um", array)
    m_grid = re.search(r"(\d+)\s*x\s*(\d+)", array)
    pitch = _pitch(pos)
    if pitch is None:
        return ()
    cols = int(round((pos[:, 0].max() - pos[:, 0].min()) / pitch)) + 1
    rows = int(round((pos[:, 1].max() - pos[:, 1].min()) / pitch)) + 1
    notes = []
    if m_pitch and abs(float(m_pitch.group(1)) - pitch) > 1e-6:
        notes.append(f"/array says {array!r} (pitch {m_pitch.group(1)} um) but /epos shows a "
                     f"{pitch:g} um pitch over a {cols} x {rows} grid")
    if m_grid and (cols > int(m_grid.group(1)) or rows > int(m_grid.group(2))):
        notes.append(f"/array says {array!r} but /epos spans {cols} x {rows} electrodes")
    return tuple(notes)


def _segment(p: Path, times, n_spikes: int, summary: dict, table, n_chan: int):
    """``t_start``, ``t_stop``, where they come from, and notes on /summary consistency.

    ``times`` (all spikes) may be None; it is read only when the file states no segment.
    """
    notes = []
    if "totalspikes" in summary and int(summary["totalspikes"]) != n_spikes:
        notes.append(f"/summary/totalspikes = {summary['totalspikes']} but /spikes holds "
                     f"{n_spikes}")
    if "N" in summary and int(summary["N"]) != n_chan:
        notes.append(f"/summary/N = {summary['N']} but /names holds {n_chan} channels")
    if "duration" in summary:
        dur = float(summary["duration"])
        if not np.isfinite(dur) or dur <= 0:
            raise ValueError(f"{p}: /summary/duration = {dur}; must be a positive number of "
                             f"seconds")
        return 0.0, dur, "/summary/duration (recording starts at 0 s)", tuple(notes)
    names = table.dtype.names if table is not None and table.dtype.names else ()
    if "time.min" in names and "time.max" in names:
        t0, t1 = float(table["time.min"][0]), float(table["time.max"][0])
        if not (np.isfinite(t0) and np.isfinite(t1)) or t1 < t0:
            raise ValueError(f"{p}: /summary.table time.min = {t0}, time.max = {t1} are not a "
                             f"valid segment")
        for key, have in (("nspikes", n_spikes), ("nelectrodes", n_chan)):
            if key in names and int(table[key][0]) != have:
                notes.append(f"/summary.table {key} = {int(table[key][0])} but the file holds "
                             f"{have}")
        return t0, t1, "/summary.table time.min..time.max (first to last spike)", tuple(notes)
    if times is None:
        times = _read_spikes(p)
    if times.size == 0 or not np.all(np.isfinite(times)):
        return 0.0, 0.0, "no duration in the file", tuple(notes)
    return (0.0, float(max(times.max(), 0.0)),
            "no duration in the file: 0 s to the last spike", tuple(notes))


# ---------------------------------------------------------------------------------------------
# the Neo IO


class SjemeaIO(BaseIO):
    """Neo IO for sjemea HDF5 files: ``read_block()`` gives one SpikeTrain per channel.

    Trains are named by the channel label and annotated with ``x_um``/``y_um`` (when the file
    has positions) and ``well`` (plate files); the Block carries the file's metadata.

    Parameters
    ----------
    filename : str or Path
        The ``.h5`` file.
    well : str, optional
        Default well for :meth:`read_block` (plate files).

    Examples
    --------
    >>> blk = SjemeaIO("recording.h5").read_block()  # doctest: +SKIP
    >>> len(blk.segments[0].spiketrains)  # doctest: +SKIP
    28
    """

    is_readable = True
    is_writable = False
    supported_objects = [neo.Block, neo.Segment, neo.SpikeTrain]
    readable_objects = [neo.Block]
    writeable_objects = []
    support_lazy = False
    read_params = {neo.Block: [("well", {"value": None, "label": "well of a multi-well plate"})]}
    write_params = {}
    name = "sjemea HDF5"
    description = "spike times in the sjemea HDF5 layout (Eglen et al. 2014)"
    extensions = ["h5"]
    mode = "file"

    def __init__(self, filename, well: str | None = None):
        BaseIO.__init__(self, filename)
        self.well = well

    def read_block(self, lazy: bool = False, well: str | None = None, **kwargs) -> neo.Block:
        """The recording as a Block with one Segment (one SpikeTrain per channel)."""
        if lazy:
            raise ValueError("SjemeaIO does not support lazy loading; use lazy=False")
        if kwargs:
            raise TypeError(f"unexpected argument(s) {sorted(kwargs)}; SjemeaIO.read_block "
                            f"takes lazy and well")
        rec = read_sjemea(self.filename, well=well if well is not None else self.well)
        h = rec.header
        chan = {}
        if h.positions_um is not None:
            chan["x_um"] = h.positions_um[:, 0].tolist()
            chan["y_um"] = h.positions_um[:, 1].tolist()
        if h.wells:
            chan["well"] = list(h.wells)
        ann = {"source_file": Path(h.path).name, "file_format": "sjemea", "array": h.array,
               "segment_from": h.segment_from, "notes": list(h.notes) or ["none"]}
        if h.selected_well:
            ann["well"] = h.selected_well
            ann["treatment"] = h.treatment.get(h.selected_well, "")
            ann["dose"] = h.dose.get(h.selected_well, "")
        ann.update({f"meta_{k}": v for k, v in h.meta.items()
                    if isinstance(v, str | int | float)})
        return neoconv.spike_events_to_block(rec.spike_events(), name=Path(h.path).stem,
                                             annotations=ann, channel_annotations=chan)
