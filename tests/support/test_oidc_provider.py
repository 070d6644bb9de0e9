"""The local OpenID Connect provider behaves like one: discovery, PKCE-bound codes, a signed
id_token with the user's groups that verifies against its JWKS, and the misbehaviours the
relying-party tests rely on (a foreign signature, another audience) really happen."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.support.oidc_provider import OIDCProvider

REDIRECT = "http://127.0.0.1:9/callback/"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sign_in(provider: OIDCProvider, *, verifier: str, challenge: str) -> dict:
    with httpx.Client(base_url=provider.issuer) as client:
        config = client.get("/.well-known/openid-configuration").json()
        params = {
            "response_type": "code",
            "client_id": "teamline",
            "redirect_uri": REDIRECT,
            "scope": "openid email profile",
            "state": "s1",
            "nonce": "n1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        form = client.get(config["authorization_endpoint"], params=params)
        assert form.status_code == 200 and 'label for="username"' in form.text
        approved = client.post(
            config["authorization_endpoint"],
            params=params,
            data={"username": "sam", "password": "pw-sam"},
        )
        assert approved.status_code == 302
        query = parse_qs(urlsplit(approved.headers["location"]).query)
        assert query["state"] == ["s1"]
        return client.post(
            config["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=("teamline", "client-secret"),
        ).json()


@pytest.fixture
def provider(oidc_provider):
    oidc_provider.add_user("sam", password="pw-sam", groups=["support-north"], amr=["pwd", "otp"])
    oidc_provider.add_client("teamline", "client-secret", [REDIRECT])
    return oidc_provider


def _keys(provider: OIDCProvider) -> KeySet:
    return KeySet.import_key_set(httpx.get(f"{provider.issuer}/jwks").json())


def test_an_id_token_carries_the_groups_and_verifies_against_the_jwks(provider):
    verifier, challenge = _pkce()
    tokens = _sign_in(provider, verifier=verifier, challenge=challenge)
    token = jwt.decode(tokens["id_token"], _keys(provider))
    claims = token.claims
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == ["teamline"]
    assert claims["nonce"] == "n1"
    assert claims["groups"] == ["support-north"]
    assert claims["email"] == "sam@idp.example"
    assert claims["amr"] == ["pwd", "otp"]
    info = httpx.get(
        f"{provider.issuer}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert info["groups"] == ["support-north"] and info["sub"] == "sub-sam"


def test_a_code_is_refused_without_the_right_pkce_verifier(provider):
    _verifier, challenge = _pkce()
    other_verifier, _ = _pkce()
    tokens = _sign_in(provider, verifier=other_verifier, challenge=challenge)
    assert tokens["error"] == "invalid_grant"


def test_the_misbehaviours_happen(provider):
    verifier, challenge = _pkce()
    provider.sign_with_foreign_key = True
    provider.id_token_claims.update(aud="someone-else")
    tokens = _sign_in(provider, verifier=verifier, challenge=challenge)
    with pytest.raises(BadSignatureError):
        jwt.decode(tokens["id_token"], _keys(provider))
    unverified = jwt.decode(tokens["id_token"], provider.foreign_key)
    assert unverified.claims["aud"] == "someone-else"
