"""Every write to the knowledge base. Each save is a version; publishing decides what the
help center and search show; translations are linked to their source and its version.

Who may do what (the one place): any active staff member writes and edits articles; the
author publishes an article that does not require review; publishing one that does — and
restoring a published article's old version — is for reviewers (supervisors and admins).
Any staff member suggests an edit to a published article; reviewers accept or reject it."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from teamline.accounts.models import Role, User
from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.jsonsafe import check_text
from teamline.core.languages import supported_language

from .models import (
    Article,
    ArticleStatus,
    ArticleVersion,
    Category,
    EditSuggestion,
    KbLanguage,
    SuggestionState,
)
from .search import index_article

MAX_TITLE = 200
MAX_BODY = 100_000
MAX_NOTE = 200
MAX_CATEGORY_NAME = 120


class _Keep:
    """do_edit_article's "leave the category as it is"."""


KEEP = _Keep()
# Open suggestions one person may have waiting at a time (a wall against a runaway script).
MAX_OPEN_SUGGESTIONS = 50


def language_code(value: str) -> str:
    """A KB language from what a client sent: Django's codes, or BCP 47 (zh-Hans, pt-BR)."""
    code = supported_language(value)
    if code in KbLanguage.values:
        return str(code)
    raise InvalidInput(f"Unknown language {value!r}: use one of en, nb, zh-Hans, zh-Hant, et, pt.")


def is_reviewer(user: User) -> bool:
    return user.is_active and user.role in (Role.SUPERVISOR, Role.ADMIN)


def _check(title: str, body: str) -> tuple[str, str]:
    title = check_text((title or "").strip(), "title")
    body = check_text((body or "").strip(), "body")
    if not title:
        raise InvalidInput("The title is empty.")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"The title is longer than {MAX_TITLE} characters.")
    if not body:
        raise InvalidInput("The body is empty.")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"The body is longer than {MAX_BODY} characters.")
    return title, body


def _free_slug(title: str, language: str, *, exclude: int | None = None) -> str:
    base = slugify(title, allow_unicode=True)[:100] or "article"
    slug, n = base, 1
    taken = Article.objects.filter(language=language)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    while taken.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _new_version(article: Article, *, author: User, note: str, now: datetime) -> ArticleVersion:
    article.version += 1
    return ArticleVersion.objects.create(
        article=article,
        number=article.version,
        title=article.title,
        body=article.body,
        author=author,
        note=note[:200],
        created_at=now,
    )


def _may_publish(article: Article, actor: User) -> bool:
    return not article.requires_review or is_reviewer(actor)


def may_publish(article: Article, actor: User) -> bool:
    """Whether `actor` may publish or unpublish `article` (what the desk offers)."""
    return _may_publish(article, actor)


def do_create_category(name: str, *, actor: User) -> Category:
    """The category called `name` (a new one when no category has its slug)."""
    name = check_text((name or "").strip(), "category")
    if not name:
        raise InvalidInput("The category's name is empty.")
    if len(name) > MAX_CATEGORY_NAME:
        raise InvalidInput(f"The category's name is longer than {MAX_CATEGORY_NAME} characters.")
    slug = slugify(name)[:80] or slugify(name, allow_unicode=True)[:80]
    if not slug:
        raise InvalidInput("The category's name needs a letter or a digit.")
    category, _ = Category.objects.get_or_create(slug=slug, defaults={"name": name})
    return category


