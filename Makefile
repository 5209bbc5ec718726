# Two commands on a fresh machine: `make repro` and `make test` (README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1

.PHONY: repro test test-fast install clean-outputs

# --no-cache-dir: the venv alone is ~7.6 GB, and pip would keep a second copy of the downloaded wheels (a CI run
# failed with "No space left on device" while installing)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@echo "bfrbench: the leaderboard is at $(CURDIR)/reports/leaderboard.md (and reports/leaderboard.html)"

# Test files run on TEST_WORKERS processes (pytest-xdist), whole files per worker (`loadfile`: a file's module
# fixtures, such as the end-to-end test's repro, are built once) in the order tests/conftest.py sets (longest first;
# `--no-loadscope-reorder` keeps it). 2 on 2 cores: the suite took 39 min 41 s against 48 min 29 s in one process
# (docs/performance.md); more workers would add contention and stack other tests' memory beside the paper
# preflight's 2 x 7.9 GiB peak. TEST_WORKERS=0: one process (plain pytest).
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

# Everything, the slow end-to-end and DDP tests included (CI runs this).
test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "slow or not slow" $(XDIST) \
		--durations=30

# The fast tier only, in one process: its tests are short and CPU-bound, 2 workers took longer (167 s against 156 s,
# docs/performance.md).
test-fast: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

clean-outputs:
	rm -rf artifacts models results scores reports checkpoints
