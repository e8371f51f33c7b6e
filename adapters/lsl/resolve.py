"""Finding one LSL stream by name, type or source_id, with errors that say what is visible."""

from __future__ import annotations

from dataclasses import dataclass

from bioloop import validate as _v

from .config import applied_config, ensure_configured
from .profile import format_name

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"

#: how long a second look for duplicates lasts, s. liblsl answers same-machine queries from one
#: outlet first and probes the others after MulticastMinRTT (0.5 s), so duplicates need > 0.5 s.
AMBIGUITY_WINDOW = 0.8


class StreamResolutionError(ValueError):
    """No stream, or more than one, matches the query."""


def xpath_literal(value: str) -> str:
    """``value`` quoted for an XPath 1.0 predicate (liblsl's query language)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"{value!r} holds both ' and \"; LSL queries cannot express it")


@dataclass(frozen=True)
class StreamQuery:
    """Which stream to open: any combination of ``name``, ``type``, ``source_id`` (at least one).

    ``name`` and ``source_id`` match exactly; ``type`` matches case-insensitively (ASCII), as
    rigs spell content types as they like (``SpikeEvents``, ``spikeevents``, ``Markers``).

    Examples
    --------
    >>> StreamQuery(name="culture").predicate()
    "name='culture'"
    >>> StreamQuery(type="SpikeEvents").predicate()
    "translate(type,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')='spikeevents'"
    """

    name: str | None = None
    type: str | None = None
    source_id: str | None = None

    def __post_init__(self):
        given = {k: v for k, v in self.fields().items() if v is not None}
        if not given:
            raise ValueError("give at least one of name, type or source_id to find an LSL stream")
        for key, value in given.items():
            if not isinstance(value, str):
                raise TypeError(f"stream {key} must be a string, got {value!r}")
            if not value:
                raise ValueError(f"stream {key} must not be empty")
            xpath_literal(value)

    def fields(self) -> dict[str, str | None]:
        return {"name": self.name, "type": self.type, "source_id": self.source_id}

    def predicate(self) -> str:
        """The XPath 1.0 predicate liblsl resolves (``type`` folded to lower case)."""
        parts = []
        for key, value in self.fields().items():
            if value is None:
                continue
            if key == "type":
                folded = value.translate(str.maketrans(_UPPER, _LOWER))
                parts.append(f"translate(type,'{_UPPER}','{_LOWER}')={xpath_literal(folded)}")
            else:
                parts.append(f"{key}={xpath_literal(value)}")
        return " and ".join(parts)

    def describe(self) -> str:
        return ", ".join(f"{k}={v!r}" + (" (any case)" if k == "type" else "")
                         for k, v in self.fields().items() if v is not None)


@dataclass(frozen=True)
class StreamSummary:
    """The core facts of a visible stream (no desc)."""

    name: str
    type: str
    source_id: str
    channel_count: int
    channel_format: str
    nominal_srate: float
    hostname: str
    uid: str

    @classmethod
    def of(cls, info) -> StreamSummary:
        return cls(info.name(), info.type(), info.source_id(), info.channel_count(),
                   format_name(info.channel_format()), info.nominal_srate(), info.hostname(),
                   info.uid())

    def __str__(self) -> str:
        rate = "irregular" if self.nominal_srate == 0 else f"{self.nominal_srate:g} Hz"
        return (f"{self.name!r} (type {self.type!r}, source_id {self.source_id!r}, "
                f"{self.channel_count} x {self.channel_format}, {rate}, host {self.hostname})")


def list_streams(wait: float = AMBIGUITY_WINDOW) -> list[StreamSummary]:
    """Every stream visible within ``wait`` seconds, sorted by name.

    Examples
    --------
    >>> [s.name for s in list_streams(0.8)]  # doctest: +SKIP
    ['culture']
    """
    _v.real("wait", wait, lo=0.0, lo_open=True)
    pylsl = ensure_configured()
    return sorted((StreamSummary.of(i) for i in pylsl.resolve_streams(wait_time=wait)),
                  key=lambda s: (s.name, s.source_id, s.uid))


def _visible_text(wait: float) -> str:
    streams = list_streams(wait)
    cfg = applied_config()
    scope = f" (LSL scope {cfg.scope!r})" if cfg is not None else ""
    if not streams:
        return f"no LSL stream is visible{scope}"
    shown = "; ".join(str(s) for s in streams[:20])
    more = f"; and {len(streams) - 20} more" if len(streams) > 20 else ""
    return f"visible{scope}: {shown}{more}"


def resolve_one(query: StreamQuery, timeout: float = 5.0, *,
                ambiguity_window: float = AMBIGUITY_WINDOW):
    """The one stream matching ``query``, waiting up to ``timeout`` s for it to appear.

    Parameters
    ----------
    query : StreamQuery
        What to look for.
    timeout : float
        Longest wait for a first match, s.
    ambiguity_window : float
        After a match, how long to keep looking for a second one, s.

    Returns
    -------
    pylsl.StreamInfo
        The match (its ``desc`` is empty until an inlet fetches the full info).

    Raises
    ------
    StreamResolutionError
        If nothing matches (the message lists the visible streams), or several do.
    """
    if not isinstance(query, StreamQuery):
        raise TypeError(f"query must be a StreamQuery, got {type(query).__name__}")
    _v.real("timeout", timeout, lo=0.0, lo_open=True)
    _v.real("ambiguity_window", ambiguity_window, lo=0.0)
    pylsl = ensure_configured()
    pred = query.predicate()
    found = pylsl.resolve_bypred(pred, 1, timeout)
    if not found:
        raise StreamResolutionError(
            f"no LSL stream matches {query.describe()} within {timeout:g} s; "
            f"{_visible_text(AMBIGUITY_WINDOW)}")
    if ambiguity_window > 0:
        more = pylsl.resolve_bypred(pred, 2, ambiguity_window)
        by_uid = {i.uid(): i for i in [*found, *more]}
        found = list(by_uid.values())
    if len(found) > 1:
        listed = "; ".join(str(StreamSummary.of(i)) for i in found)
        raise StreamResolutionError(
            f"{len(found)} LSL streams match {query.describe()}: {listed}; "
            "name one by source_id (or stop all but one)")
    return found[0]
