"""The replay loop: exactness of the optimistic runner, counts that add up, blanking, journal."""

from __future__ import annotations

import numpy as np
import pytest
from backend_helpers import OneCycleAtATime

from bioloop.encoder import SpikeFate
from bioloop.session import SessionLog, read_journal
from bioloop.session.build import SessionOptions, build, run_replay
from bioloop.session.runner import replay
from bioloop.synthetic import synthetic_culture
from bioloop.types import SpikeEvents


def _run(events, opts, *, rewind=True):
    parts = build(events, opts)
    backend = parts.backend if rewind else OneCycleAtATime(parts.backend)
    log = SessionLog(events.labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta)
    replay(events, encoder=parts.encoder, backend=backend, stimulator=parts.stimulator, log=log)
    return log


def _assert_same(a: SessionLog, b: SessionLog):
    for group, name in (("in", "times"), ("in", "fates"), ("ax", "cycles"), ("ax", "axon"), ("fire", "cycles"),
                        ("fire", "dend"), ("stim", "times"), ("stim", "electrode"), ("ref", "reason")):
        x = a.array(group, name)
        y = b.array(group, name)
        if group == "in":  # chunking differs: compare in time order
            x = x[np.argsort(a.array("in", "times"), kind="stable")]
            y = y[np.argsort(b.array("in", "times"), kind="stable")]
        np.testing.assert_array_equal(x, y, err_msg=f"{group}.{name}")
    assert a.summary()["refused"] == b.summary()["refused"]
    assert a.ignored_refractory == b.ignored_refractory


@pytest.fixture(scope="module")
def culture():
    return synthetic_culture(n_electrodes=32, duration=12.0, seed=3)


@pytest.mark.parametrize("network,gclk", [("relay", 1e3), ("relay", 50e3), ("burst:2", 1e3), ("lateral", 20e3)])
def test_optimistic_runner_equals_exact_stepping(culture, network, gclk):
    # short min_interval and a high rate cap so that stimulation, and hence blanking, is frequent
    from bioloop.stimulator import StimulatorConfig

    opts = SessionOptions(network=network, gclk_hz=gclk, blanking=5e-3,
                          stimulator=StimulatorConfig(min_interval=2e-3, rate_cap=2000))
    fast = _run(culture, opts, rewind=True)
    exact = _run(culture, opts, rewind=False)
    assert fast.summary()["dropped"]["blanked"] > 0, "the test must exercise blanking"
    _assert_same(fast, exact)


def test_chunk_size_does_not_change_the_result(culture):
    # a chunk's blanking is settled by fixed-point iteration: tiny and huge chunks agree exactly
    from bioloop.session.runner import Pacing
    from bioloop.stimulator import StimulatorConfig

    opts = SessionOptions(network="relay", gclk_hz=20e3, blanking=5e-3,
                          stimulator=StimulatorConfig(min_interval=2e-3, rate_cap=2000))
    logs = []
    for chunk_s in (0.003, 12.0):
        parts = build(culture, opts)
        log = SessionLog(culture.labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta)
        replay(culture, encoder=parts.encoder, backend=parts.backend, stimulator=parts.stimulator, log=log,
               pacing=Pacing(chunk_s=chunk_s))
        logs.append(log)
    assert logs[0].summary()["dropped"]["blanked"] > 0
    _assert_same(*logs)


def test_window_encoding_applies_the_encoders_rules(rng):
    # the replay's path (whole window once, blanking applied as it comes) and the encoder's
    # per-call path with the same windows give every spike the same fate
    from bioloop.encoder import BlankingWindows, ElectrodeMap, Encoder, EncoderConfig
    from bioloop.types import StimCommands

    n, n_el = 400, 20
    ev = SpikeEvents(np.sort(rng.uniform(0.0, 1.0, n)), rng.integers(0, n_el, n), tuple(f"e{i}" for i in range(n_el)),
                     0.0, 1.0)
    for scope in ("electrode", "global"):
        enc = Encoder(EncoderConfig(gclk_hz=5e3, t_start=0.1, t_stop=0.9, blanking=3e-3, blanking_scope=scope),
                      ElectrodeMap.default(n_el))
        k = 15
        cmds = StimCommands(np.sort(rng.uniform(0.0, 1.0, k)), rng.integers(0, n_el, k), np.full(k, -1e-6),
                            np.full(k, 2e-4), np.zeros(k))
        want = enc.encode(ev, BlankingWindows().extend(enc.blanking_for(cmds)))
        win = enc.encode_window(ev)
        win.blank(cmds, 0)
        got = win.chunk(0, win.n)
        inside = (ev.times >= 0.1) & (ev.times <= 0.9)
        np.testing.assert_array_equal(got.fates, want.fates[inside])
        np.testing.assert_array_equal(got.frames.cycles, want.frames.cycles)
        np.testing.assert_array_equal(got.frames.axon, want.frames.axon)
        # the live path, one chunk: the same rules again
        stream = enc.stream()
        stream.blank(cmds)
        fates, frames = stream.encode(ev.times, ev.channels, stream.cycles_of(ev.times))
        np.testing.assert_array_equal(fates, want.fates)
        np.testing.assert_array_equal(frames.cycles, want.frames.cycles)


