"""The ``bioloop`` command: ``bioloop <verb> [options] [--json]``.

Each verb lives in its own module exposing ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> dict`` (the summary); ``format_text(summary) -> str`` is optional. Bad input
(TypeError / ValueError / a missing file) gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

import numpy as np

#: the core's own verbs; plug-ins add theirs through the ``bioloop.verbs`` entry-point group
#: (``bioloop play`` comes with the LSL adapters, ``bioloop culture`` with the virtual culture)
VERBS = (
    "bioloop.cli.demo_cmd",
    "bioloop.cli.replay_cmd",
    "bioloop.cli.inspect_cmd",
    "bioloop.cli.recover_cmd",
    "bioloop.cli.live_cmd",
    "bioloop.cli.compare_cmd",
    "bioloop.cli.chip_cmd",
    "bioloop.cli.figures_cmd",
    "bioloop.cli.pynn_report_cmd",
    "bioloop.cli.sweep_cmd",
)
VERB_GROUP = "bioloop.verbs"


def _verb_modules() -> list:
    from importlib.metadata import entry_points

    mods = [importlib.import_module(name) for name in VERBS]
    for ep in sorted(entry_points(group=VERB_GROUP), key=lambda e: e.name):
        mods.append(ep.load())
    return mods


class UsageError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = _Parser(prog="bioloop", description="Closed-loop bio-interface emulator "
                     "around a model of an MRAM neuromorphic chip.")
    from bioloop import __version__
    parser.add_argument("--version", action="version", version=f"bioloop {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    modules = {}
    for mod in _verb_modules():
        if mod.NAME in modules:
            continue  # a plug-in may not shadow a core verb
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
        mod.add_arguments(p)
        modules[mod.NAME] = mod
    return parser, modules


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _default_text(summary: dict) -> str:
    lines = []
    for k, v in summary.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines.extend(f"  {kk}: {vv}" for kk, vv in v.items())
        else:
            lines.append(f"{k}: {v}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = "bioloop"
    try:
        parser, modules = build_parser()
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help(sys.stderr)
            return 2
        verb = f"bioloop {args.verb}"
        mod = modules[args.verb]
        summary = mod.run(args)
    except UsageError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
            msg = f"{msg}: {exc.filename}"
        print(f"{verb}: error: {msg}".replace("\n", " "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless asked for more
        if os.environ.get("BIOLOOP_DEBUG"):
            raise
        print(f"{verb}: internal error: {type(exc).__name__}: {exc} "
              "(set BIOLOOP_DEBUG=1 for the traceback)".replace("\n", " "), file=sys.stderr)
        return 1
    text = json.dumps(_jsonable(summary)) if args.json else getattr(mod, "format_text", _default_text)(summary)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: the reader left, which is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    # a verb may finish with a non-zero status of its own (sweep: 3 when a cell failed)
    return getattr(mod, "exit_status", lambda _summary: 0)(summary)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
