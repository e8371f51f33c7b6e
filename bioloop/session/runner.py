"""The replay loop: spikes -> encoder -> backend -> stimulator, chunk by chunk, exactly.

Each stage owns its logic and the data enters each once. The encoder aligns the whole session
window in one vectorised pass (:meth:`Encoder.encode_window`); the chunk loop only asks it for
the fates and pulses of the next run of spikes. Stimulation blanks the input that follows it,
so what the encoder passes on depends on what the chip did a moment earlier: the runner runs a
chunk optimistically, hands its FIREs to the stimulator, and asks the window encoding (compiled
code, where blanking lives) which spikes of the same chunk the new commands would blank. If
those are the ones the pass assumed blanked (none, on the first pass), the chunk is consistent:
it stands, and its commands' windows are applied to the rest of the window. If not, the backend
and the stimulator are rolled back to the chunk's start and the chunk runs again, assuming the
blanking the last pass's commands produce (a fixed-point iteration). A FIRE of cycle k is
stimulated after the edge of cycle k, so it can only blank spikes of later cycles: each pass
gets at least one more cycle right, the iteration ends, and its fixed point is the only one,
exactly what stepping one input cycle at a time gives. That is what a backend that cannot roll
back (a board) gets; independent blankings in one chunk are settled in the same pass. On a
chip with routes a packet's FIRE can come in a cycle without input, so stepping without
rollback runs the cycles before each input cycle as a step of their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..backends.base import Backend, Rewindable
from ..encoder import Encoder, WindowEncoding
from ..progress import progress_bar
from ..stimulator import Stimulator
from ..types import SpikeEvents
from .log import SessionLog, routing_of


@dataclass(frozen=True)
class Pacing:
    """``speed=None`` runs as fast as possible; ``speed=1.0`` paces to wall time."""

    speed: float | None = None
    chunk_s: float = 5.0  #: session seconds per optimistic chunk (max speed)
    paced_chunk_s: float = 0.01  #: session seconds per chunk when paced


def replay(events: SpikeEvents, *, encoder: Encoder, backend: Backend, stimulator: Stimulator,
           log: SessionLog, pacing: Pacing = Pacing(), quiet: bool = True) -> SessionLog:
    """Run a recording through encoder, backend and stimulator into ``log``.

    The encoder's config fixes the session window (``t_start`` / ``t_stop``, or the
    recording's bounds); cycle 0 is the GCLK edge at its start. The backend must be programmed
    and at cycle 0, the stimulator's ``time_origin`` the window's start.

    Parameters
    ----------
    events : SpikeEvents
        The recording.
    encoder, backend, stimulator : Encoder, Backend, Stimulator
        The session's stages (see :func:`bioloop.session.build.build`).
    log : SessionLog
        Receives every chunk.
    pacing : Pacing
        As fast as possible (default) or paced to wall time.
    quiet : bool
        No progress bar (it is shown only on a terminal anyway).

    Returns
    -------
    SessionLog
        The same log, finished.
    """
    wall0 = time.perf_counter()
    win = encoder.encode_window(events)
    if win.outside is not None:  # one record: every spike outside the window
        out = encoder.encode(win.outside)
        log.add_chunk(spikes=win.outside, fates=out.fates)
    loop = _ChunkLoop(win, backend, stimulator, log)
    g = win.gclk_hz
    chunk = max(1, int(round((pacing.paced_chunk_s if pacing.speed else pacing.chunk_s) * g)))
    c0 = 0
    with progress_bar("replay", (win.t1 - win.t0), unit="s", quiet=quiet) as bar:
        while c0 < win.cycle_stop:
            if loop.rewind:
                c_end = min(c0 + chunk, win.cycle_stop)
            else:  # exact without rollback: at most one input cycle per step
                c_end = loop.stepped_end(c0)
            if pacing.speed:
                lag = (c_end / g) / pacing.speed - (time.perf_counter() - wall0)
                if lag > 0:
                    time.sleep(lag)
            c_new = loop.run(c0, c_end)
            bar.update((c_new - c0) / g)
            c0 = c_new
    log.finish(t_start=win.t0, t_stop=win.t1, wall_s=time.perf_counter() - wall0)
    return log


class _ChunkLoop:
    """One chunk at a time: optimistic run, blanking check, roll back and run again when bitten."""

    def __init__(self, win: WindowEncoding, backend: Backend, stimulator: Stimulator, log: SessionLog):
        self.win, self.backend, self.stimulator, self.log = win, backend, stimulator, log
        self.rewind = isinstance(backend, Rewindable)
        self.pos = 0  #: first spike not yet run
        #: whether FIREs can come in cycles without input: packets between clusters (the session's
        #: routes, in its description) land in any cycle
        self.routed = bool(log.meta.get("routing", {}).get("routes"))

    def stepped_end(self, c0: int) -> int:
        """Without rollback, the end of the next exact step from ``c0``: one past the next input
        cycle. With routes, a packet's FIRE in the cycles before that input may blank it, so
        those cycles are a step of their own first."""
        win = self.win
        if self.pos >= win.n:
            return win.cycle_stop
        nxt = int(win.cycles[self.pos])
        if self.routed and nxt > c0:
            return min(nxt, win.cycle_stop)
        return min(nxt + 1, win.cycle_stop)

    def run(self, c0: int, c_end: int) -> int:
        """Run cycles ``c0:c_end`` exactly; returns ``c_end``."""
        win, backend, stimulator = self.win, self.backend, self.stimulator
        lo = self.pos
        hi = win.index_of_cycle(c_end)
        if self.rewind:
            saved = (backend.snapshot(), stimulator.get_state())
        tentative = None  #: spikes of the chunk blanked by the chunk's own commands (last pass)
        while True:
            enc = win.chunk(lo, hi, tentative)
            step = backend.evolve(enc.frames, until=c_end)
            stim = stimulator.process(step.fires)
            if not self.rewind:
                break
            covered = win.covered(stim.commands, lo, hi)
            if np.array_equal(covered, tentative) if tentative is not None else not covered.any():
                break  # the chunk's commands blank exactly what this pass assumed: it stands
            # run the chunk again assuming this pass's blanking; every pass gets at least one more
            # GCLK cycle right (a FIRE can only blank later cycles), so this ends
            tentative = covered
            backend.restore(saved[0])
            stimulator.set_state(saved[1])
        win.blank(stim.commands, lo)
        self.log.add_chunk(spikes=win.spikes(lo, hi), fates=enc.fates, frames=enc.frames, fires=step.fires,
                           stim=stim, ignored_refractory=step.ignored_refractory, backend_merged=step.merged,
                           routing=routing_of(step))
        self.pos = hi
        return c_end
