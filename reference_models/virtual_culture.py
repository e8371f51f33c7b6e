"""A virtual culture: a seeded spiking network with network bursts, on a stimulating MEA.

About a thousand Izhikevich neurons (80 % excitatory) lie on and around an MCS 8 x 8 array
(200 um pitch, no corners). Synapses connect them with a distance-dependent probability and an
axonal delay; excitatory synapses depress (Tsodyks-Markram) and neurons carry a slow adaptation
current, which together end each network burst and set the interval to the next. Spontaneous
minis drive the activity. Each electrode records the neurons within ``rec_radius`` of it,
with a detection probability, a dead time and false detections.

A stimulation pulse (biphasic, charge-balanced) directly activates the neurons whose threshold
charge, growing with the squared distance from the electrode to their soma or axon, is below the
pulse's first-phase charge: they fire after ``direct_latency`` plus axonal conduction (a few ms,
low jitter), and the network answers through its synapses over the next ~10-100 ms, less so
while its synapses are still depleted from a previous burst or pulse.

Limits: intervals between bursts are more regular here (CV 0.1-0.5) than in TC89 (CV 1.6,
with superbursts); there is no stimulation artefact (blanking is the encoder's job) and no
plasticity; electrode noise is false detections only.

Why numba and not Brian2: the closed loop advances the culture by 1-5 ms at a time. One
Brian2 2.9 ``Network.run(1 * ms)`` of an 800-neuron network costs 78-95 ms of wall time with the
numpy target and ~190 ms with Cython on this project's machines, i.e. 80-190x slower than real
time from per-run overhead alone. This fixed-step (0.1 ms) numba kernel runs a second of the
1000-neuron culture in ~14 ms in one call and ~27 ms in 1 ms chunks, with identical results.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from bioloop import validate as _v
from bioloop.sinks import Sink
from bioloop.sources import LiveSource
from bioloop.types import SpikeEvents, StimCommands

from . import _culture_kernel as _k
from ._culture_network import CultureNetwork, CultureParams, build_network, mcs_layout

__all__ = ["CultureCounters", "CultureParams", "VirtualCulture", "VirtualCultureSink",
           "VirtualCultureSource", "mcs_layout", "warm_up"]


@dataclass(frozen=True)
class CultureCounters:
    """What the culture did and did not do, so far. The counts add up:

    - ``stim_received == stim_late + stim_applied + stim_pending``;
    - ``direct_scheduled == direct_activations + direct_blocked + direct_coincident +
      direct_pending``;
    - ``recorded_neuron_spikes == detected_spikes + missed_detection + merged_dead_time``;
    - ``noise_events == noise_detected + noise_merged + noise_pending``, and the spikes handed out
      are ``detected_spikes + noise_detected``.
    """

    stim_received: int  #: pulses passed to :meth:`VirtualCulture.stimulate`
    stim_late: int  #: dropped: their time was before the culture's time
    stim_applied: int  #: delivered (their time has been simulated)
    stim_pending: int  #: accepted, still in the future
    direct_scheduled: int  #: neuron activations the accepted pulses caused
    direct_activations: int  #: of those, forced spikes
    direct_blocked: int  #: not fired: the neuron had fired within ``direct_refractory``
    direct_coincident: int  #: not forced: the neuron fired on its own in that very step
    direct_pending: int
    neuron_spikes: int  #: all spikes of all neurons
    recorded_neuron_spikes: int  #: (neuron spike, electrode) pairs within recording radius
    detected_spikes: int
    missed_detection: int  #: lost to ``p_detect``
    merged_dead_time: int  #: fell in the detector's dead time after a detection
    noise_events: int  #: false detections drawn
    noise_detected: int
    noise_merged: int
    noise_pending: int
    minis: int  #: spontaneous minis delivered

    def to_dict(self) -> dict:
        return asdict(self)


class VirtualCulture:
    """A seeded virtual culture on a 60-electrode MEA, advanced in any chunks, stimulated at will.

    Parameters
    ----------
    n_electrodes : int
        60 (MCS 8 x 8 without corners) or 59 (also without reference electrode "15").
    seed : int
        Seeds everything: anatomy, spontaneous events, detection. Same seed, same output.
    **params
        Any field of :class:`CultureParams` (e.g. ``n_neurons=500``, ``mini_rate=15.0``).

    Raises
    ------
    TypeError
        For an unknown parameter name or a value of the wrong type.
    ValueError
        For a value out of its range.

    Examples
    --------
    >>> culture = VirtualCulture(seed=1, n_neurons=200)
    >>> culture.labels[:4]
    ('12', '13', '14', '15')
    >>> spikes = culture.advance(0.05)
    >>> culture.time, spikes.t_start, spikes.t_stop
    (0.05, 0.0, 0.05)
    >>> pulse = StimCommands([0.06], [20], [-30e-6], [200e-6], [50e-6])
    >>> culture.stimulate(pulse)
    >>> _ = culture.advance(0.1)
    >>> culture.counters.stim_applied
    1
    """

    def __init__(self, n_electrodes: int = 60, seed: int = 0, **params):
        self.seed = _v.integer("seed", seed, lo=0)
        unknown = sorted(set(params) - set(CultureParams.names()))
        if unknown:
            raise TypeError(f"unknown culture parameter(s) {unknown}; valid: "
                            f"{', '.join(CultureParams.names())}")
        self.params = CultureParams(**params)
        self._labels, self._positions = mcs_layout(n_electrodes)
        root = np.random.SeedSequence(self.seed)
        anatomy_seq, noise_seq, hash_seq = root.spawn(3)
        self.network: CultureNetwork = build_network(
            self.params, self._positions, np.random.default_rng(anatomy_seq))
        self._noise_rng = np.random.default_rng(noise_seq)
        self._hash_seed = int(hash_seq.generate_state(1, np.uint32)[0])
        self._init_state()

    # ---------------------------------------------------------------- state
    def _init_state(self):
        p, net = self.params, self.network
        N = p.n_neurons
        self._dt = p.dt
        self._dt_ms = p.dt * 1e3
        self._v = np.full(N, -65.0)
        self._u = net.b * self._v
        self._w_ad = np.zeros(N)
        self._ie = np.zeros(N)
        self._islow = np.zeros(N)
        self._ii = np.zeros(N)
        self._x = np.ones(N)
        self._last_spike = np.full(N, -(10**12), np.int64)
        self._ring_e = np.zeros((net.ring_depth, N))
        self._ring_i = np.zeros((net.ring_depth, N))
        self._last_det = np.full(len(self._labels), -(10**12), np.int64)
        self._decay_e = math.exp(-p.dt / p.tau_e)
        self._decay_slow = math.exp(-p.dt / p.tau_slow)
        self._decay_i = math.exp(-p.dt / p.tau_i)
        self._decay_ad = math.exp(-p.dt / p.adapt_tau)
        self._ref_steps = int(round(p.direct_refractory / p.dt))
        self._dead_steps = max(1, int(round(p.dead_time / p.dt)))
        self._block_steps = max(1, int(round(p.noise_block / p.dt)))
        self._counters = np.zeros(_k.N_COUNTERS, np.int64)
        self._k_done = 0  # last completed step
        self._time = 0.0
        # spontaneous events of the current block (drawn block by block, in order)
        self._block = -1
        self._m_step = self._m_neuron = self._n_step = self._n_el = np.zeros(0, np.int64)
        self._m_pos = self._n_pos = 0
        self._noise_drawn = 0
        # pending direct activations, sorted by step
        self._f_step = np.zeros(0, np.int64)
        self._f_neuron = np.zeros(0, np.int64)
        self._stim_steps = np.zeros(0, np.int64)  # steps of accepted pulses not yet applied
        self._stim = {"received": 0, "late": 0, "applied": 0, "scheduled": 0}
        self._out_cap = 4096
        self._out_step = np.zeros(self._out_cap, np.int64)
        self._out_el = np.zeros(self._out_cap, np.int64)

    # ---------------------------------------------------------------- properties
    @property
    def labels(self) -> tuple[str, ...]:
        """Electrode labels (MCS "12" .. "87"); channel ``i`` of every chunk is ``labels[i]``."""
        return self._labels

    @property
    def positions(self) -> np.ndarray:
        """Electrode positions (m), shape (n_electrodes, 2), x = column, y = row."""
        return self._positions.copy()

    @property
    def time(self) -> float:
        """Seconds simulated so far (the ``until`` of the last :meth:`advance`)."""
        return self._time

    @property
    def dt(self) -> float:
        return self._dt

    @property
    def counters(self) -> CultureCounters:
        """What was applied, dropped, detected, merged so far."""
        c = self._counters
        direct_done = int(c[_k.C_DIRECT] + c[_k.C_DIRECT_BLOCKED] + c[_k.C_DIRECT_COINCIDENT])
        rec = int(c[_k.C_DETECTED] + c[_k.C_MISSED] + c[_k.C_MERGED])
        noise_done = int(c[_k.C_NOISE_DETECTED] + c[_k.C_NOISE_MERGED])
        return CultureCounters(
            stim_received=self._stim["received"], stim_late=self._stim["late"],
            stim_applied=self._stim["applied"], stim_pending=int(self._stim_steps.size),
            direct_scheduled=self._stim["scheduled"], direct_activations=int(c[_k.C_DIRECT]),
            direct_blocked=int(c[_k.C_DIRECT_BLOCKED]),
            direct_coincident=int(c[_k.C_DIRECT_COINCIDENT]),
            direct_pending=self._stim["scheduled"] - direct_done,
            neuron_spikes=int(c[_k.C_NEURON_SPIKES]), recorded_neuron_spikes=rec,
            detected_spikes=int(c[_k.C_DETECTED]), missed_detection=int(c[_k.C_MISSED]),
            merged_dead_time=int(c[_k.C_MERGED]), noise_events=self._noise_drawn,
            noise_detected=int(c[_k.C_NOISE_DETECTED]), noise_merged=int(c[_k.C_NOISE_MERGED]),
            noise_pending=self._noise_drawn - noise_done, minis=int(c[_k.C_MINIS]))

    # ---------------------------------------------------------------- time grid
    def _steps_through(self, t: float) -> int:
        """The last step ``k`` whose time ``k * dt`` (as a float) is not after ``t``."""
        dt = self._dt
        k = math.floor(t / dt)
        while (k + 1) * dt <= t:
            k += 1
        while k * dt > t:
            k -= 1
        return int(k)

    def _first_step_at(self, t: np.ndarray) -> np.ndarray:
        """The first steps ``k`` whose time ``k * dt`` (as a float) is not before ``t``."""
        dt = self._dt
        k = np.ceil(t / dt)
        k = np.where((k - 1) * dt >= t, k - 1, k)
        k = np.where(k * dt < t, k + 1, k)
        return k.astype(np.int64)

    # ---------------------------------------------------------------- spontaneous events
    def _draw_block(self, block: int):
        """Minis and electrode noise of steps ``block*B + 1 .. (block+1)*B`` (drawn in order)."""
        p, B, rng = self.params, self._block_steps, self._noise_rng
        k0 = block * B + 1
        n_m = rng.poisson(p.mini_rate * p.n_neurons * B * self._dt)
        m_step = k0 + rng.integers(0, B, n_m)
        m_neuron = rng.integers(0, p.n_neurons, n_m)
        o = np.argsort(m_step, kind="stable")
        n_n = rng.poisson(p.noise_rate * len(self._labels) * B * self._dt)
        n_step = k0 + rng.integers(0, B, n_n)
        n_el = rng.integers(0, len(self._labels), n_n)
        on = np.argsort(n_step, kind="stable")
        self._block = block
        self._m_step, self._m_neuron = m_step[o].astype(np.int64), m_neuron[o].astype(np.int64)
        self._n_step, self._n_el = n_step[on].astype(np.int64), n_el[on].astype(np.int64)
        self._m_pos = self._n_pos = 0
        self._noise_drawn += int(n_n)

    # ---------------------------------------------------------------- public API
    def advance(self, until: float) -> SpikeEvents:
        """Simulate up to ``until`` (s) and return the spikes detected in ``(time, until]``.

        Spike times lie on the step grid (``k dt``). The result never depends on how the
        simulated time is cut into calls.

        Parameters
        ----------
        until : float
            New culture time, s; not before :attr:`time`.

        Returns
        -------
        SpikeEvents
            ``t_start`` = the previous :attr:`time`, ``t_stop`` = ``until``.

        Raises
        ------
        TypeError
            If ``until`` is not a real number.
        ValueError
            If ``until`` is before :attr:`time`.
        """
        until = _v.real("until", until)
        if until < self._time:
            raise ValueError(f"until = {until:g} s is before the culture's time "
                             f"{self._time:g} s; time only moves forward")
        t_start = self._time
        k_target = self._steps_through(until)
        steps, els = [], []
        net = self.network
        while self._k_done < k_target:
            k_first = self._k_done + 1
            block = (k_first - 1) // self._block_steps
            if block != self._block:
                self._draw_block(block)
            k_last = min(k_target, (block + 1) * self._block_steps)
            f0 = int(np.searchsorted(self._f_step, k_first))
            k_done, n_out, f_pos, self._m_pos, self._n_pos = _k.run_steps(
                k_first, k_last,
                self._v, self._u, self._w_ad, self._ie, self._islow, self._ii, self._x,
                self._last_spike,
                net.a, net.b, net.c, net.d, net.ibias, net.is_exc, net.use,
                net.rec_decay_per_step,
                net.syn_ptr, net.syn_post, net.syn_w, net.syn_delay, self._ring_e, self._ring_i,
                net.rec_ptr, net.rec_el, self._last_det,
                self._f_step, self._f_neuron, f0,
                self._m_step, self._m_neuron, self._m_pos, self.params.mini_amp,
                self._n_step, self._n_el, self._n_pos,
                self._dt_ms, self._decay_e, self._decay_slow, self.params.slow_ratio,
                self._decay_i, self._decay_ad,
                self.params.adapt_jump, self._ref_steps, self._dead_steps,
                self.params.p_detect, self._hash_seed,
                self._out_step, self._out_el, self._counters)
            self._k_done = k_done
            # forget used direct activations
            self._f_step, self._f_neuron = self._f_step[f_pos:], self._f_neuron[f_pos:]
            if n_out:
                steps.append(self._out_step[:n_out].copy())
                els.append(self._out_el[:n_out].copy())
            if k_done < k_last and n_out == 0:  # pragma: no cover - the buffer holds a step
                raise RuntimeError("virtual culture kernel made no progress")
        # pulses whose time has now been simulated
        n_applied = int(np.searchsorted(self._stim_steps, self._k_done, side="right"))
        self._stim["applied"] += n_applied
        self._stim_steps = self._stim_steps[n_applied:]
        self._time = until
        if steps:
            st = np.concatenate(steps)
            times = st * self._dt  # k dt is in (t_start, until] by the choice of k_target
            chans = np.concatenate(els)
        else:
            times, chans = np.zeros(0), np.zeros(0, np.int64)
        return SpikeEvents(times, chans, self._labels, t_start, until)

    def stimulate(self, commands: StimCommands) -> None:
        """Schedule stimulation pulses; those before :attr:`time` are dropped and counted late.

        A pulse on electrode ``e`` with first-phase charge ``|amplitude| * phase_width``
        activates every neuron whose threshold for that electrode is at most that charge; each
        fires once, ``direct_latency`` plus axonal conduction after the pulse (on the step grid),
        unless it fired within ``direct_refractory``. Nothing is refused for safety here.

        Parameters
        ----------
        commands : StimCommands
            Pulses in any order; ``electrode`` indexes :attr:`labels`.

        Raises
        ------
        TypeError
            If ``commands`` is not a StimCommands.
        ValueError
            If an electrode index has no electrode.
        """
        if not isinstance(commands, StimCommands):
            raise TypeError(f"commands must be StimCommands, got {type(commands).__name__}")
        n = len(commands)
        if n == 0:
            return
        if commands.electrode.max() >= len(self._labels):
            raise ValueError(f"stimulation electrode index {int(commands.electrode.max())} has "
                             f"no electrode; valid: 0..{len(self._labels) - 1}")
        self._stim["received"] += n
        late = commands.times < self._time
        self._stim["late"] += int(late.sum())
        net = self.network
        new_steps, new_f_step, new_f_neuron = [], [], []
        for i in np.flatnonzero(~late):
            t = float(commands.times[i])
            k_pulse = self._steps_through(t) + 1  # first step after the pulse
            new_steps.append(k_pulse)
            e = int(commands.electrode[i])
            q = abs(float(commands.amplitude[i])) * float(commands.phase_width[i])
            m = int(np.searchsorted(net.stim_thr[e], q, side="right"))
            if m == 0:
                continue
            fire = self._first_step_at(t + net.stim_lat[e][:m])
            new_f_step.append(np.maximum(fire, k_pulse))
            new_f_neuron.append(net.stim_order[e][:m])
        if new_steps:
            self._stim_steps = np.sort(np.concatenate([self._stim_steps, new_steps]),
                                       kind="stable")
        if new_f_step:
            fs = np.concatenate([self._f_step, *new_f_step])
            fn = np.concatenate([self._f_neuron, *new_f_neuron])
            # order within a step does not change the outcome (see the kernel); sort for the scan
            o = np.lexsort((fn, fs))
            self._f_step, self._f_neuron = fs[o], fn[o]
            self._stim["scheduled"] += sum(a.size for a in new_f_step)

    def reset(self) -> None:
        """Back to time 0 with the same anatomy and the same spontaneous events."""
        root = np.random.SeedSequence(self.seed)
        self._noise_rng = np.random.default_rng(root.spawn(3)[1])
        self._init_state()

    def __repr__(self) -> str:
        return (f"VirtualCulture(seed={self.seed}, n_neurons={self.params.n_neurons}, "
                f"n_electrodes={len(self._labels)}, time={self._time:g} s)")


def warm_up() -> None:
    """Load (or compile, the first time) the compiled kernel, so a real-time loop does not stall.

    Examples
    --------
    >>> warm_up()
    """
    VirtualCulture(seed=0, n_neurons=10).advance(0.001)


class VirtualCultureSource(LiveSource):
    """A :class:`~bioloop.sources.LiveSource` reading a :class:`VirtualCulture` chunk by chunk,
    on the culture's own clock (deterministic for a seed).

    Each :meth:`read_chunk` advances the culture by ``chunk`` seconds until ``duration``.

    Parameters
    ----------
    culture : VirtualCulture, optional
        The culture to read (share it with a :class:`VirtualCultureSink` to close the loop);
        a new one from ``seed`` and ``params`` if omitted.
    duration : float
        Seconds to read in total; ``None`` for no end.
    chunk : float
        Seconds per chunk.
    seed, n_electrodes, **params
        For a new culture.

    Examples
    --------
    >>> src = VirtualCultureSource(duration=0.02, chunk=0.01, seed=3, n_neurons=100)
    >>> [c.t_stop for c in iter(src.read_chunk, None)]
    [0.01, 0.02]
    """

    name = "virtual"

    def __init__(self, culture: VirtualCulture | None = None, *, duration: float | None = 10.0,
                 chunk: float = 0.005, seed: int | None = None, n_electrodes: int | None = None,
                 **params):
        if culture is None:
            culture = VirtualCulture(n_electrodes=60 if n_electrodes is None else n_electrodes,
                                     seed=0 if seed is None else seed, **params)
        elif not isinstance(culture, VirtualCulture):
            raise TypeError(f"culture must be a VirtualCulture, got {type(culture).__name__}")
        else:
            given = sorted(params) + [k for k, v in (("seed", seed), ("n_electrodes",
                                                      n_electrodes)) if v is not None]
            if given:
                raise ValueError(f"parameters {given} given with an existing culture; pass "
                                 "them to VirtualCulture instead")
        self.culture = culture
        self.duration = None if duration is None else _v.real("duration", duration, lo=0.0)
        self.chunk = _v.real("chunk", chunk, lo=0.0, lo_open=True)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.culture.labels

    def clock(self) -> float:
        """The culture's time, s."""
        return self.culture.time

    def read_chunk(self, timeout: float = 0.0) -> SpikeEvents | None:
        """The spikes of the next ``chunk`` seconds (``timeout`` is unused: never waits)."""
        t = self.culture.time
        if self.duration is not None and t >= self.duration:
            return None
        until = t + self.chunk
        if self.duration is not None:
            until = min(until, self.duration)
        return self.culture.advance(until)


