"""Reader of the Units table of an NWB file (Neurodata Without Borders 2.x), through pynwb.

A Units table holds, per sorted unit, its spike times (s, from the session's
``timestamps_reference_time``), optionally the electrodes it was recorded on (a region of the
electrodes table, with ``x``/``y`` or ``rel_x``/``rel_y`` positions and a ``label``),
``obs_intervals`` and any number of extra columns.

Why pynwb directly and not Neo's ``NWBIO``: with the installed versions (neo 0.14, pynwb 4,
hdmf 6) ``NWBIO.read_all_blocks`` raises ``KeyError: 'obs_intervals'`` on any Units table
without that optional column (the usual case: pynwb's own ``add_unit(spike_times=...)``), and
when it does read one it drops the unit-to-electrode mapping. Here the table is read with
pynwb's own ``NWBHDF5IO`` (the reference reader of the format) and converted to plain arrays
like every other reader.

One channel per unit, labelled ``<electrode>_unit<id>`` when the unit names one electrode
(``<electrode>`` = the electrodes table's ``label`` column, else ``e<electrode id>``), else
``unit<id>``; a ``unit_name`` column, when present, is used as the label. The segment runs from
0 s to the end of the last observation interval, or to the last spike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np

from bioloop.recording import RecordingHeader
from bioloop.types import SpikeEvents

from .common import EventsRecording, check_grouped_times, existing_file, grouped_to_spike_events


@dataclass(frozen=True, kw_only=True)
class NWBUnitsHeader(RecordingHeader):
    """What the Units table says besides the spike times."""

    format: str = "nwb"
    unit_ids: tuple[int, ...] = ()
    electrode_ids: tuple = ()  #: electrode id of each unit, or None
    session_description: str = ""
    identifier: str = ""
    extra_columns: tuple[str, ...] = ()
    nwb_version: str = ""
    reader: str = "pynwb.NWBHDF5IO"
    positions_units: str = ""  #: what the file says the position values are in, if anything
    other: dict = field(default_factory=dict)


class NWBUnitsRecording(EventsRecording):
    """The units' spikes (sorted by time) and the header."""


def is_nwb_file(h5: h5py.File) -> bool:
    """Whether an open HDF5 file is an NWB file (root attribute ``nwb_version``)."""
    return "nwb_version" in h5.attrs


def _electrode_info(table, ids) -> tuple[list[str], np.ndarray | None]:
    cols = set(table.colnames)
    idx = list(table.id[:])
    names, pos = [], []
    xk, yk = (("rel_x", "rel_y") if {"rel_x", "rel_y"} <= cols else
              ("x", "y") if {"x", "y"} <= cols else (None, None))
    for eid in ids:
        if eid is None:
            names.append(None)
            pos.append((np.nan, np.nan))
            continue
        row = idx.index(eid)
        label = str(table["label"][row]) if "label" in cols else f"e{eid}"
        names.append(label)
        pos.append((float(table[xk][row]), float(table[yk][row])) if xk else (np.nan, np.nan))
    arr = np.array(pos, np.float64).reshape(-1, 2)
    return names, (arr if arr.size and np.all(np.isfinite(arr)) else None)


