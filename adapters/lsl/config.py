"""LSL configuration, applied once per process before any other LSL call.

liblsl reads its configuration exactly once, at the first call that needs it, and keeps it for
the life of the process. bioloop therefore configures LSL itself, before anything else touches
it: by default discovery stays on this machine (``ResolveScope = machine``), IPv6 is off and
unicast round trips time out after 0.1 s. Wider discovery (``scope="link"`` and up) is an
explicit opt-in.

pylsl (and with it the liblsl shared library) is imported lazily, on the first call that needs
it, so importing :mod:`bioloop.adapters.lsl` opens no socket and works without liblsl.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field

from bioloop import validate as _v

SCOPES = ("machine", "link", "site", "organization", "global")
#: liblsl's loguru levels: -3 fatal only, -2 errors, -1 warnings, 0 info, 1..9 debug
LOG_LEVELS = range(-3, 10)


class LSLUnavailableError(FileNotFoundError):
    """The liblsl shared library could not be found or loaded."""


@dataclass(frozen=True)
class LSLConfig:
    """What bioloop hands to liblsl (an INI text, see :meth:`content`).

    Parameters
    ----------
    scope : str
        ``ResolveScope``: ``"machine"`` (this computer only, the default) or, as an explicit
        opt-in, ``"link"``, ``"site"``, ``"organization"``, ``"global"``.
    ipv6 : bool
        ``[ports] IPv6 = allow`` when True, ``disable`` otherwise.
    unicast_max_rtt : float
        ``[tuning] UnicastMaxRTT``, seconds.
    log_level : int
        liblsl's own stderr log level, -3 (fatal only) .. 9; default -2 (errors).
    extra : tuple of (section, key, value)
        Further liblsl settings, e.g. ``(("lab", "KnownPeers", "{10.0.0.2}"),)``.
    """

    scope: str = "machine"
    ipv6: bool = False
    unicast_max_rtt: float = 0.1
    log_level: int = -2
    extra: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    def __post_init__(self):
        _v.choice("scope", self.scope, SCOPES)
        if not isinstance(self.ipv6, bool):
            raise TypeError(f"ipv6 must be True or False, got {self.ipv6!r}")
        _v.real("unicast_max_rtt", self.unicast_max_rtt, lo=0.0, lo_open=True, hi=60.0)
        _v.integer("log_level", self.log_level, lo=LOG_LEVELS.start, hi=LOG_LEVELS.stop - 1)
        if not isinstance(self.extra, tuple) or not all(
                isinstance(e, tuple) and len(e) == 3 and all(isinstance(s, str) and s for s in e)
                for e in self.extra):
            raise TypeError("extra must be a tuple of (section, key, value) string triples, got "
                            f"{self.extra!r}")
        fixed = {("ports", "IPv6"), ("multicast", "ResolveScope"), ("tuning", "UnicastMaxRTT"),
                 ("log", "level")}
        for section, key, value in self.extra:
            if (section, key) in fixed:
                raise ValueError(f"extra sets [{section}] {key}, which has its own parameter; "
                                 "use scope / ipv6 / unicast_max_rtt / log_level instead")
            bad = (any(c in s for s in (section, key, value) for c in "\r\n")
                   or "]" in section or "=" in key or key.lstrip()[:1] in (";", "["))
            if bad:
                raise ValueError(f"extra entry ({section!r}, {key!r}, {value!r}) cannot be written "
                                 "as an INI line: no line breaks, no ']' in a section, no '=' in a "
                                 "key, and a key may not start with ';' or '['")

    def content(self) -> str:
        """The configuration as liblsl's INI text.

        Examples
        --------
        >>> print(LSLConfig().content())
        [ports]
        IPv6 = disable
        [multicast]
        ResolveScope = machine
        [tuning]
        UnicastMaxRTT = 0.1
        [log]
        level = -2
        <BLANKLINE>
        """
        sections: dict[str, list[tuple[str, str]]] = {
            "ports": [("IPv6", "allow" if self.ipv6 else "disable")],
            "multicast": [("ResolveScope", self.scope)],
            "tuning": [("UnicastMaxRTT", f"{self.unicast_max_rtt:g}")],
            "log": [("level", str(self.log_level))],
        }
        for section, key, value in self.extra:
            sections.setdefault(section, []).append((key, value))
        lines = []
        for section, items in sections.items():
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {v}" for k, v in items)
        return "\n".join(lines) + "\n"


class _ProcessConfig:
    """The configuration this process handed to liblsl (liblsl's own state is write-once too)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._applied: LSLConfig | None = None
        self._method = ""

    def apply(self, config: LSLConfig) -> LSLConfig:
        with self._lock:
            if self._applied is not None:
                if config != self._applied:
                    raise ValueError(
                        f"LSL is already configured in this process ({self._applied}); liblsl "
                        f"reads its configuration once, so {config} cannot take effect. Call "
                        "configure_lsl() once, before any other LSL use.")
                return self._applied
            pylsl = load_pylsl()
            text = config.content()
            try:
                pylsl.set_config_content(text)
                self._method = "set_config_content"
            except (NotImplementedError, AttributeError):
                # liblsl < 1.17.7: a file named by LSLAPICFG, read when the config first loads
                fd, path = tempfile.mkstemp(prefix="bioloop-lsl-", suffix=".cfg")
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                os.environ["LSLAPICFG"] = path
                self._method = f"LSLAPICFG={path}"
            self._applied = config
            return config

    @property
    def applied(self) -> LSLConfig | None:
        return self._applied

    @property
    def method(self) -> str:
        return self._method


_PROCESS = _ProcessConfig()


def load_pylsl():
    """Import pylsl (which loads liblsl), or explain in one line how to make it loadable.

    Returns
    -------
    module
        The ``pylsl`` module.

    Raises
    ------
    LSLUnavailableError
        If the liblsl shared library cannot be found or loaded.
    """
    try:
        import pylsl
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LSLUnavailableError(
            f"liblsl could not be loaded ({first.rstrip('. ')}); set PYLSL_LIB=/path/to/liblsl.so "
            "or reinstall pylsl with its bundled library (pip install --force-reinstall pylsl)"
        ) from exc
    return pylsl


def configure_lsl(scope: str = "machine", *, ipv6: bool = False, unicast_max_rtt: float = 0.1,
                  log_level: int = -2, extra=()) -> LSLConfig:
    """Configure liblsl for this process; call it before any other LSL call.

    The settings go to liblsl through ``pylsl.set_config_content`` (liblsl >= 1.17.7), which
    takes precedence over any ``LSLAPICFG`` file; with an older liblsl they are written to a
    temporary file named by ``LSLAPICFG``. Calling it again with the same settings does nothing;
    with different settings it is an error, because liblsl would silently keep the first ones.
    Every bioloop LSL adapter calls ``configure_lsl()`` (machine scope) itself if nothing has
    configured LSL yet.

    Parameters
    ----------
    scope : str
        ``"machine"`` (default: streams on this computer only) or, as an explicit opt-in to
        wider discovery, ``"link"``, ``"site"``, ``"organization"``, ``"global"``.
    ipv6 : bool
        Allow IPv6 (default off).
    unicast_max_rtt : float
        liblsl's ``UnicastMaxRTT``, seconds (default 0.1).
    log_level : int
        liblsl's stderr log level, -3..9 (default -2: errors only).
    extra : sequence of (section, key, value)
        Other liblsl settings, e.g. ``[("lab", "KnownPeers", "{10.0.0.2}")]``.

    Returns
    -------
    LSLConfig
        The configuration in effect.

    Raises
    ------
    ValueError
        If a setting is invalid, or LSL was already configured differently in this process.
    LSLUnavailableError
        If liblsl cannot be loaded.

    Examples
    --------
    >>> cfg = configure_lsl()  # doctest: +SKIP
    >>> cfg.scope  # doctest: +SKIP
    'machine'
    """
    config = LSLConfig(scope=scope, ipv6=ipv6, unicast_max_rtt=unicast_max_rtt,
                       log_level=log_level, extra=tuple(tuple(e) for e in extra))
    return _PROCESS.apply(config)


def ensure_configured():
    """pylsl, after making sure LSL is configured (machine scope unless configured otherwise).

    Every adapter calls this before its first LSL call.
    """
    if _PROCESS.applied is None:
        configure_lsl()
    return load_pylsl()


def applied_config() -> LSLConfig | None:
    """The configuration bioloop handed to liblsl in this process, or None."""
    return _PROCESS.applied
