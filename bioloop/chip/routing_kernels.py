"""Compiled inner loops of a chip whose clusters talk through routes (``docs/chip-semantics.md``,
"Routing between clusters").

Both paths (dense and event-driven) do, per cycle ``t`` and cluster, exactly what
:mod:`bioloop.chip.kernels` does, with the active rows being the OR of the input's rows and
the packets delivered in ``t``; after the cluster's comparison each FIRE sends one packet per
route of its (cluster, dend). Delivered packets wait in a ring of future cycles
(``ring_mask[t % H, c]`` = rows, ``ring_pk`` = packets, ``ring_list`` = clusters touched), so
both paths see the same deliveries in the same order and give identical spikes.

With a link capacity the packets go through :func:`_noc_step` (a cycle-stepped model of the
mesh's links and FIFOs) instead of straight into the ring.

``cnt`` holds the counters, indexed by the constants below.
"""

from __future__ import annotations

import numba
import numpy as np

from .kernels import _idle, _input_cycle, _toward

SENT, ROUTED, MERGED, DELAYED, DELAY_CYCLES, DROPPED, PENDING, NOC_ALIVE = range(8)
N_COUNTERS = 8

# NoC integer parameters (``noc_i``)
NI_BASE, NI_HOP, NI_CAP, NI_DEPTH, NI_COLS, NI_FREE, NI_NLINKS, NI_IHEAD, NI_ITAIL = range(9)
# link arrays (``links[row, link]``)
L_QHEAD, L_QTAIL, L_QLEN, L_AHEAD, L_ATAIL = range(5)
# packet pool (``pool[row, packet]``)
P_NEXT, P_DSTC, P_DSTK, P_NODE, P_BIRTH, P_NOMINAL, P_FLAG = range(7)
DIRS = 4  # E, W, S, N


@numba.njit(cache=True, inline="always")
def _popcount(m):
    n = 0
    while m:
        m &= m - 1
        n += 1
    return n


@numba.njit(cache=True)
def _ring_add(t, c, k, ring_mask, ring_pk, ring_list, ring_n, cnt):
    slot = t & (ring_mask.shape[0] - 1)
    if ring_pk[slot, c] == 0:
        ring_list[slot, ring_n[slot]] = c
        ring_n[slot] += 1
    ring_mask[slot, c] |= np.uint32(1) << np.uint32(k)
    ring_pk[slot, c] += 1
    cnt[PENDING] += 1


# ---- the mesh with finite links --------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _next_link(node, dst, cols):
    """Link (node * 4 + dir) a packet at ``node`` takes next toward ``dst`` (XY); -1 if there."""
    r, c = node // cols, node % cols
    rd, cd = dst // cols, dst % cols
    if cd > c:
        return node * DIRS + 0
    if cd < c:
        return node * DIRS + 1
    if rd > r:
        return node * DIRS + 2
    if rd < r:
        return node * DIRS + 3
    return -1


@numba.njit(cache=True, inline="always")
def _link_end(link, cols):
    node, d = link // DIRS, link % DIRS
    if d == 0:
        return node + 1
    if d == 1:
        return node - 1
    if d == 2:
        return node + cols
    return node - cols


@numba.njit(cache=True)
def _arrive(pk, s, noc_i, links, pool, ring_mask, ring_pk, ring_list, ring_n, cnt):
    """Packet ``pk`` is at router ``pool[P_NODE, pk]`` in cycle ``s``: deliver it or queue it
    on the arrival list of its next link."""
    node = pool[P_NODE, pk]
    dst = pool[P_DSTC, pk]
    link = _next_link(node, dst, noc_i[NI_COLS])
    if link < 0:
        t_del = s + noc_i[NI_BASE]
        extra = t_del - pool[P_BIRTH, pk] - pool[P_NOMINAL, pk]
        if extra > 0:
            cnt[DELAY_CYCLES] += extra
        _ring_add(t_del, dst, pool[P_DSTK, pk], ring_mask, ring_pk, ring_list, ring_n, cnt)
        cnt[NOC_ALIVE] -= 1
        _free(pk, noc_i, pool)
        return
    pool[P_NEXT, pk] = -1
    if links[L_AHEAD, link] < 0:
        links[L_AHEAD, link] = pk
    else:
        pool[P_NEXT, links[L_ATAIL, link]] = pk
    links[L_ATAIL, link] = pk


@numba.njit(cache=True, inline="always")
def _free(pk, noc_i, pool):
    pool[P_NEXT, pk] = noc_i[NI_FREE]
    noc_i[NI_FREE] = pk


