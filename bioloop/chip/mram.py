"""MRAM cells, binary-weighted current mirrors and current subtraction (paper 2.1.3-2.1.4).

A 3-bit code ``w`` is three MTJ cells whose read currents are copied by mirrors of ratio x1, x2,
x4; a cell in the P state carries I_P = V_READ / R_P, one in the AP state I_AP = V_READ / R_AP.
So a code counts mirror-weighted P cells: the column current of code ``w`` is
``w I_P + (7 - w) I_AP``. Subtracting the PSP-reference row (code ``r``) leaves
``(w - r) (I_P - I_AP) = s alpha``: the AP pedestal cancels, which is what makes MRAM's low
on/off ratio usable (Fig. 5A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import N_BITS, ChipConfig

BIT_WEIGHTS = 2 ** np.arange(N_BITS)  # x1, x2, x4


def codes_to_bits(codes: np.ndarray) -> np.ndarray:
    """Cell states (True = P) of 3-bit codes, bit axis last: ``code = sum(bit_i 2^i)``."""
    codes = np.asarray(codes, dtype=np.int64)
    return ((codes[..., None] >> np.arange(N_BITS)) & 1).astype(bool)


def bits_to_codes(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.int64) * BIT_WEIGHTS).sum(axis=-1).astype(np.int8)


@dataclass
class CellResistances:
    """R_P and R_AP of every cell of one array (same shape as the array's bit tensor)."""

    r_p: np.ndarray
    r_ap: np.ndarray

    def current(self, bits: np.ndarray, v_read: float) -> np.ndarray:
        """Read current of each cell given its state (True = P)."""
        return v_read / np.where(bits, self.r_p, self.r_ap)


def sample_resistances(cfg: ChipConfig, shape, die_p: np.ndarray, die_ap: np.ndarray,
                       rng: np.random.Generator | None) -> CellResistances:
    """Cell resistances: nominal x die-to-die factor (per cluster, first axis) x local factor."""
    expand = (slice(None),) + (None,) * (len(shape) - 1)
    rp = cfg.r_p * die_p[expand] * np.ones(shape)
    rap = cfg.r_ap * die_ap[expand] * np.ones(shape)
    if rng is not None and cfg.sigma_r_local > 0:
        rp = rp * rng.lognormal(0.0, cfg.sigma_r_local, shape)
        rap = rap * rng.lognormal(0.0, cfg.sigma_r_local, shape)
    return CellResistances(rp, rap)


def mirrors(shape, sigma: float, rng: np.random.Generator | None) -> np.ndarray:
    """Mirror ratios x1, x2, x4 along the last axis (size 3), each with relative mismatch."""
    m = np.broadcast_to(BIT_WEIGHTS.astype(float), tuple(shape) + (N_BITS,)).copy()
    if rng is not None and sigma > 0:
        m *= 1.0 + rng.normal(0.0, sigma, m.shape)
    return m


def weighted_current(cell_current: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Sum over the bit axis of mirrored cell currents."""
    return (cell_current * mirror).sum(axis=-1)


# ---- Fig. 5A: why subtraction ------------------------------------------------------------
def level_decoding(tmr_ratio: float, *, n_rows: int = 4, n_trials: int = 2000,
                   sigma_r: float = 0.005, r_p: float = 10e3, v_read: float = 0.04,
                   rng: np.random.Generator) -> dict:
    """Decode the summed weight of ``n_rows`` simultaneously active rows, naive vs subtracted.

    Each trial draws codes for 1..``n_rows`` active rows of one column and resistances with
    lognormal variation ``sigma_r``. The *naive* readout sums the column current and assumes
    AP cells carry nothing (``level = I / I_P``); the *subtracted* readout removes a reference
    row of code 0 per active row (all AP cells) and divides by alpha.

    Returns
    -------
    dict
        ``naive_error_rate``, ``subtracted_error_rate`` (fraction of trials decoded to the
        wrong level), ``naive_separation`` and ``subtracted_separation``: the smallest current
        gap between two different true levels, in units of the nominal alpha, over all trials.
    """
    r_ap = tmr_ratio * r_p
    i_p, i_ap = v_read / r_p, v_read / r_ap
    alpha = i_p - i_ap
    n_active = rng.integers(1, n_rows + 1, n_trials)
    codes = rng.integers(0, 8, (n_trials, n_rows))
    active = np.arange(n_rows)[None, :] < n_active[:, None]
    bits = codes_to_bits(codes)  # (trials, rows, 3)
    shape = bits.shape
    rp = r_p * rng.lognormal(0, sigma_r, shape)
    rap = r_ap * rng.lognormal(0, sigma_r, shape)
    cur = v_read / np.where(bits, rp, rap)
    col = (weighted_current(cur, BIT_WEIGHTS) * active).sum(axis=1)
    ref_cur = v_read / (r_ap * rng.lognormal(0, sigma_r, shape))  # code-0 reference rows
    ref = (weighted_current(ref_cur, BIT_WEIGHTS) * active).sum(axis=1)
    truth = (codes * active).sum(axis=1)
    naive_level = np.rint(col / i_p)
    sub_level = np.rint((col - ref) / alpha)

    def separation(current):
        # worst margin between adjacent true levels: lowest current of the higher level minus
        # highest current of the lower one; negative when the two distributions overlap
        levels = np.unique(truth)
        lo = np.array([current[truth == lv].min() for lv in levels])
        hi = np.array([current[truth == lv].max() for lv in levels])
        return float((lo[1:] - hi[:-1]).min() / alpha)

    return {
        "tmr_ratio": float(tmr_ratio),
        "naive_error_rate": float(np.mean(naive_level != truth)),
        "subtracted_error_rate": float(np.mean(sub_level != truth)),
        "naive_separation": separation(col),
        "subtracted_separation": separation(col - ref),
    }


def ideal_pedestal_collision(tmr_ratio: float) -> bool:
    """True when one P cell and some whole number of AP cells carry the same current."""
    return abs(tmr_ratio - round(tmr_ratio)) < 1e-12
