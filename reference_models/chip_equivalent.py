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
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bioloop import validate as _v
from bioloop.backends.base import Backend, BackendStep
from bioloop.chip.config import K_AXONS, N_BITS, N_DENDS
from bioloop.types import AxonFrames, ChipProgram, FireEvents

from .brian2_target import RunInfo, brian2_run, check_target, run_network

P_CAP = 2**30  #: owed leak pulses are capped here (int32 in Brian2); saturated long before


@dataclass(frozen=True)
class Pulses:
    """Distinct AXON pulses of one :meth:`Backend.evolve` call, sorted by (cycle, row)."""

    cycles: np.ndarray  #: absolute GCLK cycle
    row: np.ndarray  #: global AXON row, ``16 * cluster + axon``
    merged: int  #: repeated (cycle, cluster, axon) events merged into one pulse
    t_end: int  #: first cycle not run


def unique_pulses(frames, *, gclk_hz: float, n_clusters: int, t_now: int, until) -> Pulses:
    """Check AXON frames against a backend's clock and size; merge repeats into one pulse.

    Parameters
    ----------
    frames : AxonFrames
        Events with absolute cycles, none before ``t_now``.
    gclk_hz : float
        The backend's GCLK; the frames must be aligned to the same clock.
    n_clusters : int
        Clusters of the backend.
    t_now : int
        The backend's current cycle.
    until : int
        First cycle not to run; at least one past the last event.

    Returns
    -------
    Pulses

    Raises
    ------
    TypeError
        If ``frames`` is not :class:`~bioloop.types.AxonFrames` or ``until`` not an integer.
    ValueError
        For another clock, an event before ``t_now``, a cluster or axon out of range, or
        ``until`` before the last event.

    Examples
    --------
    >>> from bioloop.types import AxonFrames
    >>> p = unique_pulses(AxonFrames([3, 3, 5], [0, 0, 1], [2, 2, 0], 1e3), gclk_hz=1e3,
    ...                   n_clusters=2, t_now=0, until=10)
    >>> p.cycles.tolist(), p.row.tolist(), p.merged
    ([3, 5], [2, 16], 1)
    """
    if not isinstance(frames, AxonFrames):
        raise TypeError(f"frames must be AxonFrames, got {type(frames).__name__}")
    if abs(frames.gclk_hz - gclk_hz) > 1e-9 * gclk_hz:
        raise ValueError(f"frames are aligned to gclk_hz = {frames.gclk_hz:g} but the backend runs "
                         f"at gclk_hz = {gclk_hz:g}")
    cyc, clu, ax = frames.cycles, frames.cluster, frames.axon
    t_end = int(cyc[-1]) + 1 if cyc.size else t_now
    if cyc.size:
        if cyc[0] < t_now:
            raise ValueError(f"event at cycle {int(cyc[0])} is before the backend's current cycle "
                             f"{t_now}")
        if clu.max() >= n_clusters:
            raise ValueError(f"event for cluster {int(clu.max())}; this backend has clusters "
                             f"0..{n_clusters - 1}")
        if ax.max() >= K_AXONS:
            raise ValueError(f"event for axon {int(ax.max())}; axons are 0..{K_AXONS - 1}")
    until = _v.integer("until", until, lo=t_now)
    if until < t_end:
        raise ValueError(f"until = {until} is before the last event's cycle {t_end - 1}")
    key = np.unique(cyc * (n_clusters * K_AXONS) + clu * K_AXONS + ax)
    return Pulses(key // (n_clusters * K_AXONS), key % (n_clusters * K_AXONS),
                  int(cyc.size - key.size), until)


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


class ChipEquivalentBackend(Backend):
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

    def __init__(self, config, *, n_clusters, seed=None, mismatch=False, target="numpy",
                 cache_dir=None):
        super().__init__(config, n_clusters=n_clusters, seed=seed, mismatch=mismatch)
        _v.integer("n_clusters", n_clusters, lo=1, hi=4096)
        if mismatch is not False:
            raise ValueError(f"mismatch = {mismatch!r}: the chip-equivalent reference models the "
                             "nominal chip only; use mismatch=False")
        self.target = check_target(target)
        self.cache_dir = cache_dir
        self._program: ChipProgram | None = None
        self._G = None
        self.last_run: RunInfo | None = None
        self._zero_state()

    # ---- Backend interface --------------------------------------------------------------
    def program(self, program: ChipProgram) -> None:
        if not isinstance(program, ChipProgram):
            raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
        if program.n_clusters != self.n_clusters:
            raise ValueError(f"program has {program.n_clusters} clusters; backend has "
                             f"{self.n_clusters}")
        self._program = program
        self._G = psp_steps(self.config, program)

    def read_image(self) -> ChipProgram:
        p = self._require_program()
        return ChipProgram(p.weights.copy(), p.psp_ref.copy(), p.threshold_gen.copy(),
                           p.threshold_ref.copy(), p.lateral_neighbours, "read back")

    def evolve(self, frames: AxonFrames, until: int) -> BackendStep:
        self._require_program()
        pulses = unique_pulses(frames, gclk_hz=self.config.gclk_hz, n_clusters=self.n_clusters,
                               t_now=self.cycle, until=until)
        n_cycles = pulses.t_end - self.cycle
        if n_cycles == 0:
            empty = np.zeros(0, np.int64)
            return BackendStep(FireEvents(empty, empty, empty, self.config.gclk_hz), 0,
                               pulses.merged, 0, self.cycle)
        fire_cycle, fire_idx, ignored = self._simulate(pulses, n_cycles)
        order = np.lexsort((fire_idx, fire_cycle))
        fire_cycle, fire_idx = fire_cycle[order], fire_idx[order]
        fires = FireEvents(fire_cycle, fire_idx // N_DENDS, fire_idx % N_DENDS, self.config.gclk_hz)
        self.cycle = pulses.t_end
        return BackendStep(fires, int(pulses.cycles.size), pulses.merged, ignored, self.cycle)

    def reset(self) -> None:
        self._require_program()
        self._zero_state()

    @property
    def describe(self) -> dict:
        d = super().describe
        d["brian2_target"] = self.target
        if self.last_run is not None:
            d["brian2_run"] = self.last_run.as_dict()
        return d

    # ---- internals ----------------------------------------------------------------------
    def _zero_state(self) -> None:
        n = self.n_clusters * N_DENDS
        self.cycle = 0
        self._v = np.full(n, self.config.v_rest)
        self._p = np.zeros(n, np.int64)
        self._a = np.zeros(n, np.int64)

    def _require_program(self) -> ChipProgram:
        if self._program is None:
            raise ValueError(f"backend {self.name!r} is not programmed yet: call program() first")
        return self._program

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
            rel = pulses.cycles - self.cycle
            gen = b.SpikeGeneratorGroup(n, pulses.row.astype(np.int64), rel * dt, dt=dt,
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
            inp = b.Synapses(gen, neurons, "G : volt (constant)\nsig : integer (constant)",
                             on_pre="acc_post += G\nn_act_post += 1\nn_sig_post += sig", dt=dt,
                             namespace=ns, name="rows")
            inp.connect(i=(c * K_AXONS + k).ravel(), j=(c * N_DENDS + col).ravel())
            inp.G = self._G.ravel() * b.volt
            inp.sig = (prog.signed_weights != 0).astype(np.int32).ravel()
            objs = [gen, neurons, inp]
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
        return fire_cycle, fire_i, ignored


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
