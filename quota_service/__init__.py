"""Roman Research Nexus quota service: tiers, allocations, CPU-hour ledger, storage policy."""

__version__ = "0.1.0"
