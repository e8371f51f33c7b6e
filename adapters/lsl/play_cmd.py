"""``bioloop play RECORDING --stream NAME``: publish a recording as a live LSL spike stream.

The recording is replayed in real time (or ``--speed`` times faster) as an LSL spike-event
stream in bioloop's profile, on this machine only unless ``--scope`` widens discovery. Ctrl-C
ends the replay cleanly and still prints the summary.

A plug-in verb: ``bioloop.cli`` finds it through the ``bioloop.verbs`` entry-point group, so
the core never imports it. Heavy modules load inside :func:`run`, keeping ``bioloop --help`` fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .config import SCOPES

NAME = "play"
HELP = "publish a recording as a live LSL spike-event stream, in real time"



def add_arguments(p):
    p.add_argument("recording", metavar="RECORDING", help="spike recording (any format bioloop "
                   "reads: Neo files, sjemea HDF5, ...)")
    p.add_argument("--stream", required=True, metavar="NAME", help="LSL stream name")
    p.add_argument("--format", help="recording format (default: sniffed from the file)")
    p.add_argument("--well", help="multi-well plate files: the well to play (e.g. A1)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1)")
    p.add_argument("--start", type=float, metavar="S", help="first second of the recording to "
                   "play (default: its start)")
    p.add_argument("--stop", type=float, metavar="S", help="second of the recording to stop at "
                   "(default: its end)")
    p.add_argument("--source-id", metavar="ID", help="LSL source_id (default bioloop:<stream>); "
                   "inlets reconnect to a restarted replay with the same id")
    p.add_argument("--type", default="SpikeEvents", dest="stream_type",
                   help="LSL content type (default SpikeEvents)")
    p.add_argument("--wait-for-consumer", type=float, default=0.0, metavar="S",
                   help="wait up to S seconds for an inlet before starting (default 0)")
    p.add_argument("--linger", type=float, default=0.25, metavar="S",
                   help="keep the stream up S seconds after the end (default 0.25)")
    p.add_argument("--scope", choices=SCOPES, default="machine",
                   help="LSL discovery scope (default machine: this computer only)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _load_recording(path: str, *, format: str | None, well: str | None):
    """(SpikeEvents, electrode positions in um or None) of the recording, via the file adapter."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"recording not found: {path}")
    files = importlib.import_module("bioloop.adapters.files")
    rec = files.open_recording(p, format=format, well=well)
    try:
        return rec.read_all(), getattr(rec, "positions_um", None)
    finally:
        rec.close()


def run(args) -> dict:
    lsl = importlib.import_module("bioloop.adapters.lsl")
    cfg = lsl.configure_lsl(scope=args.scope)  # first: a missing liblsl fails before any work
    events, positions = _load_recording(args.recording, format=args.format, well=args.well)
    outlet = lsl.SpikeEventOutlet(args.stream, events.labels, source_id=args.source_id,
                                  stream_type=args.stream_type, positions=positions)
    try:
        waited = False
        if args.wait_for_consumer > 0:
            waited = outlet.wait_for_consumers(args.wait_for_consumer)
        from bioloop.progress import progress_bar

        with progress_bar("playing", 100.0, unit="%", quiet=args.quiet) as bar:
            def show(fraction: float, pushed: int) -> None:
                bar.n = round(100 * fraction, 1)
                bar.set_postfix(spikes=pushed, refresh=True)

            report = lsl.play_events(events, outlet, speed=args.speed, start=args.start,
                                     stop=args.stop, linger=args.linger, progress=show)
    finally:
        outlet.close()
    out = report.to_dict()
    out["recording"] = str(args.recording)
    out["scope"] = cfg.scope
    out["consumer_before_start"] = waited if args.wait_for_consumer > 0 else None
    return out


def format_text(s: dict) -> str:
    late = s["lateness_ms"]
    lat = ("n/a" if late["p50"] is None else
           f"p50 {late['p50']:.3f} ms, p99 {late['p99']:.3f} ms, max {late['max']:.3f} ms")
    lines = [
        f"{'interrupted' if s['interrupted'] else 'played'} {s['recording']} as LSL stream "
        f"{s['stream']!r} (source_id {s['source_id']!r}, scope {s['scope']})",
        f"  window {s['window_start']:g}..{s['window_stop']:g} s at speed {s['speed']:g}: "
        f"{s['samples_pushed']} spikes on {s['n_electrodes']} electrodes in "
        f"{s['wall_time_s']:.2f} s wall time",
        f"  not played: {s['spikes_outside_window']} outside the window, "
        f"{s['spikes_not_played']} cut short, refused {s['refused']}",
        f"  lateness: {lat}",
    ]
    return "\n".join(lines)
