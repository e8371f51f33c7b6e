"""Projection of ``bioloop.pynn``: connections kept as arrays (pre, post, weight, delay) in the
projection's own indices; the mapper turns them into synapse codes, AXON rows and routes."""

from __future__ import annotations

import numpy as np
from pyNN import common
from pyNN.space import Space

from . import simulator
from .standardmodels import StaticSynapse


class Connection(common.Connection):
    """One connection of a projection (a view on its arrays)."""

    def __init__(self, projection, i):
        self.projection = projection
        self.i = i

    @property
    def presynaptic_index(self):
        return int(self.projection._pre[self.i])

    @property
    def postsynaptic_index(self):
        return int(self.projection._post[self.i])

    def _get(self, name):
        return float(self.projection._attrs[name][self.i])

    def _set(self, name, value):
        self.projection._attrs[name][self.i] = value
        simulator.state.network_changed()

    weight = property(lambda self: self._get("weight"), lambda self, v: self._set("weight", v))
    delay = property(lambda self: self._get("delay"), lambda self, v: self._set("delay", v))

    def as_tuple(self, *attribute_names):
        return tuple(getattr(self, name) for name in attribute_names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population, connector,
                 synapse_type=None, source=None, receptor_type=None, space=None, label=None):
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population,
                                   connector, synapse_type, source, receptor_type,
                                   Space() if space is None else space, label)
        self._pre_chunks, self._post_chunks = [], []
        self._attr_chunks = {"weight": [], "delay": []}
        self._packed = None
        connector.connect(self)
        simulator.state.projections.append(self)
        simulator.state.network_changed()

    # ---- storage ---------------------------------------------------------------------
    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **connection_parameters):
        if location_selector is not None:
            raise ValueError("bioloop.pynn has point neurons only: location_selector must be None")
        pre = np.asarray(presynaptic_indices, np.int64).ravel()
        n = pre.size
        self._pre_chunks.append(pre)
        self._post_chunks.append(np.full(n, int(postsynaptic_index), np.int64))
        for name in ("weight", "delay"):
            value = connection_parameters.get(name, 0.0)
            self._attr_chunks[name].append(np.broadcast_to(np.asarray(value, float), (n,)).copy())
        self._packed = None

    def _pack(self):
        if self._packed is None:
            def cat(chunks, dtype):
                return np.concatenate(chunks).astype(dtype) if chunks else np.zeros(0, dtype)
            self._packed = (cat(self._pre_chunks, np.int64), cat(self._post_chunks, np.int64),
                            {k: cat(v, float) for k, v in self._attr_chunks.items()})
            self._pre_chunks = [self._packed[0]]
            self._post_chunks = [self._packed[1]]
            self._attr_chunks = {k: [v] for k, v in self._packed[2].items()}
        return self._packed

    @property
    def _pre(self):
        return self._pack()[0]

    @property
    def _post(self):
        return self._pack()[1]

    @property
    def _attrs(self):
        return self._pack()[2]

    def __len__(self):
        return int(self._pre.size)

    def __getitem__(self, i):
        if not -len(self) <= i < len(self):
            raise IndexError(f"connection {i} of a projection with {len(self)} connections")
        return Connection(self, i % len(self))

    @property
    def connections(self):
        return (Connection(self, i) for i in range(len(self)))

    # ---- attributes ------------------------------------------------------------------
    def _set_attributes(self, parameter_space):
        parameter_space.evaluate()
        pre, post, attrs = self._pack()
        for name, value in parameter_space.items():
            value = np.asarray(value, float)
            attrs[name][:] = value[pre, post] if value.ndim == 2 else value
        simulator.state.network_changed()

    def _set_initial_value_array(self, variable, initial_value):
        raise ValueError("static synapses have no state variables to initialise")

    def _get_attributes_as_list(self, names):
        pre, post, attrs = self._pack()
        cols = []
        for name in names:
            if name == "presynaptic_index":
                cols.append(pre)
            elif name == "postsynaptic_index":
                cols.append(post)
            else:
                cols.append(attrs[name])
        return [tuple(row) for row in np.array(cols, dtype=object).T.tolist()] if cols else []

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        pre, post, attrs = self._pack()
        ops = {"sum": (np.add.at, 0.0), "min": (np.minimum.at, np.inf),
               "max": (np.maximum.at, -np.inf)}
        out = []
        for name in names:
            if name not in attrs:
                raise ValueError(f"a StaticSynapse has weight and delay, not {name!r}")
            arr = np.full(self.shape, np.nan)
            if multiple_synapses in ops:
                op, start = ops[multiple_synapses]
                acc = np.full(self.shape, start)
                op(acc, (pre, post), attrs[name])
                arr[pre, post] = acc[pre, post]
            else:  # 'first' / 'last'
                order = np.arange(pre.size)
                if multiple_synapses == "first":
                    order = order[::-1]
                arr[pre[order], post[order]] = attrs[name][order]
            out.append(arr)
        return out

    # ---- what the mapper uses ---------------------------------------------------------
    def global_connections(self):
        """(pre_population, pre_index, post_population, post_index, weight, delay): every
        connection in the indices of the populations themselves (views and assemblies
        resolved)."""
        pre, post, attrs = self._pack()
        pre_pop, pre_idx = resolve_indices(self.pre, pre)
        post_pop, post_idx = resolve_indices(self.post, post)
        return pre_pop, pre_idx, post_pop, post_idx, attrs["weight"], attrs["delay"]


def resolve_indices(group, indices):
    """Populations (object array) and indices in them for ``indices`` of a Population,
    PopulationView or Assembly."""
    indices = np.asarray(indices, np.int64)
    if isinstance(group, common.Assembly):
        pops = np.empty(indices.size, object)
        idx = np.empty(indices.size, np.int64)
        bounds = np.cumsum([0] + [p.size for p in group.populations])
        which = np.searchsorted(bounds, indices, side="right") - 1
        for j, member in enumerate(group.populations):
            sel = which == j
            p, i = resolve_indices(member, indices[sel] - bounds[j])
            pops[sel] = p
            idx[sel] = i
        return pops, idx
    if isinstance(group, common.PopulationView):
        pops = np.empty(indices.size, object)
        pops[:] = [group.grandparent] * indices.size
        return pops, np.asarray(group.index_in_grandparent(indices), np.int64)
    pops = np.empty(indices.size, object)
    pops[:] = [group] * indices.size
    return pops, indices
