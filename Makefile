# Payer Auth: `make run` sets up and serves locally; `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINTED := shared function_app.py tools tests bench

.PHONY: run test lint typecheck unit setup system-deps init host clean bench mutation

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

## run: create keys, databases and the demo biller, print a biller JWT and a curl, serve on :7071
run: $(STAMP)
	$(PY) -m tools.cli init
	$(PY) -m tools.localhost

init: $(STAMP)
	$(PY) -m tools.cli init

host: $(STAMP)
	$(PY) -m tools.localhost

## test: linters, type checks and the whole suite (what .ci/run runs)
test: $(STAMP) system-deps lint typecheck unit

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache .hypothesis test-output

## bench: the performance benchmark (bench/README.md); results in bench/results/
bench: $(STAMP)
	$(PY) -m bench.run

## mutation: mutation testing of the security-critical modules, one at a time (slow: tests/README.md);
## MODULES="origins tenants" runs just those
mutation: $(STAMP)
	$(PY) -m tools.mutation $(MODULES)
