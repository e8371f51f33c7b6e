"""Small operations on spike times shared by readers, detectors and generators."""

from __future__ import annotations

import numpy as np


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
        The kept times.

    Examples
    --------
    >>> apply_dead_time(np.array([0.0, 0.0005, 0.002, 0.0025]), 0.001).tolist()
    [0.0, 0.002]
    """
    if dead <= 0 or times.size < 2:
        return times
    keep = np.ones(times.size, bool)
    last = times[0]
    for i in range(1, times.size):
        if times[i] - last < dead:
            keep[i] = False
        else:
            last = times[i]
    return times[keep]
