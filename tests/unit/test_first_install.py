"""A first install streamed into its bundle while it compiles, and cookies
that are the same in every process."""
import logging
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.openflow import firstinstall
from controller.openflow.reconcile import Installed
from controller.openflow.session import State, SwitchSession
from controller.pipeline import Compiler, compiler
from controller.pipeline.flows import Flow, Output, SetField, flow
from tests.unit.factories import net, sim, topology, vif

BUNDLE_ADD, BUNDLE_CTRL = 2301, 2300


def dhcp_topology(n=24):
    """Two networks, one with a DHCP service (so ports have meters), n vifs."""
    vifs = [vif(f'v{i}', 'a' if i % 2 else 'b', '52:54:00:00:%02x:%02x' % (i >> 8, i & 255),
                f'10.{i % 2}.0.{i + 1}', port=f'p{i}') for i in range(1, n + 1)]
    sims = [sim('gw-a', 'a', '52:54:00:ff:00:01', '10.1.0.254'),
            sim('dhcp-a', 'a', '52:54:00:ff:00:02', '10.1.0.253', services=('dhcp',))]
    topo = topology([net('a', '10.1.0.0/24', 7), net('b', '10.0.0.0/24', 8)], vifs + sims)
    return topo, {f'p{i}': i for i in range(1, n + 1)}


class Port:
    def __init__(self, no, name):
        self.port_no, self.name = no, name.encode()


class WireDatapath:
    """Keeps every write, and how far the compile was when it came."""
    ofproto, ofproto_parser, id = ofp, parser, 1

    def __init__(self, ports):
        self.xid, self.writes, self.parts_built = 0, [], 0
        self.ports = {no: Port(no, name) for name, no in ports.items()}

    def send(self, buf):
        self.writes.append((self.parts_built, bytes(buf)))

    def messages(self):
        """Every message sent, its xids zeroed (the inner one of a bundle add too)."""
        out = []
        for _, buf in self.writes:
            at = 0
            while at < len(buf):
                length = struct.unpack_from('!H', buf, at + 2)[0]
                msg = bytearray(buf[at:at + length])
                msg[4:8] = bytes(4)
                if _experimenter(msg) == BUNDLE_ADD:
                    msg[28:32] = bytes(4)
                out.append(bytes(msg))
                at += length
        return out


def _experimenter(msg):
    return struct.unpack_from('!I', msg, 12)[0] if msg[1] == ofp.OFPT_EXPERIMENTER else None


def _ctrl(msg):
    return struct.unpack_from('!IH', msg, 16) if _experimenter(msg) == BUNDLE_CTRL else None


@pytest.fixture
def small_chunks(monkeypatch):
    """Many chunks and many writes, even for a small topology."""
    monkeypatch.setattr(compiler, 'SINK_CHUNK', 5)
    monkeypatch.setattr(firstinstall, 'FLUSH_BYTES', 1)


def session_on(ports, stream=True, counting=None):
    dp = WireDatapath(ports)
    session = SwitchSession(dp, 'br0', logging.getLogger('test'), compiler=counting)
    session.state = State.READY
    if not stream:
        session._first_install = lambda: None
    return dp, session


class CountingCompiler(Compiler):
    """Tells the datapath how many ports' flows it has built so far."""

    def __init__(self, dp_ref):
        super().__init__()
        self.dp_ref = dp_ref

    def _port_part(self, *args):
        self.dp_ref[0].parts_built += 1
        return super()._port_part(*args)


def test_a_first_install_streamed_while_compiling_sends_exactly_the_messages_of_one_planned_after(
        small_chunks):
    topo, ports = dhcp_topology()
    ref = [None]
    dp, session = session_on(ports, counting=CountingCompiler(ref))
    ref[0] = dp
    streamed_plan = session.sync(topo, 'connected')
    planned_dp, planned_session = session_on(ports, stream=False)
    planned_plan = planned_session.sync(topo, 'connected')
    assert dp.messages() == planned_dp.messages()
    assert len(streamed_plan) == len(planned_plan)
    # on its way while the compile was still running: most writes came before the last port
    assert len(dp.writes) > 10 and len(planned_dp.writes) == 1
    assert sum(built < len(ports) for built, _ in dp.writes) > len(dp.writes) // 2


