"""The one place where bioloop's core types meet Neo objects, in both directions.

Neo (``neo`` + ``quantities``) is the exchange format: a session file, a recording, a chip
run are all Neo Blocks that Neo reads back with no bioloop installed. Inside bioloop everything
is a plain SI struct-of-arrays (:mod:`bioloop.types`); the conversions live here and nowhere else.

Conventions written into the Neo objects:

- every SpikeTrain made here carries the annotation ``bioloop_kind``: ``"spikes"`` (an
  electrode of a recording), ``"axon"`` (one AXON row of one cluster) or ``"fire"`` (one DEND
  column of one cluster); trains from other tools have no ``bioloop_kind`` and count as spikes;
- AXON trains carry ``cluster``, ``axon`` and ``gclk_hz``; FIRE trains ``cluster``, ``dend`` and
  ``gclk_hz``; their times are ``cycle / gclk_hz`` seconds, so cycles come back exactly;
- stimulation is one ``neo.Event`` whose array annotations are ``electrode``,
  ``amplitude_uA`` (signed: polarity of the first phase), ``phase_width_us``, ``interphase_us``
  and ``source_cycle`` (the GCLK cycle of the FIRE that caused it, -1 if none).
"""

from __future__ import annotations

from collections.abc import Sequence

import neo
import numpy as np
import quantities as pq

from . import validate as _v
from .chip.config import K_AXONS, N_DENDS
from .types import AxonFrames, FireEvents, SpikeEvents, StimCommands

KIND = "bioloop_kind"  #: annotation naming what a SpikeTrain holds
SPIKES, AXON, FIRE, STIM = "spikes", "axon", "fire", "stimulation"
#: annotations read for an electrode label, in this order, when a SpikeTrain has no name
LABEL_ANNOTATIONS = ("label", "channel_name", "electrode", "channel_id", "id")
#: |t * gclk_hz - cycle| allowed when reading cycles back, in cycles: an absolute part plus a few
#: ulps of the cycle number (t = cycle / gclk_hz is rounded once, t * gclk_hz once more)
_GRID_TOL_ABS, _GRID_TOL_REL = 1e-6, 8 * np.finfo(np.float64).eps


# ---------------------------------------------------------------------------------------------
# gathering SpikeTrains out of Blocks, Segments and lists


def spiketrains_of(obj, *, segment: int | None = None) -> list[neo.SpikeTrain]:
    """The SpikeTrains held by a Block, a Segment or a sequence of SpikeTrains.

    Parameters
    ----------
    obj : neo.Block, neo.Segment or sequence of neo.SpikeTrain
        Where the trains are.
    segment : int, optional
        Which segment of a Block; needed only when the Block has more than one.

    Returns
    -------
    list of neo.SpikeTrain
        In the order Neo holds them.

    Raises
    ------
    TypeError
        If ``obj`` is none of the above, or a sequence holds something else than SpikeTrains.
    ValueError
        If a Block has no segment, several segments and ``segment`` is None, or no such segment.

    Examples
    --------
    >>> seg = neo.Segment()
    >>> seg.spiketrains.append(neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s, name="e0"))
    >>> [st.name for st in spiketrains_of(seg)]
    ['e0']
    """
    if isinstance(obj, neo.Block):
        n = len(obj.segments)
        if segment is None:
            if n != 1:
                raise ValueError(f"Block {obj.name!r} holds {n} segments; pick one with "
                                 f"segment=0..{max(n - 1, 0)}" if n else
                                 f"Block {obj.name!r} holds no segment")
            segment = 0
        _v.integer("segment", segment)
        if not 0 <= segment < n:
            raise ValueError(f"segment = {segment} does not exist; the Block holds {n} "
                             f"segment(s), valid: 0..{n - 1}")
        return list(obj.segments[segment].spiketrains)
    if segment is not None:
        raise ValueError(f"segment = {segment} applies only to a neo.Block, got "
                         f"{type(obj).__name__}")
    if isinstance(obj, neo.Segment):
        return list(obj.spiketrains)
    if isinstance(obj, neo.SpikeTrain):
        return [obj]
    if isinstance(obj, Sequence | neo.core.spiketrainlist.SpikeTrainList) and not isinstance(obj, str):
        trains = list(obj)
        for i, st in enumerate(trains):
            if not isinstance(st, neo.SpikeTrain):
                raise TypeError(f"item {i} is a {type(st).__name__}, not a neo.SpikeTrain")
        return trains
    raise TypeError(f"expected a neo.Block, neo.Segment or a list of neo.SpikeTrain, got "
                    f"{type(obj).__name__}")


