"""Sessions on chips with routes: --clusters, --mesh, --allow-shared-rows and the stimulation map
(internal clusters stimulate nothing)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bioloop.session import SessionOptions
from bioloop.session.build import build, run_replay
from bioloop.types import SpikeEvents


def events(n_electrodes, times, channels, t_stop=0.2):
    return SpikeEvents(times, channels, tuple(f"e{i}" for i in range(n_electrodes)), 0.0, t_stop)


def test_chain_session_builds_internal_clusters_and_relays_a_spike(tmp_path):
    ev = events(16, [0.010], [4])
    opts = SessionOptions(network="chain:3", mismatch=False)
    parts = build(ev, opts)
    assert parts.backend.n_clusters == 3 and len(parts.program.routes) == 32
    stim = parts.meta["routing"]["stimulating"]
    assert {c for c, _, _ in stim} == {0} and len(stim) == 16  # clusters 1 and 2 are internal
    summary = run_replay(ev, opts, tmp_path / "s.nix")
    assert summary["fires"] == 3  # electrode 4 -> dend 4 of cluster 0 -> cluster 1 -> cluster 2
    assert summary["stimulations"] == 1
    assert summary["refused"]["unmapped"] == 2  # the FIREs of the internal clusters, counted


def test_clusters_and_mesh_options():
    ev = events(20, [0.01], [0])  # 20 electrodes need 2 clusters
    parts = build(ev, SessionOptions(network="recurrent:3", n_clusters=6, mesh=(2, 3), mismatch=False,
                                     allow_shared_rows=True))
    assert parts.backend.n_clusters == 6 and parts.backend.noc.mesh == (2, 3)
    assert parts.meta["backend"]["noc"]["mesh"] == [2, 3]
    with pytest.raises(ValueError, match="--clusters 1 is fewer than the 2 clusters the electrodes need"):
        build(ev, SessionOptions(n_clusters=1))
    with pytest.raises(ValueError, match=r"mesh 1x2 holds 2 clusters but the chip has 6"):
        build(ev, SessionOptions(network="recurrent:3", n_clusters=6, mesh=(1, 2), allow_shared_rows=True))


def test_electrodes_and_routes_on_one_row_need_allow_shared_rows(tmp_path):
    ev = events(32, [0.010, 0.013], [4, 20])  # electrodes on clusters 0 and 1
    with pytest.raises(ValueError, match=r"electrode 16 and a route both drive AXON row 0 of cluster 1 "
                                         r"\(16 such rows\).*--allow-shared-rows"):
        build(ev, SessionOptions(network="chain:2"))
    opts = SessionOptions(network="chain:2", mismatch=False, allow_shared_rows=True)
    parts = build(ev, opts)
    assert len(parts.meta["routing"]["shared_rows"]) == 16
    # electrode 4 fires (0, 4), whose packet reaches (1, 4) in the next cycle; electrode 20 drives
    # (1, 4) 3 ms later: both pulses reach the chip, the row is their OR
    s = run_replay(ev, opts, tmp_path / "s.nix")
    assert s["fires"] == 2  # (0, 4) and (1, 4) once; 3 ms later (1, 4) is still recovering


@pytest.mark.parametrize("args, needle", [
    (["--network", "chain:4", "--mesh", "4by4"], "mesh '4by4' is not ROWSxCOLS with positive integers"),
    (["--network", "chain:6", "--mesh", "1x2", "--allow-shared-rows"],
     "mesh 1x2 holds 2 clusters but the chip has 6"),
    (["--network", "chain:6"], "electrode 16 and a route both drive AXON row 0 of cluster 1"),
    (["--clusters", "2"], "--clusters 2 is fewer than the 4 clusters the electrodes need"),
])
def test_cli_bad_routing_options_are_one_line_exit_2(tmp_path, recordings_dir, args, needle):
    rec = recordings_dir / "TC89_DIV15_A.nexTimestamps"
    r = subprocess.run([sys.executable, "-m", "bioloop.cli", "replay", str(rec), "--stop", "1", "--quiet",
                        *args, "--out", str(tmp_path / "s.nix")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0]


def test_cli_network_file_with_bad_routes_is_one_line_exit_2(tmp_path, recordings_dir):
    w = np.full((16, 16), 2)
    net = tmp_path / "net.npz"
    np.savez(net, weights=w, psp_ref=np.full(16, 2), threshold_gen=7, threshold_ref=2,
             routes=np.array([[0, 0, 9, 0]]))
    rec = recordings_dir / "TC89_DIV15_A.nexTimestamps"
    r = subprocess.run([sys.executable, "-m", "bioloop.cli", "replay", str(rec), "--stop", "1", "--quiet",
                        "--network", str(net), "--out", str(tmp_path / "s.nix")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "dst_cluster = 9 does not exist; this chip has clusters 0..3" in lines[0]
