"""The Mininet demo (``make demo``): a topology file as a Mininet network,
checked against what the topology says should happen.

What gets built (needs root and Open vSwitch; userspace datapath):

* one Open vSwitch bridge per datapath, named as the datapath, with its dpid,
  ``datapath_type=netdev``, fail mode ``secure``, OpenFlow 1.3, controller
  ``tcp:127.0.0.1:PORT`` (``--controller-port``, default 6633);
* one Mininet host (a network namespace) per ``vif`` interface, named as the
  interface, with its MAC and ``ipv4/prefixlen`` on ``eth0``, a default route
  via its network's router interface (when the network has one: the first
  by name, as DHCP option 3 would give it), TX checksum offload off and
  IPv6 off (``lab.netns.prepare_ns_end``, as for every lab host);
* one Mininet host per ``host`` interface too (it stands for the machine on
  the physical LAN behind the uplink), with the interface's MAC and address
  and, instead of a default route, static routes to every prefix its
  network's router interfaces reach through their route links, via the
  router interface's address (what seed 000 does on its host);
* the switch-side end of each host's veth is named as the interface's
  ``port``, so the controller finds it by name.

``simulated`` interfaces need no node (the controller answers for them).

The checks: every pair of hosts against ``expected_reachability`` (same
network, or routed both ways by a route link), every gateway's ARP answer,
every router interface's answer to ping from each network of its route
links, and the traceroute of one routed pair (the gateway must be hop 1).

The same checks run across emulated hosts joined by VXLAN (``hosts``:
``python -m lab.demo.hosts TOPOLOGY``, one host with its own Open vSwitch
per datapath at its tunnel_ip, one VM per vif; see there).

Modules: ``plan`` (pure: nodes, routes, expectations, probes), ``build``
(the Mininet network), ``probe`` (running the checks on ``nodes``: Mininet
hosts or lab VMs), ``report`` (results and their rendering), ``common``
(progress, errors, cleanup, the topology file), ``layout`` (pure: a
topology on emulated hosts) and ``hosts`` (the multi-host demo).  The
Mininet entry script is ``mininet/vnet_mininet.py``.
"""
