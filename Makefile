# The verbs a newcomer needs. Everything installs itself on first use.
# Python 3.13 matches the Lambda runtime; any python3 >= 3.13 will do.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null) python3)
VENV := .venv
BIN := $(VENV)/bin
# The SAM CLI lives in its own environment: its pinned dependencies clash with the app's.
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_VERSION := 1.170.0
# checkov too: it pins many libraries of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
AWS_REGION_FOR_LINT := eu-west-1

.PHONY: run test lint build bench openapi clean

run: $(VENV)/.installed
	PYTHONPATH=layers/common $(BIN)/python -m local.run

test: $(VENV)/.installed
	$(BIN)/pytest

bench: $(VENV)/.installed
	PYTHONPATH=layers/common $(BIN)/python -m local.bench

openapi: $(VENV)/.installed
	PYTHONPATH=layers/common $(BIN)/python -m local.openapi

lint: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common functions local client/vcc_token_client
	$(BIN)/bandit --quiet -c pyproject.toml -r layers/common/vcc_tokens functions local client/vcc_token_client
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region $(AWS_REGION_FOR_LINT)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

build: $(SAM_VENV)/.installed
	$(SAM) build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)
	touch $@

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@
