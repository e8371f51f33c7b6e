"""Sessions on a routed chip report the NoC: packets sent = routed + dropped_congestion + in
flight at the end, in the summary, ``--json``, the text summary and the session file; the
optimistic runner's rollbacks count nothing twice; the NoC options at the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from backend_helpers import OneCycleAtATime

from bioloop.backends.chip import ChipBackend
from bioloop.chip import NocConfig
from bioloop.cli import main
from bioloop.session import SessionLog, read_session
from bioloop.session.build import SessionOptions, assemble, build, run_replay
from bioloop.session.live import LiveLoop, LiveTiming
from bioloop.session.runner import Pacing, replay
from bioloop.sources import LiveSource
from bioloop.stimulator import StimulatorConfig
from bioloop.synthetic import synthetic_culture
from bioloop.types import SpikeEvents

ROUTING_KEYS = {"routes", "packets", "routed", "routed_merged", "congestion_delayed", "congestion_delay_cycles",
                "dropped_congestion", "in_flight"}


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _adds_up(r: dict) -> None:
    assert set(r) == ROUTING_KEYS
    assert r["packets"] == r["routed"] + r["dropped_congestion"] + r["in_flight"]
    assert r["routed_merged"] <= r["routed"] and r["congestion_delayed"] <= r["packets"] - r["dropped_congestion"]
    # every delivered delayed packet waited at least one extra cycle
    assert r["congestion_delay_cycles"] >= r["congestion_delayed"] - r["in_flight"]


REPLAY = ["--stop", "20", "--network", "recurrent:3", "--clusters", "4", "--allow-shared-rows", "--quiet"]


@pytest.mark.parametrize("noc", [[], ["--noc-link-capacity", "1", "--noc-queue-depth", "2", "--noc-hop-cycles", "1",
                                      "--mesh", "1x4"]], ids=["unlimited", "finite-links"])
def test_replay_routing_counts_add_up_in_summary_and_session_file(tmp_path, recordings_dir, capsys, noc):
    rec = recordings_dir / "TC89_DIV15_A.nexTimestamps"
    out = tmp_path / "s.nix"
    assert main(["replay", str(rec), *REPLAY, *noc, "--out", str(out), "--json"]) == 0
    s = _json(capsys)
    r = s["routing"]
    _adds_up(r)
    assert r["routes"] == 128 and r["packets"] > 1000 and r["routed_merged"] > 0
    if noc:  # one packet per link and cycle, FIFOs of 2: packets wait and are dropped, counted
        assert r["congestion_delayed"] > 0 and r["dropped_congestion"] > 0 and r["congestion_delay_cycles"] > 0
    else:
        assert r["congestion_delayed"] == r["dropped_congestion"] == r["congestion_delay_cycles"] == 0
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    f = read_session(out)
    assert f.summary["routing"] == r
    assert f.meta["backend"]["noc"]["link_capacity"] == (1 if noc else None)
    # the text summary says the same
    assert main(["replay", str(rec), *REPLAY, *noc, "--out", str(tmp_path / "t.nix")]) == 0
    assert main(["inspect", str(out), "--no-plot"]) == 0  # and so does inspect, from the session file
    text = capsys.readouterr().out
    assert text.count(f"NoC packets    {r['packets']} sent") == 2
    assert (f"NoC packets    {r['packets']} sent = {r['routed']} routed + {r['dropped_congestion']} dropped "
            f"(congestion) + {r['in_flight']} in flight at the end") in text


class CountingRestores(ChipBackend):
    """The chip model, counting the runner's rollbacks (the test must exercise them)."""

    name = "chip-counting"
    restores = 0

    def restore(self, state):
        type(self).restores += 1
        super().restore(state)


@pytest.mark.parametrize("noc", [None, NocConfig(link_capacity=1, queue_depth=1, hop_cycles=1)],
                         ids=["unlimited", "finite-links"])
