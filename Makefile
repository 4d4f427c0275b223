# The two commands a user needs: `make demo` and `make test`.
VENV := .venv
PY   := $(VENV)/bin/python

.PHONY: setup demo test unit integration bench bench-dataplane bench-dhcp bench-scale check clean

setup:
	@bash tools/setup.sh

demo: setup
	$(PY) mininet/vnet_mininet.py --demo topologies/default.yml

test: setup check
	$(VENV)/bin/pytest -q tests

unit: setup
	$(VENV)/bin/pytest -q tests/unit

integration: setup
	$(VENV)/bin/pytest -q tests/integration

bench: bench-dataplane bench-dhcp bench-scale

bench-dataplane: setup
	$(PY) -m bench.dataplane

bench-dhcp: setup
	$(PY) -m bench.dhcp

bench-scale: setup
	$(PY) -m bench.scale

# Lint, types, the import direction between layers, and the example topologies.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q tests/unit/test_layers.py
	$(VENV)/bin/vnetctl check topologies/*.yml

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
