"""Recordings as labs have them: sjemea as the archives wrote it, text by content, MC_DataTool's
ASCII spike export, NWB Units tables, Cortical Labs CL API recordings, and files none of these.

Every variant is written here with the library its makers use (h5py for sjemea, PyTables for
CL, pynwb for NWB, bytes for the text exports) in the layout documented by the real tools, then
read, and replayed at the command line with every spike accounted for.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from bioloop.adapters.cortical_labs import read_cl_recording
from bioloop.adapters.files import FORMATS_TRIED, open_recording, sniff_format
from bioloop.adapters.mc_datatool import read_mc_datatool
from bioloop.adapters.nwb_units import read_nwb_units
from bioloop.adapters.sjemea import read_sjemea
from bioloop.cli import main
from bioloop.recording import RecordingHeader

TC89 = "TC89_DIV15_A.nexTimestamps"
TC89_SPIKES = 208_277


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _replay(path, tmp_path, capsys, *extra) -> dict:
    src = open_recording(path)  # every reader's header shares the one base
    assert isinstance(src.header, RecordingHeader) and src.header.format == src.format
    assert src.header.labels == src.labels and src.header.segment_from
    out = tmp_path / (path.name + ".session.nix")
    assert main(["replay", str(path), "--out", str(out), "--json", *extra]) == 0
    s = _json(capsys)
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    return s


# --- sjemea as the archives wrote it ------------------------------------------------------------


def _trains(rng, n_chan, t0, t1, rate=5.0):
    return [np.sort(rng.uniform(t0, t1, rng.poisson(rate * (t1 - t0)))) for _ in range(n_chan)]


def _mcs_positions(labels, pitch=200.0):
    """sjemea's placement of MCS electrode ``<col><row>``: x = col * pitch, y = (9 - row) * pitch."""
    return np.array([[int(lab[3]) * pitch for lab in labels],
                     [(9 - int(lab[4])) * pitch for lab in labels]])


def _write_sjemea(path, trains, *, names=None, epos=None, array="MCS_8x8_200um", duration=None,
                  shape=(1,)):
    """A sjemea file; ``shape`` () writes every scalar as a scalar dataset, (1,) as a vector."""
    def scalar(v):
        return np.array(v) if shape == () else np.array([v])

    with h5py.File(path, "w") as h5:
        h5["spikes"] = np.concatenate(trains)
        h5["sCount"] = np.array([t.size for t in trains], np.int32)
        if names is not None:
            h5["names"] = np.array([s.encode() for s in names])
        if epos is not None:
            h5["epos"] = epos
        h5["array"] = scalar(array.encode())
        if duration is not None:
            h5["summary/duration"] = scalar(float(duration))
        h5["summary/N"] = scalar(len(trains))
        h5["summary/totalspikes"] = scalar(int(sum(t.size for t in trains)))
        h5["meta/age"] = scalar(12)
        h5["meta/species"] = scalar(b"mouse")
    return path


MCS_LABELS = ["ch_12", "ch_13", "ch_21", "ch_47", "ch_78", "ch_83"]


def _variant(name, tmp_path, rng):
    """One file for each way the archives' files differ from the strict layout."""
    if name == "span_shorter_start_late":
        # /summary/duration = last - first spike, rounded down; recording starts at 137 s
        tr = _trains(rng, 6, 137.2, 568.9, rate=1.0)
        span = max(t.max() for t in tr) - min(t.min() for t in tr)
        p = _write_sjemea(tmp_path / f"{name}.h5", tr, names=MCS_LABELS,
                          epos=_mcs_positions(MCS_LABELS), duration=np.floor(span))
    elif name == "no_names_mcs":
        tr = _trains(rng, 6, 0.0, 60.0)
        p = _write_sjemea(tmp_path / f"{name}.h5", tr, epos=_mcs_positions(MCS_LABELS),
                          duration=60.0)
    elif name == "no_names_other_array":
        tr = _trains(rng, 5, 0.0, 60.0)
        epos = np.array([[0.0, 42.0, 84.0, 2646.0, 0.0], [0.0, 0.0, 0.0, 2646.0, 42.0]])
        p = _write_sjemea(tmp_path / f"{name}.h5", tr, epos=epos, array="APS_64x64_42um",
                          duration=60.0)
    elif name == "scalars_shape_empty":
        tr = _trains(rng, 6, 0.0, 60.0)
        p = _write_sjemea(tmp_path / f"{name}.h5", tr, names=MCS_LABELS, duration=60.0,
                          epos=_mcs_positions(MCS_LABELS), shape=())
    else:
        raise KeyError(name)
    return p, tr


