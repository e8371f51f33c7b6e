"""Network presets: what to write into the chip's MRAM (:class:`~bioloop.types.ChipProgram`).

Every preset gives C identical clusters (``random`` draws each cluster separately). Codes follow
``chip-model.md``: weight ``w`` and PSP reference ``r`` are 3-bit codes, the signed weight is
``s = w - r``, the threshold is ``theta = threshold_gen - threshold_ref`` (1..7), and a single
stimulus from rest fires iff ``s >= theta`` (``docs/chip-semantics.md``).

=========  =============================================================================
preset     what each of the 16 neurons (DEND columns) of a cluster does
=========  =============================================================================
relay      neuron n listens to AXON row n only (``s = theta = 5``); every other synapse
           ``s = 0``; no lateral inhibition.
burst:k    every neuron listens to all 16 rows with ``s = +1``; ``theta = k`` (1..7), so
           a neuron fires when at least k electrodes of its cluster fire in one cycle.
lateral    relay plus lateral inhibition of the columns n - 1 and n + 1.
random     seeded random codes (distribution in :func:`random_network`).
chain:L    relay codes in L clusters, and routes from every dend n of cluster c to AXON
           row n of cluster c + 1 (a feed-forward chain; :func:`chain`).
ring:L     the chain closed: cluster L - 1 routes back to cluster 0 (:func:`ring`).
recurrent  random codes with theta = 7 and random routes from every dend to 2 rows
           anywhere (:func:`recurrent`): activity follows the input.
file       ``.npz`` or ``.toml`` (formats in :func:`load_network`), routes included.
=========  =============================================================================

Routes (:class:`bioloop.chip.Routes`) carry a FIRE of (cluster, dend) to an AXON row of
another cluster (or the same one) some cycles later (``docs/chip-semantics.md``, "Routing between
clusters"); every preset but chain, ring and recurrent has none. In a session the electrodes
drive clusters 0, 1, ... (16 each): a chain or ring longer than that has internal clusters
that no electrode drives and whose FIREs stimulate nothing; routes onto rows that electrodes
drive need ``--allow-shared-rows``.

What the chip's dynamics add (docs/chip-semantics.md, default ChipConfig):

- relay: after a FIRE the neuron ignores input for N_ABS = 2 cycles and then restarts from
  V_RFR, from where ``s = theta`` does not fire until the leak has brought it within 250 mV
  of V_TH (10 cycles later): a relay passes at most one pulse per ~13 cycles per electrode.
- burst: the 16 neurons are identical, so a coincidence of k rows fires all 16 in the same
  cycle (16 FIREs, one per DEND; with the default stimulation map they ask for stimulation of
  the cluster's 16 electrodes). A sub-threshold sum is held and leaks 10 mV per cycle, so rows
  arriving over a few consecutive cycles also add up (for k = 3: two rows, then a third up to
  2 cycles later, fire).

Device mismatch (``Chip(mismatch=True)``, the default chip): firing needs ``sum(s) / theta``
above about 0.93 (V_REST, V_TH and the auto-zeroed comparator offset). Measured over 200
seeded chips (each row's s carries the cell-to-cell and mirror mismatch of its bits): the relay
(``s = theta = 5``) misses none of 3,200 neurons; ``burst:k`` with ``s = +1`` misses 2 % of
single-row events at k = 1, 0.5 % at k = 2, 0.2 % at k = 3 and none above, and fires on
(k-1)-row coincidences at most 1 % of the time (k = 7). With ``mismatch=False`` every preset
behaves exactly as described above.
"""

from __future__ import annotations

import re
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import tomli_w

from . import validate as _v
from .chip.config import CODE_MAX, K_AXONS, N_DENDS
from .chip.noc import Routes
from .types import ChipProgram

PRESETS = ("relay", "burst", "lateral", "random", "chain", "ring", "recurrent")
NETWORK_SUFFIXES = (".npz", ".toml")
NPZ_KEYS = ("weights", "psp_ref", "threshold_gen", "threshold_ref")
NPZ_OPTIONAL = ("lateral_neighbours", "routes")
RECURRENT_FANOUT = 2  #: random destinations per dend in ``recurrent``

