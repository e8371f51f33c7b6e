"""The one progress bar (tqdm) and the one percentile summary of the command-line verbs."""

from __future__ import annotations

import sys

import numpy as np


def progress_bar(desc: str, total: float | None, *, unit: str = "s", quiet: bool = False, stream=None):
    """A tqdm bar on stderr, shown only on a terminal and unless ``quiet``.

    Use it as a context manager and call ``update(amount)``; ``total=None`` counts up with no end.

    Examples
    --------
    >>> with progress_bar("replay", 10.0, quiet=True) as bar:
    ...     bar.update(2.5)
    >>> bar.disable  # quiet (or not a terminal): nothing is printed
    True
    """
    from tqdm import tqdm

    stream = sys.stderr if stream is None else stream
    enabled = not quiet and hasattr(stream, "isatty") and stream.isatty()
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=not enabled, leave=True,
                mininterval=0.2, dynamic_ncols=True,
                bar_format=None if total is not None else "{desc}: {n:.1f} {unit} [{elapsed}]{postfix}")


def percentile_summary(values, *, scale: float = 1.0) -> dict:
    """``{"p50", "p99", "max", "mean", "n"}`` of ``values`` times ``scale`` (None when empty).

    Examples
    --------
    >>> s = percentile_summary([1e-3, 2e-3, 3e-3], scale=1e3)
    >>> round(s["p50"], 9), round(s["max"], 9), s["n"]
    (2.0, 3.0, 3)
    >>> percentile_summary([])["p50"] is None
    True
    """
    v = np.asarray(values, np.float64).ravel() * scale
    if v.size == 0:
        return {"p50": None, "p99": None, "max": None, "mean": None, "n": 0}
    p50, p99 = np.percentile(v, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(v.max()), "mean": float(v.mean()),
            "n": int(v.size)}
