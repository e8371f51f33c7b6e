"""LSL adapters: configuration, resolution, spike and voltage inlets, outlets, reconnection.

Streams run through the real liblsl between processes on this machine (machine scope): each
test starts its outlet (or inlet) in a child process and uses the other end here. Stream names
carry a uuid so parallel runs do not see each other's streams.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from lsl_helpers import Children, finish_json, lsl_env, spawn, unique, wait_line

from bioloop.adapters.lsl import (
    ChipSpikeOutlet,
    DetectorConfig,
    LSLConfig,
    LSLSpikeSource,
    LSLStimSink,
    LSLVoltageSource,
    StreamQuery,
    StreamResolutionError,
    ThresholdDetector,
    configure_lsl,
)
from bioloop.adapters.lsl.inlets import electrode_indices, marker_indices
from bioloop.adapters.lsl.profile import read_electrodes
from bioloop.spiketools import apply_dead_time, dead_time_mask
from bioloop.types import FireEvents, SpikeEvents, StimCommands

# timestamps cross processes on one machine's clock; liblsl's clock-offset estimate is within
# about +-0.2 ms there, so absolute times are compared to 1 ms
CLOCK_TOL = 1e-3


@pytest.fixture
def children():
    kids = Children()
    yield kids
    kids.close()


@pytest.fixture(scope="module", autouse=True)
def _machine_scope():
    configure_lsl()  # the test process itself: machine scope before any other LSL call


def read_until(src, n: int, timeout: float) -> list[SpikeEvents]:
    """Chunks read until ``n`` spikes arrived or ``timeout`` s passed."""
    chunks, got, deadline = [], 0, time.monotonic() + timeout
    while got < n and time.monotonic() < deadline:
        c = src.read_chunk(timeout=0.05)
        chunks.append(c)
        got += len(c)
    return chunks


def joined(chunks: list[SpikeEvents]) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([c.times for c in chunks]),
            np.concatenate([c.channels for c in chunks]))


def assert_tiled(chunks: list[SpikeEvents]) -> None:
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.t_start == a.t_stop


# --- child processes ------------------------------------------------------------------------

# bioloop's outlet pushes the spikes of argv[2] (JSON) once an inlet is connected
PUSH_SPIKES = """
from bioloop.adapters.lsl import SpikeEventOutlet
name, spec = sys.argv[1], json.loads(sys.argv[2])
out = SpikeEventOutlet(name, spec["labels"], source_id=name + "-sid",
                       with_unit="units" in spec)
print("ready", flush=True)
out.wait_for_consumers(20)
t0 = out.local_clock() + 0.05
out.push(t0 + np.array(spec["offsets"]), np.array(spec["channels"]),
         None if "units" not in spec else np.array(spec["units"]))
print("pushed", repr(t0), json.dumps(out.refused), flush=True)
time.sleep(30)
"""

# a raw pylsl outlet (no bioloop profile checks) pushing int32 rows with given timestamps
RAW_INT32 = """
from bioloop.adapters.lsl.profile import Electrodes, write_desc
name, spec = sys.argv[1], json.loads(sys.argv[2])
info = pylsl.StreamInfo(name, "SpikeEvents", 1, 0.0, "int32", name + "-sid")
write_desc(info, profile="spike-events", channels=[("electrode", "index")],
           electrodes=Electrodes(tuple(spec["labels"])))
out = pylsl.StreamOutlet(info)
print("ready", flush=True)
out.wait_for_consumers(20)
t0 = pylsl.local_clock()
out.push_chunk(np.array(spec["rows"], np.int32).reshape(-1, 1),
               (t0 + np.array(spec["offsets"])).tolist())
print("pushed", repr(t0), flush=True)
time.sleep(30)
"""

# outlets of the wrong shape, and two outlets sharing one name
ODD_OUTLETS = """
base = sys.argv[1]
keep = []
for suffix, fmt, n, rate in (("float", "float32", 1, 0.0), ("wide", "int32", 3, 0.0),
                             ("strings", "string", 2, 0.0),
                             ("dup", "int32", 1, 0.0), ("dup", "int32", 1, 0.0),
                             ("irregular-volts", "float32", 4, 0.0),
                             ("volts", "float32", 4, 1000.0)):
    sid = f"{base}-{suffix}-{len(keep)}"
    keep.append(pylsl.StreamOutlet(pylsl.StreamInfo(f"{base}-{suffix}", "x", n, rate, fmt, sid)))
print("ready", flush=True)
time.sleep(60)
"""

# a voltage stream: Gaussian noise with injected spikes and NaNs, pushed in 50 ms chunks
VOLTAGE = """
name, path, srate = sys.argv[1], sys.argv[2], float(sys.argv[3])
fmt = sys.argv[4] if len(sys.argv) > 4 else "float32"
x = np.load(path, allow_pickle=False).astype({"float32": np.float32, "int16": np.int16}[fmt])
info = pylsl.StreamInfo(name, "Voltage", x.shape[1], srate, fmt, name + "-sid")
chans = info.desc().append_child("channels")
for i in range(x.shape[1]):
    chans.append_child("channel").append_child_value("label", f"V{i}")
