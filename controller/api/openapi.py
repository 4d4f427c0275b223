"""The OpenAPI 3 document of the API (a unit test keeps it equal to the routes)."""
from __future__ import annotations

from typing import Any, Dict

OBJ: Dict[str, Any] = {'type': 'object'}
LIST: Dict[str, Any] = {'type': 'array', 'items': {'type': 'object'}}
ERROR = {'$ref': '#/components/schemas/Error'}


def _json(schema: dict, description: str) -> dict:
    return {'description': description, 'content': {'application/json': {'schema': schema}}}


def _read(summary: str, schema: dict, *, name: str = '', extra: tuple = ()) -> dict:
    op: Dict[str, Any] = {'summary': summary,
                          'responses': {'200': _json(schema, 'OK'),
                                        '401': _json(ERROR, 'a read from another machine '
                                                            'without the right token'),
                                        '403': _json(ERROR, 'a read from another machine, and '
                                                            'the controller has no token')}}
    if name:
        op['parameters'] = [{'name': 'name', 'in': 'path', 'required': True,
                             'schema': {'type': 'string'}, 'description': name}]
        op['responses']['404'] = _json(ERROR, f'no such {name}')
    for code, text in extra:
        op['responses'][code] = _json(ERROR, text)
    return {'get': op}


def _drops(op: dict) -> dict:
    op['get']['parameters'] = [
        {'name': name, 'in': 'query', 'required': False, 'schema': {'type': 'string'},
         'description': text} for name, text in (
            ('port', 'a port name: its drops per table and reason, asked of the switch now'),
            ('interface', 'an interface of the topology: the drops of its port'))]
    return op


def document(version: str) -> dict:
    put = {
        'summary': 'Replace the topology (validated, then written to the topology file '
                   'atomically, applied like a file edit)',
        'security': [{'bearer': []}],
        'requestBody': {'required': True, 'content': {
            'application/yaml': {'schema': {'type': 'string'}}}},
        'responses': {
            '200': _json(OBJ, 'applied (or unchanged: the file already has this content)'),
            '202': _json(OBJ, 'written; not applied yet when the request gave up waiting'),
            '401': _json(ERROR, 'missing or wrong bearer token'),
            '403': _json(ERROR, 'the controller has no token: writes are refused'),
            '409': _json(OBJ, 'written, but the file was refused when read back'),
            '413': _json(ERROR, 'the body is larger than the limit'),
            '422': _json({'$ref': '#/components/schemas/Refused'},
                         'refused: every problem with file, line and key path; nothing changed'),
        }}
    return {
        'openapi': '3.0.3',
        'info': {'title': 'ryu-vnet', 'version': version,
                 'description': 'The running controller: its topology, datapaths, networks, '
                                'interfaces, DHCP leases and drops.'},
        'paths': {
            '/': {'get': {'summary': 'The status page (HTML)',
                          'responses': {'200': {'description': 'HTML',
                                                'content': {'text/html': {}}}}}},
            '/v1/openapi.json': _read('This document', OBJ),
            '/v1/status': _read('Version, topology source, digest and revision; the last '
                                'changes and how long they took; the last refused edit', OBJ),
            '/v1/datapaths': _read('Every datapath of the topology: connected since, state, '
                                   'flows per table, last sync, tunnel port', LIST),
            '/v1/datapaths/{name}': _read('One datapath, with its ports', OBJ, name='datapath'),
            '/v1/networks': _read('Every network with its interfaces', LIST),
            '/v1/networks/{name}': _read('One network', OBJ, name='network'),
            '/v1/interfaces/{name}': _read('Where the interface is, whether its port is up, '
                                           'and its port counters (asked of the switch)',
                                           OBJ, name='interface'),
            '/v1/leases': _read('DHCP leases handed out: MAC, IP, datapath, time', LIST),
            '/v1/drops': _drops(_read('Dropped packets and bytes by datapath, table and reason '
                                      '(port null); with port or interface, that port\'s drop '
                                      'flows and DHCP meter', LIST,
                                      extra=(('503', 'drop counters are not available'),
                                             ('404', 'no such port or interface'),
                                             ('504', 'the switch did not answer in time')))),
            '/v1/topology': {'put': put},
        },
        'components': {
            'securitySchemes': {'bearer': {'type': 'http', 'scheme': 'bearer'}},
            'schemas': {
                'Error': {'type': 'object', 'properties': {'error': {'type': 'string'}}},
                'Problem': {'type': 'object', 'properties': {
                    'file': {'type': 'string'}, 'line': {'type': 'integer', 'nullable': True},
                    'path': {'type': 'string'}, 'message': {'type': 'string'},
                    'text': {'type': 'string'}}},
                'Refused': {'type': 'object', 'properties': {
                    'error': {'type': 'string'},
                    'problems': {'type': 'array',
                                 'items': {'$ref': '#/components/schemas/Problem'}}}},
            },
        },
    }