#: relay codes: the paper's worked example (Fig. 5C-E): threshold gen 7, ref 2 -> theta = 5;
#: PSP reference 2 in every row; w = 7 gives s = +5 = theta, w = 2 gives s = 0.
RELAY_PSP_REF = 2
RELAY_THRESHOLD_GEN = 7
RELAY_THRESHOLD_REF = 2
BURST_DEFAULT_K = 3


def _n_clusters(n_clusters) -> int:
    return _v.integer("n_clusters", n_clusters, lo=1, hi=65_536)


def _lateral(value, where: str = "lateral_neighbours") -> tuple[int, ...]:
    """Validate a lateral neighbourhood: distinct non-zero column offsets in -15..15."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError(f"{where} must be a list of column offsets, got {value!r}")
    out = []
    for d in value:
        if isinstance(d, np.integer):
            d = int(d)
        d = _v.integer(f"{where} offset", d, lo=-(N_DENDS - 1), hi=N_DENDS - 1)
        if d == 0:
            raise ValueError(f"{where} may not contain 0 (a neuron is not its own neighbour)")
        if d in out:
            raise ValueError(f"{where} lists offset {d} twice")
        out.append(d)
    return tuple(out)


def relay(n_clusters: int = 1) -> ChipProgram:
    """Each AXON row k drives its own neuron k at ``s = theta``; nothing else; no lateral inhibition.

    Parameters
    ----------
    n_clusters : int
        Number of clusters C (>= 1).

    Returns
    -------
    ChipProgram
        ``w[c, k, k] = 7``, ``w = 2`` elsewhere, ``psp_ref = 2``, threshold gen 7 / ref 2.

    Examples
    --------
    >>> p = relay(2)
    >>> int(p.signed_weights[1, 4, 4]), int(p.signed_weights[1, 4, 5]), int(p.theta[0]), p.lateral_neighbours
    (5, 0, 5, ())
    """
    C = _n_clusters(n_clusters)
    w = np.full((C, K_AXONS, N_DENDS), RELAY_PSP_REF, np.int8)
    k = np.arange(min(K_AXONS, N_DENDS))
    w[:, k, k] = RELAY_PSP_REF + (RELAY_THRESHOLD_GEN - RELAY_THRESHOLD_REF)
    return ChipProgram(w, np.full((C, K_AXONS), RELAY_PSP_REF, np.int8),
                       np.full(C, RELAY_THRESHOLD_GEN, np.int8), np.full(C, RELAY_THRESHOLD_REF, np.int8),
                       (), "relay")


def lateral(n_clusters: int = 1, neighbours=(-1, 1)) -> ChipProgram:
    """The relay with lateral inhibition: a FIRE of neuron n pushes n - 1 and n + 1 to V_LAT.

    Parameters
    ----------
    n_clusters : int
    neighbours : sequence of int
        Column offsets inhibited by a firing neuron (default ``(-1, 1)``).

    Returns
    -------
    ChipProgram

    Examples
    --------
    >>> lateral(1).lateral_neighbours
    (-1, 1)
    """
    base = relay(n_clusters)
    nb = _lateral(neighbours)
    name = "lateral" if nb == (-1, 1) else f"lateral{list(nb)}"
    return ChipProgram(base.weights, base.psp_ref, base.threshold_gen, base.threshold_ref, nb, name)


def burst(n_clusters: int = 1, k: int = BURST_DEFAULT_K) -> ChipProgram:
    """Spatial summation: a neuron fires when at least ``k`` rows of its cluster are active.

    Every synapse has ``s = +1`` (``w = 1``, ``psp_ref = 0``) and the threshold is
    ``theta = k`` (gen ``k``, ref 0); all 16 neurons of a cluster listen to all 16 rows, so
    they are identical and fire together (see the module notes on temporal summation).

    Parameters
    ----------
    n_clusters : int
    k : int
        Coincident rows needed, 1..7 (theta is a 3-bit difference).

    Returns
    -------
    ChipProgram

    Raises
    ------
    ValueError
        ``k`` outside 1..7.

    Examples
    --------
    >>> p = burst(1, k=4)
    >>> int(p.theta[0]), int(p.signed_weights.min()), int(p.signed_weights.max())
    (4, 1, 1)
    """
    C = _n_clusters(n_clusters)
    k = _v.integer("burst k", k, lo=1, hi=CODE_MAX)
    return ChipProgram(np.ones((C, K_AXONS, N_DENDS), np.int8), np.zeros((C, K_AXONS), np.int8),
                       np.full(C, k, np.int8), np.zeros(C, np.int8), (), f"burst:{k}")


def random_network(n_clusters: int = 1, seed: int | None = None) -> ChipProgram:
    """Random codes, independently per cluster, from ``numpy.random.default_rng(seed)``.

    Distribution: every weight code uniform on 0..7; every row's PSP reference uniform on
    0..7 (so ``s = w - r`` lies in -7..7 with a triangular distribution, mean 0);
    ``threshold_ref`` uniform on 0..6 and then ``threshold_gen`` uniform on ref+1..7 (so
    theta is in 1..7, small values more likely); no lateral inhibition.

    Parameters
    ----------
    n_clusters : int
    seed : int, optional
        With ``None`` a fresh seed is drawn; it is recorded in the program's ``name``
        (``random:<seed>``) so the network can be rebuilt.

    Returns
    -------
    ChipProgram

    Examples
    --------
    >>> a, b = random_network(2, seed=7), random_network(2, seed=7)
    >>> bool((a.weights == b.weights).all()), a.name, bool((a.theta >= 1).all())
    (True, 'random:7', True)
    """
    C = _n_clusters(n_clusters)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    seed = _v.integer("seed", seed, lo=0)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, CODE_MAX + 1, (C, K_AXONS, N_DENDS)).astype(np.int8)
    r = rng.integers(0, CODE_MAX + 1, (C, K_AXONS)).astype(np.int8)
    tr = rng.integers(0, CODE_MAX, C)
    tg = rng.integers(tr + 1, CODE_MAX + 1)
    return ChipProgram(w, r, tg.astype(np.int8), tr.astype(np.int8), (), f"random:{seed}")


def _with(program: ChipProgram, routes: Routes, name: str) -> ChipProgram:
    return ChipProgram(program.weights, program.psp_ref, program.threshold_gen, program.threshold_ref,
                       program.lateral_neighbours, name, routes)


def _chain_length(length, n_clusters, what: str) -> tuple[int, int]:
    L = _v.integer(f"{what} length L", length, lo=1, hi=65_536)
    C = L if n_clusters is None else _n_clusters(n_clusters)
    if C < L:
        raise ValueError(f"{what}:{L} needs at least {L} clusters, got n_clusters = {C}")
    return L, C


def chain(length: int, n_clusters: int | None = None) -> ChipProgram:
    """A feed-forward chain of ``length`` relay clusters: every FIRE of (c, n) is an AXON input
    of row n of cluster c + 1 (``c < length - 1``).

    Parameters
    ----------
    length : int
        Clusters in the chain, L >= 1.
    n_clusters : int, optional
        Clusters of the chip (>= L, default L); clusters past the chain are plain relays.

    Returns
    -------
    ChipProgram
        Relay codes everywhere, ``16 (L - 1)`` routes.

    Raises
    ------
    ValueError
        L < 1, or fewer clusters than L.

    Examples
    --------
    >>> p = chain(3)
    >>> p.n_clusters, len(p.routes), p.routes.pairs()[0], p.name
    (3, 32, ((0, 0), (1, 0)), 'chain:3')
    """
    L, C = _chain_length(length, n_clusters, "chain")
    c, n = np.meshgrid(np.arange(L - 1), np.arange(N_DENDS), indexing="ij")
    routes = Routes(c.ravel(), n.ravel(), c.ravel() + 1, n.ravel())
    return _with(relay(C), routes, f"chain:{L}")


def ring(length: int, n_clusters: int | None = None) -> ChipProgram:
    """The chain closed into a ring: cluster L - 1 also routes to cluster 0 (``ring:1`` is a
    cluster routed onto itself). With relay codes a neuron that fired needs N_ABS cycles
    plus the leak back from V_RFR before ``s = theta`` fires it again (13 cycles with the
    defaults), so a spike keeps circling when the ring's latency is at least that long.

    Examples
    --------
    >>> p = ring(4)
    >>> len(p.routes), ((3, 7), (0, 7)) in p.routes.pairs()
    (64, True)
    """
    L, C = _chain_length(length, n_clusters, "ring")
    c, n = np.meshgrid(np.arange(L), np.arange(N_DENDS), indexing="ij")
    routes = Routes(c.ravel(), n.ravel(), (c.ravel() + 1) % L, n.ravel())
    return _with(relay(C), routes, f"ring:{L}")


def recurrent(n_clusters: int = 1, seed: int | None = None, fanout: int = RECURRENT_FANOUT) -> ChipProgram:
    """Random codes and random routes: weights and PSP references as :func:`random_network`
    with the same seed, threshold ``theta = 7`` (gen 7, ref 0) in every cluster, and every dend
    of every cluster sending to ``fanout`` distinct (cluster, row) drawn uniformly.

    With ``theta = 7`` a packet fires on average 16/64 neurons of its cluster from rest, so with
    ``fanout = 2`` a FIRE begets 0.5 packets' worth of FIREs: activity follows the input
    instead of running away (a lower theta makes the network fire on its own until most
    neurons are refractory).

    Parameters
    ----------
    n_clusters : int
    seed : int, optional
        With ``None`` a fresh seed is drawn and recorded in the name (``recurrent:<seed>``).
    fanout : int
        Destinations per dend, 1..16 C.

    Returns
    -------
    ChipProgram

    Examples
    --------
    >>> p = recurrent(4, seed=3)
    >>> len(p.routes), p.name
    (128, 'recurrent:3')
    """
    C = _n_clusters(n_clusters)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    seed = _v.integer("seed", seed, lo=0)
    fanout = _v.integer("fanout", fanout, lo=1, hi=C * K_AXONS)
    codes = random_network(C, seed)
    # theta = 7: a row fires a neuron from rest with probability P(s = 7) = 1/64, so one packet
    # makes 16/64 FIREs and 2 x 16/64 = 0.5 packets on average: a spike's descendants die out
    # and the activity follows the input (theta 6 would make 1.5 and run away)
    codes = ChipProgram(codes.weights, codes.psp_ref, np.full(C, CODE_MAX, np.int8), np.zeros(C, np.int8),
                        (), codes.name)
    rng = np.random.default_rng([seed, 1])
    # distinct destinations per source: a sample without replacement of the C*16 rows
    dst = np.stack([rng.choice(C * K_AXONS, fanout, replace=False) for _ in range(C * N_DENDS)])
    src = np.repeat(np.arange(C * N_DENDS), fanout)
    dst = dst.ravel()
    routes = Routes(src // N_DENDS, src % N_DENDS, dst // K_AXONS, dst % K_AXONS)
    return _with(codes, routes, f"recurrent:{seed}")


def clusters_needed(spec: str) -> int:
    """Fewest clusters the network ``spec`` needs (``chain:L`` / ``ring:L``: L; otherwise 1).

    Examples
    --------
    >>> clusters_needed("chain:5"), clusters_needed("relay")
    (5, 1)
    """
    m = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if m and m["name"] in ("chain", "ring") and m["arg"] and m["arg"].isdigit():
        return max(int(m["arg"]), 1)
    return 1


# ---- files --------------------------------------------------------------------------------

def _fit_clusters(arrays: dict, n_clusters: int, origin: str) -> dict:
    """One cluster in the file is copied to every cluster; otherwise C must match.

    One cluster may also be given without the cluster axis: weights (16, 16), psp_ref (16,),
    scalar thresholds.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if arrays["weights"].ndim == 2:
        ndim = {"weights": 2, "psp_ref": 1, "threshold_gen": 0, "threshold_ref": 0}
        for k, nd in ndim.items():
            if arrays[k].ndim != nd:
                raise ValueError(f"{origin}: weights of one cluster (2-D) need {k} with {nd} "
                                 f"dimension(s), got shape {arrays[k].shape}")
        arrays = {k: v[None] for k, v in arrays.items()}
    w = arrays["weights"]
    if w.ndim != 3:
        raise ValueError(f"{origin}: weights has shape {w.shape}; expected (16, 16) or (C, 16, 16)")
    c_file = w.shape[0]
    if c_file == n_clusters:
        return arrays
    if c_file == 1:
        return {k: np.repeat(v, n_clusters, axis=0) if v.ndim else v for k, v in arrays.items()}
    raise ValueError(f"{origin} holds {c_file} clusters but {n_clusters} are needed; give 1 cluster "
                     f"(copied to all) or exactly {n_clusters}")


