"""DHCP benchmark: DORA transactions/s and latency, OUR responder vs dnsmasq.

    .venv/bin/python -m bench.dhcp                    # 64 clients, concurrency 16
    .venv/bin/python -m bench.dhcp --clients 128 --concurrency 32 --rounds 5
    .venv/bin/python -m bench.dhcp --sides dnsmasq --json
    .venv/bin/python -m bench.dhcp --dnsmasq-bridge static   # dnsmasq without flooding

What it measures: N DHCP clients, each with its own MAC behind its own OVS
port (a veth pair; all client ends in ONE namespace), run complete DORA
exchanges (DISCOVER, wait OFFER, REQUEST, wait ACK) from raw AF_PACKET
sockets. Each round, per side: `--duration` seconds with `--concurrency`
exchanges in flight (the rate: ACKs received within that window per second,
and latency under load), then `--latency-duration` seconds one exchange at
a time (unloaded latency). Latency is DISCOVER sent -> ACK received.

* ours:    a bridge (netdev, fail_mode=secure, OpenFlow13) programmed by the
           controller (`ryu-manager --topology FILE controller.app`) from a
           generated topology: one network, the N vif interfaces, a simulated
           dhcp interface and a simulated router.  The bridge has its service
           port (controller.pipeline.service_port): the requests reach the
           controller's socket on it, the replies leave through it;
           `--packet-ins` leaves it out (packet-in, packet-out).
* dnsmasq: the same number of client veths on a bridge with one NORMAL flow
           (so DISCOVERs and REQUESTs are flooded to every port, as on any L2
           segment), and dnsmasq in a server namespace serving the same
           static leases with the same options (router, DNS, domain, lease).
           `--dnsmasq-bridge static` adds flows that send DHCP requests
           straight to the server's port and each client MAC to its port:
           dnsmasq without the flooding, closer to a responder-vs-responder
           comparison.

Both bridges live in the same ovs-vswitchd during the whole run, and rounds
alternate (dnsmasq, ours, ours, dnsmasq, ...) so drifting machine load hits
both sides alike. The table shows each side's rate, p50/p99 under load and
one at a time, and the ratios ours/dnsmasq; targets: ours rate >= dnsmasq's,
ours p99 < 5 ms one at a time (under load p99 is mostly queueing: about
concurrency / rate). Before measuring, every client does one DORA (retrying
for `--warmup` seconds) so flows, MAC learning and leases are in place; a
side whose server never answers is reported as "no answers" and skipped.

Needs root, a running ovs-vswitchd and dnsmasq. Traffic stays in namespaces
created here; everything (bridges, namespaces, veths, dnsmasq, controller)
is removed at exit, also after a crash (the lab records it).

Exit status: 0 when measured (whatever the figures; with --strict, 1 when
ours misses a target or gave no answers), 2 when the setup does not work.

Modules: ``cli`` (arguments, output), ``sides`` (building both sides: the
client veths, the topology, dnsmasq), ``rawsock`` (raw sockets in the client
namespace), ``loadgen`` (the DORA load generator), ``measure`` (warm-up and
alternating rounds), ``report`` (summary, ratios, targets, the table).
"""
