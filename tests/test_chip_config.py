"""ChipConfig against chip-model.md: the section 4 defaults, validation, TOML round trip."""

from __future__ import annotations

import math
import re

import pytest

from bioloop.chip import ChipConfig, OffsetModel

UA, MV, NS = 1e-6, 1e-3, 1e-9


# ---- defaults: chip-model.md section 4 -------------------------------------------------------
def test_defaults_are_the_spec_table():
    cfg = ChipConfig()
    # the table, value by value (SI units)
    assert cfg.v_th == pytest.approx(850 * MV, abs=1e-12)
    assert cfg.v_cm_twg == pytest.approx(600 * MV, abs=1e-12)
    assert cfg.v_rest == pytest.approx(625 * MV, abs=1e-12)
    assert cfg.v_rfr == pytest.approx(500 * MV, abs=1e-12)
    assert cfg.v_lat == pytest.approx(400 * MV, abs=1e-12)
    assert cfg.c_int == cfg.c_twg == pytest.approx(1e-12, rel=1e-12)
    assert cfg.current_scale == pytest.approx(0.1)
    assert cfg.i_leak == pytest.approx(0.5 * UA)
    assert cfg.t_swleak == pytest.approx(20 * NS)
    assert cfg.t_swleak * cfg.lclk_hz == pytest.approx(1.0)  # 1 LCLK
    assert cfg.lclk_hz == pytest.approx(50e6)  # section 3: LCLK default 50 MHz
    assert cfg.gclk_hz == pytest.approx(1e3)
    assert cfg.n_abs == 2 and isinstance(cfg.n_abs, int)
    assert cfg.sigma_r == pytest.approx(0.03)
    assert cfg.sigma_mirror == pytest.approx(0.01)
    assert cfg.sigma_cap == pytest.approx(0.01)
    assert cfg.sigma_i_leak == pytest.approx(0.05)
    # section 2: devices, read voltage; section 3: leak mode and neighbourhood
    assert cfg.r_p == pytest.approx(10e3) and cfg.r_ap == pytest.approx(20e3)
    assert cfg.v_read == pytest.approx(40 * MV)
    assert cfg.leak_mode == "every_cycle"
    assert cfg.lateral_neighbours == (-1, 1)


def test_default_derived_quantities_are_the_spec_notes():
    cfg = ChipConfig()
    # float arithmetic on SI values: relative 1e-9 is far below any physical meaning
    assert cfg.alpha == pytest.approx(2 * UA, rel=1e-9)  # I_P - I_AP
    assert cfg.t_integ_nominal(5) == pytest.approx(250 * NS, rel=1e-9)
    assert cfg.leak_step == pytest.approx(10 * MV, rel=1e-9)
    # (V_TH - V_REST)/(V_TH - V_CM_TWG) = 0.9 > 6/7: s = theta - 1 never fires from rest
    ratio = (cfg.v_th - cfg.v_rest) / (cfg.v_th - cfg.v_cm_twg)
    assert ratio == pytest.approx(0.9, rel=1e-9)
    assert ratio > 6 / 7
    assert cfg.v_lat < cfg.v_rfr < cfg.v_rest
    assert cfg.gclk_period == pytest.approx(1e-3)  # one cycle = 1 ms: biological speed
    assert cfg.recovery_cycles(cfg.v_rfr) == 13
    assert cfg.recovery_cycles(cfg.v_lat) == 23


@pytest.mark.parametrize("theta", range(1, 8))
def test_t_integ_nominal_formula(theta):
    cfg = ChipConfig()
    expected = cfg.c_twg * (cfg.v_th - cfg.v_cm_twg) / (theta * cfg.alpha * cfg.current_scale)
    assert cfg.t_integ_nominal(theta) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", [0, 8, -1])
def test_t_integ_nominal_rejects_theta_out_of_range(bad):
    with pytest.raises(ValueError, match=rf"theta = {bad} .*\[1, 7\]"):
        ChipConfig().t_integ_nominal(bad)


# ---- TOML ----------------------------------------------------------------------------------
def test_toml_round_trip_defaults(tmp_path):
    cfg = ChipConfig()
    path = tmp_path / "chip.toml"
    cfg.save(path)
    assert ChipConfig.load(path) == cfg


