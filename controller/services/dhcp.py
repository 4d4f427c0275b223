"""The simulated DHCP server's policy: a request in, at most one frame out.

`respond(topology, network_name, frame_or_msg)` answers a DHCP request that
arrived from an interface of network `network_name` and returns a `Reply`:
the frame to send back out of the port the request came in on (or None) and
a one-line note for the log. It is pure (no I/O, no clock) and never raises.

Policy (the README's topology format, RFC 2131):

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
  name), 6 DNS, 15 domain, 26 MTU (the network's mtu: 1450 leaves room for VXLAN),
  51 lease, 54 server id, 58/59 renewal/rebinding
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

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from controller.packets import dhcp as p
from controller.services.dhcp_plan import NetworkPlan, NetworkPlans
from controller.topology import Interface, Topology

__all__ = ['Reply', 'respond', 'NetworkPlan', 'NetworkPlans']

#: Options always sent (when they have a value), in this order unless the
#: client's parameter request list says otherwise.
STANDARD_ORDER = (p.OPT_SUBNET_MASK, p.OPT_ROUTER, p.OPT_DNS, p.OPT_DOMAIN_NAME, p.OPT_MTU,
                  p.OPT_LEASE_TIME, p.OPT_SERVER_ID, p.OPT_RENEWAL_TIME,
                  p.OPT_REBINDING_TIME, p.OPT_CLASSLESS_ROUTES)
LEASE_OPTIONS = (p.OPT_LEASE_TIME, p.OPT_RENEWAL_TIME, p.OPT_REBINDING_TIME)
#: Options dropped, in this order, when a reply would not fit the client's
#: maximum message size.
DROPPABLE = (p.OPT_MS_CLASSLESS_ROUTES, p.OPT_CLASSLESS_ROUTES, p.OPT_DOMAIN_NAME,
             p.OPT_DNS)
MIN_MAX_MESSAGE = 576          # RFC 2131: every client accepts 576-byte datagrams
IP_UDP_HEADERS = 28


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
# the policy

def respond(topology: Topology, network_name: str,
            frame_or_msg: Union[bytes, bytearray, p.DhcpMessage],
            plans: Optional[NetworkPlans] = None) -> Reply:
    """Answer one DHCP request from network `network_name`. Never raises.

    `plans`: the precomputed plans of `topology`, if the caller keeps them.
    """
    if plans is None or plans.topology is not topology:
        plans = NetworkPlans(topology)
    try:
        return _respond(plans, network_name, frame_or_msg)
    except Exception as e:  # pragma: no cover - a bug must not kill the controller
        return Reply(None, f'internal error answering DHCP: {type(e).__name__}: {e}')


def _respond(plans: NetworkPlans, network_name: str, frame_or_msg) -> Reply:
    if isinstance(frame_or_msg, p.DhcpMessage):
        msg = frame_or_msg
        if msg.op != p.BOOTREQUEST:
            return Reply(None, f'ignored: BOOTP op {msg.op} is not a request')
    else:
        parsed, why = p.try_parse(frame_or_msg)
        if parsed is None:
            return Reply(None, f'ignored: not a DHCP request ({why})')
        msg = parsed
    what = f'DHCP{msg.message_type_name} from {msg.chaddr} xid={msg.xid:#010x}'
    plan = plans.get(network_name)
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
    # _respond answers only when the plan has a server, and _build_plan picks
    # only a server that has an address.
    assert server is not None and server.ipv4 is not None
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
    assert server is not None and server.ipv4 is not None   # as in _answer
    options = [(p.OPT_SERVER_ID, server.ipv4.packed)]
    if msg.client_id is not None:
        options.append((p.OPT_CLIENT_ID, msg.client_id))
    frame = p.build_reply(msg, p.NAK, yiaddr=p.ZERO_IP, server_mac=server.mac,
                          server_ip=server.ipv4, dst_mac=p.BROADCAST_MAC,
                          dst_ip=p.BROADCAST_IP, options=options)
    return Reply(frame, f'{note} (broadcast)', kind='NAK', client=client.name)
