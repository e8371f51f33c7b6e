"""``bioloop play``: a recording replayed as a live LSL spike-event stream (real liblsl, real
recordings, the CLI in a child process and an LSL inlet here)."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from lsl_helpers import Children, finish_json, lsl_env, spawn_cli, unique

from bioloop.adapters.files import open_recording
from bioloop.adapters.lsl import (
    LSLSpikeSource,
    SpikeEventOutlet,
    StreamResolutionError,
    configure_lsl,
    play_cmd,
    play_events,
)
from bioloop.types import SpikeEvents

RECORDING = "hiPSN_tc65_d27_spikes6sd.h5"  # sjemea: 28 electrodes with positions, 26,023 spikes
CLOCK_TOL = 1e-3  # one machine's LSL clock across processes: offset estimate within +-0.2 ms


@pytest.fixture
def children():
    kids = Children()
    yield kids
    kids.close()


@pytest.fixture(scope="module", autouse=True)
def _machine_scope():
    configure_lsl()


@pytest.fixture(scope="module")
def recording(recordings_dir):
    path = recordings_dir / RECORDING
    src = open_recording(path)
    return path, src.read_all(), src.positions_um


def open_source(name: str, proc) -> LSLSpikeSource:
    """The inlet of the child's stream; a child that died first shows its stderr."""
    try:
        # the child imports the whole CLI and reads the file first: seconds on a busy machine
        return LSLSpikeSource(name=name, timeout=30.0)
    except StreamResolutionError:
        if proc.poll() is not None:
            raise AssertionError(f"bioloop play exited {proc.returncode}: "
                                 f"{proc.stderr.read()}") from None
        raise


def _read_while(src, proc, extra: float = 1.0, limit: float = 30.0) -> list[SpikeEvents]:
    """Chunks until the child exits (then ``extra`` s more to drain) or ``limit`` s."""
    chunks, deadline, ended = [], time.monotonic() + limit, None
    while time.monotonic() < deadline:
        chunks.append(src.read_chunk(timeout=0.05))
        if ended is None and proc.poll() is not None:
            ended = time.monotonic()
        if ended is not None and time.monotonic() - ended > extra:
            break
    return chunks


@pytest.mark.lsl
def test_play_publishes_the_window_in_scaled_real_time(children, recording):
    path, ev, positions = recording
    name = unique("play")
    start, stop, speed = 10.0, 12.0, 2.0
    proc = children.add(spawn_cli("play", path, "--stream", name, "--start", start, "--stop",
                                  stop, "--speed", speed, "--wait-for-consumer", 60, "--json"))
    with open_source(name, proc) as src:
        assert src.labels == ev.labels
        np.testing.assert_array_equal(src.positions, positions)  # um, via desc/electrodes
        chunks = _read_while(src, proc)
        stats = src.stats()
    code, doc, err = finish_json(proc)
    assert code == 0, err
    inside = (ev.times >= start) & (ev.times < stop)
    want_t, want_ch = ev.times[inside], ev.channels[inside]
    got_t = np.concatenate([c.times for c in chunks])
    got_ch = np.concatenate([c.channels for c in chunks])
    assert doc["samples_pushed"] == inside.sum() == len(got_t) == stats["delivered"]
    assert doc["spikes_outside_window"] == len(ev) - inside.sum()
    assert doc["spikes_in_recording"] == len(ev) and doc["spikes_not_played"] == 0
    np.testing.assert_array_equal(got_ch, want_ch)
    # each spike is stamped with its replay time: t0 + (t - start) / speed
    np.testing.assert_allclose(got_t, doc["t0_lsl"] + (want_t - start) / speed, atol=CLOCK_TOL)
    assert doc["duration_s"] == stop - start and doc["interrupted"] is False
    # 1 s of replay + 0.05 s lead-in + 0.25 s linger; the upper bound is loose (2 shared cores)
    assert 1.25 <= doc["wall_time_s"] < 4.0
    assert 0 <= doc["lateness_ms"]["p50"] <= doc["lateness_ms"]["p99"] < 100.0
    assert doc["scope"] == "machine" and doc["consumer_before_start"] is True


