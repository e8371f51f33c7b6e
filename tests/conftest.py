"""Shared fixtures: seeded randomness, the shared recordings, LSL kept on this machine."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BIOLOOP_SHARED", REPO.parent / "shared"))

# LSL on this machine only, before any test can touch liblsl (architecture.md, LSL profile)
os.environ.setdefault(
    "LSLAPICFG", str(REPO / "tests" / "lsl_machine_only.cfg")
)


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's name: reproducible, distinct per test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The shared real recordings (read-only)."""
    d = SHARED / "recordings"
    if not d.is_dir():
        pytest.fail(f"shared recordings not found at {d}; set BIOLOOP_SHARED")
    return d
