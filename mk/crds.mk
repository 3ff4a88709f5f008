# The CRDS cache the Calibration kernel reads (docs/kernels.md, "One shared CRDS cache").
#
# Production: a read-only cache on the EFS, synced from the CRDS server by the chart's crds-cache
# CronJob. Here: a synthetic cache (kernels/refdata/make_crds_cache.py) at $(CRDS_PATH), the path
# the kernelspec's CRDS_PATH names; the kernel opens it with CRDS_READONLY_CACHE=1.
# Included before kernels.mk (alphabetical): the same default as there, spelled out.
CRDS_PATH ?= $(STATE_DIR)/crds
CRDS_STAMP := $(CRDS_PATH)/SYNTHETIC.json
CRDS_SIZE ?= 248

$(CRDS_STAMP): kernels/refdata/make_crds_cache.py kernels/refdata/crds_references.py $(ROOT)/.venv-kernels/roman-calibration/.installed
	$(CAL_PYTHON) kernels/refdata/make_crds_cache.py $(CRDS_PATH) --size $(CRDS_SIZE)

crds-cache: $(CRDS_STAMP)  ## build the synthetic CRDS cache at $(CRDS_PATH) (CRDS_SIZE science pixels per side)

TEST_PREREQS += $(CRDS_STAMP)
DEV_PREREQS += $(CRDS_STAMP)
.PHONY: crds-cache
