"""The small public page an email survey's links open (no sign-in).

A link carries the survey's token and one score, signed (actions.link_for) and expiring. The
page never records anything on GET — mail scanners open links — it shows the chosen score in a
radio group with an optional comment and a button; the POST records the answer once (the
survey takes one answer: a second POST says so). The page is in the survey's language.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from teamline.core.errors import Conflict, InvalidInput, NotFound

from . import prompts
from .actions import SurveyClosed, do_opt_out_of_surveys, do_record_response, read_link
from .models import Survey, SurveyState

MAX_LINK_AGE_SECONDS = 31 * 24 * 3600


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, "surveys/answer.html", context, status=status)
    response["Content-Language"] = translation.get_language() or "en"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
def answer_page(request: HttpRequest, signed: str) -> HttpResponse:
    try:
        token, score = read_link(signed, MAX_LINK_AGE_SECONDS)
    except NotFound:
        return _page(request, {"error": _("This survey link is not valid.")}, 404)
    survey = Survey.objects.filter(token=token).exclude(state=SurveyState.SKIPPED).first()
    if survey is None:
        return _page(request, {"error": _("This survey link is not valid.")}, 404)
    with translation.override(survey.language or None):
        return _answer(request, survey, score)


def _answer(request: HttpRequest, survey: Survey, score: int) -> HttpResponse:
    scale = [
        {"score": s, "label": prompts.score_label(survey.kind, s)}
        for s in prompts.scores(survey.kind)
    ]
    context: dict[str, Any] = {
        "question": prompts.question(survey.kind),
        "scale": scale,
        "chosen": score,
        "comment": "",
        "words": prompts.widget_words(survey.kind),
    }
    if survey.state == SurveyState.ANSWERED:
        return _page(request, {"done": _("You have already answered. Thank you!")})
    if survey.expires_at is not None and survey.expires_at <= timezone.now():
        return _page(request, {"error": _("This survey has closed.")}, 410)
    if request.method == "GET":
        if score not in prompts.scores(survey.kind):
            return _page(request, {"error": _("This survey link is not valid.")}, 404)
        return _page(request, context)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    raw = request.POST.get("score", "")
    context["comment"] = request.POST.get("comment", "")[: prompts.MAX_COMMENT + 1]
    try:
        chosen = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 2 else None
        if chosen is None:
            raise InvalidInput(str(prompts.widget_words(survey.kind)["choose"]))
        do_record_response(survey, chosen, comment=context["comment"], channel="email")
    except SurveyClosed:
        return _page(request, {"error": _("This survey has closed.")}, 410)
    except Conflict:
        return _page(request, {"done": _("You have already answered. Thank you!")}, 409)
    except InvalidInput as exc:
        context["error"] = exc.message
        return _page(request, context, 400)
    if request.POST.get("opt_out") == "1":
        do_opt_out_of_surveys(survey.customer, source="email")
    return _page(request, {"done": prompts.thanks()})
