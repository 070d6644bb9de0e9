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
