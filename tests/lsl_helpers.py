"""Helpers for tests that run LSL outlets and inlets in separate processes.

Every child process gets the machine-only LSL configuration (``LSLAPICFG``) and configures
LSL through bioloop before any other LSL call.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LSL_CFG = REPO / "tests" / "lsl_machine_only.cfg"

#: first lines of every child script: LSL on this machine only, before anything else
PRELUDE = (
    "import sys, json, time\n"
    "import numpy as np\n"
    "from bioloop.adapters.lsl import configure_lsl\n"
    "configure_lsl()\n"
    "import pylsl\n"
)

#: runs ``bioloop`` with argv
CLI = (
    "import sys\n"
    "import bioloop.cli as cli\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


def lsl_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: machine-only LSL config, plus ``extra``."""
    env = dict(os.environ)
    env["LSLAPICFG"] = str(LSL_CFG)
    env.pop("BIOLOOP_DEBUG", None)
    env.update(extra)
    return env


def unique(prefix: str) -> str:
    """A stream name no parallel test run will use."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def spawn(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``python -c PRELUDE + code args...`` with pipes for stdout and stderr."""
    return subprocess.Popen([sys.executable, "-c", PRELUDE + code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lsl_env() if env is None else env)


def spawn_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``bioloop ARGS...`` in a child process."""
    return subprocess.Popen([sys.executable, "-c", CLI, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lsl_env() if env is None else env)


def wait_line(proc: subprocess.Popen, expected: str = "ready", timeout: float = 20.0) -> str:
    """Read stdout lines until one starts with ``expected``; fail with the child's stderr."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:  # the child ended
                break
            if line.startswith(expected):
                return line.strip()
    finally:
        sel.close()
    stop(proc)
    raise AssertionError(f"child never printed {expected!r}; exit {proc.returncode}; "
                         f"stderr: {proc.stderr.read()[-2000:]}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int:
    """Send ``sig`` to the child (if still running) and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=timeout)


def finish_json(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int, dict | None, str]:
    """Wait for the child; its exit code, the last JSON line of stdout (or None), stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    doc = None
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            doc = json.loads(line)
            break
    return proc.returncode, doc, err


class Children:
    """Child processes of one test, all killed at teardown."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def add(self, proc: subprocess.Popen) -> subprocess.Popen:
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
