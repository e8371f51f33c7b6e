"""Amplifier offsets and their auto-zero cancellation (paper section 2.2.1.3, Fig. 8).

Auto-zero is modelled as the mechanism, not as a table: during the storage phase the
amplifier's input-referred offset is sampled onto a hold capacitor; in the evaluation phase it
is subtracted. The residual is the raw offset divided by the loop gain, plus the charge that the
opening AZ switch injects onto the hold capacitor, plus the kT/C noise frozen on it.
"""

from __future__ import annotations

import numpy as np

from .config import BOLTZMANN, OffsetModel


def sample_offsets(model: OffsetModel, size, rng: np.random.Generator, *, auto_zero: bool,
                   temperature_k: float = 300.0) -> np.ndarray:
    """Input-referred offsets (volts) of ``size`` amplifier instances.

    Parameters
    ----------
    model : OffsetModel
        Raw offset statistics and auto-zero circuit parameters.
    size : int or tuple of int
        How many instances.
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).
    auto_zero : bool
        Whether the offset-storage phase runs.
    temperature_k : float
        Temperature for the kT/C noise on the hold capacitor.

    Returns
    -------
    numpy.ndarray
        Offsets in volts.

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.chip.config import COMPARATOR_OFFSET
    >>> off = sample_offsets(COMPARATOR_OFFSET, 20000, np.random.default_rng(0), auto_zero=True)
    >>> bool(7.5e-3 < off.mean() < 8.5e-3 and 0.8e-3 < off.std() < 1.15e-3)
    True
    """
    raw = rng.normal(model.raw_mean, model.raw_sigma, size)
    if not auto_zero:
        return raw
    residual = raw / (1.0 + model.az_gain)
    injection = rng.normal(model.injection_mean, model.injection_sigma, size)
    ktc = rng.normal(0.0, np.sqrt(BOLTZMANN * temperature_k / model.c_hold), size)
    return residual + injection + ktc


def monte_carlo(model: OffsetModel, n: int, seed: int, temperature_k: float = 300.0) -> dict:
    """Mean and sigma (mV) of ``n`` sampled offsets with and without auto-zero (Fig. 8E-F)."""
    out = {}
    for case, az in (("without_az", False), ("with_az", True)):
        off = sample_offsets(model, n, np.random.default_rng(seed), auto_zero=az,
                             temperature_k=temperature_k)
        out[case] = {"mean_mv": float(off.mean() * 1e3), "sigma_mv": float(off.std(ddof=1) * 1e3),
                     "samples_mv": off * 1e3}
    return out
