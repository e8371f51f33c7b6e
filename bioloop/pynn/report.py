"""``mapping_report()``: what the mapper did to the network, as text and as a dict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..chip.config import N_DENDS
from .mapper import Mapping, is_source


@dataclass(frozen=True)
class MappingReport:
    """Placement, thresholds, AXON rows, per-synapse quantisation error, routes, broken rules.

    ``str(report)`` is the text; :meth:`as_dict` the same as plain data (``--json``).
    """

    mapping: Mapping
    counts: dict | None = None

    def as_dict(self) -> dict:
        m = self.mapping
        q = m.synapses
        rel = np.abs(q["relative_error"]) if q["relative_error"].size else np.zeros(0)
        mesh = tuple(m.noc().mesh) if m.routes else _mesh(m.n_clusters)
        out = {
            "mappable": m.ok,
            "broken_rules": list(m.rules),
            "n_clusters": m.n_clusters,
            "gclk_hz": 1000.0 / m.dt,
            "timestep_ms": m.dt,
            "placement": {name: _placement_text(*m.slot_of(p)) for name, p in self._named()},
            "theta": m.theta.tolist(),
            "axon_rows": {f"cluster {b}": n for b, n in self._rows_used().items()},
            "synapses": int(q["cluster"].size) if q["cluster"].size else 0,
            "quantisation": {
                "max_relative_error": float(rel.max()) if rel.size else 0.0,
                "mean_relative_error": float(rel.mean()) if rel.size else 0.0,
                "exact": int((rel < 1e-12).sum()),
                "unit": "fraction of the threshold gap (v_thresh - v_rest); codes for ChipNeuron",
            },
            "routes": [{"from": {"cluster": a, "dend": n}, "to": {"cluster": b, "row": k},
                        "hops": _hops(a, b, mesh), "latency_cycles": m.latency(a, b),
                        "latency_ms": m.latency(a, b) * m.dt}
                       for (a, n), (b, k) in m.routes],
            "mesh": list(mesh),
            "notes": list(m.notes),
        }
        if m.config is not None:
            cfg = m.config
            out["chip"] = {"v_rest_mV": cfg.v_rest * 1e3, "v_th_mV": cfg.v_th * 1e3,
                           "v_rfr_mV": cfg.v_rfr * 1e3, "leak_mV_per_cycle": cfg.leak_step * 1e3,
                           "n_abs": cfg.n_abs}
        if self.counts is not None:
            out["counts"] = dict(self.counts)
        return out

    def _named(self):
        """(name, population) of the placed populations; a repeated label gets ``#index``."""
        m = self.mapping
        placed = [(i, p) for i, p in enumerate(m.populations) if id(p) in m.placement]
        labels = [p.label for _, p in placed]
        return [(p.label if labels.count(p.label) == 1 else f"{p.label}#{i}", p) for i, p in placed]

    def _rows_used(self) -> dict:
        m = self.mapping
        q = m.synapses
        out = {}
        for b in range(m.n_clusters):
            sel = q["cluster"] == b if q["cluster"].size else np.zeros(0, bool)
            out[b] = int(np.unique(q["row"][sel]).size) if np.any(sel) else 0
        return out

    def synapse_table(self) -> list[dict]:
        """One entry per chip synapse: where it is, the weight wanted and the weight realised."""
        m = self.mapping
        q = m.synapses
        keys = ("cluster", "row", "dend", "wanted", "realised", "relative_error", "unit",
                "n_connections")
        rows = [dict(zip(keys, vals, strict=True)) for vals in zip(*(q[k].tolist() for k in keys),
                                                                     strict=True)]
        for r in rows:
            r["pre"] = m.row_source(r["cluster"], r["row"])
            r["post"] = m.neuron_name(r["cluster"] * N_DENDS + r["dend"])
        return rows

    def __str__(self) -> str:
        d = self.as_dict()
        m = self.mapping
        lines = [f"bioloop.pynn mapping: {d['n_clusters']} cluster(s), GCLK {d['gclk_hz']:g} Hz "
                 f"(time step {d['timestep_ms']:g} ms) - "
                 + ("mappable" if d["mappable"] else f"{len(d['broken_rules'])} rule(s) broken")]
        for r in d["broken_rules"]:
            lines.append(f"  BROKEN  {r}")
        if "chip" in d:
            c = d["chip"]
            lines.append(f"chip: V_REST {c['v_rest_mV']:.4g} mV, V_TH {c['v_th_mV']:.4g} mV, "
                         f"V_RFR {c['v_rfr_mV']:.6g} mV, leak {c['leak_mV_per_cycle']:.4g} mV/cycle, "
                         f"N_ABS {c['n_abs']}")
        lines.append("placement:")
        for lbl, where in d["placement"].items():
            lines.append(f"  {lbl}: {where}")
        srcs = [p.label for p in m.populations if is_source(p)]
        if srcs:
            lines.append(f"spike sources (AXON rows): {', '.join(srcs)}")
        lines.append("clusters:")
        for b in range(m.n_clusters):
            lines.append(f"  {b}: theta {int(m.theta[b])}, {d['axon_rows'][f'cluster {b}']} of 16 "
                         "AXON rows used")
        qd = d["quantisation"]
        lines.append(f"synapses: {d['synapses']} on the chip, {qd['exact']} exact; relative "
                     f"quantisation error max {qd['max_relative_error']:.3g}, mean "
                     f"{qd['mean_relative_error']:.3g} (of the threshold gap)")
        table = self.synapse_table()
        worst = sorted(table, key=lambda r: -abs(r["relative_error"]))[:10]
        for r in worst:
            lines.append(f"  {r['pre']} -> {r['post']} (cluster {r['cluster']} row {r['row']} dend "
                         f"{r['dend']}): wanted {r['wanted']:.4g} {r['unit']}, realised "
                         f"{r['realised']:.4g} ({r['relative_error']:+.3f})")
        if len(table) > len(worst):
            lines.append(f"  ... ({len(table) - len(worst)} more; report.synapse_table() has all)")
        uniform = m.route_latency is not None
        lines.append(f"routes: {len(d['routes'])}"
                     + (f", latency {m.route_latency} cycle(s) = {m.route_latency * m.dt:g} ms"
                        " each" if d["routes"] and uniform else ""))
        if d["routes"]:
            noc = m.noc()
            lines.append(f"  on a {d['mesh'][0]} x {d['mesh'][1]} mesh (XY routing): latency = "
                         f"{noc.base_cycles} + hops x {noc.hop_cycles} cycles")
        for r in d["routes"][:16]:
            lines.append(f"  ({r['from']['cluster']}, dend {r['from']['dend']}) -> "
                         f"({r['to']['cluster']}, row {r['to']['row']}), {r['hops']} hop(s), "
                         f"{r['latency_cycles']} cycle(s)")
        if len(d["routes"]) > 16:
            lines.append(f"  ... ({len(d['routes']) - 16} more)")
        for n in d["notes"]:
            lines.append(f"note: {n}")
        if "counts" in d:
            lines.append("counts: " + ", ".join(f"{k} {v}" for k, v in d["counts"].items()))
        return "\n".join(lines)


