"""Every drop in the pipeline is an explicit flow with a reason, and no table
can miss: checked on the compiled flows of every test topology, on
thousands of frames run through the table simulator, and reason by reason."""
import ipaddress
import itertools
from pathlib import Path

import pytest

from controller.openflow.ofsim import FakeSwitch, ports_of
from controller.pipeline import compile_datapath, tables
from controller.pipeline.drops import Drop
from controller.pipeline.flows import (
    COOKIE_MASK,
    COOKIE_TAG,
    DROP_COOKIE,
    DROP_COOKIE_MASK,
    OFPP_CONTROLLER,
    OFPP_LOCAL,
    Output,
    ToGroup,
    drop_reason,
    flow,
)
from controller.pipeline.service_port import service_port_name
from controller.pipeline.tables import PipelineError
from controller.topology import HOST, PHYSICAL, Datapath, Interface, Network, Topology, load_topology
from tests.unit.factories import ALL_PORTS, ROUTED_PORTS, overlapping, routed
from tests.unit.test_pipeline_nat import TWO_DATAPATH_PORTS, two_datapaths
from tests.unit.test_pipeline_tunnels import PORTS as TUNNEL_PORTS
from tests.unit.test_pipeline_tunnels import TUNNEL, three_hosts

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN_PORT, TUNNEL_PORT_NO, SERVICE_PORT_NO = 99, 100, 98
BROADCAST = 'ff:ff:ff:ff:ff:ff'
STRANGER_MAC = '52:54:00:99:99:99'


def numbered(topo, datapath):
    """Port numbers for a datapath: its interfaces' ports in name order, and its tunnel port."""
    ports = {name: n for n, name in enumerate(sorted(topo.ports_on(datapath)), 1)}
    ports[topo.datapaths[datapath].tunnel_port] = TUNNEL_PORT_NO
    return ports


def lan_across_two_hosts():
    """One physical network, an uplink on each of two datapaths."""
    lan = Network(name='lan', ipv4=ipaddress.IPv4Network('10.0.10.0/24'), vni=110, mode=PHYSICAL)
    ifaces = [Interface(name=f'up{n}', network='lan', mac=f'52:54:00:00:10:0{n}', mode=HOST,
                        ipv4=ipaddress.IPv4Address(f'10.0.10.1{n}'), datapath=f'h{n}', port='up')
              for n in (1, 2)]
    return Topology(source='t.yml', networks={'lan': lan}, interfaces={i.name: i for i in ifaces},
                    datapaths={f'h{n}': Datapath(f'h{n}', n, ipaddress.IPv4Address(f'198.18.0.{n}'))
                               for n in (1, 2)})


def with_service_port(ports, bridge):
    """`ports` on a bridge that also has its service port (and its LOCAL port, which names it)."""
    return dict(ports, **{bridge: OFPP_LOCAL, service_port_name(bridge): SERVICE_PORT_NO})


def compiled():
    """(label, topology, datapath, ports) for every test topology and datapath."""
    cases = [('overlapping', overlapping(), 'br0', ALL_PORTS),
             ('routed', routed(), 'br0', ROUTED_PORTS),
             ('routed-service-port', routed(), 'br0', with_service_port(ROUTED_PORTS, 'br0'))]
    cases += [(f'three_hosts-{dp}', three_hosts(), dp, TUNNEL_PORTS[dp]) for dp in TUNNEL_PORTS]
    cases.append(('lan_across_two_hosts', lan_across_two_hosts(), 'h1', {'up': 1, 'vxlan0': TUNNEL}))
    cases += [(f'nat_two_datapaths-{dp}', two_datapaths(), dp, ports)     # NAT where no uplink is
              for dp, ports in TWO_DATAPATH_PORTS.items()]
    for path in sorted((ROOT / 'topologies').glob('*.yml')):
        topo = load_topology(str(path))
        cases += [(f'{path.stem}-{dp}', topo, dp, numbered(topo, dp)) for dp in sorted(topo.datapaths)]
    return cases


CASES = compiled()
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize('label, topo, datapath, ports', CASES, ids=IDS)
def test_no_table_can_miss_each_ends_in_a_flow_that_matches_everything(label, topo, datapath, ports):
    state = compile_datapath(topo, datapath, ports)
    last = {f.table for f in state.flows.values() if f.priority == 0 and f.match == ()}
    assert last == set(tables.BY_TABLE)


