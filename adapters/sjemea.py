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
from bioloop.recording import RecordingHeader

from .common import (
    HDF5_SIGNATURE,
    GroupedRecording,
    check_grouped_times,
    existing_file,
    h5_scalar,
    h5_text,
    h5_texts,
)

REQUIRED = ("spikes", "sCount")  #: plus /names, or /epos to name the channels by
MCS_GRID = 8  #: MCS 8x8 arrays: electrode ``<col><row>``, columns and rows 1..8


@dataclass(frozen=True, kw_only=True)
class SjemeaHeader(RecordingHeader):
    """What a sjemea file says besides the spike times (after any well selection).

    ``positions_um`` is (n_channels, 2) ``x, y`` or None when the file has no ``/epos``.
    ``segment_from`` says where ``t_start``/``t_stop`` come from; ``labels_from`` where the
    labels come from (``/names``, or ``/epos`` when the file has no names). ``notes`` lists what
    the reader assumed or found odd in the file (kept, never silently corrected).
    """

    format: str = "sjemea"
    array: str = ""
    labels_from: str = "/names"
    wells: tuple[str, ...] = ()  #: well of each channel (plate files), else ()
    plate_wells: tuple[str, ...] = ()  #: every well listed in /well (plate files)
    treatment: dict = field(default_factory=dict)  #: well -> treatment (plate files)
    dose: dict = field(default_factory=dict)  #: well -> "dose units" (plate files)
    selected_well: str | None = None
    meta: dict = field(default_factory=dict)
    n_channels_in_file: int = 0
    n_spikes_in_file: int = 0


class SjemeaRecording(GroupedRecording):
    """Raw content: ``times`` grouped channel after channel (sorted within a channel), ``counts``."""


