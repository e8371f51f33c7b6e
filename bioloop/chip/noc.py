"""Packet routing between clusters: the routing table (:class:`Routes`) and the 2-D mesh
Network-on-Chip (:class:`NocConfig`).

The paper (Lee et al., Front. Neurosci. 19:1599144, 2025, sections 2.1.1 and 4) says only
that clusters tile through TX / router / RX blocks with packet-based routing on a NoC; every
detail here is ours and written down in ``docs/chip-semantics.md`` ("Routing between clusters"):

- a FIRE of (cluster ``a``, dend ``n``) in cycle ``t`` leaves through TX as one packet per route
  of ``(a, n)``; each is an AXON input of (cluster ``b``, row ``k``) in cycle ``t + latency``;
- ``latency = base_cycles + hops * hop_cycles`` with ``hops`` the Manhattan distance of the two
  clusters on the mesh (dimension-order XY routing), cluster ``c`` sitting at mesh row
  ``c // cols``, column ``c % cols``;
- optionally each directed link carries at most ``link_capacity`` packets per cycle, with a FIFO
  of ``queue_depth`` packets in front of it; a packet that finds the FIFO full is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import validate as _v
from .config import K_AXONS, N_DENDS

ROUTE_FIELDS = ("src_cluster", "src_dend", "dst_cluster", "dst_axon")
DEFAULT_QUEUE_DEPTH = 16
MAX_CLUSTERS = 65_536


def _route_array(name: str, value, hi: int | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"routes {name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"routes {name} must hold integers, got dtype {arr.dtype}")
    lo_bad = arr < 0
    hi_bad = arr > hi if hi is not None else np.zeros(arr.shape, bool)
    if np.any(lo_bad | hi_bad):
        i = int(np.flatnonzero(lo_bad | hi_bad)[0])
        valid = f"0..{hi}" if hi is not None else ">= 0"
        raise ValueError(f"route {i}: {name} = {int(arr[i])} is outside the valid range {valid}")
    return arr.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Routes:
    """The routing table: route ``i`` sends every FIRE of (``src_cluster[i]``, ``src_dend[i]``)
    to AXON row ``dst_axon[i]`` of cluster ``dst_cluster[i]``.

    Immutable (the arrays are read-only) and validated; empty by default. A source may have any
    number of destinations and a row any number of sources; a route may close a loop (a ring of
    clusters, a cluster onto itself). The same (source, destination) pair twice is refused.
    Whether the clusters exist is checked against a chip with :meth:`check`.

    Parameters
    ----------
    src_cluster, src_dend, dst_cluster, dst_axon : array_like of int, (R,)
        Dends and axons are 0..15; clusters >= 0.

    Raises
    ------
    TypeError
        Arrays that do not hold integers.
    ValueError
        Arrays of different lengths or not 1-D, values out of range, a duplicate route.

    Examples
    --------
    >>> from bioloop.chip import Routes
    >>> r = Routes.from_pairs([((0, 3), (1, 3)), ((1, 3), (0, 5))])
    >>> len(r), r.pairs()
    (2, [((0, 3), (1, 3)), ((1, 3), (0, 5))])
    >>> len(Routes())
    0
    """

    src_cluster: np.ndarray = None  # type: ignore[assignment]
    src_dend: np.ndarray = None  # type: ignore[assignment]
    dst_cluster: np.ndarray = None  # type: ignore[assignment]
    dst_axon: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self):
        his = {"src_cluster": MAX_CLUSTERS - 1, "src_dend": N_DENDS - 1,
               "dst_cluster": MAX_CLUSTERS - 1, "dst_axon": K_AXONS - 1}
        arrays = {}
        for name in ROUTE_FIELDS:
            value = getattr(self, name)
            arrays[name] = _route_array(name, np.zeros(0, np.int64) if value is None else value, his[name])
        lens = {k: v.size for k, v in arrays.items()}
        if len(set(lens.values())) > 1:
            raise ValueError(f"routes arrays must have equal lengths, got {lens}")
        key = self._key_of(arrays)
        if key.size > 1:
            order = np.argsort(key, kind="stable")
            dup = np.flatnonzero(key[order][1:] == key[order][:-1])
            if dup.size:
                i, j = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
                raise ValueError(f"routes {i} and {j} are the same route "
                                 f"{_fmt_pair(arrays, i)}; list each route once")
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @staticmethod
    def _key_of(arrays) -> np.ndarray:
        return (((arrays["src_cluster"] * N_DENDS + arrays["src_dend"]) * MAX_CLUSTERS
                 + arrays["dst_cluster"]) * K_AXONS + arrays["dst_axon"])

    @classmethod
    def from_pairs(cls, pairs) -> Routes:
        """Routes from ``[((src_cluster, src_dend), (dst_cluster, dst_axon)), ...]``.

        Raises
        ------
        TypeError, ValueError
            A pair that is not ``((a, n), (b, k))`` of integers, or values out of range.

        Examples
        --------
        >>> Routes.from_pairs([((0, 0), (0, 1))]).dst_axon.tolist()
        [1]
        """
        if isinstance(pairs, str | bytes) or not hasattr(pairs, "__iter__"):
            raise TypeError(f"route pairs must be a list of ((cluster, dend), (cluster, axon)), got {pairs!r}")
        rows = []
        for i, p in enumerate(pairs):
            try:
                (a, n), (b, k) = p
            except (TypeError, ValueError):
                raise ValueError(f"route pair {i} is {p!r}; expected ((src_cluster, src_dend), "
                                 "(dst_cluster, dst_axon))") from None
            rows.append(tuple(_v.integer(f"route pair {i} {nm}", x) for nm, x in
                              zip(ROUTE_FIELDS, (a, n, b, k), strict=True)))
        arr = np.array(rows, np.int64).reshape(-1, 4)
        return cls(*(arr[:, j] for j in range(4)))

    def __len__(self) -> int:
        return int(self.src_cluster.size)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Routes):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in ROUTE_FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = self.pairs()[:4]
        more = f", ... ({len(self)} routes)" if len(self) > 4 else ""
        return f"Routes({head}{more})" if len(self) else "Routes()"

    def pairs(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """The routes as ``[((src_cluster, src_dend), (dst_cluster, dst_axon)), ...]``."""
        return [((int(a), int(n)), (int(b), int(k))) for a, n, b, k in
                zip(self.src_cluster, self.src_dend, self.dst_cluster, self.dst_axon, strict=True)]

    def arrays(self) -> dict[str, np.ndarray]:
        """The four arrays by name (copies)."""
        return {n: getattr(self, n).copy() for n in ROUTE_FIELDS}

    def check(self, n_clusters: int) -> Routes:
        """Check that every route's clusters exist on a chip of ``n_clusters``; returns self.

        Raises
        ------
        ValueError
            Naming the first route to or from a cluster that does not exist.

        Examples
        --------
        >>> Routes.from_pairs([((0, 0), (2, 0))]).check(2)
        Traceback (most recent call last):
        ...
        ValueError: route 0 ((0, 0) -> (2, 0)): dst_cluster = 2 does not exist; this chip has clusters 0..1
        """
        C = _v.integer("n_clusters", n_clusters, lo=1, hi=MAX_CLUSTERS)
        for name in ("src_cluster", "dst_cluster"):
            bad = np.flatnonzero(getattr(self, name) >= C)
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"route {i} ({_fmt_pair(self.arrays(), i, arrow=True)}): {name} = "
                                 f"{int(getattr(self, name)[i])} does not exist; this chip has "
                                 f"clusters 0..{C - 1}")
        return self

    def destinations(self) -> np.ndarray:
        """Distinct (cluster, axon) rows that routes drive, as an (M, 2) int array."""
        rows = np.stack([self.dst_cluster, self.dst_axon], axis=1)
        return np.unique(rows, axis=0) if rows.size else rows.reshape(0, 2)

    def sources(self) -> np.ndarray:
        """Distinct (cluster, dend) that send packets, as an (M, 2) int array."""
        rows = np.stack([self.src_cluster, self.src_dend], axis=1)
        return np.unique(rows, axis=0) if rows.size else rows.reshape(0, 2)

    def table(self, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
        """Routes grouped by source, for the engines: ``(start, order)`` with the routes of
        source ``s = 16 a + n`` at ``order[start[s]:start[s + 1]]`` (in the order given)."""
        src = self.src_cluster * N_DENDS + self.src_dend
        order = np.argsort(src, kind="stable").astype(np.int64)
        start = np.zeros(n_clusters * N_DENDS + 1, np.int64)
        np.add.at(start, src + 1, 1)
        return np.cumsum(start), order


def _fmt_pair(arrays, i, arrow=False) -> str:
    a, n, b, k = (int(arrays[f][i]) for f in ROUTE_FIELDS)
    return f"({a}, {n}) -> ({b}, {k})" if arrow else f"(({a}, {n}), ({b}, {k}))"


def squarest_mesh(n_clusters: int) -> tuple[int, int]:
    """The squarest ``(rows, cols)`` mesh that holds ``n_clusters`` (cols >= rows).

    Examples
    --------
    >>> squarest_mesh(16), squarest_mesh(5), squarest_mesh(1), squarest_mesh(256)
    ((4, 4), (2, 3), (1, 1), (16, 16))
    """
    C = _v.integer("n_clusters", n_clusters, lo=1, hi=MAX_CLUSTERS)
    cols = math.isqrt(C - 1) + 1 if C > 1 else 1
    return (-(-C // cols), cols)


def parse_mesh(text: str) -> tuple[int, int]:
    """``"RxC"`` (e.g. ``"4x4"``) as ``(rows, cols)``.

    Raises
    ------
    ValueError
        Text that is not two positive integers joined by ``x``.

    Examples
    --------
    >>> parse_mesh("2x8")
    (2, 8)
    """
    parts = str(text).lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or min(int(p) for p in parts) < 1:
        raise ValueError(f"mesh {text!r} is not ROWSxCOLS with positive integers (e.g. 4x4)")
    return (int(parts[0]), int(parts[1]))


@dataclass(frozen=True)
class NocConfig:
    """The 2-D mesh Network-on-Chip that carries packets between clusters.

    Parameters
    ----------
    mesh : (int, int), optional
        ``(rows, cols)`` of routers; cluster ``c`` sits at row ``c // cols``, column
        ``c % cols``. ``None``: the squarest mesh that holds the chip's clusters.
    base_cycles : int
        Cycles from a FIRE to its packets' AXON inputs without hops (TX, router, RX); >= 1,
        since a FIRE is decided after the cycle's input was sampled.
    hop_cycles : int
        Cycles added per mesh hop (>= 0).
    link_capacity : int, optional
        Packets one directed link carries per cycle (>= 1); ``None``: unlimited.
    queue_depth : int
        Packets that may wait in the FIFO in front of each link (>= 0, default 16); only with
        a capacity.

    Raises
    ------
    TypeError, ValueError
        Naming the value and its valid range.

    Examples
    --------
    >>> from bioloop.chip import NocConfig
    >>> noc = NocConfig(mesh=(4, 4), hop_cycles=2)
    >>> noc.hops(0, 15), noc.latency(0, 15)
    (6, 13)
    >>> NocConfig().resolve(16).mesh
    (4, 4)
    """

    mesh: tuple[int, int] | None = None
    base_cycles: int = 1
    hop_cycles: int = 0
    link_capacity: int | None = None
    queue_depth: int = DEFAULT_QUEUE_DEPTH

    def __post_init__(self):
        if self.mesh is not None:
            m = self.mesh
            if isinstance(m, str):
                m = parse_mesh(m)
            if not isinstance(m, tuple | list) or len(m) != 2:
                raise ValueError(f"mesh must be (rows, cols), got {self.mesh!r}")
            m = (_v.integer("mesh rows", m[0], lo=1, hi=MAX_CLUSTERS),
                 _v.integer("mesh cols", m[1], lo=1, hi=MAX_CLUSTERS))
            if m[0] * m[1] > MAX_CLUSTERS:
                raise ValueError(f"mesh {m[0]}x{m[1]} has more than {MAX_CLUSTERS} routers")
            object.__setattr__(self, "mesh", m)
        object.__setattr__(self, "base_cycles", _v.integer("base_cycles", self.base_cycles, lo=1, hi=10_000))
        object.__setattr__(self, "hop_cycles", _v.integer("hop_cycles", self.hop_cycles, lo=0, hi=10_000))
        if self.link_capacity is not None:
            object.__setattr__(self, "link_capacity",
                               _v.integer("link_capacity", self.link_capacity, lo=1, hi=1_000_000))
        object.__setattr__(self, "queue_depth", _v.integer("queue_depth", self.queue_depth, lo=0, hi=1_000_000))

    def resolve(self, n_clusters: int) -> NocConfig:
        """This config with the mesh fixed for a chip of ``n_clusters``.

        Raises
        ------
        ValueError
            A mesh too small for ``n_clusters``.
        """
        C = _v.integer("n_clusters", n_clusters, lo=1, hi=MAX_CLUSTERS)
        if self.mesh is None:
            return NocConfig(squarest_mesh(C), self.base_cycles, self.hop_cycles, self.link_capacity,
                             self.queue_depth)
        r, c = self.mesh
        if r * c < C:
            raise ValueError(f"mesh {r}x{c} holds {r * c} cluster{'s' if r * c != 1 else ''} but the chip has {C}; use a mesh "
                             f"of at least {C} routers (e.g. {'x'.join(map(str, squarest_mesh(C)))})")
        return self

    def position(self, cluster) -> tuple[np.ndarray, np.ndarray]:
        """(mesh row, mesh column) of cluster index(es); needs a resolved mesh."""
        if self.mesh is None:
            raise ValueError("NocConfig.mesh is not set: call resolve(n_clusters) first")
        c = np.asarray(cluster, np.int64)
        return c // self.mesh[1], c % self.mesh[1]

    def hops(self, a, b):
        """Mesh hops from cluster ``a`` to ``b`` under XY routing (Manhattan distance)."""
        ra, ca = self.position(a)
        rb, cb = self.position(b)
        h = np.abs(ra - rb) + np.abs(ca - cb)
        return int(h) if h.ndim == 0 else h

    def latency(self, a, b):
        """Cycles from a FIRE of cluster ``a`` to its AXON input in ``b`` (no congestion)."""
        h = self.hops(a, b)
        return self.base_cycles + h * self.hop_cycles

    def to_dict(self) -> dict:
        return {"mesh": list(self.mesh) if self.mesh else None, "base_cycles": self.base_cycles,
                "hop_cycles": self.hop_cycles, "link_capacity": self.link_capacity,
                "queue_depth": self.queue_depth}