def test_meters_go_before_the_bundle_and_the_bundle_is_committed_only_after_its_barrier(small_chunks):
    topo, ports = dhcp_topology()
    dp, session = session_on(ports)
    session.sync(topo, 'connected')
    msgs = dp.messages()
    kinds = [m[1] for m in msgs]
    opened = next(i for i, m in enumerate(msgs) if _ctrl(m) and _ctrl(m)[1] == ofp.ONF_BCT_OPEN_REQUEST)
    assert kinds[:opened] == [ofp.OFPT_METER_MOD] * opened
    assert opened == len(Compiler().compile(topo, 'br0', ports).meters) >= len(ports) // 2
    assert all(_experimenter(m) == BUNDLE_ADD for m in msgs[opened + 1:-1])
    assert kinds[-1] == ofp.OFPT_BARRIER_REQUEST
    dp.writes.clear()
    session.on_barrier(type('Reply', (), {'xid': dp.xid})())
    assert _ctrl(dp.messages()[0])[1] == ofp.ONF_BCT_COMMIT_REQUEST


def test_after_a_streamed_install_the_session_knows_exactly_what_it_installed():
    topo, ports = dhcp_topology()
    dp, session = session_on(ports)
    session.sync(topo, 'connected')
    desired = Compiler().compile(topo, 'br0', ports)
    assert session.installed.flows == {c: f.key for c, f in desired.flows.items()}
    assert (session.installed.groups, session.installed.meters) == (desired.groups, desired.meters)
    dp.writes.clear()
    assert len(session.sync(topo, 'connected')) == 0 and dp.writes == []


def test_flows_the_stream_missed_still_go_into_the_same_bundle_before_its_barrier(monkeypatch):
    topo, ports = dhcp_topology()
    real = firstinstall.FirstInstall.flows

    def lossy(self, flows):
        real(self, dict(list(flows.items())[1:]))          # every chunk loses its first flow
    monkeypatch.setattr(firstinstall.FirstInstall, 'flows', lossy)
    dp, session = session_on(ports)
    plan = session.sync(topo, 'connected')
    planned_dp, planned_session = session_on(ports, stream=False)
    planned_session.sync(topo, 'connected')
    assert sorted(dp.messages()) == sorted(planned_dp.messages())
    assert dp.messages()[-1][1] == ofp.OFPT_BARRIER_REQUEST
    assert len(plan.flow_adds) == len(Compiler().compile(topo, 'br0', ports).flows)


def test_a_compile_that_fails_halfway_discards_the_bundle_it_opened(small_chunks, monkeypatch):
    topo, ports = dhcp_topology()
    real, calls = Compiler._port_part, []

    def failing(self, *args):
        calls.append(1)
        if len(calls) == 10:
            raise RuntimeError('a bug in a stage')
        return real(self, *args)
    monkeypatch.setattr(Compiler, '_port_part', failing)
    dp, session = session_on(ports)
    with pytest.raises(RuntimeError):
        session.sync(topo, 'connected')
    controls = [_ctrl(m) for m in dp.messages() if _ctrl(m)]
    assert [c[1] for c in controls] == [ofp.ONF_BCT_OPEN_REQUEST, ofp.ONF_BCT_DISCARD_REQUEST]
    assert controls[0][0] == controls[1][0]                 # the same bundle


def test_every_bundle_add_is_known_by_its_xid_even_where_the_counter_wraps(small_chunks):
    topo, ports = dhcp_topology()
    dp, session = session_on(ports)
    dp.xid = (1 << 32) - 40
    session.sync(topo, 'connected')
    sent = []
    for _, buf in dp.writes:
        at = 0
        while at < len(buf):
            length, xid = struct.unpack_from('!HI', buf, at + 2)
            if _experimenter(buf[at:at + 24]) == BUNDLE_ADD:
                assert struct.unpack_from('!I', buf, at + 28)[0] == xid      # the inner one too
                sent.append(xid)
            at += length
    (staged,) = session._staged.values()
    assert sorted(staged.add_xids) == sorted(sent) and len(set(sent)) == len(sent)
    assert min(sent) < 40 < (1 << 32) - 40 < max(sent)


def test_a_switch_with_something_of_ours_is_planned_in_full_not_streamed(small_chunks):
    topo, ports = dhcp_topology()
    dp, session = session_on(ports)
    session.installed.meters[1] = None                      # read back, not one we could make
    session.sync(topo, 'connected')
    assert len(dp.writes) == 1


def test_without_bundles_a_first_install_is_not_streamed(small_chunks):
    topo, ports = dhcp_topology()
    dp = WireDatapath(ports)
    session = SwitchSession(dp, 'br0', logging.getLogger('test'), use_bundles=False)
    session.state = State.READY
    session.sync(topo, 'connected')
    assert len(dp.writes) == 1 and not any(_experimenter(m) for m in dp.messages())


class RecordingSink:
    def __init__(self):
        self.meters = self.groups = None
        self.received = []

    def begin(self, meters, groups):
        assert not self.received
        self.meters, self.groups = dict(meters), dict(groups)

    def flows(self, flows):
        self.received.extend(flows.items())


