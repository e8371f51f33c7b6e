"""recordings/manifest.toml and bioloop.manifest: every shared recording listed, verified, read."""

from __future__ import annotations

import re
import shutil

import pytest

from bioloop.adapters.files import open_recording
from bioloop.manifest import (
    default_manifest_path,
    find_entry,
    load_manifest,
    sha256_file,
    verify_file,
)

# The shared README's table, as written there (rounded times): name -> channels, spikes, span
README_TABLE = {
    "TC89_DIV15_A": (59, 208_277, (0.0, 911.6)),
    "hiPSN_tc65_d27_spikes6sd": (28, 26_023, (0.0, 301.0)),
    "CO_20140212_MW1007-51_DIV12_00_001": (731, 696_637, (164.0, 1125.0)),
    "Maccione2014_P9_29March11_control_SpkTs_bursts_filtered": (1142, 355_361, (0.0, 1800.0)),
    "CS056P07R-MEME1": (71, 63_393, (0.0, 780.6)),
}


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


def _readme_sha256(recordings_dir) -> dict:
    text = (recordings_dir / "README.md").read_text()
    return {name: sha for sha, name in re.findall(r"^([0-9a-f]{64})\s+(\S+)\s*$", text, re.M)}


def test_every_shared_recording_is_listed(manifest, recordings_dir):
    shared = {p.relative_to(recordings_dir).as_posix() for p in recordings_dir.rglob("*")
              if p.is_file() and p.name != "README.md"}
    listed = {manifest.locate(e, recordings_dir).relative_to(recordings_dir).as_posix()
              for e in manifest}
    assert listed == shared


def test_sha256_match_readme_and_files(manifest, recordings_dir):
    readme = _readme_sha256(recordings_dir)
    assert len(readme) == 5
    for e in manifest:
        path = manifest.locate(e, recordings_dir)
        if e.file_name in readme:
            assert e.sha256 == readme[e.file_name], e.name
        assert sha256_file(path) == e.sha256, e.name
        assert verify_file(path, manifest) is e


def test_manifest_agrees_with_readme_table(manifest):
    for name, (n_ch, n_sp, (t0, t1)) in README_TABLE.items():
        e = manifest.entries[name]
        assert (e.n_channels, e.n_spikes) == (n_ch, n_sp), name
        # the README rounds times to 0.1 s (CO: to 1 s)
        assert abs(e.t_start - t0) <= 0.5 and abs(e.t_stop - t1) <= 0.5, name
    for e in manifest:
        if e.derived_from:
            src = manifest.entries[e.derived_from]
            assert (e.n_channels, e.n_spikes, e.t_start, e.t_stop) == (
                src.n_channels, src.n_spikes, src.t_start, src.t_stop)


def test_readers_give_what_the_manifest_says(manifest, recordings_dir):
    for e in manifest:
        src = open_recording(manifest.locate(e, recordings_dir))
        ev = src.read_all()
        assert src.format == e.format, e.name
        assert (ev.n_channels, len(ev), ev.t_start, ev.t_stop) == (
            e.n_channels, e.n_spikes, e.t_start, e.t_stop), e.name


def test_find_entry_by_path_and_relocated_copy(manifest, recordings_dir, tmp_path):
    e = manifest.entries["hiPSN_tc65_d27_spikes6sd-nix"]
    assert find_entry(manifest.locate(e, recordings_dir), manifest) is e
    assert find_entry(manifest.locate(e), manifest) is e
    copy = tmp_path / "derived" / "hiPSN_tc65_d27_spikes6sd.nix"
    copy.parent.mkdir()
    shutil.copyfile(manifest.locate(e, recordings_dir), copy)
    assert verify_file(copy, manifest) is e  # same bytes elsewhere: still that recording
    assert find_entry(tmp_path / "unknown.h5", manifest) is None


def test_verify_refuses_changed_unknown_and_missing_files(manifest, recordings_dir, tmp_path):
    e = manifest.entries["hiPSN_tc65_d27_spikes6sd"]
    changed = tmp_path / e.file_name
    shutil.copyfile(manifest.locate(e, recordings_dir), changed)
    with open(changed, "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="does not match the manifest") as err:
        verify_file(changed, manifest)
    assert str(changed) in str(err.value)
    other = tmp_path / "other.h5"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="is not in the manifest"):
        verify_file(other, manifest)
    with pytest.raises(ValueError, match="does not exist"):
        verify_file(tmp_path / "gone.h5", manifest)


def test_default_and_explicit_paths():
    default = default_manifest_path()
    assert default is not None and default.name == "manifest.toml"
    assert len(load_manifest(default)) == len(load_manifest(str(default))) == 7
    with pytest.raises(ValueError, match="does not exist"):
        load_manifest("/nonexistent/manifest.toml")
    with pytest.raises(TypeError, match="str or Path"):
        load_manifest(7)


GOOD = """schema = 1
paths_relative_to = ".."
shared_prefix = "../shared/recordings"
[recordings.x]
path = "../shared/recordings/x.h5"
sha256 = "{sha}"
format = "sjemea"
tissue = "t"
array = "a"
licence = "l"
citation = "c"
n_channels = 1
n_spikes = 2
t_start = 0.0
t_stop = {t_stop}
"""


@pytest.mark.parametrize("text, match", [
    ("schema = [", "not valid TOML"),
    ("schema = 2\n", "schema 1"),
    (GOOD.format(sha="ab", t_stop=1.0), "not 64 lower-case hex"),
    (GOOD.format(sha="a" * 64, t_stop=-1.0), "t_stop = -1.0 is before t_start"),
    (GOOD.format(sha="a" * 64, t_stop=1.0).replace('citation = "c"\n', ""),
     r"missing key\(s\) \['citation'\]"),
    (GOOD.format(sha="a" * 64, t_stop=1.0).replace("n_spikes = 2", "n_spikes = -2"),
     "n_spikes must be an integer >= 0"),
    (GOOD.format(sha="a" * 64, t_stop=1.0).replace("../shared/recordings/x.h5", "/tmp/x.h5"),
     "is not under shared_prefix"),
])
def test_bad_manifests(tmp_path, text, match):
    p = tmp_path / "manifest.toml"
    p.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_manifest(p)
    assert str(p) in str(err.value)


def test_good_small_manifest(tmp_path):
    p = tmp_path / "recordings" / "manifest.toml"
    p.parent.mkdir()
    p.write_text(GOOD.format(sha="a" * 64, t_stop=1.0))
    m = load_manifest(p)
    e = m.entries["x"]
    assert m.root == tmp_path.resolve() and e.n_spikes == 2
    assert m.locate(e) == (tmp_path / ".." / "shared" / "recordings" / "x.h5").resolve()
