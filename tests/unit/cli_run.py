"""Running vnetctl in-process from a unit test: its exit status and what it
printed, with the working directory at the repository (the example
topologies are named relative to it)."""
import contextlib
import io
from pathlib import Path

import pytest

from controller.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    """Autouse in every module that imports it."""
    monkeypatch.chdir(REPO)


def vnetctl(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([str(a) for a in args])
    return status, out.getvalue()
