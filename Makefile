# Quorum. `make run` starts the whole system on embedded defaults;
# `make test` runs the full suite on PostgreSQL and Redis.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench lint venv clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: venv
	VENV=$(VENV) bash scripts/run.sh

test: venv
	VENV=$(VENV) bash scripts/test.sh

bench: venv
	VENV=$(VENV) bash bench/run.sh

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf var .pytest_cache