VARIANTS = ["span_shorter_start_late", "no_names_mcs", "no_names_other_array",
            "scalars_shape_empty"]


@pytest.mark.parametrize("name", VARIANTS)
def test_sjemea_variant_reads_every_spike(name, tmp_path, rng):
    p, tr = _variant(name, tmp_path, rng)
    total = sum(t.size for t in tr)
    rec = read_sjemea(p)
    h = rec.header
    ev = rec.spike_events()
    assert len(ev) == total
    np.testing.assert_array_equal(rec.counts, [t.size for t in tr])
    np.testing.assert_array_equal(rec.times, np.concatenate(tr))
    assert h.positions_um is not None and h.positions_um.shape == (len(tr), 2)
    assert ev.t_start <= ev.times[0] and ev.times[-1] <= ev.t_stop
    if name == "span_shorter_start_late":
        first, last = min(t.min() for t in tr), max(t.max() for t in tr)
        assert (h.t_start, h.t_stop) == (first, last)
        assert "the data" in h.segment_from
        assert any("/summary/duration" in n and "last - first" in n for n in h.notes)
    if name == "no_names_mcs":
        assert h.labels == tuple(MCS_LABELS) and h.labels_from.startswith("/epos")
        assert any("ch_<col><row>" in n for n in h.notes)
    if name == "no_names_other_array":
        assert h.labels == ("e0", "e1", "e2", "e3", "e4")
        assert any("by their index" in n for n in h.notes)
    if name == "scalars_shape_empty":
        assert h.array == "MCS_8x8_200um" and (h.t_start, h.t_stop) == (0.0, 60.0)
        assert h.meta == {"age": 12, "species": "mouse"} and not h.notes


@pytest.mark.parametrize("name", VARIANTS)
def test_sjemea_variant_replays_every_spike(name, tmp_path, rng, capsys):
    p, tr = _variant(name, tmp_path, rng)
    s = _replay(p, tmp_path, capsys)
    assert s["input_spikes"] == sum(t.size for t in tr)


