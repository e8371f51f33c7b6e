"""``bioloop live --input-stream NAME``: the closed loop against a live LSL spike stream."""

from __future__ import annotations

import signal
from pathlib import Path

from ._session_args import add_session_arguments, format_summary, session_options

NAME = "live"
HELP = "run the chip in closed loop with a live LSL spike stream; stimulation goes out over LSL"


def add_arguments(p):
    p.add_argument("--input-stream", metavar="NAME", help="LSL input stream name")
    p.add_argument("--input-type", metavar="TYPE",
                   help="find the input stream by its LSL type instead (any case: SpikeEvents, markers)")
    p.add_argument("--electrodes", type=int, metavar="N",
                   help="the input names no electrodes: its indices 0..N-1 are electrodes e0..e{N-1}")
    p.add_argument("--labels", metavar="FILE",
                   help="electrode labels of the input, one per line in index order (# comments)")
    p.add_argument("--voltage", action="store_true",
                   help="the input is a regular-rate float32 voltage stream (online threshold detection)")
    p.add_argument("--stim-stream", default="bioloop-stim", metavar="NAME",
                   help="name of the stimulation stream published (default bioloop-stim)")
    p.add_argument("--monitor-stream", metavar="NAME",
                   help="also publish the chip's FIREs as an LSL stream (cluster*16+dend = channel)")
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
    from bioloop import registry
    from bioloop.session.build import run_loop, warm_up_kernels
    from bioloop.session.live import LiveTiming

    if args.duration is not None and not args.duration > 0:
        raise ValueError(f"--duration {args.duration:g} must be positive (seconds)")
    out = Path(args.out)
    if out.suffix != ".nix" or not out.parent.is_dir():
        raise ValueError(f"--out {str(out)!r} must be a .nix file in an existing folder")
    opts = session_options(args)
    # the kernels are loaded before the stream is opened: spikes arriving meanwhile would fall
    # before the session's start
    warmup_s = warm_up_kernels(opts)
    kind = "lsl-voltage" if args.voltage else "lsl-spikes"
    source = registry.load("bioloop.sources", kind)(**_input_options(args))
    sink = monitor = None
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        sink = registry.load("bioloop.sinks", "lsl")(args.stim_stream, labels=source.labels)
        if args.monitor_stream:
            from bioloop.encoder import ElectrodeMap, n_clusters_for
            from bioloop.session.build import chip_clusters

            n_clusters = (ElectrodeMap.from_file(args.map, source.labels, allow_unmapped=args.allow_unmapped).n_clusters
                          if args.map else n_clusters_for(len(source.labels)))
            # every cluster of the chip, internal ones (--clusters, chain:L / ring:L) included
            monitor = registry.load("bioloop.monitors", "lsl")(args.monitor_stream, chip_clusters(n_clusters, opts))
        timing = LiveTiming(duration=args.duration, hold=args.hold_ms * 1e-3, budget=args.budget_ms * 1e-3)
        summary = run_loop(source, opts, out, sink=sink, timing=timing, monitor=monitor,
                           source_meta={"stream": args.input_stream, "kind": kind, "clock": "LSL local_clock"})
        summary["warmup_s"] += warmup_s
        summary["input"] = source.stats()
        summary["output"] = sink.stats()
        if monitor is not None:
            summary["monitor"] = monitor.stats()
        return summary
    finally:
        signal.signal(signal.SIGTERM, previous)
        for out_ in (sink, monitor):
            if out_ is not None:
                out_.close()
        source.close()


def _input_options(args) -> dict:
    """What the input source is asked for: the stream, and electrodes when the stream names none."""
    if (args.input_stream is None) == (args.input_type is None):
        raise ValueError("give the input stream by --input-stream NAME or by --input-type TYPE (one of them)")
    found = {"name": args.input_stream} if args.input_stream is not None else {"type": args.input_type}
    opts = {**found, "timeout": args.resolve_timeout}
    if args.electrodes is not None and args.labels is not None:
        raise ValueError("give --electrodes N or --labels FILE, not both")
    if args.electrodes is not None:
        if args.voltage:
            raise ValueError("--electrodes is for spike-event streams; a voltage stream has one electrode per "
                             "channel (name them with --labels FILE)")
        if args.electrodes < 1:
            raise ValueError(f"--electrodes {args.electrodes} must be at least 1")
        opts["n_electrodes"] = args.electrodes
    if args.labels is not None:
        opts["labels"] = read_labels(args.labels)
    return opts


def read_labels(path) -> tuple[str, ...]:
    r"""Electrode labels of a text file: one per line in index order; blank lines and ``#`` comments skipped.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file holds no label, or a label twice.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
    ...     _ = fh.write("# MCS 8x8\nch_12A\n\nch_13A  # second\n")
    >>> read_labels(fh.name)
    ('ch_12A', 'ch_13A')
    >>> os.unlink(fh.name)
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    labels = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    labels = [label for label in labels if label]
    if not labels:
        raise ValueError(f"--labels {str(path)!r} holds no label (one label per line, in electrode-index order)")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise ValueError(f"--labels {str(path)!r} names {label!r} twice (electrodes {seen[label]} and {i})")
        seen[label] = i
    return tuple(labels)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


format_text = format_summary
