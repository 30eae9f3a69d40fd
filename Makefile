# Two commands work on a fresh machine with Python 3.11, pip and make:
#   make demo   creates .venv, installs ganforge, trains on the built-in digits and prints where the results are
#   make test   creates .venv, installs ganforge with its test tools, runs lint, the layer contract and the whole
#               test suite, then the tests that train with --precision auto once more as on a CPU with AMX (bf16)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned in pyproject.toml; naming it here too keeps pip from resolving any other build first.
INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0

.PHONY: install demo test test-amx lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(INSTALL) -e '.[dev,fid,image2image]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/ganforge train --data digits --steps 1500 --sample-every 250 --log-every 100

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports --no-cache

# The tests marked auto_precision train with --precision auto (bf16 on a CPU with AMX, fp32 elsewhere); they run a
# second time on the other path: GANFORGE_ASSUME_AMX=1 makes auto choose bf16 as on a CPU with AMX, =0 fp32.
OTHER_PATH = $$($(BIN)/python -c 'from ganforge.training.hardware import cpu_has_fast_bf16; print(int(not cpu_has_fast_bf16()))')

test: install lint
	$(BIN)/python -m pytest -q
	GANFORGE_ASSUME_AMX=$(OTHER_PATH) $(BIN)/python -m pytest -q -m auto_precision

# the whole suite as on a CPU with AMX
test-amx: install lint
	GANFORGE_ASSUME_AMX=1 $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
