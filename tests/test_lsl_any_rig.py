"""``bioloop live`` against rigs that are not bioloop, between processes over real liblsl.

- A bare pylsl outlet with no metadata at all (irregular rate, int32, one channel, no type,
  no source_id, no desc), as most tools publish, drives ``bioloop live`` to stimulation once
  ``--electrodes N`` says how many electrodes there are.
- mne-lsl at both ends: its ``PlayerLSL`` plays an MNE Raw as a voltage stream that
  ``bioloop live --voltage`` detects spikes in, and its ``StreamLSL`` reads bioloop's
  stimulation stream back. The Raw renders the spike times of a shared recording (hiPSN tc65,
  Cotterill et al. 2016, J Neurophysiol 116:306) into a 10 kHz voltage trace: extracellular
  waveforms on Gaussian noise. mne-lsl bundles its own liblsl: it gets the same machine-only
  configuration (``LSLAPICFG`` and ``set_config_content``), and a test checks it honours it.

Every child runs with the machine-only LSL configuration; everything polls with deadlines.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from lsl_helpers import Children, finish_json, lsl_env, spawn, spawn_cli, unique, wait_line

from bioloop.adapters.lsl import LSLConfig

pytest.importorskip("mne_lsl")


@pytest.fixture
def children():
    kids = Children()
    yield kids
    kids.close()


#: first lines of an mne-lsl child: its own liblsl gets bioloop's machine-only configuration
#: before any other LSL call (LSLAPICFG is set too, by lsl_env)
MNE_PRELUDE = (
    "import sys, json, time, os\n"
    "import numpy as np\n"
    "from bioloop.adapters.lsl import LSLConfig\n"
    "from mne_lsl.lsl import set_config_content, local_clock\n"
    "set_config_content(LSLConfig().content())\n"
)


def spawn_mne(code: str, *args) -> subprocess.Popen:
    """Start an mne-lsl child (no pylsl in it: one liblsl per process)."""
    return subprocess.Popen([sys.executable, "-c", MNE_PRELUDE + code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lsl_env())


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


# --- a bare pylsl outlet ----------------------------------------------------------------------

# no type, no source_id, no desc: electrode indices 0, 1, 2, 3, 7, 0, ... every 50 ms, for at
# most 90 s (the test kills it sooner); 7 has no electrode when --electrodes 4
BARE = """
out = pylsl.StreamOutlet(pylsl.StreamInfo(sys.argv[1], "", 1, 0.0, "int32", ""))
print("ready", flush=True)
i, deadline = 0, time.monotonic() + 90
while time.monotonic() < deadline:
    out.push_sample([(0, 1, 2, 3, 7)[i % 5]])
    i += 1
    time.sleep(0.05)
"""

# reads a stimulation stream with plain pylsl until the file argv[2] exists, then drains it
PYLSL_STIM_READER = """
name, flag = sys.argv[1], sys.argv[2]
streams = pylsl.resolve_byprop("name", name, 1, 60.0)
inlet = pylsl.StreamInlet(streams[0], max_buflen=30)
inlet.open_stream(10.0)
print("ready", flush=True)
rows, stamps, quiet_since = [], [], None
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    d, t = inlet.pull_chunk(timeout=0.1, max_samples=500, as_numpy=True)
    rows += d.tolist(); stamps += t.tolist()
    if os.path.exists(flag):
        quiet_since = quiet_since or time.monotonic()
        if len(t):
            quiet_since = time.monotonic()
        if time.monotonic() - quiet_since > 1.0:
            break
print(json.dumps({"rows": rows, "stamps": stamps}), flush=True)
"""


def _finish_live_then_reader(live, reader, flag):
    """The live session's summary, then what the stimulation reader got once told it is over."""
    code, summary, err = finish_json(live, timeout=90)
    assert code == 0, err
    flag.write_text("done")
    _, got, rerr = finish_json(reader, timeout=30)
    assert got is not None, rerr
    return summary, got


def _check_stim_suffix(rows, stim) -> None:
    """What a reader got is the session's stimulation from the moment it connected on."""
    rows = np.asarray(rows, float).reshape(-1, 4)
    assert 0 < len(rows) <= len(stim)
    tail = slice(len(stim) - len(rows), None)
    assert rows[:, 0].astype(int).tolist() == stim.electrode[tail].tolist()
    # float32 on the wire: 1e-6 relative
    np.testing.assert_allclose(rows[:, 1], stim.amplitude[tail] * 1e6, rtol=1e-6)
    np.testing.assert_allclose(rows[:, 2], stim.phase_width[tail] * 1e6, rtol=1e-6)


