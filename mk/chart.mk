# Helm chart (helm/roman-nexus): rendered and validated with Helm's own Go engine through
# helm-python-sdk, which is in the dev venv; no helm binary and no cluster are needed.
# The jupyterhub 4.4.0 dependency comes from the reference folder beside the clone (see
# ../shared/reference/README.md) or, with internet access, from `make chart-deps`.
CHART_DIR := $(ROOT)/helm/roman-nexus
Z2JH_VERSION := 4.4.0
Z2JH_TGZ := $(CHART_DIR)/charts/jupyterhub-$(Z2JH_VERSION).tgz
NEXUS_Z2JH_REFERENCE ?= $(abspath $(ROOT)/../shared/reference/z2jh-$(Z2JH_VERSION))

.PHONY: chart-test chart-deps chart-package chart-dependency chart-schema

# values.schema.yaml is the source: this writes values.schema.json and the values table of
# docs/chart.md from it (tests/chart/test_schema_source.py fails when either is stale).
chart-schema: venv  ## regenerate helm/roman-nexus/values.schema.json and docs/chart.md's values table
	$(VPY) $(ROOT)/helm/tools/chart_schema.py

$(Z2JH_TGZ):
	@mkdir -p $(dir $@)
	@if [ -f "$(NEXUS_Z2JH_REFERENCE)/jupyterhub-$(Z2JH_VERSION).tgz" ]; then \
	  cp "$(NEXUS_Z2JH_REFERENCE)/jupyterhub-$(Z2JH_VERSION).tgz" $@; \
	else \
	  $(VPY) -c 'import helm_python; helm_python.dependency_update("$(CHART_DIR)")'; \
	fi
	@test -f $@ || { echo "no jupyterhub-$(Z2JH_VERSION).tgz: set NEXUS_Z2JH_REFERENCE or run make chart-deps with internet access" >&2; exit 1; }

chart-dependency: $(Z2JH_TGZ)  ## put the z2jh 4.4.0 chart package into helm/roman-nexus/charts
TEST_PREREQS += $(Z2JH_TGZ)

chart-test: venv $(Z2JH_TGZ)  ## chart tests only: lint, render every ci/ file, validate objects and z2jh values
	$(VPY) -m pytest -m chart tests/chart $(PYTEST_ARGS)

chart-deps: venv  ## fetch the jupyterhub 4.4.0 dependency into helm/roman-nexus/charts (needs internet)
	$(VPY) -c 'import helm_python; helm_python.dependency_update("$(CHART_DIR)")'

chart-package: chart-deps  ## package the chart with its dependency into build/
	mkdir -p $(ROOT)/build
	$(VPY) -c 'import helm_python; print(helm_python.package("$(CHART_DIR)", destination="$(ROOT)/build"))'
