"""Routing between clusters (docs/chip-semantics.md, "Routing between clusters"): the table, the
mesh, both engine paths against each other and against a plain-Python reading of the page."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioloop.chip import Chip, ChipConfig, NocConfig, Routes
from bioloop.types import AxonFrames, ChipProgram
from tests.test_chip_paths import reference_run

RELAY_W = np.full((16, 16), 2)
np.fill_diagonal(RELAY_W, 7)


def relay_chip(C, routes, noc=None, cfg=None, mismatch=False, seed=0):
    chip = Chip(cfg or ChipConfig(lateral_neighbours=()), n_clusters=C, mismatch=mismatch, seed=seed, noc=noc)
    chip.program(RELAY_W, np.full(16, 2), 7, 2, routes=routes)
    return chip


def random_routes(rng, C, n_routes):
    pairs = {((int(rng.integers(C)), int(rng.integers(16))), (int(rng.integers(C)), int(rng.integers(16))))
             for _ in range(n_routes)}
    return Routes.from_pairs(sorted(pairs))


def fire_tuples(f):
    return list(zip(f.cycles.tolist(), f.cluster.tolist(), f.dend.tolist(), strict=True))


# ---- the table and the mesh ------------------------------------------------------------------

def test_routes_are_validated_and_immutable():
    r = Routes.from_pairs([((0, 15), (3, 0)), ((0, 15), (1, 2))])
    assert r.pairs() == [((0, 15), (3, 0)), ((0, 15), (1, 2))]
    with pytest.raises(ValueError):
        r.dst_axon[0] = 1
    assert r == Routes.from_pairs(r.pairs()) and r != Routes()
    with pytest.raises(ValueError, match=r"dst_axon = 16 is outside the valid range 0..15"):
        Routes.from_pairs([((0, 0), (1, 16))])
    with pytest.raises(ValueError, match=r"src_dend = -1"):
        Routes.from_pairs([((0, -1), (1, 0))])
    with pytest.raises(ValueError, match="same route"):
        Routes.from_pairs([((0, 1), (1, 0)), ((0, 1), (1, 0))])
    with pytest.raises(ValueError, match="equal lengths"):
        Routes([0, 1], [0, 0], [1], [0])
    with pytest.raises(TypeError, match="integers"):
        Routes([0.5], [0], [1], [0])
    with pytest.raises(ValueError, match=r"route pair 0 is"):
        Routes.from_pairs([(0, 1, 2, 3)])
    with pytest.raises(ValueError, match=r"dst_cluster = 4 does not exist; this chip has clusters 0..3"):
        Routes.from_pairs([((0, 0), (4, 0))]).check(4)


def test_noc_config_checks_its_values():
    assert NocConfig().resolve(5).mesh == (2, 3)
    with pytest.raises(ValueError, match=r"mesh 2x2 holds 4 clusters but the chip has 5"):
        NocConfig(mesh=(2, 2)).resolve(5)
    with pytest.raises(ValueError, match=r"mesh 2x2 holds 4 clusters but the chip has 5"):
        Chip(n_clusters=5, noc=NocConfig(mesh=(2, 2)))
    with pytest.raises(ValueError, match=r"hop_cycles = -1 is outside the valid range \[0, "):
        NocConfig(hop_cycles=-1)
    with pytest.raises(ValueError, match=r"base_cycles = 0 is outside the valid range \[1, "):
        NocConfig(base_cycles=0)
    with pytest.raises(ValueError, match=r"link_capacity = 0 is outside the valid range \[1, "):
        NocConfig(link_capacity=0)
    with pytest.raises(ValueError, match="queue_depth"):
        NocConfig(queue_depth=-2)
    with pytest.raises(ValueError, match="ROWSxCOLS"):
        NocConfig(mesh="4by4")
    noc = NocConfig(mesh=(4, 4), base_cycles=2, hop_cycles=3)
    assert noc.hops(0, 15) == 6 and noc.latency(0, 15) == 2 + 6 * 3 and noc.latency(5, 5) == 2


def test_program_refuses_routes_to_missing_clusters():
    chip = Chip(n_clusters=2, mismatch=False)
    with pytest.raises(ValueError, match=r"dst_cluster = 2 does not exist"):
        chip.program(RELAY_W, np.full(16, 2), 7, 2, routes=Routes.from_pairs([((0, 0), (2, 0))]))
    with pytest.raises(TypeError, match="Routes"):
        chip.program(RELAY_W, np.full(16, 2), 7, 2, routes=[((0, 0), (1, 0))])
    w = np.broadcast_to(RELAY_W, (2, 16, 16))
    with pytest.raises(ValueError, match=r"src_cluster = 3 does not exist"):
        ChipProgram(w, np.full((2, 16), 2), np.full(2, 7), np.full(2, 2), (), "x",
                    Routes.from_pairs([((3, 0), (0, 0))]))


# ---- timing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("base, hop", [(1, 0), (1, 1), (3, 2)])
def test_a_spike_travels_a_chain_with_the_mesh_latency(base, hop):
    C = 6
    noc = NocConfig(mesh=(2, 3), base_cycles=base, hop_cycles=hop)
    routes = Routes.from_pairs([((c, 4), (c + 1, 4)) for c in range(C - 1)])
    chip = relay_chip(C, routes, noc)
    ax = np.zeros((60, C, 16), bool)
    ax[0, 0, 4] = True
    r = chip.run(ax)
    t, c, n = np.nonzero(r.fires)
    assert c.tolist() == list(range(C)) and set(n.tolist()) == {4}
    expected = np.cumsum([0] + [noc.latency(a, a + 1) for a in range(C - 1)])
    assert t.tolist() == expected.tolist()
    assert (r.packets, r.routed, r.in_flight) == (C - 1, C - 1, 0)


def test_electrode_and_packet_in_one_cycle_are_one_pulse_counted_as_merged():
    routes = Routes.from_pairs([((0, 0), (1, 0)), ((0, 1), (1, 0))])
    chip = relay_chip(2, routes)
    ax = np.zeros((3, 2, 16), bool)
    ax[0, 0, :2] = True  # two packets onto (1, 0) in cycle 1 ...
    ax[1, 1, 0] = True  # ... and the electrode of that row
    r = chip.run(ax)
    assert (r.packets, r.routed, r.routed_merged) == (2, 2, 2)
    assert r.fires[1, 1, 0] and r.fires.sum() == 3


def test_a_loop_onto_itself_runs_and_power_cycle_keeps_the_routes():
    routes = Routes.from_pairs([((0, 3), (0, 3))])  # a neuron re-excites itself
    chip = relay_chip(1, routes, NocConfig(base_cycles=13))
    ax = np.zeros((200, 1, 16), bool)
    ax[0, 0, 3] = True
    fires = chip.run(ax).fires[:, 0, 3]
    period = np.diff(np.flatnonzero(fires))
    assert period.size > 5 and set(period.tolist()) == {13}  # V_RFR + 13 leak pulses: V_REST
    chip.power_cycle()
    assert chip.routes == routes and chip.cycle == 0
    assert np.array_equal(chip.run(ax).fires[:, 0, 3], fires)


# ---- both paths, and the page -------------------------------------------------------------------

def reference_routed(chip: Chip, axons: np.ndarray):
    """The page as plain Python (unlimited links): cycle by cycle, rows = input OR packets
    delivered in that cycle, each FIRE one packet per route, due ``latency`` cycles later."""
    T, C, _ = axons.shape
    routes, noc = chip.routes, chip.noc
    due = np.zeros((T + 1, C, 16), bool)
    fires = np.zeros((T, C, 16), bool)
    state = None
    for t in range(T):
        rows = axons[t] | due[t]
        f, _, _, state = reference_run(chip, rows[None], state)
        fires[t] = f[0]
        for a, n, b, k in zip(routes.src_cluster, routes.src_dend, routes.dst_cluster, routes.dst_axon,
                              strict=True):
            if f[0, a, n]:
                tt = t + noc.latency(int(a), int(b))
                if tt < T:
                    due[tt, b, k] = True
    return fires


recurrent = st.fixed_dictionaries({
    "seed": st.integers(0, 2**31 - 1),
    "n_clusters": st.integers(1, 5),
    "n_routes": st.integers(0, 60),
    "base": st.integers(1, 3),
    "hop": st.integers(0, 2),
    "mismatch": st.booleans(),
    "lateral": st.sampled_from([(), (-1, 1)]),
    "capacity": st.sampled_from([None, None, 1, 2]),
    "depth": st.integers(0, 3),
})


def build_recurrent(case):
    rng = np.random.default_rng(case["seed"])
    C = case["n_clusters"]
    cfg = ChipConfig(lateral_neighbours=case["lateral"])
    w = np.clip(rng.integers(0, 8, (C, 16, 16)) + 2, 0, 7)
    refs = rng.integers(0, 4, (C, 16))
    tr = rng.integers(0, 3, C)
    tg = np.minimum(tr + rng.integers(1, 5, C), 7)
    routes = random_routes(rng, C, case["n_routes"])
    noc = NocConfig(base_cycles=case["base"], hop_cycles=case["hop"], link_capacity=case["capacity"],
                    queue_depth=case["depth"])

    def build():
        chip = Chip(cfg, n_clusters=C, seed=case["seed"] % 1000, mismatch=case["mismatch"], noc=noc)
        chip.program(w, refs, tg, tr, routes=routes)
        return chip

    return build, rng


@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=recurrent, n_cycles=st.integers(1, 200), density=st.floats(0.0, 0.2), split=st.integers(0, 200))
def test_dense_and_event_paths_give_identical_spikes_with_routes(case, n_cycles, density, split):
    build, rng = build_recurrent(case)
    dense, event = build(), build()
    C = dense.n_clusters
    axons = rng.random((n_cycles, C, 16)) < density
    axons[rng.random((n_cycles, C)) < 0.6] = False
    rd = dense.run(axons)
    # the event path in two calls: packets in flight at the split carry over
    s = min(split, n_cycles)
    frames = AxonFrames.from_dense(axons, 1e3)
    first = frames.cycles < s
    e1 = event.run_events(AxonFrames(frames.cycles[first], frames.cluster[first], frames.axon[first], 1e3), until=s)
    e2 = event.run_events(AxonFrames(frames.cycles[~first], frames.cluster[~first], frames.axon[~first], 1e3),
                          until=n_cycles)
    got = fire_tuples(e1.fires) + fire_tuples(e2.fires)
    assert got == fire_tuples(rd.fire_events(1e3))
    for name in ("packets", "routed", "routed_merged", "congestion_delayed", "dropped_congestion"):
        assert getattr(e1, name) + getattr(e2, name) == getattr(rd, name), name
    assert e2.in_flight == rd.in_flight
    # nothing disappears: every packet is delivered, dropped, or still in flight
    assert rd.packets == rd.routed + rd.dropped_congestion + rd.in_flight
    assert e1.ignored_refractory + e2.ignored_refractory == rd.ignored_refractory
    if case["capacity"] is None and not case["mismatch"]:
        assert np.array_equal(rd.fires, reference_routed(build(), axons))


def test_state_rollback_includes_packets_in_flight(rng):
    case = {"seed": 5, "n_clusters": 4, "n_routes": 60, "base": 2, "hop": 2, "mismatch": True,
            "lateral": (), "capacity": 1, "depth": 2}
    build, _ = build_recurrent(case)
    chip = build()
    axons = rng.random((300, 4, 16)) < 0.1
    chip.run(axons[:150])
    state = chip.get_state()
    a = chip.run(axons[150:])
    chip.set_state(state)
    b = chip.run(axons[150:])
    assert np.array_equal(a.fires, b.fires) and a.routed == b.routed and a.routed > 0


def test_finite_links_delay_then_drop_and_count_it():
    # 16 dends of cluster 0 fire together; all 16 packets cross the one link 0 -> 1
    routes = Routes.from_pairs([((0, n), (1, n)) for n in range(16)])
    noc = NocConfig(mesh=(1, 2), link_capacity=2, queue_depth=4)
    chip = relay_chip(2, routes, noc)
    ax = np.zeros((20, 2, 16), bool)
    ax[0, 0, :] = True
    r = chip.run(ax)
    # cycle 0: 2 cross, 4 wait, 10 are dropped; the 4 cross in cycles 1 and 2
    assert (r.packets, r.routed, r.congestion_delayed, r.dropped_congestion) == (16, 6, 4, 10)
    assert r.congestion_delay_cycles == 1 + 1 + 2 + 2
    t, n = np.nonzero(r.fires[:, 1])
    assert t.tolist() == [1, 1, 2, 2, 3, 3] and n.tolist() == [0, 1, 2, 3, 4, 5]
    e = relay_chip(2, routes, noc).run_events(AxonFrames.from_dense(ax, 1e3), until=20)
    assert fire_tuples(e.fires) == fire_tuples(r.fire_events(1e3)) and e.dropped_congestion == 10


def test_routes_survive_save_and_load_and_are_checked(tmp_path):
    routes = Routes.from_pairs([((0, 1), (2, 3)), ((2, 3), (0, 1))])
    chip = relay_chip(3, routes)
    path = tmp_path / "img.npz"
    chip.save_image(path)
    other = Chip(ChipConfig(lateral_neighbours=()), n_clusters=3, mismatch=False)
    other.load_image(path)
    assert other.routes == routes
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["route_dst_axon"] = np.array([3, 2])
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ValueError, match="checksum mismatch"):
        other.load_image(tmp_path / "tampered.npz")
    from bioloop.chip.chip import _digest

    arrays["route_dst_cluster"] = np.array([5, 0])
    cells = {k: v for k, v in arrays.items()
             if k in ("syn_bits", "psp_bits", "thg_bits", "thr_bits") or k.startswith("route_")}
    arrays["sha256"] = np.array(_digest(cells))
    np.savez(tmp_path / "far.npz", **arrays)
    with pytest.raises(ValueError, match=r"bad routing table: .*dst_cluster = 5 does not exist"):
        other.load_image(tmp_path / "far.npz")
    assert other.routes == routes  # the old image stays


# ---- networks with routes -----------------------------------------------------------------------

def test_chain_ring_recurrent_networks():
    from bioloop.networks import network_from_name

    c = network_from_name("chain:4", 4)
    assert len(c.routes) == 48 and ((2, 9), (3, 9)) in c.routes.pairs() and c.name == "chain:4"
    r = network_from_name("ring:3", 5)  # two clusters past the ring: plain relays
    assert r.n_clusters == 5 and ((2, 0), (0, 0)) in r.routes.pairs()
    assert set(r.routes.src_cluster.tolist()) == {0, 1, 2}
    a, b = network_from_name("recurrent:7", 3), network_from_name("recurrent", 3, seed=7)
    assert a.routes == b.routes and len(a.routes) == 3 * 16 * 2 and a.name == "recurrent:7"
    assert np.array_equal(a.weights, b.weights) and (a.theta == 7).all()
    src = a.routes.src_cluster * 16 + a.routes.src_dend
    assert np.array_equal(np.bincount(src), np.full(48, 2))  # every dend sends twice
    with pytest.raises(ValueError, match=r"chain:4 needs at least 4 clusters, got n_clusters = 2"):
        network_from_name("chain:4", 2)
    for bad in ("chain", "ring:0", "chain:x"):
        with pytest.raises(ValueError, match=r"needs a length"):
            network_from_name(bad, 4)
    with pytest.raises(ValueError, match="recurrent parameter must be"):
        network_from_name("recurrent:-1", 2)


@pytest.mark.parametrize("suffix", [".npz", ".toml"])
def test_network_files_hold_routes(tmp_path, suffix):
    from bioloop.networks import load_network, ring, save_network

    prog = ring(3)
    path = tmp_path / f"net{suffix}"
    save_network(prog, path)
    back = load_network(path, 3)
    assert back.routes == prog.routes and np.array_equal(back.weights, prog.weights)
    # one cluster in the file is copied to every cluster; its routes are checked against C
    p = tmp_path / "one.npz"
    np.savez(p, weights=prog.weights[0], psp_ref=prog.psp_ref[0], threshold_gen=prog.threshold_gen[0],
             threshold_ref=prog.threshold_ref[0], routes=np.array([[0, 0, 2, 0]]))
    assert load_network(p, 3).routes.pairs() == [((0, 0), (2, 0))]
    with pytest.raises(ValueError, match=r"one.npz.*dst_cluster = 2 does not exist; this chip has clusters 0..1"):
        load_network(p, 2)


def test_network_file_routes_of_the_wrong_shape_are_refused(tmp_path):
    from bioloop.networks import load_network

    p = tmp_path / "bad.npz"
    np.savez(p, weights=RELAY_W, psp_ref=np.full(16, 2), threshold_gen=7, threshold_ref=2,
             routes=np.array([[0, 0, 1]]))
    with pytest.raises(ValueError, match=r"routes has shape \(1, 3\); expected \(R, 4\)"):
        load_network(p, 2)
    t = tmp_path / "bad.toml"
    t.write_text("[network]\nroutes = [[0, 0, 1, 16]]\n[[network.cluster]]\n"
                 f"weights = {RELAY_W.tolist()}\npsp_ref = {[2] * 16}\nthreshold_gen = 7\nthreshold_ref = 2\n")
    with pytest.raises(ValueError, match=r"bad.toml.*dst_axon = 16 is outside the valid range 0..15"):
        load_network(t, 2)
    t.write_text(t.read_text().replace("[[0, 0, 1, 16]]", "[[0, 0], [1, 2, 3, 4]]"))
    with pytest.raises(ValueError, match=r"routes is not a rectangular|routes has shape"):
        load_network(t, 2)


def test_fifo_order_on_a_shared_link():
    """docs/chip-semantics.md, finite links: packets finishing a hop arrive before the cycle's
    new packets, the FIFO is served first, one packet per cycle on the link 1 -> 2."""
    routes = Routes.from_pairs([((0, 0), (2, 0)), ((1, 1), (2, 1)), ((1, 2), (2, 2))])
    noc = NocConfig(mesh=(1, 3), base_cycles=1, hop_cycles=1, link_capacity=1, queue_depth=2)
    ax = np.zeros((10, 3, 16), bool)
    ax[0, 0, 0] = True  # A: 0 -> 1 in cycle 0, at router 1 in cycle 1
    ax[1, 1, 1:3] = True  # B1, B2 sent from router 1 in cycle 1, behind A
    r = relay_chip(3, routes, noc).run(ax)
    t, n = np.nonzero(r.fires[:, 2])
    assert list(zip(t.tolist(), n.tolist(), strict=True)) == [(3, 0), (4, 1), (5, 2)]
    assert (r.congestion_delayed, r.congestion_delay_cycles, r.dropped_congestion) == (2, 3, 0)
    e = relay_chip(3, routes, noc).run_events(AxonFrames.from_dense(ax, 1e3), until=10)
    assert [(c, k, d) for c, k, d in fire_tuples(e.fires) if k == 2] == [(3, 2, 0), (4, 2, 1), (5, 2, 2)]


def test_a_version_1_image_loads_without_routes(tmp_path):
    from bioloop.chip.chip import _digest

    chip = relay_chip(2, Routes.from_pairs([((0, 0), (1, 0))]))
    chip.save_image(tmp_path / "v2.npz")
    with np.load(tmp_path / "v2.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if not k.startswith("route_")}
    cells = {k: arrays[k] for k in ("syn_bits", "psp_bits", "thg_bits", "thr_bits")}
    arrays.update(version=np.array(1), sha256=np.array(_digest(cells)))
    np.savez(tmp_path / "v1.npz", **arrays)
    chip.load_image(tmp_path / "v1.npz")
    assert len(chip.routes) == 0 and np.array_equal(chip.weights[0], RELAY_W)
