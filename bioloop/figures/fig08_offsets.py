"""Fig. 8E-F: Monte Carlo of amplifier offsets with and without auto-zero."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip import ChipConfig
from ..chip.offsets import monte_carlo
from ._output import new_figure, save

N_SAMPLES = 20_000
BIN_MV = 0.25
#: the paper's Monte Carlo (section 2.2.1.3), mV, for comparison in the plot and the summary
PAPER_MV = {
    "integrator_comparator": {
        "without_az": {"mean_mV": 2.42, "sigma_mV": 3.26},
        "with_az": {"mean_mV": 8.03, "sigma_mV": 0.97},
    },
    "buffer": {
        "without_az": {"mean_mV": 0.58, "sigma_mV": 3.37},
        "with_az": {"mean_mV": -0.12, "sigma_mV": 0.15},
    },
}


def fig08ef_offsets(out_dir: Path, *, seed: int = 0, n: int = N_SAMPLES) -> dict:
    """Fig. 8E (integrator + comparator) and 8F (buffer): offset histograms, raw and auto-zeroed.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig08ef_offsets.png`` and ``.csv`` (histogram counts).
    seed : int
        Seeds the Monte Carlo; both cases use the same raw offsets.
    n : int
        Samples per block and case.

    Returns
    -------
    dict
        Mean and sigma in mV per block and case, and the paper's values.
    """
    cfg = ChipConfig()
    blocks = {"integrator_comparator": cfg.comparator_offset, "buffer": cfg.buffer_offset}
    fig, ax = new_figure(1, 2, width=10.0, height=4.0)
    rows, summary = [], {}
    titles = {
        "integrator_comparator": "Fig. 8E: integrator + comparator",
        "buffer": "Fig. 8F: buffer",
    }
    for a, (block, model) in zip(ax[0], blocks.items(), strict=True):
        mc = monte_carlo(model, n, seed, cfg.temperature_k)
        both = np.concatenate([mc[c]["samples_mv"] for c in mc])
        lo = np.floor(both.min() / BIN_MV) * BIN_MV
        hi = np.ceil(both.max() / BIN_MV) * BIN_MV
        edges = np.arange(lo, hi + BIN_MV / 2, BIN_MV)
        summary[block] = {}
        for case, color in (("without_az", "tab:red"), ("with_az", "tab:blue")):
            m = mc[case]
            counts, _ = np.histogram(m["samples_mv"], edges)
            summary[block][case] = {"mean_mV": m["mean_mv"], "sigma_mV": m["sigma_mv"]}
            p = PAPER_MV[block][case]
            a.stairs(
                counts,
                edges,
                fill=True,
                alpha=0.5,
                color=color,
                label=f"{case.replace('_', ' ')}: mu {m['mean_mv']:.2f}, "
                f"sigma {m['sigma_mv']:.2f} mV"
                f" (paper {p['mean_mV']:.2f}, {p['sigma_mV']:.2f})",
            )
            rows += [
                (block, case, float(edges[i]), float(edges[i + 1]), int(counts[i]))
                for i in range(counts.size)
            ]
        a.set_xlabel("input-referred offset (mV)")
        a.set_ylabel(f"count (of {n})")
        a.set_title(titles[block])
        a.legend(fontsize=7)
    files = save(
        fig, out_dir, "fig08ef_offsets", ["block", "case", "bin_lo_mV", "bin_hi_mV", "count"], rows
    )
    return {**files, "n": n, "seed": seed, **summary, "paper": PAPER_MV}
