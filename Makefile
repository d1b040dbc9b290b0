# Two commands on a fresh machine: `make run` and `make test`.
# Everything lands in .venv/ and .cache/ (both ignored by git).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: env run test fixtures fixtures-all mermaid bench matrix conformance lint fuzz soak clean

$(STAMP): pyproject.toml emulator/_native.c loader/_pctab.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q emulator syscalls loader  # start-up cost even where bytecode writing is off
	touch $(STAMP)

env: $(STAMP)

# The pinned default toolchain and its fixtures (hello also stripped).
fixtures: env
	$(BIN)/python -m emulator fixtures

# Every pinned toolchain, Go 1.21 to 1.27.
fixtures-all: env
	$(BIN)/python -m emulator fixtures --all

# The real Mermaid parser that tests/test_mermaid.py runs (npm; exact versions in tests/mermaid/package-lock.json).
MERMAID_STAMP := tests/mermaid/node_modules/.package-lock.json
$(MERMAID_STAMP): tests/mermaid/package-lock.json
	cd tests/mermaid && npm ci --no-audit --no-fund

mermaid: $(MERMAID_STAMP)

run: fixtures
	$(BIN)/python -m emulator run hello

test: fixtures-all
	$(BIN)/python -m ruff check emulator syscalls loader tests
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Every pinned toolchain x the default fixtures: native strace against the emulator, and the drift.
matrix: fixtures-all
	$(BIN)/python -m emulator matrix -j 2

# The Go standard library's own tests, natively and emulated: a table of what conforms.
CONFORMANCE_ARGS ?= -j 2
conformance: env
	$(BIN)/python -m emulator.conformance $(CONFORMANCE_ARGS)

bench: fixtures
	$(BIN)/python -m emulator.bench

# The fuzz tests with the long hypothesis profile (thousands of examples per target).
fuzz: fixtures
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) \
		tests/test_fuzz_loader.py tests/test_fuzz_syscalls.py tests/test_fuzz_stracelog.py

# goroutines 200 times in one process: every output checked, host RSS reported.
soak: fixtures
	$(BIN)/python -m emulator.soak --runs 200

lint: env
	$(BIN)/python -m ruff check emulator syscalls loader tests

clean:
	rm -rf $(VENV) build *.egg-info emulator/*.so loader/*.so tests/mermaid/node_modules
