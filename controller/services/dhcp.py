"""The simulated DHCP server's policy: a request in, at most one frame out.

`respond(topology, network_name, frame_or_msg)` answers a DHCP request that
arrived from an interface of network `network_name` and returns a `Reply`:
the frame to send back out of the port the request came in on (or None) and
a one-line note for the log. It is pure (no I/O, no clock) and never raises.

Policy (DESIGN.md, RFC 2131):

* The server is the network's simulated interface with the `dhcp` service
  (its MAC and address are the source and the server identifier). The
  client is the vif/host interface of the network whose MAC is `chaddr`,
  which must also be the frame's Ethernet source (the pipeline checks that
  source against the port, so a port can only ask for its own address).
  Unknown clients, clients without an address and networks without a
  server get no reply.
* DISCOVER -> OFFER of the registered address. REQUEST -> ACK if the
  address it asks for (option 50, else ciaddr) is the registered one, NAK
  otherwise; a REQUEST naming another server (option 54) is ignored.
  INFORM -> ACK without lease options (yiaddr 0, ciaddr kept). RELEASE and
  DECLINE get no reply; the note says what happened.
* Options: 1 mask, 3 router (the network's first `router` interface by
  name), 6 DNS, 15 domain, 51 lease, 54 server id, 58/59 renewal/rebinding
  (1/2 and 7/8 of the lease), 61 client id echoed (RFC 6842), and 121
  classless static routes (RFC 3442; also as 249 if the client asks for
  249) when the network has other router interfaces whose route links
  reach further prefixes: those prefixes via that router, and the default
  route via the option-3 router (a client that takes 121 ignores 3). The
  client's parameter request list only orders them.
* Addressing (RFC 2131 4.1, no relays here): NAK -> broadcast; ciaddr set
  -> unicast to ciaddr; broadcast flag -> ff:ff:ff:ff:ff:ff/255.255.255.255;
  else unicast to yiaddr at chaddr.
"""
from __future__ import annotations

import ipaddress
import struct
import threading
import weakref
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from controller.packets import dhcp as p
from controller.topology import DHCP, ROUTER, SIMULATED, Interface, Topology

__all__ = ['Reply', 'respond', 'network_plan', 'NetworkPlan']

#: Options always sent (when they have a value), in this order unless the
#: client's parameter request list says otherwise.
STANDARD_ORDER = (p.OPT_SUBNET_MASK, p.OPT_ROUTER, p.OPT_DNS, p.OPT_DOMAIN_NAME,
                  p.OPT_LEASE_TIME, p.OPT_SERVER_ID, p.OPT_RENEWAL_TIME,
                  p.OPT_REBINDING_TIME, p.OPT_CLASSLESS_ROUTES)
LEASE_OPTIONS = (p.OPT_LEASE_TIME, p.OPT_RENEWAL_TIME, p.OPT_REBINDING_TIME)
#: Options dropped, in this order, when a reply would not fit the client's
#: maximum message size.
DROPPABLE = (p.OPT_MS_CLASSLESS_ROUTES, p.OPT_CLASSLESS_ROUTES, p.OPT_DOMAIN_NAME,
             p.OPT_DNS)
MIN_MAX_MESSAGE = 576          # RFC 2131: every client accepts 576-byte datagrams
IP_UDP_HEADERS = 28
UINT32 = 0xffffffff


@dataclass(frozen=True)
class Reply:
    """What to do with one request: send `frame` (None: nothing) and log `note`.

    `kind` is the reply's message type name ('OFFER', 'ACK', 'NAK') or ''
    when nothing is sent; `client` the interface name the request came
    from, when known.
    """
    frame: Optional[bytes]
    note: str
    kind: str = ''
    client: Optional[str] = None


# --------------------------------------------------------------------------
# per-network plan: everything that does not depend on the request

@dataclass(frozen=True)
class NetworkPlan:
    """What the DHCP server of one network hands out, precomputed."""
    network: str
    server: Optional[Interface]
    clients: Dict[str, Interface]        # chaddr -> vif/host interface
    simulated_macs: frozenset
    router: Optional[Interface]          # option 3
    netmask: ipaddress.IPv4Address
    broadcast: ipaddress.IPv4Address     # the network's directed broadcast
    options: Dict[int, bytes]            # 1, 3, 6, 15, 51, 54, 58, 59, 121
    classless_routes: Tuple[Tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...]


def _routers(topology: Topology, network: str) -> List[Interface]:
    return sorted((i for i in topology.interfaces.values()
                   if i.network == network and i.mode == SIMULATED
                   and ROUTER in i.services and i.ipv4 is not None),
                  key=lambda i: i.name)


