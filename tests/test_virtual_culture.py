"""The virtual culture: layout, determinism, bursting statistics against TC89, evoked responses."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bioloop.reference_models.virtual_culture import (
    CultureParams,
    VirtualCulture,
    VirtualCultureSink,
    VirtualCultureSource,
    mcs_layout,
)
from bioloop.sinks import Sink
from bioloop.sources import Source
from bioloop.types import SpikeEvents, StimCommands

PITCH = 200e-6
STATS_SECONDS = 60.0  # ~12 network bursts at TC89's rate: enough for a factor-3 comparison


def pulses(times, electrode, amplitude=-30e-6, width=200e-6, interphase=50e-6) -> StimCommands:
    t = np.atleast_1d(np.asarray(times, dtype=float))
    return StimCommands(t, np.broadcast_to(electrode, t.shape).astype(np.int64),
                        np.full(t.size, amplitude), np.full(t.size, width),
                        np.full(t.size, interphase))


def network_bursts(times, channels, n_electrodes, duration, *, window=0.1, fraction=0.5,
                   min_rate=0.1, merge=0.5):
    """Onsets (s) of population events recruiting > ``fraction`` of the active electrodes
    within ``window`` s; onsets closer than ``merge`` s to the previous one are one burst."""
    rates = np.bincount(channels, minlength=n_electrodes) / duration
    active = rates > min_rate
    n_bins = int(np.ceil(duration / 0.01)) + 1
    hit = np.zeros((n_bins, n_electrodes), bool)
    hit[(times / 0.01).astype(int), channels] = True
    hit[:, ~active] = False
    w = int(round(window / 0.01))
    csum = np.vstack([np.zeros((1, n_electrodes), int), np.cumsum(hit, axis=0)])
    recruited = ((csum[w:] - csum[:-w]) > 0).sum(axis=1)  # electrodes firing in each window
    above = recruited > fraction * active.sum()
    onsets = np.flatnonzero(np.diff(above.astype(int)) == 1) + 1
    kept: list[int] = []
    for b in onsets:
        if not kept or (b - kept[-1]) * 0.01 > merge:
            kept.append(int(b))
    return np.array(kept) * 0.01, rates, active


def fraction_in_bursts(times, onsets, span=0.5):
    if onsets.size == 0:
        return 0.0
    i = np.searchsorted(onsets, times, side="right") - 1
    inside = (i >= 0) & (times - onsets[np.clip(i, 0, None)] < span)
    return float(inside.mean())


def read_tc89(path):
    """TC89 spike times and electrode indices (tab-separated ragged columns, header row)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    header = rows[0]
    cols = [i for i, h in enumerate(header) if h.startswith("ch_")]
    times, chans = [], []
    for j, col in enumerate(cols):
        t = [float(r[col]) for r in rows[1:] if col < len(r) and r[col].strip()]
        times.extend(t)
        chans.extend([j] * len(t))
    order = np.argsort(times, kind="stable")
    return np.asarray(times)[order], np.asarray(chans)[order], len(cols)


@pytest.fixture(scope="module")
def spontaneous():
    culture = VirtualCulture(seed=0)
    return culture, culture.advance(STATS_SECONDS)


@pytest.fixture(scope="module")
def tc89(recordings_dir):
    times, chans, n = read_tc89(recordings_dir / "TC89_DIV15_A.nexTimestamps")
    duration = 911.6  # Sweep_Stop of the file
    onsets, _, _ = network_bursts(times, chans, n, duration)
    return {"burst_rate": onsets.size / duration,
            "in_bursts": fraction_in_bursts(times, onsets)}


