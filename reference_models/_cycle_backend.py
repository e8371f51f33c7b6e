"""What the Brian2 references share: a Backend that runs whole batches of GCLK cycles.

A subclass says how a program becomes its model's parameters (:meth:`_load`), what its state
is (:meth:`_zero_state`) and how to run ``n_cycles`` on a batch of pulses (:meth:`_simulate`);
programming, read-back, the evolve contract and reset are here once.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bioloop import validate as _v
from bioloop.backends.base import Backend, BackendStep
from bioloop.chip import NocConfig
from bioloop.chip.config import K_AXONS, N_DENDS
from bioloop.types import AxonFrames, ChipProgram, FireEvents

from .brian2_target import RunInfo, check_target


@dataclass(frozen=True)
class Pulses:
    """Distinct AXON pulses of one :meth:`Backend.evolve` call, sorted by (cycle, row)."""

    cycles: np.ndarray  #: absolute GCLK cycle
    row: np.ndarray  #: global AXON row, ``16 * cluster + axon``
    merged: int  #: repeated (cycle, cluster, axon) events merged into one pulse
    t_end: int  #: first cycle not run


def unique_pulses(frames, *, gclk_hz: float, n_clusters: int, t_now: int, until) -> Pulses:
    """Check AXON frames against a backend's clock and size; merge repeats into one pulse.

    Parameters
    ----------
    frames : AxonFrames
        Events with absolute cycles, none before ``t_now``.
    gclk_hz : float
        The backend's GCLK; the frames must be aligned to the same clock.
    n_clusters : int
        Clusters of the backend.
    t_now : int
        The backend's current cycle.
    until : int
        First cycle not to run; at least one past the last event.

    Returns
    -------
    Pulses

    Raises
    ------
    TypeError
        If ``frames`` is not :class:`~bioloop.types.AxonFrames` or ``until`` not an integer.
    ValueError
        For another clock, an event before ``t_now``, a cluster or axon out of range, or
        ``until`` before the last event.

    Examples
    --------
    >>> from bioloop.types import AxonFrames
    >>> p = unique_pulses(AxonFrames([3, 3, 5], [0, 0, 1], [2, 2, 0], 1e3), gclk_hz=1e3,
    ...                   n_clusters=2, t_now=0, until=10)
    >>> p.cycles.tolist(), p.row.tolist(), p.merged
    ([3, 5], [2, 16], 1)
    """
    if not isinstance(frames, AxonFrames):
        raise TypeError(f"frames must be AxonFrames, got {type(frames).__name__}")
    if abs(frames.gclk_hz - gclk_hz) > 1e-9 * gclk_hz:
        raise ValueError(f"frames are aligned to gclk_hz = {frames.gclk_hz:g} but the backend runs "
                         f"at gclk_hz = {gclk_hz:g}")
    cyc, clu, ax = frames.cycles, frames.cluster, frames.axon
    t_end = int(cyc[-1]) + 1 if cyc.size else t_now
    if cyc.size:
        if cyc[0] < t_now:
            raise ValueError(f"event at cycle {int(cyc[0])} is before the backend's current cycle "
                             f"{t_now}")
        if clu.max() >= n_clusters:
            raise ValueError(f"event for cluster {int(clu.max())}; this backend has clusters "
                             f"0..{n_clusters - 1}")
        if ax.max() >= K_AXONS:
            raise ValueError(f"event for axon {int(ax.max())}; axons are 0..{K_AXONS - 1}")
    until = _v.integer("until", until, lo=t_now)
    if until < t_end:
        raise ValueError(f"until = {until} is before the last event's cycle {t_end - 1}")
    key = np.unique(cyc * (n_clusters * K_AXONS) + clu * K_AXONS + ax)
    return Pulses(key // (n_clusters * K_AXONS), key % (n_clusters * K_AXONS),
                  int(cyc.size - key.size), until)


class CycleBatchBackend(Backend):
    """Base of the Brian2 references (nominal devices only; ``mismatch`` must be False).

    ``noc`` is the mesh that carries routes between clusters; a reference that does not model
    routes (``supports_routes = False``) refuses a program with routes.
    """

    supports_routes: ClassVar[bool] = False

    def __init__(self, config, *, n_clusters, seed=None, mismatch=False, target="numpy",
                 cache_dir=None, noc: NocConfig | None = None):
        super().__init__(config, n_clusters=n_clusters, seed=seed, mismatch=mismatch)
        _v.integer("n_clusters", n_clusters, lo=1, hi=4096)
        if noc is not None and not isinstance(noc, NocConfig):
            raise TypeError(f"noc must be a NocConfig, got {type(noc).__name__}")
        self.noc = (noc or NocConfig()).resolve(n_clusters)
        if mismatch is not False:
            raise ValueError(f"mismatch = {mismatch!r}: the {self.name} reference models the "
                             "nominal chip only (no devices); use mismatch=False")
        self.target = check_target(target)
        self.cache_dir = cache_dir
        self._program: ChipProgram | None = None
        self.last_run: RunInfo | None = None
        self._zero_state()

    # ---- what a subclass provides ---------------------------------------------------------
    @abstractmethod
    def _load(self, program: ChipProgram) -> None:
        """Turn a validated program into the model's parameters."""

    @abstractmethod
    def _zero_state(self) -> None:
        """Membrane state at rest, cycle 0."""

    @abstractmethod
    def _simulate(self, pulses, n_cycles: int):
        """Run ``n_cycles`` from ``self.cycle``; return (fire_cycle, fire_index, ignored)."""

    # ---- the Backend interface ----------------------------------------------------------------
    def program(self, program: ChipProgram) -> None:
        if not isinstance(program, ChipProgram):
            raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
        if program.n_clusters != self.n_clusters:
            raise ValueError(f"program has {program.n_clusters} clusters; backend has "
                             f"{self.n_clusters}")
        if len(program.routes) and not self.supports_routes:
            raise ValueError(f"the {self.name} reference does not model routes between clusters; "
                             f"program {program.name!r} has {len(program.routes)}")
        self._program = program
        self._load(program)

    def read_image(self) -> ChipProgram:
        p = self._require_program()
        return ChipProgram(p.weights.copy(), p.psp_ref.copy(), p.threshold_gen.copy(),
                           p.threshold_ref.copy(), p.lateral_neighbours, "read back", p.routes)

    def evolve(self, frames: AxonFrames, until: int) -> BackendStep:
        self._require_program()
        pulses = unique_pulses(frames, gclk_hz=self.config.gclk_hz, n_clusters=self.n_clusters,
                               t_now=self.cycle, until=until)
        n_cycles = pulses.t_end - self.cycle
        if n_cycles == 0:
            empty = np.zeros(0, np.int64)
            return BackendStep(FireEvents(empty, empty, empty, self.config.gclk_hz), 0,
                               pulses.merged, 0, self.cycle)
        fire_cycle, fire_idx, ignored = self._simulate(pulses, n_cycles)
        order = np.lexsort((fire_idx, fire_cycle))
        fire_cycle, fire_idx = fire_cycle[order], fire_idx[order]
        fires = FireEvents(fire_cycle, fire_idx // N_DENDS, fire_idx % N_DENDS, self.config.gclk_hz)
        self.cycle = pulses.t_end
        return BackendStep(fires, int(pulses.cycles.size), pulses.merged, ignored, self.cycle,
                           **self._routing_counts())

    def _routing_counts(self) -> dict:
        """``routed`` / ``routed_merged`` / ... of the last :meth:`_simulate` (none by default)."""
        return {}

    def reset(self) -> None:
        self._require_program()
        self._zero_state()

    @property
    def describe(self) -> dict:
        d = super().describe
        d["brian2_target"] = self.target
        d["noc"] = self.noc.to_dict()
        if self.last_run is not None:
            d["brian2_run"] = self.last_run.as_dict()
        return d

    def _require_program(self) -> ChipProgram:
        if self._program is None:
            raise ValueError(f"backend {self.name!r} is not programmed yet: call program() first")
        return self._program
