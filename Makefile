# Everything runs from the lock file: `make run` and `make test` set up .venv when needed.
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.8
STAMP := $(VENV)/.synced
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# Installed packages are compiled to bytecode once, at install. Otherwise, wherever
# PYTHONDONTWRITEBYTECODE is set (as on the machines newsfront is tested on), every process
# compiles Prefect, pandas and the rest from source again: about 3 s of each run's start-up.
export UV_COMPILE_BYTECODE ?= 1

.PHONY: setup run test lint format corpus clean bench docs notebook

setup: $(STAMP)

# uv lives inside .venv (bootstrapped with pip), so nothing outside the project is touched.
$(STAMP): pyproject.toml uv.lock Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv sync --frozen --inexact --all-extras --python $(VENV)/bin/python
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/newsfront run examples/corpus
	$(VENV)/bin/newsfront sql "SELECT provider_domain, count(*) AS articles FROM articles GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"

test: $(STAMP)
	$(VENV)/bin/uv sync --frozen --inexact --all-extras --group notebook --python $(VENV)/bin/python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Regenerates the bundled sample corpus (deterministic).
corpus: $(STAMP)
	$(VENV)/bin/python examples/generate_corpus.py examples/corpus --count 300 --seed 7 --clean --with-seed

# The analysis notebook: its dependencies and JupyterLab, and the sample warehouse it reads.
notebook: $(STAMP)
	$(VENV)/bin/uv sync --frozen --inexact --all-extras --group notebook --group jupyter --python $(VENV)/bin/python
	test -e data/warehouse/news.duckdb || $(VENV)/bin/newsfront run examples/corpus --warehouse data/warehouse
	@echo
	@echo "Open the notebook with:  .venv/bin/jupyter lab notebooks/explore.ipynb"
	@echo "(it reads \$$NEWSFRONT_WAREHOUSE, or data/warehouse)"

# docs/schema.md from the data dictionary (warehouse/dictionary.py).
docs: $(STAMP)
	$(VENV)/bin/newsfront docs

clean:
	rm -rf data/warehouse .pytest_cache .ruff_cache

# Benchmarks: newsfront against the naive script and dlt (installs the bench group).
bench: $(STAMP)
	$(VENV)/bin/uv sync --frozen --inexact --all-extras --group bench --python $(VENV)/bin/python
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)
