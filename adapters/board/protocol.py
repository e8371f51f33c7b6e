"""The board protocol (``docs/board-protocol.md``): register map, framing, CRC-8, DAC codes.

Everything both ends of the I2C link must agree on lives here, once: the host driver and the
board emulator import it, and the document describes the same numbers. Multi-byte fields are
little-endian. A write frame is ``REG SEQ LEN PAYLOAD.. CRC``; a read is a request frame
``REG SEQ LEN CRC`` followed (after a repeated START) by ``STATUS SEQ DATA.. CRC``, where
``LEN`` is the number of data bytes wanted. CRC-8 is SMBus PEC (polynomial x^8 + x^2 + x + 1,
init 0) over the address byte and every byte of the frame.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0
BOARD_ID = b"BLMB"  #: ID register: "bioloop measurement board"
DEFAULT_ADDRESS = 0x3A  #: 7-bit I2C address (straps may move it to 0x3B)
F_REF_HZ = 50_000_000  #: the FPGA's reference clock; LCLK = F_REF, GCLK = F_REF / GCLK_DIV
DIV_MIN, DIV_MAX = 1_000, 50_000  #: GCLK 50 kHz .. 1 kHz

# ---- registers -----------------------------------------------------------------------------
REG_ID = 0x00  #: R 4: "BLMB"
REG_VERSION = 0x01  #: R 2: major, minor
REG_CAPS = 0x02  #: R 8: n_clusters u8, axon_depth u16, fire_depth u16, max_entries u8, f_ref/1e6 u16
REG_SYNC = 0x03  #: W 1 (unsequenced): the next sequenced frame must carry this SEQ
REG_ERROR = 0x04  #: R 4: last error u8, expected seq u8, error count u16 (read clears last error)
REG_CTRL = 0x08  #: W 1: CMD_*
REG_GCLK_DIV = 0x09  #: RW 2: divider N, GCLK = F_REF / N
REG_MODE = 0x0A  #: RW 1: MODE_SYNAPSE or MODE_MEMREAD
REG_DAC_V_TH = 0x10  #: RW 2 each, DAC codes (see DACS)
REG_DAC_V_CM_TWG = 0x11
REG_DAC_V_REST = 0x12
REG_DAC_V_RFR = 0x13
REG_DAC_V_LAT = 0x14
REG_DAC_I_LEAK = 0x15
REG_T_SWLEAK = 0x16
REG_CHIPCFG = 0x18  #: RW 6: n_abs u8, flags u8 (bit0 leak every cycle, bit1 auto-zero), lateral mask u32
REG_PROG_CFG = 0x20  #: RW 2: verify u8, max_retries u8
REG_MRAM_WRITE = 0x21  #: W 5 x n: cell writes (array, cluster, row, col, bit | value << 7)
REG_PROG_STATUS = 0x22  #: R 21: cells u32, first_fail u32, retries u32, failed u32, first failed cell 5
REG_MRAM_PTR = 0x24  #: W 3: array, cluster, row of the next MRAM_DATA read
REG_MRAM_DATA = 0x25  #: R 16: sensed codes of one row (memory-read mode), pointer auto-increments
REG_STEP = 0x30  #: W 5 + 7 n: run_until u32, n u8, n AXON entries
REG_STATUS = 0x31  #: R 34: see STATUS_FMT
REG_FIRE_POP = 0x32  #: R 10 + 7 k: FIRE_POP_HEAD, then k FIRE entries
REG_STEP1 = 0x33  #: W 4 + 2 n: cycle u32, AXON masks u16 of clusters 0..n-1 at that cycle; run_until = cycle + 1

CMD_RUN, CMD_STOP, CMD_RESET, CMD_POWER_CYCLE, CMD_CLEAR_COUNTERS = 1, 2, 3, 4, 5
MODE_SYNAPSE, MODE_MEMREAD = 0, 1
ARRAY_SYN, ARRAY_PSP, ARRAY_THG, ARRAY_THR = 0, 1, 2, 3

#: registers readable with SEQ = 0 (no side effects)
UNSEQUENCED_READS = frozenset({REG_ID, REG_VERSION, REG_CAPS, REG_ERROR, REG_STATUS})

# ---- status flags (STATUS.flags, FIRE_POP.flags; sticky until CMD_CLEAR_COUNTERS) -----------
FLAG_RUNNING = 0x01
FLAG_MEMREAD = 0x02
FLAG_IMAGE_OK = 0x04
FLAG_AXON_OVF = 0x10
FLAG_FIRE_OVF = 0x20
FLAG_LATE = 0x40
FLAG_ORDER = 0x80
LOSS_FLAGS = FLAG_AXON_OVF | FLAG_FIRE_OVF | FLAG_LATE | FLAG_ORDER

#: STATUS: cycle, run_until, flags, axon_count, fire_count, axon_lost, fire_lost, late,
#: out_of_order, ignored_refractory, last error
STATUS_FMT = "<IIBHHIIIIIB"
STATUS_LEN = struct.calcsize(STATUS_FMT)
STATUS_FIELDS = ("cycle", "run_until", "flags", "axon_count", "fire_count", "axon_lost", "fire_lost",
                 "late", "out_of_order", "ignored_refractory", "last_error")
#: cycle u32, fire_count u16, flags u8, n u8, ignored_refractory u16 (low 16 bits of the total)
FIRE_POP_HEAD = "<IHBBH"
FIRE_POP_HEAD_LEN = struct.calcsize(FIRE_POP_HEAD)
ENTRY_FMT = "<IBH"  #: cycle u32, cluster u8, mask u16 (AXON: rows; FIRE: dends)
ENTRY_LEN = struct.calcsize(ENTRY_FMT)
MAX_ENTRIES = 32  #: entries per STEP or FIRE_POP frame (payload <= 255 bytes)
PROG_STATUS_FMT = "<IIII5B"
PROG_STATUS_LEN = struct.calcsize(PROG_STATUS_FMT)
CELL_LEN = 5
MAX_CELLS = 48  #: cell writes per MRAM_WRITE frame
CAPS_FMT = "<BHHBH"
ERROR_FMT = "<BBH"

# ---- error codes ---------------------------------------------------------------------------
ERRORS = {
    0x00: "OK",
    0x01: "CRC: the frame's CRC-8 does not match",
    0x02: "SEQ: sequence number out of order (a transaction was lost)",
    0x03: "FRAME: length does not fit the register",
    0x04: "REG: no such register",
    0x05: "RANGE: value out of range",
    0x06: "MODE: not allowed in the current mode or run state",
    0x07: "THETA: the image's threshold gives no current (theta = gen - ref < 1)",
    0x08: "READONLY: register cannot be written",
    0x09: "UNSEQ: this register needs a sequence number",
}
ERR_OK, ERR_CRC, ERR_SEQ, ERR_FRAME, ERR_REG, ERR_RANGE, ERR_MODE, ERR_THETA, ERR_READONLY, ERR_UNSEQ = range(10)


def error_name(code: int) -> str:
    return ERRORS.get(code, f"unknown error 0x{code:02x}")


# ---- CRC-8 (SMBus PEC) ---------------------------------------------------------------------
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8 with polynomial 0x07, init 0, no reflection (SMBus PEC).

    Examples
    --------
    >>> hex(crc8(b"123456789"))  # the catalogue check value of CRC-8/SMBUS
    '0xf4'
    """
    for b in data:
        crc = _CRC_TABLE[crc ^ b]
    return crc


