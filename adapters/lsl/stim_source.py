"""Stimulation commands in from an LSL stream (bioloop's profile): what a culture obeys.

:class:`LSLStimSource` subscribes to a stimulation stream in the background as soon as it
appears (it may start after the culture), checks its format against the profile, and turns
each sample ``[electrode, amplitude_uA, phase_width_us, interphase_us]`` (timestamp =
intended delivery time on this machine's LSL clock) into a :class:`~bioloop.types.StimCommands`
row; malformed samples are refused and counted by reason.
"""

from __future__ import annotations

import threading

import numpy as np

from bioloop.types import StimCommands

from .connection import InletConnection
from .profile import STIM_CHANNELS
from .resolve import StreamQuery

RETRY_RESOLVE = 2.0  #: s, each look for the stimulation stream (and the wait to open it)
STIM_REFUSALS = ("bad_electrode", "bad_waveform")


def check_stim_stream(summary) -> None:
    """Raise ValueError unless ``summary`` describes a stimulation stream of the profile:
    irregular rate, float32 (or double64), one channel per field of ``STIM_CHANNELS``."""
    problems = []
    if summary.channel_format not in ("float32", "double64"):
        problems.append(f"channel format {summary.channel_format} (needs float32)")
    if summary.channel_count != len(STIM_CHANNELS):
        problems.append(f"{summary.channel_count} channels (needs {len(STIM_CHANNELS)}: "
                        + ", ".join(f"{n}_{u}" if u != "index" else n for n, u in STIM_CHANNELS) + ")")
    if summary.nominal_srate != 0:
        problems.append(f"a regular rate of {summary.nominal_srate:g} Hz (needs irregular)")
    if problems:
        raise ValueError(f"LSL stream {summary} is not a stimulation stream: " + "; ".join(problems))


def stim_rows_to_commands(data: np.ndarray, stamps: np.ndarray, t0: float, n_electrodes: int,
                          stim_cls=StimCommands):
    """Stimulation samples (n, 4) stamped on the LSL clock -> (StimCommands, refused counts).

    Command time = timestamp - ``t0``. Refused: ``bad_electrode`` (not an integer index of
    an electrode), ``bad_waveform`` (non-finite value, phase width <= 0, interphase < 0).

    Examples
    --------
    >>> rows = np.array([[3, -1.0, 200, 0], [99, -1.0, 200, 0], [2, -1.0, 0, 0]])
    >>> cmds, refused = stim_rows_to_commands(rows, np.array([10.0, 10.1, 10.2]), 9.5, 60)
    >>> cmds.times.tolist(), cmds.electrode.tolist(), refused
    ([0.5], [3], {'bad_electrode': 1, 'bad_waveform': 1})
    """
    data = np.asarray(data, dtype=np.float64).reshape(-1, 4)
    stamps = np.asarray(stamps, dtype=np.float64)
    el, amp, pw, ip = data.T
    finite = np.isfinite(data).all(axis=1) & np.isfinite(stamps)
    good_el = finite & (el == np.round(el)) & (el >= 0) & (el < n_electrodes)
    good_wave = finite & (pw > 0) & (ip >= 0)
    ok = good_el & good_wave
    refused = {"bad_electrode": int((~good_el).sum()),
               "bad_waveform": int((good_el & ~good_wave).sum())}
    cmds = stim_cls(stamps[ok] - t0, el[ok].astype(np.int64), amp[ok] * 1e-6, pw[ok] * 1e-6,
                    ip[ok] * 1e-6)
    return cmds, refused


class LSLStimSource:
    """Stimulation commands from the LSL stream ``name``, subscribed as soon as it appears.

    Parameters
    ----------
    name : str
        Name of the stimulation stream.
    n_electrodes : int
        Electrodes of the culture (commands for others are refused as ``bad_electrode``).
    t0 : float
        LSL clock time of culture time 0: a command's time is its timestamp - ``t0``.

    Examples
    --------
    >>> stim = LSLStimSource("bioloop-stim", n_electrodes=60, t0=0.0)  # doctest: +SKIP
    >>> commands = stim.read()  # doctest: +SKIP
    """

    def __init__(self, name: str, *, n_electrodes: int, t0: float):
        self.name = name
        self.n_electrodes = int(n_electrodes)
        self.t0 = float(t0)
        self.error: str | None = None
        self.samples = 0
        self.refused = dict.fromkeys(STIM_REFUSALS, 0)
        self._conn = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._connect, name="stim-resolver", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        query = StreamQuery(name=self.name)
        while not self._stop.is_set():
            try:
                conn = InletConnection(query, check=check_stim_stream, resolve_timeout=RETRY_RESOLVE)
            except ValueError as exc:  # not there yet, ambiguous, or not a stimulation stream
                self.error = str(exc)
                self._stop.wait(0.1)
                continue
            if self._stop.is_set():
                conn.close()
                return
            self.error = None
            self._conn = conn
            return

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def read(self) -> StimCommands:
        """The commands received since the last call (none while not connected)."""
        conn = self._conn
        if conn is None:
            return stim_rows_to_commands(np.zeros((0, 4)), np.zeros(0), self.t0, self.n_electrodes)[0]
        data, stamps = conn.pull(0.0)
        self.samples += int(stamps.size)
        cmds, refused = stim_rows_to_commands(data, stamps, self.t0, self.n_electrodes)
        for k, v in refused.items():
            self.refused[k] += v
        return cmds

    def stats(self) -> dict:
        """Samples received and refused (by reason), and the inlet's own counts."""
        return {"stream": self.name, "connected": self.connected,
                "error": None if self.connected else self.error, "samples": self.samples,
                "refused": dict(self.refused), "inlet": None if self._conn is None else self._conn.stats()}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=RETRY_RESOLVE + 1.0)
        if self._conn is not None:
            self._conn.close()
