"""Brian2 code-generation targets for the reference models: choose, check, run, clean up.

Three targets (Brian2's own names):

- ``"numpy"`` (default): runtime mode, pure Python/NumPy, needs no compiler.
- ``"cython"``: runtime mode, each code object compiled to a Cython extension. Needs Cython
  and a C++ compiler. Compiled extensions are cached in ``<cache_dir>/cython``.
- ``"cpp_standalone"``: the whole network written as a C++ project, compiled and run as a
  binary. Needs a C++ compiler and ``make``. The project is built in
  ``<cache_dir>/standalone/<model>`` (rebuilt incrementally: Brian2 rewrites only the files
  whose content changed), never inside the repository.

``cache_dir`` defaults to ``$BIOLOOP_BRIAN2_CACHE`` or ``$XDG_CACHE_HOME/bioloop/brian2``
(``~/.cache/bioloop/brian2``). An explicitly requested compiled target without a compiler is a
``ValueError``: there is never a silent fallback to another target.

Brian2 keeps its preferences and its device in module-level state. :func:`brian2_run` sets
what a run needs (target, cache directory, compiler flags, standalone device) and restores
every preference and the previous device afterwards, so runs do not leak settings into each
other or into the caller.

Compiler flags: Brian2's defaults include ``-ffast-math`` and ``-march=native``; fast-math
allows re-association and FMA contraction, which changes the rounding of ``v + p * L`` and
breaks the bit-exact agreement of the chip-equivalent with the chip model. The compiled
targets therefore run with ``-O3 -fno-fast-math -ffp-contract=off`` (:data:`COMPILE_ARGS`).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib.util
import os
import shlex
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

TARGETS = ("numpy", "cython", "cpp_standalone")
#: IEEE-exact compiled arithmetic: no fast-math, no fused multiply-add contraction
COMPILE_ARGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off", "-std=c++11"]
_PREF_KEYS = (
    "codegen.target",
    "codegen.runtime.cython.cache_dir",
    "codegen.cpp.extra_compile_args_gcc",
    "devices.cpp_standalone.extra_make_args_unix",
)


def default_cache_dir() -> Path:
    """Where compiled Brian2 code is cached (outside any repository).

    Returns
    -------
    pathlib.Path
        ``$BIOLOOP_BRIAN2_CACHE`` if set, else ``$XDG_CACHE_HOME/bioloop/brian2`` (default
        ``~/.cache/bioloop/brian2``).

    Examples
    --------
    >>> default_cache_dir().name
    'brian2'
    """
    env = os.environ.get("BIOLOOP_BRIAN2_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "bioloop" / "brian2"


def find_compiler() -> str | None:
    """The C++ compiler Brian2 would call: ``$CXX`` if set, else ``c++``/``g++`` on PATH.

    Returns
    -------
    str or None
        Absolute path of the compiler, or None when there is none.
    """
    cxx = os.environ.get("CXX")
    if cxx:
        parts = shlex.split(cxx)
        return shutil.which(parts[0]) if parts else None
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def check_target(target) -> str:
    """Validate a code-generation target and check that what it needs is installed.

    Parameters
    ----------
    target : str
        One of :data:`TARGETS`.

    Returns
    -------
    str
        ``target`` unchanged.

    Raises
    ------
    TypeError
        If ``target`` is not a string.
    ValueError
        If ``target`` is unknown, or is a compiled target and no C++ compiler (or, for
        ``"cython"``, no Cython; for ``"cpp_standalone"``, no ``make``) is installed.

    Examples
    --------
    >>> check_target("numpy")
    'numpy'
    """
    if not isinstance(target, str):
        raise TypeError(f"brian2 target must be a string, one of {list(TARGETS)}; got {target!r}")
    if target not in TARGETS:
        raise ValueError(f"brian2 target {target!r} is not valid; choose one of {list(TARGETS)}")
    if target == "numpy":
        return target
    if find_compiler() is None:
        cxx = os.environ.get("CXX")
        where = f"CXX={cxx!r} is not an executable" if cxx else "no c++/g++/clang++ on PATH"
        raise ValueError(f"brian2 target {target!r} needs a C++ compiler but {where}; install one "
                         "or use target 'numpy'")
    if target == "cython" and importlib.util.find_spec("Cython") is None:
        raise ValueError("brian2 target 'cython' needs the Cython package (pip install cython); "
                         "or use target 'numpy'")
    if target == "cpp_standalone" and shutil.which("make") is None:
        raise ValueError("brian2 target 'cpp_standalone' needs GNU make on PATH; or use target "
                         "'numpy' or 'cython'")
    return target


@dataclass
class RunInfo:
    """What one Brian2 run did: the target that ran and where the time went (seconds)."""

    target: str
    build_s: float = 0.0  #: network construction and code generation (+ compilation)
    compile_s: float = 0.0  #: C++ compilation (cpp_standalone: make; cython: first run)
    run_s: float = 0.0  #: simulation proper
    build_dir: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"target": self.target, "build_s": self.build_s, "compile_s": self.compile_s,
                "run_s": self.run_s}


@contextlib.contextmanager
def brian2_run(target: str, model: str, cache_dir=None):
    """Context in which one Brian2 network is built and run on ``target``.

    Sets Brian2's preferences for the target (restored on exit) and, for
    ``"cpp_standalone"``, activates a standalone device building in
    ``<cache_dir>/standalone/<model>`` (locked against concurrent builds; the previous device
    is restored and the standalone device re-initialised on exit).

    Parameters
    ----------
    target : str
        One of :data:`TARGETS` (checked with :func:`check_target`).
    model : str
        Name of the model, used for the standalone build directory.
    cache_dir : str or path-like, optional
        Root of the compiled-code cache; default :func:`default_cache_dir`.

    Yields
    ------
    RunInfo
        Filled in by the caller (times) and by the context (build directory).

    Raises
    ------
    ValueError
        As :func:`check_target`, or if ``cache_dir`` lies inside a git checkout.

    Notes
    -----
    Inside the context, ``DeprecationWarning`` raised from pyparsing or Brian2 code is
    ignored (Brian2 2.9 calls pyparsing's deprecated camelCase API), and the objects alive at
    entry are kept out of the garbage collector's passes (:func:`_gc_frozen`).
    """
    check_target(target)
    with warnings.catch_warnings(), _gc_frozen():
        # pyparsing >= 3.3 deprecates the camelCase API that Brian2 2.9 still calls; Elephant
        # (imported for the statistics) turns on "once" for UserWarning, a base class of
        # pyparsing's deprecation warning, so without this every run would print them
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(pyparsing|brian2)\b")
        with _brian2_settings(target, model, cache_dir) as info:
            yield info


@contextlib.contextmanager
def _gc_frozen():
    """Keep every object alive now out of the garbage collector's passes until exit.

    Brian2's ``Network.run`` calls ``gc.collect()`` (to find objects left out of a network),
    which scans every object of the process: in a process holding many (a test session, a
    notebook, a sweep worker) that is most of a short run's time (0.3 s of 0.5 s for a two-
    cluster, 200-cycle chip-equivalent run under pytest). Frozen, it scans only what the run
    made. Nothing is lost: cycles among the frozen objects are collected after exit. A caller
    that froze the collector itself (the live loop) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _brian2_settings(target: str, model: str, cache_dir):
    import brian2
    from brian2.devices.device import reset_device, set_device

    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = root.resolve()
    _refuse_repo_dir(root)
    prefs = brian2.prefs
    saved = {k: prefs[k] for k in _PREF_KEYS}
    info = RunInfo(target=target)
    lock_file = None
    standalone = target == "cpp_standalone"
    try:
        if target != "numpy":
            prefs["codegen.cpp.extra_compile_args_gcc"] = list(COMPILE_ARGS)
            prefs["devices.cpp_standalone.extra_make_args_unix"] = ["-j2"]
        if target == "cython":
            cdir = root / "cython"
            cdir.mkdir(parents=True, exist_ok=True)
            prefs["codegen.runtime.cython.cache_dir"] = str(cdir)
        prefs["codegen.target"] = "cython" if target == "cython" else "numpy"
        if standalone:
            build_dir = root / "standalone" / model
            build_dir.mkdir(parents=True, exist_ok=True)
            lock_file = open(str(build_dir) + ".lock", "w")  # noqa: SIM115 (closed in finally)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            info.build_dir = str(build_dir)
            set_device("cpp_standalone", build_on_run=True, directory=str(build_dir),
                       with_output=False)
        yield info
    finally:
        if standalone:
            brian2.get_device().reinit()
            reset_device()
            if lock_file is not None:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
                lock_file.close()
        for k, v in saved.items():
            prefs[k] = v


