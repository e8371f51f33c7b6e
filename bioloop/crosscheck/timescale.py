"""Running the same biological time course at another GCLK.

The chip counts its dynamics in GCLK cycles: at 50 kHz the default config runs 50 times
faster than at 1 kHz. To ask what the clock alone costs, the GCLK sweep keeps the time
course in seconds fixed and changes only the clock: the leak per cycle shrinks and the
refractory count grows in proportion.
"""

from __future__ import annotations

from .. import validate as _v
from ..chip.config import GCLK_MAX_HZ, GCLK_MIN_HZ, ChipConfig


def scaled_config(config: ChipConfig, gclk_hz: float) -> ChipConfig:
    """The config that runs the same time course (in seconds) at another GCLK.

    Scales ``i_leak`` by ``config.gclk_hz / gclk_hz`` (so the leak rate ``leak_step *
    gclk_hz`` in V/s is kept) and sets ``n_abs = round((n_abs + 1) r) - 1`` with
    ``r = gclk_hz / config.gclk_hz`` (so the time from a FIRE to the first integrated input,
    ``(n_abs + 1) / gclk_hz``, is kept up to one cycle of the new clock).

    Parameters
    ----------
    config : ChipConfig
        The original config.
    gclk_hz : float
        The new clock, 1 kHz to 50 kHz.

    Returns
    -------
    ChipConfig

    Raises
    ------
    TypeError
        If ``config`` is not a ChipConfig or ``gclk_hz`` not a number.
    ValueError
        If ``gclk_hz`` is outside 1..50 kHz, or the refractory time is shorter than one cycle
        of the new clock.

    Examples
    --------
    >>> c = scaled_config(ChipConfig(), 50e3)
    >>> c.n_abs, round(c.leak_step * 1e3, 9), c.gclk_hz
    (149, 0.2, 50000.0)
    """
    if not isinstance(config, ChipConfig):
        raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
    f = _v.real("gclk_hz", gclk_hz, lo=GCLK_MIN_HZ, hi=GCLK_MAX_HZ)
    ratio = f / config.gclk_hz
    n_abs = round((config.n_abs + 1) * ratio) - 1
    if n_abs < 0:
        raise ValueError(f"at gclk_hz = {f:g} the refractory time of {config.n_abs + 1} cycles at "
                         f"{config.gclk_hz:g} Hz is shorter than one cycle")
    return config.replace(gclk_hz=f, i_leak=config.i_leak / ratio, n_abs=int(n_abs))
