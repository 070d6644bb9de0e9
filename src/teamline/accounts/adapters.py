"""django-allauth's adapters for staff sign-in (docs/security.md, "Staff sign-in and MFA").

- Staff accounts are made by admins (the admin, `teamline createadmin`), never by signing up on
  the sign-in page: local sign-up is closed. Single sign-on opens it only for accounts
  provisioned through a social account (its own adapter).
- Passwords are throttled by the contract's throttle (accounts/throttle.py, in the sign-in
  form), not by allauth's per-account limit.
- Second-factor secrets (the TOTP key, the recovery codes' seed) are encrypted at rest with
  TEAMLINE_ENCRYPTION_KEY (core/crypto.py); passkeys are bound to Teamline's public host.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from teamline.core.crypto import decrypt_json, encrypt_json


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        # The message staff knew from Django's sign-in form.
        "username_password_mismatch": _(
            "Please enter a correct username and password. Note that both fields may be "
            "case-sensitive."
        ),
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """allauth counts failed passwords per account here (`login_failed`); the sign-in form
        has already applied the contract's throttle, which cannot be turned into a lock-out."""


def relying_party_id(request: HttpRequest) -> str:
    """The WebAuthn relying-party id passkeys are bound to: the host of TEAMLINE_PUBLIC_URL,
    or the request's host when the public URL names an IP address (which cannot be an RP id,
    e.g. the default http://127.0.0.1:8000 while developing at http://localhost:8000)."""
    host = urlsplit(settings.PUBLIC_URL).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host:
            return host
    return request.get_host().rpartition(":")[0] or request.get_host()


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return encrypt_json({"v": text})

    def decrypt(self, encrypted_text: str) -> str:
        return str(decrypt_json(encrypted_text)["v"])

    def get_public_key_credential_rp_entity(self) -> dict[str, str]:
        return {"id": relying_party_id(context.request), "name": str(settings.MFA_TOTP_ISSUER)}