@pytest.mark.parametrize('label, topo, datapath, ports', CASES, ids=IDS)
def test_every_flow_that_drops_has_a_reason_and_its_cookie_carries_it(label, topo, datapath, ports):
    state = compile_datapath(topo, datapath, ports)
    for cookie, f in state.flows.items():
        if not f.actions and f.goto is None:
            assert f.drop is not None, f.describe()
        assert cookie & COOKIE_MASK == COOKIE_TAG            # still ours for the read-back
        assert drop_reason(cookie) == f.drop, f.describe()
        assert (cookie & DROP_COOKIE_MASK == DROP_COOKIE) == (f.drop is not None)


def frames_from(topo, datapath, ports):
    """Honest, spoofed, tagged, misaddressed, routed and tunnelled frames
    from every port of the datapath (and one the topology does not know)."""
    here = topo.ports_on(datapath)
    macs = sorted({i.mac for i in topo.interfaces.values()} | {BROADCAST, STRANGER_MAC})
    ips = sorted({str(i.ipv4) for i in topo.interfaces.values() if i.ipv4} | {'203.0.113.9'}
                 | {str(r.outside) for link in topo.route_links.values() for r in link.nat})
    tunnel = topo.datapaths[datapath].tunnel_port
    for port_name, number in sorted(ports.items()) + [('?', UNKNOWN_PORT)]:
        iface = here.get(port_name)
        if port_name == tunnel:
            yield from _tunnel_frames(topo, number, macs)
            continue
        mac = iface.mac if iface else STRANGER_MAC
        own = str(iface.ipv4) if iface and iface.ipv4 else '192.0.2.1'
        base = dict(in_port=number, eth_src=mac)
        for dst, ip, ttl in itertools.product(macs, ips, (64, 1)):
            yield dict(base, eth_dst=dst, eth_type=0x0800, ipv4_src=own, ipv4_dst=ip,
                       ip_proto=6, nw_ttl=ttl)
        for dst in macs:
            yield dict(base, eth_dst=dst, eth_type=0x0800, ipv4_src='198.51.100.66',
                       ipv4_dst=ips[0], ip_proto=6, nw_ttl=64)                 # spoofed IPv4
            yield dict(base, eth_dst=dst, eth_type=0x86dd, ip_proto=58)       # IPv6
            yield dict(base, eth_dst=dst, eth_type=0x88cc)                    # LLDP: other ethertype
            yield dict(base, eth_dst=dst, eth_type=0x0800, ipv4_src=own, ipv4_dst=ips[0],
                       ip_proto=6, nw_ttl=64, tcp_src=4321, tcp_dst=80, tcp_flags=0x10)  # an ACK out of nowhere
            yield dict(base, eth_dst=dst, eth_type=0x0800, vlan_vid=0x1005, ipv4_src=own,
                       ipv4_dst=ips[0], ip_proto=6, nw_ttl=64)                # tagged
            yield dict(base, eth_src=STRANGER_MAC, eth_dst=dst, eth_type=0x0800, ipv4_src=own,
                       ipv4_dst=ips[0], ip_proto=6, nw_ttl=64)                # someone else's MAC
        for spa, tpa in itertools.product((own, '198.51.100.66', '0.0.0.0'), ips):
            yield dict(base, eth_dst=BROADCAST, eth_type=0x0806, arp_op=1, arp_sha=mac,
                       arp_spa=spa, arp_tha='00:00:00:00:00:00', arp_tpa=tpa)
        for src, dst in ((67, 68), (68, 67), (5000, 68)):
            yield dict(base, eth_dst=BROADCAST, eth_type=0x0800, ipv4_src=own,
                       ipv4_dst='255.255.255.255', ip_proto=17, udp_src=src, udp_dst=dst, nw_ttl=64)


def _tunnel_frames(topo, number, macs):
    vnis = sorted({n.vni for n in topo.networks.values()} | {999})
    sources = sorted({str(d.tunnel_ip) for d in topo.datapaths.values() if d.tunnel_ip}
                     | {'198.51.100.7'})
    for vni, source, dst in itertools.product(vnis, sources, macs):
        yield dict(in_port=number, tunnel_id=vni, tun_ipv4_src=source, eth_src=STRANGER_MAC,
                   eth_dst=dst, eth_type=0x0800, ipv4_src='10.9.9.9', ipv4_dst='10.9.9.8',
                   ip_proto=6, nw_ttl=64)


def verdict(switch, frame):
    """(outputs, the steps: (table, flow)) of one frame."""
    steps = []
    out = switch.run(frame, on_step=lambda table, f, pkt: steps.append((table, f)))
    return out, steps


