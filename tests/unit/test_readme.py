"""The README's pipeline table describes the tables the pipeline really has."""
import re
from pathlib import Path

from controller.pipeline import compile_datapath, tables
from tests.unit.factories import ROUTED_PORTS, routed

README = Path(__file__).resolve().parents[2] / 'README.md'


def documented_tables():
    rows = re.findall(r'^\| (\d+) \| ([a-z0-9 ]+) \|', README.read_text(), re.M)
    return {int(number): name for number, name in rows}


def test_every_stage_is_a_row_of_the_readme_pipeline_table_with_its_name():
    assert documented_tables() == {s.table: s.name for s in tables.STAGES}


def test_every_table_the_pipeline_uses_is_a_documented_stage():
    state = compile_datapath(routed(), 'br0', ROUTED_PORTS)
    used = {f.table for f in state.flows.values()} | {f.goto for f in state.flows.values() if f.goto}
    assert used == set(documented_tables())