def test_rollbacks_count_no_packet_twice(noc):
    culture = synthetic_culture(n_electrodes=32, duration=4.0, seed=3)
    # frequent stimulation and long blanking: chunks are rolled back and run again
    opts = SessionOptions(network="recurrent:3", n_clusters=4, allow_shared_rows=True, noc=noc, blanking=5e-3,
                          stimulator=StimulatorConfig(min_interval=2e-3, rate_cap=2000))
    logs, arrays = {}, {}
    for how in ("optimistic", "stepped", "tiny-chunks"):
        parts = build(culture, opts)
        inner = parts.backend
        if how == "optimistic":
            backend = CountingRestores(inner.config, n_clusters=inner.n_clusters, seed=inner.seed,
                                       mismatch=inner.mismatch, noc=inner.noc)
            backend.program(parts.program)
            CountingRestores.restores = 0
        else:
            backend = OneCycleAtATime(inner) if how == "stepped" else inner
        log = SessionLog(culture.labels, opts.gclk_hz, inner.n_clusters, parts.meta)
        replay(culture, encoder=parts.encoder, backend=backend, stimulator=parts.stimulator, log=log,
               pacing=Pacing(chunk_s=0.003 if how == "tiny-chunks" else 5.0))
        logs[how] = log.summary()
        arrays[how] = [log.array(g, n) for g, n in (("fire", "cycles"), ("fire", "cluster"), ("fire", "dend"),
                                                    ("stim", "times"), ("stim", "electrode"))]
    assert CountingRestores.restores > 0, "the test must exercise rollbacks"
    assert logs["optimistic"]["dropped"]["blanked"] > 0
    r = logs["optimistic"]["routing"]
    _adds_up(r)
    assert r["packets"] > 0 and (noc is None or r["dropped_congestion"] > 0)
    for how in ("stepped", "tiny-chunks"):
        assert logs[how]["routing"] == r, how
        assert {k: v for k, v in logs[how].items() if k not in ("wall_s", "realtime_factor")} == \
            {k: v for k, v in logs["optimistic"].items() if k not in ("wall_s", "realtime_factor")}, how
        for a, b in zip(arrays[how], arrays["optimistic"], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=how)


def test_live_session_reports_the_routing_counts(tmp_path, capsys):
    # the closed loop on the virtual culture's clock: packets land while no spike arrives too
    out = tmp_path / "v.nix"
    assert main(["replay", "--culture", "virtual", "--duration", "3", "--network", "recurrent:3", "--clusters", "4",
                 "--allow-shared-rows", "--amplitude-ua", "3", "--phase-width-us", "1000", "--out", str(out),
                 "--json", "--quiet"]) == 0
    s = _json(capsys)
    _adds_up(s["routing"])
    assert s["routing"]["packets"] > 0
    assert s["fires"] == s["stimulations"] + sum(s["refused"].values())
    assert read_session(out).summary["routing"] == s["routing"]


class Scripted(LiveSource):
    """A live source on a scripted clock (our own ABC): chunk i arrives at ``arrive[i]``."""

    name = "scripted-noc"
    labels = ("a", "b", "c", "d")

    def __init__(self, chunks, arrive):
        self.chunks, self.arrive, self.now = list(chunks), list(arrive), arrive[0]

    def clock(self):
        return self.now

    def read_chunk(self, timeout=0.0):
        if not self.chunks:
            return None
        self.now = self.arrive.pop(0)
        return self.chunks.pop(0)


def test_live_packets_that_land_while_no_spike_arrives_are_stimulated_and_counted():
    # one spike on electrode a at 10.1 ms, sampled at the edge of cycle 11: (0, 0) fires then; its
    # packet reaches cluster 1 1 + 10 cycles later and cluster 2 11 more, while the loop is idle
    # (empty chunks)
    t0 = 100.0
    opts = SessionOptions(network="chain:3", mismatch=False, mesh=(1, 3), noc=NocConfig(hop_cycles=10))
    parts = assemble(Scripted.labels, t0, t0 + 0.2, opts)
    log = SessionLog(Scripted.labels, 1e3, parts.backend.n_clusters, parts.meta)

    def chunk(times, chans):
        return SpikeEvents(np.asarray(times, float), np.asarray(chans, np.int64), Scripted.labels, t0, t0 + 0.2)

    chunks = [chunk([t0 + 0.0101], [0])] + [chunk([], []) for _ in range(5)]
    src = Scripted(chunks, [t0 + 0.011, t0 + 0.02, t0 + 0.03, t0 + 0.04, t0 + 0.06, t0 + 0.1])
    LiveLoop(parts, log, clock=src.clock, timing=LiveTiming(hold=2e-3, budget=5e-3)).run(src)
    s = log.summary()
    f = log.fire_events
    assert list(zip(f.cycles.tolist(), f.cluster.tolist(), strict=True)) == [(11, 0), (22, 1), (33, 2)]
    assert s["fires"] == 3 and s["stimulations"] == 1 and s["refused"]["unmapped"] == 2  # internal clusters
    assert s["routing"] | {"routes": 0} == {"routes": 0, "packets": 2, "routed": 2, "routed_merged": 0,
                                             "congestion_delayed": 0, "congestion_delay_cycles": 0,
                                             "dropped_congestion": 0, "in_flight": 0}


