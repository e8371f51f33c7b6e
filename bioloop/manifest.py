"""The manifest of real recordings (``recordings/manifest.toml``): load it, verify files by sha256.

The recordings live outside the repository (``../shared/recordings``); the manifest records,
for each, its path, sha256, tissue, array, licence, citation and what bioloop reads from it
(channels, spikes, segment). The installed package does not need the manifest at all; only
:func:`default_manifest_path` looks for the repository copy, and every function here takes an
explicit manifest path instead.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEXT_KEYS = ("path", "sha256", "format", "tissue", "array", "licence", "citation")
_INT_KEYS = ("n_channels", "n_spikes")
_REAL_KEYS = ("t_start", "t_stop")


@dataclass(frozen=True)
class RecordingEntry:
    """One recording of the manifest (``path`` as written, relative to the repository root)."""

    name: str
    path: str
    sha256: str
    format: str
    tissue: str
    array: str
    licence: str
    citation: str
    n_channels: int
    n_spikes: int
    t_start: float
    t_stop: float
    source: str = ""
    derived_from: str = ""
    extra: tuple = ()  #: other keys of the entry, as (key, value) pairs

    @property
    def file_name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class Manifest:
    """Entries by name; ``root`` is what entry paths are relative to."""

    path: Path
    root: Path
    shared_prefix: str
    entries: dict

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def locate(self, entry: RecordingEntry, recordings_dir=None) -> Path:
        """Where ``entry``'s file is: under ``recordings_dir`` (the shared recordings folder,
        wherever it is) when given, else at ``root / entry.path``."""
        if recordings_dir is None:
            return (self.root / entry.path).resolve()
        rel = Path(entry.path).relative_to(self.shared_prefix)
        return Path(recordings_dir) / rel

    def find(self, path) -> RecordingEntry | None:
        """The entry for a file: by resolved path, else by the path below the shared folder
        (so a relocated shared folder, e.g. ``BIOLOOP_SHARED``, still matches); None if none."""
        p = Path(path).resolve()
        for e in self.entries.values():
            if (self.root / e.path).resolve() == p:
                return e
        for e in self.entries.values():
            rel = Path(e.path).relative_to(self.shared_prefix)
            if len(p.parts) >= len(rel.parts) and Path(*p.parts[-len(rel.parts):]) == rel:
                return e
        return None


def default_manifest_path() -> Path | None:
    """The repository's ``recordings/manifest.toml`` when running from a checkout, else None."""
    p = Path(__file__).resolve().parent.parent / "recordings" / "manifest.toml"
    return p if p.is_file() else None


def load_manifest(path=None) -> Manifest:
    """Load and check a manifest.

    Parameters
    ----------
    path : str or Path, optional
        The TOML file; default the repository copy (:func:`default_manifest_path`).

    Returns
    -------
    Manifest

    Raises
    ------
    ValueError
        If no manifest is found, it is not valid TOML, or an entry lacks a key, has a value of
        the wrong kind, a malformed sha256, a path outside ``shared_prefix`` or ``t_stop <
        t_start``. The message names the file and the entry.

    Examples
    --------
    >>> m = load_manifest()  # doctest: +SKIP
    >>> m.entries["TC89_DIV15_A"].n_spikes  # doctest: +SKIP
    208277
    """
    if path is None:
        path = default_manifest_path()
        if path is None:
            raise ValueError("no manifest path given and no repository copy of "
                             "recordings/manifest.toml next to this package; pass path=")
    if not isinstance(path, str | Path):
        raise TypeError(f"manifest path must be a str or Path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"manifest {p} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"manifest {p} is not valid TOML: {err}") from err
    if data.get("schema") != 1:
        raise ValueError(f"manifest {p}: schema = {data.get('schema')!r}; this bioloop reads "
                         f"schema 1")
    rel = data.get("paths_relative_to", ".")
    prefix = data.get("shared_prefix")
    if not isinstance(rel, str) or not isinstance(prefix, str):
        raise ValueError(f"manifest {p}: paths_relative_to and shared_prefix must be strings")
    recs = data.get("recordings")
    if not isinstance(recs, dict) or not recs:
        raise ValueError(f"manifest {p} has no [recordings.<name>] table")
    entries = {name: _entry(p, name, rec, prefix) for name, rec in recs.items()}
    return Manifest(p, (p.parent / rel).resolve(), prefix, entries)


def _entry(p: Path, name: str, rec, prefix: str) -> RecordingEntry:
    where = f"manifest {p}, entry {name!r}"
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: must be a table")
    missing = [k for k in _TEXT_KEYS + _INT_KEYS + _REAL_KEYS if k not in rec]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    for k in _TEXT_KEYS:
        if not isinstance(rec[k], str) or not rec[k]:
            raise ValueError(f"{where}: {k} must be a non-empty string, got {rec[k]!r}")
    for k in _INT_KEYS:
        if isinstance(rec[k], bool) or not isinstance(rec[k], int) or rec[k] < 0:
            raise ValueError(f"{where}: {k} must be an integer >= 0, got {rec[k]!r}")
    for k in _REAL_KEYS:
        if isinstance(rec[k], bool) or not isinstance(rec[k], int | float):
            raise ValueError(f"{where}: {k} must be a number of seconds, got {rec[k]!r}")
    if rec["t_stop"] < rec["t_start"]:
        raise ValueError(f"{where}: t_stop = {rec['t_stop']} is before t_start = {rec['t_start']}")
    if not _SHA256.match(rec["sha256"]):
        raise ValueError(f"{where}: sha256 {rec['sha256']!r} is not 64 lower-case hex digits")
    try:
        Path(rec["path"]).relative_to(prefix)
    except ValueError:
        raise ValueError(f"{where}: path {rec['path']!r} is not under shared_prefix "
                         f"{prefix!r}") from None
    known = set(_TEXT_KEYS + _INT_KEYS + _REAL_KEYS) | {"source", "derived_from"}
    return RecordingEntry(
        name=name, **{k: rec[k] for k in _TEXT_KEYS + _INT_KEYS},
        t_start=float(rec["t_start"]), t_stop=float(rec["t_stop"]),
        source=str(rec.get("source", "")), derived_from=str(rec.get("derived_from", "")),
        extra=tuple(sorted((k, v) for k, v in rec.items() if k not in known)))


def sha256_file(path, *, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, as 64 hex digits.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def find_entry(path, manifest: Manifest | str | Path | None = None) -> RecordingEntry | None:
    """The manifest entry of a recording file, or None when it is not in the manifest."""
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    return m.find(path)


def verify_file(path, manifest: Manifest | str | Path | None = None) -> RecordingEntry:
    """Check that a recording is in the manifest and its bytes have the recorded sha256.

    Returns
    -------
    RecordingEntry
        The matching entry.

    Raises
    ------
    ValueError
        If the file is missing, not in the manifest, or its sha256 differs.
    """
    if not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"recording file {p} does not exist")
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    entry = m.find(p)
    if entry is None:
        raise ValueError(f"{p} is not in the manifest {m.path}; known: "
                         f"{', '.join(e.file_name for e in m)}")
    got = sha256_file(p)
    if got != entry.sha256:
        raise ValueError(f"{p}: sha256 {got} does not match the manifest's {entry.sha256} "
                         f"(entry {entry.name!r}); the file changed or is another file")
    return entry
