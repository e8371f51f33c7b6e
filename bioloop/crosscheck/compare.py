"""Same AXON frames into the chip model and a reference backend; statistics; verdict.

Both backends are found by name in the ``bioloop.backends`` registry (entry points), so the
core never imports a reference model: ``"chip"`` is the chip model, and the Brian2
references register as ``"chip-equivalent"`` and ``"ideal-lif"``. A backend class may be
passed directly too.

A reference class that sets ``spike_exact = True`` promises the chip model's exact spikes
with device mismatch off; it is then held to that (identical FIRE events and counts, and
:meth:`~bioloop.crosscheck.tolerances.Tolerances.exact` tolerances by default).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import registry
from .. import validate as _v
from ..backends.base import Backend
from ..chip.config import N_DENDS, ChipConfig
from ..types import AxonFrames, ChipProgram, FireEvents
from .statistics import MetricSettings, compare_trains, spike_times
from .tolerances import Tolerances
from .verdict import CrossCheck, SideRun, decide, judge


def backend_class(backend) -> type[Backend]:
    """A Backend class from a registry name or the class itself.

    Raises
    ------
    TypeError
        Neither a string nor a Backend subclass.
    ValueError
        An unknown name (the message lists the installed backends).

    Examples
    --------
    >>> backend_class("chip").name
    'chip'
    """
    if isinstance(backend, str):
        return registry.load("bioloop.backends", backend)
    if isinstance(backend, type) and issubclass(backend, Backend):
        return backend
    raise TypeError(f"backend must be a registered name or a Backend subclass, got {backend!r}")


def config_differences(a: ChipConfig, b: ChipConfig) -> dict:
    """Fields whose values differ between two configs: ``{name: (a, b)}``.

    Examples
    --------
    >>> config_differences(ChipConfig(), ChipConfig(gclk_hz=2e3))
    {'gclk_hz': (1000.0, 2000.0)}
    """
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
            if getattr(a, f.name) != getattr(b, f.name)}


def _same_image(a: ChipProgram, b: ChipProgram) -> list[str]:
    diff = [name for name in ("weights", "psp_ref", "threshold_gen", "threshold_ref")
            if not np.array_equal(getattr(a, name), getattr(b, name))]
    if tuple(a.lateral_neighbours) != tuple(b.lateral_neighbours):
        diff.append("lateral_neighbours")
    return diff


def realised_levels(backend: Backend, diff: dict) -> tuple[dict, ...]:
    """The level roundings a backend reports (``describe["dac_rounding"]``, e.g. the board's
    DACs) when they explain every field of ``diff``; empty otherwise.

    Examples
    --------
    >>> class Dacs:
    ...     describe = {"dac_rounding": [{"level": "v_th", "requested": 0.8501, "set": 0.85}]}
    >>> [r["level"] for r in realised_levels(Dacs(), {"v_th": (0.8501, 0.85)})]
    ['v_th']
    >>> realised_levels(Dacs(), {"gclk_hz": (1e3, 2e3)})
    ()
    """
    rounding = tuple(backend.describe.get("dac_rounding") or ())
    if diff and set(diff) <= {r["level"] for r in rounding}:
        return rounding
    return ()


def warm_up(backend: Backend) -> float:
    """Load (or compile) a backend's kernels on one pulse, then reset it; returns the seconds
    it took (reported apart from the run, as Brian2's compile time is)."""
    t0 = time.perf_counter()
    backend.evolve(AxonFrames([0], [0], [0], backend.config.gclk_hz), until=2)
    backend.reset()
    return time.perf_counter() - t0


def run_side(backend: Backend, frames: AxonFrames, until: int) -> SideRun:
    """Evolve a programmed backend over ``frames`` up to ``until``; time it."""
    t0 = time.perf_counter()
    step = backend.evolve(frames, until)
    wall = time.perf_counter() - t0
    return SideRun(backend.name, step.fires, wall, step.axon_pulses, step.merged,
                   step.ignored_refractory, dict(backend.describe), step.routed, step.routed_merged)


def fires_equal(a: FireEvents, b: FireEvents) -> bool:
    """Whether two FIRE event sets hold exactly the same (cycle, cluster, dend) events."""
    def key(f):
        k = (f.cycles * (1 << 20) + f.cluster) * N_DENDS + f.dend
        return np.sort(k)
    return len(a) == len(b) and bool(np.array_equal(key(a), key(b)))


def cross_check(frames: AxonFrames, program: ChipProgram, config: ChipConfig, *, reference,
                until: int | None = None, reference_config: ChipConfig | None = None,
                tolerances: Tolerances | None = None, settings: MetricSettings | None = None,
                reference_options: dict | None = None, chip="chip", noc=None) -> CrossCheck:
    """Run the chip model (mismatch off) and a reference on the same frames and compare.

    Parameters
    ----------
    frames : AxonFrames
        The shared input, aligned to ``config.gclk_hz``.
    program : ChipProgram
        Written into both backends.
    config : ChipConfig
        The chip's config (both sides).
    reference : str or type
        Registered backend name (``"chip-equivalent"``, ``"ideal-lif"``) or a Backend class.
    until : int, optional
        Cycle to run up to (exclusive); default one past the last frame.
    reference_config : ChipConfig, optional
        If given, must equal ``config`` (a safeguard for callers holding two configs).
    tolerances : Tolerances, optional
        Default: ``Tolerances.exact()`` for a reference promising exact spikes, else
        ``Tolerances.biological()``.
    settings : MetricSettings, optional
        Default ``MetricSettings.for_gclk(config.gclk_hz)``.
    reference_options : dict, optional
        Extra keyword arguments of the reference's constructor (e.g. ``target``).
    chip : str or type
        The tested backend; default the chip model.
    noc : NocConfig, optional
        The NoC carrying the program's routes, the same on both sides (a reference that does
        not model routes gets none and refuses a program with routes); default the squarest
        mesh, 1-cycle latency, unlimited links.

    Notes
    -----
    A reference that realises analog levels only to its DACs' resolution (the board) holds the
    rounded levels in its ``config`` and reports them in ``describe["dac_rounding"]``; when those
    roundings are the only difference, the chip model runs at the realised levels and the
    result's ``realised_levels`` lists them.

    Returns
    -------
    CrossCheck

    Raises
    ------
    TypeError
        For arguments of the wrong type.
    ValueError
        If the configs differ, the frames are aligned to another clock, the backends do not
        hold the same image or config after programming, or ``until`` is before the frames.
    """
    if not isinstance(frames, AxonFrames):
        raise TypeError(f"frames must be AxonFrames, got {type(frames).__name__}")
    if not isinstance(program, ChipProgram):
        raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
    if not isinstance(config, ChipConfig):
        raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
    if reference_config is not None:
        if not isinstance(reference_config, ChipConfig):
            raise TypeError("reference_config must be a ChipConfig, got "
                            f"{type(reference_config).__name__}")
        diff = config_differences(config, reference_config)
        if diff:
            raise ValueError(f"the chip and the reference must share one config; they differ in "
                             f"{diff} (chip value, reference value)")
    if abs(frames.gclk_hz - config.gclk_hz) > 1e-9 * config.gclk_hz:
        raise ValueError(f"frames are aligned to gclk_hz = {frames.gclk_hz:g} but the config runs "
                         f"at gclk_hz = {config.gclk_hz:g}; align the input to the chip's clock")
    last = int(frames.cycles[-1]) + 1 if len(frames) else 0
    until = last if until is None else _v.integer("until", until, lo=last)
    if until == 0:
        raise ValueError("nothing to compare: no frames and until = 0 cycles")
    chip_cls, ref_cls = backend_class(chip), backend_class(reference)
    exact = bool(getattr(ref_cls, "spike_exact", False))
    tolerances = tolerances or (Tolerances.exact() if exact else Tolerances.biological())
    settings = settings or MetricSettings.for_gclk(config.gclk_hz)
    C = program.n_clusters

    noc_kw = {} if noc is None else {"noc": noc}
    tested = chip_cls(config, n_clusters=C, mismatch=False, **noc_kw)
    tested.program(program)
    ref_kw = noc_kw if getattr(ref_cls, "supports_routes", False) else {}
    ref = ref_cls(config, n_clusters=C, mismatch=False, **(reference_options or {}), **ref_kw)
    ref.program(program)
    diff = config_differences(tested.config, ref.config)
    rounded = realised_levels(ref, diff)
    if rounded:  # the reference realises rounded levels (DACs): run the model at those levels
        tested = chip_cls(ref.config, n_clusters=C, mismatch=False, **noc_kw)
        tested.program(program)
        diff = config_differences(tested.config, ref.config)
    if diff:
        raise ValueError(f"after construction the backends hold different configs: {diff}")
    img = _same_image(tested.read_image(), ref.read_image())
    if img:
        raise ValueError(f"after programming the backends hold different images ({img})")

    chip_warmup_s = warm_up(tested)
    side_a = run_side(tested, frames, until)
    side_b = run_side(ref, frames, until)
    n_neurons = C * N_DENDS
    values = compare_trains(spike_times(side_a.fires, n_neurons), spike_times(side_b.fires, n_neurons),
                            until / config.gclk_hz, settings)
    metrics = judge(values, tolerances)
    spike_exact = fires_equal(side_a.fires, side_b.fires) if exact else None
    counts_equal = None
    if exact:
        counts_equal = side_a.counts() == side_b.counts()
    verdict, reasons = decide(metrics, spike_exact, counts_equal)
    return CrossCheck(ref_cls.name, verdict, spike_exact, metrics, side_a, side_b, until,
                      config.gclk_hz, n_neurons, settings, side_b.describe.get("brian2_target"),
                      reasons, chip_warmup_s, rounded)
