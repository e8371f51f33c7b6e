"""Append-only session journal that survives a crash.

A journal is a file that starts with ``MAGIC`` and then holds framed records::

    b"BLJR" | uint32 header length | header (JSON, utf-8) | raw array bytes | uint32 crc32

The header names the record's ``kind``, its JSON ``meta`` and the dtype / shape of each array
that follows; the CRC covers header and array bytes. No pickle anywhere. A record is encoded by
the caller and handed to a background thread, which writes it whole and flushes it to the
operating system at once, and fsyncs the file at least once per second of wall time: a slow
disk never stalls the loop (a write can wait milliseconds behind a running fsync), a crash of
the process loses at most the records of the last milliseconds, and a power loss at most the
last second. A reader stops at the first truncated or damaged record and says so.
"""

from __future__ import annotations

import json
import os
import queue
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"BIOLOOP-JOURNAL v1\n"
RECORD = b"BLJR"
_U32 = struct.Struct("<I")
_ALLOWED_DTYPES = {"<f8", "<f4", "<i8", "<i4", "|i1", "|u1", "|b1", "<u4", "<u8"}
_STOP = object()  #: tells the writer thread to end


@dataclass
class Record:
    kind: str
    meta: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class JournalWriter:
    """Write records to ``path`` (created new; an existing file is refused).

    Parameters
    ----------
    path : str or Path
        Journal file to create.
    sync_interval : float
        Seconds of wall time between fsyncs (at most 1 s keeps the crash promise).
    """

    def __init__(self, path, *, sync_interval: float = 1.0):
        self.path = Path(path)
        if self.path.exists():
            raise ValueError(f"journal {str(self.path)!r} already exists; choose another path")
        self._fh = open(self.path, "xb")  # noqa: SIM115 - closed in close()
        self._fh.write(MAGIC)
        self._fh.flush()
        self._sync_interval = float(sync_interval)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: OSError | None = None
        self._writer = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)
        self._writer.start()
        self.records = 0

    def _write_loop(self) -> None:
        """Write, flush and (at least every ``sync_interval`` s while there is news) fsync."""
        fh, fd = self._fh, self._fh.fileno()
        synced, dirty = time.monotonic(), False
        while True:
            try:
                item = self._queue.get(timeout=self._sync_interval if dirty else None)
            except queue.Empty:
                item = None  # nothing new for a while: time to sync
            if item is _STOP:
                return
            try:
                if item is not None:
                    fh.write(item)
                    fh.flush()
                    dirty = True
                if dirty and time.monotonic() - synced >= self._sync_interval:
                    os.fsync(fd)
                    synced, dirty = time.monotonic(), False
            except OSError as exc:  # reported by the next append() or close()
                self._error = exc
                return

    def _check(self) -> None:
        if self._error is not None:
            raise OSError(f"journal {str(self.path)!r} could not be written: {self._error}")

    def append(self, kind: str, meta: dict | None = None, **arrays: np.ndarray) -> None:
        """Append one record: encoded here, written and flushed to the operating system by the
        writer thread at once, fsync'ed within the sync interval.

        Raises
        ------
        OSError
            If an earlier record could not be written (disk full, file gone).
        """
        self._check()
        specs, blobs = [], []
        for name, arr in arrays.items():
            a = np.ascontiguousarray(arr)
            if a.dtype.str not in _ALLOWED_DTYPES:
                a = a.astype(np.float64 if a.dtype.kind == "f" else np.int64)
            specs.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape)})
            blobs.append(a.tobytes())
        header = json.dumps({"kind": kind, "meta": meta or {}, "arrays": specs},
                            separators=(",", ":")).encode()
        body = header + b"".join(blobs)
        self._queue.put(RECORD + _U32.pack(len(header)) + body + _U32.pack(zlib.crc32(body)))
        self.records += 1

    def close(self) -> None:
        """Write what is queued, fsync and close (idempotent).

        Raises
        ------
        OSError
            If a record could not be written.
        """
        if not self._fh.closed:
            self._queue.put(_STOP)
            self._writer.join()
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            finally:
                self._fh.close()
            self._check()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class JournalContents:
    records: list[Record]
    complete: bool  #: the last record is an ``end`` record
    damaged_tail_bytes: int  #: bytes after the last good record (a torn write), 0 if none


def read_journal(path) -> JournalContents:
    """Read every intact record of a journal.

    Raises
    ------
    ValueError
        If the file does not exist or is not a bioloop journal.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"journal {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"journal {str(p)!r} is a folder, not a journal file") from None
    if not data.startswith(MAGIC):
        raise ValueError(f"{str(p)!r} is not a bioloop session journal")
    pos, records = len(MAGIC), []
    while pos < len(data):
        rec, nxt = _parse_record(data, pos)
        if rec is None:
            break
        records.append(rec)
        pos = nxt
    complete = bool(records) and records[-1].kind == "end"
    return JournalContents(records, complete, len(data) - pos)


def _parse_record(data: bytes, pos: int):
    if data[pos:pos + 4] != RECORD or pos + 8 > len(data):
        return None, pos
    (hlen,) = _U32.unpack_from(data, pos + 4)
    hstart = pos + 8
    if hstart + hlen > len(data):
        return None, pos
    try:
        header = json.loads(data[hstart:hstart + hlen])
        specs = header["arrays"]
        sizes = [int(np.prod(s["shape"], dtype=np.int64)) * np.dtype(s["dtype"]).itemsize for s in specs]
        if any(s["dtype"] not in _ALLOWED_DTYPES for s in specs):
            return None, pos
    except (ValueError, KeyError, TypeError):
        return None, pos
    bstart = hstart + hlen
    bend = bstart + sum(sizes)
    if bend + 4 > len(data):
        return None, pos
    (crc,) = _U32.unpack_from(data, bend)
    if zlib.crc32(data[hstart:bend]) != crc:
        return None, pos
    arrays, off = {}, bstart
    for spec, size in zip(specs, sizes, strict=True):
        arrays[spec["name"]] = np.frombuffer(data[off:off + size], dtype=spec["dtype"]).reshape(spec["shape"]).copy()
        off += size
    return Record(header["kind"], header.get("meta", {}), arrays), bend + 4
