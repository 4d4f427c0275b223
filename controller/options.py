"""Command-line options shared by the launcher and the app, where the
topology file comes from, and the topology the launcher already validated."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import oslo_config.cfg
from os_ken import cfg

from controller.topology import Topology

DEFAULT_TOPOLOGY = os.path.join('topologies', 'default.yml')
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELOADED_CONTEXT = 'vnet_preloaded'     # the app's constructor keyword that carries it

OPTS = [
    cfg.StrOpt('topology', default=None,
               help='topology file, or etcd://HOST:PORT[,HOST:PORT...]/PREFIX '
                    '(default: $VNET_TOPOLOGY, else topologies/default.yml)'),
    cfg.StrOpt('topology-cache', default=None,
               help='with an etcd:// topology: the directory for the local copy of the last '
                    'good document (default: /var/lib/ryu-vnet)'),
    cfg.BoolOpt('bundles', default=True,
                help='apply each change to a switch atomically in an OpenFlow bundle'),
    cfg.BoolOpt('answers-by-device', default=True,
                help='the service ports send DHCP and DNS answers for a port that is a device here '
                     '(a veth, a NIC) out of that device, as OVS would, sparing ovs-vswitchd a trip; '
                     'off: every answer goes back through the switch (where OVS mirrors, sFlow and '
                     'NetFlow see it)'),
    cfg.StrOpt('election', default=None,
               help='etcd://HOST:PORT[,...]/PREFIX: run as one of several controllers of the same '
                    'switches, the leader elected through an etcd lease; "store": on the etcd:// '
                    'topology store (default: off, the only controller of its switches)'),
    cfg.IntOpt('election-ttl', default=2,
               help='seconds the leader\'s etcd lease lasts without renewal (failover time)'),
    cfg.StrOpt('api-listen', default='127.0.0.1:9090',
               help='HOST:PORT of the REST API, status page and /metrics; "off" turns it off'),
    cfg.StrOpt('api-token-file', default=None,
               help='file holding the bearer token that API writes need (none: writes refused)'),
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
    source: Any = None        # what read it (controller.sources), handed on to the app

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


def api_listen(conf=cfg.CONF) -> Optional[Tuple[str, int]]:
    """--api-listen as (host, port), None for "off"; ValueError says what is wrong."""
    text = (getattr(conf, 'api_listen', None) or 'off').strip()
    if text.lower() == 'off':
        return None
    host, sep, port = text.rpartition(':')
    host = host[1:-1] if host.startswith('[') and host.endswith(']') else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'--api-listen {text!r}: expected HOST:PORT (127.0.0.1:9090, '
                         '[::1]:9090) or off')
    return host, int(port)
