"""A PNG per metric against each varied axis of a sweep.

Each plot shows every finished cell as a dot (the other axes spread the dots) and the mean per
axis value as a line. Figures are drawn on ``matplotlib.figure.Figure`` with an Agg canvas;
pyplot and the global backend are never touched.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

#: table columns that are neither axes nor metrics
_NOT_METRICS = {"cell", "key", "status", "error"}


def metrics_of(df, axes) -> list[str]:
    """Numeric result columns that vary across the finished cells (booleans count as 0 / 1)."""
    ok = df[df["status"] == "ok"]
    out = []
    for col in df.columns:
        if col in _NOT_METRICS or col in axes:
            continue
        values = ok[col]
        if values.dtype == object:
            if not values.map(lambda v: isinstance(v, bool | int | float) or v is None).all():
                continue
        elif not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
            continue
        num = values.astype(float)
        if num.notna().sum() and num.nunique(dropna=True) > 1:
            out.append(col)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def plot_metrics(df, varied: list[str], out_dir) -> list[str]:
    """Draw ``<metric>__vs__<axis>.png`` into ``out_dir`` for each metric and varied axis.

    Parameters
    ----------
    df : pandas.DataFrame
        The sweep's table (:func:`bioloop.sweep.results.table`).
    varied : list of str
        The axes that take more than one value.
    out_dir : path
        Created if missing.

    Returns
    -------
    list of str
        File names written (relative to ``out_dir``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    ok = df[df["status"] == "ok"]
    if ok.empty or not varied:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for axis in varied:
        if axis == "recording":  # one level per recording, well and window
            xs = [_recording_label(r) for r in ok[["recording", "well", "start", "stop"]].itertuples()]
        else:
            xs = [_level(v) for v in ok[axis]]  # a missing value (the default) is one level
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs)
        levels = sorted(set(xs), key=lambda v: (v is not None, v if numeric else str(v)))
        pos = {v: (float(v) if numeric else float(i)) for i, v in enumerate(levels)}
        x = np.array([pos[v] for v in xs], float)
        for metric in metrics_of(df, set(varied) | set(_axes_of(df))):
            y = ok[metric].astype(float).to_numpy()
            fig = Figure(figsize=(5.5, 3.8), layout="constrained")
            FigureCanvasAgg(fig)
            ax = fig.subplots()
            ax.plot(x, y, "o", ms=3, alpha=0.5, color="tab:blue", label="cells")
            means = [np.nanmean(y[x == pos[v]]) if np.isfinite(y[x == pos[v]]).any() else np.nan
                     for v in levels]
            ax.plot([pos[v] for v in levels], means, "-" if numeric else "_", color="k", lw=1.2,
                    ms=24, mew=1.5, label="mean")
            if not numeric:
                ax.set_xticks([pos[v] for v in levels], [_label(v) for v in levels],
                              rotation=20 if len(levels) > 3 else 0, fontsize=8)
            elif len(levels) > 2 and min(levels) > 0 and max(levels) / min(levels) >= 20:
                ax.set_xscale("log")
            ax.set_xlabel(axis)
            ax.set_ylabel(metric)
            ax.set_title(f"{metric} vs {axis} ({len(ok)} cells)", fontsize=10)
            ax.legend(fontsize=8)
            name = f"{_slug(metric)}__vs__{_slug(axis)}.png"
            fig.savefig(out_dir / name, dpi=90)
            names.append(name)
    return names


def _axes_of(df) -> list[str]:
    """Axis columns: everything between ``key`` and ``status``."""
    cols = list(df.columns)
    return cols[cols.index("key") + 1: cols.index("status")]


def _recording_label(r) -> str:
    text = Path(r.recording).name
    if _level(r.well) is not None:
        text += f" {r.well}"
    if _level(r.start) is not None or _level(r.stop) is not None:
        lo, hi = _level(r.start), _level(r.stop)
        text += f" [{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}] s"
    return text


def _level(v):
    """An axis value as a plot level: numpy scalars as Python ones, NaN and None as None."""
    if hasattr(v, "item") and hasattr(v, "dtype"):
        v = v.item()
    if v is None or (isinstance(v, float) and v != v):
        return None
    return v


def _label(v) -> str:
    text = "default" if v is None else str(v)
    return ("..." + text[-32:]) if len(text) > 35 else text
