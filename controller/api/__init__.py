"""The REST API, the status page and /metrics, on one HTTP server.

    history    what the app records for it (changes, the last refused edit)
    view       the app's state as JSON, read-only, safe from another thread
    portstats  port counters asked of the switch on demand
    topology_put  PUT /v1/topology: validate, write the file atomically
    openapi    the OpenAPI document;  server  the Flask app and access rules

`ApiServer` serves it with waitress (a threaded WSGI server; os-ken's native
hub is threads too) in a thread the app starts.  The app imports this
package; nothing here imports the app.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

from controller.api import server, view
from controller.api.history import History
from controller.api.portstats import PortStats

__all__ = ['ApiServer', 'History', 'PortStats']

THREADS = 8          # requests served at once; /v1/interfaces and /metrics wait on switches


def metrics_wsgi_app():
    """prometheus_client's WSGI app of controller.observe, if it is there."""
    try:
        from controller.observe import metrics
    except ImportError:
        return None
    return metrics.wsgi_app()


class ApiServer:
    def __init__(self, state: view.AppState, listen: Tuple[str, int],
                 token_file: Optional[str], log: logging.Logger):
        import waitress  # type: ignore[import-untyped]
        self.log = log
        web = server.create_app(state, token_file)
        app = server.with_metrics(web, metrics_wsgi_app(), token_file)
        # waitress reads a whole body (spooled to a temporary file) before the
        # app sees it; its own limit is set well above ours so that a body a
        # little too large still gets our JSON 413 instead of a reset
        # connection, and one far too large is cut off there
        self._server = waitress.create_server(
            app, host=listen[0], port=listen[1], threads=THREADS, ident='ryu-vnet',
            max_request_body_size=server.MAX_BODY_BYTES * 8, clear_untrusted_proxy_headers=True)
        self.address = (listen[0], int(self._server.effective_port))

    @classmethod
    def start_for(cls, state: view.AppState, listen: Optional[Tuple[str, int]],
                  token_file: Optional[str], log: logging.Logger) -> Optional['ApiServer']:
        """The server for --api-listen, or None (off, or the address is taken:
        the network matters more than its API, so the controller runs on)."""
        if listen is None:
            log.info('API off (--api-listen off)')
            return None
        try:
            return cls(state, listen, token_file, log)
        except OSError as exc:
            log.error('cannot serve the API on %s:%d (%s); running without it',
                      _host_in_url(listen[0]), listen[1], exc.strerror or exc)
            return None

    def serve(self) -> None:
        self.log.info('API, status page and metrics on http://%s:%d/ (%s)',
                      _host_in_url(self.address[0]), self.address[1], 'see /v1/openapi.json')
        try:
            self._server.run()
        except Exception:                  # closing the server ends run() with an error
            self.log.debug('API server stopped', exc_info=True)

    def close(self) -> None:
        self._server.close()


def _host_in_url(host: str) -> str:
    return f'[{host}]' if ':' in host else host