def test_toml_round_trip_non_defaults(tmp_path):
    cfg = ChipConfig(
        gclk_hz=20e3, v_th=0.8, r_p=5e3, r_ap=30e3, v_read=0.05, n_abs=5,
        leak_mode="input_only", lateral_neighbours=(-2, 1, 3), auto_zero=False,
        t_swleak=60e-9, i_leak=0.25e-6, write_error_rate=0.01, write_verify=False,
        comparator_offset=OffsetModel(1e-3, 2e-3, 50.0, 5e-3, 0.5e-3, 20e-15),
    )
    path = tmp_path / "custom.toml"
    cfg.save(path)
    back = ChipConfig.load(path)
    assert back == cfg
    assert back.lateral_neighbours == (-2, 1, 3)  # a tuple again, not a TOML list
    assert isinstance(back.comparator_offset, OffsetModel)
    # the file is a [chip] table
    assert path.read_text().lstrip().startswith("[chip")


def test_toml_unknown_field_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[chip]\ngclk_hz = 2000.0\ngclk = 3000.0\n")
    with pytest.raises(ValueError, match=r"unknown chip config field.*'gclk'.*valid fields"):
        ChipConfig.load(path)


def test_toml_wrong_type_is_type_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[chip]\ngclk_hz = "fast"\n')
    with pytest.raises(TypeError, match=r"gclk_hz must be a real number, got 'fast'"):
        ChipConfig.load(path)


