# `make demo` and `make test` each set everything up from nothing (the virtual environment in .venv).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install browser evaluate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/pip check
	$(BIN)/python -c "import tensorflow, tensorflow_compression, tensorflow_datasets, tensorflow_model_optimization, PIL, matplotlib, flask, playwright"
	touch $(STAMP)

# The vote page's browser test drives Debian's Chromium: Playwright's own browser download cannot be fetched
# here. Installed as root with apt when neither TFCOMP_CHROMIUM nor `chromium` on PATH provides one.
browser:
	@test -n "$$TFCOMP_CHROMIUM" || command -v chromium >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

install: $(STAMP) browser

demo: $(STAMP)
	$(BIN)/tfcomp demo

# Two workers: tests that share an expensive fixture stay on one worker, the others are spread (tests/conftest.py).
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=30

# The tests not marked slow: no training, subprocess sweeps or browser.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15 -m "not slow"

evaluate: $(STAMP)
	$(BIN)/tfcomp evaluate --out results/evaluate

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_out
