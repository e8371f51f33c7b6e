"""bioloop.neoconv: core types <-> Neo objects, both directions, in memory and through NIX files."""

from __future__ import annotations

import neo
import numpy as np
import pytest
import quantities as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from bioloop import neoconv
from bioloop.types import AxonFrames, FireEvents, SpikeEvents, StimCommands


def _random_events(rng, n_channels=6, n=500, t0=0.0, t1=10.0) -> SpikeEvents:
    times = rng.uniform(t0, t1, n)
    chans = rng.integers(0, n_channels - 1, n)  # last channel stays empty on purpose
    order = np.lexsort((chans, times))
    return SpikeEvents(times[order], chans[order], tuple(f"e{i}" for i in range(n_channels)),
                       t0, t1)


def _nix_roundtrip(tmp_path, block: neo.Block) -> neo.Block:
    path = tmp_path / "roundtrip.nix"
    io = neo.io.NixIO(str(path), mode="ow")
    io.write_block(block)
    io.close()
    io = neo.io.NixIO(str(path), mode="ro")
    back = io.read_block()
    io.close()
    return back


def _assert_same_events(a: SpikeEvents, b: SpikeEvents):
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.channels, b.channels)
    assert a.labels == b.labels
    assert (a.t_start, a.t_stop) == (b.t_start, b.t_stop)


# --- SpikeEvents ------------------------------------------------------------------------------


def test_spike_events_roundtrip_in_memory_is_exact(rng):
    ev = _random_events(rng, t0=2.5, t1=12.5)
    trains = neoconv.spike_events_to_neo(ev)
    assert [t.name for t in trains] == list(ev.labels)
    assert len(trains[-1]) == 0  # the empty electrode keeps its train
    assert all(t.annotations[neoconv.KIND] == "spikes" for t in trains)
    _assert_same_events(neoconv.spike_events_from_neo(trains), ev)


def test_spike_events_roundtrip_through_nix_file_is_exact(rng, tmp_path):
    ev = _random_events(rng)
    blk = neoconv.spike_events_to_block(ev, name="x", annotations={"tissue": "test"},
                                        channel_annotations={"x_um": np.arange(6) * 200.0})
    back = _nix_roundtrip(tmp_path, blk)
    assert back.annotations["tissue"] == "test"
    assert back.segments[0].spiketrains[2].annotations["x_um"] == 400.0
    _assert_same_events(neoconv.spike_events_from_neo(back), ev)


def test_spike_events_from_neo_converts_units_orders_ties_and_spans_all_trains():
    a = neo.SpikeTrain([500.0, 700.0] * pq.ms, t_start=100 * pq.ms, t_stop=1 * pq.s, name="a")
    b = neo.SpikeTrain([0.5, 2.0] * pq.s, t_start=0.2 * pq.s, t_stop=3 * pq.s, name="b")
    ev = neoconv.spike_events_from_neo([a, b])
    assert ev.labels == ("a", "b")
    np.testing.assert_allclose(ev.times, [0.5, 0.5, 0.7, 2.0], rtol=0, atol=1e-15)
    assert ev.channels.tolist() == [0, 1, 0, 1]  # equal times: channel order
    assert (ev.t_start, ev.t_stop) == (0.1, 3.0)


def test_labels_from_annotations_and_duplicates_made_unique():
    trains = [neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s, name="u"),
              neo.SpikeTrain([0.2] * pq.s, t_stop=1 * pq.s, name="u"),
              neo.SpikeTrain([0.3] * pq.s, t_stop=1 * pq.s, channel_name="A1_12"),
              neo.SpikeTrain([0.4] * pq.s, t_stop=1 * pq.s)]
    assert neoconv.spike_events_from_neo(trains).labels == ("u", "u#2", "A1_12", "unit3")


def test_spike_events_from_neo_skips_chip_trains():
    fr = AxonFrames([3], [0], [1], gclk_hz=10e3)
    seg = neo.Segment()
    seg.spiketrains.extend(neoconv.axon_frames_to_neo(fr, 1))
    seg.spiketrains.append(neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s, name="el"))
    ev = neoconv.spike_events_from_neo(seg)
    assert ev.labels == ("el",) and len(ev) == 1
    only_chip = neo.Segment()
    only_chip.spiketrains.extend(neoconv.axon_frames_to_neo(fr, 1))
    with pytest.raises(ValueError, match="no electrode SpikeTrain"):
        neoconv.spike_events_from_neo(only_chip)


@pytest.mark.parametrize("times, match", [
    ([0.3, 0.1], "not sorted"),
    ([0.1, np.nan], "must be finite"),
])
def test_bad_spike_train_refused(times, match):
    st_ = neo.SpikeTrain(np.array(times) * pq.s, t_stop=1 * pq.s, name="bad")
    with pytest.raises(ValueError, match=match) as err:
        neoconv.spike_events_from_neo([st_])
    assert "'bad'" in str(err.value)


