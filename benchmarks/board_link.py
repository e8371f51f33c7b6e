"""The measurement board's link: what stepping a board costs, side by side with the chip model.

Workload: the shared-seed random network on ``--clusters`` clusters, Poisson input at ``--rate``
Hz on every AXON row, ``--seconds`` of chip time at ``--gclk``; run (a) in one ``evolve`` call
(b) one call up to each cycle with input (how the session runner steps a backend it cannot rewind)
and (c) one call per GCLK cycle, on the chip model and on the board emulator in this process. The board's spikes are checked equal to the
model's. Reported: wall time of each, the ratio board / model, and the I2C traffic the board
needed (bits, transactions, bus time at 100 kHz / 400 kHz / 1 MHz) with the bus load (bus time
over chip time; above 1 a real board could not keep up at that speed).

Prints one JSON object. Run from the repository root::

    python benchmarks/board_link.py
    python benchmarks/board_link.py --clusters 4 --seconds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from bioloop.adapters.board import protocol as P
from bioloop.adapters.board.backend import BoardBackend
from bioloop.backends.chip import ChipBackend
from bioloop.chip import ChipConfig
from bioloop.networks import random_network
from bioloop.types import AxonFrames


def run(backend, frames, n_cycles, mode):
    t0 = time.perf_counter()
    fires = []
    if mode != "one_call":
        # every_cycle: one call per GCLK cycle; per_input_cycle: up to and including the next
        # cycle with input, as the session runner steps a backend it cannot rewind
        ends = np.arange(1, n_cycles + 1) if mode == "every_cycle" else \
            np.r_[np.unique(frames.cycles) + 1, n_cycles]
        ends = np.unique(np.minimum(ends, n_cycles))
        starts = np.searchsorted(frames.cycles, np.r_[0, ends])
        for i, end in enumerate(ends):
            a, b = starts[i], starts[i + 1]
            step = backend.evolve(AxonFrames(frames.cycles[a:b], frames.cluster[a:b], frames.axon[a:b],
                                             frames.gclk_hz), int(end))
            fires.append(np.c_[step.fires.cycles, step.fires.cluster, step.fires.dend])
    else:
        step = backend.evolve(frames, n_cycles)
        fires.append(np.c_[step.fires.cycles, step.fires.cluster, step.fires.dend])
    return time.perf_counter() - t0, np.concatenate(fires)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clusters", type=int, default=1)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--gclk", type=float, default=1e3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    cfg = ChipConfig(gclk_hz=a.gclk)
    n = int(a.seconds * a.gclk)
    rng = np.random.default_rng(a.seed)
    frames = AxonFrames.from_dense(rng.random((n, a.clusters, 16)) < a.rate / a.gclk, a.gclk)
    prog = random_network(a.clusters, seed=a.seed)
    out = {"workload": vars(a), "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                            "load_1min": os.getloadavg()[0]}, "runs": {}}
    for mode in ("one_call", "per_input_cycle", "every_cycle"):
        chip = ChipBackend(cfg, n_clusters=a.clusters, seed=a.seed)
        chip.program(prog)
        board = BoardBackend(cfg, n_clusters=a.clusters, seed=a.seed, board="emulator://")
        board.program(prog)
        chip.evolve(AxonFrames([0], [0], [0], a.gclk), 1)  # warm-up (numba)
        chip.reset()
        emu = board.transport.emulator
        bits0, tr0 = emu.bits, emu.transactions
        t_chip, f_chip = run(chip, frames, n, mode)
        t_board, f_board = run(board, frames, n, mode)
        bits, tr = emu.bits - bits0, emu.transactions - tr0
        out["runs"][mode] = {
            "cycles": n, "input_events": len(frames), "fires": len(f_chip),
            "spikes_equal": bool(np.array_equal(f_chip, f_board)),
            "wall_chip_s": t_chip, "wall_board_s": t_board, "ratio_board_over_chip": t_board / t_chip,
            "bits": bits, "transactions": tr,
            "bus_time_s": {str(hz): P.bus_time(bits, tr, hz) for hz in P.BUS_SPEEDS_HZ},
            "bus_load": {str(hz): P.bus_time(bits, tr, hz) / a.seconds for hz in P.BUS_SPEEDS_HZ}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
