"""Fig. 9F-G / Fig. 14: relative refractory period and lateral inhibition."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..chip import Chip, ChipConfig
from ._output import new_figure, program_single_row, save

THETAS = (5, 7)
DENDS = (0, 1, 2)
TAIL = 4  #: cycles shown after the control stimulus


def _run_theta(chip: Chip, theta: int) -> dict:
    cfg = chip.config
    s_first = np.zeros(16, int)
    # only dendrite 1 at threshold; theta - 2 (not theta - 1) keeps 0 and 2 clear of threshold
    # on every instance (with theta = 7, mirror mismatch lets ~3 % of neurons fire at theta - 1)
    s_first[list(DENDS)] = (theta - 2, theta, theta - 2)
    s_second = np.zeros(16, int)
    s_second[list(DENDS)] = theta  # all three at threshold
    program_single_row(chip, theta, s_first, s_second)
    t2 = cfg.n_abs + 1  # first cycle after dendrite 1's absolute refractory period
    seg_a = np.zeros((t2, 16), bool)
    seg_a[0, 0] = True
    ra = chip.run(seg_a, record=True)
    start_second = chip.v[0, list(DENDS)].copy()
    seg_b = np.zeros((1, 16), bool)
    seg_b[0, 1] = True
    rb = chip.run(seg_b, record=True)
    # idle until every stimulated dendrite has leaked back to V_REST, then the control stimulus
    lv = chip.levels
    d = list(DENDS)
    gap = np.abs(rb.v[0, 0, d] - lv["v_rest"][0]) / lv["leak_step"][0, d]
    n_idle = int(math.ceil(float(gap.max()))) + 2 if cfg.leak_mode == "every_cycle" else 2
    seg_c = np.zeros((n_idle + 1 + TAIL, 16), bool)
    seg_c[n_idle, 1] = True
    rc = chip.run(seg_c, record=True)
    t3 = t2 + 1 + n_idle
    v = np.concatenate([ra.v, rb.v, rc.v])[:, 0, :]
    fires = np.concatenate([ra.fires, rb.fires, rc.fires])[:, 0, :]
    stim = {0: "first", t2: "second", t3: "control"}
    other = int(fires[[t for t in range(fires.shape[0]) if t not in stim]].sum())
    return {
        "v": v,
        "fires": fires,
        "stim": stim,
        "summary": {
            "stimulus_cycles": {name: t for t, name in stim.items()},
            "s_first": s_first[d].tolist(),
            "s_second": s_second[d].tolist(),
            "fires_first": fires[0, d].tolist(),
            "fires_second": fires[t2, d].tolist(),
            "fires_control": fires[t3, d].tolist(),
            "fires_other_cycles": other,
            "start_mV_second": (start_second * 1e3).tolist(),
            "v_integ_mV_second": (v[t2, d] * 1e3).tolist(),
            "v_rfr_mV": float(lv["v_rfr"][0] * 1e3),
            "v_lat_mV": float(lv["v_lat"][0] * 1e3),
            "v_rest_mV": float(lv["v_rest"][0] * 1e3),
            "v_th_mV": (lv["v_th"][0, d] * 1e3).tolist(),
            "leak_step_mV": (lv["leak_step"][0, d] * 1e3).tolist(),
            "idle_cycles_before_second": t2 - 1,
            "ignored_refractory": ra.ignored_refractory
            + rb.ignored_refractory
            + rc.ignored_refractory,
        },
    }


def fig09fg_refractory_lateral(out_dir: Path, *, seed: int = 0) -> dict:
    """Fig. 9F-G / Fig. 14: dendrite 1 fires; its refractory state and its neighbours' inhibition.

    One AXON drives dendrites 0, 1, 2 of chip instance ``seed``. First stimulus: s = theta - 2,
    theta, theta - 2, so only dendrite 1 fires; dendrites 0 and 2 are laterally inhibited to
    V_LAT. Second stimulus, in the first cycle after dendrite 1's absolute refractory period:
    s = theta on all three; dendrite 1 starts from V_RFR, 0 and 2 from V_LAT (plus the leak
    of the idle cycles between), and none fires. A control stimulus, after all three have
    leaked back to V_REST, fires all three.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig09fg_fig14_refractory_lateral.png`` and ``.csv``.
    seed : int
        The chip instance.

    Returns
    -------
    dict
        Per theta: stimulus cycles, FIRE of dendrites 0-2 at each stimulus, the level each
        starts the second stimulus from and the V_INTEG it reaches, the instance's levels.
    """
    cfg = ChipConfig()
    chip = Chip(cfg, seed=seed)
    fig, ax = new_figure(1, 2, width=11.0, height=4.2)
    rows, out = [], {"seed": seed}
    colors = {0: "tab:green", 1: "tab:red", 2: "tab:blue"}
    for a, theta in zip(ax[0], THETAS, strict=True):
        r = _run_theta(chip, theta)
        v, fires, stim, summ = r["v"], r["fires"], r["stim"], r["summary"]
        cyc = np.arange(v.shape[0])
        for n in DENDS:
            a.plot(
                cyc,
                v[:, n] * 1e3,
                drawstyle="steps-mid",
                color=colors[n],
                lw=1.0,
                label=f"V_INTEG<{n}>",
            )
            hit = fires[:, n]
            a.scatter(cyc[hit], v[hit, n] * 1e3, marker="*", s=90, color=colors[n], zorder=3)
            rows += [
                (theta, int(t), n, float(v[t, n] * 1e3), bool(fires[t, n]), stim.get(int(t), ""))
                for t in cyc
            ]
        for t, name in stim.items():
            a.axvline(t, color="gray", ls=":", lw=0.8)
            a.annotate(name, (t, cfg.v_dd * 1e3), fontsize=7, ha="left", va="top", rotation=90)
        for name, level, ls in (
            ("V_TH", cfg.v_th, "--"),
            ("V_REST", cfg.v_rest, ":"),
            ("V_RFR", cfg.v_rfr, "-."),
            ("V_LAT", cfg.v_lat, "-."),
        ):
            a.axhline(level * 1e3, color="k", ls=ls, lw=0.6)
            a.annotate(name, (cyc[-1], level * 1e3), fontsize=7, ha="right", va="top")
        a.set_ylim(cfg.v_lat * 1e3 - 40, cfg.v_dd * 1e3)
        a.set_xlabel(f"GCLK cycle ({cfg.gclk_period * 1e3:g} ms)")
        a.set_ylabel("V_INTEG (mV)")
        a.set_title(f"Fig. 9{'F' if theta == 5 else 'G'} / Fig. 14: theta = {theta}")
        a.legend(fontsize=7, loc="center right")
        out[f"theta_{theta}"] = summ
    files = save(
        fig,
        out_dir,
        "fig09fg_fig14_refractory_lateral",
        ["theta", "cycle", "dend", "v_integ_mV", "fire", "stimulus"],
        rows,
    )
    return {**files, **out}
