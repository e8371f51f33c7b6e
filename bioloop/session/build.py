"""Put a session together: encoder, backend, stimulator and log from plain options.

Sources and backends are found by name through the registry (entry points), so this module
imports no adapter and no reference model.
"""

from __future__ import annotations

import gc
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__, registry
from .. import validate as _v
from ..backends.base import Backend
from ..chip import ChipConfig, NocConfig
from ..encoder import ElectrodeMap, Encoder, EncoderConfig, n_clusters_for, session_window
from ..networks import clusters_needed, network_from_name
from ..stimulator import StimMap, Stimulator, StimulatorConfig
from ..types import AxonFrames, ChipProgram, FireEvents, SpikeEvents, StimCommands
from .journal import JournalWriter
from .log import SessionLog
from .nixfile import write_session
from .runner import Pacing, replay


@dataclass(frozen=True)
class SessionOptions:
    """Everything a replay or live session is made from (all validated where used)."""

    network: str = "relay"
    gclk_hz: float = 1e3
    chip_config: ChipConfig | None = None
    backend: str = "chip"
    seed: int | None = 0
    mismatch: bool = True
    t_start: float | None = None
    t_stop: float | None = None
    electrode_map: str | None = None
    allow_unmapped: bool = False
    blanking: float = 2e-3
    blanking_scope: str = "electrode"
    stimulator: StimulatorConfig = field(default_factory=StimulatorConfig)
    stim_map: str | None = None
    n_clusters: int | None = None  #: at least this many clusters (routes may need internal ones)
    mesh: tuple[int, int] | None = None  #: NoC mesh (rows, cols); default the squarest for C
    noc: NocConfig | None = None  #: NoC latencies and links (its mesh unless ``mesh`` is given)
    allow_shared_rows: bool = False  #: electrodes and routes may drive one AXON row (OR, counted)
    backend_options: dict = field(default_factory=dict)  #: e.g. {"board": URI} for backend board


@dataclass
class SessionParts:
    """The stages of one session, built by :func:`build`."""

    encoder: Encoder
    backend: Backend
    stimulator: Stimulator
    program: ChipProgram
    chip_config: ChipConfig
    meta: dict

    def warm_up(self) -> float:
        """Load (or compile) every compiled kernel of the hot path, then forget the warm-up:
        the backend is reset to cycle 0 and the stimulator keeps no trace. Returns the seconds
        it took (reported apart from the session's wall time, as Brian2's compile time is)."""
        t = time.perf_counter()
        emap = self.encoder.electrode_map
        labels = emap.labels or tuple(str(i) for i in range(emap.n_electrodes))
        empty = SpikeEvents(np.zeros(0), np.zeros(0, np.int64), labels, 0.0, 1.0)
        win = Encoder(replace(self.encoder.config, t_start=0.0, t_stop=1.0), emap).encode_window(empty)
        none = StimCommands(np.zeros(1), np.zeros(1, np.int64), np.full(1, -1e-6), np.full(1, 2e-4), np.zeros(1))
        win.chunk(0, 0, np.zeros(0, bool))
        win.covered(none, 0, 0)
        win.blank(none, 0)
        self.encoder.encode(empty)
        stream = Encoder(replace(self.encoder.config, t_start=0.0, t_stop=None), emap).stream()
        stream.blank(none)
        stream.encode(empty.times, empty.channels, stream.cycles_of(empty.times))
        g = self.chip_config.gclk_hz
        state = self.stimulator.get_state()
        self.stimulator.process(FireEvents([0, 0], [0, 0], [0, 1], g))  # several FIREs: the order check too
        self.stimulator.set_state(state)
        self.backend.evolve(AxonFrames([0], [0], [0], g), until=2)
        self.backend.reset()
        return time.perf_counter() - t


