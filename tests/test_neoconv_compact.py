"""The compact layout of chip activity (one signal with cycle/cluster/index columns) round-trips."""

import numpy as np

from bioloop import neoconv
from bioloop.types import AxonFrames, FireEvents


def test_compact_axon_and_fire_signals_round_trip_through_nix(rng, tmp_path):
    from neo import Block, Segment
    from neo.io import NixIO

    n = 500
    cyc = np.sort(rng.integers(0, 10**9, n))  # beyond 2^24: float32 would lose cycles
    fr = AxonFrames(cyc, rng.integers(0, 4, n), rng.integers(0, 16, n), 50e3)
    fe = FireEvents(cyc, rng.integers(0, 4, n), rng.integers(0, 16, n), 50e3)
    seg = Segment()
    seg.irregularlysampledsignals.extend(neoconv.axon_frames_to_neo(fr, 4, compact=True))
    seg.irregularlysampledsignals.extend(neoconv.fire_events_to_neo(fe, 4, compact=True))
    blk = Block()
    blk.segments.append(seg)
    with NixIO(str(tmp_path / "c.nix"), mode="ow") as io:
        io.write_block(blk)
    with NixIO(str(tmp_path / "c.nix"), mode="ro") as io:
        back = io.read_block()
    fr2 = neoconv.axon_frames_from_neo(back)
    fe2 = neoconv.fire_events_from_neo(back)
    order = np.lexsort((fr.axon, fr.cluster, fr.cycles))
    np.testing.assert_array_equal(fr2.cycles, fr.cycles[order])
    np.testing.assert_array_equal(fr2.cluster, fr.cluster[order])
    np.testing.assert_array_equal(fr2.axon, fr.axon[order])
    order = np.lexsort((fe.dend, fe.cluster, fe.cycles))
    np.testing.assert_array_equal(fe2.dend, fe.dend[order])
    assert fe2.gclk_hz == 50e3


def test_table_signal_round_trip():
    t = np.array([0.1, 0.2])
    sig = neoconv.table_to_signal(t, {"a": [1, 2], "b": [3.5, -1]}, name="x", kind="k")
    t2, cols = neoconv.table_from_signal(sig)
    np.testing.assert_array_equal(t2, t)
    assert cols["a"].tolist() == [1, 2] and cols["b"].tolist() == [3.5, -1]


def test_compact_signals_come_in_cycle_cluster_index_order_sorted_or_not(rng):
    # a session's events arrive sorted (then nothing is sorted again); events sorted in time
    # only (as AxonFrames and FireEvents must be) are sorted by cluster and index within a cycle
    for _ in range(100):
        n = int(rng.integers(0, 30))
        cyc = np.sort(rng.integers(0, 3, n))
        cl, ix = rng.integers(0, 3, n), rng.integers(0, 3, n)
        order = np.lexsort((ix, cl, cyc))
        for c, k, i in ((cyc, cl, ix), (cyc[order], cl[order], ix[order])):
            for events, make, name in ((AxonFrames(c, k, i, 1e3), neoconv.axon_frames_to_neo, "axon"),
                                       (FireEvents(c, k, i, 1e3), neoconv.fire_events_to_neo, "dend")):
                sig, = make(events, 3, compact=True)
                _, cols = neoconv.table_from_signal(sig)
                np.testing.assert_array_equal(cols["cycle"], cyc[order])
                np.testing.assert_array_equal(cols["cluster"], cl[order])
                np.testing.assert_array_equal(cols[name], ix[order])