def test_block_segments_selection():
    blk = neo.Block(name="b")
    for k in range(2):
        seg = neo.Segment()
        seg.spiketrains.append(neo.SpikeTrain([0.1 + k] * pq.s, t_stop=5 * pq.s, name="e"))
        blk.segments.append(seg)
    with pytest.raises(ValueError, match="2 segments"):
        neoconv.spike_events_from_neo(blk)
    assert neoconv.spike_events_from_neo(blk, segment=1).times.tolist() == [1.1]
    with pytest.raises(ValueError, match="segment = 2 does not exist"):
        neoconv.spike_events_from_neo(blk, segment=2)
    with pytest.raises(ValueError, match="no segment"):
        neoconv.spike_events_from_neo(neo.Block(name="empty"))


@pytest.mark.parametrize("obj", [None, "file.nix", [1, 2], {"a": 1}])
def test_wrong_container_type(obj):
    with pytest.raises(TypeError):
        neoconv.spike_events_from_neo(obj)


def test_to_neo_type_and_annotation_checks():
    with pytest.raises(TypeError, match="SpikeEvents"):
        neoconv.spike_events_to_neo([0.1])
    ev = SpikeEvents([0.1], [0], ("a", "b"), 0.0, 1.0)
    with pytest.raises(ValueError, match="one per electrode"):
        neoconv.spike_events_to_neo(ev, channel_annotations={"x_um": [1.0]})
    with pytest.raises(TypeError, match="AxonFrames"):
        neoconv.axon_frames_to_neo(ev, 1)
    with pytest.raises(TypeError, match="FireEvents"):
        neoconv.fire_events_to_neo(ev, 1)
    with pytest.raises(TypeError, match="StimCommands"):
        neoconv.stim_commands_to_neo(ev)


# --- AXON frames and FIRE events ------------------------------------------------------------


def _canonical(cycles, a, b):
    order = np.lexsort((b, a, cycles))
    return cycles[order], a[order], b[order]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 200), n_clusters=st.integers(1, 4),
       max_cycle=st.sampled_from([100, 10**6, 2**40]),
       gclk=st.floats(1e3, 50e3, allow_nan=False), seed=st.integers(0, 2**32 - 1))
def test_axon_frames_roundtrip_exact(n, n_clusters, max_cycle, gclk, seed):
    r = np.random.default_rng(seed)
    cyc = np.sort(r.integers(0, max_cycle, n))
    clu = r.integers(0, n_clusters, n)
    ax = r.integers(0, 16, n)
    fr = AxonFrames(cyc, clu, ax, gclk)
    trains = neoconv.axon_frames_to_neo(fr, n_clusters)
    assert len(trains) == 16 * n_clusters
    back = neoconv.axon_frames_from_neo(trains)
    want = _canonical(cyc, clu, ax)
    for got, exp in zip((back.cycles, back.cluster, back.axon), want, strict=True):
        np.testing.assert_array_equal(got, exp)
    assert back.gclk_hz == gclk


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 200), n_clusters=st.integers(1, 4),
       gclk=st.floats(1e3, 50e3, allow_nan=False), seed=st.integers(0, 2**32 - 1))
def test_fire_events_roundtrip_exact_from_unsorted_input(n, n_clusters, gclk, seed):
    r = np.random.default_rng(seed)
    cyc = r.integers(0, 10**9, n)  # FireEvents need not be sorted
    clu = r.integers(0, n_clusters, n)
    de = r.integers(0, 16, n)
    fe = FireEvents(cyc, clu, de, gclk)
    back = neoconv.fire_events_from_neo(neoconv.fire_events_to_neo(fe, n_clusters))
    want = _canonical(cyc, clu, de)
    for got, exp in zip((back.cycles, back.cluster, back.dend), want, strict=True):
        np.testing.assert_array_equal(got, exp)


