"""Stimulator: the chip's FIRE outputs become biphasic stimulation commands, within safety limits.

A FIRE of (cluster, dend) asks for one charge-balanced biphasic current pulse on one electrode.
The :class:`StimMap` says which electrode (by default the electrode that feeds AXON row ``dend``
of the same cluster, through :meth:`ElectrodeMap.electrode_of`). Every command is checked
against every limit of the :class:`StimulatorConfig`; one that breaks a limit is refused and
recorded with its reason, never changed. Reasons are checked in this order, the first that
applies is recorded:

``unmapped``
    the FIRE's (cluster, dend) has no electrode;
``amplitude``
    ``|I| > max_amplitude`` (default 3 uA);
``charge``
    charge per phase ``|I| x phase_width > max_charge`` (default 3 nC);
``shannon``
    with an electrode area given: ``k = log10(D) + log10(Q) > shannon_k`` (default 1.85), with
    Q the charge per phase in uC and D = Q / area in uC/cm^2 (Shannon 1992,
    IEEE Trans. Biomed. Eng. 39:424);
``min_interval``
    less than ``min_interval`` (default 10 ms, i.e. at most 100 Hz) since the last command
    delivered to the same electrode;
``rate_cap``
    ``rate_cap`` commands (default 100) already delivered to all electrodes together in the
    sliding window ``(t - 1 s, t]``.

Only accepted commands count towards ``min_interval`` and ``rate_cap``. Limits are compared
with a relative tolerance of 1e-9 and times with 1 ns, so a value exactly at a limit passes.
Net charge is zero by construction: both phases have the same amplitude and width.

The stimulator's state (last delivery time per electrode, the deliveries of the last second,
the time of the last FIRE processed) is small and immutable (:class:`StimulatorState`):
:meth:`Stimulator.get_state` / :meth:`Stimulator.set_state` let a runner roll back a chunk.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np

from . import validate as _v
from .chip.config import N_DENDS
from .encoder import ElectrodeMap
from .mapfiles import read_map_table
from .types import FireEvents, StimCommands, _trusted

log = logging.getLogger(__name__)

#: Phase widths are whole multiples of this (the time base of common stimulus generators).
PHASE_STEP = 20e-6
POLARITIES = ("cathodic-first", "anodic-first")
#: ``behind`` is never set here: the live loop refuses FIREs with it while it lags wall time
REFUSAL_REASONS = ("unmapped", "amplitude", "charge", "shannon", "min_interval", "rate_cap", "behind")
_REASON_NAMES = np.array(REFUSAL_REASONS, dtype="<U12")
_CODE = {name: i for i, name in enumerate(REFUSAL_REASONS)}
RATE_WINDOW = 1.0  #: seconds of the sliding window of the global rate cap
LIMIT_RTOL = 1e-9  #: a value within this relative distance of a limit passes
TIME_TOL = 1e-9  #: seconds; two times closer than this count as equal
MAX_AMPLITUDE_SETTING = 1e-3  #: A; no stimulus generator setting above 1 mA is plausible here
MAX_WIDTH_SETTING = 10e-3  #: s; longest phase or interphase accepted as a pulse setting


# ---- configuration ------------------------------------------------------------------------

@dataclass(frozen=True)
class StimulatorConfig:
    """Waveform, timing and safety limits of the stimulator (SI units).

    Parameters
    ----------
    amplitude : float
        Current of each phase, A (> 0, at most 1 mA as a setting; the safety limit
        ``max_amplitude`` is checked on every command). Default 1 uA.
    phase_width : float
        Width of each phase, s: a multiple of 20 us, from 20 us to 10 ms. Default 200 us.
    interphase : float
        Gap between the phases, s, 0 to 10 ms. Default 0.
    polarity : {"cathodic-first", "anodic-first"}
        Sign of the first phase (cathodic = negative current). Default cathodic-first.
    delay : float
        Added to the FIRE time, s (>= 0, at most 10 s). Default 0.
    time_origin : float
        Time of GCLK cycle 0 on the recording's clock, s (the encoder's ``t0``); a FIRE in
        cycle n is stimulated at ``time_origin + n / gclk_hz + delay``. Default 0.
    max_amplitude : float
        Largest |I| allowed, A (default 3 uA).
    max_charge : float
        Largest charge per phase allowed, C (default 3 nC).
    min_interval : float
        Shortest time between two commands on one electrode, s (default 10 ms; 0 disables).
    rate_cap : int
        Most commands allowed over all electrodes in any sliding 1 s window (default 100).
    shannon_k : float
        Largest Shannon k allowed (default 1.85); checked only with ``electrode_area``.
    electrode_area : float or None
        Geometric area of a stimulation electrode, m^2 (e.g. 7.1e-10 for a 30 um disc);
        None switches the Shannon check off.

    Raises
    ------
    TypeError, ValueError
        A value of the wrong type or outside its range; the message names both.

    Examples
    --------
    >>> cfg = StimulatorConfig(amplitude=2e-6, phase_width=100e-6)
    >>> round(cfg.charge_per_phase * 1e9, 6), cfg.signed_amplitude < 0
    (0.2, True)
    >>> StimulatorConfig(phase_width=30e-6)
    Traceback (most recent call last):
    ...
    ValueError: phase_width = 30 us is not a multiple of 20 us (valid: 20 us, 40 us, ... up to 10000 us)
    """

    amplitude: float = 1e-6
    phase_width: float = 200e-6
    interphase: float = 0.0
    polarity: str = "cathodic-first"
    delay: float = 0.0
    time_origin: float = 0.0
    max_amplitude: float = 3e-6
    max_charge: float = 3e-9
    min_interval: float = 10e-3
    rate_cap: int = 100
    shannon_k: float = 1.85
    electrode_area: float | None = None

    def __post_init__(self):
        r = _v.real
        r("amplitude", self.amplitude, lo=0.0, lo_open=True, hi=MAX_AMPLITUDE_SETTING)
        pw = r("phase_width", self.phase_width)
        n = pw / PHASE_STEP
        if round(n) < 1 or abs(n - round(n)) > 1e-6 or pw > MAX_WIDTH_SETTING * (1 + LIMIT_RTOL):
            raise ValueError(f"phase_width = {pw * 1e6:g} us is not a multiple of 20 us "
                             f"(valid: 20 us, 40 us, ... up to {MAX_WIDTH_SETTING * 1e6:g} us)")
        r("interphase", self.interphase, lo=0.0, hi=MAX_WIDTH_SETTING)
        _v.choice("polarity", self.polarity, POLARITIES)
        r("delay", self.delay, lo=0.0, hi=10.0)
        r("time_origin", self.time_origin)
        r("max_amplitude", self.max_amplitude, lo=0.0, lo_open=True, hi=MAX_AMPLITUDE_SETTING)
        r("max_charge", self.max_charge, lo=0.0, lo_open=True, hi=1e-6)
        r("min_interval", self.min_interval, lo=0.0, hi=60.0)
        _v.integer("rate_cap", self.rate_cap, lo=1, hi=1_000_000)
        r("shannon_k", self.shannon_k, lo=-10.0, hi=10.0)
        if self.electrode_area is not None:
            r("electrode_area", self.electrode_area, lo=0.0, lo_open=True, hi=1e-2)

    @property
    def signed_amplitude(self) -> float:
        """Current of the first phase, A: negative for cathodic-first."""
        return -self.amplitude if self.polarity == "cathodic-first" else self.amplitude

    @property
    def charge_per_phase(self) -> float:
        """|I| x phase width, C."""
        return self.amplitude * self.phase_width

    @property
    def pulse_duration(self) -> float:
        """Both phases and the gap, s."""
        return 2 * self.phase_width + self.interphase

    @property
    def shannon_value(self) -> float | None:
        """Shannon's k of this waveform, or None without an electrode area."""
        if self.electrode_area is None:
            return None
        q_uc = self.charge_per_phase * 1e6
        d = q_uc / (self.electrode_area * 1e4)  # uC / cm^2
        return math.log10(d) + math.log10(q_uc)

    def limit_violations(self) -> list[str]:
        """Reasons for which every command with this waveform will be refused (for warnings)."""
        out = []
        if self.amplitude > self.max_amplitude * (1 + LIMIT_RTOL):
            out.append("amplitude")
        if self.charge_per_phase > self.max_charge * (1 + LIMIT_RTOL):
            out.append("charge")
        k = self.shannon_value
        if k is not None and k > self.shannon_k + LIMIT_RTOL * max(1.0, abs(self.shannon_k)):
            out.append("shannon")
        return out

    def to_dict(self) -> dict:
        """JSON-friendly fields (for session annotations)."""
        return asdict(self)


