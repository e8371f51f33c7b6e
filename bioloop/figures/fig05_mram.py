"""Fig. 5: why the AP current is subtracted (5A) and the worked current examples (5C-E)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip import Chip, ChipConfig
from ..chip.mram import level_decoding
from ._output import new_figure, save

#: TMR ratios R_AP / R_P of Fig. 5A, 1.2 to 6 in steps of 0.2
TMR_RATIOS = np.round(1.2 + 0.2 * np.arange(25), 6)
N_ROWS = 4  #: simultaneously active rows decoded in Fig. 5A
N_TRIALS = 2000  #: trials per TMR ratio


def fig05a_low_tmr(out_dir: Path, *, seed: int = 0) -> dict:
    """Fig. 5A: level separation and decoding error, naive vs subtracted, TMR ratio 1.2 to 6.

    The summed weight of up to ``N_ROWS`` simultaneously active rows is decoded from one
    column current (:func:`bioloop.chip.mram.level_decoding`). The main curves use the chip
    model's cell-to-cell resistance spread (``sigma_r_local``); dashed curves repeat the
    subtracted readout with the die-to-die spread (``sigma_r``) applied to every cell, a
    pessimistic bound.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig05a_low_tmr.png`` and ``.csv``.
    seed : int
        Seeds the trials.

    Returns
    -------
    dict
        Separations (units of alpha; negative = the levels overlap) and error rates per ratio,
        and the values at TMR ratio 2.
    """
    cfg = ChipConfig()
    spreads = {"cell_to_cell": cfg.sigma_r_local, "pessimistic": cfg.sigma_r}
    res = {}
    for label, sigma in spreads.items():
        rng = np.random.default_rng(seed)
        res[label] = [
            level_decoding(
                float(t),
                n_rows=N_ROWS,
                n_trials=N_TRIALS,
                sigma_r=sigma,
                r_p=cfg.r_p,
                v_read=cfg.v_read,
                rng=rng,
            )
            for t in TMR_RATIOS
        ]

    def col(label, key):
        return [d[key] for d in res[label]]

    fig, ax = new_figure(1, 2, width=10.0, height=4.0)
    a, b = ax[0]
    a.plot(
        TMR_RATIOS,
        col("cell_to_cell", "naive_separation"),
        "o-",
        color="tab:red",
        label="naive (no subtraction)",
    )
    a.plot(
        TMR_RATIOS,
        col("cell_to_cell", "subtracted_separation"),
        "s-",
        color="tab:blue",
        label=f"subtracted, sigma_R {cfg.sigma_r_local:.1%}",
    )
    a.plot(
        TMR_RATIOS,
        col("pessimistic", "subtracted_separation"),
        "s--",
        color="tab:blue",
        alpha=0.6,
        label=f"subtracted, sigma_R {cfg.sigma_r:.0%} per cell",
    )
    a.axhline(0.0, color="k", lw=0.8)
    a.axvline(2.0, color="gray", ls=":", lw=0.8)
    a.set_yscale("symlog", linthresh=1.0)
    a.set_xlabel("TMR ratio R_AP / R_P")
    a.set_ylabel("worst gap between adjacent levels (alpha)")
    a.set_title(f"Fig. 5A: level separation, up to {N_ROWS} active rows")
    a.legend(fontsize=8)
    b.plot(
        TMR_RATIOS, col("cell_to_cell", "naive_error_rate"), "o-", color="tab:red", label="naive"
    )
    b.plot(
        TMR_RATIOS,
        col("cell_to_cell", "subtracted_error_rate"),
        "s-",
        color="tab:blue",
        label=f"subtracted, sigma_R {cfg.sigma_r_local:.1%}",
    )
    b.plot(
        TMR_RATIOS,
        col("pessimistic", "subtracted_error_rate"),
        "s--",
        color="tab:blue",
        alpha=0.6,
        label=f"subtracted, sigma_R {cfg.sigma_r:.0%} per cell",
    )
    b.set_xlabel("TMR ratio R_AP / R_P")
    b.set_ylabel("decoding error rate")
    b.set_ylim(-0.02, 1.02)
    b.set_title("level decoding error")
    b.legend(fontsize=8)
    rows = [
        (
            label,
            spreads[label],
            d["tmr_ratio"],
            d["naive_separation"],
            d["subtracted_separation"],
            d["naive_error_rate"],
            d["subtracted_error_rate"],
        )
        for label in spreads
        for d in res[label]
    ]
    files = save(
        fig,
        out_dir,
        "fig05a_low_tmr",
        [
            "spread",
            "sigma_r",
            "tmr_ratio",
            "naive_separation_alpha",
            "subtracted_separation_alpha",
            "naive_error_rate",
            "subtracted_error_rate",
        ],
        rows,
    )
    i2 = int(np.flatnonzero(TMR_RATIOS == 2.0)[0])
    main = res["cell_to_cell"]
    return {
        **files,
        "n_rows": N_ROWS,
        "n_trials": N_TRIALS,
        "sigma_r": cfg.sigma_r_local,
        "tmr_ratio": TMR_RATIOS.tolist(),
        "naive_separation_alpha": col("cell_to_cell", "naive_separation"),
        "subtracted_separation_alpha": col("cell_to_cell", "subtracted_separation"),
        "naive_error_rate": col("cell_to_cell", "naive_error_rate"),
        "subtracted_error_rate": col("cell_to_cell", "subtracted_error_rate"),
        "pessimistic_sigma_r": cfg.sigma_r,
        "pessimistic_subtracted_separation_alpha": col("pessimistic", "subtracted_separation"),
        "pessimistic_subtracted_error_rate": col("pessimistic", "subtracted_error_rate"),
        "at_tmr_2": {
            k: main[i2][k]
            for k in (
                "naive_separation",
                "subtracted_separation",
                "naive_error_rate",
                "subtracted_error_rate",
            )
        },
    }


def fig05ce_worked_examples(out_dir: Path) -> dict:
    """Fig. 5C-E: threshold 5 alpha, +4 alpha EPSP, -2 alpha IPSP, both at once = +2 alpha.

    A mismatch-free chip is programmed as in the paper: threshold generation 7 P cells against
    a reference of 2 P + 5 AP (theta = 5); row 0 holds 6 P + 1 AP and row 1 seven AP cells,
    both against the PSP reference 2 P + 5 AP. Each case is one stimulus from rest.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig05ce_worked_examples.png`` and ``.csv``.

    Returns
    -------
    dict
        Currents in units of alpha, V_INTEG and FIRE of each case.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = fig05ce_worked_examples(Path(d))
    >>> round(f["cases"]["both"]["current_alpha"], 9), f["cases"]["both"]["fire"]
    (2.0, False)
    """
    cfg = ChipConfig()
    chip = Chip(cfg, mismatch=False)
    w = np.full((16, 16), 2, dtype=int)
    w[0] = 6  # 6 P + 1 AP (mirror-weighted cells: code 6)
    w[1] = 0  # 7 AP
    chip.program(w, np.full(16, 2, dtype=int), threshold_gen=7, threshold_ref=2)
    alpha = cfg.alpha
    i_syn = chip.synaptic_currents()[0, :, 0]
    # the threshold current, from the time window it sets: T = C_TWG (V_TH - V_CM) / (I_TH scale)
    i_th = cfg.c_twg * (cfg.v_th - cfg.v_cm_twg) / (float(chip.t_integ()[0]) * cfg.current_scale)
    cases = {"epsp": [0], "ipsp": [1], "both": [0, 1]}
    out_cases = {}
    rows = [("threshold", "", i_th * 1e6, i_th / alpha, "", "")]
    for name, active in cases.items():
        chip.reset()
        axons = np.zeros((1, 16), bool)
        axons[0, active] = True
        r = chip.run(axons, record=True)
        current = float(i_syn[active].sum())
        v = float(r.v[0, 0, 0])
        fire = bool(r.fires[0, 0, 0])
        out_cases[name] = {
            "rows": active,
            "current_alpha": current / alpha,
            "v_integ_mV": v * 1e3,
            "fire": fire,
        }
        rows.append(
            (name, "+".join(map(str, active)), current * 1e6, current / alpha, v * 1e3, fire)
        )

    fig, ax = new_figure(1, 2, width=10.0, height=4.0)
    a, b = ax[0]
    names = ["threshold (5C)", "EPSP (5D)", "IPSP", "both (5E)"]
    vals = [i_th / alpha] + [out_cases[k]["current_alpha"] for k in cases]
    colors = ["gray", "tab:green", "tab:purple", "tab:blue"]
    a.bar(names, vals, color=colors)
    a.axhline(i_th / alpha, color="k", ls="--", lw=0.8, label="threshold current")
    a.axhline(0.0, color="k", lw=0.6)
    for i, val in enumerate(vals):
        a.annotate(
            f"{val:+.2f}", (i, val), ha="center", va="bottom" if val >= 0 else "top", fontsize=8
        )
    a.set_ylabel("net current (alpha = I_P - I_AP)")
    a.set_title("Fig. 5C-E: subtracted currents")
    a.legend(fontsize=8)
    vv = [out_cases[k]["v_integ_mV"] for k in cases]
    rest_mv = cfg.v_rest * 1e3
    b.bar(names[1:], [x - rest_mv for x in vv], bottom=rest_mv, color=colors[1:])
    b.axhline(cfg.v_th * 1e3, color="tab:red", ls="--", lw=0.8, label="V_TH")
    b.axhline(cfg.v_rest * 1e3, color="k", ls=":", lw=0.8, label="V_REST")
    b.set_ylim(cfg.v_lat * 1e3, cfg.v_dd * 1e3)
    b.set_ylabel("V_INTEG at the comparison (mV)")
    b.set_title("one stimulus from rest: no spike")
    b.legend(fontsize=8)
    files = save(
        fig,
        out_dir,
        "fig05ce_worked_examples",
        ["case", "rows", "current_uA", "current_alpha", "v_integ_mV", "fire"],
        rows,
    )
    return {**files, "alpha_uA": alpha * 1e6, "theta_alpha": i_th / alpha, "cases": out_cases}