def addr_byte(address: int, read: bool) -> int:
    return ((address & 0x7F) << 1) | int(read)


def write_frame(address: int, reg: int, seq: int, payload: bytes = b"") -> bytes:
    """``REG SEQ LEN PAYLOAD CRC``, the CRC covering the write address byte too.

    Examples
    --------
    >>> write_frame(0x3A, REG_CTRL, 1, bytes([CMD_RESET])).hex()
    '08010103d6'
    """
    if len(payload) > 255:
        raise ValueError(f"payload of {len(payload)} bytes; a frame carries at most 255")
    body = bytes((reg, seq, len(payload))) + bytes(payload)
    return body + bytes((crc8(body, crc8(bytes((addr_byte(address, False),)))),))


def read_request(address: int, reg: int, seq: int, n: int) -> bytes:
    """The request half of a read: ``REG SEQ LEN CRC`` with ``LEN`` the data bytes wanted."""
    if not 0 <= n <= 255:
        raise ValueError(f"a read returns 0..255 data bytes, not {n}")
    body = bytes((reg, seq, n))
    return body + bytes((crc8(body, crc8(bytes((addr_byte(address, False),)))),))


def read_response(address: int, status: int, seq: int, data: bytes) -> bytes:
    """``STATUS SEQ DATA CRC``, the CRC covering the read address byte too."""
    body = bytes((status, seq)) + bytes(data)
    return body + bytes((crc8(body, crc8(bytes((addr_byte(address, True),)))),))