# ---- the DEND -> electrode map ---------------------------------------------------------------

@dataclass(frozen=True)
class StimMap:
    """(cluster, dend) -> stimulation electrode, as a dense table; ``-1`` means none.

    Parameters
    ----------
    table : array_like of int, (C, 16)
        Electrode index of each (cluster, dend), ``-1`` where a FIRE stimulates nothing
        (such FIREs are refused as ``unmapped``).

    Examples
    --------
    >>> m = StimMap.from_electrode_map(ElectrodeMap.default(18))
    >>> m.electrode_of([0, 1, 1], [5, 1, 2]).tolist()
    [5, 17, -1]
    """

    table: np.ndarray

    def __post_init__(self):
        t = np.asarray(self.table)
        if t.ndim != 2 or t.shape[1] != N_DENDS or t.shape[0] < 1:
            raise ValueError(f"stimulation map table has shape {t.shape}; expected (C, {N_DENDS})")
        if t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"stimulation map table must hold integer electrodes, got dtype {t.dtype}")
        if t.min() < -1:
            raise ValueError(f"stimulation map holds electrode {int(t.min())}; use >= 0, or -1 for none")
        object.__setattr__(self, "table", t.astype(np.int64))

    @classmethod
    def from_electrode_map(cls, electrode_map: ElectrodeMap) -> StimMap:
        """Default: FIRE (c, d) stimulates the electrode that feeds AXON row d of cluster c."""
        if not isinstance(electrode_map, ElectrodeMap):
            raise TypeError(f"electrode_map must be an ElectrodeMap, got {type(electrode_map).__name__}")
        tab = electrode_map.table()
        if tab.shape[0] == 0:
            raise ValueError("the electrode map maps no electrode, so no FIRE could be stimulated")
        return cls(tab)

    @classmethod
    def from_mapping(cls, mapping: Mapping[tuple[int, int], int], n_clusters: int) -> StimMap:
        """Explicit ``{(cluster, dend): electrode}``; pairs not listed stimulate nothing."""
        C = _v.integer("n_clusters", n_clusters, lo=1)
        tab = np.full((C, N_DENDS), -1, np.int64)
        for key, e in mapping.items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise ValueError(f"stimulation map key {key!r} must be (cluster, dend)")
            c = _v.integer("cluster", key[0], lo=0, hi=C - 1)
            d = _v.integer("dend", key[1], lo=0, hi=N_DENDS - 1)
            tab[c, d] = _v.integer(f"electrode of (cluster {c}, dend {d})", e, lo=0)
        return cls(tab)

    @classmethod
    def from_file(cls, path, labels: Sequence[str], n_clusters: int) -> StimMap:
        """Read ``cluster, dend -> label`` from TOML (``[[stim]]`` tables with keys ``cluster``,
        ``dend``, ``label``) or CSV (header ``cluster,dend,label``).

        Raises
        ------
        ValueError
            Missing or malformed file, a (cluster, dend) listed twice, values out of range, a
            label the recording does not have.
        """
        labels = tuple(str(x) for x in labels)
        index = {lab: i for i, lab in enumerate(labels)}
        mapping: dict[tuple[int, int], int] = {}
        for where, row in read_map_table(Path(path), "stim", ("cluster", "dend", "label")):
            key = (row["cluster"], row["dend"])
            if key in mapping:
                raise ValueError(f"{where}: (cluster {key[0]}, dend {key[1]}) is listed twice")
            lab = str(row["label"])
            if lab not in index:
                raise ValueError(f"{where}: label {lab!r} is not an electrode of the recording")
            mapping[key] = index[lab]
        try:
            return cls.from_mapping(mapping, n_clusters)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"stimulation map {str(path)!r}: {exc}") from None

    @property
    def n_clusters(self) -> int:
        return int(self.table.shape[0])

    @property
    def max_electrode(self) -> int:
        """The highest electrode any FIRE stimulates (-1 if none)."""
        return int(self.table.max())

    def electrode_of(self, cluster, dend) -> np.ndarray:
        """Electrode of each (cluster, dend), -1 where none (also for out-of-range pairs)."""
        c = np.asarray(cluster, np.int64)
        d = np.asarray(dend, np.int64)
        ok = (c >= 0) & (c < self.n_clusters) & (d >= 0) & (d < N_DENDS)
        out = np.full(c.shape, -1, np.int64)
        out[ok] = self.table[c[ok], d[ok]]
        return out


