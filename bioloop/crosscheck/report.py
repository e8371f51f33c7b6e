"""The cross-check report folder: a short markdown summary and the figures behind it.

``summary.md`` (verdict, statistics against tolerances, counts, timing), ``rasters.png``
(FIRE rasters of both sides, side by side), ``rates.png`` (per-neuron firing rate, chip
against reference), ``isi.png`` (inter-spike-interval histograms of both sides). A GCLK
sweep adds ``gclk_sweep.csv`` and ``gclk_sweep.png``. Figures are drawn on a matplotlib
``Figure`` with an explicit Agg canvas; pyplot is never used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip.config import N_DENDS
from .statistics import spike_times
from .sweep import SweepResult, plot_sweep, write_sweep_csv
from .verdict import CrossCheck

DPI = 110


def _figure(ncols: int, width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def write_report(result: CrossCheck, folder, *, sweep: SweepResult | None = None,
                 notes: dict | None = None) -> dict:
    """Write the report of ``result`` (and of ``sweep``, if given) into ``folder``.

    Parameters
    ----------
    result : CrossCheck
    folder : str or Path
        Created if missing; existing report files in it are overwritten.
    sweep : SweepResult, optional
    notes : dict, optional
        Extra lines for the summary (input, network, ...), ``{label: text}``.

    Returns
    -------
    dict
        ``{"folder": str, "files": [names]}``.

    Raises
    ------
    TypeError
        If ``result`` is not a CrossCheck.
    ValueError
        If ``folder`` exists and is not a directory.
    """
    if not isinstance(result, CrossCheck):
        raise TypeError(f"result must be a CrossCheck, got {type(result).__name__}")
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ValueError(f"report folder {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    a = spike_times(result.chip.fires, result.n_neurons)
    b = spike_times(result.ref.fires, result.n_neurons)
    files = [_rasters(result, a, b, out / "rasters.png").name,
             _rates(result, a, b, out / "rates.png").name,
             _isi(result, a, b, out / "isi.png").name]
    if sweep is not None:
        files += [write_sweep_csv(sweep, out / "gclk_sweep.csv").name,
                  plot_sweep(sweep, out / "gclk_sweep.png").name]
    (out / "summary.md").write_text(_markdown(result, files, sweep, notes or {}))
    return {"folder": str(out), "files": ["summary.md", *files]}


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _markdown(r: CrossCheck, files: list[str], sweep: SweepResult | None, notes: dict) -> str:
    lines = [f"# Cross-check: chip model vs {r.reference}", "",
             f"**Verdict: {r.verdict}**" + (f" (spikes identical: {r.spike_exact})"
                                           if r.spike_exact is not None else ""), ""]
    for reason in r.reasons:
        lines.append(f"- {reason}")
    if r.reasons:
        lines.append("")
    lines += [f"- input: {r.n_cycles} GCLK cycles at {r.gclk_hz:g} Hz ({r.duration_s:g} s), "
              f"{r.n_neurons} neurons"]
    lines += [f"- {k}: {v}" for k, v in notes.items()]
    lines += [f"- Brian2 target: {r.brian2_target or 'n/a'}",
              f"- wall time: chip {r.chip.wall_s:.3g} s, reference {r.ref.wall_s:.3g} s", "",
              "| statistic | value | tolerance | better | neurons | ok |",
              "|---|---|---|---|---|---|"]
    for name, m in r.metrics.items():
        lines.append(f"| {name} | {_fmt(m.value)} | {m.tolerance:g} | "
                     f"{'higher' if m.higher_is_better else 'lower'} | {m.n} | "
                     f"{'yes' if m.ok else 'NO'} |")
    lines += ["", "| counts | chip | reference |", "|---|---|---|"]
    ca, cb = r.chip.counts(), r.ref.counts()
    lines += [f"| {k} | {ca[k]} | {cb[k]} |" for k in ca]
    s = r.settings
    lines += ["", f"Time scales: van Rossum tau {s.van_rossum_tau * 1e3:g} ms, Victor-Purpura "
              f"cost {s.victor_purpura_cost:g} /s, STTC dt {s.sttc_dt * 1e3:g} ms, bins "
              f"{s.bin_size * 1e3:g} ms."]
    if sweep is not None:
        lines += ["", f"## GCLK sweep against {sweep.reference} "
                  f"(reference at {sweep.reference_gclk_hz:g} Hz, {sweep.reference_fires} fires)",
                  "", "| GCLK (Hz) | chip fires | van_rossum | victor_purpura | sttc | firing_rate |",
                  "|---|---|---|---|---|---|"]
        for row in sweep.rows:
            lines.append(f"| {row['gclk_hz']:g} | {row['chip_fires']} | {_fmt(row['van_rossum'])} | "
                         f"{_fmt(row['victor_purpura'])} | {_fmt(row['sttc'])} | "
                         f"{_fmt(row['firing_rate'])} |")
    lines += ["", "Figures: " + ", ".join(f"[{f}]({f})" for f in files if f.endswith(".png")), ""]
    return "\n".join(lines)


def _rasters(r: CrossCheck, a, b, path: Path) -> Path:
    fig, axes = _figure(2, 10.0, 4.0)
    for ax, trains, title in ((axes[0], a, "chip model"), (axes[1], b, r.reference)):
        for i, t in enumerate(trains):
            if t.size:
                ax.vlines(t, i - 0.4, i + 0.4, linewidth=0.6, color="k")
        ax.set_xlim(0, r.duration_s)
        ax.set_ylim(-0.6, r.n_neurons - 0.4)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"neuron (16 x cluster + dend, {r.n_neurons // N_DENDS} clusters)")
        ax.set_title(f"{title}: {sum(t.size for t in trains)} FIREs", fontsize=10)
    fig.savefig(path, dpi=DPI)
    return path


def _rates(r: CrossCheck, a, b, path: Path) -> Path:
    fig, axes = _figure(1, 4.8, 4.4)
    ax = axes[0]
    ra = np.array([t.size for t in a]) / r.duration_s
    rb = np.array([t.size for t in b]) / r.duration_s
    top = max(float(ra.max(initial=0)), float(rb.max(initial=0)), 1e-9) * 1.05
    ax.plot([0, top], [0, top], color="0.6", linewidth=1, label="equal")
    ax.scatter(ra, rb, s=12, alpha=0.7)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("chip model rate (Hz)")
    ax.set_ylabel(f"{r.reference} rate (Hz)")
    m = r.metrics.get("firing_rate")
    ax.set_title("per-neuron firing rate" + (f" (rel. diff {m.value:.3g})" if m and m.value is not None
                                            else ""), fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=DPI)
    return path


def _isi(r: CrossCheck, a, b, path: Path) -> Path:
    fig, axes = _figure(1, 6.0, 4.0)
    ax = axes[0]
    ia = np.concatenate([np.diff(t) for t in a]) if a else np.zeros(0)
    ib = np.concatenate([np.diff(t) for t in b]) if b else np.zeros(0)
    both = np.concatenate([ia, ib])
    if both.size:
        hi = float(np.percentile(both, 99)) or float(both.max()) or 1.0 / r.gclk_hz
        bins = np.linspace(0.0, hi * 1e3, 50)
        ax.hist(ia * 1e3, bins=bins, histtype="step", linewidth=1.5, label=f"chip model ({ia.size})")
        ax.hist(ib * 1e3, bins=bins, histtype="step", linewidth=1.5, label=f"{r.reference} ({ib.size})")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no neuron fired twice", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("inter-spike interval (ms), up to the 99th percentile")
    ax.set_ylabel("intervals")
    ax.set_title("ISI histograms", fontsize=10)
    fig.savefig(path, dpi=DPI)
    return path
