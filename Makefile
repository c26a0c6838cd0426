# ffrtmp — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUF := $(TOOLS)/node_modules/.bin/buf

.PHONY: ha install demo test lint typecheck buflint proto unit integration faults media-faults soak chaos attacks hosts clean opstools nettools benchtools bench bench-smoke systemffmpeg media postgres split split-bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## The main job: a local master and two workers doing real transcodes.
demo: install
	$(PY) tools/demo.py

## Everything CI checks: lint, types, proto lint, the whole test suite on the bundled
## ffmpeg, then the media tests again on the distribution's (see media). The tests run
## on TEST_PROCS processes (pytest-xdist, `worksteal`: each process starts on a run of
## whole files and an idle one takes tests from a busy one's queue, so one long file
## cannot hold up the end), then those marked `serial` (tests/faults: they measure
## timing) one at a time.
TEST_PROCS ?= 3
PARALLEL := -n $(TEST_PROCS) --dist worksteal
test: install lint typecheck buflint opstools nettools systemffmpeg postgres bench-smoke
	FFRTMP_TEST_FFMPEG=bundled $(PY) -m pytest -q $(PARALLEL) -m "not serial"
	FFRTMP_TEST_FFMPEG=bundled $(PY) -m pytest -q -m serial
	$(MAKE) --no-print-directory media FFMPEG=system

## The tests that run real ffmpeg jobs (marker `media`) on one build:
## FFMPEG=system (the ffmpeg on PATH), bundled (imageio-ffmpeg's) or a path.
FFMPEG ?= system
media: install
	FFRTMP_TEST_FFMPEG=$(FFMPEG) $(PY) -m pytest -q -rs $(PARALLEL) -m media tests/integration

## Split transcodes, the full proof: a 90 s clip in 9 segments over two workers, VMAF
## against one encode, a worker and the master killed mid-plan; prints the figures.
split: install
	FFRTMP_SPLIT_FULL=1 $(PY) -m pytest -q -s -rs tests/integration/test_split_full.py \
	  tests/integration/test_split.py tests/integration/test_split_hls.py

## The split speed-up figure: one worker against two, every ffmpeg on one thread, and
## the projection for 10 and 50 workers from the measured segment and join times.
split-bench: install
	FFRTMP_SPLIT_FULL=1 FFRTMP_SPLIT_BENCH=1 $(PY) -m pytest -q -s -rs \
	  tests/integration/test_split_full.py -k speedup

unit: install
	$(PY) -m pytest -q tests/unit

integration: install
	$(PY) -m pytest -q $(PARALLEL) tests/integration

faults: install
	$(PY) -m pytest -q tests/faults

## Stored outputs under faults (S3 on moto stopped and started, a worker killed
## mid-upload, the master killed mid-upload): a few minutes, so not in the default suite.
media-faults: install
	FFRTMP_MEDIA_FAULTS=1 $(PY) -m pytest -q tests/faults/test_media_faults.py \
		tests/faults/test_upload_restart.py

## Hosts apart (network namespaces, tests/helpers/netns.py): a worker host cut off the
## network mid-run and plugged back in; about a minute, so not in the default suite.
hosts: install nettools
	FFRTMP_HOSTS=1 $(PY) -m pytest -q -rs tests/faults/test_host_partition.py

## A long soak: 1,000 real jobs while workers and the master are killed for 2 minutes
## (past the default suite's 300 s per-test limit: about 10 minutes on 2 busy cores).
soak: install
	FFRTMP_SOAK_JOBS=1000 FFRTMP_SOAK_CHAOS_S=120 $(PY) -m pytest -q -s --timeout 1800 \
		tests/faults/test_soak.py

## Attacks the design did not stage (tests/faults/test_attacks.py): the master stopped
## past the timeout, a Result held in a partition, a master SIGTERM mid-upload; the
## default suite runs only the second worker process under one identity. A few minutes.
attacks: install
	FFRTMP_ATTACKS=1 $(PY) -m pytest -q -rs tests/faults/test_attacks.py

## Chaos: 5 minutes of seeded faults over 200+ real jobs, an independent /proc watcher
## of ffmpeg; prints a table, writes chaos-results.json, fails on any broken promise.
## CHAOS_SEED picks the schedule (printed at the start).
CHAOS_SEED ?= 1
chaos: install
	$(PY) -m tests.chaos.run --seed $(CHAOS_SEED) --duration 300 --jobs 230

## High availability: three masters on one PostgreSQL, three workers, live jobs and a
## stream of submits; the leader SIGKILLed, frozen past its lease, cut from the database,
## and the database restarted. Prints the time to the new leader's first assignment.
ha: install postgres
	FFRTMP_HA=1 $(PY) -m pytest -q -s -rs tests/faults/test_failover.py

## Throughput and latency with simulated workers; prints a table, writes bench/results.json.
bench: install benchtools
	$(PY) -m bench.run

## The same, small: proves every part of the benchmark works (CI runs it), not how fast.
bench-smoke: install benchtools
	$(PY) -m bench.run --smoke

lint: install
	$(VENV)/bin/ruff check services clients tests tools bench

typecheck: install
	$(VENV)/bin/mypy

$(BUF):
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --silent --no-audit --no-fund @bufbuild/buf@1

buflint: $(BUF)
	$(BUF) lint

## promtool (Debian's prometheus package) for the alert-rule test; needs root and apt.
opstools:
	command -v promtool >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

## iproute2's `ip` (Debian's package) for the tests whose workers and CLI are separate
## hosts: network namespaces joined by veth pairs (tests/helpers/netns.py); needs root.
nettools:
	command -v ip >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2; }

## curl and openssl: the TLS baselines of the blob figure (g) in bench/baselines.py;
## jemalloc (Debian's libjemalloc2): BENCH_MALLOC=jemalloc measures the master with it
## (bench/cluster.py), an option of the master's systemd unit.
benchtools:
	command -v curl >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 || \
	  { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl openssl; }
	ldconfig -p | grep -q libjemalloc.so.2 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libjemalloc2; }

## PostgreSQL's server binaries (Debian's postgresql package) for the tests that start a
## throwaway database (tests/helpers/postgres.py); needs root and apt when missing.
postgres:
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

## The distribution's ffmpeg (Debian's package), which workers prefer when present and
## the media tests run on too; needs root and apt when it is missing.
systemffmpeg:
	command -v ffmpeg >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg; }

## Regenerate protos/ffrtmp/v1/*_pb2*.py{,i} from the .proto files.
proto: install
	$(PY) tools/protogen.py

clean:
	rm -rf $(VENV) $(TOOLS) demo .pytest_cache .mypy_cache .ruff_cache
