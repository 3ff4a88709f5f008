"""Roman Research Nexus quota service: tiers, allocations, the CPU-hour ledger and storage policy."""

__version__ = "0.1.0"