def test_every_drop_verdict_in_the_simulator_comes_from_a_flow_with_a_reason():
    reasons_seen, frames, dropped = set(), 0, 0
    for label, topo, datapath, ports in CASES:
        switch = FakeSwitch.from_state(compile_datapath(topo, datapath, ports))
        for frame in frames_from(topo, datapath, ports):
            frames += 1
            out, steps = verdict(switch, frame)
            assert all(f is not None for _, f in steps), f'{label}: table miss for {frame}'
            last = steps[-1][1]
            if last.drop is not None:
                reasons_seen.add(last.drop)
            if out:
                continue
            dropped += 1
            if last.drop is None:      # only outputs back where it came from (a lone port's flood)
                assert any(isinstance(a, (Output, ToGroup)) for a in last.actions), \
                    f'{label}: {last.describe()} dropped {frame} without a reason'
    assert frames > 10_000 and dropped > 1_000
    assert reasons_seen == set(Drop), f'never seen: {set(Drop) - reasons_seen}'


# -- reason by reason -----------------------------------------------------------

def dropped_for(switch, frame):
    out, steps = verdict(switch, frame)
    assert out == [] or steps[-1][1].drop == Drop.TTL_EXPIRED
    return steps[-1][1].drop


VM1, VM2, VM3 = '52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03'


def ip(in_port, src_mac, src_ip, dst_mac, dst_ip='172.16.1.2', **extra):
    return dict(dict(in_port=in_port, eth_src=src_mac, eth_dst=dst_mac, eth_type=0x0800,
                     ipv4_src=src_ip, ipv4_dst=dst_ip, ip_proto=6, nw_ttl=64), **extra)


@pytest.fixture
def flat():
    return FakeSwitch.from_state(compile_datapath(overlapping(), 'br0', ALL_PORTS))


@pytest.mark.parametrize('frame, reason', [
    (ip(99, VM1, '172.16.1.1', VM2), Drop.UNKNOWN_PORT),
    (ip(1, VM1, '172.16.1.1', VM2, vlan_vid=0x1001), Drop.TAGGED_FRAME),
    (ip(1, VM2, '172.16.1.2', VM2), Drop.SPOOFED_MAC),
    (ip(1, VM1, '172.16.1.99', VM2), Drop.SPOOFED_IPV4),
    (dict(in_port=1, eth_src=VM1, eth_dst=BROADCAST, eth_type=0x0806, arp_op=2, arp_sha=VM1,
          arp_spa='172.16.1.2', arp_tha=VM2, arp_tpa='172.16.1.2'), Drop.SPOOFED_ARP),
    (ip(1, VM1, '172.16.1.1', BROADCAST, '255.255.255.255', ip_proto=17, udp_src=67, udp_dst=68),
     Drop.ROGUE_DHCP),
    (dict(in_port=1, eth_src=VM1, eth_dst=VM2, eth_type=0x88cc), Drop.OTHER_ETHERTYPE),
    (ip(1, VM1, '172.16.1.1', VM3), Drop.UNKNOWN_DESTINATION),     # vm3: same prefix, other network
], ids=lambda v: v.label if isinstance(v, Drop) else '')
def test_each_drop_on_a_vif_names_its_reason(flat, frame, reason):
    assert dropped_for(flat, frame) == reason


GW1, GW2B, A1, B1 = '52:54:00:00:01:fe', '52:54:00:00:02:fd', '52:54:00:00:01:01', '52:54:00:00:02:01'


def test_a_routed_packet_no_route_covers_is_dropped_as_no_route():
    switch = FakeSwitch.from_state(compile_datapath(routed(), 'br0', ROUTED_PORTS))
    # net1's router links only net1 and net2: 10.9.9.9 is no route of rl1
    assert dropped_for(switch, ip(1, A1, '172.16.1.1', GW1, '10.9.9.9')) == Drop.NO_ROUTE


def test_a_routed_packet_with_ttl_1_is_punted_and_counted_as_ttl_expired():
    switch = FakeSwitch.from_state(compile_datapath(routed(), 'br0', ROUTED_PORTS))
    out, steps = verdict(switch, ip(1, A1, '172.16.1.1', GW1, '172.16.2.1', nw_ttl=1))
    assert ports_of(out) == [OFPP_CONTROLLER] and steps[-1][1].drop == Drop.TTL_EXPIRED


def test_a_route_into_a_virtual_network_to_an_address_nobody_has_is_dropped_as_unknown_next_hop():
    switch = FakeSwitch.from_state(compile_datapath(routed(), 'br0', ROUTED_PORTS))
    assert dropped_for(switch, ip(1, A1, '172.16.1.1', GW1, '172.16.2.77')) == Drop.UNKNOWN_NEXT_HOP