def test_real_file_without_names_gets_its_own_labels_back(tmp_path, recordings_dir, capsys):
    # hiPSN with /names removed: /epos alone must give back the MCS names the converter wrote
    p = tmp_path / "hiPSN_no_names.h5"
    shutil.copyfile(recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5", p)
    with h5py.File(p, "a") as h5:
        names = [n.decode().removesuffix("_unit_0") for n in h5["names"][()]]
        del h5["names"]
    rec = read_sjemea(p)
    assert list(rec.header.labels) == names and rec.header.labels_from.startswith("/epos")
    s = _replay(p, tmp_path, capsys, "--stop", "30")
    assert s["input_spikes"] == 26_023


def test_plate_file_without_names_is_read_as_one_array(tmp_path, rng):
    tr = _trains(rng, 3, 0.0, 10.0)
    p = _write_sjemea(tmp_path / "plate.h5", tr, duration=10.0, array="Axion 48 well",
                      epos=np.array([[0.0, 200.0, 0.0], [5000.0, 5000.0, 5200.0]]))
    with h5py.File(p, "a") as h5:
        h5["well"] = np.array([b"A1", b"A2"])
    rec = read_sjemea(p)
    assert rec.header.labels == ("e0", "e1", "e2") and rec.header.wells == ()
    assert any("/well" in n for n in rec.header.notes)
    with pytest.raises(ValueError, match="cannot be assigned to wells"):
        read_sjemea(p, well="A1")


def test_sjemea_still_refuses_the_truly_inconsistent(tmp_path, rng):
    tr = _trains(rng, 3, 0.0, 10.0)
    p = _write_sjemea(tmp_path / "bad.h5", tr, epos=_mcs_positions(MCS_LABELS[:3]), duration=10)
    with h5py.File(p, "a") as h5:
        h5["sCount"][0] += 1
    with pytest.raises(ValueError, match="adds up to"):
        read_sjemea(p)
    with h5py.File(p, "a") as h5:
        h5["sCount"][0] -= 1
        del h5["epos"]
    with pytest.raises(ValueError, match=r"needs /spikes, /sCount, and /names or /epos"):
        read_sjemea(p)


@pytest.mark.parametrize("name, n_chan, n_spikes", [
    ("hiPSN_tc65_d27_spikes6sd.h5", 28, 26_023),
    ("Maccione2014_P9_29March11_control_SpkTs_bursts_filtered.h5", 1142, 355_361),
    (TC89, 59, TC89_SPIKES),
])
def test_shared_recordings_sniffed_and_read_whole(name, n_chan, n_spikes, recordings_dir):
    src = open_recording(recordings_dir / name)
    ev = src.read_all()
    assert (ev.n_channels, len(ev)) == (n_chan, n_spikes)  # the shared README's counts
    assert src.header.t_start <= ev.times[0] and ev.times[-1] <= src.header.t_stop


# --- text by content --------------------------------------------------------------------------


def test_timestamp_table_saved_as_txt_is_read_by_content(tmp_path, recordings_dir, capsys):
    txt = tmp_path / "TC89_DIV15_A.txt"  # as sjemea's examples ship it: same table, .txt
    shutil.copyfile(recordings_dir / TC89, txt)
    assert sniff_format(txt) == "nexTimestamps"
    ev = open_recording(txt).read_all()
    assert (ev.n_channels, len(ev)) == (59, TC89_SPIKES)
    s = _replay(txt, tmp_path, capsys, "--stop", "30")
    assert s["input_spikes"] == TC89_SPIKES


def test_other_text_falls_through_to_neo(tmp_path):
    sig = tmp_path / "trace.txt"  # a voltage table: negative, unordered -> not spike times
    sig.write_text("".join(f"{0.001 * i:.3f}\t{np.sin(i):.4f}\n" for i in range(50)))
    assert sniff_format(sig) == "neo"


# --- MC_DataTool ASCII spike export -----------------------------------------------------------


def _write_mc_datatool(path, spikes, *, stream=2, fs=25_000.0, n_samples=75, pre=25,
                       newline="\r\n"):
    """MC_DataTool's layout: fixed 12-character fields, tabs, Latin-1 [µV], ms, cutouts."""
    def pad(text):
        return f"{text:<12}"

    lines = ["MC_DataTool ASCII conversion", ""]
    for k, (electrode, times) in enumerate(spikes.items()):
        if k:
            lines += ["", ""]
        lines.append("\t".join([pad("t"), pad(f"Spikes {stream} {electrode}"), pad("Unit")]))
        lines.append("\t".join([pad("[ms]"), pad("[µV]"), pad("")]))
        for j, t in enumerate(times):
            if j:
                lines.append("")
            t0_ms = (t - pre / fs) * 1e3
            for i in range(n_samples):
                v = -80.0 if i == pre else 15.26 * ((i % 3) - 1)
                lines.append("\t".join([pad(f"{t0_ms + i * 1e3 / fs:.3f}"), pad(f"{v:.2f}"),
                                        pad("0")]))
    path.write_bytes((newline.join(lines) + newline).encode("latin-1"))
    return path


def test_mc_datatool_spike_export(tmp_path, rng, capsys):
    fs = 25_000.0
    spikes = {e: np.round(np.sort(rng.uniform(0.01, 30.0, n)) * fs) / fs
              for e, n in (("21", 40), ("47", 0), ("83", 25), ("12", 7))}
    p = _write_mc_datatool(tmp_path / "export.txt", spikes)
    assert sniff_format(p) == "mcDataTool"
    rec = read_mc_datatool(p)
    h = rec.header
    assert h.labels == ("ch_21", "ch_47", "ch_83", "ch_12") and h.streams == ("2",)
    np.testing.assert_array_equal(rec.counts, [40, 0, 25, 7])
    # the spike sits 25 samples (1 ms) into each cutout; "%.3f" ms rounds to 0.5 us
    np.testing.assert_allclose(rec.times, np.concatenate(list(spikes.values())), atol=1e-6)
    assert h.sampling_rate_hz == pytest.approx(fs, rel=1e-3) and h.samples_per_cutout == 75
    assert any("pre-trigger" in n for n in h.notes)
    s = _replay(p, tmp_path, capsys)
    assert s["input_spikes"] == 72


def test_mc_datatool_bad_cell_names_the_line(tmp_path):
    p = _write_mc_datatool(tmp_path / "export.txt", {"21": np.array([0.5, 0.7])}, newline="\n")
    lines = p.read_bytes().split(b"\n")
    lines[80] = lines[80].replace(b".", b",", 1)  # 2nd cutout's first row: a decimal comma
    p.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=r"line 81: .* is not 't  value  unit' numbers"):
        read_mc_datatool(p)


