"""The community pages of the help center (/help/community/): server-rendered forms that work
without JavaScript, in the six help-center languages. Thin: parse → action → render.

Who is acting: a customer signed in here with a one-time code (the session holds their id), or
a staff member signed in to the desk (the same session cookie). Every error an action raises is
a page or a form error with its 4xx status, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teamline.connectors.direct import NotDelivered
from teamline.core.errors import InvalidInput, NotFound, RateLimited, TeamlineError
from teamline.core.jsonsafe import clean_text
from teamline.knowledge.models import KbLanguage
from teamline.knowledge.views import language_or_404, visitor_language

from . import actions
from .models import Post, PostKind, ReportReason
from .queries import (
    PAGE_SIZE,
    SHOW_NEWEST,
    SHOW_UNANSWERED,
    SHOWS,
    Member,
    access_post,
    access_question,
    answers_of,
    public_questions,
    reported_posts,
    session_customer,
    voted_post_ids,
)

SESSION_CUSTOMER = "community_customer"
SESSION_PENDING = "community_pending_address"
HONEYPOT = "website"
HTML_LANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant"}


def member_of(request: HttpRequest) -> Member:
    user = request.user if request.user.is_authenticated and request.user.is_active else None
    customer = session_customer(request.session.get(SESSION_CUSTOMER))
    return Member(
        customer=customer,
        user=user,
        address=request.META.get("REMOTE_ADDR") or "",
    )


def _render(
    request: HttpRequest, template: str, language: str, status: int = 200, **extra: Any
) -> HttpResponse:
    with translation.override(language):
        context = {
            "language": language,
            "html_lang": HTML_LANG.get(language, language),
            "member": member_of(request),
            "languages": [
                (code, name, reverse("community:list", args=[code]))
                for code, name in KbLanguage.choices
            ],
            **extra,
        }
        response = render(request, template, context, status=status)
    if status == 429:
        response["Retry-After"] = "3600"
    return response


def _said(exc: TeamlineError, language: str) -> str:
    """What to tell the person, in the page's language: actions raise translated messages;
    the ones from lower layers (not found, too many requests, not sent) are said here."""
    with translation.override(language):
        if isinstance(exc, NotFound):
            return _("This page does not exist, or the post was removed.")
        if isinstance(exc, RateLimited):
            return _("Too many requests. Please wait a while and try again.")
        if isinstance(exc, NotDelivered):
            return _("We could not send the code just now. Please try again in a minute.")
        return exc.message


def _error(request: HttpRequest, language: str, exc: TeamlineError) -> HttpResponse:
    return _render(
        request, "community/error.html", language, status=exc.status, error=_said(exc, language)
    )


def _honeypot_filled(request: HttpRequest) -> bool:
    return bool(request.POST.get(HONEYPOT, ""))


def _spam_error() -> InvalidInput:
    return InvalidInput(_("This form could not be accepted. Please try again."))


# --- lists and questions ----------------------------------------------------------------------


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return redirect("community:list", visitor_language(request))


@require_GET
def question_list(request: HttpRequest, language: str) -> HttpResponse:
    language = language_or_404(language)
    show = request.GET.get("show", SHOW_NEWEST)
    if show not in SHOWS:
        show = SHOW_NEWEST
    questions = list(public_questions(language, show)[:PAGE_SIZE])
    return _render(
        request,
        "community/list.html",
        language,
        questions=questions,
        show=show,
        shows=[(SHOW_NEWEST, _newest_label(language)), (SHOW_UNANSWERED, _unanswered(language))],
    )


def _newest_label(language: str) -> str:
    with translation.override(language):
        return _("Newest")


def _unanswered(language: str) -> str:
    with translation.override(language):
        return _("Unanswered")


def _question_page(
    request: HttpRequest, question: Post, *, status: int = 200, **extra: Any
) -> HttpResponse:
    member = member_of(request)
    answers = answers_of(member, question)
    voted = voted_post_ids(member, [question.pk, *(a.pk for a in answers)])
    asker = member.customer is not None and question.author_customer_id == member.customer.pk
    return _render(
        request,
        "community/question.html",
        question.language,
        status=status,
        question=question,
        answers=answers,
        voted=voted,
        mine={p.pk for p in (question, *answers) if member.wrote(p)},
        asker=asker,
        reasons=ReportReason.choices,
        **extra,
    )


@require_GET
def question(request: HttpRequest, question_id: str) -> HttpResponse:
    try:
        found = access_question(member_of(request), question_id)
    except NotFound as exc:
        return _error(request, visitor_language(request), exc)
    return _question_page(request, found)


@require_http_methods(["GET", "POST"])
def ask(request: HttpRequest, language: str) -> HttpResponse:
    language = language_or_404(language)
    member = member_of(request)
    if member.customer is None:
        status = 403 if request.method == "POST" else 200
        return _render(request, "community/ask.html", language, status=status, needs_sign_in=True)
    if request.method == "GET":
        return _render(request, "community/ask.html", language)
    title, body = request.POST.get("title", ""), request.POST.get("body", "")
    try:
        with translation.override(language):
            if _honeypot_filled(request):
                raise _spam_error()
            question = actions.do_ask_question(member, title=title, body=body, language=language)
    except TeamlineError as exc:
        return _render(
            request,
            "community/ask.html",
            language,
            status=exc.status,
            error=_said(exc, language),
            title=clean_text(title[: actions.MAX_TITLE]),
            body=clean_text(body[: actions.MAX_BODY]),
        )
    return redirect("community:question", question.pk)


@require_POST
def answer(request: HttpRequest, question_id: str) -> HttpResponse:
    member = member_of(request)
    try:
        found = access_question(member, question_id)
    except NotFound as exc:
        return _error(request, visitor_language(request), exc)
    body = request.POST.get("body", "")
    try:
        with translation.override(found.language):
            if _honeypot_filled(request):
                raise _spam_error()
            posted = actions.do_answer_question(member, found, body=body)
    except TeamlineError as exc:
        return _question_page(
            request,
            found,
            status=exc.status,
            answer_error=_said(exc, found.language),
            answer_body=clean_text(body[: actions.MAX_BODY]),
        )
    return redirect(reverse("community:question", args=[found.pk]) + f"#post-{posted.pk}")


def _back_to(post: Post) -> str:
    question_id = post.question_id or post.pk
    return reverse("community:question", args=[question_id]) + f"#post-{post.pk}"


POST_VERBS: dict[str, Callable[[Member, Post, HttpRequest], object]] = {
    "vote": lambda m, p, r: actions.do_upvote(m, p),
    "accept": lambda m, p, r: actions.do_accept_answer(m, p),
    "official": lambda m, p, r: actions.do_set_official(m, p, official=True),
    "unofficial": lambda m, p, r: actions.do_set_official(m, p, official=False),
    "report": lambda m, p, r: actions.do_report_post(m, p, reason=r.POST.get("reason", "")),
    "hide": lambda m, p, r: actions.do_hide_post(m, p),
    "unhide": lambda m, p, r: actions.do_unhide_post(m, p),
    "dismiss": lambda m, p, r: actions.do_dismiss_reports(m, p),
}


@require_POST
def post_action(request: HttpRequest, post_id: str, verb: str) -> HttpResponse:
    """One button on a post: vote, accept, official/unofficial, report, hide/unhide, dismiss."""
    member = member_of(request)
    language = visitor_language(request)
    act = POST_VERBS.get(verb)
    if act is None:
        raise Http404("No such action.")
    try:
        post = access_post(member, post_id)
        language = post.language
        with translation.override(language):
            act(member, post, request)
    except TeamlineError as exc:
        return _error(request, language, exc)
    if request.POST.get("next") == "moderation" and member.is_staff:
        return redirect("community:moderation")
    if verb == "report":
        return _render(request, "community/reported.html", language, back=_back_to(post))
    if post.hidden and not member.is_staff:
        return redirect("community:list", language)
    return redirect(_back_to(post))


@require_POST
def lock(request: HttpRequest, question_id: str) -> HttpResponse:
    member = member_of(request)
    language = visitor_language(request)
    try:
        found = access_question(member, question_id)
        language = found.language
        with translation.override(language):
            actions.do_lock_question(member, found, locked=request.POST.get("locked") == "1")
    except TeamlineError as exc:
        return _error(request, language, exc)
    return redirect("community:question", found.pk)


@require_POST
def to_article(request: HttpRequest, question_id: str) -> HttpResponse:
    member = member_of(request)
    language = visitor_language(request)
    try:
        found = access_question(member, question_id)
        language = found.language
        with translation.override(language):
            article = actions.do_question_to_article(member, found)
    except TeamlineError as exc:
        return _error(request, language, exc)
    return _render(request, "community/to_article.html", language, article=article, question=found)


@require_POST
def to_conversation(request: HttpRequest, question_id: str) -> HttpResponse:
    member = member_of(request)
    language = visitor_language(request)
    try:
        found = access_question(member, question_id)
        language = found.language
        with translation.override(language):
            moved = actions.do_question_to_conversation(member, found)
    except TeamlineError as exc:
        return _error(request, language, exc)
    return _render(request, "community/to_conversation.html", language, question=moved)


# --- signing in ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Step 1: the customer gives an email address or phone number; if it is a verified
    identity of theirs a code goes there. The answer is the same either way."""
    language = visitor_language(request)
    if request.method == "GET":
        return _render(request, "community/sign_in.html", language)
    address = request.POST.get("address", "")
    try:
        with translation.override(language):
            if _honeypot_filled(request):
                raise _spam_error()
            actions.do_send_sign_in_code(
                address, ip=request.META.get("REMOTE_ADDR") or "", language=language
            )
    except (InvalidInput, RateLimited, NotDelivered) as exc:
        return _render(
            request,
            "community/sign_in.html",
            language,
            status=exc.status,
            error=_said(exc, language),
            address=clean_text(address[: actions.MAX_ADDRESS]),
        )
    request.session[SESSION_PENDING] = clean_text(address.strip()[: actions.MAX_ADDRESS])
    return redirect(reverse("community:sign_in_code") + f"?lang={language}")


