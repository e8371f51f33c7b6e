"""Put a session together: encoder, backend, stimulator and log from plain options.

Sources and backends are found by name through the registry (entry points), so this module
imports no adapter and no reference model.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__, registry
from .. import validate as _v
from ..backends.base import Backend
from ..chip import ChipConfig, NocConfig
from ..encoder import ElectrodeMap, Encoder, EncoderConfig, n_clusters_for
from ..networks import clusters_needed, network_from_name
from ..stimulator import StimMap, Stimulator, StimulatorConfig
from ..types import ChipProgram, SpikeEvents
from .journal import JournalWriter
from .log import SessionLog
from .nixfile import write_session
from .runner import Pacing, Progress, replay


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
    allow_shared_rows: bool = False  #: electrodes and routes may drive one AXON row (OR, counted)
    backend_options: dict = field(default_factory=dict)  #: e.g. {"board": URI} for backend board


@dataclass
class SessionParts:
    encoder: Encoder
    backend: Backend
    stimulator: Stimulator
    program: ChipProgram
    chip_config: ChipConfig
    meta: dict


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
    t0 = events.t_start if opts.t_start is None else float(opts.t_start)
    t1 = events.t_stop if opts.t_stop is None else float(opts.t_stop)
    if opts.t_start is not None and not events.t_start <= t0 <= events.t_stop:
        raise ValueError(f"--start {t0:g} s is outside the recording [{events.t_start:g}, {events.t_stop:g}] s")
    if opts.t_stop is not None and not events.t_start <= t1 <= events.t_stop:
        raise ValueError(f"--stop {t1:g} s is outside the recording [{events.t_start:g}, {events.t_stop:g}] s")
    if t1 <= t0:
        raise ValueError(f"the session window [{t0:g}, {t1:g}] s is empty (--start must be before --stop)")
    return t0, t1


def build(events: SpikeEvents, opts: SessionOptions, source_meta: dict | None = None) -> SessionParts:
    """Encoder, programmed backend, stimulator and the session's description."""
    labels = events.labels
    if opts.electrode_map:
        emap = ElectrodeMap.from_file(opts.electrode_map, labels, allow_unmapped=opts.allow_unmapped)
    else:
        emap = ElectrodeMap.default(len(labels), labels)
    n_clusters = max(emap.n_clusters, 1) if opts.electrode_map else n_clusters_for(len(labels))
    n_clusters = chip_clusters(n_clusters, opts)
    t0, t1 = window_of(events, opts)
    enc = Encoder(EncoderConfig(gclk_hz=opts.gclk_hz, t_start=t0, t_stop=t1, blanking=opts.blanking,
                                blanking_scope=opts.blanking_scope), emap)
    cfg = (opts.chip_config or ChipConfig()).replace(gclk_hz=opts.gclk_hz)
    # a seed in the spec (random:SEED, recurrent:SEED) names the network; --seed the chip instance
    program = network_from_name(opts.network, n_clusters, seed=None if ":" in opts.network else opts.seed)
    shared_rows = check_shared_rows(emap, program, opts.allow_shared_rows)
    backend_cls = registry.load("bioloop.backends", opts.backend)
    noc_kw = {"noc": NocConfig(mesh=opts.mesh)} if len(program.routes) or opts.mesh else {}
    backend = backend_cls(cfg, n_clusters=n_clusters, seed=opts.seed, mismatch=opts.mismatch,
                          **noc_kw, **opts.backend_options)
    backend.program(program)
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
                         f"({len(shared)} such rows); route to rows no electrode drives, or allow it "
                         "with --allow-shared-rows (the row is then their OR, counted as merged)")
    return shared


def _backend_report(backend: Backend, summary: dict) -> None:
    """A backend on hardware (the board) reports its link at the end and lets go of it."""
    report = backend.session_report()
    if report is not None:
        summary["backend"] = report
    backend.close()


def journal_path_for(out: Path) -> Path:
    return out.with_name(out.name + ".journal")


