# configurable-http-proxy from npm: exactly the version of the chart's proxy image
# (jupyterhub.proxy.chp.image.tag, z2jh 4.4.0's 5.2.0), checked by tests/images/test_chp_version.py.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

chp: node_modules/.installed  ## install configurable-http-proxy from npm
TEST_PREREQS += node_modules/.installed
DEV_PREREQS += node_modules/.installed
.PHONY: chp
