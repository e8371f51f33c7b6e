"""``bioloop recover JOURNAL``: a crashed session's journal becomes a session file."""

from __future__ import annotations

from pathlib import Path

NAME = "recover"
HELP = "turn a session journal (left by a crash) into a session file"


def add_arguments(p):
    p.add_argument("journal", help="the .journal file next to the session file")
    p.add_argument("--out", metavar="SESSION.nix", help="default: the journal's name without .journal")


def run(args) -> dict:
    from bioloop.session import SessionLog, read_journal, write_session

    jpath = Path(args.journal)
    contents = read_journal(jpath)
    log = SessionLog.from_records(contents.records)
    if args.out:
        out = Path(args.out)
    elif jpath.name.endswith(".journal"):
        out = jpath.with_name(jpath.name[: -len(".journal")])
    else:
        out = jpath.with_name(jpath.name + ".nix")
    if out.exists():
        raise ValueError(f"{str(out)!r} exists already; pass --out to choose another name")
    write_session(log, out)
    summary = log.summary()
    summary.update({"session": str(out), "complete": contents.complete, "records": len(contents.records),
                    "damaged_tail_bytes": contents.damaged_tail_bytes})
    return summary


def format_text(s: dict) -> str:
    from ._session_args import format_summary

    state = "complete" if s["complete"] else "cut short (no end record)"
    return (f"journal: {s['records']} records, {state}, {s['damaged_tail_bytes']} damaged bytes at the end\n"
            + format_summary(s))
