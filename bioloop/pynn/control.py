"""Simulation control of ``bioloop.pynn``: setup, run, reset, end and the state queries."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyNN import common
from pyNN.common.control import DEFAULT_MIN_DELAY
from pyNN.recording import get_io

from .. import validate as _v
from ..chip.config import GCLK_MAX_HZ, GCLK_MIN_HZ, ChipConfig
from . import simulator


@dataclass(frozen=True)
class SetupOptions:
    """What ``setup()`` fixed: the chip's settings before translation and how to run it."""

    config: ChipConfig
    mismatch: bool
    seed: int | None
    backend: str
    noc: object = None  #: a bioloop.chip.NocConfig, or None (from the delays)
    leak_match: float = 0.5


def setup(timestep=None, min_delay=DEFAULT_MIN_DELAY, *, gclk_hz=None, mismatch=False, seed=None,
          backend="chip", config=None, noc=None, leak_match=None, **extra_params):
    """Start a new network on the chip. One time step is one GCLK cycle.

    Parameters
    ----------
    timestep : float, optional
        ms; ``gclk_hz = 1000 / timestep``. Default 0.1 ms (PyNN's), or from ``gclk_hz``.
    min_delay : float or "auto"
        As in PyNN; "auto" is one time step.
    gclk_hz : float, optional
        GCLK, 1 to 50 kHz; must agree with ``timestep`` when both are given.
    mismatch : bool
        Device variation of the chip instance (default off: the ideal chip).
    seed : int, optional
        Seeds the chip instance's variation and the Poisson sources.
    backend : str
        A name in the ``bioloop.backends`` registry; ``"chip"`` (default) also records ``v``.
    config : ChipConfig, optional
        The chip's settings before translation (the mapper sets GCLK, leak, V_RFR, N_ABS).
    noc : bioloop.chip.NocConfig, optional
        The NoC between clusters; each delay between chip neurons must then equal its route's
        ``base_cycles + hops * hop_cycles``. Default: every route takes the network's delay
        (``base_cycles``, ``hop_cycles = 0``), the squarest mesh.
    leak_match : float, optional
        Where the chip's linear leak has the exponential slope of ``tau_m``, as a fraction of
        ``v_thresh - v_rest`` above rest (0 < f <= 1; default 0.5, see
        :mod:`bioloop.pynn.translation`).

    Returns
    -------
    int
        The MPI rank (0).

    Raises
    ------
    TypeError, ValueError
        For a time step outside 0.02 to 1 ms, a GCLK that disagrees with it, or bad options.

    Examples
    --------
    >>> import bioloop.pynn as sim
    >>> sim.setup(timestep=1.0)
    0
    >>> sim.get_time_step(), sim.state.options.config.gclk_hz
    (1.0, 1000.0)
    """
    if timestep is None:
        timestep = 1000.0 / gclk_hz if gclk_hz is not None else 0.1
    dt = _v.real("timestep", timestep, lo=1000.0 / GCLK_MAX_HZ, hi=1000.0 / GCLK_MIN_HZ)
    gclk = 1000.0 / dt
    if gclk_hz is not None:
        g = _v.real("gclk_hz", gclk_hz, lo=GCLK_MIN_HZ, hi=GCLK_MAX_HZ)
        if not math.isclose(g, gclk, rel_tol=1e-9):
            raise ValueError(f"gclk_hz = {g:g} disagrees with timestep = {dt:g} ms (one time step "
                             f"is one GCLK cycle: gclk_hz = {gclk:g})")
    if not isinstance(mismatch, bool):
        raise TypeError(f"mismatch must be True or False, got {mismatch!r}")
    if seed is not None:
        seed = _v.integer("seed", seed, lo=0)
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name in the bioloop.backends registry, got {backend!r}")
    if config is None:
        config = ChipConfig()
    if not isinstance(config, ChipConfig):
        raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
    if noc is not None:
        from ..chip import NocConfig

        if not isinstance(noc, NocConfig):
            raise TypeError(f"noc must be a bioloop.chip.NocConfig, got {type(noc).__name__}")
    from .translation import LEAK_MATCH

    leak_match = LEAK_MATCH if leak_match is None else _v.real("leak_match", leak_match, lo=0.0,
                                                               lo_open=True, hi=1.0)
    common.setup(dt, min_delay, **extra_params)
    st = simulator.state
    st.options = SetupOptions(config.replace(gclk_hz=gclk), mismatch, seed, backend,
                              noc, leak_match)
    st.dt = dt
    st.clear()
    st.min_delay = min_delay
    st.max_delay = extra_params.get("max_delay", "auto")
    return 0


def end(compatible_output=True):
    """Write the data asked for with ``record(..., to_file=...)``; the network stays readable."""
    st = simulator.state
    for population, variables, filename in st.write_on_end:
        population.write_data(get_io(filename), variables)
    st.write_on_end = []


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
(get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes,
 rank) = common.build_state_queries(simulator)
