"""``bioloop board info|serve``: what a lab with the real board needs to know, and the emulator
as a process.

``bioloop board info --board URI`` identifies the board and measures, in lock-step (one
GCLK cycle per step, every AXON row of every cluster active each cycle: the runner's
non-rewindable path at its busiest), the I2C traffic per cycle at 100 kHz, 400 kHz and 1 MHz.
From it: the highest GCLK at which the board can be stepped in real time over each bus speed,
and the latency a closed loop through the board adds per cycle. An emulator URI is measured
itself; a real board is only identified (its MRAM holds the lab's image, which a measurement
would overwrite) and the measurement runs on an emulator with its clusters and FIFO depths.

``bioloop board serve --port PORT`` runs a board emulator as a separate process on
127.0.0.1 (``emulator+tcp://127.0.0.1:PORT``) until it is stopped.

A plug-in verb found through the ``bioloop.verbs`` entry point.
"""

from __future__ import annotations

import math
import signal
import sys
import time

NAME = "board"
HELP = "the measurement board: 'info' (identify, real-time limits) or 'serve' (emulator process)"

N_CYCLES = 200


def add_arguments(p):
    p.add_argument("action", choices=["info", "serve"], help="info: identify and measure; serve: run an emulator")
    p.add_argument("--board", metavar="URI", help="info: the board (emulator://, emulator+tcp://127.0.0.1:PORT, "
                   "i2c:///dev/i2c-N, ftdi://ftdi:232h/1)")
    p.add_argument("--clusters", type=int, default=1, help="clusters to drive (info) or to emulate (serve)")
    p.add_argument("--gclk", type=float, metavar="HZ", help="info: GCLK of the measurement (default 1000)")
    p.add_argument("--cycles", type=int, help=f"info: lock-step cycles measured per bus speed (default {N_CYCLES})")
    p.add_argument("--port", type=int, help="serve: TCP port on 127.0.0.1 (0, the default: any free port)")
    p.add_argument("--seed", type=int, help="serve: seed of the emulated silicon")
    p.add_argument("--ideal", action="store_true", help="serve: silicon without device mismatch")
    p.add_argument("--chip-config", metavar="TOML", help="serve: the silicon's chip config ([chip] table)")
    p.add_argument("--address", help="serve: 7-bit I2C address (default 0x3a)")
    p.add_argument("--protocol", default=None, metavar="MAJOR.MINOR", help="serve: protocol version reported")


#: options of one action only: given to the other, they would be silently ignored
_ONLY = {"info": ("board", "gclk", "cycles"),
         "serve": ("port", "seed", "ideal", "chip_config", "address", "protocol")}


def run(args) -> dict:
    for action, names in _ONLY.items():
        given = [n for n in names if getattr(args, n) not in (None, False)]
        if action != args.action and given:
            opts = ", ".join("--" + n.replace("_", "-") for n in given)
            verb = "applies" if len(given) == 1 else "apply"
            raise ValueError(f"{opts} {verb} to 'bioloop board {action}', not to 'board {args.action}'")
    if args.action == "serve":
        return _serve(args)
    if not args.board:
        raise ValueError("bioloop board info needs --board URI")
    return measure(args.board, n_clusters=args.clusters, gclk_hz=1e3 if args.gclk is None else args.gclk,
                   n_cycles=N_CYCLES if args.cycles is None else args.cycles)


