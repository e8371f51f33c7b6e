"""The ideal-LIF reference: a continuous-time biological LIF mapped from the chip's parameters.

Where the chip counts in GCLK cycles (linear leak steps, integer refractory counters, input
sampled at clock edges, currents integrated in a time window), this reference is the
textbook leaky integrate-and-fire neuron with an exponential leak, an absolute refractory
period and real-valued, instantaneous (delta) synapses, solved exactly between events by
Brian2. It is what the chip approximates; comparing the two shows what the clock costs.

Mapping from a :class:`~bioloop.chip.ChipConfig` and a :class:`~bioloop.types.ChipProgram`
--------------------------------------------------------------------------------------------
With ``f = gclk_hz``, ``L = leak_step`` (volts per SWLEAK pulse) and ``D = V_REST - V_RFR``:

- Membrane: ``dv/dt = (V_REST - v) / tau_m`` with ``tau_m = D / (L f)``.
  The chip leaks ``L`` per cycle, i.e. ``L f`` volts per second, linearly; the exponential
  leaks at that same speed at the distance ``D`` below rest where every fired neuron
  restarts, so the recovery from ``V_RFR`` starts at the chip's rate. (Default config at
  1 kHz: ``tau_m = 125 mV / 10 V/s = 12.5 ms``; the chip's linear recovery from ``V_RFR``
  takes ``ceil(D / L) = 13`` cycles.) ``L = 0`` means no leak (``tau_m`` infinite).
- Synaptic weight of AXON row ``k`` onto DEND column ``n`` of cluster ``c``:
  ``w = (s / theta) * dv_per_unit`` with ``s = w_code - r_code``, ``theta = gen - ref`` and
  ``dv_per_unit = (V_TH - V_CM_TWG) C_TWG / C_INT`` (250 mV by default): the chip's
  nominal PSP step, as an instantaneous jump of ``v`` at the input spike's time. The jumps
  of simultaneous inputs are summed, then ``v`` is clipped to the integrator's rails
  ``[0, V_DD]`` (the floor plays the part of an inhibitory reversal potential).
- Threshold ``V_TH``; reset to ``V_RFR``; absolute refractory period
  ``t_ref = (N_ABS + 1) / f``: the chip fires in cycle ``c`` and ignores input in cycles
  ``c + 1 .. c + N_ABS``; the first input it integrates again is at the clock edge
  ``c + N_ABS + 1``, ``t_ref`` after the fire. During ``t_ref`` the membrane is held (no
  leak, no input; ignored inputs are counted per neuron and instant, when a synapse with
  ``s != 0`` brings them, as the chip counts them), as the chip generates no switches.
  Refractoriness beyond that comes from the exponential recovery from ``V_RFR``: the
  relative refractory period of the chip, ``ceil(D / L)`` cycles of linear leak.
- Lateral inhibition: when a neuron fires, its ``lateral_neighbours`` that do not fire at
  the same instant are set to ``V_LAT`` (their refractory state untouched).
- Not modelled (the chip-equivalent has them): clock alignment of the dynamics, the linear
  (clamped) leak, ``leak_mode = "input_only"`` (no continuous-time counterpart: refused).

Input spikes are the AXON frames' cycles at ``t = cycle / f``; with exact integration
(Brian2 ``method="exact"``) the membrane is exact at every input, so ``dt = 1 / (f
substeps)`` only sets when a refractory period ends (a multiple of ``1 / f`` anyway) and
``substeps = 1`` is exact. Every fire happens at an input time (the leak alone never
crosses ``V_TH > V_REST``), so FIRE cycles are exact. For a finer input grid, feed frames
aligned to a faster clock with a config whose ``leak_step`` and ``n_abs`` are scaled to
keep ``tau_m`` and ``t_ref``
(:func:`bioloop.crosscheck.timescale.scaled_config`).

Brian2 schedule: an input at time ``t`` must meet ``v(t)``, before the state update of the
step (which advances ``v`` from ``t`` to ``t + dt``). Generator, input pathway, input code,
threshold and the lateral pathway and its code all run in the ``start`` slot (orders 0-5),
before ``groups``; the reset runs in ``resets``. The input code recomputes
``not_refractory`` itself (Brian2 does it in the state update, i.e. after ``start``), so a
neuron integrates again exactly ``t_ref`` after its FIRE.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from bioloop import validate as _v
from bioloop.chip.config import K_AXONS, N_DENDS, ChipConfig
from bioloop.types import ChipProgram

from ._cycle_backend import CycleBatchBackend
from .brian2_target import brian2_run, run_network
from .chip_equivalent import _lateral_pairs


@dataclass(frozen=True)
class LIFMapping:
    """The ideal LIF's parameters (SI units) derived from a chip config (module docstring)."""

    tau_m: float  #: membrane time constant, s (inf without leak)
    t_ref: float  #: absolute refractory period, s
    v_th: float
    v_rest: float
    v_reset: float
    v_lat: float
    v_floor: float
    v_ceil: float
    weight_per_unit: float  #: volts per unit of s / theta

    @classmethod
    def from_config(cls, config: ChipConfig) -> LIFMapping:
        """Map ``config`` (see the module docstring for the formulas).

        Raises
        ------
        TypeError
            If ``config`` is not a ChipConfig.
        ValueError
            For ``leak_mode = "input_only"``, which has no continuous-time counterpart.

        Examples
        --------
        >>> m = LIFMapping.from_config(ChipConfig())
        >>> round(m.tau_m * 1e3, 6), round(m.t_ref * 1e3, 6), round(m.weight_per_unit, 6)
        (12.5, 3.0, 0.25)
        """
        if not isinstance(config, ChipConfig):
            raise TypeError(f"config must be a ChipConfig, got {type(config).__name__}")
        if config.leak_mode != "every_cycle":
            raise ValueError(f"leak_mode = {config.leak_mode!r} has no continuous-time "
                             "counterpart; the ideal-lif reference needs leak_mode='every_cycle'")
        rate = config.leak_step * config.gclk_hz
        tau = (config.v_rest - config.v_rfr) / rate if rate > 0 else math.inf
        return cls(tau_m=tau, t_ref=(config.n_abs + 1) / config.gclk_hz, v_th=config.v_th,
                   v_rest=config.v_rest, v_reset=config.v_rfr, v_lat=config.v_lat, v_floor=0.0,
                   v_ceil=config.v_dd, weight_per_unit=config.dv_per_unit)

    def weights(self, program: ChipProgram) -> np.ndarray:
        """Real-valued weights (volts), (C, K, N): ``s / theta * weight_per_unit``."""
        return (program.signed_weights / program.theta[:, None, None]) * self.weight_per_unit

    def as_dict(self) -> dict:
        return {"tau_m_s": self.tau_m, "t_ref_s": self.t_ref,
                "weight_per_unit_V": self.weight_per_unit}


