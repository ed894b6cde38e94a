# The two commands of README.md:  make book  and  make test.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tools of the environment (jupyter-book, alembic for nbgrader) come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: env system-deps book test release lint clean gpu-check

# System packages: bubblewrap (the grader's sandbox), Chromium (browser tests) and the
# PostgreSQL server (the gradebook tests start one; Debian puts it in /usr/lib/postgresql).
system-deps:
	@if ! command -v bwrap >/dev/null || ! command -v chromium >/dev/null \
	    || ! { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap chromium postgresql >/dev/null; \
	  else \
	    echo "WARNING: install bubblewrap, chromium and postgresql (e.g. sudo apt-get install bubblewrap chromium postgresql)"; \
	  fi; \
	fi

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

env: system-deps $(STAMP)

# Build the website into _build/html (chapters execute; results are cached).
book: env
	$(BIN)/jupyter-book build . --keep-going -n -W

# The whole test suite (it builds the book too when _build/html is missing or stale).
test: env
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -ra

# Regenerate every student version in exercises/ from solutions/.
release: env
	$(BIN)/python -m autograder release

lint: env
	$(BIN)/ruff check .

# On a machine with CUDA: every reference-filled student notebook with TF32 off and on, the
# grader on a small class and the benchmarks' CUDA figures (benchmarks/gpu_check.py); the
# result is recorded beside the CPU run. Without CUDA it says so and checks nothing.
gpu-check: env
	$(BIN)/python -m benchmarks.gpu_check --json benchmarks/results/gpu_check.json

clean:
	rm -rf _build