# ---- results and state ----------------------------------------------------------------------

def _ef():
    return np.zeros(0, np.float64)


def _ei():
    return np.zeros(0, np.int64)


@dataclass(frozen=True)
class Refusals:
    """Refused commands: when, which FIRE, which electrode (-1 if none), and why.

    ``code`` is each refusal's reason as its index in :data:`REFUSAL_REASONS`; ``reason``
    gives the names.
    """

    times: np.ndarray = field(default_factory=_ef)
    cluster: np.ndarray = field(default_factory=_ei)
    dend: np.ndarray = field(default_factory=_ei)
    electrode: np.ndarray = field(default_factory=_ei)
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    source_cycle: np.ndarray = field(default_factory=_ei)

    def __len__(self) -> int:
        return int(self.times.size)

    @property
    def reason(self) -> np.ndarray:
        """Reason names, one per refusal."""
        return _REASON_NAMES[self.code.astype(np.int64)]


@dataclass(frozen=True)
class StimResult:
    """What :meth:`Stimulator.process` did with a batch of FIREs.

    ``fires == len(commands) + len(refused)`` and ``counts`` gives ``len(refused)`` by reason
    (every reason present, 0 included). ``accepted_cluster`` / ``accepted_dend`` name the FIRE
    behind each command.
    """

    commands: StimCommands
    accepted_cluster: np.ndarray
    accepted_dend: np.ndarray
    refused: Refusals
    counts: dict[str, int]
    fires: int

    @property
    def accepted(self) -> int:
        return len(self.commands)


