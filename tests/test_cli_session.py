"""The session verbs at the command line: replay, demo, inspect, recover; bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bioloop.cli import main

REPO = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"input_spikes", "axon_pulses", "dropped", "fires", "stimulations", "refused", "duration_s",
                "wall_s", "realtime_factor"}


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_replay_real_recording_json(tmp_path, recordings_dir, capsys):
    rec = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    out = tmp_path / "s.nix"
    assert main(["replay", str(rec), "--gclk", "50000", "--stop", "60", "--out", str(out), "--json"]) == 0
    s = _json(capsys)
    assert SUMMARY_KEYS <= set(s)
    assert s["input_spikes"] == 26023  # every spike of the file is accounted for
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    assert s["dropped"]["outside_window"] > 0  # --stop 60 of 301 s
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    assert s["duration_s"] == pytest.approx(60.0)
    assert out.exists() and not Path(str(out) + ".journal").exists()
    # inspect reads it back and draws the rasters
    png = tmp_path / "r.png"
    assert main(["inspect", str(out), "--png", str(png), "--json"]) == 0
    i = _json(capsys)
    assert i["input_spikes"] == s["input_spikes"] and i["stimulations"] == s["stimulations"]
    assert png.stat().st_size > 10_000


def test_replay_well_of_plate_and_network_presets(tmp_path, recordings_dir, capsys):
    rec = recordings_dir / "CO_20140212_MW1007-51_DIV12_00_001.h5"
    for net in ("burst:3", "lateral"):
        out = tmp_path / f"{net.replace(':', '')}.nix"
        assert main(["replay", str(rec), "--well", "B2", "--network", net, "--out", str(out), "--json"]) == 0
        s = _json(capsys)
        assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())


def test_random_network_seeded_in_its_name_needs_no_seed(tmp_path, recordings_dir, capsys):
    rec = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    runs = {}
    for extra in (["--network", "random:5"], ["--network", "random", "--seed", "5"]):
        out = tmp_path / f"s{len(runs)}.nix"
        assert main(["replay", str(rec), "--stop", "20", "--ideal", *extra, "--out", str(out), "--json"]) == 0
        runs[" ".join(extra)] = _json(capsys)
    a, b = runs.values()
    assert a["fires"] == b["fires"] and a["axon_pulses"] == b["axon_pulses"]


def test_committed_demo_recording_is_what_the_generator_makes(tmp_path, capsys):
    from bioloop.synthetic import write_demo_recording

    fresh = write_demo_recording(tmp_path / "fresh.nix")
    from bioloop import registry

    src = registry.load("bioloop.sources", "file")
    a = src(REPO / "recordings" / "demo_culture.nix").read_all()
    b = src(fresh).read_all()
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.channels, b.channels)
    out = tmp_path / "d.nix"
    assert main(["replay", str(REPO / "recordings" / "demo_culture.nix"), "--out", str(out), "--json"]) == 0
    assert _json(capsys)["input_spikes"] == len(a)


def test_demo_writes_session_and_raster(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--duration", "10", "--json"]) == 0
    # the kernels are loaded before the session's clock starts: their time is reported apart
    peek = json.loads(capsys.readouterr().out)
    assert peek["warmup_s"] > 0 and peek["wall_s"] > 0 and peek["realtime_factor"] == pytest.approx(
        peek["duration_s"] / peek["wall_s"])
    assert main(["demo", "--out", str(tmp_path / "demo2"), "--duration", "10", "--json"]) == 0
    s = _json(capsys)
    assert Path(s["session"]).exists() and Path(s["raster"]).exists()
    assert s["fires"] > 0 and s["stimulations"] > 0


def test_recover_turns_a_torn_journal_into_a_session(tmp_path, capsys):
    from bioloop.session.build import SessionOptions, run_replay
    from bioloop.synthetic import synthetic_culture

    ev = synthetic_culture(n_electrodes=16, duration=10.0, seed=2)
    run_replay(ev, SessionOptions(), tmp_path / "s.nix", keep_journal=True)
    journal = tmp_path / "s.nix.journal"
    torn = tmp_path / "crashed.nix.journal"
    data = journal.read_bytes()
    torn.write_bytes(data[: int(len(data) * 0.7)])  # the process died mid-write
    assert main(["recover", str(torn), "--json"]) == 0
    s = _json(capsys)
    assert not s["complete"] and s["damaged_tail_bytes"] > 0
    assert Path(s["session"]).name == "crashed.nix" and Path(s["session"]).exists()
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    # the session file now exists: a second recover refuses to overwrite it
    assert main(["recover", str(torn)]) == 2
    assert "exists" in _one_line_error(capsys)


@pytest.mark.parametrize("case", ["missing", "unknown_format", "truncated_h5", "empty", "nan_times",
                                  "window", "network", "unmapped", "speed", "out_suffix"])
def test_replay_bad_input_is_one_line_and_status_2(tmp_path, recordings_dir, capsys, case):
    hipsn = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    out = str(tmp_path / "s.nix")
    if case == "missing":
        argv = ["replay", str(tmp_path / "nope.h5")]
    elif case == "unknown_format":
        p = tmp_path / "x.weird"
        p.write_text("hello")
        argv = ["replay", str(p)]
    elif case == "truncated_h5":
        p = tmp_path / "t.h5"
        p.write_bytes(hipsn.read_bytes()[:5000])
        argv = ["replay", str(p), "--out", out]
    elif case == "empty":
        import h5py

        p = tmp_path / "e.h5"
        with h5py.File(p, "w") as f:
            f["spikes"] = np.zeros(0)
            f["sCount"] = np.zeros(2, int)
            f["names"] = np.array([b"a", b"b"])
            f["epos"] = np.zeros((2, 2))
        argv = ["replay", str(p), "--out", out]
    elif case == "nan_times":
        import h5py

        p = tmp_path / "n.h5"
        with h5py.File(p, "w") as f:
            f["spikes"] = np.array([0.1, np.nan, 0.3])
            f["sCount"] = np.array([3])
            f["names"] = np.array([b"a"])
            f["epos"] = np.zeros((2, 1))
        argv = ["replay", str(p), "--out", out]
    elif case == "window":
        argv = ["replay", str(hipsn), "--start", "50", "--stop", "10", "--out", out]
    elif case == "network":
        argv = ["replay", str(hipsn), "--network", "nonsense", "--out", out]
    elif case == "unmapped":
        m = tmp_path / "map.csv"
        m.write_text("label,cluster,axon\n" + "\n")
        argv = ["replay", str(hipsn), "--map", str(m), "--out", out]
    elif case == "speed":
        argv = ["replay", str(hipsn), "--speed", "fast", "--out", out]
    else:
        argv = ["replay", str(hipsn), "--out", str(tmp_path / "s.h5")]
    assert main(argv) == 2
    _one_line_error(capsys)
    assert not Path(out).exists()  # nothing half-written left behind as if complete
    assert not Path(out + ".journal").exists()


def test_more_electrodes_than_the_map_covers_needs_allow_unmapped(tmp_path, recordings_dir, capsys):
    hipsn = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    from bioloop import registry

    labels = registry.load("bioloop.sources", "file")(hipsn).labels
    m = tmp_path / "map.csv"
    m.write_text("label,cluster,axon\n" + "".join(f"{lab},0,{i}\n" for i, lab in enumerate(labels[:16])))
    out = tmp_path / "s.nix"
    assert main(["replay", str(hipsn), "--map", str(m), "--out", str(out)]) == 2
    assert "allow" in _one_line_error(capsys)
    assert main(["replay", str(hipsn), "--map", str(m), "--allow-unmapped", "--out", str(out), "--json"]) == 0
    s = _json(capsys)
    assert s["dropped"]["unmapped"] > 0
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())


def test_cli_process_prints_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bioloop.cli", "replay", str(tmp_path / "missing.nex")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_window_without_spikes_is_an_empty_session_not_an_error(tmp_path, recordings_dir, capsys):
    rec = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    out = tmp_path / "empty.nix"
    assert main(["replay", str(rec), "--start", "0", "--stop", "0.0001", "--out", str(out), "--json"]) == 0
    s = _json(capsys)
    assert s["axon_pulses"] == 0 and s["fires"] == 0 and s["dropped"]["outside_window"] == 26023
    assert main(["inspect", str(out), "--no-plot", "--json"]) == 0
    assert _json(capsys)["fires"] == 0


def test_output_piped_into_a_reader_that_leaves_is_not_an_error():
    p = subprocess.Popen([sys.executable, "-m", "bioloop.cli", "chip", "info", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # like `| head -c 0`
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=60) == 0 and "Traceback" not in err


def test_the_command_line_starts_without_the_chip_model():
    """``bioloop --help`` lists every verb, plug-ins included, without importing numba or the chip
    model (verbs import their heavy modules only when they run)."""
    code = (
        "import sys\n"
        "from bioloop.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'brian2', 'neo', 'elephant')"
        " or m.startswith(('bioloop.chip', 'bioloop.adapters.board.backend')))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "board" in out.stdout and "pynn-report" in out.stdout  # plug-in and core verbs listed
    assert "HEAVY []" in out.stdout, out.stdout.splitlines()[-1]
