"""The README describes the code as it is: the pipeline table matches the
stage list row for row (both ways), the layout table matches the tree, and
the topology format's example is a topology the controller accepts."""
import re
from pathlib import Path

from controller.pipeline import compile_datapath, tables
from tests.unit.factories import ROUTED_PORTS, routed
from tests.unit.test_pipeline_tunnels import PORTS, three_hosts

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / 'README.md'


def documented_stages():
    rows = re.findall(r'^\| (\d+) \| ([a-z0-9 ]+) \| (.+) \|$', README.read_text(), re.M)
    return [(int(number), name, text) for number, name, text in rows]


def test_the_readme_pipeline_table_is_the_stage_list_row_for_row():
    assert documented_stages() == [(s.table, s.name, s.summary) for s in tables.STAGES]


def test_every_table_the_pipeline_uses_is_a_documented_stage_and_every_stage_is_used():
    flows = list(compile_datapath(routed(), 'br0', ROUTED_PORTS).flows.values())
    flows += compile_datapath(three_hosts(), 'host1', PORTS['host1']).flows.values()
    used = {f.table for f in flows} | {f.goto for f in flows if f.goto is not None}
    assert used == {number for number, _, _ in documented_stages()}


def test_every_stage_names_the_module_that_builds_its_flows():
    for stage in tables.STAGES:
        assert (ROOT / 'controller' / 'pipeline' / f'{stage.module}.py').exists(), stage


def layout_paths():
    """Every `path` in the first column of the README's layout table."""
    section = README.read_text().split('## Code layout', 1)[1].split('\n## ', 1)[0]
    cells = re.findall(r'^\| ([^|]+) \|', section, re.M)
    return [path for cell in cells for path in re.findall(r'`([^`]+)`', cell)]


def test_every_path_in_the_readme_layout_table_exists():
    paths = layout_paths()
    here = {p: p.rsplit('/', 1)[0] + '/' if '/' in p else '' for p in paths}
    # a bare file name in a row continues the directory of the row's first path
    missing = [p for p in paths
               if not (ROOT / p).exists() and not any((ROOT / d / p).exists() for d in set(here.values()))]
    assert not missing


def test_every_package_of_the_controller_and_the_lab_is_in_the_layout_table():
    listed = set(layout_paths())
    packages = [str(p.parent.relative_to(ROOT)) + '/'
                for top in ('controller', 'lab', 'bench') for p in ROOT.glob(f'{top}/**/__init__.py')
                if p.parent != ROOT / 'controller']   # its modules have rows of their own
    assert sorted(p for p in packages if p not in listed) == []


def test_the_topology_format_example_is_a_valid_topology_using_every_top_level_section():
    from controller.topology import validate_text
    text = README.read_text()
    section = text[text.index('## Topology file (version 1)'):]
    example = re.search(r'```yaml\n(.*?)```', section, re.S).group(1)
    topology = validate_text(example, 'README.md (topology format)')
    assert topology.datapaths and topology.networks and topology.interfaces
    assert topology.route_links and topology.security_groups
