"""The ``Sink`` extension point: where stimulation commands go (LSL outlet, file, culture).

:meth:`Sink.write` is the hot path. Register under the ``bioloop.sinks`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from .types import StimCommands


class Sink(ABC):
    """Stimulation commands out."""

    name: ClassVar[str]

    @abstractmethod
    def write(self, commands: StimCommands) -> None:
        """Deliver (or record) these commands."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
