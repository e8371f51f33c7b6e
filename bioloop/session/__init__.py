"""Sessions: the replay and live loops, their journal, and the session file."""

from .build import SessionOptions, run_replay
from .journal import JournalWriter, read_journal
from .log import SessionLog
from .nixfile import read_session, write_session
from .runner import Pacing, replay

__all__ = ["JournalWriter", "Pacing", "SessionLog", "SessionOptions", "read_journal", "read_session",
           "replay", "run_replay", "write_session"]
