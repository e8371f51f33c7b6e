"""``RecordingSource``: the electrodes of a recording as a population of spike sources."""

from __future__ import annotations

import numpy as np
from pyNN.parameters import Sequence

from .. import registry
from .. import validate as _v
from .populations import Population
from .standardmodels import RecordedSpikes


def RecordingSource(path, *, start=None, stop=None, electrodes=None, label=None, **options):
    """A population of spike sources, one per electrode of a recording bioloop reads.

    The file is read by bioloop's file source (the ``"file"`` entry of the
    ``bioloop.sources`` registry), so every format it reads works (sjemea HDF5,
    NeuroExplorer timestamps, and what Neo reads). Spike times become ms from ``start``.

    Parameters
    ----------
    path : str or Path
        The recording.
    start, stop : float, optional
        Window of the recording to use, s (default: all of it). Times are shifted so that
        ``start`` is t = 0.
    electrodes : list of str or int, optional
        Keep these electrodes (labels or indices), in this order; default all.
    label : str, optional
        Population label; default the file name.
    **options
        Passed to the file source (``format``, ``well``, ``segment``, ...).

    Returns
    -------
    Population
        Of ``RecordedSpikes`` cells; ``population.annotations["electrodes"]`` holds the labels
        and ``["recording"]`` the path.

    Raises
    ------
    TypeError, ValueError
        For a file bioloop cannot read, a window outside the recording, or unknown electrodes.

    Examples
    --------
    >>> import bioloop.pynn as sim
    >>> _ = sim.setup(timestep=1.0)
    >>> src = sim.RecordingSource("../shared/recordings/hiPSN_tc65_d27_spikes6sd.h5",
    ...                           start=10.0, stop=12.0)  # doctest: +SKIP
    """
    cls = registry.load("bioloop.sources", "file")
    with cls(path, **options) as source:
        ev = source.read_all()
    t0 = ev.t_start if start is None else _v.real("start", start)
    t1 = ev.t_stop if stop is None else _v.real("stop", stop)
    if not ev.t_start - 1e-9 <= t0 < t1 <= ev.t_stop + 1e-9:
        raise ValueError(f"window [{t0:g}, {t1:g}] s is not inside the recording's "
                         f"[{ev.t_start:g}, {ev.t_stop:g}] s (start must be before stop)")
    labels = list(ev.labels)
    if electrodes is None:
        chosen = list(range(len(labels)))
    else:
        chosen = []
        for e in electrodes:
            if isinstance(e, str):
                if e not in labels:
                    raise ValueError(f"electrode {e!r} is not in {path}; it has "
                                     f"{', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''}")
                chosen.append(labels.index(e))
            else:
                chosen.append(_v.integer("electrode index", e, lo=0, hi=len(labels) - 1))
    if not chosen:
        raise ValueError("electrodes is empty: a population needs at least one electrode")
    keep = (ev.times >= t0) & (ev.times < t1)
    times, chans = (ev.times[keep] - t0) * 1e3, ev.channels[keep]
    trains = [np.sort(times[chans == c]) for c in chosen]
    pop = Population(len(chosen), RecordedSpikes(spike_times=[Sequence(t) for t in trains]),
                     label=label or f"recording {getattr(path, 'name', str(path)).split('/')[-1]}")
    pop.annotate(electrodes=[labels[c] for c in chosen], recording=str(path),
                 window_s=[float(t0), float(t1)])
    return pop
