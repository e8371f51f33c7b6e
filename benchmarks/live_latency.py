"""Live-loop latency against LSL's own loopback latency, measured side by side in one run.

Workload (issue "Live closed loop over LSL"): a seeded synthetic culture (60 electrodes,
background firing plus network bursts; ``bioloop.synthetic``) pushed in real time by a plain
pylsl outlet in one process, each spike stamped with ``local_clock()`` at its push (as in the
loopback measurement, so the player's own lateness is not counted), ``bioloop live --gclk
50000`` in another (relay network, chip model with mismatch); the stimulation stream is
published (nobody needs to read it).
Latency per stimulation = LSL clock at the push - timestamp of the triggering input spike,
which includes LSL's transport from the player to the live process; LSL's loopback latency
(``benchmarks/lsl_loopback.py``, ``pull_chunk`` mode with ``min_samples=1``, how the live source
reads) is measured in the same run, *while the session runs* (from the player's first push,
for ``--duration`` seconds at 500 Hz), so both numbers see the same machine load and the
latency bioloop adds can be read off. ``lsl_loopback_alone_ms`` is the same measurement after
the session, alone (for reference; on a shared machine its load is another one).

Targets (issue 8), as ratios of the same run: bioloop adds no more than LSL itself,
``added_over_loopback.p50 = added_by_bioloop_ms.p50 / lsl_loopback_ms.p50 <= 1`` and
``added_over_loopback.p99 = added_by_bioloop_ms.p99 / lsl_loopback_ms.p99 <= 2``.
The session is run ``--rounds`` times (default 3), each round with its own loopback beside it;
``added_over_loopback`` is the median over rounds of each ratio (a transient on a shared machine
spoils a round, not the figure), the other top-level figures are the median round's (by the p50
ratio), and ``per_round`` keeps every round. A round lasts ``--duration`` 60 s by default: its
p99 then stands on about 8,300 stimulations (about 80 above it) and on the few multi-ms stalls a
shared machine deals out per minute; in 20 s rounds (about 2,650 stimulations, 27 above the
p99) a single cluster of stalls decided a round's p99 ratio, which ranged 0.8-4.8 on unchanged
code where 60 s rounds ranged 1.2-1.8.
Run: python benchmarks/live_latency.py [--duration 60] [--rounds 3] — prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: push rate of the loopback measurement, Hz (one sample per pull, as the live loop mostly sees)
LOOPBACK_RATE = 500.0
CFG = HERE.parent / "tests" / "lsl_machine_only.cfg"


def pusher(name: str, path: str) -> None:
    """Push the spikes in real time, each stamped with local_clock() at its push."""
    import time

    from bioloop.adapters.lsl import configure_lsl

    configure_lsl()
    import pylsl

    with np.load(path, allow_pickle=False) as z:
        times, chans = z["times"], z["channels"]
    info = pylsl.StreamInfo(name, "SpikeEvents", 1, pylsl.IRREGULAR_RATE, pylsl.cf_int32, "bench-" + name)
    els = info.desc().append_child("electrodes")
    for i in range(int(chans.max()) + 1):
        els.append_child("electrode").append_child_value("label", f"el{i:02d}")
    out = pylsl.StreamOutlet(info)
    if not out.wait_for_consumers(60):
        sys.exit("no consumer")
    time.sleep(1.0)
    print("pushing", flush=True)  # the parent starts the loopback measurement now, beside us
    start = pylsl.local_clock()
    for t, c in zip(times.tolist(), chans.tolist(), strict=True):
        while (now := pylsl.local_clock()) < start + t:
            time.sleep(min(start + t - now, 0.0005))
        out.push_sample([c], pylsl.local_clock())
    time.sleep(60)


def one_round(args, lsl_loopback) -> dict:
    """One session with LSL's loopback measured beside it; the figures of that round."""
    from bioloop.synthetic import synthetic_culture

    env = dict(os.environ, LSLAPICFG=str(CFG))
    name = f"bench-live-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        ev = synthetic_culture(n_electrodes=60, duration=args.duration + 10, seed=1)
        spikes = Path(tmp) / "spikes.npz"
        np.savez(spikes, times=ev.times, channels=ev.channels)
        live = subprocess.Popen([sys.executable, "-m", "bioloop.cli", "live", "--input-stream", name,
                                 "--stim-stream", name + "-stim", "--gclk", str(args.gclk), "--duration",
                                 str(args.duration), "--out", str(Path(tmp) / "live.nix"), "--json", "--quiet",
                                 "--min-interval-ms", "1", "--rate-cap", "10000", "--resolve-timeout", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        play = subprocess.Popen([sys.executable, __file__, "--pusher", name, str(spikes)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        # LSL's loopback is measured while the session runs, on the same machine load: on a
        # shared machine, a loopback measured before or after the session sees another load
        if play.stdout.readline().strip() != "pushing":
            live.kill()
            sys.exit(f"the player did not start: {play.communicate()[1].strip()[-300:]}; "
                     f"bioloop live said: {live.communicate()[1].strip()[-500:]}")
        loop = lsl_loopback.measure("pull_chunk", int(LOOPBACK_RATE * args.duration), LOOPBACK_RATE)
        out, err = live.communicate(timeout=args.duration + 120)
        play.kill()
        play.communicate()
        if live.returncode != 0:
            sys.exit(f"bioloop live failed: {err.strip()[-500:]}")
        summary = json.loads(out.strip().splitlines()[-1])
    lat = summary["latency_ms"]
    lb = {k: v / 1e3 for k, v in loop["latency_us"].items()}
    added = {"p50": lat["p50"] - lb["p50"], "p99": lat["p99"] - lb["p99"]}
    return {
        "duration_s": summary["duration_s"],
        "input_spikes": summary["input_spikes"],
        "stimulations": summary["stimulations"],
        "refused": summary["refused"],
        "delayed_to_next_edge": summary.get("delayed_to_next_edge"),
        "latency_ms": lat,
        "lsl_loopback_ms": lb,
        "lsl_loopback_received": loop["received"],
        "added_by_bioloop_ms": added,
        "added_over_loopback": {"p50": added["p50"] / lb["p50"], "p99": added["p99"] / lb["p99"]},
        "load_average": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--gclk", type=float, default=50e3)
    ap.add_argument("--rounds", type=int, default=3,
                    help="sessions, each with its own loopback beside it; the median ratio is reported")
    ap.add_argument("--pusher", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pusher:
        pusher(*args.pusher)
        return
    if args.rounds < 1:
        sys.exit(f"--rounds {args.rounds} must be at least 1")
    sys.path.insert(0, str(HERE))
    import lsl_loopback

    rounds = [one_round(args, lsl_loopback) for _ in range(args.rounds)]
    alone = lsl_loopback.measure("pull_chunk", 2000, LOOPBACK_RATE)
    # the median round by each ratio (a transient on a shared machine spoils one round, not the figure)
    ratio = {q: float(np.median([r["added_over_loopback"][q] for r in rounds])) for q in ("p50", "p99")}
    mid = sorted(rounds, key=lambda r: r["added_over_loopback"]["p50"])[len(rounds) // 2]
    result = {
        "benchmark": "live_latency",
        "gclk_hz": args.gclk,
        "rounds": len(rounds),
        **{k: mid[k] for k in ("duration_s", "input_spikes", "stimulations", "refused", "delayed_to_next_edge",
                               "latency_ms", "lsl_loopback_ms", "lsl_loopback_received", "added_by_bioloop_ms")},
        "lsl_loopback_alone_ms": {k: v / 1e3 for k, v in alone["latency_us"].items()},
        "added_over_loopback": ratio,
        "target_added_over_loopback": {"p50": 1.0, "p99": 2.0},
        "per_round": rounds,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
