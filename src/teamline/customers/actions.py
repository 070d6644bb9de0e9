"""Every write to customers and identities."""

from __future__ import annotations

import hmac as _hmac
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.core import ratelimit
from teamline.core.compiled import CompiledInsert, CompiledOnce
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.core.jsonsafe import text_problem
from teamline.core.langid import detect_language
from teamline.core.languages import first_supported, languages, supported_language
from teamline.teams.models import Team, validate_timezone

from . import codes, masking
from .hooks import identity_known_on_commit
from .identities import normalize_identity
from .models import (
    CONSENT_DEFAULT_ON,
    Consent,
    ConsentChange,
    ConsentSource,
    Customer,
    CustomerMerge,
    Identity,
    IdentityKind,
    LanguageSource,
    OneTimeCode,
)
from .queries import BOTS_OPT_OUT_ATTRIBUTE, check_consent_topic
from .sms_opt_out import OPT_OUT_ATTRIBUTE, opted_out_numbers, updated_opt_outs


def do_create_customer(
    *,
    name: str = "",
    preferred_language: str = "",
    preferred_channel: str = "",
    home_team: Team | None = None,
    region: str = "",
    attributes: dict[str, Any] | None = None,
    identities: list[tuple[str, str, bool]] = (),  # type: ignore[assignment]
    actor: User | None = None,
) -> Customer:
    """Create a customer with identities (kind, value, verified). Raises InvalidInput if an
    identity belongs to somebody else: identities are never silently moved."""
    with transaction.atomic():
        customer = Customer.objects.create(
            name=name,
            preferred_language=preferred_language,
            language_source=LanguageSource.CHOSEN if preferred_language else "",
            preferred_channel=preferred_channel,
            home_team=home_team,
            region=region,
            attributes=attributes or {},
        )
        for kind, value, verified in identities:
            do_add_identity(customer, kind, value, verified=verified, actor=actor)
    return customer


def do_add_identity(
    customer: Customer, kind: str, value: str, *, verified: bool, actor: User | None = None
) -> Identity:
    normalized = normalize_identity(kind, value)
    try:
        with transaction.atomic():
            identity = Identity.objects.create(
                customer=customer, kind=kind, value=normalized, verified=verified
            )
            identity_known_on_commit(customer.pk, kind, normalized, verified=verified)
            return identity
    except IntegrityError as exc:
        existing = Identity.objects.get(kind=kind, value=normalized)
        if existing.customer_id == customer.pk:
            return existing
        raise InvalidInput(f"{kind} {normalized} already belongs to another customer") from exc


def do_resolve_verified_customer(
    external_id: str, *, name: str = "", email: str = "", home_team: Team | None = None
) -> Customer:
    """Find or create the customer the brand vouched for (verified external user id).

    Concurrent first contacts of the same user converge on one customer thanks to the unique
    (kind, value) constraint on identities.
    """
    value = normalize_identity(IdentityKind.EXTERNAL, external_id)
    identity = (
        Identity.objects.select_related("customer")
        .filter(kind=IdentityKind.EXTERNAL, value=value)
        .first()
    )
    if identity:
        return identity.customer
    try:
        with transaction.atomic():
            customer = Customer.objects.create(name=name, home_team=home_team)
            Identity.objects.create(
                customer=customer, kind=IdentityKind.EXTERNAL, value=value, verified=True
            )
            identity_known_on_commit(customer.pk, IdentityKind.EXTERNAL, value, verified=True)
            if email:
                # The brand vouched for this user; its email is kept as a verified identity only
                # if nobody else owns it already.
                try:
                    with transaction.atomic():
                        address = normalize_identity(IdentityKind.EMAIL, email)
                        Identity.objects.create(
                            customer=customer,
                            kind=IdentityKind.EMAIL,
                            value=address,
                            verified=True,
                        )
                        identity_known_on_commit(
                            customer.pk, IdentityKind.EMAIL, address, verified=True
                        )
                except IntegrityError:
                    pass
            return customer
    except IntegrityError:
        return (
            Identity.objects.select_related("customer")
            .get(kind=IdentityKind.EXTERNAL, value=value)
            .customer
        )