class VirtualCultureSink(Sink):
    """A :class:`~bioloop.sinks.Sink` delivering stimulation to a :class:`VirtualCulture`.

    Parameters
    ----------
    culture : VirtualCulture
    late : {"drop", "deliver_now"}
        What to do with a pulse stamped before the culture's present (a closed loop that
        advances the culture in chunks sees its FIREs only at the chunk's end): ``"drop"``
        leaves it to the culture, which counts it ``late``; ``"deliver_now"`` delivers it at
        the culture's present instead, as a rig delivers a command the moment it arrives, and
        counts it in :attr:`delivered_late`.

    Examples
    --------
    >>> culture = VirtualCulture(seed=3, n_neurons=100)
    >>> sink = VirtualCultureSink(culture)
    >>> sink.write(StimCommands([0.01], [5], [-20e-6], [200e-6], [0.0]))
    >>> culture.counters.stim_pending
    1
    """

    name = "virtual"

    def __init__(self, culture: VirtualCulture, *, late: str = "drop"):
        if not isinstance(culture, VirtualCulture):
            raise TypeError(f"culture must be a VirtualCulture, got {type(culture).__name__}")
        self.culture = culture
        self.late = _v.choice("late", late, ("drop", "deliver_now"))
        self.delivered_late = 0

    def write(self, commands: StimCommands) -> None:
        if self.late == "deliver_now" and len(commands):
            now = self.culture.time
            past = commands.times < now
            if np.any(past):
                self.delivered_late += int(past.sum())
                commands = StimCommands(np.maximum(commands.times, now), commands.electrode, commands.amplitude,
                                        commands.phase_width, commands.interphase,
                                        source_cycle=commands.source_cycle)
        self.culture.stimulate(commands)