@pytest.mark.parametrize("args, needle", [
    (["--noc-base-cycles", "0"], "--noc-base-cycles = 0 is outside the valid range [1, 10000]"),
    (["--noc-hop-cycles", "-1"], "--noc-hop-cycles = -1 is outside the valid range [0, 10000]"),
    (["--noc-link-capacity", "0"], "--noc-link-capacity = 0 is outside the valid range [1, 1e+06]"),
    (["--noc-link-capacity", "2", "--noc-queue-depth", "-3"], "--noc-queue-depth = -3 is outside"),
    (["--noc-queue-depth", "3"], "--noc-queue-depth applies with --noc-link-capacity"),
    (["--noc-hop-cycles", "two"], "argument --noc-hop-cycles: invalid int value: 'two'"),
])
@pytest.mark.parametrize("verb", ["replay", "demo", "compare", "chip"])
def test_bad_noc_options_are_one_line_exit_2(tmp_path, recordings_dir, capsys, verb, args, needle):
    head = {"replay": ["replay", str(recordings_dir / "TC89_DIV15_A.nexTimestamps"), "--stop", "1", "--quiet",
                       "--out", str(tmp_path / "s.nix"), "--network", "recurrent:3", "--allow-shared-rows"],
            "demo": ["demo", "--duration", "1", "--out", str(tmp_path / "d"), "--quiet"],
            "compare": ["compare", "--poisson", "5", "--duration", "0.1"],
            "chip": ["chip", "info"]}[verb]
    assert main([*head, *args]) == 2
    assert needle in _one_line_error(capsys)


def test_live_verb_has_the_noc_options(capsys):
    with pytest.raises(SystemExit):
        main(["live", "--help"])
    text = capsys.readouterr().out
    assert all(o in text for o in ("--noc-base-cycles", "--noc-hop-cycles", "--noc-link-capacity",
                                   "--noc-queue-depth", "--mesh", "--clusters"))


def test_noc_latency_reaches_the_session(tmp_path):
    # one spike on electrode 4 at 10 ms: (0, 4) fires in cycle 10, its packet crosses one hop to
    # cluster 1 and on to cluster 2, each hop base 2 + hop 5 = 7 cycles later
    ev = SpikeEvents([0.010], [4], tuple(f"e{i}" for i in range(16)), 0.0, 0.2)
    opts = SessionOptions(network="chain:3", mismatch=False, mesh=(1, 3), noc=NocConfig(base_cycles=2, hop_cycles=5))
    s = run_replay(ev, opts, tmp_path / "s.nix")
    f = read_session(tmp_path / "s.nix")
    assert list(zip(f.fires.cycles.tolist(), f.fires.cluster.tolist(), strict=True)) == [(10, 0), (17, 1), (24, 2)]
    assert s["routing"] == {"routes": 32, "packets": 2, "routed": 2, "routed_merged": 0, "congestion_delayed": 0,
                            "congestion_delay_cycles": 0, "dropped_congestion": 0, "in_flight": 0}
    assert f.meta["backend"]["noc"] == {"mesh": [1, 3], "base_cycles": 2, "hop_cycles": 5, "link_capacity": None,
                                        "queue_depth": 16}


