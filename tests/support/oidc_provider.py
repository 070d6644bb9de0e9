"""A real OpenID Connect provider on loopback, for tests that sign in through OIDC.

Built from Authlib's OAuth 2.0 / OpenID Connect *server* (its authorization-code grant, its
`OpenIDCode` extension that signs the id_token and its RFC 7636 `CodeChallenge` for PKCE), served
by Flask on werkzeug in a thread. Authlib is the maintained Python library for writing OAuth and
OIDC servers (not only clients), so what Teamline talks to in the tests is a standards-following
provider that Teamline's code had no hand in — never a stub of our own sign-in.

What it serves, at ``provider.issuer`` (``http://127.0.0.1:<free port>``):

- ``/.well-known/openid-configuration`` (discovery) and ``/jwks`` (its RSA public key);
- ``/authorize``: authorization code, PKCE (S256) required, ``nonce`` carried into the id_token.
  The page is a small sign-in form (username + password, labelled, keyboard-usable) a browser
  test fills in; set ``provider.auto_login = "sam"`` to skip the form and approve as that user at
  once (for tests that follow redirects with an HTTP client);
- ``/token``: the code for tokens (client_secret_basic or client_secret_post), with an RS256
  id_token carrying ``sub``, ``email``, ``email_verified``, ``name``, ``groups``, and
  ``amr``/``acr`` when the user has them;
- ``/userinfo``: the same claims for the access token.

Fixture API (pytest)::

    def test_sign_in(oidc_provider):                 # function-scoped, started and stopped
        oidc_provider.add_user("sam", groups=["support-north"], email="sam@example.com")
        oidc_provider.add_client("teamline", "secret", ["http://127.0.0.1:8000/callback/"])
        oidc_provider.issuer                          # → "http://127.0.0.1:54321"

or, for a longer-lived one (a session fixture, a script)::

    with running_oidc_provider() as provider:
        ...

``add_user(username, *, password="password", email=None, name=None, groups=(), amr=(), acr=None,
sub=None)`` — the password is what the form asks for. ``add_client(client_id, secret,
redirect_uris)`` — redirect URIs are matched exactly, as real providers do.

Making it misbehave, to prove the relying party refuses what it must (each applies to the next
tokens issued): ``provider.id_token_claims.update(aud="someone-else")`` or ``exp=<past epoch>``
or ``iss=...`` overrides claims; ``provider.sign_with_foreign_key = True`` signs the id_token with
a key that is not the one in ``/jwks`` (same ``kid``), i.e. a forged signature.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant as _AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from markupsafe import escape
from werkzeug.serving import make_server

KEY_ID = "test-provider-key"


@dataclass
class OIDCUser:
    username: str
    password: str
    sub: str
    email: str
    name: str
    groups: list[str]
    amr: list[str]
    acr: str | None

    def get_user_id(self) -> str:
        return self.sub

    def claims(self, scope: str) -> dict[str, Any]:
        scopes = set(scope.split())
        info: dict[str, Any] = {"sub": self.sub, "groups": list(self.groups)}
        if "profile" in scopes:
            info.update(name=self.name, preferred_username=self.username)
        if "email" in scopes:
            info.update(email=self.email, email_verified=True)
        return info


@dataclass
class OIDCClient(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "profile", "email", "groups"}
        return " ".join(each for each in scope.split() if each in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method in ("client_secret_basic", "client_secret_post")
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: OIDCUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.user.acr or ""

    def get_amr(self) -> list[str]:
        return list(self.user.amr)


_SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><main>
<h1>Sign in to the test provider</h1>
{error}
<form method="post">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Continue</button>
</form>
</main></body></html>"""


