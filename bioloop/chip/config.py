"""``ChipConfig``: every parameter of the chip model, validated, in SI units.

Defaults are those of ``chip-model.md`` section 4 (ours, consistent with the ranges of
Lee et al., Front. Neurosci. 19:1599144, 2025). Fields named in the paper's words:
``v_th`` (V_TH), ``v_cm_twg`` (V_CM_TWG), ``v_rest``/``v_rfr``/``v_lat`` (baseline levels),
``c_int``/``c_twg`` (integrator and time-window capacitors), ``i_leak``/``t_swleak`` (leak),
``n_abs`` (absolute refractory cycles).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from .. import validate as _v

K_AXONS = 16  #: AXON rows per cluster (paper: K = 16)
N_DENDS = 16  #: DEND columns (LIF neurons) per cluster (paper: N = 16)
N_BITS = 3  #: bits per synaptic weight, PSP reference and threshold code
CODE_MAX = 2**N_BITS - 1
GCLK_MIN_HZ = 1e3
GCLK_MAX_HZ = 50e3
V_READ_MAX = 0.050  #: above this the read may disturb the cell (paper, 2.1.3.2)
BOLTZMANN = 1.380649e-23

LEAK_MODES = ("every_cycle", "input_only")


@dataclass(frozen=True)
class OffsetModel:
    """Input-referred offset of one amplifier block and its auto-zero cancellation.

    Without auto-zero the block shows its raw offset ``N(raw_mean, raw_sigma)``. With
    auto-zero the offset is stored on a hold capacitor ``c_hold`` and subtracted; what is left
    is the raw offset divided by ``1 + az_gain`` (finite loop gain), the charge injected by the
    AZ switch (``injection_mean`` +- ``injection_sigma``), and the kT/C noise sampled on
    ``c_hold``. Calibrated to the Monte Carlo of the paper's Fig. 8E-F.
    """

    raw_mean: float
    raw_sigma: float
    az_gain: float
    injection_mean: float
    injection_sigma: float
    c_hold: float

    def __post_init__(self):
        _v.real("raw_mean", self.raw_mean, lo=-0.1, hi=0.1)
        _v.real("raw_sigma", self.raw_sigma, lo=0.0, hi=0.1)
        _v.real("az_gain", self.az_gain, lo=1.0)
        _v.real("injection_mean", self.injection_mean, lo=-0.1, hi=0.1)
        _v.real("injection_sigma", self.injection_sigma, lo=0.0, hi=0.1)
        _v.real("c_hold", self.c_hold, lo=1e-16, hi=1e-9)


#: integrator + comparator (Fig. 8A/B, 8E): raw 2.42 +- 3.26 mV; AZ 8.03 +- 0.97 mV
COMPARATOR_OFFSET = OffsetModel(
    raw_mean=2.42e-3, raw_sigma=3.26e-3, az_gain=100.0,
    injection_mean=8.006e-3, injection_sigma=0.9257e-3, c_hold=50e-15,
)
#: baseline buffer (Fig. 8C/D, 8F): raw 0.58 +- 3.37 mV; AZ -0.12 +- 0.15 mV
BUFFER_OFFSET = OffsetModel(
    raw_mean=0.58e-3, raw_sigma=3.37e-3, az_gain=1000.0,
    injection_mean=-0.1206e-3, injection_sigma=0.1355e-3, c_hold=1e-12,
)


@dataclass(frozen=True)
class ChipConfig:
    """Immutable, validated parameters of the chip model (SI units).

    Parameters
    ----------
    gclk_hz : float
        Global clock, 1 kHz to 50 kHz. One GCLK cycle is one step of the neuron dynamics.
    lclk_hz : float
        Local clock that times SWRST, SWCOMP, SWLEAK (and the auto-zero phase).
    v_th, v_cm_twg, v_rest, v_rfr, v_lat : float
        Threshold, time-window start, and the baseline levels (V_LAT < V_RFR < V_REST).
    c_int, c_twg : float
        Integrator and time-window-generator capacitors.
    current_scale : float
        Ratio by which the MRAM currents are mirrored into the integrators.
    r_p, r_ap : float
        MTJ resistance in the parallel and anti-parallel state.
    v_read : float
        Bit-line read voltage V_READ_AMP in synapse mode, at most 50 mV.
    i_leak, t_swleak : float
        Leak current and SWLEAK width (a whole number of LCLK periods).
    n_abs : int
        Absolute refractory period in GCLK cycles.
    leak_mode : {"every_cycle", "input_only"}
        Whether SWLEAK is generated in every GCLK cycle or only in cycles with input.
    lateral_neighbours : tuple of int
        Column offsets inhibited by a firing neuron; ``()`` switches lateral inhibition off.
    auto_zero : bool
        Offset cancellation of comparators and buffers (Fig. 8).
    area_chip_mm2, area_16chip_mm2 : float
        Silicon area of one chip (one local cluster) and of the 16-chip cluster, mm^2
        (Table 1: 0.576 and 7.74); :meth:`area_mm2` gives the area of any number of clusters.

    Raises
    ------
    TypeError, ValueError
        For a value of the wrong type or outside its range, naming the field.

    Examples
    --------
    >>> from bioloop.chip import ChipConfig
    >>> cfg = ChipConfig(gclk_hz=50e3)
    >>> round(cfg.alpha * 1e6, 6)  # I_P - I_AP in uA
    2.0
    >>> round(cfg.t_integ_nominal(5) * 1e9, 3)  # ns
    250.0
    """

    gclk_hz: float = 1e3
    lclk_hz: float = 50e6
    v_th: float = 0.850
    v_cm_twg: float = 0.600
    v_rest: float = 0.625
    v_rfr: float = 0.500
    v_lat: float = 0.400
    v_dd: float = 1.0  #: integrator rail (ours; the paper gives none)
    c_int: float = 1e-12
    c_twg: float = 1e-12
    current_scale: float = 0.1
    r_p: float = 10e3
    r_ap: float = 20e3
    v_read: float = 0.040
    i_leak: float = 0.5e-6
    t_swleak: float = 20e-9
    t_swrst: float = 20e-9
    t_swcomp: float = 20e-9
    t_az: float = 20e-9
    n_abs: int = 2
    leak_mode: str = "every_cycle"
    lateral_neighbours: tuple[int, ...] = (-1, 1)
    auto_zero: bool = True
    # device variation, per chip instance (seeded); see chip-model.md section 4
    sigma_r: float = 0.03  #: die-to-die lognormal sigma of R_P and R_AP (per cluster)
    sigma_r_local: float = 0.005  #: cell-to-cell lognormal sigma within a die (ours)
    sigma_mirror: float = 0.01
    sigma_cap: float = 0.01
    sigma_i_leak: float = 0.05
    temperature_k: float = 300.0
    comparator_offset: OffsetModel = field(default=COMPARATOR_OFFSET)
    buffer_offset: OffsetModel = field(default=BUFFER_OFFSET)
    # memory-read mode and programming
    sense_offset_sigma: float = 0.05e-6  #: sense-amplifier offset, referred to cell current
    write_error_rate: float = 0.0
    write_verify: bool = True
    write_max_retries: int = 3
    # silicon area (Table 1 of the paper)
    area_chip_mm2: float = 0.576
    area_16chip_mm2: float = 7.74

    def __post_init__(self):
        r = _v.real
        r("gclk_hz", self.gclk_hz, lo=GCLK_MIN_HZ, hi=GCLK_MAX_HZ)
        r("lclk_hz", self.lclk_hz, lo=1e6, hi=1e9)
        for name in ("v_th", "v_cm_twg", "v_rest", "v_rfr", "v_lat"):
            r(name, getattr(self, name), lo=0.0, hi=self.v_dd if _is_real(self.v_dd) else None)
        r("v_dd", self.v_dd, lo=0.1, hi=5.0)
        if not self.v_lat < self.v_rfr < self.v_rest < self.v_th:
            raise ValueError(
                "baseline levels must satisfy v_lat < v_rfr < v_rest < v_th, got "
                f"v_lat={self.v_lat:g}, v_rfr={self.v_rfr:g}, v_rest={self.v_rest:g}, v_th={self.v_th:g}"
            )
        if not self.v_cm_twg < self.v_th:
            raise ValueError(f"v_cm_twg = {self.v_cm_twg:g} V must be below v_th = {self.v_th:g} V")
        r("c_int", self.c_int, lo=1e-15, hi=1e-9)
        r("c_twg", self.c_twg, lo=1e-15, hi=1e-9)
        r("current_scale", self.current_scale, lo=0.0, lo_open=True, hi=10.0)
        r("r_p", self.r_p, lo=100.0, hi=1e7)
        r("r_ap", self.r_ap, lo=100.0, hi=1e7)
        if not self.r_ap > self.r_p:
            raise ValueError(f"r_ap = {self.r_ap:g} Ohm must exceed r_p = {self.r_p:g} Ohm (TMR > 0)")
        r("v_read", self.v_read, lo=0.0, lo_open=True, hi=V_READ_MAX)
        r("i_leak", self.i_leak, lo=0.0, hi=1e-3)
        for name in ("t_swleak", "t_swrst", "t_swcomp", "t_az"):
            r(name, getattr(self, name), lo=0.0, lo_open=True, hi=1e-3)
            _whole_lclk(name, getattr(self, name), self.lclk_hz)
        _v.integer("n_abs", self.n_abs, lo=0, hi=10_000)
        _v.choice("leak_mode", self.leak_mode, LEAK_MODES)
        if not isinstance(self.lateral_neighbours, tuple):
            raise TypeError(
                f"lateral_neighbours must be a tuple of column offsets, got {self.lateral_neighbours!r}"
            )
        for d in self.lateral_neighbours:
            _v.integer("lateral_neighbours offset", d, lo=-(N_DENDS - 1), hi=N_DENDS - 1)
            if d == 0:
                raise ValueError("lateral_neighbours may not contain 0 (a neuron is not its own neighbour)")
        if not isinstance(self.auto_zero, bool):
            raise TypeError(f"auto_zero must be True or False, got {self.auto_zero!r}")
        for name in ("sigma_r", "sigma_r_local", "sigma_mirror", "sigma_cap", "sigma_i_leak"):
            r(name, getattr(self, name), lo=0.0, hi=0.5)
        r("temperature_k", self.temperature_k, lo=1.0, hi=500.0)
        for name in ("comparator_offset", "buffer_offset"):
            if not isinstance(getattr(self, name), OffsetModel):
                raise TypeError(f"{name} must be an OffsetModel, got {getattr(self, name)!r}")
        r("sense_offset_sigma", self.sense_offset_sigma, lo=0.0, hi=1e-3)
        r("write_error_rate", self.write_error_rate, lo=0.0, hi=1.0, hi_open=True)
        if not isinstance(self.write_verify, bool):
            raise TypeError(f"write_verify must be True or False, got {self.write_verify!r}")
        _v.integer("write_max_retries", self.write_max_retries, lo=0, hi=1000)
        r("area_chip_mm2", self.area_chip_mm2, lo=0.0, lo_open=True, hi=1e4)
        r("area_16chip_mm2", self.area_16chip_mm2, lo=0.0, lo_open=True, hi=1e5)
        # the slowest window (theta = 1) plus the clocked switches must fit in one GCLK period
        sched = self.cycle_time_needed(1)
        if sched > self.gclk_period:
            raise ValueError(
                f"switch schedule needs {sched * 1e6:.3f} us per cycle (theta = 1) but one GCLK "
                f"period at gclk_hz = {self.gclk_hz:g} is {self.gclk_period * 1e6:.3f} us; "
                "lower gclk_hz or shorten t_swleak / t_swrst / t_swcomp / t_az"
            )

    # ---- what follows from the parameters -------------------------------------------------
    @property
    def gclk_period(self) -> float:
        return 1.0 / self.gclk_hz

    @property
    def lclk_period(self) -> float:
        return 1.0 / self.lclk_hz

    @property
    def i_p(self) -> float:
        """Nominal cell current in the P state, V_READ / R_P."""
        return self.v_read / self.r_p

    @property
    def i_ap(self) -> float:
        return self.v_read / self.r_ap

    @property
    def alpha(self) -> float:
        """Unit synaptic current I_P - I_AP (2 uA with the defaults)."""
        return self.i_p - self.i_ap

    @property
    def tmr_ratio(self) -> float:
        return self.r_ap / self.r_p

    def t_integ_nominal(self, theta: int) -> float:
        """Integration window without mismatch: C_TWG (V_TH - V_CM_TWG) / (theta alpha scale)."""
        theta = _v.integer("theta", theta, lo=1, hi=CODE_MAX)
        return self.c_twg * (self.v_th - self.v_cm_twg) / (theta * self.alpha * self.current_scale)

    @property
    def dv_per_unit(self) -> float:
        """V_INTEG step per unit of s / theta (nominal): (V_TH - V_CM_TWG) C_TWG / C_INT."""
        return (self.v_th - self.v_cm_twg) * self.c_twg / self.c_int

    @property
    def leak_step(self) -> float:
        """Nominal leak per SWLEAK pulse, I_LEAK t_SWLEAK / C_INT (10 mV by default)."""
        return self.i_leak * self.t_swleak / self.c_int

    def recovery_cycles(self, level: float) -> int:
        """Leak pulses needed to bring a baseline ``level`` back to V_REST (nominal)."""
        if self.leak_step == 0:
            return 0 if level == self.v_rest else -1
        return math.ceil(round(abs(self.v_rest - level) / self.leak_step, 9))

    def cycle_time_needed(self, theta: int) -> float:
        """Length of one cycle's switch sequence: AZ, SWRST, SWINTEG, SWCOMP, SWLEAK."""
        az = self.t_az if self.auto_zero else 0.0
        return az + self.t_swrst + self.t_integ_nominal(theta) + self.t_swcomp + self.t_swleak

    def area_mm2(self, n_clusters: int) -> float:
        """Silicon area of ``n_clusters`` chips: whole 16-chip clusters at ``area_16chip_mm2``
        (Table 1: they share their periphery, 7.74 < 16 x 0.576 mm^2), the rest at
        ``area_chip_mm2`` each (ours: the paper gives only these two sizes).

        Examples
        --------
        >>> cfg = ChipConfig()
        >>> cfg.area_mm2(1), cfg.area_mm2(16), round(cfg.area_mm2(17), 3)
        (0.576, 7.74, 8.316)
        """
        C = _v.integer("n_clusters", n_clusters, lo=1)
        return (C // 16) * self.area_16chip_mm2 + (C % 16) * self.area_chip_mm2

    def replace(self, **changes) -> ChipConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    # ---- TOML ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["lateral_neighbours"] = list(self.lateral_neighbours)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> ChipConfig:
        if not isinstance(data, dict):
            raise TypeError(f"chip config must be a table/dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown chip config field(s) {unknown}; valid fields: {sorted(known)}")
        kw = dict(data)
        if "lateral_neighbours" in kw:
            ln = kw["lateral_neighbours"]
            if not isinstance(ln, list | tuple):
                raise TypeError(f"lateral_neighbours must be a list of column offsets, got {ln!r}")
            kw["lateral_neighbours"] = tuple(ln)
        for name in ("comparator_offset", "buffer_offset"):
            if name in kw and isinstance(kw[name], dict):
                try:
                    kw[name] = OffsetModel(**kw[name])
                except TypeError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return cls(**kw)

    def to_toml(self) -> str:
        return tomli_w.dumps({"chip": self.to_dict()})

    def save(self, path) -> None:
        Path(path).write_text(self.to_toml())

    @classmethod
    def load(cls, path) -> ChipConfig:
        """Read a config from a TOML file whose ``[chip]`` table holds the fields."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ValueError(f"chip config file {str(p)!r} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"chip config file {str(p)!r} is not valid TOML: {exc}") from None
        if "chip" not in data:
            raise ValueError(f"chip config file {str(p)!r} has no [chip] table")
        return cls.from_dict(data["chip"])


def _is_real(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _whole_lclk(name: str, t: float, lclk_hz: float) -> None:
    n = t * lclk_hz
    if abs(n - round(n)) > 1e-6 or round(n) < 1:
        raise ValueError(
            f"{name} = {t * 1e9:g} ns is not a whole number (>= 1) of LCLK periods "
            f"({1e9 / lclk_hz:g} ns at lclk_hz = {lclk_hz:g})"
        )
