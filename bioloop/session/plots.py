"""Rasters of a session: input spikes, FIREs and stimulation, one panel each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .nixfile import SessionFile


def session_raster(sf: SessionFile, path, *, t_range: tuple[float, float] | None = None) -> Path:
    """Draw input / FIRE / stimulation rasters of a session into a PNG; returns the path."""
    path = Path(path)
    fig = Figure(figsize=(10, 7), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2, 1])
    ev = sf.input
    lo, hi = t_range if t_range else (ev.t_start, ev.t_stop)
    sel = (ev.times >= lo) & (ev.times <= hi)
    pulse = sf.fates == "pulse" if sf.fates.size == len(ev) else np.ones(len(ev), bool)
    ax = axes[0]
    ax.scatter(ev.times[sel & pulse], ev.channels[sel & pulse], s=1, c="k", marker="|", label="axon pulse")
    if np.any(sel & ~pulse):
        ax.scatter(ev.times[sel & ~pulse], ev.channels[sel & ~pulse], s=3, c="tab:red", marker="|",
                   label="dropped")
    ax.set_ylabel("electrode")
    ax.set_title(f"input spikes ({len(ev)}; {int(np.count_nonzero(~pulse))} dropped)")
    ax.legend(loc="upper right", fontsize="small")
    fires = sf.fires
    ft = fires.times + sf.meta.get("t_start", 0.0)
    fsel = (ft >= lo) & (ft <= hi)
    axes[1].scatter(ft[fsel], (fires.cluster * 16 + fires.dend)[fsel], s=1, c="tab:blue", marker="|")
    axes[1].set_ylabel("neuron (cluster*16+dend)")
    axes[1].set_title(f"FIRE ({len(fires)})")
    st = sf.stim
    ssel = (st.times >= lo) & (st.times <= hi)
    axes[2].scatter(st.times[ssel], st.electrode[ssel], s=2, c="tab:green", marker="|", label="delivered")
    rec = sf.meta.get("source", {}).get("recorded_stimulation")  # the recording's own (CL files)
    if rec and rec.get("times_s"):
        row = {lab: i for i, lab in enumerate(ev.labels)}
        rt = np.asarray(rec["times_s"], np.float64)
        re_ = np.array([row.get(e, -1) for e in rec["electrodes"]])
        ksel = (rt >= lo) & (rt <= hi)
        axes[2].scatter(rt[ksel], re_[ksel], s=6, c="tab:orange", marker="x",
                        label=f"recorded in the file ({rt.size})")
    rsel = (sf.refused_times >= lo) & (sf.refused_times <= hi)
    if np.any(rsel):
        axes[2].scatter(sf.refused_times[rsel], np.full(int(rsel.sum()), -1), s=2, c="tab:red", marker="x",
                        label="refused (row -1)")
    axes[2].set_ylabel("electrode")
    axes[2].set_title(f"stimulation ({len(st)} delivered, {sf.refused_times.size} refused)")
    axes[2].set_xlabel("time (s)")
    axes[2].legend(loc="upper right", fontsize="small")
    fig.savefig(path, dpi=110)
    return path
