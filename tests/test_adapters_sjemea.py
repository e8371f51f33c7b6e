"""The sjemea HDF5 reader on the shared recordings, and on bad files written here."""

from __future__ import annotations

import shutil

import h5py
import neo
import numpy as np
import pytest

from bioloop import neoconv
from bioloop.adapters.files import open_recording
from bioloop.adapters.sjemea import SjemeaIO, read_sjemea

HIPSN = "hiPSN_tc65_d27_spikes6sd.h5"
CO = "CO_20140212_MW1007-51_DIV12_00_001.h5"
MACCIONE = "Maccione2014_P9_29March11_control_SpkTs_bursts_filtered.h5"


@pytest.fixture(scope="module")
def co(recordings_dir):
    """The 48-well plate file, read once (696,637 spikes)."""
    return read_sjemea(recordings_dir / CO)


@pytest.fixture(scope="module")
def maccione(recordings_dir):
    """The 4,096-electrode retina file, read once (355,361 spikes)."""
    return read_sjemea(recordings_dir / MACCIONE)


def _scount(path) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return h5["sCount"][()]


# --- the shared recordings (counts from the shared README table) ------------------------------


def test_hipsn_matches_readme(recordings_dir):
    rec = read_sjemea(recordings_dir / HIPSN)
    ev = rec.spike_events()
    assert (ev.n_channels, len(ev)) == (28, 26_023)
    assert (ev.t_start, ev.t_stop) == (0.0, 301.0)  # README: 301 s
    np.testing.assert_array_equal(ev.counts(), _scount(recordings_dir / HIPSN))
    assert rec.header.meta["species"] == "human" and rec.header.meta["age"] == 27


def test_hipsn_array_attribute_contradicts_positions(recordings_dir):
    h = read_sjemea(recordings_dir / HIPSN).header
    assert h.array == "APS_64x64_42um"
    pos = h.positions_um
    assert pos.shape == (28, 2)
    steps = np.diff(np.unique(pos[:, 0]))
    assert steps.min() == 200.0 and pos.max() <= 1600.0  # MCS 8x8, 200 um
    assert any("200 um pitch" in n and "APS_64x64_42um" in n for n in h.notes)


def test_hipsn_equals_its_derived_nix(recordings_dir):
    ev = read_sjemea(recordings_dir / HIPSN).spike_events()
    io = neo.io.NixIO(str(recordings_dir / "derived" / "hiPSN_tc65_d27_spikes6sd.nix"), mode="ro")
    nix = neoconv.spike_events_from_neo(io.read_block())
    io.close()
    np.testing.assert_array_equal(nix.times, ev.times)
    np.testing.assert_array_equal(nix.channels, ev.channels)
    assert nix.labels == ev.labels and nix.t_stop == ev.t_stop


def test_co_plate_matches_readme(co, recordings_dir):
    ev = co.spike_events()
    h = co.header
    assert (ev.n_channels, len(ev)) == (731, 696_637)
    assert len(set(h.wells)) == 47 and len(h.plate_wells) == 48
    # README: 164-1125 s; the file gives first and last spike exactly
    assert 164 <= ev.t_start < 165 and 1124 < ev.t_stop <= 1125
    assert ev.times[0] == ev.t_start and ev.times[-1] == ev.t_stop
    np.testing.assert_array_equal(ev.counts(), _scount(recordings_dir / CO))
    assert any("A4" in n and "no active electrode" in n for n in h.notes)
    assert h.treatment["A1"] == "control" and h.dose["A1"] == "0 uM"


def test_co_one_well_is_a_16_channel_input(co, recordings_dir):
    rec = read_sjemea(recordings_dir / CO, well="B2")
    ev = rec.spike_events()
    assert ev.n_channels == 16
    assert all(lab.startswith("B2_") for lab in ev.labels)
    assert rec.header.selected_well == "B2" and set(rec.header.wells) == {"B2"}
    full = co.spike_events()
    idx = [full.labels.index(lab) for lab in ev.labels]
    np.testing.assert_array_equal(ev.counts(), full.counts()[idx])
    assert (ev.t_start, ev.t_stop) == (full.t_start, full.t_stop)  # the plate's segment
    # 4 x 4 electrodes, 200 um apart
    assert len(np.unique(rec.header.positions_um[:, 0])) == 4
    assert np.diff(np.unique(rec.header.positions_um[:, 1])).tolist() == [200.0] * 3


