"""Open vSwitch: bridges, ``ovs-ofctl`` and reading flows back.

Notes (checked on OVS 3.1, Debian 12):

* Bridges must be ``datapath_type=netdev``: there is no kernel module.
* A netdev bridge has a tap device of its own name, so bridge names are
  Linux interface names too, like port names: at most ``IFNAMSIZ`` (15)
  characters.  ``ifname_problem`` says what is wrong with a name.
* Every flow the controller installs carries ``VNET_COOKIE`` (the tag in
  the cookie's top 16 bits); ``dump_flows`` reads only those by default.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional, Union

from controller.pipeline.flows import COOKIE_MASK, COOKIE_TAG
from controller.pipeline.service_port import service_port_name
from lab.proc import NetlabError, sh, wait_for

if TYPE_CHECKING:
    from lab.core import Lab

#: The cookie (value/mask) that marks every flow the controller installs.
VNET_COOKIE = f'{COOKIE_TAG:#018x}/{COOKIE_MASK:#018x}'
IFNAMSIZ = 15          # usable characters of a Linux interface name
IFNAME_CHARS = '[A-Za-z0-9_.-]'
_IFNAME_RE = re.compile(f'{IFNAME_CHARS}{{1,{IFNAMSIZ}}}')


def ifname_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a Linux interface (or netdev bridge) name, or None."""
    if _IFNAME_RE.fullmatch(name):
        return None
    return f'{name!r} is not 1-{IFNAMSIZ} characters of {IFNAME_CHARS}'


def check_ifname(name: str) -> str:
    """``name`` if it can be an interface name, else ValueError."""
    problem = ifname_problem(name)
    if problem:
        raise ValueError(f'bad interface name: {problem}')
    return name


def list_bridges() -> list[str]:
    cp = sh(['ovs-vsctl', '--timeout=10', 'list-br'], check=False)
    return cp.stdout.split()


def ofport(port: str, check: bool = True) -> int:
    """OpenFlow port number of OVS port ``port`` (-1 while OVS has none;
    NetlabError for an unknown port, unless not ``check``: then -1 too)."""
    cp = sh(['ovs-vsctl', '--timeout=10', 'get', 'Interface', port, 'ofport'], check=check)
    out = cp.stdout.strip()
    return int(out) if out.lstrip('-').isdigit() else -1


def bridge_args(name: str, dpid: Optional[int], controller_port: Optional[int],
                max_backoff_ms: int = 1000, service_port: bool = False) -> list[str]:
    """``ovs-vsctl`` arguments creating a userspace bridge for the controller
    (``dpid`` given) or a standalone one (``dpid`` None).

    In-band control is disabled: the controller is reached out of band, on
    127.0.0.1.  The reconnect backoff is capped at ``max_backoff_ms`` so a
    controller that starts later is found quickly.  With ``service_port``,
    the bridge's service port (``service_port_name``, an internal port whose
    tap device is in this namespace, where the controller opens it) is
    created in the same transaction: the controller answers DHCP and DNS
    through it.  Deleting the bridge deletes it."""
    mode = 'fail_mode=secure' if dpid is not None else 'fail_mode=standalone'
    args = ['ovs-vsctl', '--timeout=20', '--', 'add-br', name,
            '--', 'set', 'Bridge', name, 'datapath_type=netdev', mode,
            'protocols=OpenFlow13', 'other-config:disable-in-band=true']
    if dpid is not None:
        args.append(f'other-config:datapath-id={int(dpid):016x}')
    if controller_port is not None:
        args += ['--', 'set-controller', name, f'tcp:127.0.0.1:{int(controller_port)}',
                 '--', 'set', 'Controller', name, 'connection-mode=out-of-band',
                 f'max_backoff={int(max_backoff_ms)}']
    if service_port:
        port = service_port_name(name)
        args += ['--', 'add-port', name, port, '--', 'set', 'Interface', port, 'type=internal']
    return args


# --------------------------------------------------------------------------
# ovs-ofctl

