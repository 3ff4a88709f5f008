# Tutorials from git repositories (docs/notebooks.md), offline: notebooks/ committed into a
# local bare repository, published by notebooks/tutorial_sync.py (the chart's CronJob program).
#   .state/tutorials-origin.git     the local source (a new commit whenever notebooks/ changed)
#   .state/tutorials-published/     <name> -> .trees/<tree>, read-only (what ~/tutorials shows)
# make dev syncs it first and offers it (NEXUS_DEV_TUTORIALS_DIR, unless already set).
TUTORIALS_ORIGIN := $(STATE_DIR)/tutorials-origin.git
TUTORIALS_PUBLISHED := $(STATE_DIR)/tutorials-published
TUTORIALS_SOURCES := $(STATE_DIR)/tutorials-sources.json
TUTORIALS_GIT := git --git-dir=$(TUTORIALS_ORIGIN)
TUTORIALS_GIT_ID := GIT_AUTHOR_NAME=make GIT_AUTHOR_EMAIL=make@localhost \
  GIT_COMMITTER_NAME=make GIT_COMMITTER_EMAIL=make@localhost

.PHONY: tutorials-origin tutorials-sync

tutorials-origin:  ## commit notebooks/ into the local tutorials repository (.state/tutorials-origin.git)
	@mkdir -p $(STATE_DIR)
	@[ -d $(TUTORIALS_ORIGIN) ] || git init -q --bare $(TUTORIALS_ORIGIN)
	@set -e; export GIT_INDEX_FILE=$(STATE_DIR)/tutorials-origin.index; \
	rm -f "$$GIT_INDEX_FILE"; \
	$(TUTORIALS_GIT) --work-tree=$(ROOT) add -A notebooks; \
	tree=$$($(TUTORIALS_GIT) write-tree); \
	parent=$$($(TUTORIALS_GIT) rev-parse -q --verify refs/heads/main || true); \
	if [ -n "$$parent" ] && [ "$$($(TUTORIALS_GIT) rev-parse "$$parent^{tree}")" = "$$tree" ]; then \
	  echo "==> $(TUTORIALS_ORIGIN): notebooks/ unchanged ($$parent)"; \
	else \
	  commit=$$($(TUTORIALS_GIT_ID) $(TUTORIALS_GIT) commit-tree "$$tree" $${parent:+-p $$parent} -m "notebooks/ of the checkout"); \
	  $(TUTORIALS_GIT) update-ref refs/heads/main "$$commit"; \
	  echo "==> $(TUTORIALS_ORIGIN): main is $$commit"; \
	fi; rm -f "$$GIT_INDEX_FILE"

tutorials-sync: tutorials-origin | $(VENV)/.installed  ## publish the local tutorials repository read-only under .state/tutorials-published
	@printf '{"sources": [{"name": "nexus", "repo": "%s", "ref": "main", "path": "notebooks"}]}\n' \
	  "$(TUTORIALS_ORIGIN)" > $(TUTORIALS_SOURCES)
	$(VPY) notebooks/tutorial_sync.py --config $(TUTORIALS_SOURCES) --dest $(TUTORIALS_PUBLISHED)

# make dev: the same program on the local repository, before the platform starts.
DEV_PREREQS += tutorials-sync
dev: export NEXUS_DEV_TUTORIALS_DIR ?= $(TUTORIALS_PUBLISHED)/nexus
