# Payer Auth: `make run` sets up and serves locally; `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINTED := shared function_app.py tools tests bench

.PHONY: run test lint typecheck unit setup system-deps init host clean bench client client-test

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
test: $(STAMP) system-deps client lint typecheck client-test unit

# The web component's npm packages (never committed) and the React example's build.
CLIENT_STAMP := client/node_modules/.installed
$(CLIENT_STAMP): client/package.json client/package-lock.json
	cd client && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

client: $(CLIENT_STAMP)
	cd client && npm run --silent build

## client-test: the component's own tests: types against the element, and Firefox (firefox-esr)
client-test: $(STAMP) client
	cd client && PYTHON=$(abspath $(PY)) npm test

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache .hypothesis test-output \
		client/node_modules client/examples/react/dist

## bench: the performance benchmark (bench/README.md); results in bench/results/
bench: $(STAMP)
	$(PY) -m bench.run
