"""The paper's figures, reproduced from the chip model: a PNG and a CSV of the plotted numbers
for each, and a summary of the numbers that matter.

Lee et al., Front. Neurosci. 19:1599144, 2025: Fig. 5A, 5C-E, 6B, 8E-F, 9C / 11, 9D-E / 12,
9F-G / 14, 13A, 13B-C. One figure is ours and marked so (``ours_noc_chain``): a spike travelling
a chain of clusters over bioloop's model of the NoC, of which the paper gives no details.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import validate as _v
from .fig05_mram import fig05a_low_tmr, fig05ce_worked_examples
from .fig06_timing import fig06b_timing
from .fig08_offsets import fig08ef_offsets
from .fig09_integration import fig09c_integration_time, fig09de_linear_integration
from .fig09_refractory import fig09fg_refractory_lateral
from .fig13_leak import INTERVALS, fig13a_leaky_integration, fig13bc_leak_control
from .ours_noc_chain import fig_noc_chain

__all__ = [
    "FIGURES",
    "fig05a_low_tmr",
    "fig05ce_worked_examples",
    "fig06b_timing",
    "fig08ef_offsets",
    "fig09c_integration_time",
    "fig09de_linear_integration",
    "fig09fg_refractory_lateral",
    "fig13a_leaky_integration",
    "fig13bc_leak_control",
    "fig_noc_chain",
    "format_summary",
    "make_all",
]

#: summary key -> (function, whether it takes the seed)
FIGURES = {
    "fig05a": (fig05a_low_tmr, True),
    "fig05c_e": (fig05ce_worked_examples, False),
    "fig06b": (fig06b_timing, True),
    "fig08e_f": (fig08ef_offsets, True),
    "fig09c_fig11": (fig09c_integration_time, True),
    "fig09d_e": (fig09de_linear_integration, True),
    "fig09f_g_fig14": (fig09fg_refractory_lateral, True),
    "fig13a": (fig13a_leaky_integration, True),
    "fig13b_c": (fig13bc_leak_control, True),
    "ours_noc_chain": (fig_noc_chain, True),
}


def make_all(out_dir, *, seed: int = 0) -> dict:
    """Draw every figure into ``out_dir`` (created if missing).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder; each figure writes ``<name>.png`` and ``<name>.csv`` there.
    seed : int
        Seeds every chip instance (instance ``i`` of a figure has seed ``seed + i``) and every
        Monte Carlo.

    Returns
    -------
    dict
        ``out_dir`` (absolute), ``seed``, ``n_figures`` and, per figure, its file names and
        the plotted numbers that matter (JSON-able).

    Raises
    ------
    TypeError
        ``out_dir`` not a path, ``seed`` not an integer.
    ValueError
        ``seed`` negative, or ``out_dir`` an existing file.

    Examples
    --------
    >>> import tempfile
    >>> from bioloop.figures import make_all
    >>> with tempfile.TemporaryDirectory() as d:
    ...     s = make_all(d, seed=0)
    >>> s["n_figures"], s["fig05c_e"]["cases"]["both"]["fire"]
    (10, False)
    """
    if not isinstance(out_dir, str | os.PathLike):
        raise TypeError(
            f"out_dir must be a path (str or os.PathLike), got {type(out_dir).__name__}"
        )
    seed = _v.integer("seed", seed, lo=0)
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    summary = {"out_dir": str(out), "seed": seed, "n_figures": len(FIGURES)}
    for key, (func, seeded) in FIGURES.items():
        summary[key] = func(out, seed=seed) if seeded else func(out)
    return summary


def format_summary(summary: dict) -> str:
    """One line per figure (file and headline numbers) for the text output of the CLI.

    Parameters
    ----------
    summary : dict
        What :func:`make_all` returned.

    Returns
    -------
    str
    """

    def yn(flags):
        return "".join("F" if f else "-" for f in flags)

    def span(values, fmt):
        return f"{values[0]:{fmt}}..{values[-1]:{fmt}}"

    s = summary
    a, c, t, o = s["fig05a"]["at_tmr_2"], s["fig05c_e"], s["fig06b"], s["fig08e_f"]
    i, d, r = s["fig09c_fig11"], s["fig09d_e"], s["fig09f_g_fig14"]
    la, lb, lc = s["fig13a"], s["fig13b_c"]["swleak"], s["fig13b_c"]["i_leak"]
    nc = s["ours_noc_chain"]
    cur = {k: v["current_alpha"] for k, v in c["cases"].items()}
    spikes = sum(v["fire"] for v in c["cases"].values())
    sig = {
        b: (o[b]["without_az"]["sigma_mV"], o[b]["with_az"]["sigma_mV"])
        for b in ("integrator_comparator", "buffer")
    }
    spread = {th: i[f"theta_{th}"]["spread_ns"]["at_max_v_th"] for th in (5, 7)}
    r2 = min(i["theta_5"]["r2_min"], i["theta_7"]["r2_min"])
    slope = {th: d[f"theta_{th}"]["slope_mV_per_s_nominal"] for th in (5, 7)}
    first = {th: d[f"theta_{th}"]["first_firing_s"] for th in (5, 7)}
    fires = {
        th: " / ".join(
            yn(r[f"theta_{th}"][k]) for k in ("fires_first", "fires_second", "fires_control")
        )
        for th in (5, 7)
    }
    trains = ", ".join(
        f"every {k} cycles fires at cycles {la[f'interval_{k}']['fire_cycles']}" for k in INTERVALS
    )
    lines = [
        f"figures in {s['out_dir']} (seed {s['seed']}), PNG + CSV each:",
        f"  fig05a         separation at TMR 2: naive {a['naive_separation']:+.2f}, subtracted "
        f"{a['subtracted_separation']:+.2f} alpha; error rate {a['naive_error_rate']:.3f} vs "
        f"{a['subtracted_error_rate']:.3f}",
        f"  fig05c_e       theta {c['theta_alpha']:.2f} alpha; EPSP {cur['epsp']:+.2f}, "
        f"IPSP {cur['ipsp']:+.2f}, both {cur['both']:+.2f} alpha; spikes: {spikes}",
        f"  fig06b         T_integ {t['t_integ_ns']:.1f} ns; last switch ends at "
        f"{t['switches']['SWLEAK']['stop_ns']:.0f} ns of the {t['gclk_period_us']:g} us period",
        "  fig08e_f       sigma without -> with auto-zero: comparator "
        f"{sig['integrator_comparator'][0]:.2f} -> {sig['integrator_comparator'][1]:.2f} mV, "
        f"buffer {sig['buffer'][0]:.2f} -> {sig['buffer'][1]:.2f} mV",
        f"  fig09c_fig11   T_integ spread over {len(i['instance_seeds'])} chips at "
        f"{i['v_th_mV'][-1]:g} mV: theta 5 {spread[5]:.1f} ns, theta 7 {spread[7]:.1f} ns; "
        f"r^2 >= {r2:.6f}",
        f"  fig09d_e       slope {slope[5]:.1f} / {slope[7]:.1f} mV per unit s (theta 5 / 7); "
        f"first firing s (nominal, chips): {first[5]} / {first[7]}",
        "  fig09f_g_fig14 FIRE (F) of dendrites 0-2 at the first / second / control stimulus: "
        f"theta 5: {fires[5]}; theta 7: {fires[7]}",
        f"  fig13a         leak {la['leak_step_mV']:.2f} mV per cycle; stimulus {trains}",
        f"  fig13b_c       leak {span(lb['leak_mV_per_cycle'], '.1f')} mV for SWLEAK "
        f"{span(lb['swleak_ns'], '.0f')} ns; {span(lc['leak_mV_per_cycle'], '.1f')} mV for "
        f"I_LEAK {span(lc['i_leak_uA'], '.2f')} uA",
        f"  ours_noc_chain (ours, not the paper's) chain of {len(nc['fire_cycles'])} clusters on a "
        f"{nc['mesh'][0]}x{nc['mesh'][1]} mesh: FIREs at cycles {nc['fire_cycles']}, hop latencies "
        f"{nc['hop_latency_cycles']} cycles",
    ]
    return "\n".join(lines)
