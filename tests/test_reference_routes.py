"""The Brian2 chip-equivalent with routes between clusters: spike-exact against the chip model
(mismatch off) on random recurrent networks and random routes, packets in flight carried
across evolve calls."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioloop.backends.chip import ChipBackend
from bioloop.chip import ChipConfig, NocConfig, Routes
from bioloop.networks import ring
from bioloop.reference_models.chip_equivalent import ChipEquivalentBackend
from bioloop.reference_models.ideal_lif import IdealLIFBackend
from bioloop.types import AxonFrames, ChipProgram

pytestmark = pytest.mark.reference


def both(prog, noc, cfg=None):
    cfg = cfg or ChipConfig(lateral_neighbours=prog.lateral_neighbours)
    chip = ChipBackend(cfg, n_clusters=prog.n_clusters, mismatch=False, noc=noc)
    ref = ChipEquivalentBackend(cfg, n_clusters=prog.n_clusters, noc=noc)
    chip.program(prog)
    ref.program(prog)
    return chip, ref


def split(frames, at):
    m = frames.cycles < at
    return (AxonFrames(frames.cycles[m], frames.cluster[m], frames.axon[m], frames.gclk_hz),
            AxonFrames(frames.cycles[~m], frames.cluster[~m], frames.axon[~m], frames.gclk_hz))


def fires_of(step):
    return list(zip(step.fires.cycles.tolist(), step.fires.cluster.tolist(), step.fires.dend.tolist(),
                    strict=True))


@settings(max_examples=6, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_clusters=st.integers(1, 4), n_routes=st.integers(1, 48),
       base=st.integers(1, 3), hop=st.integers(0, 2), lateral=st.sampled_from([(), (-1, 1)]),
       density=st.sampled_from([0.02, 0.08]), n_cycles=st.integers(40, 160))
def test_same_spikes_as_chip_with_random_routes(seed, n_clusters, n_routes, base, hop, lateral, density,
                                                n_cycles):
    rng = np.random.default_rng(seed)
    C = n_clusters
    w = np.clip(rng.integers(0, 8, (C, 16, 16)) + 1, 0, 7)
    r = rng.integers(0, 5, (C, 16))
    ref = rng.integers(0, 4, C)
    gen = np.minimum(ref + rng.integers(1, 5, C), 7)
    pairs = {((int(rng.integers(C)), int(rng.integers(16))), (int(rng.integers(C)), int(rng.integers(16))))
             for _ in range(n_routes)}
    prog = ChipProgram(w, r, gen, ref, lateral, "random routes", Routes.from_pairs(sorted(pairs)))
    chip, twin = both(prog, NocConfig(base_cycles=base, hop_cycles=hop))
    axons = rng.random((n_cycles, C, 16)) < density
    first, second = split(AxonFrames.from_dense(axons, 1e3), n_cycles // 2)
    for part, until in ((first, n_cycles // 2), (second, n_cycles)):
        a, b = chip.evolve(part, until), twin.evolve(part, until)
        assert fires_of(a) == fires_of(b)
        assert (a.axon_pulses, a.merged, a.ignored_refractory, a.routed, a.routed_merged) == \
            (b.axon_pulses, b.merged, b.ignored_refractory, b.routed, b.routed_merged)


def test_a_ring_keeps_circling_in_both():
    # 3 clusters on a 1x3 mesh, 3 cycles per hop: a lap is (1+3) + (1+3) + (1+6) = 15 cycles, more
    # than the 13 a relay neuron needs to recover from its FIRE, so the spike circles for ever
    prog = ring(3)
    chip, twin = both(prog, NocConfig(mesh=(1, 3), hop_cycles=3))
    frames = AxonFrames([0], [0], [5], 1e3)
    a, b = chip.evolve(frames, 200), twin.evolve(frames, 200)
    assert fires_of(a) == fires_of(b)
    assert len(a.fires) > 3 * 10 and set(a.fires.dend.tolist()) == {5}
    assert a.routed == b.routed == len(a.fires) - 1  # every FIRE but the first was a packet


def test_references_without_routes_and_finite_links_are_refused():
    prog = ring(2)
    with pytest.raises(ValueError, match="unlimited capacity only"):
        both(prog, NocConfig(link_capacity=2))
    lif = IdealLIFBackend(ChipConfig(), n_clusters=2)
    with pytest.raises(ValueError, match="does not model routes"):
        lif.program(prog)
