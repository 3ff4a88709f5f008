"""Shared fixtures: real servers live in tests/support/."""

pytest_plugins = ["tests.support.s3"]
