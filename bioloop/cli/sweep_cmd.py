"""``bioloop sweep SWEEP.toml``: a grid of independent cells on dask.distributed, one table.

Exit status 3 when any cell failed (each failure is recorded in its cell file and the table).
"""

from __future__ import annotations

NAME = "sweep"
HELP = "run a grid of replay / compare / chip cells on Dask; one tidy table and plots"
#: exit status when the sweep finished but some cells failed
EXIT_FAILED_CELLS = 3


def add_arguments(p):
    p.add_argument("sweep", nargs="?", metavar="SWEEP.toml", help="the sweep file (or --builtin)")
    p.add_argument("--builtin", choices=["mismatch"],
                   help="a built-in study: 'mismatch' = device variation over --chips instances")
    p.add_argument("--chips", type=int, metavar="N", help="--builtin mismatch: chip instances (default 1000)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="a LocalCluster of N worker processes, one thread each (default 2)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="attach to a running Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the scheduler and its first worker (default 10)")
    p.add_argument("--out", metavar="DIR", help="results folder (default sweep-<name>)")
    p.add_argument("--resume", action="store_true", help="skip the cells that finished in DIR")
    p.add_argument("--no-plots", action="store_true", help="no PNG per metric and axis")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> dict:
    from pathlib import Path

    from bioloop.sweep import DaskExecutor, load, mismatch_spec, mismatch_study, run_sweep
    from bioloop.sweep.run import check_out

    if (args.sweep is None) == (args.builtin is None):
        raise ValueError("give a SWEEP.toml or --builtin NAME (exactly one)")
    if args.builtin is None and args.chips is not None:
        raise ValueError("--chips applies to --builtin mismatch")
    if args.builtin == "mismatch":
        spec = mismatch_spec(1000 if args.chips is None else args.chips)
        out = Path(args.out or "sweep-mismatch")
    else:
        spec = load(args.sweep)  # every check that needs no worker happens here, before submitting
        out = Path(args.out or f"sweep-{Path(args.sweep).stem}")
    check_out(out, args.resume)
    with DaskExecutor(workers=args.workers, scheduler=args.scheduler, timeout=args.timeout) as ex:
        summary = run_sweep(spec, ex, out, resume=args.resume, progress=not args.quiet,
                            plots=not args.no_plots)
    if args.builtin == "mismatch":
        summary["mismatch"] = mismatch_study(spec, out)
    return summary


def exit_status(summary: dict) -> int:
    return EXIT_FAILED_CELLS if summary.get("failed") else 0


def format_text(s: dict) -> str:
    ex = s["executor"]
    where = f"{ex['workers']} worker(s)" + (f" at {ex['scheduler']}" if ex.get("scheduler") else "")
    lines = [f"sweep {s['source']}: {s['cells']} {s['kind']} cells, {s['ran']} run, {s['skipped']} "
             f"finished earlier; {s['ok']} ok, {s['failed']} failed ({s['wall_s']:.1f} s on {where})"]
    lines += [f"  failed cell {f['cell']} ({f['key']}): {f['error']}" for f in s["failures"]]
    if s["failed"] > len(s["failures"]):
        lines.append(f"  ... and {s['failed'] - len(s['failures'])} more (see the table)")
    lines.append(f"table   {s['table']['parquet']}  (and .csv)")
    lines.append(f"plots   {s['plots']['n']} PNG in {s['plots']['folder']}")
    if "mismatch" in s:
        m = s["mismatch"]
        t5, t7 = m["theta_5"], m["theta_7"]
        lines.append(f"mismatch over {m['chips']} chips: T_integ spread at {m['v_th_mV'][1]:g} mV: theta 5 "
                     f"{t5['spread_ns']['at_max_v_th']:.1f} ns (sigma {t5['sigma_ns']['at_max_v_th']:.1f}), "
                     f"theta 7 {t7['spread_ns']['at_max_v_th']:.1f} ns (sigma {t7['sigma_ns']['at_max_v_th']:.1f})")
        rates = ", ".join(f"{k}: {v:.2%}" for k, v in m["flip_rate"].items()) or "none"
        lines.append(f"  flipped decisions {m['flips_total']} of {m['decisions_total']} "
                     f"({m['chips_with_a_flip']} chips with a flip): {rates}")
        lines.append(f"  figure {m['files']['png']}")
    return "\n".join(lines)
