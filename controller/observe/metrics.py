"""Every Prometheus metric of the controller, on a registry of its own.

`catalogue.CATALOGUE` lists them (name as exposed, type, labels, help);
the README's list and the Grafana dashboard's queries are tested against
what this registry really exposes (tests/unit/test_metrics_registry.py).

Two kinds of metric:
  * events, counted where they happen: flow-mods, bundles, apply latency
    (the sessions report them through `SessionMetrics`, an
    `openflow.observer.SessionObserver`), topology reloads and port status
    changes (the app calls `reload()` and `port_changed()`);
  * state, read from the app when scraped (`appstate`): connected
    datapaths, flows per table, ports, the topology's revision, packet-ins,
    DHCP replies and the drop counters (`drops`), which come from the
    switches' own flow counters.

`wsgi_app()` is what the API mounts at /metrics; `bind(app)` points the
state collector at the running app.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4  # what generate_latest writes

from controller.observe import appstate
from controller.observe.catalogue import SPECS
from controller.openflow.observer import SessionObserver

LOG = logging.getLogger('vnet')
# A counter's `_created` twin doubles the series and nothing here reads it.
prometheus_client.disable_created_metrics()

# Apply latency: a one-interface edit takes ~2 ms, 100,000 flows from empty ~2 s.
APPLY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)

REGISTRY = CollectorRegistry()


def _metric(cls, name: str, **kwargs):
    spec = SPECS[name]
    return cls(name, spec.help, spec.labels, registry=REGISTRY, **kwargs)


FLOW_MODS = _metric(Counter, 'vnet_flow_mods_sent_total')
BUNDLE_COMMITS = _metric(Counter, 'vnet_bundle_commits_total')
BUNDLE_FAILURES = _metric(Counter, 'vnet_bundle_failures_total')
APPLY_SECONDS = _metric(Histogram, 'vnet_apply_duration_seconds', buckets=APPLY_BUCKETS)
RELOADS = _metric(Counter, 'vnet_topology_reloads_total')
PORT_CHANGES = _metric(Counter, 'vnet_port_status_changes_total')
RELOAD_RESULTS = ('applied', 'unchanged', 'refused')
for _result in RELOAD_RESULTS:
    RELOADS.labels(_result)          # every result from the start, at 0


class SessionMetrics(SessionObserver):
    """What the switch sessions report, counted."""

    def sent(self, datapath: str, flow_mods: int) -> None:
        if flow_mods:
            FLOW_MODS.labels(datapath).inc(flow_mods)

    def applied(self, datapath: str, seconds: float, messages: int, ok: bool,
                bundled: bool) -> None:
        if ok:
            APPLY_SECONDS.observe(seconds)
        if bundled:
            (BUNDLE_COMMITS if ok else BUNDLE_FAILURES).labels(datapath).inc()


SESSIONS = SessionMetrics()


def reload(result: str) -> None:
    """A topology reload ended: applied, unchanged or refused."""
    RELOADS.labels(result).inc()


def port_changed(datapath: str, change: str) -> None:
    PORT_CHANGES.labels(datapath, change).inc()


class _AppCollector:
    """The state metrics, read from the bound app at each scrape."""

    def __init__(self) -> None:
        self.app: Optional[Any] = None

    def describe(self):
        return []              # names are known from CATALOGUE; no collect() at registration

    def collect(self):
        if self.app is None:
            return []
        try:
            return list(appstate.collect(self.app))
        except Exception:          # a scrape must not fail whole for one odd state
            LOG.exception('metrics: could not read the app state; serving the event metrics only')
            return []


_APP = _AppCollector()
REGISTRY.register(_APP)


def bind(app: Any) -> None:
    """Read state metrics from `app` (controller.app.VnetApp, or anything
    with its attributes) from now on."""
    _APP.app = app


class RenderCache:
    """The exposition text, rendered at most once per `max_age` seconds.

    A scrape reads flows per table and every port of every switch: at
    10,000 interfaces rendering takes tens of milliseconds of the GIL the
    event thread needs.  Scrapers arriving together wait for one render
    (the lock) and share it, and the counters behind it are read from the
    switches at most once a second anyway (controller.observe.dropstats)."""

    def __init__(self, max_age: float = 1.0, clock=time.monotonic,
                 render=lambda: prometheus_client.generate_latest(REGISTRY)):
        self.max_age, self._clock, self._render = max_age, clock, render
        self._lock = threading.Lock()
        self._at, self._body = float('-inf'), b''

    def body(self) -> bytes:
        with self._lock:
            if self._clock() - self._at >= self.max_age:
                self._body = self._render()
                self._at = self._clock()
            return self._body

    def __call__(self, environ, start_response):
        body = self.body()
        start_response('200 OK', [('Content-Type', CONTENT_TYPE_PLAIN_0_0_4),
                                  ('Content-Length', str(len(body)))])
        return [body]


def wsgi_app():
    """The WSGI app the API mounts at /metrics."""
    return RenderCache()


def exposition() -> bytes:
    """The metrics as Prometheus text (tests, and whoever wants them without HTTP)."""
    return prometheus_client.generate_latest(REGISTRY)