@pytest.mark.lsl
@pytest.mark.slow
def test_bare_pylsl_outlet_drives_bioloop_live_to_stimulation(tmp_path, children):
    spikes, stims = unique("bare"), unique("stim")
    wait_line(children.add(spawn(BARE, spikes)))
    out = tmp_path / "live.nix"
    common = ("live", "--input-stream", spikes, "--stim-stream", stims, "--out", out, "--json",
              "--quiet", "--ideal", "--min-interval-ms", "1", "--resolve-timeout", "30")
    # the stream names no electrodes: one line, exit 2, and the line says what to pass
    no_labels = spawn_cli(*common, "--duration", "3")
    code, _, err = finish_json(no_labels, timeout=60)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "names no electrodes" in lines[0] and "--electrodes N" in lines[0]
    assert "--labels FILE" in lines[0] and "Traceback" not in err
    # with --electrodes 4 the same outlet drives the loop
    live = children.add(spawn_cli(*common, "--duration", "4", "--electrodes", "4"))
    flag = tmp_path / "live-done"
    reader = children.add(spawn("import os\n" + PYLSL_STIM_READER, stims, flag))
    wait_line(reader, timeout=60)
    s, got = _finish_live_then_reader(live, reader, flag)
    inp = s["input"]
    assert inp["layout"] == "electrode" and inp["labels_from"] == "n_electrodes"
    assert inp["received"] == inp["delivered"] + sum(inp["dropped"].values())
    # every fifth sample is electrode 7 of 4: dropped as unmapped, counted, never stimulated
    assert abs(inp["dropped"]["unmapped"] - inp["received"] / 5) <= 1
    assert inp["dropped"]["unmapped"] >= 10
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    # relay network, 20 spikes/s on 4 electrodes for 4 s: each mapped spike asks for one
    assert s["stimulations"] >= 30
    from bioloop.session import read_session

    sf = read_session(out)
    assert len(sf.stim) == s["stimulations"]
    assert set(sf.stim.electrode.tolist()) == {0, 1, 2, 3}
    _check_stim_suffix(got["rows"], sf.stim)


# a marker outlet as event tools publish them: one string channel, labels as samples, no desc
MARKERS = """
out = pylsl.StreamOutlet(pylsl.StreamInfo(sys.argv[1], sys.argv[2], 1, 0.0, "string", ""))
print("ready", flush=True)
i, deadline = 0, time.monotonic() + 90
while time.monotonic() < deadline:
    out.push_sample([("ch_12A", "ch_13A", "ch_21A", "ch_99A")[i % 4]])
    i += 1
    time.sleep(0.05)
"""


@pytest.mark.lsl
@pytest.mark.slow
def test_marker_stream_found_by_type_with_labels_from_a_file(tmp_path, children):
    stype = unique("RigMarkers")  # unique, mixed case; asked for in lower case
    wait_line(children.add(spawn(MARKERS, unique("markers"), stype)))
    labels = tmp_path / "labels.txt"
    labels.write_text("# electrodes of the rig, in index order\nch_12A\nch_13A\nch_21A\n")
    out = tmp_path / "live.nix"
    live = children.add(spawn_cli("live", "--input-type", stype.lower(), "--labels", labels,
                                  "--stim-stream", unique("stim"), "--duration", "3", "--out", out,
                                  "--json", "--quiet", "--ideal", "--min-interval-ms", "1",
                                  "--resolve-timeout", "30"))
    code, s, err = finish_json(live, timeout=90)
    assert code == 0, err
    inp = s["input"]
    assert inp["labels_from"] == "labels" and inp["layout"].startswith("electrode labels")
    assert inp["received"] == inp["delivered"] + sum(inp["dropped"].values())
    assert abs(inp["dropped"]["unmapped"] - inp["received"] / 4) <= 1  # ch_99A: no electrode
    assert s["stimulations"] >= 20
    from bioloop.session import read_session

    sf = read_session(out)
    assert sf.input.labels == ("ch_12A", "ch_13A", "ch_21A")
    assert set(sf.stim.electrode.tolist()) == {0, 1, 2}