def test_toml_missing_table_bad_syntax_missing_file(tmp_path):
    no_table = tmp_path / "no_table.toml"
    no_table.write_text("gclk_hz = 2000.0\n")
    with pytest.raises(ValueError, match=r"no \[chip\] table"):
        ChipConfig.load(no_table)
    broken = tmp_path / "broken.toml"
    broken.write_text("[chip\ngclk_hz = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        ChipConfig.load(broken)
    with pytest.raises(ValueError, match="does not exist"):
        ChipConfig.load(tmp_path / "nope.toml")


def test_from_dict_unknown_field_and_non_dict():
    with pytest.raises(ValueError, match=r"'v_thresh'"):
        ChipConfig.from_dict({"v_thresh": 0.8})
    with pytest.raises(TypeError, match="table/dict"):
        ChipConfig.from_dict([("gclk_hz", 1e3)])
    with pytest.raises(ValueError, match="comparator_offset"):
        ChipConfig.from_dict({"comparator_offset": {"raw_mean": 0.0, "bogus": 1}})


# ---- validation: every message names the value and the valid range -----------------------
@pytest.mark.parametrize("gclk", [999.0, 0.0, -1e3, 50_001.0, 1e6])
def test_gclk_outside_1_to_50_khz(gclk):
    with pytest.raises(ValueError, match=re.escape(f"gclk_hz = {gclk:g} is outside the valid "
                                                   "range [1000, 50000]")):
        ChipConfig(gclk_hz=gclk)


@pytest.mark.parametrize("gclk", [1e3, 50e3, 12_345.0])
def test_gclk_inside_range_accepted(gclk):
    assert ChipConfig(gclk_hz=gclk).gclk_period == pytest.approx(1 / gclk)


def test_v_read_above_50_mv_is_refused():
    with pytest.raises(ValueError, match=r"v_read = 0.051 is outside the valid range \(0, 0.05\]"):
        ChipConfig(v_read=0.051)
    assert ChipConfig(v_read=0.05).v_read == 0.05  # the limit itself is allowed
    with pytest.raises(ValueError, match="v_read"):
        ChipConfig(v_read=0.0)


@pytest.mark.parametrize("field", ["gclk_hz", "v_th", "r_p", "c_int", "i_leak", "sigma_r",
                                   "v_read"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_refused_naming_field(field, value):
    with pytest.raises(ValueError, match=rf"{field}.*{value!r}".replace("(", r"\(")):
        ChipConfig(**{field: value})


@pytest.mark.parametrize("field,value", [
    ("gclk_hz", "1000"), ("gclk_hz", True), ("gclk_hz", None), ("v_th", [0.8]),
    ("n_abs", 2.0), ("n_abs", "2"), ("n_abs", True), ("leak_mode", 1),
    ("lateral_neighbours", [-1, 1]), ("auto_zero", 1), ("write_verify", "yes"),
    ("comparator_offset", {"raw_mean": 0.0}), ("write_max_retries", 1.5),
])
def test_wrong_types_are_type_errors_naming_field(field, value):
    with pytest.raises(TypeError, match=field.split("_")[0]):
        ChipConfig(**{field: value})


def test_unknown_keyword_is_type_error():
    with pytest.raises(TypeError, match="gclk"):
        ChipConfig(gclk=1e3)


@pytest.mark.parametrize("levels", [
    {"v_lat": 0.55},                    # V_LAT above V_RFR
    {"v_rfr": 0.63},                    # V_RFR above V_REST
    {"v_rest": 0.86},                   # V_REST above V_TH
    {"v_lat": 0.5},                     # equal levels are not ordered either
])
def test_level_ordering(levels):
    with pytest.raises(ValueError, match=r"v_lat < v_rfr < v_rest < v_th, got v_lat=.*v_th="):
        ChipConfig(**levels)


def test_v_cm_twg_must_be_below_v_th():
    with pytest.raises(ValueError, match=r"v_cm_twg = 0.9 V must be below v_th = 0.85 V"):
        ChipConfig(v_cm_twg=0.9)


def test_r_ap_must_exceed_r_p():
    with pytest.raises(ValueError, match=r"r_ap = 10000 Ohm must exceed r_p = 10000 Ohm"):
        ChipConfig(r_ap=10e3)


def test_lateral_neighbours_values():
    assert ChipConfig(lateral_neighbours=()).lateral_neighbours == ()
    with pytest.raises(ValueError, match="may not contain 0"):
        ChipConfig(lateral_neighbours=(0,))
    with pytest.raises(ValueError, match=r"lateral_neighbours offset = 16 .*\[-15, 15\]"):
        ChipConfig(lateral_neighbours=(16,))


def test_leak_mode_choices():
    assert ChipConfig(leak_mode="input_only").leak_mode == "input_only"
    with pytest.raises(ValueError, match=r"leak_mode = 'sometimes'.*every_cycle.*input_only"):
        ChipConfig(leak_mode="sometimes")


def test_switch_schedule_must_fit_one_gclk_period():
    # 19 us of SWLEAK + the theta = 1 window (1.25 us) + 60 ns does not fit 20 us at 50 kHz
    with pytest.raises(ValueError, match=r"switch schedule needs 20\.3.* us .* gclk_hz = 50000 "
                                         r"is 20\.000 us"):
        ChipConfig(gclk_hz=50e3, t_swleak=19e-6)
    # the same switches fit at 1 kHz
    cfg = ChipConfig(gclk_hz=1e3, t_swleak=19e-6)
    assert cfg.cycle_time_needed(1) < cfg.gclk_period
    # the schedule of the defaults fits at the fastest clock
    assert ChipConfig(gclk_hz=50e3).cycle_time_needed(1) < 1 / 50e3


def test_schedule_includes_auto_zero_phase_only_when_on():
    on, off = ChipConfig(auto_zero=True), ChipConfig(auto_zero=False)
    assert on.cycle_time_needed(3) - off.cycle_time_needed(3) == pytest.approx(on.t_az)


@pytest.mark.parametrize("t", [30e-9, 10e-9, 25e-9])
def test_t_swleak_must_be_whole_lclk_periods(t):
    with pytest.raises(ValueError, match=rf"t_swleak = {t * 1e9:g} ns is not a whole number .*"
                                         r"LCLK periods \(20 ns at lclk_hz = 5e\+07\)"):
        ChipConfig(t_swleak=t)


def test_t_swleak_multiple_lclk_periods_gives_proportional_leak():
    base = ChipConfig()
    assert ChipConfig(t_swleak=60e-9).leak_step == pytest.approx(3 * base.leak_step, rel=1e-12)
    assert ChipConfig(i_leak=1e-6).leak_step == pytest.approx(2 * base.leak_step, rel=1e-12)


def test_replace_validates_again():
    cfg = ChipConfig()
    assert cfg.replace(gclk_hz=2e3).gclk_hz == 2e3
    with pytest.raises(ValueError, match="gclk_hz"):
        cfg.replace(gclk_hz=60e3)


def test_config_is_immutable():
    cfg = ChipConfig()
    with pytest.raises(AttributeError):
        cfg.gclk_hz = 2e3  # type: ignore[misc]
