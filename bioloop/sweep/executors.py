"""Where cells run: an :class:`Executor` hands out cells and gives back their records.

:class:`DaskExecutor` is the one for real use: a ``distributed.LocalCluster`` of N worker
processes with one thread each (the default), or any running Dask scheduler by address (a lab
server, a Slurm allocation through dask-jobqueue). :class:`SerialExecutor` runs the cells one
after another in this process; the tests use it to check that Dask changes nothing.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

#: seconds to wait for a scheduler (and for its first worker) before giving up
DEFAULT_TIMEOUT_S = 10.0


class Executor(ABC):
    """Runs a function on many items; yields ``(item, outcome)`` as each finishes.

    ``outcome`` is what the function returned, or the exception that the infrastructure (not
    the function) raised, e.g. a worker that died with the item. Use as a context manager.

    Examples
    --------
    A minimal executor (this is :class:`SerialExecutor`):

    >>> class InOrder(Executor):
    ...     describe = {"executor": "in-order", "workers": 1}
    ...     def map_unordered(self, fn, items, **kwargs):
    ...         for item in items:
    ...             yield item, fn(item, **kwargs)
    >>> with InOrder() as ex:
    ...     [out for _, out in ex.map_unordered(lambda x: 2 * x, [1, 2])]
    [2, 4]
    """

    #: what and where (JSON-able): ``executor``, ``workers``, and for Dask the ``scheduler``
    describe: dict

    @abstractmethod
    def map_unordered(self, fn: Callable, items: Sequence, **kwargs) -> Iterator[tuple[object, object]]:
        """``fn(item, **kwargs)`` for every item; ``(item, outcome)`` in finishing order."""

    def close(self) -> None:  # noqa: B027 - nothing to release is a valid default
        """Release workers and connections (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SerialExecutor(Executor):
    """Every item in this process, in order (for tests: the reference a cluster must match)."""

    def __init__(self):
        self.describe = {"executor": "serial", "workers": 1}

    def map_unordered(self, fn, items, **kwargs):
        for item in items:
            yield item, fn(item, **kwargs)


class DaskExecutor(Executor):
    """Cells on dask.distributed.

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes, one thread each, on 127.0.0.1
        (default 2). Not with ``scheduler``.
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://127.0.0.1:8786``.
    timeout : float
        Seconds to wait for the scheduler to answer and for its first worker.

    Raises
    ------
    ValueError
        Both ``workers`` and ``scheduler``, a bad count, or a scheduler that does not answer
        (or has no worker) within ``timeout``.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S):
        from distributed import Client

        if workers is not None and scheduler is not None:
            raise ValueError("give --workers N (a local cluster) or --scheduler ADDRESS, not both")
        if not timeout > 0:
            raise ValueError(f"--timeout {timeout!r} must be a positive number of seconds")
        self.cluster = None
        self.client = None
        if scheduler is not None:
            if not isinstance(scheduler, str) or "://" not in scheduler and ":" not in scheduler:
                raise ValueError(f"--scheduler {scheduler!r} must be an address like tcp://127.0.0.1:8786")
            try:
                self.client = Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ValueError(f"the Dask scheduler at {scheduler} did not answer within {timeout:g} s "
                                 f"({type(exc).__name__})") from None
            try:
                self.client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError):
                self.close()
                raise ValueError(f"the Dask scheduler at {scheduler} has no worker (waited "
                                 f"{timeout:g} s); start one with 'dask worker {scheduler}'") from None
            n = len(self.client.scheduler_info(n_workers=-1)["workers"])
            self.describe = {"executor": "dask", "scheduler": scheduler, "workers": n}
        else:
            from distributed import LocalCluster

            n = 2 if workers is None else workers
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1024:
                raise ValueError(f"--workers {n!r} must be an integer in 1..1024")
            # workers log only errors: a sweep's own summary says what happened
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None,
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
            self.describe = {"executor": "dask", "scheduler": self.cluster.scheduler_address,
                             "workers": n, "local_cluster": True}

    def map_unordered(self, fn, items, **kwargs):
        from distributed import as_completed

        items = list(items)
        if not items:
            return
        keys = [f"bioloop-cell-{getattr(it, 'key', i)}" for i, it in enumerate(items)]
        futures = self.client.map(fn, items, key=keys, **kwargs)
        by_key = dict(zip(keys, items, strict=True))
        try:
            for fut in as_completed(futures, loop=self.client.loop):
                try:
                    outcome = fut.result()
                except Exception as exc:  # the infrastructure failed the item (e.g. a killed worker)
                    outcome = exc
                yield by_key[fut.key], outcome
                fut.release()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
