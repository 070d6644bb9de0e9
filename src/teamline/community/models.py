"""The community Q&A of the help center: questions and answers ("posts", one table, so votes,
reports and hiding treat both alike), upvotes and reports.

A question is asked by a signed-in customer; an answer comes from a customer or a staff member.
Hidden posts vanish from public pages and search; a locked question takes no new answers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PostKind(models.TextChoices):
    QUESTION = "question", "Question"
    ANSWER = "answer", "Answer"


class Post(models.Model):
    kind = models.CharField(max_length=8, choices=PostKind.choices)
    # An answer's question (None for a question).
    question = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="answers"
    )
    language = models.CharField(max_length=8)  # a KB language (en, nb, zh-hans, …)
    title = models.CharField(max_length=200, blank=True)  # questions only
    body = models.TextField()  # plain text; links are made clickable (rel=nofollow ugc)
    author_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The name shown with the post, fixed when it is written (a customer's first name only).
    author_name = models.CharField(max_length=100, blank=True)
    official = models.BooleanField(default=False)  # answers: the brand's official answer
    accepted_answer = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked = models.BooleanField(default=False)  # questions: no new answers
    hidden = models.BooleanField(default=False)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    score = models.IntegerField(default=0)  # upvotes (Vote rows), kept by F() updates
    open_reports = models.PositiveIntegerField(default=0)
    # What the question became: a KB article draft, a private conversation.
    article = models.ForeignKey(
        "knowledge.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "hidden", "language", "-created_at"]),
            models.Index(fields=["question", "hidden"]),
            models.Index(fields=["open_reports"]),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.kind} #{self.pk}"

    @property
    def by_staff(self) -> bool:
        return self.author_user_id is not None


class Vote(models.Model):
    """One upvote by one person (a customer or a staff member) on one post."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="votes")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["post", "customer"],
                condition=Q(customer__isnull=False),
                name="community_vote_one_per_customer",
            ),
            models.UniqueConstraint(
                fields=["post", "user"],
                condition=Q(user__isnull=False),
                name="community_vote_one_per_user",
            ),
            models.CheckConstraint(
                condition=Q(customer__isnull=True) ^ Q(user__isnull=True),
                name="community_vote_one_voter",
            ),
        ]

    def __str__(self) -> str:
        return f"vote on post {self.post_id}"


class ReportReason(models.TextChoices):
    SPAM = "spam", _("Spam or advertising")
    RUDE = "rude", _("Rude or abusive")
    PRIVATE = "private", _("Shares private information")
    OFF_TOPIC = "off_topic", _("Off topic")


class Report(models.Model):
    """Somebody signed in says a post should not be there; open until an agent acts on the
    post (hides it or dismisses its reports). One report per person per post."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reports")
    reporter_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reporter_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=16, choices=ReportReason.choices)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(max_length=16, blank=True)  # hidden | dismissed

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["post", "reporter_customer"],
                condition=Q(reporter_customer__isnull=False),
                name="community_report_one_per_customer",
            ),
            models.UniqueConstraint(
                fields=["post", "reporter_user"],
                condition=Q(reporter_user__isnull=False),
                name="community_report_one_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} report on post {self.post_id}"
