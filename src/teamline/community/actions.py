"""Every write to the community: asking, answering, votes, accepted and official answers,
reports and moderation, and turning a question into a KB article draft or a private
conversation. Also the customers' sign-in by one-time code (the code logic is customers').

Who may do what (the one place): a signed-in customer asks, answers, votes and reports; staff
(any active staff member signed in to the desk) answer, vote, report, mark official answers,
moderate (hide, unhide, dismiss reports, lock) and turn questions into articles or
conversations; the asker or staff accept an answer; the asker or staff move a question to a
private conversation.

Limits: per customer and per IP address (core.ratelimit, so they hold across nodes), on
asking, answering, voting and reporting; staff are not limited. New posters may put fewer
links in a post. Every text is bounded and checked (check_text: no NUL, no lone surrogate).
Messages raised here are shown to the person, in the page's language."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from teamline.accounts.models import User
from teamline.connectors.direct import direct_inbox, send_direct
from teamline.conversations.hooks import channels
from teamline.conversations.inbound import do_receive_customer_message
from teamline.core import ratelimit
from teamline.core.errors import Conflict, Forbidden, InvalidInput
from teamline.core.jsonsafe import check_text
from teamline.core.languages import language_for
from teamline.customers import codes
from teamline.customers.actions import do_issue_code, do_redeem_code
from teamline.customers.models import Customer, IdentityKind
from teamline.customers.queries import verified_identity
from teamline.knowledge.actions import do_create_article, language_code
from teamline.knowledge.models import Article

from .models import Post, PostKind, Report, ReportReason, Vote
from .queries import Member, visible_posts_of
from .search import index_question

MIN_TITLE, MAX_TITLE = 10, 200
MAX_BODY = 8_000
MAX_ADDRESS = 320
# (per customer, per IP address) in one hour.
LIMITS: dict[str, tuple[int, int]] = {
    "ask": (5, 10),
    "answer": (20, 40),
    "vote": (60, 120),
    "report": (20, 40),
}
# Code requests and code checks per IP address per hour (the address's own limit is
# customers.codes.SENDS_PER_ADDRESS_PER_HOUR).
SIGN_IN_PER_IP_PER_HOUR = 10
CODE_CHECKS_PER_IP_PER_HOUR = 30
# A poster with fewer visible posts than this is new: at most NEW_POSTER_LINKS links a post.
NEW_POSTER_POSTS = 3
NEW_POSTER_LINKS = 1
MAX_LINKS = 5
_LINK = re.compile(
    r"(?i)(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*"
    r"\.(?:com|net|org|info|biz|io|co|xyz|top|ru|cn|me|ly|gl)\b"
)


def link_count(text: str) -> int:
    return len(_LINK.findall(text))


def _limit(member: Member, action: str) -> None:
    if member.is_staff:
        return
    per_customer, per_address = LIMITS[action]
    if member.customer is not None:
        ratelimit.hit(
            f"community:{action}:customer:{member.customer.pk}",
            limit=per_customer,
            window_seconds=3600,
        )
    ratelimit.hit(
        f"community:{action}:ip:{member.address or 'unknown'}",
        limit=per_address,
        window_seconds=3600,
    )


def _text(value: str, name: str, *, low: int, high: int) -> str:
    value = check_text((value or "").strip(), name)
    if len(value) < low:
        if low <= 1:
            raise InvalidInput(_("Please write something."))
        raise InvalidInput(_("Please write at least %(count)d characters.") % {"count": low})
    if len(value) > high:
        raise InvalidInput(_("Please keep it under %(count)d characters.") % {"count": high})
    return value


def _check_links(member: Member, text: str) -> None:
    if member.is_staff:
        return
    links = link_count(text)
    if links > MAX_LINKS:
        raise InvalidInput(_("Too many links: at most %(count)d.") % {"count": MAX_LINKS})
    if (
        links > NEW_POSTER_LINKS
        and member.customer is not None
        and visible_posts_of(member.customer) < NEW_POSTER_POSTS
    ):
        raise InvalidInput(
            _("New members can add at most %(count)d link to a post.") % {"count": NEW_POSTER_LINKS}
        )


def _author(member: Member) -> dict[str, object]:
    if member.is_staff:
        assert member.user is not None
        return {"author_user": member.user, "author_name": member.user.name[:100]}
    if member.customer is None:
        raise Forbidden(_("Please sign in first."))
    first = (member.customer.name or "").split()
    return {"author_customer": member.customer, "author_name": first[0][:100] if first else ""}


def _require_staff(member: Member) -> User:
    if not member.is_staff or member.user is None:
        raise Forbidden(_("Only staff can do this."))
    return member.user


def _lock(post: Post) -> Post:
    return Post.objects.select_for_update().get(pk=post.pk)


# --- asking and answering ---------------------------------------------------------------------


def do_ask_question(member: Member, *, title: str, body: str, language: str) -> Post:
    """A new question by a signed-in customer (staff answer, they do not ask)."""
    if member.customer is None or member.is_staff:
        raise Forbidden(_("Please sign in to ask a question."))
    title = _text(title, "title", low=MIN_TITLE, high=MAX_TITLE)
    body = _text(body, "body", low=1, high=MAX_BODY)
    language = language_code(language)
    _check_links(member, f"{title}\n{body}")
    _limit(member, "ask")
    with transaction.atomic():
        question = Post.objects.create(
            kind=PostKind.QUESTION, language=language, title=title, body=body, **_author(member)
        )
        index_question(question)
    return question


def do_answer_question(member: Member, question: Post, *, body: str) -> Post:
    """An answer by a signed-in customer or staff; not on a locked or hidden question. Locks
    the question row (its last activity moves)."""
    if not member.signed_in:
        raise Forbidden(_("Please sign in to answer."))
    body = _text(body, "body", low=1, high=MAX_BODY)
    _check_links(member, body)
    _limit(member, "answer")
    with transaction.atomic():
        question = _lock(question)
        if question.kind != PostKind.QUESTION or question.hidden:
            raise Conflict(_("This question is no longer open."))
        if question.locked:
            raise Conflict(_("This question is locked: it takes no new answers."))
        now = timezone.now()
        answer = Post.objects.create(
            kind=PostKind.ANSWER,
            question=question,
            language=question.language,
            body=body,
            created_at=now,
            last_activity_at=now,
            **_author(member),
        )
        question.last_activity_at = now
        question.save(update_fields=["last_activity_at"])
        index_question(question)
    return answer


# --- votes, accepted and official answers -------------------------------------------------------


def do_upvote(member: Member, post: Post) -> bool:
    """One upvote per person per post (the unique constraints decide under concurrency);
    returns False when they had voted already. Nobody votes for their own post."""
    if not member.signed_in:
        raise Forbidden(_("Please sign in to vote."))
    if member.wrote(post):
        raise Conflict(_("You cannot vote for your own post."))
    _limit(member, "vote")
    voter = {"user": member.user} if member.is_staff else {"customer": member.customer}
    try:
        with transaction.atomic():
            Vote.objects.create(post=post, **voter)
            Post.objects.filter(pk=post.pk).update(score=F("score") + 1)
    except IntegrityError:
        return False
    return True


def do_accept_answer(member: Member, answer: Post) -> Post:
    """The asker (or staff) marks `answer` as the accepted one — or, when it already is,
    takes the mark back. Locks the question row."""
    if answer.kind != PostKind.ANSWER or answer.question is None:
        raise InvalidInput(_("Only an answer can be accepted."))
    with transaction.atomic():
        question = _lock(answer.question)
        asker = member.customer is not None and question.author_customer_id == member.customer.pk
        if not (asker or member.is_staff):
            raise Forbidden(_("Only the person who asked can accept an answer."))
        if answer.hidden:
            raise Conflict(_("A hidden answer cannot be accepted."))
        question.accepted_answer = None if question.accepted_answer_id == answer.pk else answer
        question.save(update_fields=["accepted_answer"])
    return question


def do_set_official(member: Member, answer: Post, *, official: bool) -> Post:
    """Staff mark an answer as the brand's official answer (or take the mark back)."""
    _require_staff(member)
    if answer.kind != PostKind.ANSWER:
        raise InvalidInput(_("Only an answer can be official."))
    Post.objects.filter(pk=answer.pk).update(official=official)
    answer.official = official
    return answer