def _prefixes_behind(topology: Topology, router: Interface) -> List[ipaddress.IPv4Network]:
    """Destination prefixes of the other routes on every route link that
    routes through `router`."""
    found = []
    for link in sorted(topology.route_links.values(), key=lambda rl: rl.name):
        if not any(r.interface == router.name for r in link.routes):
            continue
        for route in link.routes:
            if route.interface != router.name and route.ipv4 not in found:
                found.append(route.ipv4)
    return found


def _classless_routes(topology: Topology, network: str, own: ipaddress.IPv4Network,
                      routers: List[Interface]
                      ) -> Tuple[Tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...]:
    """Option 121 content, or () when option 3 alone says everything."""
    if len(routers) < 2:
        return ()
    default_router, others = routers[0], routers[1:]
    default = ipaddress.IPv4Network('0.0.0.0/0')
    chosen: Dict[ipaddress.IPv4Network, ipaddress.IPv4Address] = {}
    for router in others:
        for prefix in _prefixes_behind(topology, router):
            if prefix == default or prefix.subnet_of(own):
                continue     # the default goes to option 3's router; own prefix is on-link
            chosen.setdefault(prefix, router.ipv4)
    if not chosen:
        return ()
    # Prefixes behind the default router that a wider prefix above would
    # capture must be listed too, or longest-prefix match sends them astray.
    for prefix in _prefixes_behind(topology, default_router):
        if prefix == default or prefix.subnet_of(own) or prefix in chosen:
            continue
        if any(prefix.subnet_of(wider) for wider in chosen):
            chosen[prefix] = default_router.ipv4
    routes = sorted(chosen.items(), key=lambda kv: (-kv[0].prefixlen,
                                                    int(kv[0].network_address)))
    routes.append((default, default_router.ipv4))
    return tuple(routes)


def _encode_domain(name: str) -> bytes:
    try:
        return name.encode('idna')
    except UnicodeError:
        return name.encode('utf-8', 'replace')


