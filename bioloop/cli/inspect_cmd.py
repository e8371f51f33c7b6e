"""``bioloop inspect FILE``: a session's summary and rasters, or what a recording holds.

A session file (written by replay, demo or live) gives its summary and input / FIRE /
stimulation rasters. Any other file is opened as a recording, as ``replay`` would open it (the
``file`` source, by content), and reported as a user checks it before a replay: the detected
format, channel labels and positions, spike count and span, per-channel rates, the reader's
notes, and a raster PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._session_args import format_summary

NAME = "inspect"
HELP = ("print a session's summary and rasters, or a recording's format, channels, rates and "
        "notes with a raster")
_RATES_SHOWN = 64  #: per-channel rates printed in full up to this many channels (all in --json)


def add_arguments(p):
    p.add_argument("session", metavar="FILE",
                   help="a session file written by replay, demo or live, or any recording replay reads")
    p.add_argument("--png", metavar="FILE", help="raster image (default: <FILE>.png)")
    p.add_argument("--no-plot", action="store_true", help="summary only")
    p.add_argument("--start", type=float, help="plot from this time, s")
    p.add_argument("--stop", type=float, help="plot up to this time, s")
    p.add_argument("--format", help="recordings: force the reader (sjemea, cl, nwb, mcDataTool, "
                   "nexTimestamps, neo, or a Neo IO name)")
    p.add_argument("--well", help="recordings: 48-well plate files, the well to use, e.g. A1")


def run(args) -> dict:
    path = Path(args.session)
    if path.suffix.lower() == ".nix":
        from bioloop.session import read_session

        try:
            sf = read_session(path)
        except ValueError as err:
            if "holds no bioloop session block" not in str(err):
                raise
        else:
            if args.format is not None or args.well is not None:
                raise ValueError("--format and --well apply to recordings, not to a session file")
            return _run_session(args, sf)
    return _run_recording(args)


def _plot_range(args, t_start: float, t_stop: float):
    if args.start is None and args.stop is None:
        return None
    return (args.start if args.start is not None else t_start,
            args.stop if args.stop is not None else t_stop)


def _run_session(args, sf) -> dict:
    from bioloop.session.plots import session_raster

    out = dict(sf.summary)
    out["session"] = str(args.session)
    out["network"] = sf.meta.get("network")
    out["gclk_hz"] = sf.gclk_hz
    out["n_clusters"] = sf.n_clusters
    out["versions"] = sf.meta.get("versions", {})
    recorded = sf.meta.get("source", {}).get("recorded_stimulation")
    if recorded is not None:
        out["recorded_stimulations"] = len(recorded.get("times_s", []))
    if not args.no_plot:
        png = Path(args.png) if args.png else Path(str(args.session) + ".png")
        session_raster(sf, png, t_range=_plot_range(args, sf.input.t_start, sf.input.t_stop))
        out["raster"] = str(png)
    return out


def _run_recording(args) -> dict:
    from bioloop import registry

    src = registry.load("bioloop.sources", "file")(args.session, format=args.format,
                                                   well=args.well)
    ev = src.read_all()
    h = src.header
    span = float(ev.t_stop - ev.t_start)
    counts = ev.counts()
    rates = counts / span if span > 0 else np.full(counts.size, np.nan)
    pos = h.positions_um
    out = {
        "recording": str(args.session),
        "format": src.format,
        "reader": type(h).__name__,
        "n_channels": ev.n_channels,
        "labels": list(ev.labels),
        "positions_um": None if pos is None else np.asarray(pos).tolist(),
        "n_spikes": len(ev),
        "t_start": ev.t_start,
        "t_stop": ev.t_stop,
        "span_s": span,
        "segment_from": h.segment_from,
        "first_spike_s": float(ev.times[0]) if len(ev) else None,
        "last_spike_s": float(ev.times[-1]) if len(ev) else None,
        "rates_hz": {lab: float(r) for lab, r in zip(ev.labels, rates, strict=True)},
        "silent_channels": int(np.count_nonzero(counts == 0)),
        "notes": list(h.notes),
    }
    if args.well is not None:
        out["well"] = args.well
    stim = src.recorded_stimulation
    if stim is not None:
        out["recorded_stimulation"] = len(stim)
    if not args.no_plot:
        # one raster per well: a well's raster does not overwrite the whole plate's
        stem = Path(args.session).name + (f".{args.well}" if args.well is not None else "")
        png = Path(args.png) if args.png else Path(stem + ".png")
        where = f", well {args.well}" if args.well is not None else ""
        recording_raster(ev, png, title=f"{Path(args.session).name} ({src.format}{where})",
                         stimulation=stim, t_range=_plot_range(args, ev.t_start, ev.t_stop))
        out["raster"] = str(png)
    return out


def recording_raster(ev, path, *, title: str = "", stimulation=None, t_range=None) -> Path:
    """Raster of a recording's spikes (and the stimulation it logged) into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    n_rows = 2 if stimulation is not None and len(stimulation) else 1
    fig = Figure(figsize=(10, 6 if n_rows == 1 else 7), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(n_rows, 1, sharex=True,
                                      height_ratios=[4, 1][:n_rows]))
    lo, hi = t_range if t_range else (ev.t_start, ev.t_stop)
    sel = (ev.times >= lo) & (ev.times <= hi)
    ax = axes[0]
    ax.scatter(ev.times[sel], ev.channels[sel], s=1, c="k", marker="|")
    ax.set_ylabel("channel")
    ax.set_ylim(-0.5, max(ev.n_channels, 1) - 0.5)
    if ev.n_channels <= 32:
        ax.set_yticks(range(ev.n_channels), labels=list(ev.labels), fontsize="x-small")
    ax.set_title(f"{title}: {len(ev)} spikes on {ev.n_channels} channels")
    if n_rows == 2:
        ssel = (stimulation.times >= lo) & (stimulation.times <= hi)
        axes[1].scatter(stimulation.times[ssel], stimulation.channels[ssel], s=3, c="tab:green",
                        marker="|")
        axes[1].set_ylabel("channel")
        axes[1].set_title(f"stimulation recorded in the file ({len(stimulation)})")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(lo, hi if hi > lo else lo + 1.0)
    fig.savefig(path, dpi=100)
    return path