def run_network(net, duration, info: RunInfo) -> None:
    """Run ``net`` for ``duration`` and record the times in ``info``.

    Runtime targets first run for 0 s, which generates (cython: compiles) every code object,
    so ``info.compile_s`` holds code generation and ``info.run_s`` the simulation. For
    ``"cpp_standalone"`` the run builds, compiles and executes the project; Brian2's own timers
    split compilation from the simulation.
    """
    import brian2

    if info.target != "cpp_standalone":
        # a run of length 0 generates (and for cython compiles) every code object
        t0 = time.perf_counter()
        net.run(0 * brian2.second)
        info.compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration)
    wall = time.perf_counter() - t0
    if info.target == "cpp_standalone":
        timers = getattr(brian2.get_device(), "timers", {}) or {}
        comp = timers.get("compile", {}) or {}
        info.compile_s = float(sum(v for v in comp.values() if v))
        info.run_s = float(timers.get("run_binary") or 0.0)
        info.build_s += max(wall - info.compile_s - info.run_s, 0.0)
    else:
        info.run_s = wall


def _refuse_repo_dir(path: Path) -> None:
    for parent in (path, *path.parents):
        if (parent / ".git").exists():
            raise ValueError(f"Brian2 cache directory {str(path)!r} is inside the git checkout "
                             f"{str(parent)!r}; choose a directory outside any repository")
