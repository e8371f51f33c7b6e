"""Lab Streaming Layer adapters: live spike sources, stimulation and monitoring outlets, replay.

Configure LSL first (:func:`configure_lsl`; the adapters do it themselves, machine scope, if
nothing did): discovery stays on this machine unless wider scope is asked for explicitly.
Importing this package loads neither pylsl nor liblsl and opens no socket.

- :class:`LSLSpikeSource` (``bioloop.sources`` name ``lsl-spikes``): a spike-event stream in,
  from any rig (any number format, string markers, the Neural Data Simulator's layout).
- :class:`LSLVoltageSource` (``lsl-voltage``): a voltage stream in (any number format), with
  online threshold detection.
- :class:`LSLStimSink` (``bioloop.sinks`` name ``lsl``): stimulation commands out.
- :class:`SpikeEventOutlet`, :class:`ChipSpikeOutlet`: spike events / chip FIRE monitoring out.
- :func:`play_events`: replay a recording in real time (``bioloop play``).

The stream layouts are in :mod:`bioloop.adapters.lsl.profile`.
"""

from .config import LSLConfig, LSLUnavailableError, applied_config, configure_lsl, load_pylsl
from .connection import Gap
from .detect import DetectorConfig, ThresholdDetector
from .inlets import LSLSpikeSource, LSLVoltageSource
from .outlets import ChipSpikeOutlet, LSLStimSink, SpikeEventOutlet
from .player import PlayReport, play_events
from .resolve import StreamQuery, StreamResolutionError, StreamSummary, list_streams, resolve_one
from .stim_source import LSLStimSource

__all__ = [
    "LSLStimSource",
    "ChipSpikeOutlet", "DetectorConfig", "Gap", "LSLConfig", "LSLSpikeSource", "LSLStimSink",
    "LSLUnavailableError", "LSLVoltageSource", "PlayReport", "SpikeEventOutlet", "StreamQuery",
    "StreamResolutionError", "StreamSummary", "ThresholdDetector", "applied_config",
    "configure_lsl", "list_streams", "load_pylsl", "play_events", "resolve_one",
]
