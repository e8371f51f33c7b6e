"""``bioloop chip info``: the configuration and what follows from it, Table 1 of the paper
(synapses, neurons and area of one chip and of a cluster of chips) and the NoC in use."""

from __future__ import annotations

from ._session_args import add_noc_arguments, noc_config

#: Table 1 of Lee et al., Front. Neurosci. 19:1599144 (2025), "this work" (section 3.4)
PAPER_TABLE1 = {
    1: {"synapses": 256, "neurons": 16, "area_mm2": 0.576},
    16: {"synapses": 4096, "neurons": 256, "area_mm2": 7.74, "neurons_per_mm2": 33},
}

NAME = "chip"
HELP = "chip model: 'info' prints the config and what follows from it"


def add_arguments(p):
    p.add_argument("action", choices=["info"], help="what to do")
    p.add_argument("--config", metavar="TOML", help="chip config file ([chip] table)")
    p.add_argument("--gclk", type=float, metavar="HZ", help="GCLK frequency, 1000..50000 Hz")
    p.add_argument("--seed", type=int, help="also describe one chip instance with this seed")
    p.add_argument("--clusters", type=int, default=1, metavar="C",
                   help="clusters (chips) of the system described (Table 1: --clusters 16)")
    add_noc_arguments(p)


def load_config(args):
    from bioloop.chip import ChipConfig

    cfg = ChipConfig.load(args.config) if getattr(args, "config", None) else ChipConfig()
    if getattr(args, "gclk", None) is not None:
        cfg = cfg.replace(gclk_hz=args.gclk)
    return cfg


def run(args) -> dict:
    import numpy as np

    from bioloop import validate as _v
    from bioloop.chip import Chip, NocConfig
    from bioloop.chip.config import CODE_MAX

    cfg = load_config(args)
    C = _v.integer("--clusters", args.clusters, lo=1, hi=65_536)
    noc = (noc_config(args) or NocConfig()).resolve(C)
    thetas = range(1, CODE_MAX + 1)
    out = {
        "config": cfg.to_dict(),
        "derived": {
            "alpha_uA": cfg.alpha * 1e6,
            "i_p_uA": cfg.i_p * 1e6,
            "i_ap_uA": cfg.i_ap * 1e6,
            "tmr_ratio": cfg.tmr_ratio,
            "gclk_period_us": cfg.gclk_period * 1e6,
            "t_integ_ns": {str(t): cfg.t_integ_nominal(t) * 1e9 for t in thetas},
            "dv_per_unit_s_over_theta_mV": cfg.dv_per_unit * 1e3,
            "leak_per_cycle_mV": cfg.leak_step * 1e3,
            "recovery_cycles_from_v_rfr": cfg.recovery_cycles(cfg.v_rfr),
            "recovery_cycles_from_v_lat": cfg.recovery_cycles(cfg.v_lat),
            "absolute_refractory_s": cfg.n_abs * cfg.gclk_period,
            "cycle_schedule_ns_theta1": cfg.cycle_time_needed(1) * 1e9,
        },
        "system": system_table(cfg, C, noc),
    }
    if args.seed is not None:
        chip = Chip(cfg, n_clusters=args.clusters, seed=args.seed)
        w = np.zeros((16, 16), int)
        chip.program(w, np.zeros(16, int), threshold_gen=7, threshold_ref=2)
        lv = chip.levels
        out["instance"] = {
            "seed": args.seed,
            "t_integ_ns_theta5": (chip.t_integ() * 1e9).tolist(),
            "comparator_offset_mV_mean": float((lv["v_th"] - cfg.v_th).mean() * 1e3),
            "comparator_offset_mV_sigma": float((lv["v_th"] - cfg.v_th).std() * 1e3),
        }
    return out


def system_table(cfg, n_clusters: int, noc) -> dict:
    """Table 1's rows for one chip and for ``n_clusters`` chips, from the configuration."""
    from bioloop.chip.config import K_AXONS, N_DENDS

    def row(C):
        area = cfg.area_mm2(C)
        return {"clusters": C, "synapses": C * K_AXONS * N_DENDS, "neurons": C * N_DENDS,
                "neurons_with_axons": C * (K_AXONS + N_DENDS), "area_mm2": area,
                "neurons_per_mm2": C * N_DENDS / area}

    rows, cols = noc.mesh
    return {"chip": row(1), "system": row(n_clusters),
            "paper": PAPER_TABLE1.get(n_clusters),
            "noc": noc.to_dict(), "mesh": [rows, cols], "max_hops": (rows - 1) + (cols - 1),
            "max_latency_cycles": noc.base_cycles + ((rows - 1) + (cols - 1)) * noc.hop_cycles}


