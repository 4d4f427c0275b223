"""The metrics: what the registry exposes agrees with the README's list and
with every query of the Grafana dashboard, and the state and event metrics
read what the app and its sessions really have."""
import functools
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace as NS

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.observe import metrics
from controller.observe.catalogue import CATALOGUE, SPECS
from controller.observe.dropstats import POLL_SECONDS, DropStats
from controller.openflow.reconcile import Installed
from controller.openflow.session import State
from controller.pipeline import compile_datapath
from controller.pipeline.drops import Drop
from controller.services import build_registry
from tests.unit.factories import ALL_PORTS, overlapping

ROOT = Path(__file__).resolve().parents[2]
KIND_IN_TEXT = {'counter': 'counter', 'gauge': 'gauge', 'histogram': 'histogram', 'info': 'gauge'}


class FakeDatapath:
    """What a session's datapath offers: os-ken's real OpenFlow 1.3 classes."""

    def __init__(self, dpid, ports):
        from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser
        self.id, self.ofproto, self.ofproto_parser = dpid, ofproto_v1_3, ofproto_v1_3_parser
        self.ports = {n: NS(port_no=n, name=name.encode(), config=0, state=0 if n != 2 else 1)
                      for name, n in ports.items()}
        self.sent = []

    answer = None                   # a test's switch, answering each request at once

    def send_msg(self, msg):
        msg.serialize()
        self.sent.append(msg)
        if self.answer is not None:
            self.answer(msg)


def fake_session(name='br0', dpid=1):
    state = compile_datapath(overlapping(), name, ALL_PORTS)
    installed = Installed(flows={c: f.key for c, f in state.flows.items()})
    return NS(name=name, dpid=dpid, state=State.READY, changing=False, installed=installed, ports=dict(ALL_PORTS),
              dp=FakeDatapath(dpid, ALL_PORTS)), state


def reply(request, stats, more=False, dp=None):
    flags = 1 if more else 0
    return NS(xid=request.xid, body=stats, flags=flags, datapath=dp)


def stat(cookie, table, packets, nbytes, in_port=None):
    match = {'in_port': in_port} if in_port is not None else {}
    return NS(cookie=cookie, table_id=table, match=match, packet_count=packets, byte_count=nbytes)


@pytest.fixture
def app():
    session, state = fake_session()
    history = NS(revision=3, snapshot=lambda: {'revision': 3, 'changes': [{'digest': 'ab' * 32}]})
    fake = NS(topology=overlapping(), topology_path='topologies/x.yml', sessions={1: session},
              services=build_registry(logging.getLogger('test')), history=history)
    fake.drops = DropStats(lambda: list(fake.sessions.values()))
    fake.state = state
    metrics.bind(fake)
    yield fake
    metrics.bind(None)


def scrape():
    return {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}


def exposed_name(family):
    return family.name + ('_total' if family.type == 'counter' else '')


def last_poll(dp):
    """The aggregate requests (one per drop reason) and the meter-stats request of the last poll."""
    *aggregates, meters = dp.sent[-(len(Drop) + 1):]
    assert [type(a).__name__ for a in aggregates] == ['OFPAggregateStatsRequest'] * len(Drop)
    assert type(meters).__name__ == 'OFPMeterStatsRequest'
    return aggregates, meters


def aggregate(request, packets, nbytes, flows, dp):
    return reply(request, NS(packet_count=packets, byte_count=nbytes, flow_count=flows), dp=dp)


def answer_drops(fake, sums):
    """Answer every aggregate request of the last poll: {Drop: (packets, bytes, flows)}."""
    dp = fake.sessions[1].dp
    aggregates, _ = last_poll(dp)
    for reason, request in zip(Drop, aggregates):
        assert fake.drops.on_reply(aggregate(request, *sums.get(reason, (0, 0, 0)), dp=dp))


def drop_flow(state, reason, in_port=None):
    return next(f for f in state.flows.values()
                if f.drop == reason and dict(f.match).get('in_port') == in_port)


# -- the README and the dashboard agree with the registry ---------------------------------

def readme_metrics():
    text = (ROOT / 'README.md').read_text()
    section = text[text.index('### Metrics and drop counters'):]
    section = section[:section.index('\n## ')]
    rows = re.findall(r'^\| `(vnet_[a-z_]+)` \| (\w+) \|([a-z, ]*)\| (.+) \|$', section, re.M)
    return {name: (kind, tuple(x.strip() for x in labels.split(',') if x.strip()))
            for name, kind, labels, _ in rows}


