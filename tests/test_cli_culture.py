"""``bioloop culture``: the virtual culture live on LSL, stimulated over LSL by another process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from bioloop.cli import main
from bioloop.reference_models import culture_cmd
from bioloop.reference_models.virtual_culture import CultureParams, VirtualCulture, mcs_layout
from bioloop.types import StimCommands


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------ argument handling
def test_parse_params_converts_by_field_type():
    out = culture_cmd.parse_params(["n_neurons=500", "mini_rate=4", " w_ee = 1.5"], CultureParams)
    assert out == {"n_neurons": 500, "mini_rate": 4.0, "w_ee": 1.5}
    assert isinstance(out["n_neurons"], int) and isinstance(out["mini_rate"], float)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        culture_cmd.parse_params(["n_neurons"], CultureParams)
    with pytest.raises(ValueError, match="'bogus' is not a culture parameter"):
        culture_cmd.parse_params(["bogus=1"], CultureParams)
    with pytest.raises(ValueError, match="must be an integer"):
        culture_cmd.parse_params(["n_neurons=5.5"], CultureParams)


def test_stim_rows_are_converted_and_bad_ones_refused():
    rows = np.array([
        [3, -30.0, 200.0, 50.0],      # good: 30 uA cathodic first, 200 us phases
        [59, 10.0, 100.0, 0.0],       # good, last electrode
        [60, -30.0, 200.0, 50.0],     # no such electrode
        [2.5, -30.0, 200.0, 50.0],    # not an index
        [-1, -30.0, 200.0, 50.0],
        [4, -30.0, 0.0, 50.0],        # zero phase width
        [4, -30.0, 200.0, -1.0],      # negative interphase
        [4, np.nan, 200.0, 50.0],     # not finite: counted once, as a bad electrode row
    ], dtype=np.float32)
    stamps = 100.0 + np.arange(len(rows)) * 0.01
    cmds, refused = culture_cmd.stim_rows_to_commands(rows, stamps, 99.5, 60, StimCommands)
    assert refused == {"bad_electrode": 4, "bad_waveform": 2}
    assert len(cmds) + sum(refused.values()) == len(rows)
    np.testing.assert_allclose(cmds.times, [0.5, 0.51])
    np.testing.assert_array_equal(cmds.electrode, [3, 59])
    np.testing.assert_allclose(cmds.amplitude, [-30e-6, 10e-6], rtol=1e-6)  # float32 input
    np.testing.assert_allclose(cmds.phase_width, [200e-6, 100e-6], rtol=1e-6)
    np.testing.assert_allclose(cmds.interphase, [50e-6, 0.0], atol=1e-12)


@pytest.mark.parametrize(("argv", "match"), [
    (["--param", "bogus=1"], "bogus"),
    (["--param", "n_neurons=abc"], "must be an integer"),
    (["--duration", "-1"], "--duration"),
    (["--step", "0.5"], "--step"),
    (["--electrodes", "61"], "--electrodes: invalid choice: 61"),
    (["--seed", "-3"], "seed"),
])
def test_bad_input_gives_one_line_and_status_2(capsys, argv, match):
    rc = main(["culture", "--stream", unique("never"), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.lsl
def test_text_summary_of_a_short_run(capsys):
    rc = main(["culture", "--stream", unique("culture-text"), "--duration", "0.3", "--quiet",
               "--linger", "0", "--param", "n_neurons=200"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "ran virtual culture (seed 0, 200 neurons, 60 electrodes)" in out
    assert "0.300 s of culture" in out


# ------------------------------------------------------------------ real LSL, two processes
def _best_stim_electrode(seed: int, charge: float) -> int:
    """The electrode whose own recorded neurons a pulse of ``charge`` activates most."""
    net = VirtualCulture(seed=seed).network
    best, best_n = 0, -1
    for e in range(len(net.stim_order)):
        act = set(net.stim_order[e][net.stim_thr[e] <= charge].tolist())
        rec = {n for n in act if e in net.rec_el[net.rec_ptr[n]:net.rec_ptr[n + 1]]}
        if len(rec) > best_n:
            best, best_n = e, len(rec)
    return best


@pytest.mark.lsl
def test_culture_streams_spikes_and_obeys_stimulation_between_processes():
    lsl = pytest.importorskip("bioloop.adapters.lsl")
    lsl.configure_lsl()
    seed, duration, amp, width = 7, 7.0, -30e-6, 200e-6
    labels = mcs_layout(60)[0]
    electrode = _best_stim_electrode(seed, abs(amp) * width)
    spike_name, stim_name = unique("culture"), unique("culture-stim")
    # 40 extra labels let electrode 99 through our outlet, so the culture must refuse it
    sink = lsl.LSLStimSink(stim_name, labels=(*labels, *(f"x{i}" for i in range(40))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bioloop.cli", "culture", "--stream", spike_name,
         "--stim-stream", stim_name, "--seed", str(seed), "--duration", str(duration),
         "--json", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    src = None
    received_t, received_c = [], []
    try:
        src = lsl.LSLSpikeSource(name=spike_name, timeout=30.0)
        assert src.labels == labels
        assert src.positions is not None and np.allclose(src.positions[1] - src.positions[0],
                                                         [0.0, 200.0])
        assert sink.wait_for_consumers(20.0), "the culture never subscribed to stimulation"
        now = sink.local_clock()
        t_pulses = now + np.array([1.0, 1.9, 2.8])
        good = StimCommands(t_pulses, np.full(3, electrode), np.full(3, amp), np.full(3, width),
                            np.full(3, 50e-6))
        odd = StimCommands([now - 0.5, now + 1.2], [electrode, 99], [amp, amp], [width, width],
                           [50e-6, 50e-6])
        sink.write(good)
        sink.write(odd)  # one pulse in the culture's past (late), one on electrode 99 (refused)
        deadline = time.monotonic() + duration + 30.0
        while proc.poll() is None and time.monotonic() < deadline:
            chunk = src.read_chunk(timeout=0.05)
            received_t.append(chunk.times)
            received_c.append(chunk.channels)
        for _ in range(5):  # drain
            chunk = src.read_chunk(timeout=0.05)
            received_t.append(chunk.times)
            received_c.append(chunk.channels)
        out, err = proc.communicate(timeout=30.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sink.close()
        if src is not None:
            src.close()
    assert proc.returncode == 0, err[-2000:]
    s = json.loads(out.strip().splitlines()[-1])
    assert s["stim_connected"] is True, s["stim_stream_error"]
    assert s["culture_time_s"] == duration
    # every stimulation sample is accounted for
    assert s["stim_samples_received"] == 5
    assert s["stim_refused"] == {"bad_electrode": 1, "bad_waveform": 0}
    c = s["culture"]
    assert (c["stim_received"], c["stim_late"], c["stim_applied"]) == (4, 1, 3)
    assert c["direct_activations"] > 0
    # every spike sent arrived (none refused, none dropped by the reader)
    stats = src.stats()
    assert sum(stats["dropped"].values()) == 0
    times = np.concatenate(received_t) - s["t0_lsl"]  # culture time of each spike
    chans = np.concatenate(received_c)
    assert 0 < times.size <= s["spikes_pushed"]
    # direct responses on the stimulated electrode within 5 ms of most pulses
    pulses_culture = t_pulses + stats["clock_offset"] - s["t0_lsl"]
    on_el = times[chans == electrode]
    hits = [((on_el > tp) & (on_el <= tp + 0.005)).any() for tp in pulses_culture]
    assert sum(hits) >= 2, (hits, pulses_culture)

    # the same seed and the logged pulses, offline, give exactly the spikes that came over LSL
    offline = VirtualCulture(seed=seed)
    log = [e for e in s["stim_log"] if not e["late"]]
    assert len(log) == 3
    offline.stimulate(StimCommands([e["t"] for e in log], [e["electrode"] for e in log],
                                   [e["amplitude_uA"] * 1e-6 for e in log],
                                   [e["phase_width_us"] * 1e-6 for e in log],
                                   [e["interphase_us"] * 1e-6 for e in log]))
    ref = offline.advance(duration)
    dt = offline.dt
    k_recv = np.round(times / dt).astype(np.int64)  # LSL clock offsets here are << dt / 2
    k_ref = np.round(ref.times / dt).astype(np.int64)
    lo, hi = k_recv.min(), k_recv.max()  # the inlet may have joined a little late
    inner_recv = sorted(zip(k_recv[(k_recv > lo) & (k_recv < hi)].tolist(),
                            chans[(k_recv > lo) & (k_recv < hi)].tolist(), strict=True))
    inner_ref = sorted(zip(k_ref[(k_ref > lo) & (k_ref < hi)].tolist(),
                           ref.channels[(k_ref > lo) & (k_ref < hi)].tolist(), strict=True))
    assert inner_recv == inner_ref
    assert (hi - lo) * dt > duration - 3.0  # and that covers most of the run
