"""Reader of MC_DataTool's ASCII export of spike cutouts (Multi Channel Systems, MC_Rack rigs).

Layout, as MC_DataTool writes it (Latin-1 text, fixed-width fields padded with blanks and
separated by tabs, ``\\r\\n`` or ``\\n`` line ends)::

    MC_DataTool ASCII conversion
    <blank>
    t           \\tSpikes 1 47 \\tUnit
    [ms]        \\t[µV]        \\t
    774368.160  \\t15.26       \\t0
    774368.200  \\t15.26       \\t0
    ...                                  (one cutout: the samples around one spike)
    <blank>
    785728.480  \\t0.00        \\t0       (the next cutout of the same electrode)
    ...
    <blank><blank>
    t           \\tSpikes 1 48 \\tUnit    (the next electrode; no rows when it has no spike)

One block per electrode: a header naming the stream and the electrode (``Spikes <stream>
<electrode>``, MCS numbering ``<col><row>``), a units line (``[ms]``, ``[µV]`` in Latin-1), then
one cutout per spike, separated by blank lines; the third column is the Spike Sorter's unit
(0 = unsorted). The export holds the cutouts, not the detection times: a spike's time is the
first sample of its cutout plus the pre-trigger window, which the file does not state.
MC_Rack's Spike Sorter default is 1 ms (25 samples at 25 kHz before the crossing, as public
converters of these exports assume); ``pre_trigger`` changes it, and the header says which was
used. The segment runs from 0 s (MC_DataTool's times count from the start of the recording) to
the end of the last cutout.

Labels: ``ch_<electrode>`` (``ch_47``: column 4, row 7 of an MCS 8x8 array), with the stream
in front (``s2_ch_47``) when the file holds more than one spike stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from bioloop import validate as _v
from bioloop.recording import RecordingHeader

from .common import GroupedRecording, check_grouped_times, decode_text, existing_file

MC_DATATOOL_MARK = "MC_DataTool ASCII conversion"
PRE_TRIGGER_DEFAULT = 1e-3  #: s; MC_Rack Spike Sorter's default pre-trigger window
_BLOCK = re.compile(r"^\s*t\s*\t\s*Spikes\s+(\d+)\s+(\w+)\s*(?:\t|$)")
_TIME_UNITS = {"[ms]": 1e-3, "[s]": 1.0, "[us]": 1e-6, "[µs]": 1e-6}


@dataclass(frozen=True, kw_only=True)
class MCDataToolHeader(RecordingHeader):
    """Labels and segment of an MC_DataTool spike export, and how spike times were derived.

    ``units_per_channel`` counts the spikes of each Spike Sorter unit per electrode
    (``{"ch_47": {0: 12}}``); ``sampling_rate_hz`` is read off the cutouts' sample spacing.
    """

    format: str = "mcDataTool"
    pre_trigger_s: float = PRE_TRIGGER_DEFAULT
    sampling_rate_hz: float | None = None
    samples_per_cutout: int | None = None
    streams: tuple[str, ...] = ()
    units_per_channel: dict = field(default_factory=dict)


class MCDataToolRecording(GroupedRecording):
    """Raw content: spike ``times`` grouped electrode after electrode, ``counts``."""


def read_mc_datatool(path, *, pre_trigger: float = PRE_TRIGGER_DEFAULT) -> MCDataToolRecording:
    """Read MC_DataTool's ASCII spike export into spike times per electrode.

    Parameters
    ----------
    path : str or Path
        The exported text file (any suffix).
    pre_trigger : float
        Seconds from the start of each cutout to the spike (the Spike Sorter's pre-trigger);
        default 1 ms.

    Returns
    -------
    MCDataToolRecording
        ``times`` grouped per electrode, ``counts``, and the header.

    Raises
    ------
    TypeError
        If ``path`` or ``pre_trigger`` has the wrong type.
    ValueError
        If the file is missing, not this export (no ``MC_DataTool ASCII conversion`` line), a
        block header or units line is malformed, a cutout's first or last row is not numbers
        (the waveform rows between are not parsed: bioloop does not use them), an electrode
        appears twice in one stream, a cutout is shorter than the pre-trigger, spike times
        are negative or out of order within an electrode, or the file holds no spike at all.
        The message names the file and the line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "spikes.txt"
    >>> rows = "".join(f"{10 + 0.04 * i:.3f}\\t-5.0\\t0\\n" for i in range(75))
    >>> _ = p.write_bytes(("MC_DataTool ASCII conversion\\n\\n"
    ...     "t\\tSpikes 1 12\\tUnit\\n[ms]\\t[\\xb5V]\\t\\n\\n\\n"
    ...     "t\\tSpikes 1 21\\tUnit\\n[ms]\\t[\\xb5V]\\t\\n" + rows).encode("latin-1"))
    >>> rec = read_mc_datatool(p)
    >>> rec.header.labels, rec.counts.tolist(), round(float(rec.times[0]), 6)
    (('ch_12', 'ch_21'), [0, 1], 0.011)
    """
    p = existing_file(path)
    pre = _v.real("pre_trigger", pre_trigger, lo=0.0)
    text = decode_text(p.read_bytes(), str(p))
    lines = text.splitlines()
    if not lines or lines[0].lstrip("\ufeff").strip() != MC_DATATOOL_MARK:
        raise ValueError(f"{p}: not an MC_DataTool ASCII export (its first line must be "
                         f"{MC_DATATOOL_MARK!r})")
    n = len(lines)
    # line kinds, vectorised: blank, block header, units line, sample row
    blank = np.fromiter((not ln.strip() for ln in lines), bool, n)
    heads = [(i, m) for i, ln in enumerate(lines) if ln[:1] in ("t", " ")
             and (m := _BLOCK.match(ln)) is not None]
    if not heads:
        raise ValueError(f"{p}: an MC_DataTool ASCII export without any spike block "
                         f"('t / Spikes <stream> <electrode> / Unit'); raw-data exports hold "
                         f"voltages, not spikes")
    head_at = np.array([i for i, _ in heads], np.int64)
    data = ~blank
    data[0] = False
    data[head_at] = False
    scales = []
    for i, _ in heads:
        if i + 1 >= n:
            raise ValueError(f"{p}: line {i + 1}: block header without its units line")
        unit = lines[i + 1].split("\t")[0].strip()
        if unit not in _TIME_UNITS:
            raise ValueError(f"{p}: line {i + 2}: time unit {unit!r}; expected one of "
                             f"{sorted(_TIME_UNITS)}")
        scales.append(_TIME_UNITS[unit])
        data[i + 1] = False
    stray = np.flatnonzero(data[:head_at[0]])
    if stray.size:
        j = int(stray[0])
        raise ValueError(f"{p}: line {j + 1}: {lines[j].strip()[:40]!r} before the first "
                         f"'t / Spikes <stream> <electrode> / Unit' block header")
    prev = np.concatenate([[False], data[:-1]])
    nxt = np.concatenate([data[1:], [False]])
    starts = np.flatnonzero(data & ~prev)  # first row of each cutout
    ends = np.flatnonzero(data & ~nxt)  # last row of each cutout
    block_of = np.searchsorted(head_at, starts, side="right") - 1
    scale = np.array(scales)[block_of] if starts.size else np.zeros(0)
    t_first = np.array([_row(p, lines, i)[0] for i in starts]) * scale
    unit_of = np.array([_row(p, lines, i)[1] for i in starts], np.int64)
    t_last = np.array([_row(p, lines, i)[0] for i in ends]) * scale
    n_rows = ends - starts + 1
    second = [i + 1 for i, k in zip(starts[:200], n_rows[:200], strict=True) if k > 1]
    steps = [(_row(p, lines, i)[0] - _row(p, lines, i - 1)[0]) * scales[block_of[0]]
             for i in second]
    streams = tuple(dict.fromkeys(m.group(1) for _, m in heads))
    labels, counts, all_times, units = [], [], [], {}
    short = np.flatnonzero(t_last - t_first < pre - 1e-9 * np.maximum(1.0, np.abs(t_first)))
    if short.size:
        k = int(short[0])
        raise ValueError(f"{p}: line {starts[k] + 1}: a cutout of "
                         f"{(t_last[k] - t_first[k]) * 1e3:g} ms is shorter than the pre-trigger "
                         f"{pre * 1e3:g} ms; pass pre_trigger= the Spike Sorter's setting")
    for b, (i, m) in enumerate(heads):
        stream, electrode = m.group(1), m.group(2)
        label = f"ch_{electrode}" if len(streams) == 1 else f"s{stream}_ch_{electrode}"
        if label in labels:
            raise ValueError(f"{p}: line {i + 1}: electrode {electrode} of stream {stream} "
                             f"appears twice")
        sel = block_of == b
        labels.append(label)
        counts.append(int(sel.sum()))
        all_times.append(t_first[sel] + pre)
        u, c = np.unique(unit_of[sel], return_counts=True)
        units[label] = {int(a): int(k) for a, k in zip(u, c, strict=True)}
    times = np.concatenate(all_times)
    counts_a = np.array(counts, np.int64)
    rate = 1.0 / float(np.median(steps)) if steps and np.median(steps) > 0 else None
    sizes = sorted(set(n_rows.tolist()))
    notes = [f"spike time = first sample of each cutout + {pre * 1e3:g} ms pre-trigger "
             f"({'MC_Rack Spike Sorter default; ' if pre == PRE_TRIGGER_DEFAULT else ''}"
             f"the export does not state it); waveform samples not used"]
    if len(sizes) > 1:
        notes.append(f"cutouts of different lengths: {sizes[:5]} samples")
    sorted_units = sorted({u for c in units.values() for u in c if u != 0})
    if sorted_units:
        notes.append(f"Spike Sorter units {sorted_units} present; every unit of an electrode "
                     f"is kept on that electrode")
    t_stop = float(max(t_last.max(), times.max())) if times.size else 0.0
    header = MCDataToolHeader(
        path=str(p), labels=tuple(labels), t_start=0.0, t_stop=t_stop,
        segment_from="0 s (start of the recording) to the end of the last cutout",
        notes=tuple(notes), pre_trigger_s=pre, sampling_rate_hz=rate,
        samples_per_cutout=sizes[0] if len(sizes) == 1 else None, streams=streams,
        units_per_channel=units)
    check_grouped_times(times, counts_a, header.labels, t_start=0.0, t_stop=t_stop,
                        source=str(p))
    return MCDataToolRecording(header, times, counts_a)


def _row(p, lines: list[str], i: int) -> tuple[float, int]:
    """Time (in the block's unit) and Spike Sorter unit of sample row ``i``; ValueError naming
    the line."""
    cells = lines[i].split("\t")
    try:
        t = float(cells[0])
        float(cells[1])
        unit = int(float(cells[2])) if len(cells) > 2 and cells[2].strip() else 0
    except (ValueError, IndexError):
        raise ValueError(f"{p}: line {i + 1}: {lines[i].strip()[:60]!r} is not 't  value  "
                         f"unit' numbers") from None
    return t, unit
