"""The flow-table pipeline: one documented stage per table.

Table numbers leave gaps so later stages slot in without renumbering.  The
README's pipeline section is written from STAGES.
"""
CLASSIFIER = 0      # in_port (+ source MAC on vifs) -> network id in metadata
PORT_SECURITY = 10  # vif source checks; DHCP client requests -> controller (metered)
SERVICES = 20       # answered in the datapath: ARP and ICMP echo for simulated interfaces
L3 = 30             # routing: router MAC + destination prefix (longest wins) -> out network
NEXTHOP = 35        # out network + next-hop address (reg0) -> destination MAC
L2 = 40             # network + destination MAC -> port; multicast -> flood group

STAGES = (
    (CLASSIFIER, 'classifier',
     'in_port (and, on vif ports, the interface\'s source MAC) -> network id in metadata; '
     'anything else is dropped'),
    (PORT_SECURITY, 'port security',
     'vif ports: IPv4/ARP must carry the interface\'s own address (DHCP from 0.0.0.0 allowed); '
     'DHCP server replies from vifs dropped; DHCP requests -> controller through a per-port meter'),
    (SERVICES, 'services',
     'ARP requests and ICMP echo requests for simulated interfaces are answered in the datapath '
     '(reply out IN_PORT)'),
    (L3, 'l3',
     'to a router interface\'s MAC: longest-prefix match over the route link\'s routes -> '
     'source MAC of the out router interface, TTL-1, next hop in reg0, out network in '
     'metadata; TTL <= 1 -> controller (ICMP time exceeded, metered)'),
    (NEXTHOP, 'next hop',
     'out network + next-hop address -> its MAC from the topology (or learned by ARP on '
     'physical networks, idle-expiring); unknown on a physical network -> controller (ARP, metered)'),
    (L2, 'l2',
     'network + destination MAC -> the interface port; broadcast/multicast -> the network\'s '
     'flood group; unknown unicast dropped (physical networks: sent to the host port)'),
)

# Metadata carries the network id (its VNI, 24 bits) from the classifier on.
NETWORK_MASK = 0xffffff

# reg0 carries the next-hop IPv4 address from L3 to NEXTHOP.
NEXT_HOP_REG = 'reg0'
