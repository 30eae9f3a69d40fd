# Two commands work on a fresh machine with Python 3.11, pip and make:
#   make demo   creates .venv, installs ganforge, trains on the built-in digits and prints where the results are
#   make test   creates .venv, installs ganforge with its test tools, runs lint and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned in pyproject.toml; naming it here too keeps pip from resolving any other build first.
INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0

.PHONY: install demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(INSTALL) -e '.[dev,fid]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/ganforge train --data digits --steps 1500 --sample-every 250 --log-every 100

lint: install
	$(BIN)/ruff check src tests bench

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
