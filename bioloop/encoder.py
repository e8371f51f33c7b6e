"""Encoder: recorded spikes (``SpikeEvents``) become GCLK-aligned AXON pulses (``AxonFrames``).

Three ideas live here:

- :class:`ElectrodeMap`: which (cluster, axon) each recording electrode drives, and the inverse.
- :class:`BlankingWindows`: stretches of time in which spikes are treated as stimulation
  artefacts and blanked (after each stimulation command), per electrode or global.
- :class:`Encoder`: a pure function of (spikes, blanking windows, config). It keeps no state,
  so a session runner may re-encode a chunk after rolling it back.

Every input spike gets exactly one fate (:class:`SpikeFate`); the first rule that applies wins:

1. ``outside_window``: the spike time is outside the closed window ``[t0, t1]``;
2. ``unmapped``: its electrode drives no axon (only with ``allow_unmapped=True``);
3. ``blanked``: it falls in a blanking window that covers its electrode;
4. ``merged``: an earlier spike of the same axon already makes this cycle's pulse;
5. ``pulse``: it becomes the AXON pulse of its (cycle, cluster, axon).

so ``input_spikes == axon_pulses + sum(dropped.values())`` always holds.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from . import validate as _v
from .chip.config import GCLK_MAX_HZ, GCLK_MIN_HZ, K_AXONS
from .mapfiles import read_map_table
from .types import AxonFrames, SpikeEvents, StimCommands, _trusted

#: Tolerance (in GCLK cycles) of the edge alignment: a spike that float arithmetic places up to
#: this much after an edge belongs to that edge. 1e-6 cycles is 20 ps at 50 kHz, far below any
#: recording's time resolution, and ~10x above the rounding error of (t - t0) * gclk_hz for
#: t up to 10^4 s at 50 kHz.
EDGE_TOLERANCE = 1e-6

BLANKING_SCOPES = ("electrode", "global")


class SpikeFate(enum.IntEnum):
    """What happened to one input spike (stored per spike as an int8 code)."""

    PULSE = 0
    OUTSIDE_WINDOW = 1
    UNMAPPED = 2
    BLANKED = 3
    MERGED = 4
    LATE = 5  #: live sessions: arrived after the chip had run its cycle (set by the live loop)


#: Names of the drop reasons, in the order their rules are applied (``late`` only live).
DROP_REASONS = ("outside_window", "unmapped", "blanked", "merged", "late")
#: reason name -> fate code
DROP_FATES = {"outside_window": SpikeFate.OUTSIDE_WINDOW, "unmapped": SpikeFate.UNMAPPED,
              "blanked": SpikeFate.BLANKED, "merged": SpikeFate.MERGED, "late": SpikeFate.LATE}
_DROP_CODES = tuple((name, int(code)) for name, code in DROP_FATES.items())


# ---- electrode map ------------------------------------------------------------------------

def _index_array(name: str, a, lo: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.min() < lo:
        raise ValueError(f"{name} holds {int(arr.min())}; valid values are >= {lo}")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class ElectrodeMap:
    """Electrode index -> (cluster, axon); ``-1`` in both marks an unmapped electrode.

    Parameters
    ----------
    cluster, axon : array_like of int, (E,)
        Cluster and AXON row (0..15) driven by each electrode of the recording.
    labels : tuple of str, optional
        Electrode labels of the recording this map was made for; when given, the encoder
        checks that the spikes it receives carry the same labels.
    allow_unmapped : bool
        Accept electrodes that drive no axon; their spikes are dropped as ``unmapped``.

    Raises
    ------
    TypeError
        Non-integer indices.
    ValueError
        An axon outside 0..15, two electrodes on one (cluster, axon), or unmapped electrodes
        without ``allow_unmapped=True``.

    Examples
    --------
    >>> m = ElectrodeMap.default(20)
    >>> m.n_clusters, int(m.cluster[17]), int(m.axon[17])
    (2, 1, 1)
    >>> m.electrode_of([1, 1], [1, 15]).tolist()   # (1, 15) is fed by no electrode
    [17, -1]
    """

    cluster: np.ndarray
    axon: np.ndarray
    labels: tuple[str, ...] | None = None
    allow_unmapped: bool = False

    def __post_init__(self):
        clu = _index_array("cluster", self.cluster, -1)
        ax = _index_array("axon", self.axon, -1)
        if clu.size != ax.size:
            raise ValueError(f"cluster and axon must have equal lengths, got {clu.size} and {ax.size}")
        if clu.size == 0:
            raise ValueError("an electrode map needs at least one electrode")
        if ax.size and ax.max() >= K_AXONS:
            e = int(np.argmax(ax))
            raise ValueError(f"electrode {e} is mapped to axon {int(ax[e])}; axons are 0..{K_AXONS - 1}")
        if np.any((clu < 0) != (ax < 0)):
            e = int(np.flatnonzero((clu < 0) != (ax < 0))[0])
            raise ValueError(f"electrode {e} has cluster {int(clu[e])} and axon {int(ax[e])}; use -1 "
                             "for both to leave an electrode unmapped")
        labels = self.labels
        if labels is not None:
            labels = tuple(str(x) for x in labels)
            if len(labels) != clu.size:
                raise ValueError(f"{len(labels)} labels given for {clu.size} electrodes")
        if not isinstance(self.allow_unmapped, bool):
            raise TypeError(f"allow_unmapped must be True or False, got {self.allow_unmapped!r}")
        mapped = np.flatnonzero(clu >= 0)
        key = clu[mapped] * K_AXONS + ax[mapped]
        uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
        if np.any(counts > 1):
            k = uniq[np.argmax(counts > 1)]
            dup = mapped[key == k]
            names = [labels[i] if labels else str(i) for i in dup]
            raise ValueError(f"electrodes {names} all drive cluster {int(k // K_AXONS)}, axon "
                             f"{int(k % K_AXONS)}; each (cluster, axon) takes at most one electrode")
        unmapped = np.flatnonzero(clu < 0)
        if unmapped.size and not self.allow_unmapped:
            names = [labels[i] if labels else str(i) for i in unmapped[:5]]
            more = f" and {unmapped.size - 5} more" if unmapped.size > 5 else ""
            raise ValueError(f"electrode(s) {names}{more} drive no axon; map every electrode or pass "
                             "allow_unmapped=True to drop their spikes (counted as 'unmapped')")
        object.__setattr__(self, "cluster", clu)
        object.__setattr__(self, "axon", ax)
        object.__setattr__(self, "labels", labels)
        # derived once: the encoder asks for these on every chunk
        object.__setattr__(self, "_mapped", clu >= 0)
        object.__setattr__(self, "_n_clusters", int(clu.max()) + 1 if np.any(clu >= 0) else 0)

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def default(cls, n_electrodes: int, labels: Sequence[str] | None = None) -> ElectrodeMap:
        """The recording's channel order, 16 axons per cluster: electrode e -> (e // 16, e % 16).

        Parameters
        ----------
        n_electrodes : int
            Number of electrodes (>= 1); ``ceil(n_electrodes / 16)`` clusters are used.
        labels : sequence of str, optional
            The recording's electrode labels (checked against the spikes at encoding).

        Returns
        -------
        ElectrodeMap
        """
        n = _v.integer("n_electrodes", n_electrodes, lo=1)
        e = np.arange(n, dtype=np.int64)
        return cls(e // K_AXONS, e % K_AXONS, None if labels is None else tuple(labels))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, tuple[int, int]], labels: Sequence[str], *,
                     allow_unmapped: bool = False) -> ElectrodeMap:
        """Build a map from ``{label: (cluster, axon)}`` for a recording with ``labels``.

        Raises
        ------
        ValueError
            A label the recording does not have, a cluster < 0, an axon outside 0..15, a
            (cluster, axon) used twice, or uncovered electrodes without ``allow_unmapped``.
        """
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping must be a dict label -> (cluster, axon), got {type(mapping).__name__}")
        labels = tuple(str(x) for x in labels)
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise ValueError(f"the recording's labels are not unique ({dup}); map it by index instead")
        index = {lab: i for i, lab in enumerate(labels)}
        clu = np.full(len(labels), -1, np.int64)
        ax = np.full(len(labels), -1, np.int64)
        for lab, target in mapping.items():
            lab = str(lab)
            if lab not in index:
                raise ValueError(f"label {lab!r} is not an electrode of the recording; its labels are "
                                 f"{_preview(labels)}")
            if not isinstance(target, tuple | list) or len(target) != 2:
                raise ValueError(f"electrode {lab!r}: expected (cluster, axon), got {target!r}")
            c = _v.integer(f"cluster of electrode {lab!r}", target[0], lo=0)
            a = _v.integer(f"axon of electrode {lab!r}", target[1], lo=0, hi=K_AXONS - 1)
            clu[index[lab]], ax[index[lab]] = c, a
        return cls(clu, ax, labels, allow_unmapped)

    @classmethod
    def from_file(cls, path, labels: Sequence[str], *, allow_unmapped: bool = False) -> ElectrodeMap:
        """Read ``label -> cluster, axon`` from a TOML or CSV file.

        TOML: an array of tables ``[[electrode]]`` with keys ``label``, ``cluster``, ``axon``.
        CSV: a header row ``label,cluster,axon`` and one row per electrode.

        Parameters
        ----------
        path : str or Path
            ``.toml`` or ``.csv`` file.
        labels : sequence of str
            The recording's electrode labels, in channel order.
        allow_unmapped : bool
            Accept electrodes the file does not list (their spikes are dropped as ``unmapped``).

        Returns
        -------
        ElectrodeMap

        Raises
        ------
        ValueError
            Missing or unreadable file, unknown suffix, a label listed twice, values out of
            range, or an uncovered electrode without ``allow_unmapped``.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "map.csv"
        >>> _ = p.write_text("label,cluster,axon\\nA,0,3\\nB,1,0\\n")
        >>> m = ElectrodeMap.from_file(p, ["A", "B"])
        >>> m.cluster.tolist(), m.axon.tolist()
        ([0, 1], [3, 0])
        """
        rows = read_map_table(Path(path), "electrode", ("label", "cluster", "axon"))
        mapping: dict[str, tuple[int, int]] = {}
        for where, row in rows:
            lab = str(row["label"])
            if lab in mapping:
                raise ValueError(f"{where}: label {lab!r} is listed twice")
            mapping[lab] = (row["cluster"], row["axon"])
        try:
            return cls.from_mapping(mapping, labels, allow_unmapped=allow_unmapped)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"electrode map {str(path)!r}: {exc}") from None

    # ---- queries ---------------------------------------------------------------------------
    @property
    def n_electrodes(self) -> int:
        return int(self.cluster.size)

    @property
    def n_clusters(self) -> int:
        """Clusters needed: the highest mapped cluster + 1."""
        return self._n_clusters

    @property
    def mapped(self) -> np.ndarray:
        """bool (E,): electrodes that drive an axon."""
        return self._mapped

    def table(self) -> np.ndarray:
        """The inverse as a dense int array (n_clusters, 16): electrode or -1."""
        out = np.full((self.n_clusters, K_AXONS), -1, np.int64)
        m = self.mapped
        out[self.cluster[m], self.axon[m]] = np.flatnonzero(m)
        return out

    def electrode_of(self, cluster, axon) -> np.ndarray:
        """Inverse map: the electrode feeding each (cluster, axon), ``-1`` where none does.

        Parameters
        ----------
        cluster, axon : array_like of int
            Same shape; any non-negative values (out-of-range ones give -1).

        Returns
        -------
        numpy.ndarray of int64
        """
        c = np.asarray(cluster, np.int64)
        a = np.asarray(axon, np.int64)
        if c.shape != a.shape:
            raise ValueError(f"cluster and axon must have the same shape, got {c.shape} and {a.shape}")
        tab = self.table()
        ok = (c >= 0) & (c < tab.shape[0]) & (a >= 0) & (a < K_AXONS)
        out = np.full(c.shape, -1, np.int64)
        out[ok] = tab[c[ok], a[ok]]
        return out

    def to_dict(self) -> dict:
        """A JSON-friendly description (for session annotations)."""
        return {"cluster": self.cluster.tolist(), "axon": self.axon.tolist(),
                "labels": None if self.labels is None else list(self.labels),
                "allow_unmapped": self.allow_unmapped}


def _preview(labels, n=8) -> str:
    shown = ", ".join(repr(x) for x in labels[:n])
    return f"[{shown}{', ...' if len(labels) > n else ''}] ({len(labels)} in all)"


# ---- blanking windows ---------------------------------------------------------------------

def _empty_f():
    return np.zeros(0, np.float64)


def _empty_i():
    return np.zeros(0, np.int64)


@dataclass(frozen=True)
class BlankingWindows:
    """Half-open time intervals ``[t_start, t_stop)`` (s) in which spikes are blanked.

    ``electrode[i]`` is the electrode window ``i`` covers, ``-1`` for all electrodes.
    Immutable: :meth:`append` returns a new object, so a runner can keep the windows of a
    chunk it may roll back.

    Examples
    --------
    >>> b = BlankingWindows().append(0.010, 0.012, 3).append(0.050, 0.052, -1)
    >>> len(b), b.electrode.tolist()
    (2, [3, -1])
    """

    t_start: np.ndarray = field(default_factory=_empty_f)
    t_stop: np.ndarray = field(default_factory=_empty_f)
    electrode: np.ndarray = field(default_factory=_empty_i)

    def __post_init__(self):
        t0 = np.atleast_1d(np.asarray(self.t_start, np.float64))
        t1 = np.atleast_1d(np.asarray(self.t_stop, np.float64))
        el = np.atleast_1d(np.asarray(self.electrode))
        if el.size and (el.dtype == bool or not np.issubdtype(el.dtype, np.integer)):
            raise TypeError(f"electrode must hold integers (-1 = all electrodes), got dtype {el.dtype}")
        el = el.astype(np.int64)
        if not (t0.ndim == t1.ndim == el.ndim == 1) or not (t0.size == t1.size == el.size):
            raise ValueError(f"t_start, t_stop and electrode must be 1-D of equal length, got "
                             f"{t0.shape}, {t1.shape}, {el.shape}")
        for name, arr in (("t_start", t0), ("t_stop", t1)):
            if arr.size and not np.all(np.isfinite(arr)):
                raise ValueError(f"blanking {name} holds {arr[~np.isfinite(arr)][0]}; times must be finite")
        if np.any(t1 < t0):
            i = int(np.argmax(t1 < t0))
            raise ValueError(f"blanking window {i} ends ({t1[i]:g} s) before it starts ({t0[i]:g} s)")
        if el.size and el.min() < -1:
            raise ValueError(f"blanking electrode {int(el.min())} is invalid; use >= 0, or -1 for all")
        object.__setattr__(self, "t_start", t0)
        object.__setattr__(self, "t_stop", t1)
        object.__setattr__(self, "electrode", el)

    def __len__(self) -> int:
        return int(self.t_start.size)

    def append(self, t_start, t_stop, electrode) -> BlankingWindows:
        """A new object holding these windows and the given ones.

        Parameters
        ----------
        t_start, t_stop : float or array_like of float
            Window bounds, s; scalars are broadcast against arrays.
        electrode : int or array_like of int
            Electrode covered, ``-1`` for all.

        Returns
        -------
        BlankingWindows
        """
        el = np.asarray(electrode)
        if el.dtype == bool or (el.size and not np.issubdtype(el.dtype, np.integer)):
            raise TypeError(f"electrode must hold integers (-1 = all electrodes), got dtype {el.dtype}")
        try:
            t_start, t_stop, el = np.broadcast_arrays(np.asarray(t_start, np.float64),
                                                      np.asarray(t_stop, np.float64), el)
        except ValueError:
            raise ValueError(f"cannot pair {np.size(t_start)} window starts, {np.size(t_stop)} stops "
                             f"and {np.size(electrode)} electrodes; give equal lengths or scalars") from None
        more = BlankingWindows(t_start.ravel(), t_stop.ravel(), el.ravel())
        return BlankingWindows(np.concatenate([self.t_start, more.t_start]),
                               np.concatenate([self.t_stop, more.t_stop]),
                               np.concatenate([self.electrode, more.electrode]))

    def extend(self, other: BlankingWindows) -> BlankingWindows:
        """A new object holding the windows of both."""
        if not isinstance(other, BlankingWindows):
            raise TypeError(f"other must be BlankingWindows, got {type(other).__name__}")
        return self.append(other.t_start, other.t_stop, other.electrode)

    def ending_after(self, t: float) -> BlankingWindows:
        """Only the windows still open after time ``t`` (to keep a long session's list short)."""
        t = _v.real("t", t)
        keep = self.t_stop > t
        return BlankingWindows(self.t_start[keep], self.t_stop[keep], self.electrode[keep])


def _in_windows(times: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """bool per time: inside any ``[start, stop)`` interval (intervals may overlap)."""
    if starts.size == 0 or times.size == 0:
        return np.zeros(times.size, bool)
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    reach = np.maximum.accumulate(stops[order])  # furthest stop among windows started so far
    idx = np.searchsorted(s, times, side="right") - 1
    inside = np.zeros(times.size, bool)
    ok = idx >= 0
    inside[ok] = times[ok] < reach[idx[ok]]
    return inside


# ---- the encoder --------------------------------------------------------------------------

@dataclass(frozen=True)
class EncoderConfig:
    """How spikes become AXON pulses.

    Parameters
    ----------
    gclk_hz : float
        GCLK frequency, 1 kHz to 50 kHz (must equal the chip's).
    t_start, t_stop : float or None
        The window of the recording to use, s; ``None`` takes the spikes' own ``t_start`` /
        ``t_stop``. Cycle 0 is the GCLK edge at ``t_start``: when a runner encodes chunk by
        chunk, set ``t_start`` so every chunk shares one cycle 0, and end chunks on GCLK
        edges (``t_start + n / gclk_hz``) so that no cycle is split between two chunks.
    blanking : float
        Seconds blanked after the end of each stimulation pulse (default 2 ms, >= 0).
    blanking_scope : {"electrode", "global"}
        ``"electrode"``: a window blanks only its own electrode (``-1`` windows blank all);
        ``"global"``: every window blanks every electrode.

    Raises
    ------
    TypeError, ValueError
        A value of the wrong type or out of range, naming the field.
    """

    gclk_hz: float = 1e3
    t_start: float | None = None
    t_stop: float | None = None
    blanking: float = 2e-3
    blanking_scope: str = "electrode"

    def __post_init__(self):
        _v.real("gclk_hz", self.gclk_hz, lo=GCLK_MIN_HZ, hi=GCLK_MAX_HZ)
        if self.t_start is not None:
            _v.real("t_start", self.t_start)
        if self.t_stop is not None:
            _v.real("t_stop", self.t_stop)
        if self.t_start is not None and self.t_stop is not None and self.t_stop < self.t_start:
            raise ValueError(f"t_stop = {self.t_stop:g} s is before t_start = {self.t_start:g} s")
        _v.real("blanking", self.blanking, lo=0.0, hi=10.0)
        _v.choice("blanking_scope", self.blanking_scope, BLANKING_SCOPES)


@dataclass(frozen=True)
class EncodeResult:
    """What :meth:`Encoder.encode` produced, and what it did with every input spike.

    Attributes
    ----------
    frames : AxonFrames
        One row per AXON pulse, sorted by (cycle, cluster, axon).
    dropped : dict of str to int
        Spikes that did not become a pulse, by reason (every reason present, 0 included).
    input_spikes, axon_pulses : int
        ``input_spikes == axon_pulses + sum(dropped.values())``.
    fates : numpy.ndarray of int8
        :class:`SpikeFate` code of each input spike.
    spike_cycles : numpy.ndarray of int64
        GCLK cycle of each input spike, ``-1`` outside the window.
    t0, t1 : float
        The window used, s; cycle 0 is the edge at ``t0``.
    cycle_stop : int
        First cycle after the window (the cycle a backend should run up to).
    """

    frames: AxonFrames
    dropped: dict[str, int]
    input_spikes: int
    axon_pulses: int
    fates: np.ndarray
    spike_cycles: np.ndarray
    t0: float
    t1: float
    cycle_stop: int


class Encoder:
    """Spikes -> GCLK-aligned AXON pulses, with an electrode map and blanking.

    Pure: :meth:`encode` depends only on its arguments, the config and the map.

    Parameters
    ----------
    config : EncoderConfig
    electrode_map : ElectrodeMap

    Examples
    --------
    >>> ev = SpikeEvents([0.0, 0.0021, 0.0025, 0.004], [0, 0, 0, 1], ("A", "B"), 0.0, 0.01)
    >>> enc = Encoder(EncoderConfig(gclk_hz=1e3), ElectrodeMap.default(2))
    >>> r = enc.encode(ev, BlankingWindows().append(0.0035, 0.0045, 1))
    >>> r.frames.cycles.tolist(), r.frames.axon.tolist(), r.dropped["merged"], r.dropped["blanked"]
    ([0, 3], [0, 0], 1, 1)
    """

    def __init__(self, config: EncoderConfig, electrode_map: ElectrodeMap):
        if not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
        if not isinstance(electrode_map, ElectrodeMap):
            raise TypeError(f"electrode_map must be an ElectrodeMap, got {type(electrode_map).__name__}")
        self.config = config
        self.electrode_map = electrode_map

    def window(self, events: SpikeEvents) -> tuple[float, float]:
        """The closed window ``(t0, t1)`` used for ``events``."""
        cfg = self.config
        t0 = events.t_start if cfg.t_start is None else cfg.t_start
        t1 = events.t_stop if cfg.t_stop is None else cfg.t_stop
        if t1 < t0:
            raise ValueError(f"window stop {t1:g} s is before its start {t0:g} s (config t_start = "
                             f"{cfg.t_start}, t_stop = {cfg.t_stop}; spikes span segment "
                             f"[{events.t_start:g}, {events.t_stop:g}] s)")
        return t0, t1

    def cycle_of(self, times, t0: float) -> np.ndarray:
        """GCLK cycle of each time: ``ceil((t - t0) * gclk_hz)``, an edge owning its own instant.

        Parameters
        ----------
        times : array_like of float
            Times in s, not before ``t0``.
        t0 : float
            Time of the edge of cycle 0.

        Returns
        -------
        numpy.ndarray of int64

        Examples
        --------
        >>> enc = Encoder(EncoderConfig(gclk_hz=1e3), ElectrodeMap.default(1))
        >>> enc.cycle_of([0.0, 0.003, 0.0030001, 0.0039], t0=0.0).tolist()
        [0, 3, 4, 4]
        """
        x = (np.asarray(times, np.float64) - float(t0)) * self.config.gclk_hz
        return np.ceil(x - EDGE_TOLERANCE).astype(np.int64)

    def encode(self, events: SpikeEvents, blanks: BlankingWindows | None = None) -> EncodeResult:
        """Turn spikes into AXON pulses; count every spike that does not become one.

        Parameters
        ----------
        events : SpikeEvents
            Sorted spikes; their electrodes must match the electrode map.
        blanks : BlankingWindows, optional
            Windows of blanked time (none by default).

        Returns
        -------
        EncodeResult

        Raises
        ------
        TypeError
            Arguments of the wrong type.
        ValueError
            Spikes whose electrode count or labels differ from the map's.
        """
        if not isinstance(events, SpikeEvents):
            raise TypeError(f"events must be SpikeEvents, got {type(events).__name__}")
        if blanks is None:
            blanks = BlankingWindows()
        if not isinstance(blanks, BlankingWindows):
            raise TypeError(f"blanks must be BlankingWindows, got {type(blanks).__name__}")
        emap, cfg = self.electrode_map, self.config
        self._check_labels(events)
        t0, t1 = self.window(events)
        times, chans = events.times, events.channels
        n = times.size
        fates = np.full(n, SpikeFate.PULSE, np.int8)
        cycles = np.full(n, -1, np.int64)

        inside = (times >= t0) & (times <= t1)
        fates[~inside] = SpikeFate.OUTSIDE_WINDOW
        cycles[inside] = self.cycle_of(times[inside], t0)

        live = inside & emap.mapped[chans]
        fates[inside & ~live] = SpikeFate.UNMAPPED

        blanked = self._blanked(times, chans, live, blanks)
        fates[blanked] = SpikeFate.BLANKED
        live &= ~blanked

        idx = np.flatnonzero(live)  # in time order
        clu = emap.cluster[chans[idx]]
        ax = emap.axon[chans[idx]]
        key = (cycles[idx] * max(emap.n_clusters, 1) + clu) * K_AXONS + ax
        _, first = np.unique(key, return_index=True)  # earliest spike of each pulse, key-sorted
        is_first = np.zeros(idx.size, bool)
        is_first[first] = True
        fates[idx[~is_first]] = SpikeFate.MERGED
        keep = idx[first]
        frames = _trusted(AxonFrames, cycles=cycles[keep], cluster=emap.cluster[chans[keep]],
                          axon=emap.axon[chans[keep]], gclk_hz=float(cfg.gclk_hz))

        per_code = np.bincount(fates, minlength=len(SpikeFate))
        dropped = {name: int(per_code[code]) for name, code in _DROP_CODES}
        cycle_stop = int(self.cycle_of([t1], t0)[0]) + 1
        return EncodeResult(frames, dropped, n, len(frames), fates, cycles, float(t0), float(t1),
                            cycle_stop)

    def _check_labels(self, events: SpikeEvents) -> None:
        emap = self.electrode_map
        if events.n_channels != emap.n_electrodes:
            raise ValueError(f"the spikes come from {events.n_channels} electrodes but the electrode "
                             f"map covers {emap.n_electrodes}")
        if emap.labels is not None and tuple(events.labels) != emap.labels:
            diff = next(i for i, (a, b) in enumerate(zip(events.labels, emap.labels, strict=True)) if a != b)
            raise ValueError(f"electrode {diff} is labelled {events.labels[diff]!r} in the spikes but "
                             f"{emap.labels[diff]!r} in the electrode map; the map belongs to another recording")

    def encode_window(self, events: SpikeEvents) -> WindowEncoding:
        """Align the whole session window once (the replay's path); blanking comes later.

        Parameters
        ----------
        events : SpikeEvents
            Sorted spikes; their electrodes must match the electrode map.

        Returns
        -------
        WindowEncoding

        Raises
        ------
        TypeError, ValueError
            As :meth:`encode`.
        """
        if not isinstance(events, SpikeEvents):
            raise TypeError(f"events must be SpikeEvents, got {type(events).__name__}")
        return WindowEncoding(self, events)

    def stream(self) -> StreamEncoding:
        """Encode a live stream chunk by chunk (the live loop's path); see :class:`StreamEncoding`."""
        return StreamEncoding(self)

    def _blanked(self, times, chans, live, blanks: BlankingWindows) -> np.ndarray:
        out = np.zeros(times.size, bool)
        if len(blanks) == 0 or not np.any(live):
            return out
        if self.config.blanking_scope == "global":
            out[live] = _in_windows(times[live], blanks.t_start, blanks.t_stop)
            return out
        glob = blanks.electrode == -1
        out[live] = _in_windows(times[live], blanks.t_start[glob], blanks.t_stop[glob])
        # per electrode: group spikes and windows by electrode once, then one slice each
        idx = np.flatnonzero(live)
        idx = idx[np.argsort(chans[idx], kind="stable")]
        ch = chans[idx]
        w_idx = np.flatnonzero(~glob)
        w_idx = w_idx[np.argsort(blanks.electrode[w_idx], kind="stable")]
        w_el = blanks.electrode[w_idx]
        els, w_lo = np.unique(w_el, return_index=True)
        w_hi = np.r_[w_lo[1:], w_el.size]
        s_lo = np.searchsorted(ch, els, side="left")
        s_hi = np.searchsorted(ch, els, side="right")
        for k in np.flatnonzero(s_hi > s_lo):
            sp = idx[s_lo[k]:s_hi[k]]
            w = w_idx[w_lo[k]:w_hi[k]]
            out[sp] |= _in_windows(times[sp], blanks.t_start[w], blanks.t_stop[w])
        return out

    def blanking_for(self, commands: StimCommands) -> BlankingWindows:
        """Blanking windows for delivered stimulation commands.

        Each window runs from the pulse onset to the end of the pulse (two phases and the
        interphase gap) plus ``config.blanking``; it covers the stimulated electrode, or every
        electrode (``-1``) when ``blanking_scope = "global"``.

        Parameters
        ----------
        commands : StimCommands

        Returns
        -------
        BlankingWindows

        Examples
        --------
        >>> cmd = StimCommands([0.1], [4], [-1e-6], [200e-6], [0.0])
        >>> enc = Encoder(EncoderConfig(), ElectrodeMap.default(8))
        >>> w = enc.blanking_for(cmd)
        >>> w.electrode.tolist(), round(float(w.t_stop[0] - w.t_start[0]) * 1e3, 6)
        ([4], 2.4)
        """
        if not isinstance(commands, StimCommands):
            raise TypeError(f"commands must be StimCommands, got {type(commands).__name__}")
        dur = 2 * commands.phase_width + commands.interphase
        el = commands.electrode if self.config.blanking_scope == "electrode" else \
            np.full(len(commands), -1, np.int64)
        return BlankingWindows(commands.times.copy(), commands.times + dur + self.config.blanking, el)



# ---- the session window -------------------------------------------------------------------

def session_window(events: SpikeEvents, start: float | None = None, stop: float | None = None, *,
                   duration: float | None = None) -> tuple[float, float]:
    """The closed window ``(t0, t1)`` of a session over ``events``: the one place it is computed.

    ``start`` / ``stop`` default to the segment's bounds; ``duration`` (instead of ``stop``)
    takes ``t0 + duration``, clipped to the segment's end.

    Parameters
    ----------
    events : SpikeEvents
        The recording (its ``t_start`` / ``t_stop`` bound the window).
    start, stop : float, optional
        Window bounds, s, inside the segment.
    duration : float, optional
        Window length, s (> 0); not together with ``stop``.

    Returns
    -------
    tuple of float

    Raises
    ------
    ValueError
        A bound outside the recording, or an empty window.

    Examples
    --------
    >>> ev = SpikeEvents([0.5], [0], ("A",), 0.0, 10.0)
    >>> session_window(ev), session_window(ev, 2.0, duration=100.0)
    ((0.0, 10.0), (2.0, 10.0))
    >>> session_window(ev, 12.0)
    Traceback (most recent call last):
    ...
    ValueError: --start 12 s is outside the recording [0, 10] s
    """
    if not isinstance(events, SpikeEvents):
        raise TypeError(f"events must be SpikeEvents, got {type(events).__name__}")
    lo, hi = events.t_start, events.t_stop
    t0 = lo if start is None else _v.real("--start", start)
    if not lo <= t0 <= hi:
        raise ValueError(f"--start {t0:g} s is outside the recording [{lo:g}, {hi:g}] s")
    if duration is not None:
        if stop is not None:
            raise ValueError("give --stop or --duration, not both")
        t1 = min(t0 + _v.real("--duration", duration, lo=0.0, lo_open=True), hi)
    else:
        t1 = hi if stop is None else _v.real("--stop", stop)
        if not lo <= t1 <= hi:
            raise ValueError(f"--stop {t1:g} s is outside the recording [{lo:g}, {hi:g}] s")
    if t1 <= t0:
        raise ValueError(f"the session window [{t0:g}, {t1:g}] s is empty (--start must be before --stop)")
    return float(t0), float(t1)


# ---- a whole window encoded once (the replay's path) -----------------------------------------

@dataclass(frozen=True)
class ChunkEncoding:
    """Fates and AXON pulses of the spikes ``lo:hi`` of a :class:`WindowEncoding`."""

    lo: int
    hi: int
    fates: np.ndarray  #: int8 SpikeFate of each spike lo:hi
    frames: AxonFrames  #: sorted by (cycle, cluster, axon)


class WindowEncoding:
    """The spikes of one session window, aligned to GCLK once; blanking is applied as it comes.

    Made by :meth:`Encoder.encode_window`. Everything that does not depend on the chip (the
    window, the cycle of each spike, its (cluster, axon), mapped or not) is computed once,
    vectorised. What does depend on it, blanking after each stimulation, lives here too, in
    compiled code: :meth:`covered` says which spikes a set of commands would blank (without
    changing anything), :meth:`blank` applies their windows for good, and :meth:`chunk` gives
    the fates and pulses of a run of spikes as the windows applied so far leave them. Spikes are indexed in time order; ``outside`` holds the spikes outside the
    window (fate ``outside_window``), which no chunk contains.

    Examples
    --------
    >>> ev = SpikeEvents([0.0, 0.0021, 0.0025, 0.004], [0, 0, 0, 1], ("A", "B"), 0.0, 0.01)
    >>> w = Encoder(EncoderConfig(gclk_hz=1e3), ElectrodeMap.default(2)).encode_window(ev)
    >>> cmd = StimCommands([0.0035], [1], [-1e-6], [200e-6], [0.0])
    >>> w.covered(cmd, 0, w.n).tolist(), w.cycles.tolist()
    ([False, False, False, True], [0, 3, 3, 4])
    >>> w.blank(cmd, 0)
    >>> c = w.chunk(0, w.n)
    >>> c.fates.tolist(), c.frames.cycles.tolist()
    ([0, 0, 4, 3], [0, 3])
    """

    def __init__(self, encoder: Encoder, events: SpikeEvents):
        emap, cfg = encoder.electrode_map, encoder.config
        encoder._check_labels(events)
        self.t0, self.t1 = encoder.window(events)
        self.gclk_hz = float(cfg.gclk_hz)
        self.cycle_stop = int(encoder.cycle_of([self.t1], self.t0)[0]) + 1
        times, chans = events.times, events.channels
        inside = (times >= self.t0) & (times <= self.t1)
        self.outside = SpikeEvents(times[~inside], chans[~inside], events.labels, events.t_start,
                                   events.t_stop) if not np.all(inside) else None
        self.labels = events.labels
        self.times = np.ascontiguousarray(times[inside])
        self.channels = np.ascontiguousarray(chans[inside])
        self.n = int(self.times.size)
        self.cycles = encoder.cycle_of(self.times, self.t0)
        self.cluster = emap.cluster[self.channels]
        self.axon = emap.axon[self.channels]
        self.mapped = emap.mapped[self.channels]
        self.blanked = np.zeros(self.n, np.bool_)
        self.n_slots = max(emap.n_clusters, 1) * K_AXONS
        self.slot = np.where(self.mapped, self.cluster * K_AXONS + self.axon, -1)
        self._extra = float(cfg.blanking)
        self._global = cfg.blanking_scope == "global"

    def index_of_cycle(self, cycle: int) -> int:
        """Index of the first spike at or after GCLK cycle ``cycle``."""
        return int(np.searchsorted(self.cycles, cycle, side="left"))

    def spikes(self, lo: int, hi: int) -> SpikeEvents:
        """The spikes ``lo:hi`` (for the session log)."""
        return _trusted(SpikeEvents, times=self.times[lo:hi], channels=self.channels[lo:hi],
                        labels=self.labels, t_start=self.t0, t_stop=self.t1)

    def chunk(self, lo: int, hi: int, also_blanked: np.ndarray | None = None) -> ChunkEncoding:
        """Fates and pulses of spikes ``lo:hi``; ``lo`` and ``hi`` must fall on cycle boundaries.

        ``also_blanked`` (bool, ``hi - lo``): spikes to treat as blanked on top of the windows
        applied so far (a runner's tentative blanking, see :meth:`covered`)."""
        fates = np.empty(hi - lo, np.int8)
        keys = np.empty(hi - lo, np.int64)
        blanked = self.blanked
        if also_blanked is not None:
            blanked = blanked.copy()
            blanked[lo:hi] |= also_blanked
        n = _encode_run(self.cycles, self.slot, self.mapped, blanked, lo, hi, self.n_slots, fates, keys)
        keys = keys[:n]
        cyc = keys // self.n_slots
        slot = keys % self.n_slots
        frames = _trusted(AxonFrames, cycles=cyc, cluster=slot // K_AXONS, axon=slot % K_AXONS,
                          gclk_hz=self.gclk_hz)
        return ChunkEncoding(lo, hi, fates, frames)

    def _windows(self, commands: StimCommands):
        dur = 2 * commands.phase_width + commands.interphase
        return commands.times, commands.times + dur + self._extra, commands.electrode

    def covered(self, commands: StimCommands, lo: int, hi: int) -> np.ndarray:
        """bool (``hi - lo``): the spikes of ``lo:hi`` that ``commands`` would newly blank."""
        out = np.zeros(hi - lo, np.bool_)
        if len(commands):
            ts, te, el = self._windows(commands)
            _cover(self.times, self.channels, self.mapped, self.blanked, lo, hi, ts, te, el, self._global, out)
        return out

    def blank(self, commands: StimCommands, lo: int) -> None:
        """Blank, for good, every spike from ``lo`` on that ``commands``' windows cover."""
        if len(commands):
            ts, te, el = self._windows(commands)
            _blank(self.times, self.channels, self.mapped, self.blanked, lo, self.n, ts, te, el, self._global)


@numba.njit(cache=True)
def _encode_run(cycles, slot, mapped, blanked, lo, hi, n_slots, fates, keys):
    """Fates of spikes lo:hi in time order (blanked, merged, pulse); pulse keys
    ``cycle * n_slots + slot`` into ``keys``, sorted. Returns the number of pulses."""
    seen = np.full(n_slots, -1, np.int64)
    n = 0
    ordered = True
    for i in range(lo, hi):
        if not mapped[i]:
            fates[i - lo] = 2  # UNMAPPED
        elif blanked[i]:
            fates[i - lo] = 3  # BLANKED
        elif seen[slot[i]] == cycles[i]:
            fates[i - lo] = 4  # MERGED
        else:
            seen[slot[i]] = cycles[i]
            fates[i - lo] = 0  # PULSE
            k = cycles[i] * n_slots + slot[i]
            if n and k < keys[n - 1]:
                ordered = False
            keys[n] = k
            n += 1
    if not ordered:
        keys[:n] = np.sort(keys[:n])
    return n


@numba.njit(cache=True)
def _cover(times, chans, mapped, blanked, lo, hi, ts, te, el, global_scope, out):
    """out[i - lo] = True for the spikes of lo:hi, not blanked yet, inside a window [ts, te)."""
    for w in range(ts.size):
        i = np.searchsorted(times, ts[w], side="left")
        if i < lo:
            i = lo
        while i < hi and times[i] < te[w]:
            if mapped[i] and not blanked[i] and (global_scope or el[w] == -1 or el[w] == chans[i]):
                out[i - lo] = True
            i += 1


@numba.njit(cache=True)
def _blank(times, chans, mapped, blanked, lo, hi, ts, te, el, global_scope):
    """Mark blanked the spikes of lo:hi inside any window [ts, te) of their electrode
    (el = -1: all electrodes)."""
    for w in range(ts.size):
        i = np.searchsorted(times, ts[w], side="left")
        if i < lo:
            i = lo
        while i < hi and times[i] < te[w]:
            if mapped[i] and (global_scope or el[w] == -1 or el[w] == chans[i]):
                blanked[i] = True
            i += 1


# ---- a live stream, chunk by chunk (the live loop's path) -------------------------------------

class StreamEncoding:
    """A live session's encoder: chunks of spikes in, pulses out, blanking kept as windows.

    Made by :meth:`Encoder.stream`; the encoder's ``t_start`` is the session's start (cycle 0)
    and ``t_stop`` its end (None: open-ended). Spikes of one cycle merge only within a chunk
    (the chip has run a cycle once a chunk is through). Blanking windows of delivered commands
    (:meth:`blank`) are kept until no later spike can fall in them.

    Examples
    --------
    >>> enc = Encoder(EncoderConfig(gclk_hz=1e3, t_start=0.0), ElectrodeMap.default(2))
    >>> st = enc.stream()
    >>> st.blank(StimCommands([0.0035], [1], [-1e-6], [200e-6], [0.0]))
    >>> t = np.array([0.0021, 0.0025, 0.004])
    >>> fates, frames = st.encode(t, np.array([0, 0, 1]), st.cycles_of(t))
    >>> fates.tolist(), frames.cycles.tolist()
    ([0, 4, 3], [3])
    """

    def __init__(self, encoder: Encoder):
        cfg, emap = encoder.config, encoder.electrode_map
        if cfg.t_start is None:
            raise ValueError("a stream encoder needs the session's start: EncoderConfig(t_start=...)")
        self.t0 = float(cfg.t_start)
        self.t1 = math.inf if cfg.t_stop is None else float(cfg.t_stop)
        self.gclk_hz = float(cfg.gclk_hz)
        self._cluster, self._axon, self._mapped = emap.cluster, emap.axon, emap.mapped
        self.n_slots = max(emap.n_clusters, 1) * K_AXONS
        self._extra = float(cfg.blanking)
        self._global = cfg.blanking_scope == "global"
        # blanking windows [ts, te) of electrode el (-1: every electrode), the first _nw in use
        self._ts = np.zeros(64)
        self._te = np.zeros(64)
        self._el = np.zeros(64, np.int64)
        self._nw = 0

    def cycles_of(self, times: np.ndarray) -> np.ndarray:
        """GCLK cycle of each time (as :meth:`Encoder.cycle_of` from the session's start)."""
        return np.ceil((times - self.t0) * self.gclk_hz - EDGE_TOLERANCE).astype(np.int64)

    def encode(self, times: np.ndarray, chans: np.ndarray, cycles: np.ndarray) -> tuple[np.ndarray, AxonFrames]:
        """Fates (int8 :class:`SpikeFate`) of sorted spikes sampled at ``cycles``, and their pulses."""
        if self._nw > 32 and times.size:  # windows over before this chunk can blank nothing more
            keep = np.flatnonzero(self._te[:self._nw] > times[0])
            self._nw = m = keep.size
            self._ts[:m], self._te[:m], self._el[:m] = self._ts[keep], self._te[keep], self._el[keep]
        fates, cyc, clu, ax = _encode_stream(times, chans, cycles, self.t0, self.t1, self._cluster, self._axon,
                                             self._mapped, self._ts, self._te, self._el, self._nw, self._global,
                                             self.n_slots)
        return fates, _trusted(AxonFrames, cycles=cyc, cluster=clu, axon=ax, gclk_hz=self.gclk_hz)

    def blank(self, commands: StimCommands) -> None:
        """Keep the blanking windows of delivered ``commands`` (see :meth:`Encoder.blanking_for`)."""
        n = len(commands)
        if n == 0:
            return
        if self._nw + n > self._ts.size:
            grow = self._nw + n
            self._ts, self._te, self._el = (np.concatenate([a, np.zeros(grow, a.dtype)])
                                            for a in (self._ts, self._te, self._el))
        w = slice(self._nw, self._nw + n)
        self._ts[w] = commands.times
        self._te[w] = commands.times + (2 * commands.phase_width + commands.interphase) + self._extra
        self._el[w] = commands.electrode
        self._nw += n


@numba.njit(cache=True)
def _encode_stream(times, chans, cycles, t0, t1, cluster, axon, mapped, ts, te, wel, n_windows, global_scope,
                   n_slots):
    """The rules of :class:`Encoder` for one chunk of a stream: each spike's fate, and the pulses
    (cycle, cluster, axon) sorted. Blanking windows are ``[ts[w], te[w])`` for ``w < n_windows``."""
    fates = np.empty(times.size, np.int8)
    keys = np.empty(times.size, np.int64)
    seen_slot = np.full(times.size, -1, np.int64)
    n = 0
    for i in range(times.size):
        t = times[i]
        e = chans[i]
        if t < t0 or t > t1:
            fates[i] = 1  # OUTSIDE_WINDOW
            continue
        if not mapped[e]:
            fates[i] = 2  # UNMAPPED
            continue
        blank = False
        for w in range(n_windows):
            if ts[w] <= t < te[w] and (global_scope or wel[w] == -1 or wel[w] == e):
                blank = True
                break
        if blank:
            fates[i] = 3  # BLANKED
            continue
        k = cycles[i] * n_slots + cluster[e] * K_AXONS + axon[e]
        dup = False
        for j in range(n):
            if seen_slot[j] == k:
                dup = True
                break
        if dup:
            fates[i] = 4  # MERGED
            continue
        fates[i] = 0  # PULSE
        seen_slot[n] = k
        keys[n] = k
        n += 1
    keys = np.sort(keys[:n])
    slot = keys % n_slots
    return fates, keys // n_slots, slot // K_AXONS, slot % K_AXONS


def n_clusters_for(n_electrodes: int) -> int:
    """Clusters the default map needs for ``n_electrodes`` (16 axons per cluster).

    Examples
    --------
    >>> n_clusters_for(16), n_clusters_for(17), n_clusters_for(59)
    (1, 2, 4)
    """
    return math.ceil(_v.integer("n_electrodes", n_electrodes, lo=1) / K_AXONS)
