"""Searching conversations, messages and customers as the actor may see them
(docs/desk-search.md, docs/adr/0008-desk-search.md).

Scope first: the full-text query itself is limited to the actor's teams' messages and the
conversations they were given or joined outside them (scope tokens on SQLite, the document's
team and conversation columns on PostgreSQL), and to the customers of their teams or of a
conversation assigned to them (scope tokens in the customer's document on both), and every
hit is then loaded through the same visibility rules as the desk (conversations.queries.
visible_conversations, customers.queries.visible_customers): a document whose scope is stale
(a transfer the indexer has not seen yet) is dropped, never shown.

Hits come newest first (a contact center looks for the recent thing); every word must match,
words of three letters or more as prefixes. Pages are keyset pages: `cursor` is the last
message (or customer) id a page looked at, so a page costs the same however deep it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.urls import reverse
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.conversations.models import Conversation, Message, SenderKind
from teamline.conversations.queries import active_participations, visible_conversations
from teamline.core.errors import InvalidInput
from teamline.customers.masking import Sensitive, masks_for, shown, shown_identities, shown_text
from teamline.customers.models import Identity, IdentityKind
from teamline.customers.queries import visible_customers
from teamline.knowledge.search import snippet
from teamline.teams.queries import membership_team_ids

from .text import Query, Term, assignee_token, conversation_token, parse_query, team_token

DEFAULT_LIMIT = 20
MAX_LIMIT = 50
# Conversations outside the actor's teams they may still see (assigned to them, joined as
# an expert): the most recent this many are searched.
MAX_EXTRA_CONVERSATIONS = 200
# Matching messages looked at for one page of conversations, and customers for one page of
# customers; the page says where to go on when it stopped early.
CONVERSATION_SCAN = 2_000
SCAN_BATCH = 200
CUSTOMER_SCAN = 5_000
KINDS = ("message", "conversation", "customer")
# A prefix stands for at most this many words (the shortest: the typed word and its nearest
# forms), found among at most SCANNED_COMPLETIONS of the vocabulary's.
MAX_COMPLETIONS = 30
SCANNED_COMPLETIONS = 2_000


@dataclass(frozen=True)
class Scope:
    """What the actor may search: every document (admins), or these teams' and these
    conversations'."""

    everything: bool
    teams: list[int] = field(default_factory=list)
    conversations: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return [*map(team_token, self.teams), *map(conversation_token, self.conversations)]


def customer_scope_for(actor: User) -> list[str] | None:
    """The scope tokens of the customers the actor may see (customers.queries.
    visible_customers: their teams' — home team or a conversation's — and those of a
    conversation assigned to them), or None for every customer (admins)."""
    if actor.is_admin:
        return None
    return [*map(team_token, membership_team_ids(actor)), assignee_token(actor.pk)]


def scope_for(actor: User) -> Scope:
    if actor.is_admin:
        return Scope(True)
    teams = membership_team_ids(actor)
    extra = (
        Conversation.objects.filter(Q(assignee=actor) | Q(pk__in=active_participations(actor.pk)))
        .exclude(team_id__in=teams)
        .order_by("-pk")
        .values_list("pk", flat=True)[:MAX_EXTRA_CONVERSATIONS]
    )
    return Scope(False, teams, list(extra))


# --- The full-text queries ----------------------------------------------------------------


def completions(term: Term) -> list[str]:
    """The whole words a query term stands for: itself, or for a prefix the MAX_COMPLETIONS
    shortest words of the vocabulary that start with it (itself first when it is one)."""
    if not term.prefix:
        return [term.text]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT term FROM search_vocabulary WHERE term LIKE %s LIMIT %s",
                [term.text + "%", SCANNED_COMPLETIONS],
            )
        else:
            cursor.execute(
                "SELECT term FROM search_vocabulary WHERE term GLOB %s LIMIT %s",
                [term.text + "*", SCANNED_COMPLETIONS],
            )
        found = [row[0] for row in cursor.fetchall()]
    return sorted(found, key=lambda word: (len(word), word))[:MAX_COMPLETIONS]


