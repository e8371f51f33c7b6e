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
the core never imports it. The LSL side (outlet, :class:`~bioloop.adapters.lsl.LSLStimSource`,
pacing) lives in the LSL adapters; this module only wires the culture to them. The culture's
kernel loads inside :func:`run`, keeping ``bioloop --help`` fast.
"""

from __future__ import annotations

import time
from dataclasses import fields

from bioloop.adapters.lsl.config import SCOPES
from bioloop.adapters.lsl.stim_source import stim_rows_to_commands  # noqa: F401 - part of this verb's API

NAME = "culture"
HELP = "run a virtual culture in real time: spikes out as an LSL stream, stimulation in"


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


def run(args) -> dict:
    from bioloop import validate as _v
    from bioloop.adapters import lsl
    from bioloop.adapters.lsl.player import sleep_until
    from bioloop.progress import percentile_summary, progress_bar
    from bioloop.reference_models import virtual_culture as vc

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
    clock = outlet.local_clock
    lags: list[float] = []
    stim_log = _StimLog()
    interrupted = False
    wall0 = time.perf_counter()
    t0 = clock()
    stim = lsl.LSLStimSource(args.stim_stream, n_electrodes=len(culture.labels), t0=t0) \
        if args.stim_stream else None
    try:
        with progress_bar("culture", duration, unit="s", quiet=args.quiet) as bar:
            while True:
                now = clock() - t0
                target = max(culture.time, now if duration is None else min(now, duration))
                if stim is not None:
                    cmds = stim.read()
                    if len(cmds):
                        stim_log.add(cmds, culture.time)
                        culture.stimulate(cmds)
                before = culture.time
                outlet.push_events(culture.advance(target), time_offset=t0)
                lags.append(clock() - t0 - target)
                bar.update(culture.time - before)
                if duration is not None and culture.time >= duration:
                    break
                sleep_until(clock, t0 + now + step)
            if linger > 0:
                time.sleep(linger)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        outlet.close()
        if stim is not None:
            stim.close()
    wall = time.perf_counter() - wall0
    counters = culture.counters.to_dict()
    st = stim.stats() if stim is not None else None
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
        "push_lag_ms": percentile_summary(lags, scale=1e3),
        "stim_stream": args.stim_stream,
        "stim_connected": None if st is None else st["connected"],
        "stim_stream_error": None if st is None else st["error"],
        "stim_samples_received": 0 if st is None else st["samples"],
        "stim_refused": {"bad_electrode": 0, "bad_waveform": 0} if st is None else st["refused"],
        "stim_inlet": None if st is None else st["inlet"],
        "stim_log": stim_log.entries,
        "stim_log_truncated": stim_log.truncated,
        "culture": counters,
        "params": {f.name: getattr(culture.params, f.name) for f in fields(culture.params)},
    }


def format_text(s: dict) -> str:
    c = s["culture"]
    lag = s["push_lag_ms"]
    lag_text = ("n/a" if lag["p50"] is None else
                f"p50 {lag['p50']:.2f} ms, p99 {lag['p99']:.2f} ms, max {lag['max']:.2f} ms")
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
