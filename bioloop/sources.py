"""The ``Source`` extension point: where spikes come from (files, LSL inlets, virtual cultures).

A source hands out :class:`~bioloop.types.SpikeEvents` chunk by chunk through
:meth:`Source.read_chunk` (the hot path); a file source may hand out everything at once. A
source that streams in real time is a :class:`LiveSource`: it also has a clock, the time base
of its spike times, which the live loop runs the chip against. Register an implementation under
the ``bioloop.sources`` entry-point group (worked examples: ``bioloop.adapters.files.RecordingSource``
for a file, ``bioloop.adapters.lsl.LSLSpikeSource`` for a live stream).

Examples
--------
A live source on its own clock, in a few lines:

>>> class Ticks(LiveSource):
...     name = "ticks"
...     def __init__(self):
...         self.now = 0.0
...     @property
...     def labels(self):
...         return ("A",)
...     def clock(self):
...         return self.now
...     def read_chunk(self, timeout=0.0):
...         self.now += 0.01
...         return SpikeEvents([self.now], [0], self.labels, self.now - 0.01, self.now)
>>> src = Ticks()
>>> len(src.read_chunk()), src.clock(), src.gaps, src.stats()
(1, 0.01, [], {})
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

    def stats(self) -> dict:
        """Counts of what the source received, delivered and dropped, by reason (for the
        session summary); empty by default."""
        return {}

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


class LiveSource(Source):
    """A source streaming in real time; the live loop runs the chip against its :meth:`clock`.

    Beside :class:`Source`'s methods the live loop uses :meth:`clock` (abstract), :attr:`gaps`
    and :meth:`stats` (both with defaults).
    """

    @abstractmethod
    def clock(self) -> float:
        """The clock of this source's spike times, now, s (LSL's ``local_clock`` for LSL)."""

    @property
    def gaps(self) -> list:
        """Stretches without input so far, each with ``start`` and ``stop`` (s on :meth:`clock`;
        ``stop`` None while the gap is open); none by default."""
        return []
