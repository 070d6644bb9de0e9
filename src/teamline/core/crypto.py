"""Encryption at rest for secrets Teamline must be able to read back (provider credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from the `cryptography` package. The key comes from
TEAMLINE_ENCRYPTION_KEY (a Fernet key; rotate by listing the new key first, comma-separated,
old keys after it) or, when unset, is derived from the secret key so the embedded mode needs no
extra setup.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    configured = [k.strip() for k in os.environ.get("TEAMLINE_ENCRYPTION_KEY", "").split(",")]
    keys = [k for k in configured if k]
    if not keys:
        digest = hashlib.sha256(b"teamline-encryption:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_json(value: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return dict(json.loads(_fernet().decrypt(token.encode())))
    except InvalidToken as exc:
        raise ValueError("credentials cannot be decrypted with the configured key") from exc


def reencrypt(token: str) -> str:
    """`token` encrypted again with the first (newest) key of TEAMLINE_ENCRYPTION_KEY — the
    second half of a key rotation (`teamline rotate_credentials`)."""
    if not token:
        return token
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("credentials cannot be decrypted with the configured key") from exc
