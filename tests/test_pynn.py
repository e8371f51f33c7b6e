"""bioloop.pynn: PyNN 0.13's API on the chip model, the mapper, its rules and its report."""

from __future__ import annotations

import h5py
import neo
import numpy as np
import pytest

import bioloop.pynn as sim
from bioloop.pynn import MappingError

GAP = 15.0  # IF_curr_delta default v_thresh - v_rest, mV


def spikes(pop, segment=0):
    """Spike times (ms) of each neuron of ``pop``."""
    return [st.times.rescale("ms").magnitude.tolist()
            for st in pop.get_data().segments[segment].spiketrains]


def test_single_input_fires_after_its_delay():
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 20.0]), label="in")
    cells = sim.Population(2, sim.IF_curr_delta(), label="cells")
    sim.Projection(src, cells[0:1], sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0))
    sim.Projection(src, cells[1:2], sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=20.0, delay=3.0))
    cells.record("spikes")
    sim.run(21.0)
    # the 20 ms spike has reached neither row yet (it arrives at 21 and 23 ms)
    counts = sim.mapping_report().counts
    assert (counts["source_spikes"], counts["row_deliveries"], counts["pending_deliveries"]) == (2, 2, 2)
    sim.run(9.0)
    # the input reaches the membrane `delay` after the source spike and fires in that cycle
    assert spikes(cells) == [[6.0, 21.0], [8.0, 23.0]]
    counts = sim.mapping_report().counts
    assert counts["source_spikes"] == 2 and counts["pending_deliveries"] == 0
    assert counts["row_deliveries"] == counts["axon_pulses"] + counts["merged"] == 4
    sim.end()


def test_spatial_summation_and_quantised_weight():
    # 9 mV is 0.6 of the gap: alone it stays below threshold, two in one cycle fire
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[5.0, 30.0], [30.0]]), label="in")
    cell = sim.Population(1, sim.IF_curr_delta(), label="cell")
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=9.0))
    cell.record("spikes")
    sim.run(40.0)
    assert spikes(cell) == [[31.0]]
    rep = sim.mapping_report()
    (row0, row1) = rep.synapse_table()
    # theta = 7 gives steps of 15 mV * 250/225 / 7 = 2.381 mV: 9 mV becomes 4 steps = 9.524 mV,
    # the smallest error of the seven thresholds
    assert rep.mapping.theta[0] == 7
    assert row0["realised"] == pytest.approx(4 * GAP * 250 / 225 / 7, rel=1e-12)
    assert row0["relative_error"] == pytest.approx((row0["realised"] - 9.0) / GAP, rel=1e-12)
    steps = GAP * 250 / 225 / np.arange(1, 8)
    errors = np.abs(np.rint(9.0 / steps) * steps - 9.0)
    assert np.argmin(errors) == 6 and row1["realised"] == row0["realised"]
    sim.end()


def test_v_is_recorded_in_model_millivolts_with_the_linear_leak():
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[4.0]), label="in")
    cell = sim.Population(1, sim.IF_curr_delta(tau_m=20.0), label="cell")
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=10.0))
    cell.record(["v", "spikes"])
    sim.run(10.0)
    v = cell.get_data().segments[0].analogsignals[0]
    assert v.shape == (11, 1) and str(v.units.dimensionality) == "mV"
    trace = v.magnitude[:, 0]
    # 10 mV is exactly 3 steps at theta 5; the leak is the exponential's slope halfway to
    # threshold: 0.5 * 15 mV / 20 ms = 0.375 mV per 1 ms cycle, linear
    assert trace[:5] == pytest.approx([-65.0] * 5, abs=1e-9)
    assert trace[5] == pytest.approx(-55.0, abs=1e-9)
    assert trace[6:10] == pytest.approx(-55.0 - 0.375 * np.arange(1, 5), abs=1e-9)
    assert spikes(cell) == [[]]
    sim.end()


def test_initialize_sets_the_start_voltage():
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]), label="in")
    cell = sim.Population(1, sim.IF_curr_delta(), label="cell", initial_values={"v": -58.0})
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=10.0))
    cell.record("spikes")
    sim.run(5.0)
    # from -58 mV (minus one 0.375 mV leak step) + 10 mV crosses -50 mV: fires at 3 ms
    assert spikes(cell) == [[3.0]]
    sim.end()


