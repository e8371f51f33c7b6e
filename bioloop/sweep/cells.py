"""The cell functions: one pure function of a cell's parameters each, seed explicit.

:func:`run_cell` runs any cell and never raises: a cell that fails returns a record with its
error, and the sweep goes on. A record is plain JSON: ``key``, ``index``, ``kind``,
``params``, ``status`` (``"ok"`` or ``"failed"``), ``error``, ``row`` (the cell's scalar
results: its row of the table), ``detail`` (arrays a study needs, e.g. the mismatch grid) and
``wall_s``.

Recordings are read by path on the worker (a shared file system); see docs/sweeps.md.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import numpy as np

from .. import __version__, registry
from ..chip import ChipConfig
from .spec import Cell

#: compare: seconds of input when the cell gives no duration (as ``bioloop compare``)
COMPARE_POISSON_S = 1.0
COMPARE_RECORDING_S = 10.0


def run_cell(cell: Cell, session_dir: str | None = None) -> dict:
    """Run one cell; its record (never raises for a failing cell).

    Parameters
    ----------
    cell : Cell
    session_dir : str, optional
        Replay cells: keep the session file there as ``<key>.nix`` (default: not kept).

    Returns
    -------
    dict
        The record (see the module docstring).

    Examples
    --------
    >>> from bioloop.sweep.spec import from_dict
    >>> spec = from_dict({"kind": "chip", "cells": [{"seed": 3, "duration": 0.2}]})
    >>> rec = run_cell(spec.cells[0])
    >>> rec["status"], rec["row"]["input_spikes"] == rec["row"]["axon_pulses"] + rec["row"]["dropped_merged"]
    ('ok', True)
    """
    t0 = time.perf_counter()
    record = {"key": cell.key, "index": cell.index, "kind": cell.kind, "params": cell.params,
              "status": "ok", "error": None, "row": {}, "detail": {}, "bioloop": __version__}
    try:
        if cell.kind == "replay":
            row, detail = replay_cell(cell.params, cell.key, session_dir)
        elif cell.kind == "compare":
            row, detail = compare_cell(cell.params)
        else:
            row, detail = chip_cell(cell.params)
        record["row"], record["detail"] = row, detail
    except Exception as exc:  # a failing cell is recorded, not raised: the sweep goes on
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        record["detail"] = {"traceback": traceback.format_exc(limit=8)}
    record["wall_s"] = time.perf_counter() - t0
    return record


# ---- what every kind shares ----------------------------------------------------------------
def chip_config(params: dict) -> ChipConfig:
    """The cell's ChipConfig: defaults, the cell's ``chip.<field>`` overrides, its GCLK."""
    kw = dict(params["chip"])
    if "lateral_neighbours" in kw:
        kw["lateral_neighbours"] = tuple(kw["lateral_neighbours"])
    return ChipConfig(gclk_hz=params["gclk_hz"], **kw)


def program_for(kind: str, params: dict, n_clusters: int):
    """The cell's network, seeded as every session seeds it (``session_network``: the cell's
    seed unless the spec names its own, ``random:5``)."""
    from ..session.build import session_network

    return session_network(params["network"], n_clusters, params["seed"])


def read_recording(rec: dict):
    """All spikes of the cell's recording, read by path through the ``file`` source."""
    source = registry.load("bioloop.sources", "file")(rec["path"], format=rec["format"], well=rec["well"])
    events = source.read_all()
    if len(events) == 0:
        raise ValueError(f"recording {rec['path']!r} holds no spikes")
    return events


def _counts(prefix: str, counts: dict) -> dict:
    return {f"{prefix}_{k}": int(v) for k, v in counts.items()}


# ---- replay ---------------------------------------------------------------------------------
def replay_session(events, opts, session_file: Path | None, source_meta: dict) -> dict:
    """The one call into the session layer: replay ``events`` with ``opts`` (into
    ``session_file``, or without a file when None) and return the session's JSON summary (what
    ``bioloop replay --json`` prints)."""
    from ..session.build import run_replay

    return run_replay(events, opts, session_file, source_meta=source_meta, quiet=True)


def replay_cell(params: dict, key: str, session_dir: str | None = None) -> tuple[dict, dict]:
    """A recording through the chip and the stimulator, as ``bioloop replay`` does it."""
    from ..session import SessionOptions

    rec = params["recording"]
    events = read_recording(rec)
    opts = SessionOptions(network=params["network"], gclk_hz=params["gclk_hz"],
                          chip_config=chip_config(params), seed=params["seed"],
                          mismatch=params["mismatch"], t_start=rec["start"], t_stop=rec["stop"],
                          n_clusters=params["clusters"])
    meta = {"path": rec["path"], "format": rec["format"], "well": rec["well"],
            "n_electrodes": events.n_channels, "sweep_cell": key}
    session_file = Path(session_dir) / f"{key}.nix" if session_dir is not None else None
    summary = replay_session(events, opts, session_file, meta)
    row = {"input_spikes": summary["input_spikes"], "axon_pulses": summary["axon_pulses"],
           **_counts("dropped", summary["dropped"]), "fires": summary["fires"],
           "stimulations": summary["stimulations"], **_counts("refused", summary["refused"]),
           "ignored_refractory": summary["ignored_refractory"], "duration_s": summary["duration_s"],
           "session_wall_s": summary["wall_s"]}
    detail = {"session": str(Path(session_dir) / f"{key}.nix") if session_dir else None}
    return row, detail


