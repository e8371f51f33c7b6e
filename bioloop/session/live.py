"""The live loop: spikes arrive from a live source, the chip answers, stimulation goes out.

The chip is clocked against the source's clock (LSL's ``local_clock`` for LSL sources): cycle 0
is the GCLK edge at the session's start ``t0``. Each chunk of spikes is processed as soon as it
arrives: the chip runs up to the cycle of the newest spike, its FIREs go through the same
stimulator and safety limits as in replay, and accepted commands are handed to the sink at once.
While no spike arrives, the chip is advanced to ``hold`` seconds behind the clock (leak and
refractory counters keep time). A spike stamped in a cycle the chip has already run is applied
at the next edge the chip has not run, as the board would sample a pulse that reaches it late,
and counted as ``delayed``; one more than ``budget`` behind is dropped as ``late``.

For every stimulation, the latency from the triggering input spike's timestamp to the moment
the command was handed to the sink is kept. If the loop lags the clock by more than
``budget`` seconds (the newest spike's age when its FIREs are ready), FIREs are refused with
reason ``behind`` (:meth:`Stimulator.refuse`) and a note is logged; stimulation resumes when
the loop has caught up.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from ..encoder import SpikeFate
from ..interrupts import interrupt_as_flag
from ..sinks import FireMonitor, Sink
from ..sources import LiveSource, Source
from ..types import AxonFrames, SpikeEvents
from .log import SessionLog, routing_of

_PULSE = int(SpikeFate.PULSE)
_ONE = np.zeros(1, np.int64)  #: the chunk positions of a one-spike chunk (read only)
_ONE.flags.writeable = False


@dataclass(frozen=True)
class LiveTiming:
    """Timing of the live loop (seconds)."""

    duration: float | None = None  #: None runs until stopped
    hold: float = 2e-3  #: idle chip time kept behind the clock for jittered arrivals
    budget: float = 5e-3  #: lag above which stimulation is suspended
    poll: float = 5e-3  #: longest wait for the source (a pull returns as soon as a spike is there)


class LiveLoop:
    """The closed loop of one live session: its state, and the path every chunk takes.

    Parameters
    ----------
    parts : SessionParts
        The session, assembled at its start (:func:`bioloop.session.build.assemble`): the
        encoder's ``t_start`` is ``t0``, its ``t_stop`` the end (None: open-ended).
    log : SessionLog
    clock : callable
        The source's clock (``LiveSource.clock``).
    sink : Sink, optional
        Where accepted commands go.
    monitor : FireMonitor, optional
        Receives the chip's FIREs (monitoring stream), after the stimulation went out.
    timing : LiveTiming
    """

    def __init__(self, parts, log: SessionLog, *, clock: Callable[[], float], sink: Sink | None = None,
                 monitor: FireMonitor | None = None, timing: LiveTiming = LiveTiming()):
        enc = parts.encoder
        self.stream = enc.stream()
        self.t0, self.t_end = self.stream.t0, self.stream.t1
        self.g = enc.config.gclk_hz
        self.emap = enc.electrode_map
        self.backend, self.stimulator = parts.backend, parts.stimulator
        self.signed = parts.program.signed_weights
        self.log, self.clock, self.sink, self.monitor, self.timing = log, clock, sink, monitor, timing
        self.cycle = 0  #: first chip cycle not yet run
        self.behind = False
        self._gaps_noted: dict[int, bool] = {}
        self._no_frames = AxonFrames([], [], [], self.g)  #: what idle() runs the chip on

    # ---- the loop -------------------------------------------------------------------------
    def run(self, source: Source, should_stop: Callable[[], bool] = lambda: False) -> SessionLog:
        """Until the duration has passed, the source ends, ``should_stop()`` or Ctrl-C (or
        SIGTERM); the log is always finished. Ctrl-C ends the loop after the chunk it is in: a
        chunk read is always logged whole, its commands with it."""
        wall0 = time.perf_counter()
        live, poll = isinstance(source, LiveSource), float(self.timing.poll)
        stopped = False
        try:
            with interrupt_as_flag(signal.SIGINT, signal.SIGTERM) as interrupted:
                while not interrupted.is_set() and not should_stop() and self.clock() < self.t_end:
                    chunk = source.read_chunk(timeout=poll)
                    if chunk is None:
                        self.log.note(self.clock() - self.t0, "source_closed", "the source ended")
                        break
                    if live:
                        self._note_gaps(source.gaps)
                    if len(chunk):
                        self.process(chunk)
                    else:
                        self.idle()
                stopped = interrupted.is_set()
        except KeyboardInterrupt:  # a Ctrl-C just before the flag was in place
            stopped = True
        finally:
            if stopped:
                self.log.note(self.clock() - self.t0, "interrupted", "stopped by Ctrl-C")
            end = min(self.clock(), self.t_end)
            self.log.finish(t_start=self.t0, t_stop=max(end, self.t0), wall_s=time.perf_counter() - wall0)
        return self.log

    def idle(self) -> None:
        """Keep chip time running, ``hold`` behind the clock; journal what is due."""
        self.log.tick()
        target = int(math.floor((min(self.clock(), self.t_end) - self.timing.hold - self.t0) * self.g))
        if target > self.cycle:
            step = self.backend.evolve(self._no_frames, until=target)
            self.cycle = step.t_end
            if len(step.fires) or step.packets or step.routed or step.dropped_congestion:
                self._without_input(step)

    def _without_input(self, step) -> None:
        """Chip time run while no spike arrived, in which packets between clusters landed: their
        FIREs are stimulated (or refused) like any other and logged with the NoC counts; no input
        spike of the chunk triggered them, so their latency is not a number (NaN)."""
        fires = step.fires
        ready = self.clock()
        stim = self._stimulate(fires, ready, ready - (self.t0 + step.t_end / self.g))
        latency = None
        if len(stim.commands):
            if self.sink is not None:
                self.sink.write(stim.commands)
            latency = np.full(len(stim.commands), np.nan)
            self.stream.blank(stim.commands)
        if self.monitor is not None and len(fires):
            self.monitor.write_fires(fires, time_offset=self.t0)
        self.log.add_chunk(fires=fires, stim=stim, ignored_refractory=step.ignored_refractory,
                           backend_merged=step.merged, routing=routing_of(step), latency=latency,
                           latency_cycle=None if latency is None else stim.commands.source_cycle)

    # ---- one chunk --------------------------------------------------------------------------
    def process(self, chunk: SpikeEvents) -> None:
        """Sample, encode, run the chip, stimulate (or refuse while behind), log."""
        index, times, chans, cycles, delayed = self._sample(chunk)
        fates, frames = self.stream.encode(times, chans, cycles)
        until = max(self.cycle, int(frames.cycles[-1]) + 1 if len(frames) else 0)
        step = self.backend.evolve(frames, until=until)
        self.cycle = step.t_end
        fires = step.fires
        ready = self.clock()
        newest = chunk.times[-1] if index.size in (0, len(chunk)) else chunk.times[index].max()
        stim = self._stimulate(fires, ready, ready - float(newest))
        latency = None
        if len(stim.commands):
            if self.sink is not None:
                self.sink.write(stim.commands)
            latency = self.clock() - self._trigger_times(times, chans, cycles, fates, stim)
            self.stream.blank(stim.commands)
        if self.monitor is not None and len(fires):
            self.monitor.write_fires(fires, time_offset=self.t0)
        if index.size == len(chunk) and not delayed:
            all_fates = fates
        else:
            all_fates = np.full(len(chunk), int(SpikeFate.LATE), np.int8)
            all_fates[index] = fates
        self.log.add_chunk(spikes=chunk, fates=all_fates, frames=frames, fires=fires, stim=stim,
                           ignored_refractory=step.ignored_refractory, backend_merged=step.merged,
                           latency=latency, latency_cycle=None if latency is None else stim.commands.source_cycle,
                           delayed=delayed, routing=routing_of(step))

    def _sample(self, chunk: SpikeEvents):
        """The cycle each spike is applied at: its own, or the next one the chip has not run
        (``delayed``); more than ``budget`` behind it is ``late`` and left out. Returns the
        chunk positions of the spikes kept, their (sampled) times, electrodes and cycles in
        time order, and the number delayed."""
        times, chans = chunk.times, chunk.channels
        cycles = self.stream.cycles_of(times)
        if times.size == 1:  # the usual chunk: one spike, on time (or before the session: outside)
            if cycles[0] >= self.cycle or times[0] < self.t0:
                return _ONE, times, chans, cycles, 0
        behind = (cycles < self.cycle) & (times >= self.t0)
        if not behind.any():
            return np.arange(times.size), times, chans, cycles, 0
        late = behind & ((self.cycle - cycles) / self.g > self.timing.budget)
        delayed = behind & ~late
        t = times.copy()
        t[delayed] = self.t0 + self.cycle / self.g
        cycles = cycles.copy()
        cycles[delayed] = self.cycle
        index = np.flatnonzero(~late)
        index = index[np.argsort(t[index], kind="stable")]
        return index, t[index], chans[index], cycles[index], int(delayed.sum())

    def _stimulate(self, fires, ready: float, lag: float):
        """The stimulator's answer, or every FIRE refused as ``behind`` while the loop lags."""
        if len(fires) and lag > self.timing.budget:
            if not self.behind:
                self.log.note(ready - self.t0, "stall", f"loop {lag * 1e3:.2f} ms behind (budget "
                              f"{self.timing.budget * 1e3:g} ms): stimulation suspended")
                self.behind = True
            return self.stimulator.refuse(fires, "behind")
        if self.behind and lag <= self.timing.budget:
            self.log.note(ready - self.t0, "resume", f"caught up ({lag * 1e3:.2f} ms behind): stimulation resumed")
            self.behind = False
        return self.stimulator.process(fires)

    def _trigger_times(self, times, chans, cycles, fates, stim) -> np.ndarray:
        """Timestamp of the input that triggered each command's FIRE: the latest pulse of the
        FIRE's cycle and cluster on an axon with a non-zero synapse onto its neuron (any axon
        of the cluster if none has one)."""
        cmd = stim.commands
        if times.size == 1 and len(cmd) == 1 and fates[0] == _PULSE and cycles[0] == cmd.source_cycle[0]:
            return times  # the usual case: one spike, one stimulation
        return _triggers(times, chans, cycles, fates, self.emap.cluster, self.emap.axon, self.signed,
                         cmd.source_cycle, stim.accepted_cluster, stim.accepted_dend)

    def _note_gaps(self, gaps) -> None:
        """Mark each gap of the input stream when it opens, and again when the stream is back."""
        for i, gap in enumerate(gaps):
            start = float(getattr(gap, "start", 0.0))
            stop = getattr(gap, "stop", None)
            if i not in self._gaps_noted:
                self.log.note(start - self.t0, "gap", f"input stream lost at {start - self.t0:.3f} s (session time)")
                self._gaps_noted[i] = False
            if stop is not None and not self._gaps_noted[i]:
                self.log.note(float(stop) - self.t0, "reconnected",
                              f"input stream back after {float(stop) - start:.3f} s")
                self._gaps_noted[i] = True


