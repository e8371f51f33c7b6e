"""``bioloop pynn-report SCRIPT.py``: run a PyNN script on the chip and report its mapping.

The script imports ``bioloop.pynn as sim`` (or names its own simulator module with ``--as``,
e.g. ``--as pyNN.nest``: that module is ``bioloop.pynn`` while the script runs). A network the
chip cannot hold is reported, rule by rule, not raised.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = "pynn-report"
HELP = "run a PyNN script on the chip model and report placement, quantisation, routes"


def add_arguments(p):
    p.add_argument("script", help="a PyNN script (import bioloop.pynn as sim)")
    p.add_argument("--as", dest="aliases", action="append", default=[], metavar="MODULE",
                   help="run the script with MODULE (e.g. pyNN.nest) replaced by bioloop.pynn")
    p.add_argument("--all-synapses", action="store_true",
                   help="list every chip synapse's quantisation error, not only the worst")
    p.add_argument("script_args", nargs="*", help="arguments passed to the script (after --)")


def run(args) -> dict:
    import contextlib
    import runpy

    import bioloop.pynn as sim
    from bioloop.pynn import MappingError, MappingReport

    script = Path(args.script)
    if script.is_dir():
        raise ValueError(f"PyNN script {str(script)!r} is a directory; give the script's .py file")
    if not script.is_file():
        raise ValueError(f"PyNN script {str(script)!r} does not exist")
    for name in args.aliases:
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"--as {name!r} is not a module name (e.g. pyNN.nest)")
    saved_argv, saved_mods = sys.argv, {n: sys.modules.get(n) for n in args.aliases}
    os.environ.setdefault("MPLBACKEND", "Agg")
    sim.state.options = None
    error = None
    try:
        sys.argv = [str(script), *args.script_args]
        for name in args.aliases:
            sys.modules[name] = sim
        # the script's own output goes to stderr: stdout is the report
        with contextlib.redirect_stdout(sys.stderr):
            runpy.run_path(str(script), run_name="__main__")
    except MappingError as exc:
        error = exc
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise ValueError(f"{script} exited with status {exc.code}") from None
    except SyntaxError as exc:
        if exc.filename != str(script):
            raise
        raise ValueError(f"{script} line {exc.lineno}: SyntaxError: {exc.msg}") from None
    except _pynn_errors() as exc:  # PyNN refusing what the script asked for: bad input
        line = _script_line(exc, script, innermost=False)
        where = f" line {line}" if line is not None else ""
        raise ValueError(f"{script}{where}: PyNN refused it: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        line = _script_line(exc, script)
        if line is None:  # raised inside bioloop or a library: not the script's own error
            raise
        raise ValueError(f"{script} line {line} raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.argv = saved_argv
        for name, mod in saved_mods.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
    if sim.state.options is None:
        raise ValueError(f"{script} never called bioloop.pynn's setup(); it must "
                         "'import bioloop.pynn as sim' (or run with --as MODULE)")
    report = MappingReport(error.mapping) if error is not None else sim.mapping_report()
    out = {"script": str(script), **report.as_dict(), "text": str(report)}
    if args.all_synapses:
        out["synapse_table"] = report.synapse_table()
    return out


def _pynn_errors() -> tuple[type, ...]:
    """PyNN's own exceptions for a script's misuse of its API (``pyNN.errors``)."""
    from pyNN import errors

    return tuple(c for c in vars(errors).values()
                 if isinstance(c, type) and issubclass(c, Exception) and not issubclass(c, Warning)
                 and c.__module__ == errors.__name__)


def _script_line(exc: BaseException, script: Path, innermost: bool = True) -> int | None:
    """The script's line where ``exc`` was raised: if its innermost frame is the script's own
    (``innermost``), or else the script's last frame on the way there."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(script):
            line = tb.tb_lineno
        elif innermost:
            line = None
        tb = tb.tb_next
    return line


def format_text(s: dict) -> str:
    text = f"{s['script']}\n{s['text']}"
    if "synapse_table" in s:
        text += "\nall synapses:\n" + "\n".join(
            f"  {r['pre']} -> {r['post']} (cluster {r['cluster']} row {r['row']} dend {r['dend']}): "
            f"wanted {r['wanted']:.4g} {r['unit']}, realised {r['realised']:.4g} "
            f"({r['relative_error']:+.3f})"
            for r in s["synapse_table"])
    return text
