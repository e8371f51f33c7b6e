"""``bioloop culture --stream NAME``: a virtual culture live on LSL, in real time.

The culture (:class:`bioloop.reference_models.virtual_culture.VirtualCulture`) advances with
LSL's clock in steps of ``--step`` seconds; its detected spikes go out as a spike-event stream
(bioloop's LSL profile, electrode labels and positions in ``desc/electrodes``), each stamped
with its spike time ``t0 + t`` on this machine's LSL clock. With ``--stim-stream`` it
subscribes to a stimulation stream (``[electrode, amplitude_uA, phase_width_us,
interphase_us]``, timestamp = intended delivery time) as soon as that stream appears, and
delivers each pulse at its timestamp; pulses whose time the culture has already passed are
counted late. Malformed samples are refused and counted by reason. Ctrl-C ends the run cleanly
and still prints the summary.

A plug-in verb: ``bioloop.cli`` finds it through the ``bioloop.verbs`` entry-point group, so
the core never imports it. Heavy modules load inside :func:`run`, keeping ``bioloop --help`` fast.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from dataclasses import fields

import numpy as np

NAME = "culture"
HELP = "run a virtual culture in real time: spikes out as an LSL stream, stimulation in"

SCOPES = ("machine", "link", "site", "organization", "global")
MAX_SLEEP = 0.05  #: longest single sleep, s (keeps Ctrl-C and progress responsive)
RETRY_RESOLVE = 2.0  #: s, each look for the stimulation stream (and the wait to open it)


def add_arguments(p):
    p.add_argument("--stream", required=True, metavar="NAME", help="LSL name of the spike stream")
    p.add_argument("--stim-stream", metavar="NAME", help="LSL stimulation stream to obey (it may "
                   "appear later; the culture subscribes as soon as it does)")
    p.add_argument("--seed", type=int, default=0, help="culture seed (default 0)")
    p.add_argument("--duration", type=float, metavar="S", help="seconds to run (default: until "
                   "Ctrl-C)")
    p.add_argument("--step", type=float, default=0.005, metavar="S", help="advance the culture "
                   "and read stimulation every S seconds, 0.0005..0.1 (default 0.005)")
    p.add_argument("--electrodes", type=int, default=60, choices=(60, 59), help="60 (MCS 8x8 "
                   "without corners) or 59 (also without reference electrode 15)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="culture parameter, e.g. n_neurons=500 (repeatable)")
    p.add_argument("--source-id", metavar="ID", help="LSL source_id (default bioloop:<stream>)")
    p.add_argument("--scope", choices=SCOPES, default="machine",
                   help="LSL discovery scope (default machine: this computer only)")
    p.add_argument("--linger", type=float, default=0.25, metavar="S",
                   help="keep the stream up S seconds after the end (default 0.25)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def parse_params(items, params_cls) -> dict:
    """``["n_neurons=500", "mini_rate=4"]`` -> ``{"n_neurons": 500, "mini_rate": 4.0}``.

    Raises
    ------
    ValueError
        For an item without ``=``, an unknown key, or a value that is not a number.
    """
    types = {f.name: f.type for f in fields(params_cls)}
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--param {item!r} must be KEY=VALUE, e.g. n_neurons=500")
        if key not in types:
            raise ValueError(f"--param {key!r} is not a culture parameter; valid: "
                             f"{', '.join(types)}")
        want_int = types[key] in (int, "int")
        try:
            out[key] = int(text) if want_int else float(text)
        except ValueError:
            kind = "an integer" if want_int else "a number"
            raise ValueError(f"--param {key}={text!r}: the value must be {kind}") from None
    return out


def stim_rows_to_commands(data: np.ndarray, stamps: np.ndarray, t0: float, n_electrodes: int,
                          stim_cls):
    """Stimulation samples (n, 4) stamped on the LSL clock -> (StimCommands, refused counts).

    Culture time = timestamp - ``t0``. Refused: ``bad_electrode`` (not an integer index of
    an electrode), ``bad_waveform`` (non-finite value, phase width <= 0, interphase < 0).
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


def _check_stim_stream(summary) -> None:
    problems = []
    if summary.channel_format not in ("float32", "double64"):
        problems.append(f"channel format {summary.channel_format} (needs float32)")
    if summary.channel_count != 4:
        problems.append(f"{summary.channel_count} channels (needs 4: electrode, amplitude_uA, "
                        "phase_width_us, interphase_us)")
    if summary.nominal_srate != 0:
        problems.append(f"a regular rate of {summary.nominal_srate:g} Hz (needs irregular)")
    if problems:
        raise ValueError(f"LSL stream {summary} is not a stimulation stream: "
                         + "; ".join(problems))


