"""Map files: the rows of a TOML ``[[table]]`` array or a CSV table, validated.

The electrode map (:class:`bioloop.encoder.ElectrodeMap`) and the stimulation map
(:class:`bioloop.stimulator.StimMap`) both read their files through :func:`read_map_table`.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path


def read_map_table(path: Path, table: str, keys: tuple[str, ...]) -> list[tuple[str, dict]]:
    """Rows of a map file: a TOML ``[[table]]`` array, or a CSV file whose header is ``keys``.

    Parameters
    ----------
    path : Path
        ``.toml`` or ``.csv`` file.
    table : str
        Name of the TOML array of tables.
    keys : tuple of str
        The exact keys (columns) of every row; all but ``"label"`` must be integers.

    Returns
    -------
    list of (str, dict)
        ``(where, row)`` pairs; ``where`` names the row for error messages.

    Raises
    ------
    ValueError
        Missing, unreadable or malformed file, missing or extra keys, non-integer values.
    """
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".csv"):
        raise ValueError(f"map file {str(path)!r} must end in .toml or .csv, got {suffix or 'no suffix'!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"map file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"map file {str(path)!r} cannot be read: {exc}") from None
    int_keys = [k for k in keys if k != "label"]
    rows: list[tuple[str, dict]] = []
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"map file {str(path)!r} is not valid TOML: {exc}") from None
        entries = data.get(table)
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"map file {str(path)!r} has no [[{table}]] entries; each one needs "
                             f"keys {list(keys)}")
        for i, entry in enumerate(entries):
            where = f"{path.name}: [[{table}]] #{i + 1}"
            if not isinstance(entry, dict):
                raise ValueError(f"{where} is not a table")
            missing = [k for k in keys if k not in entry]
            extra = sorted(set(entry) - set(keys))
            if missing or extra:
                raise ValueError(f"{where} has keys {sorted(entry)}; expected exactly {list(keys)}")
            for k in int_keys:
                if isinstance(entry[k], bool) or not isinstance(entry[k], int):
                    raise ValueError(f"{where}: {k} = {entry[k]!r} is not an integer")
            rows.append((where, dict(entry)))
    else:
        reader = csv.reader(text.splitlines())
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(keys):
            raise ValueError(f"map file {str(path)!r} must start with the header line "
                             f"{','.join(keys)!r}, got {','.join(header or [])!r}")
        for lineno, rec in enumerate(reader, start=2):
            if not rec or all(not x.strip() for x in rec):
                continue
            where = f"{path.name}: line {lineno}"
            if len(rec) != len(keys):
                raise ValueError(f"{where} has {len(rec)} fields; expected {len(keys)} ({','.join(keys)})")
            row = dict(zip(keys, (x.strip() for x in rec), strict=True))
            for k in int_keys:
                try:
                    row[k] = int(row[k])
                except ValueError:
                    raise ValueError(f"{where}: {k} = {row[k]!r} is not an integer") from None
            rows.append((where, row))
        if not rows:
            raise ValueError(f"map file {str(path)!r} lists no rows")
    return rows
