"""Customer passkeys (WebAuthn, platform authenticator, resident key): the server side of the
two ceremonies, with py_webauthn (docs/security.md, "Customer step-up").

A customer who just verified by code may save a passkey bound to their customer record;
later, proving possession of it raises a conversation to `strong` (the caller,
widget/consumers.py, does that through conversations.stepup). Each ceremony starts with a
challenge stored as a PasskeyChallenge: single use (a conditional UPDATE claims it),
CHALLENGE_TTL short, bound to the customer, the relying-party id and the origin it was issued
for. Only the credential's public key is kept.

The relying-party id is the host of the Teamline origin that runs the ceremony (the widget
does it inline when the brand page is Teamline's own origin, and otherwise in a small
Teamline-origin window). https is required except on localhost, where browsers allow it for
development.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from teamline.core.errors import Forbidden, InvalidInput

from .models import Customer, CustomerPasskey, PasskeyChallenge

REGISTER = "register"
AUTHENTICATE = "authenticate"
CHALLENGE_TTL = timedelta(minutes=2)
TIMEOUT_MS = 60_000
MAX_PASSKEYS = 10
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str


def relying_party(origin: str | None) -> RelyingParty:
    """The relying party for a ceremony run on `origin` (the page's Origin). Forbidden for a
    page that is neither https nor localhost, or that is not an origin at all."""
    parts = urlsplit(origin or "")
    host = parts.hostname or ""
    if not host or parts.scheme not in ("https", "http") or parts.path not in ("", "/"):
        raise Forbidden("Passkeys need a page on Teamline's own address.")
    if parts.scheme != "https" and host not in LOCAL_HOSTS:
        raise Forbidden("Passkeys need https (http only on localhost, for development).")
    return RelyingParty(id=host, origin=f"{parts.scheme}://{parts.netloc}")


def _new_challenge(
    customer: Customer, purpose: str, rp: RelyingParty, conversation_id: int | None
) -> bytes:
    challenge = secrets.token_bytes(32)
    now = timezone.now()
    PasskeyChallenge.objects.create(
        customer=customer,
        conversation_id=conversation_id,
        purpose=purpose,
        challenge=bytes_to_base64url(challenge),
        rp_id=rp.id,
        origin=rp.origin,
        created_at=now,
        expires_at=now + CHALLENGE_TTL,
    )
    return challenge


def _claim(challenge: str, customer: Customer, purpose: str, now: datetime) -> PasskeyChallenge:
    """The live challenge the browser answered, used up (single use under concurrency)."""
    found = PasskeyChallenge.objects.filter(
        challenge=challenge, customer=customer, purpose=purpose
    ).first()
    if found is None or found.used_at is not None or found.expires_at <= now:
        raise InvalidInput("This passkey request has expired. Please try again.")
    if not PasskeyChallenge.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=now):
        raise InvalidInput("This passkey request has expired. Please try again.")
    return found


def _challenge_of(credential: dict[str, Any]) -> str:
    """The challenge the browser signed, read from clientDataJSON (checked again by the
    library against the stored one)."""
    import json

    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        return str(client_data["challenge"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("This is not a passkey answer.") from exc


def begin_registration(
    customer: Customer, origin: str | None, *, conversation_id: int | None
) -> dict[str, Any]:
    """Options for navigator.credentials.create(): a platform authenticator, a resident key,
    user verification required; the customer's existing passkeys excluded."""
    rp = relying_party(origin)
    existing = list(CustomerPasskey.objects.filter(customer=customer, rp_id=rp.id))
    if len(existing) >= MAX_PASSKEYS:
        raise InvalidInput("You have saved as many passkeys as you can.")
    with transaction.atomic():
        challenge = _new_challenge(customer, REGISTER, rp, conversation_id)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name="Teamline",
        user_id=f"customer-{customer.pk}".encode(),
        user_name=customer.display_name,
        user_display_name=customer.display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing
        ],
    )
    return dict(json.loads(options_to_json(options)))


def do_finish_registration(
    customer: Customer, credential: dict[str, Any], origin: str | None
) -> CustomerPasskey:
    """Check the browser's answer to begin_registration and keep the passkey. InvalidInput
    for anything that does not verify (wrong challenge, origin, rp id, no user verification)."""
    rp = relying_party(origin)
    now = timezone.now()
    with transaction.atomic():
        stored = _claim(_challenge_of(credential), customer, REGISTER, now)
        if stored.rp_id != rp.id or stored.origin != rp.origin:
            raise InvalidInput("This passkey request has expired. Please try again.")
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(stored.challenge),
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
                require_user_verification=True,
            )
        except (InvalidRegistrationResponse, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("The passkey could not be saved.") from exc
        try:
            with transaction.atomic():
                return CustomerPasskey.objects.create(
                    customer=customer,
                    credential_id=bytes_to_base64url(verified.credential_id),
                    public_key=verified.credential_public_key,
                    sign_count=verified.sign_count,
                    rp_id=rp.id,
                    created_at=now,
                )
        except IntegrityError as exc:
            raise InvalidInput("This passkey is saved already.") from exc


def begin_authentication(
    customer: Customer, origin: str | None, *, conversation_id: int | None
) -> dict[str, Any]:
    """Options for navigator.credentials.get(): only this customer's passkeys, user
    verification required. InvalidInput when they have none here."""
    rp = relying_party(origin)
    passkeys = list(CustomerPasskey.objects.filter(customer=customer, rp_id=rp.id))
    if not passkeys:
        raise InvalidInput("No passkey is saved for you yet.")
    with transaction.atomic():
        challenge = _new_challenge(customer, AUTHENTICATE, rp, conversation_id)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in passkeys
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return dict(json.loads(options_to_json(options)))


def do_finish_authentication(
    customer: Customer, credential: dict[str, Any], origin: str | None
) -> PasskeyChallenge:
    """Check the browser's answer to begin_authentication against one of the customer's
    passkeys; returns the used challenge (its conversation_id is the conversation to raise).
    InvalidInput for anything that does not verify, a passkey of someone else included; a
    sign count that went backwards (a cloned authenticator) is refused."""
    rp = relying_party(origin)
    now = timezone.now()
    credential_id = str(credential.get("id") or credential.get("rawId") or "")
    with transaction.atomic():
        stored = _claim(_challenge_of(credential), customer, AUTHENTICATE, now)
        passkey = (
            CustomerPasskey.objects.select_for_update()
            .filter(customer=customer, credential_id=credential_id, rp_id=rp.id)
            .first()
        )
        if passkey is None or stored.rp_id != rp.id or stored.origin != rp.origin:
            raise InvalidInput("This passkey is not one of yours.")
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(stored.challenge),
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
                credential_public_key=bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except (InvalidAuthenticationResponse, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("The passkey did not verify.") from exc
        passkey.sign_count = verified.new_sign_count
        passkey.last_used_at = now
        passkey.save(update_fields=["sign_count", "last_used_at"])
    return stored


def customer_passkeys(customer_id: Any) -> QuerySet[CustomerPasskey]:
    """The customer's saved passkeys (`customer_id` may be an OuterRef)."""
    return CustomerPasskey.objects.filter(customer_id=customer_id)


def has_passkey(customer: Customer) -> bool:
    return customer_passkeys(customer.pk).exists()
