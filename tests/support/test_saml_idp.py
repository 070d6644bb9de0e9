"""The local SAML IdP behaves like one: an AuthnRequest from a different implementation
(python3-saml) gets a signed Response that python3-saml accepts, with the user's groups, and the
misbehaviours the service-provider tests rely on (a foreign signature, an expired assertion,
another audience) are refused by it."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

SP_ENTITY = "http://127.0.0.1:9/saml/metadata/"
ACS = "http://127.0.0.1:9/saml/acs/"


@pytest.fixture
def idp(saml_idp):
    saml_idp.add_user("sam", groups=["support-north", "supervisors"])
    saml_idp.add_sp(SP_ENTITY, ACS)
    saml_idp.auto_login = "sam"
    return saml_idp


def _settings(idp) -> dict:
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(httpx.get(idp.metadata_url).text)
    return {
        "strict": True,
        "idp": parsed["idp"],
        "sp": {
            "entityId": SP_ENTITY,
            "assertionConsumerService": {
                "url": ACS,
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
        },
        "security": {"wantAssertionsSigned": True},
    }


def _round_trip(idp) -> OneLogin_Saml2_Auth:
    settings = _settings(idp)
    request = {"https": "off", "http_host": "127.0.0.1:9", "script_name": "", "get_data": {}}
    login_url = OneLogin_Saml2_Auth({**request, "path_info": "/login/"}, settings).login()
    query = parse_qs(urlsplit(login_url).query)
    page = httpx.get(idp.sso_url, params={"SAMLRequest": query["SAMLRequest"][0]})
    assert page.status_code == 200, page.text
    response = unescape(re.search(r'name="SAMLResponse" value="([^"]+)"', page.text)[1])
    auth = OneLogin_Saml2_Auth(
        {**request, "path_info": "/saml/acs/", "post_data": {"SAMLResponse": response}}, settings
    )
    auth.process_response()
    return auth


def test_a_signed_assertion_with_the_groups_is_accepted(idp):
    auth = _round_trip(idp)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    assert auth.get_nameid() == "sam@idp.example"
    assert auth.get_attributes()["groups"] == ["support-north", "supervisors"]


@pytest.mark.parametrize(
    ("knob", "value", "reason"),
    [
        ("sign_with_foreign_key", True, "Signature validation failed"),
        ("expired", True, "expired"),
        ("audience", "https://someone-else.example/", "not a valid audience"),
    ],
)
def test_a_misbehaving_idp_is_refused(idp, knob, value, reason):
    setattr(idp, knob, value)
    auth = _round_trip(idp)
    assert not auth.is_authenticated()
    assert reason in (auth.get_last_error_reason() or "")
