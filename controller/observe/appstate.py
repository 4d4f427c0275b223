"""The state metrics, read from the running app at each scrape.

The scrape runs on an HTTP thread while the app's event thread changes its
sessions, so each dict of the app is copied (`list(d.items())`, one C call
under the GIL) before it is iterated.  Every family is yielded even when it
has no series yet, and label values that are known in advance (tables,
punt reasons, DHCP kinds) start at 0, so a dashboard shows 0, not "no data".
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from controller.observe.catalogue import SPECS
from controller.pipeline import tables
from controller.pipeline.punt import Reason
from controller.services.dns import RESULTS as DNS_RESULTS

OFPPC_PORT_DOWN = 1 << 0      # port config: administratively down
OFPPS_LINK_DOWN = 1 << 0      # port state: no link
DHCP_KINDS = ('OFFER', 'ACK', 'NAK')


def _family(name: str):
    spec = SPECS[name]
    if spec.kind == 'counter':
        return CounterMetricFamily(name, spec.help, labels=spec.labels)
    if spec.kind == 'info':
        return InfoMetricFamily(name.removesuffix('_info'), spec.help, labels=())
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


SERVICE_PORT_RESULTS = ('received', 'answered', 'answered_by_device', 'foreign', 'truncated',
                        'send_failed', 'receive_failed', 'failed')


def collect(app: Any) -> Iterator[Metric]:
    sessions = {s.name: s for s in list(app.sessions.values())}
    yield from _datapaths(app, sessions)
    yield from _service_ports(app, sessions)
    yield from _topology(app)
    yield from _services(app)
    yield from _drops(app)


def _datapaths(app: Any, sessions: Dict[str, Any]):
    connected = _family('vnet_datapath_connected')
    flows = _family('vnet_datapath_flows')
    ports = _family('vnet_port_up')
    for name in sorted(set(app.topology.datapaths) | set(sessions)):
        connected.add_metric([name], 1 if name in sessions else 0)
    for name, session in sorted(sessions.items()):
        per_table = Counter(key[0] for key in list(session.installed.flows.values()))
        for table in sorted(set(tables.BY_TABLE) | set(per_table)):
            flows.add_metric([name, str(table)], per_table.get(table, 0))
        for port in sorted(list(session.dp.ports.values()), key=lambda p: p.port_no):
            ports.add_metric([name, _port_name(port)], 1 if port_up(port) else 0)
    yield from (connected, flows, ports)


def _service_ports(app: Any, sessions: Dict[str, Any]):
    is_open = _family('vnet_service_port_open')
    frames = _family('vnet_service_port_frames_total')
    ports = getattr(app, 'service_ports', None)
    opened = dict(ports.open) if ports is not None else {}
    for name, session in sorted(sessions.items()):
        port = opened.get(session.dpid)
        is_open.add_metric([name], 1 if port is not None else 0)
        counts = dict(port.counts) if port is not None else {}
        for result in sorted(set(SERVICE_PORT_RESULTS) | set(counts)):
            frames.add_metric([name, result], counts.get(result, 0))
    yield from (is_open, frames)


def _port_name(port) -> str:
    name = port.name
    return name.split(b'\0', 1)[0].decode('utf-8', 'replace') if isinstance(name, bytes) else name


def port_up(port) -> bool:
    return not (port.config & OFPPC_PORT_DOWN) and not (port.state & OFPPS_LINK_DOWN)


def _topology(app: Any):
    revision = _family('vnet_topology_revision')
    info = _family('vnet_topology_info')
    history = getattr(app, 'history', None)
    snapshot = history.snapshot() if history is not None else {'revision': 0, 'changes': []}
    revision.add_metric([], snapshot['revision'])
    changes = snapshot['changes']
    digest = changes[-1]['digest'] if changes else None
    source = getattr(getattr(app, 'source', None), 'name', None) or app.topology_path
    info.add_metric([], {'source': str(source), 'digest': digest or ''})
    yield from (revision, info)


def _services(app: Any):
    packet_ins = _family('vnet_packet_ins_total')
    counts = dict(app.services.counts)
    for name in sorted(set(r.name for r in Reason) | set(counts)):
        packet_ins.add_metric([name.lower()], counts.get(name, 0))
    replies = _family('vnet_dhcp_replies_total')
    dhcp = app.services.handler(Reason.DHCP_REQUEST)
    sent = dict(getattr(dhcp, 'replies', {}))
    for kind in sorted(set(DHCP_KINDS) | set(sent)):
        replies.add_metric([kind.lower()], sent.get(kind, 0))
    queries = _family('vnet_dns_queries_total')
    dns = app.services.handler(Reason.DNS_QUERY)
    answered = getattr(dns, 'counts', {})
    for result in sorted(set(DNS_RESULTS) | set(answered)):
        queries.add_metric([result], answered.get(result, 0))
    yield from (packet_ins, replies, queries)


def _drops(app: Any):
    packets = _family('vnet_dropped_packets_total')
    nbytes = _family('vnet_dropped_bytes_total')
    drops = getattr(app, 'drops', None)
    series = drops.series() if drops is not None else {}
    for (datapath, table, reason), (n_packets, n_bytes) in sorted(series.items()):
        packets.add_metric([datapath, str(table), reason], n_packets)
        nbytes.add_metric([datapath, str(table), reason], n_bytes)
    yield from (packets, nbytes)
