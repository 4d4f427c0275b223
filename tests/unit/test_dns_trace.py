"""vnetctl trace --dns: a query to the network's dns interface, traced to the controller."""

from tests.unit.cli_run import vnetctl
from tests.unit.test_dns_service import TOPOLOGY


def test_a_dns_query_is_traced_to_the_controller_with_its_punt_reason_and_the_dns_interface(tmp_path):
    path = tmp_path / 't.yml'
    path.write_text(TOPOLOGY)
    status, out = vnetctl('trace', path, '--from', 'vm1', '--dns')
    assert status == 0, out
    assert out.startswith('DNS query 172.16.1.1 -> 172.16.1.53 port 53 from vm1, to dns interface dns1')
    assert 'interfaces.dns1.services' in out
    assert out.splitlines()[-1].startswith('verdict: sent to the controller from br0 (punt reason '
                                           'DNS_QUERY (5): a DNS query, answered by the dns service')


def test_tracing_a_dns_query_in_a_network_without_a_dns_interface_is_a_usage_error(tmp_path):
    path = tmp_path / 't.yml'
    path.write_text(TOPOLOGY.replace('services: [dns]', 'services: [router]')
                    .replace('    domain_name: net2.internal\n', ''))
    status, out = vnetctl('trace', path, '--from', 'vm2', '--dns')
    assert status == 2
    assert 'network net2 of vm2 has no interface with the dns service' in out
