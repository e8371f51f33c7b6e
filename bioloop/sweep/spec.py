"""A sweep file (TOML): the kind of cell, its axes, and the cells they make.

A cell is one run with every parameter explicit (defaults filled in, the seed included); its
key is a hash of those parameters, so the same cell always has the same result file.

.. code-block:: toml

    kind = "replay"                       # replay | compare | chip

    [grid]                                # the cartesian product of these axes
    seed = [0, 1, 2]
    gclk_hz = [1000, 5000]
    chip.sigma_r = [0.0, 0.03]            # any ChipConfig field, as chip.<field>
    recording = [
        { path = "TC89_DIV15_A.nexTimestamps", start = 100, stop = 110 },
        { path = "CO_20140212_MW1007-51_DIV12_00_001.h5", well = "A1", start = 200, stop = 210 },
    ]

    [fixed]                               # one value for every cell
    network = "burst:2"

Instead of ``[grid]``, ``[[cells]]`` tables list the cells one by one (``[fixed]`` applies to
them too). Relative recording paths are relative to the sweep file's folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..chip import ChipConfig

KINDS = ("replay", "compare", "chip")
PROTOCOLS = ("poisson", "mismatch")
#: version of the cell schema: part of every key, bumped when a cell's meaning changes
CELL_SCHEMA = 1

#: axes of each kind with their defaults (``chip`` and ``recording`` are handled apart)
_COMMON = {"seed": 0, "gclk_hz": 1000.0}
AXES = {
    "replay": {**_COMMON, "network": "relay", "mismatch": True, "clusters": None},
    "compare": {**_COMMON, "network": "random", "reference": "chip-equivalent", "poisson_hz": None,
                "duration": None, "clusters": 1},
    "chip": {**_COMMON, "network": "relay", "mismatch": True, "protocol": "poisson",
             "poisson_hz": 20.0, "duration": 1.0, "clusters": 1, "input_seed": 0},
}
#: kinds that read a recording (compare reads one unless poisson_hz is given)
_RECORDING = {"replay": "required", "compare": "optional", "chip": None}
CHIP_FIELDS = tuple(f.name for f in dataclasses.fields(ChipConfig) if f.name != "gclk_hz")
RECORDING_KEYS = ("path", "well", "start", "stop", "format")
_RECORDING_PARTS = ("well", "start", "stop")  #: table columns of the recording axis besides its path


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its kind and every parameter (JSON-able, defaults filled in).

    ``params["chip"]`` holds the ChipConfig overrides; ``params["recording"]`` (replay,
    compare) the recording's ``path`` (absolute), ``well``, ``start``, ``stop`` and ``format``.
    """

    index: int
    kind: str
    params: dict

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-256 of the kind and the parameters (canonical JSON)."""
        return cell_key(self.kind, self.params)

    def axes(self) -> dict:
        """The parameters as flat table columns (``chip.<field>``, ``recording``, ``well``, ...)."""
        out = {}
        for name, value in self.params.items():
            if name == "chip":
                out.update({f"chip.{k}": v for k, v in sorted(value.items())})
            elif name == "recording":
                if value is not None:
                    out["recording"] = value["path"]
                    out.update({k: value[k] for k in ("well", "start", "stop")})
            else:
                out[name] = value
        return out


def cell_key(kind: str, params: dict) -> str:
    """The key of a cell (what names its result file).

    Examples
    --------
    >>> cell_key("chip", {"seed": 1}) == cell_key("chip", {"seed": 1})
    True
    >>> cell_key("chip", {"seed": 1}) == cell_key("chip", {"seed": 2})
    False
    """
    text = json.dumps({"schema": CELL_SCHEMA, "kind": kind, "params": params}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepSpec:
    """The parsed sweep file: its kind, the varied axes (in file order) and the cells."""

    kind: str
    cells: tuple[Cell, ...]
    varied: tuple[str, ...]  #: axes given as a list in [grid] (or differing across [[cells]])
    source: str  #: where the spec came from (a file path, or ``builtin:<name>``)
    keep_sessions: bool = False  #: replay: keep each cell's session file in OUT/sessions

    def to_dict(self) -> dict:
        return {"kind": self.kind, "source": self.source, "varied": list(self.varied),
                "n_cells": len(self.cells), "keep_sessions": self.keep_sessions}


def load(path) -> SweepSpec:
    """Read and validate a sweep file.

    Raises
    ------
    ValueError
        The file is missing or not TOML, or any check of :func:`from_dict` fails.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ValueError(f"sweep file {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"sweep file {str(p)!r} is a folder") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"sweep file {str(p)!r} is not valid TOML: {exc}") from None
    return from_dict(data, base_dir=p.resolve().parent, source=str(p))


def from_dict(data: dict, *, base_dir=".", source: str = "<dict>") -> SweepSpec:
    """Validate a sweep (as parsed from TOML) and expand it into cells.

    Parameters
    ----------
    data : dict
        ``kind``, and ``grid`` or ``cells``, optionally ``fixed`` and ``keep_sessions``.
    base_dir : path
        Folder that relative recording paths are relative to.
    source : str
        Where the spec came from (kept in the summary).

    Returns
    -------
    SweepSpec

    Raises
    ------
    TypeError
        A value of the wrong type.
    ValueError
        An unknown kind, axis or chip field; an empty grid; a recording that does not exist;
        a value a cell would refuse (checked by building its ChipConfig and network); two
        cells with the same parameters.

    Examples
    --------
    >>> spec = from_dict({"kind": "chip", "grid": {"seed": [0, 1], "chip": {"sigma_r": [0.0, 0.03]}}})
    >>> len(spec.cells), spec.varied
    (4, ('seed', 'chip.sigma_r'))
    >>> spec.cells[1].axes()["chip.sigma_r"], spec.cells[1].params["protocol"]
    (0.03, 'poisson')
    >>> from_dict({"kind": "chip", "grid": {"sede": [0, 1]}})
    Traceback (most recent call last):
    ...
    ValueError: unknown axis 'sede' for chip cells; valid axes: chip.<field>, clusters, duration, gclk_hz, input_seed, mismatch, network, poisson_hz, protocol, seed
    """
    if not isinstance(data, dict):
        raise TypeError(f"a sweep must be a table, got {type(data).__name__}")
    unknown = sorted(set(data) - {"kind", "grid", "cells", "fixed", "keep_sessions"})
    if unknown:
        raise ValueError(f"unknown top-level key(s) {unknown} in the sweep; valid: kind, grid, "
                         "cells, fixed, keep_sessions")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind = {kind!r}: a sweep's kind must be one of {', '.join(KINDS)}")
    keep = data.get("keep_sessions", False)
    if not isinstance(keep, bool):
        raise TypeError(f"keep_sessions must be true or false, got {keep!r}")
    fixed = _flatten(_table(data.get("fixed", {}), "fixed"), "fixed")
    base = Path(base_dir)
    if ("grid" in data) == ("cells" in data):
        raise ValueError("a sweep needs either a [grid] table (cartesian product) or a list of "
                         "[[cells]], exactly one")
    if "grid" in data:
        grid = _flatten(_table(data["grid"], "grid"), "grid")
        for name, values in grid.items():
            if not isinstance(values, list):
                raise TypeError(f"grid axis {name!r} must be a list of values, got {values!r} "
                                "(put single values in [fixed])")
            if not values:
                raise ValueError(f"the grid is empty: axis {name!r} has no values")
        both = sorted(set(grid) & set(fixed))
        if both:
            raise ValueError(f"axis {both[0]!r} is both in [grid] and in [fixed]; give it once")
        names = list(grid)
        raw = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
        varied = tuple(n for n in names if len(grid[n]) > 1)
    else:
        listed = data["cells"]
        if not isinstance(listed, list):
            raise TypeError(f"cells must be a list of tables ([[cells]]), got {listed!r}")
        raw = [_flatten(_table(c, f"cells[{i}]"), f"cells[{i}]") for i, c in enumerate(listed)]
        varied = ()
    if not raw:
        raise ValueError("the sweep has no cells (an empty [[cells]] list or an empty [grid])")
    cells = [Cell(i, kind, _params(kind, {**fixed, **r}, base)) for i, r in enumerate(raw)]
    if "cells" in data:
        columns = [c.axes() for c in cells]
        names = list(dict.fromkeys(k for col in columns for k in col))
        varied = tuple(n for n in names if len({json.dumps(col.get(n)) for col in columns}) > 1)
    # a recording's well and window are part of the recording axis
    varied = tuple(dict.fromkeys("recording" if n in _RECORDING_PARTS else n for n in varied))
    _check_unique(cells)
    _check_values(cells)
    return SweepSpec(kind, tuple(cells), varied, source, keep)


# ---- helpers -------------------------------------------------------------------------------
def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"[{where}] must be a table, got {value!r}")
    return value


