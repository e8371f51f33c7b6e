"""The measurement board (paper section 3.1, Fig. 10B): protocol (``protocol``), transports
(``transports``), host driver (``driver``), ``BoardBackend`` (``backend``) and the board emulator
(``emulator``). See ``docs/board-protocol.md``.

The package itself imports nothing, so that the ``board`` verb, found through the
``bioloop.verbs`` entry point when any ``bioloop`` command starts, costs no import of the chip
model; import from the submodules.
"""
