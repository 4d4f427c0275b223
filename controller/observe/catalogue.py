"""The one list of the controller's metrics: name as exposed, type, labels, help.

The README's list (Operations, Metrics) and the Grafana dashboard's queries
are tested against it, and it against what the registry exposes
(tests/unit/test_metrics_registry.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Spec:
    name: str                    # as exposed: counters end in _total, the info metric in _info
    kind: str                    # counter | gauge | histogram | info
    labels: Tuple[str, ...]
    help: str


DP = ('datapath',)
CATALOGUE = (
    Spec('vnet_datapath_connected', 'gauge', DP,
         '1 while the datapath is connected, 0 while it is not (every datapath of the topology)'),
    Spec('vnet_datapath_flows', 'gauge', DP + ('table',),
         'our flows installed on the datapath, per table'),
    Spec('vnet_port_up', 'gauge', DP + ('port',),
         '1 if the port has link and is not administratively down, else 0 (every port of a '
         'connected datapath)'),
    Spec('vnet_port_status_changes_total', 'counter', DP + ('change',),
         'port status messages from the switch: added, deleted, modified (link up/down)'),
    Spec('vnet_flow_mods_sent_total', 'counter', DP,
         'flow-mods sent to the datapath (adds and deletes, learned next hops included)'),
    Spec('vnet_bundle_commits_total', 'counter', DP,
         'bundles the datapath committed'),
    Spec('vnet_bundle_failures_total', 'counter', DP,
         'bundles the datapath refused (discarded, nothing of them applied)'),
    Spec('vnet_apply_duration_seconds', 'histogram', (),
         'from sending a change to a datapath until the switch confirmed it'),
    Spec('vnet_topology_reloads_total', 'counter', ('result',),
         'new topology content read: applied, unchanged (valid, but no datapath changes) or '
         'refused (invalid; the last good topology keeps running)'),
    Spec('vnet_topology_revision', 'gauge', (),
         'the running topology\'s revision: 1 at start, +1 per applied change'),
    Spec('vnet_topology_info', 'info', ('source', 'digest'),
         'the running topology: where it comes from and the SHA-256 of its content'),
    Spec('vnet_packet_ins_total', 'counter', ('reason',),
         'packets the switches sent to the controller (by packet-in or through a service port), '
         'by the punt reason of their flow'),
    Spec('vnet_service_port_open', 'gauge', DP,
         '1 while the controller answers DHCP and DNS on the datapath\'s service port, else 0 '
         '(packet-ins)'),
    Spec('vnet_service_port_frames_total', 'counter', DP + ('result',),
         'frames on service ports: received, answered (answered_by_device: of them, out of the '
         'requesting port\'s own device), foreign (no service MAC or unknown port), truncated '
         '(longer than a ring slot), send_failed, receive_failed, failed (a service raised)'),
    Spec('vnet_dhcp_replies_total', 'counter', ('kind',),
         'DHCP replies sent: offer, ack, nak'),
    Spec('vnet_dns_queries_total', 'counter', ('result',),
         'queries to dns interfaces, by result: answer, nodata, nxdomain, refused, forwarded, '
         'servfail, formerr, notimp, malformed, stale'),
    Spec('vnet_dropped_packets_total', 'counter', DP + ('table', 'reason'),
         'packets dropped by the datapath\'s drop flows (and punt meters), by table and reason'),
    Spec('vnet_dropped_bytes_total', 'counter', DP + ('table', 'reason'),
         'bytes dropped by the datapath\'s drop flows (and punt meters), by table and reason'),
)
SPECS = {s.name: s for s in CATALOGUE}
