# Roman kernels, the JupyterLab server environment, tutorials and synthetic data (docs/kernels.md).
#
# Layout (all gitignored):
#   .venv-kernels/<name>/          one virtualenv per kernel, from kernels/<name>/requirements.txt
#   .venv-lab/                     the JupyterLab server env (jupyterhub-singleuser + widget front-ends)
#   build/jupyter/kernels/<name>/  the kernelspecs; export JUPYTER_PATH=$(JUPYTER_DATA)
#   build/tutorials/               read-only copies of notebooks/*.ipynb
#   .state/data/                   synthetic Roman files (make data)
#   .state/refdata/                synthetic package data the kernelspecs point at (kernels/refdata/)
KERNEL_NAMES := roman-research-nexus roman-calibration
KERNEL_VENVS := $(ROOT)/.venv-kernels
RRN_PYTHON := $(KERNEL_VENVS)/roman-research-nexus/bin/python
CAL_PYTHON := $(KERNEL_VENVS)/roman-calibration/bin/python
LAB_VENV := $(ROOT)/.venv-lab
LAB_PYTHON := $(LAB_VENV)/bin/python
LAB_SINGLEUSER := $(LAB_VENV)/bin/jupyterhub-singleuser
JUPYTER_DATA := $(ROOT)/build/jupyter
JUPYTER_DATA_DIR_KERNELS := $(JUPYTER_DATA)/kernels
TUTORIALS_DIR := $(ROOT)/build/tutorials
CRDS_PATH ?= $(STATE_DIR)/crds
# Package data (stpsf, synphot, pandeia, stips) as STScI's tutorials lay it out; synthetic here.
REFDATA ?= $(STATE_DIR)/refdata
REFDATA_STAMP := $(REFDATA)/.synthetic
# The kernels' Python (kernels/python-version): pythonX.Y on PATH if it runs, else pyenv's build.
KERNEL_PYTHON_VERSION := $(shell cat kernels/python-version)
ifndef KERNEL_PYTHON
KERNEL_PYTHON := $(firstword $(shell for p in $$(command -v python$(KERNEL_PYTHON_VERSION)) \
  $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(KERNEL_PYTHON_VERSION).*/bin/python$(KERNEL_PYTHON_VERSION); do \
  "$$p" -c '' 2>/dev/null && echo "$$p"; done))
endif

