# Quota service: database and service helpers.

bench-decisions: venv postgres node_modules/.installed  ## spawn-decision latency at 1k and 100k users -> bench/results/decision_latency.json
	$(VPY) -m bench.decision_latency --seconds 30

.PHONY: bench-decisions