def is_sjemea_file(path) -> bool:
    """Whether ``path`` is an HDF5 file with ``/spikes`` and ``/sCount`` (the sjemea layout)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_SIGNATURE:
                return False
        with h5py.File(path, "r") as h5:
            return all(k in h5 and isinstance(h5[k], h5py.Dataset) for k in REQUIRED)
    except OSError:
        return False


def _open_h5(p: Path) -> h5py.File:
    try:
        return h5py.File(p, "r")
    except OSError as err:
        raise ValueError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {err}") from err


def read_sjemea(path, *, well: str | None = None) -> SjemeaRecording:
    """Read a sjemea HDF5 file into plain arrays plus a :class:`SjemeaHeader`.

    The files of the public archives (Eglen et al. 2014; Cotterill et al. 2016) are read as
    their converters wrote them: labels from ``/names``, or, when a file has none, from
    ``/epos`` in the array's own naming (MCS 8x8: ``ch_<col><row>``; other arrays by index,
    ``e<i>``), positions kept; scalars of shape ``()`` or ``(1,)``; and when
    ``/summary/duration`` does not cover the spikes (the converters stored last minus first
    spike, rounded, and some recordings start well after 0 s), the segment is taken from the
    data (first to last spike) and a note says so.

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
        If the file is missing, not HDF5 (or truncated), lacks the sjemea datasets (``/spikes``,
        ``/sCount``, and ``/names`` or ``/epos``), is inconsistent (counts vs spikes, names or
        positions vs counts), holds NaN / negative / unsorted spike times, holds no spike, or
        ``well`` is not a well of the plate (or has no active electrode). The message names
        the file.

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
        if not missing and "names" not in h5 and "epos" not in h5:
            missing = ["names (or epos)"]
        if missing:
            raise ValueError(f"{p}: not the sjemea layout; missing dataset(s) "
                             f"{['/' + k for k in missing]} (needs /spikes, /sCount, and /names "
                             f"or /epos)")
        try:
            ds = h5["spikes"]
            if ds.ndim > 1 and sorted(ds.shape)[:-1] != [1] * (ds.ndim - 1):
                raise ValueError(f"/spikes has shape {ds.shape}; expected one dimension")
            n_spikes_file = int(ds.size)
            counts_raw = np.asarray(h5["sCount"][()]).ravel()
            labels = h5_texts(h5["names"]) if "names" in h5 else None
            epos = np.asarray(h5["epos"][()], dtype=np.float64) if "epos" in h5 else None
            array = h5_text(np.asarray(h5["array"][()]).ravel()[0]) if "array" in h5 else ""
            meta = ({k: h5_scalar(v) for k, v in h5["meta"].items()
                     if isinstance(v, h5py.Dataset)} if "meta" in h5 else {})
            summary = ({k: h5_scalar(v) for k, v in h5["summary"].items()
                        if isinstance(v, h5py.Dataset)} if "summary" in h5 else {})
            table = h5["summary.table"][()] if "summary.table" in h5 else None
            plate = {k: h5_texts(h5[k]) for k in ("well", "treatment", "dose", "units", "size")
                     if k in h5}
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{p}: a dataset could not be read (corrupt file?): {err}") from err
    if counts_raw.size and (not np.issubdtype(counts_raw.dtype, np.number)
                            or np.any(counts_raw != np.rint(counts_raw)) or counts_raw.min() < 0):
        raise ValueError(f"{p}: /sCount must hold counts >= 0, got {counts_raw[:5]}...")
    counts = counts_raw.astype(np.int64)
    n_chan_file = counts.size
    if labels is not None and len(labels) != n_chan_file:
        raise ValueError(f"{p}: /names has {len(labels)} labels but /sCount has {counts.size} "
                         f"entries; they must match")
    if int(counts.sum()) != n_spikes_file:
        raise ValueError(f"{p}: /sCount adds up to {int(counts.sum())} spikes but /spikes holds "
                         f"{n_spikes_file}")
    positions = _positions(p, epos, n_chan_file)
    notes = _layout_notes(array, positions)
    labels_from = "/names"
    if labels is None:
        labels, labels_from, more = labels_from_positions(positions, array)
        notes += more
    times = _read_spikes(p)
    source = f"{p}" + (f" (well {well})" if well else "")
    # the truly inconsistent is refused before any span is derived from the data
    check_grouped_times(times, counts, labels, t_start=-np.inf, t_stop=np.inf, source=source)
    t_start, t_stop, segment_from, more = _segment(p, times, n_spikes_file, summary, table,
                                                   n_chan_file)
    notes += more

    wells: tuple[str, ...] = ()
    plate_wells: tuple[str, ...] = ()
    treatment, dose = {}, {}
    unassigned = "well" in plate and labels_from != "/names"
    if unassigned:
        notes += ("/well lists the plate's wells, but without /names no channel can be "
                  "assigned to one: read as one array",)
        plate = {}
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
        if unassigned:
            raise ValueError(f"{p}: well = {well!r} given, but this plate file has no /names: "
                             f"its channels cannot be assigned to wells")
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
        times = np.concatenate([times[off[i]:off[i + 1]] for i in keep])
        counts = counts[keep]
        labels = [labels[i] for i in keep]
        positions = positions[keep] if positions is not None else None
        wells = tuple(well for _ in keep)

    header = SjemeaHeader(
        path=str(p), labels=tuple(labels), positions_um=positions, t_start=t_start,
        t_stop=t_stop, segment_from=segment_from, array=array, labels_from=labels_from,
        wells=wells, plate_wells=plate_wells, treatment=treatment, dose=dose,
        selected_well=well, meta=meta, n_channels_in_file=n_chan_file,
        n_spikes_in_file=n_spikes_file, notes=notes)
    check_grouped_times(times, counts, header.labels, t_start=t_start, t_stop=t_stop,
                        source=source)
    return SjemeaRecording(header, times, counts)


def _read_spikes(p: Path) -> np.ndarray:
    """All of ``/spikes`` as float64 seconds, whatever its shape (``()``, ``(n,)``, ``(1, n)``)."""
    with _open_h5(p) as h5:
        try:
            return np.asarray(h5["spikes"][()], dtype=np.float64).ravel()
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