def test_co_wells_partition_the_plate(co, recordings_dir):
    total = sum(len(read_sjemea(recordings_dir / CO, well=w).times)
                for w in sorted(set(co.header.wells)))
    assert total == len(co.times)


@pytest.mark.parametrize("well, match", [("A4", "no active electrode"),
                                         ("Z9", "not on this plate; wells: A1, A2")])
def test_co_bad_well(recordings_dir, well, match):
    with pytest.raises(ValueError, match=match) as err:
        read_sjemea(recordings_dir / CO, well=well)
    assert CO in str(err.value)


def test_well_on_a_single_array_file_refused(recordings_dir):
    with pytest.raises(ValueError, match="not a multi-well plate"):
        read_sjemea(recordings_dir / HIPSN, well="A1")
    with pytest.raises(TypeError, match="well must be a string"):
        read_sjemea(recordings_dir / CO, well=1)


def test_maccione_matches_readme(maccione, recordings_dir):
    ev = maccione.spike_events()
    assert (ev.n_channels, len(ev)) == (1142, 355_361)
    assert (ev.t_start, ev.t_stop) == (0.0, 1800.0)
    pos = maccione.header.positions_um
    assert np.diff(np.unique(pos[:, 0])).min() == 42.0 and pos.max() <= 63 * 42.0
    assert maccione.header.notes == ()  # /array and /epos agree
    np.testing.assert_array_equal(maccione.channel_times(5),
                                  np.sort(maccione.channel_times(5)))


def test_sjemea_io_block(recordings_dir):
    blk = SjemeaIO(str(recordings_dir / HIPSN)).read_block()
    trains = blk.segments[0].spiketrains
    assert len(trains) == 28 and trains[0].name == "ch_13_unit_0"
    assert (trains[0].annotations["x_um"], trains[0].annotations["y_um"]) == (200.0, 1200.0)
    assert sum(len(t) for t in trains) == 26_023
    assert blk.annotations["meta_species"] == "human"
    plate = SjemeaIO(str(recordings_dir / CO), well="A1").read_block()
    assert {t.annotations["well"] for t in plate.segments[0].spiketrains} == {"A1"}
    assert plate.annotations["treatment"] == "control"
    with pytest.raises(ValueError, match="lazy"):
        SjemeaIO(str(recordings_dir / HIPSN)).read_block(lazy=True)


def test_open_recording_sniffs_sjemea(recordings_dir):
    src = open_recording(recordings_dir / CO, well="A1")
    assert src.format == "sjemea" and src.read_all().n_channels == 16
    assert src.positions_um.shape == (16, 2)


# --- bad files --------------------------------------------------------------------------------


def _write(path, spikes, counts, names=None, duration=10.0, epos=None, **extra):
    n = len(counts)
    names = names or [f"ch_{i}" for i in range(n)]
    with h5py.File(path, "w") as h5:
        h5["spikes"] = np.asarray(spikes, np.float64)
        h5["sCount"] = np.asarray(counts, np.int32)
        h5["names"] = np.array([s.encode() for s in names])
        h5["epos"] = np.zeros((2, n)) if epos is None else epos
        h5["array"] = np.array([b"MCS_8x8_200um"])
        if duration is not None:
            h5["summary/duration"] = np.array([duration])
        for k, v in extra.items():
            h5[k] = v
    return path


def test_good_small_file_reads(tmp_path):
    p = _write(tmp_path / "ok.h5", [0.5, 1.0, 0.2], [2, 1])
    ev = read_sjemea(p).spike_events()
    assert ev.times.tolist() == [0.2, 0.5, 1.0] and ev.channels.tolist() == [1, 0, 0]