def check_response(address: int, raw: bytes) -> bool:
    return len(raw) >= 3 and crc8(raw[:-1], crc8(bytes((addr_byte(address, True),)))) == raw[-1]


def check_write(address: int, raw: bytes) -> bool:
    return len(raw) >= 4 and crc8(raw[:-1], crc8(bytes((addr_byte(address, False),)))) == raw[-1]


def next_seq(seq: int) -> int:
    """Sequence numbers run 1..255 and wrap to 1; 0 means "unsequenced"."""
    return 1 if seq >= 255 else seq + 1


# ---- entries -------------------------------------------------------------------------------
def pack_entries(cycles, clusters, masks) -> bytes:
    out = bytearray()
    for t, c, m in zip(cycles, clusters, masks, strict=True):
        out += struct.pack(ENTRY_FMT, int(t), int(c), int(m))
    return bytes(out)


def unpack_entries(raw: bytes, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.frombuffer(raw[:n * ENTRY_LEN], dtype=np.dtype([("t", "<u4"), ("c", "u1"), ("m", "<u2")]), count=n)
    return a["t"].astype(np.int64), a["c"].astype(np.int64), a["m"].astype(np.int64)


def lateral_mask(neighbours) -> int:
    """Bit ``d + 15`` for each column offset ``d`` in -15..15 (0 excluded).

    Examples
    --------
    >>> lateral_mask((-1, 1)) == (1 << 14) | (1 << 16)
    True
    >>> lateral_offsets(lateral_mask((-2, 3)))
    (-2, 3)
    """
    m = 0
    for d in neighbours:
        if not -15 <= int(d) <= 15 or int(d) == 0:
            raise ValueError(f"lateral offset {d} is outside -15..15 (0 excluded)")
        m |= 1 << (int(d) + 15)
    return m


def lateral_offsets(mask: int) -> tuple[int, ...]:
    return tuple(b - 15 for b in range(31) if mask >> b & 1)


# ---- GCLK divider --------------------------------------------------------------------------
def gclk_divider(gclk_hz: float) -> int:
    """The divider N with ``F_REF / N == gclk_hz``.

    Raises
    ------
    ValueError
        If no whole N in 1000..50000 makes ``gclk_hz`` (the message names the nearest ones).

    Examples
    --------
    >>> gclk_divider(1e3), gclk_divider(50e3)
    (50000, 1000)
    """
    n = F_REF_HZ / float(gclk_hz)
    k = round(n)
    if not DIV_MIN <= k <= DIV_MAX:
        raise ValueError(f"GCLK {gclk_hz:g} Hz is outside what the board's divider makes "
                         f"({F_REF_HZ / DIV_MAX:g} to {F_REF_HZ / DIV_MIN:g} Hz)")
    if abs(n - k) > 1e-9 * n:
        lo, hi = math.floor(n), math.ceil(n)
        raise ValueError(f"GCLK {gclk_hz:g} Hz cannot be made by the board's divider "
                         f"(50 MHz / N, N whole): nearest are {F_REF_HZ / hi:.6g} Hz (N = {hi}) "
                         f"and {F_REF_HZ / lo:.6g} Hz (N = {lo})")
    return k


# ---- DACs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dac:
    """One analog level: ``value = code / per_unit`` (SI), ``code`` in ``0..2**bits - 1``."""

    field: str  #: ChipConfig field
    reg: int
    bits: int
    per_unit: float  #: codes per volt / ampere / second (1 / LSB)
    unit: str

    @property
    def lsb(self) -> float:
        return 1.0 / self.per_unit

    @property
    def full_scale(self) -> float:
        return (2 ** self.bits - 1) / self.per_unit

    def code(self, value: float) -> int:
        c = round(float(value) * self.per_unit)
        if not 0 <= c < 2 ** self.bits:
            raise ValueError(f"{self.field} = {value:g} {self.unit} is outside the board DAC's range "
                             f"0..{self.full_scale:g} {self.unit}")
        return c

    def value(self, code: int) -> float:
        return code / self.per_unit


#: ranges and steps chosen so that the default levels of ChipConfig are exact codes:
#: 0.25 mV steps (850 mV = 3400), 5 nA steps (0.5 uA = 100), whole LCLK periods (20 ns = 1)
DACS = (
    Dac("v_th", REG_DAC_V_TH, 12, 4000.0, "V"),
    Dac("v_cm_twg", REG_DAC_V_CM_TWG, 12, 4000.0, "V"),
    Dac("v_rest", REG_DAC_V_REST, 12, 4000.0, "V"),
    Dac("v_rfr", REG_DAC_V_RFR, 12, 4000.0, "V"),
    Dac("v_lat", REG_DAC_V_LAT, 12, 4000.0, "V"),
    Dac("i_leak", REG_DAC_I_LEAK, 10, 2e8, "A"),
    Dac("t_swleak", REG_T_SWLEAK, 8, float(F_REF_HZ), "s"),
)


def quantise_levels(config) -> tuple[dict, list[dict]]:
    """DAC codes of a config's levels, and the rounding of each level that is not exact.

    Returns
    -------
    (dict, list of dict)
        ``{field: code}`` and ``[{"level", "requested", "set", "error"}]`` for rounded levels.

    Examples
    --------
    >>> from bioloop.chip import ChipConfig
    >>> codes, rounded = quantise_levels(ChipConfig())
    >>> codes["v_th"], codes["i_leak"], codes["t_swleak"], rounded
    (3400, 100, 1, [])
    >>> quantise_levels(ChipConfig(v_th=0.8501))[1][0]["set"]
    0.85
    """
    codes, rounded = {}, []
    for dac in DACS:
        want = getattr(config, dac.field)
        c = dac.code(want)
        got = dac.value(c)
        codes[dac.field] = c
        if got != want:
            rounded.append({"level": dac.field, "requested": want, "set": got, "error": got - want})
    return codes, rounded


# ---- I2C bus time --------------------------------------------------------------------------
BUS_SPEEDS_HZ = (100_000, 400_000, 1_000_000)
#: bus free time between a STOP and the next START (UM10204 table 10: t_BUF)
T_BUF_S = {100_000: 4.7e-6, 400_000: 1.3e-6, 1_000_000: 0.5e-6}


def transaction_bits(n_write: int, n_read: int) -> int:
    """SCL periods of one transaction: START, 9 per byte (8 + ACK), address byte(s), repeated
    START when it writes then reads, STOP.

    Examples
    --------
    >>> transaction_bits(3, 0), transaction_bits(4, 10)
    (38, 147)
    """
    bits = 2  # START + STOP
    if n_write:
        bits += 9 * (1 + n_write)
    if n_read:
        bits += 9 * (1 + n_read) + (1 if n_write else 0)
    return bits


def bus_time(bits: int, transactions: int, bus_hz: int) -> float:
    """Seconds on a bus at ``bus_hz`` for ``bits`` SCL periods in ``transactions``."""
    return bits / bus_hz + transactions * T_BUF_S.get(bus_hz, 4.7e-6 * 1e5 / bus_hz)
