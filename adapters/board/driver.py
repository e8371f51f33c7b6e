"""The host driver: the board protocol over a :class:`~.transports.Transport`.

Every frame carries a sequence number and a CRC-8. A NAKed frame is diagnosed by reading the
ERROR register: a CRC error (a bit flipped on the bus) is retried, a sequence error means an
earlier write never reached the board (a dropped transaction) and the lost frames are sent
again in order, anything else is raised. A read whose answer fails its CRC is asked again with
the same sequence number, and the board answers from its cache without executing it twice.
Everything is counted in :attr:`BoardDriver.link` and nothing is retried silently.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from . import protocol as P
from .transports import I2CNak, I2CTimeout, Transport


class BoardError(ValueError):
    """The board refused a command, or the link failed beyond what retries recover."""


class FifoOverflow(BoardError):
    """AXON or FIRE entries were lost (overflow, late or out-of-order entries)."""


@dataclass
class LinkStats:
    """What the link did: transactions, SCL periods, and every fault seen and how it ended."""

    transactions: int = 0
    bits: int = 0
    naks: int = 0
    crc_errors: int = 0  #: frames the board refused for their CRC, and answers failing ours
    timeouts: int = 0
    dropped: int = 0  #: writes that never reached the board, found by SEQ and sent again
    retries: int = 0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["bus_time_s"] = {str(hz): P.bus_time(self.bits, self.transactions, hz) for hz in P.BUS_SPEEDS_HZ}
        return d


@dataclass(frozen=True)
class BoardInfo:
    """Identification read from the board."""

    version: tuple[int, int]
    n_clusters: int
    axon_depth: int
    fire_depth: int
    max_entries: int
    f_ref_hz: int


@dataclass(frozen=True)
class FirePop:
    cycle: int
    fire_count: int
    flags: int
    ignored_refractory: int
    cycles: np.ndarray
    cluster: np.ndarray
    masks: np.ndarray


REG_NAMES = {v: k[4:] for k, v in vars(P).items() if k.startswith("REG_")}


class BoardDriver:
    """Register-level access to one board.

    Parameters
    ----------
    transport : Transport
    address : int
        7-bit I2C address of the board.
    retries : int
        Attempts after the first for a frame that fails on the link.
    where : str
        How to name the board in messages (its URI).

    Raises
    ------
    BoardError
        From any command: what the board refused, or a link fault beyond the retries.

    Examples
    --------
    >>> from bioloop.adapters.board.emulator import BoardEmulator
    >>> from bioloop.adapters.board.transports import EmulatorTransport
    >>> d = BoardDriver(EmulatorTransport(BoardEmulator(n_clusters=2)))
    >>> d.open().n_clusters
    2
    >>> d.write_u16(P.REG_GCLK_DIV, P.gclk_divider(20e3))
    >>> d.status()["cycle"], d.link.naks
    (0, 0)
    """

    def __init__(self, transport: Transport, address: int = P.DEFAULT_ADDRESS, *, retries: int = 3,
                 where: str = ""):
        self.t, self.address, self.retries = transport, int(address), int(retries)
        self.where = where or getattr(transport, "uri", "the board")
        self.seq = 0  #: last sequence number the board executed (as far as we know)
        self.link = LinkStats()
        self._sent: deque = deque(maxlen=8)  # (seq, frame) of recent writes, to resend if lost
        self.info: BoardInfo | None = None

    # ---- transactions --------------------------------------------------------------------
    def _count(self, n_write, n_read):
        self.link.transactions += 1
        self.link.bits += P.transaction_bits(n_write, n_read)

    def _tx_write(self, frame: bytes):
        self._count(len(frame), 0)
        self.t.write(self.address, frame)

    def _tx_write_read(self, frame: bytes, n: int) -> bytes:
        self._count(len(frame), n)
        return self.t.write_read(self.address, frame, n)

    def _absent(self) -> BoardError:
        return BoardError(f"no device answers at I2C address 0x{self.address:02x} on {self.where}")

    def read_error(self) -> tuple[int, int, int]:
        """(last error, expected SEQ, error count) from the ERROR register (unsequenced)."""
        for _ in range(self.retries + 1):
            try:
                raw = self._tx_write_read(P.read_request(self.address, P.REG_ERROR, 0, 4), 4 + 3)
            except I2CNak as exc:
                self.link.naks += 1
                if exc.index == 0:
                    raise self._absent() from None
                continue
            except I2CTimeout:
                self.link.timeouts += 1
                continue
            if P.check_response(self.address, raw):
                return struct.unpack(P.ERROR_FMT, raw[2:6])
            self.link.crc_errors += 1
        raise BoardError(f"cannot read the ERROR register of the board on {self.where}")

    def _diagnose(self, reg: int, seq: int, exc: I2CNak) -> None:
        """After a NAK: recover what the link lost, or raise what the board refused."""
        self.link.naks += 1
        code, expected, _ = self.read_error()
        if code in (P.ERR_CRC, P.ERR_OK):
            self.link.crc_errors += code == P.ERR_CRC
            return
        if code == P.ERR_SEQ:
            lost = [(s, f) for s, f in self._sent if _seq_between(expected, s, self.seq)]
            if not lost or lost[0][0] != expected:
                raise BoardError(f"{self.where}: the board expects SEQ {expected} but the frame "
                                 f"is no longer held to send again; the link lost transactions")
            for _, frame in lost:
                self.link.dropped += 1
                try:
                    self._tx_write(frame)
                except (I2CNak, I2CTimeout) as again:
                    raise BoardError(f"{self.where}: a dropped transaction could not be sent again "
                                     f"({again})") from None
            return
        raise BoardError(f"{self.where}: board refused {REG_NAMES.get(reg, hex(reg))}: "
                         f"error 0x{code:02x} {P.error_name(code)}")

    def _link_fault(self, exc: Exception, reg: int, seq: int, *, last: bool) -> None:
        """Count one failed transaction and decide whether it may be tried again: a timeout
        may; a NAK of the address byte may, but on the last attempt means no device answers; a
        NAK later in the frame is diagnosed (it raises when the board refused the frame)."""
        if isinstance(exc, I2CTimeout):
            self.link.timeouts += 1
            return
        if exc.index == 0:
            self.link.naks += 1
            if last:
                raise self._absent() from None
            return
        self._diagnose(reg, seq, exc)

    def write(self, reg: int, payload: bytes = b"", *, unsequenced: bool = False) -> None:
        """Send one write frame, recovering from link faults (counted in :attr:`link`)."""
        for attempt in range(self.retries + 1):
            seq = 0 if unsequenced else P.next_seq(self.seq)
            frame = P.write_frame(self.address, reg, seq, payload)
            if attempt:
                self.link.retries += 1
            try:
                self._tx_write(frame)
            except (I2CNak, I2CTimeout) as exc:
                self._link_fault(exc, reg, seq, last=attempt == self.retries)
                continue
            if not unsequenced:
                self.seq = seq
                self._sent.append((seq, frame))
            return
        raise BoardError(f"{self.where}: write of {REG_NAMES.get(reg, hex(reg))} failed "
                         f"{self.retries + 1} times")

    def read(self, reg: int, n: int, *, unsequenced: bool = False) -> bytes:
        """One read frame: ``n`` data bytes, recovering from link faults."""
        for attempt in range(self.retries + 1):
            seq = 0 if unsequenced else P.next_seq(self.seq)
            if attempt:
                self.link.retries += 1
            try:
                raw = self._tx_write_read(P.read_request(self.address, reg, seq, n), n + 3)
            except (I2CNak, I2CTimeout) as exc:
                self._link_fault(exc, reg, seq, last=attempt == self.retries)
                continue
            if not P.check_response(self.address, raw) or raw[1] != seq:
                self.link.crc_errors += 1  # asked again with the same SEQ: answered from cache
                continue
            if not unsequenced:
                self.seq = seq
            if raw[0] != P.ERR_OK:
                raise BoardError(f"{self.where}: board refused to read {REG_NAMES.get(reg, hex(reg))}: "
                                 f"error 0x{raw[0]:02x} {P.error_name(raw[0])}")
            return raw[2:-1]
        raise BoardError(f"{self.where}: read of {REG_NAMES.get(reg, hex(reg))} failed "
                         f"{self.retries + 1} times")

    # ---- identification ------------------------------------------------------------------
    def open(self) -> BoardInfo:
        """Identify the board, check the protocol version, and agree on sequence numbers.

        Raises
        ------
        BoardError
            No device at the address, not a bioloop board, or another protocol major version.
        """
        ident = self.read(P.REG_ID, 4, unsequenced=True)
        if ident != P.BOARD_ID:
            raise BoardError(f"the device at 0x{self.address:02x} on {self.where} is not a bioloop "
                             f"measurement board (ID {ident!r}, expected {P.BOARD_ID!r})")
        major, minor = self.read(P.REG_VERSION, 2, unsequenced=True)
        if major != P.PROTOCOL_MAJOR:
            raise BoardError(f"the board on {self.where} speaks protocol {major}.{minor}; this "
                             f"bioloop speaks {P.PROTOCOL_MAJOR}.x (update the FPGA or bioloop)")
        n_c, ad, fd, me, fref = struct.unpack(P.CAPS_FMT, self.read(P.REG_CAPS, 8, unsequenced=True))
        self.write(P.REG_SYNC, bytes((1,)), unsequenced=True)
        self.seq = 0
        self.info = BoardInfo((major, minor), n_c, ad, fd, me, fref * 1_000_000)
        return self.info

    # ---- commands ------------------------------------------------------------------------
    def ctrl(self, cmd: int) -> None:
        self.write(P.REG_CTRL, bytes((cmd,)))

    def write_u16(self, reg: int, value: int) -> None:
        self.write(reg, struct.pack("<H", value))

    def status(self) -> dict:
        return dict(zip(P.STATUS_FIELDS, struct.unpack(P.STATUS_FMT, self.read(P.REG_STATUS, P.STATUS_LEN)),
                        strict=True))

    def step(self, cycles, clusters, masks, run_until: int) -> None:
        """Push AXON entries (at most ``max_entries``) and raise ``run_until``."""
        n = len(cycles)
        self.write(P.REG_STEP, struct.pack("<IB", int(run_until), n) + P.pack_entries(cycles, clusters, masks))

    def step1(self, cycle: int, masks) -> None:
        """The lock-step fast path: AXON masks of clusters 0..n-1 at ``cycle``; run to cycle + 1."""
        self.write(P.REG_STEP1, struct.pack(f"<I{len(masks)}H", int(cycle), *(int(m) for m in masks)))

    def fire_pop(self, k: int = P.MAX_ENTRIES) -> FirePop:
        raw = self.read(P.REG_FIRE_POP, P.FIRE_POP_HEAD_LEN + k * P.ENTRY_LEN)
        cycle, fc, flags, n, ign = struct.unpack(P.FIRE_POP_HEAD, raw[:P.FIRE_POP_HEAD_LEN])
        self.check_losses(flags)  # never silent: a loss is raised at the first read that sees it
        t, c, m = P.unpack_entries(raw[P.FIRE_POP_HEAD_LEN:], n)
        return FirePop(cycle, fc, flags, ign, t, c, m)

    def check_losses(self, flags: int) -> None:
        """Raise :class:`FifoOverflow` naming every count if the board lost entries."""
        if not flags & P.LOSS_FLAGS:
            return
        s = self.status()
        parts = []
        if s["axon_lost"]:
            parts.append(f"AXON FIFO overflowed: {s['axon_lost']} entries lost")
        if s["fire_lost"]:
            parts.append(f"FIRE FIFO overflowed: {s['fire_lost']} spikes lost")
        if s["late"]:
            parts.append(f"{s['late']} AXON entries arrived after their cycle")
        if s["out_of_order"]:
            parts.append(f"{s['out_of_order']} AXON entries out of order")
        raise FifoOverflow(f"{self.where}: " + "; ".join(parts or [f"entries lost (flags 0x{flags:02x})"]))

    def wait_cycle(self, target: int, gclk_hz: float, *, start: int, expect: int, pending=None,
                   timeout_s: float | None = None):
        """Wait for the board to reach ``target`` (from ``start``), reading every FIRE entry.

        The bus is left idle for the cycles to pass, then FIRE_POP is polled, each time asking
        for as many entries as may be waiting: ``expect`` at first, then those still in the FIRE
        FIFO and, while the target is not reached, one per AXON entry of ``pending`` (sorted
        cycle stamps of what the host pushed) not yet run.

        Returns
        -------
        (cycles, clusters, masks, FirePop, polls)
        """
        ts, cs, ms = [], [], []
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 2.0 + 4 * (target - start) / gclk_hz)
        polls, cycle, k = 0, start, min(self.info.max_entries, expect)
        while True:
            if cycle < target:
                self.t.idle((target - cycle) / gclk_hz)
            pop = self.fire_pop(k)
            polls += 1
            ts.append(pop.cycles)
            cs.append(pop.cluster)
            ms.append(pop.masks)
            cycle = pop.cycle
            if cycle >= target and pop.fire_count == 0:
                return np.concatenate(ts), np.concatenate(cs), np.concatenate(ms), pop, polls
            if not pop.flags & P.FLAG_RUNNING:
                raise BoardError(f"{self.where}: the sequencer is stopped at cycle {cycle} (target {target})")
            if time.monotonic() > deadline or polls > 100_000:
                raise BoardError(f"{self.where}: timeout: the board stayed at cycle {cycle}, "
                                 f"short of {target}")
            waiting = 0
            if cycle < target and pending is not None:
                waiting = len(pending) - int(np.searchsorted(pending, cycle))
            k = min(self.info.max_entries, pop.fire_count + waiting)


def _seq_between(lo: int, s: int, hi: int) -> bool:
    """Whether ``s`` lies in the wrapping range lo..hi of sequence numbers 1..255."""
    if lo <= hi:
        return lo <= s <= hi
    return s >= lo or s <= hi