# --- reports and moderation -------------------------------------------------------------------


def do_report_post(member: Member, post: Post, *, reason: str) -> bool:
    """Anyone signed in reports a post; returns False when they had reported it already. The
    post joins the moderation queue (open_reports counts the open reports)."""
    if not member.signed_in:
        raise Forbidden(_("Please sign in to report a post."))
    if reason not in ReportReason.values:
        raise InvalidInput(_("Please choose why you report this post."))
    _limit(member, "report")
    reporter = (
        {"reporter_user": member.user}
        if member.is_staff
        else {"reporter_customer": member.customer}
    )
    try:
        with transaction.atomic():
            Report.objects.create(post=post, reason=reason, **reporter)
            Post.objects.filter(pk=post.pk).update(open_reports=F("open_reports") + 1)
    except IntegrityError:
        return False
    return True


def _resolve_reports(post: Post, actor: User, resolution: str) -> None:
    Report.objects.filter(post=post, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=resolution
    )
    post.open_reports = 0


def do_hide_post(member: Member, post: Post) -> Post:
    """Staff hide a post: it vanishes from public pages and search (its question is indexed
    again without it, or as not public); its open reports are resolved as "hidden". Locks the
    post row."""
    actor = _require_staff(member)
    with transaction.atomic():
        post = _lock(post)
        post.hidden, post.hidden_at, post.hidden_by = True, timezone.now(), actor
        _resolve_reports(post, actor, "hidden")
        post.save(update_fields=["hidden", "hidden_at", "hidden_by", "open_reports"])
        _reindex(post)
    return post


