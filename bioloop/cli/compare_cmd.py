"""``bioloop compare``: the chip model against a Brian2 reference on the same input.

Input: a recording (``RECORDING``, any format the ``file`` source reads; a window of
``--duration`` seconds from ``--start``) or seeded Poisson trains on every AXON row
(``--poisson RATE``). The spikes are aligned to GCLK and fed, as the same AXON frames, to the
chip model (device mismatch off) and to the reference named by ``--reference``
(``chip-equivalent``: must give exactly the chip's spikes; ``ideal-lif``: a continuous-time
LIF mapped from the chip's parameters). Elephant statistics, each with its tolerance, give the
verdict "agree" or "differ". ``--sweep`` adds a GCLK sweep (1 to 50 kHz) of the chip against
``ideal-lif``; ``--report DIR`` writes a markdown summary and figures.

Backends and the recording reader are found by name in the registry (entry points), so this
module imports no reference model and no adapter.
"""

from __future__ import annotations

import math

from ._session_args import add_noc_arguments, noc_config

NAME = "compare"
HELP = "cross-check the chip model against a Brian2 reference with Elephant statistics"

TARGETS = ("numpy", "cython", "cpp_standalone")
POISSON_DEFAULT_S = 1.0
RECORDING_DEFAULT_S = 10.0


def add_arguments(p):
    p.add_argument("recording", nargs="?", metavar="RECORDING",
                   help="spike recording (Neo file, sjemea .h5, .nexTimestamps); or --poisson")
    p.add_argument("--poisson", type=float, metavar="RATE",
                   help="instead of a recording: seeded Poisson input at RATE Hz on every AXON row")
    p.add_argument("--reference", default="chip-equivalent", metavar="NAME",
                   help="registered reference backend: chip-equivalent (default), ideal-lif, or "
                        "board (with --board URI)")
    p.add_argument("--board", metavar="URI", help="with --reference board: the board "
                   "(emulator://, emulator+tcp://127.0.0.1:PORT, i2c:///dev/i2c-N, ftdi://...)")
    p.add_argument("--network", default="random", metavar="PRESET",
                   help="relay, burst[:K], lateral, random[:SEED] (default, seeded by --seed), "
                        "chain:L, ring:L, recurrent[:SEED], or a .npz / .toml network file")
    p.add_argument("--clusters", type=int, metavar="C",
                   help="at least C clusters (--poisson: the clusters driven, default 1; a recording: "
                        "default ceil(electrodes / 16)); at least what the network needs, the rest internal")
    add_noc_arguments(p)
    p.add_argument("--config", metavar="TOML", help="chip config file ([chip] table)")
    p.add_argument("--gclk", type=float, metavar="HZ", help="GCLK, 1000..50000 Hz (default: config)")
    p.add_argument("--duration", type=float, metavar="S",
                   help=f"seconds of input (default {POISSON_DEFAULT_S:g} s of Poisson input, "
                        f"{RECORDING_DEFAULT_S:g} s of a recording)")
    p.add_argument("--start", type=float, metavar="S",
                   help="recording: start of the window, s (default: the recording's start)")
    p.add_argument("--format", help="recording: force the reader (sjemea, nexTimestamps, neo, ...)")
    p.add_argument("--well", help="recording: the well of a multi-well plate file, e.g. A1")
    p.add_argument("--seed", type=int, default=0, help="seed of the Poisson input and of the "
                   "random network (default 0)")
    p.add_argument("--target", default="numpy", choices=TARGETS,
                   help="Brian2 code generation (default numpy; cython and cpp_standalone "
                        "need a C++ compiler)")
    p.add_argument("--cache-dir", metavar="DIR", help="Brian2 compiled-code cache (default "
                   "$BIOLOOP_BRIAN2_CACHE or ~/.cache/bioloop/brian2)")
    p.add_argument("--report", metavar="DIR", help="write summary.md and figures into DIR")
    p.add_argument("--sweep", action="store_true",
                   help="also sweep GCLK over 1..50 kHz against ideal-lif (table and plot)")