def expand(query: Query) -> list[list[str]] | None:
    """Each query term as the words it stands for (search.models.VocabularyTerm); None when a
    term stands for no word at all (nothing can match every term)."""
    groups = [completions(term) for term in query.terms]
    return None if any(not group for group in groups) else groups


def _fts_terms(groups: Sequence[Sequence[str]]) -> str:
    return " AND ".join("(" + " OR ".join(f'"{word}"' for word in group) + ")" for group in groups)


def _ts_terms(groups: Sequence[Sequence[str]]) -> str:
    return " & ".join("(" + " | ".join(f"'{word}'" for word in group) + ")" for group in groups)


def matching_messages(
    groups: list[list[str]] | None, scope: Scope, *, before: int | None, limit: int
) -> list[tuple[int, int]]:
    """(message id, conversation id) of the newest `limit` messages in `scope` holding a word
    of every group (`expand`), older than message `before`."""
    if not groups or (not scope.everything and not scope.tokens):
        return []
    before = before or 2**63 - 1
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            where = (
                ""
                if scope.everything
                else (" AND (team_id = ANY(%s) OR conversation_id = ANY(%s))")
            )
            params: list[Any] = [_ts_terms(groups), before]
            if not scope.everything:
                params += [scope.teams, scope.conversations]
            cursor.execute(
                "SELECT message_id, conversation_id FROM search_message"  # noqa: S608
                " WHERE vector @@ to_tsquery('simple'::regconfig, %s) AND message_id < %s"
                f"{where} ORDER BY message_id DESC LIMIT %s",
                [*params, limit],
            )
        else:
            match = _fts_terms(groups)
            if not scope.everything:
                tokens = " OR ".join(f'"{token}"' for token in scope.tokens)
                match = f"({match}) AND ({tokens})"
            cursor.execute(
                "SELECT d.message_id, d.conversation_id FROM search_message_fts f"
                " JOIN search_message d ON d.message_id = f.rowid"
                " WHERE search_message_fts MATCH %s AND f.rowid < %s"
                " ORDER BY f.rowid DESC LIMIT %s",
                [match, before, limit],
            )
        return [(int(m), int(c)) for m, c in cursor.fetchall()]


def matching_customers(
    query: Query,
    groups: list[list[str]] | None,
    *,
    before: int | None,
    limit: int,
    scope: Sequence[str] | None = None,
) -> list[int]:
    """Ids of the newest `limit` customers whose name, email addresses or external ids hold
    a word of every group, or one of whose phone numbers ends with the query's digits; with
    `scope` (customer_scope_for), only those whose document holds one of its tokens."""
    before = before or 2**63 - 1
    phone = "0p" + query.phone if query.phone else ""
    if (not groups and not phone) or (scope is not None and not scope):
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            parts = [f"({_ts_terms(groups)})"] if groups else []
            if phone:  # each number is its own token: a prefix of one is cheap
                parts.append(f"'{phone}':*")
            match = " | ".join(parts)
            if scope is not None:
                match = f"({match}) & (" + " | ".join(f"'{token}'" for token in scope) + ")"
            cursor.execute(
                "SELECT customer_id FROM search_customer"
                " WHERE vector @@ to_tsquery('simple'::regconfig, %s) AND customer_id < %s"
                " ORDER BY customer_id DESC LIMIT %s",
                [match, before, limit],
            )
        else:
            parts = [f"({_fts_terms(groups)})"] if groups else []
            if phone:
                parts.append(f'"{phone}"*')
            match = " OR ".join(parts)
            if scope is not None:
                match = f"({match}) AND (" + " OR ".join(f'"{token}"' for token in scope) + ")"
            cursor.execute(
                "SELECT rowid FROM search_customer_fts WHERE search_customer_fts MATCH %s"
                " AND rowid < %s ORDER BY rowid DESC LIMIT %s",
                [match, before, limit],
            )
        return [int(row[0]) for row in cursor.fetchall()]


