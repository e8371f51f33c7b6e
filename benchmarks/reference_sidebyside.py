"""Chip model vs the Brian2 chip-equivalent on every code-generation target; prints JSON.

Workload (defaults): 16 clusters, a seeded random network, seeded Poisson input at 10 Hz on
every AXON row, 10 s at GCLK 50 kHz (500,000 cycles). The chip model (event-driven, mismatch
off) and the chip-equivalent on each Brian2 target run on the same AXON frames; the spikes
must be equal. Reported per target: Brian2 code generation / compilation time (apart), the
simulation time, and the ratio of the Brian2 simulation time to the chip model's wall time.
The goal: the chip model at least 10x faster than Brian2's fastest target.

Compiled code goes to a fresh temporary cache (so the compile time is real) unless
``--cache-dir`` names one to reuse; nothing is written into the repository.

Usage::

    python benchmarks/reference_sidebyside.py [--duration S] [--targets numpy,cython,...]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time

from bioloop.backends.chip import ChipBackend
from bioloop.chip import ChipConfig
from bioloop.crosscheck import align, fires_equal, poisson_spikes
from bioloop.networks import network_from_name
from bioloop.reference_models.brian2_target import TARGETS
from bioloop.reference_models.chip_equivalent import ChipEquivalentBackend
from bioloop.types import AxonFrames


def time_chip(cfg, prog, frames, until, repeats: int) -> tuple[float, object]:
    """Best-of-``repeats`` wall time of the chip model (after a JIT warm-up run)."""
    warm = ChipBackend(cfg, n_clusters=prog.n_clusters, mismatch=False)
    warm.program(prog)
    sel = frames.cycles < 1000
    warm.evolve(AxonFrames(frames.cycles[sel], frames.cluster[sel], frames.axon[sel],
                           frames.gclk_hz), 1000)
    best, step = float("inf"), None
    for _ in range(repeats):
        be = ChipBackend(cfg, n_clusters=prog.n_clusters, mismatch=False)
        be.program(prog)
        t0 = time.perf_counter()
        step = be.evolve(frames, until)
        best = min(best, time.perf_counter() - t0)
    return best, step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=16)
    ap.add_argument("--rate", type=float, default=10.0, help="Poisson rate per AXON row, Hz")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of input")
    ap.add_argument("--gclk", type=float, default=50e3)
    ap.add_argument("--network", default="random")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help=f"comma-separated subset of {','.join(TARGETS)}")
    ap.add_argument("--cache-dir", help="reuse this Brian2 cache (default: a fresh temporary one)")
    ap.add_argument("--repeats", type=int, default=3, help="chip model runs (best is reported)")
    args = ap.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    bad = sorted(set(targets) - set(TARGETS))
    if bad:
        ap.error(f"unknown target(s) {bad}; valid: {list(TARGETS)}")

    cfg = ChipConfig(gclk_hz=args.gclk)
    seed = args.seed if args.network == "random" else None
    prog = network_from_name(args.network, args.clusters, seed=seed)
    aligned = align(poisson_spikes(args.rate, args.duration, args.clusters, args.seed), args.gclk)
    frames, until = aligned.frames, aligned.n_cycles
    chip_s, chip_step = time_chip(cfg, prog, frames, until, args.repeats)

    out = {
        "workload": {"clusters": args.clusters, "neurons": args.clusters * 16,
                     "rate_hz": args.rate, "duration_s": args.duration, "gclk_hz": args.gclk,
                     "cycles": until, "axon_pulses": len(frames), "merged": aligned.merged,
                     "network": prog.name, "fires": len(chip_step.fires)},
        "chip_wall_s": chip_s,
        "targets": {},
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "processor": platform.processor()},
    }
    with tempfile.TemporaryDirectory(prefix="bioloop-brian2-bench-") as tmp:
        cache = args.cache_dir or tmp
        for target in targets:
            ref = ChipEquivalentBackend(cfg, n_clusters=args.clusters, target=target,
                                        cache_dir=cache)
            ref.program(prog)
            t0 = time.perf_counter()
            step = ref.evolve(frames, until)
            wall = time.perf_counter() - t0
            info = ref.last_run
            out["targets"][target] = {
                "spikes_equal": fires_equal(step.fires, chip_step.fires)
                and step.ignored_refractory == chip_step.ignored_refractory,
                "wall_s": wall,
                "build_s": info.build_s,
                "compile_s": info.compile_s,
                "run_s": info.run_s,
                "ratio_run_to_chip": info.run_s / chip_s,
                "ratio_wall_to_chip": wall / chip_s,
            }
    ran = out["targets"]
    if ran:
        fastest = min(ran, key=lambda t: ran[t]["run_s"])
        out["fastest_target"] = fastest
        out["speedup_vs_fastest_run"] = ran[fastest]["run_s"] / chip_s
        out["goal_10x_met"] = bool(out["speedup_vs_fastest_run"] >= 10.0)
        out["all_spikes_equal"] = all(v["spikes_equal"] for v in ran.values())
    print(json.dumps(out, indent=2))
    return 0 if all(v["spikes_equal"] for v in ran.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