KERNEL_STAMPS := $(foreach k,$(KERNEL_NAMES),$(KERNEL_VENVS)/$(k)/.installed)
KERNEL_SPECS := $(foreach k,$(KERNEL_NAMES),$(JUPYTER_DATA_DIR_KERNELS)/$(k)/kernel.json)
LAB_STAMP := $(LAB_VENV)/.installed
TUTORIAL_STAMP := $(ROOT)/build/.tutorials.installed
KERNEL_COMMON := kernels/install.sh kernels/python-version $(wildcard kernels/fsspec/*) kernels/common/sitecustomize.py

# A kernel's venv and its kernelspec come from one run of the install script (grouped targets).
$(KERNEL_VENVS)/%/.installed $(JUPYTER_DATA_DIR_KERNELS)/%/kernel.json: kernels/%/requirements.txt kernels/%/kernel.json $(KERNEL_COMMON) | $(VENV)/.installed
	PYTHON=$(KERNEL_PYTHON) UV=$(UV) CRDS_PATH=$(CRDS_PATH) REFDATA=$(REFDATA) \
	  kernels/install.sh $* $(KERNEL_VENVS)/$* $(JUPYTER_DATA_DIR_KERNELS)
	mkdir -p $(CRDS_PATH)
	touch $(KERNEL_VENVS)/$*/.installed $(JUPYTER_DATA_DIR_KERNELS)/$*/kernel.json

# The lab env also gets kernel-create / kernel-list / kernel-delete (kernels/envtools) and a link to $(UV).
ENVTOOLS := kernels/envtools/pyproject.toml $(wildcard kernels/envtools/src/nexus_envtools/*.py)
$(LAB_STAMP): kernels/lab-server/requirements.txt kernels/lab-server/jupyter_server_config.json kernels/lab-server/page_config.json $(wildcard kernels/lab-server/site/*) $(KERNEL_COMMON) $(ENVTOOLS) | $(VENV)/.installed
	PYTHON=$(KERNEL_PYTHON) UV=$(UV) kernels/install.sh lab-server $(LAB_VENV)
	touch $@

$(REFDATA_STAMP): kernels/refdata/make_refdata.py $(KERNEL_VENVS)/roman-research-nexus/.installed
	$(RRN_PYTHON) kernels/refdata/make_refdata.py $(REFDATA)
	touch $@

$(TUTORIAL_STAMP): $(wildcard notebooks/*.ipynb) notebooks/README.md notebooks/install-tutorials.sh
	mkdir -p $(dir $@)
	notebooks/install-tutorials.sh $(TUTORIALS_DIR)
	touch $@

kernels: $(KERNEL_STAMPS) $(KERNEL_SPECS) $(LAB_STAMP) $(TUTORIAL_STAMP) $(REFDATA_STAMP)  ## build the kernel venvs, kernelspecs, lab server env and tutorials

# Research Nexus first: the other two are constrained to its lock.
lock-kernels: $(VENV)/.installed  ## re-resolve kernels/*/requirements.txt (hash-locked, Python of kernels/python-version)
	for k in roman-research-nexus lab-server roman-calibration; do \
	  $(UV) pip compile --quiet --python-version $(KERNEL_PYTHON_VERSION) --generate-hashes \
	    kernels/$$k/requirements.in -o kernels/$$k/requirements.txt || exit 1; \
	done

data: $(KERNEL_VENVS)/roman-research-nexus/.installed  ## build synthetic Roman files and upload them to $AWS_ENDPOINT_URL (FULL=1: 4088x4088)
	$(RRN_PYTHON) notebooks/data/make_data.py --out $(STATE_DIR)/data \
	  $(if $(S3_ENDPOINT),--endpoint $(S3_ENDPOINT)) $(if $(FULL),--full-size)

bench-streaming: kernels  ## S3 streaming benchmark (full-size file); writes bench/results/streaming.{json,md}
	$(VPY) -m bench.streaming

# One read as bench-streaming times it, by hand: the kernel's Python and its fsspec configuration
# (FSSPEC_CONFIG_DIR= for s3fs's defaults), against $AWS_ENDPOINT_URL.
READ ?= meta
bench-read: kernels  ## one streamed read in the Roman kernel: READ=meta|cutout|full|fits-section URI=s3://bucket/key; prints JSON
	$(if $(URI),,$(error set URI=s3://bucket/key (and READ=meta|cutout|full|fits-section)))
	FSSPEC_CONFIG_DIR=$${FSSPEC_CONFIG_DIR-$(KERNEL_VENVS)/roman-research-nexus/etc/fsspec} \
	  $(RRN_PYTHON) bench/streaming_reads.py $(READ) $(URI)

kernels-env:  ## print the environment a local singleuser server needs (for make dev)
	@echo "JUPYTER_PATH=$(JUPYTER_DATA)"
	@echo "NEXUS_TUTORIALS_DIR=$(TUTORIALS_DIR)"
	@echo "CRDS_PATH=$(CRDS_PATH)"
	@echo "REFDATA=$(REFDATA)"
	@echo "SINGLEUSER=$(LAB_SINGLEUSER)"

TEST_PREREQS += $(KERNEL_STAMPS) $(KERNEL_SPECS) $(LAB_STAMP) $(TUTORIAL_STAMP) $(REFDATA_STAMP)
DEV_PREREQS += $(KERNEL_STAMPS) $(KERNEL_SPECS) $(LAB_STAMP) $(TUTORIAL_STAMP) $(REFDATA_STAMP)
.PHONY: kernels lock-kernels data bench-streaming bench-read kernels-env
