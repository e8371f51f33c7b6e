"""The dense and event-driven paths against each other and against a plain-Python reading of
docs/chip-semantics.md (written here from the page, cycle by cycle, neuron by neuron)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioloop.chip import Chip, ChipConfig
from bioloop.types import AxonFrames, FireEvents

LATERALS = [(), (-1, 1), (-2, 1), (3,), (-1, 1, -4, 4)]


def reference_run(chip: Chip, axons: np.ndarray, state=None):
    """docs/chip-semantics.md as plain Python, from the chip's own devices and levels.

    Returns fires (T, C, N), recorded voltages (T, C, N), ignored count and the end state.
    """
    cfg, lv, G = chip.config, chip.levels, chip.psp_step()
    signed = chip.signed_weights
    T, C, K = axons.shape
    N = 16
    if state is None:
        v = np.repeat(lv["v_rest"][:, None], N, axis=1).astype(float)
        p = np.zeros((C, N), int)
        a = np.zeros((C, N), int)
    else:
        v, p, a = (x.copy() for x in state)

    def toward(c, n):
        if p[c, n] == 0:
            return v[c, n]
        d = p[c, n] * lv["leak_step"][c, n]
        rest = lv["v_rest"][c]
        return max(v[c, n] - d, rest) if v[c, n] > rest else min(v[c, n] + d, rest)

    fires = np.zeros((T, C, N), bool)
    rec = np.zeros((T, C, N))
    ignored = 0
    for t in range(T):
        for c in range(C):
            rows = np.flatnonzero(axons[t, c])
            if rows.size == 0:
                for n in range(N):
                    rec[t, c, n] = toward(c, n)
                    if a[c, n] > 0:
                        a[c, n] -= 1
                    elif cfg.leak_mode == "every_cycle":
                        p[c, n] += 1
                continue
            fired = np.zeros(N, bool)
            for n in range(N):
                if a[c, n] > 0:
                    rec[t, c, n] = toward(c, n)
                    a[c, n] -= 1
                    ignored += int(np.any(signed[c, rows, n] != 0))  # an input that mattered
                    continue
                vi = toward(c, n)
                for k in rows:  # increasing row order
                    vi += G[c, k, n]
                vi = min(max(vi, 0.0), cfg.v_dd)
                rec[t, c, n] = vi
                if vi >= lv["v_th"][c, n]:
                    fired[n] = True
                    v[c, n], p[c, n], a[c, n] = lv["v_rfr"][c], 0, cfg.n_abs
                else:
                    v[c, n], p[c, n] = vi, 1
            for n in np.flatnonzero(fired):
                for d in cfg.lateral_neighbours:
                    m = n + d
                    if 0 <= m < N and not fired[m]:
                        v[c, m], p[c, m] = lv["v_lat"][c], 0
            fires[t, c] = fired
    return fires, rec, ignored, (v, p, a)


def make_case(seed: int, n_clusters: int, n_abs: int, leak_mode: str, lateral, mismatch: bool,
              excitatory_bias: int):
    rng = np.random.default_rng(seed)
    cfg = ChipConfig(n_abs=n_abs, leak_mode=leak_mode, lateral_neighbours=lateral)
    refs = rng.integers(0, 8, (n_clusters, 16))
    # bias the codes upward so that networks fire often enough to exercise refractory/lateral
    w = np.clip(rng.integers(0, 8, (n_clusters, 16, 16)) + excitatory_bias, 0, 7)
    tr = rng.integers(0, 4, n_clusters)
    tg = np.minimum(tr + rng.integers(1, 5, n_clusters), 7)

    def build():
        chip = Chip(cfg, n_clusters=n_clusters, seed=seed, mismatch=mismatch)
        chip.program(w, refs, tg, tr)
        return chip

    return build, rng


def events_of(axons: np.ndarray, gclk: float, t0: int = 0) -> AxonFrames:
    return AxonFrames.from_dense(axons, gclk, t0)


case_params = st.fixed_dictionaries({
    "seed": st.integers(0, 2**31 - 1),
    "n_clusters": st.integers(1, 3),
    "n_abs": st.integers(0, 4),
    "leak_mode": st.sampled_from(["every_cycle", "input_only"]),
    "lateral": st.sampled_from(LATERALS),
    "mismatch": st.booleans(),
    "excitatory_bias": st.integers(0, 4),
})


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=case_params, n_cycles=st.integers(1, 150), density=st.floats(0.0, 0.4))
def test_dense_path_follows_the_semantics_page(case, n_cycles, density):
    build, rng = make_case(**case)
    chip = build()
    axons = rng.random((n_cycles, chip.n_clusters, 16)) < density
    r = chip.run(axons, record=True)
    fires, rec, ignored, (v, p, a) = reference_run(build(), axons)
    assert np.array_equal(r.fires, fires)
    assert np.array_equal(r.v, rec)  # same operations in the same order: bit-identical
    assert r.ignored_refractory == ignored
    assert np.array_equal(chip.refractory, a)


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=case_params, n_cycles=st.integers(1, 400), density=st.floats(0.0, 0.3),
       tail=st.integers(0, 50))
def test_event_path_gives_identical_spikes(case, n_cycles, density, tail):
    build, rng = make_case(**case)
    dense, event = build(), build()
    C = dense.n_clusters
    axons = rng.random((n_cycles, C, 16)) < density
    axons[rng.random((n_cycles, C)) < 0.7] = False  # long idle gaps per cluster
    padded = np.concatenate([axons, np.zeros((tail, C, 16), bool)])
    rd = dense.run(padded)
    re = event.run_events(events_of(axons, event.config.gclk_hz), until=n_cycles + tail)
    assert np.array_equal(re.fires.to_dense(n_cycles + tail, C), rd.fires)
    assert re.ignored_refractory == rd.ignored_refractory
    assert re.axon_pulses == int(axons.sum()) and re.merged == 0
    assert re.t_end == event.cycle == dense.cycle == n_cycles + tail
    # the end state is the same too (pending leak applied)
    assert np.array_equal(event.v, dense.v)
    assert np.array_equal(event.refractory, dense.refractory)


@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=case_params, n_cycles=st.integers(2, 300), density=st.floats(0.01, 0.3),
       n_splits=st.integers(1, 6), split_seed=st.integers(0, 1000))
def test_split_runs_mixing_both_paths(case, n_cycles, density, n_splits, split_seed):
    build, rng = make_case(**case)
    whole, split = build(), build()
    C = whole.n_clusters
    axons = rng.random((n_cycles, C, 16)) < density
    full = whole.run(axons)
    expected = full.fires
    srng = np.random.default_rng(split_seed)
    cuts = np.unique(np.r_[0, srng.integers(1, n_cycles, n_splits), n_cycles])
    got = np.zeros_like(expected)
    ignored = 0
    for i, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        if i % 2 == srng.integers(0, 2):
            r = split.run(axons[lo:hi])
            assert r.t0 == lo
            got[lo:hi] = r.fires
        else:
            r = split.run_events(events_of(axons[lo:hi], split.config.gclk_hz, t0=lo), until=hi)
            got[lo:hi] = r.fires.to_dense(hi - lo, C, t0=lo)
        ignored += r.ignored_refractory
        assert split.cycle == hi
    assert np.array_equal(got, expected)
    assert ignored == full.ignored_refractory
    assert np.array_equal(split.v, whole.v)


@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=case_params, n_cycles=st.integers(1, 200), density=st.floats(0.01, 0.3),
       dup_seed=st.integers(0, 10_000))
def test_duplicate_events_merge_into_one_pulse(case, n_cycles, density, dup_seed):
    build, rng = make_case(**case)
    plain, dup = build(), build()
    C = plain.n_clusters
    axons = rng.random((n_cycles, C, 16)) < density
    fr = events_of(axons, plain.config.gclk_hz)
    # repeat some events up to 3 more times and shuffle the order inside each cycle
    drng = np.random.default_rng(dup_seed)
    reps = drng.integers(1, 5, len(fr)) * (drng.random(len(fr)) < 0.3) + 1
    idx = np.repeat(np.arange(len(fr)), reps)
    idx = idx[np.lexsort((drng.random(idx.size), fr.cycles[idx]))]
    fr_dup = AxonFrames(fr.cycles[idx], fr.cluster[idx], fr.axon[idx], fr.gclk_hz)
    rp = plain.run_events(fr, until=n_cycles)
    rd = dup.run_events(fr_dup, until=n_cycles)
    assert rd.merged == int(reps.sum() - reps.size)
    assert rd.axon_pulses == rp.axon_pulses == len(fr)
    assert np.array_equal(rd.fires.cycles, rp.fires.cycles)
    assert np.array_equal(rd.fires.cluster, rp.fires.cluster)
    assert np.array_equal(rd.fires.dend, rp.fires.dend)


def test_fire_events_sorted_and_consistent_with_dense():
    build, rng = make_case(3, 3, 2, "every_cycle", (-1, 1), True, 3)
    chip = build()
    axons = rng.random((500, 3, 16)) < 0.2
    r = chip.run_events(events_of(axons, chip.config.gclk_hz), until=500)
    assert isinstance(r.fires, FireEvents) and len(r.fires) > 50
    assert np.all(np.diff(r.fires.cycles) >= 0)
    assert r.fires.gclk_hz == chip.config.gclk_hz
    assert np.allclose(r.fires.times, r.fires.cycles / chip.config.gclk_hz)
    dense = build().run(axons)
    assert np.array_equal(dense.fire_events(chip.config.gclk_hz).to_dense(500, 3),
                          r.fires.to_dense(500, 3))


def test_event_path_at_50_khz_and_late_start():
    cfg = ChipConfig(gclk_hz=50e3)
    w = np.full((16, 16), 2)
    np.fill_diagonal(w, 7)
    chip = Chip(cfg, n_clusters=2, mismatch=False)
    chip.program(w, np.full(16, 2), 7, 2)
    fr = AxonFrames([1000, 1000, 5000], [0, 1, 1], [3, 4, 4], 50e3)
    r = chip.run_events(fr)
    assert r.t_end == 5001 and chip.cycle == 5001
    assert list(zip(r.fires.cycles.tolist(), r.fires.cluster.tolist(), r.fires.dend.tolist(),
                    strict=True)) == [(1000, 0, 3), (1000, 1, 4), (5000, 1, 4)]


def test_no_events_only_advance_time():
    w = np.full((16, 16), 2)
    w[0, 0] = 7
    chip = Chip(mismatch=False)
    chip.program(w, np.full(16, 2), 7, 2)
    chip.run(np.eye(16, dtype=bool)[:1])  # neuron 0 fires; neuron 1 is laterally inhibited
    empty = AxonFrames(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), 1e3)
    r = chip.run_events(empty, until=10)
    assert len(r.fires) == 0 and r.axon_pulses == 0 and r.t_end == 10 and chip.cycle == 10
    cfg = chip.config
    # 9 idle cycles: neuron 0 refractory for 2 of them, neuron 1 leaks 9 pulses
    assert chip.v[0, 0] == pytest.approx(cfg.v_rfr + 7 * cfg.leak_step, abs=1e-12)
    assert chip.v[0, 1] == pytest.approx(cfg.v_lat + 9 * cfg.leak_step, abs=1e-12)
    r = chip.run_events(empty)  # nothing, not even time
    assert r.t_end == 10 and chip.cycle == 10


# ---- bad input to run_events ---------------------------------------------------------------
@pytest.fixture
def small_chip():
    chip = Chip(n_clusters=2, seed=1)
    chip.program(np.full((16, 16), 3), np.full(16, 2), 7, 2)
    return chip


def test_run_events_rejects_events_before_current_cycle(small_chip):
    small_chip.run_events(AxonFrames([0, 9], [0, 0], [0, 1], 1e3))
    assert small_chip.cycle == 10
    with pytest.raises(ValueError, match=r"event at cycle 5 is before the chip's current cycle 10"):
        small_chip.run_events(AxonFrames([5, 12], [0, 0], [0, 0], 1e3))
    assert small_chip.cycle == 10  # nothing happened


def test_run_events_rejects_out_of_range_cluster_and_axon(small_chip):
    with pytest.raises(ValueError, match=r"cluster 2; this chip has clusters 0..1"):
        small_chip.run_events(AxonFrames([0], [2], [0], 1e3))
    with pytest.raises(ValueError, match=r"axon 16; axons are 0..15"):
        small_chip.run_events(AxonFrames([0], [0], [16], 1e3))
    with pytest.raises(ValueError, match="negative"):
        AxonFrames([0], [0], [-1], 1e3)


def test_run_events_rejects_wrong_gclk(small_chip):
    with pytest.raises(ValueError, match=r"gclk_hz = 2000 but the chip runs at gclk_hz = 1000"):
        small_chip.run_events(AxonFrames([0], [0], [0], 2e3))


def test_run_events_rejects_bad_until_and_type(small_chip):
    with pytest.raises(ValueError, match=r"until = 3 is before the last event's cycle 4"):
        small_chip.run_events(AxonFrames([4], [0], [0], 1e3), until=3)
    small_chip.run_events(AxonFrames([4], [0], [0], 1e3), until=7)
    with pytest.raises(ValueError, match=r"until = 5 is outside the valid range \[7, inf\]"):
        small_chip.run_events(AxonFrames([], [], [], 1e3), until=5)
    with pytest.raises(TypeError, match="until must be an integer"):
        small_chip.run_events(AxonFrames([], [], [], 1e3), until=9.0)
    with pytest.raises(TypeError, match="frames must be AxonFrames, got ndarray"):
        small_chip.run_events(np.zeros((3, 16), bool))


def test_run_events_needs_a_program():
    with pytest.raises(ValueError, match="no program yet"):
        Chip().run_events(AxonFrames([0], [0], [0], 1e3))


def test_unsorted_frames_are_refused_by_axonframes():
    with pytest.raises(ValueError, match="sorted"):
        AxonFrames([3, 1], [0, 0], [0, 0], 1e3)


def test_get_and_set_state_roll_a_chip_back_exactly(rng):
    chip = Chip(n_clusters=2, seed=3)
    chip.program(rng.integers(0, 8, (2, 16, 16)), rng.integers(0, 8, (2, 16)), 7, 3)
    first = rng.random((200, 2, 16)) < 0.05
    second = rng.random((300, 2, 16)) < 0.05
    chip.run(first)
    saved = chip.get_state()
    a = chip.run(second, record=True)
    chip.set_state(saved)
    b = chip.run(second, record=True)
    np.testing.assert_array_equal(a.fires, b.fires)
    np.testing.assert_array_equal(a.v, b.v)
    with pytest.raises(ValueError, match="shape"):
        Chip(n_clusters=1).set_state(saved)