# --- NWB Units table --------------------------------------------------------------------------


def _write_nwb(path, trains, electrode_of):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="units for bioloop", identifier="bioloop-test",
                  session_start_time=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))
    dev = nwb.create_device(name="MEA")
    grp = nwb.create_electrode_group(name="mea", description="8x8", location="culture",
                                     device=dev)
    for i in range(4):
        nwb.add_electrode(location="culture", group=grp, x=200.0 * (i + 1), y=400.0, z=0.0)
    for tr, e in zip(trains, electrode_of, strict=True):
        nwb.add_unit(spike_times=tr, electrodes=[e])
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_nwb_units_table(tmp_path, rng, capsys):
    trains = _trains(rng, 3, 0.0, 20.0)
    p = _write_nwb(tmp_path / "units.nwb", trains, [0, 2, 2])
    assert sniff_format(p) == "nwb"
    rec = read_nwb_units(p)
    h = rec.header
    assert h.labels == ("e0_unit0", "e2_unit1", "e2_unit2") and h.electrode_ids == (0, 2, 2)
    np.testing.assert_array_equal(h.positions_um, [[200, 400], [600, 400], [600, 400]])
    ev = rec.spike_events()
    np.testing.assert_array_equal(ev.counts(), [t.size for t in trains])
    np.testing.assert_array_equal(np.sort(ev.times), np.sort(np.concatenate(trains)))
    s = _replay(p, tmp_path, capsys)
    assert s["input_spikes"] == sum(t.size for t in trains)


# --- Cortical Labs CL API recordings ----------------------------------------------------------


def _write_cl(path, spike_frames, spike_chans, stim_frames, stim_chans, *, start=1_000_000,
              relative=True, duration_frames=None):
    """The cl SDK recorder's layout, written with PyTables as the SDK does."""
    import tables

    class SpikeRow(tables.IsDescription):
        timestamp = tables.Int64Col(pos=0)
        channel = tables.UInt8Col(pos=1)
        samples = tables.Float32Col(shape=(75,))

    class StimRow(tables.IsDescription):
        timestamp = tables.Int64Col(pos=0)
        channel = tables.UInt8Col(pos=1)

    shift = 0 if relative else start
    with tables.open_file(str(path), mode="w") as f:
        attrs = {"application": {}, "created_utc": "2025-03-01T10:00:00+00:00",
                 "ended_utc": None, "git_hash": None, "channel_count": 64,
                 "sampling_frequency": 25_000, "frames_per_second": 25_000,
                 "uV_per_sample_unit": 0.195, "start_timestamp": start,
                 "end_timestamp": start + (duration_frames or 0),
                 "duration_frames": duration_frames,
                 "duration_seconds": None if duration_frames is None else duration_frames / 25e3,
                 "file_format": {"version": "1",
                                 "stim_and_spike_timestamps_relative_to_start": relative}}
        for k, v in attrs.items():
            f.root._v_attrs[k] = v
        sp = f.create_table("/", "spikes", SpikeRow)
        for t, c in zip(spike_frames, spike_chans, strict=True):
            sp.row["timestamp"] = t + shift
            sp.row["channel"] = c
            sp.row["samples"] = np.zeros(75, np.float32)
            sp.row.append()
        sp.cols.timestamp.create_index()
        st = f.create_table("/", "stims", StimRow)
        for t, c in zip(stim_frames, stim_chans, strict=True):
            st.row["timestamp"] = t + shift
            st.row["channel"] = c
            st.row.append()
    return path


