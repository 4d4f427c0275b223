"""Parsers for the single values of a topology file (names, MACs, addresses, ...).

Each parser takes the raw YAML value and returns the model's value or raises
`Invalid` with a message that says what was found and what is expected.  Each
also carries `.expected` (a noun phrase) for "missing" and "wrong type" messages.
They know nothing about other entries: cross-references live in validate_rules.
"""
from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Any, Callable, Iterable, Protocol, TypeVar, cast

NAME_MAX = 64
PORT_MAX = 64
VNI_MAX = 2 ** 24 - 1           # VXLAN network identifiers are 24 bits
DPID_LIMIT = 2 ** 64            # OpenFlow datapath ids are 64 bits
LEASE_MIN, LEASE_MAX = 60, 2 ** 32 - 1   # DHCP option 51 is 32 bits
MTU_MIN, MTU_MAX = 576, 9000    # every IPv4 host takes 576 (RFC 791); jumbo frames stop at 9000
NETWORK_MAX_PREFIXLEN = 30      # a /31 or /32 network has no usable host address

_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*\Z')
_MAC = re.compile(r'[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\Z')
_HEX = re.compile(r'0[xX][0-9A-Fa-f]+\Z')
_LABEL = re.compile(r'(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z')
_BARE_HEX = re.compile(r'[0-9A-Fa-f]{1,16}')

_T = TypeVar('_T')
_T_co = TypeVar('_T_co', covariant=True)


class Parser(Protocol[_T_co]):
    """A parser as `expects` makes it: a function that also names what it expects."""

    expected: str       # a noun phrase, e.g. 'an IPv4 address like 192.0.2.1'

    def __call__(self, value: Any, /) -> _T_co: ...


class Invalid(ValueError):
    """A value that does not fit; the message is shown to the user as is."""


def expects(description: str) -> Callable[[Callable[[Any], _T]], Parser[_T]]:
    """Attach the noun phrase used when the value is missing or of the wrong kind."""
    def mark(function: Callable[[Any], _T]) -> Parser[_T]:
        parser = cast(Parser[_T], function)      # it is one once it has .expected
        parser.expected = description
        return parser
    return mark


def describe(value) -> str:
    """What the user wrote, in words: 'the integer 5', 'a list', ..."""
    if value is None:
        return 'nothing (null)'
    if isinstance(value, bool):
        return f'the boolean {str(value).lower()}'
    if isinstance(value, int):
        return f'the integer {value}'
    if isinstance(value, float):
        return f'the number {value}'
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + '...'
        return f'the string {shown!r}'
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, list):
        return 'a list'
    return f'a {type(value).__name__}'


def _wrong(parser, value) -> Invalid:
    return Invalid(f'expected {parser.expected}; found {describe(value)}')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- names --------------------------------------------------------------------

def check_name(value) -> str:
    """A name (a key of a section, or a reference to one)."""
    if not isinstance(value, str):
        hint = f'; quote it ("{value}") if that is the name' if _is_int(value) else ''
        raise Invalid(f'names must be strings; found {describe(value)}{hint}')
    if len(value) > NAME_MAX:
        raise Invalid(f'name {value[:20]!r}... is {len(value)} characters long; at most {NAME_MAX} allowed')
    if not _NAME.match(value):
        raise Invalid(f'{value!r} is not a valid name: use letters, digits, "_", "." and "-", '
                      'starting with a letter or digit')
    return value


def reference(kind: str) -> Parser:
    """A parser for the name of a `kind` (its existence is checked later)."""
    @expects(f'the name of a {kind}')
    def parse(value) -> str:
        if not isinstance(value, str):
            raise _wrong(parse, value)
        return check_name(value)
    return parse


# -- numbers and words --------------------------------------------------------

def integer(low: int, high: int, what: str = 'an integer') -> Parser:
    @expects(f'{what} from {low} to {high}')
    def parse(value) -> int:
        if not _is_int(value):
            raise _wrong(parse, value)
        if not low <= value <= high:
            raise Invalid(f'{value} is out of range; expected {parse.expected}')
        return value
    return parse


def choice(*allowed: str) -> Parser:
    @expects('one of ' + ', '.join(allowed))
    def parse(value) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _wrong(parse, value)
        return value
    return parse


