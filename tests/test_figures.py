"""The paper's figures from the chip model: the physics in the returned numbers, and the files.

``make_all`` runs once per module (a few seconds). Every physical claim of a figure is asserted
from its summary, not from pixels.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from bioloop.chip import ChipConfig
from bioloop.figures import FIGURES, fig09c_integration_time, format_summary, make_all

SEED = 11  # explicit seed of every chip instance and Monte Carlo in this module
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CFG = ChipConfig()  # the figures use the defaults


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, make_all(out, seed=SEED)


def _csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


# ---- files ----------------------------------------------------------------------------------
def test_every_figure_writes_a_png_and_a_parsable_csv(figures):
    out, summary = figures
    assert summary["n_figures"] == len(FIGURES)
    assert summary["seed"] == SEED
    for key in FIGURES:
        entry = summary[key]
        png = out / entry["png"]
        assert png.read_bytes()[:8] == PNG_MAGIC, key
        assert png.stat().st_size > 5000, key  # a drawn figure, not an empty canvas
        header, rows = _csv(out / entry["csv"])
        assert len(rows) == entry["csv_rows"] > 0, key
        assert len(set(header)) == len(header), key
        assert all(len(r) == len(header) for r in rows), key
    assert len(list(out.iterdir())) == 2 * len(FIGURES)


def test_summary_is_small_plain_json(figures):
    _, summary = figures
    text = json.dumps(summary)  # plain types only: no numpy scalars or arrays
    assert len(text) < 60_000


def test_format_summary_has_one_line_per_figure(figures):
    _, summary = figures
    lines = format_summary(summary).splitlines()
    assert summary["out_dir"] in lines[0]
    assert len(lines) == 1 + len(FIGURES)
    for key, line in zip(FIGURES, lines[1:], strict=True):
        assert line.split()[0] == key, line


# ---- Fig. 5 ---------------------------------------------------------------------------------
def test_fig05a_subtraction_separates_levels_that_naive_summation_cannot(figures):
    f = figures[1]["fig05a"]
    at2 = f["at_tmr_2"]
    assert at2["naive_separation"] < 0 < at2["subtracted_separation"]
    assert at2["naive_error_rate"] > 0.5
    assert at2["subtracted_error_rate"] < 0.01
    naive = np.array(f["naive_separation_alpha"])
    sub = np.array(f["subtracted_separation_alpha"])
    pess = np.array(f["pessimistic_subtracted_separation_alpha"])
    # the AP pedestal depends on how many rows are active: naive overlaps at every ratio
    assert np.all(naive < 0)
    assert np.all(sub > naive)
    # more per-cell variation can only shrink the worst gap (same trials, wider spread)
    assert np.all(pess < sub)
    assert f["tmr_ratio"][0] == pytest.approx(1.2) and f["tmr_ratio"][-1] == pytest.approx(6.0)


def test_fig05ce_worked_examples_come_out_exactly(figures):
    f = figures[1]["fig05c_e"]
    # mismatch-free chip: exact up to float rounding of the current sums (1e-9 relative)
    assert f["theta_alpha"] == pytest.approx(5.0, rel=1e-9)
    c = f["cases"]
    assert c["epsp"]["current_alpha"] == pytest.approx(4.0, rel=1e-9)
    assert c["ipsp"]["current_alpha"] == pytest.approx(-2.0, rel=1e-9)
    assert c["both"]["current_alpha"] == pytest.approx(2.0, rel=1e-9)
    for name, case in c.items():
        assert case["fire"] is False, name
        expected = (CFG.v_rest + case["current_alpha"] / 5 * CFG.dv_per_unit) * 1e3
        assert case["v_integ_mV"] == pytest.approx(expected, rel=1e-9), name


# ---- Fig. 6B --------------------------------------------------------------------------------
def test_fig06b_timing_diagram(figures):
    out, summary = figures
    f = summary["fig06b"]
    sw = f["switches"]
    assert list(sw) == ["AZ", "SWRST", "SWINTEG", "SWCOMP", "SWLEAK"]
    names = list(sw)
    for a, b in zip(names, names[1:], strict=False):
        assert sw[b]["start_ns"] >= sw[a]["stop_ns"]
    assert sw["SWINTEG"]["stop_ns"] - sw["SWINTEG"]["start_ns"] == pytest.approx(
        f["t_integ_ns"], rel=1e-9
    )
    assert sw["SWLEAK"]["stop_ns"] < f["gclk_period_us"] * 1e3
    header, rows = _csv(out / f["csv"])
    assert [r[0] for r in rows] == names
    assert float(rows[2][header.index("width_ns")]) == pytest.approx(f["t_integ_ns"], rel=1e-9)


# ---- Fig. 8E-F ------------------------------------------------------------------------------
@pytest.mark.parametrize("block", ["integrator_comparator", "buffer"])
def test_fig08_auto_zero_shrinks_the_offset_spread(figures, block):
    f = figures[1]["fig08e_f"]
    raw, az = f[block]["without_az"], f[block]["with_az"]
    assert az["sigma_mV"] < raw["sigma_mV"] / 3  # paper: 3.26 -> 0.97 and 3.37 -> 0.15 mV
    # spec: reproduce the paper's Monte Carlo within about 15 %
    for case in ("without_az", "with_az"):
        for k in ("mean_mV", "sigma_mV"):
            assert f[block][case][k] == pytest.approx(f["paper"][block][case][k], rel=0.15), (
                case,
                k,
            )


# ---- Fig. 9C / 11 ---------------------------------------------------------------------------
def test_fig09c_integration_time_is_linear_in_v_th_and_spreads_tens_of_ns(figures):
    out, summary = figures
    f = summary["fig09c_fig11"]
    assert f["v_th_mV"][0] == pytest.approx(800) and f["v_th_mV"][-1] == pytest.approx(850)
    for theta in (5, 7):
        g = f[f"theta_{theta}"]
        # T_integ = C_TWG (V_TH + offset - V_CM) / I_TH: a straight line; 1e-6 ns of residual
        # allows for float rounding only
        assert g["r2_min"] > 1 - 1e-12
        assert g["max_abs_residual_ns"] < 1e-6
        assert all(s > 0 for s in g["slope_ns_per_mV"])
        nominal_slope = CFG.c_twg / (theta * CFG.alpha * CFG.current_scale) * 1e9 * 1e-3
        assert g["nominal_slope_ns_per_mV"] == pytest.approx(nominal_slope, rel=1e-9)
        assert g["t_integ_ns_nominal"]["at_max_v_th"] == pytest.approx(
            CFG.t_integ_nominal(theta) * 1e9, rel=1e-9
        )
    # die-to-die R spread of 3 % moves alpha by ~7 %: tens of ns between chips (paper ~60 ns)
    spread = f["theta_5"]["spread_ns"]["at_max_v_th"]
    assert 10.0 < spread < 150.0
    # the longer window at a higher V_TH widens the spread proportionally
    assert f["theta_5"]["spread_ns"]["at_max_v_th"] > f["theta_5"]["spread_ns"]["at_min_v_th"]
    # theta 7 integrates for 5/7 of the theta-5 window on the same chip; 5 % allows the
    # threshold blocks' own mirror (1 %) and cell (0.5 %) mismatch
    assert np.allclose(f["ratio_theta7_over_theta5"], 5 / 7, rtol=0.05)
    _, rows = _csv(out / f["csv"])
    assert len(rows) == 2 * (len(f["instance_seeds"]) + 1) * len(f["v_th_mV"])


def test_fig09c_instances_follow_the_seed(tmp_path):
    a = fig09c_integration_time(tmp_path, seed=SEED, n_instances=3)
    b = fig09c_integration_time(tmp_path, seed=SEED, n_instances=3)
    c = fig09c_integration_time(tmp_path, seed=SEED + 100, n_instances=3)
    assert a["theta_5"]["slope_ns_per_mV"] == b["theta_5"]["slope_ns_per_mV"]
    assert a["theta_5"]["slope_ns_per_mV"] != c["theta_5"]["slope_ns_per_mV"]


# ---- Fig. 9D-E / 12 -------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [5, 7])
def test_fig09de_v_integ_is_linear_in_the_weight_and_fires_at_theta(figures, theta):
    f = figures[1]["fig09d_e"][f"theta_{theta}"]
    s = np.array(f["s"])
    assert s[0] == -2 and s[-1] == theta
    fires = np.array(f["fires_nominal"])
    assert np.array_equal(fires, s >= theta)
    v = np.array(f["v_integ_mV_nominal"])
    # mismatch-free: V = V_REST + (s / theta) (V_TH - V_CM_TWG) C_TWG / C_INT, float rounding only
    assert np.allclose(v, (CFG.v_rest + s / theta * CFG.dv_per_unit) * 1e3, rtol=1e-12)
    assert f["slope_mV_per_s_nominal"] == pytest.approx(f["expected_slope_mV_per_s"], rel=1e-9)
    # instances: mirror mismatch makes unequal steps of a few mV on a ~250 mV range
    assert f["r2_min"] > 0.995
    assert f["max_abs_residual_mV"] < 0.05 * CFG.dv_per_unit * 1e3
    # the TWG offset (+8 mV on 250 mV) and ratio mismatch (~3 %) keep slopes within 15 %
    assert np.allclose(f["slope_mV_per_s_instances"], f["expected_slope_mV_per_s"], rtol=0.15)
    # every chip fires at s = theta (a miss has probability ~0.3 % per neuron at the defaults)
    assert f["chips_not_firing_at_theta"] == 0
    # and none two or more steps below theta (a margin of > 2 steps)
    assert all(first is not None and first >= theta - 1 for first in f["first_firing_s"])


# ---- Fig. 9F-G / 14 -------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [5, 7])
def test_fig09fg_relative_refractory_and_lateral_inhibition(figures, theta):
    f = figures[1]["fig09f_g_fig14"][f"theta_{theta}"]
    assert f["s_first"] == [theta - 2, theta, theta - 2]
    assert f["s_second"] == [theta] * 3
    assert f["fires_first"] == [False, True, False]  # only dendrite 1 reaches threshold
    assert f["fires_second"] == [False, False, False]  # none, although s = theta
    assert f["fires_control"] == [True, True, True]  # s = theta fires again after recovery
    assert f["fires_other_cycles"] == 0
    assert f["stimulus_cycles"]["second"] == CFG.n_abs + 1
    start = f["start_mV_second"]
    # dendrite 1 holds V_RFR through its absolute refractory cycles (no switches, no leak)
    assert start[1] == pytest.approx(f["v_rfr_mV"], abs=1e-9)
    # dendrites 0 and 2 were set to V_LAT and leaked one step per idle cycle since
    idle = f["idle_cycles_before_second"]
    for n in (0, 2):
        assert start[n] == pytest.approx(f["v_lat_mV"] + idle * f["leak_step_mV"][n], abs=1e-9)
    for n in range(3):
        assert start[n] < f["v_integ_mV_second"][n] < f["v_th_mV"][n]
    assert f["ignored_refractory"] == 0


# ---- Fig. 13 --------------------------------------------------------------------------------
def test_fig13a_leaky_integration_with_discrete_steps(figures):
    f = figures[1]["fig13a"]
    step, psp = f["leak_step_mV"], f["psp_step_mV"]
    th = CFG.v_th * 1e3
    fast, slow = f["interval_2"], f["interval_6"]
    assert 0 < step < psp < th - f["v_rest_mV"]  # every single stimulus is sub-threshold
    # every idle cycle above rest removes exactly one leak step (float rounding: 1e-9 mV)
    for g in (fast, slow):
        assert g["leak_drops_mV"]["n"] > 10
        assert g["leak_drops_mV"]["min"] == pytest.approx(step, abs=1e-9)
        assert g["leak_drops_mV"]["max"] == pytest.approx(step, abs=1e-9)
    # every 2 cycles: each stimulus adds psp, two leak steps remove less: summation to a spike
    assert len(fast["fire_cycles"]) >= 1
    first_fire = fast["fire_cycles"][0]
    peaks = np.array(fast["v_at_stimuli_mV"][: first_fire // 2 + 1])
    assert np.allclose(np.diff(peaks), psp - 2 * step, atol=1e-9)
    assert np.all(peaks[:-1] < th) and peaks[-1] >= th
    # every 6 cycles: back to rest in between, level peaks, never a spike
    assert slow["fire_cycles"] == []
    assert np.ptp(slow["v_at_stimuli_mV"]) < 1e-9


@pytest.mark.parametrize("sweep,key", [("swleak", "swleak_ns"), ("i_leak", "i_leak_uA")])
def test_fig13bc_leak_grows_with_swleak_width_and_i_leak(figures, sweep, key):
    f = figures[1]["fig13b_c"][sweep]
    x = np.array(f[key])
    leak = np.array(f["leak_mV_per_cycle"])
    assert np.all(np.diff(x) > 0) and np.all(np.diff(leak) > 0)
    # the same chip instance at every setting: leak = I_LEAK t_SWLEAK / C_INT exactly, so
    # leak / x is one constant (float rounding: 1e-9 relative)
    assert np.allclose(leak / x, leak[0] / x[0], rtol=1e-9)
    assert abs(f["fit"]["intercept"]) < 1e-9
    # at the default setting, within the I_LEAK (5 %) and C_INT (1 %) mismatch of 10 mV (4 sigma)
    default = CFG.t_swleak * 1e9 if sweep == "swleak" else CFG.i_leak * 1e6
    i = int(np.argmin(np.abs(x - default)))
    assert leak[i] == pytest.approx(CFG.leak_step * 1e3, rel=0.2)


# ---- input checks and the CLI ---------------------------------------------------------------
def test_make_all_refuses_bad_input(tmp_path):
    with pytest.raises(TypeError, match="out_dir"):
        make_all(123)
    with pytest.raises(TypeError, match="seed"):
        make_all(tmp_path, seed="1")
    with pytest.raises(ValueError, match="seed"):
        make_all(tmp_path, seed=-1)
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        make_all(f)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "bioloop.cli", "figures", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_figures_json_end_to_end_reproduces_the_summary(tmp_path, figures):
    out = tmp_path / "figs"
    p = _cli("--out", str(out), "--json", "--seed", str(SEED))
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["out_dir"] == str(out.resolve())
    for key in FIGURES:
        assert (out / summary[key]["png"]).is_file()
        assert (out / summary[key]["csv"]).is_file()
    # same seed, same numbers: the fixture's summary through JSON equals the CLI's
    expected = json.loads(json.dumps(figures[1]))
    for d in (summary, expected):
        d.pop("out_dir")
    assert summary == expected


def test_cli_figures_bad_input_exits_2_with_one_line(tmp_path):
    p = _cli("--out", str(tmp_path / "x"), "--seed", "-1")
    assert p.returncode == 2
    assert "seed" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    f = tmp_path / "file"
    f.write_text("")
    p = _cli("--out", str(f))
    assert p.returncode == 2
    assert "not a folder" in p.stderr


def test_ours_noc_chain_shows_each_hops_latency(figures):
    out, summary = figures
    f = summary["ours_noc_chain"]
    # 2x3 mesh, latency 1 + 2 x hops: one hop is 3 cycles, cluster 2 -> 3 crosses 3 links (7)
    assert f["hop_latency_cycles"] == f["expected_latency_cycles"] == [3, 3, 7, 3, 3]
    assert f["fire_cycles"] == [0, 3, 6, 13, 16, 19]
    assert (f["packets"], f["routed"], f["fires"]) == (5, 5, 6)
    assert (out / f["png"]).read_bytes()[:8] == PNG_MAGIC
