# configurable-http-proxy from npm (the version z2jh 4.4.0's proxy image runs).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

chp: node_modules/.installed  ## install configurable-http-proxy from npm
TEST_PREREQS += node_modules/.installed
DEV_PREREQS += node_modules/.installed
.PHONY: chp
