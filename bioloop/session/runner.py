"""The replay loop: spikes -> encoder -> backend -> stimulator, chunk by chunk, exactly.

Stimulation blanks the input that follows it, so what the encoder passes on depends on what the
chip did a moment earlier. The runner keeps that exact without stepping every cycle in Python:
it runs a chunk optimistically, computes the stimulation it produced, and checks whether any of
that stimulation would have blanked a spike of the same chunk. If not, the chunk stands. If so,
it rolls the backend and the stimulator back to the chunk's start and re-runs only up to the
cycle before the first affected spike, then carries on from there with the new blanking. A
backend that cannot roll back (a board) is run one input cycle at a time instead.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from ..backends.base import Backend, Rewindable
from ..encoder import BlankingWindows, Encoder, SpikeFate
from ..stimulator import Stimulator
from ..types import SpikeEvents
from .log import SessionLog


@dataclass(frozen=True)
class Pacing:
    """``speed=None`` runs as fast as possible; ``speed=1.0`` paces to wall time."""

    speed: float | None = None
    chunk_s: float = 0.5  #: session seconds per optimistic chunk (max speed)
    paced_chunk_s: float = 0.01  #: session seconds per chunk when paced


class Progress:
    """Progress on stderr when it is a terminal (off with ``quiet``)."""

    def __init__(self, total_s: float, quiet: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = max(total_s, 1e-12)
        self._last = 0.0

    def update(self, done_s: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        self.stream.write(f"\rreplay {100 * done_s / self.total:5.1f}% ({done_s:.1f} / {self.total:.1f} s)")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def replay(events: SpikeEvents, *, encoder: Encoder, backend: Backend, stimulator: Stimulator,
           log: SessionLog, pacing: Pacing = Pacing(), progress: Progress | None = None) -> SessionLog:
    """Run a recording through encoder, backend and stimulator into ``log``.

    The encoder's config must fix ``t_start`` / ``t_stop`` (the session window): every chunk
    shares its cycle 0. The backend must be programmed and at cycle 0.

    Returns
    -------
    SessionLog
        The same log, finished.
    """
    wall0 = time.perf_counter()
    t0, t1 = encoder.window(events)
    times, chans = events.times, events.channels
    inside = (times >= t0) & (times <= t1)
    # spikes outside the window: one record, all dropped as outside_window
    if not np.all(inside):
        out = SpikeEvents(times[~inside], chans[~inside], events.labels, events.t_start, events.t_stop)
        r = encoder.encode(out)
        log.add_chunk(spikes=out, fates=r.fates)
    t_in, c_in = times[inside], chans[inside]
    cyc = encoder.cycle_of(t_in, t0)
    cycle_stop = int(encoder.cycle_of([t1], t0)[0]) + 1
    g = encoder.config.gclk_hz
    rewind = isinstance(backend, Rewindable)
    chunk = max(1, int(round((pacing.paced_chunk_s if pacing.speed else pacing.chunk_s) * g)))
    blanks = BlankingWindows()
    c0, pos = 0, 0
    n = t_in.size
    while c0 < cycle_stop:
        if rewind:
            c_end = min(c0 + chunk, cycle_stop)
        else:  # exact without rollback: at most one input cycle per step
            c_end = min(int(cyc[pos]) + 1, cycle_stop) if pos < n else cycle_stop
        if pacing.speed:
            lag = (c_end / g) / pacing.speed - (time.perf_counter() - wall0)
            if lag > 0:
                time.sleep(lag)
        j = int(np.searchsorted(cyc, c_end, side="left"))
        # spikes of cycle c0 may lie up to one period before its edge: keep every window
        # that ends after that
        active = blanks.ending_after(t0 + (c0 - 1) / g - 1e-9) if len(blanks) else blanks
        res = _run_chunk(t_in[pos:j], c_in[pos:j], events.labels, t0, t1, c_end, encoder, backend,
                         stimulator, active, rewind)
        if res.bite_cycle is not None:
            # roll back, and redo only the cycles before the first spike the chunk's own
            # stimulation blanks; the next pass starts there with that stimulation known
            c_cut = max(res.bite_cycle, c0 + 1)
            j = int(np.searchsorted(cyc, c_cut, side="left"))
            res = _run_chunk(t_in[pos:j], c_in[pos:j], events.labels, t0, t1, c_cut, encoder, backend,
                             stimulator, active, rewind=False, state=res.state)
            c_end = c_cut
        log.add_chunk(spikes=res.spikes, fates=res.enc.fates, frames=res.enc.frames, fires=res.step.fires,
                      stim=res.stim, ignored_refractory=res.step.ignored_refractory,
                      backend_merged=res.step.merged)
        blanks = active.extend(res.new_blanks)  # windows over before this chunk are done
        c0, pos = c_end, j
        if progress is not None:
            progress.update(c0 / g)
    if progress is not None:
        progress.close()
    log.finish(t_start=t0, t_stop=t1, wall_s=time.perf_counter() - wall0)
    return log


@dataclass
class _ChunkResult:
    spikes: SpikeEvents
    enc: object
    step: object
    stim: object
    new_blanks: BlankingWindows
    bite_cycle: int | None
    state: tuple | None


def _run_chunk(times, chans, labels, t0, t1, c_end, encoder, backend, stimulator, blanks, rewind,
               state=None) -> _ChunkResult:
    if state is not None:  # a roll-back: restore where the chunk started
        backend.restore(state[0])
        stimulator.set_state(state[1])
    elif rewind:
        state = (backend.snapshot(), stimulator.get_state())
    spikes = SpikeEvents(times, chans, labels, t0, t1)
    enc = encoder.encode(spikes, blanks)
    step = backend.evolve(enc.frames, until=c_end)
    stim = stimulator.process(step.fires)
    new_blanks = encoder.blanking_for(stim.commands)
    bite = None
    if rewind and len(new_blanks) and np.any(enc.fates == SpikeFate.PULSE):
        again = encoder.encode(spikes, blanks.extend(new_blanks))
        changed = np.flatnonzero(again.fates != enc.fates)
        if changed.size:
            bite = int(enc.spike_cycles[changed].min())
    return _ChunkResult(spikes, enc, step, stim, new_blanks, bite, state)