@pytest.mark.parametrize('n', [0, 1, 7, 40])
def test_a_compiles_sink_gets_every_meter_and_group_first_then_every_flow_in_order(n, small_chunks):
    topo, ports = dhcp_topology(n)
    sink = RecordingSink()
    state = Compiler().compile(topo, 'br0', ports, sink)
    assert sink.meters == state.meters and sink.groups == state.groups
    assert dict(sink.received) == state.flows
    assert [c for c, _ in sink.received] == list(state.flows)


def test_a_patched_compile_hands_nothing_to_a_sink():
    topo, ports = dhcp_topology()
    compiler_ = Compiler()
    compiler_.compile(topo, 'br0', ports)
    sink = RecordingSink()
    compiler_.compile(topo, 'br0', ports, sink)
    assert sink.meters is None


keys = st.tuples(st.integers(0, 3), st.integers(0, 3), st.just(()))


@given(st.lists(st.integers(0, 6), max_size=12), st.lists(keys, min_size=7, max_size=7))
def test_adding_many_flows_at_once_is_adding_them_one_by_one(cookies, key_of):
    pairs = [(c, key_of[c]) for c in cookies]       # a cookie fingerprints its key too
    one, many = Installed(), Installed()
    for cookie, key in pairs:
        one.add_flow(cookie, key)
    many.add_flows([c for c, _ in pairs], [k for _, k in pairs])
    assert (one.flows, one._by_key) == (many.flows, many._by_key)


# -- cookies -------------------------------------------------------------------
FLOWS = [
    flow(0, 100, goto=10, write_metadata=(7, 0xffffff), in_port=3, eth_src='52:54:00:00:00:01'),
    flow(40, 50, (Output(2), SetField('tunnel_id', 0x1131)), metadata=7, eth_dst=(1 << 40, 1 << 40)),
    flow(10, 110, drop=5, in_port=8, eth_type=0x800, ip_proto=17, udp_src=67),
    flow(10, 120, (Output(0xfffffffd),), meter=3, in_port=3, arp_spa='10.0.0.1'),
]


def test_a_flows_cookie_is_the_same_in_another_process_whatever_its_hash_seed():
    code = ('from tests.unit.test_first_install import FLOWS; '
            'print(" ".join(hex(f.cookie) for f in FLOWS))')
    here = ' '.join(hex(f.cookie) for f in FLOWS)
    for seed in ('1', '4242'):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                             text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                                 os.path.dirname(os.path.abspath(__file__))))).stdout.split()
        assert out == here.split()


def test_cookies_are_pinned_so_that_a_change_to_them_is_deliberate():
    # Changing how cookies are computed makes a restarted controller replace
    # every flow once (README, "Upgrades"): update these only on purpose.
    assert [hex(f.cookie) for f in FLOWS] == PINNED


PINNED = ['0x766e6bb5b249beb0', '0x766e78250d625bbc', '0x766e85ed34808d10', '0x766e290ea027144d']


def test_every_part_of_a_flow_changes_its_cookie():
    base = FLOWS[1]
    variants = [base._replace(table=41), base._replace(priority=51),
                base._replace(match=(('metadata', 8),)), base._replace(actions=(Output(3),)),
                base._replace(goto=50), base._replace(write_metadata=(1, 1)),
                base._replace(meter=4), base._replace(drop=2)]
    assert len({f.cookie for f in variants + [base]}) == len(variants) + 1


def test_a_value_marshal_cannot_write_still_gets_a_stable_cookie():
    import ipaddress
    odd = Flow(0, 1, (('ipv4_dst', ipaddress.IPv4Address('10.0.0.1')),))
    assert odd.cookie == Flow(0, 1, (('ipv4_dst', ipaddress.IPv4Address('10.0.0.1')),)).cookie
    assert odd.cookie != Flow(0, 1, (('ipv4_dst', '10.0.0.1'),)).cookie


def test_after_an_upgrade_that_changed_every_cookie_each_flow_is_replaced_by_an_add_and_none_deleted():
    from controller.openflow.reconcile import plan_changes
    topo, ports = dhcp_topology()
    desired = Compiler().compile(topo, 'br0', ports)
    old = Installed(flows={c ^ 1: f.key for c, f in desired.flows.items()},   # other cookies
                    groups=dict(desired.groups), meters=dict(desired.meters))
    plan = plan_changes(desired, old)
    assert sorted(plan.add_cookies) == sorted(desired.flows)
    assert plan.flow_deletes == [] and len(plan) == len(desired.flows)
    old.apply(plan)
    assert old.flows == {c: f.key for c, f in desired.flows.items()}