def _config(args):
    from bioloop.chip import ChipConfig

    cfg = ChipConfig.load(args.config) if args.config else ChipConfig()
    if args.gclk is not None:
        cfg = cfg.replace(gclk_hz=args.gclk)
    return cfg


def _poisson_input(args, cfg):
    from bioloop import validate as _v
    from bioloop.crosscheck import align, poisson_spikes

    if args.recording is not None:
        raise ValueError(f"give either RECORDING ({args.recording!r}) or --poisson, not both")
    duration = POISSON_DEFAULT_S if args.duration is None else args.duration
    if args.start is not None or args.format is not None or args.well is not None:
        raise ValueError("--start, --format and --well apply to a RECORDING, not to --poisson")
    n_clusters = _v.integer("--clusters", 1 if args.clusters is None else args.clusters, lo=1, hi=4096)
    spikes = poisson_spikes(args.poisson, duration, n_clusters, args.seed)
    aligned = align(spikes, cfg.gclk_hz)
    info = {"kind": "poisson", "rate_hz": args.poisson, "duration_s": duration,
            "seed": args.seed, "spikes": len(spikes), "axon_pulses": len(aligned.frames),
            "dropped": {"merged": aligned.merged}}
    return spikes, aligned.frames, aligned.n_cycles, n_clusters, info


def _recording_input(args, cfg):
    import numpy as np

    from bioloop import registry
    from bioloop.encoder import ElectrodeMap, Encoder, EncoderConfig, n_clusters_for, session_window
    from bioloop.types import SpikeEvents

    source_cls = registry.load("bioloop.sources", "file")
    src = source_cls(args.recording, format=args.format, well=args.well)
    events = src.read_all()
    duration = RECORDING_DEFAULT_S if args.duration is None else args.duration
    t0, t1 = session_window(events, args.start, duration=duration)
    enc = Encoder(EncoderConfig(gclk_hz=cfg.gclk_hz, t_start=t0, t_stop=t1),
                  ElectrodeMap.default(events.n_channels, events.labels))
    res = enc.encode(events)
    if res.axon_pulses == 0:
        raise ValueError(f"recording {args.recording!r} has no spikes in the window "
                         f"[{t0:g}, {t1:g}] s; choose another --start / --duration")
    keep = (events.times >= t0) & (events.times <= t1)
    window = SpikeEvents(events.times[keep] - t0, events.channels[keep], events.labels, 0.0, t1 - t0)
    n_clusters = n_clusters_for(events.n_channels)
    info = {"kind": "recording", "path": str(args.recording), "start_s": t0,
            "duration_s": t1 - t0, "electrodes": events.n_channels,
            "spikes": int(np.count_nonzero(keep)), "axon_pulses": res.axon_pulses,
            "outside_window": int(res.dropped.get("outside_window", 0)),
            "dropped": {k: int(v) for k, v in res.dropped.items() if k != "outside_window"}}
    return window, res.frames, res.cycle_stop, n_clusters, info


def _network(args, n_input: int):
    """The network on the chip's clusters: the input's ``n_input``, at least ``--clusters``, at
    least what the network needs (``chain:L``, ``ring:L``), as replay sizes its chip."""
    from bioloop.session.build import SessionOptions, chip_clusters, session_network

    n_clusters = chip_clusters(n_input, SessionOptions(network=args.network, n_clusters=args.clusters))
    return session_network(args.network, n_clusters, args.seed)


