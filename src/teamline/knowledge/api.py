"""The knowledge base in the JSON API (/api/v1/kb/…): staff write and read articles and search
the published ones. The public help center's JSON search is in knowledge/views.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors, text_field

from .actions import (
    MAX_BODY,
    MAX_NOTE,
    MAX_TITLE,
    do_accept_suggestion,
    do_create_article,
    do_edit_article,
    do_publish_article,
    do_reject_suggestion,
    do_suggest_edit,
    do_unpublish_article,
    language_code,
)
from .models import Article, ArticleStatus, Category, EditSuggestion, SuggestionState
from .queries import access_article, access_suggestion, public_path, published_hits
from .search import MAX_LIMIT, MAX_QUERY_CHARS

router = Router(tags=["knowledge base"])

ArticleId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The article's id.")]
SuggestionId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The suggestion's id.")]
MAX_SUGGESTIONS_LISTED = 200


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else "[-_]" for c in word)


# Exactly what actions.language_code accepts (a JSON-schema regex has no case-insensitive flag).
_LANGUAGE_PATTERN = (
    "^(?:"
    + "|".join(
        _any_case(code)
        for code in ("zh-hans", "zh-hant", "zh-cn", "zh-sg", "zh-tw", "zh-hk", "zh-mo")
    )
    + "|(?:"
    + "|".join(_any_case(code) for code in ("en", "nb", "no", "nn", "et", "pt"))
    + ")(?:[-_][A-Za-z0-9]{2,8})?)$"
)
LanguageIn = Annotated[
    str,
    Field(
        min_length=2,
        max_length=16,
        pattern=_LANGUAGE_PATTERN,
        description="en, nb, zh-Hans, zh-Hant, et or pt (Django or BCP 47 spelling: pt-BR).",
    ),
]


class ArticleIn(Schema):
    title: str = text_field(max_length=MAX_TITLE, description="The title (1-200 characters).")
    body: str = text_field(max_length=MAX_BODY, description="Markdown (raw HTML is not kept).")
    language: LanguageIn
    status: Literal["draft", "published"] = Field(
        "draft", description="published: publish now (needs a reviewer if review is required)."
    )
    category: str | None = text_field(
        default=None, max_length=80, description="A category slug (created if new)."
    )
    requires_review: bool = Field(False, description="Only reviewers may publish it.")
    translation_of: int | None = Field(
        None, ge=1, le=MAX_ID, description="The id of the article this translates."
    )


class ArticleUpdateIn(Schema):
    title: str = text_field(max_length=MAX_TITLE, description="The title (1-200 characters).")
    body: str = text_field(max_length=MAX_BODY, description="Markdown (raw HTML is not kept).")
    status: Literal["draft", "published"] | None = Field(
        None, description="published: publish this version; draft: unpublish; null: keep."
    )
    note: str = text_field(default="", max_length=200, blank=True, description="What changed.")
    translated_from_current_source: bool = Field(
        False, description="This edit brings the translation up to date with its source."
    )


class ArticleOut(Schema):
    id: int
    title: str
    body: str
    language: str
    slug: str
    status: ArticleStatus
    category: str | None
    version: int
    published_version: int | None
    requires_review: bool
    translation_of: int | None
    outdated: bool = Field(description="A translation whose source changed since.")
    url: str | None = Field(description="The public help-center URL (when published).")
    updated_at: datetime


class VersionOut(Schema):
    number: int
    title: str
    body: str
    author: str | None
    note: str
    created_at: datetime


class SearchResultOut(Schema):
    id: int
    title: str
    language: str
    url: str
    snippet: str
    score: float


class SearchOut(Schema):
    results: list[SearchResultOut]


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


def present_article(article: Article) -> dict[str, Any]:
    published = article.published_version
    return {
        "id": article.pk,
        "title": article.title,
        "body": article.body,
        "language": article.language,
        "slug": article.slug,
        "status": article.status,
        "category": article.category.slug if article.category else None,
        "version": article.version,
        "published_version": published.number if published else None,
        "requires_review": article.requires_review,
        "translation_of": article.translation_of_id,
        "outdated": article.is_outdated,
        "url": public_path(article) if published else None,
        "updated_at": article.updated_at,
    }


def _category(slug: str | None) -> Category | None:
    if not slug:
        return None
    category, _ = Category.objects.get_or_create(
        slug=slug.strip().lower()[:80], defaults={"name": slug.strip()[:120]}
    )
    return category


@router.post(
    "/articles",
    response={201: ArticleOut, **errors(400, 403, 404, 409, 422)},
    summary="Create an article",
    operation_id="create_kb_article",
)
def create_article(request: HttpRequest, payload: ArticleIn) -> Any:
    """A new article (version 1), published at once with status=published when you may."""
    actor = _actor(request)
    source = access_article(actor, payload.translation_of) if payload.translation_of else None
    article = do_create_article(
        actor=actor,
        title=payload.title,
        body=payload.body,
        language=payload.language,
        publish=payload.status == "published",
        category=_category(payload.category),
        requires_review=payload.requires_review,
        translation_of=source,
    )
    return Status(201, present_article(access_article(actor, article.pk)))


@router.get(
    "/articles/{article_id}",
    response={200: ArticleOut, **errors(404, 422)},
    summary="Get an article",
    operation_id="get_kb_article",
)
def get_article(request: HttpRequest, article_id: ArticleId) -> Any:
    """The article's newest version, which version is published, and whether it is outdated."""
    return present_article(access_article(_actor(request), article_id))


