"""Recording for ``bioloop.pynn``: spikes from the chip's FIREs (and the sources' own trains),
``v`` from the dense path's V_INTEG, handed to PyNN's Recorder, which builds the Neo Block."""

from __future__ import annotations

import numpy as np
from pyNN import recording

from . import simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._since_cycle = 0

    def _record(self, variable, new_ids, sampling_interval=None):
        if sampling_interval is not None and abs(sampling_interval - simulator.state.dt) > 1e-12:
            raise ValueError(f"sampling_interval = {sampling_interval:g} ms; bioloop.pynn samples "
                             f"v once per GCLK cycle (the time step, {simulator.state.dt:g} ms)")

    def _runtime(self):
        rt = simulator.state.runtime
        if rt is None:
            raise ValueError("nothing has been run yet: call sim.run() before reading data")
        return rt

    def _get_spiketimes(self, ids, clear=False):
        ids = np.asarray([int(i) for i in ids], np.int64)
        pop = self.population
        st = simulator.state
        if st.runtime is None:
            return np.zeros(0, np.int64), np.zeros(0)
        rt = self._runtime()
        from .mapper import is_source

        if is_source(pop):
            pi = next(i for i, p in enumerate(rt.mapping.populations) if p is pop)
            idx, t = rt.source_spikes(pi, st.t)
            cyc = np.rint(t / st.dt).astype(np.int64)
            keep = (cyc >= self._since_cycle) & (cyc < rt.cycle)
            idx, cyc = idx[keep], cyc[keep]
        else:
            idx, cyc = rt.fires_of(pop, self._since_cycle)
        id_arr = np.asarray(pop.all_cells, np.int64)[idx]
        mask = np.isin(id_arr, ids)
        return id_arr[mask], cyc[mask] * st.dt

    def _get_all_signals(self, variable, ids, clear=False):
        rt = self._runtime()
        indices = np.asarray(self.population.id_to_index(np.asarray(ids)), np.int64).ravel()
        return rt.v_of(self.population, indices, self._since_cycle), None

    def _local_count(self, variable, filter_ids=None):
        ids = sorted(self.filter_recorded(variable, filter_ids))
        id_arr, _ = self._get_spiketimes(ids)
        counts = {int(i): 0 for i in ids}
        for i in id_arr.tolist():
            counts[i] += 1
        return counts

    def _clear_simulator(self):
        self._since_cycle = simulator.state.cycle

    def _reset(self):
        pass
