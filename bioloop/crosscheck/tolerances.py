"""How far each statistic may be from perfect agreement before the verdict is "differ".

For the statistics where lower is better (distances, relative differences) the tolerance is
the largest value accepted; for ``sttc`` and ``correlation`` (1 is perfect) it is the
smallest. :meth:`Tolerances.exact` is for references that promise the chip model's exact
spikes; :meth:`Tolerances.biological` (the default) for a reference that only approximates
the chip, such as a continuous-time LIF.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import validate as _v
from .statistics import HIGHER_IS_BETTER, METRICS

#: slack of "exact": equal trains give 0 / 1 up to the rounding of Elephant's sums
EXACT_SLACK = 1e-9


@dataclass(frozen=True)
class Tolerances:
    """One tolerance per statistic (see :mod:`bioloop.crosscheck.statistics`).

    Defaults are those of :meth:`biological`: chosen so that the chip model at the default
    config and 1 kHz agrees with its ideal-LIF mapping on seeded Poisson input, while a
    network with different weights does not (``tests/test_crosscheck.py`` checks both).

    Examples
    --------
    >>> t = Tolerances().replace(sttc=0.8)
    >>> t.sttc, t.accepts("sttc", 0.85), t.accepts("van_rossum", 0.9)
    (0.8, True, False)
    """

    firing_rate: float = 0.25
    cv_isi: float = 0.35
    van_rossum: float = 0.5
    victor_purpura: float = 0.5
    sttc: float = 0.5
    correlation: float = 0.4
    population_rate: float = 1.0

    def __post_init__(self):
        for name in METRICS:
            hi = 1.0 if name in HIGHER_IS_BETTER else 1e6
            _v.real(f"tolerance {name}", getattr(self, name), lo=-1.0 if hi == 1.0 else 0.0, hi=hi)

    @classmethod
    def biological(cls) -> Tolerances:
        """The defaults: for references that approximate the chip."""
        return cls()

    @classmethod
    def exact(cls) -> Tolerances:
        """Perfect agreement on every statistic, up to :data:`EXACT_SLACK`."""
        return cls(**{n: (1.0 - EXACT_SLACK if n in HIGHER_IS_BETTER else EXACT_SLACK)
                      for n in METRICS})

    def replace(self, **changes) -> Tolerances:
        """A copy with ``changes`` (statistic name -> tolerance), validated.

        Raises
        ------
        ValueError
            For a name that is not a statistic; the message lists the valid names.
        """
        unknown = sorted(set(changes) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown statistic(s) {unknown}; valid: {list(METRICS)}")
        return dataclasses.replace(self, **changes)

    def accepts(self, name: str, value: float | None) -> bool:
        """Whether ``value`` of statistic ``name`` is within tolerance (None: nothing to
        compare, accepted)."""
        if name not in METRICS:
            raise ValueError(f"unknown statistic {name!r}; valid: {list(METRICS)}")
        if value is None:
            return True
        tol = getattr(self, name)
        return value >= tol if name in HIGHER_IS_BETTER else value <= tol

    def as_dict(self) -> dict:
        return {n: getattr(self, n) for n in METRICS}
