"""Run a sweep: skip finished cells, hand the rest to an executor, write each record as it
arrives, then the table and the plots."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .cells import run_cell
from .executors import Executor
from .plots import plot_metrics
from .results import ResultStore, table, write_table
from .spec import SweepSpec

#: failures listed in the summary (the table has them all)
MAX_LISTED_FAILURES = 10


def check_out(out, resume: bool) -> None:
    """Refuse an ``out`` that is a file, or that holds results when not resuming (before any
    worker is started).

    Raises
    ------
    ValueError
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a folder")
    if not resume and (out / "cells").is_dir() and any((out / "cells").glob("*.json")):
        raise ValueError(f"--out {str(out)!r} holds results of an earlier sweep; add --resume to "
                         "finish it, or choose another folder")


def run_sweep(spec: SweepSpec, executor: Executor, out, *, resume: bool = False,
              progress: bool = True, plots: bool = True) -> dict:
    """Run every cell of ``spec`` that has no finished result in ``out``.

    Parameters
    ----------
    spec : SweepSpec
    executor : Executor
        Where the cells run (not closed here).
    out : path
        The sweep's folder: ``cells/<key>.json``, ``results.parquet``, ``results.csv``,
        ``plots/``, ``sweep.json`` (the spec and the summary).
    resume : bool
        Skip cells that finished in an earlier run into ``out``; cells that failed run again.
        Without it, a folder holding earlier results is refused.
    progress : bool
        A progress bar on stderr when it is a terminal.
    plots : bool
        Draw a PNG per metric against each varied axis.

    Returns
    -------
    dict
        The summary: cells, ran, skipped (finished earlier), ok, failed, the first failures,
        the table's files, the plots, the executor and the wall time.

    Raises
    ------
    ValueError
        ``out`` is a file, or holds results and ``resume`` is off.

    Examples
    --------
    >>> import tempfile
    >>> from bioloop.sweep import SerialExecutor, from_dict
    >>> spec = from_dict({"kind": "chip", "grid": {"seed": [0, 1]}, "fixed": {"duration": 0.2}})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first = run_sweep(spec, SerialExecutor(), d, progress=False, plots=False)
    ...     again = run_sweep(spec, SerialExecutor(), d, resume=True, progress=False, plots=False)
    >>> (first["ran"], first["ok"]), (again["ran"], again["skipped"])
    ((2, 2), (0, 2))
    """
    from tqdm import tqdm

    wall0 = time.perf_counter()
    out = Path(out)
    check_out(out, resume)
    store = ResultStore(out)
    done = store.finished() if resume else {}
    todo = [c for c in spec.cells if c.key not in done]
    session_dir = None
    if spec.keep_sessions and spec.kind == "replay":
        session_dir = out / "sessions"
        session_dir.mkdir(exist_ok=True)
        session_dir = str(session_dir.resolve())
    (out / "sweep.json").write_text(json.dumps({"spec": spec.to_dict(), "state": "running"}))
    bar = tqdm(total=len(spec.cells), initial=len(spec.cells) - len(todo), unit="cell",
               desc="sweep", file=sys.stderr, disable=None if progress else True, leave=False)
    failed_now = 0
    try:
        for cell, outcome in executor.map_unordered(run_cell, todo, session_dir=session_dir):
            if isinstance(outcome, BaseException):  # the worker, not the cell, failed
                outcome = {"key": cell.key, "index": cell.index, "kind": cell.kind,
                           "params": cell.params, "status": "failed",
                           "error": f"{type(outcome).__name__}: {outcome}".replace("\n", " "),
                           "row": {}, "detail": {}, "wall_s": None}
            store.write(outcome)
            failed_now += outcome["status"] != "ok"
            bar.update(1)
            if failed_now:
                bar.set_postfix(failed=failed_now, refresh=False)
    finally:
        bar.close()
    records = {c.key: store.read(c.key) for c in spec.cells}
    records = {k: v for k, v in records.items() if v is not None}
    df = table(list(spec.cells), records)
    files = write_table(df, out)
    figures = plot_metrics(df, list(spec.varied), out / "plots") if plots else []
    failures = df[df["status"] != "ok"]
    summary = {
        "kind": spec.kind,
        "source": spec.source,
        "cells": len(spec.cells),
        "ran": len(todo),
        "skipped": len(spec.cells) - len(todo),
        "ok": int((df["status"] == "ok").sum()),
        "failed": int(len(failures)),
        "failures": [{"cell": int(r.cell), "key": r.key, "error": r.error}
                     for r in failures.head(MAX_LISTED_FAILURES).itertuples()],
        "varied": list(spec.varied),
        "table": files,
        "plots": {"folder": str(out / "plots"), "n": len(figures)},
        "out": str(out.resolve()),
        "executor": executor.describe,
        "wall_s": time.perf_counter() - wall0,
    }
    (out / "sweep.json").write_text(json.dumps({"spec": spec.to_dict(), "state": "finished",
                                                "summary": summary}, indent=1))
    return summary
