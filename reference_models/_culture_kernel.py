"""Compiled inner loop of the virtual culture: fixed-step Izhikevich neurons, depressing synapses.

One step ``k`` covers the interval ``((k - 1) dt, k dt]``; a spike in step ``k`` has time ``k dt``.
Order of work in step ``k`` (the same whatever the chunking, so results never depend on how far
each call advances):

1. synaptic input due now (ring buffer slot ``k mod D``) and spontaneous minis of step ``k``
   join the excitatory / inhibitory currents;
2. every neuron integrates one forward-Euler step (membrane ``v``, recovery ``u``), then the
   synaptic currents and the slow adaptation current decay;
3. direct activations by stimulation scheduled for step ``k`` force a spike, unless the neuron
   fired within the last ``ref_steps`` steps (counted as blocked);
4. each neuron at or above the peak (30 mV) spikes: reset, recovery and adaptation jumps, its
   presynaptic resource ``x`` recovers in closed form since its last spike, each target receives
   ``w x`` after its axonal delay, and the fraction ``U`` of ``x`` is used up;
5. recording: each spike is seen by the electrodes around the neuron with probability
   ``p_detect`` (a counter-based hash of seed, neuron, electrode and step, so no random stream is
   consumed), an electrode's detector is dead for ``dead_steps`` after a detection (merged),
   and electrode noise events of step ``k`` are added through the same detector.

Counters (int64 array, indices ``C_*`` below) add up: every neuron spike seen by an electrode is
either detected, missed, or merged into the previous detection.
"""

from __future__ import annotations

import numba
import numpy as np

C_NEURON_SPIKES = 0
C_DETECTED = 1
C_MISSED = 2
C_MERGED = 3
C_NOISE_DETECTED = 4
C_NOISE_MERGED = 5
C_DIRECT = 6
C_DIRECT_BLOCKED = 7
C_DIRECT_COINCIDENT = 8
C_MINIS = 9
N_COUNTERS = 10

V_PEAK = 30.0


@numba.njit(cache=True, inline="always")
def _uniform_hash(seed, a, b, c):
    """A uniform number in [0, 1) from four integers (splitmix64 finaliser, counter-based)."""
    z = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    z ^= np.uint64(a) + np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z ^= np.uint64(b) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= np.uint64(c) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(29))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True)
def run_steps(k_first, k_last,
              v, u, w_ad, ie, islow, ii, x, last_spike,
              a, b, c, d, ibias, is_exc, use, rec_decay_per_step,
              syn_ptr, syn_post, syn_w, syn_delay, ring_e, ring_i,
              rec_ptr, rec_el, last_det,
              f_step, f_neuron, f_pos,
              m_step, m_neuron, m_pos, mini_amp,
              n_step, n_el, n_pos,
              dt_ms, decay_e, decay_slow, slow_ratio, decay_i, decay_ad, jump_ad, ref_steps,
              dead_steps,
              p_detect, hash_seed,
              out_step, out_el, counters):
    """Run steps ``k_first..k_last`` (inclusive) or until the output buffer could overflow.

    Returns ``(k_done, n_out, f_pos, m_pos, n_pos)``: the last step completed, detections
    written to ``out_step``/``out_el``, and the new read positions of the forced-spike, mini and
    electrode-noise event lists.
    """
    n_neur = v.shape[0]
    n_el_total = last_det.shape[0]
    depth = ring_e.shape[0]
    cap = out_step.shape[0]
    n_out = 0
    k_done = k_first - 1
    for k in range(k_first, k_last + 1):
        # at most one detection per electrode per step (dead time >= 1 step)
        if cap - n_out < n_el_total:
            break
        slot = k % depth
        for i in range(n_neur):
            ie[i] += ring_e[slot, i]
            islow[i] += slow_ratio * ring_e[slot, i]
            ii[i] += ring_i[slot, i]
            ring_e[slot, i] = 0.0
            ring_i[slot, i] = 0.0
        while m_pos < m_step.shape[0] and m_step[m_pos] <= k:
            ie[m_neuron[m_pos]] += mini_amp
            counters[C_MINIS] += 1
            m_pos += 1
        for i in range(n_neur):
            vi = v[i]
            ui = u[i]
            cur = ibias[i] + ie[i] + islow[i] - ii[i] - w_ad[i]
            v[i] = vi + dt_ms * (0.04 * vi * vi + 5.0 * vi + 140.0 - ui + cur)
            u[i] = ui + dt_ms * a[i] * (b[i] * vi - ui)
            ie[i] *= decay_e
            islow[i] *= decay_slow
            ii[i] *= decay_i
            w_ad[i] *= decay_ad
        while f_pos < f_step.shape[0] and f_step[f_pos] <= k:
            j = f_neuron[f_pos]
            f_pos += 1
            if k - last_spike[j] <= ref_steps:
                counters[C_DIRECT_BLOCKED] += 1
            elif v[j] >= V_PEAK:
                counters[C_DIRECT_COINCIDENT] += 1
            else:
                v[j] = V_PEAK
                counters[C_DIRECT] += 1
        for i in range(n_neur):
            if v[i] < V_PEAK:
                continue
            counters[C_NEURON_SPIKES] += 1
            v[i] = c[i]
            u[i] += d[i]
            w_ad[i] += jump_ad
            # presynaptic resource: closed-form recovery since the last spike, then use U x
            since = k - last_spike[i]
            x[i] = 1.0 - (1.0 - x[i]) * np.exp(-since * rec_decay_per_step[i])
            eff = x[i]  # weights are amplitudes at full resources
            x[i] -= use[i] * x[i]
            last_spike[i] = k
            if is_exc[i]:
                for s in range(syn_ptr[i], syn_ptr[i + 1]):
                    ring_e[(k + syn_delay[s]) % depth, syn_post[s]] += syn_w[s] * eff
            else:
                for s in range(syn_ptr[i], syn_ptr[i + 1]):
                    ring_i[(k + syn_delay[s]) % depth, syn_post[s]] += syn_w[s] * eff
            for r in range(rec_ptr[i], rec_ptr[i + 1]):
                e = rec_el[r]
                if p_detect < 1.0 and _uniform_hash(hash_seed, i, e, k) >= p_detect:
                    counters[C_MISSED] += 1
                elif k - last_det[e] < dead_steps:
                    counters[C_MERGED] += 1
                else:
                    last_det[e] = k
                    out_step[n_out] = k
                    out_el[n_out] = e
                    n_out += 1
                    counters[C_DETECTED] += 1
        while n_pos < n_step.shape[0] and n_step[n_pos] <= k:
            e = n_el[n_pos]
            n_pos += 1
            if k - last_det[e] < dead_steps:
                counters[C_NOISE_MERGED] += 1
            else:
                last_det[e] = k
                out_step[n_out] = k
                out_el[n_out] = e
                n_out += 1
                counters[C_NOISE_DETECTED] += 1
        k_done = k
    return k_done, n_out, f_pos, m_pos, n_pos
