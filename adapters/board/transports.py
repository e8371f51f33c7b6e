"""Transports: bytes at an I2C device address, behind one small interface.

``write``, ``read`` and ``write_read`` (a write, a repeated START, a read) of raw bytes at a
7-bit address. Four kinds, chosen by the board URI:

``emulator://[?key=value...]``
    The board emulator in this process.
``emulator+tcp://127.0.0.1:PORT``
    A board emulator in another process (``bioloop board serve``), over loopback TCP.
``i2c:///dev/i2c-N`` (or ``i2c://N``)
    Linux i2c-dev through smbus2 ``i2c_rdwr``: any USB-I2C adapter with a kernel driver
    (CP2112, MCP2221, FT260, ...).
``ftdi://ftdi:232h/1``
    An FTDI FT232H through pyftdi's ``I2cController`` (the URL is pyftdi's).

Every URI takes ``addr`` (7-bit board address, default 0x3a), ``bus_khz`` (SCL rate, default
400) and ``timeout_ms``; ``emulator://`` also takes the emulated board's ``clusters``, ``seed``,
``ideal``, ``version`` (e.g. 2.0), ``board_addr``, ``axon_depth`` and ``fire_depth``.
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from . import protocol as P

SCHEMES = ("emulator", "emulator+tcp", "i2c", "ftdi")
VALID_URIS = "emulator://, emulator+tcp://127.0.0.1:PORT, i2c:///dev/i2c-N, ftdi://ftdi:232h/1"
COMMON_KEYS = ("addr", "bus_khz", "timeout_ms")
EMULATOR_KEYS = ("clusters", "seed", "ideal", "version", "board_addr", "axon_depth", "fire_depth")


class I2CError(Exception):
    """A transaction that did not complete on the bus."""


class I2CNak(I2CError):
    """A byte was not acknowledged; ``index`` 0 is the address byte, ``None`` if unknown."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


class I2CTimeout(I2CError):
    """The adapter gave up waiting (clock stretching, a hung bus, a lost USB packet)."""


@dataclass(frozen=True)
class BoardURI:
    """A parsed board URI: scheme, where (path / host:port / pyftdi URL) and options."""

    uri: str
    scheme: str
    target: str
    address: int = P.DEFAULT_ADDRESS
    bus_hz: int = 400_000
    timeout_s: float = 0.1
    emulator: dict = field(default_factory=dict)


def _int(key: str, text: str, uri: str, lo: int, hi: int) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise ValueError(f"board URI {uri!r}: {key}={text!r} is not a whole number") from None
    if not lo <= v <= hi:
        raise ValueError(f"board URI {uri!r}: {key}={v} is outside {lo}..{hi}")
    return v


