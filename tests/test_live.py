"""The live loop: deterministic checks of its rules in-process, and real LSL between processes."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from lsl_helpers import Children, finish_json, spawn, spawn_cli, stop, unique, wait_line

from bioloop.encoder import SpikeFate
from bioloop.session import read_journal
from bioloop.session.build import SessionOptions, assemble
from bioloop.session.live import LiveLoop, LiveTiming
from bioloop.session.log import SessionLog
from bioloop.sinks import Sink
from bioloop.sources import LiveSource
from bioloop.types import SpikeEvents

LABELS = ("a", "b", "c", "d")


class ScriptedSource(LiveSource):
    """A live source on a simulated clock: chunk i arrives at ``arrive[i]`` (our own ABC, not a
    stand-in for a library). Each read advances the clock to the next arrival."""

    name = "scripted"

    def __init__(self, chunks, arrive, clock):
        self._chunks = list(chunks)
        self._arrive = list(arrive)
        self._clock = clock

    @property
    def labels(self):
        return LABELS

    def clock(self):
        return self._clock()

    def read_chunk(self, timeout=0.0):
        if not self._chunks:
            return None
        self._clock.now = self._arrive.pop(0)
        return self._chunks.pop(0)


class Clock:
    def __init__(self, now=0.0, cost=0.0):
        self.now, self.cost = now, cost

    def __call__(self):
        self.now += self.cost  # each look at the clock costs this much processing time
        return self.now


class ListSink(Sink):
    name = "list"

    def __init__(self):
        self.written = []

    def write(self, commands):
        self.written.append(commands)


def _chunk(times, chans, t_start, t_stop):
    return SpikeEvents(np.asarray(times, float), np.asarray(chans, np.int64), LABELS, t_start, t_stop)


def _setup(t0=100.0, duration=1.0, **opts):
    t1 = None if duration is None else t0 + duration
    parts = assemble(LABELS, t0, t1, SessionOptions(network="relay", mismatch=False, **opts))
    log = SessionLog(LABELS, parts.encoder.config.gclk_hz, parts.backend.n_clusters, parts.meta)
    return parts, log


def _run(src, parts, log, clock, **kw):
    return LiveLoop(parts, log, clock=clock, **kw).run(src)


def test_a_live_source_must_have_a_clock(tmp_path):
    from bioloop.session.build import run_loop
    from bioloop.sources import Source

    class NoClock(LiveSource):
        name = "no-clock"
        labels = LABELS

        def read_chunk(self, timeout=0.0):
            return None

    with pytest.raises(TypeError, match="clock"):
        NoClock()

    class FileLike(Source):
        name = "file-like"
        labels = LABELS

        def read_chunk(self, timeout=0.0):
            return None

    with pytest.raises(TypeError, match="LiveSource"):
        run_loop(FileLike(), SessionOptions(), tmp_path / "s.nix")
    src = ScriptedSource([], [], Clock(0.0))  # what the loop uses beyond Source has defaults
    assert src.gaps == [] and src.stats() == {} and ListSink().stats() == {}


def test_the_session_is_built_at_its_start():
    parts, _ = _setup(t0=100.0, duration=None)
    assert parts.meta["window"] == [100.0, None] and parts.meta["t_start"] == 100.0
    assert parts.stimulator.config.time_origin == 100.0
    assert parts.encoder.config.t_start == 100.0 and parts.encoder.config.t_stop is None


def test_spikes_become_stimulation_with_latency_and_late_spikes_are_counted():
    t0 = 100.0
    parts, log = _setup(t0)
    clock = Clock(t0)
    chunks = [
        _chunk([100.0105], [0], 100.0, 100.011),          # cycle 11 -> FIRE -> stim on electrode 0
        _chunk([100.0305, 100.0306], [1, 2], 100.011, 100.031),
        _chunk([100.0200], [3], 100.019, 100.032),        # stamped in a cycle already run: late
    ]
    arrive = [100.0107, 100.0309, 100.0321]
    src = ScriptedSource(chunks, arrive, clock)
    sink = ListSink()
    _run(src, parts, log, clock, sink=sink, timing=LiveTiming(duration=1.0))
    s = log.summary()
    assert s["input_spikes"] == 4 and s["axon_pulses"] == 3 and s["dropped"]["late"] == 1
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    written = np.concatenate([c.electrode for c in sink.written]).tolist()
    assert written == [0, 1, 2]
    assert log.fates[-1] == SpikeFate.PULSE and SpikeFate.LATE in log.fates.tolist()
    # latency = clock at the push - the triggering spike's timestamp (simulated clock: exact)
    np.testing.assert_allclose(log.latencies, [100.0107 - 100.0105, 100.0309 - 100.0305, 100.0309 - 100.0306],
                               atol=1e-9)


def test_falling_behind_suspends_stimulation_and_resumes():
    t0 = 0.0
    parts, log = _setup(t0)
    clock = Clock(t0)
    # second chunk is processed 20 ms after its spike: over the 5 ms budget
    chunks = [_chunk([0.0105], [0], 0.0, 0.011), _chunk([0.0505], [1], 0.011, 0.051),
              _chunk([0.0905], [2], 0.051, 0.091)]
    arrive = [0.0106, 0.0705, 0.0906]
    sink = ListSink()
    _run(ScriptedSource(chunks, arrive, clock), parts, log, clock, sink=sink,
         timing=LiveTiming(duration=1.0, budget=5e-3))
    s = log.summary()
    assert s["refused"]["behind"] == 1 and s["stimulations"] == 2
    assert [k for _, k, _ in log.events][:2] == ["stall", "resume"]
    assert np.concatenate([c.electrode for c in sink.written]).tolist() == [0, 2]


def test_blanking_applies_to_live_input():
    t0 = 0.0
    parts, log = _setup(t0)
    clock = Clock(t0)
    chunks = [_chunk([0.0105], [0], 0.0, 0.011), _chunk([0.0115, 0.0116], [0, 1], 0.011, 0.012)]
    arrive = [0.0106, 0.0117]
    _run(ScriptedSource(chunks, arrive, clock), parts, log, clock, timing=LiveTiming(duration=1.0))
    assert log.summary()["dropped"]["blanked"] == 1  # electrode 0 inside its own stimulation's window


# ---- real LSL, several processes ----------------------------------------------------------

PUSHER = """
# argv: stream name, spikes to push (50 ms apart, electrodes 0,1,2,3,0,...), seconds to wait
# after the first consumer connects, seconds to stay after the last spike
name, n, delay, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
info = pylsl.StreamInfo(name, "SpikeEvents", 1, pylsl.IRREGULAR_RATE, pylsl.cf_int32, "src-" + name)
els = info.desc().append_child("electrodes")
for lab in ["a", "b", "c", "d"]:
    els.append_child("electrode").append_child_value("label", lab)
