"""Stimulator: mapping, waveform validation, every refusal reason, counts, rollback."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from bioloop.chip import Chip, ChipConfig
from bioloop.encoder import ElectrodeMap, Encoder, EncoderConfig, SpikeFate
from bioloop.networks import relay
from bioloop.stimulator import (
    REFUSAL_REASONS,
    StimMap,
    Stimulator,
    StimulatorConfig,
    StimulatorState,
)
from bioloop.types import FireEvents, SpikeEvents


def fires(cycles, clusters, dends, gclk=1e3):
    return FireEvents(np.asarray(cycles, np.int64), np.asarray(clusters, np.int64),
                      np.asarray(dends, np.int64), gclk)


def stim(n_el=32, **cfg):
    return Stimulator(StimulatorConfig(**cfg), ElectrodeMap.default(n_el))


def check_counts(res, n):
    assert res.fires == n == res.accepted + len(res.refused)
    assert sum(res.counts.values()) == len(res.refused)
    assert set(res.counts) == set(REFUSAL_REASONS)
    for r in REFUSAL_REASONS:
        assert res.counts[r] == int(np.sum(res.refused.reason == r))


# ---- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("kw, exc, match", [
    ({"amplitude": 0.0}, ValueError, r"amplitude = 0 is outside the valid range \(0, 0.001\]"),
    ({"amplitude": 2e-3}, ValueError, "amplitude = 0.002 is outside"),
    ({"amplitude": "1uA"}, TypeError, "amplitude must be a real number"),
    ({"phase_width": 30e-6}, ValueError, "phase_width = 30 us is not a multiple of 20 us"),
    ({"phase_width": 10e-6}, ValueError, "phase_width = 10 us is not a multiple of 20 us"),
    ({"phase_width": 0.0}, ValueError, "phase_width = 0 us"),
    ({"phase_width": -20e-6}, ValueError, "phase_width = -20 us"),
    ({"phase_width": 10.02e-3}, ValueError, "up to 10000 us"),
    ({"interphase": -1e-6}, ValueError, r"interphase = -1e-06 is outside the valid range \[0, 0.01\]"),
    ({"polarity": "cathodic"}, ValueError, "polarity = 'cathodic' is not valid"),
    ({"delay": -0.001}, ValueError, "delay"),
    ({"rate_cap": 0}, ValueError, r"rate_cap = 0 is outside the valid range \[1, 1e\+06\]"),
    ({"rate_cap": 10.0}, TypeError, "rate_cap must be an integer"),
    ({"min_interval": -0.01}, ValueError, "min_interval"),
    ({"max_charge": 0.0}, ValueError, "max_charge"),
    ({"electrode_area": 0.0}, ValueError, "electrode_area"),
])
def test_config_validation(kw, exc, match):
    with pytest.raises(exc, match=match):
        StimulatorConfig(**kw)


def test_waveform_fields_and_polarity():
    for pw in (20e-6, 40e-6, 200e-6, 1e-3, 10e-3):
        assert StimulatorConfig(phase_width=pw).phase_width == pw
    res = stim(polarity="anodic-first", amplitude=2e-6, phase_width=100e-6,
               interphase=30e-6).process(fires([0], [0], [1]))
    c = res.commands
    assert c.amplitude.tolist() == [2e-6] and c.phase_width.tolist() == [100e-6]
    assert c.interphase.tolist() == [30e-6]
    assert stim().process(fires([0], [0], [1])).commands.amplitude[0] == -1e-6  # cathodic first


def test_limit_violations_preview():
    assert StimulatorConfig().limit_violations() == []
    assert StimulatorConfig(amplitude=5e-6).limit_violations() == ["amplitude"]
    assert StimulatorConfig(amplitude=5e-6, phase_width=1e-3).limit_violations() == ["amplitude", "charge"]
    assert StimulatorConfig(amplitude=2e-6, phase_width=2e-3).limit_violations() == ["charge"]


# ---- mapping -------------------------------------------------------------------------------

def test_default_map_is_the_electrode_map_inverse(rng):
    perm = rng.permutation(40)  # electrode e drives slot perm[e]
    emap = ElectrodeMap(perm // 16, perm % 16)
    s = Stimulator(StimulatorConfig(min_interval=0.0, rate_cap=10_000), emap)
    cyc = np.arange(48)
    clu, dend = cyc // 16, cyc % 16
    res = s.process(fires(cyc, clu, dend))
    check_counts(res, 48)
    slot = res.accepted_cluster * 16 + res.accepted_dend
    assert np.array_equal(perm[res.commands.electrode], slot)  # FIRE (c, d) -> electrode on (c, d)
    # slots 40..47 are fed by no electrode
    assert res.counts["unmapped"] == 8
    assert np.all(res.refused.electrode == -1)
    assert sorted((res.refused.cluster * 16 + res.refused.dend).tolist()) == list(range(40, 48))


def test_fire_of_a_cluster_beyond_the_map_is_unmapped():
    res = stim(16).process(fires([0, 1], [0, 3], [2, 2]))
    assert res.refused.reason.tolist() == ["unmapped"] and res.refused.cluster.tolist() == [3]
    check_counts(res, 2)


def test_explicit_stim_maps(tmp_path):
    labels = ["a", "b", "c"]
    (tmp_path / "s.csv").write_text("cluster,dend,label\n0,0,c\n0,5,a\n1,15,b\n")
    (tmp_path / "s.toml").write_text(
        '[[stim]]\ncluster = 0\ndend = 0\nlabel = "c"\n[[stim]]\ncluster = 0\ndend = 5\nlabel = "a"\n'
        '[[stim]]\ncluster = 1\ndend = 15\nlabel = "b"\n')
    for name in ("s.csv", "s.toml"):
        m = StimMap.from_file(tmp_path / name, labels, n_clusters=2)
        assert m.electrode_of([0, 0, 1, 1], [0, 5, 15, 0]).tolist() == [2, 0, 1, -1]
    m2 = StimMap.from_mapping({(0, 0): 2, (0, 5): 0, (1, 15): 1}, n_clusters=2)
    assert np.array_equal(m2.table, m.table)
    s = Stimulator(StimulatorConfig(), m)
    res = s.process(fires([0, 0, 0], [0, 0, 1], [0, 1, 15]))
    assert res.commands.electrode.tolist() == [2, 1]
    assert res.refused.reason.tolist() == ["unmapped"]


@pytest.mark.parametrize("body, match", [
    ("cluster,dend,label\n0,0,a\n0,0,b\n", "listed twice"),
    ("cluster,dend,label\n0,16,a\n", r"dend = 16 is outside the valid range \[0, 15\]"),
    ("cluster,dend,label\n2,0,a\n", r"cluster = 2 is outside the valid range \[0, 1\]"),
    ("cluster,dend,label\n0,0,zz\n", "label 'zz' is not an electrode"),
    ("label,cluster,dend\n", "header"),
])
def test_bad_stim_map_files(tmp_path, body, match):
    p = tmp_path / "s.csv"
    p.write_text(body)
    with pytest.raises(ValueError, match=match):
        StimMap.from_file(p, ["a", "b"], n_clusters=2)


def test_stim_map_table_validation():
    with pytest.raises(ValueError, match=r"expected \(C, 16\)"):
        StimMap(np.zeros((2, 8), int))
    with pytest.raises(ValueError, match="-1 for none"):
        StimMap(np.full((1, 16), -3))
    with pytest.raises(TypeError, match="integer electrodes"):
        StimMap(np.zeros((1, 16)))
    with pytest.raises(TypeError, match="StimMap or an ElectrodeMap"):
        Stimulator(StimulatorConfig(), {(0, 0): 1})


# ---- timing and each refusal reason ----------------------------------------------------------

def test_stim_time_is_fire_edge_plus_origin_and_delay():
    s = stim(time_origin=2.5, delay=0.003)
    res = s.process(fires([0, 40, 1000], [0, 0, 0], [0, 1, 2], gclk=20e3))
    assert np.allclose(res.commands.times, 2.5 + np.array([0, 40, 1000]) / 20e3 + 0.003,
                       rtol=0, atol=1e-12)  # float sums, far below a GCLK period
    assert res.commands.source_cycle.tolist() == [0, 40, 1000]


def test_amplitude_refusal_is_never_a_silent_change():
    res = stim(amplitude=3.5e-6, phase_width=100e-6).process(fires([0, 5, 9], [0, 0, 5], [1, 2, 0]))
    # cluster 5 has no electrode: 'unmapped' is checked first
    assert res.refused.reason.tolist() == ["amplitude", "amplitude", "unmapped"]
    assert res.accepted == 0
    check_counts(res, 3)
    at_limit = stim(amplitude=3e-6, phase_width=100e-6).process(fires([0], [0], [1]))
    assert at_limit.accepted == 1 and at_limit.commands.amplitude[0] == -3e-6


def test_charge_refusal_and_the_limit_itself():
    over = stim(amplitude=2e-6, phase_width=1.6e-3).process(fires([0], [0], [0]))  # 3.2 nC
    assert over.refused.reason.tolist() == ["charge"]
    exact = stim(amplitude=3e-6, phase_width=1e-3).process(fires([0], [0], [0]))  # 3 nC
    assert exact.accepted == 1
    custom = stim(amplitude=1e-6, phase_width=200e-6, max_charge=0.1e-9).process(fires([0], [0], [0]))
    assert custom.refused.reason.tolist() == ["charge"]


def test_shannon_criterion():
    q_uc = 3e-6 * 1e-3 * 1e6  # 3 nC per phase in uC

    def k_of(area_m2):  # Shannon 1992: log10(D) = k - log10(Q), D in uC/cm^2
        return math.log10(q_uc / (area_m2 * 1e4)) + math.log10(q_uc)

    small, large = 1e-11, 1e-10
    assert k_of(small) > 1.85 > k_of(large)
    kw = {"amplitude": 3e-6, "phase_width": 1e-3}
    assert StimulatorConfig(**kw, electrode_area=small).shannon_value == pytest.approx(k_of(small), abs=1e-12)
    refused = stim(**kw, electrode_area=small).process(fires([0], [0], [0]))
    assert refused.refused.reason.tolist() == ["shannon"]
    assert stim(**kw, electrode_area=large).process(fires([0], [0], [0])).accepted == 1
    assert stim(**kw).process(fires([0], [0], [0])).accepted == 1  # no area: no Shannon check
    stricter = stim(**kw, electrode_area=large, shannon_k=0.5).process(fires([0], [0], [0]))
    assert stricter.refused.reason.tolist() == ["shannon"]


def test_min_interval_per_electrode():
    s = stim(min_interval=10e-3)
    # electrode 3: 0 ms ok, 5 ms refused, 10 ms ok (10 ms after the last DELIVERED), 19 ms
    # refused; electrode 4 at 5 ms is independent
    res = s.process(fires([0, 5, 5, 10, 19], [0, 0, 0, 0, 0], [3, 3, 4, 3, 3]))
    assert res.commands.times.tolist() == [0.0, 0.005, 0.010]
    assert res.commands.electrode.tolist() == [3, 4, 3]
    assert res.refused.reason.tolist() == ["min_interval", "min_interval"]
    assert res.refused.times.tolist() == [0.005, 0.019]
    check_counts(res, 5)
    # across calls too: last delivery on electrode 3 was at 10 ms
    assert s.process(fires([25], [0], [3])).accepted == 1
    assert s.process(fires([30], [0], [3])).refused.reason.tolist() == ["min_interval"]
    assert s.process(fires([35], [0], [3])).accepted == 1


def test_rate_cap_over_a_sliding_second():
    s = stim(n_el=64, rate_cap=5, min_interval=0.0)
    # 8 commands on distinct electrodes in the first 0.7 s: 5 pass
    res = s.process(fires([0, 100, 200, 300, 400, 500, 600, 700], [0] * 8, list(range(8))))
    assert res.accepted == 5 and res.counts["rate_cap"] == 3
    # at t = 1.0 s the command of t = 0 leaves the window (t - 1 s, t]: exactly one slot frees
    res2 = s.process(fires([1000, 1000, 1100], [0, 0, 0], [8, 9, 10]))
    assert res2.commands.times.tolist() == [1.0, 1.1]
    assert res2.refused.reason.tolist() == ["rate_cap"]
    check_counts(res2, 3)


def test_refused_commands_do_not_count_against_limits():
    s = stim(rate_cap=2, min_interval=0.0, n_el=16)
    res = s.process(fires([0, 0, 0, 0], [0, 0, 0, 5], [0, 1, 2, 0]))  # 2 ok, 1 rate, 1 unmapped
    assert res.accepted == 2 and res.counts == {**dict.fromkeys(REFUSAL_REASONS, 0), "rate_cap": 1,
                                                 "unmapped": 1}
    # refused ones did not take a slot: at 1 s both old deliveries left the window
    assert s.process(fires([1000, 1000], [0, 0], [3, 4])).accepted == 2


# ---- invariants against an independent reference ---------------------------------------------

def reference(fire_times, electrodes, cfg: StimulatorConfig):
    """Plain loop over the documented rules, with O(n^2) windows: decisions per FIRE."""
    delivered: list[tuple[float, int]] = []
    out = []
    static = cfg.limit_violations()
    for t, e in zip(fire_times, electrodes, strict=True):
        if e < 0:
            out.append("unmapped")
        elif static:
            out.append(static[0])
        elif any(de == e and t - dt < cfg.min_interval - 1e-9 for dt, de in delivered):
            out.append("min_interval")
        elif sum(1 for dt, _ in delivered if dt > t - 1.0 + 1e-9) >= cfg.rate_cap:
            out.append("rate_cap")
        else:
            delivered.append((t, e))
            out.append("")
    return out


def random_fires(rng, n, n_clusters=3, span=4000, gclk=1e3):
    """n distinct FIREs (a neuron fires at most once per cycle), sorted by cycle."""
    key = np.sort(rng.choice(span * n_clusters * 16, n, replace=False))
    return fires(key // (n_clusters * 16), key // 16 % n_clusters, key % 16, gclk)


def test_random_fires_match_the_reference_and_counts_add_up(rng):
    cfg = StimulatorConfig(min_interval=float(rng.choice([10e-3, 20e-3, 50e-3])),
                           rate_cap=int(rng.integers(60, 120)))
    emap = ElectrodeMap.default(40)  # cluster 2 has 8 electrodes: some FIREs unmapped
    f = random_fires(rng, 600, span=2000)  # 300 FIREs/s on 48 slots: every limit bites
    res = Stimulator(cfg, emap).process(f)
    check_counts(res, 600)
    order = np.lexsort((f.dend, f.cluster, f.cycles))
    el = emap.electrode_of(f.cluster[order], f.dend[order])
    want = reference((f.cycles[order] / 1e3).tolist(), el.tolist(), cfg)
    got = [""] * 600
    refused_at = {(float(t), int(c), int(d)): r for t, c, d, r in zip(
        res.refused.times, res.refused.cluster, res.refused.dend, res.refused.reason, strict=True)}
    for i, (t, c, d) in enumerate(zip(f.cycles[order] / 1e3, f.cluster[order], f.dend[order], strict=True)):
        got[i] = refused_at.get((float(t), int(c), int(d)), "")
    assert got == want
    assert all(res.counts[r] > 0 for r in ("unmapped", "min_interval", "rate_cap"))
    # what was delivered respects the limits
    t, e = res.commands.times, res.commands.electrode
    for el_ in np.unique(e):
        assert np.all(np.diff(t[e == el_]) >= cfg.min_interval - 1e-9)
    for i in range(t.size):
        assert np.sum((t > t[i] - 1.0 + 1e-9) & (t <= t[i])) <= cfg.rate_cap


def test_chunked_processing_equals_one_call(rng):
    f = random_fires(rng, 400)
    cfg = StimulatorConfig(rate_cap=20)
    whole = stim(48, rate_cap=20).process(f)
    s = Stimulator(cfg, ElectrodeMap.default(48))
    cuts = np.sort(rng.choice(np.arange(1, 399), 6, replace=False))
    parts = [s.process(fires(f.cycles[a:b], f.cluster[a:b], f.dend[a:b]))
             for a, b in zip(np.r_[0, cuts], np.r_[cuts, 400], strict=True)]
    assert np.array_equal(np.concatenate([p.commands.times for p in parts]), whole.commands.times)
    assert np.array_equal(np.concatenate([p.refused.reason for p in parts]), whole.refused.reason)


def test_one_fire_at_a_time_equals_one_call_past_the_delivery_buffer(rng):
    # a live loop hands FIREs one by one: with hundreds of deliveries in the rate window the
    # stimulator's in-place buffer of recent deliveries grows and is compacted many times
    f = random_fires(rng, 3000, span=2000, gclk=1e3)  # 1,500 FIREs/s over 2 s
    cfg = dict(min_interval=2e-3, rate_cap=700)
    whole = stim(48, **cfg)
    one = whole.process(f)
    s = stim(48, **cfg)
    parts = [s.process(fires(f.cycles[i:i + 1], f.cluster[i:i + 1], f.dend[i:i + 1])) for i in range(len(f))]
    assert np.array_equal(np.concatenate([p.commands.times for p in parts]), one.commands.times)
    assert np.array_equal(np.concatenate([p.refused.reason for p in parts]), one.refused.reason)
    assert one.counts["rate_cap"] > 0 and one.accepted > 700
    assert s.get_state() == whole.get_state()


def test_unsorted_fires_are_handled_in_time_order():
    res = stim().process(fires([30, 10, 15], [0, 0, 0], [3, 3, 3]))
    assert res.commands.times.tolist() == [0.01, 0.03]
    assert res.refused.times.tolist() == [0.015]


# ---- rollback --------------------------------------------------------------------------------

def _same(a, b):
    assert np.array_equal(a.commands.times, b.commands.times)
    assert np.array_equal(a.commands.electrode, b.commands.electrode)
    assert np.array_equal(a.refused.reason, b.refused.reason)
    assert np.array_equal(a.refused.times, b.refused.times)
    assert a.counts == b.counts


def test_process_after_restore_is_identical(rng):
    s = stim(48, rate_cap=15)
    f = random_fires(rng, 900, span=9000)
    a = f.cycles < 3000
    b = (f.cycles >= 3000) & (f.cycles < 6000)
    c = f.cycles >= 6000
    part = [fires(f.cycles[m], f.cluster[m], f.dend[m]) for m in (a, b, c)]
    s.process(part[0])
    saved = s.get_state()
    first = s.process(part[1])
    after_first = s.get_state()
    assert after_first != saved
    # a chunk processed earlier than the state's last FIRE is refused outright
    with pytest.raises(ValueError, match="restore the state saved before it"):
        s.process(part[1])
    s.set_state(saved)
    assert s.get_state() == saved
    again = s.process(part[1])
    _same(first, again)
    assert s.get_state() == after_first
    # and the future is the same too
    s2 = stim(48, rate_cap=15)
    s2.set_state(after_first)
    _same(s.process(part[2]), s2.process(part[2]))


def test_state_is_immutable_and_serialisable():
    s = stim()
    s.process(fires([0, 3, 12], [0, 0, 0], [1, 2, 1]))
    st = s.get_state()
    assert st.last_time == ((1, 0.012), (2, 0.003)) and st.t_last == 0.012
    s.process(fires([20], [0], [5]))
    assert st.last_time == ((1, 0.012), (2, 0.003))  # the snapshot did not follow
    assert StimulatorState.from_dict(st.to_dict()) == st
    with pytest.raises(TypeError, match="StimulatorState"):
        s.set_state(st.to_dict())
    with pytest.raises(ValueError, match="not a stimulator state"):
        StimulatorState.from_dict({"recent": []})
    s.reset()
    assert s.get_state() == StimulatorState()


def test_rate_window_state_is_pruned():
    s = stim(n_el=64, min_interval=0.0, rate_cap=1000)
    s.process(fires(np.arange(0, 5000, 10), np.zeros(500, int), np.arange(500) % 16))
    # only deliveries of the last second can matter later
    assert len(s.get_state().recent) == 100


# ---- with the real recording, the encoder and the chip ----------------------------------------

def test_closed_loop_chunk_on_a_real_recording(recordings_dir):
    with h5py.File(recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5", "r") as f:
        spikes, counts = f["spikes"][:], f["sCount"][:]
        names = tuple(x.decode() for x in f["names"][:])
    chans = np.repeat(np.arange(counts.size), counts)
    order = np.argsort(spikes, kind="stable")
    keep = spikes[order] < 60.0  # the first minute keeps the test fast
    ev = SpikeEvents(spikes[order][keep], chans[order][keep], names, 0.0, 60.0)
    emap = ElectrodeMap.default(ev.n_channels, names)
    enc = Encoder(EncoderConfig(gclk_hz=1e3), emap)
    res = enc.encode(ev)
    prog = relay(emap.n_clusters)
    chip = Chip(ChipConfig(lateral_neighbours=prog.lateral_neighbours), n_clusters=prog.n_clusters,
                mismatch=False)
    chip.program(prog.weights, prog.psp_ref, prog.threshold_gen, prog.threshold_ref)
    out = chip.run_events(res.frames, until=res.cycle_stop)
    assert 0 < len(out.fires) <= res.axon_pulses
    stimulator = Stimulator(StimulatorConfig(), emap)
    sres = stimulator.process(out.fires)
    check_counts(sres, len(out.fires))
    # relay: every command stimulates an electrode that spiked in that very cycle
    spiking = set(zip(res.spike_cycles[res.fates == SpikeFate.PULSE].tolist(),
                      ev.channels[res.fates == SpikeFate.PULSE].tolist(), strict=True))
    assert all((int(c), int(e)) in spiking for c, e in zip(sres.commands.source_cycle,
                                                           sres.commands.electrode, strict=True))
    # and blanking after those commands removes spikes from the re-encoded chunk
    blanks = enc.blanking_for(sres.commands)
    again = enc.encode(ev, blanks)
    assert again.dropped["blanked"] > 0
    assert again.input_spikes == again.axon_pulses + sum(again.dropped.values())
