# Hub side (hub_config/): the hub tests and the spawn benchmark start single-user servers from
# the lab server env that mk/kernels.mk builds (kernels/lab-server's hash-locked lock, the same
# lab server the user image runs).
HUB_SINGLEUSER_VENV := $(ROOT)/.venv-lab

hub-singleuser: $(HUB_SINGLEUSER_VENV)/.installed  ## lab server venv for hub tests and bench
TEST_PREREQS += $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed

bench-spawn: venv $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed  ## spawn-hook overhead benchmark -> bench/results/spawn_hook.json
	$(VPY) bench/spawn_hook.py --out bench/results/spawn_hook.json

.PHONY: hub-singleuser bench-spawn
