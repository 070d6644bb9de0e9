"""Customer step-up by the brand's own sign-in: OpenID Connect against the brand's customer
identity provider (docs/security.md, "Customer step-up").

A web chat inbox may name the provider its customers sign in with on the brand's site, in
`Inbox.config["customer_oidc"]`:

    issuer     the issuer URL; its /.well-known/openid-configuration is read (https, except on
               loopback for development)
    client_id  the client Teamline is registered as at the provider
    name       what the widget's button says: "Sign in with <name>"
    identity   which of the customer's proven identities the sign-in must match:
               "email", "phone" or "external" (the brand's user id, as the widget's
               data-user-id and the app's user_id)
    claim      the id_token claim holding that identity (default: email, phone_number, sub)
    scopes     default "openid" plus "email" or "phone" for those identities

and the client secret in the inbox's encrypted credentials as `customer_oidc_client_secret`.
The provider must allow the redirect URI <Teamline's address>/widget/oidc/callback.

The flow is OAuth 2.0's authorization code with PKCE (S256), `state` and `nonce`, run by
Authlib's OAuth 2.0 client; the id_token is checked by joserfc against the provider's JWKS
(signature, an asymmetric algorithm the provider announces) and by Authlib's `CodeIDToken`
(issuer, audience, expiry, nonce, azp, at_hash). What the browser has to carry between the
start and the callback (state, nonce, PKCE verifier, the conversation) is Fernet-encrypted
into a short-lived HttpOnly cookie on Teamline's origin (core/crypto.py): the callback is
accepted only in the browser that started it, for the state it was given.

An email or phone claim counts only when the provider says it verified it
(`email_verified` / `phone_number_verified`): anyone can type someone else's address into an
account they create. A claim that is not one of the conversation's customer's proven
identities refuses the step-up (audited; the agent sees a line saying so).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from django.core.cache import cache
from django.utils.translation import gettext as _
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from teamline.conversations.models import Conversation, Inbox
from teamline.conversations.stepup import do_refuse_step_up, do_verify_conversation
from teamline.core.crypto import decrypt_json, encrypt_json
from teamline.core.errors import Forbidden, InvalidInput, TeamlineError
from teamline.customers import verification
from teamline.customers.identities import normalize_identity
from teamline.customers.models import Identity, IdentityKind

logger = logging.getLogger(__name__)

CONFIG_KEY = "customer_oidc"
SECRET_KEY = "customer_oidc_client_secret"  # noqa: S105 - the name of a credential
IDENTITY_KINDS = (IdentityKind.EMAIL.value, IdentityKind.PHONE.value, IdentityKind.EXTERNAL.value)
DEFAULT_CLAIM = {"email": "email", "phone": "phone_number", "external": "sub"}
DEFAULT_SCOPES = {"email": "openid email", "phone": "openid phone", "external": "openid"}
# A claim the provider may assert without having checked it: counted only when it says so.
VERIFIED_FLAG = {"email": "email_verified", "phone_number": "phone_number_verified"}
# Only signatures with the provider's public key: never "none", never a shared secret.
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
FLOW_SECONDS = 600
LEEWAY_SECONDS = 60
HTTP_TIMEOUT = 10.0
METADATA_SECONDS = 3600
JWKS_SECONDS = 600
MAX_DOCUMENT_BYTES = 256 * 1024

# Why a step-up by sign-in was refused: in the audit entry and the agent's line.
PROVIDER_ERROR = "provider_error"
INVALID_ID_TOKEN = "invalid_id_token"  # noqa: S105 - a reason, not a token
UNVERIFIED_CLAIM = "unverified_claim"
CLAIM_MISMATCH = "claim_mismatch"


class ProviderUnavailable(TeamlineError):
    """The brand's provider did not answer, or not as an OpenID Connect provider does."""

    code = "provider_unavailable"
    status = 503


@dataclass(frozen=True)
class BrandProvider:
    inbox_id: int
    name: str
    issuer: str
    client_id: str
    client_secret: str
    identity_kind: str
    claim: str
    scopes: str


