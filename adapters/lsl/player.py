"""Replay recorded spikes as a live LSL spike-event stream, in real time (or scaled).

A spike at recording time ``t`` is pushed when LSL's clock reaches
``t0 + (t - start) / speed`` and stamped with exactly that time (its spike time on this
machine's LSL clock); ``lateness`` is how long after that moment the push actually happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from bioloop import validate as _v
from bioloop.interrupts import interrupt_as_flag
from bioloop.progress import percentile_summary
from bioloop.types import SpikeEvents

from .outlets import SpikeEventOutlet

MAX_SLEEP = 0.05  #: longest single sleep, s (keeps Ctrl-C and progress responsive)


def sleep_until(clock: Callable[[], float], wake: float) -> None:
    """Sleep until ``clock()`` reaches ``wake``, at most ``MAX_SLEEP`` at a time (the pacing of
    every real-time publisher: Ctrl-C and progress stay responsive)."""
    pause = min(wake - clock(), MAX_SLEEP)
    if pause > 0:
        time.sleep(pause)


@dataclass(frozen=True)
class PlayReport:
    """What a replay did. Times in s; lateness in ms."""

    stream: str
    source_id: str
    n_electrodes: int
    spikes_in_recording: int
    spikes_outside_window: int  #: not played: before ``start`` or at/after ``stop``
    samples_pushed: int
    refused: dict  #: spikes the outlet refused, by reason
    spikes_not_played: int  #: inside the window but not reached (interrupted)
    window_start: float
    window_stop: float
    duration_s: float  #: recording time played, ``window_stop - window_start``
    speed: float
    wall_time_s: float
    t0_lsl: float  #: LSL clock at recording time ``window_start``
    lateness_ms: dict  #: p50, p99, max, mean of push time - intended time
    interrupted: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _lateness_stats(late_s: np.ndarray) -> dict:
    s = percentile_summary(late_s, scale=1e3)
    return {k: s[k] for k in ("p50", "p99", "max", "mean")}


def play_events(events: SpikeEvents, outlet: SpikeEventOutlet, *, speed: float = 1.0,
                start: float | None = None, stop: float | None = None, lead_in: float = 0.05,
                linger: float = 0.25,
                progress: Callable[[float, int], None] | None = None) -> PlayReport:
    """Push ``events`` through ``outlet`` in real time (scaled by ``speed``).

    Plays the window ``[start, stop)`` of the recording (default: the whole segment) and
    returns after the window's end (plus ``linger`` s so inlets can drain), or at Ctrl-C, which
    ends the replay cleanly with ``interrupted=True``.

    Parameters
    ----------
    events : SpikeEvents
        The recording; its labels must be the outlet's.
    outlet : SpikeEventOutlet
        Where to publish.
    speed : float
        Replay speed factor (2 = twice as fast).
    start, stop : float, optional
        Window of recording time, s.
    lead_in : float
        Seconds between the call and recording time ``start``.
    linger : float
        Seconds to keep the outlet alive after the window's end.
    progress : callable, optional
        ``progress(fraction_done, samples_pushed)``, called about every 0.5 s.

    Returns
    -------
    PlayReport

    Raises
    ------
    ValueError
        If ``speed`` is not positive, the window is empty, or the labels differ.

    Examples
    --------
    >>> ev = SpikeEvents([0.1, 0.2], [0, 1], ("A", "B"), 0.0, 0.3)
    >>> with SpikeEventOutlet("demo", ev.labels) as out:  # doctest: +SKIP
    ...     report = play_events(ev, out, speed=10)
    """
    if not isinstance(events, SpikeEvents):
        raise TypeError(f"events must be SpikeEvents, got {type(events).__name__}")
    if not isinstance(outlet, SpikeEventOutlet):
        raise TypeError(f"outlet must be a SpikeEventOutlet, got {type(outlet).__name__}")
    if events.labels != outlet.labels:
        raise ValueError("the recording's electrode labels differ from the outlet's")
    speed = _v.real("speed", speed, lo=0.0, lo_open=True)
    w0 = events.t_start if start is None else _v.real("start", start)
    w1 = events.t_stop if stop is None else _v.real("stop", stop)
    if w1 <= w0:
        raise ValueError(f"the window [{w0:g}, {w1:g}) s is empty; stop must be after start")
    _v.real("lead_in", lead_in, lo=0.0)
    _v.real("linger", linger, lo=0.0)

    inside = (events.times >= w0) & (events.times < w1)
    times, chans = events.times[inside], events.channels[inside]
    clock = outlet.local_clock
    wall0 = time.perf_counter()
    t0 = clock() + lead_in
    targets = t0 + (times - w0) / speed
    t_end = t0 + (w1 - w0) / speed
    lateness = np.zeros(times.size)
    pushed_before = outlet.pushed
    refused_before = dict(outlet.refused)
    i, n = 0, times.size
    interrupted = False
    next_progress = clock() + 0.5
    try:
        # Ctrl-C ends the replay after the push it is in: a push is always counted
        with interrupt_as_flag() as ctrl_c:
            while not ctrl_c.is_set():
                now = clock()
                j = int(np.searchsorted(targets, now, side="right"))
                if j > i:
                    outlet.push(targets[i:j], chans[i:j])
                    lateness[i:j] = clock() - targets[i:j]
                    i = j
                if i >= n and now >= t_end:
                    break
                if progress is not None and now >= next_progress:
                    progress(min(1.0, (now - t0) / (t_end - t0)), outlet.pushed - pushed_before)
                    next_progress = now + 0.5
                sleep_until(clock, targets[i] if i < n else t_end)
            if linger > 0 and not ctrl_c.is_set():
                time.sleep(linger)
            interrupted = ctrl_c.is_set()
    except KeyboardInterrupt:  # a Ctrl-C before the flag was in place
        interrupted = True
    refused = {k: v - refused_before.get(k, 0) for k, v in outlet.refused.items()}
    return PlayReport(
        stream=outlet.name, source_id=outlet.source_id, n_electrodes=len(outlet.labels),
        spikes_in_recording=len(events), spikes_outside_window=int((~inside).sum()),
        samples_pushed=outlet.pushed - pushed_before, refused=refused, spikes_not_played=n - i,
        window_start=w0, window_stop=w1, duration_s=w1 - w0, speed=speed,
        wall_time_s=time.perf_counter() - wall0, t0_lsl=t0,
        lateness_ms=_lateness_stats(lateness[:i]), interrupted=interrupted)