out = pylsl.StreamOutlet(info)
print("ready", flush=True)
out.wait_for_consumers(20)
t0 = pylsl.local_clock() + 0.05
ts = t0 + np.arange(x.shape[0]) / srate
step = int(srate * 0.05)
for i in range(0, x.shape[0], step):
    while pylsl.local_clock() < ts[min(i + step, x.shape[0]) - 1]:
        time.sleep(0.005)
    out.push_chunk(x[i:i + step], ts[i:i + step].tolist())
print("pushed", repr(t0), flush=True)
time.sleep(30)
"""

# spikes every 20 ms on electrodes 0..3, forever; with a source_id (bioloop's outlet, liblsl
# recovers the stream) or without one (a bare pylsl outlet, liblsl gives up and bioloop reopens)
STEADY = """
name, sid = sys.argv[1], sys.argv[2]
if sid:
    from bioloop.adapters.lsl import SpikeEventOutlet
    out = SpikeEventOutlet(name, ["a", "b", "c", "d"], source_id=sid)
    push = lambda i: out.push([out.local_clock()], [i % 4])
else:
    out = pylsl.StreamOutlet(pylsl.StreamInfo(name, "SpikeEvents", 1, 0.0, "int32", ""))
    push = lambda i: out.push_sample([i % 4])
print("ready", flush=True)
i = 0
while True:
    push(i)
    i += 1
    time.sleep(0.02)
"""

# an inlet that collects N stimulation samples and prints them with the stream's desc
STIM_INLET = """
from bioloop.adapters.lsl import resolve_one, StreamQuery
name, n = sys.argv[1], int(sys.argv[2])
inlet = pylsl.StreamInlet(resolve_one(StreamQuery(name=name), 10.0), max_buflen=2)
xml = inlet.info(5.0).as_xml()
inlet.open_stream(5.0)
print("ready", flush=True)
rows, stamps = [], []
deadline = time.monotonic() + 10
while len(stamps) < n and time.monotonic() < deadline:
    d, t = inlet.pull_chunk(timeout=0.2, max_samples=100, as_numpy=True)
    rows += d.tolist(); stamps += t.tolist()
print(json.dumps({"rows": rows, "stamps": stamps, "xml": xml,
                  "fmt": inlet.channel_format, "n_ch": inlet.channel_count}), flush=True)
