# Hub side (hub_config/): the hub tests and the spawn benchmark start single-user servers from
# the lab server env that mk/kernels.mk builds (kernels/lab-server's hash-locked lock, the same
# lab server the user image runs).
HUB_SINGLEUSER_VENV := $(ROOT)/.venv-lab

hub-singleuser: $(HUB_SINGLEUSER_VENV)/.installed  ## lab server venv for hub tests and bench
TEST_PREREQS += $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed

bench-spawn: venv $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed  ## spawn-hook overhead benchmark -> bench/results/spawn_hook.json
	$(VPY) bench/spawn_hook.py --out bench/results/spawn_hook.json

# N simulated people (100, 200, 300) against the real hub, CHP and quota service on
# PostgreSQL; their servers are bench/light_singleuser.py, a benchmark-only stand-in
# (docs/performance.md, "Hub and proxy at N people").
bench-hub-load: venv postgres $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed  ## hub and proxy at N people -> bench/results/hub_load.json
	$(VPY) bench/hub_load.py --out bench/results/hub_load.json

.PHONY: hub-singleuser bench-spawn bench-hub-load

# The settings tables of docs/quota-service.md and docs/hub.md come from the models' field
# descriptions (tests/quota_service/test_settings_docs.py fails when either is stale).
settings-docs: venv  ## regenerate the settings tables of docs/quota-service.md and docs/hub.md
	$(VPY) -m quota_service.settings_docs

.PHONY: settings-docs