@pytest.mark.lsl
def test_ctrl_c_ends_the_replay_cleanly(children, recording):
    path, ev, _ = recording
    name = unique("play-int")
    # generous waits for a loaded machine: the player starts once its consumer is there, and
    # the interrupt comes once spikes flow (inside the replay loop)
    proc = children.add(spawn_cli("play", path, "--stream", name, "--start", 0, "--stop", 200,
                                  "--wait-for-consumer", 60, "--json"))
    with open_source(name, proc) as src:
        got, deadline = 0, time.monotonic() + 60
        while got < 20 and time.monotonic() < deadline:
            got += len(src.read_chunk(timeout=0.05))
        assert got >= 20, f"only {got} spikes arrived in 60 s"
        proc.send_signal(signal.SIGINT)
        chunks = _read_while(src, proc)
        delivered = src.stats()["delivered"]
    code, doc, err = finish_json(proc)
    assert code == 0, err
    assert doc["interrupted"] is True
    inside = int(((ev.times >= 0) & (ev.times < 200)).sum())
    assert doc["samples_pushed"] + doc["spikes_not_played"] == inside
    assert 20 <= doc["samples_pushed"] < inside
    assert delivered == doc["samples_pushed"] == got + sum(map(len, chunks))


@pytest.mark.lsl
def test_missing_liblsl_exits_2_with_a_one_line_fix(tmp_path, recording):
    junk = tmp_path / "liblsl.so"
    junk.write_text("not a shared library")
    proc = spawn_cli("play", recording[0], "--stream", unique("nolib"),
                     env=lsl_env(PYLSL_LIB=str(junk)))
    code, _, err = finish_json(proc)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "PYLSL_LIB" in lines[0] and lines[0].startswith("bioloop play")


@pytest.mark.lsl
def test_missing_recording_is_one_line_and_exit_2(tmp_path):
    code, _, err = finish_json(spawn_cli("play", tmp_path / "absent.nix", "--stream",
                                         unique("bad")))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "recording not found" in lines[0], err


@pytest.mark.lsl
def test_play_events_counts_add_up_and_text_summary(rng):
    # a synthetic recording, played at 50x through a real outlet in this process
    times = np.sort(rng.uniform(0.0, 1.0, 200))
    ev = SpikeEvents(times, rng.integers(0, 4, 200), ("a", "b", "c", "d"), 0.0, 1.0)
    with SpikeEventOutlet(unique("synthetic"), ev.labels) as out:
        rep = play_events(ev, out, speed=50.0, start=0.25, stop=0.75, linger=0.0)
    inside = int(((times >= 0.25) & (times < 0.75)).sum())
    assert rep.samples_pushed == inside
    assert (rep.spikes_outside_window + rep.samples_pushed + sum(rep.refused.values())
            + rep.spikes_not_played) == len(ev)
    assert rep.wall_time_s >= 0.5 / 50.0
    text = play_cmd.format_text({**rep.to_dict(), "recording": "synthetic", "scope": "machine",
                                 "consumer_before_start": None})
    assert f"{inside} spikes on 4 electrodes" in text and "lateness: p50" in text
    with pytest.raises(ValueError, match="labels differ"):
        play_events(SpikeEvents([], [], ("x",), 0.0, 1.0), out)
    with pytest.raises(ValueError, match="speed"):
        play_events(ev, out, speed=0.0)
    with pytest.raises(ValueError, match="empty"):
        play_events(ev, out, start=0.5, stop=0.4)


@pytest.mark.lsl
def test_ctrl_c_right_after_a_push_still_counts_that_push():
    # the interrupt arrives the moment liblsl has taken a chunk (before bioloop could count it):
    # the replay ends after that push, and the report counts every spike that went out
    import os

    class SignalAfterThirdPush:
        """The real pylsl outlet; after its third push, Ctrl-C arrives."""

        def __init__(self, outlet):
            self.outlet, self.sent, self.pushes = outlet, 0, 0

        def push_chunk(self, rows, stamps):
            self.outlet.push_chunk(rows, stamps)
            self._after(len(stamps))

        def push_sample(self, row, stamp):
            self.outlet.push_sample(row, stamp)
            self._after(1)

        def _after(self, n):
            self.sent += n
            self.pushes += 1
            if self.pushes == 3:
                os.kill(os.getpid(), signal.SIGINT)

    times = np.arange(200) * 0.005
    ev = SpikeEvents(times, np.arange(200) % 2, ("a", "b"), 0.0, 1.0)
    with SpikeEventOutlet(unique("ctrl-c"), ev.labels) as out:
        spy = out._out._outlet = SignalAfterThirdPush(out._out._outlet)
        report = play_events(ev, out, linger=0.0)
    assert report.interrupted and spy.pushes == 3
    assert report.samples_pushed == spy.sent
    assert report.samples_pushed + report.spikes_not_played == len(ev)