def versions() -> dict:
    """Versions of bioloop and the libraries a session depends on (without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"bioloop": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "numba", "neo", "nixio", "elephant", "brian2", "pylsl"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def window_of(events: SpikeEvents, opts: SessionOptions) -> tuple[float, float]:
    """The session window of ``opts`` over ``events`` (:func:`bioloop.encoder.session_window`)."""
    return session_window(events, opts.t_start, opts.t_stop)


def session_network(spec: str, n_clusters: int, seed: int | None) -> ChipProgram:
    """The network ``spec`` for ``n_clusters``; the session's ``seed`` seeds a random network
    unless the spec names its own (``random:5``, ``recurrent:5``: a parameter after the colon).

    Examples
    --------
    >>> session_network("random:5", 1, seed=0).name == session_network("random", 1, seed=5).name
    True
    """
    return network_from_name(spec, n_clusters, seed=None if ":" in spec else seed)


def build(events: SpikeEvents, opts: SessionOptions, source_meta: dict | None = None) -> SessionParts:
    """Encoder, programmed backend, stimulator and the session's description, for a replay of
    ``events`` over the window ``opts`` gives (see :func:`window_of`)."""
    t0, t1 = window_of(events, opts)
    return assemble(events.labels, t0, t1, opts, source_meta)


def assemble(labels, t0: float, t1: float | None, opts: SessionOptions,
             source_meta: dict | None = None, *, backend: Backend | None = None,
             program: ChipProgram | None = None) -> SessionParts:
    """The session's stages for electrodes ``labels`` over the window ``[t0, t1]``.

    A live session is assembled once its start ``t0`` is known (``t1`` None: open-ended);
    cycle 0 is the GCLK edge at ``t0`` and the stimulator's time origin is ``t0``. A backend
    made (and programmed with ``program``) and warmed up beforehand may be handed in, so that a
    board is opened once.
    """
    labels = tuple(labels)
    if opts.electrode_map:
        emap = ElectrodeMap.from_file(opts.electrode_map, labels, allow_unmapped=opts.allow_unmapped)
    else:
        emap = ElectrodeMap.default(len(labels), labels)
    n_clusters = max(emap.n_clusters, 1) if opts.electrode_map else n_clusters_for(len(labels))
    n_clusters = chip_clusters(n_clusters, opts)
    enc = Encoder(EncoderConfig(gclk_hz=opts.gclk_hz, t_start=t0, t_stop=t1, blanking=opts.blanking,
                                blanking_scope=opts.blanking_scope), emap)
    cfg = (opts.chip_config or ChipConfig()).replace(gclk_hz=opts.gclk_hz)
    if backend is None:
        program = session_network(opts.network, n_clusters, opts.seed)
        backend_cls = registry.load("bioloop.backends", opts.backend)
        noc = session_noc(opts)
        noc_kw = {"noc": noc or NocConfig()} if len(program.routes) or noc is not None else {}
        backend = backend_cls(cfg, n_clusters=n_clusters, seed=opts.seed, mismatch=opts.mismatch,
                              **noc_kw, **opts.backend_options)
        backend.program(program)
    elif program is None:
        raise ValueError("a backend handed to assemble() needs the program it holds")
    shared_rows = check_shared_rows(emap, program, opts.allow_shared_rows)
    # a FIRE leaves the comparator after the cycle's switches up to SWCOMP, not at the GCLK
    # edge that sampled its input: stimulation can never precede (and blank) that input
    theta_max = int(program.theta.max())
    fire_latency = cfg.cycle_time_needed(theta_max) - cfg.t_swleak
    scfg = StimulatorConfig(**{**asdict(opts.stimulator), "time_origin": t0,
                               "delay": opts.stimulator.delay + fire_latency})
    smap = StimMap.from_file(opts.stim_map, labels, n_clusters) if opts.stim_map else emap
    stim = Stimulator(scfg, smap)
    meta = {
        "source": source_meta or {},
        "window": [t0, t1],
        "network": opts.network,
        "program": {"name": program.name, "weights": program.weights.tolist(),
                    "psp_ref": program.psp_ref.tolist(), "threshold_gen": program.threshold_gen.tolist(),
                    "threshold_ref": program.threshold_ref.tolist(),
                    "lateral_neighbours": list(program.lateral_neighbours)},
        "chip_config": cfg.to_dict(),
        "backend": backend.describe,
        "encoder": {"gclk_hz": opts.gclk_hz, "blanking_s": opts.blanking,
                    "blanking_scope": opts.blanking_scope, "electrode_map": emap.to_dict()},
        "stimulator": scfg.to_dict(),
        "routing": {"routes": [[a, n, b, k] for (a, n), (b, k) in program.routes.pairs()],
                    "shared_rows": shared_rows,
                    "stimulating": [[int(c), int(d), int(stim.stim_map.table[c, d])]
                                    for c, d in zip(*np.nonzero(stim.stim_map.table >= 0), strict=True)]},
        "versions": versions(),
        "t_start": t0,
    }
    return SessionParts(enc, backend, stim, program, cfg, meta)


def session_noc(opts: SessionOptions) -> NocConfig | None:
    """The NoC of ``opts`` (``noc`` with ``mesh`` over its mesh), or None when neither is set.

    Examples
    --------
    >>> session_noc(SessionOptions(mesh=(2, 2), noc=NocConfig(hop_cycles=3))).to_dict()["mesh"]
    [2, 2]
    >>> session_noc(SessionOptions()) is None
    True
    """
    if opts.noc is not None and not isinstance(opts.noc, NocConfig):
        raise TypeError(f"SessionOptions.noc must be a NocConfig, got {type(opts.noc).__name__}")
    if opts.mesh is None:
        return opts.noc
    return replace(opts.noc or NocConfig(), mesh=opts.mesh)


def chip_clusters(electrode_clusters: int, opts: SessionOptions) -> int:
    """Clusters of the chip: what the electrodes need, at least ``--clusters``, at least what
    the network needs (``chain:L``, ``ring:L``); clusters past the electrodes are internal.

    Raises
    ------
    ValueError
        ``--clusters`` fewer than the electrodes need.
    """
    C = electrode_clusters
    if opts.n_clusters is not None:
        want = _v.integer("--clusters", opts.n_clusters, lo=1, hi=65_536)
        if want < C:
            raise ValueError(f"--clusters {want} is fewer than the {C} clusters the electrodes need")
        C = want
    return max(C, clusters_needed(opts.network))


def check_shared_rows(emap: ElectrodeMap, program: ChipProgram, allow: bool) -> list:
    """AXON rows that both an electrode and a route drive, as ``[[cluster, axon, electrode], ...]``.

    Raises
    ------
    ValueError
        Such a row without ``allow`` (``--allow-shared-rows``: the row is then the OR of both,
        and a packet onto an active row is counted as ``routed_merged``).
    """
    tab = emap.table()
    shared = []
    for b, k in program.routes.destinations():
        if b < tab.shape[0] and tab[b, k] >= 0:
            shared.append([int(b), int(k), int(tab[b, k])])
    if shared and not allow:
        b, k, e = shared[0]
        raise ValueError(f"electrode {e} and a route both drive AXON row {k} of cluster {b} "
                         f"({len(shared)} such rows); add --allow-shared-rows to drive each such row "
                         "with their OR (a packet onto an active row is counted as merged), or use "
                         "routes onto rows no electrode drives")
    return shared


def _backend_report(backend: Backend, summary: dict) -> None:
    """A backend on hardware (the board) reports its link at the end and lets go of it."""
    report = backend.session_report()
    if report is not None:
        summary["backend"] = report
    backend.close()


def journal_path_for(out: Path) -> Path:
    return out.with_name(out.name + ".journal")


def run_replay(events: SpikeEvents, opts: SessionOptions, out: Path | None = None, *,
               source_meta: dict | None = None, speed: float | None = None, quiet: bool = True,
               keep_journal: bool = False) -> dict:
    """Replay ``events`` with the session ``opts``; returns the JSON summary.

    The public entry point for "a replay from parameters": the CLI, the demo, the benchmarks
    and sweeps call it. With ``out`` (a ``.nix`` path) the session is journaled while it runs
    (``out`` + ``.journal``, removed once the session file is complete unless
    ``keep_journal``) and written as a NIX file; with ``out=None`` it runs in memory only.

    Parameters
    ----------
    events : SpikeEvents
        The recording.
    opts : SessionOptions
        Network, GCLK, window, stimulation and safety settings.
    out : Path, optional
        Session file to write.
    source_meta : dict, optional
        JSON-able description of where the spikes came from.
    speed : float, optional
        None: as fast as possible; 1.0: real time.
    quiet : bool
        No progress bar.
    keep_journal : bool
        Keep the journal next to the session file.

    Returns
    -------
    dict
        The summary (see :meth:`SessionLog.summary`), plus ``session`` (the path or None).

    Raises
    ------
    ValueError
        Bad options, a window outside the recording, a bad ``out`` path, or a journal of an
        earlier session in the way.

    Examples
    --------
    >>> from bioloop.synthetic import synthetic_culture
    >>> s = run_replay(synthetic_culture(n_electrodes=16, duration=2.0, seed=1), SessionOptions())
    >>> s["input_spikes"] == s["axon_pulses"] + sum(s["dropped"].values())
    True
    """
    jpath = None
    if out is not None:
        out, jpath = _session_paths(out)
    parts = build(events, opts, source_meta)
    warmup_s = parts.warm_up()
    journal = JournalWriter(jpath) if jpath is not None else None
    try:
        log = SessionLog(events.labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta, journal)
        replay(events, encoder=parts.encoder, backend=parts.backend, stimulator=parts.stimulator, log=log,
               pacing=Pacing(speed=speed), quiet=quiet)
    finally:
        if journal is not None:
            journal.close()
    if out is not None:
        write_session(log, out)
        if not keep_journal:
            jpath.unlink()
    summary = log.summary()
    summary["warmup_s"] = warmup_s
    summary["session"] = None if out is None else str(out)
    _backend_report(parts.backend, summary)
    return summary


def _session_paths(out) -> tuple[Path, Path]:
    """The session file ``out`` and its journal, checked before a session starts: a ``.nix``
    name in an existing folder, and no journal of an earlier session in the way."""
    out = Path(out)
    if out.suffix != ".nix":
        raise ValueError(f"--out {str(out)!r} must end in .nix")
    if not out.parent.is_dir():
        raise ValueError(f"folder {str(out.parent)!r} for --out does not exist")
    jpath = journal_path_for(out)
    if jpath.exists():
        raise ValueError(f"a journal {str(jpath)!r} from an earlier session is in the way; turn it into a "
                         f"session with 'bioloop recover {jpath}' or delete it")
    return out, jpath


def warm_up_kernels(opts: SessionOptions) -> float:
    """Load (or compile) the compiled kernels of a session's hot path before its source is
    opened: a live stream's spikes that arrive while the kernels load (0.2-0.3 s on this
    machine, seconds on a first run) fall before the session's start, counted ``outside_window``.

    The kernels depend on the clock, chip, encoder and stimulator settings, not on the
    electrodes: a one-cluster session of the chip model with the same settings is assembled and
    warmed. What only the real session runs (routes between clusters, a board) is loaded by
    :func:`run_loop`'s own warm-up, as before. Returns the seconds it took.
    """
    from .live import warm_up_loop

    t = time.perf_counter()
    like = replace(opts, network="relay", backend="chip", backend_options={}, electrode_map=None,
                   stim_map=None, n_clusters=None, mesh=None, noc=None, allow_shared_rows=False)
    assemble(tuple(f"e{i}" for i in range(16)), 0.0, None, like).warm_up()
    warm_up_loop()
    return time.perf_counter() - t


def run_loop(source, opts: SessionOptions, out: Path, *, sink=None, timing=None,
             source_meta: dict | None = None, keep_journal: bool = False, monitor=None) -> dict:
    """Run the closed loop on a live ``source`` (a :class:`~bioloop.sources.LiveSource`: LSL, or a
    virtual culture on its own clock) and write the session file ``out``; returns the summary.

    The hot path's compiled kernels are loaded before the session starts; then the session is
    built once, at its start on ``source.clock()``: cycle 0 is the GCLK edge there, and the
    window, the stimulator's time origin and the session's description all say so.
    """
    from ..sources import LiveSource
    from .live import LiveLoop, LiveTiming, warm_up_loop

    if not isinstance(source, LiveSource):
        raise TypeError(f"a live session needs a LiveSource (with a clock), got {type(source).__name__}")
    out, jpath = _session_paths(out)
    timing = timing or LiveTiming()
    labels = source.labels
    # the backend is made and programmed once, and the kernels loaded, before the session starts;
    # then the session is assembled at its start with that backend
    early = assemble(labels, 0.0, None, opts)
    warmup_s = early.warm_up() + warm_up_loop()
    t0 = source.clock()
    parts = assemble(labels, t0, None if timing.duration is None else t0 + timing.duration, opts, source_meta,
                     backend=early.backend, program=early.program)
    # everything made so far (libraries, kernels, the session) lives as long as the loop: keep it
    # out of the garbage collector's full passes, which would otherwise stall the loop for ms
    gc.freeze()
    try:
        with JournalWriter(jpath) as journal:
            log = SessionLog(labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta, journal)
            LiveLoop(parts, log, clock=source.clock, sink=sink, monitor=monitor, timing=timing).run(source)
    finally:
        gc.unfreeze()
    write_session(log, out)
    if not keep_journal:
        jpath.unlink()
    summary = log.summary()
    summary["warmup_s"] = warmup_s
    summary["session"] = str(out)
    _backend_report(parts.backend, summary)
    return summary