@pytest.fixture
def cl_file(tmp_path, rng):
    n = 600
    frames = np.sort(rng.integers(0, 20 * 25_000, n))
    chans = rng.integers(0, 64, n)
    stim_f = np.arange(10) * 50_000 + 1234
    stim_c = np.array([3, 7] * 5)
    p = _write_cl(tmp_path / "2025-03-01_10-00-00.000+00-00_recording.h5", frames, chans,
                  stim_f, stim_c, duration_frames=20 * 25_000)
    return p, frames, chans, stim_f, stim_c


def test_cl_recording(cl_file, tmp_path, capsys):
    p, frames, chans, stim_f, stim_c = cl_file
    assert sniff_format(p) == "cl"
    rec = read_cl_recording(p)
    h = rec.header
    assert h.n_channels == 64 and h.labels[:2] == ("ch0", "ch1") and h.t_stop == 20.0
    ev = rec.spike_events()
    np.testing.assert_array_equal(ev.times, frames / 25_000.0)  # exact: frames / 25 kHz
    np.testing.assert_array_equal(ev.channels, chans)
    np.testing.assert_array_equal(rec.stimulation.times, stim_f / 25_000.0)
    assert rec.stimulation.electrodes().tolist() == [f"ch{c}" for c in stim_c]
    assert any("pickles" in n and "file_format" in n for n in h.notes)
    assert h.timestamps == "relative to start_timestamp"
    s = _replay(p, tmp_path, capsys)
    assert s["input_spikes"] == frames.size
    # the rig's own stimulation travels with the session, shown beside bioloop's
    from bioloop.recording import RecordedStimulation
    from bioloop.session import read_session
    from bioloop.session.plots import session_raster

    sf = read_session(tmp_path / (p.name + ".session.nix"))
    back = RecordedStimulation.from_meta(sf.meta["source"]["recorded_stimulation"])
    np.testing.assert_array_equal(back.times, stim_f / 25_000.0)
    assert back.electrodes().tolist() == [f"ch{c}" for c in stim_c]
    assert session_raster(sf, tmp_path / "session.png").stat().st_size > 10_000
    from argparse import Namespace

    from bioloop.cli.inspect_cmd import _run_session
    shown = _run_session(Namespace(session="s.nix", no_plot=True), sf)
    assert shown["recorded_stimulations"] == 10 and shown["input_spikes"] == frames.size


def test_cl_absolute_timestamps_shifted(tmp_path, rng):
    frames = np.sort(rng.integers(0, 5 * 25_000, 50))
    p = _write_cl(tmp_path / "abs.h5", frames, np.zeros(50, int), [100], [1], relative=False,
                  duration_frames=5 * 25_000)
    rec = read_cl_recording(p)
    np.testing.assert_array_equal(rec.spike_events().times, frames / 25_000.0)
    assert rec.stimulation.times.tolist() == [100 / 25_000.0]
    assert "shifted" in rec.header.timestamps


