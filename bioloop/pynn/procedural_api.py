"""PyNN's procedural API (create, connect, record) for ``bioloop.pynn``."""

from __future__ import annotations

from pyNN import common
from pyNN.connectors import FixedProbabilityConnector

from . import simulator
from .populations import Population
from .projections import Projection
from .standardmodels import StaticSynapse

create = common.build_create(Population)
connect = common.build_connect(Projection, FixedProbabilityConnector, StaticSynapse)
set = common.set
record = common.build_record(simulator)


def record_v(source, filename):
    return record(["v"], source, filename)
