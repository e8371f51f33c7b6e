"""Small operations on spike times shared by readers, detectors and generators."""

from __future__ import annotations

import numpy as np


def dead_time_mask(times: np.ndarray, dead: float, last: float = -np.inf) -> np.ndarray:
    """Which spikes the dead-time rule keeps: the one rule of offline and online detection.

    A spike is kept only if it comes at least ``dead`` seconds after the last kept one.

    Parameters
    ----------
    times : numpy.ndarray
        Sorted spike times of one channel, s.
    dead : float
        Dead time, s; 0 or less keeps everything.
    last : float
        The last spike kept before ``times`` (a detector reading a stream carries it from one
        chunk to the next); ``-inf`` when there was none.

    Returns
    -------
    numpy.ndarray of bool
        True for the kept spikes.

    Examples
    --------
    >>> dead_time_mask(np.array([0.0, 0.0005, 0.002, 0.0025]), 0.001).tolist()
    [True, False, True, False]
    >>> dead_time_mask(np.array([0.0005, 0.0015]), 0.001, last=0.0).tolist()
    [False, True]
    """
    times = np.asarray(times, dtype=np.float64)
    keep = np.ones(times.size, bool)
    if dead <= 0 or times.size == 0:
        return keep
    # one spike can only suppress later ones within ``dead``: when no two candidates are that
    # close (the usual case) the answer needs no loop
    gaps = np.diff(times, prepend=last)
    if np.all(gaps >= dead):
        return keep
    for i in range(times.size):
        if times[i] - last < dead:
            keep[i] = False
        else:
            last = times[i]
    return keep


def apply_dead_time(times: np.ndarray, dead: float) -> np.ndarray:
    """The times :func:`dead_time_mask` keeps (sorted times of one channel, ``dead`` in s).

    Examples
    --------
    >>> apply_dead_time(np.array([0.0, 0.0005, 0.002, 0.0025]), 0.001).tolist()
    [0.0, 0.002]
    """
    return times[dead_time_mask(times, dead)]


def robust_noise(x: np.ndarray, axis: int | None = None):
    """Median and robust standard deviation of a trace (or of each column with ``axis=0``).

    The one noise estimate of every spike detector, offline and online: the median absolute
    deviation scaled to the sd of a Gaussian, ``scipy.stats.median_abs_deviation(x,
    scale="normal")`` (MAD / 0.67449; Quiroga et al. 2004, Neural Comput 16:1661).

    Parameters
    ----------
    x : numpy.ndarray
        Samples (1-D), or samples x channels with ``axis=0``.
    axis : int, optional
        Axis along which to estimate; None for a 1-D trace (floats returned).

    Returns
    -------
    (median, sd)
        Two floats for a 1-D trace, two arrays with ``axis``.

    Raises
    ------
    ValueError
        If ``x`` is empty.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> med, sd = robust_noise(rng.normal(1.0, 2.0, 100_000))
    >>> round(med, 1), round(sd, 1)
    (1.0, 2.0)
    """
    from scipy.stats import median_abs_deviation

    x = np.asarray(x, np.float64)
    if x.size == 0:
        raise ValueError("robust_noise needs at least one sample, got an empty array")
    if axis is None:
        x = x.ravel()
        return float(np.median(x)), float(median_abs_deviation(x, scale="normal"))
    return (np.median(x, axis=axis),
            np.asarray(median_abs_deviation(x, axis=axis, scale="normal"), np.float64))
