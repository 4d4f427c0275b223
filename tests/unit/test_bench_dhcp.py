"""bench.dhcp's pure parts: the frames of the load generator, a DORA against a
fake server over socket pairs, the summary, targets and table, the topology
and the command line."""
import socket
import threading

import pytest
import yaml

from bench.dhcp import sides
from bench.dhcp.cli import parse_args
from bench.dhcp.loadgen import LoadGenerator, RoundResult, patch_xid, quick_reply, template
from bench.dhcp.report import ratios, summarize, table, targets
from controller.packets import dhcp as p
from controller.topology.validate import validate_text

MAC, IP, SERVER = '52:54:00:bd:00:07', '10.77.0.8', '10.77.255.253'


def reply(request_frame, message_type, yiaddr=IP, server=SERVER):
    request = p.parse(request_frame)
    return p.build_reply(request, message_type, yiaddr=yiaddr, server_mac=sides.SERVER_MAC,
                         server_ip=server, dst_mac=request.chaddr, dst_ip='255.255.255.255',
                         options=[(p.OPT_SERVER_ID, socket.inet_aton(server))])


# -- frames ----------------------------------------------------------------------------

def test_patching_the_xid_gives_the_frame_built_with_that_xid_checksum_included():
    base = template(p.build_request(p.REQUEST, 0, MAC, requested_ip=IP, server_id=SERVER))
    for xid in (1, 0x9e3779b1, 0xffffffff, 0xffff0000):
        patched = patch_xid(base, xid)
        assert patched == p.build_request(p.REQUEST, xid, MAC, requested_ip=IP, server_id=SERVER)
        assert p.checksums_ok(patched)


def test_the_quick_parse_reads_xid_type_address_and_server_of_a_reply():
    offer = reply(p.build_request(p.DISCOVER, 0x1234, MAC), p.OFFER)
    assert quick_reply(offer) == (0x1234, p.OFFER, socket.inet_aton(IP), socket.inet_aton(SERVER))


def test_the_quick_parse_ignores_requests_and_truncated_frames():
    discover = p.build_request(p.DISCOVER, 0x1234, MAC)
    assert quick_reply(discover) is None
    assert quick_reply(reply(discover, p.ACK)[:200]) is None


# -- a DORA against a fake server --------------------------------------------------------

def serve(sock, stop, wrong_address=False):
    """Answer DISCOVER with OFFER and REQUEST with ACK, like a DHCP server."""
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            frame = sock.recv(2048)
        except socket.timeout:
            continue
        msg = p.parse(frame)
        answer = p.OFFER if msg.message_type == p.DISCOVER else p.ACK
        sock.send(reply(frame, answer, yiaddr='10.77.9.9' if wrong_address else IP))


@pytest.mark.parametrize('wrong_address', [False, True])
def test_the_load_generator_completes_doras_and_counts_wrong_addresses(wrong_address):
    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    client.setblocking(False)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(server, stop, wrong_address))
    thread.start()
    gen = LoadGenerator([client], [MAC], [IP], SERVER)
    try:
        warm = gen.warm_up(2.0, 0.5)
        result = gen.run('ours', 0.2, concurrency=4, timeout=0.5)
    finally:
        stop.set()
        thread.join()
        gen.close()
        server.close()
    assert (warm['done'], warm['offers'], warm['acks'], warm['bad_checksums']) == (1, 1, 1, 0)
    assert result.completed > 0 and result.timeouts == 0 and result.naks == 0
    assert result.in_window <= result.started
    assert all(0 < t < 0.5 for t in result.latencies)
    assert result.wrong == (2 * result.completed if wrong_address else 0)


# -- summary, targets, table ------------------------------------------------------------

def round_result(latencies_ms, window=1.0, in_window=None, timeouts=0):
    return RoundResult('x', window, [ms / 1e3 for ms in latencies_ms], window=window,
                       in_window=len(latencies_ms) if in_window is None else in_window,
                       timeouts=timeouts)


def side(rate_latencies, one_latencies, note=None):
    return summarize([round_result(rate_latencies)], [round_result(one_latencies, window=0.5)],
                     {'clients': 4, 'done': 4}, note)


def test_a_side_summary_has_the_rate_in_the_window_and_nearest_rank_percentiles():
    s = summarize([round_result([1, 2, 3, 4], in_window=3), round_result([5, 6])],
                  [round_result([1.5, 0.5], window=0.5, timeouts=1)], {}, None)
    assert (s['status'], s['transactions'], s['seconds'], s['rate']) == ('ok', 6, 2.0, 2.5)
    assert (s['p50_ms'], s['p99_ms'], s['max_ms']) == (3.0, 6.0, 6.0)
    assert s['round_rates'] == [3.0, 2.0]
    assert s['one_at_a_time'] == {'transactions': 2, 'rate': 4.0, 'p50_ms': 0.5, 'p99_ms': 1.5,
                                  'max_ms': 1.5}
    assert s['timeouts'] == 1


def test_a_side_that_was_not_measured_has_no_answers_and_says_why():
    s = summarize([], [], {}, 'controller did not start')
    assert (s['status'], s['note'], s['rate'], s['p99_ms']) == ('no answers', 'controller did not start',
                                                                0.0, None)