def test_the_journal_keeps_the_routing_counts(tmp_path, monkeypatch):
    # many chunks journaled as one record: their counts are summed, the in-flight level is the last
    import bioloop.session.log as log_mod
    from bioloop.session import JournalWriter, read_journal

    monkeypatch.setattr(log_mod, "JOURNAL_BATCH_S", 60.0)
    monkeypatch.setattr(log_mod, "JOURNAL_BATCH_CHUNKS", 1000)
    culture = synthetic_culture(n_electrodes=32, duration=3.0, seed=3)
    opts = SessionOptions(network="recurrent:3", n_clusters=4, allow_shared_rows=True, mesh=(1, 4),
                          noc=NocConfig(link_capacity=1, queue_depth=1, hop_cycles=40))
    parts = build(culture, opts)
    path = tmp_path / "s.journal"
    with JournalWriter(path) as journal:
        log = SessionLog(culture.labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta, journal)
        replay(culture, encoder=parts.encoder, backend=parts.backend, stimulator=parts.stimulator, log=log,
               pacing=Pacing(chunk_s=0.05))
    r = log.summary()["routing"]
    _adds_up(r)
    assert r["dropped_congestion"] > 0 and r["in_flight"] > 0
    records = read_journal(path).records
    assert sum(rec.kind == "chunk" for rec in records) == 1  # all 60 chunks in one batch
    assert SessionLog.from_records(records).summary()["routing"] == r


def test_compare_runs_both_sides_on_the_same_routes(recordings_dir, capsys):
    rec = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"  # 28 electrodes: 2 clusters, 2 more internal
    assert main(["compare", str(rec), "--duration", "1", "--network", "recurrent:3", "--clusters", "4",
                 "--mesh", "2x2", "--noc-hop-cycles", "2", "--json"]) == 0
    s = _json(capsys)
    assert s["n_clusters"] == 4 and s["routes"] == 128
    assert s["noc"] == {"mesh": [2, 2], "base_cycles": 1, "hop_cycles": 2, "link_capacity": None, "queue_depth": 16}
    assert s["verdict"] == "agree" and s["spike_exact"] is True
    assert s["counts"]["chip"]["fires"] > 0 and s["counts"]["chip"]["routed"] > 0
    assert s["counts"]["chip"] == s["counts"]["reference"]  # routed and merged packets too


def test_compare_refusals_are_one_line(recordings_dir, capsys):
    rec = recordings_dir / "hiPSN_tc65_d27_spikes6sd.h5"
    assert main(["compare", "--poisson", "20", "--duration", "0.1", "--network", "recurrent:3", "--clusters", "4",
                 "--noc-link-capacity", "2"]) == 2
    assert "the chip-equivalent reference models links of unlimited capacity only; got link_capacity = 2 " \
           "(--noc-link-capacity)" in _one_line_error(capsys)
    assert main(["compare", str(rec), "--duration", "1", "--clusters", "1"]) == 2
    assert "--clusters 1 is fewer than the 2 clusters the electrodes need" in _one_line_error(capsys)
    assert main(["compare", "--poisson", "5", "--duration", "0.1", "--network", "chain:3", "--mesh", "1x2"]) == 2
    assert "mesh 1x2 holds 2 clusters but the chip has 3" in _one_line_error(capsys)


def test_chip_info_shows_the_noc_settings(capsys):
    assert main(["chip", "info", "--clusters", "16", "--json"]) == 0
    s = _json(capsys)
    assert s["system"]["noc"] == {"mesh": [4, 4], "base_cycles": 1, "hop_cycles": 0, "link_capacity": None,
                                  "queue_depth": 16}
    assert main(["chip", "info", "--clusters", "16", "--mesh", "2x8", "--noc-hop-cycles", "2",
                 "--noc-link-capacity", "1", "--noc-queue-depth", "4", "--json"]) == 0
    s = _json(capsys)["system"]
    assert s["noc"] == {"mesh": [2, 8], "base_cycles": 1, "hop_cycles": 2, "link_capacity": 1, "queue_depth": 4}
    assert s["max_latency_cycles"] == 1 + (1 + 7) * 2
    assert main(["chip", "info", "--clusters", "16", "--noc-link-capacity", "1", "--noc-queue-depth", "4"]) == 0
    text = capsys.readouterr().out
    assert "NoC settings: latency 1 cycle + 0 per hop; links carry 1 packet per cycle, FIFO of 4" in text
