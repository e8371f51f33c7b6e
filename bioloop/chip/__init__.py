"""The MRAM neuromorphic chip model (Lee et al., Front. Neurosci. 19:1599144, 2025)."""

from .chip import Chip, EventResult, MemoryRead, ProgramReport, RunResult
from .config import K_AXONS, N_DENDS, ChipConfig, OffsetModel

__all__ = ["Chip", "ChipConfig", "EventResult", "K_AXONS", "MemoryRead", "N_DENDS", "OffsetModel",
           "ProgramReport", "RunResult"]
