"""Replay benchmark: TC89_DIV15_A (59 electrodes, 911.6 s, 208,277 spikes) at 50 kHz GCLK,
end to end (file read, encode, chip, stimulator, journal, session write). Prints one JSON object.

Target (issue "Replay of recorded cultures"): at least 200x faster than real time.
Run: python benchmarks/replay_tc89.py [--recordings ../shared/recordings] [--network relay]

Data: TC89_DIV15_A from sjemea (github.com/sje30/sjemea, inst/examples, GPL >= 2).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bioloop import registry
from bioloop.session.build import SessionOptions, build, run_replay
from bioloop.session.log import SessionLog
from bioloop.session.runner import replay

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", default=str(HERE.parent.parent / "shared" / "recordings"))
    ap.add_argument("--network", default="relay")
    ap.add_argument("--gclk", type=float, default=50e3)
    args = ap.parse_args()
    path = Path(args.recordings) / "TC89_DIV15_A.nexTimestamps"
    opts = SessionOptions(network=args.network, gclk_hz=args.gclk)
    # warm-up (numba compilation, imports) on a short window, not timed
    src = registry.load("bioloop.sources", "file")(path)
    ev = src.read_all()
    warm = build(ev, SessionOptions(network=args.network, gclk_hz=args.gclk, t_start=0.0, t_stop=5.0))
    replay(ev, encoder=warm.encoder, backend=warm.backend, stimulator=warm.stimulator,
           log=SessionLog(ev.labels, args.gclk, warm.backend.n_clusters, {}))

    stages = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ev = registry.load("bioloop.sources", "file")(path).read_all()
        stages["read_s"] = time.perf_counter() - t
        parts = build(ev, opts)
        log = SessionLog(ev.labels, args.gclk, parts.backend.n_clusters, parts.meta)
        t = time.perf_counter()
        replay(ev, encoder=parts.encoder, backend=parts.backend, stimulator=parts.stimulator, log=log)
        stages["loop_s"] = time.perf_counter() - t
        from bioloop.session.nixfile import write_session

        t = time.perf_counter()
        write_session(log, Path(tmp) / "loop.nix")
        stages["session_write_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = run_replay(ev, opts, Path(tmp) / "tc89.nix")
        end_to_end = time.perf_counter() - t + stages["read_s"]
    out = {
        "benchmark": "replay_tc89",
        "network": args.network,
        "gclk_hz": args.gclk,
        "input_spikes": summary["input_spikes"],
        "fires": summary["fires"],
        "stimulations": summary["stimulations"],
        "duration_s": summary["duration_s"],
        "end_to_end_wall_s": end_to_end,
        "realtime_factor": summary["duration_s"] / end_to_end,
        "target_realtime_factor": 200,
        "stages_s": stages,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
