"""The chip's behaviour seen through the ``Backend`` interface, on every backend that claims to be
the chip: the chip model and the measurement board (its emulator, mismatch off).

One test body per behaviour, parametrized over the backends: the expected spikes come from the
spec's formulas (chip-model.md sections 2-3), so each backend is held to the spec, and the board
to the model's spikes. PSP step = (s / theta) (V_TH - V_CM_TWG) C_TWG / C_INT, leak step =
I_LEAK t_SWLEAK / C_INT.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioloop import registry
from bioloop.chip import ChipConfig
from bioloop.types import AxonFrames, ChipProgram

BACKENDS = {
    "chip": {},
    "board": {"board": "emulator://"},
}


@pytest.fixture(params=sorted(BACKENDS))
def make(request):
    """make(program, **config changes) -> a programmed backend at cycle 0 (mismatch off)."""
    opened = []

    def _make(program: ChipProgram, **changes):
        cls = registry.load("bioloop.backends", request.param)
        be = cls(ChipConfig(**changes), n_clusters=program.n_clusters, mismatch=False,
                 **BACKENDS[request.param])
        be.program(program)
        opened.append(be)
        return be

    yield _make
    for be in opened:
        if hasattr(be, "close"):
            be.close()


def frames(events, gclk=1e3):
    """AxonFrames of ``(cycle, cluster, row)`` triples."""
    ev = sorted(events)
    return AxonFrames([e[0] for e in ev], [e[1] for e in ev], [e[2] for e in ev], gclk)


def fired(step):
    return sorted(zip(step.fires.cycles.tolist(), step.fires.cluster.tolist(), step.fires.dend.tolist(),
                      strict=True))


def neutral(n_clusters=1, refs=2):
    """Every synapse w = r (s = 0); threshold gen 7, ref 2 (theta = 5)."""
    w = np.full((n_clusters, 16, 16), refs)
    return w, np.full((n_clusters, 16), refs), np.full(n_clusters, 7), np.full(n_clusters, 2)


def psp(cfg, s, theta):
    return s / theta * (cfg.v_th - cfg.v_cm_twg) * cfg.c_twg / cfg.c_int


# ---- Fig. 5C-E worked examples ---------------------------------------------------------------
def test_fig5_worked_examples(make):
    w, r, g, f = neutral()
    w[0, 0, 3] = 6  # 6 P + 1 AP against ref 2 P + 5 AP: +4 alpha
    w[0, 1, 3] = 0  # 7 AP: -2 alpha
    w[0, 2, 3] = 7  # +5 alpha = theta
    be = make(ChipProgram(w, r, g, f, ()))
    img = be.read_image()
    assert img.theta.tolist() == [5] and img.signed_weights[0, :3, 3].tolist() == [4, -2, 5]
    # +4 alone, -2 alone, both together (+2): no spike; +5 = theta: a spike
    step = be.evolve(frames([(0, 0, 0), (20, 0, 1), (40, 0, 0), (40, 0, 1), (60, 0, 2)]), until=70)
    assert fired(step) == [(60, 0, 3)]
    assert step.axon_pulses == 5 and step.merged == 0


# ---- a single stimulus from rest fires iff s >= theta ----------------------------------------
def test_single_stimulus_fires_iff_s_at_least_theta(make):
    thetas = np.arange(1, 8)
    row_refs = np.r_[np.arange(8), np.arange(8)]
    col_codes = np.tile(np.r_[np.arange(8), np.arange(8)], (16, 1))
    signed = col_codes - row_refs[:, None]
    C = thetas.size
    be = make(ChipProgram(np.broadcast_to(col_codes, (C, 16, 16)), np.broadcast_to(row_refs, (C, 16)),
                          np.full(C, 7), 7 - thetas, ()))
    got = np.zeros((C, 16, 16), bool)
    for k in range(16):
        be.reset()
        step = be.evolve(frames([(0, c, k) for c in range(C)]), until=1)
        got[step.fires.cluster, k, step.fires.dend] = True
    assert np.array_equal(got, signed[None] >= thetas[:, None, None])


# ---- leak: temporal summation with discrete leak steps ---------------------------------------
@pytest.mark.parametrize("gap", range(1, 11))
def test_two_subthreshold_stimuli_sum_unless_the_leak_ate_them(make, gap):
    w, r, g, f = neutral()
    w[0, 0, 5] = 5  # s = 3, theta = 5
    be = make(ChipProgram(w, r, g, f, ()))
    cfg = ChipConfig()
    step = be.evolve(frames([(0, 0, 0), (gap, 0, 0)]), until=gap + 5)
    v = cfg.v_rest + 2 * psp(cfg, 3, 5) - gap * cfg.leak_step  # no tie: 5 mV either side at most
    assert fired(step) == ([(gap, 0, 5)] if v >= cfg.v_th else [])


# ---- absolute and relative refractory ------------------------------------------------------
@pytest.mark.parametrize("n_abs", [0, 1, 2, 5])
def test_refractory_ignores_n_abs_cycles_then_restarts_from_v_rfr(make, n_abs):
    w, r, g, f = neutral()
    w[0, 0, 0] = 7  # s = theta = 5
    be = make(ChipProgram(w, r, g, f, ()), n_abs=n_abs)
    cfg = ChipConfig(n_abs=n_abs)
    # a stimulus at 0 (fires), then one in every cycle of the absolute refractory period, then one
    # right after it: from V_RFR s = theta does not fire (Fig. 9F)
    assert cfg.v_rfr + psp(cfg, 5, 5) < cfg.v_th
    step = be.evolve(frames([(t, 0, 0) for t in range(n_abs + 2)]), until=n_abs + 3)
    assert fired(step) == [(0, 0, 0)]
    assert step.ignored_refractory == n_abs


# ---- lateral inhibition ----------------------------------------------------------------------
@pytest.mark.parametrize("lateral", [(), (-1, 1)])
def test_lateral_inhibition_pushes_neighbours_to_v_lat(make, lateral):
    w, r, g, f = neutral()
    for n in (3, 4, 5, 8):
        w[0, n, n] = 7  # relay: row n drives neuron n with s = theta
    be = make(ChipProgram(w, r, g, f, lateral))
    cfg = ChipConfig()
    assert cfg.v_lat + psp(cfg, 5, 5) + cfg.leak_step < cfg.v_th  # from V_LAT theta cannot fire
    # neuron 4 fires at 0; at 1 rows 3, 5 (its neighbours) and 8 (not a neighbour) arrive
    step = be.evolve(frames([(0, 0, 4), (1, 0, 3), (1, 0, 5), (1, 0, 8)]), until=3)
    inhibited = [] if lateral else [(1, 0, 3), (1, 0, 5)]
    assert fired(step) == sorted([(0, 0, 4), (1, 0, 8)] + inhibited)


# ---- pieces of evolve, reset ----------------------------------------------------------------
def test_evolve_in_pieces_equals_one_call_and_reset_repeats(make, rng):
    w = rng.integers(0, 8, (2, 16, 16))
    prog = ChipProgram(w, rng.integers(0, 4, (2, 16)), np.array([7, 6]), np.array([3, 2]), (-1, 1))
    be = make(prog)
    ax = rng.random((300, 2, 16)) < 0.06
    fr = AxonFrames.from_dense(ax, 1e3)
    whole = be.evolve(fr, 300)
    assert len(whole.fires) > 20
    be.reset()
    got = []
    for a, b in ((0, 77), (77, 78), (78, 300)):
        keep = (fr.cycles >= a) & (fr.cycles < b)
        got += fired(be.evolve(AxonFrames(fr.cycles[keep], fr.cluster[keep], fr.axon[keep], 1e3), b))
    assert got == fired(whole)
