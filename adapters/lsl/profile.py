"""bioloop's LSL profile: stream layouts and the metadata written into ``desc`` (LSL has no
spike convention of its own).

- **Spike events** (in, and chip spikes out): irregular rate, ``int32``; channel 1 = electrode
  index, optional channel 2 = unit; the LSL timestamp is the spike time. Electrode labels (and
  positions, when known) in ``desc/electrodes``.
- **Voltage** (in): regular rate, ``float32``, one channel per electrode; spikes are found by
  online threshold detection.
- **Stimulation** (out): irregular rate, ``float32``, channels ``[electrode, amplitude_uA,
  phase_width_us, interphase_us]``; the sign of ``amplitude_uA`` is the polarity of the first
  phase of a biphasic, charge-balanced pulse; the timestamp is the intended delivery time.

``desc`` layout written by bioloop (XDF-style ``channels`` plus our own elements)::

    <desc>
      <channels><channel><label>electrode</label><unit>index</unit><type>...</type></channel>...
      <electrodes><electrode><index>0</index><label>A1</label><x>0</x><y>200</y>
                  <unit>um</unit></electrode>...</electrodes>
      <bioloop><version>0.1.0</version><profile>spike-events</profile>
               <profile_version>1</profile_version>...</bioloop>
    </desc>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

PROFILE_VERSION = "1"

SPIKE_TYPE = "SpikeEvents"  #: LSL content type of spike-event streams bioloop publishes
CHIP_SPIKE_TYPE = "ChipSpikes"  #: chip FIRE monitoring (same layout as spike events)
STIM_TYPE = "Stimulation"  #: stimulation commands

SPIKE_FORMAT = "int32"
VOLTAGE_FORMAT = "float32"
STIM_FORMAT = "float32"
STIM_CHANNELS = (("electrode", "index"), ("amplitude", "uA"), ("phase_width", "us"),
                 ("interphase", "us"))
SPIKE_CHANNELS = (("electrode", "index"), ("unit", "index"))

#: liblsl's channel_format codes, by index
FORMAT_NAMES = ("undefined", "float32", "double64", "string", "int32", "int16", "int8", "int64")
FLOAT32_EXACT_INT = 2 ** 24  #: float32 holds every integer below this exactly


@dataclass(frozen=True)
class Electrodes:
    """Electrode labels (index order) and, when the stream gives them, positions in um."""

    labels: tuple[str, ...]
    positions: np.ndarray | None = None  #: (n, 2) x, y in micrometres


def format_name(code: int) -> str:
    """liblsl channel-format code -> name (``4`` -> ``"int32"``)."""
    return FORMAT_NAMES[code] if 0 <= code < len(FORMAT_NAMES) else f"unknown({code})"


def write_desc(info, *, profile: str, channels, electrodes: Electrodes, extra=()) -> None:
    """Write bioloop's metadata into a pylsl ``StreamInfo``'s ``desc``.

    Parameters
    ----------
    info : pylsl.StreamInfo
        The stream description, before its outlet is created.
    profile : str
        ``"spike-events"``, ``"chip-spikes"`` or ``"stimulation"``.
    channels : sequence of (label, unit)
        One entry per LSL channel.
    electrodes : Electrodes
        Electrode labels and optional positions.
    extra : sequence of (key, value)
        More ``desc/bioloop`` entries (free text).
    """
    from bioloop import __version__

    desc = info.desc()
    chans = desc.append_child("channels")
    for label, unit in channels:
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", "bioloop")
    els = desc.append_child("electrodes")
    for i, label in enumerate(electrodes.labels):
        el = els.append_child("electrode")
        el.append_child_value("index", str(i))
        el.append_child_value("label", label)
        if electrodes.positions is not None:
            el.append_child_value("x", f"{float(electrodes.positions[i, 0]):g}")
            el.append_child_value("y", f"{float(electrodes.positions[i, 1]):g}")
            el.append_child_value("unit", "um")
    bl = desc.append_child("bioloop")
    bl.append_child_value("version", __version__)
    bl.append_child_value("profile", profile)
    bl.append_child_value("profile_version", PROFILE_VERSION)
    for key, value in extra:
        bl.append_child_value(key, str(value))


def _desc_root(xml_text: str):
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"the stream's description is not valid XML ({exc})") from exc
    return root.find("desc")


def read_electrodes(xml_text: str) -> Electrodes | None:
    """Electrodes listed in ``desc/electrodes`` of a full stream description, or None.

    Entries carry ``label`` and optionally ``index`` (order; document order otherwise) and
    ``x``/``y`` (um). Positions are kept only when every electrode has both.

    Raises
    ------
    ValueError
        If indices repeat or leave holes, or a label is missing.

    Examples
    --------
    >>> xml = ("<info><desc><electrodes><electrode><index>1</index><label>B</label></electrode>"
    ...        "<electrode><index>0</index><label>A</label></electrode></electrodes></desc></info>")
    >>> read_electrodes(xml).labels
    ('A', 'B')
    """
    desc = _desc_root(xml_text)
    node = None if desc is None else desc.find("electrodes")
    if node is None:
        return None
    entries = node.findall("electrode")
    if not entries:
        return None
    rows = []
    for pos, el in enumerate(entries):
        label = (el.findtext("label") or "").strip()
        if not label:
            raise ValueError(f"desc/electrodes entry {pos} has no label")
        idx_text = (el.findtext("index") or "").strip()
        try:
            idx = int(idx_text) if idx_text else pos
        except ValueError:
            raise ValueError(f"desc/electrodes entry {pos} ({label!r}) has index {idx_text!r}, "
                             "not an integer") from None
        xy = (el.findtext("x"), el.findtext("y"))
        try:
            point = (float(xy[0]), float(xy[1])) if None not in xy else None
        except ValueError:
            point = None
        rows.append((idx, label, point))
    indices = sorted(r[0] for r in rows)
    if indices != list(range(len(rows))):
        raise ValueError(f"desc/electrodes indices must be 0..{len(rows) - 1} once each, got "
                         f"{indices[:10]}{'...' if len(indices) > 10 else ''}")
    rows.sort(key=lambda r: r[0])
    labels = tuple(r[1] for r in rows)
    positions = None
    if all(r[2] is not None for r in rows):
        positions = np.array([r[2] for r in rows], dtype=np.float64)
    return Electrodes(labels, positions)


def read_channel_labels(xml_text: str) -> tuple[str, ...] | None:
    """Channel labels of ``desc/channels/channel/label`` (the XDF convention), or None."""
    desc = _desc_root(xml_text)
    node = None if desc is None else desc.find("channels")
    if node is None:
        return None
    labels = tuple((ch.findtext("label") or "").strip() for ch in node.findall("channel"))
    return labels if labels and all(labels) else None


def read_bioloop(xml_text: str) -> dict[str, str]:
    """The ``desc/bioloop`` entries as a dict (empty when the stream is not bioloop's)."""
    desc = _desc_root(xml_text)
    node = None if desc is None else desc.find("bioloop")
    if node is None:
        return {}
    return {child.tag: (child.text or "") for child in node}
