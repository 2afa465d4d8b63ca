# Everyday commands; CI (.ci/run) runs `test`, `lint` and `bench-smoke` on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv test lint bench bench-smoke

venv:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[test]'

test:
	$(PY) -m pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy benchmarks
	$(VENV)/bin/lint-imports

# The benchmark suite (benchmarks/README.md), about an hour: `make bench TERASHUF=/path/to/terashuf`
# adds terashuf side by side (else the one on PATH, if any); DuckDB runs when `duckdb` is installed.
bench:
	$(VENV)/bin/pip install -q -r benchmarks/requirements.txt
	$(PY) -m benchmarks.run --size 2G $(if $(TERASHUF),--terashuf $(TERASHUF))

# Every benchmark once on 2 MiB synthetic corpora, every output checked (~20 s; needs only `.[test]`).
bench-smoke:
	$(PY) -m benchmarks.smoke
