"""`ryu-manager`: start os-ken apps the way Ryu's manager did.

os-ken 4 ships no manager command, so this is ours: Ryu's usual options
(--ofp-tcp-listen-port, --ofp-listen-host, --verbose, --config-file, app
module names) plus --topology.  It validates the topology before anything
listens, so a bad file stops it with the problems listed and exit status 1.
"""
import logging
import sys

from os_ken import cfg
from os_ken import log as oslog  # noqa: F401  (registers --verbose and friends)
from os_ken.base.app_manager import AppManager  # before controller: import cycle
from os_ken.controller import controller as _ofp_controller  # noqa: F401  (--ofp-* options)
from os_ken.lib import hub

from controller import ha, options, sources
from controller.store import StoreURLError
from controller.topology import TopologyError

CONF = cfg.CONF
RYU_CLASSIC_PORT = 6633     # Ryu's and Mininet's habit; os-ken itself defaults to 6653
LOG_FORMAT = '%(asctime)s %(levelname)-7s %(name)s: %(message)s'


def _register():
    CONF.register_cli_opts([
        cfg.ListOpt('app-lists', default=[], help='application module names to run'),
        cfg.MultiStrOpt('app', positional=True, default=[], help='application module name to run'),
    ])
    options.register(CONF)


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger('vnet').setLevel(logging.DEBUG if verbose else logging.INFO)


# os-ken's native (threading) hub cannot kill a dead connection's threads, so
# a switch that vanishes without closing its socket is noticed only through
# unanswered echo requests, which os-ken leaves off.  Every 2 s, and 5 missed
# (10 s) before giving up: a switch busy applying 100,000 flows still answers.
ECHO_INTERVAL_SECONDS, ECHO_MAX_UNREPLIED = 2.0, 5


def main(argv=None) -> int:
    _register()
    CONF.set_default('echo_request_interval', ECHO_INTERVAL_SECONDS)
    CONF.set_default('maximum_unreplied_echo_requests', ECHO_MAX_UNREPLIED)
    CONF(args=sys.argv[1:] if argv is None else argv, project='ryu-vnet',
         default_config_files=[])
    if CONF.ofp_tcp_listen_port is None and CONF.ofp_ssl_listen_port is None:
        CONF.set_override('ofp_tcp_listen_port', RYU_CLASSIC_PORT)
    _setup_logging(CONF.verbose)
    try:
        options.api_listen(CONF)
        ha.check_options(CONF.election, options.topology_path(CONF), CONF.election_ttl)
    except ValueError as err:
        print(f'ryu-manager: {err}', file=sys.stderr)
        return 2
    path = options.topology_path(CONF)
    try:       # a file, or etcd:// (waits for the store, or runs from the local copy)
        preloaded = sources.preload(path, sources.cache_dir(CONF))
    except StoreURLError as err:
        print(f'ryu-manager: --topology: {err}', file=sys.stderr)
        return 2
    except TopologyError as err:
        print(f'ryu-manager: refusing to start, {path} is not valid:', file=sys.stderr)
        print(err, file=sys.stderr)
        return 1
    apps = (CONF.app_lists + CONF.app) or ['controller.app']
    logging.getLogger('vnet').info('listening for switches on %s:%d', CONF.ofp_listen_host or '0.0.0.0',
                                   CONF.ofp_tcp_listen_port)
    try:
        run_apps(apps, {options.PRELOADED_CONTEXT: preloaded})
    except KeyboardInterrupt:
        pass
    return 0


def run_apps(apps, contexts) -> None:
    """AppManager.run_apps, with our own objects among the contexts every
    app's constructor receives as keywords (os-ken's apps ignore them)."""
    manager = AppManager.get_instance()
    manager.load_apps(apps)
    services = manager.instantiate_apps(**manager.create_contexts(), **contexts)
    try:
        hub.joinall(services)
    finally:
        manager.close()
        for thread in services:
            thread.kill()
        hub.joinall(services)


if __name__ == '__main__':
    sys.exit(main())
