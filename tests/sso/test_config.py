"""Providers come from the environment: what each variable turns on, and what is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from teamline.sso.config import providers_from_env, sso_form_origins

KEYCLOAK = {
    "TEAMLINE_OIDC_ISSUER": "https://sso.example.com/realms/staff",
    "TEAMLINE_OIDC_CLIENT_ID": "teamline",
    "TEAMLINE_OIDC_CLIENT_SECRET": "s3cret",
    "TEAMLINE_OIDC_ID": "keycloak",
}


def test_nothing_configured_is_no_provider():
    assert providers_from_env({}) == {}
    assert sso_form_origins({}) == []


def test_an_oidc_provider_uses_pkce_and_reads_groups_and_amr():
    app = providers_from_env(KEYCLOAK)["openid_connect"]
    assert app["OAUTH_PKCE_ENABLED"] is True
    (config,) = app["APPS"]
    assert config["provider_id"] == "keycloak" and config["secret"] == "s3cret"
    assert config["settings"]["server_url"] == KEYCLOAK["TEAMLINE_OIDC_ISSUER"]
    assert config["settings"]["groups_claim"] == "groups"
    assert "mfa" in config["settings"]["mfa_amr"]


def test_saml_from_a_metadata_url_or_a_certificate():
    by_metadata = providers_from_env(
        {
            "TEAMLINE_SAML_METADATA_URL": "https://login.example.net/app/metadata",
            "TEAMLINE_SAML_IDP_ENTITY_ID": "https://login.example.net/",
            "TEAMLINE_SAML_ID": "acme",
        }
    )["saml"]["APPS"][0]
    assert by_metadata["client_id"] == "acme"
    assert by_metadata["settings"]["idp"]["metadata_url"].endswith("/metadata")
    assert by_metadata["settings"]["advanced"]["reject_idp_initiated_sso"] is True
    google = {
        "TEAMLINE_SAML_SSO_URL": "https://accounts.google.com/o/saml2/idp?idpid=C0",
        "TEAMLINE_SAML_IDP_ENTITY_ID": "https://accounts.google.com/o/saml2?idpid=C0",
        "TEAMLINE_SAML_X509CERT": "MIIDdDCC",
        "TEAMLINE_SAML_IDP_ENFORCES_MFA": "1",
    }
    by_cert = providers_from_env(google)["saml"]["APPS"][0]["settings"]
    assert by_cert["idp"]["x509cert"] == "MIIDdDCC" and by_cert["idp_enforces_mfa"] is True
    assert sso_form_origins({**KEYCLOAK, **google}) == [
        "https://accounts.google.com",
        "https://sso.example.com",
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"TEAMLINE_OIDC_ISSUER": "https://sso.example.com"},  # no client id
        {**KEYCLOAK, "TEAMLINE_OIDC_ID": "Key Cloak/../"},  # not a slug
        {"TEAMLINE_SAML_METADATA_URL": "https://idp.example/metadata"},  # no entity id
        {"TEAMLINE_SAML_SSO_URL": "https://idp.example/sso", "TEAMLINE_SAML_IDP_ENTITY_ID": "x"},
    ],
)
def test_an_incomplete_configuration_stops_start_up(env):
    with pytest.raises(ImproperlyConfigured):
        providers_from_env(env)
