"""Scheduled jobs run by the nexus-quota CLI."""