class _StimInlet:
    """Subscribes to the stimulation stream in the background, as soon as it appears."""

    def __init__(self, name: str):
        self._lsl = importlib.import_module("bioloop.adapters.lsl")
        self._conn_mod = importlib.import_module("bioloop.adapters.lsl.connection")
        self.name = name
        self.error: str | None = None
        self.connected_at: float | None = None
        self._conn = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._connect, name="stim-resolver", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        query = self._lsl.StreamQuery(name=self.name)
        while not self._stop.is_set():
            try:
                conn = self._conn_mod.InletConnection(query, check=_check_stim_stream,
                                                      resolve_timeout=RETRY_RESOLVE)
            except ValueError as exc:  # not there yet, ambiguous, or not a stimulation stream
                self.error = str(exc)
                self._stop.wait(0.1)
                continue
            if self._stop.is_set():
                conn.close()
                return
            self.error = None
            self.connected_at = conn.opened_at
            self._conn = conn
            return

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def pull(self):
        conn = self._conn
        if conn is None:
            return np.zeros((0, 4)), np.zeros(0)
        return conn.pull(0.0)

    def stats(self) -> dict | None:
        return None if self._conn is None else self._conn.stats()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=RETRY_RESOLVE + 1.0)
        if self._conn is not None:
            self._conn.close()


class _LagHistogram:
    """How far behind LSL's clock each push happened: 0.1 ms bins up to 1 s, bounded memory."""

    BIN_MS = 0.1

    def __init__(self):
        self.counts = np.zeros(10_001, np.int64)  # the last bin holds everything >= 1 s
        self.max_ms = None

    def add(self, lag_s: float) -> None:
        ms = max(0.0, lag_s * 1e3)
        self.counts[min(int(ms / self.BIN_MS), self.counts.size - 1)] += 1
        self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)

    def stats(self) -> dict:
        n = int(self.counts.sum())
        if n == 0:
            return {"p50": None, "p99": None, "max": None, "n": 0}
        cum = np.cumsum(self.counts)
        pct = {q: float((np.searchsorted(cum, q / 100 * n) + 1) * self.BIN_MS) for q in (50, 99)}
        return {"p50": pct[50], "p99": pct[99], "max": self.max_ms, "n": n}


class _StimLog:
    """The first ``MAX`` pulses received, in culture time, for the summary (reproducibility)."""

    MAX = 1000

    def __init__(self):
        self.entries: list[dict] = []
        self.truncated = 0

    def add(self, cmds, culture_time: float) -> None:
        for i in range(len(cmds)):
            if len(self.entries) >= self.MAX:
                self.truncated += len(cmds) - i
                return
            self.entries.append({
                "t": float(cmds.times[i]), "electrode": int(cmds.electrode[i]),
                "amplitude_uA": float(cmds.amplitude[i] * 1e6),
                "phase_width_us": float(cmds.phase_width[i] * 1e6),
                "interphase_us": float(cmds.interphase[i] * 1e6),
                "late": bool(cmds.times[i] < culture_time)})


