"""The verdict of a cross-check: every statistic against its tolerance, "agree" or "differ"."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..types import FireEvents
from .statistics import HIGHER_IS_BETTER, METRICS, MetricSettings, MetricValue
from .tolerances import Tolerances

AGREE = "agree"
DIFFER = "differ"


@dataclass(frozen=True)
class Metric:
    """One statistic: value, tolerance, whether it passes, and over how many neurons."""

    value: float | None
    tolerance: float
    ok: bool
    higher_is_better: bool
    n: int

    def as_dict(self) -> dict:
        return {"value": self.value, "tolerance": self.tolerance, "ok": self.ok,
                "better": "higher" if self.higher_is_better else "lower", "n": self.n}


def judge(values: dict[str, MetricValue], tolerances: Tolerances) -> dict[str, Metric]:
    """Each statistic against its tolerance.

    Examples
    --------
    >>> m = judge({"sttc": MetricValue(0.9, 4)}, Tolerances())
    >>> m["sttc"].ok, m["sttc"].tolerance
    (True, 0.5)
    """
    if not isinstance(tolerances, Tolerances):
        raise TypeError(f"tolerances must be Tolerances, got {type(tolerances).__name__}")
    out = {}
    for name in METRICS:
        if name not in values:
            continue
        mv = values[name]
        out[name] = Metric(mv.value, getattr(tolerances, name),
                           tolerances.accepts(name, mv.value), name in HIGHER_IS_BETTER, mv.n)
    return out


@dataclass(frozen=True)
class SideRun:
    """What one backend did with the shared input."""

    backend: str
    fires: FireEvents
    wall_s: float
    axon_pulses: int
    merged: int
    ignored_refractory: int
    describe: dict = field(default_factory=dict)
    routed: int = 0  #: packets between clusters delivered as AXON inputs (routes)
    routed_merged: int = 0  #: of those, onto a row already active in that cycle

    def counts(self) -> dict:
        return {"fires": len(self.fires), "axon_pulses": self.axon_pulses, "merged": self.merged,
                "ignored_refractory": self.ignored_refractory, "routed": self.routed,
                "routed_merged": self.routed_merged}


@dataclass(frozen=True)
class CrossCheck:
    """Result of :func:`bioloop.crosscheck.compare.cross_check`.

    ``spike_exact`` is whether the two sides fired in exactly the same (cycle, cluster, dend)
    events; it is None for a reference that does not promise exact spikes. The verdict is
    "agree" when every statistic is within tolerance and, for a reference promising exact
    spikes, the spikes and the refractory counts are equal.
    """

    reference: str
    verdict: str
    spike_exact: bool | None
    metrics: dict[str, Metric]
    chip: SideRun
    ref: SideRun
    n_cycles: int
    gclk_hz: float
    n_neurons: int
    settings: MetricSettings
    brian2_target: str | None
    reasons: tuple[str, ...] = ()
    chip_warmup_s: float | None = None  #: loading the chip's compiled kernels, apart from chip_wall_s
    #: levels the reference could only realise rounded (its DACs); the chip model ran at them
    realised_levels: tuple[dict, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.n_cycles / self.gclk_hz

    def summary(self) -> dict:
        """The JSON summary (keys of ``bioloop compare --json``)."""
        return {
            "reference": self.reference,
            "verdict": self.verdict,
            "spike_exact": self.spike_exact,
            "metrics": {k: m.as_dict() for k, m in self.metrics.items()},
            "chip_wall_s": self.chip.wall_s,
            "chip_warmup_s": self.chip_warmup_s,
            "reference_wall_s": self.ref.wall_s,
            "brian2_target": self.brian2_target,
            "reasons": list(self.reasons),
            "n_cycles": self.n_cycles,
            "gclk_hz": self.gclk_hz,
            "duration_s": self.duration_s,
            "n_neurons": self.n_neurons,
            "counts": {"chip": self.chip.counts(), "reference": self.ref.counts()},
            "metric_settings": self.settings.as_dict(),
            "reference_run": self.ref.describe.get("brian2_run"),
            "realised_levels": [dict(r) for r in self.realised_levels],
        }


def decide(metrics: dict[str, Metric], spike_exact: bool | None,
           counts_equal: bool | None) -> tuple[str, tuple[str, ...]]:
    """The verdict and the reasons for "differ" (empty when they agree).

    Examples
    --------
    >>> decide({}, True, True)
    ('agree', ())
    >>> decide({}, False, True)
    ('differ', ('spikes are not identical',))
    """
    reasons = [f"{k} = {m.value:.4g} is {'below' if m.higher_is_better else 'above'} "
               f"its tolerance {m.tolerance:g}" for k, m in metrics.items() if not m.ok]
    if spike_exact is False:
        reasons.append("spikes are not identical")
    if counts_equal is False:
        reasons.append("input or refractory counts differ")
    return (AGREE if not reasons else DIFFER), tuple(reasons)