def read_nwb_units(path) -> NWBUnitsRecording:
    """Spikes of the Units table of an NWB file, one channel per unit.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file (HDF5).

    Returns
    -------
    NWBUnitsRecording
        SpikeEvents and a header naming units, electrodes and what was not used.

    Raises
    ------
    TypeError
        If ``path`` is not a str or Path.
    ValueError
        If the file is missing, not an NWB file pynwb can read, has no Units table or no spike
        times in it, or a unit's spike times are NaN, negative or unsorted. The message names
        the file.

    Examples
    --------
    >>> rec = read_nwb_units("session.nwb")  # doctest: +SKIP
    >>> rec.header.labels[:2]  # doctest: +SKIP
    ('e0_unit0', 'e2_unit1')
    """
    import pynwb

    p = existing_file(path)
    try:
        io = pynwb.NWBHDF5IO(str(p), mode="r")
    except Exception as err:  # noqa: BLE001 - any failure of the third-party reader
        raise ValueError(f"{p}: pynwb could not open this file as NWB: {type(err).__name__}: "
                         f"{err}") from err
    with io:
        try:
            nwb = io.read()
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"{p}: pynwb could not read this NWB file: {type(err).__name__}: "
                             f"{err}") from err
        units = nwb.units
        if units is None or len(units) == 0:
            raise ValueError(f"{p}: an NWB file without a Units table (or with an empty one); "
                             f"bioloop reads sorted spikes from /units")
        cols = list(units.colnames)
        if "spike_times" not in cols:
            raise ValueError(f"{p}: the Units table has no spike_times column")
        ids = [int(i) for i in units.id[:]]
        trains = [np.asarray(units.get_unit_spike_times(k), np.float64) for k in range(len(ids))]
        eids: list = [None] * len(ids)
        if "electrodes" in cols:
            for k in range(len(ids)):
                region = units["electrodes"][k]
                rid = list(region.index) if hasattr(region, "index") else []
                eids[k] = int(rid[0]) if len(rid) == 1 else None
            enames, positions = _electrode_info(nwb.electrodes, eids)
        else:
            enames, positions = [None] * len(ids), None
        names = ([str(x) for x in units["unit_name"][:]] if "unit_name" in cols else None)
        obs_end = None
        if "obs_intervals" in cols:
            ends = [np.asarray(units.get_unit_obs_intervals(k)) for k in range(len(ids))]
            ends = [e[:, 1].max() for e in ends if e.size]
            obs_end = float(max(ends)) if ends else None
        extra = tuple(c for c in cols if c not in ("spike_times", "electrodes", "obs_intervals",
                                                    "unit_name"))
        desc, ident = str(nwb.session_description), str(nwb.identifier)
        version = str(getattr(nwb, "nwb_version", ""))
    notes = []
    if names is not None:
        labels = names
    else:
        labels = [f"{en}_unit{uid}" if en is not None else f"unit{uid}"
                  for en, uid in zip(enames, ids, strict=True)]
    if len(set(labels)) != len(labels):
        labels = [f"{lab}#{k}" for k, lab in enumerate(labels)]
        notes.append("unit labels were not unique: the unit's row is appended (#k)")
    if positions is not None and positions.shape[0] != len(labels):
        positions = None
    if positions is not None:
        notes.append("positions from the electrodes table, in the file's own units (NWB does "
                     "not fix them; shown as um)")
    counts = np.array([t.size for t in trains], np.int64)
    times = np.concatenate(trains) if trains else np.zeros(0)
    last = float(times.max()) if times.size and np.all(np.isfinite(times)) else 0.0
    if obs_end is not None and obs_end >= last:
        t_stop, seg_from = obs_end, "0 s to the end of the last obs_interval"
    else:
        t_stop, seg_from = last, "0 s to the last spike (no obs_intervals covering the spikes)"
    if extra:
        notes.append(f"Units columns not used: {', '.join(extra)}")
    src = str(p)
    check_grouped_times(times, counts, labels, t_start=0.0, t_stop=t_stop, source=src)
    ev: SpikeEvents = grouped_to_spike_events(times, counts, labels, t_start=0.0, t_stop=t_stop,
                                              source=src)
    header = NWBUnitsHeader(path=src, labels=tuple(labels), t_start=0.0, t_stop=t_stop,
                            segment_from=seg_from, positions_um=positions, notes=tuple(notes),
                            unit_ids=tuple(ids), electrode_ids=tuple(eids),
                            session_description=desc, identifier=ident, extra_columns=extra,
                            nwb_version=version)
    return NWBUnitsRecording(header, ev)
