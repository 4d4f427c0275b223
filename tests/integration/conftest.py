"""Fixtures for integration tests on real Open vSwitch (userspace datapath).

Every test in this directory gets the ``integration`` marker. These tests
need root and a running ovs-vswitchd; when either is missing they FAIL with
the reason (they are never skipped: a skipped integration test would hide a
broken machine).

Fixtures
--------
``lab``
    A ``lab.Lab`` for the test: bridges, hosts (namespaces + veths)
    and controllers created through it are removed when the test ends.

``controller_factory``
    ``controller_factory(topology, port=None, extra_args=(), wait=True)``
    starts the project controller (``ryu-manager ... controller.app``) on a
    free 127.0.0.1 port (or ``port``) and returns a ``lab.Controller``.
    ``topology`` is a path (str or Path) to a topology file, or YAML text
    (anything containing a newline), which is written to a file in the
    lab's temporary directory. Use ``ctl.port`` for ``lab.bridge(...,
    controller_port=ctl.port)``; to create bridges first, take a port from
    ``free_tcp_port()`` and pass it as ``port=``. Controllers are stopped at
    teardown; when a test fails, each controller's log is attached to the
    report (shown as a "controller log" section).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence, Union

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lab import Controller, Lab, check_environment  # noqa: E402

_HERE = Path(__file__).resolve().parent
_LOG_LIMIT = 200_000  # characters of a controller log attached to a report


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'integration: needs root, Open vSwitch (userspace) and '
        'network namespaces')


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            inside = Path(str(item.path)).resolve().is_relative_to(_HERE)
        except (AttributeError, ValueError):
            inside = False
        if inside:
            item.add_marker(pytest.mark.integration)


_ENV_PROBLEMS: Optional[list] = None


@pytest.fixture(autouse=True)
def _integration_environment():
    """Fail (not skip) every integration test when the machine cannot run it."""
    global _ENV_PROBLEMS
    if _ENV_PROBLEMS is None:
        _ENV_PROBLEMS = check_environment()
    if _ENV_PROBLEMS:
        pytest.fail('integration environment not usable:\n  - '
                    + '\n  - '.join(_ENV_PROBLEMS), pytrace=False)


@pytest.fixture
def lab():
    with Lab() as lab:
        yield lab


@pytest.fixture
def controller_factory(lab, request):
    started: list[Controller] = []
    request.node._vnet_controllers = started

    def start(topology: Union[str, Path], port: Optional[int] = None,
              extra_args: Sequence[str] = (), wait: bool = True,
              **kw) -> Controller:
        if isinstance(topology, str) and '\n' in topology:
            path = lab.write(f'topology-{len(started) + 1}.yml', topology)
        else:
            path = Path(topology)
            if not path.is_absolute():
                path = (REPO_ROOT / path) if (REPO_ROOT / path).exists() else path.resolve()
        ctl = lab.controller(path, port=port, extra_args=extra_args, wait=False, **kw)
        started.append(ctl)
        if wait:
            ctl.wait_listening()
        return ctl

    yield start
    for ctl in started:
        ctl.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for i, ctl in enumerate(getattr(item, '_vnet_controllers', []), 1):
        text = ctl.log_text()
        if len(text) > _LOG_LIMIT:
            text = '[... cut ...]\n' + text[-_LOG_LIMIT:]
        state = 'running' if ctl.running() else f'exited {ctl.proc.returncode if ctl.proc else "-"}'
        report.sections.append(
            (f'controller log #{i} (port {ctl.port}, pid {ctl.pid}, {state}, '
             f'{report.when})', text or '(empty)'))
