"""Shared fixtures: real servers and databases live in tests/support/."""

pytest_plugins = ["tests.support.s3", "tests.support.databases"]
