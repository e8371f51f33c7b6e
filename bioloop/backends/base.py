"""The ``Backend`` extension point: anything that turns AXON frames into FIRE events.

It fits the chip model, the Brian2 references and the real board alike: configure once (GCLK
and the analog settings are in the :class:`~bioloop.chip.ChipConfig`), program the MRAM image,
then call :meth:`Backend.evolve` with each batch of AXON frames (the hot path); read the image
back to check what the cells hold.

Worked example: :class:`bioloop.backends.chip.ChipBackend` (about 40 lines). A new backend
subclasses :class:`Backend`, implements the four abstract methods, and registers itself in its
package's ``pyproject.toml``::

    [project.entry-points."bioloop.backends"]
    myboard = "mypackage.board:BoardBackend"

after which ``bioloop.registry.load("bioloop.backends", "myboard")`` finds it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..chip.config import ChipConfig
from ..types import AxonFrames, ChipProgram, FireEvents


@dataclass(frozen=True)
class BackendStep:
    """What one :meth:`Backend.evolve` call produced and what it did not use."""

    fires: FireEvents
    axon_pulses: int  #: distinct (cycle, cluster, axon) pulses that reached the chip
    merged: int  #: repeated pulses of one axon within one cycle, merged
    ignored_refractory: int  #: neuron-cycles whose input was ignored in absolute refractory
    t_end: int  #: first cycle not yet run
    routed: int = 0  #: packets between clusters delivered as AXON inputs (chip routes)
    routed_merged: int = 0  #: of those, onto a row already active in that cycle (OR)
    congestion_delayed: int = 0  #: packets that waited in a NoC link FIFO
    dropped_congestion: int = 0  #: packets dropped at a full NoC link FIFO
    packets: int = 0  #: packets FIREs sent through TX (one per route of the firing dend)
    congestion_delay_cycles: int = 0  #: extra cycles the delivered packets waited, summed
    in_flight: int = 0  #: packets sent but not delivered at ``t_end`` (a level, not a count)


class Backend(ABC):
    """A chip, simulated or real, clocked in GCLK cycles.

    Parameters
    ----------
    config : ChipConfig
        Analog and timing parameters (GCLK included).
    n_clusters : int
        Number of 16 x 16 clusters.
    seed : int, optional
        Seed of a simulated instance's device variation (ignored by real hardware).
    mismatch : bool
        Whether a simulated instance has device variation.
    """

    name: ClassVar[str]

    def __init__(self, config: ChipConfig, *, n_clusters: int, seed: int | None = None,
                 mismatch: bool = True):
        if not isinstance(config, ChipConfig):
            raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
        self.config = config
        self.n_clusters = n_clusters
        self.seed = seed
        self.mismatch = mismatch

    @abstractmethod
    def program(self, program: ChipProgram) -> None:
        """Write weights, PSP references and threshold into the MRAM."""

    @abstractmethod
    def read_image(self) -> ChipProgram:
        """Read back what the MRAM holds."""

    @abstractmethod
    def evolve(self, frames: AxonFrames, until: int) -> BackendStep:
        """Run from the current cycle up to ``until`` (exclusive) with these AXON frames."""

    @abstractmethod
    def reset(self) -> None:
        """Clear the membrane state and return to cycle 0; the program is kept."""

    def session_report(self) -> dict | None:
        """What the session summary should show about the backend once it ran (a board: its
        link's faults and bus load); None for nothing."""
        return None

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing to release
        """Release what the backend holds (an adapter, a socket); the session calls it at the end."""

    @property
    def describe(self) -> dict:
        """What this backend is, for session annotations."""
        return {"backend": self.name, "n_clusters": self.n_clusters, "seed": self.seed,
                "mismatch": self.mismatch}


class Rewindable(ABC):
    """A backend whose state can be saved and restored (a simulation, not a board).

    The session runner uses it to run a chunk optimistically and roll back when stimulation
    produced inside the chunk would have blanked part of the chunk's own input. A backend that is
    not rewindable is run one input cycle at a time instead, which is exact but slower.
    """

    @abstractmethod
    def snapshot(self) -> object:
        """An opaque copy of the complete dynamic state."""

    @abstractmethod
    def restore(self, state: object) -> None:
        """Return exactly to a state taken by :meth:`snapshot`."""
