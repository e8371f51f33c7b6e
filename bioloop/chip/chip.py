"""``Chip``: C clusters of the MRAM neuromorphic chip, held as one vectorised state.

Everything a fabricated instance fixes at manufacture (cell resistances, mirror ratios,
capacitors, leak currents, amplifier offsets) is drawn once from ``seed``; what the MRAM
holds (the programmed image) is separate and survives :meth:`Chip.power_cycle`.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import validate as _v
from ..types import AxonFrames, FireEvents, _trusted
from . import kernels, routing_kernels
from .config import CODE_MAX, K_AXONS, N_BITS, N_DENDS, ChipConfig
from .mram import (
    bits_to_codes,
    codes_to_bits,
    mirrors,
    sample_resistances,
    weighted_current,
)
from .noc import ROUTE_FIELDS, NocConfig, Routes
from .offsets import sample_offsets
from .routing import NocRuntime

IMAGE_MAGIC = "bioloop-chip-image"
IMAGE_VERSION = 2  #: 2 adds the routing table; version 1 images (no routes) still load
IMAGE_VERSIONS_READ = (1, 2)
N_READ_REFS = 18  #: read-reference pairs per cluster (paper: 18 x 2 cells)


@dataclass(frozen=True)
class RunResult:
    """Output of :meth:`Chip.run`.

    Attributes
    ----------
    fires : numpy.ndarray
        bool (T, C, N): FIRE of each neuron in each cycle.
    v : numpy.ndarray or None
        float (T, C, N): V_INTEG at each cycle's comparison, volts (held voltage in cycles
        without input); only with ``record=True``.
    t0 : int
        Absolute GCLK cycle of the first row.
    ignored_refractory : int
        Neuron-cycles whose input (an active row with s != 0 onto the neuron) was ignored in
        absolute refractory.
    packets, routed, routed_merged, congestion_delayed, congestion_delay_cycles, dropped_congestion, in_flight : int
        Packets between clusters (see :class:`EventResult`).
    """

    fires: np.ndarray
    v: np.ndarray | None
    t0: int
    ignored_refractory: int
    packets: int = 0
    routed: int = 0
    routed_merged: int = 0
    congestion_delayed: int = 0
    congestion_delay_cycles: int = 0
    dropped_congestion: int = 0
    in_flight: int = 0

    def fire_events(self, gclk_hz: float) -> FireEvents:
        return FireEvents.from_dense(self.fires, gclk_hz, self.t0)


@dataclass(frozen=True)
class EventResult:
    """Output of :meth:`Chip.run_events`: FIRE events and what the chip did not use.

    Packets between clusters add up: ``packets`` sent in this call plus those in flight before
    it equal ``routed + dropped_congestion + in_flight``.
    """

    fires: FireEvents
    axon_pulses: int  #: distinct (cycle, cluster, axon) pulses of the input frames
    merged: int  #: repeated events of one axon in one cycle, merged into one pulse
    ignored_refractory: int
    t_end: int
    packets: int = 0  #: packets that FIREs sent through TX (one per route of the firing dend)
    routed: int = 0  #: packets delivered as AXON inputs
    routed_merged: int = 0  #: delivered packets whose row was already active that cycle (OR)
    congestion_delayed: int = 0  #: packets that waited in a link FIFO (delivered or not yet)
    congestion_delay_cycles: int = 0  #: extra cycles of the delivered packets, summed
    dropped_congestion: int = 0  #: packets dropped at a full link FIFO
    in_flight: int = 0  #: packets sent but not yet delivered at ``t_end``


@dataclass(frozen=True)
class ProgramReport:
    """What programming with write-verify did."""

    cells: int
    write_failures: int  #: cells that did not switch on the first write
    retries: int  #: re-writes issued by write-verify
    residual_errors: int  #: cells still in the wrong state afterwards
    verify_mismatches: int  #: cells that the last verify read still senses as wrong


@dataclass(frozen=True)
class MemoryRead:
    """Cell states sensed in memory-read mode, and the bit error rate against the truth."""

    weights: np.ndarray
    psp_ref: np.ndarray
    threshold_gen: np.ndarray
    threshold_ref: np.ndarray
    bit_errors: int
    cells: int

    @property
    def bit_error_rate(self) -> float:
        return self.bit_errors / self.cells


class Chip:
    """A model of the MRAM-based neuromorphic chip with ``n_clusters`` local clusters.

    Parameters
    ----------
    config : ChipConfig, optional
        Parameters; defaults from ``chip-model.md``.
    n_clusters : int
        Number of independent clusters C (16 AXON x 16 DEND each).
    seed : int, optional
        Seeds the device variation of this instance (and its write errors).
    mismatch : bool
        False gives the ideal chip: no device variation, no offsets.
    noc : NocConfig, optional
        The mesh that carries packets between clusters (default ``NocConfig()``: the
        squarest mesh for C, latency 1 cycle, unlimited links); see :mod:`bioloop.chip.noc`.

    Raises
    ------
    TypeError, ValueError
        For a config of the wrong type, n_clusters / seed out of range, or a mesh too small.

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.chip import Chip
    >>> chip = Chip(mismatch=False)
    >>> w = np.zeros((16, 16), int); w[0, 0] = 7          # s = 7 - 2 = 5 = theta
    >>> _ = chip.program(w, psp_ref=np.full(16, 2), threshold_gen=7, threshold_ref=2)
    >>> axons = np.zeros((3, 16), bool); axons[0, 0] = True
    >>> chip.run(axons).fires[:, 0, 0].tolist()
    [True, False, False]
    """

    def __init__(self, config: ChipConfig | None = None, *, n_clusters: int = 1,
                 seed: int | None = None, mismatch: bool = True, noc: NocConfig | None = None):
        self.config = ChipConfig() if config is None else config
        self._empty_fires: FireEvents | None = None  #: what a batch without FIREs gives (_no_fires)
        self.n_clusters = _v.integer("n_clusters", n_clusters, lo=1, hi=65_536)
        if seed is not None:
            seed = _v.integer("seed", seed, lo=0)
        if not isinstance(mismatch, bool):
            raise TypeError(f"mismatch must be True or False, got {mismatch!r}")
        self.seed = seed
        self.mismatch = mismatch
        if noc is None:
            noc = NocConfig()
        if not isinstance(noc, NocConfig):
            raise TypeError(f"noc must be a NocConfig, got {type(noc).__name__}")
        self.noc = noc.resolve(self.n_clusters)
        ss = np.random.SeedSequence(seed)
        dev_seq, write_seq, read_seq = ss.spawn(3)
        self._write_rng = np.random.default_rng(write_seq)
        self._read_rng = np.random.default_rng(read_seq)
        self._sample_devices(np.random.default_rng(dev_seq) if mismatch else None)
        C = self.n_clusters
        # the MRAM image: every cell AP (code 0) until programmed
        self._syn_bits = np.zeros((C, K_AXONS, N_DENDS, N_BITS), bool)
        self._psp_bits = np.zeros((C, K_AXONS, N_BITS), bool)
        self._thg_bits = np.zeros((C, N_BITS), bool)
        self._thr_bits = np.zeros((C, N_BITS), bool)
        self._routes = Routes()
        self._noc_rt = None
        self._programmed = False
        self._G = None
        self.reset()

    # ---- manufacture --------------------------------------------------------------------
    def _sample_devices(self, rng):
        cfg, C = self.config, self.n_clusters
        if rng is None:
            die_p = die_ap = np.ones(C)
        else:
            die_p = rng.lognormal(0.0, cfg.sigma_r, C)
            die_ap = rng.lognormal(0.0, cfg.sigma_r, C)
        self._r_syn = sample_resistances(cfg, (C, K_AXONS, N_DENDS, N_BITS), die_p, die_ap, rng)
        self._r_psp = sample_resistances(cfg, (C, K_AXONS, N_BITS), die_p, die_ap, rng)
        self._r_thg = sample_resistances(cfg, (C, N_BITS), die_p, die_ap, rng)
        self._r_thr = sample_resistances(cfg, (C, N_BITS), die_p, die_ap, rng)
        self._r_read = sample_resistances(cfg, (C, N_READ_REFS, 2), die_p, die_ap, rng)
        sm = cfg.sigma_mirror
        # one x1/x2/x4 mirror bank per column: the synapse cell and the PSP-reference cell of
        # each bit meet at the bank's input, so the subtraction happens before the copy and the
        # AP pedestal cancels bit by bit (ours; see docs/chip-semantics.md, "Mismatch")
        self._m_col = mirrors((C, N_DENDS), sm, rng)
        self._m_th = mirrors((C,), sm, rng)  # likewise one bank for threshold gen - ref

        def spread(shape, sigma):
            return np.ones(shape) if rng is None else 1.0 + rng.normal(0.0, sigma, shape)

        self._c_int = cfg.c_int * spread((C, N_DENDS), cfg.sigma_cap)
        self._c_twg = cfg.c_twg * spread((C,), cfg.sigma_cap)
        self._i_leak = cfg.i_leak * spread((C, N_DENDS), cfg.sigma_i_leak)
        if rng is None:
            self._off_comp = np.zeros((C, N_DENDS))
            self._off_twg = np.zeros(C)
            self._off_buf = np.zeros((C, 3))
        else:
            az, tk = cfg.auto_zero, cfg.temperature_k
            self._off_comp = sample_offsets(cfg.comparator_offset, (C, N_DENDS), rng, auto_zero=az, temperature_k=tk)
            self._off_twg = sample_offsets(cfg.comparator_offset, C, rng, auto_zero=az, temperature_k=tk)
            self._off_buf = sample_offsets(cfg.buffer_offset, (C, 3), rng, auto_zero=az, temperature_k=tk)
        self._vth = cfg.v_th + self._off_comp
        self._v_rest = cfg.v_rest + self._off_buf[:, 0]
        self._v_rfr = cfg.v_rfr + self._off_buf[:, 1]
        self._v_lat = cfg.v_lat + self._off_buf[:, 2]
        self._leak_step = self._i_leak * cfg.t_swleak / self._c_int

    # ---- the programmed image -------------------------------------------------------------
    def program(self, weights, psp_ref, threshold_gen, threshold_ref, *, routes=None) -> ProgramReport:
        """Write synaptic weights, PSP references and the threshold into the MRAM cells.

        Parameters
        ----------
        weights : array_like of int, (K, N) or (C, K, N)
            3-bit synapse codes 0..7; a (K, N) array is written to every cluster.
        psp_ref : array_like of int, (K,) or (C, K)
            PSP-reference code of each AXON row; the signed weight is ``s = w - r``.
        threshold_gen, threshold_ref : int or array_like of int, scalar or (C,)
            Threshold codes; ``theta = threshold_gen - threshold_ref`` must be >= 1.
        routes : Routes, optional
            Routing table between clusters (default: none). It is part of the image: kept by
            :meth:`power_cycle`, written by :meth:`save_image`. It is stored as given (the
            table's memory is not modelled with write errors).

        Returns
        -------
        ProgramReport

        Raises
        ------
        TypeError
            Codes that are not integers.
        ValueError
            Codes outside 0..7, wrong shapes, theta < 1, or a route to or from a cluster this
            chip does not have.
        """
        C, K, N = self.n_clusters, K_AXONS, N_DENDS
        if routes is None:
            routes = Routes()
        if not isinstance(routes, Routes):
            raise TypeError(f"routes must be bioloop.chip.Routes or None, got {type(routes).__name__}")
        routes.check(C)
        w = _v.code_array("weights", weights, shape_options=((K, N), (C, K, N)))
        r = _v.code_array("psp_ref", psp_ref, shape_options=((K,), (C, K)))
        tg = _v.code_array("threshold_gen", threshold_gen, shape_options=((), (C,)))
        tr = _v.code_array("threshold_ref", threshold_ref, shape_options=((), (C,)))
        w = np.broadcast_to(w, (C, K, N))
        r = np.broadcast_to(r, (C, K))
        tg = np.broadcast_to(tg, (C,))
        tr = np.broadcast_to(tr, (C,))
        theta = tg.astype(int) - tr.astype(int)
        if theta.min() < 1:
            c = int(np.argmin(theta))
            raise ValueError(
                f"threshold theta = threshold_gen - threshold_ref = {int(tg[c])} - {int(tr[c])} = "
                f"{int(theta[c])} (cluster {c}); theta must be in 1..{CODE_MAX}"
            )
        targets = [codes_to_bits(w), codes_to_bits(r), codes_to_bits(tg), codes_to_bits(tr)]
        report = self._write_cells(targets)
        self._set_routes(routes)
        self._programmed = True
        self._derive()
        return report

    def _cell_arrays(self):
        return [self._syn_bits, self._psp_bits, self._thg_bits, self._thr_bits]

    def _write_cells(self, targets) -> ProgramReport:
        cfg = self.config
        arrays = self._cell_arrays()
        n_cells = sum(t.size for t in targets)
        p = cfg.write_error_rate
        failures = retries = 0
        for arr, tgt in zip(arrays, targets, strict=True):
            ok = self._write_rng.random(tgt.shape) >= p if p > 0 else np.ones(tgt.shape, bool)
            failures += int((~ok).sum())
            arr[ok] = tgt[ok]
        mismatches = 0
        if cfg.write_verify:
            for _ in range(cfg.write_max_retries + 1):
                sensed = self._sense_all()
                wrong = [s != t for s, t in zip(sensed, targets, strict=True)]
                mismatches = sum(int(x.sum()) for x in wrong)
                if mismatches == 0 or _ == cfg.write_max_retries:
                    break
                for arr, tgt, bad in zip(arrays, targets, wrong, strict=True):
                    retries += int(bad.sum())
                    ok = bad & (self._write_rng.random(tgt.shape) >= p)
                    arr[ok] = tgt[ok]
        residual = sum(int((a != t).sum()) for a, t in zip(arrays, targets, strict=True))
        return ProgramReport(n_cells, failures, retries, residual, mismatches)

    def _sense_all(self):
        """Memory-read mode: each cell's current against its P||AP read-reference midpoint."""
        cols = np.arange(N_DENDS)
        # synapse cells of column n are sensed against read reference n
        i_mid = self._read_midpoints()
        vr = self.config.v_read
        noise = self._noise
        syn = self._r_syn.current(self._syn_bits, vr) + noise(self._syn_bits.shape) > i_mid[:, None, cols, None]
        psp = self._r_psp.current(self._psp_bits, vr) + noise(self._psp_bits.shape) > i_mid[:, 16, None, None]
        thg = self._r_thg.current(self._thg_bits, vr) + noise(self._thg_bits.shape) > i_mid[:, 17, None]
        thr = self._r_thr.current(self._thr_bits, vr) + noise(self._thr_bits.shape) > i_mid[:, 17, None]
        return [syn, psp, thg, thr]

    def _read_midpoints(self) -> np.ndarray:
        vr, rr = self.config.v_read, self._r_read
        return 0.5 * (vr / rr.r_p[:, :, 0] + vr / rr.r_ap[:, :, 1])

    def _noise(self, shape):
        if not self.mismatch or self.config.sense_offset_sigma == 0:
            return 0.0
        return self._read_rng.normal(0.0, self.config.sense_offset_sigma, shape)

    def memory_read(self) -> MemoryRead:
        """Read every cell in memory-read mode (Fig. 4B) and count bit errors against the truth."""
        sensed = self._sense_all()
        truth = self._cell_arrays()
        errors = sum(int((s != t).sum()) for s, t in zip(sensed, truth, strict=True))
        cells = sum(t.size for t in truth)
        syn, psp, thg, thr = (bits_to_codes(s) for s in sensed)
        return MemoryRead(syn, psp, thg, thr, errors, cells)

    # ---- what the image and the devices give ----------------------------------------------
    def _derive(self):
        cfg, vr = self.config, self.config.v_read
        i_cell = self._r_syn.current(self._syn_bits, vr)  # (C, K, N, 3)
        i_ref = self._r_psp.current(self._psp_bits, vr)[:, :, None, :]  # (C, K, 1, 3)
        self._i_syn = weighted_current(i_cell - i_ref, self._m_col[:, None, :, :])  # (C, K, N)
        i_th = weighted_current(self._r_thg.current(self._thg_bits, vr)
                                - self._r_thr.current(self._thr_bits, vr), self._m_th)
        if np.any(i_th <= 0):
            # the cells hold the image, but it cannot drive the time-window generator: leave the
            # chip unusable (not half-derived) until a working image is written
            self._programmed = False
            self._G = None
            c = int(np.argmin(i_th))
            raise ValueError(f"threshold current of cluster {c} is {i_th[c]:.3g} A; the programmed "
                             "threshold (gen - ref) must give a positive current (this chip "
                             "instance's devices cancel it; raise theta or the TMR ratio)")
        self._i_th = i_th
        self._t_integ = self._c_twg * (cfg.v_th + self._off_twg - cfg.v_cm_twg) / (i_th * cfg.current_scale)
        # V_INTEG step of each (row, column) when that row is active
        self._G = self._i_syn * cfg.current_scale * self._t_integ[:, None, None] / self._c_int[:, None, :]
        self._nz = self.signed_weights != 0  # synapses that carry a PSP (s != 0)

    def _require_programmed(self):
        if not self._programmed:
            raise ValueError("the chip holds no program yet: call Chip.program(weights, psp_ref, "
                             "threshold_gen, threshold_ref) or Chip.load_image(path) first")

    def _set_routes(self, routes: Routes) -> None:
        self._routes = routes
        self._noc_rt = NocRuntime(routes, self.noc, self.n_clusters) if len(routes) else None

    def _reset_noc(self) -> None:
        if getattr(self, "_noc_rt", None) is not None:
            self._noc_rt.clear()

    @property
    def routes(self) -> Routes:
        """The routing table the image holds (:class:`~bioloop.chip.Routes`)."""
        return self._routes

    @property
    def weights(self) -> np.ndarray:
        """Synapse codes (C, K, N) as the cells hold them."""
        return bits_to_codes(self._syn_bits)

    @property
    def psp_ref(self) -> np.ndarray:
        return bits_to_codes(self._psp_bits)

    @property
    def threshold_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(threshold_gen, threshold_ref) codes (C,) as the cells hold them."""
        return bits_to_codes(self._thg_bits), bits_to_codes(self._thr_bits)

    @property
    def theta(self) -> np.ndarray:
        """Threshold in units of alpha, per cluster (gen - ref codes)."""
        return bits_to_codes(self._thg_bits).astype(int) - bits_to_codes(self._thr_bits).astype(int)

    @property
    def signed_weights(self) -> np.ndarray:
        """s = w - r, (C, K, N)."""
        return self.weights.astype(int) - self.psp_ref.astype(int)[:, :, None]

    def t_integ(self) -> np.ndarray:
        """Integration window of each cluster in seconds, as this instance has it."""
        self._require_programmed()
        return self._t_integ.copy()

    def threshold_current(self) -> np.ndarray:
        """I_TH = I(threshold gen) - I(threshold ref) of each cluster before scaling, amperes."""
        self._require_programmed()
        return self._i_th.copy()

    def synaptic_currents(self) -> np.ndarray:
        """Net synaptic current I_COLUMN - I_PSP_REF of each (cluster, row, column), amperes."""
        self._require_programmed()
        return self._i_syn.copy()

    def psp_step(self) -> np.ndarray:
        """V_INTEG change (volts) that each (cluster, row, column) adds when its row is active."""
        self._require_programmed()
        return self._G.copy()

    @property
    def levels(self) -> dict:
        """Effective baseline levels and thresholds (volts), offsets included."""
        return {"v_th": self._vth.copy(), "v_rest": self._v_rest.copy(), "v_rfr": self._v_rfr.copy(),
                "v_lat": self._v_lat.copy(), "leak_step": self._leak_step.copy()}

    # ---- membrane state -----------------------------------------------------------------
    def reset(self) -> None:
        """Clear the membrane state (every neuron at V_REST, none refractory, cycle 0)."""
        C = self.n_clusters
        self._v = np.repeat(self._v_rest[:, None], N_DENDS, axis=1).astype(np.float64)
        self._pend = np.zeros((C, N_DENDS), np.int64)
        self._refr = np.zeros((C, N_DENDS), np.int64)
        self._last = np.zeros(C, np.int64)
        self.cycle = 0
        self._reset_noc()

    def power_cycle(self) -> None:
        """Switch off and on: membrane state is lost, the MRAM image is kept and re-read."""
        self.reset()
        if self._programmed:
            self._derive()

    @property
    def v(self) -> np.ndarray:
        """Voltage each neuron holds now (C, N), pending leak applied."""
        return kernels.effective_v(self._v, self._pend, self._leak_step, self._v_rest)

    def get_state(self) -> dict:
        """A copy of the complete membrane state (for rolling a simulation back), packets in
        flight between clusters included."""
        state = {"v": self._v.copy(), "pend": self._pend.copy(), "refr": self._refr.copy(),
                 "last": self._last.copy(), "cycle": self.cycle}
        if self._noc_rt is not None:
            state["noc"] = self._noc_rt.get_state()
        return state

    def set_state(self, state: dict) -> None:
        """Return exactly to a state taken by :meth:`get_state` on this chip."""
        for key in ("v", "pend", "refr", "last"):
            if np.shape(state[key]) != getattr(self, "_" + key).shape:
                raise ValueError(f"state {key!r} has shape {np.shape(state[key])}; this chip needs "
                                 f"{getattr(self, '_' + key).shape}")
        self._v[...] = state["v"]
        self._pend[...] = state["pend"]
        self._refr[...] = state["refr"]
        self._last[...] = state["last"]
        self.cycle = int(state["cycle"])
        if self._noc_rt is not None:
            if "noc" not in state:
                raise ValueError("state has no packets-in-flight part ('noc'); take it with "
                                 "get_state() on a chip with the same routes")
            self._noc_rt.set_state(state["noc"])

    @property
    def refractory(self) -> np.ndarray:
        """Absolute refractory cycles left (C, N)."""
        return self._refr.copy()

    @property
    def config(self) -> ChipConfig:
        """Analog and timing parameters."""
        return self._config

    @config.setter
    def config(self, config: ChipConfig) -> None:
        if not isinstance(config, ChipConfig):
            raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
        self._config = config
        # what every kernel call needs, derived once
        self._lateral = np.asarray(config.lateral_neighbours, np.int64)
        self._leak_every = config.leak_mode == "every_cycle"
        self._gclk = float(config.gclk_hz)

    def _kernel_args(self):
        cfg = self.config
        return (self._vth, self._leak_step, self._v_rest, self._v_rfr, self._v_lat, float(cfg.v_dd),
                int(cfg.n_abs), self._lateral)

    # ---- running ------------------------------------------------------------------------
    def run(self, axons, *, record: bool = False) -> RunResult:
        """Run one GCLK cycle per row of ``axons`` (dense path).

        Parameters
        ----------
        axons : array_like of bool, (T, K) or (T, C, K)
            AXON inputs, one row per GCLK cycle; (T, K) drives every cluster alike.
        record : bool
            Also return V_INTEG per cycle (memory: T x C x 16 floats).

        Returns
        -------
        RunResult

        Raises
        ------
        TypeError
            Non-boolean input.
        ValueError
            Wrong shape, or the chip is not programmed.
        """
        self._require_programmed()
        a = _v.bool_array("axons", axons, ndim_options=(2, 3))
        C = self.n_clusters
        if a.ndim == 2:
            if a.shape[1] != K_AXONS:
                raise ValueError(f"axons has shape {a.shape}; expected (T, {K_AXONS}) or (T, {C}, {K_AXONS})")
            a = np.broadcast_to(a[:, None, :], (a.shape[0], C, K_AXONS))
        elif a.shape[1:] != (C, K_AXONS):
            raise ValueError(f"axons has shape {a.shape}; expected (T, {K_AXONS}) or (T, {C}, {K_AXONS})")
        a = np.ascontiguousarray(a)
        T = a.shape[0]
        self._sync_all()
        fires = np.zeros((T, C, N_DENDS), bool)
        v_rec = np.zeros((T, C, N_DENDS) if record else (1, 1, 1))
        ignored = np.zeros(1, np.int64)
        vth, step, rest, rfr, lat, vdd, nabs, lateral = self._kernel_args()
        leak_every = self._leak_every
        t0 = self.cycle
        rt = self._noc_rt
        if rt is None:
            kernels.run_dense(a, self._G, self._nz, self._v, self._pend, self._refr, vth, step, rest, rfr, lat,
                              vdd, nabs, lateral, leak_every, record, fires, v_rec, ignored)
            counts = {}
        else:
            before = rt.counters()
            routing_kernels.run_dense_routed(a, t0, self._G, self._nz, self._v, self._pend, self._refr, vth, step,
                                             rest, rfr, lat, vdd, nabs, lateral, leak_every, record, fires,
                                             v_rec, ignored, *rt.kernel_args())
            counts = rt.counts_since(before)
        self.cycle += T
        self._last[:] = self.cycle
        return RunResult(fires, v_rec if record else None, t0, int(ignored[0]), **counts)

    def _sync_all(self):
        """Bring every cluster's counters up to ``self.cycle`` (after event runs)."""
        lag = self.cycle - self._last
        if np.any(lag):
            for c in np.nonzero(lag)[0]:
                kernels._idle(int(c), int(lag[c]), self._v, self._pend, self._refr,
                              self._leak_every)
            self._last[:] = self.cycle

    def run_events(self, frames, *, until: int | None = None) -> EventResult:
        """Event-driven path: sparse AXON events in, FIRE events out.

        Parameters
        ----------
        frames : AxonFrames
            Events with absolute cycles, none before ``self.cycle``.
        until : int, optional
            Absolute cycle to run up to (exclusive); default one past the last event.

        Returns
        -------
        EventResult
            Gives exactly the spikes :meth:`run` gives on the same input.
        """
        self._require_programmed()
        if not isinstance(frames, AxonFrames):
            raise TypeError(f"frames must be AxonFrames, got {type(frames).__name__}")
        if abs(frames.gclk_hz - self.config.gclk_hz) > 1e-9 * self.config.gclk_hz:
            raise ValueError(f"frames are aligned to gclk_hz = {frames.gclk_hz:g} but the chip runs at "
                             f"gclk_hz = {self.config.gclk_hz:g}")
        cyc, clu, ax = frames.cycles, frames.cluster, frames.axon
        t_end = int(cyc[-1]) + 1 if cyc.size else self.cycle
        if until is not None:
            if type(until) is not int:  # the loops' plain int needs no conversion
                until = _v.integer("until", until, lo=self.cycle)
            if until < self.cycle:
                raise ValueError(f"until = {until} is outside the valid range [{self.cycle:g}, inf]")
            if until < t_end:
                raise ValueError(f"until = {until} is before the last event's cycle {t_end - 1}")
            t_end = until
        if self._noc_rt is not None:
            self._refuse_event(cyc, clu, ax, kernels.first_bad_event(cyc, clu, ax, self.cycle, self.n_clusters,
                                                                     K_AXONS))
            return self._run_events_routed(cyc, clu, ax, t_end)
        # one compiled call: check, group, run, FIREs out (a live batch pays one dispatch)
        bad, fc, fk, fd, pulses, merged, ignored = kernels.run_pulses(
            cyc, clu, ax, self.cycle, t_end, self._G, self._nz, self._v, self._pend, self._refr, self._last,
            *self._kernel_args(), self._leak_every)
        self._refuse_event(cyc, clu, ax, bad)
        self.cycle = t_end
        fires = (_trusted(FireEvents, cycles=fc, cluster=fk, dend=fd, gclk_hz=self._gclk) if fc.size
                 else self._no_fires())
        return _trusted(EventResult, fires=fires, axon_pulses=int(pulses), merged=int(merged),
                        ignored_refractory=int(ignored), t_end=t_end)

    @property
    def has_routes(self) -> bool:
        """Whether FIREs send packets to other clusters (the NoC runs)."""
        return self._noc_rt is not None

    def _refuse_event(self, cyc, clu, ax, bad: int) -> None:
        """The ValueError for event ``bad`` (from :func:`kernels.first_bad_event`; -1: none)."""
        if bad < 0:
            return
        if not 0 <= clu[bad] < self.n_clusters:
            raise ValueError(f"event for cluster {int(clu[bad])}; this chip has clusters "
                             f"0..{self.n_clusters - 1}")
        if not 0 <= ax[bad] < K_AXONS:
            raise ValueError(f"event for axon {int(ax[bad])}; axons are 0..{K_AXONS - 1}")
        raise ValueError(f"event at cycle {int(cyc[bad])} is before the chip's current cycle {self.cycle}")

    def _no_fires(self) -> FireEvents:
        """An empty FireEvents at this chip's GCLK (one per chip; its arrays are read-only)."""
        gclk = self._gclk
        if self._empty_fires is None or self._empty_fires.gclk_hz != gclk:
            empty = np.zeros(0, np.int64)
            empty.flags.writeable = False
            self._empty_fires = _trusted(FireEvents, cycles=empty, cluster=empty, dend=empty, gclk_hz=gclk)
        return self._empty_fires

    def _run_events_routed(self, cyc, clu, ax, t_end) -> EventResult:
        rt = self._noc_rt
        grp_cycle, grp_cluster, grp_start, ax_u, merged = kernels.group_pulses(cyc, clu, ax, self.n_clusters)
        ignored = np.zeros(1, np.int64)
        vth, step, rest, rfr, lat, vdd, nabs, lateral = self._kernel_args()
        before = rt.counters()
        out_c, out_k, out_m, n_out = routing_kernels.run_events_routed(
            self.cycle, t_end, grp_cycle, grp_cluster, grp_start, ax_u, self._G, self._nz, self._v, self._pend,
            self._refr, self._last, vth, step, rest, rfr, lat, vdd, nabs, lateral,
            self._leak_every, ignored, *rt.kernel_args())
        self.cycle = t_end
        fc, fk, fd = kernels.unpack_fires(out_c[:n_out].astype(np.int64), out_k[:n_out].astype(np.int64),
                                          out_m[:n_out], N_DENDS)
        fires = _trusted(FireEvents, cycles=fc, cluster=fk, dend=fd, gclk_hz=self._gclk)
        return EventResult(fires, int(ax_u.size), int(merged), int(ignored[0]), t_end, **rt.counts_since(before))

    # ---- non-volatile image -------------------------------------------------------------
    def save_image(self, path) -> None:
        """Write the MRAM image (cell states) to ``path`` as ``.npz`` without pickle."""
        self._require_programmed()
        arrays = {
            "syn_bits": self._syn_bits.astype(np.uint8),
            "psp_bits": self._psp_bits.astype(np.uint8),
            "thg_bits": self._thg_bits.astype(np.uint8),
            "thr_bits": self._thr_bits.astype(np.uint8),
        }
        arrays.update({"route_" + k: v for k, v in self._routes.arrays().items()})
        digest = _digest(arrays)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, magic=np.array(IMAGE_MAGIC), version=np.array(IMAGE_VERSION),
                     n_clusters=np.array(self.n_clusters), sha256=np.array(digest), **arrays)
        tmp.replace(path)

    def load_image(self, path) -> None:
        """Load an image written by :meth:`save_image` into this chip's cells.

        Raises
        ------
        ValueError
            Missing, damaged or foreign file, or an image for another number of clusters.
        """
        path = Path(path)
        try:
            # open the file here: np.load leaks its own handle when the zip is damaged
            with open(path, "rb") as fh:
                z = np.load(fh, allow_pickle=False)
                if not isinstance(z, np.lib.npyio.NpzFile):
                    raise ValueError("a single .npy array, not an .npz archive")
                with z:
                    data = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise ValueError(f"chip image {str(path)!r} does not exist") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                RuntimeError, zlib.error) as exc:  # zipfile's errors for damaged headers
            raise ValueError(f"chip image {str(path)!r} is damaged or not a chip image ({exc})") from None
        if "magic" not in data or str(data["magic"]) != IMAGE_MAGIC:
            raise ValueError(f"{str(path)!r} is not a bioloop chip image (no {IMAGE_MAGIC!r} marker)")
        version = int(data.get("version", -1))
        if version not in IMAGE_VERSIONS_READ:
            raise ValueError(f"chip image {str(path)!r} has format version {version}; "
                             f"this bioloop reads versions {list(IMAGE_VERSIONS_READ)}")
        names = ("syn_bits", "psp_bits", "thg_bits", "thr_bits")
        route_names = tuple("route_" + f for f in ROUTE_FIELDS) if version >= 2 else ()
        if any(n not in data for n in (*names, *route_names, "sha256", "n_clusters")):
            raise ValueError(f"chip image {str(path)!r} is incomplete")
        arrays = {n: data[n] for n in (*names, *route_names)}
        if _digest(arrays) != str(data["sha256"]):
            raise ValueError(f"chip image {str(path)!r} is damaged: checksum mismatch")
        if int(data["n_clusters"]) != self.n_clusters:
            raise ValueError(f"chip image {str(path)!r} holds {int(data['n_clusters'])} clusters; "
                             f"this chip has {self.n_clusters}")
        shapes = [a.shape for a in self._cell_arrays()]
        if [arrays[n].shape for n in names] != shapes:
            raise ValueError(f"chip image {str(path)!r} has cell arrays of unexpected shape")
        theta = (bits_to_codes(arrays["thg_bits"].astype(bool)).astype(int)
                 - bits_to_codes(arrays["thr_bits"].astype(bool)).astype(int))
        if np.any(theta < 1):  # checked before the cells are touched: the old image stays
            raise ValueError(f"chip image {str(path)!r} holds a threshold theta = "
                             f"{int(theta.min())}; theta must be in 1..{CODE_MAX}")
        try:
            routes = Routes(*(arrays[n] for n in route_names)) if route_names else Routes()
            routes.check(self.n_clusters)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"chip image {str(path)!r} holds a bad routing table: {exc}") from None
        self._set_routes(routes)
        self._syn_bits, self._psp_bits, self._thg_bits, self._thr_bits = (arrays[n].astype(bool) for n in names)
        self._programmed = True
        self._derive()

    def __repr__(self) -> str:
        state = "programmed" if self._programmed else "blank"
        return (f"Chip(n_clusters={self.n_clusters}, seed={self.seed}, mismatch={self.mismatch}, "
                f"gclk_hz={self.config.gclk_hz:g}, {state}, cycle={self.cycle})")


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()
