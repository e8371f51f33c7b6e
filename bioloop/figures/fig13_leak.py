"""Fig. 13: leaky integration with discrete leak steps (A), leak set by SWLEAK width (B) and
by I_LEAK (C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip import Chip, ChipConfig
from ._output import linear_fit, new_figure, program_single_row, save

THETA = 5
S_SUB = 1  #: signed weight of each sub-threshold stimulus in Fig. 13A
INTERVALS = (2, 6)  #: cycles between stimuli in Fig. 13A: accumulating, fully leaking
N_STIMULI = 12
TAIL = 16  #: idle cycles after the last stimulus
S_STEP = 3  #: the stimulus before the leak in Fig. 13B-C (theta - 2: clear of threshold)
N_LEAK_CYCLES = 25
SWLEAK_LCLK = (1, 2, 3, 4, 5)  #: SWLEAK widths in LCLK periods (Fig. 13B)
I_LEAK_SCALE = (0.5, 1.0, 1.5, 2.0, 2.5)  #: I_LEAK relative to the default (Fig. 13C)


def _only_column_0(s: int) -> np.ndarray:
    """Signed weights of row 0: ``s`` onto dendrite 0, nothing onto the others (whose spikes
    would otherwise laterally inhibit dendrite 0)."""
    row = np.zeros(16, int)
    row[0] = s
    return row


def fig13a_leaky_integration(out_dir: Path, *, seed: int = 0) -> dict:
    """Fig. 13A: repeated sub-threshold stimuli (s = 1, theta = 5) with discrete leak steps.

    Every stimulus alone is far below threshold. With a stimulus every 2 cycles the leak
    (one SWLEAK pulse per cycle) removes less than a stimulus adds: the held voltage climbs and
    the neuron eventually fires (temporal summation). With one every 6 cycles it leaks back to
    V_REST in between: the peaks stay level and it never fires.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig13a_leaky_integration.png`` and ``.csv``.
    seed : int
        The chip instance.

    Returns
    -------
    dict
        Per interval: V_INTEG at each stimulus (mV), FIRE cycles, and the voltage drops of the
        idle cycles above V_REST (mV), next to the instance's leak step and PSP step.
    """
    cfg = ChipConfig()
    chip = Chip(cfg, seed=seed)
    program_single_row(chip, THETA, _only_column_0(S_SUB))
    step_mv = float(chip.levels["leak_step"][0, 0] * 1e3)
    psp_mv = float(chip.psp_step()[0, 0, 0] * 1e3)
    rest_mv = float(chip.levels["v_rest"][0] * 1e3)
    fig, ax = new_figure(1, 1, width=8.0, height=4.2)
    a = ax[0, 0]
    rows, out = (
        [],
        {
            "seed": seed,
            "theta": THETA,
            "s": S_SUB,
            "leak_step_mV": step_mv,
            "psp_step_mV": psp_mv,
            "v_rest_mV": rest_mv,
        },
    )
    for interval, color in zip(INTERVALS, ("tab:red", "tab:blue"), strict=True):
        chip.reset()
        T = interval * N_STIMULI + TAIL
        axons = np.zeros((T, 16), bool)
        stim_t = np.arange(N_STIMULI) * interval
        axons[stim_t, 0] = True
        res = chip.run(axons, record=True)
        v = res.v[:, 0, 0] * 1e3
        fire = res.fires[:, 0, 0]
        is_stim = np.zeros(T, bool)
        is_stim[stim_t] = True
        # drops from one idle cycle to the next, while the neuron is above rest and not refractory
        idle = ~is_stim[1:] & ~fire[:-1] & (v[:-1] > rest_mv + step_mv)
        drops = (v[:-1] - v[1:])[idle]
        cyc = np.arange(T)
        a.plot(
            cyc,
            v,
            drawstyle="steps-post",
            color=color,
            lw=1.0,
            label=f"stimulus every {interval} cycles",
        )
        a.scatter(cyc[fire], v[fire], marker="*", s=90, color=color, zorder=3)
        rows += [(interval, int(t), float(v[t]), bool(is_stim[t]), bool(fire[t])) for t in cyc]
        out[f"interval_{interval}"] = {
            "v_at_stimuli_mV": v[stim_t].tolist(),
            "fire_cycles": cyc[fire].tolist(),
            "stimuli_ignored_refractory": res.ignored_refractory,
            "leak_drops_mV": {
                "n": int(drops.size),
                "min": float(drops.min()),
                "max": float(drops.max()),
            },
        }
    a.axhline(cfg.v_th * 1e3, color="k", ls="--", lw=0.7, label="V_TH")
    a.axhline(cfg.v_rest * 1e3, color="k", ls=":", lw=0.7, label="V_REST")
    a.set_xlabel(f"GCLK cycle ({cfg.gclk_period * 1e3:g} ms)")
    a.set_ylabel("V_INTEG (mV)")
    a.set_title(
        f"Fig. 13A: leaky integration, s = {S_SUB}, theta = {THETA}, "
        f"leak {step_mv:.2f} mV per cycle"
    )
    a.legend(fontsize=8)
    files = save(
        fig,
        out_dir,
        "fig13a_leaky_integration",
        ["interval", "cycle", "v_integ_mV", "stimulus", "fire"],
        rows,
    )
    return {**files, **out}


def _leak_trace(cfg: ChipConfig, seed: int) -> tuple[np.ndarray, float]:
    chip = Chip(cfg, seed=seed)
    program_single_row(chip, THETA, _only_column_0(S_STEP))
    axons = np.zeros((N_LEAK_CYCLES, 16), bool)
    axons[0, 0] = True
    v = chip.run(axons, record=True).v[:, 0, 0] * 1e3
    return v, float(v[0] - v[1])


def fig13bc_leak_control(out_dir: Path, *, seed: int = 0) -> dict:
    """Fig. 13B-C: the leak per cycle grows with the SWLEAK width and with I_LEAK.

    One stimulus (s = 3, theta = 5) takes the neuron of chip instance ``seed`` well above
    V_REST, below threshold; it then leaks back. The same instance (same devices) is run with
    SWLEAK 1 to 5 LCLK periods at the default I_LEAK (B), and with I_LEAK 0.5 to 2.5 times the
    default at the default SWLEAK (C).

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig13bc_leak_control.png`` and ``.csv``.
    seed : int
        The chip instance.

    Returns
    -------
    dict
        SWLEAK widths (ns) and I_LEAK values (uA) with the first-cycle leak (mV) of each, and
        linear fits of leak against each.
    """
    base = ChipConfig()
    sweeps = {
        "swleak": [("t_swleak", k * base.lclk_period) for k in SWLEAK_LCLK],
        "i_leak": [("i_leak", x * base.i_leak) for x in I_LEAK_SCALE],
    }
    fig, ax = new_figure(1, 2, width=10.0, height=4.0)
    rows, out = [], {"seed": seed, "theta": THETA, "s": S_STEP}
    for a, (kind, settings) in zip(ax[0], sweeps.items(), strict=True):
        xs, leaks = [], []
        cmap = np.linspace(0.3, 1.0, len(settings))
        for (field, value), shade in zip(settings, cmap, strict=True):
            v, leak = _leak_trace(base.replace(**{field: value}), seed)
            x = value * 1e9 if kind == "swleak" else value * 1e6
            xs.append(x)
            leaks.append(leak)
            label = f"SWLEAK {x:.0f} ns" if kind == "swleak" else f"I_LEAK {x:.2f} uA"
            a.plot(
                np.arange(v.size),
                v,
                drawstyle="steps-post",
                lw=1.0,
                color=(shade * 0.1, shade * 0.4, shade),
                label=f"{label}: {leak:.1f} mV/cycle",
            )
            rows += [(kind, x, int(t), float(v[t])) for t in range(v.size)]
        fit = linear_fit(xs, leaks)
        key = "swleak_ns" if kind == "swleak" else "i_leak_uA"
        out[kind] = {
            key: xs,
            "leak_mV_per_cycle": leaks,
            "fit": fit,
            "fixed": (
                f"i_leak = {base.i_leak * 1e6:g} uA"
                if kind == "swleak"
                else f"t_swleak = {base.t_swleak * 1e9:g} ns"
            ),
        }
        a.axhline(base.v_rest * 1e3, color="k", ls=":", lw=0.7)
        a.set_xlabel(f"GCLK cycle ({base.gclk_period * 1e3:g} ms)")
        a.set_ylabel("V_INTEG (mV)")
        a.set_title(
            "Fig. 13B: leak vs SWLEAK width" if kind == "swleak" else "Fig. 13C: leak vs I_LEAK"
        )
        a.legend(fontsize=7)
    files = save(
        fig, out_dir, "fig13bc_leak_control", ["sweep", "value", "cycle", "v_integ_mV"], rows
    )
    return {**files, **out}