out = pylsl.StreamOutlet(info)
print("ready", flush=True)
while not out.have_consumers():
    time.sleep(0.01)
time.sleep(delay)
for i in range(n):
    out.push_sample([i % 4], pylsl.local_clock())
    time.sleep(0.05)
print("done", flush=True)
time.sleep(linger)
"""

STIM_READER = """
# argv: stream name, samples expected, deadline (s): ends once it has them, or at the deadline
name, expected, deadline = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
streams = pylsl.resolve_byprop("name", name, 1, 30.0)
inlet = pylsl.StreamInlet(streams[0], max_buflen=10)
inlet.open_stream(10.0)
print("ready", flush=True)
got = []
t_end = time.time() + deadline
while time.time() < t_end and len(got) < expected:
    s, ts = inlet.pull_sample(0.1)
    if s is not None:
        got.append([float(x) for x in s] + [ts])
print(json.dumps({"samples": got}), flush=True)
"""


def poll_journal(path, done, timeout=60.0, what="the journal"):
    """Read the session journal at ``path`` until ``done(records)``; fail after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                records = read_journal(path).records
            except ValueError:  # not even the magic written yet
                records = []
            if done(records):
                return records
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen within {timeout:g} s")


def _input_spikes(records):
    return sum(r.arrays["in.times"].size for r in records if r.kind == "chunk" and "in.times" in r.arrays)


def _notes(records, kind):
    return [r for r in records if r.kind == "note" and r.meta.get("kind") == kind]


@pytest.fixture
def children():
    ch = Children()
    yield ch
    ch.close()


