# `make dev`: the whole platform on 127.0.0.1, supervised by dev/platform.py (docs/getting-started.md).
# Other fragments append what must be installed first to DEV_PREREQS (CHP, the lab server, the
# kernels). Fragments are read in name order, so this one expands DEV_PREREQS in the recipe, when
# every fragment has been read, not in its prerequisite list.
#   make dev STATE_DIR=/tmp/nexus NEXUS_DEV_HUB_PORT=8100   # another state dir, another port
DEV_PREREQS ?=
DEV_ARGS ?=

dev: venv  ## run the whole platform on 127.0.0.1 (Ctrl-C stops it; state in .state)
	@$(if $(strip $(DEV_PREREQS) $(HUB_SINGLEUSER_VENV)),$(MAKE) --no-print-directory $(DEV_PREREQS) $(if $(HUB_SINGLEUSER_VENV),$(HUB_SINGLEUSER_VENV)/.installed))
	@cd $(ROOT) && exec $(VPY) -m dev.platform --state-dir $(STATE_DIR) $(DEV_ARGS)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
/usr/bin/chromium:
	(apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium))

chromium: /usr/bin/chromium  ## install Debian's Chromium for the browser tests
TEST_PREREQS += /usr/bin/chromium

test-browser: venv /usr/bin/chromium  ## browser tests only (they start their own platform on free ports)
	$(VPY) -m pytest -m browser tests/e2e $(PYTEST_ARGS)

# Two platforms side by side (this checkout's, and one with the issue-19 start-up cuts off), runs
# alternating; docs/performance.md "Sign-in: where the time goes". SIGNIN_RUNS=10 runs each.
SIGNIN_RUNS ?= 10
bench-signin: venv /usr/bin/chromium  ## sign-in to JupyterLab, median of 10 (before/after) -> bench/results/signin.json
	$(VPY) -m bench.signin --runs $(SIGNIN_RUNS) --out bench/results/signin.json

.PHONY: dev chromium test-browser bench-signin