def _seconds(st: neo.SpikeTrain, what: str) -> tuple[np.ndarray, float, float]:
    """Times, t_start, t_stop of one train in seconds (float64), checked finite and sorted."""
    try:
        times = np.asarray(st.times.rescale(pq.s).magnitude, dtype=np.float64).ravel()
        t0 = float(st.t_start.rescale(pq.s).magnitude)
        t1 = float(st.t_stop.rescale(pq.s).magnitude)
    except ValueError as err:
        raise ValueError(f"{what} has time units {st.units.dimensionality}, not convertible "
                         f"to seconds") from err
    if times.size:
        if not np.all(np.isfinite(times)):
            bad = np.flatnonzero(~np.isfinite(times))[0]
            raise ValueError(f"{what} holds spike time {times[bad]} at index {bad}; spike times "
                             f"must be finite")
        if np.any(np.diff(times) < 0):
            i = int(np.argmax(np.diff(times) < 0))
            raise ValueError(f"{what} is not sorted: spike {i + 1} at {times[i + 1]:.9g} s "
                             f"comes after spike {i} at {times[i]:.9g} s")
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise ValueError(f"{what} has t_start = {t0}, t_stop = {t1}; both must be finite")
    return times, t0, t1


def train_label(st: neo.SpikeTrain, index: int) -> str:
    """The electrode label of a SpikeTrain: its name, else an identifying annotation.

    Examples
    --------
    >>> train_label(neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s, channel_name="A1_12"), 3)
    'A1_12'
    >>> train_label(neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s), 3)
    'unit3'
    """
    if st.name:
        return str(st.name)
    for key in LABEL_ANNOTATIONS:
        val = st.annotations.get(key)
        if val is not None and str(val) != "":
            return str(val)
    return f"unit{index}"


def _unique(labels: list[str]) -> tuple[str, ...]:
    """Labels made unique by suffixing repeats with ``#2``, ``#3``... (first one unchanged)."""
    seen: dict[str, int] = {}
    out = []
    taken = set(labels)
    for lab in labels:
        k = seen.get(lab, 0) + 1
        seen[lab] = k
        if k == 1:
            out.append(lab)
            continue
        new = f"{lab}#{k}"
        while new in taken:
            k += 1
            new = f"{lab}#{k}"
        taken.add(new)
        out.append(new)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# SpikeEvents


def spike_events_to_neo(ev: SpikeEvents, *, channel_annotations: dict | None = None
                        ) -> list[neo.SpikeTrain]:
    """One SpikeTrain per electrode (empty ones included), named by the electrode label.

    Parameters
    ----------
    ev : SpikeEvents
        The spikes.
    channel_annotations : dict of str to sequence, optional
        Per-electrode annotations, each a sequence of ``ev.n_channels`` values (for example
        ``{"x_um": [...], "y_um": [...]}``); value ``i`` goes to train ``i``.

    Returns
    -------
    list of neo.SpikeTrain
        Train ``i`` holds the spikes of channel ``i`` (seconds, ``t_start``/``t_stop`` of
        ``ev``), annotated ``bioloop_kind = "spikes"`` (the train's position is its channel
        index: Neo keeps the order).

    Raises
    ------
    TypeError
        If ``ev`` is not a SpikeEvents.
    ValueError
        If a channel annotation does not have one value per electrode.

    Examples
    --------
    >>> ev = SpikeEvents([0.1, 0.2, 0.3], [1, 0, 1], ("a", "b"), 0.0, 1.0)
    >>> [(st.name, len(st)) for st in spike_events_to_neo(ev)]
    [('a', 1), ('b', 2)]
    """
    if not isinstance(ev, SpikeEvents):
        raise TypeError(f"expected SpikeEvents, got {type(ev).__name__}")
    extra = {}
    for key, vals in (channel_annotations or {}).items():
        vals = list(vals)
        if len(vals) != ev.n_channels:
            raise ValueError(f"channel annotation {key!r} has {len(vals)} values; expected one "
                             f"per electrode ({ev.n_channels})")
        extra[key] = vals
    order = np.argsort(ev.channels, kind="stable")  # time order kept inside each channel
    bounds = np.concatenate([[0], np.cumsum(ev.counts())])
    times = ev.times[order]
    trains = []
    for i, label in enumerate(ev.labels):
        ann = {KIND: SPIKES}
        ann.update({k: _annotation_value(v[i]) for k, v in extra.items()})
        trains.append(neo.SpikeTrain(times[bounds[i]:bounds[i + 1]], units=pq.s,
                                     t_start=ev.t_start * pq.s, t_stop=ev.t_stop * pq.s,
                                     name=label, **ann))
    return trains


