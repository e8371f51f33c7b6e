"""Cycle dynamics of the ideal chip (mismatch off) against chip-model.md sections 2-3.

Expected values are computed here from the spec's formulas and the config, not read back
from the model: PSP step ``(s / theta) (V_TH - V_CM_TWG) C_TWG / C_INT``, leak step
``I_LEAK t_SWLEAK / C_INT``, levels V_REST / V_RFR / V_LAT.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioloop.chip import Chip, ChipConfig

# voltages come out of a handful of float additions of ~1 V values: 1e-12 V is exact
V_TOL = 1e-12


def ideal_chip(n_clusters: int = 1, **changes) -> Chip:
    return Chip(ChipConfig(**changes), n_clusters=n_clusters, mismatch=False)


def stimuli(n_cycles: int, *events) -> np.ndarray:
    """(T, 16) AXON input with ``(cycle, row)`` events."""
    a = np.zeros((n_cycles, 16), bool)
    for t, k in events:
        a[t, k] = True
    return a


def psp(cfg: ChipConfig, s: int, theta: int) -> float:
    """The spec's V_INTEG change for signed weight s and threshold theta."""
    return s / theta * (cfg.v_th - cfg.v_cm_twg) * cfg.c_twg / cfg.c_int


def toward(v: float, n: int, cfg: ChipConfig) -> float:
    d = n * cfg.i_leak * cfg.t_swleak / cfg.c_int
    return max(v - d, cfg.v_rest) if v > cfg.v_rest else min(v + d, cfg.v_rest)


def program_theta5(chip: Chip, column_codes: dict[int, int] | None = None, row_refs=2):
    """theta = 5 (gen 7, ref 2); every synapse neutral (w = r) except ``(row, col): w``."""
    refs = np.broadcast_to(np.asarray(row_refs), (16,)).astype(int)
    w = np.repeat(refs[:, None], 16, axis=1).copy()
    for (k, n), code in (column_codes or {}).items():
        w[k, n] = code
    chip.program(w, refs, threshold_gen=7, threshold_ref=2)
    return chip


# ---- worked examples of Fig. 5C-E --------------------------------------------------------
def test_fig5_worked_examples_exactly():
    chip = ideal_chip()
    cfg, alpha = chip.config, chip.config.alpha
    w = np.full((16, 16), 2)
    w[0, 3] = 6   # 6 P + 1 AP cells (mirror-weighted): code 6
    w[1, 3] = 0   # 7 AP cells: code 0
    chip.program(w, np.full(16, 2), threshold_gen=7, threshold_ref=2)  # ref 2 P + 5 AP
    # theta = 7 P - (2 P + 5 AP) = 5 alpha: seen as the time window I_TH sets
    assert chip.theta.tolist() == [5]
    i_th = cfg.c_twg * (cfg.v_th - cfg.v_cm_twg) / (chip.t_integ()[0] * cfg.current_scale)
    assert i_th == pytest.approx(5 * alpha, rel=1e-12)
    # net synaptic currents I_COL - I_PSP_REF
    i = chip.synaptic_currents()[0]
    assert i[0, 3] == pytest.approx(4 * alpha, rel=1e-12)   # +4 alpha: EPSP
    assert i[1, 3] == pytest.approx(-2 * alpha, rel=1e-12)  # -2 alpha: IPSP
    assert i[2, 3] == pytest.approx(0.0, abs=1e-18)         # w = r: nothing
    g = chip.psp_step()[0]
    assert g[0, 3] + g[1, 3] == pytest.approx(psp(cfg, 2, 5), abs=V_TOL)  # +2 alpha together
    # both rows at once: +2 alpha, below threshold -> no spike
    r = chip.run(stimuli(1, (0, 0), (0, 1)), record=True)
    assert not r.fires.any()
    assert r.v[0, 0, 3] == pytest.approx(cfg.v_rest + psp(cfg, 2, 5), abs=V_TOL)
    # and each row alone: +4 alpha does not reach a 5 alpha threshold (Fig. 9D, not the
    # text under Fig. 5D), -2 alpha lowers V_INTEG
    for row, s in ((0, 4), (1, -2)):
        chip.reset()
        r = chip.run(stimuli(1, (0, row)), record=True)
        assert not r.fires[0, 0, 3]
        assert r.v[0, 0, 3] == pytest.approx(cfg.v_rest + psp(cfg, s, 5), abs=V_TOL)