# A new widget visitor is the write every first page view makes (10,000 after a deploy's
# reconnects are not new, but a campaign's visitors are): its two INSERTs compiled once per
# process (core/compiled.py) instead of by Model.save, which was 18 % of opening a widget. No
# signal listens to either model (tests/customers/test_visitor_insert.py checks that).
_CUSTOMER_INSERT = CompiledInsert(Customer)
_IDENTITY_INSERT = CompiledInsert(Identity)


def do_create_webchat_visitor(
    visitor_id: str, *, home_team: Team | None = None, language_hints: Iterable[str] = ()
) -> Customer:
    """A new anonymous web chat visitor: a customer known only by a random visitor id, and
    its unverified webchat identity, in one transaction (an identity that exists already:
    IntegrityError, nothing stored). `language_hints`: the page's and the browser's tags, most
    wanted first; the first language Teamline speaks is stored as the channel's (as
    do_capture_language would, in the INSERT rather than a second statement)."""
    language = first_supported(language_hints) or ""
    value = normalize_identity(IdentityKind.WEBCHAT, visitor_id)
    with transaction.atomic():
        customer = Customer(
            home_team=home_team,
            preferred_language=language,
            language_source=LanguageSource.CHANNEL if language else "",
            preferred_channel="webchat",
        )
        _CUSTOMER_INSERT.insert(customer)
        _IDENTITY_INSERT.insert(
            Identity(customer=customer, kind=IdentityKind.WEBCHAT, value=value, verified=False)
        )
        identity_known_on_commit(customer.pk, IdentityKind.WEBCHAT, value, verified=False)
    return customer


def do_update_customer_profile(
    customer: Customer,
    *,
    name: str | None = None,
    preferred_language: str | None = None,
    unverified_email: str | None = None,
    actor: User | None = None,
) -> Customer:
    """Details a customer typed themselves. An email typed into the widget is kept as an
    attribute, never as an identity: typing someone's address must not reach their history."""
    fields = []
    if name is not None and name.strip():
        customer.name = name.strip()[:200]
        fields.append("name")
    if preferred_language:
        customer.preferred_language = preferred_language[:16]
        fields.append("preferred_language")
    if unverified_email:
        customer.attributes = {**customer.attributes, "unverified_email": unverified_email[:320]}
        fields.append("attributes")
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    return customer


class ResolvedSender(NamedTuple):
    """Who an inbound contact is (do_resolve_sender)."""

    customer: Customer
    identity: Identity
    # The customer was created by this call, in the caller's transaction: nothing refers to
    # them yet (no conversation, no preference, no earlier contact), so nothing is looked up.
    created: bool


# An inbound sender's identity with its owner: read for every provider message, compiled once.
_identity_with_owner = CompiledOnce(
    lambda kind, value: Identity.objects.select_related("customer").filter(kind=kind, value=value),
    markers=(CompiledOnce.TEXT, CompiledOnce.TEXT_2),
)


def do_resolve_sender(
    kind: str,
    value: str,
    *,
    verified: bool,
    name: str = "",
    home_team: Team | None = None,
    default_region: str | None = None,
    language_hints: Iterable[str | None] = (),
    language_text: str = "",
) -> ResolvedSender:
    """The customer an inbound contact on a provider channel belongs to. Raises InvalidInput
    if `value` is not a valid `kind` identity.

    (kind, normalised value) decides: a phone number (E.164) or an email address resolves to
    whoever owns that identity, whatever channel it came in on (WhatsApp, SMS and voice share
    `phone`). An unknown sender becomes a new customer holding that identity, `verified` as the
    provider proved it, with the language the contact tells (`language_text` they wrote,
    else `language_hints`, as do_capture_language learns it) stored in the same INSERT.
    Nothing here adds an identity to an existing customer or merges two customers: that is an
    agent's explicit conversations.actions.do_merge_customers; nor is an existing customer's
    language learned (do_capture_language, the caller's next step).

    An unverified sender (an email From: header) still resolves to the identity's owner: the
    reply goes back to that address, i.e. to its real owner, so the claim never hands anyone
    else the history. The message records `sender.verified` for the agent to see.
    Concurrent first contacts converge on one customer (unique (kind, value)): the identity's
    INSERT skips an existing row instead of failing (no savepoint), and the loser's customer
    row is deleted again. Costs one read for a known sender; two INSERTs more for a new one.
    """
    normalized = normalize_identity(kind, value, default_region=default_region)
    identity = _identity_with_owner.first(kind, normalized)
    if identity is not None:
        return ResolvedSender(_owner(identity), identity, created=False)
    learned = learned_language(hints=language_hints, text=language_text)
    language, source = learned if learned is not None else ("", "")
    with transaction.atomic(savepoint=False):
        customer = Customer(
            name=(name or "").strip()[:200],
            home_team=home_team,
            preferred_channel="",
            preferred_language=language,
            language_source=source,
        )
        _CUSTOMER_INSERT.insert(customer)
        identity = Identity(customer=customer, kind=kind, value=normalized, verified=verified)
        if _IDENTITY_INSERT.insert_new(identity):
            identity_known_on_commit(customer.pk, kind, normalized, verified=verified)
            return ResolvedSender(customer, identity, created=True)
        # A concurrent first contact stored the identity first: theirs is the customer.
        Customer.objects.filter(pk=customer.pk).delete()
    identity = Identity.objects.select_related("customer").get(kind=kind, value=normalized)
    return ResolvedSender(_owner(identity), identity, created=False)


