"""``bioloop inspect SESSION.nix``: the summary of a session and its rasters."""

from __future__ import annotations

from pathlib import Path

from ._session_args import format_summary

NAME = "inspect"
HELP = "print a session's summary and draw input / FIRE / stimulation rasters"


def add_arguments(p):
    p.add_argument("session", help="a session file written by replay, demo or live")
    p.add_argument("--png", metavar="FILE", help="raster image (default: <session>.png)")
    p.add_argument("--no-plot", action="store_true", help="summary only")
    p.add_argument("--start", type=float, help="plot from this time, s")
    p.add_argument("--stop", type=float, help="plot up to this time, s")


def run(args) -> dict:
    from bioloop.session import read_session
    from bioloop.session.plots import session_raster

    sf = read_session(args.session)
    out = dict(sf.summary)
    out["session"] = str(args.session)
    out["network"] = sf.meta.get("network")
    out["gclk_hz"] = sf.gclk_hz
    out["n_clusters"] = sf.n_clusters
    out["versions"] = sf.meta.get("versions", {})
    if not args.no_plot:
        png = Path(args.png) if args.png else Path(str(args.session) + ".png")
        rng = None
        if args.start is not None or args.stop is not None:
            rng = (args.start if args.start is not None else sf.input.t_start,
                   args.stop if args.stop is not None else sf.input.t_stop)
        session_raster(sf, png, t_range=rng)
        out["raster"] = str(png)
    return out


def format_text(s: dict) -> str:
    head = f"session {s['session']}: network {s['network']}, GCLK {s['gclk_hz']:g} Hz, {s['n_clusters']} clusters"
    tail = f"\nraster         {s['raster']}" if "raster" in s else ""
    return head + "\n" + format_summary({k: v for k, v in s.items() if k != "session"}) + tail
