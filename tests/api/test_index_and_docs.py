"""A new client starts at the API's base URL and finds the docs, which work without internet."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_base_url_answers_json_and_points_at_the_docs():
    response = Client().get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == {
        "name": "Teamline API",
        "version": "1",
        "openapi": "/api/v1/openapi.json",
        "docs": "/api/v1/docs",
    }


def test_the_docs_page_loads_every_asset_from_teamline_itself():
    client = Client()
    page = client.get("/api/v1/docs").content.decode()

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is loaded from another host"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    # Swagger UI's default validator badge would post the document to validator.swagger.io.
    assert '"validatorUrl": null' in page


def test_the_docs_page_is_swagger_ui_from_npm_under_a_policy_without_inline_code():
    response = Client().get("/api/v1/docs")
    page = response.content.decode()

    # Swagger UI itself comes from the swagger-ui-dist npm package (package.json).
    assert '/static/vendor/swagger-ui/swagger-ui-bundle.js"' in page
    assert '/static/vendor/swagger-ui/swagger-ui.css"' in page
    # No origin but this one is named anywhere on the page…
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page), re.findall(
        r"(?:https?:)?//[^\s\"']+", page
    )
    # … and nothing runs inline: every script is a file, or data that is never executed.
    for tag in re.findall(r"<script[^>]*>", page):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "style=" not in page and "<style" not in page
    policy = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
