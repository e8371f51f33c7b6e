"""Ours, not from the paper: a spike travelling a chain of clusters over the mesh NoC.

The paper describes packet routing between clusters without details (sections 2.1.1, 4); this
figure shows bioloop's own model of it (``docs/chip-semantics.md``, "Routing between clusters").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip import Chip, ChipConfig, NocConfig
from ..networks import chain
from ._output import new_figure, save

LENGTH = 6
MESH = (2, 3)
BASE_CYCLES = 1
HOP_CYCLES = 2
DEND = 4  #: the relayed neuron (and AXON row) of every cluster
TAIL = 6


def fig_noc_chain(out_dir: Path, *, seed: int = 0) -> dict:
    """A FIRE of cluster 0 relayed along ``chain:6`` on a 2 x 3 mesh (1 + 2 cycles per hop).

    The relay network (``s = theta``) fires neuron 4 of each cluster in the cycle its packet
    arrives; clusters 0, 1, 2 sit on the first mesh row and 3, 4, 5 on the second, so the hop
    from cluster 2 to cluster 3 crosses 3 links (7 cycles) and every other hop one (3 cycles).

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``ours_noc_chain.png`` and ``.csv``.
    seed : int
        The chip instance (device mismatch on).

    Returns
    -------
    dict
        FIRE cycle of each cluster, each hop's latency (measured and from the mesh), packets.
    """
    cfg = ChipConfig(lateral_neighbours=())
    noc = NocConfig(mesh=MESH, base_cycles=BASE_CYCLES, hop_cycles=HOP_CYCLES)
    prog = chain(LENGTH)
    chip = Chip(cfg, n_clusters=LENGTH, seed=seed, noc=noc)
    chip.program(prog.weights, prog.psp_ref, prog.threshold_gen, prog.threshold_ref, routes=prog.routes)
    expected = [int(noc.latency(c, c + 1)) for c in range(LENGTH - 1)]
    n_cycles = sum(expected) + TAIL
    axons = np.zeros((n_cycles, LENGTH, 16), bool)
    axons[0, 0, DEND] = True
    r = chip.run(axons, record=True)
    fire_cycle = [int(np.flatnonzero(r.fires[:, c, DEND])[0]) if r.fires[:, c, DEND].any() else -1
                  for c in range(LENGTH)]
    measured = np.diff(fire_cycle).tolist()
    fig, ax = new_figure(2, 1, width=8.0, height=6.0)
    top, bottom = ax[0, 0], ax[1, 0]
    cyc = np.arange(n_cycles)
    rows = []
    for c in range(LENGTH):
        v = r.v[:, c, DEND] * 1e3
        top.plot(cyc, v, drawstyle="steps-mid", lw=1.0, label=f"cluster {c}")
        rows += [(c, int(t), float(r.v[t, c, DEND] * 1e3), bool(r.fires[t, c, DEND])) for t in cyc]
    top.axhline(cfg.v_th * 1e3, color="k", ls="--", lw=0.6)
    top.annotate("V_TH", (cyc[-1], cfg.v_th * 1e3), fontsize=7, ha="right", va="bottom")
    top.set_ylabel(f"V_INTEG<{DEND}> (mV)")
    top.set_title("ours, not from the paper: a spike travelling chain:6 on a 2x3 mesh "
                  f"(latency {BASE_CYCLES} + {HOP_CYCLES} x hops)", fontsize=9)
    top.set_ylim(cfg.v_rfr * 1e3 - 20, cfg.v_dd * 1e3 + 40)
    top.legend(fontsize=7, ncol=LENGTH, loc="upper center")
    bottom.scatter(fire_cycle, range(LENGTH), marker="|", s=300, color="tab:red")
    for c in range(LENGTH - 1):
        t0, t1 = fire_cycle[c], fire_cycle[c + 1]
        if t0 < 0 or t1 < 0:
            continue
        bottom.annotate("", xy=(t1, c + 1), xytext=(t0, c),
                        arrowprops={"arrowstyle": "->", "color": "gray", "lw": 0.8})
        hops = int(noc.hops(c, c + 1))
        bottom.annotate(f"{t1 - t0} cycles ({hops} hop{'s' if hops != 1 else ''})",
                        ((t0 + t1) / 2, c + 0.5), fontsize=7, ha="left", va="center")
    bottom.set_yticks(range(LENGTH))
    bottom.set_ylim(-0.5, LENGTH - 0.5)
    bottom.set_xlim(-1, n_cycles)
    bottom.set_ylabel("cluster (FIRE of dend 4)")
    bottom.set_xlabel(f"GCLK cycle ({cfg.gclk_period * 1e3:g} ms)")
    files = save(fig, out_dir, "ours_noc_chain", ["cluster", "cycle", "v_integ_mV", "fire"], rows)
    return {**files, "seed": seed, "mesh": list(MESH), "base_cycles": BASE_CYCLES,
            "hop_cycles": HOP_CYCLES, "fire_cycles": fire_cycle, "hop_latency_cycles": measured,
            "expected_latency_cycles": expected, "packets": r.packets, "routed": r.routed,
            "fires": int(r.fires.sum())}
