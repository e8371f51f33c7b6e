"""``bioloop compare``: the chip model against the Brian2 references from the command line.

The references are found through the ``bioloop.backends`` entry points
(``chip-equivalent``, ``ideal-lif``); the recordings through the ``file`` source.
"""

from __future__ import annotations

import json

import pytest

from bioloop import cli, registry

pytestmark = [
    pytest.mark.reference,
    # Elephant's BinnedSpikeTrain passes copy= to quantities, which deprecates the argument
    pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated:"
                               "DeprecationWarning"),
]

VERB = "bioloop.cli.compare_cmd"


@pytest.fixture(autouse=True)
def compare_verb(monkeypatch):
    """The verb is one of the CLI's own, and both references are installed."""
    assert VERB in cli.VERBS
    missing = {"chip-equivalent", "ideal-lif"} - set(registry.available("bioloop.backends"))
    assert not missing, f"entry points {sorted(missing)} are not installed (pip install -e .)"


def run_json(capsys, *argv):
    code = cli.main(["compare", "--json", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_poisson_against_chip_equivalent_agrees_exactly(capsys):
    code, s, err = run_json(capsys, "--poisson", "30", "--clusters", "2", "--duration", "0.5",
                            "--network", "lateral", "--seed", "4")
    assert code == 0, err
    assert s["reference"] == "chip-equivalent" and s["verdict"] == "agree"
    assert s["spike_exact"] is True and s["brian2_target"] == "numpy"
    assert set(s["metrics"]) == {"firing_rate", "cv_isi", "van_rossum", "victor_purpura", "sttc",
                                 "correlation", "population_rate"}
    for m in s["metrics"].values():
        assert set(m) >= {"value", "tolerance", "ok"} and m["ok"] is True
    assert s["chip_wall_s"] > 0 and s["reference_wall_s"] > 0
    assert s["chip_warmup_s"] > 0  # loading the chip's kernels, reported apart from its run
    assert s["counts"]["chip"]["fires"] == s["counts"]["reference"]["fires"] > 10
    assert s["input"]["spikes"] == s["input"]["axon_pulses"] + s["input"]["dropped"]["merged"]
    assert s["n_clusters"] == 2 and s["network"] == "lateral"


def test_ideal_lif_with_report_and_sweep(capsys, tmp_path):
    rep = tmp_path / "rep"
    code, s, err = run_json(capsys, "--poisson", "10", "--duration", "0.3", "--network", "relay",
                            "--reference", "ideal-lif", "--sweep", "--report", str(rep))
    assert code == 0, err
    assert s["reference"] == "ideal-lif" and s["spike_exact"] is None
    assert s["verdict"] in ("agree", "differ")
    assert [r["gclk_hz"] for r in s["sweep"]["rows"]] == [1e3, 2e3, 5e3, 10e3, 20e3, 50e3]
    for name in ("summary.md", "rasters.png", "rates.png", "isi.png", "gclk_sweep.csv",
                 "gclk_sweep.png"):
        assert (rep / name).stat().st_size > 0, name
    assert s["report"]["folder"] == str(rep)


def test_text_output(capsys):
    assert cli.main(["compare", "--poisson", "20", "--duration", "0.2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chip model vs chip-equivalent: AGREE (spikes identical: True)")
    assert "victor_purpura" in out and "Brian2 numpy" in out


def test_recording_window(capsys, recordings_dir):
    path = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    code, s, err = run_json(capsys, str(path), "--duration", "2", "--network", "relay")
    assert code == 0, err
    assert s["input"]["kind"] == "recording" and s["input"]["electrodes"] == 28
    assert s["n_clusters"] == 2 and s["verdict"] == "agree" and s["spike_exact"] is True
    # every spike in the window is a pulse or counted as dropped
    assert s["input"]["spikes"] == s["input"]["axon_pulses"] + sum(s["input"]["dropped"].values())


def test_a_chain_longer_than_the_recordings_clusters_gets_internal_clusters(capsys, recordings_dir):
    # as in replay: 28 electrodes fill 2 clusters, chain:3 adds an internal third one
    path = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    code, s, err = run_json(capsys, str(path), "--duration", "2", "--network", "chain:3")
    assert code == 0, err
    assert s["n_clusters"] == 3 and s["network"] == "chain:3"
    assert s["verdict"] == "agree" and s["spike_exact"] is True
    assert s["counts"]["chip"]["fires"] > s["counts"]["chip"]["axon_pulses"]  # routed FIREs fire too


def test_the_help_names_every_network_preset(capsys):
    from bioloop.networks import PRESETS

    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in PRESETS), text


@pytest.mark.parametrize("argv, message", [
    ([], "give a RECORDING or --poisson"),
    (["--poisson", "5", "x.h5"], "give a RECORDING or --poisson"),
    (["--poisson", "5", "--sweep"], "needs --reference ideal-lif"),
    (["--poisson", "5", "--reference", "nope"], "no backend named 'nope'"),
    (["--poisson", "5", "--gclk", "80000"], "gclk_hz = 80000"),
    (["--poisson", "5", "--network", "bogus"], "unknown network 'bogus'"),
    (["--poisson", "5", "--start", "1"], "apply to a RECORDING"),
    (["--poisson", "5", "--reference", "ideal-lif", "--duration", "0.1", "--config", "{cfg}"],
     "input_only"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, argv, message):
    cfg = tmp_path / "chip.toml"
    cfg.write_text('[chip]\nleak_mode = "input_only"\n')
    argv = [a.replace("{cfg}", str(cfg)) for a in argv]
    assert cli.main(["compare", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_recording_without_spikes_in_the_window(capsys, recordings_dir):
    # TC89's first spike is at 1.38 s
    path = recordings_dir / "TC89_DIV15_A.nexTimestamps"
    assert cli.main(["compare", str(path), "--start", "0", "--duration", "1"]) == 2
    assert "has no spikes in the window [0, 1] s" in capsys.readouterr().err


def test_missing_compiler_for_the_requested_target(capsys, monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/bin/g++")
    assert cli.main(["compare", "--poisson", "5", "--duration", "0.1", "--target", "cython"]) == 2
    err = capsys.readouterr().err
    assert "needs a C++ compiler" in err and "'cython'" in err
