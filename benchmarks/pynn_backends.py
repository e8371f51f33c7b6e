"""One PyNN script on ``bioloop.pynn`` (the chip model) and on ``pyNN.brian2``, side by side.

Workload: 16 Poisson sources (20 Hz) onto four layers of 64 IF_curr_delta neurons (256 neurons,
16 clusters on the chip, 192 routes), each layer driving the next with 8 synapses per neuron
(9 mV, 1 ms delay), ``--ms`` of biological time at ``--dt`` ms. Each backend: one warm-up run
(numba compilation on the chip; Brian2's code generation), then the best of ``--repeats``
timed runs of build + run + get_data. Brian2 uses its numpy target (no compiler needed).

Prints one JSON object: wall seconds of each, their ratio (Brian2 / chip), spike counts of each
layer (the two agree statistically, not spike for spike; see docs/pynn.md). Run from the
repository root::

    python benchmarks/pynn_backends.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def script(sim, *, ms: float, dt: float, seed: int = 1) -> list[int]:
    """The PyNN script; returns the spike count of each layer."""
    sim.setup(timestep=dt, **({"seed": seed} if sim.__name__ == "bioloop.pynn" else {}))
    src = sim.Population(16, sim.SpikeSourcePoisson(rate=20.0), label="in")
    layers = [sim.Population(64, sim.IF_curr_delta(), label=f"L{i}") for i in range(4)]
    sim.Projection(src, layers[0], sim.FixedProbabilityConnector(0.5, rng=sim.NumpyRNG(seed=3)),
                   sim.StaticSynapse(weight=9.0, delay=1.0))
    for a, b in zip(layers, layers[1:], strict=False):
        conns = [(i, j, 9.0, 1.0) for j in range(64)
                 for i in range(16 * (j // 16), 16 * (j // 16) + 16) if (i + j) % 2]
        sim.Projection(a, b, sim.FromListConnector(conns), sim.StaticSynapse())
    for layer in layers:
        layer.record("spikes")
    sim.run(ms)
    counts = [sum(len(st) for st in layer.get_data().segments[0].spiketrains) for layer in layers]
    sim.end()
    return counts


def timed(sim, repeats: int, **kw) -> tuple[float, list[int]]:
    script(sim, **kw)  # warm-up
    best, counts = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        counts = script(sim, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ms", type=float, default=500.0, help="biological time, ms")
    ap.add_argument("--dt", type=float, default=0.1, help="time step, ms (one GCLK cycle)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    import brian2

    brian2.prefs.codegen.target = "numpy"
    import pyNN.brian2 as b2

    import bioloop.pynn as chip

    chip_s, chip_counts = timed(chip, args.repeats, ms=args.ms, dt=args.dt)
    b2_s, b2_counts = timed(b2, args.repeats, ms=args.ms, dt=args.dt)
    out = {
        "benchmark": "pynn_backends",
        "workload": {"neurons": 256, "clusters": 16, "sources": 16, "ms": args.ms, "dt_ms": args.dt},
        "bioloop_pynn_wall_s": chip_s,
        "pynn_brian2_wall_s": b2_s,
        "brian2_over_chip": b2_s / chip_s,
        "chip_realtime_factor": args.ms / 1e3 / chip_s,
        "spikes_per_layer": {"bioloop.pynn": chip_counts, "pyNN.brian2": b2_counts},
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
