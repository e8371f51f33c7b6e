"""Spikes out of any file Neo can read: SpikeTrains as they are, AnalogSignals through detection.

The IO is chosen by Neo from the file suffix (:func:`neo.io.list_candidate_ios`) or named
explicitly (``"nix"``, ``"NixIO"``, ``"neuroexplorer"``, ``"nex"``...). Neo's ``PickleIO`` is
refused: a pickle runs code when loaded.

SpikeTrains are converted by :func:`bioloop.neoconv.spike_events_from_neo`, one electrode per
train. AnalogSignals (voltage traces; band-pass them first) go through threshold detection with
Elephant (:func:`elephant.spike_train_generation.threshold_detection`), one threshold per
channel from the robust noise estimate :func:`bioloop.spiketools.robust_noise` (the scaled median
absolute deviation, shared with the online detector); the polarity
(``negative``: below ``median - k sigma``; ``positive``: above ``median + k sigma``; ``both``)
and a dead time (crossings closer than this to the previous accepted spike of the channel are
merged into it) are options. The header counts everything not turned into spikes.

Elephant is imported only when a file's AnalogSignals are detected on (reading SpikeTrains does
not need it, and importing it costs more than a second).
"""

from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import neo
import neo.io
import numpy as np
import quantities as pq

from bioloop import neoconv
from bioloop import validate as _v
from bioloop.recording import RecordingHeader
from bioloop.spiketools import apply_dead_time, robust_noise

from .common import EventsRecording, existing_file

POLARITIES = ("negative", "positive", "both")
USES = ("auto", "spiketrains", "analogsignals")
_REFUSED_IOS = {"PickleIO": "a pickle runs arbitrary code when loaded",
                "ExampleIO": "it makes up fake data"}
_ALIASES = {"nex": "neuroexplorer", "neuroexplorerio": "neuroexplorer", "nwb": "nwb"}


# ---------------------------------------------------------------------------------------------
# finding the Neo IO


def neo_io_classes() -> dict[str, type]:
    """Neo IO classes by lower-case name, with and without the ``io`` suffix (``nix``, ``nixio``).

    ``nix`` maps to the full ``neo.io.NixIO`` (annotations kept); PickleIO and ExampleIO are
    left out.

    Examples
    --------
    >>> neo_io_classes()["nix"] is neo.io.NixIO
    True
    >>> "pickle" in neo_io_classes()
    False
    """
    out: dict[str, type] = {}
    for cls in neo.io.iolist:
        if cls.__name__ in _REFUSED_IOS:
            continue
        key = cls.__name__.lower()
        if key in out and out[key] is neo.io.NixIO:
            continue  # keep the full NixIO over the fast-read one
        out[key] = cls
        out[key.removesuffix("io")] = cls
    for alias, target in _ALIASES.items():
        if target in out:
            out[alias] = out[target]
    return out


def _candidates(p: Path, fmt: str | None) -> list[type]:
    if fmt is not None:
        if not isinstance(fmt, str):
            raise TypeError(f"format must be a string naming a Neo IO, got {fmt!r}")
        key = fmt.lower()
        refused = {n.lower(): why for n, why in _REFUSED_IOS.items()}
        if key in refused or key + "io" in refused:
            raise ValueError(f"{p}: format {fmt!r} is refused: {refused.get(key) or refused[key + 'io']}")
        classes = neo_io_classes()
        if key not in classes:
            names = sorted({c.__name__ for c in classes.values()})
            raise ValueError(f"{p}: format {fmt!r} is no Neo IO; valid: {', '.join(names)}")
        return [classes[key]]
    try:
        cands = neo.io.list_candidate_ios(p)
    except ValueError as err:
        raise ValueError(f"{p}: unknown format (suffix {p.suffix!r} is not read by any Neo IO, "
                         f"nor is it a sjemea .h5 or a .nexTimestamps file)") from err
    refused = [c.__name__ for c in cands if c.__name__ in _REFUSED_IOS]
    cands = [c for c in cands if c.__name__ not in _REFUSED_IOS]
    if not cands:
        raise ValueError(f"{p}: refused; the only Neo IO for this suffix is {refused[0]} "
                         f"({_REFUSED_IOS[refused[0]]})")
    # full NixIO first, each class once
    uniq = list(dict.fromkeys(cands))
    uniq.sort(key=lambda c: c is not neo.io.NixIO)
    return uniq