def test_live_input_options_refused_in_one_line(tmp_path, capsys):
    from bioloop.cli import main

    out = str(tmp_path / "s.nix")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    twice = tmp_path / "twice.txt"
    twice.write_text("a\nb\na\n")
    cases = [
        (["live", "--out", out], "--input-stream NAME or by --input-type TYPE"),
        (["live", "--input-stream", "x", "--input-type", "y", "--out", out], "one of them"),
        (["live", "--input-stream", "x", "--electrodes", "4", "--labels", str(twice), "--out", out],
         "not both"),
        (["live", "--input-stream", "x", "--electrodes", "0", "--out", out], "at least 1"),
        (["live", "--input-stream", "x", "--voltage", "--electrodes", "4", "--out", out],
         "one electrode per channel"),
        (["live", "--input-stream", "x", "--labels", str(empty), "--out", out], "holds no label"),
        (["live", "--input-stream", "x", "--labels", str(twice), "--out", out], "'a' twice"),
        (["live", "--input-stream", "x", "--labels", str(tmp_path / "none.txt"), "--out", out],
         "none.txt"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)


# --- mne-lsl at both ends -----------------------------------------------------------------

FS = 10_000.0
NOISE_UV = 10.0
WINDOW = (231.0, 235.0)  #: a bursting stretch of hiPSN tc65 (s)


def _waveform(fs: float) -> np.ndarray:
    """An extracellular spike, per unit amplitude: a 0.12 ms-sd trough at 0.3 ms, then a
    slower repolarisation bump a third as deep (2 ms long)."""
    t = np.arange(int(2e-3 * fs)) / fs
    return (-np.exp(-0.5 * ((t - 3e-4) / 1.2e-4) ** 2)
            + 0.3 * np.exp(-0.5 * ((t - 9e-4) / 3e-4) ** 2))


def render_recording(recordings_dir: Path, rng) -> tuple[np.ndarray, tuple[str, ...], list]:
    """The 4 most active electrodes of hiPSN tc65 in WINDOW as a voltage trace, in volts.

    Returns the trace (n_samples, 4), the electrode labels and each electrode's spike sample
    indices (the truth).
    """
    from bioloop.adapters.files import RecordingSource

    ev = RecordingSource(recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5").read_all()
    inside = (ev.times >= WINDOW[0]) & (ev.times < WINDOW[1] - 3e-3)
    counts = np.bincount(ev.channels[inside], minlength=len(ev.labels))
    chosen = np.sort(np.argsort(counts, kind="stable")[::-1][:4])
    n = int((WINDOW[1] - WINDOW[0]) * FS)
    x = rng.normal(0.0, NOISE_UV, (n, 4))
    w = _waveform(FS)
    truth = []
    for k, ch in enumerate(chosen):
        onsets = np.round((ev.times[inside & (ev.channels == ch)] - WINDOW[0]) * FS).astype(int)
        amp = rng.uniform(100.0, 160.0)  # uV: a typical MEA unit at 10-16x the noise sd
        for i in onsets:
            x[i:i + w.size, k] += amp * rng.uniform(0.9, 1.1) * w
        truth.append(onsets)
    return x * 1e-6, tuple(ev.labels[c] for c in chosen), truth


PLAYER = """
import mne
from mne_lsl.player import PlayerLSL
name, path = sys.argv[1], sys.argv[2]
z = np.load(path, allow_pickle=False)
info = mne.create_info([str(s) for s in z["labels"]], float(z["fs"]), ch_types="misc")
raw = mne.io.RawArray(z["x"].T, info, verbose="error")
player = PlayerLSL(raw, chunk_size=100, name=name, source_id=name)
a = local_clock()
player.start()
b = local_clock()
print("playing", repr(a), repr(b), flush=True)
time.sleep(120)
"""

MNE_STIM_READER = """
from mne_lsl.stream import StreamLSL
name, flag = sys.argv[1], sys.argv[2]
stream = StreamLSL(bufsize=5000, name=name).connect(timeout=60)
print("ready", json.dumps(stream.ch_names), flush=True)
deadline, quiet_since = time.monotonic() + 120, None
while time.monotonic() < deadline:
    time.sleep(0.1)
    if os.path.exists(flag):
        quiet_since = quiet_since or time.monotonic()
        if stream.n_new_samples:
            quiet_since = time.monotonic()
            stream.get_data()  # marks the samples seen (the ring buffer keeps them)
        if time.monotonic() - quiet_since > 1.0:
            break
data, ts = stream.get_data()
keep = ts > 0  # the ring buffer starts zeroed; a real stimulation is stamped after 0
print(json.dumps({"rows": data[:, keep].T.tolist(), "stamps": ts[keep].tolist()}), flush=True)
stream.disconnect()
"""


@pytest.mark.lsl
def test_mne_lsl_honours_the_machine_only_configuration(tmp_path):
    cfg = tmp_path / "lsl.cfg"
    cfg.write_text(LSLConfig(log_level=2).content())
    code = ("from mne_lsl.lsl import StreamInfo, StreamOutlet\n"
            "import sys\n"
            "out = StreamOutlet(StreamInfo(sys.argv[1], 'x', 1, 0.0, 'float32', sys.argv[1]))\n")
    res = subprocess.run([sys.executable, "-c", code, unique("mne-cfg")], capture_output=True,
                         text=True, env=lsl_env(LSLAPICFG=str(cfg)), timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"Configuration loaded from {cfg}" in res.stderr
    responders = set(re.findall(r"Started multicast udp server at (\S+) port", res.stderr))
    assert responders == {"127.0.0.1"}  # machine scope, IPv4 only: no multicast group joined


@pytest.mark.lsl
@pytest.mark.slow
def test_mne_lsl_player_to_bioloop_live_voltage_and_stimulation_back_to_mne_lsl(
        tmp_path, children, rng, recordings_dir):
    import neo
    import quantities as pq

    from bioloop.adapters.neo_files import DetectionOptions, detect_spikes
    from bioloop.session import read_session
    from bioloop.spiketools import apply_dead_time

    x, labels, truth = render_recording(recordings_dir, rng)
    n = x.shape[0]
    np.savez(tmp_path / "trace.npz", x=x, fs=FS, labels=np.array(labels))
    # offline detection of the same trace: what the online detector should find
    sig = neo.AnalogSignal(x, units="V", sampling_rate=FS * pq.Hz)
    offline = detect_spikes(sig, labels=labels, options=DetectionOptions(threshold_sd=5.0))
    expected = [np.round(st.times.rescale("s").magnitude * FS).astype(int)
                for st in offline.spiketrains]
    # the rendering is detectable: offline finds the spikes the dead time lets through, but
    # for bursts faster than a waveform, whose spikes overlap (10 %)
    n_truth = sum(apply_dead_time(t / FS, 1e-3).size for t in truth)
    n_found = sum(e.size for e in expected)
    assert n_truth >= 100 and abs(n_found - n_truth) <= 0.1 * n_truth, (n_found, n_truth)

    volts, stims = unique("mne-player"), unique("stim")
    player = children.add(spawn_mne(PLAYER, volts, tmp_path / "trace.npz"))
    a, b = map(float, wait_line(player, "playing", timeout=60).split()[1:])
    out = tmp_path / "live.nix"
    live = children.add(spawn_cli("live", "--input-stream", volts, "--voltage", "--stim-stream", stims,
                                  "--duration", "5", "--out", out, "--json", "--quiet", "--ideal",
                                  "--min-interval-ms", "1", "--resolve-timeout", "30"))
    flag = tmp_path / "live-done"
    reader = children.add(spawn_mne(MNE_STIM_READER, stims, flag))
    ready = wait_line(reader, "ready", timeout=60)
    assert json.loads(ready.split(maxsplit=1)[1]) == ["electrode", "amplitude", "phase_width",
                                                       "interphase"]
    s, got = _finish_live_then_reader(live, reader, flag)

    inp = s["input"]
    assert inp["labels_from"] == "desc/channels"  # the player labels channels the XDF way
    assert inp["samples_received"] == inp["samples_used"] + sum(inp["samples_dropped"].values())
    assert inp["missing_samples"] == 0
    # the robust noise estimate sees the rendered 10 uV (spikes touch few samples): 10 %
    np.testing.assert_allclose(inp["noise_sigma"], NOISE_UV * 1e-6, rtol=0.1)
    sf = read_session(out)
    assert sf.input.labels == labels
    # the player stamps sample i of its playing (all loops) at T0 + (i + 1) / fs, T0 in [a, b]
    tol = (b - a) * FS + 2  # the start bracket, plus a sample either way at the threshold
    times, chans = sf.input.times, sf.input.channels
    idx = (times - a) * FS - 1
    assert times.size >= 50
    # every online spike is an offline spike of the same trace sample (the trace loops)
    matched = 0
    for i, c in zip(idx, chans.tolist(), strict=True):
        d = np.abs(i - expected[c]) % n
        matched += int(np.minimum(d, n - d).min() <= tol)
    assert matched >= 0.95 * times.size, (matched, times.size)
    # and no offline spike shown to the online detector was missed: from 0.3 s into the
    # session (past the detector's warm-up) to 50 ms before its end
    lo, hi = (sf.meta["t_start"] + 0.3 - a) * FS, (sf.input.t_stop - 0.05 - a) * FS
    shown = 0
    for c in range(4):
        online = idx[chans == c]
        for loop in range(int(lo // n), int(hi // n) + 1):
            for e in expected[c] + loop * n:
                if lo <= e <= hi:
                    shown += 1
                    assert online.size and np.abs(online - e).min() <= tol, (c, e, loop)
    assert shown >= 50
    # stimulation: relay, one per pulse; mne-lsl's StreamLSL read it back
    assert s["stimulations"] >= 20 and len(sf.stim) == s["stimulations"]
    _check_stim_suffix(got["rows"], sf.stim)
