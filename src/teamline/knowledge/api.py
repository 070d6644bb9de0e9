"""The knowledge base in the JSON API (/api/v1/kb/…): staff write and read articles and search
the published ones. The public help center's JSON search is in knowledge/views.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Path, Query, Router, Schema, Status

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors, text_field

from .actions import (
    MAX_BODY,
    MAX_TITLE,
    do_create_article,
    do_edit_article,
    do_publish_article,
    do_unpublish_article,
    language_code,
)
from .models import Article, ArticleStatus, Category
from .queries import access_article
from .search import MAX_LIMIT, MAX_QUERY_CHARS, search, snippet

router = Router(tags=["knowledge base"])

ArticleId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The article's id.")]


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


def public_url(article: Article) -> str:
    return reverse("help:article", args=[article.language, article.slug])


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
        "url": public_url(article) if published else None,
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
    hits = search(query, languages=languages, limit=limit)
    articles = Article.objects.select_related("published_version").in_bulk(
        [hit.article_id for hit in hits]
    )
    results = []
    for hit in hits:
        article = articles.get(hit.article_id)
        if article is None or article.published_version is None:
            continue
        version = article.published_version
        results.append(
            {
                "id": article.pk,
                "title": version.title,
                "language": article.language,
                "url": public_url(article),
                "snippet": snippet(version.body, query),
                "score": round(hit.score, 4),
            }
        )
    return results


@router.get(
    "/search",
    response={200: SearchOut, **errors(400, 422)},
    summary="Search published articles",
    operation_id="search_kb",
)
def search_articles(request: HttpRequest, params: Query[SearchQuery]) -> Any:
    """Best first. Typos, inflections, missing accents and either Chinese script match."""
    return {"results": search_results(params.q, params.lang, params.limit)}
