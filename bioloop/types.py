"""Core data types: plain, validated struct-of-arrays containers in SI units.

``SpikeEvents`` (seconds, electrode index) -> ``AxonFrames`` (GCLK cycle, cluster, axon) ->
``FireEvents`` (GCLK cycle, cluster, dend) -> ``StimCommands`` (seconds, electrode, waveform).
Conversion to and from Neo lives in :mod:`bioloop.neoconv`, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import validate as _v

if TYPE_CHECKING:
    from .chip.noc import Routes


def _int_array(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"{name} holds negative value {int(arr.min())}; indices start at 0")
    return arr.astype(np.int64)


def _float_array(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"{name} holds {bad}; every value must be finite")
    return arr


def _trusted(cls, **fields):
    """Build a frozen container without re-validating: for arrays a stage has just made itself
    with the right dtypes (hot paths). Everything from outside goes through ``cls(...)``."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)  # the containers are plain (not slotted) frozen dataclasses
    return obj


def _same_len(**arrays):
    lens = {k: len(v) for k, v in arrays.items()}
    if len(set(lens.values())) > 1:
        raise ValueError(f"arrays must have equal lengths, got {lens}")


@dataclass(frozen=True)
class SpikeEvents:
    """Spikes of a recording or stream: ``times`` (s, sorted) on ``channels`` (electrode index).

    ``labels[i]`` names electrode ``i``; ``t_start``/``t_stop`` bound the segment.

    Examples
    --------
    >>> ev = SpikeEvents([0.01, 0.02], [0, 1], labels=("A", "B"), t_start=0.0, t_stop=1.0)
    >>> ev.n_channels, len(ev)
    (2, 2)
    """

    times: np.ndarray
    channels: np.ndarray
    labels: tuple[str, ...]
    t_start: float = 0.0
    t_stop: float = 0.0

    def __post_init__(self):
        times = _float_array("times", self.times)
        chans = _int_array("channels", self.channels)
        _same_len(times=times, channels=chans)
        labels = tuple(str(x) for x in self.labels)
        t0 = _v.real("t_start", self.t_start)
        t1 = _v.real("t_stop", self.t_stop)
        if t1 < t0:
            raise ValueError(f"t_stop = {t1:g} s is before t_start = {t0:g} s")
        if times.size:
            if np.any(np.diff(times) < 0):
                i = int(np.argmax(np.diff(times) < 0))
                raise ValueError(f"spike times must be sorted; times[{i + 1}] = {times[i + 1]:g} s "
                                 f"comes after {times[i]:g} s")
            if times[0] < t0 or times[-1] > t1:
                raise ValueError(f"spike times span [{times[0]:g}, {times[-1]:g}] s, outside the "
                                 f"segment [{t0:g}, {t1:g}] s")
            if chans.max() >= len(labels):
                raise ValueError(f"channel index {int(chans.max())} has no label; "
                                 f"{len(labels)} labels given")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "t_start", t0)
        object.__setattr__(self, "t_stop", t1)

    def __len__(self) -> int:
        return int(self.times.size)

    @property
    def n_channels(self) -> int:
        return len(self.labels)

    @property
    def duration(self) -> float:
        return self.t_stop - self.t_start

    def counts(self) -> np.ndarray:
        return np.bincount(self.channels, minlength=self.n_channels)


@dataclass(frozen=True)
class AxonFrames:
    """AXON pulses: one row per (GCLK ``cycles``, ``cluster``, ``axon``), sorted by cycle."""

    cycles: np.ndarray
    cluster: np.ndarray
    axon: np.ndarray
    gclk_hz: float

    def __post_init__(self):
        cyc = _int_array("cycles", self.cycles)
        clu = _int_array("cluster", self.cluster)
        ax = _int_array("axon", self.axon)
        _same_len(cycles=cyc, cluster=clu, axon=ax)
        _v.real("gclk_hz", self.gclk_hz, lo=1e3, hi=50e3)
        if cyc.size and np.any(np.diff(cyc) < 0):
            raise ValueError("AxonFrames cycles must be sorted in time")
        object.__setattr__(self, "cycles", cyc)
        object.__setattr__(self, "cluster", clu)
        object.__setattr__(self, "axon", ax)
        object.__setattr__(self, "gclk_hz", float(self.gclk_hz))

    def __len__(self) -> int:
        return int(self.cycles.size)

    @classmethod
    def from_dense(cls, axons: np.ndarray, gclk_hz: float, t0: int = 0) -> AxonFrames:
        """Events of a dense (T, C, K) bool array, cycles offset by ``t0``."""
        t, c, k = np.nonzero(axons)
        return cls(t + t0, c, k, gclk_hz)

    def to_dense(self, n_cycles: int, n_clusters: int, n_axons: int = 16, t0: int = 0) -> np.ndarray:
        out = np.zeros((n_cycles, n_clusters, n_axons), bool)
        out[self.cycles - t0, self.cluster, self.axon] = True
        return out


