"""Population, PopulationView and Assembly of ``bioloop.pynn`` (PyNN's common classes, with
parameters held as arrays on the host until the mapper turns them into a chip program)."""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .recording import Recorder


class Assembly(common.Assembly):
    _simulator = simulator


class _ParameterAccess:
    """get/set of PyNN parameters through the identity translation."""

    def _get_parameters(self, *names):
        if isinstance(self.celltype, StandardCellType):
            if any(name in self.celltype.computed_parameters() for name in names):
                native_names = self.celltype.get_native_names()
            else:
                native_names = self.celltype.get_native_names(*names)
            return self.celltype.reverse_translate(self._get_native_parameters(*native_names))
        return self._get_native_parameters(*names)


class PopulationView(_ParameterAccess, common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _get_native_parameters(self, *names):
        values = {}
        for name in names:
            value = self.parent._parameters[name]
            if isinstance(value, np.ndarray):
                value = value[self.mask]
            values[name] = simplify(value)
        return ParameterSpace(values, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        for name, value in parameter_space.items():
            try:
                self.parent._parameters[name][self.mask] = value.evaluate(simplify=True)
            except ValueError:
                raise errors.InvalidParameterValueError(
                    f"{name} should not be of type {type(value)}") from None
        simulator.state.network_changed()

    def _set_initial_value_array(self, variable, initial_values):
        simulator.state.network_changed()

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


class Population(_ParameterAccess, common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _create_cells(self):
        st = simulator.state
        ids = np.arange(st.id_counter, st.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, bool)
        ps = (self.celltype.native_parameters if isinstance(self.celltype, StandardCellType)
              else self.celltype.parameter_space)
        ps.shape = (self.size,)
        ps.evaluate(simplify=False)
        self._parameters = ps.as_dict()
        for cell in self.all_cells:
            cell.parent = self
        st.id_counter += self.size
        st.populations.append(self)
        st.network_changed()

    def _set_initial_value_array(self, variable, initial_values):
        simulator.state.network_changed()

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    def _get_native_parameters(self, *names):
        return ParameterSpace({n: simplify(self._parameters[n]) for n in names},
                              shape=(self.local_size,))

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False, mask=self._mask_local)
        for name, value in parameter_space.items():
            self._parameters[name] = value
        simulator.state.network_changed()

    def parameter_array(self, name) -> np.ndarray:
        """The values of one (PyNN-named) parameter, one per neuron."""
        value = self._parameters[name]
        if np.ndim(value) == 0:
            value = np.full(self.size, value)
        return np.asarray(value)
