"""Command-line options shared by the verbs that run a session (replay, demo, live)."""

from __future__ import annotations


def add_session_arguments(p, *, window: bool = True) -> None:
    p.add_argument("--network", default="relay",
                   help="relay | burst[:K] | lateral | random[:SEED] | chain:L | ring:L | recurrent[:SEED] | "
                        "FILE.npz/.toml (default relay)")
    add_chip_size_arguments(p)
    p.add_argument("--gclk", type=float, default=1e3, metavar="HZ", help="GCLK, 1000..50000 Hz (default 1000)")
    p.add_argument("--chip-config", metavar="TOML", help="chip config file ([chip] table)")
    p.add_argument("--backend", default="chip", help="backend by name (default: chip)")
    p.add_argument("--board", metavar="URI", help="with --backend board: the board (emulator://, "
                   "emulator+tcp://127.0.0.1:PORT, i2c:///dev/i2c-N, ftdi://ftdi:232h/1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chip instance and random networks")
    p.add_argument("--ideal", action="store_true", help="chip without device mismatch")
    if window:
        p.add_argument("--start", type=float, metavar="S", help="window start, s")
        p.add_argument("--stop", type=float, metavar="S", help="window stop, s")
    p.add_argument("--map", metavar="FILE", help="electrode map (.toml/.csv: label,cluster,axon)")
    p.add_argument("--allow-unmapped", action="store_true",
                   help="drop (and count) spikes of electrodes the map does not cover")
    p.add_argument("--blanking-ms", type=float, default=2.0, help="input blanked after a stimulation (ms)")
    p.add_argument("--blanking-scope", default="electrode", choices=["electrode", "global"])
    g = p.add_argument_group("stimulation")
    g.add_argument("--amplitude-ua", type=float, default=1.0, help="phase current, uA (default 1)")
    g.add_argument("--phase-width-us", type=float, default=200.0, help="multiple of 20 us (default 200)")
    g.add_argument("--interphase-us", type=float, default=0.0)
    g.add_argument("--polarity", default="cathodic-first", choices=["cathodic-first", "anodic-first"])
    g.add_argument("--stim-delay-ms", type=float, default=0.0, help="delay added to each FIRE time")
    g.add_argument("--max-amplitude-ua", type=float, default=3.0, help="safety limit |I| (default 3 uA)")
    g.add_argument("--max-charge-nc", type=float, default=3.0, help="safety limit per phase (default 3 nC)")
    g.add_argument("--min-interval-ms", type=float, default=10.0, help="per electrode (default 10 ms)")
    g.add_argument("--rate-cap", type=int, default=100, help="commands per second, all electrodes")
    g.add_argument("--electrode-area-um2", type=float, help="enables the Shannon check (k <= --shannon-k)")
    g.add_argument("--shannon-k", type=float, default=1.85)
    g.add_argument("--stim-map", metavar="FILE", help="(cluster, dend) -> electrode map file")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


#: NocConfig field -> its command-line option
NOC_OPTIONS = {"base_cycles": "--noc-base-cycles", "hop_cycles": "--noc-hop-cycles",
               "link_capacity": "--noc-link-capacity", "queue_depth": "--noc-queue-depth"}


def add_chip_size_arguments(p) -> None:
    """``--clusters``, ``--mesh``, the NoC's latencies and links, ``--allow-shared-rows``: the
    verbs that build a chip."""
    p.add_argument("--clusters", type=int, metavar="C",
                   help="at least C clusters (default: what the electrodes and the network need)")
    add_noc_arguments(p)
    p.add_argument("--allow-shared-rows", action="store_true",
                   help="let electrodes and routes drive the same AXON row (OR, counted as merged)")


def add_noc_arguments(p) -> None:
    """``--mesh`` and the NoC options (:class:`bioloop.chip.NocConfig`)."""
    p.add_argument("--mesh", metavar="RxC", help="NoC mesh of routers, e.g. 4x4 (default: squarest for C)")
    p.add_argument("--noc-base-cycles", type=int, metavar="N",
                   help="cycles from a FIRE to its packets' AXON inputs with no hop, >= 1 (default 1)")
    p.add_argument("--noc-hop-cycles", type=int, metavar="N", help="cycles added per mesh hop, >= 0 (default 0)")
    p.add_argument("--noc-link-capacity", type=int, metavar="N",
                   help="packets one link carries per cycle, >= 1 (default: unlimited)")
    p.add_argument("--noc-queue-depth", type=int, metavar="N",
                   help="with --noc-link-capacity: packets waiting in each link's FIFO, >= 0 (default 16)")


