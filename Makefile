# Every target builds .venv by itself; nothing else needs to be installed by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA ?= ../shared/data/multi30k

.PHONY: venv test test-slow lint translate data train-default evaluate-default clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# The main job (until the server lands): translate with the shipped model.
# make translate TEXT="..."  (without TEXT: one sentence per line on stdin)
translate: $(STAMP)
	@$(BIN)/translator translate $(if $(TEXT),"$(TEXT)",)

data: $(STAMP)
	$(BIN)/translator data --from $(SHARED_DATA) --out data/multi30k

# Long job, run by hand: trains the default model (resumable: rerun to continue).
train-default: data
	$(BIN)/translator train --config multi30k --out runs/multi30k

evaluate-default: data
	$(BIN)/python scripts/evaluate_default.py --model runs/multi30k/model

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
