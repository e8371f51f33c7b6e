"""Cell and synapse types of ``bioloop.pynn``.

Parameters are stored under their PyNN names (the identity translation, as ``pyNN.mock``
does); what they become on the chip is decided by the mapper, once per network, from the
translation table of :mod:`bioloop.pynn.translation`, because most of the chip's analog
settings (leak current, V_RFR, N_ABS) are shared by every neuron of the chip and depend on the
time step.

``ChipNeuron`` is the chip's own neuron: its weights are signed synapse codes ``s = w - r``
(units of alpha) and its threshold is the cluster's code ``theta``. ``IF_curr_delta`` is PyNN's
standard current-based LIF with voltage-jump synapses, translated; ``IF_curr_exp`` and
``IF_curr_alpha`` are translated the same way, each synaptic current a jump of equal charge.
"""

from __future__ import annotations

from pyNN.parameters import Sequence
from pyNN.standardmodels import StandardCellType, build_translations, cells, synapses

from .simulator import state


def _identity(*names):
    return build_translations(*[(n, n) for n in names])


class IF_curr_delta(cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__ + """
    On the chip (``bioloop.pynn``): see the translation table in
    :mod:`bioloop.pynn.translation`. Weights are PSP jumps in mV; ``i_offset`` must be 0 and
    ``cm`` has no effect (delta synapses).
    """

    translations = _identity("v_rest", "cm", "tau_m", "tau_refrac", "i_offset", "v_reset",
                             "v_thresh")


_CURRENT_NOTE = """
    On the chip (``bioloop.pynn``): translated as IF_curr_delta, each synaptic current becoming a
    voltage jump of the same charge, ``weight * q * tau_syn / cm`` mV (q = 1 exponential, e
    alpha); see :mod:`bioloop.pynn.translation` for the table and the error of that step.
    ``i_offset`` must be 0. Recordable: ``spikes`` and ``v`` (the chip has no synaptic current).
    """


class IF_curr_exp(cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__ + _CURRENT_NOTE
    recordable = ["spikes", "v"]
    translations = _identity(*cells.IF_curr_exp.default_parameters)


class IF_curr_alpha(cells.IF_curr_alpha):
    __doc__ = cells.IF_curr_alpha.__doc__ + _CURRENT_NOTE
    recordable = ["spikes", "v"]
    translations = _identity(*cells.IF_curr_alpha.default_parameters)


class ChipNeuron(StandardCellType):
    """The chip's own LIF neuron (Lee et al. 2025), with the chip's parameters.

    ``theta`` is the threshold code (gen - ref, 1..7) and is shared by every neuron of a
    cluster; the others are shared by every neuron of the chip: ``v_th``, ``v_rest``,
    ``v_rfr`` (mV, the chip's own voltages), ``leak`` (mV per GCLK cycle) and ``n_abs``
    (absolute refractory cycles). Weights of projections onto a ChipNeuron are signed synapse
    codes ``s`` (integers, -7..7, in units of alpha): excitatory ``s > 0``, inhibitory
    ``s < 0``. Recorded ``v`` is V_INTEG in mV.

    Examples
    --------
    >>> ChipNeuron(theta=3).parameter_space["theta"].base_value
    3.0
    """

    default_parameters = {"theta": 5.0, "v_th": 850.0, "v_rest": 625.0, "v_rfr": 500.0,
                          "leak": 10.0, "n_abs": 2.0}
    recordable = ["spikes", "v"]
    receptor_types = ("excitatory", "inhibitory")
    conductance_based = False
    voltage_based_synapses = True
    injectable = False
    default_initial_values = {"v": 625.0}
    units = {"v": "mV", "theta": "dimensionless", "v_th": "mV", "v_rest": "mV", "v_rfr": "mV",
             "leak": "mV", "n_abs": "dimensionless"}
    translations = _identity("theta", "v_th", "v_rest", "v_rfr", "leak", "n_abs")


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = _identity("spike_times")


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__ + """
    On the chip the spike trains are drawn on the host from ``setup(seed=...)`` and enter as
    AXON pulses; two spikes of one source in one GCLK cycle are one pulse (counted as merged).
    """
    translations = _identity("rate", "start", "duration")


class RecordedSpikes(SpikeSourceArray):
    """Spike times of electrodes read from a recording (made by
    :func:`bioloop.pynn.RecordingSource`); a SpikeSourceArray with a label per electrode."""


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = _identity("weight", "delay")

    def _get_minimum_delay(self):
        d = state.min_delay
        if d == "auto":
            d = state.dt
        return d


def _not_on_chip(base):
    """A PyNN cell type the chip cannot represent: it can be built, so a script written for
    another simulator gets as far as the mapper, which lists it among the broken rules."""
    return type(base.__name__, (base,), {
        "__doc__": base.__doc__ + "\n    Not on the chip (``bioloop.pynn``): its PSP depends on the "
                   "membrane potential, which a fixed synapse code cannot follow; a network with it "
                   "stops with a MappingError naming the cell type.\n",
        "__module__": __name__, "translations": _identity(*base.default_parameters)})


#: conductance-based cells: importable for scripts written for other simulators, refused by the mapper
IF_cond_exp = _not_on_chip(cells.IF_cond_exp)
IF_cond_alpha = _not_on_chip(cells.IF_cond_alpha)
IF_cond_exp_gsfa_grr = _not_on_chip(cells.IF_cond_exp_gsfa_grr)
EIF_cond_exp_isfa_ista = _not_on_chip(cells.EIF_cond_exp_isfa_ista)
EIF_cond_alpha_isfa_ista = _not_on_chip(cells.EIF_cond_alpha_isfa_ista)
HH_cond_exp = _not_on_chip(cells.HH_cond_exp)
REFUSED_TYPES = (IF_cond_exp, IF_cond_alpha, IF_cond_exp_gsfa_grr, EIF_cond_exp_isfa_ista,
                 EIF_cond_alpha_isfa_ista, HH_cond_exp)

SOURCE_TYPES = (SpikeSourceArray, SpikeSourcePoisson)
NEURON_TYPES = (IF_curr_delta, IF_curr_exp, IF_curr_alpha, ChipNeuron)

__all__ = ["ChipNeuron", "EIF_cond_alpha_isfa_ista", "EIF_cond_exp_isfa_ista", "HH_cond_exp", "IF_cond_alpha",
           "IF_cond_exp", "IF_cond_exp_gsfa_grr", "IF_curr_alpha", "IF_curr_delta", "IF_curr_exp", "RecordedSpikes", "Sequence", "SpikeSourceArray",
           "SpikeSourcePoisson", "StaticSynapse"]
