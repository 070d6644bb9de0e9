"""The widget's answer to a satisfaction survey (surveys app; docs/surveys.md):

    POST /widget/api/<inbox>/surveys/<token>/answer {"score": 4, "comment": "…", "opt_out": false}
    → 201 {"survey": {"kind", "score"}}

Authenticated like the other customer actions (`Authorization: Bearer <session token>`, for the
inbox in the path), cross-origin under the inbox's origin rule. Only the session's own
customer's surveys: anybody else's is a 404. A score off the scale or a comment too long is a
400, a second answer a 409, a closed survey a 410 — each with {code, detail}.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from teamline.conversations.models import Inbox
from teamline.core import ratelimit
from teamline.core.errors import InvalidInput, NotFound
from teamline.customers.models import Customer
from teamline.surveys.actions import do_opt_out_of_surveys, do_record_response
from teamline.surveys.queries import customer_survey

from .views import _customer_action, _error, json_object_body

PER_SESSION_PER_MINUTE = 20


def _payload(request: HttpRequest) -> dict[str, Any]:
    return json_object_body(request)


def _answer(token: str) -> Any:
    def handle(request: HttpRequest, inbox: Inbox, customer: Customer) -> HttpResponse:
        if request.method != "POST":
            return _error("method_not_allowed", "Use POST.", 405)
        ratelimit.hit(
            f"widget-survey:{customer.pk}", limit=PER_SESSION_PER_MINUTE, window_seconds=60
        )
        payload = _payload(request)
        survey = customer_survey(customer, token)
        if survey is None:
            raise NotFound("No such survey.")
        opt_out = payload.get("opt_out", False)
        if not isinstance(opt_out, bool):
            raise InvalidInput("opt_out must be true or false.")
        response = do_record_response(
            survey, payload.get("score"), comment=payload.get("comment", ""), channel="webchat"
        )
        if opt_out:
            do_opt_out_of_surveys(customer, source="widget")
        return JsonResponse(
            {"survey": {"kind": response.kind, "score": response.score}}, status=201
        )

    return handle


@csrf_exempt
def answer(request: HttpRequest, inbox_public_id: Any, token: str) -> HttpResponse:
    return _customer_action(request, inbox_public_id, _answer(token[:64]))
