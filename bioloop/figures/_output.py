"""What every figure module shares: an Agg figure, PNG and CSV output, a linear fit.

Figures are drawn on ``matplotlib.figure.Figure`` with an explicit ``FigureCanvasAgg``; pyplot
and the global backend are never touched.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 6.4, height: float = 4.0):
    """A constrained-layout figure with its Agg canvas, and its axes (always a 2-D array)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save(fig: Figure, out_dir: Path, stem: str, header: list[str], rows: list) -> dict:
    """Write ``stem.png`` and ``stem.csv`` (``header`` then ``rows``) into ``out_dir``.

    Returns the file names (relative to ``out_dir``) and the number of CSV rows.
    """
    png = out_dir / f"{stem}.png"
    fig.savefig(png, dpi=DPI)
    path = out_dir / f"{stem}.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            if len(row) != len(header):
                raise ValueError(f"CSV row {row!r} has {len(row)} fields; header has {len(header)}")
            w.writerow([_cell(x) for x in row])
    return {"png": png.name, "csv": path.name, "csv_rows": len(rows)}


def _cell(x):
    if isinstance(x, bool | np.bool_):
        return int(x)
    if isinstance(x, float | np.floating):
        return repr(float(x))
    if isinstance(x, np.integer):
        return int(x)
    return x


def linear_fit(x, y) -> dict:
    """Least-squares line through (x, y): slope, intercept, r^2, largest |residual|."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return {
        "slope": float(slope),
        "intercept": float(intercept),
        "r2": r2,
        "max_abs_residual": float(np.abs(resid).max()),
    }


def program_single_row(chip, theta: int, s_row0, s_row1=None) -> None:
    """Program ``chip`` with threshold ``theta`` (gen 7, ref 7 - theta) and rows 0 and 1.

    ``s_row0`` / ``s_row1`` give the signed weight of each of the 16 columns (a scalar for all);
    every row's PSP reference is ``7 - theta`` so that ``s`` can reach ``theta``; the other
    rows carry ``s = 0``.
    """
    r = 7 - theta
    w = np.full((16, 16), r, dtype=int)
    w[0] = r + np.broadcast_to(np.asarray(s_row0, int), (16,))
    if s_row1 is not None:
        w[1] = r + np.broadcast_to(np.asarray(s_row1, int), (16,))
    chip.program(w, np.full(16, r, dtype=int), threshold_gen=7, threshold_ref=r)
    chip.reset()
