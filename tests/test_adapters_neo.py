"""Files read through Neo: the shared .nex and NIX files, and AnalogSignals through detection."""

from __future__ import annotations

import neo
import numpy as np
import pytest
import quantities as pq

from bioloop import neoconv
from bioloop.adapters.files import open_recording
from bioloop.adapters.neo_files import (
    DetectionOptions,
    detect_spikes,
    neo_io_classes,
    read_neo_file,
    robust_noise,
)
from bioloop.adapters.nex_timestamps import read_nex_timestamps
from bioloop.adapters.sjemea import read_sjemea

NEX = "CS056P07R-MEME1.nex"
FS = 20_000.0  # Hz
NOISE_UV = 10.0


def _write_nix(path, segments):
    blk = neo.Block(name="test")
    for content in segments:
        seg = neo.Segment()
        for obj in content:
            if isinstance(obj, neo.AnalogSignal):
                seg.analogsignals.append(obj)
            else:
                seg.spiketrains.append(obj)
        blk.segments.append(seg)
    io = neo.io.NixIO(str(path), mode="ow")
    io.write_block(blk)
    io.close()
    return path


def _trace_with_spikes(rng, n_channels=3, duration=3.0, t_start=0.5, rebound_uv=80.0):
    """Gaussian noise (10 uV) plus biphasic spikes: a -120 uV trough at the injected time, a
    ``rebound_uv`` positive phase 0.5 ms later. Returns the signal and the injected times."""
    n = int(duration * FS)
    x = rng.normal(0.0, NOISE_UV, (n, n_channels))
    tk = np.arange(-40, 41) / FS  # +-2 ms template support
    template = (-120.0 * np.exp(-((tk / 0.15e-3) ** 2))
                + rebound_uv * np.exp(-(((tk - 0.5e-3) / 0.25e-3) ** 2)))
    injected = []
    for c in range(n_channels):
        # 20 spikes, at least 20 ms apart, away from the edges
        idx = np.sort(rng.choice(np.arange(100, (n - 100) // 400), 20, replace=False)) * 400
        for i in idx:
            x[i - 40:i + 41, c] += template
        injected.append(t_start + idx / FS)
    sig = neo.AnalogSignal(x, units="uV", sampling_rate=FS * pq.Hz, t_start=t_start * pq.s,
                           name="mea", array_annotations={
                               "channel_names": np.array([f"E{c}" for c in range(n_channels)])})
    return sig, injected


def _assert_matches(detected_trains, injected, tol=0.2e-3):
    # detection marks the first sample beyond threshold, up to ~0.15 ms before the trough
    # (Gaussian trough of 0.15 ms width, threshold at 50 of 120 uV): 0.2 ms = 4 samples
    for st, inj in zip(detected_trains, injected, strict=True):
        t = st.times.rescale("s").magnitude
        assert t.size == inj.size, (st.name, t.size, inj.size)
        assert np.max(np.abs(t - inj)) <= tol


# --- the shared files -------------------------------------------------------------------------


def test_nex_file_matches_readme(recordings_dir):
    rec = read_neo_file(recordings_dir / NEX)
    ev = rec.events
    # README: 71 sorted units, 63,393 spikes, 780.6 s
    assert (ev.n_channels, len(ev)) == (71, 63_393)
    assert ev.t_start == 0.0 and round(ev.t_stop, 1) == 780.6
    assert rec.header.io_name == "NeuroExplorerIO" and rec.header.used == "spiketrains"
    assert len(set(ev.labels)) == 71 and "adch_17a" in ev.labels and "adch_17b" in ev.labels
    explicit = open_recording(recordings_dir / NEX, format="nex").read_all()
    np.testing.assert_array_equal(explicit.times, ev.times)


def test_derived_nix_files_equal_their_originals(recordings_dir):
    pairs = [("derived/TC89_DIV15_A.nix",
              read_nex_timestamps(recordings_dir / "TC89_DIV15_A.nexTimestamps")),
             ("derived/hiPSN_tc65_d27_spikes6sd.nix",
              read_sjemea(recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"))]
    for nix, original in pairs:
        src = open_recording(recordings_dir / nix)
        assert src.format == "neo" and src.header.io_name == "NixIO"
        a, b = src.read_all(), original.spike_events()
        np.testing.assert_array_equal(a.times, b.times)
        np.testing.assert_array_equal(a.channels, b.channels)
        assert a.labels == b.labels and (a.t_start, a.t_stop) == (b.t_start, b.t_stop)


def test_io_registry_names():
    classes = neo_io_classes()
    assert classes["nix"] is neo.io.NixIO and classes["nixio"] is neo.io.NixIO
    assert classes["nex"] is neo.io.NeuroExplorerIO
    assert "pickle" not in classes and "pickleio" not in classes


# --- AnalogSignals: detection -----------------------------------------------------------------


def test_detection_finds_injected_spikes_in_a_nix_file(rng, tmp_path):
    sig, injected = _trace_with_spikes(rng)
    p = _write_nix(tmp_path / "trace.nix", [[sig]])
    src = open_recording(p)
    ev = src.read_all()
    assert src.header.used == "analogsignals"
    assert ev.labels == ("E0", "E1", "E2")
    assert (ev.t_start, ev.t_stop) == (0.5, 3.5)
    trains = neoconv.spike_events_to_neo(ev)
    _assert_matches(trains, injected)
    det = src.header.detection[0]
    # MAD/0.6745 of 60,000 samples: sd error ~0.5 %; spikes touch < 3 % of samples
    np.testing.assert_allclose(det.noise_sd, NOISE_UV, rtol=0.03)
    assert det.units == "uV"
    assert det.merged_dead_time.sum() == det.crossings.sum() - len(ev)


def test_positive_polarity_on_inverted_trace(rng):
    sig, injected = _trace_with_spikes(rng, n_channels=2, rebound_uv=0.0)
    inverted = neo.AnalogSignal(-sig.magnitude, units="uV", sampling_rate=sig.sampling_rate,
                                t_start=sig.t_start)
    det = detect_spikes(inverted, options=DetectionOptions(polarity="positive"))
    _assert_matches(det.spiketrains, injected)
    assert det.labels == ("signal_0", "signal_1")
    neg = detect_spikes(inverted, options=DetectionOptions(polarity="negative"))
    assert sum(len(st) for st in neg.spiketrains) <= 1  # only noise below -5 sd (p ~ 3e-7/sample)


def test_both_polarities_need_the_dead_time(rng):
    sig, injected = _trace_with_spikes(rng, n_channels=2, rebound_uv=80.0)
    loose = detect_spikes(sig, options=DetectionOptions(polarity="both", dead_time=0.0))
    n_inj = sum(i.size for i in injected)
    # the 80 uV rebound crosses +50 uV (5 sd) for most spikes: extra events without dead time
    assert sum(len(st) for st in loose.spiketrains) >= 1.8 * n_inj
    tight = detect_spikes(sig, options=DetectionOptions(polarity="both", dead_time=1e-3))
    _assert_matches(tight.spiketrains, injected)
    assert tight.merged_dead_time.sum() >= 0.8 * n_inj


def test_flat_channel_is_noted_not_detected(rng, tmp_path):
    sig, injected = _trace_with_spikes(rng, n_channels=1)
    x = np.concatenate([sig.magnitude, np.zeros((sig.shape[0], 1))], axis=1)
    two = neo.AnalogSignal(x, units="uV", sampling_rate=sig.sampling_rate, t_start=sig.t_start)
    rec = read_neo_file(_write_nix(tmp_path / "flat.nix", [[two]]))
    assert rec.events.counts().tolist()[1] == 0
    assert any("flat" in n for n in rec.header.notes)


def test_robust_noise_ignores_spikes(rng):
    x = rng.normal(0.0, 2.0, 50_000)
    x[::100] = -100.0  # 1 % huge outliers barely move the MAD
    med, sd = robust_noise(x)
    # MAD of 50,000 samples: ~0.7 % error; 1 % outliers shift the median quantile by ~1 %
    assert abs(sd - 2.0) < 0.06 and abs(med) < 0.05


def test_spiketrains_preferred_and_analogsignals_counted(rng, tmp_path):
    sig, injected = _trace_with_spikes(rng, n_channels=1)
    st_ = neo.SpikeTrain([1.0, 2.0] * pq.s, t_start=0.5 * pq.s, t_stop=3.5 * pq.s, name="u1")
    p = _write_nix(tmp_path / "both.nix", [[sig, st_]])
    auto = read_neo_file(p)
    assert auto.header.used == "spiketrains" and auto.events.labels == ("u1",)
    assert auto.header.not_used["analogsignals"] == 1
    forced = read_neo_file(p, use="analogsignals")
    assert forced.header.not_used["spiketrains"] == 1
    _assert_matches(neoconv.spike_events_to_neo(forced.events), injected)


def test_segments(tmp_path):
    a = neo.SpikeTrain([0.5] * pq.s, t_stop=1 * pq.s, name="a")
    b = neo.SpikeTrain([0.25, 0.75] * pq.s, t_stop=1 * pq.s, name="a")
    p = _write_nix(tmp_path / "segs.nix", [[a], [b]])
    with pytest.raises(ValueError, match="2 segments; choose one with segment=0..1"):
        open_recording(p)
    src = open_recording(p, segment=1)
    assert len(src.read_all()) == 2 and src.header.not_used["other_segments"] == 1
    with pytest.raises(ValueError, match="segment 5 does not exist"):
        open_recording(p, segment=5)


def test_only_the_first_block_is_read_and_the_rest_counted(tmp_path):
    blocks = []
    for k in range(2):
        seg = neo.Segment()
        seg.spiketrains.append(neo.SpikeTrain([0.1 * (k + 1)] * pq.s, t_stop=1 * pq.s,
                                              name=f"b{k}"))
        blk = neo.Block(name=f"block{k}")
        blk.segments.append(seg)
        blocks.append(blk)
    p = tmp_path / "two_blocks.nix"
    io = neo.io.NixIO(str(p), mode="ow")
    io.write_all_blocks(blocks)
    io.close()
    rec = read_neo_file(p)
    assert rec.events.labels == ("b0",) and rec.header.not_used["other_blocks"] == 1


# --- bad input --------------------------------------------------------------------------------


def test_bad_neo_content(tmp_path):
    empty = _write_nix(tmp_path / "empty.nix",
                       [[neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s, name="a")]])
    with pytest.raises(ValueError, match="holds no spikes") as err:
        open_recording(empty)
    assert "empty.nix" in str(err.value)
    unsorted = _write_nix(tmp_path / "unsorted.nix",
                          [[neo.SpikeTrain([0.5, 0.2] * pq.s, t_stop=1 * pq.s, name="u")]])
    with pytest.raises(ValueError, match="'u'.*is not sorted") as err:
        open_recording(unsorted)
    assert "unsorted.nix" in str(err.value)
    nan = _write_nix(tmp_path / "nan.nix",
                     [[neo.SpikeTrain([0.1, np.nan] * pq.s, t_stop=1 * pq.s, name="n")]])
    with pytest.raises(ValueError, match="must be finite"):
        open_recording(nan)
    nothing = _write_nix(tmp_path / "nothing.nix", [[]])
    with pytest.raises(ValueError, match="no AnalogSignal to detect spikes on"):
        open_recording(nothing)
    with pytest.raises(ValueError, match="holds no SpikeTrain"):
        open_recording(nothing, use="spiketrains")


def test_unknown_corrupt_and_refused_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        open_recording(tmp_path / "missing.nix")
    odd = tmp_path / "data.xyz"
    odd.write_text("1 2 3\n")
    with pytest.raises(ValueError, match="unknown format"):
        open_recording(odd)
    for name in ("corrupt.nix", "corrupt.nex"):
        bad = tmp_path / name
        bad.write_bytes(np.random.default_rng(7).bytes(4096))
        with pytest.raises(ValueError, match="Neo could not read this file") as err:
            open_recording(bad)
        assert name in str(err.value)
    pkl = tmp_path / "x.pkl"
    pkl.write_bytes(b"\x80\x04N.")
    with pytest.raises(ValueError, match="refused.*pickle"):
        open_recording(pkl)
    with pytest.raises(ValueError, match="refused"):
        open_recording(odd, format="pickle")
    with pytest.raises(ValueError, match="no Neo IO; valid:"):
        open_recording(odd, format="nosuchformat")
    with pytest.raises(TypeError, match="format must be a string"):
        open_recording(odd, format=3)


def test_options_that_do_not_apply_are_refused(recordings_dir, tmp_path):
    nix = recordings_dir / "derived" / "hiPSN_tc65_d27_spikes6sd.nix"
    with pytest.raises(ValueError, match="well = 'A1' applies only to sjemea"):
        open_recording(nix, well="A1")
    h5 = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    with pytest.raises(ValueError, match=r"\['polarity'\] apply only to files read through Neo"):
        open_recording(h5, polarity="both")
    with pytest.raises(ValueError, match="polarity = 'up' is not valid"):
        open_recording(nix, polarity="up")
    with pytest.raises(ValueError, match="use = 'all' is not valid"):
        open_recording(nix, use="all")
    with pytest.raises(ValueError, match="chunk_duration"):
        open_recording(nix, chunk_duration=0.0)
    with pytest.raises(TypeError, match="AnalogSignal"):
        detect_spikes(np.zeros((10, 2)))