_INPUT_CODE = """
not_refractory = timestep(t - lastspike, dt) >= timestep(T_REF, dt)
nr = int(not_refractory)
n_ign += int(n_sig > 0) * (1 - nr)
vin = v + nr * acc
v = clip(vin, V_FLOOR, V_CEIL)
acc = V_ZERO
n_sig = 0
"""

_LATERAL_CODE = """
inh = int(lat > 0)
v = inh * V_LAT + (1 - inh) * v
lat = 0
"""


class IdealLIFBackend(CycleBatchBackend):
    """Continuous-time LIF network (Brian2) with the chip's topology and mapped parameters.

    Parameters
    ----------
    config : ChipConfig
        Mapped to LIF parameters by :class:`LIFMapping` (module docstring).
    n_clusters : int
        Number of 16 x 16 clusters.
    seed : int, optional
        Unused (deterministic model).
    mismatch : bool
        Must be False (the ideal model has no devices).
    target : {"numpy", "cython", "cpp_standalone"}
        Brian2 code-generation target.
    cache_dir : path-like, optional
        Cache of compiled code.
    substeps : int
        Brian2 time steps per GCLK cycle (1 is exact, see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.types import AxonFrames, ChipProgram
    >>> w = np.zeros((1, 16, 16), int); w[0, 3, 3] = 7
    >>> prog = ChipProgram(w, np.full((1, 16), 2), np.array([7]), np.array([2]), ())
    >>> be = IdealLIFBackend(ChipConfig(), n_clusters=1)
    >>> be.program(prog)
    >>> step = be.evolve(AxonFrames([5, 6], [0, 0], [3, 3], 1e3), until=10)
    >>> step.fires.cycles.tolist(), step.ignored_refractory
    ([5], 1)
    """

    name = "ideal-lif"
    spike_exact = False

    def __init__(self, config, *, n_clusters, seed=None, mismatch=False, target="numpy",
                 cache_dir=None, substeps=1):
        self.mapping = LIFMapping.from_config(config)
        self.substeps = _v.integer("substeps", substeps, lo=1, hi=1000)
        self._w = None
        super().__init__(config, n_clusters=n_clusters, seed=seed, mismatch=mismatch, target=target,
                         cache_dir=cache_dir)

    def _load(self, program: ChipProgram) -> None:
        self._w = self.mapping.weights(program)

    @property
    def describe(self) -> dict:
        d = super().describe
        d["mapping"] = self.mapping.as_dict()
        return d

    def _zero_state(self) -> None:
        n = self.n_clusters * N_DENDS
        self.cycle = 0
        self._v = np.full(n, self.mapping.v_rest)
        self._ref_left = np.zeros(n)  # seconds of refractoriness left at the current cycle

    def _simulate(self, pulses, n_cycles: int):
        m, cfg = self.mapping, self.config
        n = self.n_clusters * N_DENDS
        period = cfg.gclk_period
        k_leak = 0.0 if math.isinf(m.tau_m) else 1.0 / m.tau_m
        eqs = """
        dv/dt = (V_REST - v) * K_LEAK : volt (unless refractory)
        acc : volt
        n_sig : integer
        lat : integer
        n_ign : integer
        """
        with brian2_run(self.target, "ideal_lif", self.cache_dir) as info:
            import brian2 as b

            t0 = time.perf_counter()
            dt = period / self.substeps * b.second
            ns = {"V_TH": m.v_th * b.volt, "V_REST": m.v_rest * b.volt,
                  "V_RESET": m.v_reset * b.volt, "V_LAT": m.v_lat * b.volt,
                  "V_FLOOR": m.v_floor * b.volt, "V_CEIL": m.v_ceil * b.volt,
                  "V_ZERO": 0.0 * b.volt, "K_LEAK": k_leak / b.second, "T_REF": m.t_ref * b.second}
            rel = (pulses.cycles - self.cycle) * self.substeps
            gen = b.SpikeGeneratorGroup(n, pulses.row.astype(np.int64), rel * dt, dt=dt,
                                        sorted=True, name="axons", when="start", order=0)
            neurons = b.NeuronGroup(n, eqs, threshold="v >= V_TH", reset="v = V_RESET",
                                    refractory="T_REF", method="exact", dt=dt, namespace=ns,
                                    name="dends")
            neurons.thresholder["spike"].when = "start"
            neurons.thresholder["spike"].order = 3
            neurons.run_regularly(_INPUT_CODE, when="start", order=2, name="inputs")
            neurons.v = self._v * b.volt
            # carry a refractory period over from the previous call: lastspike in the past
            neurons.lastspike = (self._ref_left - m.t_ref) * b.second
            c, k, col = np.meshgrid(np.arange(self.n_clusters), np.arange(K_AXONS),
                                    np.arange(N_DENDS), indexing="ij")
            inp = b.Synapses(gen, neurons, "w : volt (constant)\nsig : integer (constant)",
                             on_pre="acc_post += w\nn_sig_post += sig", dt=dt, namespace=ns,
                             name="rows")
            inp.connect(i=(c * K_AXONS + k).ravel(), j=(c * N_DENDS + col).ravel())
            inp.w = self._w.ravel() * b.volt
            inp.sig = (self._program.signed_weights != 0).astype(np.int32).ravel()
            inp.pre.when = "start"
            inp.pre.order = 1
            objs = [gen, neurons, inp]
            pre, post = _lateral_pairs(self.n_clusters, self._program.lateral_neighbours)
            if pre.size:
                latsyn = b.Synapses(neurons, neurons, on_pre="lat_post += 1", dt=dt, name="lateral")
                latsyn.connect(i=pre, j=post)
                latsyn.pre.when = "start"
                latsyn.pre.order = 4
                neurons.run_regularly(_LATERAL_CODE, when="start", order=5,
                                      name="lateral_apply")
                objs.append(latsyn)
            mon = b.SpikeMonitor(neurons, name="fires")
            net = b.Network(*objs, mon)
            info.build_s = time.perf_counter() - t0
            duration = n_cycles * period * b.second
            run_network(net, duration, info)
            fire_t = np.asarray(mon.t_[:])
            fire_i = np.asarray(mon.i[:], dtype=np.int64)
            v = np.asarray(neurons.v_[:]).copy()
            last = np.asarray(neurons.lastspike_[:]).copy()
            ignored = int(np.asarray(neurons.n_ign[:]).sum())
        self.last_run = info
        self._v = v
        t_end = n_cycles * period
        self._ref_left = np.clip(last + m.t_ref - t_end, 0.0, None)
        fire_cycle = np.rint(fire_t / period).astype(np.int64) + self.cycle
        return fire_cycle, fire_i, ignored
