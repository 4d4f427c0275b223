"""The package's layers import only downwards, and nothing imports the app.

    packets, topology  <-  pipeline  <-  openflow  <-  services  <-  app, launcher, cli

(`a <- b`: b may import a.)  Read from the source with `ast`, so a lazy
import inside a function counts as much as one at the top.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / 'controller'

# Rank of each top-level part of `controller`: a module may import only parts
# of a lower rank, or its own part.
RANKS = {
    'packets': 0, 'topology': 0,
    'pipeline': 1, 'store': 1,
    'openflow': 2,
    'services': 3,
    'ha': 3,             # failover: etcd election and OpenFlow roles over the switch session
    'explain': 3,        # trace, diff, graph for vnetctl: topology + pipeline + ofsim
    'options': 4, 'watch': 4,
    'observe': 4,        # metrics and drop counters: reads sessions and services, served by api
    'sources': 4.5,      # the file (watch) or etcd (store) behind one interface; launcher uses it
    'cli': 5, 'launcher': 5, 'app': 6,
    'api': 5,            # REST API and status page: reads the app's state, started by the app
}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix('.py')


def imported_parts(path: Path):
    """(line, part) for every `controller.*` import in a module."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names: list = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == 'controller':
                names = [f'controller.{a.name}' for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith('controller.'):
                yield node.lineno, name.split('.')[1]


MODULES = sorted(p for p in PACKAGE.rglob('*.py') if p.name != '__init__.py' or p.parent != PACKAGE)


def test_every_part_of_the_package_has_a_rank():
    parts = {part_of(p) for p in MODULES}
    assert parts <= set(RANKS), f'give these a rank in RANKS: {sorted(parts - set(RANKS))}'


@pytest.mark.parametrize('module', MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_layer_or_lower_ones(module):
    own = part_of(module)
    wrong = [f'line {line}: {own} (rank {RANKS[own]}) imports {part} (rank {RANKS[part]})'
             for line, part in imported_parts(module)
             if part != own and RANKS.get(part, 99) >= RANKS[own]]
    assert not wrong, '\n'.join(wrong)


def test_nothing_imports_the_app():
    users = [str(p.relative_to(PACKAGE)) for p in MODULES
             if part_of(p) != 'app' and any(part == 'app' for _, part in imported_parts(p))]
    assert not users


def test_the_bottom_layers_are_independent_of_each_other():
    """topology and packets share rank 0 but neither needs the other."""
    crossing = [f'{p.relative_to(PACKAGE)}:{line}' for p in MODULES
                for line, part in imported_parts(p)
                if {part_of(p), part} == {'topology', 'packets'}]
    assert not crossing


def test_there_are_no_import_cycles_between_modules():
    graph = {}
    for p in MODULES:
        mod = '.'.join(('controller',) + p.relative_to(PACKAGE).with_suffix('').parts)
        tree = ast.parse(p.read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('controller'):
                deps.add(node.module)
                deps.update(f'{node.module}.{a.name}' for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith('controller'))
        graph[mod.removesuffix('.__init__')] = deps
    known = set(graph)
    graph = {m: {d for d in deps if d in known and d != m} for m, deps in graph.items()}
    # a package's __init__ re-exporting its own modules is not a cycle
    graph = {m: {d for d in deps if not d.startswith(m + '.')} for m, deps in graph.items()}
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for d in sorted(graph[m]):
            visit(d)
        stack.pop()

    for m in sorted(graph):
        visit(m)
    assert not cycles, cycles