@numba.njit(cache=True)
def _inject(c, k_dst, c_dst, t, nominal, noc_i, links, pool, ring_mask, ring_pk, ring_list, ring_n, cnt):
    pk = noc_i[NI_FREE]
    if pk < 0:  # the pool is sized for every FIFO full plus a cycle's injections; never empty
        cnt[DROPPED] += 1
        cnt[SENT] += 1
        return
    noc_i[NI_FREE] = pool[P_NEXT, pk]
    pool[P_DSTC, pk] = c_dst
    pool[P_DSTK, pk] = k_dst
    pool[P_NODE, pk] = c
    pool[P_BIRTH, pk] = t
    pool[P_NOMINAL, pk] = nominal
    pool[P_FLAG, pk] = 0
    cnt[SENT] += 1
    cnt[NOC_ALIVE] += 1
    # queued until this cycle's NoC step, behind the packets that finish a hop in it
    pool[P_NEXT, pk] = -1
    if noc_i[NI_IHEAD] < 0:
        noc_i[NI_IHEAD] = pk
    else:
        pool[P_NEXT, noc_i[NI_ITAIL]] = pk
    noc_i[NI_ITAIL] = pk


@numba.njit(cache=True)
def _noc_step(s, noc_i, links, pool, transit, link_order, ring_mask, ring_pk, ring_list, ring_n, cnt):
    """Cycle ``s`` of every link, in an order in which a link comes after every link that can
    feed it under XY routing: each link first forwards its FIFO (oldest first), then the
    packets arriving in ``s``, up to ``link_capacity``; the rest wait in the FIFO while it
    holds fewer than ``queue_depth`` packets, and are dropped beyond it."""
    hop = noc_i[NI_HOP]
    cap = noc_i[NI_CAP]
    depth = noc_i[NI_DEPTH]
    cols = noc_i[NI_COLS]
    if hop > 0:  # packets that finish their hop in s arrive first
        slot = s % transit.shape[1]
        pk = transit[0, slot]
        transit[0, slot] = -1
        transit[1, slot] = -1
        while pk >= 0:
            nxt = pool[P_NEXT, pk]
            _arrive(pk, s, noc_i, links, pool, ring_mask, ring_pk, ring_list, ring_n, cnt)
            pk = nxt
    pk = noc_i[NI_IHEAD]  # then the packets this cycle's FIREs sent
    noc_i[NI_IHEAD] = -1
    noc_i[NI_ITAIL] = -1
    while pk >= 0:
        nxt = pool[P_NEXT, pk]
        _arrive(pk, s, noc_i, links, pool, ring_mask, ring_pk, ring_list, ring_n, cnt)
        pk = nxt
    for j in range(link_order.shape[0]):
        link = link_order[j]
        if links[L_QLEN, link] == 0 and links[L_AHEAD, link] < 0:
            continue
        sent = 0
        # the FIFO first
        while sent < cap and links[L_QLEN, link] > 0:
            pk = links[L_QHEAD, link]
            links[L_QHEAD, link] = pool[P_NEXT, pk]
            links[L_QLEN, link] -= 1
            if links[L_QLEN, link] == 0:
                links[L_QTAIL, link] = -1
            _traverse(pk, link, s, hop, cols, noc_i, links, pool, transit, ring_mask, ring_pk,
                      ring_list, ring_n, cnt)
            sent += 1
        # then this cycle's arrivals
        pk = links[L_AHEAD, link]
        links[L_AHEAD, link] = -1
        links[L_ATAIL, link] = -1
        while pk >= 0:
            nxt = pool[P_NEXT, pk]
            if sent < cap:
                _traverse(pk, link, s, hop, cols, noc_i, links, pool, transit, ring_mask, ring_pk,
                          ring_list, ring_n, cnt)
                sent += 1
            elif links[L_QLEN, link] < depth:
                if pool[P_FLAG, pk] == 0:
                    pool[P_FLAG, pk] = 1
                    cnt[DELAYED] += 1
                pool[P_NEXT, pk] = -1
                if links[L_QLEN, link] == 0:
                    links[L_QHEAD, link] = pk
                else:
                    pool[P_NEXT, links[L_QTAIL, link]] = pk
                links[L_QTAIL, link] = pk
                links[L_QLEN, link] += 1
            else:
                cnt[DROPPED] += 1
                cnt[NOC_ALIVE] -= 1
                _free(pk, noc_i, pool)
            pk = nxt


