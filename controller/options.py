"""Command-line options shared by the launcher and the app, and where the
topology file comes from."""
import os

import oslo_config.cfg
from os_ken import cfg

DEFAULT_TOPOLOGY = os.path.join('topologies', 'default.yml')
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


# The launcher validates the file before anything listens; the app takes
# that result instead of validating a large file a second time, provided
# the file has not changed since (same content hash).
_preloaded = {}


def hand_over(path: str, digest: str, topology) -> None:
    _preloaded[path] = (digest, topology)


def take_over(path: str, digest: str):
    found = _preloaded.pop(path, None)
    return found[1] if found and found[0] == digest else None


def topology_path(conf=cfg.CONF) -> str:
    """--topology, else $VNET_TOPOLOGY, else topologies/default.yml."""
    path = getattr(conf, 'topology', None) or os.environ.get('VNET_TOPOLOGY')
    if path:
        return path
    if os.path.exists(DEFAULT_TOPOLOGY):
        return DEFAULT_TOPOLOGY
    return os.path.join(_REPO_ROOT, DEFAULT_TOPOLOGY)