def test_mapping_error_lists_every_broken_rule():
    sim.setup(timestep=1.0)
    src = sim.Population(20, sim.SpikeSourceArray(spike_times=[1.0]), label="in")
    a = sim.Population(4, sim.IF_curr_delta(), label="A")
    b = sim.Population(4, sim.IF_curr_delta(tau_m=10.0), label="B")
    sim.Projection(src, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=5.0))
    sim.Projection(src[:2], b, sim.AllToAllConnector(), sim.StaticSynapse(weight=200.0))
    sim.Projection(src[2:3], b, sim.FromListConnector([(0, 0, 6.0, 1.0), (0, 1, -12.0, 1.0)]),
                   sim.StaticSynapse())
    sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1.0))
    sim.Projection(a, a, sim.AllToAllConnector(allow_self_connections=False),
                   sim.StaticSynapse(weight=5.0, delay=3.0))
    with pytest.raises(MappingError) as info:
        sim.run(10.0)
    rules = info.value.rules
    assert isinstance(info.value, ValueError)
    text = "\n".join(rules)
    assert "leak" in text and "A: 5.625 mV/cycle; B: 11.25 mV/cycle" in text
    assert "cluster 0 needs 24 presynaptic sources but has 16 AXON rows" in text
    assert "delays between chip neurons differ ([1, 3] cycles)" in text
    assert "beyond +/-7 steps" in text
    assert len(rules) == 4
    # the report shows the same rules without raising
    rep = sim.mapping_report()
    assert not rep.as_dict()["mappable"] and rep.as_dict()["broken_rules"] == list(rules)
    assert "BROKEN" in str(rep)


@pytest.mark.parametrize("delay", [-1.0, float("inf")])
def test_a_negative_or_infinite_delay_is_a_rule_naming_the_projection(delay):
    sim.setup(timestep=0.1)
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[1.0]), label="in")
    post = sim.Population(20, sim.IF_curr_delta(), label="post")
    sim.Projection(src, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=5.0, delay=delay),
                   label="bad")
    sim.Projection(src, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0), label="good")
    with pytest.raises(MappingError) as info:
        sim.run(5.0)
    assert list(info.value.rules) == [f"projection 'bad' has 60 delay(s) like {delay:g} ms; delays must "
                                "be finite and >= 0 ms"]
    sim.end()


def test_row_window_and_shared_threshold_rules():
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]), label="in")
    c3 = sim.Population(2, sim.ChipNeuron(theta=3), label="c3")
    c5 = sim.Population(2, sim.ChipNeuron(theta=5), label="c5")
    c5.annotate(chip_cluster=0)  # share cluster 0 with c3
    # one row (the same source) needs +6 and -5: 12 levels, and one PSP reference gives 8
    sim.Projection(src, c3, sim.FromListConnector([(0, 0, 6.0), (0, 1, -5.0)],
                                                  column_names=["weight"]),
                   sim.StaticSynapse())
    with pytest.raises(MappingError) as info:
        sim.run(5.0)
    text = "\n".join(info.value.rules)
    assert "cluster 0 holds neurons with thresholds theta = [3, 5]" in text
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]), label="in")
    c3 = sim.Population(2, sim.ChipNeuron(theta=3), label="c3")
    sim.Projection(src, c3, sim.FromListConnector([(0, 0, 6.0), (0, 1, -5.0)],
                                                  column_names=["weight"]),
                   sim.StaticSynapse())
    with pytest.raises(MappingError) as info:
        sim.run(5.0)
    (rule,) = info.value.rules
    assert "row 0: its weights need codes [-5, 6]" in rule and "window of 12 levels" in rule


def test_chip_neuron_weights_are_codes():
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[3.0], [6.0]]), label="in")
    cells = sim.Population(2, sim.ChipNeuron(theta=3), label="chip")
    # s = theta fires from rest, s = theta - 1 does not (chip-model.md, Fig. 9D)
    sim.Projection(src, cells, sim.FromListConnector([(0, 0, 3.0), (1, 1, 2.0)],
                                                     column_names=["weight"]),
                   sim.StaticSynapse())
    cells.record(["spikes", "v"])
    sim.run(10.0)
    assert spikes(cells) == [[4.0], []]
    v = cells.get_data().segments[0].analogsignals[0].magnitude
    assert v[7, 1] == pytest.approx(625.0 + 2 / 3 * 250.0, abs=1e-9)  # chip mV, V_INTEG
    assert sim.mapping_report().mapping.theta.tolist() == [3]
    sim.end()


