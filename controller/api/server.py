"""The HTTP API: a Flask app (routes, access rules, JSON errors).

    GET  /                       the status page (one self-contained HTML file)
    GET  /v1/openapi.json        the OpenAPI 3 document of the routes below
    GET  /v1/status, /v1/datapaths[/{name}], /v1/networks[/{name}],
         /v1/interfaces/{name}, /v1/leases, /v1/drops
    PUT  /v1/topology            YAML body; needs the bearer token
    GET  /metrics                Prometheus, when controller.observe provides it

Access: writes need `Authorization: Bearer <token>` with the token from
--api-token-file (403 when the controller has no token, 401 when the
request's is missing or wrong).  Reads are open to clients on this machine
(loopback); from elsewhere they need the token too, so binding to a public
address does not publish the network's layout to anyone who asks.
"""
from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path
from typing import Callable, Optional, Tuple

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from controller.api import openapi, view
from controller.api.topology_put import MAX_BODY_BYTES, TopologyWriter, token_from

PAGE = Path(__file__).with_name('status.html')


def create_app(state: view.AppState, token_file: Optional[str] = None,
               writer: Optional[TopologyWriter] = None) -> Flask:
    web = Flask('vnet-api')
    web.config['MAX_CONTENT_LENGTH'] = MAX_BODY_BYTES
    web.json.sort_keys = False            # type: ignore[attr-defined]
    writer = writer or TopologyWriter(state.topology_path, state.history)
    page = PAGE.read_bytes()
    _access_rules(web, token_file)
    _errors(web)

    @web.get('/')
    def status_page():
        return Response(page, mimetype='text/html')

    @web.get('/v1/openapi.json')
    def openapi_document():
        return jsonify(openapi.document(view.version()))

    @web.get('/v1/status')
    def get_status():
        return jsonify(view.status(state))

    @web.get('/v1/datapaths')
    def get_datapaths():
        return jsonify(view.datapaths(state))

    @web.get('/v1/datapaths/<name>')
    def get_datapath(name):
        return _found(view.datapath(state, name), 'datapath', name)

    @web.get('/v1/networks')
    def get_networks():
        return jsonify(view.networks(state))

    @web.get('/v1/networks/<name>')
    def get_network(name):
        return _found(view.network(state, name), 'network', name)

    @web.get('/v1/interfaces/<name>')
    def get_interface(name):
        return _found(view.interface(state, name), 'interface', name)

    @web.get('/v1/leases')
    def get_leases():
        return jsonify(view.leases(state))

    @web.get('/v1/drops')
    def get_drops():
        drops = getattr(state, 'drops', None)
        if drops is None:
            return _error(503, 'drop counters are not available in this controller '
                               '(controller.observe is not loaded)')
        port, name = request.args.get('port'), request.args.get('interface')
        if port is None and name is None:
            return jsonify(drops.snapshot())          # per datapath and reason, summed by the switch
        iface = state.topology.interfaces.get(name) if name is not None else None
        if name is not None and (iface is None or not iface.port):
            return _error(404, f'no interface named {name!r} with a port in the running topology')
        try:
            rows = drops.port_rows(iface.port if iface else port)     # that port's drop flows only
        except TimeoutError as exc:
            return _error(504, str(exc))
        if rows is None:
            return _error(404, f'no connected datapath has a port named {iface.port if iface else port!r}')
        return jsonify([r for r in rows if iface is None or r['datapath'] == iface.datapath])

    @web.put('/v1/topology')
    def put_topology():
        outcome = writer.put(request.get_data(cache=False))
        return jsonify(outcome.body), outcome.status

    return web


def _found(found: Optional[dict], kind: str, name: str):
    if found is None:
        return _error(404, f'no {kind} named {name!r} in the running topology')
    return jsonify(found)


def _error(status: int, message: str, **extra):
    response = jsonify(dict(error=message, **extra))
    response.status_code = status
    return response


def _errors(web: Flask) -> None:
    @web.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            return _error(413, f'the body is larger than {MAX_BODY_BYTES >> 20} MiB, the limit '
                               '(10,000 interfaces take about 1 MiB); nothing changed')
        return _error(exc.code or 500, exc.description or exc.name)

    @web.errorhandler(Exception)
    def internal_error(exc: Exception):
        web.logger.exception('API request %s %s failed', request.method, request.path)
        return _error(500, f'internal error: {type(exc).__name__}: {exc}')


def is_loopback(address: Optional[str]) -> bool:
    try:
        ip = ipaddress.ip_address((address or '').split('%', 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, 'ipv4_mapped', None)
    return (mapped or ip).is_loopback


def refusal(token_file: Optional[str], write: bool, remote: Optional[str],
            authorization: str) -> Optional[Tuple[int, str]]:
    """(HTTP status, why) when the access rule refuses a request, else None."""
    if not write and is_loopback(remote):
        return None
    token = token_from(token_file)
    if token is None:
        why = (f'the token file {token_file} is missing, unreadable or empty'
               if token_file else 'the controller was started without --api-token-file')
        what = 'writes are refused' if write else 'reads from other machines are refused'
        return 403, f'{what}: {why}'
    scheme, _, value = authorization.partition(' ')
    if scheme.lower() == 'bearer' and hmac.compare_digest(value.strip().encode(), token.encode()):
        return None
    return 401, 'this needs the bearer token: Authorization: Bearer <the token in --api-token-file>'


def _refused(status: int, message: str):
    response = _error(status, message)
    if status == 401:
        response.headers['WWW-Authenticate'] = 'Bearer realm="ryu-vnet"'
    return response


def _access_rules(web: Flask, token_file: Optional[str]) -> None:
    @web.before_request
    def check_access():
        refused = refusal(token_file, request.method not in ('GET', 'HEAD', 'OPTIONS'),
                          request.remote_addr, request.headers.get('Authorization', ''))
        return _refused(*refused) if refused else None


def with_metrics(web: Flask, metrics_app: Optional[Callable],
                 token_file: Optional[str] = None) -> Callable:
    """The WSGI app to serve: `web`, with /metrics from prometheus_client
    (behind the same read rule) when there is one."""
    if metrics_app is None:
        return web
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    def guarded(environ, start_response):
        refused = refusal(token_file, environ.get('REQUEST_METHOD') not in ('GET', 'HEAD'),
                          environ.get('REMOTE_ADDR'), environ.get('HTTP_AUTHORIZATION', ''))
        if refused:
            with web.app_context():
                return _refused(*refused)(environ, start_response)
        return metrics_app(environ, start_response)
    return DispatcherMiddleware(web, {'/metrics': guarded})
