"""``bioloop replay RECORDING``: a recorded culture through the chip, stimulation out."""

from __future__ import annotations

from pathlib import Path

from ._session_args import add_session_arguments, format_summary, session_options

NAME = "replay"
HELP = "replay a recording through the chip model and log what it would stimulate"


def add_arguments(p):
    p.add_argument("recording", help="any file Neo reads, a sjemea .h5, or a .nexTimestamps file")
    p.add_argument("--format", help="force the reader (sjemea, nexTimestamps, neo, or a Neo IO name)")
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
    src = open_source(args.recording, args.format, args.well)
    events = src.read_all()
    if len(events) == 0:
        raise ValueError(f"recording {args.recording!r} holds no spikes")
    out = Path(args.out) if args.out else Path(Path(args.recording).name + ".session.nix")
    meta = {"path": str(args.recording), "format": args.format, "well": args.well,
            "n_electrodes": events.n_channels}
    return run_replay(events, opts, out, source_meta=meta, speed=speed, quiet=args.quiet)


format_text = format_summary
