"""Firing decisions of one chip instance under device variation (chip-model.md section 6).

Every (theta, s) pair in one programming: cluster ``c`` has ``theta = c + 1`` (generator code
7, reference code ``6 - c``); AXON row ``k`` has PSP reference code ``k % 8`` and column ``n``
synapse code ``n % 8``, so the signed weight ``s = w - r`` covers -7..7. One stimulus from rest
on each row in turn gives the FIRE decision of every (theta, row, column); the spec says a
neuron fires iff ``s >= theta``. The device tests and the mismatch sweep
(``bioloop sweep --builtin mismatch``) both count the decisions that variation flips.
"""

from __future__ import annotations

import numpy as np

from .chip import Chip
from .config import ChipConfig

THETAS = np.arange(1, 8)  #: threshold of cluster c is c + 1
ROW_REFS = np.r_[np.arange(8), np.arange(8)]  #: PSP reference code of AXON row k
COL_CODES = np.tile(np.r_[np.arange(8), np.arange(8)], (16, 1))  #: synapse codes (row, column)
SIGNED = COL_CODES - ROW_REFS[:, None]  #: signed weight s of (row, column), -7..7
IDEAL = SIGNED[None, :, :] >= THETAS[:, None, None]  #: the spec's decisions (theta, row, column)
S_VALUES = np.arange(-7, 8)  #: every signed weight the grid holds


def decisions(cfg: ChipConfig, seed: int | None, mismatch: bool = True) -> np.ndarray:
    """FIRE of every (theta, row, column) for a single stimulus from rest.

    Parameters
    ----------
    cfg : ChipConfig
    seed : int or None
        Seed of the chip instance's device variation.
    mismatch : bool
        Whether the instance has device variation.

    Returns
    -------
    numpy.ndarray
        Boolean, shape (7, 16, 16): theta 1..7, AXON row, column.

    Examples
    --------
    >>> bool((decisions(ChipConfig(), seed=0, mismatch=False) == IDEAL).all())
    True
    """
    chip = Chip(cfg, n_clusters=THETAS.size, seed=seed, mismatch=mismatch)
    chip.program(COL_CODES, ROW_REFS, threshold_gen=np.full(THETAS.size, 7), threshold_ref=7 - THETAS)
    out = np.zeros((THETAS.size, 16, 16), bool)
    for k in range(16):
        chip.reset()
        a = np.zeros((1, 16), bool)
        a[0, k] = True
        out[:, k, :] = chip.run(a).fires[0]
    return out


def margin_mask() -> np.ndarray:
    """Where a decision has the narrowest margin: ``s`` is ``theta`` or ``theta - 1``
    (shape (7, 16, 16), like :func:`decisions`)."""
    m = np.isin(SIGNED[None] - THETAS[:, None, None], (-1, 0))
    return np.broadcast_to(m, IDEAL.shape)


def flips_by_theta_and_s(got: np.ndarray) -> dict:
    """Decisions that differ from the spec, counted per theta and signed weight ``s``.

    Parameters
    ----------
    got : numpy.ndarray
        What :func:`decisions` returned.

    Returns
    -------
    dict
        ``flips`` (7 x 15 counts, theta 1..7 by s -7..7) and ``pairs`` (how many (row,
        column) pairs of the grid have each s, 15 counts), as nested lists.

    Examples
    --------
    >>> f = flips_by_theta_and_s(IDEAL)
    >>> sum(map(sum, f["flips"])), f["pairs"][7]  # s = 0
    (0, 32)
    """
    wrong = np.asarray(got, bool) != IDEAL
    flips = np.array([[int(wrong[t][SIGNED == s].sum()) for s in S_VALUES] for t in range(THETAS.size)])
    pairs = np.array([int((SIGNED == s).sum()) for s in S_VALUES])
    return {"flips": flips.tolist(), "pairs": pairs.tolist()}
