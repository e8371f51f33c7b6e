"""LSL's own loopback latency between two processes on this machine (machine scope).

A child process pushes one-channel int32 samples at a fixed rate, each stamped with
``local_clock()`` at the push; this process pulls them and takes, per sample,
``latency = local_clock() at pull return - (timestamp + time_correction)``. Both processes read
the same monotonic clock, so this is LSL's transport latency (outlet -> TCP loopback -> inlet
-> Python), the floor against which the live loop's added latency is judged. Two pull styles
are measured: ``pull_sample`` blocking on each sample, and ``pull_chunk`` returning as soon as
one sample is there (``min_samples=1``, how :class:`bioloop.adapters.lsl.LSLSpikeSource`
reads).

Usage::

    python benchmarks/lsl_loopback.py [--n 2000] [--rate 500] [--out result.json]

Prints one JSON object: per mode ``latency_us`` (p50, p99, max, mean), samples received and
lost, plus the liblsl build and the LSL configuration.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid

import numpy as np

from bioloop.progress import percentile_summary


def child(name: str, n: int, rate: float) -> None:
    from bioloop.adapters.lsl import configure_lsl

    configure_lsl()
    import pylsl

    info = pylsl.StreamInfo(name, "Benchmark", 1, pylsl.IRREGULAR_RATE, "int32", name)
    out = pylsl.StreamOutlet(info)
    print("ready", flush=True)
    if not out.wait_for_consumers(30):
        sys.exit("no consumer")
    time.sleep(0.5)  # let the inlet settle (clock probes) before timing starts
    period = 1.0 / rate
    t_next = pylsl.local_clock()
    for i in range(n):
        while (now := pylsl.local_clock()) < t_next:
            time.sleep(min(t_next - now, 0.001))
        out.push_sample([i], pylsl.local_clock())
        t_next += period
    time.sleep(1.0)


def measure(mode: str, n: int, rate: float) -> dict:
    from bioloop.adapters.lsl import StreamQuery, configure_lsl, resolve_one

    configure_lsl()
    import pylsl

    name = f"bench-loopback-{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen([sys.executable, __file__, "--child", name, str(n), str(rate)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("ready")
        inlet = pylsl.StreamInlet(resolve_one(StreamQuery(name=name), 30.0), max_buflen=2)
        offset = inlet.time_correction(5.0)  # first estimate: ~0.5 s of probes, before timing
        inlet.open_stream(10.0)  # the child starts pushing 0.5 s after this
        lat = np.full(n, np.nan)
        got = 0
        deadline = time.monotonic() + n / rate + 10.0
        while got < n and time.monotonic() < deadline:
            if mode == "pull_sample":
                sample, ts = inlet.pull_sample(timeout=0.5)
                now = pylsl.local_clock()
                if ts is None:
                    continue
                idx, stamps = np.array([sample[0]]), np.array([ts])
            else:
                data, stamps = inlet.pull_chunk(timeout=0.5, max_samples=1024, min_samples=1,
                                                as_numpy=True)
                now = pylsl.local_clock()
                if len(stamps) == 0:
                    continue
                idx = data[:, 0]
            lat[idx] = now - (stamps + offset)
            got += len(stamps)
        inlet.close_stream()
        del inlet
    finally:
        proc.kill()
        proc.wait()
    us = lat[np.isfinite(lat)] * 1e6
    return {"received": int(us.size), "lost": int(n - us.size),
            "clock_offset_us": float(offset * 1e6),
            "latency_us": {k: v for k, v in percentile_summary(us).items() if k != "n"}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="samples per mode (default 2000)")
    p.add_argument("--rate", type=float, default=500.0, help="push rate, Hz (default 500)")
    p.add_argument("--modes", nargs="+", default=["pull_sample", "pull_chunk"],
                   choices=["pull_sample", "pull_chunk"])
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--child", nargs=3, metavar=("NAME", "N", "RATE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), float(args.child[2]))
        return 0
    from bioloop.adapters.lsl import applied_config, load_pylsl

    result = {"benchmark": "lsl_loopback", "n": args.n, "rate_hz": args.rate,
              "modes": {m: measure(m, args.n, args.rate) for m in args.modes}}
    cfg = applied_config()
    result["lsl"] = {"library": load_pylsl().library_info(), "scope": cfg.scope,
                     "ipv6": cfg.ipv6, "unicast_max_rtt": cfg.unicast_max_rtt}
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
