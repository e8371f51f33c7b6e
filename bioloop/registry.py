"""Find implementations of the extension points by name, through entry points.

Groups: ``bioloop.sources``, ``bioloop.sinks``, ``bioloop.backends``, ``bioloop.monitors``
(see ``pyproject.toml``).
Like xarray's backends: an unknown name raises ValueError listing what is installed.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUPS = ("bioloop.sources", "bioloop.sinks", "bioloop.backends", "bioloop.monitors")


def available(group: str) -> list[str]:
    """Names registered in ``group``, sorted.

    Examples
    --------
    >>> "chip" in available("bioloop.backends")
    True
    """
    if group not in GROUPS:
        raise ValueError(f"unknown extension group {group!r}; valid groups: {list(GROUPS)}")
    return sorted({ep.name for ep in entry_points(group=group)})


def extension_point(group: str) -> type:
    """The ABC every implementation registered in ``group`` subclasses.

    Examples
    --------
    >>> extension_point("bioloop.backends").__name__
    'Backend'
    """
    from .backends.base import Backend
    from .sinks import FireMonitor, Sink
    from .sources import Source

    abcs = {"bioloop.sources": Source, "bioloop.sinks": Sink, "bioloop.backends": Backend,
            "bioloop.monitors": FireMonitor}
    if group not in abcs:
        raise ValueError(f"unknown extension group {group!r}; valid groups: {list(GROUPS)}")
    return abcs[group]


def load(group: str, name: str):
    """The class registered as ``name`` in ``group``.

    Raises
    ------
    TypeError
        If ``name`` is not a string, or what is registered does not subclass the group's ABC.
    ValueError
        If nothing is registered under ``name``; the message lists the installed names.
    """
    if not isinstance(name, str):
        raise TypeError(f"{group} name must be a string, got {name!r}")
    names = available(group)
    for ep in entry_points(group=group):
        if ep.name == name:
            cls = ep.load()
            abc = extension_point(group)
            if not (isinstance(cls, type) and issubclass(cls, abc)):
                raise TypeError(f"{group} entry point {name!r} ({ep.value}) is not a {abc.__name__} "
                                f"subclass; an implementation must subclass bioloop's {abc.__name__}")
            return cls
    kind = group.split(".")[-1][:-1]
    raise ValueError(f"no {kind} named {name!r}; installed: {', '.join(names) or 'none'}")