@dataclass(frozen=True)
class Flow:
    """One sign-in on its way, as carried by the browser's cookie (encrypted)."""

    state: str
    nonce: str
    verifier: str
    conversation_id: int
    customer_id: int
    inbox_id: int
    expires: int


# --- Configuration -----------------------------------------------------------------------------


def _issuer_problem(issuer: str) -> str | None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
        return "issuer must be the provider's https URL."
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "issuer must use https (http only on loopback, for development)."
    return None


def config_problems(config: object, credentials: dict[str, Any] | None = None) -> list[str]:
    """What is wrong with an inbox's `customer_oidc` settings (nothing when it has none);
    the inbox admin form shows these."""
    if not isinstance(config, dict) or CONFIG_KEY not in config:
        return []
    section = config[CONFIG_KEY]
    if not isinstance(section, dict):
        return [f"{CONFIG_KEY} must be an object."]
    problems = []
    issuer = section.get("issuer")
    if not isinstance(issuer, str) or not issuer.strip():
        problems.append(f"{CONFIG_KEY}.issuer is required.")
    elif problem := _issuer_problem(issuer.strip()):
        problems.append(f"{CONFIG_KEY}.{problem}")
    for key in ("client_id", "name"):
        value = section.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            problems.append(f"{CONFIG_KEY}.{key} is required (at most 200 characters).")
    if section.get("identity") not in IDENTITY_KINDS:
        problems.append(f"{CONFIG_KEY}.identity must be one of {', '.join(IDENTITY_KINDS)}.")
    for key in ("claim", "scopes"):
        if key in section and (not isinstance(section[key], str) or not section[key].strip()):
            problems.append(f"{CONFIG_KEY}.{key} must be a non-empty string.")
    scopes = section.get("scopes")
    if isinstance(scopes, str) and "openid" not in scopes.split():
        problems.append(f"{CONFIG_KEY}.scopes must include openid.")
    if credentials is not None and not str(credentials.get(SECRET_KEY) or "").strip():
        problems.append(f"The credentials need {SECRET_KEY} (the client secret).")
    return problems


def provider_for(inbox: Inbox) -> BrandProvider | None:
    """The brand sign-in `inbox` offers, or None (not configured, or configured wrongly: the
    admin form says why; the widget then simply does not offer it)."""
    config = inbox.config or {}
    if CONFIG_KEY not in config:
        return None
    try:
        credentials = inbox.credentials
    except ValueError:
        return None
    if config_problems(config, credentials):
        return None
    section = config[CONFIG_KEY]
    kind = section["identity"]
    return BrandProvider(
        inbox_id=inbox.pk,
        name=section["name"].strip(),
        issuer=section["issuer"].strip().rstrip("/"),
        client_id=section["client_id"].strip(),
        client_secret=str(credentials[SECRET_KEY]).strip(),
        identity_kind=kind,
        claim=str(section.get("claim") or DEFAULT_CLAIM[kind]).strip(),
        scopes=str(section.get("scopes") or DEFAULT_SCOPES[kind]).strip(),
    )


def offer_for(inbox: Inbox) -> dict[str, str] | None:
    """What the widget is told about the brand sign-in ({"name"}), or None."""
    provider = provider_for(inbox)
    return {"name": provider.name} if provider else None


# --- The provider's documents ------------------------------------------------------------------


def _cache_key(kind: str, url: str) -> str:
    return f"brand-oidc:{kind}:{hashlib.sha256(url.encode()).hexdigest()[:32]}"


def _get_json(url: str) -> dict[str, Any]:
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        logger.warning("brand sign-in: %s unreachable (%s)", url, type(exc).__name__)
        raise ProviderUnavailable(_unavailable()) from None
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
        logger.warning("brand sign-in: %s answered HTTP %s", url, response.status_code)
        raise ProviderUnavailable(_unavailable())
    try:
        document = response.json()
    except ValueError:
        raise ProviderUnavailable(_unavailable()) from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(_unavailable())
    return document


def _unavailable() -> str:
    return _("The sign-in cannot be reached just now. Try again in a moment, or use a code.")


