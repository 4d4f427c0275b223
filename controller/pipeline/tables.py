"""The flow-table pipeline: one documented stage per table.

Table numbers leave gaps so later stages slot in without renumbering.  The
README's pipeline section is written from STAGES.
"""
CLASSIFIER = 0      # in_port (+ source MAC on vifs) -> network id in metadata
PORT_SECURITY = 10  # vif source checks; DHCP client requests -> controller (metered)
SERVICES = 20       # answered in the datapath: ARP and ICMP echo for simulated interfaces
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
    (L2, 'l2',
     'network + destination MAC -> the interface port; broadcast/multicast -> the network\'s '
     'flood group; unknown unicast dropped'),
)

# Metadata carries the network id (its VNI, 24 bits) from the classifier on.
NETWORK_MASK = 0xffffff
