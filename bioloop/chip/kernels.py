"""Compiled inner loops of the chip model: one dense (cycle by cycle) and one event-driven.

State per neuron: ``v_held`` (the voltage the baseline selector holds), ``pend`` (SWLEAK pulses
owed since then, applied lazily as one clamped step ``toward(v_held, pend * leak_step)``) and
``refr`` (absolute refractory cycles left). Both paths do exactly the same floating-point
operations in the same order, so they give identical spikes; the event path only skips idle
cycles by advancing the integer counters in closed form.

One GCLK cycle of a neuron in a cluster that has at least one active AXON row:
1. refractory (``refr > 0``): no switches; the input is ignored, ``refr -= 1``; counted when
   at least one active row has a non-zero synapse (``nz``) onto the neuron;
2. otherwise integrate from the held level: ``vi = clip(v + sum_k G[k, n], 0, v_dd)``;
3. compare: FIRE if ``vi >= vth[n]`` (threshold plus comparator offset);
4. a firing neuron holds V_RFR and gets ``refr = n_abs``; the others hold ``vi`` and owe one
   SWLEAK pulse; a firing neuron's lateral neighbours that did not fire hold V_LAT.
In a cycle without input: refractory neurons count down, the others owe one SWLEAK pulse
(``every_cycle`` leak mode) or nothing (``input_only``).
"""

from __future__ import annotations

import numba
import numpy as np

from .config import K_AXONS

_AXON_BITS = 4  #: a pulse key holds the axon in its low bits
_AXON_MASK = (1 << _AXON_BITS) - 1
assert 1 << _AXON_BITS == K_AXONS


@numba.njit(cache=True, inline="always")
def _toward(v, n, step, rest):
    if n == 0:
        return v
    d = n * step
    if v > rest:
        return max(v - d, rest)
    return min(v + d, rest)


@numba.njit(cache=True)
def _idle(c, g, v, pend, refr, leak_every):
    """Advance every neuron of cluster ``c`` over ``g`` cycles without input."""
    for n in range(v.shape[1]):
        k = refr[c, n]
        if k > g:
            k = g
        refr[c, n] -= k
        if leak_every:
            pend[c, n] += g - k


@numba.njit(cache=True)
def _input_cycle(c, rows, n_rows, G, nz, v, pend, refr, vth, step, rest, v_rfr, v_lat, v_dd, n_abs,
                 lateral, fired, rec):
    """One cycle of cluster ``c`` with active rows ``rows[:n_rows]``; returns ignored count."""
    n_neur = v.shape[1]
    ignored = 0
    any_fire = False
    for n in range(n_neur):
        fired[n] = False
        if refr[c, n] > 0:
            refr[c, n] -= 1
            for j in range(n_rows):
                if nz[c, rows[j], n]:
                    ignored += 1
                    break
            rec[n] = _toward(v[c, n], pend[c, n], step[c, n], rest[c])
            continue
        vi = _toward(v[c, n], pend[c, n], step[c, n], rest[c])
        for j in range(n_rows):
            vi += G[c, rows[j], n]
        if vi < 0.0:
            vi = 0.0
        elif vi > v_dd:
            vi = v_dd
        rec[n] = vi
        if vi >= vth[c, n]:
            fired[n] = True
            any_fire = True
            v[c, n] = v_rfr[c]
            pend[c, n] = 0
            refr[c, n] = n_abs
        else:
            v[c, n] = vi
            pend[c, n] = 1
    if any_fire:
        for n in range(n_neur):
            if fired[n]:
                for d in lateral:
                    m = n + d
                    if 0 <= m < n_neur and not fired[m]:
                        v[c, m] = v_lat[c]
                        pend[c, m] = 0
    return ignored


