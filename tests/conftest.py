import os
import random

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.test import APIClient

from audit.context import Actor
from cases.models import Policy, Queue
from cases.policybook import DEFAULT_POLICIES
from cases.selectors import invalidate_configuration_cache
from integrations import auth
from integrations.services import api_client_create
from reviews.sla import invalidate_sla_cache
from reviews.workflows import GROUPS, install_default_workflows, invalidate_routing_cache
from rules import engine as rules_engine
from tests import hypothesis_profiles  # noqa: F401  (loads the Hypothesis profile before any test module)

from . import dbroles
from .processes import RabbitVhost, procs, redis_server  # noqa: F401  (fixtures of the tests that run Celery processes)


@pytest.fixture(autouse=True)
def _fresh_caches():
    invalidate_configuration_cache()
    auth.clear_cache()
    rules_engine.invalidate()
    invalidate_sla_cache()  # SLA policies are cached per process for a few seconds (reviews/sla.py)
    yield
    invalidate_configuration_cache()
    auth.clear_cache()
    rules_engine.invalidate()
    invalidate_sla_cache()


@pytest.fixture
def policy_book(db):
    """The default policy book and queue (a transactional test's flush removes
    what the data migration loaded, so tests ask for it explicitly)."""
    for code, name, description, severity, category in DEFAULT_POLICIES:
        Policy.objects.get_or_create(code=code, defaults=dict(name=name, description=description,
                                                              severity=severity, dsa_category=category))
    Queue.objects.get_or_create(slug="general", defaults=dict(name="General", is_default=True))
    invalidate_configuration_cache()
    return {p.code: p for p in Policy.objects.all()}


@pytest.fixture
def system_actor():
    return Actor.system("tests")


@pytest.fixture
def make_api_client(db, system_actor):
    counter = {"n": 0}

    def make(*, scopes=("reports:write", "cases:read"), name=None, source_name=None, rate=None, burst=None):
        counter["n"] += 1
        client, key = api_client_create(
            name=name or f"client-{counter['n']}", scopes=list(scopes), actor=system_actor,
            source_name=source_name, rate_per_second=rate, burst=burst,
        )
        return client, key

    return make


@pytest.fixture
def api(make_api_client, policy_book):
    """A DRF test client authenticated as a platform with reports:write and cases:read."""
    client, key = make_api_client()
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    http.api_client = client
    http.key = key
    return http


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb,
                    django_db_modify_db_settings):
    """pytest-django's database set-up, run as the owner role (it creates the
    test database and migrates, and the post_migrate grants give the
    application role its privileges); afterwards the connection acts as the
    application role (config/test_settings.py, tests/dbroles.py)."""
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor != "postgresql":
        yield
        return
    settings_dict = connection.settings_dict
    assume = settings_dict["OPTIONS"].pop("assume_role")
    with django_db_blocker.unblock():
        dbroles.ensure_roles(connection.creation._get_test_db_name())
        connection.close()
        db_cfg = setup_databases(verbosity=request.config.option.verbose, interactive=False,
                                 keepdb=django_db_keepdb)
        connection.close()
    settings_dict["OPTIONS"]["assume_role"] = assume
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            connection.close()
            settings_dict["OPTIONS"].pop("assume_role")
            try:
                teardown_databases(db_cfg, verbosity=request.config.option.verbose)
            finally:
                settings_dict["OPTIONS"]["assume_role"] = assume


@pytest.fixture(scope="session", autouse=True)
def _flush_as_owner():
    """Transactional tests end with Django emptying every table by TRUNCATE,
    which the application role may not do and the audit trigger refuses:
    the owner does it (tests/dbroles.py)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush
    DatabaseOperations.execute_sql_flush = dbroles.flush_as_owner
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture
def report_body():
    def make(external_id="post-1", policy="spam", **extra):
        body = {"subject": {"kind": "content", "external_id": external_id, "text": "buy now"}, "policy": policy}
        body.update(extra)
        return body

    return make


def _user(name, *groups, **extra):
    user = User.objects.create_user(username=name, password="x-" + name, **extra)
    for g in groups:
        user.groups.add(Group.objects.get_or_create(name=g)[0])
    return user


@pytest.fixture
def people(db):
    for g in GROUPS:
        Group.objects.get_or_create(name=g)
    return {
        "moderators": [_user(f"mod{i}", "moderator") for i in range(1, 6)],
        "seniors": [_user(f"senior{i}", "senior_moderator") for i in range(1, 5)],
        "admin": _user("admin1", "admin", is_staff=True),
        "auditor": _user("auditor1", "auditor"),
        "outsider": _user("outsider"),
    }


@pytest.fixture
def workflows(people, policy_book, system_actor):
    invalidate_routing_cache()
    install_default_workflows(actor=system_actor)
    yield
    invalidate_routing_cache()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request, redis_server):  # noqa: F811  (the fixture imported above)
    """The Celery broker URL for tests that run real workers on both brokers
    production may use (docs/operations.md): the test module's private
    redis-server, or a private virtual host on the local RabbitMQ."""
    if request.param == "redis":
        yield redis_server.url(0)
        return
    vhost = RabbitVhost().create()
    try:
        yield vhost.url()
    finally:
        vhost.delete()


def pytest_collection_modifyitems(session, config, items):
    """QUORUM_TEST_ORDER=shuffle[:SEED] runs the modules, and the tests inside
    each module, in a shuffled order (module-scoped fixtures stay shared), to
    find tests that depend on the order or on data another test left behind.
    `make test` keeps the written order."""
    order = os.environ.get("QUORUM_TEST_ORDER", "")
    if not order.startswith("shuffle"):
        return
    seed = order.partition(":")[2] or str(random.randrange(1 << 32))
    rng = random.Random(seed)
    modules = {}
    for item in items:
        modules.setdefault(item.module.__name__ if item.module else "", []).append(item)
    names = list(modules)
    rng.shuffle(names)
    for name in names:
        rng.shuffle(modules[name])
    items[:] = [item for name in names for item in modules[name]]
    config.pluginmanager.get_plugin("terminalreporter").write_line(f"QUORUM_TEST_ORDER=shuffle:{seed}")