def test_code_counts_mirror_weighted_p_cells():
    from bioloop.chip.mram import BIT_WEIGHTS, bits_to_codes, codes_to_bits

    for code in range(8):
        bits = codes_to_bits(np.array(code))
        n_p = int((bits * BIT_WEIGHTS).sum())
        n_ap = int((~bits * BIT_WEIGHTS).sum())
        assert (n_p, n_ap) == (code, 7 - code)
        assert int(bits_to_codes(bits)) == code


# ---- single stimulus from rest: fires iff s >= theta ------------------------------------
THETAS = np.arange(1, 8)
ROW_REFS = np.r_[np.arange(8), np.arange(8)]            # PSP reference code of each row
COL_CODES = np.tile(np.r_[np.arange(8), np.arange(8)], (16, 1))  # synapse code per column
SIGNED = COL_CODES - ROW_REFS[:, None]                   # s = w - r covers -7..7


def single_stimulus_decisions(chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """FIRE and V_INTEG of every (cluster, row, column) for one stimulus from rest."""
    C = chip.n_clusters
    fires = np.zeros((C, 16, 16), bool)
    v = np.zeros((C, 16, 16))
    for k in range(16):
        chip.reset()
        r = chip.run(stimuli(1, (0, k)), record=True)
        fires[:, k, :] = r.fires[0]
        v[:, k, :] = r.v[0]
    return fires, v


def program_theta_sweep(chip: Chip) -> None:
    """Cluster c has theta = c + 1 (gen 7, ref 6 - c); every s in -7..7 appears."""
    chip.program(COL_CODES, ROW_REFS, threshold_gen=np.full(7, 7), threshold_ref=7 - THETAS)


def test_single_stimulus_fires_iff_s_at_least_theta():
    chip = ideal_chip(n_clusters=7)
    program_theta_sweep(chip)
    assert chip.theta.tolist() == THETAS.tolist()
    fires, _ = single_stimulus_decisions(chip)
    expected = SIGNED[None, :, :] >= THETAS[:, None, None]
    assert np.array_equal(fires, expected)
    # every (theta, s) pair with s in range occurs
    for theta in THETAS:
        assert set(SIGNED.ravel()) == set(range(-7, 8))
        assert fires[theta - 1][SIGNED == theta].all()
        assert not fires[theta - 1][SIGNED == theta - 1].any()


def test_v_integ_linear_in_s_and_proportional_to_s_over_theta():
    chip = ideal_chip(n_clusters=7)
    cfg = chip.config
    program_theta_sweep(chip)
    _, v = single_stimulus_decisions(chip)
    for c, theta in enumerate(THETAS):
        expected = np.clip(cfg.v_rest + SIGNED / theta * cfg.dv_per_unit, 0.0, cfg.v_dd)
        assert np.allclose(v[c], expected, rtol=0, atol=V_TOL)
        # unclipped points lie on one line through (0, V_REST) with slope dv/theta
        inside = (expected > 0) & (expected < cfg.v_dd)
        slope, icpt = np.polyfit(SIGNED[inside], v[c][inside], 1)
        assert slope == pytest.approx(cfg.dv_per_unit / theta, rel=1e-9)
        assert icpt == pytest.approx(cfg.v_rest, abs=1e-9)


def test_fig9d_profile_theta5():
    """s = -2..5 at theta 5: IPSPs lower, 0 holds, EPSPs raise, only s = 5 fires."""
    chip = ideal_chip()
    cfg = chip.config
    refs = np.full(16, 2)
    w = np.full((16, 16), 2)
    w[0, :8] = np.arange(0, 8)  # s = -2..5 on columns 0..7
    chip.program(w, refs, 7, 2)
    r = chip.run(stimuli(1, (0, 0)), record=True)
    v = r.v[0, 0, :8]
    assert np.all(np.diff(v) > 0)
    assert v[2] == pytest.approx(cfg.v_rest, abs=V_TOL)
    assert r.fires[0, 0, :8].tolist() == [False] * 7 + [True]


@pytest.mark.parametrize("r_p,r_ap", [(10e3, 20e3), (5e3, 30e3), (10e3, 12e3), (20e3, 25e3)])
def test_v_integ_independent_of_alpha(r_p, r_ap):
    other = ideal_chip(n_clusters=7, r_p=r_p, r_ap=r_ap)
    base = ideal_chip(n_clusters=7)
    program_theta_sweep(other)
    program_theta_sweep(base)
    assert other.config.alpha == pytest.approx(0.04 / r_p - 0.04 / r_ap, rel=1e-12)
    fo, vo = single_stimulus_decisions(other)
    fb, vb = single_stimulus_decisions(base)
    assert np.array_equal(fo, fb)
    assert np.allclose(vo, vb, rtol=0, atol=V_TOL)
    # the window itself scales as 1 / alpha
    assert other.t_integ() * other.config.alpha == pytest.approx(
        base.t_integ() * base.config.alpha, rel=1e-12)


def test_psp_scales_with_c_twg_over_c_int():
    chip = ideal_chip(c_twg=2e-12)
    program_theta5(chip, {(0, 0): 3})
    assert chip.psp_step()[0, 0, 0] == pytest.approx(psp(chip.config, 1, 5), abs=V_TOL)
    assert chip.psp_step()[0, 0, 0] == pytest.approx(2 * 1 / 5 * 0.25, abs=V_TOL)


# ---- leak ---------------------------------------------------------------------------------
def held_trace(chip: Chip, first_row: int, n_cycles: int) -> np.ndarray:
    """Recorded voltage of neuron 0 after one stimulus on ``first_row`` at cycle 0."""
    return chip.run(stimuli(n_cycles, (0, first_row)), record=True).v[:, 0, 0]


@pytest.mark.parametrize("code,s", [(6, 4), (3, 1), (0, -2), (1, -1)])
def test_leak_discrete_steps_toward_rest_never_past(code, s):
    chip = program_theta5(ideal_chip(), {(0, 0): code})
    cfg = chip.config
    v = held_trace(chip, 0, 60)
    v0 = cfg.v_rest + psp(cfg, s, 5)
    expected = [v0] + [toward(v0, k, cfg) for k in range(1, 60)]
    assert np.allclose(v, expected, rtol=0, atol=V_TOL)
    # steps are exactly the leak step until the last partial one, then V_REST is held
    steps = np.abs(np.diff(v))
    assert np.all(steps <= cfg.leak_step + V_TOL)
    assert v[-1] == pytest.approx(cfg.v_rest, abs=V_TOL)
    if s > 0:
        assert v.min() >= cfg.v_rest - V_TOL
    else:
        assert v.max() <= cfg.v_rest + V_TOL


def test_leak_partial_last_step_stops_at_rest():
    """theta 3, s = -1: 83.3 mV below rest is not a whole number of 10 mV steps."""
    chip = ideal_chip()
    cfg = chip.config
    refs = np.full(16, 2)
    w = np.full((16, 16), 2)
    w[0, 0] = 1
    chip.program(w, refs, threshold_gen=5, threshold_ref=2)
    v = held_trace(chip, 0, 15)
    v0 = cfg.v_rest - cfg.dv_per_unit / 3
    n_full = int((cfg.v_rest - v0) // cfg.leak_step)
    assert v[n_full] == pytest.approx(v0 + n_full * cfg.leak_step, abs=V_TOL)
    assert v[n_full] < cfg.v_rest
    assert np.all(v[n_full + 1:] == cfg.v_rest)  # clamped exactly, never above


@pytest.mark.parametrize("i_leak,t_swleak", [(1e-6, 20e-9), (0.5e-6, 60e-9), (0.0, 20e-9)])
def test_leak_step_is_i_leak_t_swleak_over_c_int(i_leak, t_swleak):
    """Fig. 13B-C: longer SWLEAK or larger I_LEAK leak more per cycle."""
    chip = program_theta5(ideal_chip(i_leak=i_leak, t_swleak=t_swleak), {(0, 0): 6})
    v = held_trace(chip, 0, 5)
    assert -np.diff(v) == pytest.approx(np.full(4, i_leak * t_swleak / 1e-12), abs=V_TOL)


def test_input_only_leak_mode_holds_between_inputs():
    chip = program_theta5(ideal_chip(leak_mode="input_only"), {(0, 0): 5, (1, 0): 2})
    cfg = chip.config
    # stimulus at 0 (s = 3), nothing for 30 cycles, then a neutral row (s = 0) at 30
    r = chip.run(stimuli(32, (0, 0), (30, 1)), record=True)
    v = r.v[:, 0, 0]
    v0 = cfg.v_rest + psp(cfg, 3, 5)
    assert np.all(np.abs(v[1:30] - toward(v0, 1, cfg)) <= V_TOL)  # one pulse after the compare
    assert v[30] == pytest.approx(toward(v0, 1, cfg), abs=V_TOL)
    assert v[31] == pytest.approx(toward(v0, 2, cfg), abs=V_TOL)  # the cycle-30 pulse
    # every_cycle for comparison: 30 pulses by cycle 30
    chip2 = program_theta5(ideal_chip(), {(0, 0): 5, (1, 0): 2})
    v2 = chip2.run(stimuli(32, (0, 0), (30, 1)), record=True).v[:, 0, 0]
    assert v2[30] == pytest.approx(toward(v0, 30, cfg), abs=V_TOL)


@pytest.mark.parametrize("leak_mode", ["every_cycle", "input_only"])
def test_temporal_summation_of_subthreshold_stimuli(leak_mode):
    """Fig. 13A: two s = 3 stimuli (theta 5) fire iff the leak between them is small enough."""
    cfg = ChipConfig(leak_mode=leak_mode)
    g = psp(cfg, 3, 5)
    fired_gaps = []
    for gap in range(1, 30):
        chip = program_theta5(Chip(cfg, mismatch=False), {(0, 0): 5})
        r = chip.run(stimuli(gap + 1, (0, 0), (gap, 0)))
        assert not r.fires[0, 0, 0]  # one alone is sub-threshold
        pulses = gap if leak_mode == "every_cycle" else 1
        expected = toward(cfg.v_rest + g, pulses, cfg) + g >= cfg.v_th
        assert bool(r.fires[gap, 0, 0]) == expected, gap
        if expected:
            fired_gaps.append(gap)
    if leak_mode == "every_cycle":
        assert fired_gaps == list(range(1, 8))  # 775 - 10 k + 150 >= 850 <=> k <= 7
    else:
        assert fired_gaps == list(range(1, 30))


def test_three_small_stimuli_sum_to_a_fire():
    chip = program_theta5(ideal_chip(), {(0, 0): 4})  # s = 2: 100 mV each
    r = chip.run(stimuli(3, (0, 0), (1, 0), (2, 0)), record=True)
    assert r.fires[:, 0, 0].tolist() == [False, False, True]
    cfg = chip.config
    v1 = toward(cfg.v_rest + psp(cfg, 2, 5), 1, cfg) + psp(cfg, 2, 5)
    assert r.v[1, 0, 0] == pytest.approx(v1, abs=V_TOL)


# ---- refractory -----------------------------------------------------------------------------
@pytest.mark.parametrize("n_abs", [0, 1, 2, 5])
def test_absolute_refractory_ignores_exactly_n_abs_cycles(n_abs):
    chip = program_theta5(ideal_chip(n_abs=n_abs, lateral_neighbours=()), {(0, 0): 7})
    cfg = chip.config
    T = n_abs + 2
    r = chip.run(np.tile(stimuli(1, (0, 0)), (T, 1)), record=True)
    # fires at 0, ignores n_abs inputs, then integrates s = theta from V_RFR without firing
    assert r.fires[:, 0, 0].tolist() == [True] + [False] * (T - 1)
    assert r.ignored_refractory == n_abs  # only neuron 0 is refractory
    assert np.all(r.v[1:n_abs + 1, 0, 0] == cfg.v_rfr)
    assert r.v[n_abs + 1, 0, 0] == pytest.approx(cfg.v_rfr + psp(cfg, 5, 5), abs=V_TOL)
    assert r.v[n_abs + 1, 0, 0] < cfg.v_th


def test_refractory_counts_down_in_idle_cycles_too():
    chip = program_theta5(ideal_chip(lateral_neighbours=()), {(0, 0): 7})
    cfg = chip.config
    # fire at 0, idle at 1, input at 2 (still refractory), input at 3 (from V_RFR)
    r = chip.run(stimuli(4, (0, 0), (2, 0), (3, 0)), record=True)
    assert r.fires[:, 0, 0].tolist() == [True, False, False, False]
    assert r.ignored_refractory == 1
    assert r.v[3, 0, 0] == pytest.approx(cfg.v_rfr + psp(cfg, 5, 5), abs=V_TOL)
    assert chip.refractory[0, 0] == 0


def test_ignored_refractory_counts_every_refractory_neuron():
    chip = program_theta5(ideal_chip(lateral_neighbours=()),
                          {(0, 0): 7, (0, 5): 7, (0, 9): 7})
    r = chip.run(np.tile(stimuli(1, (0, 0)), (3, 1)))
    assert r.fires[0, 0].sum() == 3
    assert r.ignored_refractory == 3 * chip.config.n_abs


def test_relative_refractory_recovery():
    """After a FIRE: V_RFR through N_ABS, then leak to V_REST in recovery_cycles(V_RFR)."""
    cfg = ChipConfig(lateral_neighbours=())
    n_rec = cfg.recovery_cycles(cfg.v_rfr)
    chip = program_theta5(Chip(cfg, mismatch=False), {(0, 0): 7})
    T = cfg.n_abs + n_rec + 5
    v = chip.run(stimuli(T, (0, 0)), record=True).v[:, 0, 0]
    start = cfg.n_abs + 1  # first cycle the neuron could integrate again
    assert np.all(v[1:start + 1] == cfg.v_rfr)
    for k in range(n_rec + 3):
        expected = min(cfg.v_rfr + k * cfg.leak_step, cfg.v_rest)
        assert v[start + k] == pytest.approx(expected, abs=V_TOL)
    assert v[start + n_rec] == pytest.approx(cfg.v_rest, abs=V_TOL)
    assert v[start + n_rec - 1] < cfg.v_rest
    # s = theta fires again exactly when the held voltage plus one PSP reaches V_TH
    for delay in range(1, n_rec + 6):
        chip = program_theta5(Chip(cfg, mismatch=False), {(0, 0): 7})
        r = chip.run(stimuli(delay + 1, (0, 0), (delay, 0)))
        if delay <= cfg.n_abs:
            assert not r.fires[delay, 0, 0]
            continue
        held = min(cfg.v_rfr + (delay - start) * cfg.leak_step, cfg.v_rest)
        assert bool(r.fires[delay, 0, 0]) == (held + psp(cfg, 5, 5) >= cfg.v_th), delay


# ---- lateral inhibition ---------------------------------------------------------------------
def lateral_after(neighbours, firing=(5,)):
    chip = program_theta5(ideal_chip(lateral_neighbours=neighbours),
                          {(0, n): 7 for n in firing})
    r = chip.run(stimuli(2, (0, 0)), record=True)
    return chip, r


@pytest.mark.parametrize("neighbours,firing,inhibited", [
    ((-1, 1), (5,), {4, 6}),
    ((-1, 1), (0,), {1}),             # no wrap-around at the edges
    ((-1, 1), (15,), {14}),
    ((-1, 1), (5, 6), {4, 7}),        # a neuron that fired is not inhibited
    ((-2, 2), (5,), {3, 7}),
    ((1,), (5,), {6}),
    ((-3, -1, 1, 3), (8,), {5, 7, 9, 11}),
    ((), (5,), set()),                # () switches lateral inhibition off
])
def test_lateral_inhibition_neighbourhood(neighbours, firing, inhibited):
    chip, r = lateral_after(neighbours, firing)
    cfg = chip.config
    assert set(np.flatnonzero(r.fires[0, 0])) == set(firing)
    held = r.v[1, 0]  # voltage at the start of the next cycle
    for n in range(16):
        if n in firing:
            assert held[n] == cfg.v_rfr
        elif n in inhibited:
            assert held[n] == cfg.v_lat  # V_LAT exactly: no leak pulse in that cycle
        else:  # integrated s = 0 from rest and leaked toward rest: still rest
            assert held[n] == pytest.approx(cfg.v_rest, abs=V_TOL)


def test_laterally_inhibited_neuron_cannot_fire_on_theta_and_recovers():
    cfg = ChipConfig()
    chip = program_theta5(Chip(cfg, mismatch=False), {(0, 5): 7, (1, 4): 7})
    # neuron 5 fires at 0; neuron 4 gets s = theta at 1 from V_LAT (400 + 250 < 850)
    r = chip.run(stimuli(2, (0, 0), (1, 1)), record=True)
    assert r.fires[0, 0, 5] and not r.fires[1, 0, 4]
    assert r.v[1, 0, 4] == pytest.approx(cfg.v_lat + psp(cfg, 5, 5), abs=V_TOL)
    # an inhibited neuron leaks back to rest in recovery_cycles(V_LAT) pulses
    chip = program_theta5(Chip(cfg, mismatch=False), {(0, 5): 7})
    n_rec = cfg.recovery_cycles(cfg.v_lat)
    v = chip.run(stimuli(n_rec + 3, (0, 0)), record=True).v[:, 0, 4]
    assert v[1] == cfg.v_lat
    assert v[n_rec] < cfg.v_rest
    assert v[n_rec + 1] == pytest.approx(cfg.v_rest, abs=V_TOL)


def test_lateral_inhibition_does_not_touch_refractory_counter():
    # only the left neighbour is inhibited, so 4 firing leaves 5 alone
    chip = program_theta5(ideal_chip(lateral_neighbours=(-1,)), {(0, 4): 7, (1, 5): 7})
    cfg = chip.config
    # 4 fires at 0 (refractory 2); 5 fires at 1 and inhibits 4; input at 2 still ignored
    r = chip.run(stimuli(4, (0, 0), (1, 1), (2, 0), (3, 0)), record=True)
    assert r.fires[0, 0, 4] and r.fires[1, 0, 5]
    # neuron 4 is refractory in cycles 1 and 2, neuron 5 in 2 and 3; only cycle 2 brings an
    # input that matters to the refractory neuron (row 0 onto neuron 4): one ignored input
    assert r.ignored_refractory == 1
    assert r.v[2, 0, 4] == cfg.v_lat
    assert r.v[3, 0, 4] == pytest.approx(cfg.v_lat + psp(cfg, 5, 5), abs=V_TOL)


# ---- rails, clusters, state -----------------------------------------------------------------
def test_rails_clamp_v_integ():
    chip = ideal_chip()
    cfg = chip.config
    w = np.full((16, 16), 0)
    w[0, 0] = 7
    refs = np.full(16, 0)
    refs[1] = 7          # row 1: s = -7 on every column
    w[1, :] = 0
    chip.program(w, refs, threshold_gen=1, threshold_ref=0)  # theta 1: 250 mV per unit
    r = chip.run(stimuli(2, (0, 0), (1, 1)), record=True)
    assert r.v[0, 0, 0] == cfg.v_dd            # 625 + 7 x 250 mV clipped to the rail
    assert r.fires[0, 0, 0]
    assert r.v[1, 0, 3] == 0.0                 # 625 - 2 x 250 (after -7 x 250): ground rail
    assert r.v[1, 0, 3] == pytest.approx(max(toward(cfg.v_rest, 1, cfg) - 7 * 0.25, 0.0))
    # from the ground rail the leak brings the neuron back in whole steps
    v = chip.run(stimuli(70, (0, 2)), record=True).v[:, 0, 3]
    assert v[-1] == pytest.approx(cfg.v_rest, abs=V_TOL)


def test_rails_follow_v_dd():
    chip = ideal_chip(v_dd=0.9)
    chip.program(np.full((16, 16), 7), np.zeros(16, int), 1, 0)
    r = chip.run(stimuli(1, (0, 0)), record=True)
    assert np.all(r.v[0, 0] == 0.9)


def test_clusters_are_independent():
    rng = np.random.default_rng(7)
    C = 3
    w = rng.integers(0, 8, (C, 16, 16))
    refs = rng.integers(0, 8, (C, 16))
    tg = np.array([7, 6, 5])
    tr = np.array([2, 3, 1])
    a = rng.random((200, C, 16)) < 0.1
    for mismatch in (False, True):
        chip = Chip(n_clusters=C, seed=3, mismatch=mismatch)
        chip.program(w, refs, tg, tr)
        full = chip.run(a, record=True)
        assert full.fires.any()
        for c in range(C):
            alone = np.zeros_like(a)
            alone[:, c] = a[:, c]
            chip.reset()
            r = chip.run(alone, record=True)
            assert np.array_equal(r.fires[:, c], full.fires[:, c])
            assert np.array_equal(r.v[:, c], full.v[:, c])
            others = [o for o in range(C) if o != c]
            assert not r.fires[:, others].any()


def test_shared_axons_drive_every_cluster():
    chip = Chip(n_clusters=4, mismatch=False)
    program_theta5(chip, {(0, 0): 7})
    r = chip.run(stimuli(1, (0, 0)))
    assert r.fires[0, :, 0].all()


def test_state_carries_over_between_run_calls():
    rng = np.random.default_rng(11)
    chip = Chip(n_clusters=2, seed=5)
    w, refs = rng.integers(0, 8, (2, 16, 16)), rng.integers(0, 8, (2, 16))
    chip.program(w, refs, 7, 2)
    a = rng.random((300, 2, 16)) < 0.15
    whole = chip.run(a, record=True)
    chip.reset()
    parts = [chip.run(a[i:j], record=True) for i, j in ((0, 1), (1, 97), (97, 98), (98, 300))]
    assert [p.t0 for p in parts] == [0, 1, 97, 98]
    assert np.array_equal(np.concatenate([p.fires for p in parts]), whole.fires)
    assert np.array_equal(np.concatenate([p.v for p in parts]), whole.v)
    assert sum(p.ignored_refractory for p in parts) == whole.ignored_refractory
    assert chip.cycle == 300


def test_reset_clears_membrane_state_keeps_image():
    chip = program_theta5(ideal_chip(), {(0, 3): 7, (0, 0): 6})
    cfg = chip.config
    chip.run(stimuli(1, (0, 0)))
    assert chip.refractory[0, 3] == cfg.n_abs
    assert chip.v[0, 0] != cfg.v_rest
    weights = chip.weights.copy()
    chip.reset()
    assert chip.cycle == 0
    assert np.all(chip.v == cfg.v_rest)
    assert np.all(chip.refractory == 0)
    assert np.array_equal(chip.weights, weights)
    assert chip.run(stimuli(1, (0, 0))).fires[0, 0, 3]


def test_power_cycle_keeps_image_loses_membrane_state():
    rng = np.random.default_rng(3)
    w, refs = rng.integers(0, 8, (16, 16)), rng.integers(0, 8, 16)
    a = rng.random((100, 16)) < 0.2
    chip = Chip(seed=9)
    chip.program(w, refs, 7, 3)
    first = chip.run(a, record=True)
    chip.power_cycle()
    assert chip.cycle == 0
    assert np.allclose(chip.v, chip.levels["v_rest"][:, None], rtol=0, atol=0)
    assert np.array_equal(chip.weights[0], w) and np.array_equal(chip.psp_ref[0], refs)
    again = chip.run(a, record=True)
    assert np.array_equal(again.fires, first.fires)
    assert np.array_equal(again.v, first.v)


def test_unprogrammed_chip_refuses_to_run():
    chip = Chip()
    with pytest.raises(ValueError, match=r"no program yet.*Chip.program"):
        chip.run(stimuli(1, (0, 0)))
    with pytest.raises(ValueError, match="no program yet"):
        chip.t_integ()


def test_run_input_validation():
    chip = program_theta5(ideal_chip(n_clusters=2))
    with pytest.raises(ValueError, match=r"axons has shape \(3, 15\); expected \(T, 16\)"):
        chip.run(np.zeros((3, 15), bool))
    with pytest.raises(ValueError, match=r"expected \(T, 16\) or \(T, 2, 16\)"):
        chip.run(np.zeros((3, 3, 16), bool))
    with pytest.raises(TypeError, match="bool array"):
        chip.run(np.zeros((3, 16)))
    with pytest.raises(ValueError, match="dimensions"):
        chip.run(np.zeros(16, bool))
    assert chip.run(np.zeros((0, 16), bool)).fires.shape == (0, 2, 16)


def test_program_validation_names_values():
    chip = ideal_chip()
    w = np.zeros((16, 16), int)
    with pytest.raises(ValueError, match=r"theta = threshold_gen - threshold_ref = 3 - 3 = 0"):
        chip.program(w, np.zeros(16, int), 3, 3)
    with pytest.raises(ValueError, match=r"weights holds code 8; 3-bit codes must be in 0..7"):
        chip.program(np.full((16, 16), 8), np.zeros(16, int), 7, 2)
    with pytest.raises(TypeError, match="weights must hold integer codes"):
        chip.program(w.astype(float), np.zeros(16, int), 7, 2)
    with pytest.raises(ValueError, match=r"psp_ref has shape \(15,\)"):
        chip.program(w, np.zeros(15, int), 7, 2)


@pytest.mark.parametrize("theta_codes", [(7, 2), (7, 0)])  # theta 5 (Fig. 9F), 7 (Fig. 9G)
def test_fig9fg_relative_refractory_and_lateral_inhibition(theta_codes):
    """Synapses <0>, <1>, <2>: <1> at theta fires, <0> and <2> below. A second stimulus at
    theta on all three (after the absolute refractory period) fires none of them: <1> starts
    from V_RFR, <0> and <2> from V_LAT."""
    gen, ref = theta_codes
    theta = gen - ref
    cfg = ChipConfig()
    refs = np.full(16, 0)
    w = np.zeros((16, 16), int)
    w[0, :3] = [theta - 2, theta, theta - 2]
    w[1, :3] = theta
    chip = Chip(cfg, mismatch=False)
    chip.program(w, refs, gen, ref)
    second = cfg.n_abs + 1
    r = chip.run(stimuli(second + 1, (0, 0), (second, 1)), record=True)
    assert r.fires[0, 0, :3].tolist() == [False, True, False]
    assert not r.fires[second, 0, :3].any()
    g = psp(cfg, theta, theta)
    assert r.v[second, 0, 1] == pytest.approx(cfg.v_rfr + g, abs=V_TOL)
    # V_LAT held through the refractory cycles (no leak pulse owed), then one step of leak
    # per idle cycle: cycles 1..second-1 are idle for <0> and <2>
    lat = toward(cfg.v_lat, second - 1, cfg)
    assert r.v[second, 0, 0] == pytest.approx(lat + g, abs=V_TOL)
    assert r.v[second, 0, 2] == pytest.approx(lat + g, abs=V_TOL)