def _annotation_value(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def spike_events_to_block(ev: SpikeEvents, *, name: str = "", annotations: dict | None = None,
                          channel_annotations: dict | None = None) -> neo.Block:
    """A Block with one Segment holding :func:`spike_events_to_neo` of ``ev``.

    Examples
    --------
    >>> ev = SpikeEvents([0.1], [0], ("a",), 0.0, 1.0)
    >>> blk = spike_events_to_block(ev, name="demo", annotations={"tissue": "none"})
    >>> len(blk.segments[0].spiketrains), blk.annotations["tissue"]
    (1, 'none')
    """
    seg = neo.Segment(name=name)
    seg.spiketrains.extend(spike_events_to_neo(ev, channel_annotations=channel_annotations))
    blk = neo.Block(name=name, **(annotations or {}))
    blk.segments.append(seg)
    blk.check_relationships()
    return blk


def spike_events_from_neo(obj, *, segment: int | None = None) -> SpikeEvents:
    """SpikeEvents from the SpikeTrains of a Block, a Segment or a list; one electrode per train.

    Trains annotated ``bioloop_kind = "axon"`` or ``"fire"`` (chip activity in a session file)
    are not electrodes and are left to :func:`axon_frames_from_neo` / :func:`fire_events_from_neo`.
    Labels come from the train names (else an annotation in :data:`LABEL_ANNOTATIONS`, else
    ``unit<i>``); repeated labels get ``#2``, ``#3`` suffixes so that every electrode keeps its
    own label. The segment spans the earliest ``t_start`` to the latest ``t_stop``.

    Parameters
    ----------
    obj : neo.Block, neo.Segment or sequence of neo.SpikeTrain
        The trains.
    segment : int, optional
        Segment of a Block holding several.

    Returns
    -------
    SpikeEvents
        Sorted by time, ties by channel.

    Raises
    ------
    TypeError
        If ``obj`` is not a Neo container of SpikeTrains.
    ValueError
        If there is no electrode train, or a train is unsorted, holds NaN/inf, or has units
        that are not time.

    Examples
    --------
    >>> trains = [neo.SpikeTrain([200.0, 300.0] * pq.ms, t_stop=1 * pq.s, name="x"),
    ...           neo.SpikeTrain([0.25] * pq.s, t_stop=1 * pq.s, name="y")]
    >>> ev = spike_events_from_neo(trains)
    >>> ev.times.tolist(), ev.channels.tolist(), ev.labels
    ([0.2, 0.25, 0.3], [0, 1, 0], ('x', 'y'))
    """
    trains = [st for st in spiketrains_of(obj, segment=segment)
              if st.annotations.get(KIND, SPIKES) == SPIKES]
    if not trains:
        raise ValueError(f"no electrode SpikeTrain in this {type(obj).__name__} (trains "
                         f"annotated bioloop_kind='axon'/'fire' are chip activity, not electrodes)")
    labels = _unique([train_label(st, i) for i, st in enumerate(trains)])
    all_t, all_c, t0s, t1s = [], [], [], []
    for i, st in enumerate(trains):
        t, t0, t1 = _seconds(st, f"SpikeTrain {i} ({labels[i]!r})")
        all_t.append(t)
        all_c.append(np.full(t.size, i, np.int64))
        t0s.append(t0)
        t1s.append(t1)
    times = np.concatenate(all_t)
    chans = np.concatenate(all_c)
    order = np.lexsort((chans, times))
    return SpikeEvents(times[order], chans[order], labels, min(t0s), max(t1s))


# ---------------------------------------------------------------------------------------------
# AXON frames and FIRE events: one train per (cluster, row/column)


def _cycle_trains(cycles, cluster, index, gclk_hz, n_clusters, n_per, kind, index_name,
                  t_stop) -> list[neo.SpikeTrain]:
    n_clusters = _v.integer("n_clusters", n_clusters, lo=1)
    if cluster.size and cluster.max() >= n_clusters:
        raise ValueError(f"cluster index {int(cluster.max())} is out of range for "
                         f"n_clusters = {n_clusters}")
    if index.size and index.max() >= n_per:
        raise ValueError(f"{index_name} index {int(index.max())} is out of range 0..{n_per - 1}")
    last = (int(cycles.max()) + 1) if cycles.size else 1
    if t_stop is None:
        t_stop = last / gclk_hz
    else:
        t_stop = _v.real("t_stop", t_stop, lo=0.0)
        if cycles.size and t_stop < cycles.max() / gclk_hz:
            raise ValueError(f"t_stop = {t_stop:g} s is before the last {kind} pulse at "
                             f"{cycles.max() / gclk_hz:g} s")
    order = np.lexsort((cycles, index, cluster))
    key = cluster[order] * n_per + index[order]
    bounds = np.searchsorted(key, np.arange(n_clusters * n_per + 1))
    cyc = cycles[order]
    trains = []
    for c in range(n_clusters):
        for k in range(n_per):
            j = c * n_per + k
            sel = cyc[bounds[j]:bounds[j + 1]]
            trains.append(neo.SpikeTrain(sel / gclk_hz, units=pq.s, t_start=0.0 * pq.s,
                                         t_stop=t_stop * pq.s, name=f"{kind}_c{c}_{index_name}{k}",
                                         **{KIND: kind, "cluster": c, index_name: k,
                                            "gclk_hz": float(gclk_hz)}))
    return trains


def table_to_signal(times, columns: dict, *, name: str, kind: str) -> neo.IrregularlySampledSignal:
    """Per-event columns as one IrregularlySampledSignal (times in s, one channel per column).

    NIX stores a signal as one data array but array annotations value by value, so large
    per-event tables (chip activity, refusals) travel this way; column names are in the
    annotation ``columns``. Integer columns are exact (float64 holds integers up to 2^53).
    """
    times = np.asarray(times, np.float64)
    names = list(columns)
    data = np.column_stack([np.asarray(columns[c], np.float64) for c in names]) if times.size else \
        np.zeros((0, len(names)))
    return neo.IrregularlySampledSignal(times * pq.s, data * pq.dimensionless, name=name,
                                        **{KIND: kind, "columns": ",".join(names)})


def table_from_signal(sig: neo.IrregularlySampledSignal) -> tuple[np.ndarray, dict]:
    """Inverse of :func:`table_to_signal`: ``(times in s, {column: values})``."""
    names = str(sig.annotations.get("columns", "")).split(",")
    data = np.asarray(sig.magnitude)
    if data.ndim != 2 or data.shape[1] != len(names):
        raise ValueError(f"signal {sig.name!r} has {data.shape} values for columns {names}")
    return np.asarray(sig.times.rescale(pq.s).magnitude, np.float64), {c: data[:, i] for i, c in enumerate(names)}


def _in_lex_order(cycles, cluster, index) -> bool:
    """True if the events are already sorted by (cycle, cluster, index), as a session's are."""
    if cycles.size < 2:
        return True
    dc, dk = np.diff(cycles), np.diff(cluster)
    if (dc < 0).any():
        return False
    tie = dc == 0
    if (tie & (dk < 0)).any():
        return False
    return not (tie & (dk == 0) & (np.diff(index) < 0)).any()


def _compact_signal(cycles, cluster, index, gclk_hz, kind, index_name) -> neo.IrregularlySampledSignal:
    if not _in_lex_order(cycles, cluster, index):  # a sort is the largest cost of a session write
        order = np.lexsort((index, cluster, cycles))
        cycles, cluster, index = cycles[order], cluster[order], index[order]
    sig = table_to_signal(cycles / gclk_hz, {"cycle": cycles, "cluster": cluster, index_name: index},
                          name=f"{kind}_all", kind=kind)
    sig.annotations["gclk_hz"] = float(gclk_hz)
    return sig


def _cycles_from_signal(sig, kind, index_name):
    _, cols = table_from_signal(sig)
    if "cycle" not in cols or index_name not in cols or "cluster" not in cols:
        raise ValueError(f"{kind} signal {sig.name!r} lacks cycle/cluster/{index_name} columns")
    return (cols["cycle"].astype(np.int64), cols["cluster"].astype(np.int64), cols[index_name].astype(np.int64),
            float(sig.annotations["gclk_hz"]))


def _cycles_from_trains(obj, segment, kind, index_name):
    segs = obj.segments if isinstance(obj, neo.Block) else [obj] if isinstance(obj, neo.Segment) else []
    if isinstance(obj, neo.Block) and segment is not None:
        segs = [obj.segments[segment]]
    sigs = [sig for sg in segs for sig in sg.irregularlysampledsignals if sig.annotations.get(KIND) == kind]
    if sigs:
        return _cycles_from_signal(sigs[0], kind, index_name)
    trains = [st for st in spiketrains_of(obj, segment=segment)
              if st.annotations.get(KIND) == kind
              or (KIND not in st.annotations and "cluster" in st.annotations
                  and index_name in st.annotations)]
    if not trains:
        raise ValueError(f"no {kind} SpikeTrain (annotated cluster and {index_name}) in this "
                         f"{type(obj).__name__}")
    rates = {float(st.annotations.get("gclk_hz", np.nan)) for st in trains}
    if len(rates) != 1 or not np.isfinite(next(iter(rates))):
        raise ValueError(f"{kind} trains must share one finite gclk_hz annotation, got "
                         f"{sorted(rates)}")
    gclk_hz = rates.pop()
    cyc, clu, idx = [], [], []
    for i, st in enumerate(trains):
        for key in ("cluster", index_name):
            v = st.annotations.get(key)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise ValueError(f"{kind} train {i} ({st.name!r}) has {key} = {v!r}; expected "
                                 f"an integer >= 0")
        t, _, _ = _seconds(st, f"{kind} train {i} ({st.name!r})")
        x = t * gclk_hz
        c = np.rint(x)
        off_grid = np.abs(x - c) > _GRID_TOL_ABS + _GRID_TOL_REL * np.abs(x)
        if off_grid.any():
            j = int(np.argmax(off_grid))
            raise ValueError(f"{kind} train {i} ({st.name!r}): spike at {t[j]!r} s is not on the "
                             f"GCLK grid of {gclk_hz:g} Hz (cycle {x[j]!r})")
        if c.size and c.min() < 0:
            raise ValueError(f"{kind} train {i} ({st.name!r}) holds a negative cycle {c.min():g}")
        cyc.append(c.astype(np.int64))
        clu.append(np.full(c.size, int(st.annotations["cluster"]), np.int64))
        idx.append(np.full(c.size, int(st.annotations[index_name]), np.int64))
    cyc, clu, idx = (np.concatenate(a) for a in (cyc, clu, idx))
    order = np.lexsort((idx, clu, cyc))
    return cyc[order], clu[order], idx[order], gclk_hz


def axon_frames_to_neo(frames: AxonFrames, n_clusters: int, *, t_stop: float | None = None,
                       compact: bool = False) -> list:
    """One SpikeTrain per (cluster, axon), ``n_clusters x 16`` trains, times = cycle / gclk_hz.

    Parameters
    ----------
    frames : AxonFrames
        The AXON pulses.
    n_clusters : int
        Number of clusters of the chip (trains are made for idle axons too).
    t_stop : float, optional
        End of the trains in seconds; default one cycle after the last pulse.
    compact : bool
        Instead, one IrregularlySampledSignal ``axon_all`` with columns cycle, cluster, axon
        (see :func:`table_to_signal`); :func:`axon_frames_from_neo` reads both layouts from a
        Block or Segment.

    Returns
    -------
    list of neo.SpikeTrain
        Cluster-major order; annotations ``bioloop_kind="axon"``, ``cluster``, ``axon``,
        ``gclk_hz``.

    Raises
    ------
    TypeError
        If ``frames`` is not AxonFrames.
    ValueError
        If a cluster index is >= ``n_clusters`` or ``t_stop`` is before the last pulse.

    Examples
    --------
    >>> fr = AxonFrames([10, 20], [0, 1], [3, 3], gclk_hz=10e3)
    >>> trains = axon_frames_to_neo(fr, n_clusters=2)
    >>> len(trains), trains[3].times.magnitude.tolist(), trains[19].annotations["cluster"]
    (32, [0.001], 1)
    """
    if not isinstance(frames, AxonFrames):
        raise TypeError(f"expected AxonFrames, got {type(frames).__name__}")
    if compact:
        return [_compact_signal(frames.cycles, frames.cluster, frames.axon, frames.gclk_hz, AXON, "axon")]
    return _cycle_trains(frames.cycles, frames.cluster, frames.axon, frames.gclk_hz, n_clusters,
                         K_AXONS, AXON, "axon", t_stop)


def axon_frames_from_neo(obj, *, segment: int | None = None) -> AxonFrames:
    """AxonFrames from the AXON trains of a Block, Segment or list (other trains are skipped).

    Returns
    -------
    AxonFrames
        Sorted by (cycle, cluster, axon); cycles are exact (``rint(t * gclk_hz)``).

    Raises
    ------
    ValueError
        If there is no AXON train, trains disagree on ``gclk_hz``, or a time is off the grid.

    Examples
    --------
    >>> fr = AxonFrames([10, 20], [0, 1], [3, 3], gclk_hz=10e3)
    >>> axon_frames_from_neo(axon_frames_to_neo(fr, 2)).cycles.tolist()
    [10, 20]
    """
    cyc, clu, ax, gclk = _cycles_from_trains(obj, segment, AXON, "axon")
    return AxonFrames(cyc, clu, ax, gclk)


def fire_events_to_neo(fires: FireEvents, n_clusters: int, *, t_stop: float | None = None,
                       compact: bool = False) -> list:
    """One SpikeTrain per (cluster, dend), ``n_clusters x 16`` trains, times = cycle / gclk_hz.

    Annotations ``bioloop_kind="fire"``, ``cluster``, ``dend``, ``gclk_hz``; see
    :func:`axon_frames_to_neo` for the parameters.

    Examples
    --------
    >>> fe = FireEvents([5], [0], [15], gclk_hz=20e3)
    >>> trains = fire_events_to_neo(fe, n_clusters=1)
    >>> trains[15].name, trains[15].times.magnitude.tolist()
    ('fire_c0_dend15', [0.00025])
    """
    if not isinstance(fires, FireEvents):
        raise TypeError(f"expected FireEvents, got {type(fires).__name__}")
    if compact:
        return [_compact_signal(fires.cycles, fires.cluster, fires.dend, fires.gclk_hz, FIRE, "dend")]
    return _cycle_trains(fires.cycles, fires.cluster, fires.dend, fires.gclk_hz, n_clusters,
                         N_DENDS, FIRE, "dend", t_stop)


def fire_events_from_neo(obj, *, segment: int | None = None) -> FireEvents:
    """FireEvents from the FIRE trains of a Block, Segment or list, sorted by (cycle, cluster, dend).

    Examples
    --------
    >>> fe = FireEvents([7, 5], [0, 0], [1, 2], gclk_hz=20e3)
    >>> back = fire_events_from_neo(fire_events_to_neo(fe, 1))
    >>> back.cycles.tolist(), back.dend.tolist()
    ([5, 7], [2, 1])
    """
    cyc, clu, de, gclk = _cycles_from_trains(obj, segment, FIRE, "dend")
    return FireEvents(cyc, clu, de, gclk)


# ---------------------------------------------------------------------------------------------
# stimulation commands: one Event


_STIM_FIELDS = ("electrode", "amplitude_uA", "phase_width_us", "interphase_us", "source_cycle")


def stim_commands_to_neo(stim: StimCommands, *, name: str = "stimulation") -> neo.Event:
    """A ``neo.Event`` of the stimulation pulses, parameters in array annotations.

    Parameters
    ----------
    stim : StimCommands
        The pulses (SI units inside).
    name : str
        Name of the Event.

    Returns
    -------
    neo.Event
        Times in seconds; array annotations ``electrode`` (int), ``amplitude_uA`` (signed),
        ``phase_width_us``, ``interphase_us``, ``source_cycle`` (int, -1 if none); labels
        ``"e<electrode>"``.

    Examples
    --------
    >>> st = StimCommands([0.5], [3], [-20e-6], [200e-6], [50e-6])
    >>> ev = stim_commands_to_neo(st)
    >>> ev.array_annotations["electrode"].tolist(), ev.array_annotations["amplitude_uA"].tolist()
    ([3], [-20.0])
    """
    if not isinstance(stim, StimCommands):
        raise TypeError(f"expected StimCommands, got {type(stim).__name__}")
    labels = np.array([f"e{e}" for e in stim.electrode.tolist()], dtype="U")
    return neo.Event(stim.times * pq.s, labels=labels, name=name, **{KIND: STIM},
                     array_annotations={
                         "electrode": stim.electrode.astype(np.int64),
                         "amplitude_uA": stim.amplitude * 1e6,
                         "phase_width_us": stim.phase_width * 1e6,
                         "interphase_us": stim.interphase * 1e6,
                         "source_cycle": stim.source_cycle.astype(np.int64),
                     })


def stim_commands_from_neo(event: neo.Event) -> StimCommands:
    """StimCommands from a ``neo.Event`` made by :func:`stim_commands_to_neo`.

    Raises
    ------
    TypeError
        If ``event`` is not a ``neo.Event``.
    ValueError
        If an array annotation is missing or the electrode/source_cycle values are not integers.

    Examples
    --------
    >>> st = StimCommands([0.5, 0.7], [3, 4], [-20e-6, 10e-6], [200e-6] * 2, [0.0] * 2)
    >>> stim_commands_from_neo(stim_commands_to_neo(st)).electrode.tolist()
    [3, 4]
    """
    if not isinstance(event, neo.Event):
        raise TypeError(f"expected a neo.Event, got {type(event).__name__}")
    ann = event.array_annotations
    missing = [k for k in _STIM_FIELDS if k not in ann]
    if missing:
        raise ValueError(f"Event {event.name!r} lacks array annotation(s) {missing}; a "
                         f"stimulation Event needs {list(_STIM_FIELDS)}")
    try:
        times = np.asarray(event.times.rescale(pq.s).magnitude, np.float64).ravel()
    except ValueError as err:
        raise ValueError(f"Event {event.name!r} has units {event.units.dimensionality}, not "
                         f"time") from err
    ints = {}
    for key in ("electrode", "source_cycle"):
        a = np.asarray(ann[key])
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if not (np.issubdtype(a.dtype, np.floating) and np.all(a == np.rint(a))):
                raise ValueError(f"Event {event.name!r}: {key} must hold integers, got {a.dtype}")
        ints[key] = a.astype(np.int64)
    src = ints["source_cycle"]
    if src.size and np.all(src == -1):
        src = np.zeros(0, np.int64)  # "no source" everywhere: StimCommands' own default
    return StimCommands(times, ints["electrode"],
                        np.asarray(ann["amplitude_uA"], np.float64) / 1e6,
                        np.asarray(ann["phase_width_us"], np.float64) / 1e6,
                        np.asarray(ann["interphase_us"], np.float64) / 1e6,
                        source_cycle=src)
