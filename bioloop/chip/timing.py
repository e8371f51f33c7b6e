"""The switch schedule of one GCLK cycle (paper section 2.2.1, Fig. 6B).

In a cycle in which a neuron integrates, the switch generator issues, in this order:

``AZ``
    offset storage of the amplifiers (only with ``auto_zero``), ``t_az`` long;
``SWRST``
    integrator reset to the baseline selector's output, ``t_swrst`` long;
``SWINTEG``
    the integration window from the falling edge of SWRST to the falling edge of SWINTEG,
    whose length ``T_integ`` the time-window generator sets (Fig. 7); this edge is the only
    one not timed by LCLK;
``SWCOMP``
    the comparison, from the first LCLK edge at or after SWINTEG falls, ``t_swcomp`` long;
``SWLEAK``
    the leak pulse after the comparison, ``t_swleak`` long.

Times are counted from the GCLK rising edge at which the AXON inputs are sampled. LCLK is
taken phase-locked to GCLK (an LCLK edge coincides with that GCLK edge), so the clocked switches
start and stop on whole LCLK periods. The paper's SWINTEG signal is already high during SWRST
(the integrator is reset to V_CM_COL while both are on); what this schedule calls SWINTEG is the
part in which the integrator actually integrates, so its width is ``T_integ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import validate as _v
from .chip import Chip
from .config import ChipConfig

SWITCH_ORDER = ("AZ", "SWRST", "SWINTEG", "SWCOMP", "SWLEAK")
#: switches whose edges come from D flip-flops clocked by LCLK
CLOCKED = frozenset({"AZ", "SWRST", "SWCOMP", "SWLEAK"})
_EDGE_TOL = 1e-6  # fraction of an LCLK period below which a time counts as on an edge


@dataclass(frozen=True)
class SwitchPulse:
    """One switch's on-interval within a GCLK cycle.

    Attributes
    ----------
    name : str
        One of ``SWITCH_ORDER``.
    start, stop : float
        Rising and falling edge, seconds after the GCLK rising edge.
    clocked : bool
        True when both edges are LCLK edges (AZ, SWRST, SWCOMP, SWLEAK).
    """

    name: str
    start: float
    stop: float
    clocked: bool

    def __post_init__(self):
        _v.choice("switch name", self.name, SWITCH_ORDER)
        _v.real(f"{self.name} start", self.start, lo=0.0)
        _v.real(f"{self.name} stop", self.stop, lo=self.start, lo_open=True)
        if not isinstance(self.clocked, bool):
            raise TypeError(f"clocked must be True or False, got {self.clocked!r}")

    @property
    def width(self) -> float:
        """On-time in seconds."""
        return self.stop - self.start


@dataclass(frozen=True)
class CycleSchedule:
    """The switches of one integrating GCLK cycle, in order, validated.

    Attributes
    ----------
    pulses : tuple of SwitchPulse
        In ``SWITCH_ORDER`` (AZ left out when auto-zero is off), not overlapping.
    gclk_period, lclk_period : float
        Seconds.
    t_integ : float
        The integration window this cycle uses (the width of SWINTEG), seconds.

    Raises
    ------
    ValueError
        Pulses out of order, overlapping, or not ending within one GCLK period.
    """

    pulses: tuple[SwitchPulse, ...]
    gclk_period: float
    lclk_period: float
    t_integ: float

    def __post_init__(self):
        if not isinstance(self.pulses, tuple) or not all(
            isinstance(p, SwitchPulse) for p in self.pulses
        ):
            raise TypeError("pulses must be a tuple of SwitchPulse")
        names = [p.name for p in self.pulses]
        expected = [n for n in SWITCH_ORDER if n in names]
        if names != expected or len(set(names)) != len(names):
            raise ValueError(f"switches {names} are not in the order {list(SWITCH_ORDER)}")
        for missing in ("SWRST", "SWINTEG", "SWCOMP"):
            if missing not in names:
                raise ValueError(f"a cycle schedule needs {missing}; got switches {names}")
        for a, b in zip(self.pulses, self.pulses[1:], strict=False):
            if b.start < a.stop:
                raise ValueError(
                    f"{b.name} starts at {b.start * 1e9:.3f} ns, before {a.name} "
                    f"ends at {a.stop * 1e9:.3f} ns"
                )
        if self.end > self.gclk_period:
            raise ValueError(
                f"the switch schedule ends at {self.end * 1e6:.4f} us, after the GCLK period of "
                f"{self.gclk_period * 1e6:.4f} us (T_integ = {self.t_integ * 1e9:.1f} ns); lower "
                "gclk_hz or shorten the switches"
            )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.pulses)

    def pulse(self, name: str) -> SwitchPulse:
        """The pulse of switch ``name``.

        Raises
        ------
        ValueError
            If this schedule has no such switch.
        """
        for p in self.pulses:
            if p.name == name:
                return p
        raise ValueError(f"no switch {name!r} in this schedule; it has {list(self.names)}")

    @property
    def end(self) -> float:
        """Falling edge of the last switch, seconds after the GCLK edge."""
        return self.pulses[-1].stop

    @property
    def slack(self) -> float:
        """Time left in the GCLK period after the last switch."""
        return self.gclk_period - self.end

    def to_rows(self) -> list[dict]:
        """One dict per switch with start, stop and width in ns (for tables and JSON)."""
        return [
            {
                "switch": p.name,
                "start_ns": p.start * 1e9,
                "stop_ns": p.stop * 1e9,
                "width_ns": p.width * 1e9,
                "clocked": p.clocked,
            }
            for p in self.pulses
        ]


def _ticks(name: str, t: float, lclk_hz: float) -> int:
    n = t * lclk_hz
    if abs(n - round(n)) > _EDGE_TOL or round(n) < 1:
        raise ValueError(
            f"{name} = {t * 1e9:g} ns is not a whole number of LCLK periods ({1e9 / lclk_hz:g} ns)"
        )
    return int(round(n))


def cycle_schedule(config: ChipConfig, t_integ: float) -> CycleSchedule:
    """The switch schedule of one integrating GCLK cycle.

    Parameters
    ----------
    config : ChipConfig
        Gives the clocks and the widths ``t_az``, ``t_swrst``, ``t_swcomp``, ``t_swleak``
        (whole LCLK periods) and whether auto-zero runs.
    t_integ : float
        The integration window in seconds, as the time-window generator of the instance
        produces it (see :meth:`Chip.t_integ`).

    Returns
    -------
    CycleSchedule

    Raises
    ------
    TypeError
        ``config`` not a ChipConfig, or ``t_integ`` not a real number.
    ValueError
        ``t_integ`` not positive, or the schedule not fitting in one GCLK period.

    Examples
    --------
    >>> from bioloop.chip import ChipConfig
    >>> cfg = ChipConfig()
    >>> s = cycle_schedule(cfg, cfg.t_integ_nominal(5))
    >>> s.names
    ('AZ', 'SWRST', 'SWINTEG', 'SWCOMP', 'SWLEAK')
    >>> [round(x * 1e9, 3) for x in (s.pulse("SWINTEG").start, s.pulse("SWINTEG").stop)]
    [40.0, 290.0]
    """
    if not isinstance(config, ChipConfig):
        raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
    t_integ = _v.real("t_integ", t_integ, lo=0.0, lo_open=True)
    f, tl = config.lclk_hz, config.lclk_period
    pulses = []
    tick = 0
    if config.auto_zero:
        n = _ticks("t_az", config.t_az, f)
        pulses.append(SwitchPulse("AZ", tick * tl, (tick + n) * tl, True))
        tick += n
    n = _ticks("t_swrst", config.t_swrst, f)
    pulses.append(SwitchPulse("SWRST", tick * tl, (tick + n) * tl, True))
    tick += n
    integ_start = tick * tl
    integ_stop = integ_start + t_integ
    pulses.append(SwitchPulse("SWINTEG", integ_start, integ_stop, False))
    # the comparison starts on the first LCLK edge at or after SWINTEG falls
    tick = math.ceil(integ_stop * f - _EDGE_TOL)
    for name, width in (("SWCOMP", config.t_swcomp), ("SWLEAK", config.t_swleak)):
        n = _ticks(f"t_{name.lower()}", width, f)
        pulses.append(SwitchPulse(name, tick * tl, (tick + n) * tl, True))
        tick += n
    return CycleSchedule(tuple(pulses), config.gclk_period, tl, t_integ)


def chip_schedule(chip, cluster: int = 0) -> CycleSchedule:
    """The switch schedule of one cluster of a programmed chip instance.

    Parameters
    ----------
    chip : Chip
        A programmed chip; its instance's ``T_integ`` of ``cluster`` sets SWINTEG.
    cluster : int
        Which cluster.

    Returns
    -------
    CycleSchedule

    Raises
    ------
    TypeError
        ``chip`` not a Chip.
    ValueError
        ``cluster`` out of range or the chip not programmed.

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.chip import Chip
    >>> chip = Chip(mismatch=False)
    >>> _ = chip.program(np.zeros((16, 16), int), np.zeros(16, int), 7, 2)
    >>> round(chip_schedule(chip).pulse("SWINTEG").width * 1e9, 6)
    250.0
    """
    if not isinstance(chip, Chip):
        raise TypeError(f"chip must be a Chip, got {type(chip).__name__}")
    cluster = _v.integer("cluster", cluster, lo=0, hi=chip.n_clusters - 1)
    return cycle_schedule(chip.config, float(chip.t_integ()[cluster]))