def test_more_than_16_neurons_need_routes():
    n = 20
    sim.setup(timestep=1.0)
    src = sim.Population(n, sim.SpikeSourceArray(spike_times=[[5.0 + i] for i in range(n)]),
                         label="in")
    a = sim.Population(n, sim.IF_curr_delta(), label="A")
    b = sim.Population(n, sim.IF_curr_delta(), label="B")
    sim.Projection(src, a, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0))
    sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0, delay=2.0))
    a.record("spikes")
    b.record("spikes")
    sim.run(40.0)
    ta, tb = spikes(a), spikes(b)
    assert ta == [[6.0 + i] for i in range(n)]
    assert tb == [[8.0 + i] for i in range(n)]  # routed with a latency of 2 cycles
    rep = sim.mapping_report()
    d = rep.as_dict()
    assert d["n_clusters"] == 4 and len(d["routes"]) == n
    assert {r["latency_cycles"] for r in d["routes"]} == {2}
    assert d["counts"]["packets"] == d["counts"]["routed"] == n
    assert "routes: 20, latency 2 cycle(s) = 2 ms each" in str(rep)
    table = {(r["pre"], r["post"]): r for r in rep.synapse_table()}
    assert table[("in[3] (delay 1)", "A[3]")]["realised"] == 20.0
    assert table[("A[17] (route)", "B[17]")]["cluster"] == 3
    prog = rep.mapping.program()  # the ChipProgram the chip holds, routes included
    assert prog.routes.pairs() == rep.mapping.routes and prog.theta.tolist() == [5, 5, 5, 5]
    assert rep.mapping.noc().base_cycles == 2
    sim.end()


def test_reset_starts_a_new_segment_with_the_same_spikes():
    sim.setup(timestep=0.5)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0, 7.5]), label="in")
    cell = sim.Population(1, sim.IF_curr_delta(), label="cell")
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=16.0))
    cell.record("spikes")
    sim.run(10.0)
    sim.reset()
    sim.run(10.0)
    assert sim.get_current_time() == 10.0
    seg = cell.get_data().segments
    assert len(seg) == 2 and spikes(cell, 0) == spikes(cell, 1) == [[2.5, 8.0]]
    sim.end()


def test_projection_attributes_views_and_assemblies():
    sim.setup(timestep=1.0)
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[[2.0], [4.0], [6.0]]), label="in")
    p1 = sim.Population(2, sim.IF_curr_delta(), label="p1")
    p2 = sim.Population(2, sim.IF_curr_delta(), label="p2")
    both = p1 + p2
    prj = sim.Projection(src[[2, 0]], both, sim.FromListConnector([(0, 3, 20.0, 1.0),
                                                                  (1, 0, 20.0, 1.0)]),
                         sim.StaticSynapse())
    w = prj.get("weight", format="array")
    assert w.shape == (2, 4) and w[0, 3] == 20.0 and np.isnan(w[0, 0])
    assert sorted(prj.get(["weight", "delay"], format="list")) == [(0, 3, 20.0, 1.0),
                                                                    (1, 0, 20.0, 1.0)]
    both.record("spikes")
    sim.run(10.0)
    # PyNN sorts a view's selector: view index 0 is src[0] (2 ms) and drives p2[1]; view
    # index 1 is src[2] (6 ms) and drives p1[0]
    assert spikes(p1) == [[7.0], []] and spikes(p2) == [[], [3.0]]
    prj.set(weight=5.0)  # now below threshold: the network is mapped again
    sim.reset()
    sim.run(10.0)
    assert spikes(p1, 1) == [[], []]
    sim.end()


def test_poisson_sources_are_seeded(rng):
    seed = int(rng.integers(1, 2**31))

    def trains():
        sim.setup(timestep=0.1, seed=seed)
        p = sim.Population(20, sim.SpikeSourcePoisson(rate=50.0, start=100.0), label="poisson")
        p.record("spikes")
        sim.run(600.0)
        out = spikes(p)
        sim.end()
        return out

    a, b = trains(), trains()
    assert a == b
    n = sum(len(t) for t in a)
    # 20 sources x 50 Hz x 0.5 s = 500 expected; 5 sigma of a Poisson count
    assert abs(n - 500) < 5 * np.sqrt(500)
    assert min(min(t) for t in a if t) >= 100.0


