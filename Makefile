# The two commands the README promises work on a fresh machine: `make preview` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?=
LEDGER ?=

.PHONY: setup preview test

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

setup: $(VENV)/.installed

preview: setup
	$(PY) -m mlserve preview $(if $(STACK),--stack $(STACK),--all) $(if $(LEDGER),--ledger $(LEDGER),--new-stack)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider
	$(PY) -m mlserve validate --all
	$(PY) -m mlserve contracts check
	$(PY) -m mlserve catalogue --check
	$(PY) -m mlserve openapi --check
	$(PY) -m mlserve layer lock --check
	$(PY) -m mlserve preview --all --new-stack
