"""One size's generated topology, and the pure layer timed in-process:
validating the file and compiling the datapath's flows."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from bench.common import Say
from controller.pipeline import Compiler
from controller.topology.validate import validate_file
from lab.topogen import Spec, datapath_name, topology_text

DPID_BASE = 0x5ca1e0000000
DATAPATH = datapath_name(0)
MAX_RUNS = 5
T = TypeVar('T')


@dataclass
class ScaleTopology:
    """N vifs in networks of ``per_net`` on one datapath, each vif on its own
    port ``<prefix>v<k>`` with OpenFlow number k + 1; and the same with one vif
    more (the edit; its port exists from the start)."""
    n: int
    per_net: int
    prefix: str                       # the lab's: names and the dpid differ between labs
    port_names: dict[int, str] = field(init=False)
    ofports: dict[str, int] = field(init=False)
    text: str = field(init=False)
    edit_text: str = field(init=False)

    def __post_init__(self) -> None:
        self.port_names = {k: f'{self.prefix}v{k}' for k in range(self.n + 1)}
        self.ofports = {name: k + 1 for k, name in self.port_names.items()}
        spec = Spec(self.n, self.per_net, dpid=self.dpid, port=self.port_names.__getitem__)
        self.text = topology_text(spec)
        self.edit_text = topology_text(Spec(self.n, self.per_net, dpid=self.dpid,
                                            port=self.port_names.__getitem__, extra_vif=True))

    @property
    def dpid(self) -> int:
        return DPID_BASE | (int(self.prefix[2:], 16) << 8) | len(str(self.n))

    @property
    def networks(self) -> int:
        return max(1, -(-self.n // self.per_net))

    @property
    def edit_port(self) -> str:
        return self.port_names[self.n]

    @property
    def edit_ofport(self) -> int:
        return self.n + 1


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    """fn(*args) and the seconds it took."""
    t = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t


def _more(runs: list[float], budget: float) -> bool:
    """Another run? At least one, at most MAX_RUNS, none once ``budget`` seconds are spent."""
    return not runs or (len(runs) < MAX_RUNS and sum(runs) < budget)


def _ms(runs: list[float]) -> dict:
    ms = [r * 1e3 for r in runs]
    return {'median': statistics.median(ms), 'runs': ms}


def measure_pure(topo: ScaleTopology, path: Path, budget: float,
                 say: Say) -> dict:
    """validate_file(path) and compiling DATAPATH, cold (a new Compiler, as
    a controller's first compile) and then warm (per-port flows remembered,
    as on an edit); repeated within ``budget`` seconds each."""
    path.write_text(topo.text)
    val: list[float] = []
    while _more(val, budget):
        topology, seconds = _timed(validate_file, str(path))
        val.append(seconds)
    comp: list[float] = []
    warm: list[float] = []
    while _more(comp, budget):
        compiler = Compiler()
        d, seconds = _timed(compiler.compile, topology, DATAPATH, topo.ofports)
        comp.append(seconds)
        warm.append(_timed(compiler.compile, topology, DATAPATH, topo.ofports)[1])
    res: dict[str, Any] = {'flows': len(d.flows), 'groups': len(d.groups),
                           'meters': len(d.meters), 'validate_ms': _ms(val),
                           'compile_ms': _ms(comp), 'recompile_ms': _ms(warm)}
    say(f'  pure layer: {len(d.flows)} flows, {len(d.groups)} groups, {len(d.meters)} meters; '
        f'validate {res["validate_ms"]["median"]:.0f} ms, compile '
        f'{res["compile_ms"]["median"]:.0f} ms cold, {res["recompile_ms"]["median"]:.0f} ms '
        f'with per-port flows remembered (median of {len(val)}/{len(comp)})')
    return res


def pure_size(topo: ScaleTopology, path: Path, budget: float, say: Say) -> dict:
    """The result of one size as far as the pure layer goes (``path``: where
    the topology file is written)."""
    nets = topo.networks
    say(f'size {topo.n}: {topo.n} vifs in {nets} networks of {topo.per_net}, '
        f'+{2 * nets} simulated interfaces')
    res: dict[str, Any] = {'size': topo.n, 'vifs': topo.n, 'networks': nets,
                           'interfaces': topo.n + 2 * nets}
    res.update(measure_pure(topo, path, budget, say))
    return res
