"""The topology: what the user wants, read from one YAML file.

    load_topology(path) / validate_text(text)  -> Topology, or TopologyError
    model      the immutable Topology and its parts (imports nothing of ours)
    yamlsource YAML 1.2 with line numbers and duplicate-key detection
    entries, values, rules, validate   the validation rules, in layers
    routing    route links seen as a router (prefixes, next hops)
    diff       what changed between two topologies

The bottom layer beside `controller.packets`: it imports nothing else of
the controller.
"""
from controller.topology.errors import Problem, TopologyError
from controller.topology.model import (
                                       DHCP,
                                       DNS,
                                       HOST,
                                       PHYSICAL,
                                       ROUTER,
                                       SIMULATED,
                                       VIF,
                                       VIRTUAL,
                                       Datapath,
                                       Interface,
                                       Network,
                                       Route,
                                       RouteLink,
                                       Topology,
)
from controller.topology.validate import load_topology, validate_file, validate_text

__all__ = ['DHCP', 'DNS', 'HOST', 'PHYSICAL', 'ROUTER', 'SIMULATED', 'VIF', 'VIRTUAL', 'Datapath',
           'Interface', 'Network', 'Problem', 'Route', 'RouteLink', 'Topology', 'TopologyError',
           'load_topology', 'validate_file', 'validate_text']