@numba.njit(cache=True)
def _traverse(pk, link, s, hop, cols, noc_i, links, pool, transit, ring_mask, ring_pk, ring_list,
              ring_n, cnt):
    pool[P_NODE, pk] = _link_end(link, cols)
    if hop == 0:
        _arrive(pk, s, noc_i, links, pool, ring_mask, ring_pk, ring_list, ring_n, cnt)
        return
    slot = (s + hop) % transit.shape[1]
    pool[P_NEXT, pk] = -1
    if transit[0, slot] < 0:
        transit[0, slot] = pk
    else:
        pool[P_NEXT, transit[1, slot]] = pk
    transit[1, slot] = pk


# ---- sending ----------------------------------------------------------------------------------

@numba.njit(cache=True)
def _send(c, fired, t, r_start, r_dc, r_dk, r_lat, congested, noc_i, links, pool, ring_mask, ring_pk,
          ring_list, ring_n, cnt):
    """One packet per route of every dend of cluster ``c`` that fired in cycle ``t``."""
    N = fired.shape[0]
    for n in range(N):
        if fired[n]:
            src = c * N + n
            for r in range(r_start[src], r_start[src + 1]):
                if congested:
                    _inject(c, r_dk[r], r_dc[r], t, r_lat[r], noc_i, links, pool, ring_mask, ring_pk,
                            ring_list, ring_n, cnt)
                else:
                    cnt[SENT] += 1
                    _ring_add(t + r_lat[r], r_dc[r], r_dk[r], ring_mask, ring_pk, ring_list, ring_n, cnt)


@numba.njit(cache=True, inline="always")
def _take_slot(t, c, ext, ring_mask, ring_pk, cnt):
    """Rows of cluster ``c`` in cycle ``t``: the input's rows ``ext`` OR the delivered packets."""
    slot = t & (ring_mask.shape[0] - 1)
    pk = ring_pk[slot, c]
    if pk == 0:
        return ext
    m = np.int64(ring_mask[slot, c])
    cnt[ROUTED] += pk
    cnt[PENDING] -= pk
    cnt[MERGED] += pk - _popcount(m) + _popcount(m & ext)
    return ext | m


@numba.njit(cache=True)
def _clear_slot(t, ring_mask, ring_pk, ring_list, ring_n):
    slot = t & (ring_mask.shape[0] - 1)
    for j in range(ring_n[slot]):
        c = ring_list[slot, j]
        ring_mask[slot, c] = 0
        ring_pk[slot, c] = 0
    ring_n[slot] = 0


@numba.njit(cache=True)
def run_dense_routed(axons, t0, G, nz, v, pend, refr, vth, step, rest, v_rfr, v_lat, v_dd, n_abs, lateral,
                     leak_every, record, fires, v_rec, ignored_out, r_start, r_dc, r_dk, r_lat, congested,
                     noc_i, links, pool, transit, link_order, ring_mask, ring_pk, ring_list, ring_n, cnt):
    """Dense path with routes: every cycle ``t0 .. t0 + T - 1``, every cluster."""
    T, C, K = axons.shape
    N = v.shape[1]
    rows = np.empty(K, np.int64)
    fired = np.zeros(N, np.bool_)
    rec = np.empty(N, np.float64)
    ignored = 0
    for t in range(T):
        tt = t0 + t
        for c in range(C):
            ext = 0
            for k in range(K):
                if axons[t, c, k]:
                    ext |= 1 << k
            m = _take_slot(tt, c, ext, ring_mask, ring_pk, cnt)
            if m:
                n_rows = 0
                for k in range(K):
                    if (m >> k) & 1:
                        rows[n_rows] = k
                        n_rows += 1
                ignored += _input_cycle(c, rows, n_rows, G, nz, v, pend, refr, vth, step, rest, v_rfr,
                                        v_lat, v_dd, n_abs, lateral, fired, rec)
                any_fire = False
                for n in range(N):
                    fires[t, c, n] = fired[n]
                    any_fire |= fired[n]
                    if record:
                        v_rec[t, c, n] = rec[n]
                if any_fire:
                    _send(c, fired, tt, r_start, r_dc, r_dk, r_lat, congested, noc_i, links, pool,
                          ring_mask, ring_pk, ring_list, ring_n, cnt)
            else:
                if record:
                    for n in range(N):
                        v_rec[t, c, n] = _toward(v[c, n], pend[c, n], step[c, n], rest[c])
                _idle(c, 1, v, pend, refr, leak_every)
        _clear_slot(tt, ring_mask, ring_pk, ring_list, ring_n)
        if congested and cnt[NOC_ALIVE] > 0:
            _noc_step(tt, noc_i, links, pool, transit, link_order, ring_mask, ring_pk, ring_list, ring_n, cnt)
    ignored_out[0] += ignored


