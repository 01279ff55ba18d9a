# genzoo — set-up is two commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.genzoo-installed
OUT    ?= runs/demo

.PHONY: install demo test lint format bench docs clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@if [ -e $(OUT) ]; then rm -rf $(OUT).previous && mv $(OUT) $(OUT).previous && \
	  echo "kept the last demo run in $(OUT).previous"; fi
	$(BIN)/genzoo train gated_pixelcnn --data digits --steps 1200 --validation 200 --keep-best \
	  --eval-every 100 --seed 0 --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# the docs site into build/site/ (warnings are errors); tables and the CLI reference are generated
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs build/site .pytest_cache

# the lecture's comparison: one model per family on digits, same budget, then the HTML report
# (runs/zoo/report/index.html); finished runs of the same recipe in $(ZOO) are reused
ZOO ?= runs/zoo
.PHONY: zoo
zoo: $(STAMP)
	$(BIN)/genzoo zoo --data digits --minutes-per-model 2 --out $(ZOO)