@router.put(
    "/articles/{article_id}",
    response={200: ArticleOut, **errors(400, 403, 404, 409, 422)},
    summary="Edit an article (a new version)",
    operation_id="update_kb_article",
)
def update_article(request: HttpRequest, article_id: ArticleId, payload: ArticleUpdateIn) -> Any:
    """Saves a new version. status=published publishes it; status=draft takes the article
    off the help center; without status the published version stays what it was."""
    actor = _actor(request)
    article = access_article(actor, article_id)
    article = do_edit_article(
        article,
        actor=actor,
        title=payload.title,
        body=payload.body,
        note=payload.note,
        publish=payload.status == "published",
        translated_from_current_source=payload.translated_from_current_source,
    )
    if payload.status == "draft" and article.published_version_id is not None:
        article = do_unpublish_article(article, actor=actor)
    return present_article(access_article(actor, article.pk))


@router.post(
    "/articles/{article_id}/publish",
    response={200: ArticleOut, **errors(400, 403, 404, 409, 422)},
    summary="Publish the newest version",
    operation_id="publish_kb_article",
)
def publish_article(request: HttpRequest, article_id: ArticleId) -> Any:
    """Make the newest version the public one. 403 when the article needs a reviewer."""
    actor = _actor(request)
    article = do_publish_article(access_article(actor, article_id), actor=actor)
    return present_article(access_article(actor, article.pk))


@router.get(
    "/articles/{article_id}/versions",
    response={200: list[VersionOut], **errors(404, 422)},
    summary="An article's versions, newest first",
    operation_id="list_kb_article_versions",
)
def list_versions(request: HttpRequest, article_id: ArticleId) -> Any:
    """Every saved version (the newest 200), with author and note."""
    article = access_article(_actor(request), article_id)
    return [
        {
            "number": v.number,
            "title": v.title,
            "body": v.body,
            "author": v.author.name if v.author else None,
            "note": v.note,
            "created_at": v.created_at,
        }
        for v in article.versions.select_related("author").order_by("-number")[:200]
    ]


class SearchQuery(Schema):
    q: str = text_field(max_length=MAX_QUERY_CHARS, description="What to look for.")
    lang: LanguageIn | None = Field(None, description="Only articles in this language.")
    limit: int = Field(10, ge=1, le=MAX_LIMIT, description=f"1-{MAX_LIMIT} results.")


def search_results(query: str, lang: str | None, limit: int) -> list[dict[str, Any]]:
    """Published articles for `query`, best first, as the API and the help center show them."""
    languages = [language_code(lang)] if lang else None
    return [
        {
            "id": hit.article.pk,
            "title": hit.version.title,
            "language": hit.article.language,
            "url": public_path(hit.article),
            "snippet": hit.snippet,
            "score": round(hit.score, 4),
        }
        for hit in published_hits(query, languages=languages, limit=limit)
    ]


@router.get(
    "/search",
    response={200: SearchOut, **errors(400, 422)},
    summary="Search published articles",
    operation_id="search_kb",
)
def search_articles(request: HttpRequest, params: Query[SearchQuery]) -> Any:
    """Best first. Typos, inflections, missing accents and either Chinese script match."""
    return {"results": search_results(params.q, params.lang, params.limit)}


# --- Suggested edits (wiki-style) -----------------------------------------------------------


class SuggestionIn(Schema):
    title: str = text_field(max_length=MAX_TITLE, description="The title it should have.")
    body: str = text_field(max_length=MAX_BODY, description="The Markdown it should have.")
    note: str = text_field(
        default="", max_length=MAX_NOTE, blank=True, description="Why (for the reviewer)."
    )
    base_version: int | None = Field(
        None, ge=1, le=MAX_ID, description="The version this text was written against (newest)."
    )


