"""The MRAM neuromorphic chip model (Lee et al., Front. Neurosci. 19:1599144, 2025)."""

from .chip import Chip, EventResult, MemoryRead, ProgramReport, RunResult
from .config import K_AXONS, N_DENDS, ChipConfig, OffsetModel
from .noc import NocConfig, Routes

__all__ = ["Chip", "ChipConfig", "EventResult", "K_AXONS", "MemoryRead", "N_DENDS", "NocConfig",
           "OffsetModel", "ProgramReport", "Routes", "RunResult"]