def test_cl_pickled_attribute_is_never_run(tmp_path, rng):
    marker = tmp_path / "pwned"
    p = _write_cl(tmp_path / "evil.h5", [10, 20], [1, 2], [], [])
    with h5py.File(p, "a") as h5:  # a pickle that would run a shell command when loaded
        h5.attrs["application"] = np.bytes_(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    rec = read_cl_recording(p)
    assert len(rec.spike_events()) == 2 and not marker.exists()
    assert any("application" in n for n in rec.header.notes)


def test_inspect_a_recording(cl_file, tmp_path, capsys):
    p, frames, chans, *_ = cl_file
    png = tmp_path / "cl.png"
    assert main(["inspect", str(p), "--png", str(png), "--json"]) == 0
    s = _json(capsys)
    assert s["format"] == "cl" and s["n_spikes"] == frames.size and s["n_channels"] == 64
    assert s["span_s"] == 20.0 and s["recorded_stimulation"] == 10
    assert s["rates_hz"]["ch5"] == pytest.approx(np.count_nonzero(chans == 5) / 20.0)
    assert s["notes"] and png.stat().st_size > 10_000
    assert main(["inspect", str(p), "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "format         cl" in text and "ch5" in text and "notes" in text


# --- none of these ----------------------------------------------------------------------------


def test_a_text_file_neo_cannot_read_names_the_formats_and_what_the_table_reader_saw(tmp_path, capsys):
    p = tmp_path / "spikes.txt"
    p.write_bytes(b"ch_12A\tch_13A\n0.5\t0.2\n0.1\t\n")  # a timestamp table, but unsorted
    assert main(["inspect", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a recording bioloop reads; tried" in err[0]
    assert "timestamp table: spike times of channel 'ch_12A' are not sorted" in err[0]


def test_an_empty_file_is_refused_as_empty(tmp_path, capsys):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    assert main(["inspect", str(p)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"bioloop inspect: error: recording file {p} is empty (0 bytes)"]


@pytest.mark.parametrize("name, content", [("mystery.dat", b"hello, this is not a recording\n"),
                                           ("mystery.xyz", bytes(range(256)) * 4),
                                           ("table.xyz", b"a\tb\n1\t2\n3\t\n5\t6\n"),
                                           # .txt goes to Neo's AsciiSignalIO, which fails its own way
                                           ("notes.txt", b"hello world\n1 2 3\n"),
                                           ("spikes.txt", b"ch_12A\tch_13A\n0.1\t0.2\nabc\t\n")])
def test_unknown_file_one_line_naming_the_formats(tmp_path, capsys, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    assert main(["replay", str(p), "--out", str(tmp_path / "x.nix")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert "not a recording bioloop reads; tried" in err[0]
    for what in FORMATS_TRIED.values():
        assert what in err[0]
    if name == "table.xyz":  # it looked like a timestamp table: why it is not one is said too
        assert "column 'b' has a blank cell at row 3" in err[0]


# --- Elephant stays out of a spike-time replay ------------------------------------------------


def test_replay_of_spike_times_imports_no_elephant(tmp_path, rng):
    p = _write_sjemea(tmp_path / "small.h5", _trains(rng, 4, 0.0, 5.0), names=MCS_LABELS[:4],
                      duration=5.0)
    code = ("import sys\nfrom bioloop.cli import main\n"
            f"rc = main(['replay', {str(p)!r}, '--out', {str(tmp_path / 's.nix')!r}, '--json'])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'elephant')\n"
            "print('ELEPHANT', rc, len(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "ELEPHANT 0 0"


# --- one noise estimate -----------------------------------------------------------------------


def test_one_robust_noise_estimate_for_every_detector(rng):
    from scipy.stats import median_abs_deviation

    from bioloop.adapters import neo_files
    from bioloop.spiketools import robust_noise

    assert neo_files.robust_noise is robust_noise  # offline detection uses the core's estimate
    x = rng.normal(2.0, 3.0, (40_000, 3))
    x[::97, 1] -= 60.0  # spikes on ~1 % of one channel's samples barely move it
    med, sd = robust_noise(x, axis=0)
    for k in range(3):  # the column form (the online detector's) equals the 1-D form
        assert (med[k], sd[k]) == robust_noise(x[:, k])
    np.testing.assert_array_equal(sd, median_abs_deviation(x, axis=0, scale="normal"))
    # MAD-based sd of 40,000 Gaussian samples: sampling error ~0.6 %; 1 % outliers inflate it
    # by ~1.5 %: 4 % covers both
    np.testing.assert_allclose(sd, 3.0, rtol=0.04)