"""

# the chip's FIRE monitoring outlet
CHIP = """
from bioloop.adapters.lsl import ChipSpikeOutlet
from bioloop.types import FireEvents
name, spec = sys.argv[1], json.loads(sys.argv[2])
out = ChipSpikeOutlet(name, 2)
print("ready", flush=True)
out.wait_for_consumers(20)
t0 = out.local_clock() + 0.05
fires = FireEvents(spec["cycles"], spec["cluster"], spec["dend"], 10000.0)
out.push_fires(fires, time_offset=t0)
print("pushed", repr(t0), json.dumps(out.refused), flush=True)
time.sleep(30)
"""


# --- configuration --------------------------------------------------------------------------

def test_config_content_matches_liblsl_keys():
    text = LSLConfig().content()
    assert "[multicast]\nResolveScope = machine" in text
    assert "[ports]\nIPv6 = disable" in text
    assert "[tuning]\nUnicastMaxRTT = 0.1" in text
    wide = LSLConfig(scope="link", extra=(("lab", "KnownPeers", "{10.0.0.2}"),)).content()
    assert "ResolveScope = link" in wide and "[lab]\nKnownPeers = {10.0.0.2}" in wide


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="scope = 'planet'.*machine"):
        LSLConfig(scope="planet")
    with pytest.raises(TypeError, match="ipv6"):
        LSLConfig(ipv6="no")
    with pytest.raises(ValueError, match="own parameter"):
        LSLConfig(extra=(("multicast", "ResolveScope", "site"),))
    with pytest.raises(ValueError, match="INI line"):
        LSLConfig(extra=(("lab", "Known\nPeers", "x"),))


def test_configure_twice_differently_is_refused():
    assert configure_lsl().scope == "machine"  # same settings again: no-op
    with pytest.raises(ValueError, match="already configured"):
        configure_lsl(scope="link")


def test_import_opens_no_socket_and_loads_no_liblsl():
    code = (
        "import os, sys\n"
        "def sockets():\n"
        "    n = 0\n"
        "    for f in os.listdir('/proc/self/fd'):\n"
        "        try:\n"
        "            n += os.readlink('/proc/self/fd/' + f).startswith('socket:')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return n\n"
        "import bioloop.adapters.lsl as lsl\n"
        "a = (sockets(), 'pylsl' in sys.modules)\n"
        "lsl.configure_lsl()\n"
        "b = sockets()\n"
        "out = lsl.SpikeEventOutlet(sys.argv[1], ['e0'])\n"
        "print(a[0], a[1], b, sockets())\n")
    res = subprocess.run([sys.executable, "-c", code, unique("sock")], capture_output=True,
                         text=True, env=lsl_env(), timeout=60)
    assert res.returncode == 0, res.stderr
    after_import, pylsl_loaded, after_config, after_outlet = res.stdout.split()
    assert (after_import, pylsl_loaded, after_config) == ("0", "False", "0")
    assert int(after_outlet) > 0  # the check does see sockets once an outlet exists


@pytest.mark.lsl
def test_machine_scope_is_what_liblsl_loads():
    # liblsl's own log (level 2) names the configuration source and every discovery responder
    code = ("from bioloop.adapters.lsl import configure_lsl, SpikeEventOutlet\n"
            "configure_lsl(log_level=2)\n"
            "out = SpikeEventOutlet(sys.argv[1], ['e0'])\n")
    res = subprocess.run([sys.executable, "-c", "import sys\n" + code, unique("scope")],
                         capture_output=True, text=True, env=lsl_env(), timeout=60)
    assert res.returncode == 0, res.stderr
    assert "Configuration loaded from content" in res.stderr
    responders = set(re.findall(r"Started multicast udp server at (\S+) port", res.stderr))
    assert responders == {"127.0.0.1"}  # machine scope, IPv4 only: no multicast group joined


@pytest.mark.lsl
def test_missing_liblsl_says_how_to_fix_it(tmp_path):
    junk = tmp_path / "liblsl.so"
    junk.write_text("not a library")
    code = ("from bioloop.adapters.lsl import configure_lsl, LSLUnavailableError\n"
            "try:\n    configure_lsl()\nexcept LSLUnavailableError as e:\n    print(e)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=lsl_env(PYLSL_LIB=str(junk)), timeout=60)
    assert res.returncode == 0, res.stderr
    assert "PYLSL_LIB" in res.stdout and len(res.stdout.strip().splitlines()) == 1


# --- the detector (no LSL) ------------------------------------------------------------------

def _noise_with_spikes(rng, n=6000, n_ch=3, srate=1000.0):
    x = rng.normal(0.0, 2.0, (n, n_ch)) + 7.0  # sigma 2, offset 7: the median removes it
    spikes = [(1500, 0), (2500, 1), (2503, 1), (4000, 2), (4001, 0)]
    for i, c in spikes:
        x[i, c] -= 40.0  # 20 sigma
    return x, np.arange(n) / srate, spikes


def test_detector_finds_spikes_estimates_noise_and_applies_dead_time(rng):
    x, t, spikes = _noise_with_spikes(rng)
    det = ThresholdDetector(3, 1000.0, DetectorConfig(threshold=5, dead_time=5e-3))
    out = det.process(x, t)
    # (2503, 1) falls 3 ms after (2500, 1): suppressed by the 5 ms dead time
    expected = [(i, c) for i, c in spikes if (i, c) != (2503, 1)]
    assert list(zip((out.times * 1000).round().astype(int).tolist(), out.channels.tolist(),
                    strict=True)) == expected
    assert out.suppressed["dead_time"] == 1 and out.crossings == len(spikes)
    # 4096 strided samples of the 1 s window: the MAD estimate is within ~2 % (1 s.d.); 8 %
    np.testing.assert_allclose(det.sigma, 2.0, rtol=0.08)
    assert out.warmup_samples == 250  # 0.25 s at 1 kHz before the first estimate


def test_detector_result_does_not_depend_on_chunking(rng):
    x, t, _ = _noise_with_spikes(rng)
    whole = ThresholdDetector(3, 1000.0).process(x, t)
    det = ThresholdDetector(3, 1000.0)
    parts = [det.process(x[i:i + 37], t[i:i + 37]) for i in range(0, len(t), 37)]
    np.testing.assert_array_equal(np.concatenate([p.times for p in parts]), whole.times)
    np.testing.assert_array_equal(np.concatenate([p.channels for p in parts]), whole.channels)


def test_detector_polarity_nan_and_flat_channels(rng):
    x = rng.normal(0, 1, (3000, 3))
    x[:, 2] = 0.5  # flat: no noise scale, never detects
    x[2000, 0] = 15.0  # positive spike
    x[2100, 1] = -15.0  # negative spike
    x[1000:1010, 1] = np.nan
    t = np.arange(3000) / 1000.0
    pos = ThresholdDetector(3, 1000.0, DetectorConfig(polarity="positive")).process(x, t)
    neg = ThresholdDetector(3, 1000.0, DetectorConfig(polarity="negative")).process(x, t)
    both = ThresholdDetector(3, 1000.0, DetectorConfig(polarity="both")).process(x, t)
    assert pos.channels.tolist() == [0] and neg.channels.tolist() == [1]
    assert both.times.tolist() == [2.0, 2.1]
    assert neg.nan_values == 10


def test_detector_refuses_bad_input():
    with pytest.raises(ValueError, match="polarity"):
        DetectorConfig(polarity="up")
    with pytest.raises(ValueError, match="shape"):
        ThresholdDetector(2, 1000.0).process(np.zeros((5, 3)), np.arange(5.0))


def test_dead_time_mask_is_the_rule_of_apply_dead_time_and_carries_over_chunks(rng):
    t = np.sort(rng.uniform(0.0, 1.0, 400))
    for dead in (0.0, 1e-3, 5e-3):
        kept = t[dead_time_mask(t, dead)]
        np.testing.assert_array_equal(kept, apply_dead_time(t, dead))
        assert np.all(np.diff(kept) >= dead)
        # split anywhere, carrying the last kept spike: the same spikes survive
        a, b = t[:137], t[137:]
        ka = a[dead_time_mask(a, dead)]
        kb = b[dead_time_mask(b, dead, last=ka[-1])]
        np.testing.assert_array_equal(np.concatenate([ka, kb]), kept)
    # the dead time runs from the last *kept* spike: 0, 0.7, 1.4 ms with 1 ms keeps 0 and 1.4
    assert dead_time_mask(np.array([0.0, 7e-4, 1.4e-3]), 1e-3).tolist() == [True, False, True]


def test_offline_and_online_detection_find_the_same_spikes(rng):
    import neo
    import quantities as pq

    from bioloop.adapters.neo_files import DetectionOptions, detect_spikes

    fs, n, n_ch = 10_000.0, 40_000, 3
    x = rng.normal(0.0, 10.0, (n, n_ch))  # 10 uV noise
    truth = []
    for c in range(n_ch):
        grid = np.arange(3000, n - 50, 30)  # 3 ms apart at least, away from the burst
        grid = grid[(grid < 19_900) | (grid > 20_400)]
        onsets = np.sort(rng.choice(grid, 40, replace=False))
        # a burst whose crossings fall 0.7 and 1.4 ms apart: the dead time (1 ms) runs from the
        # last kept spike, so the middle one goes and the third stays
        onsets = np.concatenate([onsets, [20_000 + 100 * c, 20_007 + 100 * c,
                                          20_014 + 100 * c]])
        for i in onsets:
            x[i, c] -= 120.0
        truth.append(np.unique(onsets))
    t = np.arange(n) / fs
    sig = neo.AnalogSignal(x, units="uV", sampling_rate=fs * pq.Hz)
    offline = detect_spikes(sig, options=DetectionOptions(threshold_sd=6.0, dead_time=1e-3))
    # online: its running 1 s window estimates the noise within a few % of the whole trace's
    # estimate; spikes at 12 sigma and a 6 sigma threshold (which Gaussian noise crosses with
    # p < 1e-8 a sample) leave that difference no sample to decide. Fed in chunks that split
    # bursts.
    det = ThresholdDetector(n_ch, fs, DetectorConfig(threshold=6.0, dead_time=1e-3))
    parts = [det.process(x[i:i + 333], t[i:i + 333]) for i in range(0, n, 333)]
    on_t = np.concatenate([q.times for q in parts])
    on_c = np.concatenate([q.channels for q in parts])
    warm = 0.25  # the online detector needs its warm-up window first; no spike is placed there
    for c in range(n_ch):
        off = offline.spiketrains[c].times.rescale("s").magnitude
        off = off[off >= warm]
        on = on_t[on_c == c]
        np.testing.assert_allclose(on, off, atol=0.5 / fs)  # the same samples
        # every injected spike the dead-time rule keeps, the third of the burst among them
        np.testing.assert_allclose(off, apply_dead_time(truth[c] / fs, 1e-3), atol=0.5 / fs)
        assert np.any(np.abs(on - (20_014 + 100 * c) / fs) < 0.5 / fs)
    assert sum(q.suppressed["dead_time"] for q in parts) == int(offline.merged_dead_time.sum())


def test_electrode_indices_refuse_what_cannot_be_an_electrode():
    idx, bad = electrode_indices(np.array([0, 3, -2, 4, 2**31 - 1], np.int32), 4)
    assert idx.tolist() == [0, 3, 0, 0, 0]
    assert bad["negative_index"].tolist() == [False, False, True, False, False]
    assert bad["unmapped"].tolist() == [False, False, False, True, True]
    assert not bad["non_integral_index"].any()
    idx, bad = electrode_indices(np.array([1.0, 1.25, np.inf, -0.5, 1e30, -3.0]), 4)
    assert idx.tolist()[0] == 1
    assert np.flatnonzero(bad["non_integral_index"]).tolist() == [1, 2, 3]
    assert np.flatnonzero(bad["negative_index"]).tolist() == [5]
    assert np.flatnonzero(bad["unmapped"]).tolist() == [4]
    # exactly one reason per refused value
    total = sum(m.astype(int) for m in bad.values())
    assert total.max() == 1
    idx, bad = marker_indices([b"ch_12A", b"12", "x"], ["ch_12A"] + [f"e{i}" for i in range(1, 13)])
    assert idx.tolist()[:2] == [0, 12] and np.flatnonzero(bad["unmapped"]).tolist() == [2]


def test_electrodes_read_from_desc_in_index_order():
    xml = ("<info><desc><electrodes>"
           "<electrode><index>1</index><label>B</label><x>200</x><y>0</y></electrode>"
           "<electrode><index>0</index><label>A</label><x>0</x><y>0</y></electrode>"
           "</electrodes></desc></info>")
    el = read_electrodes(xml)
    assert el.labels == ("A", "B") and el.positions.tolist() == [[0, 0], [200, 0]]
    with pytest.raises(ValueError, match="indices"):
        read_electrodes(xml.replace("<index>0</index>", "<index>5</index>"))


def test_query_needs_a_field_and_quotes_safely():
    with pytest.raises(ValueError, match="at least one"):
        StreamQuery()
    assert StreamQuery(name="it's").predicate() == 'name="it\'s"'
    with pytest.raises(ValueError, match="both"):
        StreamQuery(name="'\"")


# --- spike events across processes ----------------------------------------------------------

@pytest.mark.lsl
def test_spike_events_arrive_with_labels_units_and_times(children, rng):
    name = unique("spikes")
    n = 300
    offsets = np.sort(rng.uniform(0.0, 0.3, n))
    chans = rng.integers(0, 6, n)
    units = rng.integers(0, 3, n)
    labels = [f"E{i}" for i in range(6)]
    child = children.add(spawn(PUSH_SPIKES, name, json.dumps(
        {"labels": labels, "offsets": offsets.tolist(), "channels": chans.tolist(),
         "units": units.tolist()})))
    wait_line(child)
    with LSLSpikeSource(name=name, timeout=10.0) as src:
        assert src.labels == tuple(labels) and src.has_units
        chunks, got_units = [], []
        deadline = time.monotonic() + 10
        while sum(map(len, chunks)) < n and time.monotonic() < deadline:
            chunks.append(src.read_chunk(timeout=0.05))
            got_units.append(src.last_units)
        stats = src.stats()
    t0 = float(wait_line(child, "pushed").split()[1])
    times, got = joined(chunks)
    assert len(times) == n and stats["received"] == n and stats["delivered"] == n
    np.testing.assert_array_equal(got, chans)
    np.testing.assert_array_equal(np.concatenate(got_units), units)
    np.testing.assert_allclose(times, t0 + offsets, atol=CLOCK_TOL)
    assert_tiled(chunks)
    assert stats["gaps"] == [] and sum(stats["dropped"].values()) == 0
    assert stats["layout"] == "electrode, unit" and stats["labels_from"] == "desc/electrodes"


@pytest.mark.lsl
def test_out_of_range_and_late_spikes_are_dropped_and_counted(children):
    name = unique("bad-idx")
    rows = [0, 3, -1, 7, 2, 1]
    offsets = [0.05, 0.06, 0.07, 0.08, 0.09, -30.0]  # the last is stamped 30 s in the past
    child = children.add(spawn(RAW_INT32, name, json.dumps(
        {"labels": ["a", "b", "c", "d"], "rows": rows, "offsets": offsets})))
    wait_line(child)
    with LSLSpikeSource(name=name, timeout=10.0) as src:
        chunks = read_until(src, 3, timeout=5.0)
        for _ in range(5):  # the late spike may come after the others
            if src.stats()["received"] == len(rows):
                break
            chunks.append(src.read_chunk(timeout=0.2))
        stats = src.stats()
    _, got = joined(chunks)
    assert got.tolist() == [0, 3, 2]
    assert stats["received"] == 6 and stats["delivered"] == 3
    assert stats["dropped"] == {"non_integral_index": 0, "negative_index": 1, "unmapped": 1,
                                "late": 1}


# streams as other rigs publish them: no bioloop desc, any number format, markers, NDS layout
ANY_RIG = """
from pylsl import StreamInfo, StreamOutlet
name, kind, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
fmt = {"float": "float32", "double": "double64", "int16": "int16", "marker": "string",
       "nds": "int16"}[kind]
