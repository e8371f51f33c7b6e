"""Backends: one interface for the chip model, the Brian2 references and (later) the board."""

from .base import Backend, BackendStep, Rewindable

__all__ = ["Backend", "BackendStep", "Rewindable"]