def _owner(identity: Identity) -> Customer:
    owner = identity.customer
    # A merged customer's identities moved; this is defensive for rows that did not.
    while owner.merged_into_id is not None and owner.merged_into is not None:
        owner = owner.merged_into
    return owner


def lock_customers_for_merge(source: Customer, target: Customer) -> tuple[Customer, Customer]:
    """The first step of a merge (conversations.actions.do_merge_customers): both customer rows
    locked, lower id first, and checked (InvalidInput: the same customer, gone, or merged
    already). Call inside the merge's transaction."""
    if source.pk == target.pk:
        raise InvalidInput("A customer cannot be merged into itself.")
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    src, dst = locked.get(source.pk), locked.get(target.pk)
    if src is None or dst is None:
        raise InvalidInput("One of the customers no longer exists.")
    if src.merged_into_id is not None:
        raise InvalidInput(f"{src.display_name} was already merged into another customer.")
    if dst.merged_into_id is not None:
        raise InvalidInput(f"{dst.display_name} was merged into another customer.")
    return src, dst


def merge_locked_customers(
    src: Customer,
    dst: Customer,
    *,
    actor: User,
    reason: str,
    conversation_ids: list[int],
) -> CustomerMerge:
    """The customers' side of a merge, on rows locked by lock_customers_for_merge: moves every
    identity of `src` to `dst`, copies attributes `dst` lacks (and its name/home team if `dst`
    has none), marks `src.merged_into` and writes the CustomerMerge row listing exactly what
    moved (`conversation_ids`: the conversations the caller moved). Emits nothing."""
    identities = [
        {"kind": i.kind, "value": i.value, "verified": i.verified}
        for i in Identity.objects.filter(customer=src).order_by("kind", "value")
    ]
    Identity.objects.filter(customer=src).update(customer=dst)
    copied = {k: v for k, v in src.attributes.items() if k not in dst.attributes}
    fields = []
    if copied:
        dst.attributes = {**dst.attributes, **copied}
        fields.append("attributes")
    if not dst.name and src.name:
        dst.name = src.name
        fields.append("name")
    if dst.home_team_id is None and src.home_team_id is not None:
        dst.home_team_id = src.home_team_id
        fields.append("home_team")
    if fields:
        dst.save(update_fields=[*fields, "updated_at"])
    src.merged_into = dst
    src.save(update_fields=["merged_into", "updated_at"])
    return CustomerMerge.objects.create(
        target=dst,
        source_id_copy=src.pk,
        source_name=src.display_name,
        actor=actor,
        reason=reason[:300],
        identities=identities,
        conversations=conversation_ids,
        attributes=copied,
    )


def do_record_sms_keyword(customer: Customer, number: str, keyword: str) -> Customer:
    """STOP / START from `number`: keeps customer.attributes["sms_opt_out"], the E.164 numbers
    never to be texted, by the one rule in customers.sms_opt_out (which the SMS connector also
    reads for reachability and before sending). Anything else changes nothing. Locks the
    customer row."""
    if keyword not in ("stop", "start"):
        return customer
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        current = opted_out_numbers(locked.attributes)
        numbers = updated_opt_outs(current, number, keyword)
        if numbers != current:
            locked.attributes = {**locked.attributes, OPT_OUT_ATTRIBUTE: numbers}
            locked.save(update_fields=["attributes", "updated_at"])
    customer.attributes = locked.attributes
    return customer