class AcceptIn(Schema):
    overwrite: bool = Field(
        False,
        description="Accept even though the article changed since the suggestion's base "
        "version (its newer changes are replaced). Without it that is a 409.",
    )
    seen_version: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="With overwrite: the article version you compared with; 409 if it is no "
        "longer the newest.",
    )


class RejectIn(Schema):
    note: str = text_field(
        default="", max_length=MAX_NOTE, blank=True, description="Why (for the author)."
    )


class SuggestionsQuery(Schema):
    state: SuggestionState | None = Field(None, description="Only suggestions in this state.")


class SuggestionOut(Schema):
    id: int
    article: int
    base_version: int
    title: str
    body: str
    note: str
    author: str | None
    created_at: datetime
    state: SuggestionState
    conflict: bool = Field(description="Open, and the article has changed since base_version.")
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    accepted_version: int | None


def present_suggestion(suggestion: EditSuggestion) -> dict[str, Any]:
    article = suggestion.article
    return {
        "id": suggestion.pk,
        "article": article.pk,
        "base_version": suggestion.base_version,
        "title": suggestion.title,
        "body": suggestion.body,
        "note": suggestion.note,
        "author": suggestion.author.name if suggestion.author else None,
        "created_at": suggestion.created_at,
        "state": suggestion.state,
        "conflict": suggestion.state == SuggestionState.OPEN
        and article.version != suggestion.base_version,
        "decided_by": suggestion.decided_by.name if suggestion.decided_by else None,
        "decided_at": suggestion.decided_at,
        "decision_note": suggestion.decision_note,
        "accepted_version": suggestion.accepted_version,
    }


@router.post(
    "/articles/{article_id}/suggestions",
    response={201: SuggestionOut, **errors(400, 404, 409, 422)},
    summary="Suggest an edit to a published article",
    operation_id="suggest_kb_edit",
)
def suggest_edit(request: HttpRequest, article_id: ArticleId, payload: SuggestionIn) -> Any:
    """Any staff member proposes a new title and text; nothing is published until a reviewer
    accepts it. 409 when the article is not published."""
    actor = _actor(request)
    suggestion = do_suggest_edit(
        access_article(actor, article_id),
        actor=actor,
        title=payload.title,
        body=payload.body,
        note=payload.note,
        base_version=payload.base_version,
    )
    return Status(201, present_suggestion(access_suggestion(actor, suggestion.pk)))


@router.get(
    "/articles/{article_id}/suggestions",
    response={200: list[SuggestionOut], **errors(404, 422)},
    summary="An article's suggested edits, oldest first",
    operation_id="list_kb_suggestions",
)
def list_suggestions(
    request: HttpRequest, article_id: ArticleId, params: Query[SuggestionsQuery]
) -> Any:
    """Every suggestion on the article (the oldest 200), or those in one state."""
    article = access_article(_actor(request), article_id)
    found = article.suggestions.select_related("author", "decided_by")
    if params.state:
        found = found.filter(state=params.state)
    return [
        present_suggestion(s) for s in found.order_by("created_at", "pk")[:MAX_SUGGESTIONS_LISTED]
    ]


@router.post(
    "/suggestions/{suggestion_id}/accept",
    response={200: SuggestionOut, **errors(400, 403, 404, 409, 422)},
    summary="Accept a suggested edit (reviewers)",
    operation_id="accept_kb_suggestion",
)
def accept_suggestion(request: HttpRequest, suggestion_id: SuggestionId, payload: AcceptIn) -> Any:
    """A new version with the suggested text, published when the article is published.
    403 for agents; 409 when it is no longer open, or when the article changed since the
    suggestion's base version and `overwrite` is not set."""
    actor = _actor(request)
    suggestion = do_accept_suggestion(
        access_suggestion(actor, suggestion_id),
        actor=actor,
        overwrite=payload.overwrite,
        seen_version=payload.seen_version,
    )
    return present_suggestion(access_suggestion(actor, suggestion.pk))


@router.post(
    "/suggestions/{suggestion_id}/reject",
    response={200: SuggestionOut, **errors(400, 403, 404, 409, 422)},
    summary="Reject a suggested edit (reviewers)",
    operation_id="reject_kb_suggestion",
)
def reject_suggestion(request: HttpRequest, suggestion_id: SuggestionId, payload: RejectIn) -> Any:
    """Close it without changing the article. 403 for agents, 409 when no longer open."""
    actor = _actor(request)
    suggestion = do_reject_suggestion(
        access_suggestion(actor, suggestion_id), actor=actor, note=payload.note
    )
    return present_suggestion(access_suggestion(actor, suggestion.pk))