# --- Pages of hits --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One thing found, as the desk and the API show it to the actor (masked for a remote
    agent): `id` is the message's, conversation's or customer's."""

    kind: str
    id: int
    title: str
    snippet: str
    customer_id: int
    conversation_id: int | None  # a customer's: their newest conversation the actor may see
    created_at: datetime | None
    is_internal: bool = False
    identities: list[Any] = field(default_factory=list)  # a customer's, masked (Identity rows)
    shown_identities: list[Any] = field(default_factory=list)  # ShownField rows

    @property
    def url(self) -> str:
        if self.conversation_id is None:
            return ""
        url = reverse("desk:conversation", args=[self.conversation_id])
        return f"{url}#message-{self.id}" if self.kind == "message" else url


def _sender(actor: User, message: Message) -> str:
    if message.sender_kind == SenderKind.CUSTOMER:
        return str(shown(actor, Sensitive.NAME, message.conversation.customer.display_name))
    if message.sender_kind == SenderKind.AGENT and message.sender_user is not None:
        return str(message.sender_user.name)
    return str(message.get_sender_kind_display())


def _message_hit(actor: User, message: Message, query: Query) -> Hit:
    conversation = message.conversation
    return Hit(
        kind="message",
        id=message.pk,
        title=_("%(sender)s in conversation #%(number)d")
        % {"sender": _sender(actor, message), "number": conversation.pk},
        snippet=_snippet(actor, message, query),
        customer_id=conversation.customer_id,
        conversation_id=conversation.pk,
        created_at=message.created_at,
        is_internal=message.is_internal,
    )


def _conversation_hit(
    actor: User, conversation: Conversation, message: Message | None, query: Query
) -> Hit:
    name = shown(actor, Sensitive.NAME, conversation.customer.display_name)
    return Hit(
        kind="conversation",
        id=conversation.pk,
        title=_("#%(number)d with %(customer)s (%(team)s)")
        % {"number": conversation.pk, "customer": name, "team": conversation.team.name},
        snippet=_snippet(actor, message, query) if message is not None else "",
        customer_id=conversation.customer_id,
        conversation_id=conversation.pk,
        created_at=message.created_at if message is not None else conversation.created_at,
        is_internal=bool(message is not None and message.is_internal),
    )


@dataclass(frozen=True)
class Page:
    kind: str
    query: Query
    hits: list[Any]
    next_cursor: int | None


def _snippet(actor: User, message: Message, query: Query) -> str:
    # Masked before it is cut, so a cut never leaves part of a number unmasked.
    text = message.text or str((message.content or {}).get("subject") or "")
    return snippet(shown_text(actor, text), query.text)


def _visible_messages(actor: User, ids: list[int]) -> dict[int, Message]:
    return (
        Message.objects.filter(pk__in=ids, conversation__in=visible_conversations(actor))
        .select_related("conversation__customer", "conversation__team", "sender_user")
        .in_bulk(ids)
    )


