"""A real SAML 2.0 identity provider on loopback, for tests that sign in through SAML.

Built from pysaml2's IdP (`saml2.server.Server`: it parses the service provider's AuthnRequest
and builds and signs the Response and its Assertion with the `xmlsec1` binary, installed by
scripts/install-xmlsec1.sh), served by Flask on werkzeug in a thread. pysaml2 is the maintained
Python SAML implementation used by SATOSA and djangosaml2idp; Teamline's service provider is
python3-saml (through django-allauth), a different implementation, so the two check each other.

What it serves, at ``idp.base_url`` (``http://127.0.0.1:<free port>``):

- ``/metadata``: the IdP's metadata (entity id ``idp.entity_id``, its signing certificate, the
  single sign-on service);
- ``/sso/redirect``: the HTTP-Redirect binding for AuthnRequests. It shows a small sign-in form
  (username + password, labelled, keyboard-usable); on success a page with the signed Response
  in an HTTP-POST form and a "Continue" button posts it to the service provider's assertion
  consumer service (no script: the test clicks, as a person without JavaScript would). Set
  ``idp.auto_login = "sam"`` to skip the sign-in form.

Fixture API (pytest)::

    def test_sign_in(saml_idp):                        # function-scoped, started and stopped
        saml_idp.add_user("sam", groups=["support-north"], email="sam@example.com")
        saml_idp.add_sp("http://127.0.0.1:8000/accounts/saml/acme/metadata/",
                        "http://127.0.0.1:8000/accounts/saml/acme/acs/")
        saml_idp.metadata_url, saml_idp.entity_id, saml_idp.certificate_pem

or ``with running_saml_idp() as idp: ...`` for a longer-lived one. Users carry the attributes
``uid``, ``email``, ``displayName`` and ``groups`` (a multi-valued attribute), NameID = email.

Making it misbehave (each applies to the next responses): ``idp.sign_with_foreign_key = True``
signs with a key that is not the one in the metadata; ``idp.expired = True`` makes the assertion's
NotOnOrAfter lie an hour in the past; ``idp.audience = "https://someone-else.example/"`` addresses
the assertion to another service provider.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask, request
from markupsafe import escape
from werkzeug.serving import make_server

with warnings.catch_warnings():
    # pysaml2 names a cipher mode cryptography has moved (it does not use it here).
    warnings.filterwarnings("ignore", message="CFB has been moved")
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NameID
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

OTHER_AUDIENCE = "https://someone-else.example/"


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test idp {name}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def _sp_metadata(entity_id: str, acs_url: str) -> str:
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{escape(entity_id)}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      AuthnRequestsSigned="false" WantAssertionsSigned="true">
    <md:NameIDFormat>{NAMEID_FORMAT_EMAILADDRESS}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{escape(acs_url)}"
        index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


@dataclass
class SAMLUser:
    username: str
    password: str
    email: str
    name: str
    groups: list[str]

    def attributes(self) -> dict[str, list[str]]:
        return {
            "uid": [self.username],
            "email": [self.email],
            "displayName": [self.name],
            "groups": list(self.groups),
        }


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""

_SIGN_IN = """{error}<form method="post">
<input type="hidden" name="SAMLRequest" value="{saml_request}">
<input type="hidden" name="RelayState" value="{relay_state}">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Continue</button>
</form>"""

_POST_BACK = """<form method="post" action="{acs}">
<input type="hidden" name="SAMLResponse" value="{response}">
<input type="hidden" name="RelayState" value="{relay_state}">
<p>You are signed in to the test identity provider.</p>
<button type="submit">Continue</button>
</form>"""


class SAMLIdP:
    """The IdP's state (users, service providers, keys) and its Flask app; see the module
    docstring for the API."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.users: dict[str, SAMLUser] = {}
        self.service_providers: dict[str, str] = {}  # entity id → assertion consumer service
        self.auto_login: str | None = None
        self.sign_with_foreign_key = False
        self.expired = False
        self.audience: str | None = None
        self.base_url = ""
        self.key_file, self.cert_file = _key_pair(directory, "signing")
        self.foreign_key_file, self.foreign_cert_file = _key_pair(directory, "foreign")
        self.app = self._make_app()

    @property
    def entity_id(self) -> str:
        return f"{self.base_url}/metadata"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/metadata"

    @property
    def sso_url(self) -> str:
        return f"{self.base_url}/sso/redirect"

    @property
    def certificate_pem(self) -> str:
        return self.cert_file.read_text()

    # --- configuration --------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        password: str = "password",  # noqa: S107 - a test user's, typed into the test form
        email: str | None = None,
        name: str | None = None,
        groups: list[str] | tuple[str, ...] = (),
    ) -> SAMLUser:
        user = SAMLUser(
            username=username,
            password=password,
            email=email or f"{username}@idp.example",
            name=name or username.title(),
            groups=list(groups),
        )
        self.users[username] = user
        return user

    def add_sp(self, entity_id: str, acs_url: str) -> None:
        self.service_providers[entity_id] = acs_url

    # --- the server -----------------------------------------------------------------------

    def server(self, *, foreign: bool = False) -> Server:
        """A pysaml2 IdP for the current configuration (cheap enough to build per request, so
        every knob applies to the next response)."""
        metadata = [_sp_metadata(entity, acs) for entity, acs in self.service_providers.items()]
        if self.service_providers:
            first_acs = next(iter(self.service_providers.values()))
            metadata.append(_sp_metadata(OTHER_AUDIENCE, first_acs))
        key_file = self.foreign_key_file if foreign else self.key_file
        cert_file = self.foreign_cert_file if foreign else self.cert_file
        lifetime = {"minutes": -60} if self.expired else {"minutes": 5}
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": "/usr/bin/xmlsec1",
                "key_file": str(key_file),
                "cert_file": str(cert_file),
                "metadata": {"inline": metadata},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]
                        },
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "policy": {
                            "default": {
                                "lifetime": lifetime,
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_BASIC,
                            }
                        },
                        "want_authn_requests_signed": False,
                    }
                },
            }
        )
        return Server(config=config)

    def metadata_xml(self) -> str:
        cert = "".join(line for line in self.certificate_pem.splitlines() if "-----" not in line)
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{escape(self.entity_id)}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      WantAuthnRequestsSigned="false">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{cert}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>{NAMEID_FORMAT_EMAILADDRESS}</md:NameIDFormat>
    <md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" Location="{escape(self.sso_url)}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def respond(self, saml_request: str, user: SAMLUser) -> tuple[str, str]:
        """The signed SAMLResponse (base64) answering `saml_request`, and where it goes."""
        server = self.server()
        parsed = server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        authn_request = parsed.message
        sp_entity_id = authn_request.issuer.text
        acs_url = self.service_providers.get(sp_entity_id)
        if acs_url is None:
            raise LookupError(f"unknown service provider {sp_entity_id!r}")
        signer = self.server(foreign=True) if self.sign_with_foreign_key else server
        response = signer.create_authn_response(
            identity=user.attributes(),
            in_response_to=authn_request.id,
            destination=acs_url,
            sp_entity_id=self.audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user.email),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            },
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        return base64.b64encode(str(response).encode()).decode(), acs_url

    def _make_app(self) -> Flask:
        idp = self
        app = Flask(__name__)

        @app.get("/metadata")
        def metadata() -> Any:
            return idp.metadata_xml(), 200, {"Content-Type": "application/samlmetadata+xml"}

        @app.route("/sso/redirect", methods=["GET", "POST"])
        def sso() -> Any:
            values = request.values
            saml_request = values.get("SAMLRequest", "")
            relay_state = values.get("RelayState", "")
            user: SAMLUser | None = None
            error = ""
            if idp.auto_login:
                user = idp.users[idp.auto_login]
            elif request.method == "POST":
                found = idp.users.get(values.get("username", ""))
                if found and secrets.compare_digest(found.password, values.get("password", "")):
                    user = found
                else:
                    error = '<p role="alert">Unknown user or wrong password.</p>'
            if user is None:
                body = _SIGN_IN.format(
                    error=error, saml_request=escape(saml_request), relay_state=escape(relay_state)
                )
                return _PAGE.format(title="Test identity provider: sign in", body=body), (
                    401 if error else 200
                )
            try:
                response, acs_url = idp.respond(saml_request, user)
            except Exception as invalid:  # a bad request is answered, never signed
                return str(escape(str(invalid))), 400
            body = _POST_BACK.format(
                acs=escape(acs_url), response=response, relay_state=escape(relay_state)
            )
            return _PAGE.format(title="Test identity provider: continue", body=body)

        return app


@contextmanager
def running_saml_idp() -> Iterator[SAMLIdP]:
    """Start a `SAMLIdP` on 127.0.0.1 on a free port; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="saml-idp-") as directory:
        idp = SAMLIdP(Path(directory))
        server = make_server("127.0.0.1", 0, idp.app, threaded=True)
        idp.base_url = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield idp
        finally:
            server.shutdown()
            thread.join(timeout=10)


@pytest.fixture
def saml_idp() -> Iterator[SAMLIdP]:
    """A fresh `SAMLIdP` running on loopback for one test (see the module docstring)."""
    with running_saml_idp() as idp:
        yield idp