@dataclass(frozen=True)
class FireEvents:
    """FIRE outputs: one row per (GCLK ``cycles``, ``cluster``, ``dend``), sorted by cycle."""

    cycles: np.ndarray
    cluster: np.ndarray
    dend: np.ndarray
    gclk_hz: float

    def __post_init__(self):
        cyc = _int_array("cycles", self.cycles)
        clu = _int_array("cluster", self.cluster)
        de = _int_array("dend", self.dend)
        _same_len(cycles=cyc, cluster=clu, dend=de)
        _v.real("gclk_hz", self.gclk_hz, lo=1e3, hi=50e3)
        object.__setattr__(self, "cycles", cyc)
        object.__setattr__(self, "cluster", clu)
        object.__setattr__(self, "dend", de)
        object.__setattr__(self, "gclk_hz", float(self.gclk_hz))

    def __len__(self) -> int:
        return int(self.cycles.size)

    @property
    def times(self) -> np.ndarray:
        """FIRE times in seconds (the GCLK edge of the cycle in which the neuron fired)."""
        return self.cycles / self.gclk_hz

    @classmethod
    def from_dense(cls, fires: np.ndarray, gclk_hz: float, t0: int = 0) -> FireEvents:
        t, c, n = np.nonzero(fires)
        return cls(t + t0, c, n, gclk_hz)

    def to_dense(self, n_cycles: int, n_clusters: int, n_dends: int = 16, t0: int = 0) -> np.ndarray:
        out = np.zeros((n_cycles, n_clusters, n_dends), bool)
        out[self.cycles - t0, self.cluster, self.dend] = True
        return out


@dataclass(frozen=True)
class StimCommands:
    """Biphasic, charge-balanced stimulation pulses (times in s, amplitudes in A, widths in s).

    ``amplitude`` is signed: its sign is the polarity of the first phase.
    """

    times: np.ndarray
    electrode: np.ndarray
    amplitude: np.ndarray
    phase_width: np.ndarray
    interphase: np.ndarray
    source_cycle: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self):
        times = _float_array("times", self.times)
        el = _int_array("electrode", self.electrode)
        amp = _float_array("amplitude", self.amplitude)
        pw = _float_array("phase_width", self.phase_width)
        ip = _float_array("interphase", self.interphase)
        src = _int_array("source_cycle", self.source_cycle) if len(self.source_cycle) else np.full(times.size, -1, np.int64)
        _same_len(times=times, electrode=el, amplitude=amp, phase_width=pw, interphase=ip, source_cycle=src)
        if pw.size and pw.min() <= 0:
            raise ValueError(f"phase_width must be positive, got {pw.min():g} s")
        if ip.size and ip.min() < 0:
            raise ValueError(f"interphase must be >= 0, got {ip.min():g} s")
        for name, val in (("times", times), ("electrode", el), ("amplitude", amp),
                          ("phase_width", pw), ("interphase", ip), ("source_cycle", src)):
            object.__setattr__(self, name, val)

    def __len__(self) -> int:
        return int(self.times.size)

    @property
    def charge_per_phase(self) -> np.ndarray:
        """|I| x phase width, coulombs."""
        return np.abs(self.amplitude) * self.phase_width


@dataclass(frozen=True)
class ChipProgram:
    """What is written into the chip's MRAM: codes for every cluster, and lateral wiring.

    ``weights`` (C, K, N), ``psp_ref`` (C, K), ``threshold_gen`` / ``threshold_ref`` (C,), all
    3-bit codes; ``lateral_neighbours`` is the column-offset neighbourhood of lateral inhibition
    (``()`` for none). ``name`` says where the program came from (a preset or a file).
    ``routes`` (:class:`bioloop.chip.Routes`, empty by default; ``None`` means empty) is the
    routing table between clusters, checked against C.
    """

    weights: np.ndarray
    psp_ref: np.ndarray
    threshold_gen: np.ndarray
    threshold_ref: np.ndarray
    lateral_neighbours: tuple[int, ...] = (-1, 1)
    name: str = "custom"
    routes: Routes | None = None

    def __post_init__(self):
        w = _v.code_array("weights", self.weights, shape_options=((None, 16, 16),))
        C = w.shape[0]
        r = _v.code_array("psp_ref", self.psp_ref, shape_options=((C, 16),))
        tg = _v.code_array("threshold_gen", self.threshold_gen, shape_options=((C,),))
        tr = _v.code_array("threshold_ref", self.threshold_ref, shape_options=((C,),))
        theta = tg.astype(int) - tr.astype(int)
        if theta.size and theta.min() < 1:
            raise ValueError(f"threshold theta = gen - ref = {int(theta.min())}; must be in 1..7")
        if not isinstance(self.lateral_neighbours, tuple):
            raise TypeError(f"lateral_neighbours must be a tuple, got {self.lateral_neighbours!r}")
        from .chip.noc import Routes  # here: bioloop.chip imports this module

        routes = Routes() if self.routes is None else self.routes
        if not isinstance(routes, Routes):
            raise TypeError(f"routes must be bioloop.chip.Routes or None, got {type(routes).__name__}")
        routes.check(max(C, 1))
        for name, val in (("weights", w), ("psp_ref", r), ("threshold_gen", tg), ("threshold_ref", tr),
                          ("routes", routes)):
            object.__setattr__(self, name, val)

    @property
    def n_clusters(self) -> int:
        return int(self.weights.shape[0])

    @property
    def theta(self) -> np.ndarray:
        return self.threshold_gen.astype(int) - self.threshold_ref.astype(int)

    @property
    def signed_weights(self) -> np.ndarray:
        return self.weights.astype(int) - self.psp_ref.astype(int)[:, :, None]
