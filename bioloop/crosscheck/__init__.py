"""Cross-check: the same AXON frames into the chip model and a reference, Elephant statistics,
a verdict ("agree" / "differ") and a report.

The core of the cross-check imports no reference model: backends are found by name in the
``bioloop.backends`` registry (``"chip"``, ``"chip-equivalent"``, ``"ideal-lif"``).

Modules: :mod:`.poisson` (seeded input), :mod:`.statistics` (Elephant), :mod:`.tolerances`,
:mod:`.verdict`, :mod:`.compare` (:func:`cross_check`), :mod:`.timescale` and :mod:`.sweep`
(the GCLK sweep), :mod:`.report` (markdown + PNG folder).
"""

from .compare import backend_class, config_differences, cross_check, fires_equal
from .poisson import Aligned, align, poisson_spikes
from .statistics import METRICS, MetricSettings, MetricValue, compare_trains, spike_times
from .sweep import DEFAULT_GCLKS, SweepResult, gclk_sweep
from .timescale import scaled_config
from .tolerances import Tolerances
from .verdict import AGREE, DIFFER, CrossCheck, Metric

__all__ = [
    "AGREE", "DEFAULT_GCLKS", "DIFFER", "METRICS", "Aligned", "CrossCheck", "Metric",
    "MetricSettings", "MetricValue", "SweepResult", "Tolerances", "align", "backend_class",
    "compare_trains", "config_differences", "cross_check", "fires_equal", "gclk_sweep",
    "poisson_spikes", "scaled_config", "spike_times",
]
