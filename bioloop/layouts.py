"""Electrode layouts of multi-electrode arrays: the one place the MCS 60-electrode layout lives."""

from __future__ import annotations

import numpy as np

from . import validate as _v

MCS_PITCH = 200e-6  #: m, MCS 60MEA200/30 electrode pitch
MCS_REFERENCE = "15"  #: the internal reference electrode of the MCS 60-electrode layout


def mcs_layout(n_electrodes: int = 60) -> tuple[tuple[str, ...], np.ndarray]:
    """Labels and positions of the MCS 8 x 8 layout without corners (200 um pitch).

    Labels are ``"<column><row>"`` ("12" .. "87"), column-major as MCS and the recordings list
    them; positions (m) are relative to the (absent) corner electrode "11".

    Parameters
    ----------
    n_electrodes : int
        60 (every electrode) or 59 (without the reference electrode "15", as in recordings).

    Returns
    -------
    labels : tuple of str
    positions : ndarray, shape (n_electrodes, 2)
        x (column) and y (row) in metres.

    Raises
    ------
    ValueError
        If ``n_electrodes`` is neither 60 nor 59.

    Examples
    --------
    >>> labels, pos = mcs_layout()
    >>> labels[:3], len(labels), pos[-1].round(6).tolist()
    (('12', '13', '14'), 60, [0.0014, 0.0012])
    """
    n = _v.integer("n_electrodes", n_electrodes)
    if n not in (59, 60):
        raise ValueError(f"n_electrodes = {n}; valid: 60 (MCS 8x8 without corners) or 59 "
                         f"(the same without reference electrode {MCS_REFERENCE})")
    labels, pos = [], []
    for col in range(1, 9):
        for row in range(1, 9):
            if (col, row) in ((1, 1), (1, 8), (8, 1), (8, 8)):
                continue
            lab = f"{col}{row}"
            if n == 59 and lab == MCS_REFERENCE:
                continue
            labels.append(lab)
            pos.append(((col - 1) * MCS_PITCH, (row - 1) * MCS_PITCH))
    return tuple(labels), np.array(pos, dtype=np.float64)


#: the MCS 60-electrode labels, column-major ("12" .. "87")
MCS60_LABELS = mcs_layout(60)[0]
