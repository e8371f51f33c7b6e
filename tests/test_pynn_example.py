"""PyNN's own ``examples/specific_network.py`` (PyNN 0.13.0: 5 spike sources onto 5
``IF_curr_alpha`` neurons through a ``FromListConnector``, 1 s at dt 0.1 ms), unchanged but for
the line that picks the simulator, on ``bioloop.pynn`` and on ``pyNN.brian2`` running the original
cell type, compared with bioloop's Elephant statistics.

On the chip an alpha current of weight w becomes a voltage jump of the same charge,
``w e tau_syn / cm`` (here 0.5 nA -> 5.437 mV, realised as 5.556 mV: 4 steps of theta 4 would
be 22.2 mV, one step is 5.556 mV), delivered at once, where the model's PSP rises over a few
tau_syn and peaks at 72 % of it. So the chip fires more than the model. Measured (this seed is
the script's own, so the run is deterministic): Brian2 29 spikes, the chip 49 (+69 %); Brian2
running IF_curr_delta with the same 5.437 mV jumps gives 45 spikes, so the chip model itself
is within 9 % of its translated network and the rest is the translation (docs/pynn.md).

Tolerances, stated for this example and why: the firing-rate statistic (relative difference of
the mean rate) is the translation's known bias, 0.69, and must stay between 0.4 and 1.0 (higher:
something beyond the translation is wrong; lower than 0.4 would mean the charge rule changed);
spike timing agrees where both fire, so STTC must be at least 0.3 (measured value in the
assertion message); halving the weights on the chip side (script unchanged, the realised
weight halved) must fall outside the firing-rate band.
"""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import numpy as np
import pytest

from bioloop.crosscheck import MetricSettings, compare_trains

pytestmark = pytest.mark.reference

SCRIPT = Path(__file__).parent / "pynn_scripts" / "specific_network.py"
SIMTIME_S = 1.0  # the script's simtime
SETTINGS = MetricSettings(van_rossum_tau=0.005, victor_purpura_cost=200.0, sttc_dt=0.005,
                          bin_size=0.01)


@pytest.fixture
def script_env(monkeypatch, tmp_path):
    """The script writes Results/<date>/...pkl in the working directory and configures
    logging: both are kept to this test."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield monkeypatch
    root.setLevel(level)
    root.handlers[:] = handlers


def run_script(monkeypatch, simulator: str) -> dict:
    monkeypatch.setattr("sys.argv", [str(SCRIPT), simulator])
    ns = runpy.run_path(str(SCRIPT), run_name="__main__")
    seg = ns["cells"].get_data().segments[0]
    ns["trains"] = [np.asarray(st.times.rescale("s").magnitude) for st in seg.spiketrains]
    return ns


def agrees_as_stated(trains, reference) -> tuple[bool, dict]:
    """The stated tolerances: the chip fires more (the charge rule's known direction), by a
    firing-rate statistic in [0.4, 1.0], and its spikes tile the model's (STTC >= 0.3)."""
    values = {k: v.value for k, v in compare_trains(trains, reference, SIMTIME_S,
                                                    SETTINGS).items()}
    values["spikes"] = (sum(map(len, trains)), sum(map(len, reference)))
    ok = (values["spikes"][0] > values["spikes"][1] and 0.4 <= values["firing_rate"] <= 1.0
          and values["sttc"] >= 0.3)
    return ok, values


def test_pynn_example_network_on_the_chip_and_on_pynn_brian2(script_env, capsys):
    import brian2

    import bioloop.pynn as sim
    import bioloop.pynn.mapper as mapper

    brian2.prefs.codegen.target = "numpy"  # no compilation: the network is small
    reference = run_script(script_env, "brian2")["trains"]
    chip = run_script(script_env, "bioloop")["trains"]
    report = sim.mapping_report()
    out = capsys.readouterr().out
    assert out.count("Mean firing rate:") == 2  # the script's own output, on both
    assert len(list(Path("Results").rglob("specific_network_bioloop_*.pkl"))) == 1

    # what the chip did to the network: one cluster, 11 synapses, alpha currents as jumps
    table = report.synapse_table()
    assert report.as_dict()["n_clusters"] == 1 and len(table) == 11
    np.testing.assert_allclose([r["wanted"] for r in table], 0.5 * np.e * 2.0 / 0.5, rtol=1e-9)
    np.testing.assert_allclose([r["realised"] for r in table], 20.0 * 250 / 225 / 4, rtol=1e-6)
    assert any("IF_curr_alpha's synaptic currents become voltage jumps" in n
               for n in report.as_dict()["notes"])

    assert sum(map(len, reference)) > 15  # the model fires: the comparison means something
    ok, values = agrees_as_stated(chip, reference)
    assert ok, values

    # the control: every jump halved on the chip side is told apart
    jumps = mapper.tr.psp_jump_mv
    script_env.setattr(mapper.tr, "psp_jump_mv", lambda *a: jumps(*a) / 2)
    halved = run_script(script_env, "bioloop")["trains"]
    ok, values = agrees_as_stated(halved, reference)
    assert not ok, values
