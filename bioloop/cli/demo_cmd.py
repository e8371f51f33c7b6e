"""``bioloop demo``: the built-in synthetic culture through the chip; a session and a raster."""

from __future__ import annotations

from pathlib import Path

from ._session_args import add_session_arguments, format_summary, session_options

NAME = "demo"
HELP = "replay the built-in synthetic bursting culture; writes a session and a PNG raster"


def add_arguments(p):
    p.add_argument("--out", default="bioloop-demo", metavar="DIR", help="output folder (default ./bioloop-demo)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of culture (default 30)")
    p.add_argument("--electrodes", type=int, default=60, help="electrodes (default 60)")
    add_session_arguments(p, window=False)


def run(args) -> dict:
    from bioloop.session import read_session
    from bioloop.session.build import run_replay
    from bioloop.session.plots import session_raster
    from bioloop.synthetic import synthetic_culture

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    events = synthetic_culture(n_electrodes=args.electrodes, duration=args.duration, seed=args.seed)
    opts = session_options(args)
    session = out / "demo-session.nix"
    if session.exists():
        session.unlink()
    meta = {"path": None, "synthetic_culture": {"seed": args.seed, "duration": args.duration,
                                                "n_electrodes": args.electrodes}}
    summary = run_replay(events, opts, session, source_meta=meta, quiet=args.quiet)
    png = session_raster(read_session(session), out / "demo-raster.png")
    summary["raster"] = str(png)
    return summary


def format_text(s: dict) -> str:
    return format_summary(s) + f"\nraster         {s['raster']}"
