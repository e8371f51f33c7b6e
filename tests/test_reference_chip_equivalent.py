"""The Brian2 chip-equivalent against the chip model: exactly the same spikes (mismatch off)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioloop.backends.chip import ChipBackend
from bioloop.chip import ChipConfig
from bioloop.reference_models.brian2_target import check_target
from bioloop.reference_models.chip_equivalent import (
    ChipEquivalentBackend,
    net_current,
    psp_steps,
    unique_pulses,
)
from bioloop.types import AxonFrames, ChipProgram

pytestmark = pytest.mark.reference

LATERALS = [(), (-1, 1), (-2, 1), (3,), (-1, 1, -4, 4)]


def random_program(rng, n_clusters, lateral) -> ChipProgram:
    w = rng.integers(0, 8, (n_clusters, 16, 16))
    r = rng.integers(0, 8, (n_clusters, 16))
    ref = rng.integers(0, 7, n_clusters)
    gen = rng.integers(ref + 1, 8)
    return ChipProgram(w, r, gen, ref, tuple(lateral), "random test")


def run_both(cfg, prog, frames, until, **kw):
    chip = ChipBackend(cfg, n_clusters=prog.n_clusters, mismatch=False)
    chip.program(prog)
    ref = ChipEquivalentBackend(cfg, n_clusters=prog.n_clusters, **kw)
    ref.program(prog)
    return chip, chip.evolve(frames, until), ref, ref.evolve(frames, until)


def assert_same(a, b):
    assert len(a.fires) == len(b.fires)
    np.testing.assert_array_equal(a.fires.cycles, b.fires.cycles)
    np.testing.assert_array_equal(a.fires.cluster, b.fires.cluster)
    np.testing.assert_array_equal(a.fires.dend, b.fires.dend)
    assert (a.axon_pulses, a.merged, a.ignored_refractory, a.t_end) == \
        (b.axon_pulses, b.merged, b.ignored_refractory, b.t_end)


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_clusters=st.integers(1, 2),
       lateral=st.sampled_from(LATERALS), leak_mode=st.sampled_from(["every_cycle", "input_only"]),
       n_abs=st.integers(0, 3), density=st.sampled_from([0.01, 0.05, 0.2]),
       n_cycles=st.integers(20, 200), gclk=st.sampled_from([1e3, 50e3]),
       i_leak=st.sampled_from([0.5e-6, 0.35e-6, 1.3e-6]),
       devices=st.sampled_from([{}, {"r_ap": 30e3, "v_read": 0.035},
                                {"r_p": 7e3, "r_ap": 23e3, "v_read": 0.031}]))
def test_same_spikes_as_chip_on_random_networks_and_inputs(seed, n_clusters, lateral, leak_mode,
                                                           n_abs, density, n_cycles, gclk, i_leak,
                                                           devices):
    rng = np.random.default_rng(seed)
    prog = random_program(rng, n_clusters, lateral)
    cfg = ChipConfig(gclk_hz=gclk, leak_mode=leak_mode, n_abs=n_abs, i_leak=i_leak, **devices)
    axons = rng.random((n_cycles, n_clusters, 16)) < density
    t, c, k = np.nonzero(axons)
    # also repeated events of one axon in one cycle: both sides merge and count them
    dup = t.size // 7
    t, c, k = np.r_[t, t[:dup]], np.r_[c, c[:dup]], np.r_[k, k[:dup]]
    order = np.argsort(t, kind="stable")
    frames = AxonFrames(t[order], c[order], k[order], gclk)
    until = n_cycles + int(rng.integers(0, 30))
    _, a, _, b = run_both(cfg, prog, frames, until)
    assert_same(a, b)


def tie_program(theta_gen=7, theta_ref=2, w_code=7, r_code=0):
    w = np.zeros((1, 16, 16), int)
    w[0, 0, :] = w_code
    return ChipProgram(w, np.full((1, 16), r_code), np.array([theta_gen]), np.array([theta_ref]), ())


def test_threshold_tie_from_v_rfr_is_decided_like_the_chip():
    # s = 7, theta = 5: from V_RFR = 500 mV the step of 350 mV lands on V_TH = 850 mV in exact
    # arithmetic; the decision depends on how G is rounded, and must match the chip's
    cfg = ChipConfig()
    prog = tie_program()
    G = psp_steps(cfg, prog)[0, 0, 0]
    assert abs((cfg.v_rfr + G) - cfg.v_th) < 1e-15  # the tie really is exercised
    # fire at 0, refractory 1..2, then from V_RFR with p = 0 at cycle 3: the tie
    frames = AxonFrames([0, 3, 20, 21], [0] * 4, [0] * 4, cfg.gclk_hz)
    chip, a, ref, b = run_both(cfg, prog, frames, 40)
    assert_same(a, b)
    assert a.fires.cycles[0] == 0 and a.fires.dend.size >= 16


def test_leak_and_psp_sums_with_ties_match_over_long_runs(rng):
    # theta = 4 and codes giving multiples of 62.5 mV, leak of 10 mV: sums that land exactly
    # on 850 mV in exact arithmetic are common; every decision must match the chip
    cfg = ChipConfig()
    w = rng.integers(0, 8, (1, 16, 16))
    prog = ChipProgram(w, np.full((1, 16), 3), np.array([6]), np.array([2]), (-1, 1))
    axons = rng.random((400, 1, 16)) < 0.08
    _, a, _, b = run_both(cfg, prog, AxonFrames.from_dense(axons, cfg.gclk_hz), 420)
    assert len(a.fires) > 50  # the test drives the neurons to fire
    assert_same(a, b)


def test_evolve_in_pieces_equals_one_call(rng):
    cfg = ChipConfig(n_abs=3)
    prog = random_program(rng, 2, (-1, 1))
    axons = rng.random((150, 2, 16)) < 0.06
    frames = AxonFrames.from_dense(axons, cfg.gclk_hz)
    whole = ChipEquivalentBackend(cfg, n_clusters=2)
    whole.program(prog)
    one = whole.evolve(frames, 150)
    parts = ChipEquivalentBackend(cfg, n_clusters=2)
    parts.program(prog)
    cuts = [0, 37, 38, 90, 150]
    got = []
    for t0, t1 in zip(cuts[:-1], cuts[1:], strict=True):
        sel = (frames.cycles >= t0) & (frames.cycles < t1)
        step = parts.evolve(AxonFrames(frames.cycles[sel], frames.cluster[sel], frames.axon[sel],
                                       cfg.gclk_hz), t1)
        assert step.t_end == t1
        got.append(step)
    cyc = np.concatenate([s.fires.cycles for s in got])
    np.testing.assert_array_equal(cyc, one.fires.cycles)
    np.testing.assert_array_equal(np.concatenate([s.fires.dend for s in got]), one.fires.dend)
    assert sum(s.ignored_refractory for s in got) == one.ignored_refractory
    # reset: back to cycle 0 and rest, the same run again gives the same spikes
    parts.reset()
    again = parts.evolve(frames, 150)
    np.testing.assert_array_equal(again.fires.cycles, one.fires.cycles)


def test_idle_stretch_without_input_returns_nothing_and_advances():
    cfg = ChipConfig()
    be = ChipEquivalentBackend(cfg, n_clusters=1)
    be.program(tie_program())
    step = be.evolve(AxonFrames([], [], [], cfg.gclk_hz), 25)
    assert len(step.fires) == 0 and step.t_end == 25 and be.cycle == 25
    assert be.evolve(AxonFrames([], [], [], cfg.gclk_hz), 25).t_end == 25


@pytest.mark.parametrize("devices", [{}, {"r_ap": 30e3, "v_read": 0.035},
                                     {"r_p": 7e3, "r_ap": 23e3, "v_read": 0.031}])
def test_psp_steps_equal_the_chip_models_bit_for_bit(devices):
    # every (gen, ref) threshold pair, every weight code against every PSP reference code:
    # the PSP steps written from the semantics page must be the chip's to the last bit
    cfg = ChipConfig(**devices)
    pairs = [(g, r) for g in range(8) for r in range(g)]
    C = len(pairs)
    w = np.tile(np.arange(16)[None, :, None] % 8, (C, 1, 16))
    w = (w + np.arange(16)[None, None, :]) % 8
    r = np.tile((np.arange(16) // 2) % 8, (C, 1))
    prog = ChipProgram(w, r, np.array([g for g, _ in pairs]), np.array([q for _, q in pairs]), ())
    chip = ChipBackend(cfg, n_clusters=C, mismatch=False)
    chip.program(prog)
    np.testing.assert_array_equal(psp_steps(cfg, prog), chip.chip.psp_step())


def test_psp_steps_are_nominally_s_over_theta():
    cfg = ChipConfig()
    rng = np.random.default_rng(5)
    prog = random_program(rng, 3, ())
    expect = prog.signed_weights / prog.theta[:, None, None] * cfg.dv_per_unit
    # equal up to float rounding of the currents (a few ulp of 250 mV)
    np.testing.assert_allclose(psp_steps(cfg, prog), expect, rtol=0, atol=1e-14)
    assert net_current(cfg, 7, 0) == pytest.approx(7 * cfg.alpha, rel=1e-14)


def test_describe_and_read_image():
    cfg = ChipConfig()
    be = ChipEquivalentBackend(cfg, n_clusters=1)
    prog = tie_program()
    be.program(prog)
    img = be.read_image()
    np.testing.assert_array_equal(img.weights, prog.weights)
    assert img.lateral_neighbours == prog.lateral_neighbours
    be.evolve(AxonFrames([1], [0], [0], cfg.gclk_hz), 5)
    d = be.describe
    assert d["backend"] == "chip-equivalent" and d["brian2_target"] == "numpy"
    assert d["brian2_run"]["target"] == "numpy" and d["brian2_run"]["run_s"] >= 0


def test_bad_input_is_refused_with_clear_errors():
    cfg = ChipConfig()
    with pytest.raises(ValueError, match="mismatch"):
        ChipEquivalentBackend(cfg, n_clusters=1, mismatch=True)
    with pytest.raises(ValueError, match="not valid"):
        ChipEquivalentBackend(cfg, n_clusters=1, target="gpu")
    be = ChipEquivalentBackend(cfg, n_clusters=1)
    with pytest.raises(ValueError, match="not programmed"):
        be.evolve(AxonFrames([1], [0], [0], cfg.gclk_hz), 5)
    with pytest.raises(ValueError, match="2 clusters"):
        be.program(ChipProgram(np.zeros((2, 16, 16), int), np.zeros((2, 16), int),
                               np.array([7, 7]), np.array([2, 2])))
    with pytest.raises(TypeError, match="ChipProgram"):
        be.program("relay")
    be.program(tie_program())
    with pytest.raises(ValueError, match="gclk_hz"):
        be.evolve(AxonFrames([1], [0], [0], 2e3), 5)
    with pytest.raises(ValueError, match="cluster 1"):
        be.evolve(AxonFrames([1], [1], [0], cfg.gclk_hz), 5)
    with pytest.raises(ValueError, match="until = 1"):
        be.evolve(AxonFrames([3], [0], [0], cfg.gclk_hz), 1)
    be.evolve(AxonFrames([3], [0], [0], cfg.gclk_hz), 10)
    with pytest.raises(ValueError, match="before the backend's current cycle"):
        be.evolve(AxonFrames([4], [0], [0], cfg.gclk_hz), 20)
    with pytest.raises(TypeError, match="AxonFrames"):
        unique_pulses([1, 2], gclk_hz=1e3, n_clusters=1, t_now=0, until=3)


def test_missing_compiler_for_a_compiled_target_is_a_value_error(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/bin/g++")
    for target in ("cython", "cpp_standalone"):
        with pytest.raises(ValueError, match="needs a C\\+\\+ compiler"):
            check_target(target)
        with pytest.raises(ValueError, match="needs a C\\+\\+ compiler"):
            ChipEquivalentBackend(ChipConfig(), n_clusters=1, target=target)
    assert check_target("numpy") == "numpy"  # numpy needs none: no fallback either way


def test_cache_dir_inside_the_repository_is_refused(tmp_path):
    (tmp_path / ".git").mkdir()  # tmp_path now looks like a git checkout
    be = ChipEquivalentBackend(ChipConfig(), n_clusters=1, cache_dir=tmp_path / "cache")
    be.program(tie_program())
    with pytest.raises(ValueError, match="inside the git checkout"):
        be.evolve(AxonFrames([1], [0], [0], 1e3), 5)
    assert not (tmp_path / "cache").exists()


def test_brian2_preferences_are_restored_after_a_run():
    import brian2

    before = {k: brian2.prefs[k] for k in ("codegen.target", "codegen.cpp.extra_compile_args_gcc")}
    brian2.prefs["codegen.target"] = "cython"  # a caller's own setting
    try:
        be = ChipEquivalentBackend(ChipConfig(), n_clusters=1)
        be.program(tie_program())
        be.evolve(AxonFrames([1], [0], [0], 1e3), 5)
        assert brian2.prefs["codegen.target"] == "cython"
        assert brian2.prefs["codegen.cpp.extra_compile_args_gcc"] == \
            before["codegen.cpp.extra_compile_args_gcc"]
    finally:
        brian2.prefs["codegen.target"] = before["codegen.target"]


def test_objects_alive_before_a_run_are_left_out_of_brians_collections_then_restored(tmp_path):
    import gc

    from bioloop.reference_models.brian2_target import brian2_run

    assert gc.get_freeze_count() == 0
    with brian2_run("numpy", "chip_equivalent", tmp_path) as _:
        assert gc.get_freeze_count() > 0  # what lived before the run is not scanned again
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a caller that froze the collector itself keeps it frozen
    try:
        with brian2_run("numpy", "chip_equivalent", tmp_path) as _:
            pass
        assert gc.get_freeze_count() > 0  # not unfrozen (objects freed meanwhile leave it)
    finally:
        gc.unfreeze()


@pytest.mark.slow
def test_cython_target_gives_the_chip_spikes_too(tmp_path, rng):
    # the compiled target must not change a single decision (no fast-math, no FMA); compiled
    # extensions go to a temporary cache here
    cfg = ChipConfig(gclk_hz=50e3)
    prog = random_program(rng, 2, (-1, 1))
    axons = rng.random((300, 2, 16)) < 0.05
    _, a, ref, b = run_both(cfg, prog, AxonFrames.from_dense(axons, cfg.gclk_hz), 300,
                            target="cython", cache_dir=tmp_path)
    assert_same(a, b)
    assert ref.describe["brian2_run"]["target"] == "cython"
    assert any((tmp_path / "cython").iterdir())
