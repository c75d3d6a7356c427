# The README's quick start: `make demo` (set up, train on the sample data, predict) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
MODEL ?= textrnn-model

.PHONY: install demo test lint bench bench-scale bench-pretrain bench-lookups bench-serve \
	bench-autotune bench-autotune-memory bench-pruners clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/textrnn train sample_data/flights_slots.csv --out $(MODEL)
	$(BIN)/textrnn predict "Arrive Taipei on November 2nd" --model $(MODEL) --format table

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder  # order: tests/conftest.py

lint: install
	$(BIN)/ruff check textrnn tests bench

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py --out docs/benchmarks.md

bench-scale: install
	$(BIN)/python bench/scale.py --out docs/benchmarks.md

bench-pretrain: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/pretrain.py --out docs/benchmarks.md
	$(BIN)/python bench/finetune_levers.py --out docs/benchmarks.md

bench-lookups: install  # SNIPS with and without lookup lists, 3 seeds, and their cost
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/lookups.py --seeds 13,14,15 --out docs/benchmarks.md

# issue 23: --autotune 10m and 30m beside the defaults and fastText's autotune with the same
# budgets, 4 data sets x 3 seeds: about 17 hours of wall time
bench-autotune: install
	$(BIN)/pip install --quiet -e '.[bench,tune]'
	$(BIN)/python bench/autotune.py --seeds 13,14,15 --durations 10m,30m --out docs/benchmarks.md

bench-autotune-memory: install  # issue 23: memory over 100 trials of a search (about 10 min)
	$(BIN)/pip install --quiet -e '.[tune]'
	$(BIN)/python bench/autotune_memory.py --trials 100 --out docs/benchmarks.md

bench-pruners: install  # issue 23: which pruner, --autotune 10m, 2 seeds: about 1 hour
	$(BIN)/pip install --quiet -e '.[tune]'
	$(BIN)/python bench/pruners.py --seeds 13,14 --duration 10m --out docs/benchmarks.md

SERVE_MODEL ?= /tmp/textrnn-bench-snips

bench-serve: install  # textrnn serve under load beside batch predict (about 5 minutes + training)
	$(BIN)/pip install --quiet -e '.[serve]'
	test -d $(SERVE_MODEL) || $(BIN)/textrnn train ../shared/data/snips/train.csv \
		--valid ../shared/data/snips/dev.csv --out $(SERVE_MODEL) --quiet
	$(BIN)/python bench/serve.py --model $(SERVE_MODEL) --out $(SERVE_MODEL)-bench.json

clean:
	rm -rf $(VENV) $(MODEL) build *.egg-info
