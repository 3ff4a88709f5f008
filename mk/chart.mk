# Helm chart (helm/roman-nexus): rendered and validated with Helm's own Go engine through
# helm-python-sdk, which is in the dev venv; no helm binary and no cluster are needed.
# Nothing to install beyond the venv, so this adds nothing to TEST_PREREQS.
CHART_DIR := $(ROOT)/helm/roman-nexus

.PHONY: chart-test chart-deps chart-package

chart-test: venv  ## chart tests only: lint, render every ci/ file, validate objects and z2jh values
	$(VPY) -m pytest -m chart tests/chart $(PYTEST_ARGS)

chart-deps: venv  ## fetch the jupyterhub 4.4.0 dependency into helm/roman-nexus/charts (needs internet)
	$(VPY) -c 'import helm_python; helm_python.dependency_update("$(CHART_DIR)")'

chart-package: chart-deps  ## package the chart with its dependency into build/
	mkdir -p $(ROOT)/build
	$(VPY) -c 'import helm_python; print(helm_python.package("$(CHART_DIR)", destination="$(ROOT)/build"))'