@numba.njit(cache=True)
def run_dense(axons, G, nz, v, pend, refr, vth, step, rest, v_rfr, v_lat, v_dd, n_abs, lateral,
              leak_every, record, fires, v_rec, ignored_out):
    """Step ``axons`` (T, C, K) cycle by cycle; fills ``fires`` and (if ``record``) ``v_rec``."""
    T, C, K = axons.shape
    N = v.shape[1]
    rows = np.empty(K, np.int64)
    fired = np.zeros(N, np.bool_)
    rec = np.empty(N, np.float64)
    ignored = 0
    for t in range(T):
        for c in range(C):
            n_rows = 0
            for k in range(K):
                if axons[t, c, k]:
                    rows[n_rows] = k
                    n_rows += 1
            if n_rows > 0:
                ignored += _input_cycle(c, rows, n_rows, G, nz, v, pend, refr, vth, step, rest, v_rfr,
                                        v_lat, v_dd, n_abs, lateral, fired, rec)
                for n in range(N):
                    fires[t, c, n] = fired[n]
                    if record:
                        v_rec[t, c, n] = rec[n]
            else:
                if record:
                    for n in range(N):
                        v_rec[t, c, n] = _toward(v[c, n], pend[c, n], step[c, n], rest[c])
                _idle(c, 1, v, pend, refr, leak_every)
    ignored_out[0] += ignored


@numba.njit(cache=True)
def run_events(grp_cycle, grp_cluster, grp_start, axon, t_end, G, nz, v, pend, refr, last, vth, step,
               rest, v_rfr, v_lat, v_dd, n_abs, lateral, leak_every, fire_mask, ignored_out):
    """Process groups of events (one group = one cluster in one cycle, sorted by cycle).

    ``last[c]`` is the first cycle cluster ``c`` has not yet been advanced through. Idle gaps
    are skipped in closed form; at the end every cluster is advanced to ``t_end``.
    ``fire_mask[g]`` gets bit ``n`` set when neuron ``n`` fires in group ``g``.
    """
    N = v.shape[1]
    K = G.shape[1]
    rows = np.empty(K, np.int64)
    fired = np.zeros(N, np.bool_)
    rec = np.empty(N, np.float64)
    ignored = 0
    for g in range(grp_cycle.shape[0]):
        c = grp_cluster[g]
        t = grp_cycle[g]
        gap = t - last[c]
        if gap > 0:
            _idle(c, gap, v, pend, refr, leak_every)
        n_rows = 0
        for e in range(grp_start[g], grp_start[g + 1]):
            rows[n_rows] = axon[e]
            n_rows += 1
        ignored += _input_cycle(c, rows, n_rows, G, nz, v, pend, refr, vth, step, rest, v_rfr, v_lat,
                                v_dd, n_abs, lateral, fired, rec)
        mask = 0
        for n in range(N):
            if fired[n]:
                mask |= 1 << n
        fire_mask[g] = mask
        last[c] = t + 1
    for c in range(v.shape[0]):
        gap = t_end - last[c]
        if gap > 0:
            _idle(c, gap, v, pend, refr, leak_every)
        last[c] = t_end
    ignored_out[0] += ignored


@numba.njit(cache=True)
def effective_v(v, pend, step, rest):
    out = np.empty_like(v)
    for c in range(v.shape[0]):
        for n in range(v.shape[1]):
            out[c, n] = _toward(v[c, n], pend[c, n], step[c, n], rest[c])
    return out


@numba.njit(cache=True)
def first_bad_event(cyc, clu, ax, t_start, n_clusters, n_axons):
    """Index of the first event with a cluster or axon out of range or a cycle before
    ``t_start``; -1 if every event is valid."""
    for i in range(cyc.size):
        if clu[i] < 0 or clu[i] >= n_clusters or ax[i] < 0 or ax[i] >= n_axons or cyc[i] < t_start:
            return i
    return -1


