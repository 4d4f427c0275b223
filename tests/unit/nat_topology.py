"""topologies/nat.yml, the NAT example, as the unit tests use it."""
from pathlib import Path

from controller.topology import load_topology

PATH = Path(__file__).resolve().parents[2] / 'topologies' / 'nat.yml'
LAN_PORT, VM1_PORT, VM2_PORT, VM3_PORT = 1, 2, 3, 4
PORTS = {'uplink': LAN_PORT, 'vm1-veth': VM1_PORT, 'vm2-veth': VM2_PORT, 'vm3-veth': VM3_PORT}
LAN_HOST_MAC, LAN_GW_MAC, LAN_GW3_MAC = '52:54:00:0a:00:0b', '52:54:00:74:0a:01', '52:54:00:74:0a:03'
VM1_MAC, VM2_MAC, VM3_MAC = '52:54:00:00:01:0a', '52:54:00:00:01:14', '52:54:00:00:03:0a'
NET1_GW_MAC, NET3_GW_MAC = '52:54:00:74:01:fe', '52:54:00:74:03:fe'


def nat_topology():
    return load_topology(str(PATH))


def text() -> str:
    return PATH.read_text()
