"""Backends for tests: the chip model seen through the narrowest interface a runner must handle."""

from __future__ import annotations

from bioloop.backends.base import Backend
from bioloop.backends.chip import ChipBackend


class OneCycleAtATime(Backend):
    """The chip model without rollback (as a board is): the runner must fall back to exact
    per-input-cycle steps."""

    name = "chip-no-rewind"

    def __init__(self, inner: ChipBackend):
        super().__init__(inner.config, n_clusters=inner.n_clusters, seed=inner.seed, mismatch=inner.mismatch)
        self.inner = inner

    def program(self, program):
        self.inner.program(program)

    def read_image(self):
        return self.inner.read_image()

    def evolve(self, frames, until):
        return self.inner.evolve(frames, until)

    def reset(self):
        self.inner.reset()
