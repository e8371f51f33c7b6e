"""``bioloop sweep --builtin mismatch``: device variation over many chip instances.

Each cell is one chip instance (its seed) under the ``mismatch`` protocol
(:func:`bioloop.sweep.cells.mismatch_cell`): its T_integ against V_TH for theta 5 and 7
(Fig. 11 of Lee et al. 2025, computed by :func:`bioloop.figures.fig09_integration.t_integ_vs_v_th`)
and its firing decision for every (theta, s) of one programming
(:mod:`bioloop.chip.variation`, the grid the device tests use). The study gathers them: the
spread of T_integ across instances at each V_TH, and the rate at which variation flips a
firing decision, per theta and s.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .results import ResultStore
from .spec import SweepSpec, from_dict

DEFAULT_CHIPS = 1000


def mismatch_spec(chips: int = DEFAULT_CHIPS, first_seed: int = 0) -> SweepSpec:
    """The sweep: one ``chip`` cell with protocol ``mismatch`` per instance seed.

    Examples
    --------
    >>> spec = mismatch_spec(3)
    >>> [c.params["seed"] for c in spec.cells], spec.cells[0].params["protocol"]
    ([0, 1, 2], 'mismatch')
    """
    if isinstance(chips, bool) or not isinstance(chips, int) or not 2 <= chips <= 1_000_000:
        raise ValueError(f"--chips {chips!r} must be an integer in 2..1000000")
    return from_dict({"kind": "chip", "grid": {"seed": list(range(first_seed, first_seed + chips))},
                      "fixed": {"protocol": "mismatch"}}, source="builtin:mismatch")


def mismatch_study(spec: SweepSpec, out) -> dict:
    """Gather the finished cells of ``spec`` in ``out``; write the figure and CSVs.

    Writes ``mismatch.png`` (T_integ against V_TH across instances, the spread at the
    highest V_TH, and the flip rate per theta and s), ``mismatch_flip_rate.csv`` (theta, s,
    flips, decisions, rate) and ``mismatch_t_integ.csv`` (one row per instance, theta and V_TH).

    Returns
    -------
    dict
        ``chips`` (finished instances), per theta the T_integ spread (ns: max - min and
        standard deviation) at the lowest and highest V_TH, the flip rate per theta and s
        (only the non-zero ones are listed), chips with any flip, and the file names.
    """
    from ..chip.variation import S_VALUES, THETAS

    out = Path(out)
    store = ResultStore(out)
    recs = [store.read(c.key) for c in spec.cells]
    recs = [r for r in recs if r is not None and r["status"] == "ok"]
    if not recs:
        raise ValueError("no chip instance of the mismatch sweep finished")
    d = MismatchData.from_records(recs)
    rate, total, decisions = d.flip_rate, d.flips.sum(axis=0), d.decisions
    summary = {"chips": d.chips, "v_th_mV": [float(d.v_th_mV[0]), float(d.v_th_mV[-1])]}
    t = d.t_integ_ns
    for k, th in enumerate(d.thetas_t_integ):
        summary[f"theta_{th}"] = {
            "t_integ_ns_nominal_at_max_v_th": float(d.nominal_ns[k, -1]),
            "t_integ_ns_mean_at_max_v_th": float(t[:, k, -1].mean()),
            "spread_ns": {"at_min_v_th": float(np.ptp(t[:, k, 0])),
                          "at_max_v_th": float(np.ptp(t[:, k, -1]))},
            "sigma_ns": {"at_min_v_th": float(t[:, k, 0].std(ddof=1)),
                         "at_max_v_th": float(t[:, k, -1].std(ddof=1))},
        }
    summary["flip_rate"] = {f"theta {int(th)}, s {int(s)}": float(rate[i, j])
                            for i, th in enumerate(THETAS) for j, s in enumerate(S_VALUES)
                            if total[i, j]}
    summary["flips_total"] = int(total.sum())
    summary["decisions_total"] = int(decisions.sum())
    summary["chips_with_a_flip"] = int((d.flips.sum(axis=(1, 2)) > 0).sum())
    summary["flips_beyond_margin"] = int(sum(total[i, j] for i, th in enumerate(THETAS)
                                             for j, s in enumerate(S_VALUES) if s - th not in (-1, 0)))
    with open(out / "mismatch_flip_rate.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["theta", "s", "flips", "decisions", "rate"])
        for i, th in enumerate(THETAS):
            for j, s in enumerate(S_VALUES):
                w.writerow([int(th), int(s), int(total[i, j]), int(decisions[i, j]), repr(float(rate[i, j]))])
    with open(out / "mismatch_t_integ.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["chip_seed", "theta", "v_th_mV", "t_integ_ns"])
        for c, seed in enumerate(d.seeds):
            for k, th in enumerate(d.thetas_t_integ):
                for j, v in enumerate(d.v_th_mV):
                    w.writerow([int(seed), th, repr(float(v)), repr(float(t[c, k, j]))])
    _figure(out / "mismatch.png", d)
    summary["files"] = {"png": "mismatch.png", "flip_rate_csv": "mismatch_flip_rate.csv",
                        "t_integ_csv": "mismatch_t_integ.csv"}
    return summary


@dataclass(frozen=True)
class MismatchData:
    """The finished instances of a mismatch sweep, as arrays."""

    seeds: np.ndarray  #: (chips,)
    v_th_mV: np.ndarray  #: (V_TH values,)
    thetas_t_integ: tuple[int, ...]  #: thetas of the T_integ curves
    t_integ_ns: np.ndarray  #: (chips, thetas, V_TH values)
    nominal_ns: np.ndarray  #: the mismatch-free chip's curves (thetas, V_TH values)
    flips: np.ndarray  #: (chips, 7 thetas, 15 s values)
    pairs: np.ndarray  #: (row, column) pairs of the grid per s value (15,)

    @classmethod
    def from_records(cls, recs: list[dict]) -> MismatchData:
        from ..figures.fig09_integration import t_integ_vs_v_th

        first = recs[0]["detail"]
        thetas = tuple(first["thetas_t_integ"])
        return cls(seeds=np.array([r["params"]["seed"] for r in recs]),
                   v_th_mV=np.asarray(first["v_th_mV"]), thetas_t_integ=thetas,
                   t_integ_ns=np.array([r["detail"]["t_integ_ns"] for r in recs]),
                   nominal_ns=t_integ_vs_v_th(None, thetas=thetas) * 1e9,
                   flips=np.array([r["detail"]["flips"] for r in recs]),
                   pairs=np.asarray(first["pairs"]))

    @property
    def chips(self) -> int:
        return int(self.seeds.size)

    @property
    def decisions(self) -> np.ndarray:
        """Decisions made per (theta, s) over all chips."""
        return np.broadcast_to(self.chips * self.pairs[None, :], self.flips.shape[1:])

    @property
    def flip_rate(self) -> np.ndarray:
        """Flipped fraction per (theta, s)."""
        return self.flips.sum(axis=0) / self.decisions


def _figure(path, d: MismatchData) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from ..chip.variation import S_VALUES, THETAS

    v_th, t, nominal, rate, n = d.v_th_mV, d.t_integ_ns, d.nominal_ns, d.flip_rate, d.chips
    thetas, s_values = THETAS, S_VALUES
    fig = Figure(figsize=(14, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    a, b, c = fig.subplots(1, 3)
    for k, (th, color) in enumerate(zip(d.thetas_t_integ, ("tab:blue", "tab:orange"), strict=False)):
        lo, hi = t[:, k].min(axis=0), t[:, k].max(axis=0)
        p5, p95 = np.percentile(t[:, k], [5, 95], axis=0)
        a.fill_between(v_th, lo, hi, color=color, alpha=0.15, label=f"theta {th}: min-max")
        a.fill_between(v_th, p5, p95, color=color, alpha=0.35, label=f"theta {th}: 5-95 %")
        a.plot(v_th, nominal[k], "k--", lw=0.9, label="nominal" if k == 0 else None)
        b.hist(t[:, k, -1], bins=40, color=color, alpha=0.7, label=f"theta {th}")
    a.set_xlabel("V_TH (mV)")
    a.set_ylabel("T_integ (ns)")
    a.set_title(f"Fig. 11: T_integ vs V_TH over {n} chip instances", fontsize=10)
    a.legend(fontsize=7)
    b.set_xlabel(f"T_integ at V_TH = {v_th[-1]:g} mV (ns)")
    b.set_ylabel("chip instances")
    b.set_title("spread across instances", fontsize=10)
    b.legend(fontsize=8)
    shown = np.where(rate > 0, rate, np.nan)
    positive = rate[rate > 0]
    norm = LogNorm(vmin=max(positive.min(), 1e-6), vmax=max(positive.max(), 2e-6)) if positive.size else None
    im = c.imshow(shown, origin="lower", aspect="auto", cmap="viridis", norm=norm,
                  extent=(s_values[0] - 0.5, s_values[-1] + 0.5, thetas[0] - 0.5, thetas[-1] + 0.5))
    c.plot(thetas, thetas, "w-", lw=0.8)  # s = theta: where the spec's decision changes
    c.set_xlabel("signed weight s")
    c.set_ylabel("theta")
    c.set_title("firing decisions flipped by variation (blank: none)", fontsize=10)
    if positive.size:
        fig.colorbar(im, ax=c, label="flip rate")
    fig.savefig(path, dpi=100)
