"""The mapper: a PyNN network onto clusters of the chip, and every rule it breaks.

Steps (each one helper): chip-wide settings from the neuron parameters
(:func:`_chip_config`), placement of populations on clusters of 16 DENDs (:func:`_place`),
AXON rows for the presynaptic sources of each cluster (spike sources, one row per source and
delay; chip neurons through routes) (:func:`_assign_rows`), theta per cluster and PSP
reference per row for the smallest quantisation error (:func:`_quantise_cluster`), routes and
their latency (:func:`_routes`). Like Rockpool's Xylo design-rule check, a rule that fails
does not stop the mapper: every broken rule is collected and :class:`MappingError` lists them
all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyNN.standardmodels import cells as pynn_cells

from ..chip.config import CODE_MAX, K_AXONS, N_DENDS, ChipConfig
from . import translation as tr
from .standardmodels import ChipNeuron

THETAS = np.arange(1, CODE_MAX + 1)
IF_KIND, CHIP_KIND = 0, 1


class MappingError(ValueError):
    """The network breaks rules of the chip; ``rules`` lists every one of them.

    Examples
    --------
    >>> err = MappingError(["rule one", "rule two"])
    >>> err.rules
    ('rule one', 'rule two')
    >>> str(err).splitlines()[0]
    'the network cannot be mapped onto the chip: 2 rules broken'
    """

    def __init__(self, rules, mapping=None):
        self.rules = tuple(rules)
        self.mapping = mapping
        lines = [f"the network cannot be mapped onto the chip: {len(self.rules)} "
                 f"rule{'s' if len(self.rules) != 1 else ''} broken"]
        lines += [f"  - {r}" for r in self.rules]
        super().__init__("\n".join(lines))


def is_source(pop) -> bool:
    return isinstance(pop.celltype, pynn_cells.SpikeSourceArray | pynn_cells.SpikeSourcePoisson)


#: current-synapse cell types translated as IF_curr_delta, with the shape of their current
CURRENT_SHAPES = ((pynn_cells.IF_curr_exp, "exp"), (pynn_cells.IF_curr_alpha, "alpha"))


def _kind(pop) -> int | None:
    if isinstance(pop.celltype, ChipNeuron):
        return CHIP_KIND
    if isinstance(pop.celltype, pynn_cells.IF_curr_delta) or _current_shape(pop):
        return IF_KIND
    return None


def _current_shape(pop) -> str | None:
    """``"exp"`` / ``"alpha"`` for a current-synapse population, None otherwise."""
    return next((shape for cls, shape in CURRENT_SHAPES if isinstance(pop.celltype, cls)), None)


@dataclass
class Mapping:
    """A network mapped onto the chip (or the attempt: ``rules`` lists what is broken).

    Arrays are indexed by neuron slot ``16 * cluster + dend`` where noted.
    """

    dt: float
    config: ChipConfig | None
    n_clusters: int
    weights: np.ndarray  #: (C, 16, 16) codes
    psp_ref: np.ndarray  #: (C, 16) codes
    theta: np.ndarray  #: (C,)
    placement: dict  #: id(population) -> (cluster, dend) arrays; see :meth:`slot_of`
    owner_pop: np.ndarray  #: slot -> index of the population in ``populations`` (-1 unused)
    owner_idx: np.ndarray  #: slot -> index in that population
    slot_v_rest: np.ndarray  #: slot -> model v_rest (mV), for v read-back
    slot_gap: np.ndarray  #: slot -> model gap (mV; NaN for ChipNeuron: chip mV as they are)
    input_rows: dict  #: source population index -> arrays (index, delay_cycles, cluster, row)
    routes: list  #: [((a, n), (b, k)), ...]
    route_latency: int | None  #: cycles, when every route takes the same (else None)
    synapses: dict  #: the quantisation table (arrays)
    notes: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    populations: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rules

    def check(self) -> Mapping:
        """Raise :class:`MappingError` if any rule is broken, else return self."""
        if self.rules:
            raise MappingError(self.rules, self)
        return self

    def slot_of(self, pop) -> tuple[np.ndarray, np.ndarray]:
        return self.placement[id(pop)]

    def program(self):
        """The :class:`~bioloop.types.ChipProgram` (codes and routes) of this mapping.

        Raises
        ------
        MappingError
            If the network breaks a rule.
        """
        from ..chip import Routes
        from ..types import ChipProgram

        self.check()
        C = self.n_clusters
        return ChipProgram(self.weights, self.psp_ref, np.full(C, CODE_MAX), CODE_MAX - self.theta,
                           (), "bioloop.pynn", routes=Routes.from_pairs(self.routes))

    noc_config: object = None  #: the resolved NocConfig the routes run on
    row_keys: dict = field(default_factory=dict)  #: cluster -> presynaptic key of each row

    def row_source(self, cluster: int, row: int) -> str:
        """What drives AXON row ``row`` of ``cluster``: ``"label[i]"`` of a spike source (with
        its delay) or of a chip neuron (through a route)."""
        keys = self.row_keys.get(cluster)
        if keys is None or row >= len(keys):
            return "unused"
        kind, a, b, d = _unpack(int(keys[row]))
        if kind == 0:
            return f"{self.populations[a].label}[{b}] (delay {d})"
        return self.neuron_name(a * N_DENDS + b) + " (route)"

    def neuron_name(self, slot: int) -> str:
        """``"label[i]"`` of the neuron at slot ``16 * cluster + dend``."""
        pi = int(self.owner_pop[slot])
        return "unused" if pi < 0 else f"{self.populations[pi].label}[{int(self.owner_idx[slot])}]"

    def noc(self):
        """The NoC (:class:`bioloop.chip.NocConfig`, mesh resolved) the routes run on."""
        from ..chip import NocConfig

        if self.noc_config is not None:
            return self.noc_config
        return NocConfig(base_cycles=self.route_latency or 1, hop_cycles=0).resolve(self.n_clusters)

    def latency(self, a: int, b: int) -> int:
        """Cycles a FIRE of cluster ``a`` takes to become an AXON input of cluster ``b``."""
        return int(self.noc().latency(a, b))


def map_network(populations, projections, *, dt: float, base_config: ChipConfig,
                routing: bool, noc=None, leak_match: float = tr.LEAK_MATCH) -> Mapping:
    """Map populations and projections onto the chip; never raises for the network itself.

    Parameters
    ----------
    populations, projections : list
        The network (``bioloop.pynn`` objects), in creation order.
    dt : float
        Time step, ms (one GCLK cycle).
    base_config : ChipConfig
        The chip's settings before translation (GCLK is set from ``dt``).
    routing : bool
        Whether this build of bioloop routes FIREs between clusters.
    noc : NocConfig, optional
        The NoC asked for in ``setup`` (every delay between chip neurons must then equal its
        route's ``base_cycles + hops * hop_cycles``); default: ``base_cycles`` from the delays,
        ``hop_cycles`` 0, the squarest mesh.
    leak_match : float
        Where the chip's linear leak has the model's exponential slope (fraction of the gap).

    Returns
    -------
    Mapping
        With ``rules`` empty when the network fits; call :meth:`Mapping.check`.
    """
    rules, notes = [], []
    neuron_pops = [p for p in populations if not is_source(p)]
    for p in neuron_pops:
        if _kind(p) is None:
            rules.append(f"population {p.label!r} has cell type {type(p.celltype).__name__}; the "
                         "chip represents IF_curr_delta, IF_curr_exp, IF_curr_alpha and "
                         "ChipNeuron (and spike sources)")
    neuron_pops = [p for p in neuron_pops if _kind(p) is not None]
    cfg = _chip_config(neuron_pops, dt, base_config, leak_match, rules, notes)
    ccfg = cfg or base_config.replace(gclk_hz=base_config.gclk_hz)
    place = _place(neuron_pops, rules)
    n_clusters = max(place["n_clusters"], 1)
    n_slots = n_clusters * N_DENDS
    owner_pop = np.full(n_slots, -1, np.int64)
    owner_idx = np.full(n_slots, -1, np.int64)
    slot_v_rest = np.full(n_slots, np.nan)
    slot_gap = np.full(n_slots, np.nan)
    slot_kind = np.full(n_slots, -1, np.int64)
    slot_theta = np.full(n_slots, np.nan)
    pop_index = {id(p): i for i, p in enumerate(populations)}
    for p in neuron_pops:
        clu, den = place["slots"][id(p)]
        slot = clu * N_DENDS + den
        owner_pop[slot] = pop_index[id(p)]
        owner_idx[slot] = np.arange(p.size)
        slot_kind[slot] = _kind(p)
        if _kind(p) == IF_KIND:
            slot_v_rest[slot] = p.parameter_array("v_rest")
            slot_gap[slot] = p.parameter_array("v_thresh") - p.parameter_array("v_rest")
        else:
            slot_theta[slot] = p.parameter_array("theta")

    syn = _collect_synapses(projections, place["slots"], pop_index, dt, rules, notes)
    rows = _assign_rows(syn, n_clusters, populations, rules)
    noc_config, latency = _check_latency(syn, noc, n_clusters, rules)
    if syn["n_neuron_pre"] and not routing:
        rules.append(f"{syn['n_neuron_pre']} connection(s) between chip neurons need routes "
                     f"({len(rows['routes'])} route(s), e.g. "
                     f"{_route_text(rows['routes'][:3])}); routing between clusters is not "
                     "available in this build of bioloop")

    slots = _Slots(slot_kind, slot_theta, slot_gap,
                   np.where(slot_kind == IF_KIND, tr.step_at_theta1(slot_gap, ccfg), 1.0))
    codes = _Codes.empty(n_clusters)
    for b in range(n_clusters):
        if b not in rows["overfull"]:
            _quantise_cluster(b, syn, slots, codes, rules)
    synapses = {k: np.asarray(v) for k, v in codes.table.items()}
    placement = {id(p): place["slots"][id(p)] for p in neuron_pops}
    return Mapping(dt, cfg, n_clusters, codes.weights, codes.psp_ref, codes.theta, placement,
                   owner_pop, owner_idx, slot_v_rest, slot_gap, rows["inputs"], rows["routes"],
                   latency, synapses, notes, rules, list(populations), noc_config,
                   rows["keys"])


# ---- chip-wide settings -------------------------------------------------------------------
def _chip_config(neuron_pops, dt, base: ChipConfig, leak_match, rules,
                 notes) -> ChipConfig | None:
    """One ChipConfig for the whole network, or None (and rules) if the neurons disagree."""
    gclk = 1000.0 / dt
    chip_pops = [p for p in neuron_pops if _kind(p) == CHIP_KIND]
    if_pops = [p for p in neuron_pops if _kind(p) == IF_KIND]
    wanted = {}  # chip setting -> {id(population): (label, values)}

    def want(setting, pop, values):
        wanted.setdefault(setting, {})[id(pop)] = (pop.label, np.unique(np.asarray(values, float)))

    for p in chip_pops:
        want("v_th", p, p.parameter_array("v_th") * 1e-3)
        want("v_rest", p, p.parameter_array("v_rest") * 1e-3)
        want("v_rfr", p, p.parameter_array("v_rfr") * 1e-3)
        want("leak", p, p.parameter_array("leak") * 1e-3)
        want("n_abs", p, p.parameter_array("n_abs"))
        th = p.parameter_array("theta")
        if np.any((th < 1) | (th > CODE_MAX) | (th != np.rint(th))):
            rules.append(f"population {p.label!r}: theta {sorted(set(th.tolist()))}; theta is a "
                         f"threshold code, an integer in 1..{CODE_MAX}")
    v_th = _single(wanted.get("v_th"), base.v_th)
    v_rest = _single(wanted.get("v_rest"), base.v_rest)
    for p in if_pops:
        v_r, v_t = p.parameter_array("v_rest"), p.parameter_array("v_thresh")
        gap = v_t - v_r
        if np.any(gap <= 0):
            rules.append(f"population {p.label!r}: v_thresh must be above v_rest "
                         f"(v_thresh - v_rest = {float(gap.min()):g} mV)")
            continue
        tau_m = p.parameter_array("tau_m")
        if np.any(tau_m <= 0):
            rules.append(f"population {p.label!r}: tau_m = {float(tau_m.min()):g} ms; must be > 0")
            continue
        i_off = p.parameter_array("i_offset")
        if np.any(i_off != 0):
            rules.append(f"population {p.label!r}: i_offset = {float(np.abs(i_off).max()):g} nA; "
                         "the chip has no bias current (i_offset must be 0)")
        v_reset = p.parameter_array("v_reset")
        if np.any(v_reset > v_r):
            rules.append(f"population {p.label!r}: v_reset = {float(v_reset.max()):g} mV is "
                         f"above v_rest; the chip resets to V_RFR below V_REST")
        want("v_rfr", p, tr.v_rfr_level(v_reset, v_r, v_t, v_rest, v_th))
        want("leak", p, tr.leak_per_cycle(tau_m, dt, v_th - v_rest, leak_match))
        n_abs = tr.n_abs_cycles(p.parameter_array("tau_refrac"), dt)
        want("n_abs", p, n_abs)
        t_ref = p.parameter_array("tau_refrac")
        dev = np.abs(n_abs * dt - t_ref).max()
        if dev > 1e-9:
            notes.append(f"{p.label}: tau_refrac rounded to {sorted(set((n_abs * dt).tolist()))} ms "
                         f"(whole GCLK cycles; up to {dev:g} ms off)")
        if np.any(v_reset == v_r):
            notes.append(f"{p.label}: v_reset = v_rest becomes V_RFR = V_REST - "
                         f"{tr.RESET_AT_REST_OFFSET * 1e6:g} uV (the chip needs V_RFR < V_REST)")
        if _current_shape(p):
            _current_synapse_rules(p, rules, notes)
        elif np.any(p.parameter_array("cm") != 1.0):
            notes.append(f"{p.label}: cm has no effect with delta synapses")
    settings = {}
    broken = False
    for name, per_pop in wanted.items():
        values = np.unique(np.round(np.concatenate([v for _, v in per_pop.values()]), 12))
        if values.size > 1:
            broken = True
            shown = "; ".join(f"{lbl}: {_fmt_setting(name, v)}" for lbl, v in per_pop.values())
            rules.append(f"chip-wide setting {name} differs between neurons ({shown}); the chip "
                         f"has one {_SETTING_WHAT[name]} for all neurons")
        elif values.size:
            settings[name] = float(values[0])
    if broken:
        return None
    kw = {"gclk_hz": gclk, "lateral_neighbours": (), "v_th": v_th, "v_rest": v_rest}
    if "v_rfr" in settings:
        kw["v_rfr"] = settings["v_rfr"]
        kw["v_lat"] = min(base.v_lat, settings["v_rfr"] - 1e-3)
    if "leak" in settings:
        kw["i_leak"] = settings["leak"] * base.c_int / base.t_swleak
    if "n_abs" in settings:
        kw["n_abs"] = int(settings["n_abs"])
    try:
        return base.replace(**kw)
    except (TypeError, ValueError) as exc:
        rules.append(f"the translated chip settings are not valid: {exc}")
        return None


def _current_synapse_rules(p, rules, notes):
    """IF_curr_exp / IF_curr_alpha: cm and tau_syn must be positive; the note says what a
    synaptic current becomes on the chip (a jump of equal charge) and how the PSP differs."""
    shape = _current_shape(p)
    cm = p.parameter_array("cm")
    bad = [n for n in ("cm", "tau_syn_E", "tau_syn_I") if np.any(p.parameter_array(n) <= 0)]
    if bad:
        rules.append(f"population {p.label!r}: {', '.join(bad)} must be > 0")
        return
    parts = []
    for name in ("tau_syn_E", "tau_syn_I"):
        tau = p.parameter_array(name)
        per_na = np.unique(np.round(tr.psp_jump_mv(1.0, tau, cm, shape), 6))
        peak = tr.psp_peak_fraction(float(tau.max()), float(p.parameter_array("tau_m").min()),
                                    shape)
        parts.append(f"{name} {'/'.join(f'{v:g}' for v in np.unique(tau))} ms: 1 nA is "
                     f"{'/'.join(f'{v:.4g}' for v in per_na)} mV, the model's PSP peaking at "
                     f"{peak:.0%} of it")
    notes.append(f"{p.label}: {type(p.celltype).__name__}'s synaptic currents become voltage "
                 f"jumps of equal charge (w {'e ' if shape == 'alpha' else ''}tau_syn / cm; "
                 + "; ".join(parts) + ")")


def _jumps_mv(w, post_pop, post_idx, receptor) -> np.ndarray:
    """Weights onto current-synapse neurons as delta jumps (mV); others unchanged."""
    w = np.array(w, float)
    for p in set(post_pop):
        shape = _current_shape(p)
        if shape is None:
            continue
        sel = np.flatnonzero([q is p for q in post_pop])
        name = "tau_syn_I" if receptor == "inhibitory" else "tau_syn_E"
        idx = post_idx[sel]
        tau, cm = p.parameter_array(name)[idx], p.parameter_array("cm")[idx]
        valid = (tau > 0) & (cm > 0)  # otherwise a rule of its own (_current_synapse_rules)
        w[sel] = np.where(valid, tr.psp_jump_mv(w[sel], tau, np.where(valid, cm, 1.0), shape),
                          0.0)
    return w


_SETTING_WHAT = {"v_th": "threshold level V_TH", "v_rest": "resting level V_REST",
                 "v_rfr": "reset level V_RFR (from v_reset, v_rest, v_thresh)",
                 "leak": "leak current (from tau_m)", "n_abs": "refractory count N_ABS "
                 "(from tau_refrac)"}


def _fmt_setting(name, values) -> str:
    if name == "n_abs":
        return "/".join(f"{int(v)}" for v in values) + " cycles"
    return "/".join(f"{v * 1e3:.4g}" for v in values) + (" mV/cycle" if name == "leak" else " mV")


def _single(per_pop, default):
    if not per_pop:
        return default
    vals = np.unique(np.concatenate([v for _, v in per_pop.values()]))
    return float(vals[0]) if vals.size == 1 else default


# ---- placement ------------------------------------------------------------------------------
def _place(neuron_pops, rules) -> dict:
    """Each population on fresh clusters, 16 neurons per cluster, in creation order; a
    population annotated ``chip_cluster=c`` starts at cluster c (to share clusters)."""
    slots, used = {}, {}
    nxt = 0
    for p in neuron_pops:
        start = p.annotations.get("chip_cluster")
        if start is None:
            start = nxt
        elif not isinstance(start, int | np.integer) or start < 0:
            rules.append(f"population {p.label!r}: chip_cluster = {start!r}; must be a cluster "
                         "index >= 0")
            start = nxt
        base = sum(used.get(start, ())) if start in used else 0
        pos = start * N_DENDS + base + np.arange(p.size)
        clu, den = pos // N_DENDS, pos % N_DENDS
        slots[id(p)] = (clu.astype(np.int64), den.astype(np.int64))
        for c in np.unique(clu):
            used.setdefault(int(c), []).append(int((clu == c).sum()))
        nxt = max(nxt, int(clu.max()) + 1 if p.size else nxt)
    for c, counts in used.items():
        if sum(counts) > N_DENDS:
            rules.append(f"cluster {c} holds {sum(counts)} neurons; a cluster has {N_DENDS} DENDs")
    return {"slots": slots, "n_clusters": nxt}


# ---- synapses and rows ------------------------------------------------------------------------
def _collect_synapses(projections, slots, pop_index, dt, rules, notes) -> dict:
    """Every connection as arrays: post slot, presynaptic key, weight, delay cycles."""
    post_slot, pre_kind, pre_a, pre_b, d_cyc, weight, proj_no = [], [], [], [], [], [], []
    max_round = 0.0
    for j, prj in enumerate(projections):
        pre_pop, pre_idx, post_pop, post_idx, w, d = prj.global_connections()
        if w.size == 0:
            continue
        if any(is_source(p) for p in set(post_pop)):
            rules.append(f"projection {prj.label!r} ends on a spike source")
            continue
        if any(id(p) not in slots for p in set(post_pop)):
            continue  # cell type already reported
        bad = ~np.isfinite(d) | (d < 0)
        if bad.any():  # a negative cycle count would corrupt the row keys below
            rules.append(f"projection {prj.label!r} has {int(bad.sum())} delay(s) like "
                         f"{float(d[bad][0]):g} ms; delays must be finite and >= 0 ms")
            continue
        cyc = np.rint(d / dt).astype(np.int64)
        max_round = max(max_round, float(np.abs(cyc * dt - d).max()))
        clu = np.array([slots[id(p)][0][i] for p, i in zip(post_pop, post_idx, strict=True)])
        den = np.array([slots[id(p)][1][i] for p, i in zip(post_pop, post_idx, strict=True)])
        post_slot.append(clu * N_DENDS + den)
        src = np.array([is_source(p) for p in pre_pop])
        a = np.empty(w.size, np.int64)
        b = np.empty(w.size, np.int64)
        for i, (p, k) in enumerate(zip(pre_pop, pre_idx, strict=True)):
            if src[i]:
                a[i], b[i] = pop_index[id(p)], k
            elif id(p) in slots:
                a[i], b[i] = slots[id(p)][0][k], slots[id(p)][1][k]
            else:
                a[i], b[i] = -1, -1
        w = _jumps_mv(w, post_pop, post_idx, prj.receptor_type)
        pre_kind.append(np.where(src, 0, 1))
        pre_a.append(a)
        pre_b.append(b)
        d_cyc.append(cyc)
        weight.append(w)
        proj_no.append(np.full(w.size, j))
    if max_round > 1e-9:
        notes.append(f"delays rounded to whole GCLK cycles of {dt:g} ms (up to {max_round:g} ms)")

    def cat(x, dtype):
        return np.concatenate(x).astype(dtype) if x else np.zeros(0, dtype)

    syn = {"post_slot": cat(post_slot, np.int64), "kind": cat(pre_kind, np.int64),
           "a": cat(pre_a, np.int64), "b": cat(pre_b, np.int64), "delay": cat(d_cyc, np.int64),
           "weight": cat(weight, float), "projection": cat(proj_no, np.int64)}
    keep = syn["a"] >= 0
    syn = {k: v[keep] for k, v in syn.items()}
    # a source's row is per (source, delay); a chip neuron's row is per neuron (its route)
    key_delay = np.where(syn["kind"] == 0, syn["delay"], 0)
    syn["key"] = ((syn["kind"] << 52) | (syn["a"] << 32) | (syn["b"] << 16) | key_delay)
    syn["n_neuron_pre"] = int((syn["kind"] == 1).sum())
    return syn


def _assign_rows(syn, n_clusters, populations, rules) -> dict:
    """AXON rows: per cluster, one per distinct presynaptic key, in key order."""
    post_cluster = syn["post_slot"] // N_DENDS
    syn["row"] = np.full(post_cluster.size, -1, np.int64)
    overfull, routes, row_keys = set(), [], {}
    inputs: dict[int, list] = {}
    for b in range(n_clusters):
        sel = np.flatnonzero(post_cluster == b)
        if sel.size == 0:
            continue
        keys, inv = np.unique(syn["key"][sel], return_inverse=True)
        if keys.size > K_AXONS:
            overfull.add(b)
            names = [_key_name(k, populations) for k in keys]
            rules.append(f"cluster {b} needs {keys.size} presynaptic sources but has {K_AXONS} "
                         f"AXON rows ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
            continue
        syn["row"][sel] = inv
        row_keys[b] = keys
        for k, key in enumerate(keys.tolist()):
            kind, a, bb, dly = _unpack(key)
            if kind == 0:
                inputs.setdefault(a, []).append((bb, dly, b, k))
            else:
                routes.append(((a, bb), (b, k)))
    inputs = {a: tuple(np.array(col, np.int64) for col in zip(*v, strict=True))
              for a, v in inputs.items()}
    return {"overfull": overfull, "routes": routes, "inputs": inputs, "keys": row_keys}


def _unpack(key: int) -> tuple[int, int, int, int]:
    """(kind, a, b, delay) of a presynaptic key: kind 0 is a spike source (population a, index
    b, delay in cycles), kind 1 a chip neuron (cluster a, dend b)."""
    return key >> 52, (key >> 32) & 0xFFFFF, (key >> 16) & 0xFFFF, key & 0xFFFF


def _key_name(key, populations) -> str:
    kind, a, b, d = _unpack(int(key))
    if kind == 0:
        return f"{populations[a].label}[{b}] delay {d}"
    return f"neuron (cluster {a}, dend {b})"


def _check_latency(syn, noc, n_clusters, rules):
    """The NoC of the routes and, when all routes take the same, their latency.

    Without a NoC from ``setup`` every route takes the network's one delay between chip neurons
    (``base_cycles``, ``hop_cycles = 0``); with one, each delay must be its route's
    ``base_cycles + hops * hop_cycles``.
    """
    from ..chip import NocConfig

    neuron = syn["kind"] == 1
    d = syn["delay"][neuron]
    if noc is None:
        if d.size == 0:
            return None, None
        values = np.unique(d)
        if values.size > 1:
            rules.append(f"delays between chip neurons differ ({values.tolist()} cycles); the NoC "
                         "delivers every route after the same latency (base_cycles, hop_cycles 0; "
                         "setup(noc=NocConfig(hop_cycles=...)) gives latencies that grow with the "
                         "hops)")
        if values.min() < 1:
            rules.append(f"a delay between chip neurons of {int(values.min())} cycles; a route "
                         "takes at least 1 GCLK cycle")
        return NocConfig(base_cycles=max(int(values.max()), 1)).resolve(n_clusters), int(values.max())
    try:
        noc = noc.resolve(n_clusters)
    except ValueError as exc:
        rules.append(f"the NoC of setup(noc=...) cannot hold the network: {exc}")
        return None, None
    a, b = syn["a"][neuron], syn["post_slot"][neuron] // N_DENDS
    lat = np.asarray(noc.latency(a, b), np.int64).reshape(-1)
    bad = lat != d
    if bad.any():
        combos = sorted({(int(x), int(y), int(p), int(q)) for x, y, p, q in
                         zip(a[bad], b[bad], d[bad], lat[bad], strict=True)})
        shown = "; ".join(f"cluster {x} -> {y}: delay {p}, route {q} cycles"
                          for x, y, p, q in combos[:4])
        rules.append(f"{int(bad.sum())} connection(s) between chip neurons have delays the NoC "
                     f"cannot realise ({shown}{'; ...' if len(combos) > 4 else ''}); a route "
                     f"takes base_cycles + hops x hop_cycles = {noc.base_cycles} + hops x "
                     f"{noc.hop_cycles} on the {noc.mesh[0]} x {noc.mesh[1]} mesh")
    uniform = int(lat[0]) if lat.size and np.all(lat == lat[0]) else None
    return noc, uniform


def _route_text(routes) -> str:
    return ", ".join(f"({a},{n})->({b},row {k})" for (a, n), (b, k) in routes)


# ---- quantisation ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Slots:
    """What the quantiser needs of each neuron slot ``16 * cluster + dend``."""

    kind: np.ndarray  #: IF_KIND, CHIP_KIND or -1 (unused)
    theta: np.ndarray  #: ChipNeuron's threshold code, NaN otherwise
    gap: np.ndarray  #: IF_curr_delta's v_thresh - v_rest (mV), NaN otherwise
    step1: np.ndarray  #: weight unit per code at theta = 1 (mV; 1 for ChipNeuron)


@dataclass
class _Codes:
    """The program being written, and the per-synapse quantisation table."""

    weights: np.ndarray
    psp_ref: np.ndarray
    theta: np.ndarray
    table: dict

    @classmethod
    def empty(cls, n_clusters: int) -> _Codes:
        keys = ("cluster", "row", "dend", "wanted", "realised", "relative_error", "unit",
                "n_connections")
        return cls(np.zeros((n_clusters, K_AXONS, N_DENDS), np.int64),
                   np.zeros((n_clusters, K_AXONS), np.int64), np.full(n_clusters, 5, np.int64),
                   {k: [] for k in keys})


def _quantise_cluster(b, syn, slots: _Slots, codes: _Codes, rules):
    """theta of cluster ``b`` and r of its rows for the smallest quantisation error."""
    sel = np.flatnonzero(syn["post_slot"] // N_DENDS == b)
    cols = np.arange(b * N_DENDS, (b + 1) * N_DENDS)
    fixed = np.unique(slots.theta[cols][~np.isnan(slots.theta[cols])])
    if fixed.size > 1:
        rules.append(f"cluster {b} holds neurons with thresholds theta = {fixed.astype(int).tolist()}; "
                     "the threshold is shared by a cluster")
        return
    if sel.size == 0:
        codes.theta[b] = int(fixed[0]) if fixed.size else 5
        return
    want = np.zeros((K_AXONS, N_DENDS))
    count = np.zeros((K_AXONS, N_DENDS), np.int64)
    r_idx, c_idx = syn["row"][sel], syn["post_slot"][sel] % N_DENDS
    np.add.at(want, (r_idx, c_idx), syn["weight"][sel])
    np.add.at(count, (r_idx, c_idx), 1)
    has = count > 0
    kind = slots.kind[cols]
    scale = np.where(kind == IF_KIND, slots.gap[cols], 1.0)  # relative error denominators
    candidates = [int(fixed[0])] if fixed.size else THETAS.tolist()
    best = None
    for th in sorted(candidates, reverse=True):  # ties go to the finer steps
        step = np.where(kind == IF_KIND, slots.step1[cols] / th, 1.0)
        s = np.where(has, np.rint(want / step), 0).astype(np.int64)
        r, clipped = _best_refs(s, want, step, scale, has)
        err = np.where(has, (clipped * step - want) / scale, 0.0)
        cost = float((err ** 2).sum())
        broken = _row_rules(b, s, has)
        key = (bool(broken), cost)
        if best is None or key < best[0]:
            best = (key, th, s, r, clipped, step, err, broken)
    _, th, s, r, clipped, step, err, broken = best
    rules.extend(broken)
    codes.theta[b] = th
    codes.psp_ref[b] = r
    codes.weights[b] = np.where(has, clipped + r[:, None], r[:, None])
    rr, cc = np.nonzero(has)
    q = codes.table
    q["cluster"].extend([b] * rr.size)
    q["row"].extend(rr.tolist())
    q["dend"].extend(cc.tolist())
    q["wanted"].extend(want[rr, cc].tolist())
    q["realised"].extend((clipped * step)[rr, cc].tolist())
    q["relative_error"].extend(err[rr, cc].tolist())
    q["unit"].extend(["mV" if kind[c] == IF_KIND else "code" for c in cc])
    q["n_connections"].extend(count[rr, cc].tolist())


def _best_refs(s, want, step, scale, has):
    """Per row, the PSP reference r (0..7) whose window [-r, 7 - r] loses the least."""
    refs = np.arange(CODE_MAX + 1)
    lo = -refs[:, None, None]
    hi = CODE_MAX - refs[:, None, None]
    cl = np.clip(s[None], lo, hi)  # (8, K, N)
    err = np.where(has[None], (cl * step[None] - want[None]) / scale[None], 0.0)
    cost = (err ** 2).sum(axis=2)  # (8, K)
    r = np.argmin(cost, axis=0)  # smallest r among the best
    clipped = cl[r, np.arange(s.shape[0])]
    return r.astype(np.int64), clipped


def _row_rules(b, s, has) -> list[str]:
    """The code-range rules for cluster ``b``'s rounded codes ``s``."""
    out = []
    big = has & (np.abs(s) > CODE_MAX)
    if big.any():
        k, n = np.argwhere(big)[0]
        out.append(f"cluster {b}: {int(big.sum())} weight(s) beyond +/-{CODE_MAX} steps at any "
                   f"threshold (e.g. row {k}, dend {n}: {int(s[k, n])} steps)")
    s0 = np.where(has, s, 0)
    span = np.maximum(s0.max(axis=1), 0) - np.minimum(s0.min(axis=1), 0)
    # rows whose codes are out of range on their own are reported above
    wide = np.flatnonzero((span > CODE_MAX) & ~big.any(axis=1))
    for k in wide:
        vals = sorted(set(s[k][has[k]].tolist()))
        out.append(f"cluster {b} row {k}: its weights need codes {vals} (and 0 for no synapse), "
                   f"a window of {int(span[k]) + 1} levels; one PSP reference gives a 3-bit window "
                   f"of {CODE_MAX + 1}")
    return out
