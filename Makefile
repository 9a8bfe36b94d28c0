# The two commands the README promises work on a fresh machine: `make preview` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?=
LEDGER ?=

.PHONY: setup preview test gate

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

# The CPython of each runtime that packages carry bytecode for (components/bytecode.py), from
# Debian's archive: this machine's Python cannot write bytecode another minor would load.
build/interpreters/.fetched: components/bytecode.py | $(VENV)/.installed
	$(PY) -m mlserve layer interpreters
	touch $@

setup: $(VENV)/.installed build/interpreters/.fetched

preview: setup
	$(PY) -m mlserve preview $(if $(STACK),--stack $(STACK),--all) $(if $(LEDGER),--ledger $(LEDGER),--new-stack)

gate: setup
	PY=$(PY) .ci/gate

test: gate
	$(PY) -m pytest -q -p no:cacheprovider
	$(PY) -m mlserve validate --all
	$(PY) -m mlserve contracts check
	$(PY) -m mlserve generate --check
	$(PY) -m mlserve layer lock --check
	$(PY) -m mlserve preview --all --new-stack
