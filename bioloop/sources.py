"""The ``Source`` extension point: where spikes come from (files, LSL inlets, virtual cultures).

A source hands out :class:`~bioloop.types.SpikeEvents` chunk by chunk through
:meth:`Source.read_chunk` (the hot path); a file source may hand out everything at once.
Register an implementation under the ``bioloop.sources`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from .types import SpikeEvents


class Source(ABC):
    """Spikes in, chunk by chunk, with electrode labels fixed for the whole session."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def labels(self) -> tuple[str, ...]:
        """Electrode labels; channel ``i`` of every chunk is ``labels[i]``."""

    @abstractmethod
    def read_chunk(self, timeout: float = 0.0) -> SpikeEvents | None:
        """The next spikes (sorted), waiting at most ``timeout`` s; None when exhausted."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the source holds."""

    def read_all(self) -> SpikeEvents:
        """Every remaining chunk joined into one SpikeEvents (file sources)."""
        chunks = []
        while (chunk := self.read_chunk()) is not None:
            chunks.append(chunk)
        if not chunks:
            return SpikeEvents(np.zeros(0), np.zeros(0, np.int64), self.labels, 0.0, 0.0)
        return SpikeEvents(np.concatenate([c.times for c in chunks]),
                           np.concatenate([c.channels for c in chunks]), self.labels,
                           chunks[0].t_start, chunks[-1].t_stop)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