@pytest.mark.lsl
@pytest.mark.slow
def test_live_closed_loop_between_processes(tmp_path, children):
    spikes, stims, mon = unique("spk"), unique("stim"), unique("mon")
    out = tmp_path / "live.nix"
    # no --duration: the session runs until every spike has been seen, then is stopped (SIGINT)
    live = children.add(spawn_cli("live", "--input-stream", spikes, "--stim-stream", stims,
                                  "--monitor-stream", mon,
                                  "--out", out, "--gclk", "50000", "--ideal", "--min-interval-ms", "1",
                                  # a loaded machine may lag the clock: this test is not about the budget
                                  "--budget-ms", "1000",
                                  "--resolve-timeout", "30", "--json", "--quiet"))
    pusher = children.add(spawn(PUSHER, spikes, "40", "4.0", "60"))
    wait_line(pusher)
    reader = children.add(spawn(STIM_READER, stims, "40", "60"))
    wait_line(reader, timeout=30)
    watcher = children.add(spawn(STIM_READER, mon, "40", "60"))
    wait_line(watcher, timeout=30)
    wait_line(pusher, "done", timeout=60)
    poll_journal(tmp_path / "live.nix.journal", lambda recs: _input_spikes(recs) >= 40, what="40 input spikes")
    stop(live, signal.SIGINT, timeout=30)
    code, summary, err = finish_json(live, timeout=60)
    assert code == 0, err
    _, got, rerr = finish_json(reader, timeout=90)
    assert got is not None, (rerr, summary)
    samples = np.array(got["samples"])
    s = summary
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    assert s["input"]["received"] == 40
    # relay: every spike on electrode e asks for stimulation of e; 50 ms apart, none refused
    assert s["stimulations"] == 40 and len(samples) == 40, s
    assert samples[:, 0].astype(int).tolist() == [i % 4 for i in range(40)]
    assert np.all(samples[:, 1] == -1.0)  # 1 uA, cathodic first
    assert np.all(samples[:, 2] == 200.0)
    assert s["latency_ms"]["n"] == 40 and 0 < s["latency_ms"]["p50"] < 50  # loose: a loaded machine
    # the monitoring stream carries the chip's FIREs: relay neuron (cluster 0, dend e) for electrode e
    _, watched, werr = finish_json(watcher, timeout=30)
    assert watched is not None, werr
    fires = np.array(watched["samples"])
    assert len(fires) == 40 and fires[:, 0].astype(int).tolist() == [i % 4 for i in range(40)]
    assert out.exists() and not (tmp_path / "live.nix.journal").exists()
    from bioloop.session import read_session

    sf = read_session(out)
    assert len(sf.stim) == 40 and sf.latency_ms.size == 40


@pytest.mark.lsl
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_live_ends_cleanly_on_sigint_with_the_session_written(tmp_path, children, signum):
    # the signal ends the loop after the chunk it is in: every spike the source handed over
    # is in the session, none lost between reading a chunk and logging it
    spikes = unique("spk")
    out = tmp_path / "live.nix"
    pusher = children.add(spawn(PUSHER, spikes, "200", "0.5", "30"))
    wait_line(pusher)
    live = children.add(spawn_cli("live", "--input-stream", spikes, "--stim-stream", unique("stim"),
                                  "--out", out, "--json", "--quiet", "--resolve-timeout", "30"))
    poll_journal(tmp_path / "live.nix.journal", lambda recs: _input_spikes(recs) > 0, what="an input spike")
    stop(live, signum, timeout=30)
    code, summary, err = finish_json(live, timeout=30)
    assert code == 0, err
    assert summary["input_spikes"] > 0
    assert summary["input_spikes"] == summary["input"]["delivered"]
    assert summary["stimulations"] == summary["output"]["written"]
    assert summary["notes"]["interrupted"] == 1
    assert out.exists()