n_ch = 50 if kind == "nds" else 1
stype = spec.get("type", "")
info = StreamInfo(name, stype, n_ch, 0.0, fmt, spec.get("source_id", ""))
labels = spec.get("channel_labels")
if labels:
    chans = info.desc().append_child("channels")
    for lab in labels:
        chans.append_child("channel").append_child_value("label", lab)
out = StreamOutlet(info)
print("ready", flush=True)
out.wait_for_consumers(20)
t0 = pylsl.local_clock() + 0.05
for value, dt in zip(spec["values"], spec["offsets"]):
    if kind == "marker":
        row = [value]
    elif kind == "nds":
        row = [int(value), 0] + [int(-v) for v in range(48)]  # channel, unit, waveform counts
    else:
        row = [value]
    out.push_sample(row, t0 + dt)
print("pushed", repr(t0), flush=True)
time.sleep(30)
"""


def _read_all(src, n_received: int, timeout: float = 10.0) -> list[SpikeEvents]:
    chunks, deadline = [], time.monotonic() + timeout
    while src.stats()["received"] < n_received and time.monotonic() < deadline:
        chunks.append(src.read_chunk(timeout=0.05))
    return chunks


@pytest.mark.lsl
def test_float_spike_stream_drops_indices_that_are_no_electrode(children):
    name = unique("float-idx")
    values = [0.0, 2.0, 1.5, -1.0, 3.0, float("nan"), 9.0, 1.0]
    child = children.add(spawn(ANY_RIG, name, "float", json.dumps(
        {"values": values, "offsets": [0.01 * i for i in range(len(values))]})))
    wait_line(child)
    with LSLSpikeSource(name=name, timeout=10.0, n_electrodes=4) as src:
        assert src.labels == ("e0", "e1", "e2", "e3")
        chunks = _read_all(src, len(values))
        stats = src.stats()
    _, got = joined(chunks)
    assert got.tolist() == [0, 2, 3, 1]  # never a rounded or wrapped index
    assert stats["dropped"] == {"non_integral_index": 2, "negative_index": 1, "unmapped": 1,
                                "late": 0}
    assert stats["received"] == stats["delivered"] + sum(stats["dropped"].values()) == 8


@pytest.mark.lsl
def test_marker_stream_of_labels_with_electrodes_listed_the_xdf_way(children):
    name = unique("markers")
    labels = ["ch_12A", "ch_13A", "ch_21A"]  # an electrode list: 3 entries on a 1-channel stream
    values = ["ch_13A", "2", "ch_99A", "ch_12A", "1.5", " ch_21A "]
    child = children.add(spawn(ANY_RIG, name, "marker", json.dumps(
        {"values": values, "offsets": [0.01 * i for i in range(len(values))],
         "type": "Markers", "channel_labels": labels})))
    wait_line(child)
    with LSLSpikeSource(name=name, timeout=10.0) as src:
        assert src.labels == tuple(labels) and src.layout.startswith("electrode labels")
        assert src.labels_from == "desc/channels" and not src.has_units
        chunks = _read_all(src, len(values))
        stats = src.stats()
    _, got = joined(chunks)
    assert got.tolist() == [1, 2, 0, 2]
    assert stats["dropped"]["unmapped"] == 1 and stats["dropped"]["non_integral_index"] == 1


@pytest.mark.lsl
def test_neural_data_simulator_spike_events_found_by_type_in_any_case(children):
    # the NDS ephys generator's SpikeEvents outlet: int16, [channels, units, 48 waveform
    # samples], desc/channels labels of those columns, irregular rate (agencyenterprise/
    # neural-data-simulator, settings.yaml and run_ephys_generator.py)
    names = unique("NDS-SpikeEvents"), unique("NDS-SpikeEvents")
    stype = "SpikeEvents"
    for name in names:  # one to be refused (its first consumer starts its pushing), one to read
        wait_line(children.add(spawn(ANY_RIG, name, "nds", json.dumps(
            {"values": [5, 189, 190, 0], "offsets": [0.0, 0.01, 0.02, 0.03], "type": stype,
             "source_id": name + "-SimulatedSpikeEvents",
             "channel_labels": ["channels", "units"] + [str(i) for i in range(48)]}))))
    # the column labels name no electrodes: refused, with the way out
    with pytest.raises(ValueError, match="names no electrodes.*--electrodes N"):
        LSLSpikeSource(name=names[0], timeout=10.0)
    name = names[1]
    with LSLSpikeSource(name=name, timeout=10.0, n_electrodes=190) as src:
        assert src.layout == "electrode, unit, 48 waveform samples (not used)" and src.has_units
        chunks = _read_all(src, 4)
        units = src.last_units
        stats = src.stats()
    _, got = joined(chunks)
    assert got.tolist() == [5, 189, 0] and stats["dropped"]["unmapped"] == 1
    assert units.size <= 3 and set(units.tolist()) <= {0}
    # types match in any case: a unique mixed-case type found by its lower-case spelling
    typed = unique("RigMarkers")
    child2 = children.add(spawn(ANY_RIG, unique("typed"), "int16", json.dumps(
        {"values": [1], "offsets": [0.0], "type": typed})))
    wait_line(child2)
    with LSLSpikeSource(type=typed.lower(), timeout=10.0, n_electrodes=2) as src:
        assert src.stream.type == typed


@pytest.mark.lsl
def test_resolution_errors_list_visible_streams_and_refuse_wrong_formats(children):
    base = unique("odd")
    wait_line(children.add(spawn(ODD_OUTLETS, base)))
    # each refusal waits for LSL (a resolution, a second look for duplicates): the cases are
    # independent, so they run side by side; each must raise its own error
    cases = [
        (StreamResolutionError, f"no LSL stream matches.*{base}-float",
         lambda: LSLSpikeSource(name=f"{base}-absent", timeout=0.5)),
        (StreamResolutionError, "2 LSL streams match", lambda: LSLSpikeSource(name=f"{base}-dup", timeout=5.0)),
        (ValueError, "3 channels .*SpikeEvents",
         lambda: LSLSpikeSource(name=f"{base}-wide", timeout=5.0, n_electrodes=4)),
        (ValueError, "2 string channels",
         lambda: LSLSpikeSource(name=f"{base}-strings", timeout=5.0, n_electrodes=4)),
        (ValueError, "regular rate of 1000 Hz.*bioloop live --voltage",
         lambda: LSLSpikeSource(name=f"{base}-volts", timeout=5.0, n_electrodes=4)),
        (ValueError, "irregular rate", lambda: LSLVoltageSource(name=f"{base}-irregular-volts", timeout=5.0)),
        (ValueError, "3 labels given .* 4 channels",
         lambda: LSLVoltageSource(name=f"{base}-volts", timeout=5.0, labels=["a", "b", "c"])),
        # a spike stream that names no electrodes needs them from the caller, and says how
        (ValueError, "names no electrodes.*--electrodes N.*--labels FILE",
         lambda: LSLSpikeSource(source_id=f"{base}-dup-3", timeout=5.0)),
    ]

    def outcome(case):
        kind, pattern, make = case
        try:
            make().close()
        except Exception as exc:  # noqa: BLE001 - the test names what each case must raise
            return type(exc), str(exc)
        return None, "no error"

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(cases)) as pool:
        got = list(pool.map(outcome, cases))
    for (kind, pattern, _), (raised, text) in zip(cases, got, strict=True):
        assert raised is not None and issubclass(raised, kind), (pattern, raised, text)
        assert re.search(pattern, text), (pattern, text)
    # a float32 stream is a spike stream like any other once its electrodes are known
    with LSLSpikeSource(name=f"{base}-float", timeout=5.0, n_electrodes=4) as src:
        assert src.layout == "electrode" and src.stats()["labels_from"] == "n_electrodes"


# --- voltage with online detection ----------------------------------------------------------

@pytest.mark.lsl
@pytest.mark.parametrize("fmt", ["float32", "int16"])
def test_voltage_stream_detection_across_processes(children, rng, tmp_path, fmt):
    # float32 volts, or int16 counts as amplifiers (and the NDS raw stream) send them
    name = unique("volts")
    srate, n = 1000.0, 2000
    x = rng.normal(0.0, 1.0, (n, 4))
    spikes = [(900, 0), (1200, 3), (1500, 1), (1502, 1), (1800, 2)]
    for i, c in spikes:
        x[i, c] = -15.0
    if fmt == "float32":
        x[1000:1020, 2] = np.nan
    else:
        x = np.round(x * 100)  # 0.01 units per count
    np.save(tmp_path / "x.npy", x)
    child = children.add(spawn(VOLTAGE, name, tmp_path / "x.npy", srate, fmt))
    wait_line(child)
    with LSLVoltageSource(name=name, timeout=10.0, threshold=6.0, dead_time=3e-3) as src:
        assert src.labels == ("V0", "V1", "V2", "V3")
        chunks = []
        deadline = time.monotonic() + 10
        while src.stats()["samples_received"] < n and time.monotonic() < deadline:
            chunks.append(src.read_chunk(timeout=0.05))
        stats = src.stats()
    t0 = float(wait_line(child, "pushed").split()[1])
    times, chans = joined(chunks)
    expected = [(i, c) for i, c in spikes if (i, c) != (1502, 1)]  # within the dead time
    assert chans.tolist() == [c for _, c in expected]
    np.testing.assert_allclose(times, t0 + np.array([i for i, _ in expected]) / srate,
                               atol=CLOCK_TOL)
    assert stats["samples_received"] == n == stats["samples_used"]
    assert stats["nan_values"] == (20 if fmt == "float32" else 0)
    assert stats["missing_samples"] == 0 and stats["labels_from"] == "desc/channels"
    assert stats["crossings"] == len(spikes) and stats["crossings_suppressed"]["dead_time"] == 1
    assert_tiled(chunks)


# --- reconnection ---------------------------------------------------------------------------

@pytest.mark.lsl
@pytest.mark.parametrize("recovery", ["liblsl", "bioloop"])
def test_gap_reported_and_stream_recovered_after_outlet_restart(children, recovery):
    name = unique("steady")
    sid = unique("sid") if recovery == "liblsl" else ""
    first = children.add(spawn(STEADY, name, sid))
    wait_line(first)
    query = {"source_id": sid} if sid else {"name": name}
    with LSLSpikeSource(**query, timeout=10.0, n_electrodes=4) as src:
        chunks = read_until(src, 20, timeout=5.0)
        assert sum(map(len, chunks)) >= 20
        uid_before = src.stats()["uid"]
        first.kill()
        first.wait()
        deadline = time.monotonic() + 10
        while src.stats()["connected"] and time.monotonic() < deadline:
            chunks.append(src.read_chunk(timeout=0.1))  # keeps working while the stream is gone
        gap = src.gaps[0]
        assert gap.stop is None and gap.start <= gap.detected
        second = children.add(spawn(STEADY, name, sid))
        wait_line(second)
        n_before = sum(map(len, chunks))
        # the data can flow again (liblsl's own recovery) before the stream watcher, which
        # names the outlet that came back, has seen it: read until both have happened
        deadline = time.monotonic() + 15
        while (sum(map(len, chunks)) < n_before + 20 or not src.stats()["reconnects"]) \
                and time.monotonic() < deadline:
            chunks.append(src.read_chunk(timeout=0.1))
        stats = src.stats()
    assert stats["reconnects"] == 1 and len(stats["gaps"]) == 1
    gap = stats["gaps"][0]
    assert gap["stop"] > gap["start"] and gap["uid_before"] == uid_before
    assert gap["uid_after"] == stats["uid"] != uid_before
    times, _ = joined(chunks)
    assert sum(times > gap["stop"] - 1.0) >= 20  # spikes of the restarted outlet arrived
    assert sum(stats["dropped"].values()) == 0
    assert_tiled(chunks)


@pytest.mark.lsl
def test_the_stream_opens_after_the_clock_probes_so_no_backlog_waits(children):
    # the clock offset's first estimate takes a few probes (0.4 s and more); the data stream is
    # opened after them, so that the first read holds no spikes pushed during the probes (a live
    # session, which starts when the source is ready, would find them stamped before its start)
    name = unique("steady")
    first = children.add(spawn(STEADY, name, ""))  # pushes every 20 ms, from now on
    wait_line(first)
    with LSLSpikeSource(name=name, timeout=10.0, n_electrodes=4) as src:
        ready = src.clock()
        assert src.stats()["clock_offset"] is not None
        chunks = read_until(src, 3, timeout=5.0)
    times, _ = joined(chunks)
    assert times.size >= 3
    assert times.min() > ready - 0.2, (times.min() - ready)


# --- outlets --------------------------------------------------------------------------------

@pytest.mark.lsl
def test_stim_sink_sends_profile_layout_and_counts_refusals(children):
    name = unique("stim")
    labels = ["A1", "A2", "A3"]
    sink = LSLStimSink(name, labels=labels, time_offset=1000.0)
    try:
        child = children.add(spawn(STIM_INLET, name, 2))
        wait_line(child)
        assert sink.wait_for_consumers(10.0)
        cmds = StimCommands(times=[0.5, 0.6, 0.7, -2000.0], electrode=[0, 2, 5, 1],
                            amplitude=[-20e-6, 15e-6, 10e-6, 5e-6],
                            phase_width=[200e-6, 100e-6, 100e-6, 100e-6],
                            interphase=[50e-6, 0.0, 0.0, 0.0])
        sink.write(cmds)
        code, doc, err = finish_json(child)
    finally:
        sink.close()
    assert code == 0, err
    assert sink.written == 2
    assert sink.refused == {"timestamp_not_positive": 1, "electrode_out_of_range": 1}
    assert doc["fmt"] == 1 and doc["n_ch"] == 4  # liblsl's cf_float32, 4 channels
    # float32 carries 7 significant digits: values compared to 1e-6 relative
    np.testing.assert_allclose(doc["rows"], [[0, -20, 200, 50], [2, 15, 100, 0]], rtol=1e-6)
    np.testing.assert_allclose(doc["stamps"], [1000.5, 1000.6], atol=1e-9)
    assert "<profile>stimulation</profile>" in doc["xml"]
    assert "<label>amplitude</label><unit>uA</unit>" in doc["xml"].replace("\n", "").replace(
        "\t", "")
    assert read_electrodes(doc["xml"]).labels == tuple(labels)


@pytest.mark.lsl
def test_chip_spike_outlet_reads_back_as_spike_events(children):
    name = unique("chip")
    cycles, cluster, dend = [30, 10, 20, 40], [1, 0, 1, 3], [15, 2, 0, 1]
    child = children.add(spawn(CHIP, name, json.dumps(
        {"cycles": cycles, "cluster": cluster, "dend": dend})))
    wait_line(child)
    with LSLSpikeSource(name=name, timeout=10.0) as src:
        assert len(src.labels) == 32 and src.labels[31] == "c1d15"
        chunks = read_until(src, 3, timeout=5.0)
    line = wait_line(child, "pushed").split(maxsplit=2)
    t0, refused = float(line[1]), json.loads(line[2])
    times, chans = joined(chunks)
    assert chans.tolist() == [2, 16, 31]  # by cycle: (0,2), (1,0), (1,15); cluster 3 refused
    np.testing.assert_allclose(times, t0 + np.array([10, 20, 30]) / 10000.0, atol=CLOCK_TOL)
    assert refused["neuron_out_of_range"] == 1


@pytest.mark.lsl
def test_outlets_refuse_bad_arguments():
    with pytest.raises(TypeError, match="labels"):
        LSLStimSink(unique("bad"), labels="A1")
    with pytest.raises(ValueError, match="must not be empty"):
        ChipSpikeOutlet("", 1)
    with pytest.raises(ValueError, match="n_clusters"):
        ChipSpikeOutlet(unique("bad"), 0)
    with pytest.raises(TypeError, match="FireEvents"):
        ChipSpikeOutlet(unique("chip"), 1).push_fires(
            SpikeEvents([0.1], [0], ("a",), 0.0, 1.0))
    with pytest.raises(TypeError, match="StimCommands"):
        LSLStimSink(unique("stim"), labels=["a"]).write(
            FireEvents([1], [0], [0], 10000.0))
