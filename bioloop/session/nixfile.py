"""A session as one Neo Block in a NIX file, readable by Neo with no bioloop installed.

Layout (one Segment, ``session``). NIX makes every object and every annotated value costly
(a SpikeTrain costs ~15 ms to write, an array annotation is written value by value), so every
per-event table is one IrregularlySampledSignal (one data array; times in s, one channel per
column, names in the annotation ``columns``; integers exact in float64):

- ``input_all`` (``bioloop_kind = "input"``): every input spike, columns ``channel`` (the
  electrode's index in the Block annotation ``labels_json``) and ``fate`` (0 pulse,
  1 outside_window, 2 unmapped, 3 blanked, 4 merged, 5 late; ``fate_codes_json`` says so too);
- ``axon_all`` / ``fire_all`` (``axon`` / ``fire``): AXON pulses and FIREs, times = cycle / GCLK
  from the window start, columns cycle, cluster, axon / dend;
- Event ``stimulation`` (the delivery times) and signal ``stimulation_detail``: columns
  electrode, amplitude_uA (signed: the first phase's polarity), phase_width_us,
  interphase_us, source_cycle, and latency_ms when live;
- signal ``refused_detail``: refused commands at their times, columns reason (its index in
  REFUSAL_REASONS), cluster, dend, electrode, source cycle;
- Event ``notes``: stalls, resumes, gaps, reconnects;
- Block annotations: ``summary_json`` (the counts), ``meta_json`` (config, program, versions),
  ``labels_json``, ``t_start`` / ``t_stop`` of the input segment, ``layout = 2``.

The file is written to a temporary name and renamed when complete, so a file with the final
name is never half-written.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import quantities as pq

from .. import neoconv
from ..encoder import DROP_FATES, SpikeFate
from ..stimulator import REFUSAL_REASONS
from ..types import FireEvents, SpikeEvents, StimCommands
from .log import SessionLog

FATE_NAMES = {int(SpikeFate.PULSE): "pulse", **{int(c): n for n, c in DROP_FATES.items()}}
SESSION_MARK = "bioloop session"
LAYOUT = 2  #: version of the layout above


def write_session(log: SessionLog, path) -> Path:
    """Write ``log`` as a NIX file at ``path`` (atomically); returns the path."""
    import neo
    from neo.io import NixIO

    path = Path(path)
    if path.suffix != ".nix":
        raise ValueError(f"session file {str(path)!r} must end in .nix")
    if not path.parent.exists():
        raise ValueError(f"folder {str(path.parent)!r} for the session file does not exist")
    summary = log.summary()
    ev = log.input
    seg = neo.Segment(name="session")
    sig = seg.irregularlysampledsignals
    sig.append(neoconv.table_to_signal(ev.times, {"channel": ev.channels, "fate": log.fates},
                                       name="input_all", kind="input"))
    sig.extend(neoconv.axon_frames_to_neo(log.axon_frames, log.n_clusters, compact=True))
    sig.extend(neoconv.fire_events_to_neo(log.fire_events, log.n_clusters, compact=True))
    cmd = log.stim_commands
    detail = {"electrode": cmd.electrode, "amplitude_uA": cmd.amplitude * 1e6,
              "phase_width_us": cmd.phase_width * 1e6, "interphase_us": cmd.interphase * 1e6,
              "source_cycle": cmd.source_cycle}
    lat = log.latencies
    if lat.size and lat.size == len(cmd):
        detail["latency_ms"] = lat * 1e3
    seg.events.append(neo.Event(cmd.times * pq.s, name="stimulation", bioloop_kind="stimulation"))
    sig.append(neoconv.table_to_signal(cmd.times, detail, name="stimulation_detail", kind="stimulation_detail"))
    ref_t = log.array("ref", "times")
    sig.append(neoconv.table_to_signal(
        ref_t, {"reason": log.array("ref", "reason"), "cluster": log.array("ref", "cluster"),
                "dend": log.array("ref", "dend"), "electrode": log.array("ref", "electrode"),
                "source_cycle": log.array("ref", "source_cycle")},
        name="refused_detail", kind="refused_detail"))
    note_t = np.array([e[0] for e in log.events], np.float64)
    notes = neo.Event(note_t * pq.s, labels=np.array([f"{e[1]}: {e[2]}" for e in log.events], dtype="U"),
                      name="notes", bioloop_kind="notes")
    seg.events.append(notes)
    blk = neo.Block(name=SESSION_MARK, bioloop_kind="session", summary_json=json.dumps(summary),
                    fate_codes_json=json.dumps(FATE_NAMES), labels_json=json.dumps(list(log.labels)),
                    t_start=float(ev.t_start), t_stop=float(ev.t_stop), layout=LAYOUT,
                    meta_json=json.dumps(log.meta), gclk_hz=float(log.gclk_hz),
                    n_clusters=int(log.n_clusters))
    blk.segments.append(seg)
    blk.check_relationships()
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        tmp.unlink()
    # nixio runs gc.collect() on close, which walks every object of the process (numba, neo, ...);
    # frozen objects are skipped, and the ones the write makes are still collected
    gc.freeze()
    try:
        with NixIO(str(tmp), mode="ow") as io:
            io.write_block(blk)
        os.replace(tmp, path)
    finally:
        gc.unfreeze()
        if tmp.exists():
            tmp.unlink()
    return path


@dataclass(frozen=True)
class SessionFile:
    """What :func:`read_session` gives back."""

    summary: dict
    meta: dict
    input: SpikeEvents
    fates: np.ndarray  #: fate name per input spike, in the order of ``input``
    fires: FireEvents
    stim: StimCommands
    refused_times: np.ndarray
    refused_reasons: np.ndarray
    latency_ms: np.ndarray
    n_clusters: int
    gclk_hz: float


def read_session(path) -> SessionFile:
    """Read a session file written by :func:`write_session`.

    Raises
    ------
    ValueError
        Missing file, not a NIX file, or a NIX file that is not a bioloop session.
    """
    from neo.io import NixIO

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"session file {str(path)!r} does not exist")
    try:
        with NixIO(str(path), mode="ro") as io:
            blocks = io.read_all_blocks()
    except Exception as exc:  # nixio/h5py raise many types for a file that is not NIX
        raise ValueError(f"{str(path)!r} is not a readable NIX file ({type(exc).__name__}: {exc})") from None
    blk = next((b for b in blocks if b.annotations.get("bioloop_kind") == "session"), None)
    if blk is None:
        raise ValueError(f"{str(path)!r} holds no bioloop session block")
    seg = blk.segments[0]
    a = blk.annotations
    if int(a.get("layout", 1)) != LAYOUT:
        raise ValueError(f"{str(path)!r} is a session of layout {a.get('layout', 1)}; this bioloop reads "
                         f"layout {LAYOUT} (re-run the session, or read it with plain Neo)")
    sigs = {s_.name: s_ for s_ in seg.irregularlysampledsignals}
    labels = tuple(json.loads(a["labels_json"]))
    t_in, cols = neoconv.table_from_signal(sigs["input_all"])
    ev = SpikeEvents(t_in, cols["channel"].astype(np.int64), labels, float(a["t_start"]), float(a["t_stop"]))
    names = np.array([FATE_NAMES[k] for k in sorted(FATE_NAMES)], dtype="U16")
    fates = names[cols["fate"].astype(np.int64)] if t_in.size else np.zeros(0, "U16")
    gclk = float(a["gclk_hz"])
    fires = neoconv.fire_events_from_neo(seg)
    t_st, st = neoconv.table_from_signal(sigs["stimulation_detail"])
    stim = StimCommands(t_st, st["electrode"].astype(np.int64), st["amplitude_uA"] * 1e-6,
                        st["phase_width_us"] * 1e-6, st["interphase_us"] * 1e-6,
                        source_cycle=st["source_cycle"].astype(np.int64))
    lat = np.asarray(st.get("latency_ms", np.zeros(0)), float)
    t_ref, ref = neoconv.table_from_signal(sigs["refused_detail"])
    reasons = np.array(REFUSAL_REASONS, dtype="<U12")[ref["reason"].astype(np.int64)] if t_ref.size \
        else np.zeros(0, "<U12")
    return SessionFile(json.loads(a["summary_json"]), json.loads(a["meta_json"]), ev, fates, fires, stim,
                       t_ref, reasons, lat, int(a["n_clusters"]), gclk)
