"""Fig. 9C / Fig. 11 (integration time vs V_TH) and Fig. 9D-E / Fig. 12 (V_INTEG vs weight)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chip import Chip, ChipConfig
from ._output import linear_fit, new_figure, save

V_TH_SWEEP = np.round(np.arange(800, 851, 5) * 1e-3, 6)  #: 800 to 850 mV (Fig. 9C, Fig. 11)
THETAS = (5, 7)
N_INSTANCES = 8


def _program_threshold(chip: Chip, theta: int, w00: int = 0, r0: int = 0) -> None:
    w = np.zeros((16, 16), dtype=int)
    w[0, 0] = w00
    r = np.zeros(16, dtype=int)
    r[0] = r0
    chip.program(w, r, threshold_gen=7, threshold_ref=7 - theta)
    chip.reset()


def t_integ_vs_v_th(seed: int | None, *, base: ChipConfig | None = None, thetas=THETAS,
                    v_ths=V_TH_SWEEP) -> np.ndarray:
    """T_integ (s) of cluster 0 of one chip instance at each V_TH, for each theta (Fig. 11).

    The same instance (same devices) is evaluated at every V_TH, as on a measured chip whose
    V_TH is set from outside.

    Parameters
    ----------
    seed : int or None
        Seed of the instance; ``None`` is the mismatch-free chip (the nominal line).
    base : ChipConfig, optional
        Config whose ``v_th`` is swept (default ``ChipConfig()``).
    thetas : sequence of int
    v_ths : sequence of float
        V_TH values, V.

    Returns
    -------
    numpy.ndarray
        Shape (len(thetas), len(v_ths)).

    Examples
    --------
    >>> t = t_integ_vs_v_th(None, thetas=(5,), v_ths=(0.8, 0.85))
    >>> t.shape, bool(t[0, 1] > t[0, 0])
    ((1, 2), True)
    """
    base = base or ChipConfig()
    out = np.empty((len(thetas), len(v_ths)))
    for j, vth in enumerate(v_ths):
        cfg = base.replace(v_th=float(vth))
        chip = Chip(cfg, mismatch=False) if seed is None else Chip(cfg, seed=seed)
        for k, theta in enumerate(thetas):
            _program_threshold(chip, int(theta))
            out[k, j] = chip.t_integ()[0]
    return out


def fig09c_integration_time(
    out_dir: Path, *, seed: int = 0, n_instances: int = N_INSTANCES
) -> dict:
    """Fig. 9C / Fig. 11: T_integ vs V_TH (800-850 mV) for theta 5 and 7 on several chips.

    Chip instance ``i`` has seed ``seed + i`` (:func:`t_integ_vs_v_th`); a mismatch-free chip
    gives the nominal line.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig09c_fig11_integration_time.png`` and ``.csv``.
    seed : int
        Seed of the first instance.
    n_instances : int
        How many chip instances.

    Returns
    -------
    dict
        Per theta: chip-to-chip spread of T_integ (ns) at the lowest and highest V_TH, the
        slope of each instance's line (ns/mV), the smallest r^2 and largest residual of the
        linear fits; and the ratio T_integ(theta 7) / T_integ(theta 5) per instance.
    """
    seeds = [seed + i for i in range(n_instances)]
    curves = np.stack([t_integ_vs_v_th(None)] + [t_integ_vs_v_th(s) for s in seeds])
    t = {theta: curves[:, k, :] for k, theta in enumerate(THETAS)}  # row 0 nominal
    x_mv = V_TH_SWEEP * 1e3
    fig, ax = new_figure(1, 1, width=7.0, height=4.5)
    a = ax[0, 0]
    out = {"v_th_mV": x_mv.tolist(), "instance_seeds": seeds}
    rows = []
    for theta, color in zip(THETAS, ("tab:blue", "tab:orange"), strict=True):
        ns = t[theta] * 1e9
        fits = [linear_fit(x_mv, ns[i]) for i in range(1, n_instances + 1)]
        for i in range(1, n_instances + 1):
            a.plot(
                x_mv,
                ns[i],
                "o-",
                ms=3,
                lw=0.8,
                color=color,
                alpha=0.6,
                label=f"theta {theta}, {n_instances} chips" if i == 1 else None,
            )
        a.plot(x_mv, ns[0], "k--", lw=1.0, label="nominal" if theta == THETAS[0] else None)
        for i in range(n_instances + 1):
            name = "nominal" if i == 0 else str(seeds[i - 1])
            rows += [(theta, name, float(x_mv[j]), float(ns[i, j])) for j in range(x_mv.size)]
        inst = ns[1:]
        out[f"theta_{theta}"] = {
            "t_integ_ns_nominal": {"at_min_v_th": float(ns[0, 0]), "at_max_v_th": float(ns[0, -1])},
            "spread_ns": {
                "at_min_v_th": float(np.ptp(inst[:, 0])),
                "at_max_v_th": float(np.ptp(inst[:, -1])),
            },
            "slope_ns_per_mV": [f["slope"] for f in fits],
            "nominal_slope_ns_per_mV": linear_fit(x_mv, ns[0])["slope"],
            "r2_min": min(f["r2"] for f in fits),
            "max_abs_residual_ns": max(f["max_abs_residual"] for f in fits),
        }
    out["ratio_theta7_over_theta5"] = (t[7][1:, -1] / t[5][1:, -1]).tolist()
    a.set_xlabel("V_TH (mV)")
    a.set_ylabel("integration time T_integ (ns)")
    a.set_title("Fig. 9C / Fig. 11: integration time vs V_TH across chip instances")
    a.legend(fontsize=8)
    files = save(
        fig,
        out_dir,
        "fig09c_fig11_integration_time",
        ["theta", "chip_seed", "v_th_mV", "t_integ_ns"],
        rows,
    )
    return {**files, **out}


def _s_values(theta: int) -> list[int]:
    return list(range(-2, theta + 1))


def _one_stimulus(chip: Chip, theta: int, s: int) -> tuple[float, bool]:
    """V_INTEG and FIRE of column 0 for one stimulus of signed weight ``s`` from rest."""
    r = min(2, 7 - s)  # PSP reference; w = s + r must be a code 0..7
    _program_threshold(chip, theta, w00=s + r, r0=r)
    res = chip.run(np.eye(1, 16, dtype=bool), record=True)
    return float(res.v[0, 0, 0]), bool(res.fires[0, 0, 0])


def fig09de_linear_integration(out_dir: Path, *, seed: int = 0, n_instances: int = 4) -> dict:
    """Fig. 9D-E / Fig. 12: V_INTEG vs signed weight s (theta 5: -2..5, theta 7: -2..7).

    As in the measurement (Fig. 12), one neuron (column 0) receives one stimulus of weight ``s``
    from rest, then is reset, for each ``s``. The PSP reference is 2 (so ``s`` can be -2) unless
    ``s`` needs a lower one. A mismatch-free chip and ``n_instances`` instances (seeds
    ``seed + i``) are shown.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives ``fig09de_linear_integration.png`` and ``.csv``.
    seed : int
        Seed of the first instance.
    n_instances : int
        How many chip instances.

    Returns
    -------
    dict
        Per theta: the s values, nominal V_INTEG (mV) and FIRE; the linear fit (slope in
        mV per unit s, smallest r^2, largest residual) over all chips; the smallest firing s of
        every chip (nominal first) and how many chips fire below theta or miss at theta.

    Notes
    -----
    The die-to-die spread cancels in s / theta, but mirror mismatch does not: a 1 % error of a
    mirror carrying I_P is 2 % of alpha at a TMR ratio of 2. With the default mismatch, about 3 %
    of neurons fire at s = theta - 1 when theta = 7 (0.1 % when theta = 5); see the summary.
    """
    cfg = ChipConfig()
    seeds = [seed + i for i in range(n_instances)]
    fig, ax = new_figure(1, 2, width=10.0, height=4.0)
    rows, out = [], {"instance_seeds": seeds}
    for a, theta in zip(ax[0], THETAS, strict=True):
        s_vals = _s_values(theta)
        chips = [("nominal", Chip(cfg, mismatch=False))] + [
            (str(s), Chip(cfg, seed=s)) for s in seeds
        ]
        v = np.empty((len(chips), len(s_vals)))
        f = np.zeros_like(v, dtype=bool)
        for i, (name, chip) in enumerate(chips):
            for j, s in enumerate(s_vals):
                v[i, j], f[i, j] = _one_stimulus(chip, theta, s)
                rows.append((theta, name, s, v[i, j] * 1e3, f[i, j]))
        mv = v * 1e3
        fits = [linear_fit(s_vals, mv[i]) for i in range(len(chips))]
        sv = np.asarray(s_vals)
        for i in range(len(chips)):
            nominal = i == 0
            a.plot(
                sv,
                mv[i],
                "-",
                lw=1.2 if nominal else 0.6,
                color="k" if nominal else "tab:blue",
                alpha=1.0 if nominal else 0.5,
                label="nominal" if nominal else (f"{n_instances} chips" if i == 1 else None),
            )
            a.scatter(
                sv[f[i]],
                mv[i][f[i]],
                marker="*",
                s=80,
                color="tab:red",
                zorder=3,
                label="FIRE" if i == 0 else None,
            )
        a.axhline(cfg.v_th * 1e3, color="tab:red", ls="--", lw=0.8, label="V_TH")
        a.axhline(cfg.v_rest * 1e3, color="k", ls=":", lw=0.8, label="V_REST")
        a.set_xlabel("signed weight s (units of alpha)")
        a.set_ylabel("V_INTEG at the comparison (mV)")
        a.set_title(f"Fig. 9{'D' if theta == 5 else 'E'}: theta = {theta}")
        a.legend(fontsize=8)
        first = [int(sv[row].min()) if row.any() else None for row in f]
        out[f"theta_{theta}"] = {
            "s": s_vals,
            "v_integ_mV_nominal": mv[0].tolist(),
            "fires_nominal": f[0].tolist(),
            "slope_mV_per_s_nominal": fits[0]["slope"],
            "slope_mV_per_s_instances": [fi["slope"] for fi in fits[1:]],
            "expected_slope_mV_per_s": cfg.dv_per_unit / theta * 1e3,
            "r2_min": min(fi["r2"] for fi in fits),
            "max_abs_residual_mV": max(fi["max_abs_residual"] for fi in fits),
            "first_firing_s": first,
            "chips_firing_below_theta": int((f[:, sv < theta]).any(axis=1).sum()),
            "chips_not_firing_at_theta": int((~f[:, sv >= theta]).any(axis=1).sum()),
        }
    files = save(
        fig,
        out_dir,
        "fig09de_linear_integration",
        ["theta", "chip_seed", "s", "v_integ_mV", "fire"],
        rows,
    )
    return {**files, **out}