def search_messages(
    actor: User, query: Query, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page:
    found = matching_messages(expand(query), scope_for(actor), before=cursor, limit=limit)
    messages = _visible_messages(actor, [m for m, _c in found])
    hits = [_message_hit(actor, messages[m], query) for m, _c in found if m in messages]
    return Page("message", query, hits, found[-1][0] if len(found) == limit else None)


def search_conversations(
    actor: User, query: Query, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page:
    """Conversations holding a matching message, by their newest one; the conversation
    numbered "#n" first when the query is one (and the actor may see it)."""
    hits: list[Hit] = []
    seen: set[int] = set()
    if query.conversation_id is not None and cursor is None:
        numbered = visible_conversations(actor).filter(pk=query.conversation_id).first()
        if numbered is not None:
            hits.append(_conversation_hit(actor, numbered, None, query))
            seen.add(numbered.pk)
    # Matches newest first, in growing reads: most pages are full after the first read of
    # twice the page (a conversation rarely holds many of the newest matches), and a small
    # LIMIT lets PostgreSQL walk the newest documents instead of sorting every match of a
    # common word (docs/benchmarks.md, "Desk search"). At most CONVERSATION_SCAN matches.
    groups, scope = expand(query), scope_for(actor)
    wanted: list[int] = []
    before, read, exhausted = cursor, 0, False
    size = 2 * limit
    while len(hits) + len(wanted) < limit and read < CONVERSATION_SCAN:
        size = min(size, CONVERSATION_SCAN - read)
        batch = matching_messages(groups, scope, before=before, limit=size)
        taken = 0
        for message_id, conversation_id in batch:
            before, read, taken = message_id, read + 1, taken + 1
            if conversation_id not in seen:
                seen.add(conversation_id)
                wanted.append(message_id)
                if len(hits) + len(wanted) >= limit:
                    break
        if len(batch) < size:  # no more matches after this read
            exhausted = taken == len(batch)
            break
        size *= 4
    messages = _visible_messages(actor, wanted)
    for message_id in wanted:
        message = messages.get(message_id)
        if message is not None:
            hits.append(_conversation_hit(actor, message.conversation, message, query))
    return Page("conversation", query, hits, None if exhausted else before)


def search_customers(
    actor: User, query: Query, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page:
    """Customers the actor may see by name, email address, external id or phone number.

    The full-text query returns only customers whose document is in the actor's scope
    (customer_scope_for); each is still checked with visible_customers, so a document whose
    scope is stale (a transfer the indexer has not seen yet) is dropped, never shown. Almost
    every page is therefore full after its first read of one page of candidates; reads grow
    (four times, up to SCAN_BATCH) only while stale candidates leave it short."""
    hits: list[Hit] = []
    before, scanned, exhausted = cursor, 0, False
    identities = Prefetch("identities", queryset=Identity.objects.order_by("kind", "pk"))
    groups, scope = expand(query), customer_scope_for(actor)
    size = limit
    while len(hits) < limit and scanned < CUSTOMER_SCAN:
        size = min(size, SCAN_BATCH, CUSTOMER_SCAN - scanned)
        batch = matching_customers(query, groups, before=before, limit=size, scope=scope)
        if not batch:
            exhausted = True
            break
        scanned += len(batch)
        latest = (
            visible_conversations(actor)
            .filter(customer_id=OuterRef("pk"))
            .order_by("-pk")
            .values("pk")[:1]
        )
        visible = (
            visible_customers(actor)
            .filter(pk__in=batch)
            .select_related("home_team")
            .prefetch_related(identities)
            .annotate(latest_conversation=Subquery(latest))
            .in_bulk(batch)
        )
        for customer_id in batch:
            before = customer_id
            customer = visible.get(customer_id)
            if customer is None:
                continue
            reachable = [i for i in customer.identities.all() if i.kind != IdentityKind.WEBCHAT]
            hits.append(
                Hit(
                    kind="customer",
                    id=customer.pk,
                    title=str(shown(actor, Sensitive.NAME, customer.display_name)),
                    snippet=customer.home_team.name if customer.home_team else "",
                    customer_id=customer.pk,
                    conversation_id=customer.latest_conversation,
                    created_at=customer.created_at,
                    identities=reachable,
                    shown_identities=shown_identities(reachable, actor),
                )
            )
            if len(hits) >= limit:
                break
        if len(batch) < size and len(hits) < limit:
            exhausted = True
            break
        size *= 4
    return Page("customer", query, hits, None if exhausted else before)


SEARCHES = {
    "message": search_messages,
    "conversation": search_conversations,
    "customer": search_customers,
}


def search(
    actor: User,
    q: str,
    *,
    kind: str = "message",
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    """One page of `kind` hits for the text `q` (InvalidInput for a query with nothing to
    search or an unknown kind)."""
    if kind not in SEARCHES:
        raise InvalidInput(_("kind is one of %(kinds)s.") % {"kinds": ", ".join(KINDS)})
    query = parse_query(q, remote=masks_for(actor))
    return SEARCHES[kind](actor, query, cursor=cursor, limit=max(1, min(limit, MAX_LIMIT)))