def test_the_readme_lists_every_metric_the_registry_exposes_and_no_other(app):
    app.drops.request()
    answer_drops(app, {Drop.UNKNOWN_PORT: (1, 60, 1)})
    metrics.reload('applied')
    metrics.port_changed('br0', 'modified')
    metrics.SESSIONS.sent('br0', 3)
    metrics.SESSIONS.applied('br0', 0.002, 3, True, True)
    metrics.SESSIONS.applied('br0', 0.002, 3, False, True)
    exposed = {}
    for family in scrape().values():
        labels = {k for s in family.samples for k in s.labels if k != 'le'}
        assert family.samples, f'{family.name} has no series to check its labels by'
        exposed[exposed_name(family)] = (family.type, labels)
    listed = readme_metrics()
    assert set(listed) == set(exposed), 'README (Operations, Metrics) and the registry differ'
    for name, (kind, labels) in listed.items():
        assert KIND_IN_TEXT[kind] == exposed[name][0], name
        assert set(labels) == exposed[name][1], name
        assert (kind, labels) == (SPECS[name].kind, SPECS[name].labels), name


def test_every_metric_name_follows_prometheus_conventions():
    for spec in CATALOGUE:
        assert spec.name.startswith('vnet_')
        assert spec.name.endswith('_total') == (spec.kind == 'counter'), spec.name
        assert spec.kind != 'info' or spec.name.endswith('_info')
        assert spec.kind != 'histogram' or spec.name.endswith('_seconds')


PROMQL_WORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool',
                'and', 'or', 'unless', 'inf', 'nan'}


def dashboard_queries():
    dash = json.loads((ROOT / 'docs' / 'grafana-dashboard.json').read_text())
    exprs = [t['expr'] for p in dash['panels'] for t in p.get('targets', [])]
    templates = [v['definition'] for v in dash['templating']['list'] if v['type'] == 'query']
    return dash, exprs, templates


def series_names():
    names = {}
    for spec in CATALOGUE:
        if spec.kind == 'histogram':
            for suffix in ('_bucket', '_sum', '_count'):
                names[spec.name + suffix] = spec.labels + (('le',) if suffix == '_bucket' else ())
        else:
            names[spec.name] = spec.labels
    return names