def test_recording_source_reads_a_real_recording(recordings_dir):
    path = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    with h5py.File(path, "r") as f:
        names = [x.decode() for x in f["names"][:]]
        counts = f["sCount"][:]
        times = np.split(f["spikes"][:], np.cumsum(counts)[:-1])
    pick = [names[4], names[0]]  # the busiest electrode and another
    sim.setup(timestep=1.0)
    src = sim.RecordingSource(path, start=10.0, stop=20.0, electrodes=pick, label="culture")
    cell = sim.Population(1, sim.IF_curr_delta(), label="cell")
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0))
    src.record("spikes")
    cell.record("spikes")
    sim.run(10_000.0)
    assert src.annotations["electrodes"] == pick
    got = spikes(src)
    for i, name in enumerate(pick):
        t = times[names.index(name)]
        want = np.rint((t[(t >= 10.0) & (t < 20.0)] - 10.0) * 1e3)
        assert len(got[i]) == len(want) > 0
        assert np.array_equal(got[i], want)
    # every cycle with an input spike fires the cell (or finds it just fired: N_ABS = 0 here)
    fired = spikes(cell)[0]
    inputs = np.unique(np.concatenate([np.asarray(g) for g in got]) + 1.0)
    assert np.array_equal(fired, inputs[inputs < 10_000.0])
    with pytest.raises(ValueError, match="not in"):
        sim.RecordingSource(path, electrodes=["nope"])
    sim.end()


def test_write_data_writes_a_neo_file(tmp_path):
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[3.0]), label="in")
    cell = sim.Population(1, sim.IF_curr_delta(), label="cell")
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0))
    cell.record("spikes")
    sim.run(10.0)
    out = tmp_path / "cell.nix"
    cell.write_data(str(out))
    with neo.io.NixIO(str(out), mode="ro") as io:
        block = io.read_block()
    assert block.segments[0].spiketrains[0].times.rescale("ms").magnitude.tolist() == [4.0]
    sim.end()


def test_setup_refuses_what_the_chip_cannot_clock():
    with pytest.raises(ValueError, match="timestep"):
        sim.setup(timestep=2.0)  # 500 Hz: below the GCLK range
    with pytest.raises(ValueError, match="disagrees"):
        sim.setup(timestep=0.1, gclk_hz=1000.0)
    assert sim.setup(gclk_hz=50e3) == 0 and sim.get_time_step() == pytest.approx(0.02)
    with pytest.raises(ValueError, match="cell type"):
        sim.setup(timestep=1.0)
        from pyNN.standardmodels.cells import IF_cond_exp

        class Foreign(IF_cond_exp):
            translations = {k: {"translated_name": k, "forward_transform": k,
                                "reverse_transform": k, "type": "simple"}
                            for k in IF_cond_exp.default_parameters}

        sim.Population(1, Foreign(), label="foreign")
        sim.run(1.0)


@pytest.mark.parametrize("name", ["IF_cond_exp", "IF_cond_alpha", "EIF_cond_exp_isfa_ista", "HH_cond_exp"])
def test_a_conductance_based_cell_stops_with_a_mapping_error_naming_it(name):
    # docs/pynn.md: a script written for another simulator builds them; the mapper refuses them
    sim.setup(timestep=0.1)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]), label="in")
    cond = sim.Population(3, getattr(sim, name)(), label="cond")
    sim.Projection(src, cond, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01))
    with pytest.raises(MappingError, match=f"population 'cond' has cell type {name};"):
        sim.run(5.0)
    assert name not in sim.list_standard_models() and "IF_curr_delta" in sim.list_standard_models()
    sim.end()


def test_pynn_documentation_example_runs_unchanged(monkeypatch, capsys):
    # PyNN's own examples/varying_poisson.py (doc/examples/varying_poisson.txt), unchanged but
    # for the line that picks the simulator
    import runpy
    from pathlib import Path

    script = Path(__file__).parent / "pynn_scripts" / "varying_poisson.py"
    monkeypatch.setattr("sys.argv", [str(script)])
    ns = runpy.run_path(str(script), run_name="__main__")
    expected = ns["expected_spike_counts"]
    actual = ns["spike_counts"]
    assert expected == [0.0, 200.0, 400.0, 600.0, 800.0]
    for a, e in zip(actual, expected, strict=True):
        assert abs(a - e) <= 5 * np.sqrt(max(e, 1.0))
    assert "Actual spike counts" in capsys.readouterr().out


