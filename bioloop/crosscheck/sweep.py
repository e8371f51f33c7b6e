"""GCLK sweep: what aligning to the clock costs, measured against a continuous-time reference.

The same spikes (continuous times) drive the chip model at each GCLK ``f`` of the sweep, with
the config rescaled to keep the time course in seconds (:func:`~.timescale.scaled_config`):
the input is sampled at the edges of ``f`` and the leak and refractory period are counted in
its cycles. The reference (``ideal-lif`` by default) runs once, at the finest clock of the
sweep, with the same biological parameters. Each row of the table compares one clock with
the reference, in seconds, with fixed statistics time scales.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import validate as _v
from ..chip.config import N_DENDS, ChipConfig
from ..types import ChipProgram, SpikeEvents
from .compare import backend_class
from .poisson import align
from .statistics import HIGHER_IS_BETTER, METRICS, MetricSettings, compare_trains, spike_times
from .timescale import scaled_config

DEFAULT_GCLKS = (1e3, 2e3, 5e3, 10e3, 20e3, 50e3)


@dataclass(frozen=True)
class SweepResult:
    """One row per GCLK: the chip at that clock against the reference (dicts, CSV-ready)."""

    rows: list[dict]
    reference: str
    reference_gclk_hz: float
    reference_fires: int
    reference_wall_s: float
    brian2_target: str | None
    settings: MetricSettings

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def summary(self) -> dict:
        return {"reference": self.reference, "reference_gclk_hz": self.reference_gclk_hz,
                "reference_fires": self.reference_fires,
                "reference_wall_s": self.reference_wall_s, "brian2_target": self.brian2_target,
                "rows": self.rows}


def gclk_sweep(spikes: SpikeEvents, program: ChipProgram, config: ChipConfig, *,
               gclks=DEFAULT_GCLKS, reference="ideal-lif", reference_options: dict | None = None,
               settings: MetricSettings | None = None, chip="chip") -> SweepResult:
    """Chip at each GCLK of ``gclks`` against one continuous-time reference run.

    Parameters
    ----------
    spikes : SpikeEvents
        Input spikes; channel ``16 c + k`` drives AXON row ``k`` of cluster ``c``.
    program : ChipProgram
    config : ChipConfig
        The base config; its ``gclk_hz`` fixes the time course (in seconds) kept at every
        clock, and the statistics' time scales (:meth:`MetricSettings.for_gclk`).
    gclks : sequence of float
        Clocks of the sweep, 1 kHz to 50 kHz; the reference runs at the largest.
    reference : str or type
        Registered backend name or class (default ``"ideal-lif"``).
    reference_options : dict, optional
        Extra constructor arguments of the reference (e.g. ``target``).
    settings : MetricSettings, optional
    chip : str or type
        The tested backend (default the chip model).

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        For an empty sweep, a clock out of range, spikes on channels the program has no
        row for, or no spikes at all.
    """
    if not isinstance(spikes, SpikeEvents):
        raise TypeError(f"spikes must be SpikeEvents, got {type(spikes).__name__}")
    if not isinstance(program, ChipProgram):
        raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
    if not isinstance(config, ChipConfig):
        raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
    fs = sorted({_v.real("gclk", f, lo=1e3, hi=50e3) for f in gclks})
    if not fs:
        raise ValueError("the GCLK sweep needs at least one clock")
    if len(spikes) == 0:
        raise ValueError("the GCLK sweep needs input spikes; the given SpikeEvents hold none")
    n_rows = program.n_clusters * 16
    if spikes.channels.max() >= n_rows:
        raise ValueError(f"spike channel {int(spikes.channels.max())} has no AXON row; the "
                         f"program has {program.n_clusters} clusters ({n_rows} rows)")
    settings = settings or MetricSettings.for_gclk(config.gclk_hz)
    C = program.n_clusters
    n_neurons = C * N_DENDS

    f_ref = fs[-1]
    ref_cfg = scaled_config(config, f_ref)
    ref_in = align(spikes, f_ref)
    ref_cls = backend_class(reference)
    ref = ref_cls(ref_cfg, n_clusters=C, mismatch=False, **(reference_options or {}))
    ref.program(program)
    t0 = time.perf_counter()
    ref_step = ref.evolve(ref_in.frames, ref_in.n_cycles)
    ref_wall = time.perf_counter() - t0
    ref_trains = spike_times(ref_step.fires, n_neurons)

    chip_cls = backend_class(chip)
    rows = []
    for f in fs:
        cfg = scaled_config(config, f)
        aligned = align(spikes, f)
        be = chip_cls(cfg, n_clusters=C, mismatch=False)
        be.program(program)
        t0 = time.perf_counter()
        step = be.evolve(aligned.frames, aligned.n_cycles)
        wall = time.perf_counter() - t0
        duration = max(aligned.n_cycles / f, ref_in.n_cycles / f_ref)
        values = compare_trains(spike_times(step.fires, n_neurons), ref_trains, duration, settings)
        row = {"gclk_hz": f, "n_abs": cfg.n_abs, "leak_step_mV": cfg.leak_step * 1e3,
               "axon_pulses": step.axon_pulses, "merged": aligned.merged,
               "chip_fires": len(step.fires), "reference_fires": len(ref_step.fires)}
        row.update({name: values[name].value for name in METRICS})
        row["chip_wall_s"] = wall
        rows.append(row)
    return SweepResult(rows, ref_cls.name, f_ref, len(ref_step.fires), ref_wall,
                       dict(ref.describe).get("brian2_target"), settings)


def write_sweep_csv(result: SweepResult, path) -> Path:
    """Write the sweep table as CSV (one row per GCLK; empty cell for "nothing to compare")."""
    p = Path(path)
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(result.columns)
        for row in result.rows:
            w.writerow(["" if v is None else (repr(float(v)) if isinstance(v, float) else v)
                        for v in row.values()])
    return p


def plot_sweep(result: SweepResult, path) -> Path:
    """PNG of the statistics against GCLK (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_lo, ax_hi = fig.subplots(1, 2)
    f = np.array([r["gclk_hz"] for r in result.rows]) / 1e3
    for name in METRICS:
        y = np.array([np.nan if r[name] is None else r[name] for r in result.rows], float)
        ax = ax_hi if name in HIGHER_IS_BETTER else ax_lo
        ax.plot(f, y, marker="o", label=name)
    for ax, title in ((ax_lo, "distance to the reference (lower is better)"),
                      (ax_hi, "similarity to the reference (higher is better)")):
        ax.set_xscale("log")
        ax.set_xlabel("GCLK (kHz)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"chip model vs {result.reference} ({result.reference_gclk_hz / 1e3:g} kHz "
                 "input grid): the cost of clock alignment", fontsize=10)
    p = Path(path)
    fig.savefig(p, dpi=110)
    return p
