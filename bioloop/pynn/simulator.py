"""The low-level part of ``bioloop.pynn`` that PyNN's common implementation calls: ``ID`` and
``state``.

PyNN's architecture asks every backend for one module-level ``state`` object (``pyNN.nest``,
``pyNN.brian2`` and ``pyNN.mock`` all have one): the network being described and the running
chip live there, and ``setup()`` replaces everything in it. It is the only mutable module-level
object of ``bioloop.pynn``.
"""

from __future__ import annotations

import numpy as np
from pyNN import common

name = "bioloop"


class ID(int, common.IDMixin):
    """A neuron's PyNN identifier."""

    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """The network described so far, its mapping onto the chip and the running chip."""

    def __init__(self):
        super().__init__()
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self._min_delay = "auto"
        self.max_delay = "auto"
        self.options = None  # SetupOptions, from setup()
        self.clear()

    # ---- what PyNN's common code uses -------------------------------------------------
    @property
    def min_delay(self):
        """Smallest delay, ms ("auto": one time step)."""
        return self.dt if self._min_delay == "auto" else self._min_delay

    @min_delay.setter
    def min_delay(self, value):
        self._min_delay = value

    @property
    def t(self) -> float:
        """Current time, ms."""
        return self.cycle * self.dt

    def run(self, simtime):
        self.run_until(self.t + simtime)

    def run_until(self, tstop):
        from .runtime import advance

        n_end = int(round(tstop / self.dt))
        if n_end > self.cycle:
            advance(self, n_end)
        self.running = True

    def clear(self):
        """Forget the network (``setup()``)."""
        self.recorders = set()
        self.write_on_end = []
        self.id_counter = 0
        self.segment_counter = -1
        self.populations = []
        self.projections = []
        self.mapping = None  # the last Mapping (also a failed attempt, for the report)
        self.runtime = None  # the programmed chip and what it produced
        self.rng = np.random.default_rng(None if self.options is None else self.options.seed)
        self.running = False
        self.cycle = 0
        self.reset()

    def reset(self):
        """Time back to 0 and a new segment; the network and its mapping are kept."""
        if self.runtime is not None:
            self.runtime.reset()
        self.running = False
        self.cycle = 0
        self.t_start = 0
        self.segment_counter += 1

    def network_changed(self):
        """A population, projection or parameter changed: map again before the next run."""
        if self.runtime is not None:
            self.runtime.stale = True


state = State()
