"""The board emulator: the FPGA common board's register file, FIFOs and timing, with the chip
model as the silicon behind the evaluation board's DACs.

It is an I2C slave: :meth:`BoardEmulator.i2c_write`, :meth:`~BoardEmulator.i2c_read` and
:meth:`~BoardEmulator.i2c_write_read` take the bytes a master puts on the bus and answer with
ACK / NAK and data, exactly as ``docs/board-protocol.md`` specifies. Time is virtual: every
transaction advances the board's clock by its I2C bus time at the master's SCL rate, and
:meth:`~BoardEmulator.idle` by a quiet bus; the GCLK sequencer executes one chip cycle per GCLK
edge that passes while it is running and below ``run_until``. The bus time of every transaction
is accounted at 100 kHz, 400 kHz and 1 MHz.

What the silicon does (mismatch, write errors, sensing) is the chip model's
(:class:`bioloop.chip.Chip`), built from the DAC codes, so level quantisation is modelled. The
cells are written one at a time with the write error rate of the silicon's config; the verify
read senses the cell's state (sense-amplifier errors show in memory-read mode).
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from bioloop.chip import Chip, ChipConfig
from bioloop.chip.mram import bits_to_codes
from bioloop.types import AxonFrames

from . import protocol as P


@dataclass
class Faults:
    """Faults to inject (tests and demonstrations of what the host reports)."""

    drop_writes: int = 0  #: the next N write transactions vanish (the bridge says it sent them)
    corrupt: int = 0  #: the next N transactions get one bit flipped on the bus (CRC fails)
    nak_address: int = 0  #: the next N transactions are not acknowledged at the address byte
    timeout: int = 0  #: the next N transactions reach the board, but the adapter times out
    corrupt_response: int = 0  #: the next N read answers get one bit flipped on the way back
    applied: dict = field(default_factory=lambda: {"dropped": 0, "corrupted": 0, "address_nak": 0,
                                                   "timeout": 0, "corrupted_response": 0})


@dataclass(frozen=True)
class BoardSpec:
    """The FPGA common board as built: its I2C address, protocol version and FIFO depths."""

    address: int = P.DEFAULT_ADDRESS
    version: tuple[int, int] = (P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR)
    axon_depth: int = 512
    fire_depth: int = 512

    def __post_init__(self):
        if not 0x08 <= int(self.address) <= 0x77:
            raise ValueError(f"I2C address 0x{int(self.address):02x} is outside 0x08..0x77")
        if len(self.version) != 2 or not all(0 <= int(v) <= 255 for v in self.version):
            raise ValueError(f"protocol version {self.version!r} must be (major, minor), each 0..255")
        for name in ("axon_depth", "fire_depth"):
            if not 1 <= int(getattr(self, name)) <= 65_535:
                raise ValueError(f"{name} = {getattr(self, name)} must be in 1..65535 entries")


@dataclass
class I2CResult:
    """What the master saw: ``nak_at`` is the index of the byte not acknowledged (0 = the
    address byte), ``None`` when every byte was acknowledged; ``data`` what it read."""

    nak_at: int | None = None
    data: bytes = b""
    timeout: bool = False  #: the adapter gave up (what the board did is unknown to the master)


class BoardEmulator:
    """A measurement board with ``n_clusters`` clusters of the chip.

    Parameters
    ----------
    n_clusters : int
        Clusters of the chip(s) on the evaluation board.
    seed : int, optional
        Seeds the silicon's device variation and write errors.
    mismatch : bool
        Whether the silicon has device variation.
    config : ChipConfig, optional
        The silicon's fixed parameters (cells, capacitors, write error rate, ...). Levels,
        GCLK, N_ABS, leak mode, auto-zero and lateral wiring come from the registers.
    spec : BoardSpec, optional
        The FPGA side: I2C address, protocol version reported, FIFO depths.
    bus_hz : int
        SCL rate of the master (sets how fast virtual time runs during transactions).

    Examples
    --------
    >>> emu = BoardEmulator()
    >>> req = P.read_request(emu.address, P.REG_ID, 0, 4)
    >>> r = emu.i2c_write_read(emu.address, req, 4 + 3)
    >>> r.nak_at is None, r.data[2:6]
    (True, b'BLMB')
    """

    def __init__(self, *, n_clusters: int = 1, seed: int | None = None, mismatch: bool = True,
                 config: ChipConfig | None = None, spec: BoardSpec | None = None, bus_hz: int = 400_000):
        spec = spec or BoardSpec()
        if not isinstance(spec, BoardSpec):
            raise TypeError(f"spec must be a BoardSpec, got {type(spec).__name__}")
        base = config or ChipConfig()
        if not isinstance(base, ChipConfig):
            raise TypeError(f"config must be a ChipConfig, got {type(base).__name__}")
        if not 1 <= int(n_clusters) <= 255:
            raise ValueError(f"n_clusters = {n_clusters}; the board addresses 1..255 clusters")
        self.n_clusters = int(n_clusters)
        self.seed, self.mismatch, self.base = seed, bool(mismatch), base
        self.spec = spec
        self.address, self.version = spec.address, spec.version
        self.axon_depth, self.fire_depth = spec.axon_depth, spec.fire_depth
        self.bus_hz = int(bus_hz)
        self.faults = Faults()
        self._rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
        C = self.n_clusters
        # the cells (the silicon's truth): every cell AP at manufacture
        self.cells = [np.zeros((C, 16, 16, 3), bool), np.zeros((C, 16, 1, 3), bool),
                      np.zeros((C, 1, 1, 3), bool), np.zeros((C, 1, 1, 3), bool)]
        # register file
        codes, _ = P.quantise_levels(base)
        self.dac = {d.field: codes[d.field] for d in P.DACS}
        self.div = P.gclk_divider(base.gclk_hz)
        self.n_abs = int(base.n_abs)
        self.chip_flags = (1 if base.leak_mode == "every_cycle" else 0) | (2 if base.auto_zero else 0)
        self.lateral = P.lateral_mask(base.lateral_neighbours)
        self.verify, self.max_retries = int(base.write_verify), int(base.write_max_retries)
        self.mode = P.MODE_SYNAPSE
        self.ptr = (0, 0, 0)
        self.last_seq = 0
        self.last_error = P.ERR_OK
        self.error_count = 0
        self.detail = ""
        self._cache: tuple[int, int, bytes] | None = None  # (reg, seq, response)
        self._pending = b""
        self._last_answer = b""
        # timing and bus accounting
        self.time = 0.0
        self.idle_time = 0.0
        self.bits = 0
        self.transactions = 0
        self._edges = 0
        # the silicon, built from the registers when needed
        self.chip: Chip | None = None
        self._dirty = True
        self.running = False
        self._clear_run_state()
        self._clear_counters()

    # ---- state helpers --------------------------------------------------------------------
    def _clear_run_state(self):
        self.cycle = 0
        self.run_until = 0
        self.axon_fifo: deque = deque()
        self.fire_fifo: deque = deque()
        self._last_pushed = -1
        if self.chip is not None:
            self.chip.reset()

    def _clear_counters(self):
        self.flags = 0
        self.axon_lost = self.fire_lost = self.late = self.out_of_order = 0
        self.ignored_refractory = 0
        self.prog = {"cells": 0, "first_fail": 0, "retries": 0, "failed": 0, "first_failed": (0, 0, 0, 0, 0)}

    def silicon_config(self) -> ChipConfig:
        """The chip config the silicon runs with: the base config and the register values."""
        levels = {d.field: d.value(self.dac[d.field]) for d in P.DACS}
        return self.base.replace(
            gclk_hz=P.F_REF_HZ / self.div, lclk_hz=float(P.F_REF_HZ), n_abs=self.n_abs,
            leak_mode="every_cycle" if self.chip_flags & 1 else "input_only",
            auto_zero=bool(self.chip_flags & 2), lateral_neighbours=P.lateral_offsets(self.lateral),
            write_error_rate=0.0, write_verify=False, **levels)

    def _codes(self):
        syn, psp, thg, thr = (bits_to_codes(a) for a in self.cells)
        return syn, psp[:, :, 0], thg[:, 0, 0], thr[:, 0, 0]

    def _build(self) -> int:
        """(Re)build the silicon from the registers and cells; an error code or ERR_OK."""
        if not self._dirty and self.chip is not None:
            return P.ERR_OK
        try:
            cfg = self.silicon_config()
        except ValueError as exc:
            self.detail = str(exc)
            return P.ERR_RANGE
        chip = Chip(cfg, n_clusters=self.n_clusters, seed=self.seed, mismatch=self.mismatch)
        try:
            chip.program(*self._codes())
        except ValueError as exc:
            self.detail = str(exc)
            self.chip = None
            return P.ERR_THETA
        self.chip, self._dirty = chip, False
        self.chip.cycle = self.cycle
        return P.ERR_OK

    # ---- time ------------------------------------------------------------------------------
    @property
    def gclk_hz(self) -> float:
        return P.F_REF_HZ / self.div

    def _advance(self):
        """Run the GCLK edges that passed up to ``self.time``."""
        edges = math.floor(self.time * self.gclk_hz + 1e-9)
        new, self._edges = edges - self._edges, edges
        if not self.running or self.chip is None or new <= 0 or self.cycle >= self.run_until:
            return
        n = min(new, self.run_until - self.cycle)
        self._execute(self.cycle + n)

    def _execute(self, stop: int):
        cyc, clu, ax = [], [], []
        while self.axon_fifo and self.axon_fifo[0][0] < stop:
            t, c, m = self.axon_fifo.popleft()
            rows = [k for k in range(16) if m >> k & 1]
            cyc += [t] * len(rows)
            clu += [c] * len(rows)
            ax += rows
        frames = AxonFrames(np.array(cyc, np.int64), np.array(clu, np.int64), np.array(ax, np.int64),
                            self.chip.config.gclk_hz)
        r = self.chip.run_events(frames, until=stop)
        self.cycle = stop
        self.ignored_refractory += r.ignored_refractory
        f = r.fires
        if len(f):
            key = f.cycles * self.n_clusters + f.cluster
            ukey, inv = np.unique(key, return_inverse=True)
            masks = np.zeros(ukey.size, np.int64)
            np.bitwise_or.at(masks, inv, 1 << f.dend)
            for k, m in zip(ukey.tolist(), masks.tolist(), strict=True):
                if len(self.fire_fifo) >= self.fire_depth:
                    self.fire_lost += bin(m).count("1")
                    self.flags |= P.FLAG_FIRE_OVF
                else:
                    self.fire_fifo.append((k // self.n_clusters, k % self.n_clusters, m))

    def idle(self, seconds: float) -> None:
        """The bus is quiet for ``seconds``: the board's clock runs on."""
        if seconds > 0:
            self.time += seconds
            self.idle_time += seconds
            self._advance()

    def _account(self, n_write: int, n_read: int):
        bits = P.transaction_bits(n_write, n_read)
        self.bits += bits
        self.transactions += 1
        self.time += P.bus_time(bits, 1, self.bus_hz)
        self._advance()

    def bus_stats(self) -> dict:
        """I2C traffic so far and its bus time at each standard speed."""
        return {"transactions": self.transactions, "bits": self.bits,
                "bus_time_s": {str(hz): P.bus_time(self.bits, self.transactions, hz) for hz in P.BUS_SPEEDS_HZ},
                "virtual_time_s": self.time, "idle_time_s": self.idle_time, "bus_hz": self.bus_hz,
                "cycle": self.cycle, "faults": dict(self.faults.applied), "detail": self.detail}

    # ---- the I2C slave ---------------------------------------------------------------------
    def _bus_fault(self, data: bytes) -> tuple[bool, bytes]:
        f = self.faults
        if f.nak_address > 0:
            f.nak_address -= 1
            f.applied["address_nak"] += 1
            return True, data
        if f.corrupt > 0 and data:
            f.corrupt -= 1
            f.applied["corrupted"] += 1
            b = bytearray(data)
            b[len(b) // 2] ^= 0x10
            return False, bytes(b)
        return False, data

    def i2c_write(self, address: int, data: bytes) -> I2CResult:
        data = bytes(data)
        if self.faults.drop_writes > 0:
            self.faults.drop_writes -= 1
            self.faults.applied["dropped"] += 1
            return I2CResult()
        if address != self.address:
            return I2CResult(nak_at=0)
        nak, data = self._bus_fault(data)
        self._account(len(data), 0)
        if nak:
            return I2CResult(nak_at=0)
        err = self._frame(data, read=False)
        return self._after(I2CResult() if err == P.ERR_OK else I2CResult(nak_at=len(data)))

    def _after(self, r: I2CResult) -> I2CResult:
        """Faults on the way back: a lost answer (timeout) or a flipped bit in the read data."""
        f = self.faults
        if f.timeout > 0:
            f.timeout -= 1
            f.applied["timeout"] += 1
            return I2CResult(timeout=True)
        if f.corrupt_response > 0 and r.data:
            f.corrupt_response -= 1
            f.applied["corrupted_response"] += 1
            b = bytearray(r.data)
            b[len(b) // 2] ^= 0x04
            return I2CResult(r.nak_at, bytes(b))
        return r

    def i2c_read(self, address: int, n: int) -> I2CResult:
        if address != self.address:
            return I2CResult(nak_at=0)
        self._account(0, n)
        # a read without a request: the answer to the last read request again (or 0xFF)
        out = self._last_answer
        return I2CResult(data=(out + b"\xff" * n)[:n])

    def i2c_write_read(self, address: int, data: bytes, n: int) -> I2CResult:
        data = bytes(data)
        if address != self.address:
            return I2CResult(nak_at=0)
        nak, data = self._bus_fault(data)
        self._account(len(data), n)
        if nak:
            return I2CResult(nak_at=0)
        err = self._frame(data, read=True)
        if err != P.ERR_OK:
            return I2CResult(nak_at=len(data))
        out, self._pending = self._pending, b""
        self._last_answer = out
        return self._after(I2CResult(data=(out + b"\xff" * n)[:n]))

    def _fail(self, code: int, detail: str = "") -> int:
        self.last_error = code
        self.error_count += 1
        if detail:
            self.detail = detail
        return code

    def _why(self, code: int, detail: str) -> int:
        self.detail = detail
        return code

    def _frame(self, data: bytes, *, read: bool) -> int:
        """Check and execute one frame; ERR_OK, or the error latched (the last byte is NAKed)."""
        if len(data) < 4 or (not read and len(data) != 4 + data[2]) or (read and len(data) != 4):
            return self._fail(P.ERR_FRAME, f"frame of {len(data)} bytes")
        if not P.check_write(self.address, data):
            return self._fail(P.ERR_CRC)
        reg, seq, ln = data[0], data[1], data[2]
        payload = data[3:-1]
        if seq == 0:
            allowed = reg in P.UNSEQUENCED_READS if read else reg == P.REG_SYNC
            if not allowed:
                return self._fail(P.ERR_UNSEQ, f"register 0x{reg:02x} with SEQ 0")
        elif seq == self.last_seq and self._cache is not None and self._cache[:2] == (reg, seq):
            self._pending = self._cache[2]  # a repeat of the frame just executed: not again
            return P.ERR_OK
        elif seq != P.next_seq(self.last_seq):
            return self._fail(P.ERR_SEQ, f"SEQ {seq}, expected {P.next_seq(self.last_seq)}")
        if read:
            status, body = self._read_reg(reg, ln)
            body = (bytes(body) + bytes(ln))[:ln]
            if status != P.ERR_OK:
                self._fail(status)
                body = bytes(ln)
            resp = P.read_response(self.address, status, seq, body)
            self._pending = resp
        else:
            status = self._write_reg(reg, payload)
            if status != P.ERR_OK:
                return self._fail(status)
            resp = b""
        if seq != 0:
            self.last_seq = seq
            self._cache = (reg, seq, resp)
        return P.ERR_OK

    # ---- registers -------------------------------------------------------------------------
    def _status_bytes(self) -> bytes:
        flags = self.flags | (P.FLAG_RUNNING if self.running else 0) | \
            (P.FLAG_MEMREAD if self.mode == P.MODE_MEMREAD else 0) | \
            (P.FLAG_IMAGE_OK if (self.chip is not None and not self._dirty) else 0)
        return struct.pack(P.STATUS_FMT, self.cycle, self.run_until, flags, len(self.axon_fifo),
                           len(self.fire_fifo), self.axon_lost, self.fire_lost, self.late,
                           self.out_of_order, self.ignored_refractory & 0xFFFFFFFF, self.last_error)

    def _read_reg(self, reg: int, n: int) -> tuple[int, bytes]:
        if reg == P.REG_ID:
            return P.ERR_OK, P.BOARD_ID
        if reg == P.REG_VERSION:
            return P.ERR_OK, bytes(self.version)
        if reg == P.REG_CAPS:
            return P.ERR_OK, struct.pack(P.CAPS_FMT, self.n_clusters, self.axon_depth, self.fire_depth,
                                         P.MAX_ENTRIES, P.F_REF_HZ // 1_000_000)
        if reg == P.REG_ERROR:
            out = struct.pack(P.ERROR_FMT, self.last_error, P.next_seq(self.last_seq), self.error_count & 0xFFFF)
            self.last_error = P.ERR_OK
            return P.ERR_OK, out
        if reg == P.REG_GCLK_DIV:
            return P.ERR_OK, struct.pack("<H", self.div)
        if reg == P.REG_MODE:
            return P.ERR_OK, bytes((self.mode,))
        for d in P.DACS:
            if reg == d.reg:
                return P.ERR_OK, struct.pack("<H", self.dac[d.field])
        if reg == P.REG_CHIPCFG:
            return P.ERR_OK, struct.pack("<BBI", self.n_abs, self.chip_flags, self.lateral)
        if reg == P.REG_PROG_CFG:
            return P.ERR_OK, bytes((self.verify, self.max_retries))
        if reg == P.REG_PROG_STATUS:
            p = self.prog
            return P.ERR_OK, struct.pack(P.PROG_STATUS_FMT, p["cells"], p["first_fail"], p["retries"],
                                         p["failed"], *p["first_failed"])
        if reg == P.REG_STATUS:
            return P.ERR_OK, self._status_bytes()
        if reg == P.REG_MRAM_DATA:
            return self._mram_data()
        if reg == P.REG_FIRE_POP:
            k = max(0, (n - P.FIRE_POP_HEAD_LEN) // P.ENTRY_LEN)
            out = []
            while self.fire_fifo and len(out) < k:
                out.append(self.fire_fifo.popleft())
            flags = self.flags | (P.FLAG_RUNNING if self.running else 0)
            head = struct.pack(P.FIRE_POP_HEAD, self.cycle, len(self.fire_fifo), flags, len(out),
                               self.ignored_refractory & 0xFFFF)
            return P.ERR_OK, head + P.pack_entries(*zip(*out, strict=True)) if out else head
        if reg in (P.REG_SYNC, P.REG_CTRL, P.REG_MRAM_WRITE, P.REG_MRAM_PTR, P.REG_STEP, P.REG_STEP1):
            return P.ERR_MODE, b""  # write-only
        return P.ERR_REG, b""

    def _write_reg(self, reg: int, p: bytes) -> int:
        def need(n):
            return len(p) == n

        if reg == P.REG_SYNC:
            if not need(1) or p[0] == 0:
                return P.ERR_FRAME
            self.last_seq = 255 if p[0] == 1 else p[0] - 1
            self._cache = None
            return P.ERR_OK
        if reg == P.REG_CTRL:
            return self._ctrl(p[0]) if need(1) else P.ERR_FRAME
        if reg == P.REG_STEP:
            return self._step(p)
        if reg == P.REG_STEP1:
            return self._step1(p)
        if reg == P.REG_MRAM_WRITE:
            return self._mram_write(p)
        if reg in (P.REG_ID, P.REG_VERSION, P.REG_CAPS, P.REG_ERROR, P.REG_STATUS, P.REG_PROG_STATUS,
                   P.REG_MRAM_DATA, P.REG_FIRE_POP):
            return P.ERR_READONLY
        if self.running and reg not in (P.REG_MRAM_PTR,):
            return self._why(P.ERR_MODE, "stop the sequencer before changing its settings")
        if reg == P.REG_GCLK_DIV:
            if not need(2):
                return P.ERR_FRAME
            div = struct.unpack("<H", p)[0]
            if not P.DIV_MIN <= div <= P.DIV_MAX:
                return self._why(P.ERR_RANGE, f"GCLK_DIV {div}")
            self.div, self._dirty = div, True
            self._edges = math.floor(self.time * self.gclk_hz + 1e-9)
            return P.ERR_OK
        if reg == P.REG_MODE:
            if not need(1) or p[0] not in (P.MODE_SYNAPSE, P.MODE_MEMREAD):
                return P.ERR_FRAME if not need(1) else P.ERR_RANGE
            if p[0] == P.MODE_MEMREAD:
                err = self._build()
                if err != P.ERR_OK:
                    return err
                self._sensed = self.chip.memory_read()
            self.mode = p[0]
            return P.ERR_OK
        for d in P.DACS:
            if reg == d.reg:
                if not need(2):
                    return P.ERR_FRAME
                code = struct.unpack("<H", p)[0]
                if code >= 2 ** d.bits or (d.field == "t_swleak" and code == 0):
                    return self._why(P.ERR_RANGE, f"{d.field} code {code}")
                self.dac[d.field], self._dirty = code, True
                return P.ERR_OK
        if reg == P.REG_CHIPCFG:
            if not need(6):
                return P.ERR_FRAME
            n_abs, flags, lat = struct.unpack("<BBI", p)
            if lat >> 31 or lat >> 15 & 1:
                return self._why(P.ERR_RANGE, f"lateral mask 0x{lat:08x}")
            self.n_abs, self.chip_flags, self.lateral, self._dirty = n_abs, flags & 3, lat, True
            return P.ERR_OK
        if reg == P.REG_PROG_CFG:
            if not need(2):
                return P.ERR_FRAME
            self.verify, self.max_retries = p[0] & 1, p[1]
            return P.ERR_OK
        if reg == P.REG_MRAM_PTR:
            if not need(3):
                return P.ERR_FRAME
            a, c, r = p
            if a > 3 or c >= self.n_clusters or r > 15:
                return self._why(P.ERR_RANGE, f"MRAM pointer {tuple(p)}")
            self.ptr = (a, c, r)
            return P.ERR_OK
        return P.ERR_REG

    def _ctrl(self, cmd: int) -> int:
        if cmd == P.CMD_RUN:
            if self.mode != P.MODE_SYNAPSE:
                return self._why(P.ERR_MODE, "RUN in memory-read mode")
            err = self._build()
            if err != P.ERR_OK:
                return err
            self._edges = math.floor(self.time * self.gclk_hz + 1e-9)
            self.running = True
            return P.ERR_OK
        if cmd == P.CMD_STOP:
            self.running = False
            return P.ERR_OK
        if cmd == P.CMD_RESET:
            self._clear_run_state()
            self._clear_counters()
            return P.ERR_OK
        if cmd == P.CMD_POWER_CYCLE:
            self.running = False
            self.mode = P.MODE_SYNAPSE
            self._clear_run_state()
            self._clear_counters()
            if self.chip is not None:
                self.chip.power_cycle()
            return P.ERR_OK
        if cmd == P.CMD_CLEAR_COUNTERS:
            self._clear_counters()
            return P.ERR_OK
        return self._why(P.ERR_RANGE, f"CTRL command {cmd}")

    def _step(self, p: bytes) -> int:
        if len(p) < 5:
            return P.ERR_FRAME
        until, n = struct.unpack("<IB", p[:5])
        if len(p) != 5 + n * P.ENTRY_LEN or n > P.MAX_ENTRIES:
            return self._why(P.ERR_FRAME, f"STEP with n = {n} and {len(p)} bytes")
        if self.mode != P.MODE_SYNAPSE:
            return self._why(P.ERR_MODE, "STEP in memory-read mode")
        t, c, m = P.unpack_entries(p[5:], n)
        return self._push(t.tolist(), c.tolist(), m.tolist(), until)

    def _step1(self, p: bytes) -> int:
        """One cycle: the AXON masks of clusters 0..n-1 at ``cycle``, and run_until = cycle + 1."""
        if len(p) < 4 or len(p) % 2:
            return P.ERR_FRAME
        if self.mode != P.MODE_SYNAPSE:
            return self._why(P.ERR_MODE, "STEP1 in memory-read mode")
        cycle = struct.unpack("<I", p[:4])[0]
        masks = struct.unpack(f"<{(len(p) - 4) // 2}H", p[4:])
        if cycle == 0xFFFFFFFF:
            return self._why(P.ERR_RANGE, "STEP1 at the last cycle")
        keep = [c for c, m in enumerate(masks) if m]
        return self._push([cycle] * len(keep), keep, [masks[c] for c in keep], cycle + 1)

    def _push(self, t, c, m, until) -> int:
        if c and max(c) >= self.n_clusters:
            return self._why(P.ERR_RANGE, f"AXON entry for cluster {max(c)}")
        if until < self.cycle:
            return self._why(P.ERR_RANGE, f"run_until {until} is before cycle {self.cycle}")
        for ti, ci, mi in zip(t, c, m, strict=True):
            if ti < self.cycle:
                self.late += 1
                self.flags |= P.FLAG_LATE
            elif ti < self._last_pushed:
                self.out_of_order += 1
                self.flags |= P.FLAG_ORDER
            elif len(self.axon_fifo) >= self.axon_depth:
                self.axon_lost += 1
                self.flags |= P.FLAG_AXON_OVF
            else:
                self.axon_fifo.append((ti, ci, mi))
                self._last_pushed = ti
        self.run_until = until
        return P.ERR_OK

    _LIMITS = ((16, 16, 3), (16, 1, 3), (1, 1, 3), (1, 1, 3))

    def _mram_write(self, p: bytes) -> int:
        if len(p) % P.CELL_LEN or len(p) // P.CELL_LEN > P.MAX_CELLS:
            return self._why(P.ERR_FRAME, f"MRAM_WRITE of {len(p)} bytes")
        if self.running or self.mode != P.MODE_SYNAPSE:
            return self._why(P.ERR_MODE, "MRAM writes need the sequencer stopped, synapse mode")
        cells = [tuple(p[i:i + P.CELL_LEN]) for i in range(0, len(p), P.CELL_LEN)]
        for a, c, r, col, bv in cells:
            if a > 3 or c >= self.n_clusters:
                return self._why(P.ERR_RANGE, f"cell {(a, c, r, col, bv)}")
            kr, kc, kb = self._LIMITS[a]
            if r >= kr or col >= kc or (bv & 0x7F) >= kb:
                return self._why(P.ERR_RANGE, f"cell {(a, c, r, col, bv)}")
        p_err = self.base.write_error_rate
        for a, c, r, col, bv in cells:
            bit, value = bv & 0x7F, bool(bv >> 7)
            arr = self.cells[a]
            self.prog["cells"] += 1
            ok = not (p_err > 0 and self._rng.random() < p_err)
            if ok:
                arr[c, r, col, bit] = value
            else:
                self.prog["first_fail"] += 1
            if self.verify:
                tries = 0
                while arr[c, r, col, bit] != value and tries < self.max_retries:
                    tries += 1
                    self.prog["retries"] += 1
                    if not (p_err > 0 and self._rng.random() < p_err):
                        arr[c, r, col, bit] = value
                if arr[c, r, col, bit] != value:
                    if self.prog["failed"] == 0:
                        self.prog["first_failed"] = (a, c, r, col, bv)
                    self.prog["failed"] += 1
        self._dirty = True
        return P.ERR_OK

    def _mram_data(self) -> tuple[int, bytes]:
        if self.mode != P.MODE_MEMREAD:
            return P.ERR_MODE, b""
        a, c, r = self.ptr
        s = self._sensed
        if a == P.ARRAY_SYN:
            out = s.weights[c, r]
            r += 1
            if r == 16:
                r, c = 0, (c + 1) % self.n_clusters
        elif a == P.ARRAY_PSP:
            out = s.psp_ref[c]
            c = (c + 1) % self.n_clusters
        else:
            out = np.zeros(16, np.int64)
            out[0] = (s.threshold_gen if a == P.ARRAY_THG else s.threshold_ref)[c]
            c = (c + 1) % self.n_clusters
        self.ptr = (a, c, r)
        return P.ERR_OK, bytes(np.asarray(out, np.uint8).tolist())