def parse_uri(uri: str) -> BoardURI:
    """Split and validate a board URI.

    Raises
    ------
    TypeError
        ``uri`` is not a string.
    ValueError
        An unknown scheme, an unknown or bad option, or a TCP address other than loopback.

    Examples
    --------
    >>> u = parse_uri("i2c:///dev/i2c-1?addr=0x3b&bus_khz=100")
    >>> u.scheme, u.target, hex(u.address), u.bus_hz
    ('i2c', '/dev/i2c-1', '0x3b', 100000)
    >>> parse_uri("i2c://3").target
    '/dev/i2c-3'
    >>> parse_uri("emulator://?clusters=2&ideal").emulator
    {'clusters': 2, 'ideal': True}
    """
    if not isinstance(uri, str):
        raise TypeError(f"board URI must be a string, got {uri!r}")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if "://" not in uri or scheme not in SCHEMES:
        raise ValueError(f"unknown board URI scheme {scheme or uri!r} in {uri!r}; valid: {VALID_URIS}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    allowed = COMMON_KEYS + (EMULATOR_KEYS if scheme == "emulator" else ())
    opts, emu = {}, {}
    for key, val in query:
        if key not in allowed:
            raise ValueError(f"board URI {uri!r}: unknown option {key!r}; valid: {', '.join(allowed)}")
        if key == "addr":
            opts["address"] = _int(key, val, uri, 0x08, 0x77)
        elif key == "bus_khz":
            opts["bus_hz"] = 1000 * _int(key, val, uri, 10, 3400)
        elif key == "timeout_ms":
            opts["timeout_s"] = _int(key, val, uri, 1, 600_000) / 1e3
        elif key == "ideal":
            emu["ideal"] = val.lower() not in ("0", "false", "no")
        elif key == "version":
            try:
                major, minor = (int(x) for x in val.split("."))
            except ValueError:
                raise ValueError(f"board URI {uri!r}: version={val!r} must be MAJOR.MINOR") from None
            emu["version"] = (major, minor)
        elif key == "board_addr":
            emu[key] = _int(key, val, uri, 0x08, 0x77)
        else:
            emu[key] = _int(key, val, uri, 0, 2**32 - 1)
    if scheme == "emulator":
        target = ""
    elif scheme == "emulator+tcp":
        host, port = parts.hostname, parts.port if parts.netloc else None
        if host not in ("127.0.0.1", "localhost") or port is None:
            raise ValueError(f"board URI {uri!r}: an emulator over TCP must be on this machine, "
                             "emulator+tcp://127.0.0.1:PORT")
        target = f"127.0.0.1:{port}"
    elif scheme == "i2c":
        target = parts.path if parts.path else ""
        if parts.netloc:
            if not parts.netloc.isdigit():
                raise ValueError(f"board URI {uri!r}: i2c://N needs a bus number, or use i2c:///dev/i2c-N")
            target = f"/dev/i2c-{parts.netloc}"
        if not target:
            raise ValueError(f"board URI {uri!r} names no I2C device; e.g. i2c:///dev/i2c-1")
    else:  # ftdi: pyftdi's own URL without our options
        target = uri.split("?", 1)[0]
    return BoardURI(uri, scheme, target, emulator=emu, **opts)


class Transport(ABC):
    """Raw I2C transactions at a 7-bit ``address``.

    Raises :class:`I2CNak` when a byte is not acknowledged and :class:`I2CTimeout` when the
    adapter gives up; a missing adapter is a ValueError when the transport is opened.
    """

    uri: str
    bus_hz: int

    @abstractmethod
    def write(self, address: int, data: bytes) -> None:
        """START, address + W, ``data``, STOP."""

    @abstractmethod
    def read(self, address: int, n: int) -> bytes:
        """START, address + R, ``n`` bytes, STOP."""

    @abstractmethod
    def write_read(self, address: int, data: bytes, n: int) -> bytes:
        """START, address + W, ``data``, repeated START, address + R, ``n`` bytes, STOP."""

    def idle(self, seconds: float) -> None:
        """Leave the bus quiet for ``seconds`` (real hardware: sleep)."""
        if seconds > 0:
            time.sleep(seconds)

    def set_bus_hz(self, hz: int) -> None:
        """Change the SCL rate, where the adapter can."""
        raise ValueError(f"{self.uri}: this adapter's SCL rate is set by its driver, not by bioloop")

    def bus_stats(self) -> dict | None:
        """The emulator's bus accounting (None for hardware)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional for transports that hold nothing
        """Release the adapter."""


# ---- the emulator, in process and over TCP ------------------------------------------------
class EmulatorTransport(Transport):
    """The board emulator in this process."""

    def __init__(self, emulator, uri: str = "emulator://", bus_hz: int = 400_000):
        self.emulator, self.uri, self.bus_hz = emulator, uri, bus_hz
        emulator.bus_hz = bus_hz

    @staticmethod
    def _check(r, what):
        if r.timeout:
            raise I2CTimeout(f"{what}: the adapter timed out")
        if r.nak_at is not None:
            raise I2CNak(f"{what}: byte {r.nak_at} not acknowledged", r.nak_at)
        return r.data

    def write(self, address, data):
        self._check(self.emulator.i2c_write(address, bytes(data)), "write")

    def read(self, address, n):
        return self._check(self.emulator.i2c_read(address, n), "read")

    def write_read(self, address, data, n):
        return self._check(self.emulator.i2c_write_read(address, bytes(data), n), "write_read")

    def idle(self, seconds):
        self.emulator.idle(seconds)

    def set_bus_hz(self, hz):
        self.bus_hz = self.emulator.bus_hz = int(hz)

    def bus_stats(self):
        return self.emulator.bus_stats()


#: the loopback bridge protocol of ``emulator+tcp``: request <op addr wlen rlen> + data;
#: response <result nak_at rlen> + data (result 0 = ACK, 1 = NAK at byte nak_at, 2 = timeout)
OP_WRITE, OP_READ, OP_WRITE_READ, OP_IDLE, OP_BUS, OP_STATS, OP_FAULT, OP_HELLO = range(1, 9)
REQ_FMT, RESP_FMT = "<BBHH", "<BHH"
HELLO = b"bioloop-board-emulator 1"


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        buf += chunk
    return bytes(buf)


class TcpEmulatorTransport(Transport):
    """A board emulator in another process, reached over loopback TCP."""

    def __init__(self, target: str, uri: str, bus_hz: int = 400_000, timeout_s: float = 0.1):
        self.uri, self.bus_hz = uri, bus_hz
        host, port = target.rsplit(":", 1)
        try:
            self._sock = socket.create_connection((host, int(port)), timeout=max(timeout_s, 2.0))
        except OSError as exc:
            raise ValueError(f"no board emulator listens at {uri} ({exc.strerror or exc}); start one "
                             "with 'bioloop board serve --port PORT'") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            hello = self._call(OP_HELLO, 0, b"", len(HELLO))
        except I2CTimeout:
            self.close()
            raise ValueError(f"the board emulator at {uri} does not answer (busy with another "
                             "client? it serves one at a time)") from None
        if hello != HELLO:
            self.close()
            raise ValueError(f"{uri} is not a bioloop board emulator")
        self.set_bus_hz(bus_hz)

    def _call(self, op, address, data, n):
        try:
            self._sock.sendall(struct.pack(REQ_FMT, op, address, len(data), n) + bytes(data))
            result, nak_at, rlen = struct.unpack(RESP_FMT, recv_exact(self._sock, struct.calcsize(RESP_FMT)))
            out = recv_exact(self._sock, rlen)
        except TimeoutError:
            raise I2CTimeout(f"{self.uri}: no answer from the emulator") from None
        except OSError as exc:
            raise ValueError(f"the board emulator at {self.uri} went away ({exc})") from None
        if result == 2:
            raise I2CTimeout(f"{self.uri}: the adapter timed out")
        if result:
            raise I2CNak(f"byte {nak_at} not acknowledged", nak_at)
        return out

    def write(self, address, data):
        self._call(OP_WRITE, address, data, 0)

    def read(self, address, n):
        return self._call(OP_READ, address, b"", n)

    def write_read(self, address, data, n):
        return self._call(OP_WRITE_READ, address, data, n)

    def idle(self, seconds):
        if seconds > 0:
            self._call(OP_IDLE, 0, struct.pack("<d", seconds), 0)

    def set_bus_hz(self, hz):
        self._call(OP_BUS, 0, struct.pack("<I", int(hz)), 0)
        self.bus_hz = int(hz)

    def bus_stats(self):
        return json.loads(self._call(OP_STATS, 0, b"", 0xFFFF).rstrip(b"\0"))

    def inject(self, **faults):
        """Ask the emulator to inject faults (``drop_writes``, ``corrupt``, ``nak_address``)."""
        self._call(OP_FAULT, 0, json.dumps(faults).encode(), 0)

    def close(self):
        sock, self._sock = getattr(self, "_sock", None), None
        if sock is not None:
            sock.close()


# ---- hardware -------------------------------------------------------------------------------
def _os_error(exc: OSError, what: str):
    if exc.errno in (errno.ETIMEDOUT, errno.EAGAIN):
        return I2CTimeout(f"{what}: {exc.strerror}")
    # i2c-dev reports a NAK as ENXIO (address) or EREMOTEIO / EIO (data), driver-dependent
    return I2CNak(f"{what}: {exc.strerror}", 0 if exc.errno == errno.ENXIO else None)


class SMBusTransport(Transport):
    """Linux i2c-dev through smbus2: ``i2c_rdwr`` with one message per direction."""

    def __init__(self, path: str, uri: str, bus_hz: int = 400_000, timeout_s: float = 0.1):
        from smbus2 import SMBus

        self.uri, self.bus_hz, self.path = uri, bus_hz, path
        try:
            self._bus = SMBus(path)
        except FileNotFoundError:
            raise ValueError(f"no I2C adapter at {path} for {uri} (is the adapter plugged in and its "
                             "kernel module loaded? see ls /dev/i2c-*)") from None
        except PermissionError:
            raise ValueError(f"no permission to open {path} for {uri} (add yourself to the i2c group)") from None

    @staticmethod
    def messages(address: int, data: bytes | None, n: int) -> list:
        """The ``i2c_msg`` list of one transaction (write, read, or write then read)."""
        from smbus2 import i2c_msg

        msgs = []
        if data:
            msgs.append(i2c_msg.write(address, bytes(data)))
        if n:
            msgs.append(i2c_msg.read(address, n))
        return msgs

    def _rdwr(self, msgs, what):
        try:
            self._bus.i2c_rdwr(*msgs)
        except OSError as exc:
            raise _os_error(exc, f"{self.uri} {what}") from None

    def write(self, address, data):
        self._rdwr(self.messages(address, data, 0), "write")

    def read(self, address, n):
        msgs = self.messages(address, None, n)
        self._rdwr(msgs, "read")
        return bytes(msgs[-1])

    def write_read(self, address, data, n):
        msgs = self.messages(address, data, n)
        self._rdwr(msgs, "write_read")
        return bytes(msgs[-1])

    def close(self):
        bus, self._bus = getattr(self, "_bus", None), None
        if bus is not None:
            bus.close()


class FtdiTransport(Transport):
    """An FTDI FT232H (or FT2232H / FT4232H) as I2C master through pyftdi."""

    def __init__(self, url: str, uri: str, bus_hz: int = 400_000, timeout_s: float = 0.1):
        from pyftdi.i2c import I2cController

        self.uri, self.bus_hz, self.url = uri, bus_hz, url
        self._ctrl = I2cController()
        try:
            self._ctrl.configure(url, frequency=float(bus_hz))
        except Exception as exc:  # pyftdi raises ValueError, UsbToolsError, usb.core errors
            raise ValueError(f"no FTDI device at {url} ({type(exc).__name__}: {exc})") from None
        self._ports = {}

    def _port(self, address):
        if address not in self._ports:
            self._ports[address] = self._ctrl.get_port(address)
        return self._ports[address]

    def _do(self, fn, what):
        from pyftdi.i2c import I2cNackError, I2cTimeoutError

        try:
            return fn()
        except I2cNackError as exc:
            raise I2CNak(f"{self.uri} {what}: {exc}") from None
        except I2cTimeoutError as exc:
            raise I2CTimeout(f"{self.uri} {what}: {exc}") from None

    def write(self, address, data):
        self._do(lambda: self._port(address).write(bytes(data)), "write")

    def read(self, address, n):
        return bytes(self._do(lambda: self._port(address).read(n), "read"))

    def write_read(self, address, data, n):
        return bytes(self._do(lambda: self._port(address).exchange(bytes(data), n), "write_read"))

    def set_bus_hz(self, hz):
        self._ctrl.terminate()
        self._ctrl.configure(self.url, frequency=float(hz))
        self._ports, self.bus_hz = {}, int(hz)

    def close(self):
        ctrl, self._ctrl = getattr(self, "_ctrl", None), None
        if ctrl is not None:
            ctrl.terminate()


def open_transport(uri: str, *, silicon: dict | None = None) -> tuple[Transport, BoardURI]:
    """Open the transport a board URI names.

    ``silicon`` gives an in-process emulator its defaults (``n_clusters``, ``seed``,
    ``mismatch``, ``config``) when the URI does not set them.

    Raises
    ------
    ValueError
        A bad URI, or no adapter / emulator where it points.
    """
    u = parse_uri(uri)
    if u.scheme == "emulator":
        from .emulator import BoardEmulator, BoardSpec

        s = dict(silicon or {})
        e = u.emulator
        spec = BoardSpec(**{"address": e.get("board_addr", P.DEFAULT_ADDRESS),
                            **{k: e[k] for k in ("version", "axon_depth", "fire_depth") if k in e}})
        kw = {"n_clusters": e.get("clusters", s.get("n_clusters", 1)), "seed": e.get("seed", s.get("seed")),
              "mismatch": not e["ideal"] if "ideal" in e else s.get("mismatch", True),
              "config": s.get("config"), "spec": spec}
        if kw["config"] is not None:  # the silicon does not know the host's clock: start at 1 kHz
            kw["config"] = kw["config"].replace(gclk_hz=1e3)
        return EmulatorTransport(BoardEmulator(**kw), uri, u.bus_hz), u
    if u.scheme == "emulator+tcp":
        return TcpEmulatorTransport(u.target, uri, u.bus_hz, u.timeout_s), u
    if u.scheme == "i2c":
        return SMBusTransport(u.target, uri, u.bus_hz, u.timeout_s), u
    return FtdiTransport(u.target, uri, u.bus_hz, u.timeout_s), u
