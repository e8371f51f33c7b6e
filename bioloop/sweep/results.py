"""A sweep's results on disk: one JSON file per cell, and the tidy table of them all.

``OUT/cells/<key>.json`` holds one cell's record (:func:`bioloop.sweep.cells.run_cell`),
written to a temporary name and renamed, so a file is either complete or absent: a killed
sweep loses only the cells in flight. The table has a row per cell in the sweep's order: the
cell's axes, then ``status`` and ``error``, then its results, then ``wall_s``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .spec import Cell

#: result columns first in this order when present; the rest follow as the cells give them
LEADING = ("input_spikes", "axon_pulses")
TRAILING = ("wall_s",)


class ResultStore:
    """The cell files of one sweep folder.

    Parameters
    ----------
    out : path
        The sweep's folder (created if missing).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = ResultStore(d)
    ...     _ = store.write({"key": "00ab", "status": "ok"})
    ...     sorted(store.finished())
    ['00ab']
    """

    def __init__(self, out):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"--out {str(self.out)!r} exists and is not a folder")
        self.cells_dir = self.out / "cells"
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.json"

    def write(self, record: dict) -> Path:
        """Write one record atomically (temporary file, fsync, rename)."""
        path = self.path(record["key"])
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as fh:
            json.dump(_jsonable(record), fh, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def read(self, key: str) -> dict | None:
        """The record of ``key``, or None if it has none (or an unreadable one)."""
        try:
            with open(self.path(key)) as fh:
                rec = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return rec if isinstance(rec, dict) and rec.get("key") == key else None

    def finished(self) -> dict[str, dict]:
        """Records of the cells that finished without error, by key."""
        out = {}
        for p in self.cells_dir.glob("*.json"):
            rec = self.read(p.stem)
            if rec is not None and rec.get("status") == "ok":
                out[p.stem] = rec
        return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and hasattr(obj, "dtype"):  # numpy scalar
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def table(cells: list[Cell], records: dict[str, dict]):
    """The tidy table (pandas DataFrame): one row per cell, in the sweep's order.

    Parameters
    ----------
    cells : list of Cell
    records : dict
        Record of each cell by key; a cell without one gets ``status = "missing"``.

    Returns
    -------
    pandas.DataFrame
        Columns: ``cell`` (index in the sweep), ``key``, the axes, ``status``, ``error``, the
        results (``input_spikes``, ``axon_pulses``, ``dropped_<reason>``, ``fires``, ...),
        ``wall_s``.
    """
    import pandas as pd

    rows, axis_cols, result_cols = [], {}, {}
    for c in cells:
        rec = records.get(c.key)
        axes = c.axes()
        axis_cols.update(dict.fromkeys(axes))
        res = dict(rec.get("row", {})) if rec else {}
        result_cols.update(dict.fromkeys(res))
        rows.append({"cell": c.index, "key": c.key, **axes,
                     "status": rec["status"] if rec else "missing",
                     "error": rec.get("error") if rec else None,
                     **res, "wall_s": rec.get("wall_s") if rec else None})
    lead = [k for k in LEADING if k in result_cols]
    rest = [k for k in result_cols if k not in lead and k not in TRAILING]
    columns = ["cell", "key", *axis_cols, "status", "error", *lead, *rest, *TRAILING]
    df = pd.DataFrame(rows, columns=columns)
    for col in columns:  # integer counts stay integers where no cell is missing them
        if col in result_cols and df[col].notna().all() and df[col].map(type).eq(int).all():
            df[col] = df[col].astype("int64")
    return df


def write_table(df, out: Path, stem: str = "results") -> dict:
    """Write ``stem.parquet`` and ``stem.csv`` into ``out``; their paths."""
    out = Path(out)
    parquet, csv = out / f"{stem}.parquet", out / f"{stem}.csv"
    safe = df.copy()
    for col in safe.columns:  # parquet needs one type per column: mixed objects become text
        if safe[col].dtype == object:
            kinds = {type(v) for v in safe[col] if v is not None and v == v}
            if len(kinds) > 1:
                safe[col] = safe[col].map(lambda v: None if v is None else str(v))
    safe.to_parquet(parquet, index=False)
    safe.to_csv(csv, index=False)
    return {"parquet": str(parquet), "csv": str(csv)}