_STAT_RE = re.compile(r'\s*(cookie|duration|table|n_packets|n_bytes|idle_timeout|'
                      r'hard_timeout|idle_age|hard_age|importance)=([^,\s]+),?')
_FLAG_RE = re.compile(r'\s*(send_flow_rem|check_overlap|reset_counts|'
                      r'no_packet_counts|no_byte_counts|no_readonly_table)\b,?')
_FLOW_DEFAULTS = {'cookie': 0, 'table': 0, 'n_packets': 0, 'n_bytes': 0, 'duration': 0.0}


def _stat_value(key: str, val: str) -> Union[int, float]:
    if key == 'cookie':
        return int(val, 16)
    if key == 'duration':
        return float(val.rstrip('s'))
    return int(val)


def parse_flow_line(line: str) -> dict:
    """Parse one ``ovs-ofctl dump-flows`` line into a dict.

    Keys: ``cookie`` (int), ``duration`` (float seconds), ``table``,
    ``n_packets``, ``n_bytes``, ``priority`` (ints; OVS omits the default
    priority 32768), ``match`` (str, e.g. ``'ip,in_port=1'``, '' for all),
    ``actions`` (str), ``flags`` (list), any timeouts present, and ``raw``.
    """
    raw = line.strip()
    head, sep, actions = raw.partition(' actions=')
    if not sep:
        if not raw.startswith('actions='):
            raise ValueError(f'not a flow line: {line!r}')
        head, actions = '', raw[len('actions='):]
    flow: dict = {'raw': raw, 'actions': actions.strip(), 'flags': []}
    pos = 0
    while m := (_STAT_RE.match(head, pos) or _FLAG_RE.match(head, pos)):
        if m.re is _STAT_RE:
            flow[m.group(1)] = _stat_value(m.group(1), m.group(2))
        else:
            flow['flags'].append(m.group(1))
        pos = m.end()
    rest = head[pos:].strip().strip(',')
    flow['priority'] = 32768
    m = re.match(r'priority=(\d+),?', rest)
    if m:
        flow['priority'] = int(m.group(1))
        rest = rest[m.end():]
    flow['match'] = rest.strip(',')
    return {**_FLOW_DEFAULTS, **flow}


def _brname(bridge: Union['Bridge', str]) -> str:
    return bridge.name if isinstance(bridge, Bridge) else str(bridge)


def ofctl(bridge: Union['Bridge', str], *args: str, check: bool = True,
          timeout: float = 20) -> str:
    """``ovs-ofctl -O OpenFlow13 <first arg> BRIDGE <more args>``; returns stdout.

    The first argument is the command: ``ofctl(br, 'dump-flows', 'table=0')``.
    """
    if not args:
        raise ValueError('ofctl needs a command, e.g. ofctl(br, "dump-flows")')
    cmd, *rest = args
    cp = sh(['ovs-ofctl', '-O', 'OpenFlow13', cmd, _brname(bridge), *rest],
            check=check, timeout=timeout)
    return cp.stdout


def dump_flows(bridge: Union['Bridge', str], cookie: Optional[str] = VNET_COOKIE,
               match: Optional[str] = None, names: bool = False) -> list[dict]:
    """The bridge's flows as dicts (see parse_flow_line).

    By default only the controller's flows (``cookie=VNET_COOKIE``); pass
    ``cookie=None`` for all. ``match`` adds a flow filter such as
    ``'table=0'``.  Ports appear as numbers unless ``names``.
    """
    filt = ','.join(x for x in (f'cookie={cookie}' if cookie else '', match or '') if x)
    args = ['ovs-ofctl', '-O', 'OpenFlow13', '--names' if names else '--no-names',
            'dump-flows', _brname(bridge)]
    if filt:
        args.append(filt)
    out = sh(args, timeout=20).stdout
    return [parse_flow_line(line) for line in out.splitlines()
            if line.startswith(' ') and 'actions=' in line]