def run(args) -> dict:
    from bioloop.crosscheck import cross_check, gclk_sweep
    from bioloop.crosscheck.report import write_report

    if (args.recording is None) == (args.poisson is None):
        raise ValueError("give a RECORDING or --poisson RATE (exactly one)")
    if args.sweep and args.reference != "ideal-lif":
        raise ValueError(f"--sweep compares the chip with a continuous-time reference; it needs "
                         f"--reference ideal-lif, got {args.reference!r}")
    cfg = _config(args)
    if args.poisson is not None:
        spikes, frames, n_cycles, n_clusters, info = _poisson_input(args, cfg)
    else:
        spikes, frames, n_cycles, n_clusters, info = _recording_input(args, cfg)
    # as replay sizes its chip: a chain or ring longer than the input's clusters (or --clusters)
    # gets internal clusters, driven by routes only
    program = _network(args, n_clusters)
    n_clusters = program.n_clusters
    noc = noc_config(args)
    options = {"target": args.target, "cache_dir": args.cache_dir}
    if args.reference == "board" or args.board is not None:
        if args.reference != "board" or args.sweep:
            raise ValueError("--board goes with --reference board (and without --sweep)")
        options = {"board": args.board}
    result = cross_check(frames, program, cfg, reference=args.reference, until=n_cycles,
                         reference_options=options, noc=noc)
    out = result.summary()
    out["input"] = info
    out["network"] = program.name
    out["n_clusters"] = n_clusters
    out["routes"] = len(program.routes)
    out["noc"] = result.chip.describe.get("noc")
    sweep = None
    if args.sweep:
        sweep = gclk_sweep(spikes, program, cfg, reference=args.reference,
                           reference_options=options)
        out["sweep"] = sweep.summary()
    if args.report:
        notes = {"network": f"{program.name} ({n_clusters} clusters)",
                 "input": ", ".join(f"{k} {v}" for k, v in info.items() if k != "dropped"),
                 "dropped input": ", ".join(f"{k} {v}" for k, v in info["dropped"].items())}
        out["report"] = write_report(result, args.report, sweep=sweep, notes=notes)
    return out


def format_text(s: dict) -> str:
    lines = [f"chip model vs {s['reference']}: {s['verdict'].upper()}"]
    if s.get("spike_exact") is not None:
        lines[0] += f" (spikes identical: {s['spike_exact']})"
    lines += [f"  - {r}" for r in s.get("reasons", [])]
    for r in s.get("realised_levels", []):
        lines.append(f"{r['level']} = {r['requested']:g} is realised as {r['set']:g} by the "
                     f"{s['reference']}'s DAC; the chip model ran at {r['set']:g}")
    inp = s["input"]
    lines.append(f"input: {inp['kind']}, {inp['axon_pulses']} AXON pulses over "
                 f"{s['n_cycles']} cycles at {s['gclk_hz']:g} Hz; network {s['network']}")
    if s.get("routes"):
        n = s["noc"]
        lines.append(f"routes: {s['routes']} between {s['n_clusters']} clusters on a {n['mesh'][0]}x{n['mesh'][1]} "
                     f"mesh, {n['base_cycles']} + {n['hop_cycles']} per hop cycles, the same on both sides; "
                     f"packets routed: chip {s['counts']['chip']['routed']}, "
                     f"reference {s['counts']['reference']['routed']}")
    lines.append(f"{'statistic':<16} {'value':>10} {'tolerance':>10}  ok")
    for name, m in s["metrics"].items():
        v = "n/a" if m["value"] is None or (isinstance(m["value"], float) and math.isnan(m["value"])) \
            else f"{m['value']:.4g}"
        lines.append(f"{name:<16} {v:>10} {m['tolerance']:>10.4g}  {'yes' if m['ok'] else 'NO'}")
    c = s["counts"]
    lines.append(f"FIREs: chip {c['chip']['fires']}, reference {c['reference']['fires']}; "
                 f"wall: chip {s['chip_wall_s']:.3g} s (+ {s.get('chip_warmup_s') or 0:.3g} s loading its "
                 f"kernels), reference {s['reference_wall_s']:.3g} s "
                 + (f"(Brian2 {s['brian2_target']})" if s.get("brian2_target") else "(no Brian2)"))
    if "sweep" in s:
        lines.append("GCLK sweep (chip vs ideal-lif): GCLK Hz, van_rossum, sttc")
        for row in s["sweep"]["rows"]:
            vr = "n/a" if row["van_rossum"] is None else f"{row['van_rossum']:.3g}"
            st = "n/a" if row["sttc"] is None else f"{row['sttc']:.3g}"
            lines.append(f"  {row['gclk_hz']:>8g}  {vr:>8}  {st:>8}")
    if "report" in s:
        lines.append(f"report: {s['report']['folder']}")
    return "\n".join(lines)
