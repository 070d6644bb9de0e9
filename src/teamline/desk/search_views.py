"""The desk's search page (docs/desk-search.md): one box for conversations, messages and
customers, with the desk's access (search.queries). Without a kind, the first few of each;
with one ("More customers", "Next page"), a page of that kind. A plain GET form: the URL
names the search, the back button and a bookmark work, and a screen reader hears a new page
whose heading says what was found."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from teamline.core.errors import InvalidInput
from teamline.core.ids import parse_id
from teamline.search.queries import KINDS, search

from .views import agent_of, desk_view

# Without a kind: how many of each the page shows before "More …".
FIRST = {"customer": 5, "conversation": 5, "message": 10}
PAGE = 20


def _section_titles() -> dict[str, str]:
    return {
        "customer": _("Customers"),
        "conversation": _("Conversations"),
        "message": _("Messages and notes"),
    }


@require_GET
@desk_view
def search_page(request: HttpRequest) -> HttpResponse:
    agent = agent_of(request)
    q = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    context: dict[str, Any] = {"section": "search", "q": q, "kind": kind, "sections": []}
    if not q.strip():
        return render(request, "desk/search.html", context)
    try:
        if kind and kind not in KINDS:
            raise InvalidInput(_("Choose what to search: customers, conversations or messages."))
        cursor = parse_id(request.GET["cursor"], "cursor") if request.GET.get("cursor") else None
        titles = _section_titles()
        for each in [kind] if kind else ["customer", "conversation", "message"]:
            page = search(agent, q, kind=each, cursor=cursor, limit=PAGE if kind else FIRST[each])
            more = ""
            if page.next_cursor is not None:
                params = {"q": q, "kind": each}
                if kind:  # one kind: its next page; everything: that kind's first full page
                    params["cursor"] = str(page.next_cursor)
                more = f"{reverse('desk:search')}?{urlencode(params)}"
            context["sections"].append(
                {"kind": each, "title": titles[each], "page": page, "more_url": more}
            )
    except InvalidInput as exc:
        context["error"] = exc.message
        return render(request, "desk/search.html", context, status=400)
    context["found"] = sum(len(s["page"].hits) for s in context["sections"])
    return render(request, "desk/search.html", context)