# ---- compare --------------------------------------------------------------------------------
def compare_cell(params: dict) -> tuple[dict, dict]:
    """The chip model (mismatch off) against a reference on the same AXON frames, as
    ``bioloop compare`` does it."""
    from ..crosscheck import align, cross_check, poisson_spikes

    cfg = chip_config(params)
    if params["poisson_hz"] is not None:
        duration = params["duration"] or COMPARE_POISSON_S
        spikes = poisson_spikes(params["poisson_hz"], duration, params["clusters"], params["seed"])
        aligned = align(spikes, cfg.gclk_hz)
        frames, n_cycles, n_clusters = aligned.frames, aligned.n_cycles, params["clusters"]
        counts = {"input_spikes": len(spikes), "axon_pulses": len(frames), "dropped_merged": aligned.merged}
    else:
        frames, n_cycles, n_clusters, counts = _recording_frames(params, cfg)
    program = program_for("compare", params, n_clusters)
    result = cross_check(frames, program, cfg, reference=params["reference"], until=n_cycles)
    s = result.summary()
    row = {**counts, "fires": s["counts"]["chip"]["fires"],
           "reference_fires": s["counts"]["reference"]["fires"], "verdict": s["verdict"],
           "spike_exact": s["spike_exact"]}
    for name, m in s["metrics"].items():
        value = m["value"]
        row[name] = None if value is None or (isinstance(value, float) and not np.isfinite(value)) else value
        row[f"{name}_ok"] = bool(m["ok"])
    row["duration_s"] = s["duration_s"]
    detail = {"reasons": s["reasons"], "counts": s["counts"], "metrics": s["metrics"]}
    return row, detail


def _recording_frames(params: dict, cfg: ChipConfig):
    from ..encoder import ElectrodeMap, Encoder, EncoderConfig, n_clusters_for, session_window

    rec = params["recording"]
    events = read_recording(rec)
    if rec["stop"] is not None and params["duration"] is not None:
        raise ValueError("give the compare window as recording stop or as duration, not both")
    duration = None if rec["stop"] is not None else (params["duration"] or COMPARE_RECORDING_S)
    t0, t1 = session_window(events, rec["start"], rec["stop"], duration=duration)
    enc = Encoder(EncoderConfig(gclk_hz=cfg.gclk_hz, t_start=t0, t_stop=t1),
                  ElectrodeMap.default(events.n_channels, events.labels))
    res = enc.encode(events)
    counts = {"input_spikes": res.input_spikes, "axon_pulses": res.axon_pulses,
              **_counts("dropped", res.dropped)}
    return res.frames, res.cycle_stop, n_clusters_for(events.n_channels), counts


# ---- chip alone -----------------------------------------------------------------------------
def chip_cell(params: dict) -> tuple[dict, dict]:
    """A stimulus protocol on one chip instance: ``poisson`` (seeded Poisson trains on every
    AXON row through the network) or ``mismatch`` (the device-variation probe)."""
    if params["protocol"] == "mismatch":
        return mismatch_cell(params)
    from ..crosscheck import align, poisson_spikes

    cfg = chip_config(params)
    n_clusters = params["clusters"]
    # the input is seeded apart from the chip instance: varying seed varies only the devices
    spikes = poisson_spikes(params["poisson_hz"], params["duration"], n_clusters, params["input_seed"])
    aligned = align(spikes, cfg.gclk_hz)
    backend = registry.load("bioloop.backends", "chip")(cfg, n_clusters=n_clusters, seed=params["seed"],
                                                        mismatch=params["mismatch"])
    backend.program(program_for("chip", params, n_clusters))
    step = backend.evolve(aligned.frames, until=aligned.n_cycles)
    fires = int(step.fires.cycles.size)
    row = {"input_spikes": len(spikes), "axon_pulses": int(step.axon_pulses),
           "dropped_merged": int(aligned.merged + step.merged), "fires": fires,
           "ignored_refractory": int(step.ignored_refractory), "duration_s": params["duration"],
           "fire_rate_hz": fires / (16 * n_clusters * params["duration"])}
    return row, {}


def mismatch_cell(params: dict) -> tuple[dict, dict]:
    """One chip instance's T_integ against V_TH (Fig. 11, theta 5 and 7) and its firing
    decisions for every (theta, s) against the spec's ``s >= theta``."""
    from ..chip.variation import THETAS, decisions, flips_by_theta_and_s
    from ..figures.fig09_integration import THETAS as FIG11_THETAS
    from ..figures.fig09_integration import V_TH_SWEEP, t_integ_vs_v_th

    cfg = chip_config(params)
    seed = params["seed"] if params["mismatch"] else None
    t_integ = t_integ_vs_v_th(seed, base=cfg)
    flips = flips_by_theta_and_s(decisions(cfg, params["seed"], mismatch=params["mismatch"]))
    per_theta = [int(sum(r)) for r in flips["flips"]]
    row = {f"t_integ_theta{th}_ns": float(t_integ[k, -1] * 1e9) for k, th in enumerate(FIG11_THETAS)}
    row["flips"] = int(sum(per_theta))
    row.update({f"flips_theta{int(th)}": n for th, n in zip(THETAS, per_theta, strict=True)})
    detail = {"v_th_mV": (V_TH_SWEEP * 1e3).tolist(), "thetas_t_integ": list(FIG11_THETAS),
              "t_integ_ns": (t_integ * 1e9).tolist(), **flips}
    return row, detail
