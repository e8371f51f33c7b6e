"""The virtual culture's anatomy: MEA layout, neurons, synapses, recording and stimulation sites.

Everything here is drawn once, at construction, from one seeded generator; nothing changes later.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from bioloop import validate as _v
from bioloop.layouts import MCS_PITCH, mcs_layout  # noqa: F401 - mcs_layout re-exported


@dataclass(frozen=True)
class CultureParams:
    """Parameters of the virtual culture (SI units; neuron currents in Izhikevich units).

    The defaults were tuned against the DIV 15 hippocampal culture TC89 (shared recordings):
    seeds 0-4 give 0.13-0.22 network bursts/s (TC89: 0.26), median electrode rates of 3.7-5.3 Hz
    (TC89: 4.0) and 70-85 % of the spikes within 0.5 s of a burst onset (TC89: 73 %); bursts
    last 100-300 ms with sub-bursts, as in TC89. A 30 uA x 200 us pulse directly activates
    40-80 neurons per electrode.
    """

    n_neurons: int = 1000
    frac_exc: float = 0.8
    dt: float = 1e-4  #: s, fixed integration step (at most 0.5 ms)
    margin: float = 100e-6  #: m, neurons are placed this far beyond the outer electrodes
    # recording
    rec_radius: float = 60e-6  #: m, an electrode records the neurons whose soma is this close
    p_detect: float = 0.9  #: probability that a recorded neuron's spike is detected
    noise_rate: float = 0.05  #: Hz per electrode, false detections
    dead_time: float = 1e-3  #: s, detector dead time after a detection
    # connectivity
    out_degree: float = 60.0  #: mean synapses per neuron
    length_constant: float = 400e-6  #: m, connection probability ~ exp(-d / length_constant)
    conduction_velocity: float = 0.3  #: m/s, axonal conduction
    synaptic_delay: float = 0.5e-3  #: s, added to the conduction delay
    w_ee: float = 1.1  #: peak EPSC exc -> exc at full resources (w_ei etc. alike)
    w_ei: float = 1.4
    w_ie: float = 2.0
    w_ii: float = 1.0
    tau_e: float = 5e-3  #: s, excitatory synaptic current decay
    tau_slow: float = 80e-3  #: s, slow (NMDA-like) excitatory current decay
    slow_ratio: float = 0.2  #: slow / fast peak of each excitatory synaptic current
    tau_i: float = 10e-3  #: s, inhibitory synaptic current decay
    # short-term depression (Tsodyks-Markram, per presynaptic neuron)
    use_exc: float = 0.15
    tau_rec_exc: float = 0.5  #: s
    use_inh: float = 0.1
    tau_rec_inh: float = 0.3  #: s
    # slow spike-frequency adaptation (AHP-like current)
    adapt_jump: float = 1.5
    adapt_tau: float = 1.0  #: s
    # spontaneous input: Poisson minis into every neuron
    mini_rate: float = 5.0  #: Hz per neuron
    mini_amp: float = 5.0
    # stimulation
    stim_q50: float = 2e-9  #: C, median first-phase charge activating a neuron at distance 0
    stim_q_sigma: float = 0.3  #: lognormal spread of the threshold across neurons
    stim_d0: float = 80e-6  #: m, threshold ~ q50 (1 + (d / d0)^2)
    axon_length: float = 1000e-6  #: m, a straight axon from the soma in a random direction
    direct_latency: float = 1e-3  #: s, from the pulse to the spike at the soma, plus conduction
    direct_refractory: float = 2e-3  #: s, a neuron that fired this recently is not activated
    noise_block: float = 0.1  #: s, spontaneous events are drawn in blocks of this length

    def __post_init__(self):
        # anatomy is drawn with dense N x N arrays: a few hundred MB at the upper bound
        _v.integer("n_neurons", self.n_neurons, lo=10, hi=3000)
        positive = ("dt", "rec_radius", "dead_time", "length_constant", "conduction_velocity",
                    "tau_e", "tau_slow", "tau_i", "tau_rec_exc", "tau_rec_inh", "adapt_tau",
                    "stim_q50", "stim_d0", "direct_latency", "noise_block")
        nonneg = ("margin", "noise_rate", "out_degree", "synaptic_delay", "w_ee", "w_ei", "w_ie",
                  "w_ii", "slow_ratio", "adapt_jump", "mini_rate", "mini_amp", "stim_q_sigma",
                  "axon_length", "direct_refractory")
        unit = ("frac_exc", "p_detect", "use_exc", "use_inh")
        for f in fields(self):
            val = getattr(self, f.name)
            if f.name in positive:
                _v.real(f.name, val, lo=0.0, lo_open=True)
            elif f.name in nonneg:
                _v.real(f.name, val, lo=0.0)
            elif f.name in unit:
                _v.real(f.name, val, lo=0.0, hi=1.0)
        _v.real("dt", self.dt, lo=1e-6, hi=5e-4)  # forward Euler on Izhikevich: <= 0.5 ms
        if self.use_exc == 0.0 or self.use_inh == 0.0:
            raise ValueError(f"use_exc = {self.use_exc:g}, use_inh = {self.use_inh:g}; "
                             "synaptic use must be in (0, 1]")
        if self.dead_time < self.dt:
            raise ValueError(f"dead_time = {self.dead_time:g} s is shorter than dt = "
                             f"{self.dt:g} s; it must be at least one step")
        if self.noise_block < self.dt:
            raise ValueError(f"noise_block = {self.noise_block:g} s is shorter than dt = "
                             f"{self.dt:g} s")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class CultureNetwork:
    """The drawn anatomy (arrays; see :func:`build_network`)."""

    pos: np.ndarray  #: (N, 2) m, somata
    is_exc: np.ndarray  #: (N,) bool
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    ibias: np.ndarray
    use: np.ndarray
    rec_decay_per_step: np.ndarray  #: dt / tau_rec per neuron
    syn_ptr: np.ndarray  #: CSR by presynaptic neuron
    syn_post: np.ndarray
    syn_w: np.ndarray
    syn_delay: np.ndarray  #: steps, >= 1
    ring_depth: int
    rec_ptr: np.ndarray  #: CSR: electrodes recording each neuron
    rec_el: np.ndarray
    stim_order: tuple[np.ndarray, ...]  #: per electrode: neurons by rising threshold
    stim_thr: tuple[np.ndarray, ...]  #: per electrode: thresholds (C), ascending
    stim_lat: tuple[np.ndarray, ...]  #: per electrode: latency (s) of each neuron

    @property
    def n_synapses(self) -> int:
        return int(self.syn_post.size)


def _segment_distance(p, a, b):
    """Distance of points ``p`` (E, 2) to segments a->b (N, 2), and the arc length of the foot."""
    ab = b - a  # (N, 2)
    L2 = np.einsum("nk,nk->n", ab, ab)
    ap = p[:, None, :] - a[None, :, :]  # (E, N, 2)
    t = np.einsum("enk,nk->en", ap, ab) / np.where(L2 > 0, L2, 1.0)
    t = np.clip(t, 0.0, 1.0)
    foot = a[None] + t[..., None] * ab[None]
    dist = np.linalg.norm(p[:, None, :] - foot, axis=-1)
    return dist, t * np.sqrt(L2)[None, :]


def build_network(params: CultureParams, electrode_pos: np.ndarray, rng: np.random.Generator
                  ) -> CultureNetwork:
    """Draw neurons, synapses, recording and stimulation sites for ``electrode_pos``."""
    p = params
    N = p.n_neurons
    n_exc = int(round(p.frac_exc * N))
    lo = electrode_pos.min(axis=0) - MCS_PITCH / 2 - p.margin
    hi = electrode_pos.max(axis=0) + MCS_PITCH / 2 + p.margin
    pos = lo + rng.random((N, 2)) * (hi - lo)
    is_exc = np.zeros(N, bool)
    is_exc[:n_exc] = True

    # Izhikevich (2003): excitatory RS..IB..CH by r^2, inhibitory FS..LTS by r
    r = rng.random(N)
    a = np.where(is_exc, 0.02, 0.02 + 0.08 * r)
    b = np.where(is_exc, 0.2, 0.25 - 0.05 * r)
    c = np.where(is_exc, -65.0 + 15.0 * r**2, -65.0)
    d = np.where(is_exc, 8.0 - 6.0 * r**2, 2.0)
    ibias = np.zeros(N)
    use = np.where(is_exc, p.use_exc, p.use_inh)
    rec_decay = np.where(is_exc, p.dt / p.tau_rec_exc, p.dt / p.tau_rec_inh)

    # distance-dependent random connectivity, no autapses
    diff = pos[:, None, :] - pos[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    kern = np.exp(-dist / p.length_constant)
    np.fill_diagonal(kern, 0.0)
    prob = np.clip(kern * (p.out_degree * N / kern.sum()), 0.0, 1.0)
    conn = rng.random((N, N)) < prob
    pre, post = np.nonzero(conn)  # sorted by pre (row-major)
    scale = rng.lognormal(0.0, 0.5, pre.size) / np.exp(0.5**2 / 2)  # mean 1
    base = np.where(is_exc[pre], np.where(is_exc[post], p.w_ee, p.w_ei),
                    np.where(is_exc[post], p.w_ie, p.w_ii))
    syn_w = base * scale
    delay_s = p.synaptic_delay + dist[pre, post] / p.conduction_velocity
    syn_delay = np.maximum(1, np.round(delay_s / p.dt)).astype(np.int64)
    syn_ptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=N))]).astype(np.int64)
    depth = int(syn_delay.max() + 1) if syn_delay.size else 2

    # recording: electrodes within rec_radius of the soma
    ed = np.sqrt(((pos[:, None, :] - electrode_pos[None, :, :]) ** 2).sum(-1))  # (N, E)
    rn, re = np.nonzero(ed <= p.rec_radius)
    rec_ptr = np.concatenate([[0], np.cumsum(np.bincount(rn, minlength=N))]).astype(np.int64)

    # stimulation: threshold charge grows with the squared distance from the electrode to the
    # nearest point of the neuron (soma or axon); the spike reaches the soma after conduction
    angle = rng.random(N) * 2 * np.pi
    tip = pos + p.axon_length * np.column_stack([np.cos(angle), np.sin(angle)])
    dseg, along = _segment_distance(electrode_pos, pos, tip)  # (E, N)
    q_site = p.stim_q50 * rng.lognormal(0.0, p.stim_q_sigma, N)
    thr = q_site[None, :] * (1.0 + (dseg / p.stim_d0) ** 2)
    lat = p.direct_latency + along / p.conduction_velocity
    order, thr_s, lat_s = [], [], []
    for e in range(electrode_pos.shape[0]):
        # beyond 100 x q50 nothing realistic activates a neuron: keep the lists short
        keep = np.flatnonzero(thr[e] <= 100 * p.stim_q50)
        o = keep[np.argsort(thr[e, keep], kind="stable")]
        order.append(o.astype(np.int64))
        thr_s.append(thr[e, o])
        lat_s.append(lat[e, o])
    return CultureNetwork(
        pos=pos, is_exc=is_exc, a=a, b=b, c=c, d=d, ibias=ibias, use=use,
        rec_decay_per_step=rec_decay, syn_ptr=syn_ptr, syn_post=post.astype(np.int64),
        syn_w=syn_w.astype(np.float64), syn_delay=syn_delay, ring_depth=depth,
        rec_ptr=rec_ptr, rec_el=re.astype(np.int64), stim_order=tuple(order),
        stim_thr=tuple(thr_s), stim_lat=tuple(lat_s))
