"""Reader of NeuroExplorer's timestamp-text export (``*.nexTimestamps``, as in sjemea's examples).

Layout: tab-separated text; the first row holds the column labels (``ch_12A_unit_0``: MCS
electrode column 1, row 2, unit 0), every other row one spike time (s) per column, the columns
ragged (a column ends with blank cells). Two extra columns, ``Sweep_Start`` and ``Sweep_Stop``,
hold the bounds of the recording. Line ends may be ``\\r\\n``.

Two layers, as in Neo: :func:`read_nex_timestamps` gives plain arrays plus a
:class:`NexTimestampsHeader`; :class:`NexTimestampsIO` is a Neo IO whose ``read_block()``
returns one SpikeTrain per electrode (built by :mod:`bioloop.neoconv`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import neo
import numpy as np
from neo.io.baseio import BaseIO

from bioloop import neoconv
from bioloop.recording import RecordingHeader

from .common import GroupedRecording, check_grouped_times, decode_text, existing_file

SWEEP_START, SWEEP_STOP = "Sweep_Start", "Sweep_Stop"
_MCS_LABEL = re.compile(r"^ch_(\d)(\d)")


@dataclass(frozen=True, kw_only=True)
class NexTimestampsHeader(RecordingHeader):
    """Labels, segment and MCS grid of a timestamp-text file.

    ``grid`` is (n_channels, 2) ``column, row`` parsed from ``ch_<col><row>...`` labels, or None
    when a label does not follow that pattern; the file gives no electrode pitch, so
    ``positions_um`` is None.
    """

    format: str = "nexTimestamps"
    grid: np.ndarray | None = None


class NexTimestampsRecording(GroupedRecording):
    """Raw content: ``times`` grouped column after column, ``counts`` per column."""


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def looks_like_timestamp_table(text: str, max_rows: int = 50) -> bool:
    """Whether text is the ragged timestamp table, by content (whatever the file suffix).

    The first line holds tab-separated labels, none of them a number; the next lines hold
    numbers or blank cells, never more fields than labels (blank trailing fields aside), and
    each column's times are >= 0 and ascending (a table of voltages is not spike times).

    Examples
    --------
    >>> looks_like_timestamp_table("ch_12A\\tch_13A\\n0.5\\t0.25\\n0.75\\t\\n")
    True
    >>> looks_like_timestamp_table("time\\tvoltage\\n0.0\\t-1.2\\n1.0\\t0.3\\n")
    False
    >>> looks_like_timestamp_table("a,b\\n1,2\\n")
    False
    """
    lines = text.splitlines()
    if len(lines) < 2 or "\t" not in lines[0] and len(lines[0].split()) != 1:
        return False
    head = [c.strip() for c in lines[0].split("\t")]
    while head and head[-1] == "":
        head.pop()
    if not head or any(c == "" or _is_number(c) for c in head):
        return False
    rows = [ln for ln in lines[1:max_rows + 1] if ln.strip()]
    if not rows:
        return False
    last = [-np.inf] * len(head)
    for ln in rows:
        cells = [c.strip() for c in ln.split("\t")]
        if any(cells[len(head):]) or not all(c == "" or _is_number(c) for c in cells):
            return False
        for j, c in enumerate(cells[:len(head)]):
            if c:
                v = float(c)
                if not v >= max(last[j], 0.0):
                    return False
                last[j] = v
    return True


def read_nex_timestamps(path) -> NexTimestampsRecording:
    """Read a NeuroExplorer timestamp-text file into arrays plus a header.

    Parameters
    ----------
    path : str or Path
        The ``.nexTimestamps`` file.

    Returns
    -------
    NexTimestampsRecording
        ``times`` grouped per electrode column, ``counts``, and the header.

    Raises
    ------
    TypeError
        If ``path`` is not a str or Path.
    ValueError
        If the file is missing, not text, has no header or duplicated labels, a row with more
        fields than the header, a cell that is not a number, a blank cell inside a column,
        several sweeps, NaN / negative / unsorted times or spikes outside the sweep, or no
        spike at all. The message names the file (and the row and column when it can).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.nexTimestamps"
    >>> _ = p.write_text("ch_12A_unit_0\\tch_13A_unit_0\\tSweep_Start\\tSweep_Stop\\r\\n"
    ...                  "0.5\\t0.25\\t0\\t2\\r\\n0.75\\t \\t \\t \\r\\n")
    >>> rec = read_nex_timestamps(p)
    >>> rec.counts.tolist(), rec.header.t_stop, rec.header.grid.tolist()
    ([2, 1], 2.0, [[1, 2], [1, 3]])
    """
    p = existing_file(path)
    text = decode_text(p.read_bytes(), f"{p}")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not lines[0].strip():
        raise ValueError(f"{p}: empty file or empty header row; expected tab-separated labels "
                         f"such as 'ch_12A_unit_0'")
    header = [c.strip() for c in lines[0].split("\t")]
    while header and header[-1] == "":
        header.pop()
    if "" in header:
        raise ValueError(f"{p}: header column {header.index('') + 1} has no label")
    dups = sorted({h for h in header if header.count(h) > 1})
    if dups:
        raise ValueError(f"{p}: header labels {dups} appear more than once")
    ncol = len(header)
    rows = []
    for r, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) > ncol:
            if any(c.strip() for c in cells[ncol:]):
                raise ValueError(f"{p}: row {r} has {len(cells)} fields but the header has "
                                 f"{ncol} labels")
            cells = cells[:ncol]
        rows.append(cells + [""] * (ncol - len(cells)))
    cells = np.char.strip(np.array(rows, dtype=str)) if rows else np.zeros((0, ncol), str)
    filled = cells != ""
    columns = {}
    for j, label in enumerate(header):
        f = filled[:, j]
        k = int(f.sum())
        if k and not f[:k].all():
            gap = int(np.argmin(f[:k])) + 2
            raise ValueError(f"{p}: column {label!r} has a blank cell at row {gap} followed by "
                             f"more values; columns must be filled from the top")
        vals = cells[:k, j]
        try:
            columns[label] = vals.astype(np.float64)
        except ValueError:
            for r, v in enumerate(vals, start=2):
                try:
                    float(v)
                except ValueError:
                    raise ValueError(f"{p}: row {r}, column {label!r}: {str(v)!r} is not a number"
                                     ) from None
            raise
    notes = []
    sweep = [lab for lab in (SWEEP_START, SWEEP_STOP) if lab in columns]
    if len(sweep) == 1:
        raise ValueError(f"{p}: column {sweep[0]!r} has no partner; expected both "
                         f"{SWEEP_START!r} and {SWEEP_STOP!r}")
    labels = tuple(lab for lab in header if lab not in (SWEEP_START, SWEEP_STOP))
    if not labels:
        raise ValueError(f"{p}: no electrode column besides {SWEEP_START}/{SWEEP_STOP}")
    counts = np.array([columns[lab].size for lab in labels], np.int64)
    times = (np.concatenate([columns[lab] for lab in labels]) if counts.sum()
             else np.zeros(0))
    if sweep:
        starts, stops = columns[SWEEP_START], columns[SWEEP_STOP]
        if starts.size != 1 or stops.size != 1:
            raise ValueError(f"{p}: {starts.size} sweep start(s) and {stops.size} sweep stop(s); "
                             f"only single-sweep files are supported")
        t_start, t_stop = float(starts[0]), float(stops[0])
        if not (np.isfinite(t_start) and np.isfinite(t_stop)) or t_stop < t_start:
            raise ValueError(f"{p}: sweep [{t_start}, {t_stop}] s is not a valid segment")
        segment_from = f"{SWEEP_START}/{SWEEP_STOP} columns"
    else:
        t_start = 0.0
        t_stop = float(times.max()) if times.size and np.all(np.isfinite(times)) else 0.0
        segment_from = "no sweep columns: 0 s to the last spike"
        notes.append(f"no {SWEEP_START}/{SWEEP_STOP} columns; segment taken as 0 s to the last "
                     f"spike")
    matches = [_MCS_LABEL.match(lab) for lab in labels]
    grid = (np.array([[int(m.group(1)), int(m.group(2))] for m in matches], np.int64)
            if all(matches) else None)
    hdr = NexTimestampsHeader(path=str(p), labels=labels, t_start=t_start, t_stop=t_stop,
                              segment_from=segment_from, grid=grid, notes=tuple(notes))
    check_grouped_times(times, counts, labels, t_start=t_start, t_stop=t_stop, source=str(p))
    return NexTimestampsRecording(hdr, times, counts)


class NexTimestampsIO(BaseIO):
    """Neo IO for NeuroExplorer timestamp-text files: one SpikeTrain per electrode column.

    Trains are named by the column label and annotated ``grid_col``/``grid_row`` when the
    labels follow the MCS ``ch_<col><row>`` pattern.

    Examples
    --------
    >>> blk = NexTimestampsIO("TC89_DIV15_A.nexTimestamps").read_block()  # doctest: +SKIP
    >>> len(blk.segments[0].spiketrains)  # doctest: +SKIP
    59
    """

    is_readable = True
    is_writable = False
    supported_objects = [neo.Block, neo.Segment, neo.SpikeTrain]
    readable_objects = [neo.Block]
    writeable_objects = []
    support_lazy = False
    read_params = {neo.Block: []}
    write_params = {}
    name = "NeuroExplorer timestamps text"
    description = "tab-separated spike-time columns exported by NeuroExplorer"
    extensions = ["nexTimestamps"]
    mode = "file"

    def __init__(self, filename):
        BaseIO.__init__(self, filename)

    def read_block(self, lazy: bool = False, **kwargs) -> neo.Block:
        """The recording as a Block with one Segment."""
        if lazy:
            raise ValueError("NexTimestampsIO does not support lazy loading; use lazy=False")
        if kwargs:
            raise TypeError(f"unexpected argument(s) {sorted(kwargs)}; "
                            f"NexTimestampsIO.read_block takes only lazy")
        rec = read_nex_timestamps(self.filename)
        h = rec.header
        chan = {}
        if h.grid is not None:
            chan = {"grid_col": h.grid[:, 0].tolist(), "grid_row": h.grid[:, 1].tolist()}
        ann = {"source_file": Path(h.path).name, "file_format": "nexTimestamps",
               "segment_from": h.segment_from, "notes": list(h.notes) or ["none"]}
        return neoconv.spike_events_to_block(rec.spike_events(), name=Path(h.path).stem,
                                             annotations=ann, channel_annotations=chan)
