"""Writes for channel sessions and inboxes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from teamline.core import ratelimit
from teamline.core.errors import Forbidden, NotFound
from teamline.customers.actions import (
    do_create_webchat_visitor,
    do_resolve_verified_customer,
    do_update_customer_profile,
)
from teamline.customers.models import Customer

from . import webchat
from .models import Inbox


@dataclass(frozen=True)
class WebchatSession:
    customer: Customer
    token: str
    verified: bool


def do_start_webchat_session(
    inbox: Inbox,
    *,
    token: str | None = None,
    user_id: str | None = None,
    user_hash: str | None = None,
    name: str = "",
    email: str = "",
    ip: str = "",
) -> WebchatSession:
    """Open or resume a widget session.

    - `user_id` + a valid `user_hash`: the brand vouched for this user → their customer.
      A wrong hash is refused, never downgraded to an anonymous session.
    - a valid `token` for this inbox: the same visitor again (asynchronous messaging).
    - otherwise a new anonymous visitor (rate-limited per IP).
    A typed name/email is stored on the visitor's own record only (see customers.actions).
    """
    if user_id:
        if not webchat.verify_identity(inbox.secret, user_id, user_hash or ""):
            raise Forbidden("The identity signature does not match.")
        customer = do_resolve_verified_customer(user_id, name=name, email=email, home_team=None)
        return WebchatSession(
            customer, webchat.sign_session(str(inbox.public_id), customer.pk), True
        )
    if token:
        try:
            claims = webchat.read_session(token)
        except NotFound:
            claims = None
        if claims and claims.inbox_public_id == str(inbox.public_id):
            known = Customer.objects.filter(pk=claims.customer_id).first()
            if known is not None:
                if name:
                    do_update_customer_profile(known, name=name)
                return WebchatSession(
                    known, webchat.sign_session(str(inbox.public_id), known.pk), False
                )
    ratelimit.hit(
        f"webchat-session:{ip}",
        limit=settings.TEAMLINE["RATE_NEW_SESSIONS_PER_IP_PER_HOUR"],
        window_seconds=3600,
    )
    customer = do_create_webchat_visitor(uuid.uuid4().hex)
    if name or email:
        do_update_customer_profile(customer, name=name, unverified_email=email)
    return WebchatSession(customer, webchat.sign_session(str(inbox.public_id), customer.pk), False)
