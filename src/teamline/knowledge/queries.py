"""Reading the knowledge base: staff see every article (the KB is the brand's, not a team's);
the public sees published versions only."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Q, QuerySet
from django.urls import reverse

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id

from .models import (
    Article,
    ArticleStatus,
    ArticleVersion,
    Category,
    EditSuggestion,
    SuggestionState,
)
from .search import ARTICLE, search, snippet

# The most articles one list shows (the count says how many matched).
LIST_LIMIT = 200


def staff_articles(actor: User) -> QuerySet[Article]:
    if not actor.is_active:
        return Article.objects.none()
    return Article.objects.select_related("category", "published_version", "translation_of")


def access_article(actor: User, article_id: object) -> Article:
    pk = parse_id(article_id, "article")
    article = staff_articles(actor).filter(pk=pk).first()
    if article is None:
        raise NotFound("No such article.")
    return article


def published_articles() -> QuerySet[Article]:
    return Article.objects.filter(
        status=ArticleStatus.PUBLISHED, published_version__isnull=False
    ).select_related("published_version", "category")


def public_article(language: str, slug: str) -> Article:
    article = published_articles().filter(language=language, slug=slug).first()
    if article is None:
        raise NotFound("No such article.")
    return article


def access_version(article: Article, number: object) -> ArticleVersion:
    """One version of an article the actor already reached through access_article."""
    pk = parse_id(number, "version")
    version = article.versions.select_related("author").filter(number=pk).first()
    if version is None:
        raise NotFound(f"This article has no version {pk}.")
    return version


def staff_suggestions(actor: User) -> QuerySet[EditSuggestion]:
    if not actor.is_active:
        return EditSuggestion.objects.none()
    return EditSuggestion.objects.select_related("article", "author", "decided_by")


def access_suggestion(actor: User, suggestion_id: object) -> EditSuggestion:
    pk = parse_id(suggestion_id, "suggestion")
    suggestion = staff_suggestions(actor).filter(pk=pk).first()
    if suggestion is None:
        raise NotFound("No such suggestion.")
    return suggestion


def decided_suggestions_of(actor: User) -> QuerySet[EditSuggestion]:
    """The actor's own suggestions a reviewer decided, newest decision first."""
    return (
        staff_suggestions(actor)
        .filter(author=actor)
        .exclude(state=SuggestionState.OPEN)
        .order_by("-decided_at", "-pk")
    )


def base_versions(
    suggestions: list[EditSuggestion],
) -> dict[tuple[int, int], ArticleVersion]:
    """The versions the suggestions were written against, in one query."""
    if not suggestions:
        return {}
    wanted = Q()
    for suggestion in suggestions:
        wanted |= Q(article_id=suggestion.article_id, number=suggestion.base_version)
    return {(v.article_id, v.number): v for v in ArticleVersion.objects.filter(wanted)}


def open_suggestions(actor: User) -> QuerySet[EditSuggestion]:
    """The reviewers' queue: open suggestions, oldest first."""
    return staff_suggestions(actor).filter(state=SuggestionState.OPEN).order_by("created_at", "pk")


def categories() -> QuerySet[Category]:
    return Category.objects.all()


def access_category(actor: User, category_id: object) -> Category:
    pk = parse_id(category_id, "category")
    category = Category.objects.filter(pk=pk).first() if actor.is_active else None
    if category is None:
        raise NotFound("No such category.")
    return category


@dataclass(frozen=True)
class ArticleFilter:
    language: str = ""
    status: str = ""
    category: Category | None = None
    outdated: bool = False
    query: str = ""


def outdated_translations(articles: QuerySet[Article]) -> QuerySet[Article]:
    """Translations whose source has a newer version than the one they were translated from."""
    return articles.filter(
        translation_of__isnull=False, source_version__lt=F("translation_of__version")
    )


def filtered_articles(actor: User, wanted: ArticleFilter) -> tuple[list[Article], int]:
    """The desk's article list: (the first LIST_LIMIT articles, how many matched). With a
    query, published articles the help center's search finds come first, best first, then
    any article (drafts too) whose title contains the query."""
    articles = staff_articles(actor)
    if wanted.language:
        articles = articles.filter(language=wanted.language)
    if wanted.status:
        articles = articles.filter(status=wanted.status)
    if wanted.category is not None:
        articles = articles.filter(category=wanted.category)
    if wanted.outdated:
        articles = outdated_translations(articles)
    if not wanted.query:
        total = articles.count()
        return list(articles.order_by("-updated_at", "-pk")[:LIST_LIMIT]), total
    languages = [wanted.language] if wanted.language else None
    ranked = [hit.id for hit in search(wanted.query, languages=languages, limit=50)]
    found = articles.in_bulk(ranked)
    titled = articles.filter(title__icontains=wanted.query).exclude(pk__in=ranked)
    result = [found[pk] for pk in ranked if pk in found]
    result += list(titled.order_by("-updated_at", "-pk")[: LIST_LIMIT - len(result)])
    return result, len(found) + titled.count()


def public_path(article: Article) -> str:
    """The article's page in the help center (its stable URL, without the host)."""
    return reverse("help:article", args=[article.language, article.slug])


@dataclass(frozen=True)
class ArticleHit:
    article: Article
    version: ArticleVersion  # the published one: what the public reads
    snippet: str
    score: float


def published_hits(query: str, *, languages: list[str] | None, limit: int) -> list[ArticleHit]:
    """Published articles for `query`, best first — articles only, never community posts (the
    index holds both). What the API, the help center, the widget's and the desk's suggestions
    all show."""
    hits = search(query, languages=languages, kinds=[ARTICLE], limit=limit)
    articles = published_articles().in_bulk([hit.id for hit in hits])
    found = []
    for hit in hits:
        article = articles.get(hit.id)
        if article is None or article.published_version is None:
            continue
        version = article.published_version
        found.append(ArticleHit(article, version, snippet(version.body, query), hit.score))
    return found
