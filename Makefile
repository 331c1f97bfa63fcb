# Quorum. `make run` starts the whole system on embedded defaults;
# `make test` runs the full suite on PostgreSQL and Redis.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test fuzz bench lint venv clean messages screenshots

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

# Property tests with random seeds and many more examples (HYPOTHESIS_PROFILE=fuzz, see
# tests/hypothesis_profiles.py), for people to run on purpose; `make test` is derandomized.
FUZZ_TESTS ?= tests/reviews/test_stateful.py tests/reviews/test_consensus.py tests/reviews/test_agreement.py tests/reviews/test_clock.py \
	tests/integrations/test_mastodon.py tests/integrations/test_schemathesis.py
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz QUORUM_FUZZ_FACTOR=$${QUORUM_FUZZ_FACTOR:-10} \
	QUORUM_SCHEMATHESIS_EXAMPLES=$${QUORUM_SCHEMATHESIS_EXAMPLES:-250} \
	QUORUM_SCHEMATHESIS_SEED=$${QUORUM_SCHEMATHESIS_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} \
	$(VENV)/bin/python -m pytest -q $(FUZZ_TESTS)

bench: venv
	VENV=$(VENV) bash bench/run.sh

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf var .pytest_cache

# Re-extracts the translatable strings into locale/de and compiles them
# (GNU gettext). Translate new entries in locale/de/LC_MESSAGES/django.po, then run it again.
messages: venv
	cd . && DJANGO_SETTINGS_MODULE=config.test_settings $(VENV)/bin/python manage.py makemessages -l de --no-obsolete --no-location \
	    --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore='*/migrations/*'
	msgfmt --check -o locale/de/LC_MESSAGES/django.mo locale/de/LC_MESSAGES/django.po

# Regenerates docs/screenshots/*.png from the browser tests.
screenshots: venv
	QUORUM_SCREENSHOTS=1 VENV=$(VENV) bash scripts/test.sh -m browser -q