# ------------------------------------------------------------------ layout and API
def test_mcs_layout_is_8x8_without_corners_at_200um():
    labels, pos = mcs_layout(60)
    assert len(labels) == 60 and len(set(labels)) == 60
    assert labels[:2] == ("12", "13") and labels[-1] == "87"
    assert not {"11", "18", "81", "88"} & set(labels)
    col = np.array([int(s[0]) for s in labels])
    row = np.array([int(s[1]) for s in labels])
    np.testing.assert_allclose(pos, np.column_stack([col - 1, row - 1]) * PITCH)
    labels59, _ = mcs_layout(59)
    assert len(labels59) == 59 and "15" not in labels59
    with pytest.raises(ValueError, match="n_electrodes = 64"):
        mcs_layout(64)


def test_culture_labels_time_and_chunk_bounds():
    culture = VirtualCulture(seed=2, n_neurons=200)
    assert culture.labels == mcs_layout(60)[0]
    assert culture.time == 0.0
    ev = culture.advance(0.25)
    assert isinstance(ev, SpikeEvents)
    assert (ev.t_start, ev.t_stop, culture.time) == (0.0, 0.25, 0.25)
    ev2 = culture.advance(0.25)  # an empty interval is fine
    assert len(ev2) == 0 and ev2.t_start == ev2.t_stop == 0.25


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"bogus": 1.0}, TypeError, "unknown culture parameter"),
    ({"n_neurons": 5}, ValueError, "n_neurons"),
    ({"n_neurons": 100.0}, TypeError, "n_neurons"),
    ({"p_detect": 1.5}, ValueError, "p_detect"),
    ({"dt": 0.0}, ValueError, "dt"),
    ({"dead_time": 1e-5}, ValueError, "dead_time"),
    ({"seed": -1}, ValueError, "seed"),
    ({"n_electrodes": 61}, ValueError, "n_electrodes"),
])
def test_bad_parameters_are_refused(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        VirtualCulture(**kwargs)


def test_bad_calls_are_refused():
    culture = VirtualCulture(seed=0, n_neurons=100)
    culture.advance(0.1)
    with pytest.raises(ValueError, match="before the culture's time"):
        culture.advance(0.05)
    with pytest.raises(TypeError, match="until"):
        culture.advance("1")
    with pytest.raises(TypeError, match="StimCommands"):
        culture.stimulate([0.2, 3])
    with pytest.raises(ValueError, match="electrode index 60"):
        culture.stimulate(pulses([0.2], 60))


# ------------------------------------------------------------------ determinism
def _run_chunked(seed, until, chunks, stim_now=None, stim_later=None, stim_at=None):
    """Advance through the ``chunks`` boundaries; ``stim_later`` is delivered once the culture
    reaches ``stim_at`` (still before its pulses), as a closed loop would."""
    culture = VirtualCulture(seed=seed)
    if stim_now is not None:
        culture.stimulate(stim_now)
    pieces = []
    for t in [*chunks, until]:
        if stim_later is not None and culture.time >= stim_at:
            culture.stimulate(stim_later)
            stim_later = None
        pieces.append(culture.advance(t))
    for a, b in zip(pieces[:-1], pieces[1:], strict=True):
        assert a.t_stop == b.t_start  # chunks tile time
    times = np.concatenate([p.times for p in pieces])
    chans = np.concatenate([p.channels for p in pieces])
    return times, chans, culture.counters


def test_same_seed_same_output_whatever_the_chunking():
    until = 3.0
    early = pulses([0.5, 1.2345678], [7, 40])
    late = pulses([2.0, 2.0004], [12, 12], amplitude=40e-6)
    runs = {
        "one call": [],
        "100 ms": list(np.arange(0.1, until, 0.1)),
        "1 ms": list(np.arange(0.001, until, 0.001)),
        "irregular": list(np.cumsum(np.random.default_rng(1).uniform(0, 0.004, 2000))),
    }
    both = StimCommands(*(np.concatenate([getattr(early, f), getattr(late, f)]) for f in
                          ("times", "electrode", "amplitude", "phase_width", "interphase")))
    results = {"one call": _run_chunked(4, until, [], stim_now=both)}  # all pulses known at once
    for name, chunks in runs.items():
        if name == "one call":
            continue
        chunks = [c for c in chunks if c < until]
        # the later pulses are delivered at 1.5 s, while the culture runs
        results[name] = _run_chunked(4, until, chunks, stim_now=early, stim_later=late,
                                     stim_at=1.5)
    ref_t, ref_c, ref_counts = results["one call"]
    assert ref_counts.stim_applied == 4 and ref_counts.direct_activations > 0
    for name, (t, c, counts) in results.items():
        np.testing.assert_array_equal(t, ref_t, err_msg=name)  # exact: same steps, same floats
        np.testing.assert_array_equal(c, ref_c, err_msg=name)
        assert counts == ref_counts, name


def test_seed_changes_the_culture_and_reset_repeats_it():
    a = VirtualCulture(seed=1, n_neurons=300)
    b = VirtualCulture(seed=2, n_neurons=300)
    ea, eb = a.advance(2.0), b.advance(2.0)
    assert not np.array_equal(a.network.pos, b.network.pos)
    assert len(ea) != len(eb) or not np.array_equal(ea.times, eb.times)
    a.reset()
    again = a.advance(2.0)
    np.testing.assert_array_equal(again.times, ea.times)
    np.testing.assert_array_equal(again.channels, ea.channels)


# ------------------------------------------------------------------ statistics vs TC89
def test_electrode_rates_are_plausible(spontaneous):
    culture, ev = spontaneous
    rates = ev.counts() / STATS_SECONDS
    in_range = (rates >= 0.1) & (rates <= 20.0)
    # real arrays have a few silent electrodes (TC89: 1 of 59 below 0.1 Hz); most are 0.1-20 Hz
    assert in_range.sum() >= 50, np.sort(rates)
    assert 0.5 <= np.median(rates) <= 10.0


def test_network_bursts_like_tc89(spontaneous, tc89):
    culture, ev = spontaneous
    onsets, rates, active = network_bursts(ev.times, ev.channels, ev.n_channels, STATS_SECONDS)
    rate = onsets.size / STATS_SECONDS
    # TC89 (DIV 15 hippocampal culture): ~0.26 bursts/s; a seeded model matches within a loose
    # factor of 3 (different cultures of one batch vary at least that much)
    assert tc89["burst_rate"] / 3 <= rate <= tc89["burst_rate"] * 3, (rate, tc89)
    # most spikes belong to bursts, as in TC89 (~0.7); tonic firing alone would give ~0.1
    assert fraction_in_bursts(ev.times, onsets) >= 0.5
    assert tc89["in_bursts"] >= 0.5
    # bursts are ended (by depression and adaptation), not one long up-state: quiet between
    ibi = np.diff(onsets)
    assert ibi.size >= 3 and np.median(ibi) >= 1.0


def test_counters_add_up_after_a_stimulated_run():
    culture = VirtualCulture(seed=3, n_neurons=400)
    culture.stimulate(pulses([0.2, 0.2, 0.9, 5.0], [3, 3, 30, 30]))
    culture.advance(1.0)
    culture.stimulate(pulses([0.5], 3))  # late
    c = culture.counters
    assert c.stim_received == c.stim_late + c.stim_applied + c.stim_pending == 5
    assert (c.stim_late, c.stim_applied, c.stim_pending) == (1, 3, 1)
    assert c.direct_scheduled == (c.direct_activations + c.direct_blocked + c.direct_coincident
                                  + c.direct_pending)
    # two identical pulses at once: the second finds every neuron just fired (refractory)
    assert c.direct_blocked + c.direct_coincident > 0
    assert c.recorded_neuron_spikes == c.detected_spikes + c.missed_detection + c.merged_dead_time
    assert c.noise_events == c.noise_detected + c.noise_merged + c.noise_pending
    assert c.detected_spikes + c.noise_detected > 0
    assert set(c.to_dict()) >= {"stim_late", "stim_applied", "direct_activations"}


def test_late_commands_are_dropped_and_counted():
    culture = VirtualCulture(seed=0, n_neurons=100)
    culture.advance(1.0)
    culture.stimulate(pulses([0.5, 0.99999, 1.0, 1.5], 10))
    c = culture.counters
    assert (c.stim_late, c.stim_pending) == (2, 2)
    culture.advance(2.0)
    assert culture.counters.stim_applied == 2


# ------------------------------------------------------------------ stimulation
def _recorded_and_activated(culture, electrode, charge):
    net = culture.network
    act = net.stim_order[electrode][net.stim_thr[electrode] <= charge]
    rec = {int(n) for n in range(net.rec_ptr.size - 1)
           if electrode in net.rec_el[net.rec_ptr[n]:net.rec_ptr[n + 1]]}
    return set(act.tolist()) & rec


def _counts_after(ev, t_pulses, lo, hi, mask):
    keep = mask[ev.channels]
    rel = ev.times[keep][None, :] - np.asarray(t_pulses)[:, None]
    return ((rel > lo) & (rel <= hi)).sum(axis=1)


def test_more_charge_activates_more_neurons_polarity_aside():
    culture = VirtualCulture(seed=0)
    scheduled = []
    for amp in (2e-6, 10e-6, 20e-6, 40e-6, 80e-6):
        before = culture.counters.direct_scheduled
        culture.stimulate(pulses([1.0], 25, amplitude=-amp))
        scheduled.append(culture.counters.direct_scheduled - before)
    assert scheduled[0] == 0  # 0.4 nC: below every threshold
    assert all(b > a for a, b in zip(scheduled[:-1], scheduled[1:], strict=True)), scheduled
    before = culture.counters.direct_scheduled
    culture.stimulate(pulses([1.0], 25, amplitude=+40e-6))  # other polarity, same charge
    assert culture.counters.direct_scheduled - before == scheduled[3]
    before = culture.counters.direct_scheduled
    culture.stimulate(pulses([1.0], 25, amplitude=-40e-6, width=100e-6))  # half the charge
    assert culture.counters.direct_scheduled - before == scheduled[2]


def test_direct_response_within_a_few_ms():
    seed, electrode, t_pulse = 0, 27, 2.0
    base = VirtualCulture(seed=seed)
    stim = VirtualCulture(seed=seed)
    assert _recorded_and_activated(stim, electrode, 30e-6 * 200e-6)  # it has direct responders
    stim.stimulate(pulses([t_pulse], electrode))
    eb, es = base.advance(2.1), stim.advance(2.1)
    # identical before the pulse: stimulation does not reach back in time
    np.testing.assert_array_equal(eb.times[eb.times < t_pulse], es.times[es.times < t_pulse])

    def right_after(ev):
        sel = (ev.channels == electrode) & (ev.times > t_pulse) & (ev.times <= t_pulse + 0.01)
        return set(ev.times[sel].round(7))

    lat = np.array(sorted(right_after(es) - right_after(eb))) - t_pulse
    assert lat.size >= 1
    # direct spikes: direct_latency (1 ms) + conduction, on the 0.1 ms grid; none before
    assert lat.min() >= stim.params.direct_latency - 1e-9
    assert (lat <= 5e-3).sum() >= 1


def test_stimulation_evokes_spikes_on_the_electrode_and_its_neighbours():
    seed, electrode = 0, 27
    t_pulses = np.arange(2.0, 14.0, 3.0)  # spontaneous bursts come every ~5 s: 3 s apart
    base = VirtualCulture(seed=seed)
    stim = VirtualCulture(seed=seed)
    stim.stimulate(pulses(t_pulses, electrode))
    eb, es = base.advance(15.0), stim.advance(15.0)
    pos = stim.positions
    near = np.linalg.norm(pos - pos[electrode], axis=1) <= np.sqrt(2) * PITCH + 1e-9
    assert near.sum() == 9  # the electrode and its 8 neighbours (27 is inside the array)
    evoked = _counts_after(es, t_pulses, 0.005, 0.050, near)
    spont = _counts_after(eb, t_pulses, 0.005, 0.050, near)
    # synaptic / network response 5-50 ms after the pulse: several times the spontaneous count
    assert evoked.sum() >= 3 * spont.sum() + 10, (evoked, spont)
    assert (evoked > spont).mean() >= 0.75
    # and across the whole array over 50-300 ms: a network burst follows most pulses
    everywhere = np.ones(60, bool)
    late_s = _counts_after(es, t_pulses, 0.05, 0.3, everywhere)
    late_b = _counts_after(eb, t_pulses, 0.05, 0.3, everywhere)
    assert late_s.sum() >= 2 * late_b.sum(), (late_s, late_b)


def test_network_response_is_refractory_to_repeated_stimulation():
    electrode = 27
    first = np.arange(3.0, 25.0, 5.5)  # isolated pulses, then a second one 300 ms later
    second = first + 0.3
    culture = VirtualCulture(seed=0)
    culture.stimulate(pulses(np.sort(np.concatenate([first, second])), electrode))
    ev = culture.advance(26.0)
    everywhere = np.ones(60, bool)
    net1 = _counts_after(ev, first, 0.005, 0.3, everywhere).sum()
    net2 = _counts_after(ev, second, 0.005, 0.3, everywhere).sum()
    # depleted synapses and adaptation after the first response: the second is far weaker
    assert net2 < 0.3 * net1, (net1, net2)
    # while direct activation (a property of each neuron, 2 ms refractory) still works
    d1 = _counts_after(ev, first, 0.0, 0.005, everywhere).sum()
    d2 = _counts_after(ev, second, 0.0, 0.005, everywhere).sum()
    assert d2 >= 0.5 * d1 > 0, (d1, d2)


# ------------------------------------------------------------------ Source / Sink wrappers
def test_source_reads_the_culture_in_chunks_until_the_duration():
    src = VirtualCultureSource(duration=0.5, chunk=0.2, seed=5, n_neurons=300)
    assert isinstance(src, Source) and src.name == "virtual"
    chunks = list(iter(src.read_chunk, None))
    assert [c.t_stop for c in chunks] == [0.2, 0.4, 0.5]
    assert src.read_chunk() is None
    whole = src.read_all()  # nothing left
    assert len(whole) == 0
    ref = VirtualCulture(seed=5, n_neurons=300).advance(0.5)
    np.testing.assert_array_equal(np.concatenate([c.times for c in chunks]), ref.times)
    assert chunks[0].labels == src.labels == ref.labels


def test_sink_stimulates_a_shared_culture():
    culture = VirtualCulture(seed=5, n_neurons=300)
    src = VirtualCultureSource(culture, duration=1.0, chunk=0.1)
    with VirtualCultureSink(culture) as sink:
        assert isinstance(sink, Sink) and sink.name == "virtual"
        src.read_chunk()
        sink.write(pulses([0.05, 0.3], 12))
        list(iter(src.read_chunk, None))
    c = culture.counters
    assert (c.stim_late, c.stim_applied) == (1, 1)
    with pytest.raises(TypeError, match="VirtualCulture"):
        VirtualCultureSink(object())
    with pytest.raises(ValueError, match="existing culture"):
        VirtualCultureSource(culture, n_neurons=10)
    with pytest.raises(ValueError, match="seed"):
        VirtualCultureSource(culture, seed=3)


def test_source_is_registered_as_virtual():
    from bioloop import registry

    assert registry.load("bioloop.sources", "virtual") is VirtualCultureSource
    assert registry.load("bioloop.sinks", "virtual") is VirtualCultureSink


def test_params_names_match_the_dataclass():
    names = CultureParams.names()
    assert "n_neurons" in names and "stim_q50" in names
    assert VirtualCulture(seed=0, n_neurons=50, mini_rate=1.0).params.mini_rate == 1.0
