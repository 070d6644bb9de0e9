"""Single sign-on providers from the environment, as django-allauth's SOCIALACCOUNT_PROVIDERS
(read by settings/defaults.py; docs/security.md, "Single sign-on", has Keycloak, Entra ID and
Google Workspace examples). Nothing here touches the database: providers live in settings, not
in allauth's SocialApp table, so a deployment's config is its environment.

OpenID Connect (allauth's `openid_connect`, any provider), enabled by TEAMLINE_OIDC_ISSUER:
  TEAMLINE_OIDC_ISSUER          the issuer URL (its /.well-known/openid-configuration is read)
  TEAMLINE_OIDC_CLIENT_ID       TEAMLINE_OIDC_CLIENT_SECRET
  TEAMLINE_OIDC_ID              the provider id in URLs and group mappings (default "oidc")
  TEAMLINE_OIDC_NAME            the sign-in button's label (default "Single sign-on")
  TEAMLINE_OIDC_SCOPES          default "openid profile email"
  TEAMLINE_OIDC_GROUPS_CLAIM    the claim holding the groups (default "groups")
  TEAMLINE_OIDC_MFA_AMR         `amr` values that mean the provider did MFA
                                (default "mfa,otp,hwk,swk,sms,fido,face,fpt,iris,pop")

SAML 2.0 (allauth's `saml`, python3-saml), enabled by TEAMLINE_SAML_IDP_ENTITY_ID and either
TEAMLINE_SAML_METADATA_URL or, for an IdP that gives its metadata as a file (Google Workspace),
TEAMLINE_SAML_SSO_URL with TEAMLINE_SAML_X509CERT (the signing certificate, PEM or base64):
  TEAMLINE_SAML_IDP_ENTITY_ID   the IdP's entity id
  TEAMLINE_SAML_ID              the organisation slug in URLs and group mappings (default "saml")
  TEAMLINE_SAML_NAME            the sign-in button's label (default "Single sign-on (SAML)")
  TEAMLINE_SAML_GROUPS_ATTRIBUTE  the attribute holding the groups (default "groups")
  TEAMLINE_SAML_IDP_ENFORCES_MFA  1 when the IdP requires MFA for this app (default 0)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

DEFAULT_MFA_AMR = "mfa,otp,hwk,swk,sms,fido,face,fpt,iris,pop"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# Where providers usually put what Teamline reads, after the attribute names the IdP may be
# told to use: Keycloak and Google send what they are told to, Entra ID its claim URIs.
SAML_ATTRIBUTES = {
    "uid": ["uid", "urn:oasis:names:tc:SAML:attribute:subject-id"],
    "email": [
        "email",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ],
    "first_name": [
        "firstName",
        "givenName",
        "urn:oid:2.5.4.42",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    ],
    "last_name": [
        "lastName",
        "surname",
        "urn:oid:2.5.4.4",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    ],
    "username": ["uid", "username"],
}


def _slug(value: str, name: str) -> str:
    if not _SLUG.match(value):
        raise ImproperlyConfigured(f"{name} must be lower-case letters, digits and dashes.")
    return value


def _list(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", value.strip()) if part]


def providers_from_env(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """SOCIALACCOUNT_PROVIDERS for the providers the environment configures (maybe none)."""
    providers: dict[str, Any] = {}
    issuer = env.get("TEAMLINE_OIDC_ISSUER", "").strip()
    if issuer:
        client_id = env.get("TEAMLINE_OIDC_CLIENT_ID", "").strip()
        if not client_id:
            raise ImproperlyConfigured("TEAMLINE_OIDC_ISSUER needs TEAMLINE_OIDC_CLIENT_ID.")
        providers["openid_connect"] = {
            # PKCE on every OIDC sign-in: a stolen authorization code is worth nothing.
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": _slug(env.get("TEAMLINE_OIDC_ID", "oidc"), "TEAMLINE_OIDC_ID"),
                    "name": env.get("TEAMLINE_OIDC_NAME", "Single sign-on"),
                    "client_id": client_id,
                    "secret": env.get("TEAMLINE_OIDC_CLIENT_SECRET", ""),
                    "settings": {
                        "server_url": issuer,
                        "scope": _list(env.get("TEAMLINE_OIDC_SCOPES", "openid profile email")),
                        "groups_claim": env.get("TEAMLINE_OIDC_GROUPS_CLAIM", "groups"),
                        "mfa_amr": _list(env.get("TEAMLINE_OIDC_MFA_AMR", DEFAULT_MFA_AMR)),
                    },
                }
            ],
        }
    metadata_url = env.get("TEAMLINE_SAML_METADATA_URL", "").strip()
    sso_url = env.get("TEAMLINE_SAML_SSO_URL", "").strip()
    if metadata_url or sso_url:
        entity_id = env.get("TEAMLINE_SAML_IDP_ENTITY_ID", "").strip()
        if not entity_id:
            raise ImproperlyConfigured("SAML single sign-on needs TEAMLINE_SAML_IDP_ENTITY_ID.")
        idp: dict[str, str] = {"entity_id": entity_id}
        if metadata_url:
            idp["metadata_url"] = metadata_url
        else:
            cert = env.get("TEAMLINE_SAML_X509CERT", "").strip()
            if not cert:
                raise ImproperlyConfigured("TEAMLINE_SAML_SSO_URL needs TEAMLINE_SAML_X509CERT.")
            idp.update(sso_url=sso_url, x509cert=cert)
        org = _slug(env.get("TEAMLINE_SAML_ID", "saml"), "TEAMLINE_SAML_ID")
        providers["saml"] = {
            "APPS": [
                {
                    "provider_id": org,
                    "client_id": org,
                    "name": env.get("TEAMLINE_SAML_NAME", "Single sign-on (SAML)"),
                    "settings": {
                        "attribute_mapping": SAML_ATTRIBUTES,
                        "idp": idp,
                        "groups_attribute": env.get("TEAMLINE_SAML_GROUPS_ATTRIBUTE", "groups"),
                        "idp_enforces_mfa": env.get("TEAMLINE_SAML_IDP_ENFORCES_MFA", "0")
                        in ("1", "true", "yes", "on"),
                        "advanced": {
                            # python3-saml refuses any response without a valid signature on
                            # the Response or the Assertion; SP-initiated sign-in only.
                            "reject_idp_initiated_sso": True,
                            "allow_single_label_domains": True,
                        },
                    },
                }
            ]
        }
    return providers


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def sso_form_origins(env: Mapping[str, str] = os.environ) -> list[str]:
    """Where a sign-in button's form may end up: the Content-Security-Policy's form-action
    also governs the redirect from Teamline's SSO start to the provider, so the providers'
    origins join 'self' there. TEAMLINE_SSO_FORM_ORIGINS adds more (a SAML IdP whose sign-on
    URL is on another host than its metadata)."""
    urls = [
        env.get("TEAMLINE_OIDC_ISSUER", ""),
        env.get("TEAMLINE_SAML_METADATA_URL", ""),
        env.get("TEAMLINE_SAML_SSO_URL", ""),
        *_list(env.get("TEAMLINE_SSO_FORM_ORIGINS", "")),
    ]
    origins = [origin for url in urls if url.strip() and (origin := _origin(url.strip()))]
    return sorted(set(origins))
