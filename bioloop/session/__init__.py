"""Sessions: the replay and live loops, their journal, and the session file.

Entry points: :func:`run_replay` (a replay from :class:`SessionOptions`, returns the summary)
and :func:`run_loop` (the closed loop on a live source).
"""

from .build import SessionOptions, assemble, build, run_loop, run_replay
from .journal import JournalWriter, read_journal
from .live import LiveLoop, LiveTiming
from .log import SessionLog
from .nixfile import read_session, write_session
from .runner import Pacing, replay

__all__ = ["JournalWriter", "LiveLoop", "LiveTiming", "Pacing", "SessionLog", "SessionOptions", "assemble",
           "build", "read_journal", "read_session", "replay", "run_loop", "run_replay", "write_session"]