@numba.njit(cache=True)
def group_pulses(cyc, clu, ax, n_clusters):
    """Distinct pulses grouped by (cycle, cluster), in order.

    Events may come in any order within a cycle and repeat (one axon twice in one cycle is
    one pulse, counted in ``merged``). Returns ``(grp_cycle, grp_cluster, grp_start, axon,
    merged)``: group ``g`` is cluster ``grp_cluster[g]`` in cycle ``grp_cycle[g]`` with the
    active rows ``axon[grp_start[g]:grp_start[g + 1]]``.
    """
    n = cyc.size
    key = np.empty(n, np.int64)  # (cycle * C + cluster) * 16 + axon
    ordered = True
    for i in range(n):
        key[i] = ((cyc[i] * n_clusters + clu[i]) << _AXON_BITS) | ax[i]
        if i and key[i] <= key[i - 1]:
            ordered = False
    if not ordered:
        key = np.sort(key)
    n_u = 0
    n_grp = 0
    for i in range(n):
        k = key[i]
        if n_u == 0 or k != key[n_u - 1]:
            if n_u == 0 or (k >> _AXON_BITS) != (key[n_u - 1] >> _AXON_BITS):
                n_grp += 1
            key[n_u] = k
            n_u += 1
    grp_cycle = np.empty(n_grp, np.int64)
    grp_cluster = np.empty(n_grp, np.int64)
    grp_start = np.empty(n_grp + 1, np.int64)
    axon = np.empty(n_u, np.int64)
    g = -1
    prev = -1
    for i in range(n_u):
        gk = key[i] >> _AXON_BITS
        if gk != prev:
            g += 1
            grp_cycle[g] = gk // n_clusters
            grp_cluster[g] = gk - grp_cycle[g] * n_clusters
            grp_start[g] = i
            prev = gk
        axon[i] = key[i] & _AXON_MASK
    grp_start[n_grp] = n_u
    return grp_cycle, grp_cluster, grp_start, axon, n - n_u


@numba.njit(cache=True)
def unpack_fires(grp_cycle, grp_cluster, fire_mask, n_dends):
    """FIRE events (cycle, cluster, dend) of per-group fire masks (bit d: dend d fired), in
    group order and dend order within a group."""
    n = 0
    for g in range(fire_mask.size):
        m = fire_mask[g]
        while m:
            m &= m - 1
            n += 1
    cycles = np.empty(n, np.int64)
    cluster = np.empty(n, np.int64)
    dend = np.empty(n, np.int64)
    j = 0
    for g in range(fire_mask.size):
        m = fire_mask[g]
        if m:
            for d in range(n_dends):
                if m >> d & 1:
                    cycles[j] = grp_cycle[g]
                    cluster[j] = grp_cluster[g]
                    dend[j] = d
                    j += 1
    return cycles, cluster, dend


@numba.njit(cache=True)
def run_pulses(cyc, clu, ax, t_start, t_end, G, nz, v, pend, refr, last, vth, step, rest, v_rfr, v_lat,
               v_dd, n_abs, lateral, leak_every):
    """One batch of AXON events through the event path: check, group, run, FIREs out.

    Returns ``(bad, fire_cycles, fire_cluster, fire_dend, pulses, merged, ignored)``. ``bad``
    is -1, or the index of the first event with a cluster or axon out of range or a cycle
    before ``t_start``; then nothing has run (the state is untouched).
    """
    C, N = v.shape
    K = G.shape[1]
    bad = first_bad_event(cyc, clu, ax, t_start, C, K)
    if bad >= 0:
        e = np.zeros(0, np.int64)
        return bad, e, e, e, 0, 0, 0
    grp_cycle, grp_cluster, grp_start, axon, merged = group_pulses(cyc, clu, ax, C)
    fire_mask = np.zeros(grp_cycle.size, np.uint32)
    ignored = np.zeros(1, np.int64)
    run_events(grp_cycle, grp_cluster, grp_start, axon, t_end, G, nz, v, pend, refr, last, vth, step,
               rest, v_rfr, v_lat, v_dd, n_abs, lateral, leak_every, fire_mask, ignored)
    fc, fk, fd = unpack_fires(grp_cycle, grp_cluster, fire_mask, N)
    return -1, fc, fk, fd, axon.size, merged, ignored[0]