@dataclass(frozen=True)
class NeoRead:
    """The first Block of a file, the name of the Neo IO that read it, and how many Blocks
    the file holds (the others are not read)."""

    block: neo.Block
    io_name: str
    n_blocks: int


def _n_blocks(io) -> int:
    if hasattr(io, "block_count"):
        return int(io.block_count())
    if isinstance(io, neo.io.NixIO):
        return len(io.nix_file.blocks)
    return 1


def read_neo_block(path, *, format: str | None = None) -> NeoRead:
    """Read the first Block of a file with Neo.

    Raises
    ------
    ValueError
        If the file is missing, no Neo IO is known for it, or every candidate IO fails
        (message names the file and each IO's error).

    Examples
    --------
    >>> got = read_neo_block("session.nix")  # doctest: +SKIP
    >>> got.io_name, got.n_blocks  # doctest: +SKIP
    ('NixIO', 1)
    """
    p = existing_file(path)
    errors = []
    for cls in _candidates(p, format):
        got = _try_io(cls, p, errors)
        if got is not None:
            return got
    raise ValueError(f"{p}: Neo could not read this file (corrupt or not this format?): "
                     + "; ".join(errors))


def _try_io(cls, p: Path, errors: list) -> NeoRead | None:
    """One candidate IO on the file; None (and its error in ``errors``) when it fails.

    Some Neo IOs leave the file open when they fail on a file that is not theirs; the
    ResourceWarning of that leaked handle (raised when the failure's traceback is freed, here)
    is theirs, not a problem of the file, and is not turned into an error.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        io = None
        try:
            io = cls(str(p), mode="ro") if cls is neo.io.NixIO else cls(str(p))
            n_blocks = _n_blocks(io)
            blk = io.read_block(lazy=False)
        except Exception as err:  # noqa: BLE001 - any failure of a third-party reader
            errors.append(f"{cls.__module__}.{cls.__name__}: {type(err).__name__}: {err}")
            blk = None
        finally:
            if io is not None and hasattr(io, "close"):
                io.close()
            del io
        if blk is None:
            gc.collect()
    if blk is None:
        return None
    if not isinstance(blk, neo.Block):
        errors.append(f"{cls.__name__}: read_block returned {type(blk).__name__}")
        return None
    return NeoRead(blk, cls.__name__, n_blocks)


# ---------------------------------------------------------------------------------------------
# spike detection on AnalogSignals


@dataclass(frozen=True)
class DetectionOptions:
    """Threshold detection: ``threshold_sd`` x robust noise, ``polarity``, ``dead_time`` (s)."""

    threshold_sd: float = 5.0
    polarity: str = "negative"
    dead_time: float = 1e-3

    def __post_init__(self):
        _v.real("threshold_sd", self.threshold_sd, lo=0.0, lo_open=True)
        _v.choice("polarity", self.polarity, POLARITIES)
        _v.real("dead_time", self.dead_time, lo=0.0)


@dataclass(frozen=True)
class SpikeDetection:
    """What detection did on one AnalogSignal, per channel (noise and thresholds in ``units``)."""

    spiketrains: list
    labels: tuple[str, ...]
    units: str
    baseline: np.ndarray
    noise_sd: np.ndarray
    crossings: np.ndarray  #: threshold crossings found by Elephant
    merged_dead_time: np.ndarray  #: crossings merged into an earlier spike (dead time)
    flat: tuple[str, ...]  #: channels with zero robust noise: no threshold, no spikes
    options: DetectionOptions = field(default_factory=DetectionOptions)


def detect_spikes(signal: neo.AnalogSignal, *, labels=None,
                  options: DetectionOptions | None = None) -> SpikeDetection:
    """Spikes of every channel of an AnalogSignal by robust threshold crossing (Elephant).

    Parameters
    ----------
    signal : neo.AnalogSignal
        Voltage traces, one column per electrode (high-pass filtered beforehand).
    labels : sequence of str, optional
        Electrode labels; default the signal's ``channel_names`` array annotation, else
        ``<signal name>_<i>``.
    options : DetectionOptions, optional
        Threshold (in robust sd), polarity and dead time.

    Returns
    -------
    SpikeDetection
        One SpikeTrain per channel (named by its label) plus per-channel noise and counts.

    Raises
    ------
    TypeError
        If ``signal`` is not an AnalogSignal.
    ValueError
        If the number of labels does not match the channels, or the signal holds NaN.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(0, 1, (10_000, 1))
    >>> x[5000] = -20.0
    >>> sig = neo.AnalogSignal(x, units="uV", sampling_rate=10 * pq.kHz)
    >>> det = detect_spikes(sig)
    >>> det.spiketrains[0].times.rescale("s").magnitude.tolist()
    [0.5]
    """
    if not isinstance(signal, neo.AnalogSignal):
        raise TypeError(f"expected a neo.AnalogSignal, got {type(signal).__name__}")
    from elephant.spike_train_generation import threshold_detection

    opts = options or DetectionOptions()
    n = signal.shape[1]
    if labels is None:
        names = signal.array_annotations.get("channel_names")
        base = signal.name or "signal"
        labels = ([str(x) for x in names] if names is not None and len(names) == n
                  else [f"{base}_{i}" for i in range(n)])
    labels = tuple(str(x) for x in labels)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for an AnalogSignal of {n} channels")
    units = signal.units
    base_, noise, cross, merged, trains, flat = [], [], [], [], [], []
    for i in range(n):
        ch = signal[:, i:i + 1]
        x = np.asarray(ch.magnitude, np.float64).ravel()
        if not np.all(np.isfinite(x)):
            raise ValueError(f"AnalogSignal channel {labels[i]!r} holds NaN or infinite samples")
        med, sd = robust_noise(x)
        base_.append(med)
        noise.append(sd)
        found = []
        if sd > 0:
            if opts.polarity in ("negative", "both"):
                st = threshold_detection(ch, threshold=(med - opts.threshold_sd * sd) * units,
                                         sign="below")
                found.append(st.rescale(pq.s).magnitude)
            if opts.polarity in ("positive", "both"):
                st = threshold_detection(ch, threshold=(med + opts.threshold_sd * sd) * units,
                                         sign="above")
                found.append(st.rescale(pq.s).magnitude)
        else:
            flat.append(labels[i])
        t = np.sort(np.concatenate(found)) if found else np.zeros(0)
        kept = apply_dead_time(t, opts.dead_time)
        cross.append(t.size)
        merged.append(t.size - kept.size)
        trains.append(neo.SpikeTrain(kept * pq.s, t_start=signal.t_start.rescale(pq.s),
                                     t_stop=signal.t_stop.rescale(pq.s), name=labels[i]))
    return SpikeDetection(trains, labels, str(units.dimensionality), np.array(base_),
                          np.array(noise), np.array(cross, np.int64), np.array(merged, np.int64),
                          tuple(flat), opts)


# ---------------------------------------------------------------------------------------------
# the reader


@dataclass(frozen=True, kw_only=True)
class NeoFileHeader(RecordingHeader):
    """Where the spikes of a Neo-readable file came from and what was not used.

    ``used`` is ``"spiketrains"`` or ``"analogsignals"``; ``not_used`` counts, by kind, what
    did not become spikes: objects of the segment, other segments and other Blocks (only the
    first Block of a file is read).
    """

    format: str = "neo"
    io_name: str = ""
    used: str = "spiketrains"
    segment: int = 0
    n_segments: int = 1
    not_used: dict = field(default_factory=dict)
    detection: tuple = ()  #: one SpikeDetection per AnalogSignal (analogsignals only)


class NeoFileRecording(EventsRecording):
    """The spikes of a Neo-readable file and its header."""


def read_neo_file(path, *, format: str | None = None, segment: int | None = None,
                  use: str = "auto", detection: DetectionOptions | None = None
                  ) -> NeoFileRecording:
    """Spikes of any file Neo reads: its SpikeTrains, or spikes detected on its AnalogSignals.

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, optional
        A Neo IO name (``"nix"``, ``"NixIO"``, ``"neuroexplorer"``, ``"nex"``...); default: Neo
        picks by suffix.
    segment : int, optional
        Segment of the first Block; needed when it has several.
    use : {"auto", "spiketrains", "analogsignals"}
        ``auto``: SpikeTrains when the segment has any, else detection on AnalogSignals.
    detection : DetectionOptions, optional
        Threshold, polarity and dead time of the detection.

    Returns
    -------
    NeoFileRecording
        SpikeEvents plus a header naming the IO and counting what was not used.

    Raises
    ------
    TypeError
        If an option has the wrong type.
    ValueError
        If the file is missing / unreadable / of unknown or refused format, the segment does
        not exist or is ambiguous, the file holds nothing of the requested kind, a SpikeTrain
        is unsorted or holds NaN, or the result holds no spike.

    Examples
    --------
    >>> rec = read_neo_file("CS056P07R-MEME1.nex")  # doctest: +SKIP
    >>> rec.header.io_name, rec.events.n_channels  # doctest: +SKIP
    ('NeuroExplorerIO', 71)
    """
    _v.choice("use", use, USES)
    if detection is not None and not isinstance(detection, DetectionOptions):
        raise TypeError(f"detection must be a DetectionOptions, got {type(detection).__name__}")
    p = existing_file(path)
    got = read_neo_block(p, format=format)
    blk, io_name = got.block, got.io_name
    n_seg = len(blk.segments)
    if n_seg == 0:
        raise ValueError(f"{p}: the file's Block holds no segment (empty recording)")
    if segment is None:
        if n_seg > 1:
            raise ValueError(f"{p}: the Block holds {n_seg} segments; choose one with "
                             f"segment=0..{n_seg - 1}")
        segment = 0
    _v.integer("segment", segment)
    if not 0 <= segment < n_seg:
        raise ValueError(f"{p}: segment {segment} does not exist; valid: 0..{n_seg - 1}")
    seg = blk.segments[segment]
    trains = [st for st in seg.spiketrains
              if st.annotations.get(neoconv.KIND, neoconv.SPIKES) == neoconv.SPIKES]
    chip_trains = len(seg.spiketrains) - len(trains)
    signals = list(seg.analogsignals)
    if use == "auto":
        use = "spiketrains" if trains else "analogsignals"
    not_used = {"other_blocks": got.n_blocks - 1, "other_segments": n_seg - 1,
                "irregularlysampledsignals":
                len(seg.irregularlysampledsignals), "events": len(seg.events),
                "epochs": len(seg.epochs), "chip_spiketrains": chip_trains}
    dets: tuple = ()
    if use == "spiketrains":
        if not trains:
            raise ValueError(f"{p}: segment {segment} holds no SpikeTrain (empty recording); "
                             f"it holds {len(signals)} AnalogSignal(s): use='analogsignals'")
        not_used["analogsignals"] = len(signals)
        try:
            ev = neoconv.spike_events_from_neo(trains)
        except ValueError as err:
            raise ValueError(f"{p}: {err}") from err
    else:
        if not signals:
            raise ValueError(f"{p}: segment {segment} holds no AnalogSignal to detect spikes on "
                             f"(and {len(trains)} SpikeTrain(s))")
        not_used["spiketrains"] = len(trains)
        opts = detection or DetectionOptions()
        dets = tuple(detect_spikes(sig, options=opts, labels=_signal_labels(sig, k, len(signals)))
                     for k, sig in enumerate(signals))
        ev = neoconv.spike_events_from_neo([st for d in dets for st in d.spiketrains])
    if len(ev) == 0:
        what = ("SpikeTrains are all empty" if use == "spiketrains" else
                "detection found no threshold crossing on any channel")
        raise ValueError(f"{p}: the recording holds no spikes ({ev.n_channels} channels; {what})")
    notes = tuple(f"AnalogSignal {k}: channel(s) {', '.join(d.flat)} are flat (zero noise), "
                  f"no detection" for k, d in enumerate(dets) if d.flat)
    header = NeoFileHeader(path=str(p), io_name=io_name, labels=ev.labels, t_start=ev.t_start,
                           t_stop=ev.t_stop, segment_from=f"{io_name}: segment {segment}",
                           used=use, segment=segment, n_segments=n_seg, not_used=not_used,
                           detection=dets, notes=notes)
    return NeoFileRecording(header, ev)


def _signal_labels(sig: neo.AnalogSignal, k: int, n_signals: int) -> list[str]:
    n = sig.shape[1]
    names = sig.array_annotations.get("channel_names")
    if names is not None and len(names) == n:
        return [str(x) for x in names]
    base = sig.name or (f"signal{k}" if n_signals > 1 else "ch")
    return [f"{base}_{i}" if base != "ch" else f"ch{i}" for i in range(n)]
