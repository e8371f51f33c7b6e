"""The board emulator as a separate process: a loopback TCP bridge (``emulator+tcp://``).

One connection at a time, the messages of :mod:`.transports` (``OP_*``): each I2C transaction
is carried to the emulator's slave and its ACK / NAK and data carried back, so the host driver
runs against another process as it would against an adapter and a board.
"""

from __future__ import annotations

import json
import socket
import struct

from .emulator import BoardEmulator
from .transports import (
    HELLO,
    OP_BUS,
    OP_FAULT,
    OP_HELLO,
    OP_IDLE,
    OP_READ,
    OP_STATS,
    OP_WRITE,
    OP_WRITE_READ,
    REQ_FMT,
    RESP_FMT,
    recv_exact,
)

LOOPBACK = "127.0.0.1"


def _reply(conn, result, nak_at=0, data=b""):
    conn.sendall(struct.pack(RESP_FMT, result, nak_at or 0, len(data)) + data)


def handle(emulator: BoardEmulator, conn: socket.socket) -> None:
    """Serve one connection until the client closes it."""
    hdr = struct.calcsize(REQ_FMT)
    while True:
        try:
            op, addr, wlen, rlen = struct.unpack(REQ_FMT, recv_exact(conn, hdr))
            data = recv_exact(conn, wlen) if wlen else b""
        except ConnectionError:
            return
        if op in (OP_WRITE, OP_READ, OP_WRITE_READ):
            if op == OP_WRITE:
                r = emulator.i2c_write(addr, data)
            elif op == OP_READ:
                r = emulator.i2c_read(addr, rlen)
            else:
                r = emulator.i2c_write_read(addr, data, rlen)
            _reply(conn, 2 if r.timeout else int(r.nak_at is not None), r.nak_at, r.data)
        elif op == OP_IDLE:
            emulator.idle(struct.unpack("<d", data)[0])
            _reply(conn, 0)
        elif op == OP_BUS:
            emulator.bus_hz = struct.unpack("<I", data)[0]
            _reply(conn, 0)
        elif op == OP_STATS:
            _reply(conn, 0, 0, json.dumps(emulator.bus_stats()).encode()[:rlen])
        elif op == OP_FAULT:
            for key, val in json.loads(data).items():
                if key in ("drop_writes", "corrupt", "nak_address", "timeout", "corrupt_response"):
                    setattr(emulator.faults, key, int(val))
            _reply(conn, 0)
        elif op == OP_HELLO:
            _reply(conn, 0, 0, HELLO)
        else:
            _reply(conn, 1, 0xFFFF)


def serve(emulator: BoardEmulator, port: int = 0, *, ready=None) -> None:
    """Listen on 127.0.0.1:``port`` (0: any free port) and serve clients one after another.

    ``ready(port)`` is called once the socket listens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((LOOPBACK, int(port)))
        srv.listen(1)
        if ready is not None:
            ready(srv.getsockname()[1])
        while True:
            conn, _ = srv.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                handle(emulator, conn)