def labels_from_positions(pos: np.ndarray | None, array: str
                          ) -> tuple[list[str], str, tuple[str, ...]]:
    """Channel labels for a file without ``/names``: the array's own naming from ``/epos``.

    MCS 8x8 arrays (``/array`` naming MCS, or positions on a grid of at most 8 x 8) are named
    ``ch_<col><row>`` as sjemea places them: ``x = col * pitch``, ``y = (9 - row) * pitch``
    (so ``ch_13`` of a 200 um array sits at x = 200, y = 1200 um). Any other array, or
    positions that do not fit that grid, are named by index, ``e0``, ``e1``... Returns the
    labels, where they come from, and a note.

    Examples
    --------
    >>> pos = np.array([[200.0, 1200.0], [400.0, 1600.0]])
    >>> labels_from_positions(pos, "MCS_8x8_200um")[0]
    ['ch_13', 'ch_21']
    >>> labels_from_positions(np.array([[0.0, 0.0], [42.0, 0.0]]), "APS_64x64_42um")[0]
    ['e0', 'e1']
    """
    n = 0 if pos is None else pos.shape[0]
    index = [f"e{i}" for i in range(n)]
    if pos is None:
        return index, "index", ("no /names and no /epos: channels named by index e0, e1...",)
    m_pitch = re.search(r"(\d+(?:\.\d+)?)\s*um", array)
    says_mcs = "mcs" in array.lower()
    pitch = float(m_pitch.group(1)) if says_mcs and m_pitch else _pitch(pos)
    if pitch:
        col = np.rint(pos[:, 0] / pitch).astype(np.int64)
        row = MCS_GRID + 1 - np.rint(pos[:, 1] / pitch).astype(np.int64)
        on_grid = (np.allclose(pos[:, 0], col * pitch, atol=0.05 * pitch)
                   and np.allclose(pos[:, 1], (MCS_GRID + 1 - row) * pitch, atol=0.05 * pitch))
        fits = (on_grid and col.min() >= 1 and col.max() <= MCS_GRID and row.min() >= 1
                and row.max() <= MCS_GRID)
        labels = [f"ch_{c}{r}" for c, r in zip(col, row, strict=True)]
        if fits and len(set(labels)) == n and (says_mcs or n <= MCS_GRID ** 2):
            why = "/array names an MCS array" if says_mcs else "the positions fit an 8 x 8 grid"
            return labels, "/epos (MCS 8x8 naming)", (
                f"no /names: labels ch_<col><row> from /epos ({why}, pitch {pitch:g} um; "
                f"x = col * pitch, y = (9 - row) * pitch)",)
    return index, "/epos order (index)", (
        f"no /names: channels named by their index in /sCount, e0..e{n - 1} "
        f"(array {array or 'unnamed'}; positions kept)",)


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


def _segment(p: Path, times: np.ndarray, n_spikes: int, summary: dict, table, n_chan: int):
    """``t_start``, ``t_stop``, where they come from, and notes on /summary consistency.

    A stated segment that does not cover every spike is replaced by the data's span (first to
    last spike), with a note naming both.
    """
    notes = []
    if "totalspikes" in summary and int(summary["totalspikes"]) != n_spikes:
        notes.append(f"/summary/totalspikes = {summary['totalspikes']} but /spikes holds "
                     f"{n_spikes}")
    if "N" in summary and int(summary["N"]) != n_chan:
        notes.append(f"/summary/N = {summary['N']} but /sCount holds {n_chan} channels")
    first, last = float(times.min()), float(times.max())
    if "duration" in summary:
        dur = summary["duration"]
        dur = float(dur[0] if isinstance(dur, list) else dur)
        if not np.isfinite(dur) or dur <= 0:
            raise ValueError(f"{p}: /summary/duration = {dur}; must be a positive number of "
                             f"seconds")
        if last <= dur:
            return 0.0, dur, "/summary/duration (recording starts at 0 s)", tuple(notes)
        span = last - first
        like = (f"; it matches last - first spike ({span:.6g} s), as the archive's converter "
                f"stored it" if abs(span - dur) <= max(1.0, 0.01 * dur) else "")
        notes.append(f"/summary/duration = {dur:g} s does not cover the spikes (first "
                     f"{first:.6g} s, last {last:.6g} s){like}: the segment is taken from the "
                     f"data, first to last spike, [{first:.6g}, {last:.6g}] s")
        return first, last, "the data: first to last spike (/summary/duration disagrees)", \
            tuple(notes)
    names = table.dtype.names if table is not None and table.dtype.names else ()
    if "time.min" in names and "time.max" in names:
        t0, t1 = float(np.ravel(table["time.min"])[0]), float(np.ravel(table["time.max"])[0])
        if not (np.isfinite(t0) and np.isfinite(t1)) or t1 < t0:
            raise ValueError(f"{p}: /summary.table time.min = {t0}, time.max = {t1} are not a "
                             f"valid segment")
        for key, have in (("nspikes", n_spikes), ("nelectrodes", n_chan)):
            if key in names and int(np.ravel(table[key])[0]) != have:
                notes.append(f"/summary.table {key} = {int(np.ravel(table[key])[0])} but the "
                             f"file holds {have}")
        if first >= t0 and last <= t1:
            return t0, t1, "/summary.table time.min..time.max (first to last spike)", \
                tuple(notes)
        notes.append(f"/summary.table time.min..time.max = [{t0:g}, {t1:g}] s does not cover "
                     f"the spikes [{first:.6g}, {last:.6g}] s: the segment is taken from the "
                     f"data")
        return min(first, t0), max(last, t1), "the data: first to last spike " \
            "(/summary.table disagrees)", tuple(notes)
    return 0.0, max(last, 0.0), "no duration in the file: 0 s to the last spike", tuple(notes)


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