def noc_config(args):
    """The :class:`~bioloop.chip.NocConfig` of :func:`add_noc_arguments` (mesh included), or None
    when none of them is given.

    Raises
    ------
    ValueError
        A bad mesh or value, named by its option; ``--noc-queue-depth`` without a capacity.
    """
    from bioloop.chip import NocConfig
    from bioloop.chip.noc import parse_mesh

    given = {f: getattr(args, "noc_" + f) for f in NOC_OPTIONS if getattr(args, "noc_" + f, None) is not None}
    mesh = getattr(args, "mesh", None)
    if not given and not mesh:
        return None
    if "queue_depth" in given and "link_capacity" not in given:
        raise ValueError("--noc-queue-depth applies with --noc-link-capacity (links of unlimited capacity "
                         "queue nothing)")
    try:
        return NocConfig(mesh=parse_mesh(mesh) if mesh else None, **given)
    except ValueError as exc:
        msg = str(exc)
        for field, option in NOC_OPTIONS.items():
            if msg.startswith(field + " "):
                raise ValueError(option + msg[len(field):]) from None
        raise


def chip_size_options(args) -> dict:
    """SessionOptions fields from :func:`add_chip_size_arguments` (ValueError for a bad mesh or
    NoC value)."""
    noc = noc_config(args)
    return {"n_clusters": getattr(args, "clusters", None), "mesh": noc.mesh if noc else None, "noc": noc,
            "allow_shared_rows": bool(getattr(args, "allow_shared_rows", False))}


def session_options(args):
    from bioloop.chip import ChipConfig
    from bioloop.session import SessionOptions
    from bioloop.stimulator import StimulatorConfig

    cfg = ChipConfig.load(args.chip_config) if args.chip_config else None
    board = getattr(args, "board", None)
    if board is not None and args.backend != "board":
        raise ValueError(f"--board applies to --backend board, not --backend {args.backend}")
    area = args.electrode_area_um2
    stim = StimulatorConfig(
        amplitude=args.amplitude_ua * 1e-6, phase_width=args.phase_width_us * 1e-6,
        interphase=args.interphase_us * 1e-6, polarity=args.polarity, delay=args.stim_delay_ms * 1e-3,
        max_amplitude=args.max_amplitude_ua * 1e-6, max_charge=args.max_charge_nc * 1e-9,
        min_interval=args.min_interval_ms * 1e-3, rate_cap=args.rate_cap, shannon_k=args.shannon_k,
        electrode_area=None if area is None else area * 1e-12)
    return SessionOptions(
        network=args.network, gclk_hz=args.gclk, chip_config=cfg, backend=args.backend, seed=args.seed,
        mismatch=not args.ideal, t_start=getattr(args, "start", None), t_stop=getattr(args, "stop", None),
        electrode_map=args.map, allow_unmapped=args.allow_unmapped, blanking=args.blanking_ms * 1e-3,
        blanking_scope=args.blanking_scope, stimulator=stim, stim_map=args.stim_map,
        backend_options={"board": board} if args.backend == "board" else {},
        **chip_size_options(args))


def format_summary(s: dict) -> str:
    lines = [f"input spikes   {s['input_spikes']}",
             f"axon pulses    {s['axon_pulses']}",
             "dropped        " + ", ".join(f"{k} {v}" for k, v in s["dropped"].items()),
             f"FIREs          {s['fires']}  (inputs ignored in absolute refractory: {s['ignored_refractory']})",
             f"stimulations   {s['stimulations']}",
             "refused        " + ", ".join(f"{k} {v}" for k, v in s["refused"].items()),
             f"duration       {s['duration_s']:.3f} s in {s['wall_s']:.3f} s wall"
             + (f" ({s['realtime_factor']:.0f}x real time)" if s.get("realtime_factor") else "")]
    r = s.get("routing")
    if r and (r["routes"] or r["packets"]):
        lines.append(f"NoC packets    {r['packets']} sent = {r['routed']} routed + {r['dropped_congestion']} "
                     f"dropped (congestion) + {r['in_flight']} in flight at the end; {r['routed_merged']} "
                     f"routed onto an active row (merged), {r['congestion_delayed']} delayed by congestion "
                     f"({r['congestion_delay_cycles']} extra cycles), {r['routes']} routes")
    if "latency_ms" in s:
        lat = s["latency_ms"]
        lines.append(f"latency        p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, max {lat['max']:.3f} ms")
    link = s.get("backend", {}).get("link")
    if link:
        lines.append(f"board link     {link['transactions']} transactions; NAKs {link['naks']}, CRC errors "
                     f"{link['crc_errors']}, timeouts {link['timeouts']}, dropped and resent {link['dropped']}")
        for r in s["backend"].get("dac_rounding", []):
            lines.append(f"board DAC      {r['level']} {r['requested']:.6g} set to {r['set']:.6g} "
                         f"(rounded by {r['error']:+.3g})")
        load = s["backend"].get("bus_load")
        if load is not None:
            lines.append(f"board bus load {load:.2f} at {s['backend']['bus_hz'] / 1e3:g} kHz"
                         + (" (above 1: not real time on hardware)" if load > 1 else ""))
    if s.get("session"):
        lines.append(f"session        {s['session']}")
    return "\n".join(lines)