def _mesh(n_clusters: int) -> tuple[int, int]:
    """The NoC's mesh for this many clusters (the squarest that holds them)."""
    from ..chip import NocConfig

    return tuple(NocConfig().resolve(n_clusters).mesh)


def _hops(a: int, b: int, mesh) -> int:
    """Manhattan distance of clusters a and b on the mesh (XY routing)."""
    cols = mesh[1]
    return abs(a // cols - b // cols) + abs(a % cols - b % cols)


def _placement_text(clu, den) -> str:
    parts = []
    for c in np.unique(clu):
        ds = den[clu == c]
        parts.append(f"cluster {int(c)} dends {int(ds.min())}-{int(ds.max())}"
                     if ds.size > 1 else f"cluster {int(c)} dend {int(ds[0])}")
    return "; ".join(parts) + f" ({clu.size} neurons)"


def mapping_report() -> MappingReport:
    """The mapping of the network described so far (mapped now if it has not run yet).

    Returns
    -------
    MappingReport
        ``print(sim.mapping_report())`` for the text; broken rules are listed, not raised.

    Raises
    ------
    ValueError
        Before ``setup()``.

    Examples
    --------
    >>> import bioloop.pynn as sim
    >>> _ = sim.setup(timestep=1.0)
    >>> src = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]), label="in")
    >>> cell = sim.Population(2, sim.IF_curr_delta(), label="cell")
    >>> _ = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=9.0))
    >>> rep = sim.mapping_report()
    >>> rep.as_dict()["placement"], rep.mapping.theta.tolist()
    ({'cell': 'cluster 0 dends 0-1 (2 neurons)'}, [7])
    >>> [round(r["realised"], 3) for r in rep.synapse_table()]  # 4 steps of 2.381 mV
    [9.524, 9.524]
    """
    from .runtime import build_mapping
    from .simulator import state

    if state.options is None:
        raise ValueError("call sim.setup() before asking for the mapping report")
    rt = state.runtime
    if rt is not None and not rt.stale:
        return MappingReport(rt.mapping, dict(rt.counts))
    return MappingReport(build_mapping(state), None)


__all__ = ["MappingReport", "mapping_report", "N_DENDS"]
