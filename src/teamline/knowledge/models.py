"""The knowledge base: articles in six languages, every save a version, translations linked to
their source, and the search index kept beside them (knowledge/search.py), which also holds the
documents of higher apps (community questions) by kind and id.

An article's public text is its *published version* (`published_version`): editing a published
article makes a new version at once (the history), but the help center keeps showing the
published one until the new version is published — directly by its author when the article
does not require review, by a reviewer (supervisor or admin) when it does.

A translation points at its source (`translation_of`) and remembers which version of the
source it was translated from (`source_version`): when the source has moved on, the
translation is *outdated* until someone updates it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class KbLanguage(models.TextChoices):
    """The brand's six languages, in Django's codes (the API also accepts zh-Hans/zh-Hant)."""

    EN = "en", "English"
    NB = "nb", "Norsk bokmål"
    ZH_HANS = "zh-hans", "简体中文"
    ZH_HANT = "zh-hant", "繁體中文"
    ET = "et", "Eesti"
    PT = "pt", "Português"


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    REVIEW = "review", "In review"
    PUBLISHED = "published", "Published"


class Category(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    language = models.CharField(max_length=8, choices=KbLanguage.choices)
    slug = models.SlugField(max_length=120, allow_unicode=True)
    title = models.CharField(max_length=200)
    body = models.TextField()  # Markdown, the newest version (rendered sanitised)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="articles"
    )
    status = models.CharField(
        max_length=12, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    requires_review = models.BooleanField(default=False)
    # The newest version's number, and the one the public sees (None: never published).
    version = models.PositiveIntegerField(default=0)
    published_version = models.ForeignKey(
        "ArticleVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    translation_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="translations"
    )
    source_version = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["language", "slug"], name="article_slug_per_language"),
            models.UniqueConstraint(
                fields=["translation_of", "language"],
                condition=Q(translation_of__isnull=False),
                name="article_one_translation_per_language",
            ),
        ]
        indexes = [models.Index(fields=["language", "status"], name="article_language_status")]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"

    @property
    def is_outdated(self) -> bool:
        """A translation whose source changed after it was translated."""
        source = self.translation_of
        return (
            source is not None
            and self.source_version is not None
            and source.version > self.source_version
        )


class ArticleVersion(models.Model):
    """One save of an article: what it said, who wrote it, when."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="article_version_unique")
        ]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.number}"


class SearchEntry(models.Model):
    """What search matches for one document: a published article, a community question — any
    `kind` of text a higher app indexes through knowledge.search.index_document. It holds the
    folded words and grams of the document's title and body (knowledge/text.py) and its
    `scope` token (kind, language, public) that confines a search to the documents asked for.
    The database's own full-text index is built over these columns (SQLite FTS5 via triggers,
    PostgreSQL GIN over a stored weighted tsvector: see migrations/0004); this table is the one
    both read. Knowledge knows no higher app's models: a hit names its kind and id."""

    kind = models.CharField(max_length=16)
    object_id = models.BigIntegerField()
    language = models.CharField(max_length=8)
    public = models.BooleanField(default=True)
    scope = models.CharField(max_length=40)
    title_words = models.TextField()
    title_grams = models.TextField()
    body_words = models.TextField()
    body_grams = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="search_entry_per_document")
        ]

    def __str__(self) -> str:
        return f"search entry of {self.kind} {self.object_id}"


class SearchTerm(models.Model):
    """How many indexed documents of a kind and language hold each term (a word, a gram); the
    empty term counts the documents themselves. Search plans a query with it: a word nobody
    wrote is a typo or an inflection (its grams are searched instead), a term in most documents
    says nothing (it is left out), so the OR the database evaluates stays short and selective.
    Counted per kind and language so that 100,000 community posts do not decide which words
    tell among articles. Kept in step by knowledge.search.index_document."""

    kind = models.CharField(max_length=16)
    language = models.CharField(max_length=8)
    term = models.CharField(max_length=64)
    documents = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "language", "term"], name="search_term_per_kind_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.term} ({self.kind}, {self.language}: {self.documents})"


class SuggestionState(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class EditSuggestion(models.Model):
    """A change any staff member proposes to a published article, wiki-style, without
    publishing it: the text they would have it say, written against `base_version` (the
    article's newest version when they started). A reviewer accepts it (a new version, published
    per the article's rules) or rejects it; when the article moved on since `base_version` the
    reviewer sees both changes and decides — nothing is overwritten silently."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="suggestions")
    base_version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    note = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        max_length=10, choices=SuggestionState.choices, default=SuggestionState.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True)
    # The article version an accepted suggestion became.
    accepted_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "created_at"], name="suggestion_state_created"),
            models.Index(fields=["article", "state"], name="suggestion_article_state"),
        ]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"suggestion {self.pk} on article {self.article_id} ({self.state})"