def run_replay(events: SpikeEvents, opts: SessionOptions, out: Path, *, source_meta: dict | None = None,
               speed: float | None = None, quiet: bool = True, keep_journal: bool = False) -> dict:
    """Replay ``events`` and write the session file ``out``; returns the JSON summary.

    The journal (``out`` + ``.journal``) is written while the session runs and removed once the
    session file is complete (kept with ``keep_journal``).
    """
    out = Path(out)
    if out.suffix != ".nix":
        raise ValueError(f"--out {str(out)!r} must end in .nix")
    if not out.parent.is_dir():
        raise ValueError(f"folder {str(out.parent)!r} for --out does not exist")
    parts = build(events, opts, source_meta)
    jpath = journal_path_for(out)
    if jpath.exists():
        raise ValueError(f"a journal {str(jpath)!r} from an earlier session is in the way; turn it into a "
                         f"session with 'bioloop recover {jpath}' or delete it")
    with JournalWriter(jpath) as journal:
        log = SessionLog(events.labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta, journal)
        t0, t1 = parts.encoder.window(events)
        replay(events, encoder=parts.encoder, backend=parts.backend, stimulator=parts.stimulator, log=log,
               pacing=Pacing(speed=speed), progress=Progress(t1 - t0, quiet=quiet))
    write_session(log, out)
    if not keep_journal:
        jpath.unlink()
    summary = log.summary()
    summary["session"] = str(out)
    _backend_report(parts.backend, summary)
    return summary


def run_loop(source, opts: SessionOptions, out: Path, *, clock, sink=None, timing=None,
             source_meta: dict | None = None, keep_journal: bool = False, monitor=None) -> dict:
    """Run the closed loop on a live ``source`` (LSL, or a virtual culture on its own clock)
    and write the session file ``out``; returns the JSON summary.

    The hot path (chip kernels, stimulator) is compiled and warmed before the clock starts;
    cycle 0 is the GCLK edge at the session's start on ``clock``.
    """
    from dataclasses import replace

    from ..encoder import Encoder
    from ..types import FireEvents
    from .live import LiveTiming, run_live

    out = Path(out)
    if out.suffix != ".nix":
        raise ValueError(f"--out {str(out)!r} must end in .nix")
    if not out.parent.is_dir():
        raise ValueError(f"folder {str(out.parent)!r} for --out does not exist")
    jpath = journal_path_for(out)
    if jpath.exists():
        raise ValueError(f"a journal {str(jpath)!r} from an earlier session is in the way; turn it into a "
                         f"session with 'bioloop recover {jpath}' or delete it")
    timing = timing or LiveTiming()
    labels = source.labels
    horizon = (timing.duration if timing.duration is not None else 1e7) + 60.0
    t_now = clock()
    import numpy as np

    placeholder = SpikeEvents(np.zeros(0), np.zeros(0, np.int64), labels, t_now, t_now + horizon)
    parts = build(placeholder, replace(opts, t_start=t_now, t_stop=t_now + horizon), source_meta)
    # compile and warm the hot path, then forget the warm-up
    state = parts.stimulator.get_state()
    parts.stimulator.process(FireEvents([0], [0], [0], opts.gclk_hz))
    parts.stimulator.set_state(state)
    parts.backend.evolve(parts.encoder.encode(placeholder).frames, until=1)
    parts.backend.reset()
    t0 = clock()
    enc = Encoder(replace(parts.encoder.config, t_start=t0, t_stop=t0 + horizon), parts.encoder.electrode_map)
    parts.stimulator.config = replace(parts.stimulator.config, time_origin=t0)
    parts.meta["t_start"] = t0
    with JournalWriter(jpath) as journal:
        log = SessionLog(labels, opts.gclk_hz, parts.backend.n_clusters, parts.meta, journal)
        run_live(source, encoder=enc, backend=parts.backend, stimulator=parts.stimulator, log=log, t0=t0,
                 clock=clock, sink=sink, timing=timing, signed_weights=parts.program.signed_weights,
                 monitor=monitor)
    write_session(log, out)
    if not keep_journal:
        jpath.unlink()
    summary = log.summary()
    summary["session"] = str(out)
    _backend_report(parts.backend, summary)
    return summary