def _routes_of(value, origin: str) -> Routes:
    """Routes from an (R, 4) table of ``src_cluster, src_dend, dst_cluster, dst_axon``."""
    if value is None:
        return Routes()
    try:
        arr = np.array(value)
    except ValueError as exc:  # ragged lists
        raise ValueError(f"{origin}: routes is not a rectangular (R, 4) table of integers ({exc})") from None
    if arr.size == 0:
        return Routes()
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{origin}: routes has shape {arr.shape}; expected (R, 4) rows of "
                         "src_cluster, src_dend, dst_cluster, dst_axon")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{origin}: routes must hold integers, got {arr.dtype}")
    return Routes(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def _program(arrays: dict, lateral_nb, n_clusters: int, origin: str, name: str, routes=None) -> ChipProgram:
    try:
        nb = _lateral(lateral_nb)
        r = _routes_of(routes, origin)
        arrays = _fit_clusters(arrays, n_clusters, origin)
        return ChipProgram(arrays["weights"], arrays["psp_ref"], arrays["threshold_gen"],
                           arrays["threshold_ref"], nb, name, r)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(origin) else f"{origin}: {msg}") from None


def load_network(path, n_clusters: int) -> ChipProgram:
    """Read a network from ``.npz`` or ``.toml``.

    ``.npz`` (read with ``allow_pickle=False``): arrays ``weights`` (C, 16, 16) or (16, 16),
    ``psp_ref`` (C, 16) or (16,), ``threshold_gen`` and ``threshold_ref`` (C,) or scalars, all
    integer codes 0..7; optional ``lateral_neighbours`` (1-D ints) and ``routes`` (R, 4) ints,
    one row ``src_cluster, src_dend, dst_cluster, dst_axon`` per route. No other keys.

    ``.toml``::

        [network]
        lateral_neighbours = [-1, 1]      # optional, default [] (no lateral inhibition)
        routes = [[0, 3, 1, 3], ...]      # optional: [src_cluster, src_dend, dst_cluster, dst_axon]

        [[network.cluster]]               # once, or once per cluster
        weights = [[2, 2, ...], ...]      # 16 AXON rows x 16 DEND columns
        psp_ref = [2, 2, ...]             # 16 codes, one per AXON row
        threshold_gen = 7
        threshold_ref = 2

    A file holding one cluster is copied to all ``n_clusters``; otherwise it must hold
    exactly ``n_clusters``. A missing ``lateral_neighbours`` means none.

    Parameters
    ----------
    path : str or Path
    n_clusters : int

    Returns
    -------
    ChipProgram
        Named ``file:<file name>``.

    Raises
    ------
    ValueError
        Missing, damaged or malformed file, codes outside 0..7, theta < 1, wrong shapes,
        unknown keys, a cluster count that does not fit, routes of the wrong shape or to a
        cluster / row that does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "net.npz"
    >>> save_network(relay(1), p)
    >>> q = load_network(p, n_clusters=3)
    >>> q.n_clusters, bool((q.weights == relay(3).weights).all())
    (3, True)
    """
    C = _n_clusters(n_clusters)
    path = Path(path)
    suffix = path.suffix.lower()
    origin = f"network file {str(path)!r}"
    if suffix not in NETWORK_SUFFIXES:
        raise ValueError(f"{origin}: unknown suffix {suffix or '(none)'!r}; use .npz or .toml")
    if not path.is_file():
        raise ValueError(f"{origin} does not exist")
    name = f"file:{path.name}"
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{origin} is damaged or not an .npz of plain arrays ({exc})") from None
        missing = [k for k in NPZ_KEYS if k not in data]
        unknown = sorted(set(data) - set(NPZ_KEYS) - set(NPZ_OPTIONAL))
        if missing or unknown:
            raise ValueError(f"{origin} has keys {sorted(data)}; it needs {list(NPZ_KEYS)} and may "
                             f"have {list(NPZ_OPTIONAL)}, nothing else")
        nb = data.get("lateral_neighbours", np.zeros(0, np.int64))
        if nb.ndim != 1:
            raise ValueError(f"{origin}: lateral_neighbours must be 1-D, got shape {nb.shape}")
        if nb.size and not np.issubdtype(nb.dtype, np.integer):
            raise ValueError(f"{origin}: lateral_neighbours must hold integers, got dtype {nb.dtype}")
        return _program({k: data[k] for k in NPZ_KEYS}, nb.tolist(), C, origin, name, data.get("routes"))
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{origin} is not valid TOML: {exc}") from None
    net = doc.get("network")
    if not isinstance(net, dict):
        raise ValueError(f"{origin} has no [network] table")
    unknown = sorted(set(net) - {"lateral_neighbours", "cluster", "name", "routes"})
    if unknown:
        raise ValueError(f"{origin}: unknown [network] key(s) {unknown}; valid: "
                         "cluster, lateral_neighbours, name, routes")
    clusters = net.get("cluster")
    if not isinstance(clusters, list) or not clusters:
        raise ValueError(f"{origin} has no [[network.cluster]] tables")
    arrays: dict[str, list] = {k: [] for k in NPZ_KEYS}
    for i, cl in enumerate(clusters):
        keys = sorted(cl) if isinstance(cl, dict) else None
        if keys != sorted(NPZ_KEYS):
            raise ValueError(f"{origin}: [[network.cluster]] #{i + 1} has keys {keys}; expected "
                             f"exactly {list(NPZ_KEYS)}")
        for k in NPZ_KEYS:
            arrays[k].append(_toml_codes(cl[k], f"{origin}: cluster #{i + 1} {k}"))
    try:
        stacked = {k: np.stack(v) for k, v in arrays.items()}
    except ValueError as exc:
        raise ValueError(f"{origin}: clusters differ in shape ({exc})") from None
    return _program(stacked, net.get("lateral_neighbours", []), C, origin, name, net.get("routes"))