def _flatten(table: dict, where: str) -> dict:
    """``{"chip": {"sigma_r": x}}`` and ``{"chip.sigma_r": x}`` both become ``chip.sigma_r``."""
    out = {}
    for name, value in table.items():
        if name == "chip":
            if not isinstance(value, dict):
                raise TypeError(f"[{where}] chip must be a table of chip.<field> overrides, got {value!r}")
            out.update({f"chip.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def _params(kind: str, given: dict, base: Path) -> dict:
    """Every parameter of one cell, validated by name, defaults filled in."""
    axes = AXES[kind]
    params = dict(axes)
    chip = {}
    recording = None
    for name, value in given.items():
        if name.startswith("chip."):
            field = name[5:]
            if field == "gclk_hz":
                raise ValueError("give the clock as the axis gclk_hz, not chip.gclk_hz")
            if field not in CHIP_FIELDS:
                raise ValueError(f"unknown chip field {field!r} in axis {name!r}; valid fields: "
                                 f"{', '.join(CHIP_FIELDS)}")
            chip[field] = list(value) if isinstance(value, list) else value
        elif name == "recording" and _RECORDING[kind]:
            recording = _recording(value, base)
        elif name in axes:
            params[name] = value
        else:
            valid = sorted([*axes, *(["recording"] if _RECORDING[kind] else [])]) + ["chip.<field>"]
            raise ValueError(f"unknown axis {name!r} for {kind} cells; valid axes: "
                             f"{', '.join(sorted(valid))}")
    params["chip"] = dict(sorted(chip.items()))
    if _RECORDING[kind]:
        params["recording"] = recording
    for name in ("gclk_hz", "poisson_hz", "duration"):
        if isinstance(params.get(name), int) and not isinstance(params[name], bool):
            params[name] = float(params[name])  # 1000 and 1000.0 are the same cell
    _check_types(kind, params)
    return params


def _recording(value, base: Path) -> dict:
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise TypeError(f"recording must be a path or a table {{path, well, start, stop}}, got {value!r}")
    unknown = sorted(set(value) - set(RECORDING_KEYS))
    if unknown:
        raise ValueError(f"unknown recording key(s) {unknown}; valid: {', '.join(RECORDING_KEYS)}")
    if not isinstance(value.get("path"), str):
        raise TypeError(f"recording needs a path (string), got {value!r}")
    rec = {k: value.get(k) for k in RECORDING_KEYS}
    rec["path"] = str((base / rec["path"]).resolve()) if not Path(rec["path"]).is_absolute() \
        else str(Path(rec["path"]))
    for k in ("start", "stop"):
        v = rec[k]
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise TypeError(f"recording {k} must be a number of seconds, got {v!r}")
            rec[k] = float(v)
    for k in ("well", "format"):
        if rec[k] is not None and not isinstance(rec[k], str):
            raise TypeError(f"recording {k} must be a string, got {rec[k]!r}")
    if rec["start"] is not None and rec["stop"] is not None and rec["stop"] <= rec["start"]:
        raise ValueError(f"recording window [{rec['start']:g}, {rec['stop']:g}] s of "
                         f"{rec['path']!r} is empty (start must be before stop)")
    return rec


def _check_types(kind: str, p: dict) -> None:
    def number(name, lo=None):
        v = p[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise TypeError(f"{name} must be a number, got {v!r}")
        if lo is not None and not v > lo:
            raise ValueError(f"{name} = {v!r} must be > {lo:g}")

    if isinstance(p["seed"], bool) or not isinstance(p["seed"], int) or p["seed"] < 0:
        raise TypeError(f"seed must be a non-negative integer, got {p['seed']!r}")
    number("gclk_hz", 0)
    if not isinstance(p["network"], str):
        raise TypeError(f"network must be a name or a file path (str), got {p['network']!r}")
    if "mismatch" in p and not isinstance(p["mismatch"], bool):
        raise TypeError(f"mismatch must be true or false, got {p['mismatch']!r}")
    if p.get("clusters") is not None and (isinstance(p["clusters"], bool) or not isinstance(p["clusters"], int)
                                          or not 1 <= p["clusters"] <= 4096):
        raise ValueError(f"clusters = {p['clusters']!r} must be an integer in 1..4096")
    if kind == "chip":
        if p["protocol"] not in PROTOCOLS:
            raise ValueError(f"protocol = {p['protocol']!r}: a chip cell's protocol is one of "
                             f"{', '.join(PROTOCOLS)}")
        number("poisson_hz")
        number("duration", 0)
        if isinstance(p["input_seed"], bool) or not isinstance(p["input_seed"], int) or p["input_seed"] < 0:
            raise TypeError(f"input_seed must be a non-negative integer, got {p['input_seed']!r}")
    if kind == "compare":
        if not isinstance(p["reference"], str):
            raise TypeError(f"reference must be a registered backend name, got {p['reference']!r}")
        if (p["recording"] is None) == (p["poisson_hz"] is None):
            raise ValueError("a compare cell needs a recording or poisson_hz (exactly one)")
        if p["poisson_hz"] is not None:
            number("poisson_hz")
        elif p["clusters"] != 1:
            raise ValueError("clusters applies to poisson_hz input; a recording uses ceil(electrodes / 16)")
        if p["duration"] is not None:
            number("duration", 0)


def _check_unique(cells: list[Cell]) -> None:
    seen = {}
    for c in cells:
        if c.key in seen:
            raise ValueError(f"cells {seen[c.key]} and {c.index} have the same parameters; each "
                             "cell must differ in at least one axis")
        seen[c.key] = c.index


def _check_values(cells: list[Cell]) -> None:
    """What can be checked before anything is submitted: recordings exist, chip overrides
    make a valid ChipConfig, networks and references are known."""
    from .. import registry
    from ..networks import clusters_needed
    from .cells import program_for

    checked = set()
    for c in cells:
        p = c.params
        rec = p.get("recording")
        if rec is not None and ("path", rec["path"]) not in checked:
            path = Path(rec["path"])
            if not path.exists():
                raise ValueError(f"recording {rec['path']!r} (cell {c.index}) does not exist")
            checked.add(("path", rec["path"]))
        chip_key = ("chip", json.dumps(p["chip"], sort_keys=True), p["gclk_hz"])
        if chip_key not in checked:
            kw = dict(p["chip"])
            if "lateral_neighbours" in kw:
                kw["lateral_neighbours"] = tuple(kw["lateral_neighbours"])
            try:
                ChipConfig(gclk_hz=p["gclk_hz"], **kw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"cell {c.index}: {exc}") from None
            checked.add(chip_key)
        # a replay has what its electrodes need, at least its clusters and the network's
        n = p["clusters"] if c.kind != "replay" else max(p["clusters"] or 1, clusters_needed(p["network"]))
        net_key = ("network", c.kind, p["network"], p["seed"], n)
        if net_key not in checked:
            try:
                program_for(c.kind, p, n)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"cell {c.index}: {exc}") from None
            checked.add(net_key)
        if c.kind == "compare" and ("reference", p["reference"]) not in checked:
            names = registry.available("bioloop.backends")
            if p["reference"] not in names:
                raise ValueError(f"reference {p['reference']!r} (cell {c.index}) is not a registered "
                                 f"backend; known: {', '.join(sorted(names))}")
            checked.add(("reference", p["reference"]))
