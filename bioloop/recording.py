"""What every recording reader says besides the spike times: one header base for all readers.

As Neo's RawIO readers share one header layout, bioloop's readers (``bioloop.adapters``:
sjemea HDF5, timestamp text, MC_DataTool ASCII, Cortical Labs CL HDF5, NWB, anything Neo reads)
return plain arrays plus a header derived from :class:`RecordingHeader`. The fields here are the
ones callers use (the ``inspect`` verb, the file source); each reader adds its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class RecordingHeader:
    """The common part of every reader's header.

    Parameters
    ----------
    path : str
        The file read.
    format : str
        The reader that read it (``"sjemea"``, ``"nexTimestamps"``, ``"mcDataTool"``, ``"cl"``,
        ``"nwb"``, ``"neo"``).
    labels : tuple of str
        Electrode labels; channel ``i`` of the spikes is ``labels[i]``.
    t_start, t_stop : float
        The recording segment, s.
    segment_from : str
        Where ``t_start`` / ``t_stop`` come from (a file field, or the data).
    positions_um : numpy.ndarray or None
        (n_channels, 2) electrode positions ``x, y`` in micrometres, when the file gives them.
    notes : tuple of str
        What the reader assumed or found odd (kept, never silently corrected).

    Examples
    --------
    >>> h = RecordingHeader(path="x.h5", format="demo", labels=("a", "b"), t_start=0.0,
    ...                     t_stop=1.0)
    >>> h.n_channels, h.duration
    (2, 1.0)
    """

    path: str
    format: str
    labels: tuple[str, ...]
    t_start: float
    t_stop: float
    segment_from: str = ""
    positions_um: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def n_channels(self) -> int:
        return len(self.labels)

    @property
    def duration(self) -> float:
        return float(self.t_stop - self.t_start)


@dataclass(frozen=True)
class RecordedStimulation:
    """Stimulation the recording itself logged (e.g. the ``/stims`` table of a CL file).

    Carried beside the spikes so a session can show what the rig stimulated next to what
    bioloop would stimulate. ``times`` in s on the recording's clock, ``channels`` index
    ``labels``.

    Examples
    --------
    >>> rs = RecordedStimulation(np.array([0.5, 1.0]), np.array([1, 0]), ("ch0", "ch1"))
    >>> rs.electrodes().tolist()
    ['ch1', 'ch0']
    """

    times: np.ndarray
    channels: np.ndarray
    labels: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return int(self.times.size)

    def electrodes(self) -> np.ndarray:
        """The label of each stimulation."""
        return np.asarray(self.labels, dtype=str)[self.channels] if len(self) else \
            np.zeros(0, dtype=str)

    def to_meta(self) -> dict:
        """Plain JSON values, as a session's source metadata carries them (``meta["source"]``).

        Examples
        --------
        >>> rs = RecordedStimulation(np.array([0.5]), np.array([1]), ("ch0", "ch1"), "/stims")
        >>> RecordedStimulation.from_meta(rs.to_meta()).electrodes().tolist()
        ['ch1']
        """
        return {"times_s": self.times.tolist(), "electrodes": self.electrodes().tolist(),
                "source": self.source}

    @classmethod
    def from_meta(cls, d: dict) -> RecordedStimulation:
        """The inverse of :meth:`to_meta` (labels: the electrodes that were stimulated)."""
        el = [str(e) for e in d.get("electrodes", [])]
        labels = tuple(dict.fromkeys(el))
        index = {lab: i for i, lab in enumerate(labels)}
        return cls(np.asarray(d.get("times_s", []), np.float64),
                   np.array([index[e] for e in el], np.int64), labels, str(d.get("source", "")))