def warm_up_loop() -> float:
    """Load (or compile) the loop's own kernel before a session starts, so that the first chunk
    of several spikes does not stall the loop; returns the seconds it took."""
    t = time.perf_counter()
    i, f = np.zeros(2, np.int64), np.zeros(2)
    _triggers(f, i, i, np.zeros(2, np.int8), i, i, np.zeros((1, 16, 16), np.int64), i, i, i)
    return time.perf_counter() - t


@numba.njit(cache=True)
def _triggers(times, chans, cycles, fates, cluster, axon, signed, cmd_cycle, cmd_cluster, cmd_dend):
    """For each command (FIRE of ``cmd_cluster``, ``cmd_dend`` in ``cmd_cycle``): the latest
    pulse of that cycle and cluster on an axon with a non-zero synapse onto the dend, else the
    latest of that cycle and cluster, else NaN."""
    out = np.full(cmd_cycle.size, np.nan)
    for i in range(cmd_cycle.size):
        k, c, n = cmd_cycle[i], cmd_cluster[i], cmd_dend[i]
        best_drive = -np.inf
        best_any = -np.inf
        for j in range(times.size):
            if fates[j] != _PULSE or cycles[j] != k:
                continue
            e = chans[j]
            if cluster[e] != c:
                continue
            if times[j] > best_any:
                best_any = times[j]
            if signed[c, axon[e], n] != 0 and times[j] > best_drive:
                best_drive = times[j]
        if best_drive > -np.inf:
            out[i] = best_drive
        elif best_any > -np.inf:
            out[i] = best_any
    return out
