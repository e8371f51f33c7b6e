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


def load(group: str, name: str):
    """The class registered as ``name`` in ``group``.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If nothing is registered under ``name``; the message lists the installed names.
    """
    if not isinstance(name, str):
        raise TypeError(f"{group} name must be a string, got {name!r}")
    names = available(group)
    for ep in entry_points(group=group):
        if ep.name == name:
            return ep.load()
    kind = group.split(".")[-1][:-1]
    raise ValueError(f"no {kind} named {name!r}; installed: {', '.join(names) or 'none'}")
