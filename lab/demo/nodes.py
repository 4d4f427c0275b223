"""The demo's nodes: what the probes need of a host, whoever built it.

A node runs a command to completion (``run``) or starts one (``popen``),
inside its network namespace.  A lab VM (``lab.hosts.Vm``, any
``lab.netns.Host``) is one as it is; a Mininet host is wrapped in
``MininetNode``.  ``add_routes`` gives a node the routes the plan says it has.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Any, Protocol, Sequence

from controller.topology import Interface, Topology
from lab.demo.common import BuildError
from lab.demo.plan import static_routes
from lab.netns import NS_IFNAME, Runner
from lab.proc import NetlabError


class Node(Protocol):
    """A host the demo probes: commands inside its namespace, whose
    interface is ``eth0`` (``lab.netns.NS_IFNAME``)."""

    def run(self, cmd: Sequence[str], check: bool = ..., timeout: float = ...
            ) -> subprocess.CompletedProcess:
        """Run an argv to completion (text output); NetlabError if it fails and ``check``."""

    def popen(self, cmd: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start an argv; keyword arguments go to subprocess.Popen."""


class MininetNode:
    """A Mininet host as a Node (its ``popen`` joins the host's namespaces)."""

    def __init__(self, host: Any):
        self.host, self.name = host, host.name

    def popen(self, cmd: Sequence[str], **kw: Any) -> subprocess.Popen:
        return self.host.popen(list(cmd), **kw)

    def run(self, cmd: Sequence[str], check: bool = True, timeout: float = 30
            ) -> subprocess.CompletedProcess:
        p = self.popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise NetlabError(f'{self.name}: timed out after {timeout}s: {shlex.join(cmd)}') from None
        if check and p.returncode != 0:
            raise NetlabError(f'{self.name}: command failed (exit {p.returncode}): {shlex.join(cmd)}: '
                              f'{(err or out).strip() or "(no output)"}')
        return subprocess.CompletedProcess(list(cmd), p.returncode, out, err)


def runner(node: Node) -> Runner:
    """The node as a ``lab.netns.Runner`` (for prepare_ns_end)."""
    return lambda argv, check: node.run(argv, check=check)


def add_routes(topology: Topology, iface: Interface, node: Node) -> None:
    """The node's routes from the plan (``static_routes``: a vif's default
    route via its network's router interface, a host interface's routes to
    what its routers reach); BuildError if one cannot be added."""
    for prefix, gw in static_routes(topology, iface):
        dest = 'default' if prefix.prefixlen == 0 else str(prefix)
        cp = node.run(['ip', 'route', 'replace', dest, 'via', str(gw.ipv4), 'dev', NS_IFNAME], check=False)
        if cp.returncode != 0:
            raise BuildError(f'{iface.name}: cannot add route {dest} via {gw.ipv4}: '
                             f'{(cp.stderr or cp.stdout).strip()}')
