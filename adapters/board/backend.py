"""``BoardBackend``: the measurement board (or its emulator) as a :class:`~bioloop.backends.Backend`.

A board cannot be rewound, so it is not :class:`~bioloop.backends.Rewindable`: the session
runner steps it one input cycle at a time. The host turns AXON frames into cycle-stamped row
bitmasks (merging repeats of one axon in one cycle, and counting them), pushes them through the
AXON FIFO with flow control (never more than the FIFOs can hold, never more than the FIRE FIFO
can take if every entry fires), raises ``run_until`` and reads the FIRE FIFO back.
"""

from __future__ import annotations

import numpy as np

from bioloop.backends.base import Backend, BackendStep
from bioloop.chip.config import ChipConfig
from bioloop.types import AxonFrames, ChipProgram, FireEvents

from . import protocol as P
from .driver import BoardDriver, BoardError
from .transports import open_transport

#: config fields that the chip itself fixes (flip-flops, bias): the board cannot change them
FIXED_BY_CHIP = ("t_swrst", "t_swcomp", "t_az", "v_read", "v_dd")


class BoardBackend(Backend):
    """The chip on the measurement board, reached through a board URI.

    Parameters
    ----------
    config : ChipConfig
        GCLK (must be 50 MHz / N), levels (set through the DACs: rounded to their steps and the
        rounding reported in :attr:`dac_rounding` and ``describe``), N_ABS, leak mode, auto-zero.
    n_clusters : int
    seed, mismatch
        The silicon of an in-process ``emulator://`` (a real board has its own).
    board : str
        Board URI (``emulator://``, ``emulator+tcp://127.0.0.1:PORT``, ``i2c:///dev/i2c-1``,
        ``ftdi://ftdi:232h/1``).
    retries : int
        Link retries per frame.

    Raises
    ------
    ValueError
        No URI, a bad URI, no device, another protocol version, a GCLK the divider cannot make,
        a level outside a DAC's range, or fewer clusters on the board than asked for.

    Examples
    --------
    >>> import numpy as np
    >>> from bioloop.chip import ChipConfig
    >>> from bioloop.types import AxonFrames, ChipProgram
    >>> w = np.zeros((1, 16, 16), int); w[0, 3, 3] = 7
    >>> prog = ChipProgram(w, np.full((1, 16), 2), np.array([7]), np.array([2]), ())
    >>> be = BoardBackend(ChipConfig(), n_clusters=1, mismatch=False, board="emulator://")
    >>> be.program(prog)
    >>> step = be.evolve(AxonFrames([5], [0], [3], 1e3), until=10)
    >>> step.fires.cycles.tolist(), step.fires.dend.tolist()
    ([5], [3])
    """

    name = "board"
    spike_exact = False  # a real board is not bit-exact with the model; the emulator is

    def __init__(self, config, *, n_clusters, seed=None, mismatch=True, board: str | None = None,
                 retries: int = 3, noc=None):
        super().__init__(config, n_clusters=n_clusters, seed=seed, mismatch=mismatch)
        if noc is not None:
            raise ValueError("the board (protocol 1.0) has no packet routing between clusters: "
                             "no NoC mesh or routes on --backend board")
        if board is None:
            raise ValueError("backend 'board' needs a board URI (--board), e.g. emulator://, "
                             "emulator+tcp://127.0.0.1:PORT, i2c:///dev/i2c-1, ftdi://ftdi:232h/1")
        self.uri = board
        self.div = P.gclk_divider(config.gclk_hz)
        if config.lclk_hz != P.F_REF_HZ:
            raise ValueError(f"lclk_hz = {config.lclk_hz:g}: the board's LCLK is {P.F_REF_HZ:g} Hz")
        default = ChipConfig()
        for name in FIXED_BY_CHIP:
            if getattr(config, name) != getattr(default, name):
                raise ValueError(f"{name} = {getattr(config, name):g} cannot be set on the board (the chip "
                                 f"fixes it at {getattr(default, name):g})")
        for name, hi in (("n_abs", 255), ("write_max_retries", 255)):
            if getattr(config, name) > hi:
                raise ValueError(f"{name} = {getattr(config, name)}: the board's register holds 0..{hi}")
        self.dac_codes, self.dac_rounding = P.quantise_levels(config)
        levels = {d.field: d.value(self.dac_codes[d.field]) for d in P.DACS}
        self.requested_config = config
        self.config = config.replace(**levels)  # what the board really runs with
        transport, u = open_transport(board, silicon={"n_clusters": n_clusters, "seed": seed,
                                                      "mismatch": mismatch, "config": config})
        self.transport = transport
        self.driver = BoardDriver(transport, u.address, retries=retries, where=board)
        try:
            self.info = self.driver.open()
            if self.info.n_clusters < n_clusters:
                raise BoardError(f"the board on {board} has {self.info.n_clusters} clusters; "
                                 f"{n_clusters} are needed")
            self.driver.ctrl(P.CMD_STOP)
            self.driver.write(P.REG_MODE, bytes((P.MODE_SYNAPSE,)))
            self.driver.write_u16(P.REG_GCLK_DIV, self.div)
            for d in P.DACS:
                self.driver.write_u16(d.reg, self.dac_codes[d.field])
            self.driver.write(P.REG_PROG_CFG, bytes((int(config.write_verify), config.write_max_retries)))
        except Exception:
            transport.close()
            raise
        self.program_report: dict | None = None
        self._programmed = False
        self.cycle = 0
        self._ign0 = 0
        self.polls = 0  #: FIRE_POP reads so far
        self.cycles_run = 0  #: GCLK cycles the board ran, over all resets

    # ---- helpers ---------------------------------------------------------------------------
    def _chipcfg(self, lateral) -> bytes:
        cfg = self.config
        flags = (1 if cfg.leak_mode == "every_cycle" else 0) | (2 if cfg.auto_zero else 0)
        return bytes((cfg.n_abs, flags)) + int(P.lateral_mask(lateral)).to_bytes(4, "little")

    def _require(self):
        if not self._programmed:
            raise ValueError("backend 'board' is not programmed yet: call program() first")

    # ---- Backend -------------------------------------------------------------------------
    def program(self, program: ChipProgram) -> None:
        """Write every cell (write-verify on the board), read the image back and compare.

        Raises
        ------
        BoardError
            Cells that failed write-verify, or a read-back that differs from the program.
        """
        if not isinstance(program, ChipProgram):
            raise TypeError(f"program must be a ChipProgram, got {type(program).__name__}")
        if program.n_clusters != self.n_clusters:
            raise ValueError(f"program has {program.n_clusters} clusters; backend has {self.n_clusters}")
        if len(getattr(program, "routes", None) or ()):
            raise ValueError("the board (protocol 1.0) has no packet routing between clusters; this "
                             "program has routes (use a network without routes on --backend board)")
        d = self.driver
        d.ctrl(P.CMD_STOP)
        d.write(P.REG_MODE, bytes((P.MODE_SYNAPSE,)))
        d.write(P.REG_CHIPCFG, self._chipcfg(program.lateral_neighbours))
        d.ctrl(P.CMD_CLEAR_COUNTERS)
        cells = bytearray()
        # clusters of the board beyond the program's get a quiet image (s = 0, theta = 1)
        extra = self.info.n_clusters - self.n_clusters

        def pad(a, fill):
            return np.concatenate([a, np.full((extra,) + a.shape[1:], fill, a.dtype)]) if extra else a

        arrays = ((P.ARRAY_SYN, pad(program.weights, 0)), (P.ARRAY_PSP, pad(program.psp_ref, 0)[:, :, None]),
                  (P.ARRAY_THG, pad(program.threshold_gen, 1)[:, None, None]),
                  (P.ARRAY_THR, pad(program.threshold_ref, 0)[:, None, None]))
        for a, codes in arrays:
            for c, r, col in np.ndindex(codes.shape):
                code = int(codes[c, r, col])
                for bit in range(3):
                    cells += bytes((a, c, r, col, bit | ((code >> bit & 1) << 7)))
        step = P.CELL_LEN * P.MAX_CELLS
        for i in range(0, len(cells), step):
            d.write(P.REG_MRAM_WRITE, bytes(cells[i:i + step]))
        n, first, retries, failed, *where = _unpack_prog(d.read(P.REG_PROG_STATUS, P.PROG_STATUS_LEN))
        self.program_report = {"cells": n, "write_failures": first, "retries": retries, "failed": failed}
        if failed:
            a, c, r, col, bv = where
            raise BoardError(f"{self.uri}: {failed} of {n} MRAM cells failed write-verify after "
                             f"{retries} retries in all (first: {_ARRAY_NAMES[a]} cluster {c} row {r} "
                             f"column {col} bit {bv & 0x7F}); the image is not usable")
        self._programmed = True
        self._lateral = tuple(program.lateral_neighbours)
        back = self.read_image()
        diff = {name: int(np.count_nonzero(getattr(back, name) != getattr(program, name)))
                for name in ("weights", "psp_ref", "threshold_gen", "threshold_ref")}
        self.program_report["readback_mismatches"] = sum(diff.values())
        if any(diff.values()):
            self._programmed = False
            raise BoardError(f"{self.uri}: the image read back differs from the program "
                             f"({', '.join(f'{k} {v}' for k, v in diff.items() if v)} codes; write-verify "
                             f"{'on' if self.config.write_verify else 'off'})")
        d.ctrl(P.CMD_RESET)
        d.ctrl(P.CMD_RUN)
        self.cycle, self._ign0 = 0, 0

    def read_image(self) -> ChipProgram:
        """Read every cell in memory-read mode (Fig. 4B); the sequencer pauses meanwhile."""
        self._require()
        d, C = self.driver, self.n_clusters
        d.ctrl(P.CMD_STOP)
        d.write(P.REG_MODE, bytes((P.MODE_MEMREAD,)))
        w = np.zeros((C, 16, 16), np.int64)
        r = np.zeros((C, 16), np.int64)
        g = np.zeros(C, np.int64)
        f = np.zeros(C, np.int64)
        d.write(P.REG_MRAM_PTR, bytes((P.ARRAY_SYN, 0, 0)))
        for c in range(C):
            for row in range(16):
                w[c, row] = np.frombuffer(d.read(P.REG_MRAM_DATA, 16), np.uint8)
        for arr, out in ((P.ARRAY_PSP, r), (P.ARRAY_THG, g), (P.ARRAY_THR, f)):
            d.write(P.REG_MRAM_PTR, bytes((arr, 0, 0)))
            for c in range(C):
                data = np.frombuffer(d.read(P.REG_MRAM_DATA, 16), np.uint8)
                out[c] = data if arr == P.ARRAY_PSP else data[0]
        d.write(P.REG_MODE, bytes((P.MODE_SYNAPSE,)))
        lat = P.lateral_offsets(int.from_bytes(d.read(P.REG_CHIPCFG, 6)[2:], "little"))
        d.ctrl(P.CMD_RUN)
        theta = g - f
        if np.any(theta < 1):  # a ChipProgram cannot hold it: say what the cells hold
            raise BoardError(f"{self.uri}: the cells hold threshold codes gen {g.tolist()} ref {f.tolist()} "
                             "(theta < 1)")
        return ChipProgram(w, r, g, f, lat, "read back from board")

    def evolve(self, frames: AxonFrames, until: int) -> BackendStep:
        self._require()
        if not isinstance(frames, AxonFrames):
            raise TypeError(f"frames must be AxonFrames, got {type(frames).__name__}")
        g = self.config.gclk_hz
        if abs(frames.gclk_hz - g) > 1e-9 * g:
            raise ValueError(f"frames are aligned to gclk_hz = {frames.gclk_hz:g} but the board runs at "
                             f"gclk_hz = {g:g}")
        cyc, clu, ax = frames.cycles, frames.cluster, frames.axon
        if cyc.size:
            if cyc[0] < self.cycle:
                raise ValueError(f"event at cycle {int(cyc[0])} is before the board's cycle {self.cycle}")
            if clu.max() >= self.n_clusters:
                raise ValueError(f"event for cluster {int(clu.max())}; clusters are 0..{self.n_clusters - 1}")
            if ax.max() >= 16:
                raise ValueError(f"event for axon {int(ax.max())}; axons are 0..15")
        last = int(cyc[-1]) + 1 if cyc.size else self.cycle
        if until < last or until < self.cycle:
            raise ValueError(f"until = {until} is before the last event's cycle {last - 1} or the board's "
                             f"cycle {self.cycle}")
        if until >= 2 ** 32:
            raise ValueError(f"until = {until}: the board counts cycles in 32 bits")
        # one entry per (cycle, cluster): the OR of its rows; repeats of an axon are merged
        key = (cyc * self.n_clusters + clu) * 16 + ax
        ukey = np.unique(key)
        merged = int(key.size - ukey.size)
        grp = ukey // 16
        starts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]]) if grp.size else np.zeros(0, np.int64)
        masks = np.bitwise_or.reduceat(1 << (ukey % 16), starts) if grp.size else np.zeros(0, np.int64)
        et, ec = grp[starts] // self.n_clusters, grp[starts] % self.n_clusters
        d, info = self.driver, self.driver.info
        ft, fc, fm = [], [], []
        i, n = 0, et.size
        cycle, ign = self.cycle, 0
        if n <= self.n_clusters and (n == 0 or et[0] == until - 1) and until > self.cycle:
            # the lock-step fast path: input (if any) only in the last cycle, one frame there
            m = np.zeros(int(ec.max()) + 1 if n else 0, np.int64)
            m[ec] = masks
            d.step1(until - 1, m)
            i = n
            t, c, mm, pop, polls = d.wait_cycle(until, g, start=cycle, expect=n, pending=et)
            ft, fc, fm = [t], [c], [mm]
            ign += self._ign_delta(pop)
            self.polls += polls
        else:
            while True:
                # every entry not yet run may fire once: the FIRE FIFO must hold them all
                pending = i - int(np.searchsorted(et, cycle))
                room = min(info.axon_depth - pending, info.fire_depth - pending, info.max_entries)
                j = min(n, i + max(room, 0))
                target = until if j == n else int(et[j])
                d.step(et[i:j], ec[i:j], masks[i:j], target)
                t, c, mm, pop, polls = d.wait_cycle(target, g, start=cycle, expect=j - int(np.searchsorted(et, cycle)),
                                                    pending=et[:j])
                i, cycle = j, target
                ft.append(t)
                fc.append(c)
                fm.append(mm)
                ign += self._ign_delta(pop)
                self.polls += polls
                if i == n and target == until:
                    break
        self.cycles_run += until - self.cycle
        self.cycle = until
        t, c, m = np.concatenate(ft), np.concatenate(fc), np.concatenate(fm)
        bits = (m[:, None] >> np.arange(16)) & 1
        gi, dn = np.nonzero(bits)
        fires = FireEvents(t[gi], c[gi], dn, g)
        return BackendStep(fires, int(ukey.size), merged, int(ign), until)

    def _ign_delta(self, pop) -> int:
        """Growth of the board's 16-bit ignored-refractory counter since the last read."""
        delta = (pop.ignored_refractory - self._ign0) % 2 ** 16
        self._ign0 = pop.ignored_refractory
        return delta

    def reset(self) -> None:
        self._require()
        self.driver.ctrl(P.CMD_RESET)
        self.cycle, self._ign0 = 0, 0

    def power_cycle(self) -> None:
        """Switch the chip off and on: membrane state lost, the MRAM image kept."""
        self._require()
        self.driver.ctrl(P.CMD_POWER_CYCLE)
        self.driver.ctrl(P.CMD_RUN)
        self.cycle, self._ign0 = 0, 0

    def session_report(self) -> dict:
        """What a session summary shows: the board, its link's faults, the DAC rounding."""
        link = self.driver.link
        board_s = self.cycles_run / self.config.gclk_hz
        bus_s = P.bus_time(link.bits, link.transactions, self.transport.bus_hz)
        return {"backend": self.name, "board": self.uri, "link": link.as_dict(),
                "bus_hz": self.transport.bus_hz, "board_time_s": board_s,
                # above 1 the link needed more time than the board's cycles took: a real board at
                # this bus speed could not have kept up in real time
                "bus_load": bus_s / board_s if board_s else None,
                "dac_rounding": list(self.dac_rounding), "program_report": self.program_report}

    def close(self) -> None:
        """Release the transport (the board keeps its image and keeps running)."""
        t = getattr(self, "transport", None)
        if t is not None:
            t.close()

    def __del__(self):  # a session that drops the backend still releases the adapter
        self.close()

    @property
    def describe(self) -> dict:
        out = super().describe
        info = self.driver.info
        out.update({"board": self.uri, "protocol": f"{info.version[0]}.{info.version[1]}",
                    "board_clusters": info.n_clusters, "gclk_div": self.div,
                    "dac_codes": dict(self.dac_codes), "dac_rounding": list(self.dac_rounding),
                    "program_report": self.program_report, "link": self.driver.link.as_dict()})
        return out


_ARRAY_NAMES = ("synapse", "PSP reference", "threshold gen", "threshold ref")


def _unpack_prog(raw: bytes):
    import struct

    return struct.unpack(P.PROG_STATUS_FMT, raw)
