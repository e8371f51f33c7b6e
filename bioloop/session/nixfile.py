"""A session as one Neo Block in a NIX file, readable by Neo with no bioloop installed.

Layout (one Segment, ``session``):

- input SpikeTrains, one per electrode (``bioloop_kind = "spikes"``), each spike's fate as an
  integer code in the array annotation ``fate`` (0 pulse, 1 outside_window, 2 unmapped,
  3 blanked, 4 merged, 5 late; the Block annotation ``fate_codes_json`` says so too);
- AXON pulses and FIREs as two IrregularlySampledSignals ``axon_all`` / ``fire_all``
  (``bioloop_kind`` ``axon`` / ``fire``; times = cycle / GCLK from the window start; columns
  cycle, cluster, axon / dend). NIX makes every object and every annotated value costly:
  two data arrays write ~100x faster than 2 x 16 x clusters SpikeTrains;
- Event ``stimulation``: delivered pulses with their parameters (and ``latency_ms`` when live);
- Event ``refused``: refused commands, label = reason; their cluster, dend, electrode and
  source cycle in the signal ``refused_detail`` (reason as its index in REFUSAL_REASONS);
- Event ``notes``: stalls, resumes, gaps, reconnects;
- Block annotations: ``summary_json`` (the counts), ``meta_json`` (config, program, versions).

The file is written to a temporary name and renamed when complete, so a file with the final
name is never half-written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import quantities as pq

from .. import neoconv
from ..encoder import DROP_FATES, SpikeFate
from ..types import FireEvents, SpikeEvents, StimCommands
from .log import SessionLog

FATE_NAMES = {int(SpikeFate.PULSE): "pulse", **{int(c): n for n, c in DROP_FATES.items()}}
SESSION_MARK = "bioloop session"


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
    # input spikes, with each spike's fate
    trains = neoconv.spike_events_to_neo(ev)
    order = np.argsort(ev.channels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(ev.counts())])
    fate_codes = log.fates.astype(np.int8)[order]
    for i, st in enumerate(trains):
        st.array_annotate(fate=fate_codes[bounds[i]:bounds[i + 1]])
    seg.spiketrains.extend(trains)
    seg.irregularlysampledsignals.extend(neoconv.axon_frames_to_neo(log.axon_frames, log.n_clusters, compact=True))
    seg.irregularlysampledsignals.extend(neoconv.fire_events_to_neo(log.fire_events, log.n_clusters, compact=True))
    stim_ev = neoconv.stim_commands_to_neo(log.stim_commands)
    lat = log.latencies
    if lat.size and lat.size == len(log.stim_commands):
        stim_ev.array_annotate(latency_ms=lat * 1e3)
    seg.events.append(stim_ev)
    reasons = log.refused_reasons
    refused = neo.Event(log.array("ref", "times") * pq.s, labels=reasons.astype("U16"), name="refused",
                        bioloop_kind="refused")
    seg.events.append(refused)
    seg.irregularlysampledsignals.append(neoconv.table_to_signal(
        log.array("ref", "times"), {"reason": log.array("ref", "reason"), "cluster": log.array("ref", "cluster"),
                                    "dend": log.array("ref", "dend"), "electrode": log.array("ref", "electrode"),
                                    "source_cycle": log.array("ref", "source_cycle")},
        name="refused_detail", kind="refused_detail"))
    note_t = np.array([e[0] for e in log.events], np.float64)
    notes = neo.Event(note_t * pq.s, labels=np.array([f"{e[1]}: {e[2]}" for e in log.events], dtype="U"),
                      name="notes", bioloop_kind="notes")
    seg.events.append(notes)
    blk = neo.Block(name=SESSION_MARK, bioloop_kind="session", summary_json=json.dumps(summary),
                    fate_codes_json=json.dumps(FATE_NAMES),
                    meta_json=json.dumps(log.meta), gclk_hz=float(log.gclk_hz),
                    n_clusters=int(log.n_clusters))
    blk.segments.append(seg)
    blk.check_relationships()
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        tmp.unlink()
    try:
        with NixIO(str(tmp), mode="ow") as io:
            io.write_block(blk)
        os.replace(tmp, path)
    finally:
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
    spikes = [st for st in seg.spiketrains if st.annotations.get(neoconv.KIND) == neoconv.SPIKES]
    ev = neoconv.spike_events_from_neo(spikes)
    # fates in the order of ev (time-sorted across channels)
    per_train = [np.asarray(st.array_annotations.get("fate", np.zeros(len(st), np.int8))) for st in spikes]
    chan_of = np.concatenate([np.full(len(st), i) for i, st in enumerate(spikes)]) if spikes else np.zeros(0, int)
    t_all = np.concatenate([st.times.rescale("s").magnitude for st in spikes]) if spikes else np.zeros(0)
    f_all = np.concatenate(per_train) if per_train else np.zeros(0, np.int8)
    order = np.lexsort((chan_of, t_all))
    names = np.array([FATE_NAMES[k] for k in sorted(FATE_NAMES)], dtype="U16")
    fates = names[f_all[order].astype(np.int64)] if f_all.size else np.zeros(0, "U16")
    gclk = float(blk.annotations["gclk_hz"])
    fires = neoconv.fire_events_from_neo(seg)
    events = {e.name: e for e in seg.events}
    stim = neoconv.stim_commands_from_neo(events["stimulation"])
    lat = np.asarray(events["stimulation"].array_annotations.get("latency_ms", np.zeros(0)), float)
    ref = events["refused"]
    return SessionFile(json.loads(blk.annotations["summary_json"]), json.loads(blk.annotations["meta_json"]),
                       ev, fates, fires, stim, ref.times.rescale("s").magnitude, np.asarray(ref.labels),
                       lat, int(blk.annotations["n_clusters"]), gclk)