def _toml_codes(value, where: str) -> np.ndarray:
    try:
        arr = np.array(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{where} is not a rectangular array of integers ({exc})") from None
    if arr.dtype == object or (arr.size and not np.issubdtype(arr.dtype, np.integer)) or arr.dtype == bool:
        raise ValueError(f"{where} must hold integer codes 0..7, got {value!r:.80}")
    return arr.astype(np.int64)


def save_network(program: ChipProgram, path) -> None:
    """Write ``program`` to ``.npz`` (no pickle) or ``.toml``, readable by :func:`load_network`.

    Raises
    ------
    TypeError
        ``program`` is not a ChipProgram.
    ValueError
        An unknown suffix.
    """
    if not isinstance(program, ChipProgram):
        raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with open(path, "wb") as fh:
            np.savez(fh, weights=program.weights, psp_ref=program.psp_ref,
                     threshold_gen=program.threshold_gen, threshold_ref=program.threshold_ref,
                     lateral_neighbours=np.asarray(program.lateral_neighbours, np.int64),
                     routes=_route_table(program.routes))
    elif suffix == ".toml":
        clusters = [{"weights": program.weights[c].astype(int).tolist(),
                     "psp_ref": program.psp_ref[c].astype(int).tolist(),
                     "threshold_gen": int(program.threshold_gen[c]),
                     "threshold_ref": int(program.threshold_ref[c])} for c in range(program.n_clusters)]
        doc = {"network": {"name": program.name,
                           "lateral_neighbours": list(program.lateral_neighbours),
                           "routes": _route_table(program.routes).tolist(),
                           "cluster": clusters}}
        path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    else:
        raise ValueError(f"cannot save a network as {suffix or '(no suffix)'!r}; use .npz or .toml")


def _route_table(routes: Routes) -> np.ndarray:
    return np.stack([routes.src_cluster, routes.src_dend, routes.dst_cluster, routes.dst_axon],
                    axis=1).astype(np.int64).reshape(-1, 4)


# ---- by name ------------------------------------------------------------------------------

_SPEC = re.compile(r"^(?P<name>[a-z]+)(?::(?P<arg>.*))?$")


def network_from_name(spec: str, n_clusters: int, seed: int | None = None) -> ChipProgram:
    """A network from a CLI-style spec: ``relay``, ``burst``, ``burst:K``, ``lateral``,
    ``random``, ``random:SEED``, ``chain:L``, ``ring:L``, ``recurrent``, ``recurrent:SEED``, or a
    path to a ``.npz`` / ``.toml`` file.

    Parameters
    ----------
    spec : str
    n_clusters : int
    seed : int, optional
        Seed of ``random`` (``random:SEED`` gives it too; both must then agree).

    Returns
    -------
    ChipProgram

    Raises
    ------
    TypeError
        ``spec`` is not a string.
    ValueError
        An unknown name (the message lists the valid ones), a bad parameter, or a bad file.

    Examples
    --------
    >>> network_from_name("burst:4", 2).name
    'burst:4'
    >>> network_from_name("relay", 1).lateral_neighbours
    ()
    """
    if not isinstance(spec, str):
        raise TypeError(f"network must be a name or a file path (str), got {spec!r}")
    C = _n_clusters(n_clusters)
    valid = ("relay, burst (burst:K with K in 1..7, default 3), lateral, random (random:SEED), "
             "chain:L, ring:L, recurrent (recurrent:SEED), or a .npz / .toml file")
    text = spec.strip()
    if text.lower().endswith(NETWORK_SUFFIXES) or "/" in text or "\\" in text:
        return load_network(Path(text), C)
    m = _SPEC.match(text)
    if m is None or m["name"] not in PRESETS:
        raise ValueError(f"unknown network {spec!r}; valid: {valid}")
    name, arg = m["name"], m["arg"]
    if name in ("relay", "lateral") and arg is not None:
        raise ValueError(f"network {name!r} takes no parameter, got {spec!r}")
    if name == "relay":
        return relay(C)
    if name == "lateral":
        return lateral(C)
    if name == "burst":
        if arg is None:
            return burst(C)
        if not re.fullmatch(r"\d+", arg):
            raise ValueError(f"burst parameter must be an integer K in 1..{CODE_MAX}, got {arg!r}")
        return burst(C, int(arg))
    if name in ("chain", "ring"):
        if arg is None or not re.fullmatch(r"\d+", arg) or int(arg) < 1:
            raise ValueError(f"{name} needs a length, {name}:L with an integer L >= 1, got {spec!r}")
        return (chain if name == "chain" else ring)(int(arg), C)
    if arg is not None:
        if not re.fullmatch(r"\d+", arg):
            raise ValueError(f"{name} parameter must be a non-negative integer seed, got {arg!r}")
        if seed is not None and int(arg) != seed:
            raise ValueError(f"network {spec!r} names seed {arg} but seed = {seed} was also given")
        seed = int(arg)
    return random_network(C, seed) if name == "random" else recurrent(C, seed)

