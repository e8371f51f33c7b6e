"""``bioloop replay RECORDING``: a recorded culture through the chip, stimulation out."""

from __future__ import annotations

from pathlib import Path

from ._session_args import add_session_arguments, format_summary, session_options

NAME = "replay"
HELP = "replay a recording through the chip model and log what it would stimulate"


def add_arguments(p):
    p.add_argument("recording", nargs="?",
                   help="a recording, recognised by content: sjemea .h5, timestamp text, MC_DataTool "
                   "ASCII, NWB, Cortical Labs CL .h5, or any file Neo reads (or use --culture)")
    p.add_argument("--culture", choices=["virtual"],
                   help="close the loop offline with a simulated culture instead of a recording")
    p.add_argument("--duration", type=float, default=30.0, metavar="S",
                   help="with --culture: seconds of culture time (default 30)")
    p.add_argument("--loop-step-ms", type=float, default=1.0,
                   help="with --culture: culture time advanced per loop iteration (default 1 ms)")
    p.add_argument("--format", help="force the reader (sjemea, nexTimestamps, mcDataTool, nwb, cl, neo, or a Neo IO name)")
    p.add_argument("--well", help="48-well plate files: the well to use, e.g. A1")
    p.add_argument("--out", metavar="SESSION.nix", help="session file (default: <recording>.session.nix here)")
    p.add_argument("--speed", default="max", help="'max' (as fast as possible) or a factor of real time")
    add_session_arguments(p)


def parse_speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"--speed {text!r} must be 'max' or a positive number (1.0 = real time)") from None
    if not v > 0:
        raise ValueError(f"--speed {text!r} must be 'max' or a positive number (1.0 = real time)")
    return v


def open_source(path: str, fmt=None, well=None):
    from bioloop import registry

    source_cls = registry.load("bioloop.sources", "file")
    return source_cls(path, format=fmt, well=well)


def run(args) -> dict:
    from bioloop.session.build import run_replay

    speed = parse_speed(args.speed)
    opts = session_options(args)
    if args.culture:
        if args.recording:
            raise ValueError("give either a RECORDING or --culture, not both")
        return run_culture(args, opts)
    if not args.recording:
        raise ValueError("a RECORDING is needed (or --culture virtual)")
    src = open_source(args.recording, args.format, args.well)
    events = src.read_all()
    if len(events) == 0:
        raise ValueError(f"recording {args.recording!r} holds no spikes")
    out = Path(args.out) if args.out else Path(Path(args.recording).name + ".session.nix")
    meta = {"path": str(args.recording), "format": getattr(src, "format", args.format),
            "well": args.well, "n_electrodes": events.n_channels}
    recorded = getattr(src, "recorded_stimulation", None)  # what the rig itself stimulated
    if recorded is not None:
        meta["recorded_stimulation"] = recorded.to_meta()
    return run_replay(events, opts, out, source_meta=meta, speed=speed, quiet=args.quiet)


def run_culture(args, opts) -> dict:
    """Closed loop offline: the chip stimulates a virtual culture that answers, on its clock."""
    from bioloop import registry
    from bioloop.session.build import run_loop
    from bioloop.session.live import LiveTiming

    if not args.duration > 0:
        raise ValueError(f"--duration {args.duration:g} must be positive (seconds)")
    if not 0 < args.loop_step_ms <= 100:
        raise ValueError(f"--loop-step-ms {args.loop_step_ms:g} must be in (0, 100] ms")
    source = registry.load("bioloop.sources", "virtual")(duration=args.duration, chunk=args.loop_step_ms * 1e-3,
                                                          seed=args.seed)
    culture = source.culture
    sink = registry.load("bioloop.sinks", "virtual")(culture, late="deliver_now")
    out = Path(args.out) if args.out else Path(f"virtual-culture-seed{args.seed}.session.nix")
    # the culture's own clock drives the loop: offline, deterministic for a seed
    timing = LiveTiming(duration=None, hold=0.0, budget=max(5e-3, 2 * args.loop_step_ms * 1e-3))
    summary = run_loop(source, opts, out, sink=sink, timing=timing,
                       source_meta={"culture": "virtual", "seed": args.seed, "duration": args.duration,
                                    "loop_step_s": args.loop_step_ms * 1e-3})
    summary["culture"] = culture.counters.to_dict()
    summary["delivered_late"] = sink.delivered_late
    q = opts.stimulator.amplitude * opts.stimulator.phase_width
    q50 = float(getattr(culture, "params", None).stim_q50) if hasattr(culture, "params") else None
    if q50 is not None and q < 0.5 * q50:
        summary["warning"] = (f"stimulation charge {q * 1e9:.2g} nC per phase is far below the virtual "
                              f"culture's median activation threshold ({q50 * 1e9:.2g} nC at the electrode): "
                              "expect few evoked responses; e.g. --amplitude-ua 3 --phase-width-us 1000 "
                              "(3 nC, within the default safety limits)")
    return summary


def _format(s: dict) -> str:
    text = format_summary(s)
    if "culture" in s:
        text += f"\nculture        {s['culture'].get('direct_activations', 0)} neurons activated directly by stimulation"
    if "warning" in s:
        text += f"\nwarning        {s['warning']}"
    return text


format_text = _format
