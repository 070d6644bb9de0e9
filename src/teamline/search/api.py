"""Search in the JSON API: `GET /api/v1/search?q=…&kind=…` (docs/desk-search.md).

The same search as the desk's search page (search.queries), with the caller's access: only
conversations, messages and customers the caller may see, phone numbers and email addresses
masked for a remote agent. Keyset paging: pass a page's `next_cursor` as `cursor`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.customers.api import IdentityOut
from teamline.customers.masking import present_identity

from .queries import DEFAULT_LIMIT, MAX_LIMIT, Hit, search
from .text import MAX_QUERY_CHARS

router = Router(tags=["search"])

Kind = Literal["message", "conversation", "customer"]


class SearchParams(Schema):
    q: str = text_field(
        max_length=MAX_QUERY_CHARS,
        description="Words (any of the six languages; Chinese needs no spaces), a name, an "
        "email address, an external id, a phone number in any format (`+47 912 34 567`, "
        '`0047 91234567`, `912 34 567`: its last digits) or a conversation number ("#123").',
    )
    kind: Kind = Field(
        "message",
        description="What to find: messages (and notes), conversations (by their newest "
        "matching message, or by number) or customers.",
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"1-{MAX_LIMIT} hits.")
    cursor: int | None = Field(
        None, ge=1, le=MAX_ID, description="A previous page's `next_cursor`: the next page."
    )


class SearchHitOut(Schema):
    kind: Kind
    id: int = Field(description="The message's, conversation's or customer's id.")
    title: str = Field(description="Who wrote it, the conversation, or the customer's name.")
    snippet: str = Field(description="The matching text around the first word found.")
    conversation_id: int | None = Field(
        description="The message's or found conversation; a customer's newest one you may see."
    )
    customer_id: int
    created_at: datetime | None = Field(description="When it was written (a customer: added).")
    is_internal: bool = Field(description="An internal note (never seen by the customer).")
    identities: list[IdentityOut] = Field(
        description="A customer's phone numbers, email addresses and ids (masked for a "
        "remote agent)."
    )
    url: str = Field(description="Where the desk shows it.")


class SearchPageOut(Schema):
    query: str
    kind: Kind
    results: list[SearchHitOut] = Field(description="Newest first.")
    next_cursor: int | None = Field(
        description="Pass as `cursor` for the next page; null when there is none."
    )


def present_hit(hit: Hit, viewer: User) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "id": hit.id,
        "title": hit.title,
        "snippet": hit.snippet,
        "conversation_id": hit.conversation_id,
        "customer_id": hit.customer_id,
        "created_at": hit.created_at,
        "is_internal": hit.is_internal,
        "identities": [present_identity(identity, viewer) for identity in hit.identities],
        "url": hit.url,
    }


@router.get(
    "",
    response={200: SearchPageOut, **errors(400, 422)},
    summary="Search conversations, messages and customers",
    operation_id="search",
)
def search_everything(request: HttpRequest, params: Query[SearchParams]) -> Any:
    """Newest first; every word must match (words of three letters or more as prefixes, whole
    words only for a remote agent). Only what you may see in the desk. 400 when the query
    holds nothing to search for."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    page = search(actor, params.q, kind=params.kind, cursor=params.cursor, limit=params.limit)
    return {
        "query": page.query.text,
        "kind": page.kind,
        "results": [present_hit(hit, actor) for hit in page.hits],
        "next_cursor": page.next_cursor,
    }
