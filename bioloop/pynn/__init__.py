"""``import bioloop.pynn as sim``: PyNN 0.13's API with the chip as the simulator.

Built as PyNN's own backends are (``pyNN.nest``, ``pyNN.brian2``, ``pyNN.mock``): the
``common`` base classes for Population, PopulationView, Assembly and Projection, PyNN's
connectors and recorder, and a ``simulator`` module holding the state. What differs is what
happens at ``run()``: the mapper (:mod:`bioloop.pynn.mapper`) places the network on clusters of
the chip, translates the cells (:mod:`bioloop.pynn.translation`) and quantises the weights to
3-bit codes; a network the chip cannot hold raises :class:`MappingError`, which lists every rule
it breaks. ``sim.mapping_report()`` says what the chip did to the network.

Examples
--------
>>> import bioloop.pynn as sim
>>> _ = sim.setup(timestep=1.0)
>>> src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 20.0]), label="in")
>>> cell = sim.Population(1, sim.IF_curr_delta(), label="cell")
>>> prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0))
>>> cell.record("spikes")
>>> _ = sim.run(30.0)
>>> cell.get_data().segments[0].spiketrains[0].times.magnitude.tolist()
[6.0, 21.0]
>>> sim.end()
"""

# ruff: noqa: F401, F403, I001 -- the PyNN namespace, in PyNN's own order
from pyNN import errors, random, space
from pyNN.connectors import *
from pyNN.network import Network
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution
from pyNN.recording import *
from pyNN.space import Space
from pyNN.standardmodels import StandardCellType

from .standardmodels import (ChipNeuron, IF_curr_alpha, IF_curr_delta, IF_curr_exp,
                             RecordedSpikes, SpikeSourceArray, SpikeSourcePoisson, StaticSynapse)
from .standardmodels import (EIF_cond_alpha_isfa_ista, EIF_cond_exp_isfa_ista, HH_cond_exp,  # noqa: F401
                             IF_cond_alpha, IF_cond_exp, IF_cond_exp_gsfa_grr, REFUSED_TYPES)
from .populations import Assembly, Population, PopulationView
from .projections import Projection
from .control import (end, get_current_time, get_max_delay, get_min_delay, get_time_step,
                      initialize, num_processes, rank, reset, run, run_for, run_until, setup)
from .procedural_api import connect, create, record, record_v, set
from .mapper import MappingError
from .report import MappingReport, mapping_report
from .sources import RecordingSource
from .simulator import state


def list_standard_models():
    """The standard cell types this backend implements."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)
            and obj is not StandardCellType and obj not in REFUSED_TYPES]
