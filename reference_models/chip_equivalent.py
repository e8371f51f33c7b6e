"""The chip-equivalent reference: a Brian2 network with the chip model's cycle semantics.

Written from ``docs/chip-semantics.md`` (not from ``bioloop.chip``'s code); only
:class:`~bioloop.chip.ChipConfig` and its derived quantities are shared. With device mismatch
off it gives exactly the spikes of :class:`bioloop.backends.chip.ChipBackend` with
``mismatch=False``, on any input and any network.

The Brian2 network
------------------
``dt`` is one GCLK period. For ``C`` clusters:

- a ``SpikeGeneratorGroup`` of ``16 C`` AXON rows (index ``16 c + k``) emits each distinct
  pulse at its cycle;
- ``Synapses`` from every row to every DEND column of its cluster (``16 x 16`` per cluster)
  carry the PSP step ``G`` of the signed weight and count the cluster's active rows in
  ``n_act`` (a neuron whose cluster has an active row integrates even where ``s = 0``);
- a ``NeuronGroup`` of ``16 C`` LIF neurons holds ``v`` (held voltage), ``p`` (SWLEAK pulses
  owed) and ``a`` (absolute-refractory cycles left);
- ``Synapses`` between lateral neighbours (the program's ``lateral_neighbours``) flag ``lat``.

Brian2's schedule is ``start, groups, thresholds, synapses, resets, end``; the input
generator emits in ``thresholds`` and the pathway delivers in ``synapses``, i.e. after the
default threshold check. The model therefore moves its cycle logic behind the input:

1. ``before_synapses``: ``acc = toward(v, p L)`` (custom code block via ``run_regularly``).
2. ``synapses``: each active row adds its ``G`` to ``acc`` and counts itself in ``n_act``.
3. ``after_synapses``, order 0: the cycle code ``vi = clip(acc, 0, V_DD)`` for neurons of
   an active cluster that are not refractory; updates ``p`` and ``a``; counts a refractory
   neuron-cycle as ``ignored_refractory`` when an active row has ``s != 0`` onto it.
4. ``after_synapses``, order 1: the threshold ``integ == 1 and vi >= V_TH``.
5. ``resets``: ``v = V_RFR, p = 0, a = N_ABS``.
6. ``after_resets``: the lateral pathway flags neighbours of this cycle's fires; ``end``:
   flagged neighbours that did not fire get ``v = V_LAT, p = 0``.

Everything is plain Brian2 abstract code (no ``NetworkOperation``), so the model also runs
in C++ standalone mode.

Routes between clusters
-----------------------
With routes (``ChipProgram.routes``, latencies from the backend's ``NocConfig``; unlimited links
only) the AXON rows become a ``NeuronGroup`` of ``16 C`` row units with a flag ``hit``:

- in ``synapses`` (order 0) the generator sets ``hit = 1`` of its row, and ``Synapses`` from each
  routed DEND to its destination row do the same with a synaptic delay of ``latency - 1``
  whole cycles (this pathway runs before the DEND threshold of its step, so it pushes the
  FIREs of the previous cycle: a FIRE in ``t`` arrives in ``t + latency``);
- in ``synapses`` (order 1) every row with ``hit > 0`` spikes once (an OR: an electrode and a
  packet, or two packets, make one pulse) and its reset clears ``hit``;
- in ``synapses`` (order 2) the row units' spikes drive the ``16 x 16`` synapses onto the DEND
  columns as the generator does without routes (rows in increasing order).

Packets still in flight at the end of an :meth:`evolve` call (due at or after its last cycle)
are kept and fed to the next call through the generator.

Floating-point order (what exactness needs)
-------------------------------------------
- Currents are built from cells as the semantics page's mismatch section says: bit ``i`` of
  the synapse code and of the row's PSP reference are cells of current ``V_READ / R_P``
  (set) or ``V_READ / R_AP`` (clear) that meet at the bit's mirror (x 2**i), so
  ``I_syn = (d_0 + 2 d_1) + 4 d_2`` with ``d_i = I(w_i) - I(r_i)``, added in bit order;
  ``I_TH`` likewise from the threshold gen and ref cells, not ``theta alpha``. These are
  equal in exact arithmetic but round differently, and a PSP step one ulp off turns
  threshold ties (``V_RFR + 350 mV = V_TH``, ``540 mV + 300 mV + 10 mV``...) into
  different decisions.
- ``G = ((I_syn current_scale) T_integ) / C_INT`` with
  ``T_integ = (C_TWG (V_TH - V_CM_TWG)) / (I_TH current_scale)``, computed once in NumPy
  float64 and passed as the synaptic weight.
- The active rows' ``G`` are added one at a time, in increasing row order, onto
  ``toward(v, p L)``: ``vi = ((toward + G_a) + G_b) + ...`` (not ``toward + (G_a + G_b)``),
  then clipped. (The semantics page says "rows summed in increasing row order"; that the
  sum starts from ``toward`` was established by testing against the chip model.) Brian2
  delivers the synaptic events of one step in the order of the
  generator's spikes (sorted by row) and of the synapses (created row by row), and applies
  ``acc_post += G`` sequentially on every target.
- ``toward(v, p L)`` is ``min(v + p L, V_REST)`` below rest and ``max(v - p L, V_REST)``
  above, with the product ``p L`` rounded once.
- Selections between two values are written ``c x + (1 - c) y`` with ``c`` in {0, 1}, which
  is exact for finite values, and every statement holds at most one rounding-relevant
  addition so that Brian2's sympy round trip cannot re-associate it.
- Compiled targets run without ``-ffast-math`` and with ``-ffp-contract=off`` (no FMA), see
  :mod:`bioloop.reference_models.brian2_target`.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np

from bioloop.chip.config import K_AXONS, N_BITS, N_DENDS
from bioloop.types import ChipProgram

from ._cycle_backend import CycleBatchBackend, Pulses, unique_pulses  # noqa: F401 (public here)
from .brian2_target import brian2_run, run_network

P_CAP = 2**30  #: owed leak pulses are capped here (int32 in Brian2); saturated long before


def net_current(config, codes, ref_codes) -> np.ndarray:
    """Net current of 3-bit codes against reference codes, subtracted bit by bit.

    Bit ``i`` of each code is one cell (P if set, else AP) of current ``V_READ / R``; the
    code's cell and the reference's cell of that bit meet at the bit's mirror (x 2**i), so
    ``I = sum_i 2**i (I(code_i) - I(ref_i))``, added in bit order ``(d_0 + 2 d_1) + 4 d_2``
    (``docs/chip-semantics.md``, Mismatch). Nominally ``(code - ref) alpha``.

    Examples
    --------
    >>> from bioloop.chip import ChipConfig
    >>> round(float(net_current(ChipConfig(), 6, 2)) * 1e6, 9)  # (6 - 2) alpha, uA
    8.0
    """
    codes = np.asarray(codes, dtype=np.int64)
    ref = np.asarray(ref_codes, dtype=np.int64)
    i_p, i_ap = config.v_read / config.r_p, config.v_read / config.r_ap
    total = np.zeros(np.broadcast_shapes(codes.shape, ref.shape))
    for i in range(N_BITS):
        d = np.where((codes >> i) & 1, i_p, i_ap) - np.where((ref >> i) & 1, i_p, i_ap)
        total = total + d * float(2**i)
    return total


def psp_steps(config, program: ChipProgram) -> np.ndarray:
    """PSP step ``G`` (volts) of every (cluster, row, column) with nominal devices.

    ``G = ((I_syn current_scale) T_integ) / C_INT`` with ``I_syn = net_current(w, r)``,
    ``T_integ = (C_TWG (V_TH - V_CM_TWG)) / (I_TH current_scale)`` and
    ``I_TH = net_current(gen, ref)`` (:func:`net_current`); nominally
    ``G = s / theta * 250 mV``.

    Examples
    --------
    >>> from bioloop.chip import ChipConfig
    >>> from bioloop.types import ChipProgram
    >>> w = np.zeros((1, 16, 16), int); w[0, 0, 0] = 6
    >>> prog = ChipProgram(w, np.full((1, 16), 2), np.array([7]), np.array([2]))
    >>> round(float(psp_steps(ChipConfig(), prog)[0, 0, 0]), 9)  # s/theta = 4/5 of 250 mV
    0.2
    """
    i_syn = net_current(config, program.weights, program.psp_ref[:, :, None])
    i_th = net_current(config, program.threshold_gen, program.threshold_ref)
    t_integ = config.c_twg * (config.v_th - config.v_cm_twg) / (i_th * config.current_scale)
    return i_syn * config.current_scale * t_integ[:, None, None] / config.c_int


_TOWARD_CODE = """
below = int(v < V_REST)
step = p * L
up = clip(v + step, v, V_REST)
down = clip(v - step, V_REST, v)
acc = below * up + (1 - below) * down
"""

_CYCLE_CODE = """
inp = int(n_act > 0)
refr = int(a > 0)
integ = inp * (1 - refr)
n_ign += inp * refr * int(n_sig > 0)
vi = clip(acc, V_ZERO, V_DD)
v = integ * vi + (1 - integ) * v
p = integ + (1 - integ) * (p + (1 - inp) * (1 - refr) * EVERY)
a = a - refr
fired = 0
n_act = 0
n_sig = 0
"""

_LATERAL_CODE = """
inh = int(lat > 0) * (1 - fired)
v = inh * V_LAT + (1 - inh) * v
p = (1 - inh) * p
lat = 0
"""

_EQS = """
v : volt
vi : volt
acc : volt
p : integer
a : integer
n_act : integer
n_sig : integer
integ : integer
fired : integer
lat : integer
n_ign : integer
"""


class ChipEquivalentBackend(CycleBatchBackend):
    """Brian2 network with the chip model's exact cycle semantics (nominal devices).

    Parameters
    ----------
    config : ChipConfig
        The chip's parameters; GCLK sets Brian2's ``dt``.
    n_clusters : int
        Number of 16 x 16 clusters.
    seed : int, optional
        Unused (the model has no randomness); kept for the Backend interface.
    mismatch : bool
        Must be False: the reference models the nominal chip.
    target : {"numpy", "cython", "cpp_standalone"}
        Brian2 code-generation target (:mod:`~bioloop.reference_models.brian2_target`).
    cache_dir : path-like, optional
        Cache of compiled code (default outside the repository).

    Notes
    -----
    Every :meth:`evolve` builds and runs a fresh Brian2 network from the state the previous
    call left (``v``, ``p``, ``a``), so it works the same on every target; it is meant for
    whole recordings, not for the live loop's many small batches.

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.chip import ChipConfig
    >>> from bioloop.types import AxonFrames, ChipProgram
    >>> w = np.zeros((1, 16, 16), int); w[0, 3, 3] = 7
    >>> prog = ChipProgram(w, np.full((1, 16), 2), np.array([7]), np.array([2]), ())
    >>> be = ChipEquivalentBackend(ChipConfig(), n_clusters=1)
    >>> be.program(prog)
    >>> step = be.evolve(AxonFrames([5], [0], [3], 1e3), until=10)
    >>> step.fires.cycles.tolist(), step.fires.dend.tolist()
    ([5], [3])
    """

    name = "chip-equivalent"
    #: promise checked by the cross-check: spikes equal the chip model's (mismatch off)
    spike_exact: ClassVar[bool] = True

    supports_routes: ClassVar[bool] = True

    def _load(self, program: ChipProgram) -> None:
        self._G = psp_steps(self.config, program)
        r = program.routes
        if len(r) and self.noc.link_capacity is not None:
            raise ValueError(f"the {self.name} reference models links of unlimited capacity only; "
                             f"got link_capacity = {self.noc.link_capacity} (--noc-link-capacity); "
                             "drop the capacity to compare, or replay on the chip to see congestion")
        self._r_src = (r.src_cluster * N_DENDS + r.src_dend).astype(np.int64)
        self._r_dst = (r.dst_cluster * K_AXONS + r.dst_axon).astype(np.int64)
        self._r_lat = np.asarray(self.noc.latency(r.src_cluster, r.dst_cluster), np.int64).reshape(-1)
        self._pend_cycle = np.zeros(0, np.int64)
        self._pend_row = np.zeros(0, np.int64)

    def _zero_state(self) -> None:
        n = self.n_clusters * N_DENDS
        self.cycle = 0
        self._v = np.full(n, self.config.v_rest)
        self._p = np.zeros(n, np.int64)
        self._a = np.zeros(n, np.int64)
        self._pend_cycle = np.zeros(0, np.int64)  # packets in flight: due cycle, global row
        self._pend_row = np.zeros(0, np.int64)
        self._counts = {}

    def _routing_counts(self) -> dict:
        return self._counts

    def _deliveries(self, fire_cycle, fire_i):
        """(due cycle, global row) of every packet the FIREs send."""
        if not self._r_src.size or not fire_i.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        order = np.argsort(self._r_src, kind="stable")
        src = self._r_src[order]
        lo = np.searchsorted(src, fire_i, "left")
        hi = np.searchsorted(src, fire_i, "right")
        n = hi - lo
        idx = np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)]) if n.sum() else np.zeros(0, np.int64)
        cyc = np.repeat(fire_cycle, n) + self._r_lat[idx]
        return cyc.astype(np.int64), self._r_dst[idx]

    def _simulate(self, pulses: Pulses, n_cycles: int):
        cfg = self.config
        prog = self._program
        n = self.n_clusters * N_DENDS
        with brian2_run(self.target, "chip_equivalent", self.cache_dir) as info:
            import brian2 as b

            t0 = time.perf_counter()
            dt = cfg.gclk_period * b.second
            ns = {
                "V_TH": cfg.v_th * b.volt, "V_REST": cfg.v_rest * b.volt,
                "V_RFR": cfg.v_rfr * b.volt, "V_LAT": cfg.v_lat * b.volt,
                "V_DD": cfg.v_dd * b.volt, "V_ZERO": 0.0 * b.volt, "L": cfg.leak_step * b.volt,
                "N_ABS": int(cfg.n_abs), "EVERY": 1 if cfg.leak_mode == "every_cycle" else 0,
            }
            routed = bool(self._r_src.size)
            t_end = self.cycle + n_cycles
            in_cycles, in_rows = pulses.cycles, pulses.row
            if routed:  # packets from the previous call that arrive in this one
                due = self._pend_cycle < t_end
                key = np.unique(np.concatenate([in_cycles, self._pend_cycle[due]]) * n
                                + np.concatenate([in_rows, self._pend_row[due]]))
                in_cycles, in_rows = key // n, key % n
            rel = in_cycles - self.cycle
            gen = b.SpikeGeneratorGroup(n, in_rows.astype(np.int64), rel * dt, dt=dt,
                                        sorted=True, name="axons")
            neurons = b.NeuronGroup(n, _EQS, threshold="integ == 1 and vi >= V_TH",
                                    reset="v = V_RFR\np = 0\na = N_ABS\nfired = 1", dt=dt,
                                    namespace=ns, name="dends")
            neurons.thresholder["spike"].when = "after_synapses"
            neurons.thresholder["spike"].order = 1
            neurons.run_regularly(_TOWARD_CODE, when="before_synapses", order=0, name="toward")
            neurons.run_regularly(_CYCLE_CODE, when="after_synapses", order=0, name="cycle")
            neurons.v = self._v * b.volt
            neurons.p = np.minimum(self._p, P_CAP)
            neurons.a = self._a
            c, k, col = np.meshgrid(np.arange(self.n_clusters), np.arange(K_AXONS),
                                    np.arange(N_DENDS), indexing="ij")
            objs = [gen, neurons]
            source = gen
            if routed:
                rowunits = b.NeuronGroup(n, "hit : integer", threshold="hit > 0", reset="hit = 0", dt=dt,
                                         name="row_units")
                rowunits.thresholder["spike"].when = "synapses"
                rowunits.thresholder["spike"].order = 1
                ext = b.Synapses(gen, rowunits, on_pre="hit_post = 1", dt=dt, name="electrodes")
                ext.connect(j="i")
                ext.pre.order = 0
                pkt = b.Synapses(neurons, rowunits, on_pre="hit_post = 1", dt=dt, name="routes")
                pkt.connect(i=self._r_src, j=self._r_dst)
                pkt.delay = (self._r_lat - 1) * dt
                pkt.pre.when = "synapses"
                pkt.pre.order = 0
                objs += [rowunits, ext, pkt]
                source = rowunits
            inp = b.Synapses(source, neurons, "G : volt (constant)\nsig : integer (constant)",
                             on_pre="acc_post += G\nn_act_post += 1\nn_sig_post += sig", dt=dt,
                             namespace=ns, name="rows")
            inp.connect(i=(c * K_AXONS + k).ravel(), j=(c * N_DENDS + col).ravel())
            inp.G = self._G.ravel() * b.volt
            inp.sig = (prog.signed_weights != 0).astype(np.int32).ravel()
            if routed:
                inp.pre.order = 2
            objs.append(inp)
            pre, post = _lateral_pairs(self.n_clusters, prog.lateral_neighbours)
            if pre.size:
                latsyn = b.Synapses(neurons, neurons, on_pre="lat_post += 1", dt=dt, name="lateral")
                latsyn.connect(i=pre, j=post)
                latsyn.pre.when = "after_resets"
                neurons.run_regularly(_LATERAL_CODE, when="end", order=0, name="lateral_apply")
                objs.append(latsyn)
            mon = b.SpikeMonitor(neurons, name="fires")
            net = b.Network(*objs, mon)
            info.build_s = time.perf_counter() - t0
            run_network(net, n_cycles * dt, info)
            fire_t = np.asarray(mon.t_[:])
            fire_i = np.asarray(mon.i[:], dtype=np.int64)
            v, p, a = (np.asarray(neurons.v_[:]), np.asarray(neurons.p[:], np.int64),
                       np.asarray(neurons.a[:], np.int64))
            ignored = int(np.asarray(neurons.n_ign[:]).sum())
        self.last_run = info
        self._v, self._p, self._a = v.copy(), p.copy(), a.copy()
        fire_cycle = np.rint(fire_t / cfg.gclk_period).astype(np.int64) + self.cycle
        if self._r_src.size:
            self._count_packets(pulses, fire_cycle, fire_i, self.cycle + n_cycles)
        return fire_cycle, fire_i, ignored

    def _count_packets(self, pulses, fire_cycle, fire_i, t_end) -> None:
        """Bookkeeping from the spikes: packets sent, delivered (and onto an active row), and
        the ones still in flight, kept for the next call."""
        n = self.n_clusters * K_AXONS
        d_cyc, d_row = self._deliveries(fire_cycle, fire_i)
        all_cyc = np.concatenate([self._pend_cycle, d_cyc])
        all_row = np.concatenate([self._pend_row, d_row])
        now = all_cyc < t_end
        self._pend_cycle, self._pend_row = all_cyc[~now], all_row[~now]
        key = all_cyc[now] * n + all_row[now]
        distinct = np.unique(key)
        on_input = np.isin(distinct, pulses.cycles * n + pulses.row)
        self._counts = {"routed": int(key.size),
                        "routed_merged": int(key.size - distinct.size + on_input.sum())}


def _lateral_pairs(n_clusters: int, neighbours) -> tuple[np.ndarray, np.ndarray]:
    """(firing neuron, inhibited neighbour) global index pairs within each cluster."""
    pre, post = [], []
    for c in range(n_clusters):
        for col in range(N_DENDS):
            for d in neighbours:
                if 0 <= col + d < N_DENDS:
                    pre.append(c * N_DENDS + col)
                    post.append(c * N_DENDS + col + d)
    return np.asarray(pre, np.int64), np.asarray(post, np.int64)
