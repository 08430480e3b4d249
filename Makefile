# Payer Auth: `make run` sets up and serves locally; `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINTED := shared function_app.py tools tests bench scripts client/test/sites.py
# make run PORT=7072 DEMO_PORT=8081 PLATFORM=core-tools INSTANCES=2 (python -m tools.localhost --help)
PORT ?= 7071
DEMO_PORT ?= 8080
PLATFORM ?= flex
INSTANCES ?= 1
HOST_FLAGS = --port $(PORT) --demo-port $(DEMO_PORT) --platform $(PLATFORM) --instances $(INSTANCES)
ifneq ($(PORT),7071)
# discovery, the issuer and the printed curl follow the port, unless set already
export PAYERAUTH_PUBLIC_BASE_URL ?= http://localhost:$(PORT)
export PAYERAUTH_PAYER_ISSUER ?= http://localhost:$(PORT)
endif

.PHONY: run test lint typecheck unit setup system-deps init host clean bench capacity soak mutation client client-test

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

## run: create keys, databases and the demo biller, print a biller JWT and a curl, serve on :7071
## as the Flex Consumption host behind the edge (what Azure runs)
run: $(STAMP)
	$(PY) -m tools.cli init --domain 127.0.0.1:$(DEMO_PORT)
	$(PY) -m tools.localhost $(HOST_FLAGS)

init: $(STAMP)
	$(PY) -m tools.cli init

host: $(STAMP)
	$(PY) -m tools.localhost $(HOST_FLAGS)

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
	$(VENV)/bin/ruff format --check $(LINTED)

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

## capacity: instances, queries and Key Vault calls for three sizes of customer base (docs/capacity.md)
capacity: $(STAMP)
	$(PY) -m bench.capacity
	$(PY) -m bench.capacity --simulate

## soak: the local host under a day's mix while faults are injected (bench/soak.py); ARGS=--quick for 60 s
soak: $(STAMP)
	$(PY) -m bench.soak $(ARGS)

## mutation: mutation testing of the security-critical modules, one per core at a time (about 40 min on
## 2 cores: tests/README.md); MODULES="origins tenants/jwks" runs just those, ARGS=--fresh starts over
mutation: $(STAMP)
	$(PY) -m tools.mutation $(ARGS) $(MODULES)
