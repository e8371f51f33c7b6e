"""The per-cycle switch schedule (bioloop.chip.timing): order, fit, LCLK quantisation, T_integ."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioloop.chip import Chip, ChipConfig
from bioloop.chip.timing import (
    SWITCH_ORDER,
    CycleSchedule,
    SwitchPulse,
    chip_schedule,
    cycle_schedule,
)

# whole-LCLK checks: a time counts as on an edge within 1e-6 of a period (float rounding of
# tick * period is ~1e-16 relative, far below this)
EDGE_TOL = 1e-6


def _program(chip: Chip, theta: int) -> None:
    chip.program(
        np.zeros((16, 16), int), np.zeros(16, int), threshold_gen=7, threshold_ref=7 - theta
    )


def _on_edge(t: float, lclk_hz: float) -> bool:
    n = t * lclk_hz
    return abs(n - round(n)) < EDGE_TOL


@pytest.mark.parametrize("gclk_hz", [1e3, 50e3])
@pytest.mark.parametrize("theta", [1, 4, 7])
def test_schedule_in_order_and_fits_one_gclk_period(rng, gclk_hz, theta):
    cfg = ChipConfig(gclk_hz=gclk_hz)
    chip = Chip(cfg, seed=int(rng.integers(2**31)))
    _program(chip, theta)
    s = chip_schedule(chip)
    assert s.names == SWITCH_ORDER
    for a, b in zip(s.pulses, s.pulses[1:], strict=False):
        assert b.start >= a.stop, (a, b)
    assert s.pulses[0].start >= 0.0
    assert s.end <= cfg.gclk_period
    assert s.slack == pytest.approx(cfg.gclk_period - s.end)


def test_clocked_switches_sit_on_lclk_edges_with_configured_widths(rng):
    cfg = ChipConfig(lclk_hz=25e6, t_az=40e-9, t_swrst=80e-9, t_swcomp=40e-9, t_swleak=120e-9)
    chip = Chip(cfg, seed=int(rng.integers(2**31)))
    _program(chip, 5)
    s = chip_schedule(chip)
    widths = {"AZ": cfg.t_az, "SWRST": cfg.t_swrst, "SWCOMP": cfg.t_swcomp, "SWLEAK": cfg.t_swleak}
    for p in s.pulses:
        if p.name == "SWINTEG":
            assert not p.clocked
            continue
        assert p.clocked
        assert _on_edge(p.start, cfg.lclk_hz) and _on_edge(p.stop, cfg.lclk_hz), p
        assert p.width == pytest.approx(widths[p.name], rel=1e-12)
    # the comparison waits for the first LCLK edge at or after SWINTEG falls
    wait = s.pulse("SWCOMP").start - s.pulse("SWINTEG").stop
    assert 0.0 <= wait < cfg.lclk_period


@pytest.mark.parametrize("n_clusters", [1, 3])
def test_swinteg_width_is_the_instances_t_integ(rng, n_clusters):
    chip = Chip(n_clusters=n_clusters, seed=int(rng.integers(2**31)))
    _program(chip, 5)
    t_integ = chip.t_integ()
    for c in range(n_clusters):
        s = chip_schedule(chip, c)
        p = s.pulse("SWINTEG")
        # relative 1e-12: start + width - start loses only a few ulps
        assert p.width == pytest.approx(t_integ[c], rel=1e-12)
        assert s.t_integ == t_integ[c]
        # integration runs from the falling edge of SWRST
        assert p.start == s.pulse("SWRST").stop
    if n_clusters > 1:  # instances differ, so the windows do
        assert np.ptp(t_integ) > 0


def test_mismatch_free_window_is_nominal():
    cfg = ChipConfig()
    chip = Chip(cfg, mismatch=False)
    _program(chip, 5)
    s = chip_schedule(chip)
    assert s.pulse("SWINTEG").width == pytest.approx(cfg.t_integ_nominal(5), rel=1e-12)
    # SWINTEG falls at 40 + 250 = 290 ns, between LCLK edges (14.5 periods): SWCOMP waits to 300 ns
    assert s.pulse("SWCOMP").start == pytest.approx(300e-9, rel=1e-12)


def test_without_auto_zero_there_is_no_az_phase():
    cfg = ChipConfig(auto_zero=False)
    s = cycle_schedule(cfg, 100e-9)
    assert s.names == ("SWRST", "SWINTEG", "SWCOMP", "SWLEAK")
    assert s.pulse("SWRST").start == 0.0
    with pytest.raises(ValueError, match="no switch 'AZ'"):
        s.pulse("AZ")


@settings(max_examples=60, deadline=None)
@given(t_integ=st.floats(min_value=1e-10, max_value=15e-6))
def test_schedule_invariants_for_any_window(t_integ):
    cfg = ChipConfig(gclk_hz=50e3)
    s = cycle_schedule(cfg, t_integ)
    assert s.names == SWITCH_ORDER
    assert s.end <= cfg.gclk_period
    for p in s.pulses:
        if p.clocked:
            assert _on_edge(p.start, cfg.lclk_hz) and _on_edge(p.stop, cfg.lclk_hz)
    assert s.pulse("SWINTEG").width == pytest.approx(t_integ, rel=1e-9)
    assert 0.0 <= s.pulse("SWCOMP").start - s.pulse("SWINTEG").stop < cfg.lclk_period


def test_window_longer_than_the_gclk_period_is_refused():
    cfg = ChipConfig(gclk_hz=50e3)  # 20 us period
    with pytest.raises(ValueError, match="GCLK period"):
        cycle_schedule(cfg, 20e-6)


def test_bad_input():
    cfg = ChipConfig()
    with pytest.raises(TypeError, match="ChipConfig"):
        cycle_schedule({"gclk_hz": 1e3}, 1e-7)
    with pytest.raises(TypeError, match="t_integ"):
        cycle_schedule(cfg, "250 ns")
    with pytest.raises(ValueError, match="t_integ"):
        cycle_schedule(cfg, 0.0)
    with pytest.raises(TypeError, match="Chip"):
        chip_schedule(cfg)
    with pytest.raises(ValueError, match="no program"):
        chip_schedule(Chip(mismatch=False))
    chip = Chip(mismatch=False)
    _program(chip, 3)
    with pytest.raises(ValueError, match="cluster"):
        chip_schedule(chip, 1)


def test_schedule_validation_refuses_inconsistent_pulses():
    rst = SwitchPulse("SWRST", 0.0, 20e-9, True)
    integ = SwitchPulse("SWINTEG", 20e-9, 100e-9, False)
    comp = SwitchPulse("SWCOMP", 100e-9, 120e-9, True)
    CycleSchedule((rst, integ, comp), 1e-3, 20e-9, 80e-9)  # valid
    with pytest.raises(ValueError, match="order"):
        CycleSchedule((integ, rst, comp), 1e-3, 20e-9, 80e-9)
    with pytest.raises(ValueError, match="before"):
        CycleSchedule((rst, SwitchPulse("SWINTEG", 10e-9, 100e-9, False), comp), 1e-3, 20e-9, 80e-9)
    with pytest.raises(ValueError, match="needs SWCOMP"):
        CycleSchedule((rst, integ), 1e-3, 20e-9, 80e-9)
    with pytest.raises(ValueError, match="GCLK period"):
        CycleSchedule((rst, integ, comp), 110e-9, 20e-9, 80e-9)
    with pytest.raises(ValueError, match="stop"):
        SwitchPulse("SWRST", 20e-9, 20e-9, True)
    with pytest.raises(ValueError, match="switch name"):
        SwitchPulse("SWFOO", 0.0, 20e-9, True)


def test_to_rows_reports_ns():
    cfg = ChipConfig()
    s = cycle_schedule(cfg, 250e-9)
    rows = s.to_rows()
    assert [r["switch"] for r in rows] == list(SWITCH_ORDER)
    integ = next(r for r in rows if r["switch"] == "SWINTEG")
    assert integ["width_ns"] == pytest.approx(250.0, rel=1e-12)