def _build_plan(topology: Topology, network: str) -> Optional[NetworkPlan]:
    net = topology.networks.get(network)
    if net is None:
        return None
    members = sorted(topology.interfaces_of(network), key=lambda i: i.name)
    servers = [i for i in members if i.mode == SIMULATED and DHCP in i.services
               and i.ipv4 is not None]
    server = servers[0] if servers else None
    clients = {i.mac.lower(): i for i in members if i.mode != SIMULATED}
    simulated = frozenset(i.mac.lower() for i in members if i.mode == SIMULATED)
    routers = _routers(topology, network)
    router = routers[0] if routers else None
    routes = _classless_routes(topology, network, net.ipv4, routers)
    lease = max(0, min(int(net.lease_time), UINT32))
    opts: Dict[int, bytes] = {p.OPT_SUBNET_MASK: net.ipv4.netmask.packed}
    if router is not None:
        opts[p.OPT_ROUTER] = router.ipv4.packed
    if net.dns_servers:
        opts[p.OPT_DNS] = b''.join(ipaddress.IPv4Address(d).packed
                                   for d in net.dns_servers)
    if net.domain_name:
        opts[p.OPT_DOMAIN_NAME] = _encode_domain(net.domain_name)
    opts[p.OPT_LEASE_TIME] = struct.pack('!I', lease)
    if server is not None:
        opts[p.OPT_SERVER_ID] = server.ipv4.packed
    opts[p.OPT_RENEWAL_TIME] = struct.pack('!I', lease // 2)
    opts[p.OPT_REBINDING_TIME] = struct.pack('!I', lease * 7 // 8)
    if routes:
        opts[p.OPT_CLASSLESS_ROUTES] = p.encode_classless_routes(routes)
    return NetworkPlan(network=network, server=server, clients=clients,
                       simulated_macs=simulated, router=router,
                       netmask=net.ipv4.netmask, broadcast=net.ipv4.broadcast_address,
                       options=opts, classless_routes=routes)


# A topology is immutable, so its plans are computed once per network. Keyed
# by id() with a weak reference guarding against id reuse; only the newest
# few topologies are kept.
_CACHE: Dict[int, Tuple[weakref.ref, Dict[str, Optional[NetworkPlan]]]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_TOPOLOGIES = 4


def network_plan(topology: Topology, network: str) -> Optional[NetworkPlan]:
    """The (cached) plan of `network` in `topology`; None if no such network."""
    key = id(topology)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None and entry[0]() is not topology:
            entry = None
        if entry is None:
            try:
                ref = weakref.ref(topology)
            except TypeError:          # not weak-referenceable: do not cache
                return _build_plan(topology, network)
            while len(_CACHE) >= _CACHE_TOPOLOGIES:
                _CACHE.pop(next(iter(_CACHE)))
            entry = _CACHE[key] = (ref, {})
        plans = entry[1]
        if network not in plans:
            plans[network] = _build_plan(topology, network)
        return plans[network]


# --------------------------------------------------------------------------
# the policy

def respond(topology: Topology, network_name: str,
            frame_or_msg: Union[bytes, bytearray, p.DhcpMessage]) -> Reply:
    """Answer one DHCP request from network `network_name`. Never raises."""
    try:
        return _respond(topology, network_name, frame_or_msg)
    except Exception as e:  # pragma: no cover - a bug must not kill the controller
        return Reply(None, f'internal error answering DHCP: {type(e).__name__}: {e}')


def _respond(topology: Topology, network_name: str, frame_or_msg) -> Reply:
    if isinstance(frame_or_msg, p.DhcpMessage):
        msg = frame_or_msg
        if msg.op != p.BOOTREQUEST:
            return Reply(None, f'ignored: BOOTP op {msg.op} is not a request')
    else:
        msg, why = p.try_parse(frame_or_msg)
        if msg is None:
            return Reply(None, f'ignored: not a DHCP request ({why})')
    what = f'DHCP{msg.message_type_name} from {msg.chaddr} xid={msg.xid:#010x}'
    plan = network_plan(topology, network_name)
    if plan is None:
        return Reply(None, f'{what}: no reply, network {network_name!r} is not in the topology')
    if plan.server is None:
        return Reply(None, f'{what}: no reply, network {network_name} has no interface '
                           'with the dhcp service')
    server = plan.server
    if msg.giaddr != p.ZERO_IP:
        return Reply(None, f'{what}: no reply, relayed requests (giaddr {msg.giaddr}) '
                           'are not served')
    if msg.eth_src and msg.eth_src != msg.chaddr:
        return Reply(None, f'{what}: no reply, chaddr differs from the Ethernet source '
                           f'{msg.eth_src}')
    client = plan.clients.get(msg.chaddr)
    if client is None:
        why = ('is a simulated interface' if msg.chaddr in plan.simulated_macs
               else f'is not an interface of network {network_name}')
        return Reply(None, f'{what}: no reply, {msg.chaddr} {why}')
    what = f'DHCP{msg.message_type_name} from {client.name} ({msg.chaddr}) xid={msg.xid:#010x}'
    if not _addressed_to_us(msg, server.mac, server.ipv4, plan.broadcast):
        return Reply(None, f'{what}: no reply, sent to {msg.eth_dst}/{msg.ip_dst}, '
                           'not to this server', client=client.name)
    if client.ipv4 is None:
        return Reply(None, f'{what}: no reply, {client.name} has no registered ipv4',
                     client=client.name)
    mine = client.ipv4
    t = msg.message_type

    if t == p.DISCOVER:
        return _answer(msg, plan, client, p.OFFER, yiaddr=mine,
                       note=f'{what}: OFFER {mine}')
    if t == p.REQUEST:
        if msg.server_id is not None and msg.server_id != server.ipv4:
            return Reply(None, f'{what}: no reply, the client chose server {msg.server_id}',
                         client=client.name)
        asked = msg.requested_ip
        if asked is None and msg.ciaddr != p.ZERO_IP:
            asked = msg.ciaddr
        if asked == mine:
            return _answer(msg, plan, client, p.ACK, yiaddr=mine,
                           ciaddr=msg.ciaddr, note=f'{what}: ACK {mine}')
        asked_txt = 'no address' if asked is None else str(asked)
        return _nak(msg, plan, client,
                    f'{what}: NAK, it asked for {asked_txt}, registered {mine}')
    if t == p.INFORM:
        return _answer(msg, plan, client, p.ACK, yiaddr=p.ZERO_IP, ciaddr=msg.ciaddr,
                       note=f'{what}: ACK (configuration only)', lease=False)
    if t == p.RELEASE:
        return Reply(None, f'{what}: no reply, {client.name} released '
                           f'{msg.ciaddr if msg.ciaddr != p.ZERO_IP else "its lease"}',
                     client=client.name)
    if t == p.DECLINE:
        declined = msg.requested_ip or msg.ciaddr
        return Reply(None, f'{what}: no reply, {client.name} declined {declined}; '
                           'is another machine using that address?', client=client.name)
    return Reply(None, f'{what}: no reply, a client does not send this message type',
                 client=client.name)


def _addressed_to_us(msg: p.DhcpMessage, mac: str, ip, net_broadcast) -> bool:
    if msg.eth_dst and msg.eth_dst not in (p.BROADCAST_MAC, mac):
        return False
    # 0.0.0.0: a message built without its envelope (tests, callers)
    return msg.ip_dst in (p.BROADCAST_IP, ip, net_broadcast, p.ZERO_IP)


def _ordered(msg: p.DhcpMessage, available: Dict[int, bytes]) -> List[Tuple[int, bytes]]:
    """`available` ordered by the client's parameter request list first."""
    out, seen = [], set()
    for code in msg.param_request_list:
        if code in available and code not in seen:
            out.append((code, available[code]))
            seen.add(code)
    for code in STANDARD_ORDER:
        if code in available and code not in seen:
            out.append((code, available[code]))
            seen.add(code)
    for code in sorted(available):
        if code not in seen:
            out.append((code, available[code]))
    return out


def _size_limit(msg: p.DhcpMessage) -> int:
    """Bytes available for options (after the cookie, incl. End)."""
    size = msg.max_message_size or 0
    size = max(size, MIN_MAX_MESSAGE)
    return min(size, 1500) - IP_UDP_HEADERS - p.BOOTP_FIXED - 4


def _encoded_len(options: List[Tuple[int, bytes]]) -> int:
    total = 1   # End
    for _code, value in options:
        total += len(value) + 2 * max(1, -(-len(value) // 255))
    return total + 3   # option 53


def _answer(msg: p.DhcpMessage, plan: NetworkPlan, client: Interface, mtype: int, *,
            yiaddr, note: str, ciaddr=None, lease: bool = True) -> Reply:
    server = plan.server
    available = dict(plan.options)
    if not lease:
        for code in LEASE_OPTIONS:
            available.pop(code, None)
    if (p.OPT_CLASSLESS_ROUTES in available
            and p.OPT_MS_CLASSLESS_ROUTES in msg.param_request_list):
        available[p.OPT_MS_CLASSLESS_ROUTES] = available[p.OPT_CLASSLESS_ROUTES]
    options = _ordered(msg, available)
    if msg.client_id is not None:
        options.append((p.OPT_CLIENT_ID, msg.client_id))
    limit = _size_limit(msg)
    dropped = []
    for code in DROPPABLE:
        if _encoded_len(options) <= limit:
            break
        if code in available:
            options = [(c, v) for c, v in options if c != code]
            dropped.append(code)
    if dropped:
        note += f' (left out option(s) {", ".join(map(str, dropped))}: too big for the client)'
    ciaddr = ciaddr if ciaddr is not None else p.ZERO_IP
    if ciaddr != p.ZERO_IP:
        dst_mac, dst_ip = client.mac, ciaddr
    elif msg.broadcast:
        dst_mac, dst_ip = p.BROADCAST_MAC, p.BROADCAST_IP
    elif yiaddr != p.ZERO_IP:
        dst_mac, dst_ip = client.mac, yiaddr
    else:   # INFORM without ciaddr: nowhere to unicast to
        dst_mac, dst_ip = p.BROADCAST_MAC, p.BROADCAST_IP
    frame = p.build_reply(msg, mtype, yiaddr=yiaddr, ciaddr=ciaddr,
                          server_mac=server.mac, server_ip=server.ipv4,
                          dst_mac=dst_mac, dst_ip=dst_ip, options=options)
    how = 'broadcast' if dst_ip == p.BROADCAST_IP else f'unicast to {dst_ip}'
    return Reply(frame, f'{note} ({how})', kind=p.MESSAGE_TYPES[mtype],
                 client=client.name)


def _nak(msg: p.DhcpMessage, plan: NetworkPlan, client: Interface, note: str) -> Reply:
    server = plan.server
    options = [(p.OPT_SERVER_ID, server.ipv4.packed)]
    if msg.client_id is not None:
        options.append((p.OPT_CLIENT_ID, msg.client_id))
    frame = p.build_reply(msg, p.NAK, yiaddr=p.ZERO_IP, server_mac=server.mac,
                          server_ip=server.ipv4, dst_mac=p.BROADCAST_MAC,
                          dst_ip=p.BROADCAST_IP, options=options)
    return Reply(frame, f'{note} (broadcast)', kind='NAK', client=client.name)