def test_live_cli_bad_input_is_one_line(tmp_path, capsys):
    from bioloop.cli import main

    assert main(["live", "--input-stream", "x", "--duration", "-1", "--out", str(tmp_path / "s.nix")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--duration" in err[0]
    assert main(["live", "--input-stream", "x", "--out", str(tmp_path / "nope" / "s.nix")]) == 2


@pytest.mark.lsl
@pytest.mark.slow
def test_live_marks_a_gap_and_reconnects_when_the_stream_returns(tmp_path, children):

    spikes = unique("spk")
    out = tmp_path / "live.nix"
    first = children.add(spawn(PUSHER, spikes, "20", "0.5", "0.3"))
    wait_line(first)
    live = children.add(spawn_cli("live", "--input-stream", spikes, "--stim-stream", unique("stim"),
                                  "--out", out, "--json", "--quiet", "--ideal",
                                  "--min-interval-ms", "1", "--resolve-timeout", "30"))
    wait_line(first, "done", timeout=40)
    stop(first)  # the outlet is gone: the session must keep running
    poll_journal(tmp_path / "live.nix.journal", lambda recs: _notes(recs, "gap"), what="the gap noted")
    second = children.add(spawn(PUSHER, spikes, "20", "0.5", "0.3"))  # same source_id: it comes back
    wait_line(second)
    wait_line(second, "done", timeout=40)
    poll_journal(tmp_path / "live.nix.journal", lambda recs: _input_spikes(recs) >= 40, what="40 input spikes")
    stop(live, signal.SIGINT, timeout=30)
    code, s, err = finish_json(live, timeout=60)
    assert code == 0, err
    assert s["notes"].get("gap", 0) >= 1 and s["notes"].get("reconnected", 0) >= 1
    assert s["input_spikes"] == 40  # both halves arrived, nothing lost silently
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    assert out.exists()


VOLTAGE_PUSHER = """
name, fs = sys.argv[1], 10000.0
info = pylsl.StreamInfo(name, "EEG", 4, fs, pylsl.cf_float32, "src-" + name)
chans = info.desc().append_child("channels")
for lab in ["a", "b", "c", "d"]:
    chans.append_child("channel").append_child_value("label", lab)
out = pylsl.StreamOutlet(info, 100)
print("ready", flush=True)
while not out.have_consumers():
    time.sleep(0.01)
rng = np.random.default_rng(5)
t0 = pylsl.local_clock()
n_sent = 0
spike_at = {int(fs * (1.0 + 0.2 * k)): k % 4 for k in range(15)}  # from 1 s on, every 200 ms
while n_sent < int(fs * 4.5):
    due = int((pylsl.local_clock() - t0) * fs)
    if due <= n_sent:
        time.sleep(0.0005)
        continue
    block = rng.normal(0.0, 10e-6, (due - n_sent, 4)).astype(np.float32)
    for i in range(n_sent, due):
        if i in spike_at:
            block[i - n_sent, spike_at[i]] = -150e-6  # a 15-sigma negative spike
    out.push_chunk(block.tolist(), t0 + (due - 1) / fs)
    n_sent = due
print("done", flush=True)
time.sleep(30)
"""


@pytest.mark.lsl
@pytest.mark.slow
def test_live_detects_spikes_on_a_voltage_stream(tmp_path, children):
    volts = unique("volt")
    out = tmp_path / "live.nix"
    pusher = children.add(spawn(VOLTAGE_PUSHER, volts))
    wait_line(pusher)
    live = children.add(spawn_cli("live", "--input-stream", volts, "--voltage", "--stim-stream", unique("stim"),
                                  "--duration", "5", "--out", out, "--json", "--quiet", "--ideal",
                                  "--min-interval-ms", "1", "--budget-ms", "1000",  # a loaded machine lags
                                  "--resolve-timeout", "30"))
    code, s, err = finish_json(live, timeout=60)
    assert code == 0, err
    # 15 injected spikes; the detector needs its noise window first, so allow a couple missing
    assert 12 <= s["input_spikes"] <= 15, s
    assert s["stimulations"] == s["input_spikes"] - sum(s["dropped"].values())
    from bioloop.session import read_session

    stim = read_session(out).stim
    assert set(stim.electrode.tolist()) <= {0, 1, 2, 3}


def test_trigger_of_each_command_is_the_latest_driving_pulse_of_its_cycle_and_cluster(rng):
    # the compiled attribution against the rule written out: latest pulse of the FIRE's cycle
    # and cluster on an axon with a non-zero synapse onto its dend, else any of the cluster's
    from bioloop.encoder import ElectrodeMap
    from bioloop.session.live import _triggers

    emap = ElectrodeMap.default(32)
    signed = rng.integers(-1, 2, size=(2, 16, 16)) * (rng.random((2, 16, 16)) < 0.3)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        chans = rng.integers(0, 32, n)
        cycles = np.sort(rng.integers(0, 4, n))
        times = cycles * 1e-3 + rng.random(n) * 1e-3
        fates = np.where(rng.random(n) < 0.8, int(SpikeFate.PULSE), int(SpikeFate.BLANKED)).astype(np.int8)
        m = int(rng.integers(1, 6))
        k, c, d = rng.integers(0, 4, m), rng.integers(0, 2, m), rng.integers(0, 16, m)
        got = _triggers(times, chans, cycles, fates, emap.cluster, emap.axon, signed, k, c, d)
        for i in range(m):
            here = (fates == SpikeFate.PULSE) & (cycles == k[i]) & (emap.cluster[chans] == c[i])
            drives = here & (signed[c[i], emap.axon[chans], d[i]] != 0)
            pick = drives if drives.any() else here
            want = times[pick].max() if pick.any() else np.nan
            np.testing.assert_equal(got[i], want)


def test_every_kernel_of_the_chunk_path_is_ready_before_the_session_starts():
    # a kernel first compiled (or loaded) by the first chunk of several spikes stalls a live
    # session by up to a second: warm-up must leave nothing for the loop to compile
    from bioloop.session.live import _triggers, warm_up_loop
    from bioloop.stimulator import _decide, _in_order

    parts, log = _setup(0.0)
    parts.warm_up()
    warm_up_loop()
    kernels = (_triggers, _in_order, _decide)
    before = [len(k.signatures) for k in kernels]
    assert all(before)  # compiled (or loaded from the cache) by the warm-up
    clock = Clock(0.0)
    chunks = [_chunk([0.0105, 0.0106], [0, 1], 0.0, 0.011), _chunk([0.0305], [2], 0.011, 0.031)]
    _run(ScriptedSource(chunks, [0.0107, 0.0306], clock), parts, log, clock, timing=LiveTiming(duration=1.0))
    assert log.summary()["stimulations"] == 3
    assert [len(k.signatures) for k in kernels] == before


def test_kernels_loaded_before_the_stream_opens_leave_the_session_nothing_to_load():
    # `bioloop live` loads the kernels before it opens the stream (warm_up_kernels: a one-cluster
    # session of the same settings), so that spikes arriving meanwhile do not fall before the
    # session's start; the session's own warm-up (60 electrodes, four clusters) must then find
    # every kernel loaded. A fresh process, so that nothing is loaded before
    import json
    import subprocess
    import sys

    code = """
import json, sys
from numba.core.registry import CPUDispatcher
from bioloop.session.build import SessionOptions, assemble, warm_up_kernels
from bioloop.session.live import warm_up_loop
from bioloop.stimulator import StimulatorConfig

def loaded():
    return {f"{name}.{k}": len(v.signatures) for name, mod in list(sys.modules.items())
            if name.startswith("bioloop") for k, v in list(vars(mod).items()) if isinstance(v, CPUDispatcher)}

opts = SessionOptions(network="relay", gclk_hz=50e3, stimulator=StimulatorConfig(min_interval=1e-3))
warm_up_kernels(opts)
before = loaded()
parts = assemble(tuple(f"el{i:02d}" for i in range(60)), 0.0, None, opts)
parts.warm_up()
warm_up_loop()
after = loaded()
print(json.dumps({"clusters": parts.backend.n_clusters, "before": sum(before.values()),
                  "new": {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}}))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["clusters"] == 4 and got["before"] > 0
    assert got["new"] == {}


def test_ctrl_c_during_a_read_ends_the_loop_after_that_chunk_is_logged():
    # Ctrl-C arriving while a chunk is being read (here: sent by the read itself) must not lose
    # that chunk between the source and the log: the loop ends after the chunk, logged whole
    import os

    class InterruptedRead(ScriptedSource):
        def read_chunk(self, timeout=0.0):
            if len(self._chunks) == 2:
                os.kill(os.getpid(), signal.SIGINT)  # arrives inside this read
            return super().read_chunk(timeout)

    parts, log = _setup(0.0, duration=1.0)
    clock = Clock(0.0)
    chunks = [_chunk([0.0105], [0], 0.0, 0.011), _chunk([0.0305], [1], 0.011, 0.031),
              _chunk([0.0505], [2], 0.031, 0.051)]
    _run(InterruptedRead(chunks, [0.0107, 0.0306, 0.0506], clock), parts, log, clock)
    s = log.summary()
    assert s["input_spikes"] == 2 and s["stimulations"] == 2  # the chunk read when Ctrl-C came too
    assert s["notes"]["interrupted"] == 1