def noc_text(noc: dict) -> str:
    """The NoC settings in one line.

    Examples
    --------
    >>> noc_text({"mesh": [4, 4], "base_cycles": 1, "hop_cycles": 0, "link_capacity": None, "queue_depth": 16})
    'NoC settings: latency 1 cycle + 0 per hop; links unlimited (no queue)'
    """
    cap = noc["link_capacity"]
    links = ("links unlimited (no queue)" if cap is None else
             f"links carry {cap} packet{'s' if cap != 1 else ''} per cycle, FIFO of {noc['queue_depth']} "
             "in front of each (beyond it: dropped, counted)")
    b = noc["base_cycles"]
    return f"NoC settings: latency {b} cycle{'s' if b != 1 else ''} + {noc['hop_cycles']} per hop; {links}"


def format_text(s: dict) -> str:
    d = s["derived"]
    lines = ["chip config:"]
    lines += [f"  {k} = {v}" for k, v in s["config"].items() if not isinstance(v, dict)]
    lines += [
        "derived:",
        f"  alpha = I_P - I_AP = {d['alpha_uA']:.4g} uA (I_P {d['i_p_uA']:.4g} uA, I_AP {d['i_ap_uA']:.4g} uA,"
        f" TMR ratio {d['tmr_ratio']:.3g})",
        f"  GCLK period = {d['gclk_period_us']:.4g} us",
        "  T_integ per theta: " + ", ".join(f"{t}: {v:.1f} ns" for t, v in d["t_integ_ns"].items()),
        f"  V_INTEG step per unit s/theta = {d['dv_per_unit_s_over_theta_mV']:.4g} mV",
        f"  leak per cycle = {d['leak_per_cycle_mV']:.4g} mV",
        f"  recovery from V_RFR = {d['recovery_cycles_from_v_rfr']} cycles, "
        f"from V_LAT = {d['recovery_cycles_from_v_lat']} cycles",
        f"  absolute refractory = {d['absolute_refractory_s'] * 1e3:.4g} ms",
    ]
    t = s["system"]
    lines.append("Table 1 (from the config; neurons = DEND columns, as the paper counts them):")
    lines.append(f"  {'':22s}{'synapses':>10s}{'neurons':>9s}{'area mm^2':>11s}{'neurons/mm^2':>14s}")
    for name, r in (("one chip", t["chip"]), (f"{t['system']['clusters']}-chip system", t["system"])):
        lines.append(f"  {name:22s}{r['synapses']:>10,d}{r['neurons']:>9,d}{r['area_mm2']:>11.4g}"
                     f"{r['neurons_per_mm2']:>14.1f}")
    for name, p in (("paper: one chip", PAPER_TABLE1[1]), (f"paper: {t['system']['clusters']} chips", t["paper"])):
        if p and (name.endswith("one chip") or t["system"]["clusters"] != 1):
            lines.append(f"  {name:22s}{p['synapses']:>10,d}{p['neurons']:>9,d}{p['area_mm2']:>11.4g}"
                         + (f"{p['neurons_per_mm2']:>14d}" if "neurons_per_mm2" in p else ""))
    lines.append(f"  counting each AXON as a neuron too: {t['chip']['neurons_with_axons']} per chip")
    lines.append(f"  NoC: {t['mesh'][0]}x{t['mesh'][1]} mesh, up to {t['max_hops']} hops, "
                 f"longest latency {t['max_latency_cycles']} cycles without congestion")
    lines.append("  " + noc_text(t["noc"]))
    if "instance" in s:
        i = s["instance"]
        lines.append(f"instance seed {i['seed']}: T_integ(theta=5) = "
                     + ", ".join(f"{t:.1f}" for t in i["t_integ_ns_theta5"]) + " ns")
    return "\n".join(lines)
