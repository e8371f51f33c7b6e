"""Running a mapped network: AXON frames from the spike sources, the chip (or any registered
bioloop backend), FIREs and V_INTEG back to the populations.

Counts (``Runtime.counts``) add up: every source spike of the time run is delivered to each AXON
row it drives (``row_deliveries``) or still waits for its delay to pass
(``pending_deliveries``, at the current time), and every delivery is an AXON pulse or merged
with another delivery to the same row in the same GCLK cycle
(``row_deliveries == axon_pulses + merged``). With routes, the NoC's counts follow the chip's
(:class:`bioloop.chip.EventResult`): ``packets == routed + dropped_congestion + in_flight``.
"""

from __future__ import annotations

import numpy as np
from pyNN.standardmodels import cells as pynn_cells

from .. import chip as chipmod
from .. import registry
from ..chip import Chip
from ..chip.config import N_DENDS
from ..types import AxonFrames
from . import translation as tr
from .mapper import IF_KIND, is_source, map_network


def routing_available() -> bool:
    """Whether this bioloop routes FIREs between clusters (``bioloop.chip.Routes``)."""
    return hasattr(chipmod, "Routes") and hasattr(chipmod, "NocConfig")


def build_mapping(state):
    """Map the network described in ``state`` (kept in ``state.mapping`` even when broken)."""
    opts = state.options
    mapping = map_network(state.populations, state.projections, dt=state.dt,
                          base_config=opts.config, routing=routing_available(),
                          noc=opts.noc, leak_match=opts.leak_match)
    state.mapping = mapping
    return mapping


def advance(state, n_end: int) -> None:
    """Run the chip from ``state.cycle`` up to cycle ``n_end`` (exclusive)."""
    if state.options is None:
        raise ValueError("call sim.setup() before sim.run()")
    rt = state.runtime
    if rt is None or rt.stale:
        mapping = build_mapping(state).check()
        carry = rt.snapshot() if (rt is not None and state.cycle > 0) else None
        old = rt
        rt = Runtime(state, mapping)
        if old is not None:
            rt.adopt(old, carry)
        state.runtime = rt
    rt.run(n_end)
    state.cycle = n_end


