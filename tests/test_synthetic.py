"""The seeded synthetic bursting culture and its demo NIX file."""

from __future__ import annotations

import neo
import numpy as np
import pytest

from bioloop.adapters.files import open_recording
from bioloop.synthetic import (
    MCS60_LABELS,
    CultureParams,
    synthetic_culture,
    write_demo_recording,
)


def _network_bursts(ev, bin_s=0.1, min_fraction=0.5):
    """Onsets of network bursts found from the spikes alone: 100 ms bins in which at least half
    of the electrodes fire; consecutive such bins are one burst. Returns (onset bin index, the
    fraction of electrodes active in the burst's first 100 ms... and the whole burst)."""
    n_bins = int(np.ceil(ev.duration / bin_s))
    b = np.minimum((ev.times / bin_s).astype(int), n_bins - 1)
    active = np.zeros((n_bins, ev.n_channels), bool)
    active[b, ev.channels] = True
    frac = active.mean(axis=1)
    hot = frac >= min_fraction
    starts = np.flatnonzero(hot & ~np.r_[False, hot[:-1]])
    return starts, frac, hot


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = synthetic_culture(seed=3)
    b = synthetic_culture(seed=3)
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.channels, b.channels)
    c = synthetic_culture(seed=4)
    assert len(c) != len(a) or not np.array_equal(c.times, a.times)


def test_shape_and_labels():
    ev = synthetic_culture()
    assert ev.n_channels == 60 and ev.labels == MCS60_LABELS and len(set(ev.labels)) == 60
    assert "11" not in ev.labels and "88" not in ev.labels  # MCS corners have no electrode
    assert (ev.t_start, ev.t_stop) == (0.0, 60.0)
    assert np.all(np.diff(ev.times) >= 0) and ev.times.max() < 60.0
    assert synthetic_culture(n_electrodes=16, duration=5.0).labels[:2] == ("el00", "el01")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_bursts_every_few_seconds_recruiting_most_electrodes(seed):
    duration = 120.0
    ev = synthetic_culture(duration=duration, seed=seed)
    starts, frac, hot = _network_bursts(ev)
    # one burst per 5 s on average (gamma intervals, shape 4: sd 2.5 s): 24 expected in 120 s;
    # Poisson-like spread of the count is about +-5, bounds at about 2.5 sd
    assert 12 <= starts.size <= 36
    intervals = np.diff(starts) * 0.1
    assert 2.0 <= np.median(intervals) <= 8.0
    # most electrodes take part: 85 % recruited on average, within ~100 ms of each other
    peak = np.array([frac[s:s + 3].max() for s in starts])
    assert np.median(peak) >= 0.7
    # background: outside bursts few electrodes fire in any 100 ms bin
    assert np.median(frac[~hot]) <= 0.1


def test_rates_inside_bursts_far_above_background():
    ev = synthetic_culture(duration=120.0, seed=5)
    starts, frac, hot = _network_bursts(ev)
    b = np.minimum((ev.times / 0.1).astype(int), hot.size - 1)
    in_burst = hot[b]
    rate_in = in_burst.sum() / (hot.sum() * 0.1 * ev.n_channels)
    rate_out = (~in_burst).sum() / ((~hot).sum() * 0.1 * ev.n_channels)
    p = CultureParams()
    # background mean rate 0.3 Hz (log-normal, mean preserved): within a factor 2
    assert p.background_rate / 2 <= rate_out <= p.background_rate * 2
    assert rate_in >= 20 * rate_out


def test_refractory_period_respected():
    ev = synthetic_culture(seed=2)
    for c in range(ev.n_channels):
        t = ev.times[ev.channels == c]
        assert t.size == 0 or np.diff(t).min() >= CultureParams().refractory


def test_parameters_checked():
    with pytest.raises(ValueError, match="n_electrodes"):
        synthetic_culture(n_electrodes=0)
    with pytest.raises(ValueError, match="duration"):
        synthetic_culture(duration=-1.0)
    with pytest.raises(TypeError, match="seed"):
        synthetic_culture(seed=1.5)
    with pytest.raises(TypeError, match="CultureParams"):
        synthetic_culture(params={"burst_rate": 10})
    with pytest.raises(ValueError, match="burst_recruitment"):
        CultureParams(burst_recruitment=1.5)


def test_no_bursts_when_recruitment_is_zero():
    ev = synthetic_culture(duration=60.0, params=CultureParams(burst_recruitment=0.0))
    starts, _, _ = _network_bursts(ev)
    assert starts.size == 0


def test_demo_recording_small_and_readable(tmp_path):
    p = write_demo_recording(tmp_path / "demo.nix")
    assert p.stat().st_size < 1_000_000
    ev = open_recording(p).read_all()
    want = synthetic_culture(n_electrodes=32, duration=60.0, seed=0)
    np.testing.assert_array_equal(ev.times, want.times)
    np.testing.assert_array_equal(ev.channels, want.channels)
    assert ev.labels == want.labels and ev.t_stop == 60.0
    io = neo.io.NixIO(str(p), mode="ro")  # plain Neo reads it, no bioloop needed
    blk = io.read_block()
    io.close()
    assert blk.annotations["seed"] == 0 and len(blk.segments[0].spiketrains) == 32
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        write_demo_recording(p)
    write_demo_recording(p, overwrite=True, n_electrodes=2, duration=5.0)
    assert open_recording(p).read_all().n_channels == 2
    with pytest.raises(ValueError, match="does not exist"):
        write_demo_recording(tmp_path / "no" / "such" / "dir.nix")
