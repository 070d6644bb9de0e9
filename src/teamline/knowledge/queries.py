"""Reading the knowledge base: staff see every article (the KB is the brand's, not a team's);
the public sees published versions only."""

from __future__ import annotations

from django.db.models import QuerySet

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id

from .models import Article, ArticleStatus, ArticleVersion, EditSuggestion, SuggestionState


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


def open_suggestions(actor: User) -> QuerySet[EditSuggestion]:
    """The reviewers' queue: open suggestions, oldest first."""
    return staff_suggestions(actor).filter(state=SuggestionState.OPEN).order_by("created_at", "pk")