@numba.njit(cache=True)
def run_events_routed(t_now, t_end, grp_cycle, grp_cluster, grp_start, axon, G, nz, v, pend, refr, last,
                      vth, step, rest, v_rfr, v_lat, v_dd, n_abs, lateral, leak_every, ignored_out, r_start,
                      r_dc, r_dk, r_lat, congested, noc_i, links, pool, transit, link_order, ring_mask,
                      ring_pk, ring_list, ring_n, cnt):
    """Event path with routes: visits only the cycles with input, deliveries or NoC traffic.

    Returns ``(cycles, clusters, masks, n)``: FIRE bit masks of the first ``n`` visited
    (cycle, cluster) pairs that fired, sorted by cycle and cluster.
    """
    C, N = v.shape
    K = G.shape[1]
    H = ring_mask.shape[0]
    rows = np.empty(K, np.int64)
    fired = np.zeros(N, np.bool_)
    rec = np.empty(N, np.float64)
    ext_scr = np.zeros(C, np.int64)
    mark = np.zeros(C, np.bool_)
    touched = np.empty(C, np.int64)
    cap = 1024
    out_c = np.empty(cap, np.int64)
    out_k = np.empty(cap, np.int64)
    out_m = np.empty(cap, np.uint32)
    n_out = 0
    ignored = 0
    g = 0
    n_grp = grp_cycle.shape[0]
    t = t_now
    while True:
        nxt = t_end
        if g < n_grp:
            nxt = grp_cycle[g]
        if congested and cnt[NOC_ALIVE] > 0:
            nxt = min(nxt, t)
        elif cnt[PENDING] > 0:
            for s in range(t, min(t + H, nxt)):
                if ring_n[s & (H - 1)] > 0:
                    nxt = s
                    break
        if nxt >= t_end:
            break
        tt = nxt
        n_t = 0
        while g < n_grp and grp_cycle[g] == tt:
            c = grp_cluster[g]
            m = 0
            for e in range(grp_start[g], grp_start[g + 1]):
                m |= 1 << axon[e]
            ext_scr[c] = m
            mark[c] = True
            touched[n_t] = c
            n_t += 1
            g += 1
        slot = tt & (H - 1)
        for j in range(ring_n[slot]):
            c = ring_list[slot, j]
            if not mark[c]:
                mark[c] = True
                touched[n_t] = c
                n_t += 1
        for j in range(1, n_t):  # insertion sort: a handful of clusters per cycle
            x = touched[j]
            i = j - 1
            while i >= 0 and touched[i] > x:
                touched[i + 1] = touched[i]
                i -= 1
            touched[i + 1] = x
        for j in range(n_t):
            c = touched[j]
            mark[c] = False
            m = _take_slot(tt, c, ext_scr[c], ring_mask, ring_pk, cnt)
            ext_scr[c] = 0
            gap = tt - last[c]
            if gap > 0:
                _idle(c, gap, v, pend, refr, leak_every)
            last[c] = tt + 1
            n_rows = 0
            for k in range(K):
                if (m >> k) & 1:
                    rows[n_rows] = k
                    n_rows += 1
            ignored += _input_cycle(c, rows, n_rows, G, nz, v, pend, refr, vth, step, rest, v_rfr, v_lat,
                                    v_dd, n_abs, lateral, fired, rec)
            mask = np.uint32(0)
            for n in range(N):
                if fired[n]:
                    mask |= np.uint32(1) << np.uint32(n)
            if mask:
                if n_out == cap:
                    cap *= 2
                    out_c = _grow(out_c, cap)
                    out_k = _grow(out_k, cap)
                    out_m2 = np.empty(cap, np.uint32)
                    out_m2[:n_out] = out_m[:n_out]
                    out_m = out_m2
                out_c[n_out] = tt
                out_k[n_out] = c
                out_m[n_out] = mask
                n_out += 1
                _send(c, fired, tt, r_start, r_dc, r_dk, r_lat, congested, noc_i, links, pool, ring_mask,
                      ring_pk, ring_list, ring_n, cnt)
        _clear_slot(tt, ring_mask, ring_pk, ring_list, ring_n)
        if congested and cnt[NOC_ALIVE] > 0:
            _noc_step(tt, noc_i, links, pool, transit, link_order, ring_mask, ring_pk, ring_list, ring_n, cnt)
        t = tt + 1
    for c in range(C):
        gap = t_end - last[c]
        if gap > 0:
            _idle(c, gap, v, pend, refr, leak_every)
        last[c] = t_end
    ignored_out[0] += ignored
    return out_c, out_k, out_m, n_out


@numba.njit(cache=True)
def _grow(a, cap):
    b = np.empty(cap, a.dtype)
    b[:a.shape[0]] = a
    return b
