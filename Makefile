# Roman Research Nexus — two commands: `make dev` and `make test`.
# Every target installs what it needs; nothing depends on hand-installed tools.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
PYTHON ?= python3
VENV := $(ROOT)/.venv
VPY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STATE_DIR ?= $(ROOT)/.state
export PATH := $(ROOT)/node_modules/.bin:$(VENV)/bin:$(PATH)

-include $(wildcard mk/*.mk)

.PHONY: help venv lock lint typecheck test test-fast bench clean postgres

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VPY) -m pip install --quiet "uv>=0.4,<1"
	$(UV) pip install --quiet --python $(VPY) -r requirements/dev.txt
	$(UV) pip install --quiet --python $(VPY) --no-deps -e .
	touch $@

venv: $(VENV)/.installed  ## create the development virtualenv

# One lock for the hub side: requirements/hub.txt (the hub image's Python 3.12, hash-locked,
# starting from z2jh 4.4.0's frozen image); dev.txt takes the same versions through `-c`.
lock: $(VENV)/.installed  ## re-resolve requirements/hub.txt, then requirements/dev.txt constrained by it
	$(UV) pip compile pyproject.toml --extra hub --python-version 3.12 --generate-hashes \
	  -c requirements/hub-constraints.txt -o requirements/hub.txt -q
	$(UV) pip compile pyproject.toml --all-extras --python-version 3.11 \
	  -c requirements/hub.txt -o requirements/dev.txt -q

lint: venv  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv  ## mypy over the project packages
	$(VENV)/bin/mypy quota_service hub_config dev bench tests
	$(VENV)/bin/mypy kernels/envtools/src

postgres:  ## make sure PostgreSQL at 127.0.0.1:5432 is up
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1

TEST_PREREQS ?=
test: venv postgres $(TEST_PREREQS) lint typecheck  ## run every test: unit, integration, chart, kernels, notebooks, browser
	$(VPY) -m pytest $(PYTEST_ARGS)

test-fast: venv  ## unit tests only
	$(VPY) -m pytest -m "not integration and not browser and not kernels and not slow" $(PYTEST_ARGS)

BENCHES := bench-decisions bench-spawn bench-signin bench-streaming bench-scan bench-purge bench-scan-shards bench-hub-load
bench: $(BENCHES)  ## every benchmark in bench/, one after the other (slow: tens of minutes)

clean:  ## remove virtualenvs and build output (keeps .state)
	rm -rf $(VENV) build node_modules