def test_counts_add_up(culture):
    s = _run(culture, SessionOptions(network="burst:3", t_start=1.0, t_stop=9.0)).summary()
    assert s["input_spikes"] == len(culture)
    assert s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    assert s["dropped"]["outside_window"] > 0
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    assert s["duration_s"] == pytest.approx(8.0)


def test_stimulation_blanks_the_stimulated_electrode_only():
    # electrode 0 spikes at 10 ms and 11 ms, electrode 1 at 11 ms; relay fires on the first,
    # the stimulation of electrode 0 (200 us x 2 + 2 ms blanking) removes its 11 ms spike only
    ev = SpikeEvents([0.010, 0.011, 0.011], [0, 0, 1], ("a", "b"), 0.0, 0.1)
    log = _run(ev, SessionOptions(network="relay", gclk_hz=1e3, mismatch=False))
    fates = log.fates
    assert fates.tolist() == [SpikeFate.PULSE, SpikeFate.BLANKED, SpikeFate.PULSE]
    assert log.stim_commands.electrode.tolist() == [0, 1]
    # the stimulation comes after the GCLK edge that sampled its input, never before it
    assert np.all(log.stim_commands.times > np.array([0.010, 0.011]))


def test_global_blanking_blanks_every_electrode():
    ev = SpikeEvents([0.010, 0.011, 0.011], [0, 0, 1], ("a", "b"), 0.0, 0.1)
    log = _run(ev, SessionOptions(network="relay", mismatch=False, blanking_scope="global"))
    assert log.summary()["dropped"]["blanked"] == 2


def test_journal_recovers_a_session_cut_short(tmp_path, culture):
    out = tmp_path / "s.nix"
    opts = SessionOptions(network="relay")
    s = run_replay(culture, opts, out, keep_journal=True)
    journal = tmp_path / "s.nix.journal"
    full = read_journal(journal)
    assert full.complete and full.damaged_tail_bytes == 0
    # a crash: the last record torn in half
    data = journal.read_bytes()
    cut = tmp_path / "cut.journal"
    cut.write_bytes(data[: len(data) - 40])
    part = read_journal(cut)
    assert not part.complete and part.damaged_tail_bytes > 0
    log = SessionLog.from_records(part.records)
    rs = log.summary()
    assert rs["input_spikes"] <= s["input_spikes"]
    assert rs["input_spikes"] == rs["axon_pulses"] + sum(rs["dropped"].values())
    assert rs["fires"] == rs["stimulations"] + sum(rs["refused"].values())
    assert log.meta["recovered"] is True


def test_journal_records_reach_the_file_before_close_in_order(tmp_path, rng):
    # appended records are written by the journal's own thread: on the disk (readable by
    # another reader, as after a crash) soon after append returns, in order, all of them
    import time

    from bioloop.session import JournalWriter

    path = tmp_path / "j.journal"
    sent = [rng.integers(0, 100, size=int(n)) for n in rng.integers(1, 50, size=20)]
    with JournalWriter(path, sync_interval=0.05) as journal:
        for i, a in enumerate(sent):
            journal.append("chunk", {"i": i}, values=a)
        deadline = time.monotonic() + 10
        while len(read_journal(path).records) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.01)
        got = read_journal(path)
        assert [r.meta["i"] for r in got.records] == list(range(len(sent)))
        assert not got.complete and got.damaged_tail_bytes == 0
        journal.append("end", {})
    final = read_journal(path)
    assert final.complete and len(final.records) == len(sent) + 1
    for rec, a in zip(final.records, sent, strict=False):
        np.testing.assert_array_equal(rec.arrays["values"], a)


