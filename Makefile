# One-command set-up, demo and tests. torch is pinned first so that nothing pulls CUDA wheels;
# .[dev] installs every extra (train, plots, onnx, serve) and the test tools.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup demo serve test lint slow browser bench mutants clean

$(BIN)/gsfm: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/gsfm

setup: $(BIN)/gsfm

demo: setup
	$(BIN)/gsfm demo --out outputs/demo

serve: setup
	$(BIN)/gsfm serve

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

test: lint
	$(BIN)/pytest -q -m "not slow"

slow: setup
	$(BIN)/pytest -q -m "slow and not browser"

# gsfm serve in headless Chromium (Debian's chromium package, driven by Playwright for Python)
browser: setup
	$(BIN)/pytest -q -m browser

bench: setup
	$(BIN)/gsfm bench

# Plant known bugs one at a time in a temporary copy and check the tests catch them.
mutants: setup
	$(BIN)/python scripts/mutants.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
