"""Replay benchmark: TC89_DIV15_A (59 electrodes, 911.6 s, 208,277 spikes) at 50 kHz GCLK,
end to end (file read, encode, chip, stimulator, journal, session write). Prints one JSON object.

Beside the end-to-end figure it measures, in the same run, what no loop can avoid: reading the
file (``read_s``) and the same AXON frames through ``Chip.run_events`` alone, in one call
(``kernel_s``). ``overhead_ratio = end_to_end_wall_s / (read_s + kernel_s)`` is what the
session loop, the stimulator, the journal and the session file cost on top, as a ratio that
does not depend on the machine's speed. Each quantity is timed ``--repeats`` times and its
best (least disturbed) time is reported, so the headline ratio is ``best end_to_end_wall_s /
(best read_s + best kernel_s)``; ``runs`` keeps every run, with its own ratio.

Targets (issue 8): ``overhead_ratio`` <= 4 and ``realtime_factor`` >= 600 (200 before).
Run: python benchmarks/replay_tc89.py [--recordings ../shared/recordings] [--network relay]

Data: TC89_DIV15_A from sjemea (github.com/sje30/sjemea, inst/examples, GPL >= 2).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bioloop import registry
from bioloop.session.build import SessionOptions, build, run_replay
from bioloop.session.log import SessionLog
from bioloop.session.nixfile import write_session
from bioloop.session.runner import replay

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", default=os.environ.get("BIOLOOP_SHARED", str(HERE.parent.parent / "shared"))
                    + "/recordings")
    ap.add_argument("--network", default="relay")
    ap.add_argument("--gclk", type=float, default=50e3)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    args = ap.parse_args()
    path = Path(args.recordings) / "TC89_DIV15_A.nexTimestamps"
    opts = SessionOptions(network=args.network, gclk_hz=args.gclk)
    # warm-up (numba caches, imports) on a short window, not timed
    source = registry.load("bioloop.sources", "file")
    ev = source(path).read_all()
    warm = build(ev, SessionOptions(network=args.network, gclk_hz=args.gclk, t_start=0.0, t_stop=5.0))
    replay(ev, encoder=warm.encoder, backend=warm.backend, stimulator=warm.stimulator,
           log=SessionLog(ev.labels, args.gclk, warm.backend.n_clusters, {}))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            t = time.perf_counter()
            ev = source(path).read_all()
            read_s = time.perf_counter() - t
            # the kernel alone: the session's AXON frames (no blanking) through Chip.run_events once
            parts = build(ev, opts)
            win = parts.encoder.encode_window(ev)
            frames = win.chunk(0, win.n).frames
            t = time.perf_counter()
            parts.backend.chip.run_events(frames, until=win.cycle_stop)
            kernel_s = time.perf_counter() - t
            # the stages apart (no journal): loop, then session file
            parts = build(ev, opts)
            log = SessionLog(ev.labels, args.gclk, parts.backend.n_clusters, parts.meta)
            t = time.perf_counter()
            replay(ev, encoder=parts.encoder, backend=parts.backend, stimulator=parts.stimulator, log=log)
            loop_s = time.perf_counter() - t
            t = time.perf_counter()
            write_session(log, Path(tmp) / f"loop{k}.nix")
            write_s = time.perf_counter() - t
            # end to end: read + run_replay (build, loop with journal, session file)
            t = time.perf_counter()
            summary = run_replay(ev, opts, Path(tmp) / f"tc89-{k}.nix")
            end_to_end = time.perf_counter() - t + read_s
            runs.append({"read_s": read_s, "kernel_s": kernel_s, "loop_s": loop_s, "session_write_s": write_s,
                         "end_to_end_wall_s": end_to_end,
                         "overhead_ratio": end_to_end / (read_s + kernel_s)})
    # the best of each quantity: its times at under 0.2 s are at the mercy of the scheduler
    best = {k: min(r[k] for r in runs) for k in ("read_s", "kernel_s", "loop_s", "session_write_s",
                                                 "end_to_end_wall_s")}
    best["overhead_ratio"] = best["end_to_end_wall_s"] / (best["read_s"] + best["kernel_s"])
    out = {
        "benchmark": "replay_tc89",
        "network": args.network,
        "gclk_hz": args.gclk,
        "input_spikes": summary["input_spikes"],
        "fires": summary["fires"],
        "stimulations": summary["stimulations"],
        "duration_s": summary["duration_s"],
        "end_to_end_wall_s": best["end_to_end_wall_s"],
        "realtime_factor": summary["duration_s"] / best["end_to_end_wall_s"],
        "read_s": best["read_s"],
        "kernel_s": best["kernel_s"],
        "overhead_ratio": best["overhead_ratio"],
        "target_realtime_factor": 600,
        "target_overhead_ratio": 4,
        "stages_s": {k: best[k] for k in ("read_s", "kernel_s", "loop_s", "session_write_s")},
        "runs": runs,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
