"""Signing in and setting up a second factor the way a person does, through allauth's pages.
TOTP codes come from pyotp, not from allauth's own implementation."""

from __future__ import annotations

import pyotp
from django.test import Client
from django.urls import reverse

from tests.desk.page import Page

PASSWORD = "password-123"


def sign_in(username: str, client: Client | None = None, **extra: str) -> Client:
    client = client or Client()
    response = client.post(
        reverse("desk:login"), {"login": username, "password": PASSWORD}, **extra
    )
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def confirm_password(client: Client, url: str) -> None:
    """Changing a second factor asks for the password again first (allauth's reauthentication),
    unless it was confirmed in the last five minutes."""
    response = client.get(url)
    if response.status_code == 200:
        return
    assert response.status_code == 302 and "/accounts/reauthenticate/" in response["Location"]
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == url


def enrol_totp(client: Client) -> str:
    """The signed-in user turns an authenticator app on; returns its secret."""
    confirm_password(client, "/accounts/2fa/totp/activate/")
    page = Page(client.get("/accounts/2fa/totp/activate/").content)
    secret = page.field("Authenticator secret").get("value")
    assert secret
    response = client.post("/accounts/2fa/totp/activate/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def still_signed_in(client: Client) -> bool:
    return client.get(reverse("desk:inbox")).status_code == 200
