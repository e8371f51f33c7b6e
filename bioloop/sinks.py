"""The ``Sink`` extension point: where stimulation commands go (LSL outlet, file, culture).

:meth:`Sink.write` is the hot path. Register under the ``bioloop.sinks`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from .types import FireEvents, StimCommands


class Sink(ABC):
    """Stimulation commands out."""

    name: ClassVar[str]

    @abstractmethod
    def write(self, commands: StimCommands) -> None:
        """Deliver (or record) these commands."""

    def stats(self) -> dict:
        """Counts of what was written and refused, by reason (for the session summary); empty
        by default."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FireMonitor(ABC):
    """The ``FireMonitor`` extension point: somewhere to watch the chip's FIREs as they happen
    (an LSL monitoring stream, a display). :meth:`write_fires` is the hot path; register under
    the ``bioloop.monitors`` entry-point group.

    Worked example: :class:`bioloop.adapters.lsl.ChipSpikeOutlet`.
    """

    name: ClassVar[str]

    @abstractmethod
    def write_fires(self, fires: FireEvents, *, time_offset: float = 0.0) -> None:
        """Publish FIREs; their times are ``cycle / gclk_hz + time_offset``."""

    def stats(self) -> dict:
        """Counts of what was published and refused (for the session summary); empty by default."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release."""
