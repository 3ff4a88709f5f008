"""Shared fixtures: real servers and databases live in tests/support/.

Every fixture of tests/support/ is registered here, once, as a plugin: conftests below define
only their own directory's fixtures and never import one.
"""

# Each before the plugins that import it, so that pytest rewrites its asserts.
pytest_plugins = [
    "tests.support.s3",
    "tests.support.databases",
    "tests.support.oidc",
    "tests.support.kernels",
    "tests.support.platform",
]