def test_a_burst_is_journaled_in_records_of_bounded_size(tmp_path, monkeypatch):
    # a loop that never waits for input (a network burst) journals from add_chunk, in records of
    # at most twice JOURNAL_BATCH_CHUNKS chunks (writing a record stalls the loop for its size);
    # a waiting loop's tick writes once JOURNAL_BATCH_CHUNKS are pending; nothing is lost
    import time

    import bioloop.session.log as log_mod
    from bioloop.session import JournalWriter

    monkeypatch.setattr(log_mod, "JOURNAL_BATCH_S", 60.0)  # here only the count bounds a record
    cap = log_mod.JOURNAL_BATCH_CHUNKS
    labels = ("a", "b")
    path = tmp_path / "burst.journal"

    def chunk(i):
        return SpikeEvents([i * 1e-3], [i % 2], labels, i * 1e-3, (i + 1) * 1e-3)

    def chunk_sizes():
        return [len(r.arrays["in.times"]) for r in read_journal(path).records if r.kind == "chunk"]

    with JournalWriter(path, sync_interval=0.05) as journal:
        log = SessionLog(labels, 1e3, 1, {}, journal)
        n = 0
        for _ in range(4 * cap + 3):  # a burst: no tick in between
            log.add_chunk(spikes=chunk(n), fates=[int(SpikeFate.PULSE)])
            n += 1
            assert len(log._pending) < 2 * cap
        log.tick()  # fewer than cap pending, and young: nothing written
        assert 0 < len(log._pending) < cap
        while len(log._pending) < cap:
            log.add_chunk(spikes=chunk(n), fates=[int(SpikeFate.PULSE)])
            n += 1
        log.tick()  # cap pending: written
        assert not log._pending
        deadline = time.monotonic() + 10
        while sum(chunk_sizes()) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        sizes = chunk_sizes()
    assert max(sizes) <= 2 * cap and sum(sizes) == n
    back = SessionLog.from_records(read_journal(path).records)
    np.testing.assert_array_equal(back.array("in", "times"), np.arange(n) * 1e-3)


def test_session_file_reads_back_with_plain_neo(tmp_path, culture):
    from neo.io import NixIO

    out = tmp_path / "s.nix"
    s = run_replay(culture, SessionOptions(network="relay"), out)
    assert not (tmp_path / "s.nix.journal").exists()
    with NixIO(str(out), mode="ro") as io:
        blk = io.read_block()
    seg = blk.segments[0]
    sigs = {sig.name: sig for sig in seg.irregularlysampledsignals}
    inputs = sigs["input_all"]
    assert inputs.annotations["columns"] == "channel,fate"
    assert inputs.shape[0] == s["input_spikes"]
    fates = np.asarray(inputs.magnitude[:, 1]).astype(int)
    assert int(np.sum(fates == SpikeFate.PULSE)) == s["axon_pulses"]
    stim = next(e for e in seg.events if e.name == "stimulation")
    assert len(stim) == s["stimulations"]
    detail = sigs["stimulation_detail"]
    assert detail.annotations["columns"].split(",")[:4] == ["electrode", "amplitude_uA", "phase_width_us",
                                                            "interphase_us"]
    np.testing.assert_array_equal(detail.times.rescale("s").magnitude, stim.times.rescale("s").magnitude)
    assert "summary_json" in blk.annotations and "meta_json" in blk.annotations


def test_run_replay_refuses_bad_output_paths(tmp_path, culture):
    with pytest.raises(ValueError, match=r"\.nix"):
        run_replay(culture, SessionOptions(), tmp_path / "s.h5")
    with pytest.raises(ValueError, match="does not exist"):
        run_replay(culture, SessionOptions(), tmp_path / "nope" / "s.nix")
    (tmp_path / "x.nix.journal").write_bytes(b"junk")
    with pytest.raises(ValueError, match="recover"):
        run_replay(culture, SessionOptions(), tmp_path / "x.nix")
    assert not (tmp_path / "x.nix").exists()


def test_window_outside_recording_is_refused(culture):
    with pytest.raises(ValueError, match="outside the recording"):
        build(culture, SessionOptions(t_start=-5.0))
    with pytest.raises(ValueError, match="empty"):
        build(culture, SessionOptions(t_start=5.0, t_stop=4.0))