class Runtime:
    """The programmed chip of one mapping and everything it produced since the last reset."""

    def __init__(self, state, mapping):
        self.state = state
        self.mapping = mapping
        self.stale = False
        opts = state.options
        self.backend_name = opts.backend
        cfg = mapping.config
        C = mapping.n_clusters
        prog = mapping.program()
        kw = {"noc": mapping.noc()} if mapping.routes else {}
        if self.backend_name == "chip":
            self.chip = Chip(cfg, n_clusters=C, seed=opts.seed, mismatch=opts.mismatch, **kw)
            self.chip.program(prog.weights, prog.psp_ref, prog.threshold_gen, prog.threshold_ref,
                              routes=prog.routes)
            self.backend = None
        else:
            cls = registry.load("bioloop.backends", self.backend_name)
            self.backend = cls(cfg, n_clusters=C, seed=opts.seed, mismatch=opts.mismatch, **kw)
            self.backend.program(prog)
            self.chip = None
        self.routed = bool(mapping.routes)
        self.sources = {}  # population index -> (neuron index, time ms) arrays, sorted by time
        self._poisson_until = {}  # population index -> ms generated so far
        self.reset()

    # ---- state --------------------------------------------------------------------------
    def reset(self):
        if self.chip is not None:
            self.chip.reset()
            self._set_initial_v()
        elif self.backend is not None:
            self.backend.reset()
        self.fire_cycles, self.fire_slots = [], []
        self.v_chunks = []  # (first cycle, (T, C*16) volts)
        self.cycle = 0
        self.counts = {"source_spikes": 0, "row_deliveries": 0, "pending_deliveries": 0,
                       "axon_pulses": 0, "merged": 0, "ignored_refractory": 0, "fires": 0}
        if self.routed:
            self.counts.update({k: 0 for k in ROUTE_COUNTS}, in_flight=0)
        self.sources = {}
        self._poisson_until = {}
        for rec in self.state.recorders:
            rec._since_cycle = 0

    def snapshot(self):
        if self.chip is not None:
            return self.chip.get_state()
        return None

    def adopt(self, old, carry):
        """Continue after the network changed mid-run: keep time, data and (if the chip has
        the same shape) the membrane state."""
        self.fire_cycles, self.fire_slots = old.fire_cycles, old.fire_slots
        self.v_chunks, self.cycle, self.counts = old.v_chunks, old.cycle, old.counts
        self.sources, self._poisson_until = old.sources, old._poisson_until
        if carry is not None and self.chip is not None:
            if carry["v"].shape == self.chip.get_state()["v"].shape:
                self.chip.set_state(carry)
            else:
                raise ValueError("the network changed shape after run(): call sim.reset() before "
                                 "running it again")

    def _set_initial_v(self):
        m, st = self.mapping, self.chip.get_state()
        cfg = m.config
        v = st["v"].reshape(-1)
        for pop in m.populations:
            if is_source(pop) or id(pop) not in m.placement or "v" not in pop.initial_values:
                continue
            clu, den = m.slot_of(pop)
            slot = clu * N_DENDS + den
            v0 = np.asarray(pop.initial_values["v"].evaluate(simplify=False), float)
            v0 = np.broadcast_to(v0, (pop.size,))
            if not np.isnan(m.slot_gap[slot[0]]):  # IF_curr_delta: translate
                v[slot] = tr.chip_voltage(v0, m.slot_v_rest[slot], m.slot_gap[slot], cfg)
            else:
                v[slot] = v0 * 1e-3
        st["v"] = np.clip(v.reshape(st["v"].shape), 0.0, cfg.v_dd)
        st["pend"][...] = 0
        self.chip.set_state(st)

    # ---- sources ------------------------------------------------------------------------
    def source_spikes(self, pi: int, until_ms: float):
        """(neuron index, time ms) of source population ``pi``, generated up to ``until_ms``."""
        pop = self.mapping.populations[pi]
        ct = pop.celltype
        if isinstance(ct, pynn_cells.SpikeSourcePoisson):
            done = self._poisson_until.get(pi, 0.0)
            if until_ms > done:
                new = _poisson(pop, done, until_ms, self.state.rng)
                old = self.sources.get(pi, (np.zeros(0, np.int64), np.zeros(0)))
                idx = np.concatenate([old[0], new[0]])
                t = np.concatenate([old[1], new[1]])
                order = np.argsort(t, kind="stable")
                self.sources[pi] = (idx[order], t[order])
                self._poisson_until[pi] = until_ms
        elif pi not in self.sources:
            seqs = pop._parameters["spike_times"]
            seqs = np.broadcast_to(np.asarray(seqs, object), (pop.size,))
            idx, t = [], []
            for i, s in enumerate(seqs):
                arr = np.asarray(getattr(s, "value", s), float).ravel()
                idx.append(np.full(arr.size, i, np.int64))
                t.append(arr)
            idx = np.concatenate(idx) if idx else np.zeros(0, np.int64)
            t = np.concatenate(t) if t else np.zeros(0)
            if t.size and (t.min() < 0 or not np.all(np.isfinite(t))):
                bad = t[(t < 0) | ~np.isfinite(t)][0]
                raise ValueError(f"population {pop.label!r} has a spike at {bad:g} ms; spike times "
                                 "must be finite and >= 0")
            order = np.argsort(t, kind="stable")
            self.sources[pi] = (idx[order], t[order])
        return self.sources.get(pi, (np.zeros(0, np.int64), np.zeros(0)))

    def _frames(self, c0: int, c1: int):
        """AXON (cycle, cluster, row) of cycles [c0, c1), and counts."""
        m, dt = self.mapping, self.state.dt
        cyc, clu, row = [], [], []
        n_src = pending = 0
        for pi, pop in enumerate(m.populations):  # Poisson trains with the rates set now
            if is_source(pop) and pi not in m.input_rows:
                idx, t = self.source_spikes(pi, c1 * dt)
                sc = np.rint(t / dt)
                n_src += int(((sc >= c0) & (sc < c1)).sum())
        for pi, (n_idx, delay, cluster, r) in m.input_rows.items():
            idx, t = self.source_spikes(pi, c1 * dt)
            sc = np.rint(t / dt).astype(np.int64)
            n_src += int(((sc >= c0) & (sc < c1)).sum())
            order = np.argsort(idx, kind="stable")
            idx_s, sc_s = idx[order], sc[order]
            bounds = np.searchsorted(idx_s, np.arange(m.populations[pi].size + 1))
            for j in range(n_idx.size):
                lo, hi = bounds[n_idx[j]], bounds[n_idx[j] + 1]
                arrive = sc_s[lo:hi] + delay[j]
                pending += int(((sc_s[lo:hi] < c1) & (arrive >= c1)).sum())
                arrive = arrive[(arrive >= c0) & (arrive < c1)]
                cyc.append(arrive)
                clu.append(np.full(arrive.size, cluster[j]))
                row.append(np.full(arrive.size, r[j]))
        cyc = np.concatenate(cyc) if cyc else np.zeros(0, np.int64)
        clu = np.concatenate(clu) if clu else np.zeros(0, np.int64)
        row = np.concatenate(row) if row else np.zeros(0, np.int64)
        order = np.argsort(cyc, kind="stable")
        self.counts["source_spikes"] += n_src
        self.counts["row_deliveries"] += int(cyc.size)
        self.counts["pending_deliveries"] = pending  # now: spikes whose delay has not passed
        return AxonFrames(cyc[order], clu[order], row[order], m.config.gclk_hz)

    # ---- running ------------------------------------------------------------------------
    def run(self, n_end: int):
        c0 = self.cycle
        if n_end <= c0:
            return
        frames = self._frames(c0, n_end)
        C = self.mapping.n_clusters
        record_v = any(_records_v(r) for r in self.state.recorders)
        if self.chip is not None and record_v:
            dense = frames.to_dense(n_end - c0, C, t0=c0)
            n_unique = int(dense.sum())
            res = self.chip.run(dense, record=True)
            fires, ignored = res.fire_events(frames.gclk_hz), res.ignored_refractory
            self.v_chunks.append((c0, res.v.reshape(n_end - c0, C * N_DENDS)))
            pulses, merged = n_unique, len(frames) - n_unique
        elif self.chip is not None:
            res = self.chip.run_events(frames, until=n_end)
            fires, ignored, pulses, merged = res.fires, res.ignored_refractory, res.axon_pulses, res.merged
        else:
            if record_v:
                raise ValueError(f"recording 'v' needs the chip model (backend 'chip'); backend "
                                 f"{self.backend_name!r} gives spikes only")
            step = self.backend.evolve(frames, until=n_end)
            fires, ignored, pulses, merged = step.fires, step.ignored_refractory, step.axon_pulses, step.merged
        self.fire_cycles.append(fires.cycles)
        self.fire_slots.append(fires.cluster * N_DENDS + fires.dend)
        self.counts["axon_pulses"] += pulses
        self.counts["merged"] += merged
        self.counts["ignored_refractory"] += ignored
        self.counts["fires"] += len(fires)
        if self.routed:
            got = res if self.chip is not None else step
            for k in ROUTE_COUNTS:
                self.counts[k] += int(getattr(got, k, 0))
            self.counts["in_flight"] = int(getattr(got, "in_flight", 0))  # now, not summed
        self.cycle = n_end

    # ---- read-back ----------------------------------------------------------------------
    def fires_of(self, pop, since_cycle: int = 0):
        """(index in population, cycle) of the FIREs of a neuron population."""
        m = self.mapping
        cyc = np.concatenate(self.fire_cycles) if self.fire_cycles else np.zeros(0, np.int64)
        slot = np.concatenate(self.fire_slots) if self.fire_slots else np.zeros(0, np.int64)
        clu, den = m.slot_of(pop)
        lookup = np.full(m.n_clusters * N_DENDS, -1, np.int64)
        lookup[clu * N_DENDS + den] = np.arange(pop.size)
        idx = lookup[slot]
        keep = (idx >= 0) & (cyc >= since_cycle)
        return idx[keep], cyc[keep]

    def v_of(self, pop, indices, since_cycle: int = 0) -> np.ndarray:
        """V samples (mV, model units for IF_curr_delta) at cycles since_cycle..now."""
        m = self.mapping
        clu, den = m.slot_of(pop)
        slot = (clu * N_DENDS + den)[indices]
        n = self.cycle - since_cycle
        out = np.full((n + 1, slot.size), np.nan)
        for c_first, chunk in self.v_chunks:
            lo = max(c_first, since_cycle)
            hi = min(c_first + chunk.shape[0], self.cycle)
            if hi > lo:
                out[lo - since_cycle:hi - since_cycle] = chunk[lo - c_first:hi - c_first][:, slot]
        out[n] = self.chip.v.reshape(-1)[slot]
        if len(slot) and not np.isnan(m.slot_gap[slot[0]]):  # IF_curr_delta
            return tr.model_voltage(out, m.slot_v_rest[slot], m.slot_gap[slot], m.config)
        return out * 1e3


#: what the NoC reports (see bioloop.chip.EventResult)
ROUTE_COUNTS = ("packets", "routed", "routed_merged", "congestion_delayed", "dropped_congestion")


def _records_v(recorder) -> bool:
    return any(var.name == "v" and ids for var, ids in recorder.recorded.items())


def _poisson(pop, t0: float, t1: float, rng):
    """Poisson spike times (ms) of each neuron of ``pop`` within [t0, t1)."""
    rate = pop.parameter_array("rate")
    start = pop.parameter_array("start")
    stop = start + pop.parameter_array("duration")
    lo, hi = np.maximum(start, t0), np.minimum(stop, t1)
    span = np.clip(hi - lo, 0.0, None)
    n = rng.poisson(rate * span / 1000.0)
    idx = np.repeat(np.arange(pop.size), n)
    t = lo[idx] + rng.random(idx.size) * span[idx]
    return idx.astype(np.int64), t


__all__ = ["IF_KIND", "Runtime", "advance", "build_mapping", "routing_available"]
