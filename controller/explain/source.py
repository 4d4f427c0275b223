"""A topology together with where each of its objects is in the file.

The validator already reads every entry with its line (`Sections`, the
same entries validation errors are reported from); keeping them lets
trace and diff say `topologies/x.yml:23 interfaces.vm1.ipv4`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from controller.topology import Topology
from controller.topology.entries import Entry, Sections
from controller.topology.validate import read_text, validate_parts


@dataclass(frozen=True)
class Where:
    """A place in the topology file: key path and line (None if unknown)."""
    file: str
    path: str
    line: Optional[int]

    def __str__(self) -> str:
        return f'{self.file}:{self.line} {self.path}' if self.line else f'{self.file} {self.path}'


@dataclass(frozen=True)
class Located:
    """A validated topology and the entries it was built from."""
    topology: Topology
    sections: Sections

    @property
    def file(self) -> str:
        return self.topology.source

    def _entry(self, section: str, name: str) -> Optional[Entry]:
        return getattr(self.sections, section).get(name)

    def where(self, section: str, name: str, key: Optional[str] = None) -> Where:
        """`interfaces.vm1` (the line of its name) or `interfaces.vm1.ipv4` (of that value)."""
        entry = self._entry(section, name)
        path = f'{section}.{name}' if key is None else f'{section}.{name}.{key}'
        if entry is None:
            return Where(self.file, path, None)
        if key is not None and key not in entry.data:       # a default: where the entry is
            return Where(self.file, f'{path} (default)', entry.line)
        return Where(self.file, path, entry.line if key is None else entry.line_of(key))

    def where_route(self, link: str, interface: str, key: Optional[str] = None) -> Where:
        """The route of `link` through `interface`: `route_links.rl1.routes[1]`."""
        for entry in self.sections.routes.get(link, ()):
            if entry.values.get('interface') == interface:
                path = entry.path if key is None else f'{entry.path}.{key}'
                return Where(self.file, path, entry.line if key is None else entry.line_of(key))
        return self.where('route_links', link)


def load_located(path: str) -> Located:
    """Read and validate `path` (TopologyError with every problem, as `vnetctl check`)."""
    topology, _, sections = validate_parts(read_text(path), str(path))
    return Located(topology, sections)


def locate_text(text: str, source_name: str = '<text>') -> Located:
    topology, _, sections = validate_parts(text, source_name)
    return Located(topology, sections)
