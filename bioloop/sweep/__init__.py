"""Sweeps on dask.distributed: grids of independent cells, one tidy table.

A sweep file names the kind of cell (``replay``, ``compare``, ``chip``) and its axes
(:mod:`.spec`); each cell is a pure function of its parameters (:mod:`.cells`) whose record is
written to its own JSON file keyed by a hash of those parameters (:mod:`.results`), so a
rerun with ``resume`` skips finished cells. Cells run on an :class:`~.executors.Executor`:
Dask (a ``LocalCluster`` or any scheduler by address) or, for tests, serially in-process.
``bioloop sweep --builtin mismatch`` is :mod:`.mismatch`. See docs/sweeps.md.
"""

from .cells import run_cell
from .executors import DaskExecutor, Executor, SerialExecutor
from .mismatch import mismatch_spec, mismatch_study
from .results import ResultStore, table, write_table
from .run import run_sweep
from .spec import Cell, SweepSpec, cell_key, from_dict, load

__all__ = ["Cell", "DaskExecutor", "Executor", "ResultStore", "SerialExecutor", "SweepSpec",
           "cell_key", "from_dict", "load", "mismatch_spec", "mismatch_study", "run_cell",
           "run_sweep", "table", "write_table"]