def metadata(provider: BrandProvider) -> dict[str, Any]:
    """The provider's discovery document (cached METADATA_SECONDS). Its issuer must be the
    configured one, and it must offer the authorization code flow with PKCE S256."""
    url = f"{provider.issuer}/.well-known/openid-configuration"
    key = _cache_key("metadata", url)
    found = cache.get(key)
    if isinstance(found, dict):
        return found
    document = _get_json(url)
    wanted = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    if str(document.get("issuer", "")).rstrip("/") != provider.issuer or not all(
        isinstance(document.get(name), str) for name in wanted
    ):
        logger.warning("brand sign-in: %s is not the discovery document of its issuer", url)
        raise ProviderUnavailable(_unavailable())
    cache.set(key, document, METADATA_SECONDS)
    return document


def _key_set(jwks_uri: str, *, force: bool = False) -> KeySet:
    key = _cache_key("jwks", jwks_uri)
    found = None if force else cache.get(key)
    if not isinstance(found, dict):
        found = _get_json(jwks_uri)
        cache.set(key, found, JWKS_SECONDS)
    try:
        return KeySet.import_key_set(found)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise ProviderUnavailable(_unavailable()) from None


def _algorithms(document: dict[str, Any]) -> list[str]:
    announced = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    return [alg for alg in ASYMMETRIC_ALGORITHMS if alg in announced]


