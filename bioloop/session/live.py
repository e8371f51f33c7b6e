"""The live loop: spikes arrive from a live source, the chip answers, stimulation goes out.

The chip is clocked against the source's clock (LSL's ``local_clock`` for LSL sources): cycle 0
is the GCLK edge at ``t0``, the session's start. Each spike is processed as soon as it arrives:
the chip runs up to the cycle of the newest spike, its FIREs go through the same stimulator and
safety limits as in replay, and accepted commands are handed to the sink at once. While no
spike arrives, the chip is advanced to ``hold`` seconds behind the clock (leak and refractory
counters keep time). A spike stamped in a cycle the chip has already run is applied at the next
edge the chip has not run, as the board would sample a pulse that reaches it late, and counted
as ``delayed``; one more than ``budget`` behind is dropped as ``late``.

For every stimulation, the latency from the triggering input spike's timestamp to the moment
the command was handed to the sink is kept. If the loop lags the clock by more than
``budget`` seconds (the newest spike's age when its FIREs are ready), FIREs are refused with
reason ``behind`` and a note is logged; stimulation resumes when the loop has caught up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..backends.base import Backend
from ..encoder import BlankingWindows, Encoder, SpikeFate
from ..sinks import Sink
from ..sources import Source
from ..stimulator import Refusals, StimResult, Stimulator
from ..types import AxonFrames, SpikeEvents, StimCommands
from .log import SessionLog


@dataclass
class _LoopState:
    cycle: int = 0  #: first chip cycle not yet run
    blanks: BlankingWindows = BlankingWindows()
    behind: bool = False


@dataclass(frozen=True)
class LiveTiming:
    """Timing of the live loop (seconds)."""

    duration: float | None = None  #: None runs until stopped
    hold: float = 2e-3  #: idle chip time kept behind the clock for jittered arrivals
    budget: float = 5e-3  #: lag above which stimulation is suspended
    poll: float = 5e-3  #: longest wait for the source (a pull returns as soon as a spike is there)
    flush: float = 0.1  #: seconds between journal records while idle


def run_live(source: Source, *, encoder: Encoder, backend: Backend, stimulator: Stimulator, log: SessionLog,
             t0: float, clock: Callable[[], float], sink: Sink | None = None, monitor=None,
             timing: LiveTiming = LiveTiming(), should_stop: Callable[[], bool] = lambda: False,
             signed_weights: np.ndarray | None = None) -> SessionLog:
    """Run the closed loop until ``timing.duration`` has passed, the source ends, ``should_stop()``
    is true, or KeyboardInterrupt; the log is always finished.

    Parameters
    ----------
    source : Source
        Live spikes, times on ``clock``'s time base.
    encoder : Encoder
        Its window must start at ``t0``.
    t0 : float
        Session start on ``clock``; cycle 0 is the GCLK edge there.
    clock : callable
        The source's clock (``pylsl.local_clock`` for LSL).
    sink : Sink, optional
        Where accepted commands go.
    monitor : FireMonitor, optional
        Receives the chip's FIREs (monitoring stream), after the stimulation went out.
    signed_weights : numpy.ndarray (C, K, N), optional
        The program's ``s = w - r``: the triggering input of a FIRE is then the latest spike of
        its cycle on an axon that drives that neuron (otherwise the latest of its cluster).
    """
    g = encoder.config.gclk_hz
    emap = encoder.electrode_map
    wall0 = time.perf_counter()
    t_end = math.inf if timing.duration is None else t0 + timing.duration
    state = _LoopState()
    gap_state: dict[int, bool] = {}  # gap index -> closed already noted
    try:
        while not should_stop():
            now = clock()
            if now >= t_end:
                break
            chunk = source.read_chunk(timeout=timing.poll)
            if chunk is None:
                log.note(clock() - t0, "source_closed", "the source ended")
                break
            _note_gaps(getattr(source, "gaps", []), gap_state, log, t0)
            if len(chunk) == 0:
                # keep chip time running, ``hold`` behind the clock
                target = int(math.floor((min(clock(), t_end) - timing.hold - t0) * g))
                if target > state.cycle:
                    step = backend.evolve(AxonFrames([], [], [], g), until=target)
                    state.cycle = step.t_end
                continue
            _process(chunk, encoder, emap, backend, stimulator, log, t0, t_end, g, clock, sink, monitor,
                     timing, state, signed_weights)
    except KeyboardInterrupt:
        log.note(clock() - t0, "interrupted", "stopped by Ctrl-C")
    finally:
        end = min(clock(), t_end)
        log.finish(t_start=t0, t_stop=max(end, t0), wall_s=time.perf_counter() - wall0)
    return log


def _process(chunk: SpikeEvents, encoder, emap, backend, stimulator, log, t0, t_end, g, clock, sink, monitor,
             timing, state: _LoopState, signed) -> None:
    times, chans = chunk.times, chunk.channels
    chip_cycle = state.cycle
    inside = (times >= t0) & (times <= t_end)
    cyc = np.full(times.size, -1, np.int64)
    cyc[inside] = encoder.cycle_of(times[inside], t0)
    behind_edge = inside & (cyc < chip_cycle)
    late = behind_edge & ((chip_cycle - cyc) / g > timing.budget)
    delayed = behind_edge & ~late
    fates = np.zeros(times.size, np.int8)
    keep = ~late
    if np.any(behind_edge):
        t_enc = times.copy()
        t_enc[delayed] = t0 + chip_cycle / g  # sampled at the next edge not yet run
        order = np.argsort(t_enc[keep], kind="stable")
        sub = SpikeEvents(t_enc[keep][order], chans[keep][order], chunk.labels,
                          min(chunk.t_start, float(t_enc[keep].min()) if np.any(keep) else chunk.t_start),
                          max(chunk.t_stop, float(t_enc[keep].max()) if np.any(keep) else chunk.t_stop))
    else:  # the usual case: every spike in a cycle the chip has not run yet
        order = np.arange(times.size)
        sub = chunk
    if len(state.blanks) > 256:  # windows that ended before this chunk can no longer blank
        state.blanks = state.blanks.ending_after(float(times.min()) - 1e-9)
    enc = encoder.encode(sub, state.blanks)
    kept = np.flatnonzero(keep)[order]
    fates[kept] = enc.fates
    fates[late] = SpikeFate.LATE
    frames = enc.frames
    until = max(chip_cycle, int(frames.cycles.max()) + 1 if len(frames) else chip_cycle)
    step = backend.evolve(frames, until=until)
    state.cycle = step.t_end
    fires = step.fires
    ready = clock()
    newest = float(times[keep].max()) if np.any(keep) else float(times.max())
    lag = ready - newest
    if len(fires) and lag > timing.budget:
        if not state.behind:
            log.note(ready - t0, "stall", f"loop {lag * 1e3:.2f} ms behind (budget {timing.budget * 1e3:g} ms): "
                                          "stimulation suspended")
        stim = _refuse_all(fires, stimulator, reason="behind")
        state.behind = True
    else:
        if state.behind and lag <= timing.budget:
            log.note(ready - t0, "resume", f"caught up ({lag * 1e3:.2f} ms behind): stimulation resumed")
            state.behind = False
        stim = stimulator.process(fires)
    latency = cyc_lat = None
    if len(stim.commands):
        if sink is not None:
            sink.write(stim.commands)
        pushed = clock()
        pulse = enc.fates == SpikeFate.PULSE
        ch = sub.channels[pulse]
        t_in = _trigger_times(sub.times[pulse], enc.spike_cycles[pulse], emap.cluster[ch], emap.axon[ch],
                              stim.commands.source_cycle, stim.accepted_cluster, stim.accepted_dend, signed)
        latency = pushed - t_in
        cyc_lat = stim.commands.source_cycle
        state.blanks = state.blanks.extend(encoder.blanking_for(stim.commands))
    if monitor is not None and len(fires):
        monitor.write_fires(fires, time_offset=t0)
    log.add_chunk(spikes=chunk, fates=fates, frames=frames, fires=fires, stim=stim,
                  ignored_refractory=step.ignored_refractory, backend_merged=step.merged,
                  latency=latency, latency_cycle=cyc_lat, delayed=int(delayed.sum()))


def _note_gaps(gaps, noted: dict, log: SessionLog, t0: float) -> None:
    """Mark each gap of the input stream when it opens, and again when the stream is back."""
    for i, gap in enumerate(gaps):
        start = float(getattr(gap, "start", 0.0))
        stop = getattr(gap, "stop", None)
        if i not in noted:
            log.note(start - t0, "gap", f"input stream lost at {start - t0:.3f} s (session time)")
            noted[i] = False
        if stop is not None and not noted[i]:
            log.note(float(stop) - t0, "reconnected", f"input stream back after {float(stop) - start:.3f} s")
            noted[i] = True


def _trigger_times(times, cycles, cluster, axon, f_cycle, f_cluster, f_dend, signed) -> np.ndarray:
    """Timestamp of the input that triggered each FIRE: the latest spike of the FIRE's cycle and
    cluster on an axon with a non-zero synapse onto its neuron (any axon if none has one)."""
    out = np.full(f_cycle.size, np.nan)
    for i, (k, c, n) in enumerate(zip(f_cycle.tolist(), f_cluster.tolist(), f_dend.tolist(), strict=True)):
        here = (cycles == k) & (cluster == c)
        if signed is not None:
            drives = here & (signed[c, axon, n] != 0)
            if np.any(drives):
                here = drives
        if np.any(here):
            out[i] = times[here].max()
    return out


def _refuse_all(fires, stimulator: Stimulator, reason: str) -> StimResult:
    """FIREs not turned into commands because the loop is behind (counted, never silent)."""
    n = len(fires)
    times = stimulator.stim_times(fires)
    electrode = stimulator.stim_map.electrode_of(fires.cluster, fires.dend)
    refused = Refusals(times, fires.cluster.copy(), fires.dend.copy(), electrode,
                       np.full(n, reason, "<U12"), fires.cycles.copy())
    empty = StimCommands([], [], [], [], [], source_cycle=np.zeros(0, np.int64))
    counts = {r: 0 for r in _reasons()}
    counts[reason] = n
    return StimResult(empty, np.zeros(0, np.int64), np.zeros(0, np.int64), refused, counts, n)


def _reasons():
    from ..stimulator import REFUSAL_REASONS

    return REFUSAL_REASONS