@expects('an integer or a "0x..." hexadecimal string, from 1 to 2**64-1')
def parse_dpid(value) -> int:
    if isinstance(value, str):
        if not _HEX.match(value):
            raise Invalid(f'{describe(value)} is not a datapath id; write an integer '
                          f'(1) or a "0x..." hexadecimal string ("0x1"){_dpid_hint(value)}')
        value = int(value[2:], 16)
    elif not _is_int(value):
        raise _wrong(parse_dpid, value)
    if not 1 <= value < DPID_LIMIT:
        raise Invalid(f'datapath id {value} is out of range; expected 1 to 2**64-1')
    return value


def _dpid_hint(text: str) -> str:
    # ovs-ofctl shows "dpid:0000000000000001": hex without the 0x.
    if _BARE_HEX.fullmatch(text):
        return f'; did you mean "0x{text}"?'
    return ''


@expects('a port name (a string of at most 64 characters)')
def parse_port(value) -> str:
    if isinstance(value, str) and 0 < len(value) <= PORT_MAX and value.strip() == value:
        return value
    if _is_int(value):
        raise Invalid(f'expected an OVS port name, not a port number; found {describe(value)} '
                      f'(quote it, "{value}", if that is the name)')
    raise _wrong(parse_port, value)


@expects('a DNS domain name like example.internal')
def parse_domain_name(value) -> str:
    if not isinstance(value, str):
        raise _wrong(parse_domain_name, value)
    name = value[:-1] if value.endswith('.') else value      # the root dot is implied
    labels = name.split('.')
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise Invalid(f'{value!r} is not a domain name: dot-separated labels of letters, digits '
                      'and "-" (not at either end), each at most 63 characters')
    return name


# -- addresses ----------------------------------------------------------------

@expects('an IPv4 address like 192.0.2.1')
def parse_ipv4_address(value) -> ipaddress.IPv4Address:
    if not isinstance(value, str):
        raise _wrong(parse_ipv4_address, value)
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        hint = '; write the address alone, without a prefix length' if '/' in value else ''
        raise Invalid(f'{value!r} is not an IPv4 address like 192.0.2.1{hint}') from None


def prefix(max_prefixlen: int = 32) -> Parser:
    """A parser for an IPv4 prefix ("a.b.c.d/n", host bits zero, n <= max_prefixlen)."""
    @expects('an IPv4 prefix like 172.16.1.0/24')
    def parse(value) -> ipaddress.IPv4Network:
        if not isinstance(value, str):
            raise _wrong(parse, value)
        if '/' not in value:
            raise Invalid(f'{value!r} has no prefix length; expected a prefix like 172.16.1.0/24')
        try:
            loose = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            raise Invalid(f'{value!r} is not an IPv4 prefix like 172.16.1.0/24') from None
        if loose.network_address != ipaddress.IPv4Interface(value).ip:
            raise Invalid(f'{value} has host bits set; did you mean {loose}?')
        if loose.prefixlen > max_prefixlen:
            raise Invalid(f'{value} is too small: the prefix length must be at most '
                          f'/{max_prefixlen} to leave addresses for interfaces')
        return loose
    return parse


@expects('a unicast MAC address like 52:54:00:12:34:56')
def parse_mac(value) -> str:
    if not isinstance(value, str):
        raise _wrong(parse_mac, value)
    if not _MAC.match(value):
        raise Invalid(f'{value!r} is not a MAC address; expected six colon-separated hex '
                      'octets like 52:54:00:12:34:56')
    mac = value.lower()
    if mac == '00:00:00:00:00:00':
        raise Invalid(f'{mac} is not a usable MAC address; expected a unicast MAC like 52:54:00:12:34:56')
    if mac == 'ff:ff:ff:ff:ff:ff':
        raise Invalid(f'{mac} is the broadcast address; expected a unicast MAC like 52:54:00:12:34:56')
    if int(mac[:2], 16) & 1:
        raise Invalid(f'{mac} is a multicast address (the low bit of the first octet is set); '
                      'expected a unicast MAC like 52:54:00:12:34:56')
    return mac


def known_names_hint(name: str, names: Iterable[str], kind: str) -> str:
    """'; did you mean net1?' or '; defined networks: a, b' for an unknown reference."""
    names = sorted(names)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f'; did you mean {close[0]}?'
    if not names:
        return f'; no {kind}s are defined'
    shown = ', '.join(names[:8]) + (', ...' if len(names) > 8 else '')
    return f'; defined {kind}s: {shown}'
