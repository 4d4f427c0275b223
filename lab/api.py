"""A client of the controller's REST API for tests and benchmarks (urllib:
nothing to install), and the command-line arguments that turn the API on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional, Tuple

from lab.proc import free_tcp_port


def api_args(port: Optional[int] = None, token_file: Optional[Path] = None,
             host: str = '127.0.0.1') -> Tuple[list[str], str]:
    """(controller arguments, base URL) for an API on a free port."""
    port = port or free_tcp_port()
    args = ['--api-listen', f'{host}:{port}']
    if token_file is not None:
        args += ['--api-token-file', str(token_file)]
    return args, f'http://{host}:{port}'


class ApiClient:
    def __init__(self, base: str, token: Optional[str] = None, timeout: float = 15):
        self.base, self.token, self.timeout = base.rstrip('/'), token, timeout

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                token: Optional[str] = None, headers: Optional[dict] = None) -> Tuple[int, Any]:
        """(status, decoded JSON or text); never raises for an HTTP error status."""
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=dict(headers or {}))
        token = token if token is not None else self.token
        if token:
            req.add_header('Authorization', f'Bearer {token}')
        if body is not None:
            req.add_header('Content-Type', 'application/yaml')
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, _decode(r.read(), r.headers.get_content_type())
        except urllib.error.HTTPError as e:
            return e.code, _decode(e.read(), e.headers.get_content_type())

    def get(self, path: str) -> Any:
        status, body = self.request('GET', path)
        if status != 200:
            raise AssertionError(f'GET {path}: HTTP {status}: {body}')
        return body

    def put_topology(self, text: str, token: Optional[str] = None) -> Tuple[int, Any]:
        return self.request('PUT', '/v1/topology', text.encode(), token=token)

    def wait_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get('/v1/status')
                return
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type == 'application/json':
        return json.loads(raw)
    return raw.decode('utf-8', 'replace')
