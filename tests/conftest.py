import pytest
from django.core.cache import cache
from django.db import connection

# Local identity providers on loopback, as fixtures for any test (tests/support/).
from tests.support.oidc_provider import oidc_provider  # noqa: F401
from tests.support.saml_idp import saml_idp  # noqa: F401


def pytest_sessionstart(session: pytest.Session) -> None:
    """The translation catalogs are build output (not committed): compile the stale ones, as
    `make setup` does, so a test run never reads English where a catalog says otherwise."""
    from teamline.core.catalogs import compile_catalogs

    compile_catalogs()


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and on PostgreSQL nothing left connected to it when it is
    dropped: connections opened by threads the tests started (workers, heartbeats, the pool's
    own) otherwise make the drop fail and leave a test database behind on every run."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
