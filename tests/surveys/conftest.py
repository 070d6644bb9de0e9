import pytest


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_URL = "https://desk.example.com"
