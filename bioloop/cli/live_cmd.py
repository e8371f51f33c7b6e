"""``bioloop live --input-stream NAME``: the closed loop against a live LSL spike stream."""

from __future__ import annotations

import signal
from pathlib import Path

from ._session_args import add_session_arguments, format_summary, session_options

NAME = "live"
HELP = "run the chip in closed loop with a live LSL spike stream; stimulation goes out over LSL"


def add_arguments(p):
    p.add_argument("--input-stream", required=True, metavar="NAME", help="LSL spike-event stream name")
    p.add_argument("--voltage", action="store_true",
                   help="the input is a regular-rate float32 voltage stream (online threshold detection)")
    p.add_argument("--stim-stream", default="bioloop-stim", metavar="NAME",
                   help="name of the stimulation stream published (default bioloop-stim)")
    p.add_argument("--duration", type=float, metavar="S", help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--out", default="live.session.nix", metavar="SESSION.nix", help="session file")
    p.add_argument("--resolve-timeout", type=float, default=5.0, metavar="S",
                   help="how long to wait for the input stream")
    p.add_argument("--budget-ms", type=float, default=5.0,
                   help="suspend stimulation while the loop lags by more than this (default 5 ms)")
    p.add_argument("--hold-ms", type=float, default=2.0,
                   help="idle chip time kept behind the clock for jittered arrivals (default 2 ms)")
    add_session_arguments(p, window=False)


def run(args) -> dict:
    import numpy as np

    from bioloop import registry
    from bioloop.session.build import build, journal_path_for
    from bioloop.session.journal import JournalWriter
    from bioloop.session.live import LiveTiming, run_live
    from bioloop.session.log import SessionLog
    from bioloop.session.nixfile import write_session
    from bioloop.types import FireEvents, SpikeEvents

    if args.duration is not None and not args.duration > 0:
        raise ValueError(f"--duration {args.duration:g} must be positive (seconds)")
    out = Path(args.out)
    if out.suffix != ".nix" or not out.parent.is_dir():
        raise ValueError(f"--out {str(out)!r} must be a .nix file in an existing folder")
    jpath = journal_path_for(out)
    if jpath.exists():
        raise ValueError(f"a journal {str(jpath)!r} from an earlier session is in the way; turn it into a "
                         f"session with 'bioloop recover {jpath}' or delete it")
    opts = session_options(args)
    source_cls = registry.load("bioloop.sources", "lsl-voltage" if args.voltage else "lsl-spikes")
    source = source_cls(name=args.input_stream, timeout=args.resolve_timeout)
    sink = None
    try:
        labels = source.labels
        clock = source.clock
        horizon = args.duration if args.duration is not None else 1e7
        t_now = clock()
        placeholder = SpikeEvents(np.zeros(0), np.zeros(0, np.int64), labels, t_now, t_now + horizon + 60.0)
        from dataclasses import replace

        parts = build(placeholder, replace(opts, t_start=t_now, t_stop=t_now + horizon + 60.0),
                      {"stream": args.input_stream, "kind": "lsl-voltage" if args.voltage else "lsl-spikes"})
        sink = registry.load("bioloop.sinks", "lsl")(args.stim_stream, labels=labels)
        # compile and warm the hot path before the clock starts, then forget the warm-up
        st = parts.stimulator.get_state()
        parts.stimulator.process(FireEvents([0], [0], [0], opts.gclk_hz))
        parts.stimulator.set_state(st)
        parts.backend.evolve(parts.encoder.encode(placeholder).frames, until=1)
        parts.backend.reset()
        t0 = clock()
        from dataclasses import replace as dc_replace

        from bioloop.encoder import Encoder

        enc = Encoder(dc_replace(parts.encoder.config, t_start=t0, t_stop=t0 + horizon + 60.0),
                      parts.encoder.electrode_map)
        stim = parts.stimulator
        stim.config = dc_replace(stim.config, time_origin=t0)
        parts.meta["t_start"] = t0
        parts.meta["clock"] = "LSL local_clock"
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            with JournalWriter(jpath) as journal:
                log = SessionLog(labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta, journal)
                run_live(source, encoder=enc, backend=parts.backend, stimulator=stim, log=log, t0=t0,
                         clock=clock, sink=sink, signed_weights=parts.program.signed_weights,
                         timing=LiveTiming(duration=args.duration, hold=args.hold_ms * 1e-3,
                                           budget=args.budget_ms * 1e-3))
        finally:
            signal.signal(signal.SIGTERM, previous)
        write_session(log, out)
        jpath.unlink()
        summary = log.summary()
        summary["session"] = str(out)
        summary["input"] = source.stats() if hasattr(source, "stats") else {}
        summary["output"] = sink.stats() if hasattr(sink, "stats") else {}
        return summary
    finally:
        if sink is not None:
            sink.close()
        source.close()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


format_text = format_summary