def metric_references(expr):
    """(metric name, label names it selects by) for each series selector in a PromQL expression."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r'\[[^\]]*\]', '', expr)                              # ranges, $__rate_interval
    expr = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', expr)
    for m in re.finditer(r'(?<![\w.$])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*(\()?', expr):
        name, selector, call = m.groups()
        if call or name.lower() in PROMQL_WORDS:
            continue
        labels = re.findall(r'(\w+)\s*(?:=~|!~|!=|=)', selector or '')
        yield name, labels


def test_every_query_of_the_grafana_dashboard_names_a_metric_and_labels_the_registry_has():
    dash, exprs, templates = dashboard_queries()
    known = series_names()
    used = set()
    assert exprs and all(p.get('gridPos') for p in dash['panels'])
    for expr in exprs:
        refs = list(metric_references(expr))
        assert refs, f'no metric in {expr!r}'
        for name, labels in refs:
            assert name in known, f'{name} (in {expr!r}) is no metric of controller.observe'
            assert set(labels) <= set(known[name]), f'{name} has no label {labels} ({expr!r})'
            used.add(name)
    for query in templates:
        name, label = re.fullmatch(r'label_values\((\w+),\s*(\w+)\)', query).groups()
        assert name in known and label in known[name], query
    assert {'vnet_dropped_packets_total', 'vnet_datapath_connected',
            'vnet_apply_duration_seconds_bucket', 'vnet_topology_revision'} <= used


def test_the_promql_reader_finds_misspelt_metrics_and_labels():
    refs = list(metric_references('sum by (reason) (rate(vnet_droped_total{datpath=~"$dp"}[5m]))'))
    assert refs == [('vnet_droped_total', ['datpath'])]


# -- state read from the app -----------------------------------------------------------

def test_state_metrics_show_connected_datapaths_flows_per_table_and_ports(app):
    app.topology = overlapping()
    families = scrape()
    connected = {s.labels['datapath']: s.value for s in families['vnet_datapath_connected'].samples}
    assert connected == {'br0': 1}
    app.sessions.clear()
    assert {s.labels['datapath']: s.value
            for s in scrape()['vnet_datapath_connected'].samples} == {'br0': 0}
    flows = {s.labels['table']: s.value for s in families['vnet_datapath_flows'].samples}
    want = {}
    for f in app.state.flows.values():
        want[str(f.table)] = want.get(str(f.table), 0) + 1
    assert flows == want
    ports = {s.labels['port']: s.value for s in families['vnet_port_up'].samples}
    assert ports == {'p-vm1': 1, 'p-vm2': 0, 'p-vm3': 1, 'p-vm4': 1}     # port 2 has no link
    assert families['vnet_topology_revision'].samples[0].value == 3
    assert families['vnet_topology_info'].samples[0].labels == {'source': 'topologies/x.yml',
                                                                'digest': 'ab' * 32}


def test_packet_ins_and_dhcp_replies_are_counted_by_reason_and_kind(app):
    app.services.counts.update({'DHCP_REQUEST': 5, 'TTL_EXPIRED': 2})
    from controller.pipeline.punt import Reason
    app.services.handler(Reason.DHCP_REQUEST).replies.update({'OFFER': 3, 'ACK': 2})
    families = scrape()
    ins = {s.labels['reason']: s.value for s in families['vnet_packet_ins'].samples}
    assert ins['dhcp_request'] == 5 and ins['ttl_expired'] == 2 and ins['next_hop_unknown'] == 0
    replies = {s.labels['kind']: s.value for s in families['vnet_dhcp_replies'].samples}
    assert replies == {'offer': 3, 'ack': 2, 'nak': 0}


def test_each_datapath_says_whether_its_service_port_answers_and_counts_its_frames(app):
    families = scrape()
    assert {s.labels['datapath']: s.value for s in families['vnet_service_port_open'].samples} == {'br0': 0}
    app.service_ports = NS(open={1: NS(counts={'received': 7, 'answered': 6, 'foreign': 1})})
    families = scrape()
    assert {s.labels['datapath']: s.value for s in families['vnet_service_port_open'].samples} == {'br0': 1}
    frames = {s.labels['result']: s.value for s in families['vnet_service_port_frames'].samples
              if s.name.endswith('_total')}
    assert frames == {'received': 7, 'answered': 6, 'answered_by_device': 0, 'foreign': 1,
                      'truncated': 0, 'send_failed': 0, 'receive_failed': 0, 'failed': 0}


def test_a_session_reports_flow_mods_apply_latency_and_bundles():
    before = scrape()

    def value(families, name, **labels):
        return sum(s.value for s in families[name].samples
                   if s.name.endswith(('_total', '_count')) or s.name == name
                   if all(s.labels.get(k) == v for k, v in labels.items()))
    metrics.SESSIONS.sent('brX', 7)
    metrics.SESSIONS.applied('brX', 0.004, 7, True, True)
    metrics.SESSIONS.applied('brX', 0.004, 7, False, True)
    metrics.SESSIONS.applied('brX', 0.004, 1, True, False)
    after = scrape()
    assert value(after, 'vnet_flow_mods_sent', datapath='brX') == 7
    assert value(after, 'vnet_bundle_commits', datapath='brX') == 1
    assert value(after, 'vnet_bundle_failures', datapath='brX') == 1
    count = [s.value for s in after['vnet_apply_duration_seconds'].samples if s.name.endswith('_count')]
    was = [s.value for s in before['vnet_apply_duration_seconds'].samples if s.name.endswith('_count')]
    assert count[0] - was[0] == 2                    # a refused change has no apply latency


# -- drop counters ---------------------------------------------------------------------

def test_a_poll_asks_each_reason_for_its_sum_in_its_table_selecting_exactly_its_drop_flows(app):
    from controller.pipeline.drops import TABLES
    app.drops.request()
    aggregates, meters = last_poll(app.sessions[1].dp)
    for reason, request in zip(Drop, aggregates):
        assert request.table_id == TABLES[reason] and dict(request.match.items()) == {}
        selected = {c for c, f in app.state.flows.items()
                    if f.table == request.table_id and c & request.cookie_mask == request.cookie}
        assert selected == {c for c, f in app.state.flows.items() if f.drop == reason}
        assert request.cookie_mask & 0xffff800000000000 == 0xffff800000000000    # tag and drop bit
    xids = [r.xid for r in aggregates + [meters]]
    assert min(xids) >= 0xAB000000 and len(set(xids)) == len(xids)
    assert not app.drops.on_reply(NS(xid=7, body=[], flags=0, datapath=None))   # the session's


def test_each_reasons_sum_reaches_the_api_and_the_metrics_with_no_port(app):
    app.drops.request()
    answer_drops(app, {Drop.SPOOFED_IPV4: (5, 500, 4), Drop.UNKNOWN_DESTINATION: (0, 0, 1)})
    rows = {(r['reason'], r['port']): r for r in app.drops.counters.snapshot()}
    assert rows[('spoofed_ipv4', None)]['packets'] == 5
    assert rows[('spoofed_ipv4', None)]['stage'] == 'port security'
    assert rows[('unknown_destination', None)] == {
        'datapath': 'br0', 'dpid': '0x1', 'table': 40, 'stage': 'l2',
        'reason': 'unknown_destination', 'port': None, 'packets': 0, 'bytes': 0}
    assert ('split_horizon', None) not in rows          # no such flows on br0, nothing counted
    json.dumps(app.drops.counters.snapshot())
    packets = {(s.labels['table'], s.labels['reason']): s.value
               for s in scrape()['vnet_dropped_packets'].samples}
    assert packets[('10', 'spoofed_ipv4')] == 5 and packets[('40', 'unknown_destination')] == 0


def test_a_sum_that_falls_is_taken_as_a_reinstall_and_the_total_never_falls():
    from controller.observe.drops import DropCounters
    counters = DropCounters()
    key = ('br0', 10, 'spoofed_ipv4')
    counters.update_sum(1, 'br0', 10, 'spoofed_ipv4', 100, 10_000, 4)
    assert counters.series() == {key: (100, 10_000)}
    counters.update_sum(1, 'br0', 10, 'spoofed_ipv4', 40, 4_000, 3)      # a vif's flows removed
    assert counters.series()[key] == (100, 10_000)                      # held, not a reset
    counters.update_sum(1, 'br0', 10, 'spoofed_ipv4', 55, 5_500, 3)      # grows from there
    assert counters.series()[key] == (115, 11_500)
    counters.update_sum(1, 'br0', 10, 'spoofed_ipv4', 2, 200, 3)         # OVS restarted
    assert counters.series()[key] == (115, 11_500)
    counters.update_sum(1, 'br0', 10, 'spoofed_ipv4', 12, 1_200, 3)
    assert counters.series()[key] == (125, 12_500)
    assert counters.falls(1, 10, 'spoofed_ipv4') == 2
    assert counters.snapshot()[0]['packets'] == 125


def test_what_the_punts_meters_drop_over_their_rate_is_summed_per_reason(app):
    from controller.pipeline.l3 import ttl_meter
    now = [100.0]
    app.drops = DropStats(lambda: list(app.sessions.values()), clock=lambda: now[0])
    app.drops.request()
    dp = app.sessions[1].dp
    _, meters = last_poll(dp)

    body = [meter(2, 30, 10_000), meter(3, 5, 500), meter(ttl_meter(101), 7, 700),
            meter(0xfffffffd, 9, 9)]
    assert app.drops.on_reply(reply(meters, body[:1], more=True, dp=dp))
    assert app.drops.counters.snapshot() == []                  # counted once all parts are in
    assert app.drops.on_reply(reply(meters, body[1:], dp=dp))
    rows = {(r['reason'], r['port']): (r['table'], r['packets']) for r in app.drops.counters.snapshot()}
    assert rows == {('dhcp_rate_limited', None): (10, 35), ('ttl_rate_limited', None): (30, 7)}
    packets = {(s.labels['table'], s.labels['reason']): s.value
               for s in scrape()['vnet_dropped_packets'].samples}
    assert packets[('10', 'dhcp_rate_limited')] == 35
    now[0] += POLL_SECONDS
    app.drops.request()                                         # port 3's meter reinstalled
    _, meters = last_poll(dp)
    assert app.drops.on_reply(reply(meters, [meter(2, 31, 10_100), meter(3, 1, 100)], dp=dp))
    assert app.drops.counters.series()[('br0', 10, 'dhcp_rate_limited')] == (37, 10_700)


def meter(meter_id, packets, nbytes):
    return NS(meter_id=meter_id, band_stats=[NS(packet_band_count=packets, byte_band_count=nbytes)])


def test_a_ports_drops_are_asked_by_its_in_port_and_its_meter_only_when_someone_asks(app):
    session = app.sessions[1]
    session.installed.meters[2] = None                 # p-vm2 has a DHCP meter, p-vm1 none
    dp = session.dp
    spoof, rogue = drop_flow(app.state, Drop.SPOOFED_IPV4, 2), [
        f for f in app.state.flows.values() if f.drop == Drop.ROGUE_DHCP and dict(f.match)['in_port'] == 2]

    def answer(msg):                                    # the switch, answering at once
        if type(msg).__name__ == 'OFPMeterStatsRequest':
            app.drops.on_reply(reply(msg, [meter(2, 6, 600)], dp=dp))
            return
        assert dict(msg.match.items()) == {'in_port': 2}
        assert (msg.cookie, msg.cookie_mask, msg.table_id) == (
            0x766e800000000000, 0xffff800000000000, dp.ofproto.OFPTT_ALL)
        body = [stat(spoof.cookie, 10, 3, 300, 2)] + [stat(f.cookie, 10, 1, 90, 2) for f in rogue]
        app.drops.on_reply(reply(msg, body, dp=dp))
    dp.answer = answer
    rows = app.drops.port_rows('p-vm2', wait=1)
    assert [type(m).__name__ for m in dp.sent] == ['OFPMeterStatsRequest', 'OFPFlowStatsRequest']
    assert dp.sent[0].meter_id == 2
    assert {(r['table'], r['reason'], r['port']): (r['packets'], r['bytes']) for r in rows} == {
        (10, 'spoofed_ipv4', 'p-vm2'): (3, 300), (10, 'rogue_dhcp', 'p-vm2'): (2, 180),
        (10, 'dhcp_rate_limited', 'p-vm2'): (6, 600)}
    assert app.drops.counters.snapshot() == []          # the per-port answer is no poll
    dp.sent.clear()
    dp.answer = lambda msg: app.drops.on_reply(reply(msg, [], dp=dp))
    assert app.drops.port_rows('p-vm1', wait=1) == []
    assert [type(m).__name__ for m in dp.sent] == ['OFPFlowStatsRequest']    # no meter to ask
    assert app.drops.port_rows('p-nowhere', wait=0) is None


def test_a_port_query_the_switch_does_not_answer_in_time_says_which_datapath(app):
    with pytest.raises(TimeoutError, match='br0 did not answer .* port p-vm1'):
        app.drops.port_rows('p-vm1', wait=0.01)


def test_the_api_serves_a_ports_drops_by_port_or_interface_name_and_refuses_unknown_ones(app):
    from controller.api import server
    dp = app.sessions[1].dp
    spoof = drop_flow(app.state, Drop.SPOOFED_IPV4, 1)
    dp.answer = lambda msg: app.drops.on_reply(reply(msg, [stat(spoof.cookie, 10, 4, 400, 1)],
                                                     dp=dp))
    web = server.create_app(app).test_client()
    rows = web.get('/v1/drops?port=p-vm1').get_json()
    assert rows == [{'datapath': 'br0', 'dpid': '0x1', 'table': 10, 'stage': 'port security',
                     'reason': 'spoofed_ipv4', 'port': 'p-vm1', 'packets': 4, 'bytes': 400}]
    assert web.get('/v1/drops?interface=vm1').get_json() == rows
    assert web.get('/v1/drops?port=p-none').status_code == 404
    assert 'no interface named' in web.get('/v1/drops?interface=nope').get_json()['error']
    dp.answer = None
    app.drops.port_rows = functools.partial(DropStats.port_rows, app.drops, wait=0.01)   # no 2 s
    late = web.get('/v1/drops?port=p-vm1')
    assert late.status_code == 504 and 'did not answer' in late.get_json()['error']


def test_reading_drops_asks_the_switches_at_most_once_a_second(app):
    now = [100.0]
    app.drops = DropStats(lambda: list(app.sessions.values()), clock=lambda: now[0])
    dp = app.sessions[1].dp
    per_poll = len(Drop) + 1                   # one aggregate per reason, one meter-stats request
    app.drops.refresh(wait=0)
    app.drops.refresh(wait=0)
    assert len(dp.sent) == per_poll
    now[0] += 1.5
    app.drops.refresh(wait=0)
    assert len(dp.sent) == 2 * per_poll - 1    # the meters (no aggregate) wait for their period
    app.sessions[1].state = State.CLOSED
    now[0] += 1.5
    app.drops.refresh(wait=0)
    assert len(dp.sent) == 2 * per_poll - 1    # a closed session is not asked


def test_the_meters_are_read_at_most_once_per_poll_period(app):
    now = [100.0]
    app.drops = DropStats(lambda: list(app.sessions.values()), clock=lambda: now[0])
    dp = app.sessions[1].dp

    def meter_requests():
        return sum(type(m).__name__ == 'OFPMeterStatsRequest' for m in dp.sent)
    for _ in range(4):
        app.drops.refresh(wait=0)
        now[0] += 1.5
    assert meter_requests() == 1
    now[0] += POLL_SECONDS
    app.drops.refresh(wait=0)
    assert meter_requests() == 2


def test_a_switch_being_programmed_is_not_asked_for_counters_until_its_change_is_confirmed(app):
    now = [100.0]
    app.drops = DropStats(lambda: list(app.sessions.values()), clock=lambda: now[0])
    dp = app.sessions[1].dp
    app.sessions[1].changing = True
    app.drops.refresh(wait=0)
    assert dp.sent == []
    app.sessions[1].changing = False
    now[0] += 1.5
    app.drops.refresh(wait=0)
    assert len(dp.sent) == len(Drop) + 1


# -- what a real session reports ------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.events = []

    def sent(self, datapath, flow_mods):
        self.events.append(('sent', datapath, flow_mods))

    def applied(self, datapath, seconds, messages, ok, bundled):
        self.events.append(('applied', datapath, messages, ok, bundled))


def observed_session(use_bundles=True):
    from controller.openflow.session import SwitchSession
    from tests.unit.test_switch_session import RecordingDatapath
    dp, observer = RecordingDatapath(), Recorder()
    session = SwitchSession(dp, 'br0', logging.getLogger('test'), use_bundles=use_bundles,
                            observer=observer)
    session.state = State.READY
    return dp, session, observer


def test_a_session_reports_its_flow_mods_and_the_committed_bundle_once_confirmed():
    from tests.unit.test_switch_session import Reply
    dp, session, observer = observed_session()
    plan = session.sync(overlapping(), 'connected')
    assert observer.events == [('sent', 'br0', len(plan.flow_adds))]
    session.on_barrier(Reply(dp.sent[-1].xid))          # every part accepted: commit
    assert len(observer.events) == 1                     # not applied until the commit is confirmed
    session.on_barrier(Reply(dp.sent[-1].xid))
    assert observer.events[1] == ('applied', 'br0', len(plan), True, True)


def test_a_session_reports_a_refused_bundle_as_not_applied():
    from tests.unit.test_switch_session import Reply
    dp, session, observer = observed_session()
    session.sync(overlapping(), 'connected')
    adds = [m for m in dp.sent if m.name == 'ONFBundleAddMsg']
    session.on_error(Reply(adds[0].xid))
    session.on_barrier(Reply(dp.sent[-1].xid))
    assert observer.events[-1][3:] == (False, True)


def test_without_bundles_a_change_is_reported_applied_but_not_as_a_bundle():
    from tests.unit.test_switch_session import Reply
    dp, session, observer = observed_session(use_bundles=False)
    session.sync(overlapping(), 'connected')
    session.on_barrier(Reply(dp.sent[-1].xid))
    assert observer.events[-1][3:] == (True, False)


def test_scrapes_within_a_second_share_one_render_and_a_later_one_renders_afresh():
    from controller.observe.metrics import RenderCache
    now, renders = [10.0], []

    def render():
        renders.append(now[0])
        return f'vnet_x {len(renders)}\n'.encode()
    cache = RenderCache(max_age=1.0, clock=lambda: now[0], render=render)
    assert cache.body() == b'vnet_x 1\n'
    now[0] += 0.5
    assert cache.body() == b'vnet_x 1\n' and renders == [10.0]
    now[0] += 0.6
    assert cache.body() == b'vnet_x 2\n'
    sent = []
    body = cache({}, lambda status, headers: sent.append((status, dict(headers))))
    assert body == [b'vnet_x 2\n'] and sent[0][0] == '200 OK'
    assert sent[0][1]['Content-Type'].startswith('text/plain; version=0.0.4')