def test_chip_trains_roundtrip_through_nix_with_spikes_and_stim(rng, tmp_path):
    ev = _random_events(rng, n_channels=3, n=50)  # few trains: NIX writes ~20 ms each
    fr = AxonFrames(np.sort(rng.integers(0, 10**7, 300)), np.zeros(300, np.int64),
                    rng.integers(0, 16, 300), gclk_hz=25e3)
    fe = FireEvents(np.sort(rng.integers(0, 10**7, 100)), np.zeros(100, np.int64),
                    rng.integers(0, 16, 100), gclk_hz=25e3)
    stim = StimCommands(np.sort(rng.uniform(0, 10, 20)), rng.integers(0, 60, 20),
                        rng.uniform(-50e-6, 50e-6, 20), np.full(20, 200e-6),
                        np.full(20, 50e-6), source_cycle=rng.integers(0, 10**7, 20))
    seg = neo.Segment()
    seg.spiketrains.extend(neoconv.spike_events_to_neo(ev))
    seg.spiketrains.extend(neoconv.axon_frames_to_neo(fr, 1))
    seg.spiketrains.extend(neoconv.fire_events_to_neo(fe, 1))
    seg.events.append(neoconv.stim_commands_to_neo(stim))
    blk = neo.Block(name="session")
    blk.segments.append(seg)
    back = _nix_roundtrip(tmp_path, blk)
    _assert_same_events(neoconv.spike_events_from_neo(back), ev)
    fr2 = neoconv.axon_frames_from_neo(back)
    for got, exp in zip((fr2.cycles, fr2.cluster, fr2.axon),
                        _canonical(fr.cycles, fr.cluster, fr.axon), strict=True):
        np.testing.assert_array_equal(got, exp)
    fe2 = neoconv.fire_events_from_neo(back)
    for got, exp in zip((fe2.cycles, fe2.cluster, fe2.dend),
                        _canonical(fe.cycles, fe.cluster, fe.dend), strict=True):
        np.testing.assert_array_equal(got, exp)
    st2 = neoconv.stim_commands_from_neo(back.segments[0].events[0])
    np.testing.assert_array_equal(st2.times, stim.times)
    np.testing.assert_array_equal(st2.electrode, stim.electrode)
    np.testing.assert_array_equal(st2.source_cycle, stim.source_cycle)
    # A -> uA -> A multiplies and divides by 1e6: at most a couple of ulps apart
    np.testing.assert_allclose(st2.amplitude, stim.amplitude, rtol=1e-15, atol=0)
    np.testing.assert_allclose(st2.phase_width, stim.phase_width, rtol=1e-15, atol=0)
    np.testing.assert_allclose(st2.interphase, stim.interphase, rtol=1e-15, atol=0)


def test_chip_trains_checks():
    fr = AxonFrames([10, 40], [0, 2], [1, 2], gclk_hz=10e3)
    with pytest.raises(ValueError, match="cluster index 2 is out of range"):
        neoconv.axon_frames_to_neo(fr, n_clusters=2)
    with pytest.raises(ValueError, match="before the last axon pulse"):
        neoconv.axon_frames_to_neo(fr, n_clusters=3, t_stop=0.001)
    trains = neoconv.axon_frames_to_neo(fr, n_clusters=3, t_stop=1.0)
    assert float(trains[0].t_stop) == 1.0
    with pytest.raises(ValueError, match="no fire SpikeTrain"):
        neoconv.fire_events_from_neo(trains)
    off = [neo.SpikeTrain([0.00015] * pq.s, t_stop=1 * pq.s, bioloop_kind="axon", cluster=0,
                          axon=0, gclk_hz=10e3)]
    with pytest.raises(ValueError, match="not on the GCLK grid"):
        neoconv.axon_frames_from_neo(off)
    mixed = [neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s, bioloop_kind="axon", cluster=0, axon=k,
                            gclk_hz=g) for k, g in ((0, 10e3), (1, 20e3))]
    with pytest.raises(ValueError, match="share one finite gclk_hz"):
        neoconv.axon_frames_from_neo(mixed)


# --- stimulation ------------------------------------------------------------------------------


def test_stim_without_source_cycles_roundtrips():
    stim = StimCommands([0.1, 0.2], [1, 2], [-10e-6, 10e-6], [100e-6] * 2, [0.0] * 2)
    ev = neoconv.stim_commands_to_neo(stim)
    assert ev.array_annotations["source_cycle"].tolist() == [-1, -1]
    back = neoconv.stim_commands_from_neo(ev)
    assert back.source_cycle.tolist() == [-1, -1]
    assert back.electrode.tolist() == [1, 2]


def test_stim_from_neo_checks():
    with pytest.raises(TypeError, match="neo.Event"):
        neoconv.stim_commands_from_neo(neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s))
    ev = neo.Event([0.1] * pq.s, name="partial", array_annotations={"electrode": np.array([1])})
    with pytest.raises(ValueError, match="lacks array annotation"):
        neoconv.stim_commands_from_neo(ev)
    ev = neo.Event([0.1] * pq.s, array_annotations={
        "electrode": np.array([1.5]), "amplitude_uA": np.array([1.0]),
        "phase_width_us": np.array([100.0]), "interphase_us": np.array([0.0]),
        "source_cycle": np.array([-1])})
    with pytest.raises(ValueError, match="electrode must hold integers"):
        neoconv.stim_commands_from_neo(ev)