def test_a_tunnel_broadcast_for_a_network_with_only_an_uplink_here_is_dropped_by_split_horizon():
    topo = lan_across_two_hosts()
    switch = FakeSwitch.from_state(compile_datapath(topo, 'h1', {'up': 1, 'vxlan0': TUNNEL}))
    frame = dict(in_port=TUNNEL, tunnel_id=110, tun_ipv4_src='198.18.0.2', eth_src=STRANGER_MAC,
                 eth_type=0x0800, ipv4_src='10.0.10.12', ipv4_dst='10.0.10.99', ip_proto=6)
    assert dropped_for(switch, dict(frame, eth_dst=BROADCAST)) == Drop.SPLIT_HORIZON
    assert dropped_for(switch, dict(frame, eth_dst='52:54:00:77:77:77')) == Drop.SPLIT_HORIZON


def test_forged_tunnel_traffic_is_dropped_as_a_bad_tunnel_source():
    topo = three_hosts()
    switch = FakeSwitch.from_state(compile_datapath(topo, 'host2', TUNNEL_PORTS['host2']))
    frame = ip(TUNNEL, STRANGER_MAC, '10.0.1.1', '52:54:00:01:00:02', '10.0.1.2',
               tunnel_id=11, tun_ipv4_src='198.51.100.7')
    assert dropped_for(switch, frame) == Drop.BAD_TUNNEL_SOURCE
    assert dropped_for(switch, dict(frame, vlan_vid=0x1001)) == Drop.BAD_TUNNEL_SOURCE


def test_a_vifs_own_drops_match_its_port_so_their_counters_name_it():
    state = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    per_port = {(f.drop, dict(f.match).get('in_port')) for f in state.flows.values()
                if f.drop in (Drop.SPOOFED_MAC, Drop.SPOOFED_IPV4, Drop.SPOOFED_ARP, Drop.ROGUE_DHCP)}
    assert per_port == {(d, p) for d in (Drop.SPOOFED_MAC, Drop.SPOOFED_IPV4, Drop.SPOOFED_ARP,
                                         Drop.ROGUE_DHCP) for p in ALL_PORTS.values()}


# -- the compiler refuses what would hide a drop ---------------------------------------

def test_a_flow_that_drops_without_a_reason_is_refused_by_the_compiler():
    from controller.pipeline.compiler import _checked
    with pytest.raises(PipelineError, match='needs a Drop reason'):
        _checked([flow(tables.L2, 5, metadata=1)])


@pytest.mark.parametrize('bad', [
    flow(tables.L2, 5, goto=None, drop=Drop.SPOOFED_MAC),            # a classifier reason in l2
    flow(tables.SERVICES, 5, goto=tables.L3, drop=Drop.NO_ROUTE),     # a reason on a flow that goes on
])
def test_a_drop_reason_out_of_place_is_refused_by_the_compiler(bad):
    from controller.pipeline.compiler import _checked
    with pytest.raises(PipelineError, match='drop reason'):
        _checked([bad])


def test_two_flows_that_differ_only_in_their_reason_have_different_cookies():
    a = flow(tables.L2, 0, drop=Drop.UNKNOWN_DESTINATION)
    b = flow(tables.L2, 0, drop=Drop.SPLIT_HORIZON)
    assert a.cookie != b.cookie
    assert (drop_reason(a.cookie), drop_reason(b.cookie)) == (Drop.UNKNOWN_DESTINATION,
                                                              Drop.SPLIT_HORIZON)
    assert drop_reason(flow(tables.L2, 0, (Output(1),)).cookie) is None


@pytest.mark.parametrize('label, topo, datapath, ports', CASES[:3], ids=IDS[:3])
def test_drop_flows_read_back_from_a_switch_are_recognised_and_a_restart_changes_nothing(
        label, topo, datapath, ports):
    """Every flow as an OVS flow-stats entry (match bytes parsed back by
    os-ken, masked vlan_vid included) reads back as installed: no change."""
    from os_ken.ofproto import ofproto_v1_3_parser as parser

    from controller.openflow.readback import key_from_stats
    from controller.openflow.reconcile import Installed, plan_changes
    from tests.osken_reference import match_of
    state = compile_datapath(topo, datapath, ports)
    installed = Installed()
    for cookie, f in state.flows.items():
        buf = bytearray()
        match_of(parser, f.match).serialize(buf, 0)
        stat = parser.OFPFlowStats(table_id=f.table, priority=f.priority, cookie=cookie,
                                   match=parser.OFPMatch.parser(bytes(buf), 0))
        installed.add_flow(stat.cookie, key_from_stats(stat))
        assert installed.flows[cookie] == f.key
    state.groups.clear()
    state.meters.clear()
    assert not plan_changes(state, installed)
