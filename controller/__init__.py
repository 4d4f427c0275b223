"""ryu-vnet: virtual networks on Open vSwitch, driven by one topology file."""