@dataclass(frozen=True)
class StimulatorState:
    """Everything :meth:`Stimulator.process` remembers between calls (immutable).

    ``last_time``: ``(electrode, time of its last delivered command)`` pairs, sorted by
    electrode; ``recent``: delivery times (all electrodes) of the last second, sorted;
    ``t_last``: time of the last FIRE processed (None before the first).
    """

    last_time: tuple[tuple[int, float], ...] = ()
    recent: tuple[float, ...] = ()
    t_last: float | None = None

    def to_dict(self) -> dict:
        """JSON-friendly form (for a session journal)."""
        return {"last_time": [[e, t] for e, t in self.last_time], "recent": list(self.recent),
                "t_last": self.t_last}

    @classmethod
    def from_dict(cls, d: dict) -> StimulatorState:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(tuple((int(e), float(t)) for e, t in d["last_time"]),
                       tuple(float(t) for t in d["recent"]),
                       None if d["t_last"] is None else float(d["t_last"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stimulator state: {exc}") from None


# ---- the stimulator ---------------------------------------------------------------------------

class Stimulator:
    """FIRE events in, accepted stimulation commands and a refusal log out.

    Parameters
    ----------
    config : StimulatorConfig
    stim_map : StimMap or ElectrodeMap
        Where each FIRE stimulates; an ElectrodeMap gives the default map
        (:meth:`StimMap.from_electrode_map`).

    Examples
    --------
    >>> stim = Stimulator(StimulatorConfig(), ElectrodeMap.default(16))
    >>> res = stim.process(FireEvents([10, 15, 30], [0, 0, 0], [3, 3, 3], 1e3))
    >>> res.commands.times.tolist(), res.refused.reason.tolist()
    ([0.01, 0.03], ['min_interval'])
    >>> res.commands.electrode.tolist(), res.commands.amplitude.tolist()
    ([3, 3], [-1e-06, -1e-06])
    """

    def __init__(self, config: StimulatorConfig, stim_map: StimMap | ElectrodeMap):
        if not isinstance(config, StimulatorConfig):
            raise TypeError(f"config must be a StimulatorConfig, got {type(config).__name__}")
        if isinstance(stim_map, ElectrodeMap):
            stim_map = StimMap.from_electrode_map(stim_map)
        if not isinstance(stim_map, StimMap):
            raise TypeError(f"stim_map must be a StimMap or an ElectrodeMap, got {type(stim_map).__name__}")
        self.stim_map = stim_map
        self.config = config
        self.reset()

    @property
    def config(self) -> StimulatorConfig:
        """Waveform, timing and limits (replacing it keeps the state)."""
        return self._config

    @config.setter
    def config(self, config: StimulatorConfig) -> None:
        if not isinstance(config, StimulatorConfig):
            raise TypeError(f"config must be a StimulatorConfig, got {type(config).__name__}")
        self._config = config
        static = config.limit_violations()  # refusals that apply to every command
        self._static = _CODE[static[0]] if static else -1
        # the waveform of a one-command result (the live loop's usual case), shared read-only
        self._one = tuple(_read_only(np.full(1, x)) for x in (config.signed_amplitude, config.phase_width,
                                                               config.interphase))

    # ---- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every earlier command."""
        self._last = np.full(self.stim_map.max_electrode + 1, np.nan)  #: last delivery per electrode
        self._set_recent(np.zeros(0))
        self._t_last: float | None = None

    def _set_recent(self, recent: np.ndarray, room: int = 0) -> None:
        """Deliveries of the last second (sorted) are ``_buf[_lo:_hi]``; the buffer has room to
        append at least ``room`` more in place."""
        self._buf = np.empty(max(2 * (recent.size + room), 256))
        self._buf[:recent.size] = recent
        self._lo, self._hi = 0, int(recent.size)

    def _room(self, n: int) -> None:
        """Make room for ``n`` more deliveries at the end of the buffer."""
        if self._buf.size - self._hi < n:
            self._set_recent(self._buf[self._lo:self._hi].copy(), n)

    def get_state(self) -> StimulatorState:
        """A snapshot of the state; :meth:`set_state` with it restores this moment exactly."""
        done = np.flatnonzero(~np.isnan(self._last))
        return StimulatorState(tuple(zip(done.tolist(), self._last[done].tolist(), strict=True)),
                               tuple(self._buf[self._lo:self._hi].tolist()), self._t_last)

    def set_state(self, state: StimulatorState) -> None:
        """Restore a snapshot from :meth:`get_state` (e.g. to roll back a chunk)."""
        if not isinstance(state, StimulatorState):
            raise TypeError(f"state must be a StimulatorState, got {type(state).__name__}")
        n = max([self.stim_map.max_electrode] + [int(e) for e, _ in state.last_time]) + 1
        self._last = np.full(n, np.nan)
        for e, t in state.last_time:
            self._last[int(e)] = float(t)
        self._set_recent(np.sort(np.asarray(state.recent, np.float64)))
        self._t_last = state.t_last

    # ---- processing ----------------------------------------------------------------------
    def stim_times(self, fires: FireEvents) -> np.ndarray:
        """Stimulation time of each FIRE: ``time_origin + cycle / gclk_hz + delay``, s."""
        return self.config.time_origin + fires.cycles / fires.gclk_hz + self.config.delay

    def process(self, fires: FireEvents) -> StimResult:
        """Turn FIREs into commands, refusing (and recording) those that break a limit.

        FIREs are handled in time order (by cycle, then cluster, then dend); the result's
        arrays follow that order.

        Parameters
        ----------
        fires : FireEvents
            Must not start before the last FIRE of the previous call.

        Returns
        -------
        StimResult

        Raises
        ------
        TypeError
            ``fires`` is not FireEvents.
        ValueError
            FIREs earlier than ones already processed (restore the state first when rolling
            back).
        """
        if not isinstance(fires, FireEvents):
            raise TypeError(f"fires must be FireEvents, got {type(fires).__name__}")
        cfg = self.config
        cyc, clu, dend = fires.cycles, fires.cluster, fires.dend
        n = cyc.size
        if n > 1 and not _in_order(cyc, clu, dend):  # backends give them sorted; others may not
            order = np.lexsort((dend, clu, cyc))
            cyc, clu, dend = cyc[order], clu[order], dend[order]
        if n and self._t_last is not None:
            first = cfg.time_origin + int(cyc[0]) / fires.gclk_hz + cfg.delay
            if first < self._t_last - TIME_TOL:
                raise ValueError(f"FIRE at {first:.9g} s comes before the last one processed "
                                 f"({self._t_last:.9g} s); to redo a chunk, restore the state saved "
                                 "before it with set_state()")
        self._room(n)
        times, electrode, code, n_ok, self._lo, self._hi = _decide(
            cyc, clu, dend, float(fires.gclk_hz), cfg.time_origin, cfg.delay, self.stim_map.table, self._static,
            self._last, self._buf, self._lo, self._hi, cfg.min_interval - TIME_TOL, int(cfg.rate_cap),
            RATE_WINDOW - TIME_TOL, RATE_WINDOW - TIME_TOL)
        if n:
            self._t_last = float(times[-1])
        return self._result(times, clu, dend, electrode, code, cyc, n_ok)

    def refuse(self, fires: FireEvents, reason: str) -> StimResult:
        """Refuse every FIRE of ``fires`` for ``reason`` (counted, never silent; the state is kept).

        The live loop uses it while it lags the clock (``behind``).

        Raises
        ------
        ValueError
            ``reason`` is not one of :data:`REFUSAL_REASONS`.

        Examples
        --------
        >>> stim = Stimulator(StimulatorConfig(), ElectrodeMap.default(16))
        >>> res = stim.refuse(FireEvents([10, 12], [0, 0], [3, 4], 1e3), "behind")
        >>> res.accepted, res.counts["behind"], res.refused.reason.tolist()
        (0, 2, ['behind', 'behind'])
        """
        if not isinstance(fires, FireEvents):
            raise TypeError(f"fires must be FireEvents, got {type(fires).__name__}")
        _v.choice("reason", reason, REFUSAL_REASONS)
        times = self.stim_times(fires)
        electrode = self.stim_map.electrode_of(fires.cluster, fires.dend)
        code = np.full(len(fires), _CODE[reason], np.int8)
        return self._result(times, fires.cluster, fires.dend, electrode, code, fires.cycles, 0)

    def _result(self, times, clu, dend, electrode, code, cyc, n_ok: int) -> StimResult:
        """The result of FIREs given their codes (-1: accepted; ``n_ok`` of them)."""
        cfg = self.config
        if n_ok == code.size:  # the usual case: nothing refused
            cmd_t, cmd_e, cmd_c, acc_clu, acc_dend = times, electrode, cyc, clu, dend
            refused, counts = _NO_REFUSAL, dict(_ZERO_COUNTS)
        else:
            ok = code < 0
            cmd_t, cmd_e, cmd_c, acc_clu, acc_dend = times[ok], electrode[ok], cyc[ok], clu[ok], dend[ok]
            bad = ~ok
            rcode = code[bad]
            refused = Refusals(times[bad], clu[bad], dend[bad], electrode[bad], rcode, cyc[bad])
            counts = dict(zip(REFUSAL_REASONS, np.bincount(rcode, minlength=len(REFUSAL_REASONS)).tolist(),
                              strict=True))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("stimulator refused %d of %d commands: %s", rcode.size, code.size,
                          {k: v for k, v in counts.items() if v})
        if n_ok == 1:
            amp, pw, ip = self._one
        else:
            amp, pw, ip = (np.full(n_ok, cfg.signed_amplitude), np.full(n_ok, cfg.phase_width),
                           np.full(n_ok, cfg.interphase))
        commands = _trusted(StimCommands, times=cmd_t, electrode=cmd_e, amplitude=amp, phase_width=pw,
                            interphase=ip, source_cycle=cmd_c)
        return StimResult(commands, acc_clu, acc_dend, refused, counts, int(code.size))


_ZERO_COUNTS = dict.fromkeys(REFUSAL_REASONS, 0)
_NO_REFUSAL = Refusals()


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


_UNMAPPED, _MIN_INTERVAL, _RATE_CAP = _CODE["unmapped"], _CODE["min_interval"], _CODE["rate_cap"]


@numba.njit(cache=True)
def _in_order(cyc, clu, dend):
    """Whether the FIREs are sorted by (cycle, cluster, dend)."""
    for i in range(1, cyc.size):
        if (cyc[i], clu[i], dend[i]) < (cyc[i - 1], clu[i - 1], dend[i - 1]):
            return False
    return True


@numba.njit(cache=True)
def _decide(cyc, clu, dend, gclk_hz, origin, delay, table, static, last, buf, lo, hi, min_iv, cap, window,
            keep):
    """The stimulator's rules, FIRE by FIRE in order (the one place they are applied).

    Each FIRE's stimulation time is ``origin + cycle / gclk_hz + delay`` and its electrode
    ``table[cluster, dend]`` (-1 outside the table). It is refused (``code`` >= 0) when it
    has no electrode (unmapped), when every command breaks a waveform limit (``static`` >= 0),
    when its electrode had a delivery less than ``min_iv`` before (min_interval), or when
    ``cap`` deliveries already lie in the sliding window ``(t - window, t]`` (rate_cap); else
    it is delivered: ``last[electrode]`` and the deliveries ``buf[lo:hi]`` (sorted, with room
    at the end) take it. Deliveries more than ``keep`` before the last FIRE are then dropped.

    Returns ``(times, electrode, code, accepted, lo, hi)`` (``code`` -1 where accepted).
    """
    n = cyc.size
    times = np.empty(n)
    electrode = np.empty(n, np.int64)
    code = np.full(n, -1, np.int8)
    accepted = 0
    timed = False
    start = lo
    for i in range(n):
        t = origin + cyc[i] / gclk_hz + delay
        times[i] = t
        c = clu[i]
        d = dend[i]
        e = -1
        if 0 <= c < table.shape[0] and 0 <= d < table.shape[1]:
            e = table[c, d]
        electrode[i] = e
        if e < 0:
            code[i] = _UNMAPPED
            continue
        if static >= 0:
            code[i] = static
            continue
        timed = True
        prev = last[e]
        if not np.isnan(prev) and t - prev < min_iv:
            code[i] = _MIN_INTERVAL
            continue
        # deliveries at or before t - 1 s fall out of the window (t - 1 s, t]
        while start < hi and buf[start] <= t - window:
            start += 1
        if hi - start >= cap:
            code[i] = _RATE_CAP
            continue
        last[e] = t
        buf[hi] = t
        hi += 1
        accepted += 1
    if timed:  # later FIREs come at or after times[-1]: deliveries older than the window can go
        cutoff = times[n - 1] - keep
        while lo < hi and buf[lo] <= cutoff:
            lo += 1
    return times, electrode, code, accepted, lo, hi