@pytest.mark.parametrize("spikes, counts, kw, match", [
    ([0.5, 0.2, 1.0], [2, 1], {}, "channel 'ch_0' are not sorted"),
    ([0.5, np.nan, 1.0], [2, 1], {}, "must be finite"),
    ([-0.5, 0.2, 1.0], [2, 1], {}, "negative"),
    ([], [0, 0], {}, "holds no spikes"),
    ([0.5, 0.6, 1.0], [2, 2], {}, "adds up to 4 spikes but /spikes holds 3"),
    ([0.5, 0.6, 1.0], [2, 1], {"names": ["a", "b", "c"]}, "3 labels but /sCount has 2"),
    ([0.5, 0.6, 1.0], [2, 1], {"epos": np.zeros((3, 3))}, "/epos has shape"),
    ([0.5, 0.6, 1.0], [2, 1], {"duration": -1.0}, "positive number of seconds"),
])
def test_bad_content(tmp_path, spikes, counts, kw, match):
    p = _write(tmp_path / "bad.h5", spikes, counts, **kw)
    with pytest.raises(ValueError, match=match) as err:
        read_sjemea(p)
    assert str(p) in str(err.value)


def test_unsorted_across_channel_boundary_is_fine(tmp_path):
    # channel 1 starts earlier than channel 0 ends: the layout is grouped, not global
    p = _write(tmp_path / "ok.h5", [5.0, 6.0, 1.0, 2.0], [2, 2])
    assert len(read_sjemea(p).spike_events()) == 4


def test_missing_and_corrupt_files(tmp_path, recordings_dir):
    with pytest.raises(ValueError, match="does not exist"):
        read_sjemea(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_sjemea(text)
    cut = tmp_path / "truncated.h5"
    shutil.copyfile(recordings_dir / HIPSN, cut)
    with open(cut, "r+b") as fh:
        fh.truncate(cut.stat().st_size // 2)
    with pytest.raises(ValueError, match="truncated or corrupt") as err:
        read_sjemea(cut)
    assert str(cut) in str(err.value)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["data"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"not the sjemea layout; missing dataset\(s\)"):
        read_sjemea(other)
    with pytest.raises(TypeError, match="str or Path"):
        read_sjemea(3)
    # the same files through the one entry point
    with pytest.raises(ValueError, match="truncated or corrupt"):
        open_recording(cut)
    with pytest.raises(ValueError, match="not a recording bioloop reads; tried sjemea") as err:
        open_recording(other)
    assert str(other) in str(err.value)


def test_no_duration_uses_last_spike_and_says_so(tmp_path):
    p = _write(tmp_path / "nodur.h5", [0.5, 1.0, 0.2], [2, 1], duration=None)
    rec = read_sjemea(p)
    assert rec.header.t_stop == 1.0 and "last spike" in rec.header.segment_from


def test_summary_mismatch_is_noted(tmp_path):
    p = _write(tmp_path / "s.h5", [0.5, 1.0, 0.2], [2, 1],
               **{"summary/totalspikes": np.array([4])})
    assert any("totalspikes = 4" in n for n in read_sjemea(p).header.notes)


def test_plate_label_without_well_refused(tmp_path):
    p = _write(tmp_path / "plate.h5", [0.5, 1.0, 0.2], [2, 1], names=["A1_11", "X_12"],
               well=np.array([b"A1", b"A2"]))
    with pytest.raises(ValueError, match="do not start with a well"):
        read_sjemea(p)


def test_inspect_a_well_writes_its_own_raster(recordings_dir, tmp_path, capsys, monkeypatch):
    import json

    from bioloop.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["inspect", str(recordings_dir / CO), "--json"]) == 0
    plate = json.loads(capsys.readouterr().out)
    assert main(["inspect", str(recordings_dir / CO), "--well", "B2", "--json"]) == 0
    well = json.loads(capsys.readouterr().out)
    assert plate["raster"] == f"{CO}.png" and well["raster"] == f"{CO}.B2.png"
    assert (tmp_path / plate["raster"]).stat().st_size > 0 and (tmp_path / well["raster"]).stat().st_size > 0
    assert well["well"] == "B2" and well["n_channels"] <= 16 and all(lab.startswith("B2_") for lab in well["labels"])
    assert well["n_spikes"] == sum(round(r * well["span_s"]) for r in well["rates_hz"].values())