def _reindex(post: Post) -> None:
    """Search sees the question a post belongs to as it is now (search.index_question)."""
    if post.kind == PostKind.QUESTION:
        index_question(post)
    elif post.question_id is not None:
        index_question(Post.objects.get(pk=post.question_id))


def do_unhide_post(member: Member, post: Post) -> Post:
    """Staff show a hidden post again."""
    _require_staff(member)
    with transaction.atomic():
        post = _lock(post)
        post.hidden, post.hidden_at, post.hidden_by = False, None, None
        post.save(update_fields=["hidden", "hidden_at", "hidden_by"])
        _reindex(post)
    return post


def do_dismiss_reports(member: Member, post: Post) -> Post:
    """Staff find nothing wrong: the post's open reports are resolved as "dismissed"."""
    actor = _require_staff(member)
    with transaction.atomic():
        post = _lock(post)
        _resolve_reports(post, actor, "dismissed")
        post.save(update_fields=["open_reports"])
    return post


def do_lock_question(member: Member, question: Post, *, locked: bool) -> Post:
    """Staff lock a question (no new answers; it stays readable) or unlock it."""
    _require_staff(member)
    if question.kind != PostKind.QUESTION:
        raise InvalidInput(_("Only a question can be locked."))
    Post.objects.filter(pk=question.pk).update(locked=locked)
    question.locked = locked
    return question


# --- what a question becomes ----------------------------------------------------------------


def best_answer(question: Post) -> Post | None:
    """The visible official answer, else the visible accepted one."""
    answers = question.answers.filter(hidden=False)
    official = answers.filter(official=True).order_by("-score", "created_at", "pk").first()
    if official is not None:
        return official
    if question.accepted_answer_id is not None:
        return answers.filter(pk=question.accepted_answer_id).first()
    return None


def do_question_to_article(member: Member, question: Post) -> Article:
    """Staff turn a question and its official (else accepted) answer into a KB article draft
    (knowledge.actions.do_create_article), in the question's language. Once per question: the
    article is remembered on it. Locks the question row."""
    actor = _require_staff(member)
    with transaction.atomic():
        question = _lock(question)
        if question.article_id is not None:
            raise Conflict(_("This question already became an article."))
        answer = best_answer(question)
        if answer is None:
            raise Conflict(
                _("A question needs an accepted or official answer to become an article.")
            )
        article = do_create_article(
            actor=actor,
            title=question.title,
            body=f"{question.body}\n\n---\n\n{answer.body}",
            language=question.language,
        )
        question.article = article
        question.save(update_fields=["article"])
    return article


