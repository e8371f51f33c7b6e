"""The chip model as a :class:`~bioloop.backends.Backend` (the worked example)."""

from __future__ import annotations

from ..chip import Chip, NocConfig
from ..types import AxonFrames, ChipProgram, _trusted
from .base import Backend, BackendStep, Rewindable


class ChipBackend(Backend, Rewindable):
    """bioloop's model of the MRAM chip, event-driven.

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.chip import ChipConfig
    >>> from bioloop.types import AxonFrames, ChipProgram
    >>> w = np.zeros((1, 16, 16), int); w[0, 3, 3] = 7
    >>> prog = ChipProgram(w, np.full((1, 16), 2), np.array([7]), np.array([2]), ())
    >>> be = ChipBackend(ChipConfig(), n_clusters=1, mismatch=False)
    >>> be.program(prog)
    >>> step = be.evolve(AxonFrames([5], [0], [3], 1e3), until=10)
    >>> step.fires.cycles.tolist(), step.fires.dend.tolist()
    ([5], [3])
    """

    name = "chip"

    def __init__(self, config, *, n_clusters, seed=None, mismatch=True, noc: NocConfig | None = None):
        super().__init__(config, n_clusters=n_clusters, seed=seed, mismatch=mismatch)
        if noc is not None and not isinstance(noc, NocConfig):
            raise TypeError(f"noc must be a NocConfig, got {type(noc).__name__}")
        self.noc = (noc or NocConfig()).resolve(n_clusters)
        self._chip = None

    def program(self, program: ChipProgram) -> None:
        if not isinstance(program, ChipProgram):
            raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
        if program.n_clusters != self.n_clusters:
            raise ValueError(f"program has {program.n_clusters} clusters; backend has {self.n_clusters}")
        cfg = self.config.replace(lateral_neighbours=tuple(program.lateral_neighbours))
        self._chip = Chip(cfg, n_clusters=self.n_clusters, seed=self.seed, mismatch=self.mismatch,
                          noc=self.noc)
        self._chip.program(program.weights, program.psp_ref, program.threshold_gen,
                           program.threshold_ref, routes=program.routes)

    @property
    def describe(self) -> dict:
        d = super().describe
        d["noc"] = self.noc.to_dict()
        return d

    @property
    def chip(self) -> Chip:
        if self._chip is None:
            raise ValueError("backend 'chip' is not programmed yet: call program() first")
        return self._chip

    def read_image(self) -> ChipProgram:
        c = self.chip
        gen, ref = c.threshold_codes
        return ChipProgram(c.weights, c.psp_ref, gen, ref, c.config.lateral_neighbours, "read back",
                           c.routes)

    def evolve(self, frames: AxonFrames, until: int) -> BackendStep:
        r = self.chip.run_events(frames, until=until)
        if not self.chip.has_routes:  # no NoC counts to carry (the others keep their zero defaults)
            return _trusted(BackendStep, fires=r.fires, axon_pulses=r.axon_pulses, merged=r.merged,
                            ignored_refractory=r.ignored_refractory, t_end=r.t_end)
        return BackendStep(r.fires, r.axon_pulses, r.merged, r.ignored_refractory, r.t_end,
                           routed=r.routed, routed_merged=r.routed_merged,
                           congestion_delayed=r.congestion_delayed,
                           dropped_congestion=r.dropped_congestion, packets=r.packets,
                           congestion_delay_cycles=r.congestion_delay_cycles, in_flight=r.in_flight)

    def reset(self) -> None:
        self.chip.reset()

    def snapshot(self) -> dict:
        return self.chip.get_state()

    def restore(self, state: dict) -> None:
        self.chip.set_state(state)