@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """Step 2: the code. A success rotates the session key and signs the customer in."""
    language = visitor_language(request)
    address = request.session.get(SESSION_PENDING) or ""
    if not address:
        return redirect(reverse("community:sign_in") + f"?lang={language}")
    if request.method == "GET":
        return _render(request, "community/code.html", language, address=address)
    try:
        with translation.override(language):
            customer = actions.do_sign_in(
                address, request.POST.get("code", ""), ip=request.META.get("REMOTE_ADDR") or ""
            )
    except (InvalidInput, RateLimited) as exc:
        return _render(
            request,
            "community/code.html",
            language,
            status=exc.status,
            error=_said(exc, language),
            address=address,
        )
    request.session.cycle_key()
    request.session.pop(SESSION_PENDING, None)
    request.session[SESSION_CUSTOMER] = customer.pk
    return redirect("community:list", language)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_CUSTOMER, None)
    request.session.cycle_key()
    return redirect("community:list", visitor_language(request))


# --- moderation (staff) ----------------------------------------------------------------------


@login_required
@require_GET
def moderation(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    language = visitor_language(request)
    if not member.is_staff or member.user is None:
        raise Http404("No such page.")
    posts = list(reported_posts(member.user)[:100])
    reasons: dict[int, list[str]] = {}
    labels = dict(ReportReason.choices)
    for post in posts:
        open_reports = post.reports.filter(resolved_at__isnull=True).order_by("created_at")
        with translation.override(language):
            reasons[post.pk] = [str(labels[r.reason]) for r in open_reports]
    locked = list(
        Post.objects.filter(kind=PostKind.QUESTION, locked=True).order_by("-created_at")[:50]
    )
    return _render(
        request,
        "community/moderation.html",
        language,
        posts=[(post, reasons[post.pk]) for post in posts],
        locked=locked,
    )