def test_pynn_example_with_chip_wide_settings_that_differ_names_the_rule(monkeypatch, tmp_path):
    # PyNN's own examples/simpleRandomNetwork.py, unchanged but for the line that picks the
    # simulator: 20 IF_curr_exp neurons with tau_m drawn from 18-22 ms. The chip has one leak
    # current, so the run stops with a MappingError that says so (and what each neuron wants).
    import logging
    import runpy
    from pathlib import Path

    script = Path(__file__).parent / "pynn_scripts" / "simpleRandomNetwork.py"
    monkeypatch.chdir(tmp_path)  # the script saves its connections under Results/
    monkeypatch.setattr("sys.argv", [str(script), "bioloop"])
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        with pytest.raises(MappingError) as err:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
    (rule,) = err.value.rules
    assert "chip-wide setting leak differs between neurons (output:" in rule
    assert "one leak current (from tau_m)" in rule
    leaks = rule.split("(output: ")[1].split(" mV/cycle")[0].split("/")
    assert len(leaks) == 20  # the 20 neurons' leaks, all different
    assert list(Path("Results").rglob("simpleRandomNetwork_*.conn"))  # it ran up to sim.run


def test_cli_reports_pynn_example_with_its_own_arguments(monkeypatch, tmp_path, capsys):
    # the script takes the simulator's name on its command line, as PyNN wrote it
    import json
    import logging
    from pathlib import Path

    from bioloop.cli import main

    script = Path(__file__).parent / "pynn_scripts" / "specific_network.py"
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        assert main(["pynn-report", "--json", str(script), "--", "bioloop"]) == 0
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["mappable"] and summary["n_clusters"] == 1 and summary["synapses"] == 11
    assert any("IF_curr_alpha's synaptic currents" in n for n in summary["notes"])
    assert "Mean firing rate:" in err  # the script's own output


def test_current_synapses_become_jumps_of_equal_charge():
    sim.setup(timestep=0.1)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[5.0], [20.0]]), label="in")
    exp = sim.Population(1, sim.IF_curr_exp(tau_syn_E=2.0, tau_syn_I=4.0, cm=0.5), label="exp")
    alpha = sim.Population(1, sim.IF_curr_alpha(tau_syn_E=2.0, cm=1.0), label="alpha")
    # 4 nA for 2 ms onto 0.5 nF: a 16 mV jump, above the 15 mV gap: the first input fires
    sim.Projection(src[0:1], exp, sim.AllToAllConnector(), sim.StaticSynapse(weight=4.0),
                   receptor_type="excitatory")
    sim.Projection(src[1:2], exp, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.5),
                   receptor_type="inhibitory")  # -0.5 nA for 4 ms onto 0.5 nF: -4 mV
    sim.Projection(src[0:1], alpha, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0),
                   receptor_type="excitatory")  # 1 nA, alpha: e * 2 ms / 1 nF = 5.44 mV
    exp.record("spikes")
    alpha.record(("spikes", "v"))
    sim.run(30.0)
    rep = sim.mapping_report()
    wanted = {(r["cluster"], r["row"]): r["wanted"] for r in rep.synapse_table()}
    assert sorted(wanted.values()) == pytest.approx([-4.0, 2.0 * np.e, 16.0])
    assert spikes(exp) == [[pytest.approx(5.1)]]  # delay 0.1 ms (one cycle)
    assert spikes(alpha) == [[]]
    v = alpha.get_data().segments[0].filter(name="v")[0].magnitude[:, 0]
    realised = [r["realised"] for r in rep.synapse_table() if r["cluster"] == 1][0]
    assert v.max() - v.min() == pytest.approx(realised, rel=1e-6)  # the whole jump at once
    notes = " ".join(rep.as_dict()["notes"])
    assert "IF_curr_exp's synaptic currents become voltage jumps of equal charge" in notes
    assert "IF_curr_alpha's" in notes and "cm has no effect" not in notes
    sim.end()


def test_current_synapse_time_constants_must_be_positive():
    sim.setup(timestep=0.1)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]), label="in")
    cell = sim.Population(1, sim.IF_curr_exp(tau_syn_I=0.0, cm=-1.0), label="cell")
    flat = sim.Population(1, sim.IF_curr_alpha(cm=0.0), label="flat")
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0))
    sim.Projection(src, flat, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0))
    with pytest.raises(MappingError) as err:
        sim.run(1.0)
    rules = " | ".join(err.value.rules)
    assert "'cell': cm, tau_syn_I must be > 0" in rules and "'flat': cm must be > 0" in rules
    sim.end()


