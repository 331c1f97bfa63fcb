# Quorum. `make run` starts the whole system on embedded defaults;
# `make test` runs the full suite on PostgreSQL and Redis.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench lint venv clean messages screenshots

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

# Re-extracts the translatable strings into locale/de and compiles them
# (GNU gettext). Translate new entries in locale/de/LC_MESSAGES/django.po, then run it again.
messages: venv
	cd . && DJANGO_SETTINGS_MODULE=config.test_settings $(VENV)/bin/python manage.py makemessages -l de --no-obsolete --no-location \
	    --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore='*/migrations/*'
	msgfmt --check -o locale/de/LC_MESSAGES/django.mo locale/de/LC_MESSAGES/django.po

# Regenerates docs/screenshots/*.png from the browser tests.
screenshots: venv
	QUORUM_SCREENSHOTS=1 VENV=$(VENV) bash scripts/test.sh -m browser -q
