# Every target builds .venv by itself; nothing else needs to be installed by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA ?= ../shared/data/multi30k

.PHONY: venv test test-slow lint translate data train-default evaluate-default bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/python proto/generate.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -rs

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# Translate with the shipped model, in-process (the main job is `make serve`).
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

# Long job, run by hand (~25 min): every engine against CTranslate2 int8 on test_2016_flickr;
# writes the committed reports/bench_b32.* (batch 32, 1,000 sentences) and reports/bench_b1.* (batch 1).
bench: $(STAMP) data
	$(BIN)/translator bench --settings beam5-b32,greedy-b32 --repeats 3 --out reports/bench_b32
	$(BIN)/translator bench --settings beam5-b1,greedy-b1 --limit 300 --repeats 3 --scale-lengths "" --out reports/bench_b1

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

# --- the gRPC service -----------------------------------------------------------------
SERVER ?= localhost:50051
CLIENTS ?= 8
SECONDS ?= 10
.PHONY: proto proto-check serve loadtest

# Regenerate translator/_proto/ from proto/translator/v1/translator.proto (grpcio-tools).
proto: $(STAMP)
	$(BIN)/python proto/generate.py

# Fails if the checked-in generated code is stale (regenerates into a temp dir and diffs).
proto-check: $(STAMP)
	$(BIN)/python proto/generate.py --check

# Serve the shipped bundle: gRPC on :50051, Prometheus metrics on :9090 (flags: translator serve --help).
serve: $(STAMP)
	$(BIN)/translator serve --model models/default $(ARGS)

# Against a running server: make loadtest SERVER=localhost:50051 CLIENTS=8 SECONDS=10
loadtest: $(STAMP)
	$(BIN)/translator loadtest --server $(SERVER) --clients $(CLIENTS) --seconds $(SECONDS)

# --- batch jobs ---------------------------------------------------------------------
BENCH_LINES ?= 200000
.PHONY: batch-bench

# Long job, run by hand on a quiet machine: a 200,000-line batch job vs offline translation
# (sentences/s, ratio, peak RSS) -> reports/batch_bench.{md,json}. Small: make batch-bench BENCH_LINES=2000
batch-bench: $(STAMP) data
	$(BIN)/python scripts/bench_batch.py --lines $(BENCH_LINES) $(ARGS)