def do_create_article(
    *,
    actor: User,
    title: str,
    body: str,
    language: str,
    publish: bool = False,
    category: Category | None = None,
    requires_review: bool = False,
    translation_of: Article | None = None,
) -> Article:
    """A new article, version 1. `publish` publishes it at once when the actor may
    (InvalidInput otherwise: it needs a reviewer — save it as a draft and submit it).
    A translation names its source: one per language per source, not in the source's
    language, and it records the source version it was translated from."""
    title, body = _check(title, body)
    language = language_code(language)
    if translation_of is not None:
        if translation_of.translation_of_id is not None:
            translation_of = translation_of.translation_of
        assert translation_of is not None
        if translation_of.language == language:
            raise Conflict("A translation must be in another language than its source.")
    now = timezone.now()
    try:
        with transaction.atomic():
            article = Article(
                language=language,
                slug=_free_slug(title, language),
                title=title,
                body=body,
                category=category,
                requires_review=requires_review
                or bool(translation_of and translation_of.requires_review),
                translation_of=translation_of,
                source_version=translation_of.version if translation_of else None,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            if publish and not _may_publish(article, actor):
                raise Forbidden("This article needs a reviewer to publish it.")
            article.save()
            version = _new_version(article, author=actor, note="created", now=now)
            if publish:
                article.status = ArticleStatus.PUBLISHED
                article.published_version = version
            article.save()
            index_article(article)
    except IntegrityError:
        raise Conflict(
            "This article already has a translation in that language: edit that one."
        ) from None
    return article


def lock_article(article: Article) -> Article:
    return Article.objects.select_for_update().get(pk=article.pk)


def do_edit_article(
    article: Article,
    *,
    actor: User,
    title: str,
    body: str,
    note: str = "",
    publish: bool = False,
    translated_from_current_source: bool = False,
    category: Category | _Keep | None = KEEP,
    requires_review: bool | None = None,
) -> Article:
    """Save a new version. The help center keeps showing the published version until this
    one is published (`publish`, when the actor may). A translation's editor says whether
    they brought it up to date with its source (`translated_from_current_source`).
    `category` and `requires_review` change those settings when given; only a reviewer
    lifts the review requirement."""
    title, body = _check(title, body)
    note = _note(note)
    with transaction.atomic():
        article = lock_article(article)
        if requires_review is not None and requires_review != article.requires_review:
            if not requires_review and not is_reviewer(actor):
                raise Forbidden("Only a reviewer (supervisor or admin) can lift the review.")
            article.requires_review = requires_review
        if not isinstance(category, _Keep):
            article.category = category
        if publish and not _may_publish(article, actor):
            raise Forbidden("This article needs a reviewer to publish it.")
        article.title, article.body = title, body
        article.updated_at = timezone.now()
        if translated_from_current_source and article.translation_of is not None:
            article.source_version = article.translation_of.version
        version = _new_version(article, author=actor, note=note or "edited", now=article.updated_at)
        if publish:
            article.status = ArticleStatus.PUBLISHED
            article.published_version = version
        elif article.status == ArticleStatus.REVIEW:
            article.status = (
                ArticleStatus.DRAFT
                if article.published_version is None
                else (ArticleStatus.PUBLISHED)
            )
        article.save()
        index_article(article)
    return article


def do_submit_for_review(article: Article, *, actor: User) -> Article:
    """Ask a reviewer to publish the newest version."""
    with transaction.atomic():
        article = lock_article(article)
        published = article.published_version
        if published is not None and published.number == article.version:
            raise Conflict("The newest version is already published.")
        article.status = ArticleStatus.REVIEW
        article.save(update_fields=["status"])
    return article


def do_publish_article(article: Article, *, actor: User) -> Article:
    """Publish the newest version (reviewers only, when the article requires review)."""
    with transaction.atomic():
        article = lock_article(article)
        if not _may_publish(article, actor):
            raise Forbidden("Only a reviewer (supervisor or admin) can publish this article.")
        article.published_version = ArticleVersion.objects.get(
            article=article, number=article.version
        )
        article.status = ArticleStatus.PUBLISHED
        article.save(update_fields=["published_version", "status"])
        index_article(article)
    return article


def do_unpublish_article(article: Article, *, actor: User) -> Article:
    """Take the article off the help center and search (its versions stay)."""
    with transaction.atomic():
        article = lock_article(article)
        if not _may_publish(article, actor):
            raise Forbidden("Only a reviewer (supervisor or admin) can unpublish this article.")
        article.published_version = None
        article.status = ArticleStatus.DRAFT
        article.save(update_fields=["published_version", "status"])
        index_article(article)
    return article


def do_restore_version(article: Article, number: int, *, actor: User) -> Article:
    """Make an old version the newest again (a new version with its text: history is never
    rewritten), published at once when the article is. Restoring an old version of a published
    article is for reviewers (what the public reads goes back); an unpublished draft's author
    restores their own history."""
    old = ArticleVersion.objects.filter(article=article, number=number).first()
    if old is None:
        raise NotFound(f"This article has no version {number}.")
    if not may_restore(article, actor):
        raise Forbidden("Only a reviewer (supervisor or admin) can restore a published article.")
    return do_edit_article(
        article,
        actor=actor,
        title=old.title,
        body=old.body,
        note=f"restored version {number}",
        publish=article.status == ArticleStatus.PUBLISHED and _may_publish(article, actor),
    )


def may_restore(article: Article, actor: User) -> bool:
    return article.published_version_id is None or is_reviewer(actor)


def do_mark_up_to_date(article: Article, *, actor: User) -> Article:
    """A translation's editor says it says what its source says now (after updating it, or
    when the source's change did not touch what was translated): no longer outdated. Locks
    the translation; no new version."""
    with transaction.atomic():
        article = lock_article(article)
        source = article.translation_of
        if source is None:
            raise Conflict("This article is not a translation.")
        if article.source_version == source.version:
            raise Conflict("This translation is already up to date.")
        article.source_version = source.version
        article.save(update_fields=["source_version"])
    return article


def _note(note: str) -> str:
    note = check_text((note or "").strip(), "note")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note is longer than {MAX_NOTE} characters.")
    return note


def do_suggest_edit(
    article: Article,
    *,
    actor: User,
    title: str,
    body: str,
    note: str = "",
    base_version: int | None = None,
) -> EditSuggestion:
    """Propose a change to a published article without publishing it. `base_version` is the
    version the text was written against (the newest when not given); a reviewer decides.
    Locks the article (the base is read against its newest version); emits nothing."""
    title, body = _check(title, body)
    note = _note(note)
    with transaction.atomic():
        article = lock_article(article)
        if article.published_version_id is None:
            raise Conflict("Only a published article takes suggestions: edit the draft instead.")
        base = article.version if base_version is None else base_version
        if not 1 <= base <= article.version:
            raise InvalidInput(f"This article has no version {base}.")
        version = ArticleVersion.objects.get(article=article, number=base)
        if (version.title, version.body) == (title, body):
            raise InvalidInput("The suggestion changes nothing: edit the title or the text.")
        waiting = EditSuggestion.objects.filter(author=actor, state=SuggestionState.OPEN)
        if waiting.count() >= MAX_OPEN_SUGGESTIONS:
            raise Conflict(
                f"You have {MAX_OPEN_SUGGESTIONS} suggestions waiting for a reviewer: "
                "wait until some are decided."
            )
        return EditSuggestion.objects.create(
            article=article, base_version=base, title=title, body=body, note=note, author=actor
        )


def _lock_open_suggestion(suggestion: EditSuggestion, actor: User) -> EditSuggestion:
    if not is_reviewer(actor):
        raise Forbidden("Only a reviewer (supervisor or admin) decides on suggestions.")
    locked = EditSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    if locked.state != SuggestionState.OPEN:
        raise Conflict(f"This suggestion was already {locked.get_state_display().lower()}.")
    return locked


def do_accept_suggestion(
    suggestion: EditSuggestion,
    *,
    actor: User,
    overwrite: bool = False,
    seen_version: int | None = None,
) -> EditSuggestion:
    """Make the suggestion the article's newest version, published when the article is
    published (a reviewer may publish any article). When the article has a version newer than
    the suggestion's base, this refuses (Conflict) unless `overwrite`: the reviewer has seen
    both changes and chose the suggestion's text — `seen_version`, when given, is the article
    version they compared with, and a newer one is a conflict again. Locks the article, then
    the suggestion."""
    with transaction.atomic():
        article = lock_article(suggestion.article)
        suggestion = _lock_open_suggestion(suggestion, actor)
        if overwrite and seen_version is not None and article.version != seen_version:
            raise Conflict(
                f"The article changed again while you compared (now version {article.version}):"
                " look at the changes once more."
            )
        if article.version != suggestion.base_version and not overwrite:
            raise Conflict(
                f"The article changed since this suggestion was written (version "
                f"{suggestion.base_version}, now {article.version}): compare both changes, "
                "then accept it anyway, edit the article, or reject it."
            )
        author = suggestion.author.name if suggestion.author else "a former colleague"
        note = f"suggestion by {author}" + (f": {suggestion.note}" if suggestion.note else "")
        article = do_edit_article(
            article,
            actor=actor,
            title=suggestion.title,
            body=suggestion.body,
            note=note[:MAX_NOTE],
            publish=article.published_version_id is not None,
        )
        suggestion.state = SuggestionState.ACCEPTED
        suggestion.decided_by, suggestion.decided_at = actor, timezone.now()
        suggestion.accepted_version = article.version
        suggestion.save(update_fields=["state", "decided_by", "decided_at", "accepted_version"])
    return suggestion


def do_reject_suggestion(
    suggestion: EditSuggestion, *, actor: User, note: str = ""
) -> EditSuggestion:
    """Close the suggestion without changing the article (the reason is kept for its author).
    Locks the suggestion; emits nothing."""
    note = _note(note)
    with transaction.atomic():
        suggestion = _lock_open_suggestion(suggestion, actor)
        suggestion.state = SuggestionState.REJECTED
        suggestion.decided_by, suggestion.decided_at = actor, timezone.now()
        suggestion.decision_note = note
        suggestion.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    return suggestion