def test_ours_meets_its_targets_when_as_fast_as_dnsmasq_and_quick_one_at_a_time():
    o, d = side([1, 2, 3], [1, 2]), side([1, 2], [1, 2])
    assert {name: t['met'] for name, t in targets(o, d, 16).items()} == {
        'ours rate >= dnsmasq rate': True, 'ours p99 < 5 ms': True}
    assert ratios(o, d)['rate'] == 1.5


def test_ours_misses_when_slower_than_dnsmasq_or_slow_one_at_a_time():
    o, d = side([1], [1, 9]), side([1, 2], [1, 2])
    assert {name: t['met'] for name, t in targets(o, d, 16).items()} == {
        'ours rate >= dnsmasq rate': False, 'ours p99 < 5 ms': False}


def test_a_target_cannot_be_judged_without_dnsmasq_answers_or_without_unloaded_rounds():
    o, silent = side([1], [1]), side([], [], note='dnsmasq gave nothing')
    assert targets(o, silent, 16)['ours rate >= dnsmasq rate'] == {
        'met': None, 'detail': 'dnsmasq gave no answers'}
    unloaded = summarize([round_result([1])], [], {}, None)
    assert targets(unloaded, None, 16) == {'ours p99 < 5 ms': {
        'met': None, 'detail': 'not measured (--latency-duration 0)'}}
    assert targets(None, silent, 16) == {}


def test_ours_without_answers_misses_both_targets():
    o, d = side([], [], note='no ACK'), side([1], [1])
    assert [t['met'] for t in targets(o, d, 16).values()] == [False, False]


def test_the_table_has_a_row_per_side_the_ratios_and_the_verdicts():
    o, d = side([2, 4], [1, 3]), side([1, 2], [1, 2], note='no answers\nthe dnsmasq log')
    d['status'] = 'no answers'
    result = {'config': {'clients': 4, 'concurrency': 16, 'rounds': 1, 'duration': 1.0,
                         'latency_duration': 0.5, 'timeout': 1.0, 'dnsmasq_bridge': 'normal'},
              'sides': {'dnsmasq': d, 'ours': o},
              'ratio': {'rate': 2.0, 'p50': None, 'p99': 1.25, 'one_p50': 0.5, 'one_p99': 1.0},
              'targets': targets(o, d, 16)}
    lines = table(result).splitlines()

    assert lines[0].startswith('DHCP DORA: 4 clients (one OVS port each), 1 rounds per side')
    assert lines[0].endswith('; ours through the service port')
    result['config']['packet_ins'] = True
    assert table(result).splitlines()[0].endswith('; ours by packet-ins')
    assert lines[3].split()[:4] == ['side', 'DORA/s', 'p50', 'ms']
    assert lines[4] == 'dnsmasq  no answers  no answers'
    assert lines[5].split() == ['ours', '2', '2.000', '4.000', '4.000', '4', '1.000', '3.000',
                                '0', '0', '2']
    assert 'ratio ours/dnsmasq: rate 2.00x; at concurrency 16: p50 -, p99 1.25x;' in table(result)
    assert 'target ours rate >= dnsmasq rate: n/a (dnsmasq gave no answers)' in lines
    assert lines[-1] == 'dnsmasq: the dnsmasq log'


# -- the topology and dnsmasq ------------------------------------------------------------

def test_every_client_has_its_own_registered_address_in_the_network():
    macs = {sides.client_mac(i) for i in range(sides.MAX_CLIENTS)}
    ips = {sides.client_ip(i) for i in range(sides.MAX_CLIENTS)}
    assert len(macs) == len(ips) == sides.MAX_CLIENTS
    assert all(ip.startswith('10.77.') and not ip.endswith(('.0', '.255')) for ip in ips)


def test_our_topology_is_valid_and_serves_the_options_dnsmasq_gets():
    topology = validate_text(yaml.safe_dump(sides.topology(['p0', 'p1', 'p2'])), 'dhcp.yml')
    net = topology.networks['bench']
    assert (str(net.ipv4), net.domain_name, net.lease_time) == (sides.NETWORK, sides.DOMAIN, sides.LEASE)
    assert topology.interfaces['c2'].port == 'p2'
    assert topology.interfaces['bench-dhcp'].services == ('dhcp',)
    argv = sides.dnsmasq_argv(3, '/run/x.pid')
    assert f'--dhcp-host={sides.client_mac(2)},{sides.client_ip(2)}' in argv
    assert f'--dhcp-option=option:domain-name,{sides.DOMAIN}' in argv


# -- the command line ------------------------------------------------------------------

def test_both_sides_are_measured_by_default_ours_through_the_service_port():
    args = parse_args([])
    assert (args.side_list, args.clients, args.concurrency, args.rounds) == (['dnsmasq', 'ours'], 64, 16, 3)
    assert not args.packet_ins and parse_args(['--packet-ins']).packet_ins


@pytest.mark.parametrize('argv', [['--sides', 'ours,isc'], ['--sides', ','], ['--clients', '0'],
                                  ['--clients', '4001'], ['--rounds', '0']])
def test_bad_arguments_stop_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(argv)
    assert stop.value.code == 2
    assert 'error:' in capsys.readouterr().err
