"""The measurement board (paper section 3.1, Fig. 10B): protocol, transports, host driver,
``BoardBackend`` and the board emulator. See ``docs/board-protocol.md``."""

from .backend import BoardBackend
from .driver import BoardDriver, BoardError, FifoOverflow
from .emulator import BoardEmulator
from .transports import Transport, open_transport, parse_uri

__all__ = ["BoardBackend", "BoardDriver", "BoardEmulator", "BoardError", "FifoOverflow", "Transport",
           "open_transport", "parse_uri"]