def measure(uri: str, *, n_clusters: int = 1, gclk_hz: float = 1e3, n_cycles: int = N_CYCLES) -> dict:
    """Identify the board at ``uri`` and measure lock-step stepping at each bus speed."""
    import numpy as np

    from bioloop import validate as _v
    from bioloop.chip import ChipConfig
    from bioloop.networks import relay
    from bioloop.types import AxonFrames

    from . import protocol as P
    from .backend import BoardBackend
    from .driver import BoardDriver
    from .transports import open_transport

    n_cycles = _v.integer("--cycles", n_cycles, lo=10, hi=100_000)
    n_clusters = _v.integer("--clusters", n_clusters, lo=1, hi=255)
    # identify the board; a real one is only identified: its MRAM image is the lab's, so the
    # measurement runs on an emulator with the same clusters and FIFOs
    transport, u = open_transport(uri)
    try:
        ident = BoardDriver(transport, u.address, where=uri).open()
        emulated = transport.bus_stats() is not None
    finally:
        transport.close()
    measured_on = uri if emulated else (f"emulator://?clusters={ident.n_clusters}&axon_depth={ident.axon_depth}"
                                        f"&fire_depth={ident.fire_depth}")
    be = BoardBackend(ChipConfig(gclk_hz=gclk_hz), n_clusters=n_clusters, board=measured_on, mismatch=False)
    try:
        be.program(relay(n_clusters))
        be.evolve(AxonFrames([0], [0], [0], gclk_hz), until=1)  # warm up (compiled kernels)
        rows = []
        for hz in P.BUS_SPEEDS_HZ:
            be.transport.set_bus_hz(hz)
            be.reset()
            link0 = dict(vars(be.driver.link))
            polls0 = be.polls
            wall0 = time.perf_counter()
            fires = 0
            for c in range(n_cycles):
                cl = np.repeat(np.arange(n_clusters), 16)
                ax = np.tile(np.arange(16), n_clusters)
                fires += len(be.evolve(AxonFrames(np.full(cl.size, c), cl, ax, gclk_hz), until=c + 1).fires)
            wall = (time.perf_counter() - wall0) / n_cycles
            link = be.driver.link
            bits = (link.bits - link0["bits"]) / n_cycles
            trans = (link.transactions - link0["transactions"]) / n_cycles
            t_bus = P.bus_time(bits, trans, hz)
            rows.append({"bus_hz": hz, "bits_per_cycle": bits, "transactions_per_cycle": trans,
                         "polls_per_cycle": (be.polls - polls0) / n_cycles,
                         "bus_time_per_cycle_s": t_bus, "latency_added_s": t_bus,
                         "max_gclk_hz": _max_gclk(t_bus), "host_time_per_cycle_s": wall,
                         "max_gclk_with_host_hz": _max_gclk(t_bus + wall),
                         "fires": fires})
        info = ident
        return {"board": uri, "measured_on": measured_on, "protocol": f"{info.version[0]}.{info.version[1]}",
                "board_clusters": info.n_clusters, "fifo_depth": {"axon": info.axon_depth, "fire": info.fire_depth},
                "emulated": emulated, "clusters_driven": n_clusters, "gclk_hz": gclk_hz, "cycles": n_cycles,
                "speeds": rows, "link": be.driver.link.as_dict()}
    finally:
        be.close()


def _max_gclk(t_cycle: float) -> float | None:
    """Highest GCLK the divider makes whose period holds ``t_cycle``; None below 1 kHz."""
    from . import protocol as P

    n = max(P.DIV_MIN, math.ceil(t_cycle * P.F_REF_HZ - 1e-9))
    return None if n > P.DIV_MAX else P.F_REF_HZ / n


def _serve(args) -> dict:
    from bioloop.chip import ChipConfig

    from .emulator import BoardEmulator, BoardSpec
    from .server import serve

    try:
        address = int(args.address or "0x3a", 0)
    except ValueError:
        raise ValueError(f"--address {args.address!r} is not a number (e.g. 0x3a)") from None
    kw = {}
    if args.protocol:
        try:
            kw["version"] = tuple(int(x) for x in args.protocol.split("."))
        except ValueError:
            raise ValueError(f"--protocol {args.protocol!r} must be MAJOR.MINOR") from None
    port = 0 if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {args.port} is outside 0..65535")
    cfg = ChipConfig.load(args.chip_config) if args.chip_config else None
    emu = BoardEmulator(n_clusters=args.clusters, seed=args.seed, mismatch=not args.ideal, config=cfg,
                        spec=BoardSpec(address=address, **kw))

    def ready(port):
        print(f"board emulator listening on emulator+tcp://127.0.0.1:{port}", flush=True)

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve(emu, port, ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.stdout.flush()
    return {"served": True, "bus": emu.bus_stats()}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def format_text(s: dict) -> str:
    if s.get("served"):
        b = s["bus"]
        return f"board emulator stopped after {b['transactions']} transactions ({b['cycle']} cycles)"
    lines = [f"board {s['board']}: protocol {s['protocol']}, {s['board_clusters']} cluster(s), FIFOs "
             f"{s['fifo_depth']['axon']} AXON / {s['fifo_depth']['fire']} FIRE entries"
             + (" (emulated)" if s["emulated"] else f"; measured on {s['measured_on']}"),
             f"lock-step, {s['clusters_driven']} cluster(s), every AXON row active every cycle, "
             f"{s['cycles']} cycles at {s['gclk_hz']:g} Hz:",
             f"{'bus':>9} {'bits/cycle':>10} {'bus time':>10} {'max GCLK':>10} {'with host':>10}  latency added per cycle"]
    for r in s["speeds"]:
        mg = "< 1 kHz" if r["max_gclk_hz"] is None else f"{r['max_gclk_hz'] / 1e3:.3g} kHz"
        mh = "< 1 kHz" if r["max_gclk_with_host_hz"] is None else f"{r['max_gclk_with_host_hz'] / 1e3:.3g} kHz"
        lines.append(f"{r['bus_hz'] / 1e3:>6g} kHz {r['bits_per_cycle']:>10.0f} {r['bus_time_per_cycle_s'] * 1e6:>7.1f} us "
                     f"{mg:>10} {mh:>10}  {r['latency_added_s'] * 1e6:.1f} us (+ up to one GCLK period "
                     "waiting for the edge, as in the model)")
    lines.append("'with host' adds this computer's time per lock-step cycle (Python, transport)")
    return "\n".join(lines)
