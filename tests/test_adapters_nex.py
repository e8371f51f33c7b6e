"""The NeuroExplorer timestamp-text reader on TC89, and on bad files written here."""

from __future__ import annotations

import neo
import numpy as np
import pytest

from bioloop import neoconv
from bioloop.adapters.files import open_recording, sniff_format
from bioloop.adapters.nex_timestamps import NexTimestampsIO, read_nex_timestamps

TC89 = "TC89_DIV15_A.nexTimestamps"


@pytest.fixture(scope="module")
def tc89(recordings_dir):
    return read_nex_timestamps(recordings_dir / TC89)


def test_tc89_matches_readme(tc89):
    ev = tc89.spike_events()
    # README: 59 electrodes, 208,277 spikes, 0-911.6 s
    assert (ev.n_channels, len(ev)) == (59, 208_277)
    assert (ev.t_start, ev.t_stop) == (0.0, 911.6)
    assert ev.labels[0] == "ch_12A_unit_0"
    assert tc89.header.grid[0].tolist() == [1, 2]  # column 1, row 2
    assert tc89.header.grid.min() >= 1 and tc89.header.grid.max() <= 8
    assert "Sweep_Start" not in ev.labels and "Sweep_Stop" not in ev.labels


def test_tc89_first_row_read_right(tc89):
    # the first data row holds each column's first spike: 16.671360 for ch_12A, 1.380560 ch_23A
    first = {lab: tc89.times[np.concatenate([[0], np.cumsum(tc89.counts)])[i]]
             for i, lab in enumerate(tc89.header.labels)}
    assert first["ch_12A_unit_0"] == 16.67136 and first["ch_23A_unit_0"] == 1.38056


def test_tc89_equals_its_derived_nix(tc89, recordings_dir):
    ev = tc89.spike_events()
    io = neo.io.NixIO(str(recordings_dir / "derived" / "TC89_DIV15_A.nix"), mode="ro")
    nix = neoconv.spike_events_from_neo(io.read_block())
    io.close()
    np.testing.assert_array_equal(nix.times, ev.times)
    np.testing.assert_array_equal(nix.channels, ev.channels)
    assert nix.labels == ev.labels and (nix.t_start, nix.t_stop) == (ev.t_start, ev.t_stop)


def test_io_block_and_open_recording(tc89, recordings_dir):
    blk = NexTimestampsIO(str(recordings_dir / TC89)).read_block()
    trains = blk.segments[0].spiketrains
    assert len(trains) == 59 and sum(len(t) for t in trains) == 208_277
    assert (trains[0].annotations["grid_col"], trains[0].annotations["grid_row"]) == (1, 2)
    assert sniff_format(recordings_dir / TC89) == "nexTimestamps"
    src = open_recording(recordings_dir / TC89)
    np.testing.assert_array_equal(src.read_all().times, tc89.spike_events().times)


def test_chunked_reading_gives_every_spike_once(tc89, recordings_dir):
    src = open_recording(recordings_dir / TC89, chunk_duration=100.0)
    chunks = []
    while (c := src.read_chunk()) is not None:
        chunks.append(c)
    assert len(chunks) == 10  # 911.6 s in 100 s windows
    assert all(c.t_stop - c.t_start <= 100.0 for c in chunks)
    assert sum(len(c) for c in chunks) == 208_277
    np.testing.assert_array_equal(np.concatenate([c.times for c in chunks]),
                                  tc89.spike_events().times)


# --- bad files --------------------------------------------------------------------------------

HEAD = "ch_12A_unit_0\tch_13A_unit_0\tSweep_Start\tSweep_Stop\r\n"


def _write(tmp_path, text, name="x.nexTimestamps"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_small_good_file(tmp_path):
    p = _write(tmp_path, HEAD + "0.5\t0.25\t0\t2\r\n0.75\t \t \t \r\n\r\n")
    ev = read_nex_timestamps(p).spike_events()
    assert ev.times.tolist() == [0.25, 0.5, 0.75] and ev.channels.tolist() == [1, 0, 0]
    assert ev.t_stop == 2.0


@pytest.mark.parametrize("body, match", [
    ("0.5\t0.25\t0\t2\r\n \t0.3\t \t \r\n0.7\t \t \t \r\n", "blank cell at row 3"),
    ("0.5\tabc\t0\t2\r\n", "row 2, column 'ch_13A_unit_0': 'abc' is not a number"),
    ("0.5\t0.25\t0\t2\t9\r\n", "row 2 has 5 fields but the header has 4"),
    ("0.5\tnan\t0\t2\r\n", "must be finite"),
    ("-0.5\t0.25\t0\t2\r\n", "negative"),
    ("0.5\t0.25\t0\t2\r\n0.4\t \t \t \r\n", "channel 'ch_12A_unit_0' are not sorted"),
    ("0.5\t3.25\t0\t2\r\n", "outside the recording segment"),
    ("0.5\t0.25\t0\t2\r\n0.6\t \t5\t9\r\n", "only single-sweep files"),
    (" \t \t0\t2\r\n", "holds no spikes"),
])
def test_bad_content(tmp_path, body, match):
    p = _write(tmp_path, HEAD + body)
    with pytest.raises(ValueError, match=match) as err:
        read_nex_timestamps(p)
    assert str(p) in str(err.value)


@pytest.mark.parametrize("text, match", [
    ("", "is empty"),
    ("a\ta\r\n1\t2\r\n", "appear more than once"),
    ("a\tSweep_Start\r\n1\t0\r\n", "has no partner"),
    ("Sweep_Start\tSweep_Stop\r\n0\t1\r\n", "no electrode column"),
])
def test_bad_header(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_nex_timestamps(_write(tmp_path, text))


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "bin.nexTimestamps"
    p.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(ValueError, match="binary content"):
        read_nex_timestamps(p)
    with pytest.raises(ValueError, match="does not exist"):
        read_nex_timestamps(tmp_path / "missing.nexTimestamps")


def test_no_sweep_columns_segment_to_last_spike_noted(tmp_path):
    p = _write(tmp_path, "a\tb\n0.5\t0.25\n0.75\t\n")
    rec = read_nex_timestamps(p)
    assert (rec.header.t_start, rec.header.t_stop) == (0.0, 0.75)
    assert rec.header.grid is None  # labels are not MCS ch_<col><row>
    assert any("no Sweep_Start/Sweep_Stop" in n for n in rec.header.notes)
