"""Fig. 6B: the switches of one GCLK cycle, and the time-window ramp that ends SWINTEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip import Chip, ChipConfig
from ..chip.timing import chip_schedule
from ._output import new_figure, program_single_row, save

THETA = 5


def fig06b_timing(out_dir: Path, *, seed: int = 0) -> dict:
    """Fig. 6B: AZ, SWRST, SWINTEG, SWCOMP, SWLEAK of one cycle of chip instance ``seed``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig06b_timing.png`` and ``.csv``.
    seed : int
        The chip instance (its T_integ sets SWINTEG), threshold theta = 5.

    Returns
    -------
    dict
        Start and stop (ns) of each switch, T_integ, the GCLK period and the slack left in it.
    """
    cfg = ChipConfig()
    chip = Chip(cfg, seed=seed)
    program_single_row(chip, THETA, 0)
    sched = chip_schedule(chip)
    t_end = sched.end + 3 * sched.lclk_period
    fig, ax = new_figure(2, 1, width=8.0, height=5.5)
    a, b = ax[:, 0]
    # LCLK as a square wave, then the switches as digital traces
    n_l = int(np.ceil(t_end / sched.lclk_period))
    t_half = np.arange(2 * n_l + 1) * sched.lclk_period / 2
    traces = [("LCLK", t_half * 1e9, 0.6 * (np.arange(t_half.size) % 2 == 0))]
    for p in sched.pulses:
        t = np.array([0.0, p.start, p.stop, t_end]) * 1e9
        traces.append((p.name, t, np.array([0.0, 1.0, 0.0, 0.0])))
    for i, (name, t, y) in enumerate(traces):
        off = -1.5 * i
        a.plot(
            t,
            y + off,
            drawstyle="steps-post",
            color="gray" if name == "LCLK" else "tab:blue",
            lw=1.2,
        )
        a.text(-0.02 * t_end * 1e9, off + 0.3, name, ha="right", va="center", fontsize=8)
    a.set_yticks([])
    a.set_xlim(-0.12 * t_end * 1e9, t_end * 1e9)
    a.set_title(
        f"Fig. 6B: one GCLK cycle's switches (chip seed {seed}, theta {THETA});\n"
        f"first {t_end * 1e9:.0f} ns of the {cfg.gclk_period * 1e6:g} us GCLK period",
        fontsize=10,
    )
    # the time-window generator's ramp: V_CM_TWG until SWRST falls, then up to V_TH
    p_int = sched.pulse("SWINTEG")
    t_ramp = np.array([0.0, p_int.start, p_int.stop, t_end])
    v_ramp = np.array([cfg.v_cm_twg, cfg.v_cm_twg, cfg.v_th, cfg.v_th])
    b.plot(t_ramp * 1e9, v_ramp * 1e3, color="tab:orange", label="V_TWG")
    b.axhline(cfg.v_th * 1e3, color="tab:red", ls="--", lw=0.8, label="V_TH (nominal)")
    b.axvspan(
        p_int.start * 1e9,
        p_int.stop * 1e9,
        color="tab:blue",
        alpha=0.1,
        label=f"T_integ = {p_int.width * 1e9:.1f} ns",
    )
    b.set_xlim(-0.12 * t_end * 1e9, t_end * 1e9)
    b.set_xlabel("time after the GCLK rising edge (ns)")
    b.set_ylabel("mV")
    b.legend(fontsize=8, loc="lower right")
    rows = [
        (r["switch"], r["start_ns"], r["stop_ns"], r["width_ns"], r["clocked"])
        for r in sched.to_rows()
    ]
    files = save(
        fig,
        out_dir,
        "fig06b_timing",
        ["switch", "start_ns", "stop_ns", "width_ns", "clocked"],
        rows,
    )
    return {
        **files,
        "seed": seed,
        "theta": THETA,
        "gclk_period_us": sched.gclk_period * 1e6,
        "lclk_period_ns": sched.lclk_period * 1e9,
        "t_integ_ns": sched.t_integ * 1e9,
        "switches": {
            r["switch"]: {"start_ns": r["start_ns"], "stop_ns": r["stop_ns"]}
            for r in sched.to_rows()
        },
        "slack_us": sched.slack * 1e6,
    }