WRONG_CODE = "That code is wrong or has expired. Ask for a new code."


def do_issue_code(identity: Identity, *, purpose: str, now: datetime | None = None) -> str:
    """A new one-time code for a verified `identity` (customers/codes.py); returns the plain
    code for the caller to deliver at once — it is stored only as an HMAC and must never be
    logged. Any unused code of the same purpose is superseded. Raises Forbidden for an
    unverified identity and RateLimited past SENDS_PER_ADDRESS_PER_HOUR for the address."""
    if purpose not in codes.PURPOSES:
        raise InvalidInput(f"Unknown code purpose {purpose!r}.")
    if not identity.verified:
        raise Forbidden("Codes are only sent to verified addresses.")
    ratelimit.hit(
        f"code-send:{codes.address_key(identity.kind, identity.value)}",
        limit=codes.SENDS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    )
    now = now or timezone.now()
    code = codes.new_code()
    with transaction.atomic():
        OneTimeCode.objects.filter(identity=identity, purpose=purpose, used_at__isnull=True).update(
            used_at=now
        )
        OneTimeCode.objects.create(
            identity=identity,
            purpose=purpose,
            code_hash=codes.code_hash(purpose, identity.kind, identity.value, code),
            created_at=now,
            expires_at=now + codes.CODE_TTL,
        )
    return code


