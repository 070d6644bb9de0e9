"""Articles that may answer the visitor, while they type (docs/selfservice.md, "Suggestions").

Three endpoints of the widget's own API, authenticated like the queue and callback endpoints
(`Authorization: Bearer <session token>`, for the inbox in the path only), cross-origin under
the inbox's origin rule, and limited per chat session:

- `GET  suggestions?q=&lang=` → the top published articles in the visitor's language, with
  the panel's words in that language;
- `POST articles/<id>/open` → the article as plain text (shown with textContent; no HTML
  reaches the brand's page), and a self-service episode recorded for it;
- `POST episodes/<id>/rating {"helpful": true|false}` → the visitor's answer to "Did this
  answer your question?".

The public help center's JSON search stays as it is (its own limit, no session): the widget
asks here, so a suggestion opened in the widget can be tied to the customer who opened it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext
from django.views.decorators.csrf import csrf_exempt

from teamline.conversations.models import Inbox
from teamline.conversations.queries import current_conversation_for
from teamline.core import jsonsafe, ratelimit
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer
from teamline.knowledge.actions import language_code
from teamline.knowledge.models import KbLanguage
from teamline.knowledge.plaintext import markdown_to_text
from teamline.knowledge.queries import public_path, published_articles, published_hits
from teamline.selfservice.actions import do_rate_episode, do_record_episode
from teamline.selfservice.models import EpisodeKind

from .views import _customer_action, _error, json_object_body

SHOWN = 3
# The widget asks from this many characters on; shorter text matches everything and nothing.
MIN_QUERY_CHARS = 3
# The widget sends at most the last 200 characters of the draft; more is refused, not cut.
MAX_QUERY_CHARS = 300
# Typing with a 400 ms pause asks at most ~2 times a second; a person never needs more.
PER_SESSION_PER_MINUTE = 60
ARTICLE_TEXT_CHARS = 6000


def _words(language: str) -> dict[str, Any]:
    """The panel's words in the visitor's language (the widget script has none of its own)."""
    with translation.override(language):
        return {
            "heading": gettext("These may answer you"),
            "close": gettext("Close suggestions"),
            "help_center": gettext("Read it in the help center (opens in a new tab)"),
            "question": gettext("Did this answer your question?"),
            "yes": pgettext("did the article answer", "Yes"),
            "no": pgettext("did the article answer", "No"),
            "back": gettext("Back to suggestions"),
            "thanks": gettext("Thank you! Glad it helped."),
            "to_team": gettext("Your team will answer you here."),
            # What a screen reader hears when 1, 2 or 3 articles are shown (found[n - 1]).
            "found": [
                ngettext(
                    "%(count)d article may answer you.", "%(count)d articles may answer you.", n
                )
                % {"count": n}
                for n in range(1, SHOWN + 1)
            ],
        }


def visitor_language(asked: str, customer: Customer) -> str:
    """The language the page asked for, else the customer's own, else English."""
    for candidate in (asked, customer.preferred_language):
        if candidate:
            try:
                return language_code(candidate[:16])
            except InvalidInput:
                continue
    return KbLanguage.EN


def public_url(article: Any) -> str:
    """The article's help-center page, absolute: the widget runs on the brand's own site."""
    return settings.PUBLIC_URL + public_path(article)


def _limit(inbox: Inbox, customer: Customer) -> None:
    ratelimit.hit(
        f"widget-suggestions:{inbox.pk}:{customer.pk}",
        limit=PER_SESSION_PER_MINUTE,
        window_seconds=60,
    )


def suggested(query: str, language: str) -> list[dict[str, Any]]:
    """The top published articles for `query` in `language`, best first."""
    return [
        {
            "id": hit.article.pk,
            "title": hit.version.title,
            "snippet": hit.snippet,
            "url": public_url(hit.article),
        }
        for hit in published_hits(query, languages=[language], limit=SHOWN)
    ]


def _suggestions(request: HttpRequest, inbox: Inbox, customer: Customer) -> HttpResponse:
    if request.method != "GET":
        return _error("method_not_allowed", "Use GET.", 405)
    query = request.GET.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q is longer than {MAX_QUERY_CHARS} characters.")
    jsonsafe.check_text(query, "q")
    language = visitor_language(request.GET.get("lang", ""), customer)
    _limit(inbox, customer)
    results = suggested(query, language) if len(query.strip()) >= MIN_QUERY_CHARS else []
    return JsonResponse({"language": language, "words": _words(language), "results": results})


@csrf_exempt
def suggestions(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """GET /widget/api/<inbox>/suggestions?q=&lang= → {language, words, results: [{id, title,
    snippet, url}]} (at most 3; none for fewer than 3 characters). 400 for q over 300
    characters, 422 for NUL, 429 past 60 a minute per session."""
    return _customer_action(request, inbox_public_id, _suggestions)


def _open(article_id: int) -> Any:
    def handle(request: HttpRequest, inbox: Inbox, customer: Customer) -> HttpResponse:
        if request.method != "POST":
            return _error("method_not_allowed", "Use POST.", 405)
        article = published_articles().filter(pk=parse_id(article_id, "article")).first()
        if article is None or article.published_version is None:
            raise NotFound("No such article.")
        _limit(inbox, customer)
        version = article.published_version
        episode = do_record_episode(
            EpisodeKind.ARTICLE,
            channel=inbox.kind,
            subject=f"article:{article.pk}",
            customer=customer,
            conversation=current_conversation_for(customer.pk),
        )
        return JsonResponse(
            {
                "episode": {"id": episode.pk},
                "article": {
                    "id": article.pk,
                    "title": version.title,
                    "language": article.language,
                    "url": public_url(article),
                    "text": markdown_to_text(version.body, limit=ARTICLE_TEXT_CHARS),
                },
            },
            status=201,
        )

    return handle


@csrf_exempt
def open_article(request: HttpRequest, inbox_public_id: Any, article_id: int) -> HttpResponse:
    """POST /widget/api/<inbox>/articles/<id>/open → 201 {episode: {id}, article: {id, title,
    language, url, text}}: the visitor opened a suggestion; an ARTICLE episode is recorded for
    their customer (and their current conversation, if any). 404 for an unpublished article."""
    return _customer_action(request, inbox_public_id, _open(article_id))


def _helpful(request: HttpRequest) -> bool:
    payload = json_object_body(request)
    if not isinstance(payload, dict) or not isinstance(payload.get("helpful"), bool):
        raise InvalidInput('Send {"helpful": true} or {"helpful": false}.')
    return bool(payload["helpful"])


def _rate(episode_id: int) -> Any:
    def handle(request: HttpRequest, inbox: Inbox, customer: Customer) -> HttpResponse:
        if request.method != "POST":
            return _error("method_not_allowed", "Use POST.", 405)
        helpful = _helpful(request)
        _limit(inbox, customer)
        do_rate_episode(customer, episode_id, helpful=helpful)
        return JsonResponse({"episode": {"id": episode_id, "helpful": helpful}})

    return handle


@csrf_exempt
def rate_episode(request: HttpRequest, inbox_public_id: Any, episode_id: int) -> HttpResponse:
    """POST /widget/api/<inbox>/episodes/<id>/rating {"helpful": bool} → {episode: {id,
    helpful}}. Only the session's own customer's episodes; anybody else's is a 404."""
    return _customer_action(request, inbox_public_id, _rate(episode_id))
