"""Throughput of the chip model's event-driven path (``Chip.run_events``).

Workload (issue "The MRAM cluster model"): independent Poisson spike trains at ``--rate`` Hz on
every AXON input, GCLK ``--gclk`` Hz, ``--seconds`` of chip time, for C = 1 and C = 256
clusters (16 and 4,096 axons), on two networks:

- ``relay``: every row drives its own column with s = theta (w = 7 on the diagonal, PSP
  reference 2, threshold gen 7 / ref 2), everything else s = 0;
- ``random``: seeded random synapse and PSP-reference codes (0..7), theta 5;
- ``recurrent``: :func:`bioloop.networks.recurrent` (random codes and thresholds, and random
  routes from every dend to 2 rows anywhere on the chip, 1 cycle latency, the squarest mesh:
  16 x 16 for C = 256). Its throughput counts input plus routed events (packets delivered as
  AXON inputs), the target being the same 2 M/s.

Each measurement: one warm-up run (numba compilation and caches), then the best of
``--repeats`` timed runs of ``run_events`` on a reset chip. A shorter slice
(``--check-seconds``) is also run through the dense path (``Chip.run``, in chunks) and its
FIRE events compared with the event path's, bit for bit.

Prints one JSON object on stdout. Run from the repository root::

    python benchmarks/chip_throughput.py
    python benchmarks/chip_throughput.py --clusters 256 --repeats 5

See ``benchmarks/README.md`` for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numba
import numpy as np

from bioloop.chip import Chip, ChipConfig
from bioloop.networks import recurrent
from bioloop.types import AxonFrames

TARGET_EVENTS_PER_S = 2e6  #: for C = 256 on one core
DENSE_CHUNK_CYCLES = 2000  #: dense path in chunks: 2000 x 256 x 16 bools = 8 MB


def poisson_frames(n_clusters: int, rate_hz: float, seconds: float, gclk_hz: float,
                   rng: np.random.Generator) -> AxonFrames:
    """Independent Poisson trains on every axon, sampled at the GCLK edges.

    Two spikes of one axon inside one GCLK period stay two events here; the chip merges them
    into one pulse (reported as ``merged``).
    """
    n_axons = n_clusters * 16
    counts = rng.poisson(rate_hz * seconds, n_axons)
    axon_id = np.repeat(np.arange(n_axons), counts)
    times = rng.uniform(0.0, seconds, axon_id.size)
    order = np.argsort(times, kind="stable")
    cycles = np.floor(times[order] * gclk_hz).astype(np.int64)
    axon_id = axon_id[order]
    return AxonFrames(cycles, axon_id // 16, axon_id % 16, gclk_hz)


def network(name: str, n_clusters: int, seed: int) -> dict:
    if name == "relay":
        w = np.full((16, 16), 2)
        np.fill_diagonal(w, 7)
        return {"weights": w, "psp_ref": np.full(16, 2), "threshold_gen": 7, "threshold_ref": 2}
    if name == "random":
        rng = np.random.default_rng(seed)
        return {"weights": rng.integers(0, 8, (n_clusters, 16, 16)),
                "psp_ref": rng.integers(0, 8, (n_clusters, 16)),
                "threshold_gen": 7, "threshold_ref": 2}
    if name == "recurrent":
        p = recurrent(n_clusters, seed)
        return {"weights": p.weights, "psp_ref": p.psp_ref, "threshold_gen": p.threshold_gen,
                "threshold_ref": p.threshold_ref, "routes": p.routes}
    raise ValueError(f"network {name!r} is not known; choose 'relay', 'random' or 'recurrent'")


def make_chip(cfg: ChipConfig, n_clusters: int, prog: dict, seed: int) -> Chip:
    chip = Chip(cfg, n_clusters=n_clusters, seed=seed)
    chip.program(**prog)
    return chip


def time_event_path(chip: Chip, frames: AxonFrames, n_cycles: int, repeats: int) -> dict:
    chip.reset()
    chip.run_events(frames, until=n_cycles)  # warm-up: compilation, caches
    runs, cpu = [], []
    result = None
    for _ in range(repeats):
        chip.reset()
        c0, t0 = time.process_time(), time.perf_counter()
        result = chip.run_events(frames, until=n_cycles)
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"runs_s": runs, "best_s": min(runs), "cpu_runs_s": cpu, "best_cpu_s": min(cpu),
            "result": result}


def dense_check(cfg: ChipConfig, n_clusters: int, prog: dict, seed: int, frames: AxonFrames,
                n_cycles: int) -> dict:
    """Event path and dense path on the first ``n_cycles`` cycles: identical FIRE events?"""
    keep = frames.cycles < n_cycles
    sub = AxonFrames(frames.cycles[keep], frames.cluster[keep], frames.axon[keep], frames.gclk_hz)
    ev_chip = make_chip(cfg, n_clusters, prog, seed)
    ev = ev_chip.run_events(sub, until=n_cycles).fires
    ev_key = (ev.cycles * n_clusters + ev.cluster) * 16 + ev.dend

    dn_chip = make_chip(cfg, n_clusters, prog, seed)
    dn_keys = []
    t0 = time.perf_counter()
    bounds = np.searchsorted(sub.cycles, np.arange(0, n_cycles + DENSE_CHUNK_CYCLES,
                                                    DENSE_CHUNK_CYCLES))
    for i, lo in enumerate(range(0, n_cycles, DENSE_CHUNK_CYCLES)):
        hi = min(lo + DENSE_CHUNK_CYCLES, n_cycles)
        axons = np.zeros((hi - lo, n_clusters, 16), bool)
        a, b = bounds[i], bounds[i + 1]
        axons[sub.cycles[a:b] - lo, sub.cluster[a:b], sub.axon[a:b]] = True
        t, c, n = np.nonzero(dn_chip.run(axons).fires)
        dn_keys.append(((t + lo) * n_clusters + c) * 16 + n)
    dense_s = time.perf_counter() - t0
    dn_key = np.concatenate(dn_keys) if dn_keys else np.zeros(0, np.int64)
    identical = bool(np.array_equal(np.sort(ev_key), np.sort(dn_key)))
    return {"chip_seconds": n_cycles / cfg.gclk_hz, "cycles": n_cycles, "input_events": len(sub),
            "fires_event_path": int(ev_key.size), "fires_dense_path": int(dn_key.size),
            "identical_spikes": identical, "dense_path_s": dense_s,
            "dense_cycles_per_s": n_cycles / dense_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="chip time per run (s)")
    p.add_argument("--gclk", type=float, default=50e3, help="GCLK in Hz (1e3..50e3)")
    p.add_argument("--rate", type=float, default=10.0, help="Poisson rate per axon (Hz)")
    p.add_argument("--clusters", type=int, nargs="+", default=[1, 256])
    p.add_argument("--networks", nargs="+", default=["relay", "random", "recurrent"])
    p.add_argument("--repeats", type=int, default=3, help="timed runs (best is reported)")
    p.add_argument("--check-seconds", type=float, default=None,
                   help="chip time of the dense-vs-event check (default: all of it for C <= 16, "
                        "1 s above)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    if not args.seconds > 0 or not args.rate >= 0:
        p.error(f"--seconds must be > 0 and --rate >= 0, got {args.seconds}, {args.rate}")
    try:
        cfg = ChipConfig(gclk_hz=args.gclk)
    except (TypeError, ValueError) as exc:
        p.error(str(exc))
    n_cycles = int(round(args.seconds * cfg.gclk_hz))

    results = []
    for C in args.clusters:
        frames = poisson_frames(C, args.rate, args.seconds, cfg.gclk_hz,
                                np.random.default_rng([args.seed, C]))
        for name in args.networks:
            prog = network(name, C, args.seed)
            chip = make_chip(cfg, C, prog, args.seed)
            timing = time_event_path(chip, frames, n_cycles, args.repeats)
            r = timing["result"]
            check_s = args.check_seconds
            if check_s is None:
                check_s = args.seconds if C <= 16 else min(1.0, args.seconds)
            check = dense_check(cfg, C, prog, args.seed, frames,
                                int(round(check_s * cfg.gclk_hz)))
            events = len(frames) + r.routed
            results.append({
                "clusters": C, "axons": 16 * C, "network": name,
                "chip_seconds": args.seconds, "cycles": n_cycles,
                "input_events": len(frames), "axon_pulses": r.axon_pulses, "merged": r.merged,
                "fires": len(r.fires), "ignored_refractory": r.ignored_refractory,
                "routes": len(prog.get("routes") or ()), "packets": r.packets, "routed": r.routed,
                "routed_merged": r.routed_merged, "in_flight": r.in_flight,
                "event_path": {
                    "best_s": timing["best_s"], "runs_s": timing["runs_s"],
                    "input_events_per_s": len(frames) / timing["best_s"],
                    "input_plus_routed_events_per_s": events / timing["best_s"],
                    "real_time_factor": args.seconds / timing["best_s"],
                    "best_cpu_s": timing["best_cpu_s"], "cpu_runs_s": timing["cpu_runs_s"],
                    "input_events_per_cpu_s": len(frames) / max(timing["best_cpu_s"], 1e-9),
                    "input_plus_routed_events_per_cpu_s": events / max(timing["best_cpu_s"], 1e-9),
                },
                "dense_check": check,
            })
    big = [r["event_path"] for r in results if r["clusters"] == 256 and r["network"] != "recurrent"]

    def met(key):
        return all(e[key] >= TARGET_EVENTS_PER_S for e in big) if big else None

    rec = [r["event_path"] for r in results if r["clusters"] == 256 and r["network"] == "recurrent"]

    def met_recurrent(key):
        return all(e[key] >= TARGET_EVENTS_PER_S for e in rec) if rec else None

    summary = {
        "benchmark": "chip_throughput",
        "workload": {"rate_hz": args.rate, "gclk_hz": cfg.gclk_hz, "chip_seconds": args.seconds,
                     "repeats": args.repeats, "seed": args.seed},
        "target": {"clusters": 256, "input_events_per_s": TARGET_EVENTS_PER_S,
                   "met_wall": met("input_events_per_s"),
                   "met_cpu": met("input_events_per_cpu_s"),
                   "recurrent_input_plus_routed_events_per_s": TARGET_EVENTS_PER_S,
                   "recurrent_met_wall": met_recurrent("input_plus_routed_events_per_s"),
                   "recurrent_met_cpu": met_recurrent("input_plus_routed_events_per_cpu_s")},
        "all_dense_checks_identical": all(r["dense_check"]["identical_spikes"] for r in results),
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "numba": numba.__version__, "cpu_count": os.cpu_count(),
                    "numba_threads": numba.get_num_threads(),
                    "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
        "results": results,
    }
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