def do_redeem_code(
    identity: Identity, typed: str, *, purpose: str, now: datetime | None = None
) -> Customer:
    """The customer who holds `identity`, when `typed` is its newest live code of `purpose`;
    the code is used up. A wrong guess counts against the code (MAX_ATTEMPTS, then it is dead).
    Raises InvalidInput with one message for every failure (wrong, expired, used, too many
    guesses, identity no longer verified), so an attacker learns nothing from it."""
    now = now or timezone.now()
    code = codes.typed_code(typed)
    live = (
        OneTimeCode.objects.filter(
            identity=identity,
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=now,
            attempts__lt=codes.MAX_ATTEMPTS,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if live is None or not identity.verified:
        raise InvalidInput(WRONG_CODE)
    expected = codes.code_hash(purpose, identity.kind, identity.value, code)
    if not code or not hmac_equal(live.code_hash, expected):
        OneTimeCode.objects.filter(pk=live.pk).update(attempts=F("attempts") + 1)
        raise InvalidInput(WRONG_CODE)
    # Single use: only one of two concurrent redemptions sees the row still unused.
    claimed = OneTimeCode.objects.filter(
        pk=live.pk, used_at__isnull=True, attempts__lt=codes.MAX_ATTEMPTS
    ).update(used_at=now)
    if not claimed:
        raise InvalidInput(WRONG_CODE)
    customer = Customer.objects.get(pk=identity.customer_id)
    while customer.merged_into_id is not None and customer.merged_into is not None:
        customer = customer.merged_into
    return customer


def hmac_equal(a: str, b: str) -> bool:
    return _hmac.compare_digest(a.encode(), b.encode())


def do_set_bots_opt_out(customer: Customer, opted_out: bool, *, actor: User | None) -> Customer:
    """The customer opts out of bots (every message goes straight to their team) or back in:
    customer.attributes["bots_opt_out"]. Locks the customer row; `actor` is the agent who
    recorded the customer's wish (None: the customer themselves)."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        attributes = dict(locked.attributes or {})
        if opted_out:
            attributes[BOTS_OPT_OUT_ATTRIBUTE] = True
        else:
            attributes.pop(BOTS_OPT_OUT_ATTRIBUTE, None)
        if attributes != locked.attributes:
            locked.attributes = attributes
            locked.save(update_fields=["attributes", "updated_at"])
    customer.attributes = locked.attributes
    return customer


# Attributes agents edit in the customer panel: a short lowercase key and a short text value.
# Keys Teamline itself keeps (opt-outs, the typed email) are changed by their own actions only.
ATTRIBUTE_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
ATTRIBUTE_VALUE_MAX = 500
ATTRIBUTES_MAX = 50
RESERVED_ATTRIBUTES = frozenset({BOTS_OPT_OUT_ATTRIBUTE, OPT_OUT_ATTRIBUTE, "unverified_email"})


def editable_attribute(key: str, value: Any) -> bool:
    """Whether an agent may change this attribute in the desk: not one Teamline keeps, and a
    plain value (a structured one came from an integration and is shown, not edited)."""
    return key not in RESERVED_ATTRIBUTES and isinstance(value, str | int | float | bool)


def do_set_customer_attribute(
    customer: Customer, key: str, value: str, *, actor: User, request: HttpRequest | None = None
) -> Customer:
    """Set one of the customer's attributes to a text value, or clear it (an empty value), as an
    agent recorded it. Locks the customer row; audited (the key and set/cleared, not the value:
    attributes may hold personal data). Emits nothing: the customer panel is read again."""
    key = (key or "").strip().lower()
    if not ATTRIBUTE_KEY.fullmatch(key):
        raise InvalidInput(
            _(
                "An attribute's name is 1 to 40 lowercase letters, digits or underscores, "
                "starting with a letter."
            )
        )
    problem = text_problem(value or "")
    if problem is not None:
        raise InvalidInput(_("The value %(problem)s.") % {"problem": problem})
    value = (value or "").strip()
    if len(value) > ATTRIBUTE_VALUE_MAX:
        raise InvalidInput(
            _("An attribute's value is at most %(max)d characters.") % {"max": ATTRIBUTE_VALUE_MAX}
        )
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        attributes = dict(locked.attributes or {})
        if key in RESERVED_ATTRIBUTES or (
            key in attributes and not editable_attribute(key, attributes[key])
        ):
            raise InvalidInput(
                _("Teamline keeps %(key)s itself: it is not edited here.") % {"key": key}
            )
        if value:
            if key not in attributes and len(attributes) >= ATTRIBUTES_MAX:
                raise InvalidInput(
                    _("A customer has at most %(max)d attributes.") % {"max": ATTRIBUTES_MAX}
                )
            attributes[key] = value
        else:
            attributes.pop(key, None)
        if attributes != locked.attributes:
            locked.attributes = attributes
            locked.save(update_fields=["attributes", "updated_at"])
            do_audit(
                AuditAction.CUSTOMER_CHANGED,
                actor=actor,
                target_type="customer",
                target_id=locked.pk,
                request=request,
                data={"attribute": key, "change": "set" if value else "cleared"},
            )
    customer.attributes = locked.attributes
    return customer


def do_set_time_zone(customer: Customer, time_zone: str, *, actor: User | None) -> Customer:
    """The customer's own IANA time zone (quiet hours follow it); "" = their home team's again.
    InvalidInput for a name that is not an IANA zone. One UPDATE."""
    time_zone = (time_zone or "").strip()
    if time_zone:
        try:
            if len(time_zone) > 64 or "\x00" in time_zone:
                raise ValidationError("too long")
            validate_timezone(time_zone)
        except ValidationError as exc:
            raise InvalidInput(
                _("%(zone)s is not an IANA time zone.") % {"zone": time_zone[:64]}
            ) from exc
    if time_zone != customer.time_zone:
        Customer.objects.filter(pk=customer.pk).update(
            time_zone=time_zone, updated_at=timezone.now()
        )
        customer.time_zone = time_zone
    return customer


# What each source of a language may replace (besides nothing at all): a choice is never
# replaced by a guess, a browser's or app's language never replaces what the customer wrote in.
_REPLACEABLE_BY = {
    LanguageSource.CHOSEN: [LanguageSource.CHOSEN, LanguageSource.DETECTED, LanguageSource.CHANNEL],
    LanguageSource.DETECTED: [LanguageSource.DETECTED, LanguageSource.CHANNEL],
    LanguageSource.CHANNEL: [LanguageSource.CHANNEL],
}


def _language_settable(customer: Customer, source: LanguageSource) -> bool:
    if not customer.preferred_language:
        return True
    return customer.language_source in _REPLACEABLE_BY[source]


def _store_language(customer: Customer, language: str, source: LanguageSource) -> bool:
    """One conditional UPDATE: a stronger source written meanwhile (an agent's choice while a
    message was being read) is not overwritten."""
    allowed = Q(preferred_language="") | Q(language_source__in=_REPLACEABLE_BY[source])
    updated = (
        Customer.objects.filter(allowed, pk=customer.pk)
        .exclude(preferred_language=language, language_source=source)
        .update(preferred_language=language, language_source=source, updated_at=timezone.now())
    )
    if updated:
        customer.preferred_language, customer.language_source = language, source
    return bool(updated)


def do_set_preferred_language(customer: Customer, language: str, *, actor: User | None) -> Customer:
    """The customer's own choice of language, or an agent recording it: one of the six (any tag
    core.languages maps, e.g. zh-TW), never overridden by what a browser or a text suggests;
    "" forgets it (Teamline captures the language again). InvalidInput for a language Teamline
    does not speak. One UPDATE; `actor` is the agent (None: the customer themselves)."""
    if not (language or "").strip():
        Customer.objects.filter(pk=customer.pk).update(
            preferred_language="", language_source="", updated_at=timezone.now()
        )
        customer.preferred_language, customer.language_source = "", ""
        return customer
    code = supported_language(language)
    if code is None:
        raise InvalidInput(
            _("%(language)s is not a language Teamline speaks: use one of %(known)s.")
            % {"language": repr(language[:20]), "known": ", ".join(languages())}
        )
    _store_language(customer, code, LanguageSource.CHOSEN)
    return customer


def learned_language(
    *, hints: Iterable[str | None] = (), text: str = ""
) -> tuple[str, LanguageSource] | None:
    """What a contact tells of the customer's language: the language of `text` they wrote
    (core.langid, only when confident), else the first of `hints` — the tags their browser,
    email or messaging app gave, most preferred first — that Teamline speaks; with its source.
    None when it tells nothing. No query."""
    language = detect_language(text) if text else None
    if language is not None:
        return language, LanguageSource.DETECTED
    language = first_supported(hints)
    return (language, LanguageSource.CHANNEL) if language is not None else None


def do_capture_language(
    customer: Customer, *, hints: Iterable[str | None] = (), text: str = ""
) -> str | None:
    """Learn the customer's language from a contact (learned_language). Never overrides a
    choice; a browser's language never overrides what the customer wrote in. Returns the
    language stored, or None when nothing changed. Costs no query when nothing changes (the
    common case), one conditional UPDATE otherwise."""
    if customer.preferred_language and customer.language_source not in (
        LanguageSource.DETECTED,
        LanguageSource.CHANNEL,
    ):
        return None  # chosen (or from before sources were recorded)
    learned = learned_language(hints=hints, text=text)
    if learned is None:
        return None
    language, source = learned
    if not _language_settable(customer, source):
        return None
    if customer.preferred_language == language and customer.language_source == source:
        return None
    return language if _store_language(customer, language, source) else None


def do_set_consent(
    customer: Customer,
    topic: str,
    granted: bool,
    *,
    source: str,
    actor: User | None,
    now: datetime | None = None,
) -> Consent:
    """Record the customer's explicit choice for `topic` (data_cap, outage, promotional, or any
    topic slug): the current Consent row is created or updated and the change is appended to
    the customer's consent timeline (ConsentChange: who, from where, when, before → after).
    `actor` is the staff member who recorded the customer's wish (None: the customer
    themselves, e.g. by SMS). Locks the customer's Consent row; a choice equal to the current
    one is kept as is (no timeline entry). InvalidInput for an unknown source or a bad topic."""
    topic = check_consent_topic(topic)
    if source not in ConsentSource.values:
        raise InvalidInput(_("Unknown consent source %(source)s.") % {"source": repr(source)[:40]})
    now = now or timezone.now()
    with transaction.atomic():
        current = Consent.objects.select_for_update().filter(customer=customer, topic=topic).first()
        previous = current.granted if current is not None else topic in CONSENT_DEFAULT_ON
        if current is None:
            try:
                with transaction.atomic():
                    current = Consent.objects.create(
                        customer=customer,
                        topic=topic,
                        granted=granted,
                        source=source,
                        actor=actor,
                        changed_at=now,
                    )
            except IntegrityError:  # a concurrent first choice: take the row and go on
                current = Consent.objects.select_for_update().get(customer=customer, topic=topic)
                previous = current.granted
                if previous == granted:
                    return current
                current.granted, current.source, current.actor, current.changed_at = (
                    granted,
                    source,
                    actor,
                    now,
                )
                current.save(update_fields=["granted", "source", "actor", "changed_at"])
        elif current.granted != granted:
            current.granted, current.source, current.actor, current.changed_at = (
                granted,
                source,
                actor,
                now,
            )
            current.save(update_fields=["granted", "source", "actor", "changed_at"])
        else:
            return current
        ConsentChange.objects.create(
            customer=customer,
            topic=topic,
            granted=granted,
            previous=previous,
            source=source,
            actor=actor,
            created_at=now,
        )
    return current


# customer.attributes key: the customer's tags (short labels rules and agents add).
TAGS_ATTRIBUTE = "tags"
MAX_TAGS = 50


def do_add_customer_tag(customer: Customer, tag: str, *, actor: User | None) -> Customer:
    """Add `tag` (at most 50 characters, stripped) to customer.attributes["tags"], once; a
    customer keeps at most MAX_TAGS (the oldest go). InvalidInput for an empty tag. Locks the
    customer row."""
    tag = (tag or "").strip()[:50]
    if not tag or "\x00" in tag:
        raise InvalidInput(_("A tag needs a few letters."))
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        current = locked.attributes.get(TAGS_ATTRIBUTE)
        tags = [str(t) for t in current] if isinstance(current, list) else []
        if tag not in tags:
            tags = [*tags, tag][-MAX_TAGS:]
            locked.attributes = {**locked.attributes, TAGS_ATTRIBUTE: tags}
            locked.save(update_fields=["attributes", "updated_at"])
    customer.attributes = locked.attributes
    return customer


def do_set_regions_from_events(regions: dict[int, str]) -> int:
    """The operator's events say where customers are: {customer id: region}. Customers whose
    region differs (case-insensitively) take the new one; one UPDATE per distinct region, no
    timeline entry (the events are the record). Returns how many customers changed."""
    by_region: dict[str, list[int]] = {}
    for customer_id, region in regions.items():
        region = (region or "").strip()[:100]
        if region:
            by_region.setdefault(region, []).append(customer_id)
    changed = 0
    for region, ids in by_region.items():
        changed += (
            Customer.objects.filter(pk__in=ids)
            .exclude(region__iexact=region)
            .update(region=region, updated_at=timezone.now())
        )
    return changed


# A reveal's reason: long enough to say why, short enough for the audit entry.
MAX_REVEAL_REASON = 300


def revealable_value(customer: Customer, field: str) -> str:
    """The value a reveal names: `identity:<id>` (a phone or email identity of the customer)
    or `attribute:<key>` (an attribute masking hides). NotFound for anything else, so a
    reveal reads nothing beyond the masked fields of a customer the actor may see."""
    kind, _sep, name = (field or "").partition(":")
    if kind == "identity" and name.isdigit() and len(name) < 19:
        identity = Identity.objects.filter(customer=customer, pk=int(name)).first()
        if identity is not None and masking.identity_sensitivity(identity.kind):
            return identity.value
    elif kind == "attribute" and name:
        attributes = customer.attributes or {}
        if name in attributes:
            value = attributes[name]
            if masking.attribute_sensitivity(name, value) is not None:
                return value if isinstance(value, str) else str(value)
    raise NotFound(_("No such field to reveal."))


def do_reveal_customer_field(
    customer: Customer,
    field: str,
    reason: str,
    *,
    actor: User,
    request: HttpRequest | None = None,
) -> str:
    """One masked value of `customer` (reached through access_customer), shown to `actor` for
    `reason`. Writes nothing but the audit entry `customer.revealed` with the field and the
    reason (never the value), in the same transaction: no entry, no value."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput(_("Say why you need to see this value."))
    if len(reason) > MAX_REVEAL_REASON:
        raise InvalidInput(
            _("Keep the reason under %(limit)d characters.") % {"limit": MAX_REVEAL_REASON}
        )
    problem = text_problem(reason)
    if problem is not None:
        raise InvalidInput(_("The reason %(problem)s.") % {"problem": problem})
    value = revealable_value(customer, field)
    do_audit(
        AuditAction.CUSTOMER_REVEALED,
        actor=actor,
        target_type="customer",
        target_id=customer.pk,
        request=request,
        data={"field": field[:100], "reason": reason},
    )
    return value