def _format_recording(s: dict) -> str:
    lines = [f"recording      {s['recording']}",
             f"format         {s['format']}",
             f"channels       {s['n_channels']} ({s['silent_channels']} silent)",
             f"spikes         {s['n_spikes']}",
             f"segment        {s['t_start']:g} .. {s['t_stop']:g} s ({s['span_s']:g} s; "
             f"{s['segment_from']})"]
    if s["first_spike_s"] is not None:
        lines.append(f"spikes span    {s['first_spike_s']:g} .. {s['last_spike_s']:g} s")
    if "recorded_stimulation" in s:
        lines.append(f"stimulation    {s['recorded_stimulation']} recorded in the file")
    pos = s["positions_um"]
    rates = list(s["rates_hz"].items())
    shown = rates if len(rates) <= _RATES_SHOWN else sorted(rates, key=lambda kv: -kv[1])[:10]
    head = "channels (label, rate Hz" + (", x, y um)" if pos is not None else ")")
    if len(rates) > _RATES_SHOWN:
        vals = np.array([r for _, r in rates])
        head += (f": the 10 fastest of {len(rates)} (median {np.median(vals):.3g} Hz; all in "
                 f"--json)")
    lines.append(head)
    index = {lab: i for i, (lab, _) in enumerate(rates)}
    for lab, r in shown:
        where = ""
        if pos is not None:
            x, y = pos[index[lab]]
            where = f"  {x:8.1f} {y:8.1f}"
        lines.append(f"  {lab:<16} {r:9.3f}{where}")
    lines.append("notes" + ("" if s["notes"] else "          none"))
    lines.extend(f"  - {n}" for n in s["notes"])
    if "raster" in s:
        lines.append(f"raster         {s['raster']}")
    return "\n".join(lines)


def format_text(s: dict) -> str:
    if "recording" in s:
        return _format_recording(s)
    head = f"session {s['session']}: network {s['network']}, GCLK {s['gclk_hz']:g} Hz, {s['n_clusters']} clusters"
    tail = f"\nraster         {s['raster']}" if "raster" in s else ""
    return head + "\n" + format_summary({k: v for k, v in s.items() if k != "session"}) + tail