def _client(provider: BrandProvider, document: dict[str, Any], redirect_uri: str) -> OAuth2Session:
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth_method = (
        "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    )
    return OAuth2Session(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )


# --- The flow ----------------------------------------------------------------------------------


def begin(
    provider: BrandProvider, conversation: Conversation, redirect_uri: str
) -> tuple[str, str]:
    """Start a sign-in for `conversation`: (the provider's authorization URL to send the
    browser to, the encrypted flow for its cookie). ProviderUnavailable when the provider's
    discovery document cannot be read."""
    document = metadata(provider)
    flow = Flow(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=generate_token(64),
        conversation_id=conversation.pk,
        customer_id=conversation.customer_id,
        inbox_id=provider.inbox_id,
        expires=int(time.time()) + FLOW_SECONDS,
    )
    with _client(provider, document, redirect_uri) as client:
        url, _state = client.create_authorization_url(
            document["authorization_endpoint"],
            state=flow.state,
            code_verifier=flow.verifier,
            nonce=flow.nonce,
        )
    return url, encrypt_json(flow.__dict__)


def expired() -> str:
    return _("This sign-in has expired or was started elsewhere. Start it again from the chat.")


def read_flow(cookie: str | None, state: str | None) -> Flow:
    """The flow this browser started, for the `state` the provider sent back. InvalidInput
    when there is none, it is over FLOW_SECONDS old, or the state is not its own."""
    if not cookie or not state or len(cookie) > 4096:
        raise InvalidInput(expired())
    try:
        data = decrypt_json(cookie)
        flow = Flow(**data)
    except (ValueError, TypeError):
        raise InvalidInput(expired()) from None
    if flow.expires < time.time() or not secrets.compare_digest(flow.state, state):
        raise InvalidInput(expired())
    return flow


def _checked_claims(
    provider: BrandProvider, document: dict[str, Any], token: dict[str, Any], nonce: str
) -> dict[str, Any]:
    """The id_token's claims, after joserfc checked its signature with the provider's keys
    and Authlib's CodeIDToken its issuer, audience, expiry, nonce, azp and at_hash. Raises
    JoseError (or ValueError) for anything that does not hold."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise ValueError("no id_token")
    registry = JWSRegistry(algorithms=_algorithms(document))
    try:
        decoded = jwt.decode(id_token, _key_set(document["jwks_uri"]), registry=registry)
    except InvalidKeyIdError:
        # The provider rotated its keys since they were cached.
        fresh = _key_set(document["jwks_uri"], force=True)
        decoded = jwt.decode(id_token, fresh, registry=registry)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": provider.client_id},
            "nonce": {"essential": True, "value": nonce},
        },
        {
            "nonce": nonce,
            "client_id": provider.client_id,
            "access_token": token.get("access_token"),
        },
    )
    claims.validate(leeway=LEEWAY_SECONDS)
    return dict(claims)


def _identity_claim(provider: BrandProvider, claims: dict[str, Any]) -> str | None:
    """The claim's value as an identity of the configured kind, or None when the provider
    did not say it checked it (or it is no such identity)."""
    value = claims.get(provider.claim)
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    flag = VERIFIED_FLAG.get(provider.claim)
    if flag and claims.get(flag) is not True:
        return None
    try:
        return normalize_identity(provider.identity_kind, str(value))
    except InvalidInput:
        return None


def refused_text(reason: str) -> str:
    if reason == CLAIM_MISMATCH:
        return _(
            "You signed in as someone other than the customer in this chat, so you are not "
            "verified. Sign in with your own account, or ask your team for a code."
        )
    if reason == UNVERIFIED_CLAIM:
        return _(
            "Your account does not show a confirmed address or number we can match, so you are "
            "not verified. Ask your team for a code instead."
        )
    return _(
        "The sign-in could not be checked, so you are not verified. Start it again from the chat."
    )


def _refuse(conversation: Conversation, reason: str, ip: str | None) -> Forbidden:
    do_refuse_step_up(conversation, method=verification.OIDC, reason=reason, ip=ip)
    return Forbidden(refused_text(reason))


def do_finish_brand_sign_in(
    flow: Flow, *, code: str | None, error: str | None, redirect_uri: str, ip: str | None = None
) -> Conversation:
    """The provider sent the browser back: exchange the code (with the PKCE verifier), check
    the id_token, match its claim to one of the conversation's customer's proven identities
    and raise the conversation to `strong` by method `oidc`. Forbidden (refused: audited, and
    a line for the agent) or InvalidInput / ProviderUnavailable (nothing happened)."""
    conversation = (
        Conversation.objects.select_related("customer", "inbox")
        .filter(pk=flow.conversation_id, customer_id=flow.customer_id)
        .first()
    )
    inbox = Inbox.objects.filter(pk=flow.inbox_id, is_active=True).first()
    provider = provider_for(inbox) if inbox is not None else None
    if conversation is None or provider is None:
        raise InvalidInput(expired())
    if error or not code:
        # The customer cancelled, or the provider refused them: nothing is proven or refused.
        raise InvalidInput(_("The sign-in was cancelled. You can start it again from the chat."))
    document = metadata(provider)
    try:
        with _client(provider, document, redirect_uri) as client:
            token = client.fetch_token(
                document["token_endpoint"],
                grant_type="authorization_code",
                code=code[:2048],
                code_verifier=flow.verifier,
                timeout=HTTP_TIMEOUT,
                allow_redirects=False,
            )
    except requests.RequestException as exc:
        logger.warning("brand sign-in: token endpoint unreachable (%s)", type(exc).__name__)
        raise ProviderUnavailable(_unavailable()) from None
    except (OAuthError, ValueError, KeyError, TypeError) as exc:
        logger.info("brand sign-in: the provider refused the code (%s)", type(exc).__name__)
        raise _refuse(conversation, PROVIDER_ERROR, ip) from None
    try:
        claims = _checked_claims(provider, document, dict(token), flow.nonce)
    except ProviderUnavailable:
        raise
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        # Forged, expired, for another client or another sign-in: the kind of failure only.
        logger.warning("brand sign-in: id_token refused (%s)", type(exc).__name__)
        raise _refuse(conversation, INVALID_ID_TOKEN, ip) from None
    value = _identity_claim(provider, claims)
    if value is None:
        raise _refuse(conversation, UNVERIFIED_CLAIM, ip)
    matches = Identity.objects.filter(
        customer_id=conversation.customer_id,
        kind=provider.identity_kind,
        value=value,
        verified=True,
    ).exists()
    if not matches:
        raise _refuse(conversation, CLAIM_MISMATCH, ip)
    return do_verify_conversation(conversation, method=verification.OIDC)
