# Hub side (hub_config/): the single-user server environment the hub integration tests and the
# spawn benchmark start. It is kernels/lab-server's hash-locked lock, the same lab server the
# user image runs, in its own virtualenv.
HUB_SINGLEUSER_VENV := $(ROOT)/.venv-hub-singleuser

$(HUB_SINGLEUSER_VENV)/.installed: kernels/lab-server/requirements.txt kernels/install.sh | $(VENV)/.installed
	UV=$(UV) bash kernels/install.sh lab-server $(HUB_SINGLEUSER_VENV)
	touch $@

hub-singleuser: $(HUB_SINGLEUSER_VENV)/.installed  ## lab server venv for hub tests and bench
TEST_PREREQS += $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed

bench-spawn: venv $(HUB_SINGLEUSER_VENV)/.installed node_modules/.installed  ## spawn-hook overhead benchmark -> bench/results/spawn_hook.json
	$(VPY) bench/spawn_hook.py --out bench/results/spawn_hook.json

.PHONY: hub-singleuser bench-spawn
