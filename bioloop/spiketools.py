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
    """Keep a spike only if it comes at least ``dead`` seconds after the last kept one.

    Parameters
    ----------
    times : numpy.ndarray
        Sorted spike times of one channel, s.
    dead : float
        Dead time, s; 0 or less keeps everything.

    Returns
    -------
    numpy.ndarray
        The kept times (see :func:`dead_time_mask`).

    Examples
    --------
    >>> apply_dead_time(np.array([0.0, 0.0005, 0.002, 0.0025]), 0.001).tolist()
    [0.0, 0.002]
    """
    if dead <= 0 or times.size < 2:
        return times
    return times[dead_time_mask(times, dead)]
