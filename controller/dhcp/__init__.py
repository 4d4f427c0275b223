"""The simulated DHCP server: frames (`packet`) and policy (`responder`).

Both are pure Python, without os-ken: the app hands a packet-in's bytes and
the network of its in-port to `respond` and sends back the frame it returns.
"""
from controller.dhcp.packet import DhcpMessage, build_reply, parse, parse_reason, try_parse
from controller.dhcp.responder import Reply, respond

__all__ = ['DhcpMessage', 'Reply', 'build_reply', 'parse', 'parse_reason', 'respond',
           'try_parse']
