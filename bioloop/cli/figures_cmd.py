"""``bioloop figures --out DIR``: reproduce the paper's figures (PNG + CSV each)."""

from __future__ import annotations

NAME = "figures"
HELP = "reproduce the paper's figures from the chip model (PNG + CSV for each)"


def add_arguments(p):
    p.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: ./figures)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Monte Carlo and chip instances")


def run(args) -> dict:
    from bioloop.figures import make_all

    return make_all(args.out, seed=args.seed)


def format_text(summary: dict) -> str:
    from bioloop.figures import format_summary

    return format_summary(summary)
