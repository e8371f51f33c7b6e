"""Cross-check core: Poisson input, Elephant statistics, tolerances, verdict, sweep, report."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from bioloop.backends.chip import ChipBackend
from bioloop.chip import ChipConfig
from bioloop.crosscheck import (
    AGREE,
    DIFFER,
    METRICS,
    MetricSettings,
    Tolerances,
    align,
    compare_trains,
    cross_check,
    gclk_sweep,
    poisson_spikes,
    scaled_config,
    spike_times,
)
from bioloop.crosscheck.report import write_report
from bioloop.networks import network_from_name
from bioloop.types import FireEvents, SpikeEvents

# Elephant's BinnedSpikeTrain passes copy= to quantities, which deprecates the argument
QUANTITIES_COPY = "ignore:The 'copy' argument in Quantity is deprecated:DeprecationWarning"
pytestmark = pytest.mark.filterwarnings(QUANTITIES_COPY)

SETTINGS = MetricSettings.for_gclk(1e3)


# ---- Poisson input and alignment ---------------------------------------------------------
def test_poisson_input_is_seeded_and_has_the_asked_rate():
    a = poisson_spikes(40.0, 5.0, 2, seed=11)
    b = poisson_spikes(40.0, 5.0, 2, seed=11)
    c = poisson_spikes(40.0, 5.0, 2, seed=12)
    np.testing.assert_array_equal(a.times, b.times)
    assert not np.array_equal(a.times[:50], c.times[:50])
    assert a.n_channels == 32 and np.all(np.diff(a.times) >= 0)
    # 32 trains x 200 expected spikes: the total is Poisson(6400), sd 80; 5 sd bound
    assert abs(len(a) - 6400) < 5 * 80
    counts = a.counts()
    assert counts.min() > 200 - 5 * np.sqrt(200) and counts.max() < 200 + 5 * np.sqrt(200)


def test_align_samples_at_the_next_edge_and_counts_merges():
    ev = SpikeEvents([0.0, 0.0009999, 0.001, 0.0010001, 0.0015, 0.003], [0, 0, 0, 0, 0, 20],
                     tuple(str(i) for i in range(21)), 0.0, 0.004)
    a = align(ev, 1e3)
    assert a.frames.cycles.tolist() == [0, 1, 2, 3]
    assert a.frames.cluster.tolist() == [0, 0, 0, 1] and a.frames.axon.tolist() == [0, 0, 0, 4]
    assert a.merged == 2  # 0.0009999 and 0.001 share edge 1; 0.0010001 and 0.0015 share edge 2
    assert len(a.frames) + a.merged == len(ev)  # nothing disappears
    assert a.n_cycles == 5


def test_poisson_rejects_bad_values():
    with pytest.raises(ValueError, match="rate_hz"):
        poisson_spikes(-1.0, 1.0, 1, 0)
    with pytest.raises(ValueError, match="duration_s"):
        poisson_spikes(5.0, 0.0, 1, 0)
    with pytest.raises(TypeError, match="n_clusters"):
        poisson_spikes(5.0, 1.0, 1.5, 0)


# ---- statistics ---------------------------------------------------------------------------
def trains(rng, n=6, rate=30.0, dur=2.0):
    return [np.unique(np.round(rng.uniform(0, dur, rng.poisson(rate * dur)), 3)) for _ in range(n)]


def test_identical_trains_agree_perfectly(rng):
    a = trains(rng) + [np.array([])]
    m = compare_trains(a, [t.copy() for t in a], 2.0, SETTINGS)
    for name in ("firing_rate", "cv_isi", "van_rossum", "victor_purpura", "population_rate"):
        assert m[name].value == 0.0, name
    assert m["sttc"].value == pytest.approx(1.0, abs=1e-12)
    assert m["correlation"].value == pytest.approx(1.0, abs=1e-12)
    assert m["sttc"].n == 6  # the silent neuron (silent on both sides) is not compared


def test_disjoint_trains_are_as_far_apart_as_the_normalisation_says():
    # spikes 0.5 s apart on the two sides: nothing in common within tau = 10 ms
    a = [np.arange(0.1, 1.9, 0.2)]
    b = [a[0] + 0.1]
    m = compare_trains(a, b, 2.0, SETTINGS)
    assert m["firing_rate"].value == 0.0  # same counts
    assert m["van_rossum"].value == pytest.approx(1.0, abs=1e-3)  # exp(-100 ms / 10 ms) overlap
    assert m["victor_purpura"].value == pytest.approx(1.0)  # moving costs 10 > 2: delete+insert
    assert m["sttc"].value < 0.01
    # a silent side counts as no agreement at all
    m2 = compare_trains(a, [np.array([])], 2.0, SETTINGS)
    assert m2["sttc"].value == 0.0 and m2["correlation"].value == 0.0
    assert m2["firing_rate"].value == float("inf")


def test_distances_grow_with_jitter(rng):
    a = trains(rng, rate=10.0)
    vr, vp = [], []
    for jitter in (0.0005, 0.002, 0.008):
        b = [np.clip(np.sort(t + rng.normal(0, jitter, t.size)), 0, 2.0) for t in a]
        m = compare_trains(a, b, 2.0, SETTINGS)
        vr.append(m["van_rossum"].value)
        vp.append(m["victor_purpura"].value)
    assert vr[0] < vr[1] < vr[2] and vp[0] < vp[1] < vp[2]


def test_cv_isi_needs_three_spikes_on_both_sides():
    a = [np.array([0.1, 0.2]), np.array([0.1, 0.2, 0.4])]
    b = [np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3])]
    m = compare_trains(a, b, 1.0, SETTINGS)
    assert m["cv_isi"].n == 1
    # CV of ISIs (0.1, 0.2) is 1/3; of (0.1, 0.1) it is 0
    assert m["cv_isi"].value == pytest.approx(1 / 3)
    assert compare_trains([a[0]], [b[0]], 1.0, SETTINGS)["cv_isi"].value is None


def test_spike_times_and_trains_outside_the_segment():
    f = FireEvents([5, 2, 9], [1, 0, 1], [3, 15, 3], 1e3)
    tr = spike_times(f, 32)
    assert tr[19].tolist() == [0.005, 0.009] and tr[15].tolist() == [0.002]
    with pytest.raises(ValueError, match="only 16 neurons"):
        spike_times(f, 16)
    with pytest.raises(ValueError, match="outside the segment"):
        compare_trains([np.array([1.5])], [np.array([0.1])], 1.0, SETTINGS)


# ---- tolerances and verdict -----------------------------------------------------------------
def test_tolerances():
    t = Tolerances()
    assert t.accepts("van_rossum", 0.1) and not t.accepts("van_rossum", 0.9)
    assert t.accepts("sttc", 0.9) and not t.accepts("sttc", 0.1)
    assert t.accepts("cv_isi", None)  # nothing to compare is no disagreement
    ex = Tolerances.exact()
    assert ex.accepts("sttc", 1.0) and not ex.accepts("sttc", 0.999)
    assert ex.accepts("firing_rate", 0.0) and not ex.accepts("firing_rate", 1e-6)
    with pytest.raises(ValueError, match="unknown statistic"):
        t.replace(speed=1.0)
    with pytest.raises(ValueError, match="tolerance sttc"):
        t.replace(sttc=1.5)
    assert set(t.as_dict()) == set(METRICS)


def poisson_case(gclk=1e3, rate=20.0, dur=1.0, n_clusters=2, seed=3):
    cfg = ChipConfig(gclk_hz=gclk)
    al = align(poisson_spikes(rate, dur, n_clusters, seed), gclk)
    return cfg, al


@pytest.mark.reference
def test_chip_equivalent_agrees_exactly():
    from bioloop.reference_models.chip_equivalent import ChipEquivalentBackend

    cfg, al = poisson_case()
    prog = network_from_name("random", 2, seed=5)
    r = cross_check(al.frames, prog, cfg, reference=ChipEquivalentBackend, until=al.n_cycles)
    assert r.verdict == AGREE and r.spike_exact is True and r.reasons == ()
    assert len(r.chip.fires) > 100
    assert all(m.tolerance in (Tolerances.exact().as_dict()[k],) for k, m in r.metrics.items())
    s = r.summary()
    for key in ("reference", "verdict", "spike_exact", "metrics", "chip_wall_s",
                "reference_wall_s", "brian2_target"):
        assert key in s
    assert s["brian2_target"] == "numpy" and s["reference"] == "chip-equivalent"
    assert s["counts"]["chip"] == s["counts"]["reference"]


@pytest.mark.reference
def test_a_reference_that_breaks_its_exactness_promise_differs():
    from bioloop.reference_models.chip_equivalent import ChipEquivalentBackend

    class OneWeightOff(ChipEquivalentBackend):
        """Holds the image faithfully but simulates one synapse 50 mV too strong."""

        def program(self, program):
            super().program(program)
            self._G = self._G.copy()
            self._G[0, 0, 0] += 0.05

    cfg, al = poisson_case()
    prog = network_from_name("relay", 2)
    r = cross_check(al.frames, prog, cfg, reference=OneWeightOff, until=al.n_cycles)
    assert r.verdict == DIFFER and r.spike_exact is False
    assert "spikes are not identical" in r.reasons


@pytest.mark.reference
def test_ideal_lif_agrees_within_default_tolerances_and_a_different_model_does_not():
    from bioloop.reference_models.ideal_lif import IdealLIFBackend

    cfg, al = poisson_case(dur=2.0)
    prog = network_from_name("random", 2, seed=3)
    r = cross_check(al.frames, prog, cfg, reference=IdealLIFBackend, until=al.n_cycles)
    assert r.verdict == AGREE, r.reasons
    assert r.spike_exact is None and len(r.ref.fires) > 100
    # not identical: a different model, measured as such
    assert 0 < r.metrics["van_rossum"].value < Tolerances().van_rossum

    class HalfWeights(IdealLIFBackend):
        """The same image, but every PSP half as large: a different neuron."""

        def program(self, program):
            super().program(program)
            self._w = self._w * 0.5

    r2 = cross_check(al.frames, prog, cfg, reference=HalfWeights, until=al.n_cycles)
    assert r2.verdict == DIFFER and r2.reasons


@pytest.mark.reference
def test_bad_setups_are_refused():
    from bioloop.reference_models.ideal_lif import IdealLIFBackend

    cfg, al = poisson_case(dur=0.2)
    prog = network_from_name("relay", 2)
    with pytest.raises(ValueError, match="share one config.*gclk_hz"):
        cross_check(al.frames, prog, cfg, reference=IdealLIFBackend,
                    reference_config=cfg.replace(gclk_hz=2e3))
    with pytest.raises(ValueError, match="frames are aligned to gclk_hz = 1000"):
        cross_check(al.frames, prog, cfg.replace(gclk_hz=2e3), reference=IdealLIFBackend)
    with pytest.raises(ValueError, match="input_only"):
        cross_check(al.frames, prog, cfg.replace(leak_mode="input_only"),
                    reference=IdealLIFBackend)
    with pytest.raises(ValueError, match="no backend named 'no-such-model'"):
        cross_check(al.frames, prog, cfg, reference="no-such-model")
    with pytest.raises(TypeError, match="Backend subclass"):
        cross_check(al.frames, prog, cfg, reference=42)

    class Tampering(IdealLIFBackend):
        def read_image(self):
            img = super().read_image()
            return dataclasses.replace(img, weights=np.zeros_like(img.weights))

    with pytest.raises(ValueError, match="different images"):
        cross_check(al.frames, prog, cfg, reference=Tampering)


def test_chip_side_runs_from_the_registry():
    # "chip" is found by name; a reference class given directly works too
    cfg, al = poisson_case(dur=0.3)
    prog = network_from_name("relay", 2)
    r = cross_check(al.frames, prog, cfg, reference=ChipBackend, until=al.n_cycles)
    assert r.verdict == AGREE and r.chip.backend == "chip" and r.spike_exact is None


# ---- GCLK sweep and report ----------------------------------------------------------------
def test_scaled_config_keeps_the_time_course():
    base = ChipConfig()
    for f in (2e3, 5e3, 50e3):
        c = scaled_config(base, f)
        assert c.leak_step * c.gclk_hz == pytest.approx(base.leak_step * base.gclk_hz, rel=1e-12)
        assert (c.n_abs + 1) / c.gclk_hz == pytest.approx((base.n_abs + 1) / base.gclk_hz,
                                                          abs=0.5 / f)
    with pytest.raises(ValueError, match="gclk_hz"):
        scaled_config(base, 60e3)


@pytest.mark.reference
def test_gclk_sweep_shows_the_cost_of_clock_alignment(tmp_path):
    from bioloop.reference_models.ideal_lif import IdealLIFBackend

    spikes = poisson_spikes(8.0, 0.5, 1, seed=2)
    prog = network_from_name("relay", 1)
    sw = gclk_sweep(spikes, prog, ChipConfig(), gclks=(1e3, 5e3, 50e3), reference=IdealLIFBackend)
    assert [r["gclk_hz"] for r in sw.rows] == [1e3, 5e3, 50e3]
    assert sw.reference_gclk_hz == 50e3 and sw.reference_fires > 20
    vr = [r["van_rossum"] for r in sw.rows]
    # FIRE times are quantised to the clock: the distance to the 50 kHz-aligned reference
    # shrinks as the clock gets faster
    assert vr[0] > vr[1] > vr[2]
    assert all(r["chip_fires"] > 20 for r in sw.rows)

    cfg, al = poisson_case(dur=0.5, n_clusters=1, seed=2)
    r = cross_check(al.frames, prog, cfg, reference=IdealLIFBackend, until=al.n_cycles)
    rep = write_report(r, tmp_path / "report", sweep=sw, notes={"network": "relay"})
    files = set(rep["files"])
    assert {"summary.md", "rasters.png", "rates.png", "isi.png", "gclk_sweep.csv",
            "gclk_sweep.png"} <= files
    for name in files:
        path = tmp_path / "report" / name
        assert path.stat().st_size > 0
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (tmp_path / "report" / "summary.md").read_text()
    assert f"**Verdict: {r.verdict}**" in text and "victor_purpura" in text
    with open(tmp_path / "report" / "gclk_sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(x["gclk_hz"]) for x in rows] == [1e3, 5e3, 50e3]
    assert float(rows[0]["van_rossum"]) == pytest.approx(vr[0], rel=1e-12)


def test_sweep_and_report_refuse_bad_input(tmp_path):
    prog = network_from_name("relay", 1)
    empty = SpikeEvents([], [], tuple("a" * 16), 0.0, 1.0)
    with pytest.raises(ValueError, match="needs input spikes"):
        gclk_sweep(empty, prog, ChipConfig())
    wide = SpikeEvents([0.1], [20], tuple(str(i) for i in range(21)), 0.0, 1.0)
    with pytest.raises(ValueError, match="channel 20 has no AXON row"):
        gclk_sweep(wide, prog, ChipConfig())
    with pytest.raises(TypeError, match="CrossCheck"):
        write_report({"verdict": "agree"}, tmp_path)


def test_core_imports_no_reference_model_and_no_adapter():
    code = ("import sys, bioloop.crosscheck, bioloop.crosscheck.report, bioloop.cli.compare_cmd;"
            "bad = [m for m in sys.modules if m.startswith(('bioloop.reference_models', "
            "'bioloop.adapters', 'brian2'))]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_fires_equal_ignores_order_but_not_content():
    from bioloop.crosscheck import fires_equal

    a = FireEvents([1, 1, 2], [0, 0, 0], [3, 4, 1], 1e3)
    b = FireEvents([1, 1, 2], [0, 0, 0], [4, 3, 1], 1e3)
    c = FireEvents([1, 1, 2], [0, 0, 0], [4, 3, 2], 1e3)
    assert fires_equal(a, b) and not fires_equal(a, c)