CHAIN_SCRIPT = '''
import {module} as sim
sim.setup(timestep=1.0)
src = sim.Population(18, sim.SpikeSourceArray(spike_times=[[2.0 + i] for i in range(18)]),
                     label="in")
a = sim.Population(18, sim.IF_curr_delta(), label="A")
b = sim.Population(18, sim.IF_curr_delta(), label="B")
sim.Projection(src, a, sim.OneToOneConnector(), sim.StaticSynapse(weight={weight}))
sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0, delay=1.0))
b.record("spikes")
sim.run(30.0)
print("script output")
sim.end()
'''


def test_cli_pynn_report(tmp_path, capsys):
    import json

    from bioloop.cli import main

    good = tmp_path / "chain.py"
    good.write_text(CHAIN_SCRIPT.format(module="bioloop.pynn", weight=20.0))
    assert main(["pynn-report", str(good)]) == 0
    out, err = capsys.readouterr()
    assert "mappable" in out and "routes: 18, latency 1 cycle(s)" in out
    assert "script output" in err and "script output" not in out  # stdout is the report
    # a script written for another simulator runs unchanged with --as
    other = tmp_path / "for_nest.py"
    other.write_text(CHAIN_SCRIPT.format(module="pyNN.nest", weight=20.0))
    assert main(["pynn-report", "--json", "--all-synapses", "--as", "pyNN.nest", str(other)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mappable"] and summary["counts"]["fires"] == 36
    assert len(summary["synapse_table"]) == 36 and summary["synapse_table"][0]["pre"] == "in[0] (delay 1)"
    import sys
    assert sys.modules.get("pyNN.nest") is not sim  # the alias is gone afterwards
    # a network the chip cannot hold is reported rule by rule
    bad = tmp_path / "bad.py"
    bad.write_text(CHAIN_SCRIPT.format(module="bioloop.pynn", weight=500.0))
    assert main(["pynn-report", "--json", str(bad)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert not summary["mappable"] and any("beyond +/-7" in r for r in summary["broken_rules"])
    assert main(["pynn-report", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("body, message", [
    ("x =\n", "line 1: SyntaxError: invalid syntax"),
    ("import bioloop.pynn as sim\nsim.setup(timestep=0.1)\nraise RuntimeError('boom')\n",
     "line 3 raised RuntimeError: boom"),
    ("import bioloop.pynn as sim\nsim.setup(timestep=0.1)\nsim.NoSuchCell()\n",
     "line 3 raised AttributeError: module 'bioloop.pynn' has no attribute 'NoSuchCell'"),
])
def test_an_error_in_the_users_script_is_one_line_naming_its_line_and_exit_2(capsys, tmp_path, body,
                                                                            message):
    from bioloop.cli import main

    script = tmp_path / "net.py"
    script.write_text(body)
    assert main(["pynn-report", str(script)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"bioloop pynn-report: error: {script} {message}"
    assert main(["pynn-report", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_pynn_refusing_the_script_is_one_line_naming_its_line_and_exit_2(capsys, tmp_path):
    from bioloop.cli import main

    script = tmp_path / "net.py"
    script.write_text("import bioloop.pynn as sim\nsim.setup(timestep=0.1)\n"
                      "a = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))\n"
                      "b = sim.Population(2, sim.IF_curr_delta())\n"
                      "sim.Projection(a, b, sim.AllToAllConnector(), receptor_type='nmda')\n")
    assert main(["pynn-report", str(script)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"bioloop pynn-report: error: {script} line 5: PyNN refused it: ConnectionError: ")
    assert "nmda" in err[0]


def test_a_ring_of_20_neurons_keeps_a_wave_going_through_routes():
    n = 20

    def ring_network(kicked):
        sim.setup(timestep=1.0)
        kick = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]), label="kick")
        ring = sim.Population(n, sim.IF_curr_delta(), label="ring")
        sim.Projection(kick, ring[kicked:kicked + 1], sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=20.0))
        sim.Projection(ring, ring, sim.FromListConnector([(i, (i + 1) % n) for i in range(n)]),
                       sim.StaticSynapse(weight=20.0, delay=1.0))
        ring.record("spikes")
        return ring

    # kicking neuron 0 needs a 17th row on cluster 0 (15 ring neighbours, neuron 19, the kick)
    ring_network(0)
    with pytest.raises(MappingError, match="cluster 0 needs 17 presynaptic sources"):
        sim.run(50.0)
    ring = ring_network(16)  # neuron 16 sits on cluster 1, which has rows to spare
    sim.run(50.0)
    first = [3.0 + (k - 16) % n for k in range(n)]
    assert spikes(ring) == [[t + n * m for m in range(3) if t + n * m < 50.0] for t in first]
    d = sim.mapping_report().as_dict()
    c = d["counts"]
    assert len(d["routes"]) == n and c["packets"] == c["routed"] + c["in_flight"] == 47
    assert c["in_flight"] == 1  # the last FIRE's packet arrives after the run
    # routes close the loop: cluster 0 onto itself and onto cluster 1, and back
    pairs = {(r["from"]["cluster"], r["to"]["cluster"]) for r in d["routes"]}
    assert pairs == {(0, 0), (0, 1), (1, 1), (1, 0)}
    sim.end()


def test_connectors_and_record_to_file(tmp_path):
    sim.setup(timestep=1.0)
    src = sim.Population(6, sim.SpikeSourceArray(spike_times=[[2.0]] * 6), label="in")
    cells = sim.Population(5, sim.IF_curr_delta(), label="cells")
    pre = sim.Projection(src, cells, sim.FixedNumberPreConnector(3, rng=sim.NumpyRNG(seed=1)),
                         sim.StaticSynapse(weight=1.0))
    post = sim.Projection(src, cells, sim.FixedNumberPostConnector(2, rng=sim.NumpyRNG(seed=2)),
                          sim.StaticSynapse(weight=1.0))
    path = tmp_path / "conn.txt"
    np.savetxt(path, [[0, 4, 2.5, 1.0], [5, 0, 2.5, 2.0]])
    from_file = sim.Projection(src, cells, sim.FromFileConnector(str(path)), sim.StaticSynapse())
    assert (len(pre), len(post), len(from_file)) == (15, 12, 2)
    cells.record("spikes", to_file=str(tmp_path / "cells.nix"))
    sim.run(5.0)
    pairs = {}
    for p in (pre, post, from_file):
        for i, j, w, d in p.get(["weight", "delay"], format="list"):
            key = (int(i), int(j), round(d))
            pairs[key] = pairs.get(key, 0.0) + w
    table = sim.mapping_report().synapse_table()
    # one chip synapse per (source, delay, neuron); summed weights
    assert len(table) == len(pairs)
    assert sorted(round(r["wanted"], 9) for r in table) == sorted(round(w, 9) for w in pairs.values())
    sim.end()
    assert (tmp_path / "cells.nix").exists()  # record(to_file=...) writes at end()


def test_a_chip_instance_with_mismatch_keeps_clear_decisions(rng):
    def run(**kw):
        sim.setup(timestep=1.0, **kw)
        times = [sorted(set(np.round(rng.uniform(1, 90, 10)).tolist())) for _ in range(4)]
        src = sim.Population(4, sim.SpikeSourceArray(spike_times=times), label="in")
        cells = sim.Population(4, sim.IF_curr_delta(tau_refrac=0.0), label="cells")
        sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=25.0))
        cells.record("spikes")
        sim.run(100.0)
        out = spikes(cells)
        sim.end()
        return out, [[t + 1.0 for t in tt] for tt in times]

    ideal, want = run()
    assert ideal == want
    # a weight well above threshold fires on every instance (device variation cancels in s/theta)
    varied, want = run(mismatch=True, seed=int(rng.integers(0, 2**31)))
    assert varied == want


def test_populations_sharing_a_label_are_kept_apart():
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]), label="in")
    a = sim.Population(1, sim.IF_curr_delta(), label="x")
    b = sim.Population(1, sim.IF_curr_delta(), label="x")
    sim.Projection(src, b, sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0))
    a.record("spikes")
    b.record("spikes")
    sim.run(5.0)
    assert spikes(a) == [[]] and spikes(b) == [[3.0]]
    assert sorted(sim.mapping_report().as_dict()["placement"]) == ["x#1", "x#2"]
    b.set(tau_m=5.0)  # one leak current for the chip: both "x" named in the rule
    with pytest.raises(MappingError, match="x: 5.625 mV/cycle; x: 22.5 mV/cycle"):
        sim.run(5.0)


def test_theta_and_psp_references_minimise_the_quantisation_error(rng):
    n_src, n_cells = 6, 10
    w = rng.uniform(-9.0, 14.0, (n_src, n_cells)) * (rng.random((n_src, n_cells)) < 0.6)
    w[np.abs(w) < 0.5] = 0.0
    sim.setup(timestep=1.0)
    src = sim.Population(n_src, sim.SpikeSourceArray(spike_times=[3.0]), label="in")
    cells = sim.Population(n_cells, sim.IF_curr_delta(), label="cells")
    exc = [(i, j, w[i, j], 1.0) for i, j in zip(*np.nonzero(w > 0), strict=True)]
    inh = [(i, j, w[i, j], 1.0) for i, j in zip(*np.nonzero(w < 0), strict=True)]
    sim.Projection(src, cells, sim.FromListConnector(exc), sim.StaticSynapse(),
                   receptor_type="excitatory")
    sim.Projection(src, cells, sim.FromListConnector(inh), sim.StaticSynapse(),
                   receptor_type="inhibitory")
    rep = sim.mapping_report()
    got = sum(r["relative_error"] ** 2 for r in rep.synapse_table())
    # brute force, independently: every theta whose codes fit every row's 3-bit window, every
    # PSP reference of every row
    has = w != 0
    best = np.inf
    for theta in range(1, 8):
        step = GAP * 250 / 225 / theta
        s = np.rint(w / step) * has
        if (np.maximum(s.max(axis=1), 0) - np.minimum(s.min(axis=1), 0)).max() > 7:
            continue  # some row needs more than 8 levels: not a mapping
        cost = 0.0
        for i in range(n_src):
            cost += min(float((((np.clip(s[i], -r, 7 - r) * step - w[i]) / GAP)[has[i]] ** 2).sum())
                        for r in range(8))
        best = min(best, cost)
    assert rep.as_dict()["mappable"] == np.isfinite(best)
    if not np.isfinite(best):
        return
    assert got == pytest.approx(best, rel=1e-12, abs=1e-15)
    # and the program realises exactly the reported weights
    m = rep.mapping
    prog = m.program()
    step = GAP * 250 / 225 / prog.theta[0]
    for r in rep.synapse_table():
        s = prog.signed_weights[0, r["row"], r["dend"]]
        assert s * step == pytest.approx(r["realised"], rel=1e-12)


def test_a_noc_with_hop_latency_checks_every_delay():
    from bioloop.chip import NocConfig

    def chain(delay):
        n = 20
        sim.setup(timestep=1.0, noc=NocConfig(hop_cycles=2))
        src = sim.Population(n, sim.SpikeSourceArray(spike_times=[[5.0 + i] for i in range(n)]),
                             label="in")
        a = sim.Population(n, sim.IF_curr_delta(), label="A")
        b = sim.Population(n, sim.IF_curr_delta(), label="B")
        a.annotate(chip_cluster=0)
        b.annotate(chip_cluster=3)  # B[0:16] on cluster 3, B[16:20] on cluster 4
        sim.Projection(src, a, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0))
        sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0, delay=delay))
        b.record("spikes")
        return b

    # 5 clusters on a 2 x 3 mesh: 0 -> 3 is one hop (1 + 2 cycles), 1 -> 4 one hop too
    chain(2.0)
    with pytest.raises(MappingError, match=r"20 connection\(s\) between chip neurons have delays "
                       r"the NoC cannot realise \(cluster 0 -> 3: delay 2, route 3 cycles"):
        sim.run(40.0)
    b = chain(3.0)
    sim.run(40.0)
    assert spikes(b) == [[9.0 + i] for i in range(20)]
    d = sim.mapping_report().as_dict()
    assert d["mesh"] == [2, 3] and {(r["hops"], r["latency_cycles"]) for r in d["routes"]} == {(1, 3)}
    sim.end()


def test_recording_v_takes_the_dense_path_with_the_same_spikes(rng):
    def run(record_v):
        sim.setup(timestep=1.0)
        times = [sorted(set(np.round(rng.uniform(1, 60, 12)).tolist())) for _ in range(8)]
        src = sim.Population(8, sim.SpikeSourceArray(spike_times=times), label="in")
        a = sim.Population(16, sim.IF_curr_delta(), label="A")
        b = sim.Population(16, sim.IF_curr_delta(), label="B")
        sim.Projection(src, a, sim.FixedProbabilityConnector(0.5, rng=sim.NumpyRNG(seed=5)),
                       sim.StaticSynapse(weight=9.0))
        sim.Projection(a, b, sim.FixedProbabilityConnector(0.4, rng=sim.NumpyRNG(seed=6)),
                       sim.StaticSynapse(weight=9.0, delay=1.0))
        b.record(["spikes", "v"] if record_v else "spikes")
        sim.run(70.0)
        out = spikes(b)
        sim.end()
        return out

    state = rng.bit_generator.state
    events = run(False)
    rng.bit_generator.state = state
    dense = run(True)
    assert sum(map(len, events)) > 10 and dense == events