class OIDCProvider:
    """The provider's state (users, clients, codes, tokens) and its Flask app; see the module
    docstring for the API."""

    def __init__(self) -> None:
        self.users: dict[str, OIDCUser] = {}
        self.clients: dict[str, OIDCClient] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, tuple[OIDCUser, str]] = {}
        self.auto_login: str | None = None
        self.id_token_claims: dict[str, Any] = {}
        self.sign_with_foreign_key = False
        self.issuer = ""
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig"})
        self.foreign_key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig"})
        self.app = self._make_app()

    # --- configuration --------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        password: str = "password",  # noqa: S107 - a test user's, typed into the test form
        email: str | None = None,
        name: str | None = None,
        groups: list[str] | tuple[str, ...] = (),
        amr: list[str] | tuple[str, ...] = (),
        acr: str | None = None,
        sub: str | None = None,
    ) -> OIDCUser:
        user = OIDCUser(
            username=username,
            password=password,
            sub=sub or f"sub-{username}",
            email=email or f"{username}@idp.example",
            name=name or username.title(),
            groups=list(groups),
            amr=list(amr),
            acr=acr,
        )
        self.users[username] = user
        return user

    def add_client(self, client_id: str, secret: str, redirect_uris: list[str]) -> OIDCClient:
        client = OIDCClient(client_id, secret, list(redirect_uris))
        self.clients[client_id] = client
        return client

    # --- the server -----------------------------------------------------------------------

    def _make_app(self) -> Flask:
        provider = self
        app = Flask(__name__)
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 600}

        class AuthorizationCodeGrant(_AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, request: Any) -> AuthorizationCode:
                payload = request.payload
                saved = AuthorizationCode(
                    code=code,
                    client_id=request.client.client_id,
                    redirect_uri=payload.redirect_uri,
                    scope=payload.scope,
                    user=request.user,
                    nonce=payload.data.get("nonce"),
                    code_challenge=payload.data.get("code_challenge"),
                    code_challenge_method=payload.data.get("code_challenge_method"),
                )
                provider.codes[code] = saved
                return saved

            def query_authorization_code(self, code: str, client: Any) -> Any:
                found = provider.codes.get(code)
                if found and found.client_id == client.client_id:
                    return found
                return None

            def delete_authorization_code(self, authorization_code: Any) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Any) -> OIDCUser:
                return authorization_code.user

        class OpenIDCode(_OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return any(code.nonce == nonce for code in provider.codes.values())

            def resolve_client_private_key(self, client: Any) -> Any:
                return provider.foreign_key if provider.sign_with_foreign_key else provider.key

            def get_client_algorithm(self, client: Any) -> str:
                return "RS256"

            def get_encode_header(self, client: Any) -> dict[str, str]:
                return {"alg": "RS256", "kid": KEY_ID}

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                now = int(time.time())
                claims = {
                    "iss": provider.issuer,
                    "aud": [client.get_client_id()],
                    "iat": now,
                    "exp": now + 300,
                }
                claims.update(provider.id_token_claims)
                return claims

            def generate_user_info(self, user: OIDCUser, scope: str) -> UserInfo:
                return UserInfo(user.claims(scope))

        def save_token(token: dict[str, Any], request: Any) -> None:
            provider.tokens[token["access_token"]] = (request.user, token.get("scope", ""))

        server = AuthorizationServer(app, query_client=provider.clients.get, save_token=save_token)
        server.register_grant(
            AuthorizationCodeGrant, [OpenIDCode(require_nonce=False), CodeChallenge(required=True)]
        )

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=provider.issuer,
                authorization_endpoint=f"{provider.issuer}/authorize",
                token_endpoint=f"{provider.issuer}/token",
                userinfo_endpoint=f"{provider.issuer}/userinfo",
                jwks_uri=f"{provider.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                scopes_supported=["openid", "profile", "email", "groups"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                code_challenge_methods_supported=["S256"],
                claims_supported=["sub", "email", "email_verified", "name", "groups", "amr", "acr"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[provider.key.as_dict(private=False)])

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> Any:
            try:
                grant = server.get_consent_grant(end_user=None)
            except Exception as invalid:  # an invalid request is answered, never a form
                return str(escape(str(invalid))), 400
            user: OIDCUser | None = None
            error = ""
            if provider.auto_login:
                user = provider.users[provider.auto_login]
            elif request.method == "POST":
                found = provider.users.get(request.form.get("username", ""))
                if found and secrets.compare_digest(
                    found.password, request.form.get("password", "")
                ):
                    user = found
                else:
                    error = '<p role="alert">Unknown user or wrong password.</p>'
            if user is None:
                return _SIGN_IN_PAGE.format(error=error), 401 if error else 200
            grant.request.user = user
            return server.create_authorization_response(grant_user=user, grant=grant)

        @app.post("/token")
        def issue_token() -> Any:
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo() -> Any:
            header = request.headers.get("Authorization", "")
            found = provider.tokens.get(header.removeprefix("Bearer ").strip())
            if not header.startswith("Bearer ") or found is None:
                return jsonify(error="invalid_token"), 401
            user, scope = found
            return jsonify(user.claims(scope))

        return app


@contextmanager
def running_oidc_provider() -> Iterator[OIDCProvider]:
    """Start an `OIDCProvider` on 127.0.0.1 on a free port; stop it on exit."""
    provider = OIDCProvider()
    server = make_server("127.0.0.1", 0, provider.app, threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def oidc_provider() -> Iterator[OIDCProvider]:
    """A fresh `OIDCProvider` running on loopback for one test (see the module docstring)."""
    with running_oidc_provider() as provider:
        yield provider
