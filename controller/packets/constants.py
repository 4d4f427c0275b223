"""Protocol numbers, each defined once, shared by the pipeline (as match
values) and the packet codecs (as header values)."""

# Ethernet
ETH_TYPE_IP = 0x0800
ETH_TYPE_ARP = 0x0806
ETH_TYPE_VLAN = 0x8100
ETH_TYPE_QINQ = 0x88a8
ETH_TYPE_IPV6 = 0x86dd
BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff'

# IPv4
IP_PROTO_ICMP = 1
IP_PROTO_TCP = 6
IP_PROTO_UDP = 17

# ARP
ARP_REQUEST = 1
ARP_REPLY = 2

# ICMP
ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11

# DHCP (BOOTP over UDP)
DHCP_SERVER_PORT = 67
DHCP_CLIENT_PORT = 68

# DNS
DNS_PORT = 53