def _progress_printer(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None

    def show(t: float, pushed: int, stim: int) -> None:
        print(f"\rculture: {t:8.1f} s  {pushed} spikes  {stim} pulses", end="", file=sys.stderr,
              flush=True)

    return show


def run(args) -> dict:
    lsl = importlib.import_module("bioloop.adapters.lsl")
    vc = importlib.import_module("bioloop.reference_models.virtual_culture")
    from bioloop import validate as _v
    from bioloop.types import StimCommands

    duration = None if args.duration is None else _v.real("--duration", args.duration, lo=0.0,
                                                           lo_open=True)
    step = _v.real("--step", args.step, lo=0.0005, hi=0.1)
    linger = _v.real("--linger", args.linger, lo=0.0)
    params = parse_params(args.param, vc.CultureParams)
    culture = vc.VirtualCulture(n_electrodes=args.electrodes, seed=args.seed, **params)
    vc.warm_up()  # load (or compile) the kernel now, not in the first real-time step
    cfg = lsl.configure_lsl(scope=args.scope)
    outlet = lsl.SpikeEventOutlet(
        args.stream, culture.labels, source_id=args.source_id,
        positions=culture.positions * 1e6,
        extra=(("model", "bioloop virtual culture"), ("seed", args.seed),
               ("n_neurons", culture.params.n_neurons)))
    stim = _StimInlet(args.stim_stream) if args.stim_stream else None
    progress = _progress_printer(args.quiet)
    clock = outlet.local_clock
    stim_samples = 0
    stim_refused = {"bad_electrode": 0, "bad_waveform": 0}
    lags = _LagHistogram()
    stim_log = _StimLog()
    interrupted = False
    wall0 = time.perf_counter()
    t0 = clock()
    next_progress = t0 + 0.5
    try:
        while True:
            now = clock() - t0
            target = max(culture.time, now if duration is None else min(now, duration))
            if stim is not None:
                data, stamps = stim.pull()
                if stamps.size:
                    stim_samples += int(stamps.size)
                    cmds, refused = stim_rows_to_commands(data, stamps, t0, len(culture.labels),
                                                          StimCommands)
                    for k, v in refused.items():
                        stim_refused[k] += v
                    stim_log.add(cmds, culture.time)
                    culture.stimulate(cmds)
            events = culture.advance(target)
            outlet.push_events(events, time_offset=t0)
            lags.add(clock() - t0 - target)
            if progress is not None and clock() >= next_progress:
                progress(culture.time, outlet.pushed, culture.counters.stim_applied)
                next_progress = clock() + 0.5
            if duration is not None and culture.time >= duration:
                break
            pause = min(now + step - (clock() - t0), MAX_SLEEP)
            if pause > 0:
                time.sleep(pause)
        if linger > 0:
            time.sleep(linger)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if progress is not None:
            print(file=sys.stderr)
        outlet.close()
        if stim is not None:
            stim.close()
    wall = time.perf_counter() - wall0
    counters = culture.counters.to_dict()
    return {
        "stream": outlet.name,
        "source_id": outlet.source_id,
        "scope": cfg.scope,
        "seed": args.seed,
        "n_electrodes": len(culture.labels),
        "n_neurons": culture.params.n_neurons,
        "t0_lsl": t0,
        "culture_time_s": culture.time,
        "wall_time_s": wall,
        "step_s": step,
        "interrupted": interrupted,
        "spikes_pushed": outlet.pushed,
        "spikes_refused": dict(outlet.refused),
        "push_lag_ms": lags.stats(),
        "stim_stream": args.stim_stream,
        "stim_connected": None if stim is None else stim.connected,
        "stim_stream_error": None if stim is None or stim.connected else stim.error,
        "stim_samples_received": stim_samples,
        "stim_refused": stim_refused,
        "stim_inlet": None if stim is None else stim.stats(),
        "stim_log": stim_log.entries,
        "stim_log_truncated": stim_log.truncated,
        "culture": counters,
        "params": {f.name: getattr(culture.params, f.name) for f in fields(culture.params)},
    }


def format_text(s: dict) -> str:
    c = s["culture"]
    lag = s["push_lag_ms"]
    lag_text = ("n/a" if lag["p50"] is None else
                f"p50 <= {lag['p50']:.1f} ms, p99 <= {lag['p99']:.1f} ms, max {lag['max']:.2f} ms")
    lines = [
        f"{'interrupted' if s['interrupted'] else 'ran'} virtual culture (seed {s['seed']}, "
        f"{s['n_neurons']} neurons, {s['n_electrodes']} electrodes) as LSL stream "
        f"{s['stream']!r} (source_id {s['source_id']!r}, scope {s['scope']})",
        f"  {s['culture_time_s']:.3f} s of culture in {s['wall_time_s']:.2f} s wall time: "
        f"{s['spikes_pushed']} spikes pushed, refused {s['spikes_refused']}",
        f"  push lag behind the clock: {lag_text}",
    ]
    if s["stim_stream"] is not None:
        state = "connected" if s["stim_connected"] else f"not connected ({s['stim_stream_error']})"
        lines += [
            f"  stimulation stream {s['stim_stream']!r}: {state}; {s['stim_samples_received']} "
            f"samples, refused {s['stim_refused']}",
            f"  pulses: {c['stim_applied']} applied, {c['stim_late']} late, "
            f"{c['stim_pending']} pending; {c['direct_activations']} direct activations "
            f"({c['direct_blocked']} blocked by refractoriness)",
        ]
    return "\n".join(lines)
