# Quota service: database and service helpers.

bench-decisions: venv postgres node_modules/.installed  ## spawn-decision latency at 1k and 100k users, idle and one core busy, two runs -> bench/results/decision_latency.json
	$(VPY) -m bench.decision_latency --seconds 30 --runs 2 $(BENCH_ARGS)

# Where a decision's CPU goes, PROFILE_BASE's code and this checkout's side by side (docs/performance.md).
PROFILE_BASE ?= ea0835c
profile-decisions: venv postgres node_modules/.installed  ## pyinstrument profile of decisions, PROFILE_BASE vs HEAD -> bench/results/decision_profile.json
	$(VPY) -m bench.decision_profile --base $(PROFILE_BASE) --repeats 2 $(BENCH_ARGS)

# Storage benchmarks (synthetic trees from bench/storage_trees.py, kept in build/bench or
# $NEXUS_BENCH_DIR); BENCH_ARGS passes options through, e.g. BENCH_ARGS="--files 20000 --repeats 1".
bench-scan: venv  ## scan engine vs du -s at N and 2N files, peak memory -> bench/results/storage.json ("scan")
	$(VPY) -m bench.storage_scan $(BENCH_ARGS)

bench-purge: venv  ## purge execute vs find -delete on identical trees -> bench/results/storage.json ("purge")
	$(VPY) -m bench.storage_purge $(BENCH_ARGS)

# Scan throughput with EFS-like latency: a FUSE passthrough with a fixed delay per metadata
# operation (bench/fuse_delay.py, Debian's python3-pyfuse3; needs root and /dev/fuse), by shards
# and workers per shard -> bench/results/storage_shards.json (docs/storage.md "Shards").
/usr/lib/python3/dist-packages/pyfuse3.cpython-311-x86_64-linux-gnu.so /usr/bin/fusermount3:
	apt-get install -y fuse3 python3-pyfuse3

bench-scan-shards: venv /usr/lib/python3/dist-packages/pyfuse3.cpython-311-x86_64-linux-gnu.so /usr/bin/fusermount3  ## scan throughput under injected per-op latency (FUSE), shards x workers -> bench/results/storage_shards.json
	$(VPY) -m bench.storage_shards --fuse-server bench/fuse_delay.py $(BENCH_ARGS)

# BASE and HEAD side by side in git worktrees next to this checkout, interleaved (docs/benchmarks.md).
BASE ?= c7aa747
HEAD ?= HEAD
bench-compare: venv postgres node_modules/.installed hub-singleuser kernels /usr/bin/chromium  ## every benchmark at BASE (c7aa747) and HEAD, interleaved -> bench/results/compare.json, docs/benchmarks.md
	$(VPY) -m bench.compare --base $(BASE) --head $(HEAD) $(BENCH_ARGS)

.PHONY: bench-decisions profile-decisions bench-scan bench-purge bench-compare
