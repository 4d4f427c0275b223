"""Command-line options shared by the launcher and the app, where the
topology file comes from, and the topology the launcher already validated."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import oslo_config.cfg
from os_ken import cfg

from controller.topology import Topology

DEFAULT_TOPOLOGY = os.path.join('topologies', 'default.yml')
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELOADED_CONTEXT = 'vnet_preloaded'     # the app's constructor keyword that carries it

OPTS = [
    cfg.StrOpt('topology', default=None,
               help='topology file (default: $VNET_TOPOLOGY, else topologies/default.yml)'),
    cfg.BoolOpt('bundles', default=True,
                help='apply each change to a switch atomically in an OpenFlow bundle'),
]


def register(conf=cfg.CONF) -> None:
    try:
        conf.register_cli_opts(OPTS)
    except oslo_config.cfg.ArgsAlreadyParsedError:   # the launcher registered them
        pass


@dataclass(frozen=True)
class Preloaded:
    """The launcher validates the file before anything listens; the app takes
    that result instead of validating a large file a second time, provided
    the file has not changed since (same content hash)."""
    path: str
    digest: Optional[str]
    topology: Topology

    def topology_for(self, path: str, digest: Optional[str]) -> Optional[Topology]:
        return self.topology if (path, digest) == (self.path, self.digest) else None


def topology_path(conf=cfg.CONF) -> str:
    """--topology, else $VNET_TOPOLOGY, else topologies/default.yml."""
    path = getattr(conf, 'topology', None) or os.environ.get('VNET_TOPOLOGY')
    if path:
        return path
    if os.path.exists(DEFAULT_TOPOLOGY):
        return DEFAULT_TOPOLOGY
    return os.path.join(_REPO_ROOT, DEFAULT_TOPOLOGY)
