"""The routing engine's arrays: the table grouped by source, packets in flight, the mesh's
FIFOs. :class:`NocRuntime` is what :class:`~bioloop.chip.Chip` hands the routed kernels
(:mod:`bioloop.chip.routing_kernels`); its dynamic part is saved with the membrane state.
"""

from __future__ import annotations

import numpy as np

from . import routing_kernels as rk
from .config import N_DENDS
from .noc import NocConfig, Routes

#: largest (future cycles x clusters) ring of deliveries this model allocates
RING_MAX_ENTRIES = 1 << 26

_DYNAMIC = ("ring_mask", "ring_pk", "ring_list", "ring_n", "cnt", "noc_i", "links", "pool", "transit")


def _pow2_at_least(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def _link_order(rows: int, cols: int) -> np.ndarray:
    """Directed links (node * 4 + dir; E, W, S, N) in an order in which every link comes after
    each link that can feed it under XY routing: eastward by column, westward by falling column,
    then southward by row and northward by falling row."""
    order = []
    for d, axis_rev in ((0, False), (1, True), (2, False), (3, True)):
        if d < 2:
            cs = range(cols - 1, -1, -1) if axis_rev else range(cols)
            for c in cs:
                for r in range(rows):
                    if (d == 0 and c + 1 < cols) or (d == 1 and c > 0):
                        order.append((r * cols + c) * rk.DIRS + d)
        else:
            rs = range(rows - 1, -1, -1) if axis_rev else range(rows)
            for r in rs:
                for c in range(cols):
                    if (d == 2 and r + 1 < rows) or (d == 3 and r > 0):
                        order.append((r * cols + c) * rk.DIRS + d)
    return np.asarray(order, np.int64)


class NocRuntime:
    """Routing tables and packets in flight for one chip (routes non-empty).

    Raises
    ------
    ValueError
        When the longest latency times the clusters would need more than
        ``RING_MAX_ENTRIES`` ring entries.
    """

    def __init__(self, routes: Routes, noc: NocConfig, n_clusters: int):
        C = n_clusters
        start, order = routes.table(C)
        self.r_start = start
        self.r_dc = routes.dst_cluster[order].astype(np.int64)
        self.r_dk = routes.dst_axon[order].astype(np.int64)
        src_c = routes.src_cluster[order]
        self.r_lat = np.asarray(noc.latency(src_c, self.r_dc), np.int64).reshape(-1)
        self.congested = noc.link_capacity is not None
        H = _pow2_at_least(int(self.r_lat.max()) + 1)
        if H * C > RING_MAX_ENTRIES:
            raise ValueError(f"a latency of up to {int(self.r_lat.max())} cycles on {C} clusters needs "
                             f"{H * C} ring entries (at most {RING_MAX_ENTRIES}); lower base_cycles / "
                             "hop_cycles or the mesh size")
        self.H = H
        rows, cols = noc.mesh
        n_nodes = rows * cols
        self.n_links = n_nodes * rk.DIRS
        if self.congested:
            cap, depth = noc.link_capacity, noc.queue_depth
            self.link_order = _link_order(rows, cols)
            # every FIFO full, every link's packets of one hop in transit, one cycle's injections
            self.pool_size = (len(self.link_order) * (depth + cap * (noc.hop_cycles + 1))
                              + len(routes) * 2 + 16)
            self.transit_size = noc.hop_cycles + 1
        else:
            cap = depth = 0
            self.link_order = np.zeros(0, np.int64)
            self.pool_size = 1
            self.transit_size = 1
        self._params = (noc.base_cycles, noc.hop_cycles, cap, depth, cols)
        self.clear()

    def clear(self) -> None:
        """No packet in flight, counters at zero."""
        C = self.r_start.size // N_DENDS
        self.ring_mask = np.zeros((self.H, C), np.uint32)
        self.ring_pk = np.zeros((self.H, C), np.int32)
        self.ring_list = np.zeros((self.H, C), np.int64)
        self.ring_n = np.zeros(self.H, np.int64)
        self.cnt = np.zeros(rk.N_COUNTERS, np.int64)
        base, hop, cap, depth, cols = self._params
        self.noc_i = np.array([base, hop, cap, depth, cols, 0, self.n_links, -1, -1], np.int64)
        self.links = np.full((5, self.n_links if self.congested else 1), -1, np.int64)
        self.links[rk.L_QLEN] = 0
        P = self.pool_size
        self.pool = np.zeros((7, P), np.int64)
        self.pool[rk.P_NEXT] = np.arange(1, P + 1)
        self.pool[rk.P_NEXT, P - 1] = -1
        self.transit = np.full((2, self.transit_size), -1, np.int64)

    def kernel_args(self) -> tuple:
        return (self.r_start, self.r_dc, self.r_dk, self.r_lat, self.congested, self.noc_i, self.links,
                self.pool, self.transit, self.link_order, self.ring_mask, self.ring_pk, self.ring_list,
                self.ring_n, self.cnt)

    def counters(self) -> np.ndarray:
        return self.cnt.copy()

    def counts_since(self, before: np.ndarray) -> dict:
        d = self.cnt - before
        return {"packets": int(d[rk.SENT]), "routed": int(d[rk.ROUTED]), "routed_merged": int(d[rk.MERGED]),
                "congestion_delayed": int(d[rk.DELAYED]), "congestion_delay_cycles": int(d[rk.DELAY_CYCLES]),
                "dropped_congestion": int(d[rk.DROPPED]), "in_flight": self.in_flight}

    @property
    def in_flight(self) -> int:
        return int(self.cnt[rk.PENDING] + self.cnt[rk.NOC_ALIVE])

    def get_state(self) -> dict:
        return {k: getattr(self, k).copy() for k in _DYNAMIC}

    def set_state(self, state: dict) -> None:
        for k in _DYNAMIC:
            if k not in state or np.shape(state[k]) != getattr(self, k).shape:
                raise ValueError(f"NoC state {k!r} is missing or has the wrong shape; take it with "
                                 "get_state() on a chip with the same routes and NoC")
        for k in _DYNAMIC:
            getattr(self, k)[...] = state[k]
