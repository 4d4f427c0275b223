# The commands a user needs: `make demo`, `make demo-hosts` and `make test`.
VENV := .venv
PY   := $(VENV)/bin/python

.PHONY: setup demo demo-hosts test unit integration bench bench-dataplane bench-dhcp bench-scale \
	bench-fabric-dataplane bench-fabric-control bench-api bench-failover bench-trace bench-store bench-drops bench-dns bench-nat bench-sg check clean

setup:
	@bash tools/setup.sh

demo: setup
	$(PY) mininet/vnet_mininet.py --demo topologies/default.yml

demo-hosts: setup
	$(PY) -m lab.demo.hosts topologies/weave3.yml

test: setup check
	$(VENV)/bin/pytest -q --durations=15 tests

unit: setup
	$(VENV)/bin/pytest -q tests/unit

integration: setup
	$(VENV)/bin/pytest -q tests/integration

bench: bench-dataplane bench-dhcp bench-scale bench-fabric-dataplane bench-fabric-control \
	bench-store bench-api bench-failover bench-trace bench-drops bench-dns bench-nat bench-sg

bench-dataplane: setup
	$(PY) -m bench.dataplane

bench-dhcp: setup
	$(PY) -m bench.dhcp

bench-scale: setup
	$(PY) -m bench.scale

bench-fabric-dataplane: setup
	$(PY) -m bench.fabric_dataplane

bench-fabric-control: setup
	$(PY) -m bench.fabric_control

bench-store: setup
	$(PY) -m bench.store

bench-api: setup
	$(PY) -m bench.api

bench-failover: setup
	$(PY) -m bench.failover

bench-trace: setup
	$(PY) -m bench.trace

bench-drops: setup
	$(PY) -m bench.drops

bench-dns: setup
	$(PY) -m bench.dns

bench-nat: setup
	$(PY) -m bench.nat

bench-sg: setup
	$(PY) -m bench.security_groups

# Lint, types, the import direction between layers, and the example topologies.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q tests/unit/test_layers.py
	$(VENV)/bin/vnetctl check topologies/*.yml

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
