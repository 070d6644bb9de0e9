"""Reading the community: who is asking (a Member), what the public sees (visible posts only),
what staff see (everything, and the queue of reported posts). Every post id from a request is
resolved here."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer

from .models import Post, PostKind, Vote


@dataclass(frozen=True)
class Member:
    """Who acts on the community pages: a signed-in customer, a staff member signed in to the
    desk, or a visitor (neither); `address` is their IP, for per-address limits."""

    customer: Customer | None = None
    user: User | None = None
    address: str = ""

    @property
    def is_staff(self) -> bool:
        return self.user is not None and self.user.is_active

    @property
    def signed_in(self) -> bool:
        return self.customer is not None or self.is_staff

    @property
    def key(self) -> str:
        if self.is_staff:
            assert self.user is not None
            return f"user:{self.user.pk}"
        if self.customer is not None:
            return f"customer:{self.customer.pk}"
        return f"visitor:{self.address}"

    def wrote(self, post: Post) -> bool:
        if self.customer is not None and post.author_customer_id == self.customer.pk:
            return True
        return self.is_staff and self.user is not None and post.author_user_id == self.user.pk


SHOW_NEWEST = "newest"
SHOW_UNANSWERED = "unanswered"
SHOWS = (SHOW_NEWEST, SHOW_UNANSWERED)
PAGE_SIZE = 30


def _visible_answers() -> QuerySet[Post]:
    return Post.objects.filter(kind=PostKind.ANSWER, hidden=False)


def public_questions(language: str, show: str = SHOW_NEWEST) -> QuerySet[Post]:
    """Visible questions in `language`, newest first, each with `answer_count` (visible
    answers); `unanswered`: those without a visible answer."""
    questions = (
        Post.objects.filter(kind=PostKind.QUESTION, hidden=False, language=language)
        .annotate(answer_count=Count("answers", filter=Q(answers__hidden=False)))
        .order_by("-created_at", "-pk")
    )
    if show == SHOW_UNANSWERED:
        questions = questions.exclude(Exists(_visible_answers().filter(question=OuterRef("pk"))))
    return questions


def access_question(member: Member, question_id: object) -> Post:
    """A question the member may read: a visible one, or any for staff. NotFound otherwise (a
    hidden question is not there for the public)."""
    pk = parse_id(question_id, "question")
    found = Post.objects.filter(pk=pk, kind=PostKind.QUESTION)
    if not member.is_staff:
        found = found.filter(hidden=False)
    question = found.select_related("accepted_answer").first()
    if question is None:
        raise NotFound("No such question.")
    return question


def access_post(member: Member, post_id: object) -> Post:
    """A question or an answer the member may act on: visible (with a visible question), or
    any for staff."""
    pk = parse_id(post_id, "post")
    found = Post.objects.filter(pk=pk).select_related("question")
    if not member.is_staff:
        found = found.filter(hidden=False).filter(
            Q(kind=PostKind.QUESTION) | Q(question__hidden=False)
        )
    post = found.first()
    if post is None:
        raise NotFound("No such post.")
    return post


def answers_of(member: Member, question: Post) -> list[Post]:
    """The question's answers as the member sees them: official first, then the accepted one,
    then by score and age; hidden ones for staff only."""
    answers = question.answers.all()
    if not member.is_staff:
        answers = answers.filter(hidden=False)
    ordered = list(answers.order_by("-official", "-score", "created_at", "pk"))
    ordered.sort(key=lambda a: (not a.official, a.pk != question.accepted_answer_id))
    return ordered


def voted_post_ids(member: Member, post_ids: list[int]) -> set[int]:
    if member.is_staff and member.user is not None:
        votes = Vote.objects.filter(user=member.user, post_id__in=post_ids)
    elif member.customer is not None:
        votes = Vote.objects.filter(customer=member.customer, post_id__in=post_ids)
    else:
        return set()
    return set(votes.values_list("post_id", flat=True))


def reported_posts(actor: User) -> QuerySet[Post]:
    """The moderation queue: posts with open reports, most reported first (staff only)."""
    if not actor.is_active:
        return Post.objects.none()
    return (
        Post.objects.filter(open_reports__gt=0)
        .select_related("question")
        .order_by("-open_reports", "-last_activity_at", "-pk")
    )


def visible_posts_of(customer: Customer) -> int:
    """How many visible posts a customer has written (new posters have tighter link limits)."""
    return Post.objects.filter(author_customer=customer, hidden=False).count()


def session_customer(customer_id: object) -> Customer | None:
    """The customer a help-center session signed in (the id comes from the server-side
    session, never from the request); a merged customer's survivor."""
    if not isinstance(customer_id, int):
        return None
    customer = Customer.objects.filter(pk=customer_id).first()
    while customer is not None and customer.merged_into_id is not None:
        customer = customer.merged_into
    return customer
