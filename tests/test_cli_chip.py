"""``bioloop chip info``: the real command in a subprocess (python -m bioloop.cli), and the
same ``main()`` in-process for the cheaper variants (each subprocess pays ~1 s of imports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bioloop.chip import ChipConfig
from bioloop.cli import main


def bioloop(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "bioloop.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_chip_info_text():
    r = bioloop("chip", "info")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout
    assert "gclk_hz = 1000.0" in out
    assert "alpha = I_P - I_AP = 2 uA" in out
    assert "5: 250.0 ns" in out  # T_integ at theta 5
    assert "leak per cycle = 10 mV" in out
    assert "recovery from V_RFR = 13 cycles, from V_LAT = 23 cycles" in out


def test_chip_info_json_keys_and_values():
    r = bioloop("chip", "info", "--json", "--gclk", "50000", "--seed", "3", "--clusters", "4")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert set(s) == {"config", "derived", "instance", "system"}
    cfg = ChipConfig(gclk_hz=50e3)
    assert ChipConfig.from_dict(s["config"]) == cfg  # the printed config is the whole config
    d = s["derived"]
    assert set(d) >= {"alpha_uA", "i_p_uA", "i_ap_uA", "tmr_ratio", "gclk_period_us",
                      "t_integ_ns", "dv_per_unit_s_over_theta_mV", "leak_per_cycle_mV",
                      "recovery_cycles_from_v_rfr", "recovery_cycles_from_v_lat",
                      "absolute_refractory_s", "cycle_schedule_ns_theta1"}
    assert d["gclk_period_us"] == pytest.approx(20.0)
    assert d["absolute_refractory_s"] == pytest.approx(2 / 50e3)
    assert d["alpha_uA"] == pytest.approx(2.0)
    assert set(d["t_integ_ns"]) == {str(t) for t in range(1, 8)}
    assert d["t_integ_ns"]["5"] == pytest.approx(250.0)
    assert d["cycle_schedule_ns_theta1"] < d["gclk_period_us"] * 1e3
    inst = s["instance"]
    assert inst["seed"] == 3
    assert len(inst["t_integ_ns_theta5"]) == 4
    # AZ comparator offsets are 8.03 +- 0.97 mV; the mean of 64 comparators is within 1 mV
    assert inst["comparator_offset_mV_mean"] == pytest.approx(8.03, abs=1.0)


def test_chip_info_reads_config_file(tmp_path, capsys):
    path = tmp_path / "chip.toml"
    ChipConfig(gclk_hz=20e3, n_abs=4, i_leak=1e-6).save(path)
    assert main(["chip", "info", "--json", "--config", str(path)]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["config"]["gclk_hz"] == 20e3 and s["config"]["n_abs"] == 4
    assert s["derived"]["leak_per_cycle_mV"] == pytest.approx(20.0)


def test_gclk_flag_overrides_config_file(tmp_path, capsys):
    path = tmp_path / "chip.toml"
    ChipConfig(gclk_hz=20e3).save(path)
    assert main(["chip", "info", "--json", "--config", str(path), "--gclk", "5000"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["gclk_hz"] == 5000.0


def test_bad_gclk_exit_2_one_line_no_traceback():
    r = bioloop("chip", "info", "--gclk", "60000")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "bioloop chip: error: gclk_hz = 60000 is outside the valid range [1000, 50000]"]


@pytest.mark.parametrize("args,needle", [
    (["--gclk", "500"], "gclk_hz = 500 is outside the valid range [1000, 50000]"),
    (["--gclk", "abc"], "invalid float value: 'abc'"),
    (["--gclk", "nan"], "gclk_hz must be finite"),
    (["--config", "/nonexistent/chip.toml"], "does not exist"),
    (["--clusters", "0", "--seed", "1"], "--clusters = 0 is outside the valid range"),
    (["--clusters", "5", "--mesh", "2x2"], "mesh 2x2 holds 4 clusters but the chip has 5"),
    (["--clusters", "4", "--mesh", "2by2"], "mesh '2by2' is not ROWSxCOLS"),
])
def test_bad_input_in_process(args, needle, capsys):
    assert main(["chip", "info", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_bad_config_file_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[chip]\nv_read = 0.08\n")
    assert main(["chip", "info", "--config", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "bioloop chip: error: v_read = 0.08 is outside the valid range (0, 0.05]"]


def test_chip_info_reproduces_table_1(capsys):
    """Table 1 of the paper: one chip 256 synapses, 16 neurons, 0.576 mm^2; the 16-chip cluster
    4,096 synapses, 256 neurons, 7.74 mm^2, 33 neurons/mm^2 - computed from the config."""
    assert main(["chip", "info", "--json", "--clusters", "16"]) == 0
    t = json.loads(capsys.readouterr().out)["system"]
    assert (t["chip"]["synapses"], t["chip"]["neurons"], t["chip"]["area_mm2"]) == (256, 16, 0.576)
    sys16 = t["system"]
    assert (sys16["synapses"], sys16["neurons"], sys16["area_mm2"]) == (4096, 256, 7.74)
    assert round(sys16["neurons_per_mm2"]) == t["paper"]["neurons_per_mm2"] == 33
    assert t["chip"]["neurons_with_axons"] == 32  # the paper's other count
    assert t["mesh"] == [4, 4] and t["max_hops"] == 6
    assert main(["chip", "info", "--clusters", "16"]) == 0
    out = capsys.readouterr().out
    assert "16-chip system             4,096      256       7.74          33.1" in out
    # the areas are config fields: a different die size changes the table
    cfg_area = ChipConfig(area_chip_mm2=1.0, area_16chip_mm2=10.0)
    assert cfg_area.area_mm2(16) == 10.0 and cfg_area.area_mm2(18) == 12.0