def do_question_to_conversation(member: Member, question: Post) -> Post:
    """The asker (or staff) move a question to a private conversation with the asker's team:
    it becomes the customer's message on the channel that reaches one of their verified
    addresses (SMS or email), routed as any new message, and leaves the public pages.
    Idempotent (the message's id is the question's). Locks the question row."""
    with transaction.atomic():
        question = _lock(question)
        customer = question.author_customer
        asker = (
            member.customer is not None
            and customer is not None
            and (customer.pk == member.customer.pk)
        )
        if not (asker or member.is_staff):
            raise Forbidden(_("Only the person who asked can do this."))
        if customer is None:
            raise Conflict(_("The person who asked is no longer known."))
        if question.conversation_id is not None:
            return question
        reach = None
        for identity in customer.identities.filter(
            verified=True, kind__in=[IdentityKind.PHONE, IdentityKind.EMAIL]
        ).order_by("pk"):
            inbox = direct_inbox(identity)
            if inbox is not None:
                reach = (identity, inbox)
                break
        if reach is None:
            raise Conflict(_("No channel can reach the person who asked."))
        identity, inbox = reach
        channel = channels().channel_for(inbox) or inbox.kind
        message, _created = do_receive_customer_message(
            inbox=inbox,
            customer=customer,
            text=f"{question.title}\n\n{question.body}",
            channel=channel,
            external_id=f"community-question-{question.pk}",
            content={
                "sender": {"kind": identity.kind, "value": identity.value},
                "subject": question.title,
                "community_question": question.pk,
            },
        )
        now = timezone.now()
        question.conversation_id = message.conversation_id
        question.hidden, question.hidden_at = True, now
        question.hidden_by = member.user if member.is_staff else None
        question.save(update_fields=["conversation", "hidden", "hidden_at", "hidden_by"])
        index_question(question)
    return question


# --- signing in with a one-time code -------------------------------------------------------------


def _identity_kind(address: str) -> str:
    return IdentityKind.EMAIL if "@" in address else IdentityKind.PHONE


def do_send_sign_in_code(address: str, *, ip: str, language: str) -> None:
    """Send a sign-in code to `address` when it is a verified email or phone identity of a
    customer. Answers the same whether or not it is (no enumeration of customers): the caller
    always says "if this address is yours, a code is on its way". Limited per IP and, in
    customers, per address. Raises NotDelivered when the provider cannot take it now."""
    address = check_text((address or "").strip(), "address")
    if not address or len(address) > MAX_ADDRESS:
        raise InvalidInput(_("Please enter your email address or phone number."))
    ratelimit.hit(f"community:sign-in:ip:{ip or 'unknown'}", limit=SIGN_IN_PER_IP_PER_HOUR,
                  window_seconds=3600)  # fmt: skip
    kind = _identity_kind(address)
    identity = verified_identity(kind, address)
    if identity is None:
        # Counted like a real address's sends (customers.actions.do_issue_code), so the limit
        # does not tell which addresses belong to a customer either.
        ratelimit.hit(
            f"code-send:{codes.address_key(kind, address.lower())}",
            limit=codes.SENDS_PER_ADDRESS_PER_HOUR,
            window_seconds=3600,
        )
        return
    code = do_issue_code(identity, purpose=codes.SIGN_IN)
    with override(language_for(identity.customer.preferred_language, language)):
        text = _(
            "Your help center sign-in code is %(code)s. It expires in %(minutes)d minutes. "
            "If you did not ask for it, ignore this message."
        ) % {"code": code, "minutes": int(codes.CODE_TTL.total_seconds() // 60)}
        subject = _("Your sign-in code")
    send_direct(identity, text, subject=subject)


def do_sign_in(address: str, typed: str, *, ip: str) -> Customer:
    """The customer whose verified `address` the code `typed` was sent to (the code is used
    up). Limited per IP; every failure is the same InvalidInput."""
    ratelimit.hit(
        f"community:code:ip:{ip or 'unknown'}",
        limit=CODE_CHECKS_PER_IP_PER_HOUR,
        window_seconds=3600,
    )
    identity = verified_identity(_identity_kind(address), address)
    if identity is None:
        raise InvalidInput(_("That code is wrong or has expired. Ask for a new code."))
    try:
        return do_redeem_code(identity, typed, purpose=codes.SIGN_IN)
    except InvalidInput:
        raise InvalidInput(_("That code is wrong or has expired. Ask for a new code.")) from None
