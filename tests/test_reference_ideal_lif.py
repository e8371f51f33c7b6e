"""The ideal-LIF reference: its mapping from the chip's parameters and its LIF dynamics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bioloop.chip import ChipConfig
from bioloop.reference_models.ideal_lif import IdealLIFBackend, LIFMapping
from bioloop.types import AxonFrames, ChipProgram

pytestmark = pytest.mark.reference


def program(s_codes: dict, theta=(7, 3), lateral=()) -> ChipProgram:
    """PSP reference 0 everywhere; weight code s on (row, column) for each entry."""
    w = np.zeros((1, 16, 16), int)
    for (row, col), s in s_codes.items():
        w[0, row, col] = s
    return ChipProgram(w, np.zeros((1, 16), int), np.array([theta[0]]), np.array([theta[1]]),
                       tuple(lateral))


def run(cfg, prog, cycles, rows, until):
    be = IdealLIFBackend(cfg, n_clusters=prog.n_clusters)
    be.program(prog)
    frames = AxonFrames(cycles, np.zeros(len(cycles), int), rows, cfg.gclk_hz)
    return be, be.evolve(frames, until)


def test_mapping_formulas():
    cfg = ChipConfig(gclk_hz=2e3, n_abs=4, i_leak=0.25e-6)
    m = LIFMapping.from_config(cfg)
    L = cfg.i_leak * cfg.t_swleak / cfg.c_int  # 5 mV per pulse
    assert m.tau_m == pytest.approx((cfg.v_rest - cfg.v_rfr) / (L * 2e3), rel=1e-12)  # 12.5 ms
    assert m.tau_m == pytest.approx(12.5e-3, rel=1e-12)
    assert m.t_ref == pytest.approx(5 / 2e3, rel=1e-12)
    assert m.weight_per_unit == pytest.approx(0.25, rel=1e-12)
    assert (m.v_th, m.v_rest, m.v_reset, m.v_lat) == (cfg.v_th, cfg.v_rest, cfg.v_rfr, cfg.v_lat)
    prog = program({(0, 0): 6, (1, 0): 1}, theta=(7, 3))
    w = m.weights(prog)
    assert w[0, 0, 0] == pytest.approx(6 / 4 * 0.25) and w[0, 1, 0] == pytest.approx(1 / 4 * 0.25)
    assert math.isinf(LIFMapping.from_config(cfg.replace(i_leak=0.0)).tau_m)


def test_exponential_leak_decides_temporal_summation():
    # two inputs on one neuron, the second d cycles after the first: the neuron fires iff
    # V_REST + h exp(-d / (tau f)) + h >= V_TH, with h = s / theta * 250 mV
    cfg = ChipConfig()
    m = LIFMapping.from_config(cfg)
    s, theta = 3, 4  # h = 187.5 mV: one input does not fire, two at once do
    h = s / theta * 0.25
    d_star = -math.log((cfg.v_th - cfg.v_rest - h) / h) * m.tau_m * cfg.gclk_hz
    assert 1 < d_star < 30
    prog = program({(0, 0): s}, theta=(theta, 0))
    for d in (math.floor(d_star), math.ceil(d_star)):
        _, step = run(cfg, prog, [10, 10 + d], [0, 0], 60)
        fired = step.fires.cycles.tolist()
        assert fired == ([10 + d] if d < d_star else []), (d, d_star, fired)


def test_absolute_refractory_then_reset_level():
    cfg = ChipConfig(n_abs=2)
    prog = program({(0, 0): 7}, theta=(4, 0))  # 437.5 mV: fires from rest and from V_RFR
    # fire at 5; an input at 5 + N_ABS is ignored (and counted), one at 5 + N_ABS + 1 is not
    _, step = run(cfg, prog, [5, 7], [0, 0], 20)
    assert step.fires.cycles.tolist() == [5] and step.ignored_refractory == 1
    _, step = run(cfg, prog, [5, 8], [0, 0], 20)
    assert step.fires.cycles.tolist() == [5, 8] and step.ignored_refractory == 0
    # from V_RFR (no leak during refractory) s = theta gives 750 mV: no FIRE
    prog2 = program({(0, 0): 7, (1, 0): 4}, theta=(4, 0))
    _, step = run(cfg, prog2, [5, 8], [0, 1], 20)
    assert step.fires.cycles.tolist() == [5]


def test_lateral_inhibition_sets_non_firing_neighbours_to_v_lat():
    cfg = ChipConfig()
    # row 0 fires column 5; row 1 would fire columns 4 and 6 from rest (s = theta) but from
    # V_LAT (400 mV) s = theta only reaches 650 mV
    prog = program({(0, 5): 4, (1, 4): 4, (1, 6): 4}, theta=(4, 0), lateral=(-1, 1))
    _, step = run(cfg, prog, [3, 4], [0, 1], 10)
    assert list(zip(step.fires.cycles.tolist(), step.fires.dend.tolist(), strict=True)) == [(3, 5)]
    prog_free = program({(0, 5): 4, (1, 4): 4, (1, 6): 4}, theta=(4, 0))
    _, step = run(cfg, prog_free, [3, 4], [0, 1], 10)
    assert sorted(step.fires.dend.tolist()) == [4, 5, 6]


def test_evolve_in_pieces_carries_membrane_and_refractory_state(rng):
    cfg = ChipConfig(n_abs=3)
    w = rng.integers(0, 8, (1, 16, 16))
    prog = ChipProgram(w, np.full((1, 16), 3), np.array([6]), np.array([2]), (-1, 1))
    axons = rng.random((200, 1, 16)) < 0.06
    frames = AxonFrames.from_dense(axons, cfg.gclk_hz)
    whole = IdealLIFBackend(cfg, n_clusters=1)
    whole.program(prog)
    one = whole.evolve(frames, 200)
    assert len(one.fires) > 20
    parts = IdealLIFBackend(cfg, n_clusters=1)
    parts.program(prog)
    got = []
    for t0, t1 in ((0, 61), (61, 62), (62, 200)):
        sel = (frames.cycles >= t0) & (frames.cycles < t1)
        got.append(parts.evolve(AxonFrames(frames.cycles[sel], frames.cluster[sel],
                                           frames.axon[sel], cfg.gclk_hz), t1))
    np.testing.assert_array_equal(np.concatenate([s.fires.cycles for s in got]), one.fires.cycles)
    np.testing.assert_array_equal(np.concatenate([s.fires.dend for s in got]), one.fires.dend)
    assert sum(s.ignored_refractory for s in got) == one.ignored_refractory


def test_substeps_do_not_change_the_spikes(rng):
    # exact integration: a finer Brian2 dt gives the same FIREs (inputs sit on GCLK edges)
    cfg = ChipConfig()
    w = rng.integers(0, 8, (1, 16, 16))
    prog = ChipProgram(w, np.full((1, 16), 2), np.array([7]), np.array([2]), ())
    axons = rng.random((150, 1, 16)) < 0.05
    frames = AxonFrames.from_dense(axons, cfg.gclk_hz)
    out = []
    for sub in (1, 4):
        be = IdealLIFBackend(cfg, n_clusters=1, substeps=sub)
        be.program(prog)
        out.append(be.evolve(frames, 150).fires)
    assert len(out[0]) > 5
    np.testing.assert_array_equal(out[0].cycles, out[1].cycles)
    np.testing.assert_array_equal(out[0].dend, out[1].dend)


def test_refuses_what_it_cannot_model():
    with pytest.raises(ValueError, match="input_only"):
        IdealLIFBackend(ChipConfig(leak_mode="input_only"), n_clusters=1)
    with pytest.raises(ValueError, match="mismatch"):
        IdealLIFBackend(ChipConfig(), n_clusters=1, mismatch=True)
    with pytest.raises(TypeError, match="ChipConfig"):
        LIFMapping.from_config({"gclk_hz": 1e3})
    be = IdealLIFBackend(ChipConfig(), n_clusters=1)
    with pytest.raises(ValueError, match="not programmed"):
        be.evolve(AxonFrames([1], [0], [0], 1e3), 3)
    be.program(program({(0, 0): 7}))
    with pytest.raises(ValueError, match="gclk_hz"):
        be.evolve(AxonFrames([1], [0], [0], 5e3), 3)
    d = be.describe
    assert d["backend"] == "ideal-lif" and d["mapping"]["tau_m_s"] == pytest.approx(12.5e-3)