def dump_groups(bridge: Union['Bridge', str]) -> list[dict]:
    """The bridge's groups: dicts with ``group_id`` (int), ``type`` (str),
    ``buckets`` (list of bucket strings, e.g. ``'actions=output:1'``), ``raw``."""
    groups = []
    for line in ofctl(bridge, 'dump-groups').splitlines():
        line = line.strip()
        if not line.startswith('group_id='):
            continue
        head, *buckets = line.split(',bucket=')
        g: dict = {'raw': line, 'buckets': buckets}
        for kv in head.split(','):
            k, _, v = kv.partition('=')
            g[k] = int(v, 0) if k == 'group_id' else v
        groups.append(g)
    return groups


def wait_for_flows(bridge: Union['Bridge', str], min_count: int = 1,
                   timeout: float = 20, cookie: Optional[str] = VNET_COOKIE,
                   match: Optional[str] = None) -> list[dict]:
    """Poll until the bridge has at least ``min_count`` flows with ``cookie``
    (the controller's by default); return them."""
    last: list = []

    def enough():
        nonlocal last
        last = dump_flows(bridge, cookie=cookie, match=match)
        return len(last) >= min_count

    wait_for(enough, timeout=timeout, interval=0.25,
             what=f'>= {min_count} flows (cookie {cookie}) on {_brname(bridge)}',
             state=lambda: f'{len(last)} flows:\n' + '\n'.join(f['raw'] for f in last))
    return last


# --------------------------------------------------------------------------
# Bridge

class Bridge:
    """An OVS bridge created by a Lab (use ``lab.bridge`` / ``lab.normal_bridge``)."""

    def __init__(self, lab: 'Lab', name: str, dpid: Optional[int],
                 controller_port: Optional[int], service_port: bool = False):
        self.lab = lab
        self.name = name
        self.dpid = dpid
        self.controller_port = controller_port
        #: the service port's name (its OVS port and tap device), None without one
        self.service_port: Optional[str] = service_port_name(name) if service_port else None

    def __repr__(self):
        dp = f' dpid={self.dpid:#x}' if self.dpid is not None else ''
        return f'<Bridge {self.name}{dp}>'

    def __str__(self):
        return self.name

    def ofctl(self, *args: str, check: bool = True) -> str:
        return ofctl(self, *args, check=check)

    def dump_flows(self, cookie: Optional[str] = VNET_COOKIE,
                   match: Optional[str] = None, names: bool = False) -> list[dict]:
        return dump_flows(self, cookie=cookie, match=match, names=names)

    def dump_groups(self) -> list[dict]:
        return dump_groups(self)

    def wait_for_flows(self, min_count: int = 1, timeout: float = 20,
                       **kw) -> list[dict]:
        return wait_for_flows(self, min_count, timeout=timeout, **kw)

    def ports(self) -> list[str]:
        return sh(['ovs-vsctl', 'list-ports', self.name]).stdout.split()

    def ofport(self, port: str) -> int:
        """OpenFlow port number of ``port`` (-1 while OVS has none)."""
        return ofport(port)

    def is_connected(self) -> bool:
        """True when OVS reports the bridge's controller connection is up."""
        out = sh(['ovs-vsctl', 'get', 'Controller', self._controller_uuid(),
                  'is_connected'], check=False).stdout
        return out.strip() == 'true'

    def _controller_uuid(self) -> str:
        out = sh(['ovs-vsctl', 'get', 'Bridge', self.name, 'controller']).stdout
        uuids = re.findall(r'[0-9a-f-]{36}', out)
        if not uuids:
            raise NetlabError(f'bridge {self.name} has no controller configured')
        return uuids[0]

    def wait_connected(self, timeout: float = 20) -> None:
        """Wait until the bridge's OpenFlow connection to the controller is up."""
        wait_for(self.is_connected, timeout=timeout, interval=0.2,
                 what=f'bridge {self.name} to connect to its controller',
                 state=lambda: sh(['ovs-vsctl', 'list', 'Controller',
                                   self._controller_uuid()], check=False).stdout)
