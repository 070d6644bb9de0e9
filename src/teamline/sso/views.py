"""The OpenID Connect callback, with the id_token's signature always checked.

allauth's `openid_connect` skips the signature of an id_token it fetched itself from the token
endpoint (OIDC Core 3.1.3.7 allows it when TLS protects that channel) and checks only issuer,
audience and expiry. Teamline checks the signature too, against the provider's JWKS: the
groups in that token decide roles, an operator may point Teamline at an internal issuer over
plain http, and a second check costs one cached JWKS read. Everything else is allauth's flow."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponse


class VerifyingOIDCAdapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        data: dict[str, Any] = jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )
        return data


@login_not_required
def oidc_callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2CallbackView.adapter_view(VerifyingOIDCAdapter(request, provider_id))
        response: HttpResponse = view(request)
        return response
    except SocialApp.DoesNotExist:
        raise Http404 from None
